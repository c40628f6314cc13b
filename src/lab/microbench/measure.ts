// Measures the micro-benchmark guest on each machine configuration.
//
// Guest cycles come from the guest itself (its RDTSC delta around each loop). Host time
// and the monitor's counters can only be read around a whole run, so each benchmark is
// run in a guest of its own (bench=NAME) and compared with a run that sets everything up
// and measures nothing (bench=none):
//
//   host ns/op = (best host ms of bench=NAME − best host ms of bench=none) / iterations
//   counters   = counters(bench=NAME) − counters(bench=none), same round
//
// "Best" is the minimum over `repeat` rounds; a warm-up run (every benchmark, few
// iterations) first lets the JavaScript engine compile the paths the benchmarks take, so
// the first timed round is not charged for it. The runner's host time covers only the
// run loop, not building the machine, which costs more than some benchmarks.

import { availableModes, runLabGuest, type LabMode, type LabRunOptions, type LabRunResult } from "../guest-runner.js";
import { BENCHMARKS, CONFIGS, type MachineConfig } from "./benchmarks.js";
import type { RefusalProbe } from "../columns64.js";
import { parseGuestOutput, type GuestReport } from "./guest-output.js";

export type GuestRunner = (image: Uint8Array, opts: LabRunOptions) => LabRunResult;

export interface MeasureOptions {
  configs?: readonly MachineConfig[];
  /** Benchmark names, in the guest's order (default: all). */
  benches?: readonly string[];
  /** Timed rounds; each number reported is the best (default 2). */
  repeat?: number;
  /** Run the warm-up first (default true). */
  warmup?: boolean;
  /** Stop a run after this many guest instructions (default 50 M; bare needs < 2 M). */
  maxInstructions?: number;
  /** For tests: the runner and the modes it offers. */
  run?: GuestRunner;
  available?: () => LabMode[];
  /** Asks the CLI whether it runs a monitored configuration (columns64.ts); a refusal replaces the runs. */
  refusal?: RefusalProbe;
  /** The guest's directory name for the report (default microbench). */
  guest?: string;
  /** Called before each configuration is measured. */
  onProgress?: (message: string) => void;
}

export interface BenchResult {
  name: string;
  iters: number;
  /** Guest RDTSC cycles over all iterations. */
  cycles: number;
  cyclesPerOp: number;
  /** Host milliseconds for all iterations (best run minus best baseline, at least 0). */
  hostMs: number;
  hostNsPerOp: number;
  /** Monitor counters of this run minus those of the baseline run; zero deltas left out. */
  counters: Record<string, number>;
  /** Exits from the guest to the monitor over all iterations (monitorExits of `counters`); 0 on bare. */
  exits: number;
  exitsPerOp: number;
}

/**
 * How many times the guest left for the monitor, from a monitor's counters:
 *   svm (and vtx): every #VMEXIT, counted by the exit handler as vmexit.<APM name>;
 *   trap, bt: every entry into the monitor from the deprivileged guest — a fault or
 *     interrupt through the monitor's IDT (trap.*) or a callout from translated code or
 *     a timer/idle exit (exit.*).
 * Both count entries into monitor code, the event Adams and Agesen count as an exit.
 */
export function monitorExits(counters: Record<string, number>): number {
  let n = 0;
  for (const [k, v] of Object.entries(counters)) {
    if (k.startsWith("vmexit.") || k.startsWith("trap.") || k.startsWith("exit.")) n += v;
  }
  return n;
}

export interface BenchFailure {
  name: string;
  error: string;
}

export interface Baseline {
  instructions: number;
  hostMs: number;
  counters: Record<string, number>;
}

export interface ConfigResult {
  config: MachineConfig;
  /** n/a: the mode is not in this build; error: even the bench=none run failed; refused: `vmm86 run` refuses it (note: its code). */
  status: "ok" | "n/a" | "error" | "refused";
  note?: string;
  baseline?: Baseline;
  results: (BenchResult | BenchFailure)[];
}

export interface MicrobenchReport {
  /** The guest's directory name (default microbench). */
  guest?: string;
  repeat: number;
  benches: string[];
  configs: ConfigResult[];
}

export const WARMUP_CMDLINE = "bench=all iters=1000";
const PASS_STATUS = (0x10 << 1) | 1;

export function isFailure(r: BenchResult | BenchFailure): r is BenchFailure {
  return "error" in r;
}

interface GuestRun {
  result: LabRunResult;
  guest: GuestReport;
}

/** Runs the guest once; returns the run or why it did not end as the guest intends. */
function runOnce(image: Uint8Array, cfg: MachineConfig, cmdline: string, opts: MeasureOptions): GuestRun | string {
  const run = opts.run ?? runLabGuest;
  let result: LabRunResult;
  try {
    result = run(image, { mode: cfg.mode, cpu: cfg.cpu, paging: cfg.paging, protect: cfg.protect, cmdline, maxInstructions: opts.maxInstructions ?? 50e6 });
  } catch (e) {
    return `the runner failed: ${e instanceof Error ? e.message : String(e)}`;
  }
  const guest = parseGuestOutput(result.serial);
  if (guest.failures.length > 0) return `guest: ${guest.failures.join("; ")}`;
  if (result.end.kind !== "poweroff") return `guest ended with ${result.end.kind} after ${result.instructions} instructions`;
  if (result.end.status !== PASS_STATUS || guest.end !== "ok") return `guest powered off with status ${result.end.status}`;
  return { result, guest };
}

function delta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

function measureConfig(image: Uint8Array, cfg: MachineConfig, benches: readonly string[], opts: MeasureOptions): ConfigResult {
  const available = (opts.available ?? availableModes)();
  if (!available.includes(cfg.mode)) {
    return { config: cfg, status: "n/a", note: `mode ${cfg.mode} is not in this build yet`, results: [] };
  }
  const refused = cfg.mode === "bare" ? null : opts.refusal?.(cfg) ?? null;
  if (refused !== null) {
    return { config: cfg, status: "refused", note: `${refused.code}, exit ${refused.exitCode}: ${refused.message}`, results: [] };
  }
  const repeat = Math.max(1, Math.floor(opts.repeat ?? 2));
  if (opts.warmup ?? true) runOnce(image, cfg, WARMUP_CMDLINE, opts);

  const baselines: GuestRun[] = [];
  const runs = new Map<string, (GuestRun | string)[]>(benches.map((b) => [b, []]));
  for (let round = 0; round < repeat; round++) {
    const base = runOnce(image, cfg, "bench=none", opts);
    if (typeof base === "string") return { config: cfg, status: "error", note: `bench=none: ${base}`, results: [] };
    baselines.push(base);
    for (const b of benches) {
      const tries = runs.get(b)!;
      // A benchmark that failed once is not run again: a hung run costs the most.
      if (tries.some((t) => typeof t === "string")) continue;
      const r = runOnce(image, cfg, `bench=${b}`, opts);
      tries.push(typeof r === "string" || r.guest.results.some((l) => l.name === b) ? r : "the guest printed no result line");
    }
  }

  const bestBase = Math.min(...baselines.map((r) => r.result.hostMs));
  const first = baselines[0].result;
  const results = benches.map((name): BenchResult | BenchFailure => {
    const tries = runs.get(name)!;
    const bad = tries.find((t): t is string => typeof t === "string");
    if (bad !== undefined) return { name, error: bad };
    const good = tries as GuestRun[];
    const line = good[0].guest.results.find((l) => l.name === name)!;
    const hostMs = Math.max(0, Math.min(...good.map((t) => t.result.hostMs)) - bestBase);
    const counters = delta(good[0].result.counters, first.counters);
    const exits = monitorExits(counters);
    return {
      name,
      iters: line.iters,
      cycles: line.cycles,
      cyclesPerOp: line.cycles / line.iters,
      hostMs,
      hostNsPerOp: (hostMs * 1e6) / line.iters,
      counters,
      exits,
      exitsPerOp: exits / line.iters,
    };
  });
  return {
    config: cfg,
    status: "ok",
    baseline: { instructions: first.instructions, hostMs: bestBase, counters: first.counters },
    results,
  };
}

/** Measures every configuration (bare first) on the guest image. */
export function measureMicrobench(image: Uint8Array, opts: MeasureOptions = {}): MicrobenchReport {
  const benches = opts.benches ?? BENCHMARKS.map((b) => b.name);
  const repeat = Math.max(1, Math.floor(opts.repeat ?? 2));
  const configs = (opts.configs ?? CONFIGS).map((cfg) => {
    opts.onProgress?.(`measuring ${cfg.label}`);
    return measureConfig(image, cfg, benches, opts);
  });
  return { ...(opts.guest !== undefined ? { guest: opts.guest } : {}), repeat, benches: [...benches], configs };
}

export interface Ratio {
  cycles: number;
  host: number;
}

/** A benchmark's cost on `cfg` over its cost on bare, or null if either is missing. */
export function ratioToBare(report: MicrobenchReport, cfg: ConfigResult, bench: string): Ratio | null {
  const bare = report.configs.find((c) => c.config.mode === "bare");
  const base = bare?.results.find((r) => r.name === bench);
  const mine = cfg.results.find((r) => r.name === bench);
  if (base === undefined || mine === undefined || isFailure(base) || isFailure(mine)) return null;
  return {
    cycles: mine.cyclesPerOp / base.cyclesPerOp,
    host: base.hostNsPerOp > 0 ? mine.hostNsPerOp / base.hostNsPerOp : NaN,
  };
}

/**
 * The largest counter deltas of one result, per operation, biggest first: the monitor's
 * events (the time.* totals and pool gauges are left to the JSON).
 */
export function topCounters(r: BenchResult, n: number): { name: string; total: number; perOp: number }[] {
  return Object.entries(r.counters)
    .filter(([name]) => !name.startsWith("time.") && !name.endsWith("pool-used") && !name.startsWith("bt.cache") && !name.startsWith("bt.entry-points"))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, n)
    .map(([name, total]) => ({ name, total, perOp: total / r.iters }));
}
