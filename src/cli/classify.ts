// `vmm86 classify`: decide by experiment, for every form in the model's opcode table, whether
// it is privileged and whether it is sensitive, and print the sensitive but unprivileged
// ones — Popek and Goldberg's condition, checked by machine (see docs/classify.md).

import { ExitCode, usageError } from "./errors.js";
import { parseArgs, type FlagSpec } from "./args.js";
import { writeAll } from "./output.js";
import { cpuOption } from "./cpus.js";
import { runClassify } from "../lab/classify/report.js";
import { CLASSIFY_EXIT, formatJson, formatMarkdown, formatTable } from "../lab/classify/format.js";

export const CLASSIFY_FLAGS: Record<string, FlagSpec> = {
  cpu: { value: true },
  umip: { value: false },
  vmx: { value: false },
  svm: { value: false },
  format: { value: true },
  help: { value: false, aliases: ["-h"] },
};

export const CLASSIFY_HELP = `vmm86 classify — which x86 instructions are sensitive but not privileged?

Usage:
  vmm86 classify [--cpu MODEL[,+FEATURE][,-FEATURE]] [--umip] [--vmx] [--svm]
                 [--format table|markdown|json]

Runs every form of the machine model's opcode table, one instruction at a time, at CPL 0
and CPL 3, from states that differ only in privileged state (GDTR, IDTR, LDTR, TR, CR0,
CR3, IOPL, IF, CPL). A form is privileged if it runs at CPL 0 and raises an exception at
CPL 3; sensitive if, without an exception, it changes privileged state or its visible
result depends on it. Prints the sensitive, unprivileged instructions next to the 18 of
Robin and Irvine (2000) and explains every difference.

Options:
  --cpu standard|strict   the CPU: standard is pentium2 (the default), strict is
                          pentium2,+strict (every sensitive instruction faults at CPL > 0)
  --cpu MODEL[,+F][,-F]   any CPU model (vmm86 cpus), with features added or removed
  --umip                  run with CR4.UMIP set (SGDT SIDT SLDT SMSW STR fault at CPL > 0)
  --vmx                   add, per instruction, what it does in VMX non-root operation:
                          exits always, exits under a named control ("HLT exiting",
                          "CR3-load exiting", "use I/O bitmaps"), or never (Intel SDM
                          vol. 3C §26.1); and a table of the other instructions that exit
  --svm                   likewise under SVM, with the VMCB intercept that catches it
                          (AMD APM vol. 2 §15.9-15.13)
  --format table|markdown|json   output format (default: table)
  -h, --help              this text

Expected: standard = the seed's 18 plus IRET, LSS, SYSENTER; strict = none;
--umip = standard without the five store instructions. Every other model expects what
standard does, or none with +strict.

Exit status:
  0   the found set equals the expected one for this configuration
  2   bad command line
  ${CLASSIFY_EXIT.MISMATCH}  the found set differs from the expected one (the output says how)
`;

/** Runs `vmm86 classify …` (argv without "classify"); returns the exit status. */
export async function classifyCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, CLASSIFY_FLAGS);
  if (p.flags.has("help")) { writeAll(1, CLASSIFY_HELP); return ExitCode.OK; }
  if (p.positional.length > 0) throw usageError(`classify takes no arguments (got '${p.positional[0]}')`);
  const flag = p.flags.get("cpu");
  cpuOption(flag); // a bad model or feature is E_USAGE before anything runs
  const cpu = typeof flag === "string" ? flag : "standard";
  const format = p.flags.get("format") ?? "table";
  if (format !== "table" && format !== "markdown" && format !== "json") throw usageError("--format must be 'table', 'markdown' or 'json'");
  const report = runClassify({ cpu, umip: p.flags.has("umip") });
  const exits = { vmx: p.flags.has("vmx"), svm: p.flags.has("svm") };
  const out = format === "json" ? formatJson(report) : format === "markdown" ? formatMarkdown(report, exits) : formatTable(report, exits);
  writeAll(1, out);
  return report.match ? CLASSIFY_EXIT.MATCH : CLASSIFY_EXIT.MISMATCH;
}
