// `vmm86 history`: the seed's support matrix reproduced by experiment. Rows are the CPU
// models (src/hw/cpu/models.ts), columns the 32-bit and the 64-bit guest; a cell lists the
// techniques that keep the monitor safe on that part — the escape suite finds 0 escapes
// by the monitor's own integrity check — with their measured cost (host time per
// operation over bare's on the same part, from the micro-benchmarks).
//
// Nothing in a cell is written by hand: every technique of TECHNIQUES_32 / TECHNIQUES_64
// is tried on every model. A technique the part cannot run is found by really trying it
// (the CLI refuses it: `vmm86 run --mode vtx --cpu pentium2` is E_MONITOR_UNSUPPORTED), and
// a 64-bit guest on a part without long mode says so itself on bare. Adding a technique
// is one line below; adding a model is one entry in models.ts.

import { CPU_MODELS } from "../hw/cpu/models.js";
import type { LabMode, LabProtect, LabRunOptions, LabRunResult } from "./guest-runner.js";
import { runLabGuest } from "./guest-runner.js";
import type { Refusal, RefusalProbe } from "./columns64.js";
import { runEscapeSuite } from "./escape/suite.js";
import type { EscapeConfig } from "./escape/verdict.js";
import type { Attempt } from "./escape/attempts.js";
import { ATTEMPTS } from "./escape/attempts.js";
import { ATTEMPTS_64 } from "./escape/attempts64.js";
import { measureMicrobench, isFailure } from "./microbench/measure.js";

export interface Technique {
  label: string;
  mode: LabMode;
  /** The classic monitor's --protect; paging is left to the monitor's default for the part (nested where it has it). */
  protect?: LabProtect;
}

export const TECHNIQUES_32: readonly Technique[] = [
  { label: "bt", mode: "bt", protect: "segments" },
  { label: "vtx", mode: "vtx" },
  { label: "svm", mode: "svm" },
];

export const TECHNIQUES_64: readonly Technique[] = [
  { label: "bt/segments", mode: "bt", protect: "segments" },
  { label: "bt/two-tables", mode: "bt", protect: "two-tables" },
  { label: "vtx", mode: "vtx" },
  { label: "svm", mode: "svm" },
];

/** --quick: a few attempts from every group of each suite. */
export const QUICK_ATTEMPTS_32 = ["write-ds", "write-fs", "rep-movs-across", "gdt-flat-base", "call-far-region", "pde-4m-region", "hv-vmcb", "sgdt-follow"];
export const QUICK_ATTEMPTS_64 = ["write-moffs", "write-gs-base", "write-rip-relative", "rep-stos-down", "sysret-noncanon", "pml4-self-map", "hv-zero-sweep", "tss-in-region"];

/** The micro-benchmarks the cost is the geometric mean over (both guests have them). */
export const COST_BENCHES = ["syscall", "cr3", "ptemod"];

export interface TechniqueResult {
  technique: string;
  /** refused: the CLI would not run it on this part; unsafe: at least one escape (or an unclear run); safe: 0 escapes. */
  status: "safe" | "unsafe" | "refused";
  refused?: Refusal;
  attempts: number;
  escapes: number;
  /** Not CONTAINED: "attempt: verdict (reason)". */
  notContained: string[];
  /** Geometric mean over COST_BENCHES of host ns/op over bare's on the same part (null if not measured). */
  cost: number | null;
  /** Mean exits per operation over COST_BENCHES. */
  exitsPerOp: number | null;
}

export interface HistoryCell {
  bits: 32 | 64;
  /** The guest could not run on bare (no long mode): why. */
  unsupported: string | null;
  techniques: TechniqueResult[];
}

export interface HistoryRow {
  model: string;
  vendor: string;
  cells: [HistoryCell, HistoryCell];
}

export interface HistoryReport {
  quick: boolean;
  rows: HistoryRow[];
}

export interface HistoryGuests {
  escape32: Uint8Array;
  escape64: Uint8Array;
  microbench32: Uint8Array;
  microbench64: Uint8Array;
}

export interface HistoryOptions {
  /** Models (rows), default every model. */
  models?: readonly string[];
  quick?: boolean;
  /** Asks the CLI whether it runs a technique on a part with the 32- or 64-bit escape guest. */
  refusal: (bits: 32 | 64) => RefusalProbe;
  run?: (image: Uint8Array, opts: LabRunOptions) => LabRunResult;
  onProgress?: (message: string) => void;
}

function pick(all: readonly Attempt[], names: readonly string[] | null): readonly Attempt[] {
  return names === null ? all : all.filter((a) => names.includes(a.name));
}

function geomean(xs: number[]): number | null {
  const ok = xs.filter((x) => Number.isFinite(x) && x > 0);
  if (ok.length === 0) return null;
  return Math.exp(ok.reduce((s, x) => s + Math.log(x), 0) / ok.length);
}

function tryTechnique(guests: HistoryGuests, model: string, bits: 32 | 64, t: Technique, opts: HistoryOptions): TechniqueResult {
  const base = { technique: t.label, attempts: 0, escapes: 0, notContained: [] as string[], cost: null, exitsPerOp: null };
  const refused = opts.refusal(bits)({ mode: t.mode, cpu: model, protect: t.protect });
  if (refused !== null) return { ...base, status: "refused", refused };
  const attempts = pick(bits === 64 ? ATTEMPTS_64 : ATTEMPTS, opts.quick ? (bits === 64 ? QUICK_ATTEMPTS_64 : QUICK_ATTEMPTS_32) : null);
  const config: EscapeConfig = { id: "t", label: t.label, mode: t.mode, cpu: model, protect: t.protect, role: "protected" };
  const suite = runEscapeSuite(bits === 64 ? guests.escape64 : guests.escape32, { attempts, configs: [config], ...(opts.run ? { run: opts.run } : {}) });
  const notContained: string[] = [];
  for (const [name, runs] of suite.rows) {
    const r = runs.get("t")!;
    if (r.verdict !== "CONTAINED") notContained.push(`${name}: ${r.verdict} (${r.reason})`);
  }
  const escapes = notContained.length;
  if (escapes > 0) return { ...base, status: "unsafe", attempts: attempts.length, escapes, notContained };
  const mb = measureMicrobench(bits === 64 ? guests.microbench64 : guests.microbench32, {
    configs: [{ label: "bare", mode: "bare", cpu: model }, { label: t.label, mode: t.mode, cpu: model, protect: t.protect }],
    benches: COST_BENCHES, repeat: 1, warmup: false, ...(opts.run ? { run: opts.run } : {}),
  });
  const [bare, mon] = mb.configs;
  const ratios: number[] = [], exits: number[] = [];
  for (const name of COST_BENCHES) {
    const b = bare.results.find((r) => r.name === name), m = mon.results.find((r) => r.name === name);
    if (b === undefined || m === undefined || isFailure(b) || isFailure(m) || b.hostNsPerOp <= 0) continue;
    ratios.push(m.hostNsPerOp / b.hostNsPerOp);
    exits.push(m.exitsPerOp);
  }
  return { ...base, status: "safe", attempts: attempts.length, cost: geomean(ratios), exitsPerOp: exits.length ? exits.reduce((s, x) => s + x, 0) / exits.length : null };
}

/** Does the 64-bit guest get into long mode on bare `model`? null if it does, else what it said. */
function longModeOnBare(guests: HistoryGuests, model: string, opts: HistoryOptions): string | null {
  const run = opts.run ?? runLabGuest;
  const r = run(guests.escape64, { mode: "bare", cpu: model, cmdline: "escape attempt=list", maxInstructions: 5_000_000 });
  const line = r.serial.split("\n").find((l) => l.includes("no long mode"));
  return line === undefined ? null : line.replace(/^escape64: /, "").trim();
}

export function runHistory(guests: HistoryGuests, opts: HistoryOptions): HistoryReport {
  const models = opts.models ?? CPU_MODELS.map((m) => m.name);
  const rows: HistoryRow[] = [];
  for (const name of models) {
    const model = CPU_MODELS.find((m) => m.name === name);
    if (model === undefined) throw new Error(`unknown CPU model '${name}'`);
    opts.onProgress?.(`${name}: 32-bit guest`);
    const c32: HistoryCell = { bits: 32, unsupported: null, techniques: TECHNIQUES_32.map((t) => tryTechnique(guests, name, 32, t, opts)) };
    opts.onProgress?.(`${name}: 64-bit guest`);
    const lm = longModeOnBare(guests, name, opts);
    const c64: HistoryCell = { bits: 64, unsupported: lm, techniques: lm === null ? TECHNIQUES_64.map((t) => tryTechnique(guests, name, 64, t, opts)) : [] };
    rows.push({ model: name, vendor: model.vendor, cells: [c32, c64] });
  }
  return { quick: opts.quick === true, rows };
}

// ---- output -------------------------------------------------------------------------------

function costText(t: TechniqueResult): string {
  return t.cost === null ? "" : ` ×${t.cost < 10 ? t.cost.toFixed(1) : Math.round(t.cost)}`;
}

/** What a cell says: the safe techniques with their cost, the unsafe ones marked. */
export function cellText(c: HistoryCell): string {
  if (c.unsupported !== null) return "no long mode";
  const parts = c.techniques.filter((t) => t.status !== "refused").map((t) =>
    t.status === "safe" ? `${t.technique}${costText(t)}` : `${t.technique} UNSAFE (${t.escapes}/${t.attempts})`);
  return parts.length ? parts.join(", ") : "none";
}

function refusalNotes(report: HistoryReport): string[] {
  const seen = new Map<string, { models: string[]; example: string }>();
  for (const row of report.rows) for (const c of row.cells) for (const t of c.techniques) {
    if (t.refused === undefined) continue;
    const key = `${c.bits}-bit ${t.technique}: ${t.refused.code} (exit ${t.refused.exitCode})`;
    const e = seen.get(key) ?? { models: [], example: t.refused.message };
    e.models.push(row.model);
    seen.set(key, e);
  }
  return [...seen].map(([k, e]) => `${k} on ${e.models.join(", ")} — e.g. "${e.example}"`);
}

const TITLE = "vmm86 history: which techniques keep the monitor safe on each CPU (escape suite: 0 escapes by the monitor's integrity check), " +
  "and their cost (×N: host time per operation over bare's on that part, geometric mean of syscall, cr3, ptemod)";

export function formatTable(report: HistoryReport): string {
  const rows = [["CPU", "vendor", "32-bit guest", "64-bit guest"], ...report.rows.map((r) => [r.model, r.vendor, cellText(r.cells[0]), cellText(r.cells[1])])];
  const w = rows[0].map((_, k) => Math.max(...rows.map((r) => r[k].length)));
  const line = (r: string[]) => r.map((s, k) => s.padEnd(w[k])).join("  ").trimEnd();
  return [TITLE, report.quick ? "(--quick: 8 attempts per suite)" : "", "", line(rows[0]), line(w.map((n) => "-".repeat(n))), ...rows.slice(1).map(line), "",
    "Refused by vmm86 run (tried on every part):", ...refusalNotes(report).map((n) => "  " + n), ""].join("\n");
}

export function formatMarkdown(report: HistoryReport): string {
  return [`**${TITLE}**${report.quick ? " (--quick)" : ""}`, "", "| CPU | vendor | 32-bit guest | 64-bit guest |", "|---|---|---|---|",
    ...report.rows.map((r) => `| ${r.model} | ${r.vendor} | ${cellText(r.cells[0])} | ${cellText(r.cells[1])} |`), "",
    ...refusalNotes(report).map((n) => `- refused: ${n.replace(/\|/g, "\\|")}`), ""].join("\n");
}

export function formatJson(report: HistoryReport): string {
  return JSON.stringify(report, null, 2) + "\n";
}
