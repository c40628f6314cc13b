// Snapshot continuity on the lab's guests (issue 12, Judged-by 1): the red-pill suite, the
// micro-benchmarks and an escape attempt, each cut at two points in each mode (bare, trap on
// the strict CPU, bt) and continued under the same mode, and cut under one mode and continued
// under another, give the serial bytes, end, guest instruction count and virtual time of the
// run never cut. (`vmm86 classify` runs single instructions in prepared machine states, not
// a guest that runs on: there is nothing there to cut.)

import { test } from "node:test";
import assert from "node:assert/strict";
import { Continuity, type Guest, type Mode } from "./snapshot-machines.js";
import { attemptCmdline } from "../../src/lab/escape/suite.js";

const MODES: Mode[] = ["bare", "trap", "bt"];

function sameModeCuts(c: Continuity, fractions: number[]): void {
  for (const mode of MODES) {
    const n = c.whole(mode).instructions;
    for (const f of fractions) c.cutAndContinue(mode, mode, Math.round(n * f));
  }
}

test("redpill: cut in each mode and continued under it; a bare cut continues under trap --cpu strict and the reverse", () => {
  const c = new Continuity({ elf: "redpill/redpill.elf", cmdline: "lab" });
  // Under bt the guest's user-mode probes see the monitor (that is the suite's point), so
  // bt's output differs from bare's and a cut continues under bt only.
  assert.equal(c.whole("trap").serial, c.whole("bare").serial);
  assert.notEqual(c.whole("bt").serial, c.whole("bare").serial);
  sameModeCuts(c, [0.3, 0.8]);
  c.cutAndContinue("bare", "trap", 60_000);
  c.cutAndContinue("trap", "bare", 100_000);
});

for (const guest of [
  { elf: "microbench/microbench.elf", cmdline: "bench=all iters=200" },
  { elf: "escape/escape.elf", cmdline: attemptCmdline("movs-from-region") },
] satisfies Guest[]) {
  test(`${guest.cmdline}: cut in each mode and continued under it, and across modes`, () => {
    const c = new Continuity(guest);
    for (const m of ["trap", "bt"] as const) {
      assert.equal(c.whole(m).serial, c.whole("bare").serial, `${m} agrees with bare`);
      assert.deepEqual([c.whole(m).instructions, c.whole(m).cycles], [c.whole("bare").instructions, c.whole("bare").cycles]);
    }
    sameModeCuts(c, [0.25, 0.7]);
    const n = c.whole("bare").instructions;
    c.cutAndContinue("bare", "bt", Math.round(n * 0.4));
    c.cutAndContinue("bt", "trap", Math.round(n * 0.6));
    c.cutAndContinue("trap", "bare", Math.round(n * 0.5));
  });
}
