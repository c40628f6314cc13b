// `vmm86 history` on one part, for real: the 32-bit guest under bt on a Pentium II (escape
// attempts contained by the integrity check, a measured cost), vtx and svm refused by the
// CLI itself, and the 64-bit guest telling bare it has no long mode.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { runHistory, formatTable, QUICK_ATTEMPTS_32, cellText } from "./history.js";
import { ESCAPE_IMAGE, ESCAPE64_IMAGE, MICROBENCH_IMAGE, MICROBENCH64_IMAGE } from "../guests/images.js";
import { cliRefusalProbe } from "../cli/lab-try.js";

test("history --quick --cpu pentium2: bt safe with a cost, vtx/svm refused by the CLI, no long mode", () => {
  const guests = { escape32: readFileSync(ESCAPE_IMAGE), escape64: readFileSync(ESCAPE64_IMAGE), microbench32: readFileSync(MICROBENCH_IMAGE), microbench64: readFileSync(MICROBENCH64_IMAGE) };
  const probes = { 32: cliRefusalProbe(ESCAPE_IMAGE, "escape attempt=write-ds"), 64: cliRefusalProbe(ESCAPE64_IMAGE, "escape attempt=write-moffs") };
  const report = runHistory(guests, { models: ["pentium2"], quick: true, refusal: (b) => probes[b] });
  const [c32, c64] = report.rows[0].cells;
  const bt = c32.techniques.find((t) => t.technique === "bt")!;
  assert.equal(bt.status, "safe", bt.notContained.join("; "));
  assert.equal(bt.attempts, QUICK_ATTEMPTS_32.length);
  assert.ok(bt.cost !== null && bt.cost > 1, `bt costs more than bare: ${bt.cost}`);
  for (const name of ["vtx", "svm"]) {
    const t = c32.techniques.find((x) => x.technique === name)!;
    assert.equal(t.status, "refused");
    assert.equal(t.refused?.code, "E_USAGE");
    assert.match(t.refused?.message ?? "", /pentium2 has no (VMX|SVM)/);
  }
  assert.match(c64.unsupported ?? "", /no long mode/);
  assert.equal(cellText(c64), "no long mode");
  assert.match(cellText(c32), /^bt ×/);
  assert.match(formatTable(report), /32-bit vtx: E_USAGE \(exit 2\) on pentium2/);
});
