// Snapshot continuity on the demo guest (issue 12): cut a run at several points in every mode,
// save the guest state, continue it in a fresh machine of the same or another mode, and
// compare with the run that was never cut — the same serial bytes, the same guest
// instruction count and virtual time.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Continuity } from "./snapshot-machines.js";

const demo = new Continuity();
const whole = demo.whole.bind(demo);
const cutAndContinue = (from: "bare" | "trap" | "bt", to: "bare" | "trap" | "bt", at: number): void => demo.cutAndContinue(from, to, at, true);

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
