// `vmm86 history`: the support matrix by experiment (src/lab/history.ts).

import { readFileSync } from "node:fs";
import { ExitCode, imageError, usageError } from "./errors.js";
import { parseArgs, type FlagSpec } from "./args.js";
import { writeAll } from "./output.js";
import { CPU_MODELS } from "../hw/cpu/models.js";
import { ESCAPE_IMAGE, ESCAPE64_IMAGE, MICROBENCH_IMAGE, MICROBENCH64_IMAGE } from "../guests/images.js";
import { formatJson, formatMarkdown, formatTable, runHistory, type HistoryGuests } from "../lab/history.js";
import { cliRefusalProbe } from "./lab-try.js";

export const HISTORY_HELP = `vmm86 history — the support matrix, reproduced by experiment

Usage:
  vmm86 history [--quick] [--cpu MODEL[,MODEL...]] [--format table|markdown|json]

For every CPU model (rows: ${CPU_MODELS.map((m) => m.name).join(", ")}) and for the 32-bit
and the 64-bit guest (columns), tries every technique — 32-bit: bt (segments), vtx, svm;
64-bit: bt --protect segments, bt --protect two-tables, vtx, svm (paging: the monitor's
default for the part, nested where it has EPT/NPT). A technique the CLI refuses on the part
(\`vmm86 run --kernel guests/escape*/… --mode M --cpu MODEL\`) is left out of the cell and
listed with its error code; one it runs gets the escape suite (guests/escape or
guests/escape64, verdicts from the monitor's integrity check) and, with 0 escapes, the
micro-benchmarks syscall, cr3 and ptemod on bare and under it. A cell lists the safe
techniques with ×N, the geometric mean of host time per operation over bare's on the same
part; UNSAFE (k/n) marks one with escapes; "no long mode" a part the 64-bit guest cannot
run on.

Options:
  --quick          8 escape attempts per suite instead of all (about 4 minutes for every model)
  --cpu LIST       only these models
  --format F       table (default), markdown or json

Exit status: 0; 2 bad usage; 6 a guest image is missing.
`;

const FLAGS: Record<string, FlagSpec> = {
  quick: { value: false },
  cpu: { value: true },
  format: { value: true },
  help: { value: false, aliases: ["-h"] },
};

export async function historyCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, FLAGS);
  if (p.flags.has("help")) { writeAll(1, HISTORY_HELP); return ExitCode.OK; }
  if (p.positional.length > 0) throw usageError(`history takes no arguments, got '${p.positional[0]}'`);
  const format = p.flags.get("format") ?? "table";
  if (format !== "table" && format !== "markdown" && format !== "json") throw usageError("--format must be table, markdown or json");
  const known = CPU_MODELS.map((m) => m.name);
  const cpuFlag = p.flags.get("cpu");
  let models = known;
  if (cpuFlag !== undefined) {
    const asked = String(cpuFlag).split(",").filter((s) => s !== "");
    const unknown = asked.filter((m) => !known.includes(m));
    if (asked.length === 0 || unknown.length > 0) throw usageError(`--cpu wants models from ${known.join(", ")}${unknown.length ? `; unknown: ${unknown.join(", ")}` : ""}`);
    models = known.filter((m) => asked.includes(m));
  }
  let guests: HistoryGuests;
  try {
    guests = { escape32: readFileSync(ESCAPE_IMAGE), escape64: readFileSync(ESCAPE64_IMAGE), microbench32: readFileSync(MICROBENCH_IMAGE), microbench64: readFileSync(MICROBENCH64_IMAGE) };
  } catch (e) {
    throw imageError(`a lab guest image is missing: ${e instanceof Error ? e.message : String(e)}`);
  }
  const probes = { 32: cliRefusalProbe(ESCAPE_IMAGE, "escape attempt=write-ds"), 64: cliRefusalProbe(ESCAPE64_IMAGE, "escape attempt=write-moffs") };
  const report = runHistory(guests, {
    models, quick: p.flags.has("quick"), refusal: (bits) => probes[bits],
    onProgress: (m) => { if (process.stderr.isTTY) writeAll(2, `vmm86 history: ${m}\n`); },
  });
  writeAll(1, format === "json" ? formatJson(report) : format === "markdown" ? formatMarkdown(report) : formatTable(report));
  return ExitCode.OK;
}
