// Runs the escape guest once per (attempt, configuration): one attempt per run, so the
// monitor's integrity verdict after the run belongs to that attempt alone.

import { availableModes, runLabGuest, type LabMode, type LabRunOptions, type LabRunResult } from "../guest-runner.js";
import { ATTEMPTS, parseEscLines, type Attempt } from "./attempts.js";
import type { RefusalProbe } from "../columns64.js";
import { CONFIGS, judgeRun, notAvailable, refusedRun, runError, summarize, type AttemptRun, type EscapeConfig, type SuiteSummary } from "./verdict.js";

/** Guest instructions one attempt may take (rep-stos-region is the longest: ~1 M). */
export const ATTEMPT_INSTRUCTION_LIMIT = 100_000_000;

export interface SuiteOptions {
  attempts?: readonly Attempt[];
  configs?: readonly EscapeConfig[];
  /** Replaceable for tests: the lab runner and the modes it offers. */
  run?: (image: Uint8Array, opts: LabRunOptions) => LabRunResult;
  modes?: () => LabMode[];
  /** Asks the CLI whether it runs a monitored configuration (columns64.ts); a refusal replaces the run. */
  refusal?: RefusalProbe;
  /** The guest's multiboot command line for an attempt (default attemptCmdline). */
  cmdline?: (name: string) => string;
  /** Called after each run (progress). */
  onRun?: (attempt: Attempt, config: EscapeConfig, run: AttemptRun) => void;
}

export interface SuiteReport {
  configs: readonly EscapeConfig[];
  attempts: readonly Attempt[];
  /** rows.get(attempt name).get(config id) */
  rows: Map<string, Map<string, AttemptRun>>;
  summary: SuiteSummary;
}

/** The command line that selects one attempt. */
export function attemptCmdline(name: string): string {
  return `escape attempt=${name}`;
}

export function runAttempt(image: Uint8Array, attempt: Attempt, config: EscapeConfig, opts: SuiteOptions = {}): AttemptRun {
  const modes = (opts.modes ?? availableModes)();
  if (!modes.includes(config.mode)) return notAvailable(config);
  const refused = config.mode === "bare" ? null : opts.refusal?.(config) ?? null;
  if (refused !== null) return refusedRun(config, refused);
  const run = opts.run ?? runLabGuest;
  let r: LabRunResult;
  try {
    r = run(image, {
      mode: config.mode, cpu: config.cpu, protect: config.protect, paging: config.paging,
      cmdline: (opts.cmdline ?? attemptCmdline)(attempt.name), maxInstructions: ATTEMPT_INSTRUCTION_LIMIT,
    });
  } catch (e) {
    return runError(config, e instanceof Error ? e.message : String(e));
  }
  const line = parseEscLines(r.serial).find((l) => l.name === attempt.name) ?? null;
  return judgeRun(config, r, line);
}

export function runEscapeSuite(image: Uint8Array, opts: SuiteOptions = {}): SuiteReport {
  const attempts = opts.attempts ?? ATTEMPTS;
  const configs = opts.configs ?? CONFIGS;
  const rows = new Map<string, Map<string, AttemptRun>>();
  for (const a of attempts) {
    const row = new Map<string, AttemptRun>();
    for (const c of configs) {
      const r = runAttempt(image, a, c, opts);
      row.set(c.id, r);
      opts.onRun?.(a, c, r);
    }
    rows.set(a.name, row);
  }
  return { configs, attempts, rows, summary: summarize(configs, rows) };
}
