// The classification compared with the expectation: one report that the formatters print
// as a terminal table, Markdown or JSON.

import { classify, type Classification, type ClassifyOptions, type Witness } from "./engine.js";
import { SEED_ROWS, expectedRows, explain } from "./expected.js";

export interface ReportRow {
  row: string;
  inSeed: boolean;
  expected: boolean;
  found: boolean;
  /** What the evidence shows, e.g. "reads IOPL, IF" or "result depends on CPL; changes CPL, IF". */
  because: string;
  forms: string[];
  note: string;
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
