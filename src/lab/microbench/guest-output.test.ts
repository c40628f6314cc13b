// The parser of the guest's COM1 lines, on made-up output.

import { test } from "node:test";
import assert from "node:assert/strict";
import { parseGuestOutput } from "./guest-output.js";

test("result lines, the ready and end lines, failures; other text is ignored", () => {
  const out = parseGuestOutput([
    "vmm86 microbench guest",
    "MB ready",
    "MB syscall iters=20000 cycles=940077",
    "MB cr3 iters=2 cycles=13\r",
    "MB-FAIL pgfault: #PF count",
    "MB in iters=12 cycles=abc",
    "MB in iters=12",
    "XMB in iters=1 cycles=1",
    "MB end fail",
    "",
  ].join("\n"));
  assert.equal(out.ready, true);
  assert.equal(out.end, "fail");
  assert.deepEqual(out.results, [
    { name: "syscall", iters: 20000, cycles: 940077 },
    { name: "cr3", iters: 2, cycles: 13 },
  ]);
  assert.deepEqual(out.failures, ["pgfault: #PF count"]);
});

test("output cut short has no verdict", () => {
  const out = parseGuestOutput("vmm86 microbench guest\nMB ready\nMB in iters=5 cycles=15\nMB end o");
  assert.equal(out.end, null);
  assert.equal(out.results.length, 1);
  assert.equal(parseGuestOutput("").ready, false);
  assert.equal(parseGuestOutput("MB end ok\n").end, "ok");
});
