// Snapshot continuity on the demo guest (issue 12): cut a run at several points in every mode,
// save the guest state, continue it in a fresh machine of the same or another mode, and
// compare with the run that was never cut — the same serial bytes, the same guest
// instruction count and virtual time.

import { test } from "node:test";
import assert from "node:assert/strict";
import { DemoRun, type Mode } from "./snapshot-machines.js";

interface Whole { serial: string; end: string; instructions: number; cycles: number }
const wholeRuns = new Map<Mode, Whole>();

function whole(mode: Mode): Whole {
  let w = wholeRuns.get(mode);
  if (w === undefined) {
    const r = new DemoRun(mode);
    r.finish();
    w = { serial: r.serial, end: r.end, ...r.guestCounts };
    wholeRuns.set(mode, w);
  }
  return w;
}

/** Cut a `from` run at machine instruction `at`, continue it under `to`; check it against `to`'s whole run. */
function cutAndContinue(from: Mode, to: Mode, at: number): void {
  const first = new DemoRun(from);
  first.runTo(at);
  assert.equal(first.end, "", `the ${from} run ended before instruction ${at}`);
  const state = first.save();
  const second = new DemoRun(to, state);
  second.finish();
  const w = whole(to);
  assert.equal(first.serial + second.serial, w.serial, `${from} cut at ${at}, continued under ${to}: serial output`);
  assert.equal(second.end, w.end);
  assert.deepEqual(second.guestCounts, { instructions: w.instructions, cycles: w.cycles }, `${from} cut at ${at}, continued under ${to}: guest counts`);
  // The first machine, left running, is not disturbed by the save either.
  first.finish();
  assert.equal(first.serial, whole(from).serial);
}

test("the demo's three modes agree on the whole run (the reference for the cuts)", () => {
  assert.equal(whole("bare").end, "poweroff 33");
  assert.equal(whole("bt").serial, whole("bare").serial);
  assert.deepEqual([whole("bt").cycles, whole("bt").instructions], [whole("bare").cycles, whole("bare").instructions]);
});

for (const mode of ["bare", "trap", "bt"] as const) {
  test(`demo under ${mode}: cut at three points, continued under ${mode}, is byte-identical`, () => {
    for (const at of [50_000, 700_000, 3_000_000]) cutAndContinue(mode, mode, at);
  });
}

test("demo: a bare snapshot continues under bt and trap, a bt snapshot under bare", () => {
  cutAndContinue("bare", "bt", 700_000);
  cutAndContinue("bare", "trap", 1_500_000);
  cutAndContinue("bt", "bare", 900_000);
  cutAndContinue("trap", "bt", 2_000_000);
});
