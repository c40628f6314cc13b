// Difftest in `npm test`: a few thousand random cases run on the host CPU and in the model
// (see engine.ts and docs/difftest.md). Fixed seed so failures are reproducible with
// `npm run difftest -- --seed 20240601 --case N`. Skipped, never passed, when this host cannot
// assemble or run i386 code. Known CPU bugs (FINDINGS.md) stay failing: nothing is masked.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Engine, generate } from "./engine.js";
import { GROUPS } from "./generator.js";
import { nativeAvailable } from "./native.js";

const SEED = 20240601;
const PER_GROUP = 500;
/** SSE cases run fast and cover a large space (every MMX/SSE/SSE2/SSE3 row, MXCSR modes): more of them. */
const COUNT: Partial<Record<string, number>> = { sse: 4000 };

const available = nativeAvailable();
const engine = available ? new Engine() : null;

for (const [g, group] of GROUPS.entries()) {
  const count = COUNT[group] ?? PER_GROUP;
  test(`difftest ${group}: ${count} random cases against the host CPU`, (t) => {
    if (!engine) { t.skip("this host cannot assemble or run i386 code natively"); return; }
    const cases = Array.from({ length: count }, (_, k) => generate(SEED + g, k, [group]));
    const results = engine.runCases(cases);
    const skipped = results.filter((r) => r.status === "skip");
    if (skipped.length === results.length) { t.skip(skipped[0]?.diffs[0] ?? "skipped"); return; }
    const failed = results.filter((r) => r.status === "fail");
    if (failed.length) {
      const first = failed[0];
      assert.fail(`${failed.length} of ${results.length} ${group} cases differ; first:\n` + engine.explain(first.c) + `\n(reproduce: npm run difftest -- --seed ${SEED + g} --groups ${group} --case ${first.c.index})`);
    }
  });
}
