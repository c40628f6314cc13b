// `vmm86 microbench`: Adams and Agesen's micro-benchmarks (guests/microbench) on bare,
// trap --cpu strict, bt and the hardware-assisted monitors (svm+NPT), in one run: guest
// cycles, host time and exits per operation, the ratio to bare, and the monitor counters
// behind each. Modes this build lacks print n/a.

import { existsSync, readFileSync } from "node:fs";
import { ExitCode, imageError, usageError } from "./errors.js";
import { numberFlag, parseArgs, type FlagSpec } from "./args.js";
import { writeAll } from "./output.js";
import { BENCHMARKS, BENCHMARKS_64, CONFIGS_64 } from "../lab/microbench/benchmarks.js";
import { MICROBENCH_IMAGE, MICROBENCH64_IMAGE } from "../guests/images.js";
import { cliRefusalProbe } from "./lab-try.js";
import { isFailure, measureMicrobench } from "../lab/microbench/measure.js";
import { formatJson, formatMarkdown, formatTable } from "../lab/microbench/format.js";

export const MICROBENCH_FLAGS: Record<string, FlagSpec> = {
  format: { value: true },
  bench: { value: true },
  bits: { value: true },
  repeat: { value: true },
  help: { value: false, aliases: ["-h"] },
};

/** Exit status when a benchmark failed in some configuration (the report says where). */
export const MICROBENCH_FAILED = 1;

export const MICROBENCH_HELP = `vmm86 microbench — Adams & Agesen's micro-benchmarks on every execution mode

Usage:
  vmm86 microbench [--format table|markdown|json] [--bench NAME,...] [--repeat N] [--bits 32|64]

Runs guests/microbench/microbench.elf under bare, trap --cpu strict, bt and svm+NPT
(--mode svm --cpu barcelona: AMD-V with nested paging; modes this build lacks print n/a)
and prints, per benchmark, guest cycles and host nanoseconds per operation, the ratio to
bare, the exits to the monitor per operation (svm: vmexit.*; trap and bt: trap.* and
exit.*), and the monitor counters behind each. Host time is the cost: what the model
really spends (docs/microbench.md).

Benchmarks:
${BENCHMARKS.map((b) => `  ${b.name.padEnd(9)} ${b.op}`).join("\n")}

Options:
  --format F      table (default), markdown or json
  --bench LIST    only these benchmarks (comma-separated)
  --bits 32|64    64: guests/microbench64 (syscall = SYSCALL/SYSRETQ, int80, in, cr3,
                  callret, pgfault, divzero, ptemod in long mode) under bare nehalem and
                  every 64-bit configuration of src/lab/columns64.ts; one that
                  \`vmm86 run\` refuses shows as refused with the CLI's code
  --repeat N      timed rounds per benchmark, best kept (default 2, 1-10)
  -h, --help      this text

Exit status: 0 all measured; 1 a benchmark failed somewhere (see the report); 2 bad usage;
6 the guest image is missing.
`;

export async function microbenchCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, MICROBENCH_FLAGS);
  if (p.flags.has("help")) { writeAll(1, MICROBENCH_HELP); return ExitCode.OK; }
  if (p.positional.length > 0) throw usageError(`microbench takes no arguments, got '${p.positional[0]}'`);
  const format = p.flags.get("format") ?? "table";
  if (format !== "table" && format !== "markdown" && format !== "json") throw usageError("--format must be table, markdown or json");
  const repeat = numberFlag(p, "repeat", 1, 10) ?? 2;
  if (!Number.isInteger(repeat)) throw usageError("--repeat wants a whole number");
  const bitsFlag = p.flags.get("bits") ?? "32";
  if (bitsFlag !== "32" && bitsFlag !== "64") throw usageError("--bits must be 32 or 64");
  const bits = bitsFlag === "64" ? 64 : 32;
  const known = (bits === 64 ? BENCHMARKS_64 : BENCHMARKS).map((b) => b.name);
  const benchFlag = p.flags.get("bench");
  let benches = known;
  if (benchFlag !== undefined) {
    const asked = String(benchFlag).split(",").filter((s) => s !== "");
    const unknown = asked.filter((b) => !known.includes(b));
    if (asked.length === 0 || unknown.length > 0) {
      throw usageError(`--bench wants names from ${known.join(", ")}${unknown.length ? `; unknown: ${unknown.join(", ")}` : ""}`);
    }
    benches = known.filter((b) => asked.includes(b));  // the guest's order
  }
  const path = bits === 64 ? MICROBENCH64_IMAGE : MICROBENCH_IMAGE;
  if (!existsSync(path)) throw imageError(`the micro-benchmark guest '${path}' is missing (guests/${bits === 64 ? "microbench64" : "microbench"}/build.sh builds it)`);
  const image = readFileSync(path);

  const report = measureMicrobench(image, {
    benches,
    repeat,
    ...(bits === 64 ? { guest: "microbench64", configs: CONFIGS_64, refusal: cliRefusalProbe(path, "bench=none") } : {}),
    onProgress: (m) => { if (process.stderr.isTTY) writeAll(2, `vmm86: ${m}\n`); },
  });
  writeAll(1, format === "json" ? formatJson(report) : format === "markdown" ? formatMarkdown(report) : formatTable(report));
  const failed = report.configs.some((c) => c.status === "error" || c.results.some(isFailure));
  return failed ? MICROBENCH_FAILED : ExitCode.OK;
}
