// The classifier on made-up observations: what a trap-and-emulate monitor without binary
// translation would show (Robin and Irvine's problems), and the neutral cases.

import { test } from "node:test";
import assert from "node:assert/strict";
import { classify, leakReason } from "./classify.js";
import { parseRedpill, observationKey, type Observation } from "./parse.js";
import { probeByName, type Cpl } from "./probes.js";

function obs(line: string): Observation {
  const log = parseRedpill(line + "\n");
  const [o] = [...log.observations.values()];
  assert.ok(o, `could not parse ${line}`);
  return o;
}

function verdict(refLine: string, gotLine: string) {
  const ref = obs(refLine), got = obs(gotLine);
  const probe = probeByName(ref.probe);
  assert.ok(probe);
  return classify(probe, ref.cpl, ref, got);
}

test("identical lines are the same", () => {
  const line = "RP sgdt cpl=0 limit=0x003f base=0x00180000";
  assert.equal(verdict(line, line).verdict, "same");
});

test("SGDT showing a base in the monitor region leaks (and names the key)", () => {
  const c = verdict("RP sgdt cpl=0 limit=0x003f base=0x00180000", "RP sgdt cpl=0 limit=0x003f base=0xffc01000");
  assert.equal(c.verdict, "leaks");
  assert.equal(c.differences.length, 1);
  assert.equal(c.differences[0].key, "base");
  assert.match(c.differences[0].leak ?? "", /monitor region/);
});

test("a different base below the monitor region misbehaves rather than leaks", () => {
  assert.equal(verdict("RP sidt cpl=0 limit=0x07ff base=0x00181000", "RP sidt cpl=0 limit=0x07ff base=0x00200000").verdict, "misbehaves");
});

test("a GDT limit other than the guest's leaks a shadow table", () => {
  assert.equal(verdict("RP sgdt cpl=0 limit=0x003f base=0x00180000", "RP sgdt cpl=0 limit=0x0fff base=0x00180000").verdict, "leaks");
});

test("CS read back with RPL 1 at guest CPL 0 leaks ring compression", () => {
  const c = verdict("RP mov_from_sreg cpl=0 cs=0x0008 ss=0x0010 ds=0x0010 es=0x0010 fs=0x003b gs=0x0007",
    "RP mov_from_sreg cpl=0 cs=0x0009 ss=0x0011 ds=0x0010 es=0x0010 fs=0x003b gs=0x0007");
  assert.equal(c.verdict, "leaks");
  assert.deepEqual(c.differences.map((d) => d.key), ["cs", "ss"]);
  assert.match(c.differences[0].leak ?? "", /RPL 1 where the guest runs at CPL 0/);
});

test("STR naming a selector the guest never loaded leaks; one with only another RPL misbehaves", () => {
  assert.equal(verdict("RP str cpl=0 sel=0x0028", "RP str cpl=0 sel=0x0040").verdict, "leaks");
  assert.equal(verdict("RP str cpl=0 sel=0x0028", "RP str cpl=0 sel=0x002b").verdict, "misbehaves");
});

test("LSL reporting a truncated limit leaks; LAR with DPL 1 rights leaks", () => {
  const ref = "RP lsl cpl=0 s08=0xffffffff s10=0xffffffff s1b=0xffffffff s23=0xffffffff s28=0x00000067 s30=0x0000000f s3b=0x00012345 s07=0x00000fff";
  const got = ref.replace("s08=0xffffffff s10=0xffffffff", "s08=0xffbfffff s10=0xffbfffff");
  const c = verdict(ref, got);
  assert.equal(c.verdict, "leaks");
  assert.deepEqual(c.differences.map((d) => d.key), ["s08", "s10"]);
  const lar = "RP lar cpl=0 s08=0x00c09b00 s10=0x00c09300 s1b=0x00c0fb00 s23=0x00c0f300 s28=0x00008b00 s30=0x00008200 s3b=0x0040f300 s07=0x0040f300";
  assert.equal(verdict(lar, lar.replace("s08=0x00c09b00", "s08=0x00c0bb00")).verdict, "leaks");
});

test("POPF that does not change IF misbehaves (no value reveals the monitor)", () => {
  const c = verdict("RP popf cpl=0 if_set=1 iopl_set=3 if_clear=0 iopl_clear=0", "RP popf cpl=0 if_set=1 iopl_set=0 if_clear=1 iopl_clear=0");
  assert.equal(c.verdict, "misbehaves");
  assert.ok(c.differences.every((d) => d.leak === null));
  assert.deepEqual(c.differences.map((d) => d.key), ["iopl_set", "if_clear"]);
});

test("an exception where bare had none faults; the same exception is the same; another one misbehaves", () => {
  const ran = "RP ret_far cpl=0 reached=1";
  const c = verdict(ran, "RP ret_far cpl=0 fault=13 err=0x0008");
  assert.equal(c.verdict, "faults");
  assert.equal(c.differences[0].got, "#GP(0x8)");
  assert.equal(verdict("RP str cpl=3 fault=13 err=0x0000", "RP str cpl=3 fault=13 err=0x0000").verdict, "same");
  assert.equal(verdict("RP str cpl=3 fault=13 err=0x0000", "RP str cpl=3 fault=6 err=0x0000").verdict, "misbehaves");
  assert.equal(verdict("RP str cpl=3 fault=13 err=0x0000", "RP str cpl=3 sel=0x0028").verdict, "misbehaves");
});

test("no line from the guest is missing", () => {
  const probe = probeByName("smsw");
  assert.ok(probe);
  assert.equal(classify(probe, 0, obs("RP smsw cpl=0 msw=0x0011"), undefined).verdict, "missing");
});

test("leakReason: addresses at or above 0xFFC00000 only", () => {
  const cpl: Cpl = 0;
  assert.equal(leakReason("address", "0x00194000", "0xffbfffff", cpl), null);
  assert.notEqual(leakReason("address", "0x00194000", "0xffc00000", cpl), null);
  assert.notEqual(leakReason("address", "0x00194000", "0xffffffff", cpl), null);
  assert.equal(leakReason("flag", "0", "1", cpl), null);
});

test("parseRedpill: ignores noise before RP, reads faults, END and ABORT, flags malformed lines", () => {
  const log = parseRedpill([
    "Booting from ROM..RP-BEGIN vmm86 redpill guest 1",
    "RP sgdt cpl=0 limit=0x003f base=0x00180000\r",
    "some other line",
    "RP str cpl=3 fault=13 err=0x0000",
    "RP smsw cpl=7 msw=0x0011",
    "RP-ABORT unexpected exception vector=14",
    "RP-END probes=44 faults=1",
  ].join("\n"));
  assert.ok(log.begun && log.ended);
  assert.equal(log.abort, "unexpected exception vector=14");
  assert.deepEqual(log.observations.get(observationKey("sgdt", 0))?.values, { limit: "0x003f", base: "0x00180000" });
  assert.deepEqual(log.observations.get(observationKey("str", 3))?.fault, { vector: 13, errorCode: 0 });
  assert.deepEqual(log.observations.get(observationKey("str", 3))?.values, {});
  assert.equal(log.malformed.length, 1);
  assert.equal(log.observations.size, 2);
});
