// `vmm86 redpill`: run the red-pill guest (guests/redpill) under every mode (svm too) and CPU
// variant and print, for each of Robin and Irvine's sensitive instructions (plus CPUID,
// IRET, SYSENTER) at guest CPL 0 and 3, whether it behaves as on the bare machine, leaks
// the monitor, misbehaves or faults. Modes this build lacks print as "n/a" columns.

import { ExitCode, UserError, usageError, imageError } from "./errors.js";
import { parseArgs, type FlagSpec } from "./args.js";
import { writeAll } from "./output.js";
import { runRedpill } from "../lab/redpill/report.js";
import { REDPILL_IMAGE, REDPILL64_IMAGE, loadRedpillImage } from "../guests/images.js";
import { cliRefusalProbe } from "./lab-try.js";
import { formatJson, formatMarkdown, formatTable } from "../lab/redpill/format.js";

export const REDPILL_FLAGS: Record<string, FlagSpec> = {
  format: { value: true },
  bits: { value: true },
  help: { value: false, aliases: ["-h"] },
};

export const REDPILL_HELP = `vmm86 redpill — can a guest tell it is not on the bare machine?

Usage:
  vmm86 redpill [--format table|markdown|json] [--bits 32|64]

Runs guests/redpill/redpill.elf under every mode (bare, trap, bt) and CPU variant
(standard, strict), and under the hardware-assisted monitor: svm+NPT/barcelona (--mode svm
--cpu barcelona), compared with bare/barcelona (--cpu barcelona,-apic,-svm,-npt: the CPU
its guest sees, so CPUID is no difference). At guest CPL 0 and CPL 3 it executes each of Robin and Irvine's 18
sensitive unprivileged instructions (SGDT SIDT SLDT SMSW STR PUSHF POPF LAR LSL VERR
VERW, PUSH/POP/MOV of segment registers, far CALL/JMP/RET, INT n) plus IRET, CPUID and
SYSENTER, and reports what it saw. Each cell compares with its reference column
(bare/standard, or bare/barcelona for svm+NPT):

  same        the same values (or the same exception)
  leaks       different, and the value gives the monitor away: an address at or above
              0xFFC00000, a selector with RPL 1, a limit or descriptor the guest did not set
  misbehaves  different otherwise (e.g. POPF did not change IF)
  faults      an exception where the bare machine had none
  n/a         the mode is not in this build yet

--bits 64 runs guests/redpill64/redpill64.elf instead: the same questions in 64-bit mode
(SGDT/SIDT with 64-bit bases, PUSHFQ/POPFQ, LAR/LSL/VERR/VERW of 9 selectors, PUSH/POP
FS/GS, PUSH CS (#UD), far CALL/JMP/RET, INT n, MOV Sreg, IRETQ, CPUID, SYSCALL/SYSRETQ,
SWAPGS) under every 64-bit configuration (src/lab/columns64.ts): bt with --protect
segments, two-tables and paging-only on core2, vtx on nehalem and svm on athlon64-revf /
barcelona with shadow and nested paging, each compared with bare on the CPU its guest
sees. Each monitored configuration is first tried with \`vmm86 run --kernel …\`; one the
CLI refuses shows as "refused" with the CLI's own error code (docs/redpill.md).

Options:
  --format table|markdown|json   output format (default: table)
  --bits 32|64                   which guest: redpill (32, default) or redpill64
  -h, --help                     this text
`;

export async function redpillCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, REDPILL_FLAGS);
  if (p.flags.has("help")) { writeAll(1, REDPILL_HELP); return ExitCode.OK; }
  if (p.positional.length > 0) throw usageError(`redpill takes no arguments (got '${p.positional[0]}')`);
  const format = p.flags.get("format") ?? "table";
  if (format !== "table" && format !== "markdown" && format !== "json") throw usageError("--format must be 'table', 'markdown' or 'json'");
  const bitsFlag = p.flags.get("bits") ?? "32";
  if (bitsFlag !== "32" && bitsFlag !== "64") throw usageError("--bits must be 32 or 64");
  const bits = bitsFlag === "64" ? 64 : 32;
  const path = bits === 64 ? REDPILL64_IMAGE : REDPILL_IMAGE;
  let image: Uint8Array;
  try {
    image = loadRedpillImage(path);
  } catch {
    throw imageError(`cannot read the red-pill guest '${path}' (rebuild it with guests/${bits === 64 ? "redpill64" : "redpill"}/build.sh)`);
  }
  const report = bits === 64 ? runRedpill(image, { bits, refusal: cliRefusalProbe(path) }) : runRedpill(image);
  const out = format === "json" ? formatJson(report) : format === "markdown" ? formatMarkdown(report) : formatTable(report);
  writeAll(1, out);
  const ref = report.configs.find((c) => c.name === report.reference);
  if (!ref?.run?.log.ended) {
    throw new UserError("E_REDPILL", ExitCode.INTERNAL,
      "the red-pill guest did not finish on the bare machine, so there is nothing to compare with (a bug in vmm86 or in the guest)");
  }
  return ExitCode.OK;
}
