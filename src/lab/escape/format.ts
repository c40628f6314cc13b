// The escape suite's report as a terminal table, a Markdown table, or JSON.

import { guestView, type Attempt } from "./attempts.js";
import type { AttemptRun } from "./verdict.js";
import type { SuiteReport } from "./suite.js";

export type EscapeFormat = "table" | "markdown" | "json";

/** The guest-view text of a run ("-" if the guest printed no line for the attempt). */
function view(r: AttemptRun | undefined): string {
  return r?.guest ? guestView(r.guest) : "-";
}

/**
 * One cell. Bare shows the guest view (and the expectation when they differ); monitor
 * configurations show the verdict and the guest's outcome word, starred when the guest saw
 * something other than it sees on bare (a visible difference, not an escape).
 */
function cell(report: SuiteReport, attempt: string, configId: string): string {
  const row = report.rows.get(attempt);
  const r = row?.get(configId);
  if (!r) return "";
  if (r.verdict === "n/a") return "n/a";
  if (r.verdict === "ERROR") return "ERROR";
  if (r.verdict === "refused") return `refused ${r.refused?.code ?? ""}`.trimEnd();
  if (r.verdict === "reference") {
    const a = report.attempts.find((x) => x.name === attempt) as (Attempt & { model?: { outcome: string } }) | undefined;
    const expected = a?.model?.outcome ?? a?.bare;
    const v = view(r);
    return expected !== undefined && v !== expected ? `${v} (expected ${expected})` : v;
  }
  const bare = row?.get("bare");
  const outcome = r.guest?.outcome ?? (r.end ?? "-");
  const differs = bare?.guest && r.guest && guestView(bare.guest) !== guestView(r.guest) ? "*" : "";
  return `${r.verdict} ${outcome}${differs}`;
}

function headers(report: SuiteReport): string[] {
  return ["attempt", ...report.configs.map((c) => (c.role === "reference" ? `${c.label} (guest view)` : c.label))];
}

function body(report: SuiteReport): string[][] {
  return report.attempts.map((a) => [a.name, ...report.configs.map((c) => cell(report, a.name, c.id))]);
}

function countsLine(report: SuiteReport): string[] {
  return report.configs.filter((c) => c.role !== "reference").map((c) => {
    const n = report.summary.counts[c.id] ?? {};
    const parts = Object.entries(n).map(([v, k]) => `${k} ${v}`);
    const refused = [...report.rows.values()].map((row) => row.get(c.id)?.refused).find((x) => x !== undefined);
    const why = refused ? ` (vmm86 run: ${refused.code}, exit ${refused.exitCode}: ${refused.message})` : "";
    return `${c.label}: ${parts.join(", ") || "no runs"}${why}`;
  });
}

export function formatTable(report: SuiteReport): string {
  const rows = [headers(report), ...body(report)];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((s, i) => s.padEnd(widths[i])).join("  ").trimEnd();
  const out = [
    `vmm86 escape: ${plural(report.attempts.length, "attempt")}, one run each per configuration`,
    "",
    line(rows[0]),
    line(widths.map((w) => "-".repeat(w))),
    ...rows.slice(1).map(line),
    "",
    "* the guest saw something other than on bare (reported, not an escape)",
    ...countsLine(report),
    `result: ${report.summary.conclusion} (exit ${report.summary.exitCode})`,
  ];
  return out.join("\n") + "\n";
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function mdEscape(s: string): string {
  return s.replace(/\|/g, "\\|");
}

export function formatMarkdown(report: SuiteReport): string {
  const h = headers(report);
  const out = [
    `## vmm86 escape: ${plural(report.attempts.length, "attempt")}`,
    "",
    `| ${h.map(mdEscape).join(" | ")} |`,
    `|${h.map(() => "---").join("|")}|`,
    ...body(report).map((r) => `| ${r.map((s, i) => (i === 0 ? `\`${s}\`` : mdEscape(s))).join(" | ")} |`),
    "",
    "\\* the guest saw something other than on bare (reported, not an escape)",
    "",
    ...countsLine(report).map((l) => `- ${mdEscape(l)}`),
    "",
    `**Result:** ${mdEscape(report.summary.conclusion)} (exit ${report.summary.exitCode})`,
  ];
  return out.join("\n") + "\n";
}

export function formatJson(report: SuiteReport): string {
  const doc = {
    configs: report.configs.map((c) => ({ id: c.id, label: c.label, mode: c.mode, cpu: c.cpu, protect: c.protect ?? null, role: c.role })),
    attempts: report.attempts.map((a) => ({
      name: a.name,
      group: a.group,
      what: a.what,
      expectedBare: a.bare,
      runs: Object.fromEntries(report.configs.map((c) => {
        const r = report.rows.get(a.name)?.get(c.id);
        return [c.id, r ? {
          verdict: r.verdict,
          guest: r.guest ? { outcome: r.guest.outcome, detail: r.guest.detail } : null,
          end: r.end,
          integrity: r.integrity,
          reason: r.reason,
          ...(r.refused !== undefined ? { refused: r.refused } : {}),
        } : null];
      })),
    })),
    summary: report.summary,
  };
  return JSON.stringify(doc, null, 2) + "\n";
}

export function formatReport(report: SuiteReport, format: EscapeFormat): string {
  switch (format) {
    case "table": return formatTable(report);
    case "markdown": return formatMarkdown(report);
    case "json": return formatJson(report);
  }
}
