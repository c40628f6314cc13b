// guests/microbench64: every benchmark runs and passes its check on the bare machine with
// the instructions per operation its loops have (boot.s), and under vtx+EPT and svm+NPT
// with the same guest cycles (the guest's TSC counts guest instructions); a configuration
// the CLI refuses is a refused column, not an error.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { runLabGuest } from "../guest-runner.js";
import { parseGuestOutput } from "./guest-output.js";
import { BENCHMARKS_64, CONFIGS_64 } from "./benchmarks.js";
import { measureMicrobench, isFailure } from "./measure.js";
import { formatTable } from "./format.js";
import { MICROBENCH64_IMAGE } from "../../guests/images.js";

const image = new Uint8Array(readFileSync(MICROBENCH64_IMAGE));

test("microbench64 on bare nehalem: every benchmark, its default iterations, MB end ok", () => {
  const r = runLabGuest(image, { mode: "bare", cpu: "nehalem", cmdline: "bench=all iters=1000" });
  const g = parseGuestOutput(r.serial);
  assert.equal(g.end, "ok", r.serial);
  assert.deepEqual(g.results.map((l) => l.name), BENCHMARKS_64.map((b) => b.name));
  for (const l of g.results) assert.equal(l.iters, 1000);
  // Ring-0 loops: one cycle per instruction, the loop's instructions per operation.
  const perOp = (n: string) => Math.round(g.results.find((l) => l.name === n)!.cycles / 1000);
  assert.equal(perOp("in"), 3);
  assert.equal(perOp("callret"), 4);
  assert.equal(perOp("ptemod"), 6);
  assert.equal(perOp("cr3"), 2);
});

test("microbench64 under vtx+EPT and svm+NPT (refused columns stay refused)", () => {
  const configs = CONFIGS_64.filter((c) => c.mode === "bare" || c.paging === "nested" || c.protect === "segments");
  const report = measureMicrobench(image, {
    configs, benches: ["syscall", "in", "ptemod"], repeat: 1, warmup: false, guest: "microbench64",
    refusal: (c) => (c.mode === "bt" ? { code: "E_MONITOR_UNSUPPORTED", exitCode: 14, message: "--mode trap and bt run 32-bit guests only" } : null),
  });
  const bare = report.configs[0];
  for (const c of report.configs.slice(1)) {
    if (c.config.mode === "bt") { assert.equal(c.status, "refused"); continue; }
    assert.equal(c.status, "ok", c.note);
    for (const r of c.results) {
      assert.ok(!isFailure(r), JSON.stringify(r));
      const b = bare.results.find((x) => x.name === r.name)!;
      assert.ok(!isFailure(b));
      assert.equal(r.cyclesPerOp, b.cyclesPerOp, `${c.config.label} ${r.name}`);
    }
    const inb = c.results.find((r) => r.name === "in")!;
    assert.ok(!isFailure(inb) && inb.exitsPerOp >= 1, "every IN leaves the guest");
  }
  assert.match(formatTable(report), /guests\/microbench64/);
  assert.match(formatTable(report), /bt\/segments: refused \(E_MONITOR_UNSUPPORTED/);
});
