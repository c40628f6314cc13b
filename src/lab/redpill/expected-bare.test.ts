// The red-pill guest on the bare machine, checked against values worked out by hand from
// the Intel SDM and the guest's own set-up (guests/redpill/redpill.h), not from a run:
//
//   GDT at 0x180000, 8 descriptors → SGDT limit 8*8-1 = 0x3F (vol. 2 "SGDT": limit, then
//   32-bit base). IDT at 0x181000, 256 gates → limit 0x7FF. LDTR = 0x30, TR = 0x28.
//   CR0[15:0] = PE|ET = 0x0011 (the guest clears MP, EM, TS, NE).
//   LAR returns descriptor dword 2 AND 0x00F0FF00 (vol. 2 "LAR"): flags nibble << 20 |
//   access byte << 8. Every access byte has A set; LTR made the TSS busy (type 0xB).
//   LSL returns the limit scaled by G (vol. 2 "LSL"): G=1, 0xFFFFF → 0xFFFFFFFF.
//   LAR/LSL/VERR/VERW clear ZF for a descriptor whose DPL < CPL or < RPL (vol. 3A §5.10.2,
//   conforming code excepted); LAR takes LDT and TSS descriptors, VERR/VERW never do.
//   POPF at CPL 0 changes IF and IOPL; at CPL 3 with IOPL 0 changes neither, silently
//   (vol. 2 "POPF", table "Effect of POPF on EFLAGS"). IRET to the same level likewise
//   (vol. 2 "IRET", EFLAGS update by CPL and IOPL).
//   MOV/PUSH of a segment register give the selector as loaded; CS and SS carry RPL = CPL.
//   A far CALL pushes the caller's CS; INT n from ring 3 pushes the caller's CS (0x1B).
//   SYSENTER loads CS = IA32_SYSENTER_CS (0x08), SS = CS + 8, ESP = IA32_SYSENTER_ESP
//   (0x194000) at any CPL (vol. 2 "SYSENTER").
//   On the strict CPU variant (DESIGN.md §2) every one of Robin and Irvine's instructions,
//   and IRET, raises #GP(0) at CPL > 0, and so does SYSENTER (it enters ring 0 without a
//   fault, like INT n through a DPL-3 gate); CPUID is not sensitive and runs.

import { test } from "node:test";
import assert from "node:assert/strict";
import { runLabGuest } from "../guest-runner.js";
import { runRedpill } from "./report.js";
import { loadRedpillImage } from "../../guests/images.js";
import { parseRedpill, observationKey, type GuestLog } from "./parse.js";
import { PROBES } from "./probes.js";

type Expected = Record<string, Record<string, string>>;

const SEL = (s08: string, s10: string, s1b: string, s23: string, s28: string, s30: string, s3b: string, s07: string) =>
  ({ s08, s10, s1b, s23, s28, s30, s3b, s07 });

/** Guest CPL 0 (CS 0x08, SS/DS/ES 0x10, FS 0x3B, GS 0x07; IF=0, IOPL 0). */
const CPL0: Expected = {
  sgdt: { limit: "0x003f", base: "0x00180000" },
  sidt: { limit: "0x07ff", base: "0x00181000" },
  sldt: { sel: "0x0030" },
  smsw: { msw: "0x0011" },
  str: { sel: "0x0028" },
  pushf: { if: "0", iopl: "0" },
  popf: { if_set: "1", iopl_set: "3", if_clear: "0", iopl_clear: "0" },
  //            0x08 code DPL0  0x10 data DPL0  0x1B code DPL3  0x23 data DPL3  TSS busy        LDT             0x3B D=1 G=0    LDT 0
  lar: SEL("0x00c09b00", "0x00c09300", "0x00c0fb00", "0x00c0f300", "0x00008b00", "0x00008200", "0x0040f300", "0x0040f300"),
  lsl: SEL("0xffffffff", "0xffffffff", "0xffffffff", "0xffffffff", "0x00000067", "0x0000000f", "0x00012345", "0x00000fff"),
  verr: SEL("1", "1", "1", "1", "0", "0", "1", "1"),
  verw: SEL("0", "1", "0", "1", "0", "0", "1", "1"),
  push_sreg: { cs: "0x0008", ss: "0x0010", ds: "0x0010", es: "0x0010", fs: "0x003b", gs: "0x0007" },
  pop_sreg: { ss: "0x0010", ds: "0x0010", es: "0x0010", fs: "0x003b", gs: "0x0007" },
  call_far: { pushed_cs: "0x0008" },
  jmp_far: { reached: "1" },
  ret_far: { reached: "1" },
  int: { handled: "1", frame_cs: "0x0008" },
  mov_from_sreg: { cs: "0x0008", ss: "0x0010", ds: "0x0010", es: "0x0010", fs: "0x003b", gs: "0x0007" },
  mov_to_sreg: { ss: "0x0010", ds: "0x0010", es: "0x0010", fs: "0x003b", gs: "0x0007" },
  iret: { if_set: "1", iopl_set: "3", if_clear: "0", iopl_clear: "0" },
  sysenter: { entered: "1", cs: "0x0008", ss: "0x0010", esp: "0x00194000" },
};

/** Guest CPL 3 (CS 0x1B, SS/DS/ES 0x23, FS 0x3B, GS 0x07; IF=1, IOPL 0). */
const CPL3: Expected = {
  ...CPL0,
  pushf: { if: "1", iopl: "0" },
  popf: { if_set: "1", iopl_set: "0", if_clear: "1", iopl_clear: "0" },
  lar: SEL("-", "-", "0x00c0fb00", "0x00c0f300", "-", "-", "0x0040f300", "0x0040f300"),
  lsl: SEL("-", "-", "0xffffffff", "0xffffffff", "-", "-", "0x00012345", "0x00000fff"),
  verr: SEL("0", "0", "1", "1", "0", "0", "1", "1"),
  verw: SEL("0", "0", "0", "1", "0", "0", "1", "1"),
  push_sreg: { cs: "0x001b", ss: "0x0023", ds: "0x0023", es: "0x0023", fs: "0x003b", gs: "0x0007" },
  pop_sreg: { ss: "0x0023", ds: "0x0023", es: "0x0023", fs: "0x003b", gs: "0x0007" },
  call_far: { pushed_cs: "0x001b" },
  int: { handled: "1", frame_cs: "0x001b" },
  mov_from_sreg: { cs: "0x001b", ss: "0x0023", ds: "0x0023", es: "0x0023", fs: "0x003b", gs: "0x0007" },
  mov_to_sreg: { ss: "0x0023", ds: "0x0023", es: "0x0023", fs: "0x003b", gs: "0x0007" },
  iret: { if_set: "1", iopl_set: "0", if_clear: "1", iopl_clear: "0" },
};

/** Faults with #GP(0) at CPL 3 on the strict CPU. */
const STRICT_FAULTS = ["sgdt", "sidt", "sldt", "smsw", "str", "pushf", "popf", "lar", "lsl", "verr", "verw",
  "push_sreg", "pop_sreg", "call_far", "jmp_far", "ret_far", "int", "mov_from_sreg", "mov_to_sreg", "iret"];

const image = loadRedpillImage();
const runs = new Map<string, GuestLog>();
function bare(cpu: "standard" | "strict"): GuestLog {
  let log = runs.get(cpu);
  if (!log) {
    const r = runLabGuest(image, { mode: "bare", cpu, maxInstructions: 20_000_000 });
    assert.deepEqual(r.end, { kind: "poweroff", status: 33 }, `bare/${cpu}: the guest powers off with the pass value`);
    log = parseRedpill(r.serial);
    runs.set(cpu, log);
  }
  return log;
}

test("the expectations cover every probe the guest runs (and the 18 of Robin and Irvine)", () => {
  assert.deepEqual(Object.keys(CPL0).sort(), PROBES.filter((p) => p.name !== "cpuid").map((p) => p.name).sort());
  assert.equal(STRICT_FAULTS.length, 20); // the 18, with MOV counted twice, plus IRET
});

for (const cpu of ["standard", "strict"] as const) {
  test(`bare/${cpu}: the guest finishes every probe at both levels`, () => {
    const log = bare(cpu);
    assert.ok(log.begun && log.ended, "RP-BEGIN and RP-END");
    assert.equal(log.abort, null);
    assert.deepEqual(log.malformed, []);
    assert.equal(log.observations.size, PROBES.length * 2);
  });

  test(`bare/${cpu} CPL 0: every probe shows the values the SDM gives`, () => {
    const log = bare(cpu);
    for (const [probe, values] of Object.entries(CPL0)) {
      const o = log.observations.get(observationKey(probe, 0));
      assert.ok(o, probe);
      assert.equal(o.fault, null, `${probe} must not fault at CPL 0`);
      assert.deepEqual(o.values, values, probe);
    }
  });
}

test("bare/standard CPL 3: the sensitive instructions run without a fault and show the SDM's values", () => {
  const log = bare("standard");
  for (const [probe, values] of Object.entries(CPL3)) {
    const o = log.observations.get(observationKey(probe, 3));
    assert.ok(o, probe);
    assert.equal(o.fault, null, `${probe} must not fault at CPL 3 on the standard CPU`);
    assert.deepEqual(o.values, values, probe);
  }
});

test("bare/strict CPL 3: each of the 18, IRET and SYSENTER raise #GP(0); CPUID still runs", () => {
  const log = bare("strict");
  for (const probe of [...STRICT_FAULTS, "sysenter"]) {
    const o = log.observations.get(observationKey(probe, 3));
    assert.ok(o, probe);
    assert.deepEqual(o.fault, { vector: 13, errorCode: 0 }, probe);
  }
  assert.equal(log.observations.get(observationKey("cpuid", 3))?.fault, null);
});

test("CPUID: GenuineIntel, no hypervisor bit (ECX[31]), the same answer at CPL 0 and CPL 3", () => {
  const log = bare("standard");
  const c0 = log.observations.get(observationKey("cpuid", 0));
  const c3 = log.observations.get(observationKey("cpuid", 3));
  assert.ok(c0 && c3);
  assert.equal(c0.values.vendor, "GenuineIntel");
  assert.equal(Number(c0.values.ecx) >>> 31, 0, "ECX bit 31 is 0 on real hardware");
  assert.equal((Number(c0.values.sig) >> 8) & 0xf, 6, "family 6 (the model is an i686)");
  assert.deepEqual(c3.values, c0.values, "CPUID does not depend on CPL");
});

test("the report: bare/strict faults exactly where expected and is the same everywhere else", () => {
  const report = runRedpill(image, { modes: ["bare"], available: ["bare"] });
  const strict = report.configs.findIndex((c) => c.name === "bare/strict");
  for (const row of report.rows) {
    const verdict = row.cells[strict].result?.verdict;
    const expected = row.cpl === 3 && [...STRICT_FAULTS, "sysenter"].includes(row.probe.name) ? "faults" : "same";
    assert.equal(verdict, expected, `${row.probe.name} CPL ${row.cpl}`);
  }
});
