// Judging one run of one escape attempt, and the whole suite.
//
// A run under a monitor ESCAPED when the monitor's own resource-control check says so:
// its protected memory changed (monitorIntact false) or a guest instruction ran at machine
// CPL 0 (guestRanAtCpl0 true). It was CONTAINED when both checks hold and the run had a
// clear end: the guest powered off (it kept running to the end of its attempt) or was
// stopped (triple fault, halt). Anything else is UNCLEAR: no integrity report from a
// monitor mode, or a run that only ran out of time or waited for input. The guest's own
// view (what its ESC line says) never decides the verdict; it is reported beside it.

import type { LabMode, LabCpu, LabProtect, LabRunResult } from "../guest-runner.js";
import type { GuestLine } from "./attempts.js";
import { HW_COLUMNS } from "../columns.js";
import { COLUMNS_64, type Refusal } from "../columns64.js";

export interface EscapeConfig {
  /** Stable id used in JSON and on the command line. */
  id: string;
  /** Column heading. */
  label: string;
  mode: LabMode;
  cpu: LabCpu;
  protect?: LabProtect;
  /** A hardware-assisted monitor's paging (columns.ts). */
  paging?: "nested" | "shadow";
  /**
   * protected: every attempt must be contained; weakened: at least one attempt must
   * escape (proof the suite can see an escape); reference: bare, guest view only.
   */
  role: "reference" | "protected" | "weakened";
}

export const CONFIGS: readonly EscapeConfig[] = [
  { id: "bare", label: "bare", mode: "bare", cpu: "standard", role: "reference" },
  { id: "bt", label: "bt", mode: "bt", cpu: "standard", protect: "segments", role: "protected" },
  { id: "trap-strict", label: "trap --cpu strict", mode: "trap", cpu: "strict", protect: "segments", role: "protected" },
  { id: "bt-paging-only", label: "bt --protect paging-only", mode: "bt", cpu: "standard", protect: "paging-only", role: "weakened" },
  // The hardware-assisted monitors (columns.ts): protected, judged by their own integrity
  // check (src/vmm/svm/integrity.ts for svm).
  ...HW_COLUMNS.map((h): EscapeConfig => ({
    id: h.label.toLowerCase().replace(/\+/g, "-"), label: h.label, mode: h.mode, cpu: h.cpu, paging: h.paging, role: "protected",
  })),
];

/**
 * The 64-bit suite's configurations (columns64.ts): bare nehalem as the reference, then
 * every 64-bit column; bt --protect paging-only is the weakened one, as in 32-bit.
 */
export const CONFIGS_64: readonly EscapeConfig[] = [
  { id: "bare", label: "bare", mode: "bare", cpu: "nehalem", role: "reference" },
  ...COLUMNS_64.map((c): EscapeConfig => ({
    id: c.label.toLowerCase().replace(/\+/g, "-").replace(/\//g, "-"), label: c.label, mode: c.mode, cpu: c.cpu,
    protect: c.protect, paging: c.paging, role: c.protect === "paging-only" || c.protect === "segments-unsafe" ? "weakened" : "protected",
  })),
];

/** refused: the CLI would not run the configuration (columns64.ts), tried with `vmm86 run`. */
export type Verdict = "ESCAPED" | "CONTAINED" | "UNCLEAR" | "n/a" | "ERROR" | "reference" | "refused";

/** What one run of one attempt under one configuration came to. */
export interface AttemptRun {
  config: string;
  verdict: Verdict;
  /** The guest's ESC line for this attempt, or null if it printed none. */
  guest: GuestLine | null;
  /** How the run ended ("poweroff 33", "triple-fault", …), or null if it did not run. */
  end: string | null;
  integrity: LabRunResult["integrity"];
  /** Why the verdict is what it is, in a few words. */
  reason: string;
  /** For `refused`: the CLI's error code, exit status and message. */
  refused?: Refusal;
}

export function describeEnd(end: LabRunResult["end"]): string {
  switch (end.kind) {
    case "poweroff": return `poweroff ${end.status}`;
    case "timeout": return `timeout after ${end.instructions} instructions`;
    default: return end.kind;
  }
}

/** True for ends that count as the guest going on or being stopped cleanly. */
function clearEnd(end: LabRunResult["end"]): boolean {
  return end.kind === "poweroff" || end.kind === "triple-fault" || end.kind === "halt";
}

/** The verdict for one finished run of `config`. */
export function judgeRun(config: EscapeConfig, r: LabRunResult, guest: GuestLine | null): AttemptRun {
  const base = { config: config.id, guest, end: describeEnd(r.end), integrity: r.integrity };
  if (config.mode === "bare") return { ...base, verdict: "reference", reason: "no monitor: the guest view only" };
  const i = r.integrity;
  if (i === null) return { ...base, verdict: "UNCLEAR", reason: "the monitor gave no integrity report" };
  if (!i.monitorIntact || i.guestRanAtCpl0) {
    const what = [!i.monitorIntact ? "monitor memory changed" : "", i.guestRanAtCpl0 ? "guest ran at machine CPL 0" : ""].filter(Boolean).join(", ");
    return { ...base, verdict: "ESCAPED", reason: what };
  }
  if (!clearEnd(r.end)) return { ...base, verdict: "UNCLEAR", reason: `integrity holds but the run had no clear end (${describeEnd(r.end)})` };
  if (r.end.kind === "poweroff") {
    return { ...base, verdict: "CONTAINED", reason: guest ? "integrity holds; the guest went on" : "integrity holds; the guest powered off without its line" };
  }
  return { ...base, verdict: "CONTAINED", reason: `integrity holds; the guest was stopped (${r.end.kind})` };
}

export function notAvailable(config: EscapeConfig): AttemptRun {
  return { config: config.id, verdict: "n/a", guest: null, end: null, integrity: null, reason: `mode ${config.mode} is not in this build` };
}

export function refusedRun(config: EscapeConfig, refusal: Refusal): AttemptRun {
  return { config: config.id, verdict: "refused", guest: null, end: null, integrity: null, refused: refusal,
    reason: `vmm86 run refuses it: ${refusal.code} (exit ${refusal.exitCode}): ${refusal.message}` };
}

export function runError(config: EscapeConfig, message: string): AttemptRun {
  return { config: config.id, verdict: "ERROR", guest: null, end: null, integrity: null, reason: message };
}

/** Exit statuses of `vmm86 escape` besides 0 (src/cli/errors.ts numbers the others). */
export const ESCAPE_EXIT = {
  /** Every attempt contained under the protected configurations, and at least one escape
   * seen under the weakened one. */
  OK: 0,
  /** An attempt escaped, or was not clearly contained, under a protected configuration. */
  ESCAPED: 10,
  /** No escape was seen under --protect paging-only (or it could not run): the suite has
   * not shown that it can detect one. */
  UNDETECTED: 11,
  /** A configuration the verdict needs (trap, bt) is not in this build: nothing shown. */
  NOT_RUN: 12,
} as const;

export interface SuiteSummary {
  /** Per configuration id: counts by verdict. */
  counts: Record<string, Partial<Record<Verdict, number>>>;
  /** Attempts not contained under a protected configuration ("attempt@config"). */
  breaches: string[];
  /** Attempts that escaped under a weakened configuration ("attempt@config"). */
  detected: string[];
  /** Protected or weakened configurations that could not run in this build. */
  unavailable: string[];
  /** Configurations the CLI refused (columns64.ts): reported, not judged. */
  refused: string[];
  exitCode: number;
  /** One line saying what the exit code means. */
  conclusion: string;
}

/** Sums up the runs: rows[attempt][config id] = run. */
export function summarize(configs: readonly EscapeConfig[], rows: ReadonlyMap<string, ReadonlyMap<string, AttemptRun>>): SuiteSummary {
  const counts: SuiteSummary["counts"] = {};
  const breaches: string[] = [], detected: string[] = [];
  const unavailable = new Set<string>(), refused = new Set<string>();
  for (const c of configs) counts[c.id] = {};
  for (const [attempt, runs] of rows) {
    for (const c of configs) {
      const r = runs.get(c.id);
      if (!r) continue;
      counts[c.id][r.verdict] = (counts[c.id][r.verdict] ?? 0) + 1;
      if (r.verdict === "n/a" && c.role !== "reference") unavailable.add(c.id);
      if (r.verdict === "refused") refused.add(c.id);
      if (c.role === "protected" && r.verdict !== "CONTAINED" && r.verdict !== "n/a" && r.verdict !== "refused") breaches.push(`${attempt}@${c.id}`);
      if (c.role === "weakened" && r.verdict === "ESCAPED") detected.push(`${attempt}@${c.id}`);
    }
  }
  // A weakened configuration the CLI refuses cannot show an escape: only the ones that ran count.
  const weakened = configs.filter((c) => c.role === "weakened" && !refused.has(c.id));
  let exitCode: number = ESCAPE_EXIT.OK;
  let conclusion: string;
  if (breaches.length > 0) {
    exitCode = ESCAPE_EXIT.ESCAPED;
    conclusion = `not contained under a protected configuration: ${breaches.join(", ")}`;
  } else if (unavailable.size > 0) {
    exitCode = ESCAPE_EXIT.NOT_RUN;
    const labels = configs.filter((c) => unavailable.has(c.id)).map((c) => c.label);
    conclusion = `not judged: ${labels.join(", ")} cannot run in this build`;
  } else if (weakened.length > 0 && detected.length === 0) {
    exitCode = ESCAPE_EXIT.UNDETECTED;
    conclusion = `no escape detected under ${weakened.map((c) => c.label).join(", ")}: the suite has not shown it can see one`;
  } else {
    const prot = configs.filter((c) => c.role === "protected" && !refused.has(c.id)).map((c) => c.label);
    conclusion = `every attempt contained${prot.length ? ` under ${prot.join(", ")}` : ""}; ` +
      (weakened.length > 0 ? `${detected.length} escape(s) detected under the weakened configuration` : "no weakened configuration ran");
    if (refused.size > 0) conclusion += `; refused by vmm86 run: ${configs.filter((c) => refused.has(c.id)).map((c) => c.label).join(", ")}`;
  }
  return { counts, breaches, detected, unavailable: [...unavailable], refused: [...refused], exitCode, conclusion };
}
