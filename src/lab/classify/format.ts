// The classification report as a terminal table, Markdown, or JSON.

import { exitFacts, exitingRows, type Report, type ReportRow } from "./report.js";

/**
 * Extra columns: under VMX (--vmx) and SVM (--svm), whether each instruction exits
 * unconditionally, under a named control or intercept, or never — the opcode table's
 * OpDef.vmx and OpDef.svm facts (SDM vol. 3C §26.1, APM vol. 2 §15.9–15.13).
 */
export interface ExitColumns {
  vmx?: boolean;
  svm?: boolean;
}

function exitKinds(x: ExitColumns): ("vmx" | "svm")[] {
  return [...(x.vmx ? ["vmx" as const] : []), ...(x.svm ? ["svm" as const] : [])];
}

const EXIT_HEAD = { vmx: "under VMX (SDM 3C §26.1)", svm: "under SVM (APM 2 §15)" } as const;

/** The privileged (and other) instructions with an exit fact that the table above does not show. */
function otherExitRows(r: Report): string[] {
  const shown = new Set(shownRows(r).map((x) => x.row));
  return exitingRows().filter((row) => !shown.has(row));
}

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

export function formatTable(r: Report, x: ExitColumns = {}): string {
  const rows = shownRows(r);
  const notes: string[] = [];
  const kinds = exitKinds(x);
  const cells = rows.map((row) => {
    let mark = "";
    if (row.note !== "") { notes.push(row.note); mark = ` [${notes.length}]`; }
    return [row.row + mark, yesNo(row.inSeed), yesNo(row.expected), yesNo(row.found), row.because || "-", opcodes(row) || "-", ...kinds.map((k) => row[k])];
  });
  const head = ["instruction", "seed", "expected", "found", "evidence (privileged state involved)", "opcodes", ...kinds.map((k) => EXIT_HEAD[k])];
  const widths = head.map((h, k) => Math.max(h.length, ...cells.map((c) => c[k].length)));
  const line = (c: string[]): string => c.map((v, k) => (k === c.length - 1 ? v : v.padEnd(widths[k]))).join("  ").trimEnd();
  const others = kinds.length === 0 ? [] : otherExitRows(r).map((row) => [row, ...kinds.map((k) => exitFacts(row, k))]);
  const ow = ["instruction", ...kinds.map((k) => EXIT_HEAD[k])].map((h, k) => Math.max(h.length, ...others.map((c) => c[k].length)));
  const oline = (c: string[]): string => c.map((v, k) => (k === c.length - 1 ? v : v.padEnd(ow[k]))).join("  ").trimEnd();
  const exitSection = kinds.length === 0 ? [] : [
    "Every other instruction that exits to a hardware-assisted monitor (the opcode table's facts):",
    "",
    oline(["instruction", ...kinds.map((k) => EXIT_HEAD[k])]),
    oline(ow.map((w) => "-".repeat(w))),
    ...others.map(oline),
    "",
    "always: exits unconditionally; a control or intercept name: exits when the monitor sets it; never: the",
    "instruction itself never exits (a fault it raises can, through the exception bitmap/intercepts).",
    "",
  ];
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
    ...exitSection,
    resultLine(r),
    "",
  ].join("\n");
}

function md(s: string): string { return s.replace(/\|/g, "\\|"); }

export function formatMarkdown(r: Report, x: ExitColumns = {}): string {
  const rows = shownRows(r);
  const notes: string[] = [];
  const kinds = exitKinds(x);
  const out = [
    `## vmm86 classify — ${configName(r)}`,
    "",
    ...summaryLines(r).map((l) => `${md(l)}  `),
    "",
    `| instruction | seed | expected | found | evidence (privileged state involved) | opcodes |${kinds.map((k) => ` ${EXIT_HEAD[k]} |`).join("")}`,
    "|---|---|---|---|---|---|" + kinds.map(() => "---|").join(""),
  ];
  for (const row of rows) {
    let mark = "";
    if (row.note !== "") { notes.push(row.note); mark = ` [${notes.length}]`; }
    out.push(`| ${md(row.row)}${mark} | ${yesNo(row.inSeed)} | ${yesNo(row.expected)} | ${yesNo(row.found)} | ${md(row.because || "-")} | ${md(opcodes(row) || "-")} |` +
      kinds.map((k) => ` ${md(row[k])} |`).join(""));
  }
  out.push("");
  if (kinds.length > 0) {
    out.push("Every other instruction that exits to a hardware-assisted monitor:", "",
      `| instruction |${kinds.map((k) => ` ${EXIT_HEAD[k]} |`).join("")}`, "|---|" + kinds.map(() => "---|").join(""),
      ...otherExitRows(r).map((row) => `| ${md(row)} |${kinds.map((k) => ` ${md(exitFacts(row, k))} |`).join("")}`), "");
  }
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
