// The 64-bit difftest in `npm test`: random 64-bit user-mode integer and SIMD sequences run on the host
// CPU and in the model (core2) in 64-bit mode, compared register by register, flag by flag and
// byte by byte (docs/difftest.md, "64-bit mode"). Fixed seed; reproduce a failure with
// `npm run difftest -- --mode 64 --seed 20261204 --groups G --case N`. Skipped, never passed,
// when this host cannot assemble or run x86-64 code.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Engine64 } from "./engine64.js";
import { GROUPS64, generate64 } from "./generator64.js";
import { native64Available } from "./native64.js";

const SEED = 20261204;
const PER_GROUP = 2000;
/** SSE cases run fast and cover a large space (every MMX/SSE/SSE2/SSE3 row, MXCSR modes): more of them. */
const COUNT: Partial<Record<string, number>> = { sse: 4000 };

const engine = native64Available() ? new Engine64() : null;

for (const [g, group] of GROUPS64.entries()) {
  const count = COUNT[group] ?? PER_GROUP;
  test(`difftest64 ${group}: ${count} random 64-bit cases against the host CPU`, (t) => {
    if (!engine) { t.skip("this host cannot assemble or run x86-64 code natively"); return; }
    const results = engine.run(Array.from({ length: count }, (_, k) => generate64(SEED + g, k, [group])));
    if (results.every((r) => r.status === "skip")) { t.skip(results[0]?.diffs[0] ?? "skipped"); return; }
    const failed = results.filter((r) => r.status === "fail");
    if (failed.length) {
      const first = failed[0];
      assert.fail(`${failed.length} of ${results.length} ${group} cases differ; first:\n${engine.explain(first.c)}\n` +
        `  whole case: ${first.diffs.join("; ")}\n(reproduce: npm run difftest -- --mode 64 --seed ${SEED + g} --groups ${group} --case ${first.c.index})`);
    }
  });
}
