// The classification report as a terminal table, Markdown, or JSON.

import type { Report, ReportRow } from "./report.js";

/** Exit status of `vmm86 classify`: the found set equals the expected one, or not. */
export const CLASSIFY_EXIT = { MATCH: 0, MISMATCH: 13 } as const;

/** "0F 01 /0 (mem) sgdt Ms" → "0F 01 /0" (the opcode part of a form label, memory/register tag dropped). */
function opcodeOf(label: string): string {
  return label.replace(/ [a-z].*$/, "").replace(/ \((mem|reg)\)$/, "");
}
function opcodes(r: ReportRow): string {
  return [...new Set(r.forms.map(opcodeOf))].join(", ");
}

function configName(r: Report): string {
  return `CPU ${r.options.cpu}, CR4.UMIP ${r.options.umip ? "on" : "off"}`;
}

function summaryLines(r: Report): string[] {
  const s = r.stats;
  return [
    `${s.forms} opcode-table forms, ${s.runs} one-instruction runs in ${(s.ms / 1000).toFixed(1)} s: ` +
      `${s.privileged} privileged, ${s.sensitive} sensitive, ${s.reported} sensitive and unprivileged`,
    `not exercised (raise an exception at CPL 0 and 3 with every operand tried): ${s.notExercised.length} forms` +
      (s.notExercised.length > 0 ? ` (${s.notExercised.map(opcodeOf).join(", ")})` : ""),
  ];
}

function resultLine(r: Report): string {
  if (r.match) return `result: the found set equals the expected one (exit ${CLASSIFY_EXIT.MATCH})`;
  const parts: string[] = [];
  if (r.missing.length > 0) parts.push(`expected but not found: ${r.missing.join(", ")}`);
  if (r.unexpected.length > 0) parts.push(`found but not expected: ${r.unexpected.join(", ")}`);
  return `result: DIFFERS from the expected set — ${parts.join("; ")} (exit ${CLASSIFY_EXIT.MISMATCH})`;
}

/** Rows worth a line: in the seed, expected, or found. */
function shownRows(r: Report): ReportRow[] {
  return r.rows.filter((x) => x.inSeed || x.expected || x.found);
}

function yesNo(b: boolean): string { return b ? "yes" : "-"; }

export function formatTable(r: Report): string {
  const rows = shownRows(r);
  const notes: string[] = [];
  const cells = rows.map((x) => {
    let mark = "";
    if (x.note !== "") { notes.push(x.note); mark = ` [${notes.length}]`; }
    return [x.row + mark, yesNo(x.inSeed), yesNo(x.expected), yesNo(x.found), x.because || "-", opcodes(x) || "-"];
  });
  const head = ["instruction", "seed", "expected", "found", "evidence (privileged state involved)", "opcodes"];
  const widths = head.map((h, k) => Math.max(h.length, ...cells.map((c) => c[k].length)));
  const line = (c: string[]): string => c.map((v, k) => (k === c.length - 1 ? v : v.padEnd(widths[k]))).join("  ").trimEnd();
  return [
    `vmm86 classify — ${configName(r)}`,
    ...summaryLines(r),
    "",
    "Sensitive but unprivileged instructions (Popek and Goldberg's condition fails for each):",
    "",
    line(head),
    line(widths.map((w) => "-".repeat(w))),
    ...cells.map(line),
    "",
    ...notes.map((n, k) => `[${k + 1}] ${n}`),
    ...(notes.length > 0 ? [""] : []),
    resultLine(r),
    "",
  ].join("\n");
}

function md(s: string): string { return s.replace(/\|/g, "\\|"); }

export function formatMarkdown(r: Report): string {
  const rows = shownRows(r);
  const notes: string[] = [];
  const out = [
    `## vmm86 classify — ${configName(r)}`,
    "",
    ...summaryLines(r).map((l) => `${md(l)}  `),
    "",
    "| instruction | seed | expected | found | evidence (privileged state involved) | opcodes |",
    "|---|---|---|---|---|---|",
  ];
  for (const x of rows) {
    let mark = "";
    if (x.note !== "") { notes.push(x.note); mark = ` [${notes.length}]`; }
    out.push(`| ${md(x.row)}${mark} | ${yesNo(x.inSeed)} | ${yesNo(x.expected)} | ${yesNo(x.found)} | ${md(x.because || "-")} | ${md(opcodes(x) || "-")} |`);
  }
  out.push("");
  notes.forEach((n, k) => out.push(`${k + 1}. ${md(n)}`));
  if (notes.length > 0) out.push("");
  out.push(`**${md(resultLine(r))}**`, "");
  return out.join("\n");
}

export function formatJson(r: Report): string {
  const doc = {
    configuration: r.options,
    match: r.match,
    exitCode: r.match ? CLASSIFY_EXIT.MATCH : CLASSIFY_EXIT.MISMATCH,
    missing: r.missing,
    unexpected: r.unexpected,
    stats: r.stats,
    rows: shownRows(r),
    forms: r.classification.forms,
  };
  return JSON.stringify(doc, null, 2) + "\n";
}
