// `vmm86 redpill`: run the red-pill guest (guests/redpill) under every mode (svm too) and CPU
// variant and print, for each of Robin and Irvine's sensitive instructions (plus CPUID,
// IRET, SYSENTER) at guest CPL 0 and 3, whether it behaves as on the bare machine, leaks
// the monitor, misbehaves or faults. Modes this build lacks print as "n/a" columns.

import { ExitCode, UserError, usageError, imageError } from "./errors.js";
import { parseArgs, type FlagSpec } from "./args.js";
import { writeAll } from "./output.js";
import { runRedpill } from "../lab/redpill/report.js";
import { REDPILL_IMAGE, loadRedpillImage } from "../guests/images.js";
import { formatJson, formatMarkdown, formatTable } from "../lab/redpill/format.js";

export const REDPILL_FLAGS: Record<string, FlagSpec> = {
  format: { value: true },
  help: { value: false, aliases: ["-h"] },
};

export const REDPILL_HELP = `vmm86 redpill — can a guest tell it is not on the bare machine?

Usage:
  vmm86 redpill [--format table|markdown|json]

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

Options:
  --format table|markdown|json   output format (default: table)
  -h, --help                     this text
`;

export async function redpillCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, REDPILL_FLAGS);
  if (p.flags.has("help")) { writeAll(1, REDPILL_HELP); return ExitCode.OK; }
  if (p.positional.length > 0) throw usageError(`redpill takes no arguments (got '${p.positional[0]}')`);
  const format = p.flags.get("format") ?? "table";
  if (format !== "table" && format !== "markdown" && format !== "json") throw usageError("--format must be 'table', 'markdown' or 'json'");
  let image: Uint8Array;
  try {
    image = loadRedpillImage();
  } catch {
    throw imageError(`cannot read the red-pill guest '${REDPILL_IMAGE}' (rebuild it with guests/redpill/build.sh)`);
  }
  const report = runRedpill(image);
  const out = format === "json" ? formatJson(report) : format === "markdown" ? formatMarkdown(report) : formatTable(report);
  writeAll(1, out);
  const ref = report.configs.find((c) => c.name === report.reference);
  if (!ref?.run?.log.ended) {
    throw new UserError("E_REDPILL", ExitCode.INTERNAL,
      "the red-pill guest did not finish on the bare machine, so there is nothing to compare with (a bug in vmm86 or in the guest)");
  }
  return ExitCode.OK;
}
