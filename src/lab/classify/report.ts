// The classification compared with the expectation: one report that the formatters print
// as a terminal table, Markdown or JSON.

import { classify, type Classification, type ClassifyOptions, type Witness } from "./engine.js";
import { SEED_ROWS, expectedRows, explain } from "./expected.js";
import { OPCODES } from "../../hw/cpu/opcode-table.js";
import { rowOf } from "./forms.js";

export interface ReportRow {
  row: string;
  inSeed: boolean;
  expected: boolean;
  found: boolean;
  /** What the evidence shows, e.g. "reads IOPL, IF" or "result depends on CPL; changes CPL, IF". */
  because: string;
  forms: string[];
  note: string;
  /** Under VMX: "always", the control(s) under which it exits, or "never" (OpDef.vmx of the row's forms). */
  vmx: string;
  /** Under SVM: the intercept(s) that catch it, or "never" (OpDef.svm). */
  svm: string;
}

/** A form's name within its row when the row's forms differ: "int3", "to CR3". */
function formName(d: (typeof OPCODES)[number]): string {
  if (d.opcode === 0x0f20 || d.opcode === 0x0f22) return `${d.opcode === 0x0f22 ? "to" : "from"} CR${d.reg ?? 0}`;
  if (d.opcode === 0x0f21 || d.opcode === 0x0f23) return `${d.opcode === 0x0f23 ? "to" : "from"} DRn`;
  return d.mnemonic.split("/")[0] + (d.operands.length ? " " + d.operands.join(",") : "");
}

/**
 * What the opcode table says about a row under a hardware-assisted monitor: its forms'
 * `vmx` or `svm` fact ("never" where a form has none). One fact when all forms agree;
 * otherwise each fact with the forms it applies to, "; "-joined.
 */
export function exitFacts(row: string, which: "vmx" | "svm"): string {
  const byFact = new Map<string, string[]>();
  for (const d of OPCODES) {
    if (d.only64 || d.opcode < 0 || rowOf(d) !== row) continue;
    const f = d[which] ?? "never", name = formName(d);
    const names = byFact.get(f) ?? [];
    if (!names.includes(name)) names.push(name);
    byFact.set(f, names);
  }
  if (byFact.size === 0) return "never";
  if (byFact.size === 1) return [...byFact.keys()][0];
  return [...byFact].map(([f, names]) => `${names.join(", ")}: ${f}`).join("; ");
}

/** Rows of the opcode table (32-bit forms) with a VMX or SVM exit fact, in table order. */
export function exitingRows(): string[] {
  const out: string[] = [];
  for (const d of OPCODES) {
    if (d.only64 || d.opcode < 0 || (d.vmx === undefined && d.svm === undefined)) continue;
    const r = rowOf(d);
    if (!out.includes(r)) out.push(r);
  }
  return out;
}

export interface Report {
  options: ClassifyOptions;
  rows: ReportRow[];
  missing: string[];
  unexpected: string[];
  match: boolean;
  stats: { forms: number; privileged: number; sensitive: number; reported: number; notExercised: string[]; runs: number; ms: number };
  classification: Classification;
}

/** Summarize witness kinds as "reads …; changes …; result depends on CPL". */
export function describeWitnesses(ws: Witness[]): string {
  const reads: string[] = [], changes: string[] = [];
  let cpl = false;
  for (const w of ws) {
    if (w.kind === "CPL") cpl = true;
    else if (w.kind.startsWith("changes ")) {
      for (const n of w.kind.slice(8).split(", ")) if (!changes.includes(n)) changes.push(n);
    } else if (!reads.includes(w.kind)) reads.push(w.kind);
  }
  const parts: string[] = [];
  if (reads.length > 0) parts.push(`reads ${reads.join(", ")}`);
  if (cpl) parts.push("result depends on CPL");
  if (changes.length > 0) parts.push(`changes ${changes.join(", ")}`);
  return parts.join("; ");
}

export function buildReport(c: Classification): Report {
  const opts = c.options;
  const expected = expectedRows(opts);
  const found = new Map(c.rows.map((r) => [r.row, r]));
  const names = [...SEED_ROWS.map((r) => r.row)];
  for (const r of [...expected, ...found.keys()].sort()) if (!names.includes(r)) names.push(r);
  const rows: ReportRow[] = names.map((row) => {
    const f = found.get(row);
    const forms = c.forms.filter((x) => x.row === row && x.sensitive && !x.privileged);
    return {
      row,
      inSeed: SEED_ROWS.some((s) => s.row === row),
      expected: expected.has(row),
      found: f !== undefined,
      because: describeWitnesses(forms.flatMap((x) => x.witnesses)),
      forms: f?.forms ?? [],
      note: explain(row, opts, f !== undefined),
      vmx: exitFacts(row, "vmx"),
      svm: exitFacts(row, "svm"),
    };
  });
  const missing = [...expected].filter((r) => !found.has(r)).sort();
  const unexpected = [...found.keys()].filter((r) => !expected.has(r)).sort();
  return {
    options: opts,
    rows,
    missing,
    unexpected,
    match: missing.length === 0 && unexpected.length === 0,
    stats: {
      forms: c.forms.length,
      privileged: c.forms.filter((f) => f.privileged).length,
      sensitive: c.forms.filter((f) => f.sensitive).length,
      reported: c.forms.filter((f) => f.sensitive && !f.privileged).length,
      notExercised: c.forms.filter((f) => !f.runsAtCpl0 && !f.runsAtCpl3).map((f) => f.label),
      runs: c.runs,
      ms: c.ms,
    },
    classification: c,
  };
}

/** Classify and compare in one step. */
export function runClassify(opts: ClassifyOptions): Report {
  return buildReport(classify(opts));
}
