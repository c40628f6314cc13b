// `vmm86 escape`: run the escape guest (guests/escape) once per attempt under bare, bt,
// trap --cpu strict, bt --protect paging-only and svm+NPT; print each attempt's outcome and the
// monitor's verdict. Exit 0 only when every attempt is contained under the protected
// configurations and at least one escape is seen under the weakened one.

import { existsSync } from "node:fs";
import { ExitCode, imageError, usageError } from "./errors.js";
import { parseArgs, type FlagSpec } from "./args.js";
import { writeAll } from "./output.js";
import { ATTEMPTS, findAttempt, type Attempt } from "../lab/escape/attempts.js";
import { ATTEMPTS_64, findAttempt64 } from "../lab/escape/attempts64.js";
import { runEscapeSuite } from "../lab/escape/suite.js";
import { ESCAPE_IMAGE, ESCAPE64_IMAGE, loadEscapeImage } from "../guests/images.js";
import { CONFIGS_64 } from "../lab/escape/verdict.js";
import { cliRefusalProbe } from "./lab-try.js";
import { formatReport, type EscapeFormat } from "../lab/escape/format.js";
import { ESCAPE_EXIT } from "../lab/escape/verdict.js";

export const ESCAPE_HELP = `Usage:
  vmm86 escape [--format table|markdown|json] [--attempt NAME[,NAME…]] [--list] [--bits 32|64]

Runs the adversarial escape guest (guests/escape/escape.elf) once per attempt under five
configurations and reports what the guest saw and whether the monitor held:

  bare                      no monitor: the guest's view only (the reference)
  bt                        binary translation, segment truncation + page permissions
  trap --cpu strict         trap-and-emulate on the strict CPU, same protection
  bt --protect paging-only  page permissions alone: a ring-1 guest kernel gets through
  svm+NPT                   --mode svm --cpu barcelona: AMD-V with nested paging; the
                            hv-* attempts aim at its VMCB, nested tables, I/O and MSR
                            maps, host save area and host code above guest RAM

An attempt ESCAPED when the monitor's check after the run finds its memory changed (for
svm: the VMCB control area, nested tables, IOPM, MSRPM, host GDT/IDT/code) or a guest
instruction run at machine CPL 0 outside guest mode; CONTAINED when both hold and the run ended
clearly (the guest powered off, or was stopped by a triple fault or halt). Configurations
this build cannot run show n/a.

--bits 64 runs guests/escape64/escape64.elf instead: a long-mode kernel that aims at the
top 4 MiB of the 64-bit address space (0xFFFFFFFFFFC00000), the 32-bit region and the
16 MiB above guest RAM, through every segment register (FS/GS bases from MSRs and
descriptors, SWAPGS), RIP-relative and wrapping operands, string instructions across the
boundary, non-canonical addresses (#GP, #SS, SYSRET and IRETQ with a non-canonical RIP),
2 MiB and 1 GiB pages, a recursive PML4, tables and stacks (GDT, LDT, IDT, TSS, IST) in
the region, SYSCALL/SYSRET, call gates and ring-3 code there (51 attempts). It runs them
under bare (nehalem, the guest view) and every 64-bit configuration of
src/lab/columns64.ts; a configuration \`vmm86 run --kernel …\` refuses shows as "refused"
with the CLI's own code (tried once per configuration) and is not judged.

  --format F     table (default), markdown or json
  --bits 32|64   which guest: escape (32, default) or escape64
  --attempt N    only these attempts (comma-separated names)
  --list         print the attempt names and what each tries

Exit status:
  0   every attempt contained under bt, trap --cpu strict and svm+NPT, and at least one escape
      detected under bt --protect paging-only
  10  an attempt escaped (or was not clearly contained) under a protected configuration
  11  no escape detected under bt --protect paging-only
  12  a configuration the verdict needs cannot run in this build
  2   bad command line; 6 the escape guest image is missing
`;

const FLAGS: Record<string, FlagSpec> = {
  format: { value: true },
  attempt: { value: true },
  list: { value: false },
  bits: { value: true },
  help: { value: false, aliases: ["-h"] },
};

function pickAttempts(spec: string | true | undefined, bits: 32 | 64): readonly Attempt[] {
  const all = bits === 64 ? ATTEMPTS_64 : ATTEMPTS;
  const find = bits === 64 ? findAttempt64 : findAttempt;
  if (spec === undefined) return all;
  if (spec === true || spec.trim() === "") throw usageError("--attempt needs attempt names (see `vmm86 escape --list`)");
  const out: Attempt[] = [];
  for (const name of spec.split(",").map((s) => s.trim()).filter(Boolean)) {
    const a = find(name);
    if (!a) throw usageError(`unknown attempt '${name}' (see \`vmm86 escape --list\`)`);
    if (!out.includes(a)) out.push(a);
  }
  return out;
}

/** Runs `vmm86 escape …` (argv without "escape"); returns the exit status. Throws
 * UserError for a bad command line or a missing guest image. */
export async function escapeCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, FLAGS);
  if (p.flags.has("help")) { writeAll(1, ESCAPE_HELP); return ExitCode.OK; }
  if (p.positional.length > 0) throw usageError(`escape takes no arguments, got '${p.positional[0]}'`);
  const format = p.flags.get("format") ?? "table";
  if (format !== "table" && format !== "markdown" && format !== "json") throw usageError("--format must be table, markdown or json");
  const bitsFlag = p.flags.get("bits") ?? "32";
  if (bitsFlag !== "32" && bitsFlag !== "64") throw usageError("--bits must be 32 or 64");
  const bits = bitsFlag === "64" ? 64 : 32;
  const attempts = pickAttempts(p.flags.get("attempt"), bits);
  if (p.flags.has("list")) {
    const w = Math.max(...attempts.map((a) => a.name.length));
    writeAll(1, attempts.map((a) => `${a.name.padEnd(w)}  ${a.what}`).join("\n") + "\n");
    return ExitCode.OK;
  }
  const path = bits === 64 ? ESCAPE64_IMAGE : ESCAPE_IMAGE;
  if (!existsSync(path)) throw imageError(`the escape guest '${path}' is missing; rebuild it with guests/${bits === 64 ? "escape64" : "escape"}/build.sh`);
  const image = loadEscapeImage(path);
  const total = attempts.length;
  let done = 0;
  const tty = process.stderr.isTTY === true;
  const report = runEscapeSuite(image, {
    attempts,
    ...(bits === 64 ? { configs: CONFIGS_64, refusal: cliRefusalProbe(path, "escape attempt=write-moffs") } : {}),
    onRun: (a, c) => { if (tty && c.id === "bare") writeAll(2, `\rescape: ${++done}/${total} ${a.name.padEnd(24)}`); },
  });
  if (tty) writeAll(2, "\r" + " ".repeat(48) + "\r");
  writeAll(1, formatReport(report, format as EscapeFormat));
  return report.summary.exitCode;
}

export { ESCAPE_EXIT };
