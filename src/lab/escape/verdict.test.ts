// The verdict on synthetic run results: what counts as an escape, what as contained, and
// the suite's exit status.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { LabMode, LabRunOptions, LabRunResult } from "../guest-runner.js";
import { ATTEMPTS } from "./attempts.js";
import { runEscapeSuite } from "./suite.js";
import { CONFIGS, ESCAPE_EXIT, judgeRun, type EscapeConfig } from "./verdict.js";

const bt = CONFIGS.find((c) => c.id === "bt")!;
const bare = CONFIGS.find((c) => c.id === "bare")!;

function result(over: Partial<LabRunResult>): LabRunResult {
  return {
    serial: "", end: { kind: "poweroff", status: 33 }, instructions: 1, cycles: 1, hostMs: 0, counters: {},
    integrity: { monitorIntact: true, guestRanAtCpl0: false }, ...over,
  };
}
const line = { name: "write-ds", outcome: "wrote", detail: "" };

test("monitor memory changed is an escape, whatever the guest saw", () => {
  const r = judgeRun(bt, result({ integrity: { monitorIntact: false, guestRanAtCpl0: false } }), line);
  assert.equal(r.verdict, "ESCAPED");
  assert.match(r.reason, /monitor memory changed/);
});

test("a guest instruction at machine CPL 0 is an escape, even if memory is intact", () => {
  const r = judgeRun(bt, result({ integrity: { monitorIntact: true, guestRanAtCpl0: true } }), line);
  assert.equal(r.verdict, "ESCAPED");
  assert.match(r.reason, /CPL 0/);
});

test("an escape stays an escape when the run then triple-faults", () => {
  const r = judgeRun(bt, result({ end: { kind: "triple-fault" }, integrity: { monitorIntact: false, guestRanAtCpl0: false } }), null);
  assert.equal(r.verdict, "ESCAPED");
});

test("integrity intact and the guest powered off: contained", () => {
  assert.equal(judgeRun(bt, result({}), line).verdict, "CONTAINED");
});

test("integrity intact and a triple fault or halt: contained (stopped cleanly)", () => {
  assert.equal(judgeRun(bt, result({ end: { kind: "triple-fault" } }), null).verdict, "CONTAINED");
  assert.equal(judgeRun(bt, result({ end: { kind: "halt" } }), null).verdict, "CONTAINED");
});

test("a timeout or no integrity report is not contained: unclear", () => {
  assert.equal(judgeRun(bt, result({ end: { kind: "timeout", instructions: 5 } }), null).verdict, "UNCLEAR");
  assert.equal(judgeRun(bt, result({ integrity: null }), line).verdict, "UNCLEAR");
});

test("bare is the reference: never judged", () => {
  assert.equal(judgeRun(bare, result({ integrity: null }), line).verdict, "reference");
});

/** A fake runner: contained everywhere except the listed escapes under paging-only. */
function fakeRunner(escapesUnderPagingOnly: string[], breachUnder?: { attempt: string; mode: string }) {
  return (_img: Uint8Array, o: LabRunOptions): LabRunResult => {
    const name = /attempt=(\S+)/.exec(o.cmdline ?? "")![1];
    const serial = `ESC ${name} wrote\n`;
    if (o.mode === "bare") return result({ serial, integrity: null });
    const escaped = (o.protect === "paging-only" && escapesUnderPagingOnly.includes(name)) ||
      (breachUnder !== undefined && breachUnder.attempt === name && breachUnder.mode === o.mode && o.protect !== "paging-only");
    return result({ serial, integrity: { monitorIntact: !escaped, guestRanAtCpl0: false } });
  };
}
const allModes = (): LabMode[] => ["bare", "trap", "bt", "vtx", "svm"];
const few = ATTEMPTS.slice(0, 4);

test("suite: all contained, one escape under paging-only: exit 0", () => {
  const rep = runEscapeSuite(new Uint8Array(0), { attempts: few, run: fakeRunner([few[1].name]), modes: allModes });
  assert.equal(rep.summary.exitCode, ESCAPE_EXIT.OK);
  assert.deepEqual(rep.summary.detected, [`${few[1].name}@bt-paging-only`]);
  assert.equal(rep.summary.counts["bt"].CONTAINED, few.length);
});

test("suite: an escape under a protected configuration: exit 10 and named", () => {
  const rep = runEscapeSuite(new Uint8Array(0), { attempts: few, run: fakeRunner([few[0].name], { attempt: few[2].name, mode: "trap" }), modes: allModes });
  assert.equal(rep.summary.exitCode, ESCAPE_EXIT.ESCAPED);
  assert.deepEqual(rep.summary.breaches, [`${few[2].name}@trap-strict`]);
});

test("suite: nothing escapes under paging-only: exit 11", () => {
  const rep = runEscapeSuite(new Uint8Array(0), { attempts: few, run: fakeRunner([]), modes: allModes });
  assert.equal(rep.summary.exitCode, ESCAPE_EXIT.UNDETECTED);
});

test("suite: monitor modes missing from the build: n/a cells and exit 12", () => {
  const rep = runEscapeSuite(new Uint8Array(0), { attempts: few, run: fakeRunner([few[0].name]), modes: () => ["bare"] });
  assert.equal(rep.summary.exitCode, ESCAPE_EXIT.NOT_RUN);
  assert.equal(rep.rows.get(few[0].name)!.get("bt")!.verdict, "n/a");
  assert.deepEqual(rep.summary.unavailable.sort(), ["bt", "bt-paging-only", "svm-npt", "svm-shadow", "trap-strict", "vtx-ept", "vtx-shadow"]);
});

test("suite: a runner that throws is an ERROR, and an ERROR under a protected configuration fails the suite", () => {
  const configs: EscapeConfig[] = [bt];
  const rep = runEscapeSuite(new Uint8Array(0), { attempts: few.slice(0, 1), configs, run: () => { throw new Error("boom"); }, modes: allModes });
  assert.equal(rep.rows.get(few[0].name)!.get("bt")!.verdict, "ERROR");
  assert.equal(rep.summary.exitCode, ESCAPE_EXIT.ESCAPED);
});

test("suite: the guest line of a run is attributed to its attempt; a missing line is null", () => {
  const run = (_i: Uint8Array, o: LabRunOptions): LabRunResult =>
    result({ serial: o.mode === "bt" ? "vmm86 escape guest\n" : `ESC ${few[0].name} fault=13 err=0x0000\n`, integrity: o.mode === "bare" ? null : { monitorIntact: true, guestRanAtCpl0: false } });
  const rep = runEscapeSuite(new Uint8Array(0), { attempts: few.slice(0, 1), run, modes: allModes });
  const row = rep.rows.get(few[0].name)!;
  assert.deepEqual(row.get("bare")!.guest, { name: few[0].name, outcome: "fault=13", detail: "err=0x0000" });
  assert.equal(row.get("bt")!.guest, null);
  assert.equal(row.get("bt")!.verdict, "CONTAINED");
});
