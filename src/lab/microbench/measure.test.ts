// The measurement logic with a stand-in for the guest runner: which runs it makes, how
// host time and counters are set against the bench=none run, and how failures and
// missing modes are reported.

import { test } from "node:test";
import assert from "node:assert/strict";
import type { LabMode, LabRunOptions, LabRunResult } from "../guest-runner.js";
import { measureMicrobench, ratioToBare, topCounters, isFailure, WARMUP_CMDLINE, type BenchResult } from "./measure.js";
import { CONFIGS } from "./benchmarks.js";

const PASS = (0x10 << 1) | 1;

interface Call { mode: LabMode; cmdline: string }

/**
 * A runner that makes up a guest: benchmark `in` does 1000 ops at 3 cycles (bare) or 30
 * (elsewhere); `cr3` 500 ops at 2 or 50. Host time per call comes from `hostMs`, which
 * may depend on the round (each bench=none call starts a round).
 */
function fakeRunner(opts: {
  hostMs: (mode: LabMode, bench: string, round: number) => number;
  counters?: (mode: LabMode, bench: string) => Record<string, number>;
  breakBench?: { mode: LabMode; bench: string; how: "mbfail" | "triple" | "throw" | "noline" };
  breakNone?: LabMode;
}): { run: (img: Uint8Array, o: LabRunOptions) => LabRunResult; calls: Call[] } {
  const calls: Call[] = [];
  const rounds = new Map<LabMode, number>();
  const run = (_img: Uint8Array, o: LabRunOptions): LabRunResult => {
    const cmdline = o.cmdline ?? "";
    calls.push({ mode: o.mode, cmdline });
    const bench = /bench=(\S+)/.exec(cmdline)![1];
    if (bench === "none") rounds.set(o.mode, (rounds.get(o.mode) ?? -1) + 1);
    const round = rounds.get(o.mode) ?? 0;
    const bare = o.mode === "bare";
    const lines = ["vmm86 microbench guest", "MB ready"];
    const brk = opts.breakBench && opts.breakBench.mode === o.mode && opts.breakBench.bench === bench ? opts.breakBench.how : null;
    if (brk === "throw") throw new Error("monitor exploded");
    let status = PASS;
    let end: LabRunResult["end"] = { kind: "poweroff", status };
    if (bench === "in" && brk !== "noline") lines.push(`MB in iters=1000 cycles=${bare ? 3000 : 30000}`);
    if (bench === "cr3" && brk !== "noline") lines.push(`MB cr3 iters=500 cycles=${bare ? 1000 : 25000}`);
    if (brk === "mbfail") { lines.push("MB-FAIL in: something"); status = 35; end = { kind: "poweroff", status }; }
    if (brk === "triple") end = { kind: "triple-fault" };
    if (opts.breakNone === o.mode && bench === "none") end = { kind: "halt" };
    lines.push(status === PASS ? "MB end ok" : "MB end fail");
    return {
      serial: lines.join("\n") + "\n", end, instructions: 5000, cycles: 5000,
      hostMs: opts.hostMs(o.mode, bench, round),
      counters: opts.counters?.(o.mode, bench) ?? {}, integrity: null,
    };
  };
  return { run, calls };
}

const img = new Uint8Array(0);

test("runs a warm-up, then per round bench=none and each benchmark; modes not offered are n/a", () => {
  const f = fakeRunner({ hostMs: () => 10 });
  const rep = measureMicrobench(img, { benches: ["in", "cr3"], repeat: 2, run: f.run, available: () => ["bare"] });
  assert.deepEqual(f.calls.map((c) => `${c.mode} ${c.cmdline}`), [
    `bare ${WARMUP_CMDLINE}`,
    "bare bench=none", "bare bench=in", "bare bench=cr3",
    "bare bench=none", "bare bench=in", "bare bench=cr3",
  ]);
  assert.deepEqual(rep.configs.map((c) => [c.config.label, c.status]), [["bare", "ok"], ["trap --cpu strict", "n/a"], ["bt", "n/a"], ["vtx-shadow", "n/a"], ["vtx+EPT", "n/a"], ["svm-shadow", "n/a"], ["svm+NPT", "n/a"]]);
  assert.deepEqual(rep.configs[1].results, []);
  const r = rep.configs[0].results[0] as BenchResult;
  assert.equal(r.cyclesPerOp, 3);
  assert.equal(r.hostMs, 0);
});

test("host time is the best bench run minus the best bench=none run; counters are deltas of the same round", () => {
  // bench=none: 7 ms then 5 ms; in: 40 then 25; cr3: 12 then 30.
  const table: Record<string, number[]> = { none: [7, 5], in: [40, 25], cr3: [12, 30] };
  const f = fakeRunner({
    hostMs: (mode, bench, round) => table[bench][round] * (mode === "bare" ? 1 : 4),
    counters: (mode, bench): Record<string, number> => (mode === "bare" ? {} : { "trap.io": bench === "in" ? 1003 : 3, "shadow.sync": 7, "trap.cr3": bench === "cr3" ? 503 : 3 }),
  });
  const rep = measureMicrobench(img, { benches: ["in", "cr3"], repeat: 2, warmup: false, run: f.run, available: () => ["bare", "trap", "bt"] });
  const [bare, trap] = rep.configs;
  const bin = bare.results[0] as BenchResult, bcr3 = bare.results[1] as BenchResult;
  assert.equal(bin.hostMs, 20);                 // 25 − 5
  assert.equal(bin.hostNsPerOp, 20e6 / 1000);
  assert.equal(bcr3.hostMs, 7);                 // 12 − 5
  assert.deepEqual(bin.counters, {});
  assert.equal(bare.baseline?.hostMs, 5);
  const tin = trap.results[0] as BenchResult;
  assert.deepEqual(tin.counters, { "trap.io": 1000 });   // shadow.sync did not change
  assert.equal(tin.cyclesPerOp, 30);
  assert.deepEqual(ratioToBare(rep, trap, "in"), { cycles: 10, host: 4 });
  assert.deepEqual(ratioToBare(rep, trap, "cr3"), { cycles: 25, host: 4 });
  assert.deepEqual(topCounters(trap.results[1] as BenchResult, 4), [{ name: "trap.cr3", total: 500, perOp: 1 }]);
});

test("a benchmark that fails anywhere is reported, the others still measured", () => {
  for (const how of ["mbfail", "triple", "throw", "noline"] as const) {
    const f = fakeRunner({ hostMs: () => 1, breakBench: { mode: "trap", bench: "in", how } });
    const rep = measureMicrobench(img, { benches: ["in", "cr3"], repeat: 2, warmup: false, run: f.run, available: () => ["bare", "trap"] });
    const trap = rep.configs[1];
    assert.equal(trap.status, "ok");
    assert.ok(isFailure(trap.results[0]), how);
    assert.ok(!isFailure(trap.results[1]), how);
    assert.equal(ratioToBare(rep, trap, "in"), null);
    const msg = (trap.results[0] as { error: string }).error;
    assert.match(msg, { mbfail: /guest: in: something/, triple: /triple-fault/, throw: /monitor exploded/, noline: /no result line/ }[how]);
    // The failing benchmark ran once; the others every round.
    assert.equal(f.calls.filter((c) => c.mode === "trap" && c.cmdline === "bench=in").length, 1, how);
    assert.equal(f.calls.filter((c) => c.mode === "trap" && c.cmdline === "bench=cr3").length, 2, how);
  }
});

test("if even bench=none fails the configuration is an error", () => {
  const f = fakeRunner({ hostMs: () => 1, breakNone: "bt" });
  const rep = measureMicrobench(img, { benches: ["in"], repeat: 1, warmup: false, run: f.run, available: () => ["bare", "trap", "bt"] });
  assert.equal(rep.configs[2].status, "error");
  assert.match(rep.configs[2].note ?? "", /bench=none: guest ended with halt/);
  assert.equal(rep.configs[0].status, "ok");
  assert.equal(CONFIGS[0].mode, "bare");
});
