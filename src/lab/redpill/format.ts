// The red-pill report three ways: a terminal table, Markdown (for the README) and JSON
// (for scripts). All three say the same thing: for each instruction and guest privilege
// level, how each configuration compares with the bare machine on the standard CPU (a
// hardware-assisted monitor's column: with the bare machine on the CPU its guest sees).

import { describeFault, type Difference } from "./classify.js";
import { comparedWith, isReferenceColumn, type Cell, type ConfigRun, type RedpillReport, type Row } from "./report.js";
import type { Observation } from "./parse.js";

const VERDICTS = ["same", "leaks", "misbehaves", "faults", "missing"] as const;

/** What one table cell says. */
export function cellText(report: RedpillReport, row: Row, cell: Cell): string {
  if (cell.result === null) {
    const c = report.configs.find((x) => x.name === cell.config);
    return c?.refused !== undefined ? "refused" : c?.error !== undefined ? "error" : "n/a";
  }
  if (cell.reference === true || cell.config === report.reference) {
    const own = cell.config === report.reference ? row.reference : cell.result.observed;
    if (own === null) return "missing";
    return own.fault === null ? "ok" : describeFault(own).replace(/\(.*/, "");
  }
  const r = cell.result;
  if (r.verdict === "faults" && r.observed !== null) return `faults ${describeFault(r.observed).replace(/\(.*/, "")}`;
  return r.verdict;
}

function header(report: RedpillReport): string[] {
  return ["instruction", "CPL", ...report.configs.map((c) => c.name)];
}

function bodyRows(report: RedpillReport): string[][] {
  return report.rows.map((row) => [
    row.cpl === 0 ? row.probe.label + (row.probe.robinIrvine ? "" : " *") : "",
    String(row.cpl),
    ...row.cells.map((cell) => cellText(report, row, cell)),
  ]);
}

function summaryRows(report: RedpillReport): string[][] {
  return VERDICTS.map((v) => [
    `# ${v}`,
    "",
    ...report.configs.map((c, k) => {
      if (c.run === null) return c.refused !== undefined ? "refused" : c.error !== undefined ? "error" : "n/a";
      if (isReferenceColumn(report, c.name)) return "-";
      return String(report.rows.filter((r) => r.cells[k].result?.verdict === v).length);
    }),
  ]);
}

function runLine(report: RedpillReport, c: ConfigRun): string {
  if (c.refused !== undefined) return `${c.name}: refused by \`vmm86 run\`: ${c.refused.code} (exit ${c.refused.exitCode}): ${c.refused.message}`;
  if (c.error !== undefined) return `${c.name}: error: ${c.error}`;
  if (c.run === null) return `${c.name}: not available in this build`;
  const r = c.run;
  const end = r.end.kind === "poweroff" ? `powered off (status ${r.end.status})` : r.end.kind;
  const done = r.log.ended ? "all probes finished" : r.log.abort !== null ? `guest aborted: ${r.log.abort}` : "guest stopped before the end";
  const integrity = r.integrity === null ? "" : `, monitor intact: ${r.integrity.monitorIntact ? "yes" : "NO"}, guest ran at CPL 0: ${r.integrity.guestRanAtCpl0 ? "YES" : "no"}`;
  const against = comparedWith(c, report.reference);
  const vs = against === "bare/standard" ? "" : against === c.name ? " (reference)" : ` (compared with ${against})`;
  return `${c.name}${vs}: ${end}, ${done}, ${r.instructions} instructions, ${r.hostMs} ms${integrity}`;
}

function showValues(o: Observation | null): string {
  if (o === null) return "(no line)";
  if (o.fault !== null) return describeFault(o);
  return Object.entries(o.values).map(([k, v]) => `${k}=${v}`).join(" ");
}

function showDifference(d: Difference): string {
  const base = d.key === "fault" ? `${d.expected} → ${d.got}` : `${d.key} ${d.expected} → ${d.got}`;
  return d.leak === null ? base : `${base} (${d.leak})`;
}

/** One line per cell that is not `same`: what differed. */
function differenceLines(report: RedpillReport): string[] {
  const out: string[] = [];
  for (const row of report.rows) {
    row.cells.forEach((cell) => {
      const r = cell.result;
      if (r === null || cell.reference === true || cell.config === report.reference || r.verdict === "same") return;
      let what = r.verdict === "missing" ? "no result" : r.differences.map(showDifference).join("; ");
      if (r.observed !== null && r.observed.fault === null && r.differences.some((d) => d.kind === "fault")) what += ` (saw ${showValues(r.observed)})`;
      out.push(`${cell.config}  ${row.probe.label} CPL ${row.cpl}: ${r.verdict}: ${what}`);
    });
  }
  return out;
}

function pad(rows: string[][]): string[] {
  const widths = rows[0].map((_, k) => Math.max(...rows.map((r) => r[k].length)));
  return rows.map((r) => r.map((c, k) => c.padEnd(widths[k])).join("  ").trimEnd());
}

const TITLE = "vmm86 redpill: Robin & Irvine's sensitive instructions (* = added) at guest CPL 0 and 3, compared with bare/standard " +
  "(hardware-assisted columns: with bare on the CPU their guest sees)";

const TITLE_64 = "vmm86 redpill --bits 64: the sensitive instructions in 64-bit mode (* = added) at guest CPL 0 and 3, " +
  "each configuration compared with bare on the CPU its guest sees";

function title(report: RedpillReport): string {
  return report.bits === 64 ? TITLE_64 : TITLE;
}

export function formatTable(report: RedpillReport): string {
  const head = header(report);
  const rule = head.map((h) => "-".repeat(h.length));
  const lines = [title(report), "", ...pad([head, rule, ...bodyRows(report), rule, ...summaryRows(report)]), ""];
  lines.push("Runs:", ...report.configs.map((c) => "  " + runLine(report, c)), "");
  const diffs = differenceLines(report);
  lines.push(diffs.length ? "Differences from the reference columns:" : "No differences from the reference columns.");
  lines.push(...diffs.map((d) => "  " + d));
  return lines.join("\n") + "\n";
}

function mdRow(cells: string[]): string {
  return "| " + cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ") + " |";
}

export function formatMarkdown(report: RedpillReport): string {
  const head = header(report);
  const lines = [
    `**${title(report)}**`, "",
    mdRow(head),
    "|" + head.map((_, k) => (k < 2 ? "---|" : ":---:|")).join(""),
    ...bodyRows(report).map(mdRow),
    ...summaryRows(report).map((r) => mdRow([`*${r[0]}*`, ...r.slice(1)])),
    "",
    ...report.configs.map((c) => `- ${runLine(report, c)}`),
  ];
  const diffs = differenceLines(report);
  if (diffs.length) lines.push("", "Differences from the reference columns:", "", ...diffs.map((d) => `- ${d}`));
  return lines.join("\n") + "\n";
}

export function reportToJson(report: RedpillReport): unknown {
  return {
    bits: report.bits,
    reference: report.reference,
    configs: report.configs.map((c) => ({
      name: c.name, mode: c.mode, cpu: c.cpu, comparedWith: comparedWith(c, report.reference), available: c.available, ...(c.error !== undefined ? { error: c.error } : {}),
      ...(c.refused !== undefined ? { refused: c.refused } : {}),
      run: c.run === null ? null : {
        end: c.run.end, instructions: c.run.instructions, hostMs: c.run.hostMs, integrity: c.run.integrity,
        completed: c.run.log.ended, abort: c.run.log.abort,
      },
    })),
    rows: report.rows.map((row) => ({
      probe: row.probe.name,
      instruction: row.probe.label,
      robinIrvine: row.probe.robinIrvine,
      cpl: row.cpl,
      reference: row.reference === null ? null : { fault: row.reference.fault, values: row.reference.values },
      results: Object.fromEntries(row.cells.map((cell) => [cell.config, cell.result === null ? null : {
        verdict: cell.reference === true || cell.config === report.reference ? "reference" : cell.result.verdict,
        observed: cell.result.observed === null ? null : { fault: cell.result.observed.fault, values: cell.result.observed.values },
        differences: cell.result.differences,
      }])),
    })),
  };
}

export function formatJson(report: RedpillReport): string {
  return JSON.stringify(reportToJson(report), null, 2) + "\n";
}
