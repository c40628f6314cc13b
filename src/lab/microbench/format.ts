// The three ways `vmm86 microbench` prints a report: a terminal table, Markdown (for the
// README) and JSON (everything measured, with the ratios worked out).

import { benchmarkNamed } from "./benchmarks.js";
import { isFailure, ratioToBare, topCounters, type ConfigResult, type MicrobenchReport } from "./measure.js";

const TOP_COUNTERS = 4;

/** 0.5 → "0.5", 47 → "47.0", 1234.5 → "1235": three or four significant digits. */
export function fmtNumber(v: number): string {
  if (!Number.isFinite(v)) return "-";
  if (Math.abs(v) >= 1000) return Math.round(v).toString();
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** Host time comes in whole milliseconds per run, so per-op nanoseconds get no decimals
 * unless they are below 10. */
export function fmtNs(v: number): string {
  if (!Number.isFinite(v)) return "-";
  return v < 10 ? v.toFixed(1) : Math.round(v).toString();
}

export function fmtRatio(v: number): string {
  if (!Number.isFinite(v)) return "×?";
  return "×" + (v >= 100 ? Math.round(v).toString() : v.toFixed(1));
}

type Column = "cycles" | "host" | "exits";

/** The columns a configuration gets: bare has no exits. */
function columnsOf(cfg: ConfigResult): Column[] {
  return cfg.config.mode === "bare" ? ["cycles", "host"] : ["cycles", "host", "exits"];
}

const COLUMN_HEAD: Record<Column, string> = { cycles: "cyc/op", host: "ns/op", exits: "exits/op" };

/** One cell: the value per operation, and for configurations other than bare its ratio. */
function cell(report: MicrobenchReport, cfg: ConfigResult, bench: string, what: Column): string {
  if (cfg.status === "n/a") return "n/a";
  if (cfg.status === "refused") return "refused";
  const r = cfg.results.find((x) => x.name === bench);
  if (cfg.status === "error" || r === undefined || isFailure(r)) return "error";
  if (what === "exits") return fmtNumber(r.exitsPerOp);
  const v = what === "cycles" ? fmtNumber(r.cyclesPerOp) : fmtNs(r.hostNsPerOp);
  if (cfg.config.mode === "bare") return v;
  const ratio = ratioToBare(report, cfg, bench);
  if (ratio === null) return v;
  return `${v} (${fmtRatio(what === "cycles" ? ratio.cycles : ratio.host)})`;
}

function itersOf(report: MicrobenchReport, bench: string): string {
  for (const c of report.configs) {
    const r = c.results.find((x) => x.name === bench);
    if (r !== undefined && !isFailure(r)) return r.iters.toString();
  }
  return String(benchmarkNamed(bench)?.defaultIters ?? "?");
}

interface Grid {
  header: string[];
  rows: string[][];
}

function grid(report: MicrobenchReport): Grid {
  const header = ["benchmark", "iters"];
  for (const c of report.configs) header.push(...columnsOf(c).map((k) => `${c.config.label} ${COLUMN_HEAD[k]}`));
  const rows = report.benches.map((b) => {
    const row = [b, itersOf(report, b)];
    for (const c of report.configs) row.push(...columnsOf(c).map((k) => cell(report, c, b, k)));
    return row;
  });
  return { header, rows };
}

interface CounterSection {
  /** "bare: no monitor counters", "bt: n/a (...)", or just the label when items follow. */
  head: string;
  items: { bench: string; text: string }[];
}

/** "trap.io 1.00/op"; counts too rare to show per operation are given in all. */
function counterText(name: string, total: number, perOp: number): string {
  return perOp >= 0.005 ? `${name} ${fmtNumber(perOp)}/op` : `${name} ${total} in all`;
}

/** Each configuration's top counters per benchmark, and its failures. */
function counterSections(report: MicrobenchReport): CounterSection[] {
  return report.configs.map((c): CounterSection => {
    const label = c.config.label;
    if (c.status === "n/a") return { head: `${label}: n/a (${c.note ?? "not available"})`, items: [] };
    if (c.status === "refused") return { head: `${label}: refused (${c.note ?? ""})`, items: [] };
    if (c.status === "error") return { head: `${label}: error: ${c.note ?? "unknown"}`, items: [] };
    const items: CounterSection["items"] = [];
    for (const r of c.results) {
      if (isFailure(r)) { items.push({ bench: r.name, text: `error: ${r.error}` }); continue; }
      const top = topCounters(r, TOP_COUNTERS);
      if (top.length > 0) items.push({ bench: r.name, text: top.map((t) => counterText(t.name, t.total, t.perOp)).join(", ") });
    }
    if (items.length === 0) return { head: `${label}: no monitor counters${c.config.mode === "bare" ? " (bare has no monitor)" : ""}`, items };
    return { head: `${label}:`, items };
  });
}

const EXPLAIN = [
  "cyc/op: guest cycles per operation (the guest's RDTSC; one cycle per guest instruction, 100 MHz nominal)",
  "ns/op: host nanoseconds per operation, the model's real cost (docs/microbench.md); (×N): ratio to bare",
  "exits/op: entries into the monitor per operation (svm: vmexit.*; trap, bt: trap.* and exit.*)",
];

export function formatTable(report: MicrobenchReport): string {
  const g = grid(report);
  const sub = ["benchmark", "iters"];
  const first: number[] = [];  // each configuration's first column
  for (const c of report.configs) { first.push(sub.length); sub.push(...columnsOf(c).map((k) => COLUMN_HEAD[k])); }
  const widths = sub.map((_, i) => Math.max(sub[i].length, ...g.rows.map((r) => r[i].length)));
  const span = (k: number): number => {
    const n = columnsOf(report.configs[k]).length;
    return widths.slice(first[k], first[k] + n).reduce((a, b) => a + b, 0) + 2 * (n - 1);
  };
  // Each configuration's label stands over its columns: widen the first if it is longer.
  report.configs.forEach((c, k) => {
    const short = c.config.label.length - span(k);
    if (short > 0) widths[first[k]] += short;
  });
  const line = (r: string[]): string => r.map((s, i) => (i === 0 ? s.padEnd(widths[i]) : s.padStart(widths[i]))).join("  ");
  const labels = [" ".repeat(widths[0] + 2 + widths[1])];
  report.configs.forEach((c, k) => labels.push(c.config.label.padStart(span(k))));
  const out = [
    `vmm86 microbench: Adams & Agesen's micro-benchmarks (guests/${report.guest ?? "microbench"}), best of ${report.repeat}`,
    "",
    labels.join("  ").trimEnd(),
    line(sub),
    ...g.rows.map(line),
    "",
    ...EXPLAIN,
    "",
    "Counters per operation (this benchmark's run minus a bench=none run):",
  ];
  const width = Math.max(...report.benches.map((b) => b.length));
  for (const sec of counterSections(report)) {
    out.push("  " + sec.head, ...sec.items.map((it) => `    ${it.bench.padEnd(width)}  ${it.text}`));
  }
  return out.join("\n") + "\n";
}

function mdEscape(s: string): string {
  return s.replace(/\|/g, "\\|");
}

export function formatMarkdown(report: MicrobenchReport): string {
  const g = grid(report);
  const row = (r: string[]): string => "| " + r.map(mdEscape).join(" | ") + " |";
  const align = "|" + g.header.map((_, i) => (i === 0 ? " --- " : " ---: ")).join("|") + "|";
  const out = [row(g.header), align, ...g.rows.map(row), ""];
  out.push(EXPLAIN.join("  \n"), ""); // two trailing spaces: a Markdown line break
  out.push("Counters per operation (this benchmark's run minus a `bench=none` run):", "");
  for (const sec of counterSections(report)) {
    out.push(`- ${sec.head}`, ...sec.items.map((it) => `  - ${it.bench}: ${it.text}`));
  }
  return out.join("\n") + "\n";
}

export function formatJson(report: MicrobenchReport): string {
  const configs = report.configs.map((c) => ({
    label: c.config.label,
    mode: c.config.mode,
    cpu: c.config.cpu,
    status: c.status,
    ...(c.note !== undefined ? { note: c.note } : {}),
    ...(c.baseline !== undefined ? { baseline: c.baseline } : {}),
    results: c.results.map((r) => {
      if (isFailure(r)) return r;
      const ratio = c.config.mode === "bare" ? null : ratioToBare(report, c, r.name);
      // (exits and exitsPerOp: monitorExits of the counters, measure.ts)
      return {
        ...r,
        ratioToBare: ratio === null ? null : {
          cycles: ratio.cycles,
          host: Number.isFinite(ratio.host) ? ratio.host : null,
        },
      };
    }),
  }));
  const benchmarks = report.benches.map((b) => {
    const info = benchmarkNamed(b);
    return { name: b, ring: info?.ring ?? null, op: info?.op ?? null };
  });
  return JSON.stringify({ repeat: report.repeat, benchmarks, configs }, null, 2) + "\n";
}
