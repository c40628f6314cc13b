// `--cpu MODEL[,+FEATURE][,-FEATURE]` for every command that takes it, and `vmm86 cpus`:
// the CPU models (src/hw/cpu/models.ts) as a table.

import { ExitCode, UserError, usageError } from "./errors.js";
import { parseArgs, type FlagSpec } from "./args.js";
import { writeAll } from "./output.js";
import {
  CPU_MODELS, CpuSpecError, DEFAULT_MODEL, FEATURE_NAMES, NOT_YET_MODELLED, featureList, parseCpuSpec, type CpuModel, type FeatureName,
} from "../hw/cpu/models.js";

/** The `--cpu` syntax, for help texts. */
export const CPU_SYNTAX = "MODEL[,+FEATURE][,-FEATURE]";

/** Resolve a `--cpu` value (absent: the default model); a bad one is E_USAGE naming the valid ones. */
export function cpuOption(value: string | true | undefined): CpuModel {
  if (value === undefined) return DEFAULT_MODEL;
  if (value === true) throw usageError(`--cpu needs a value: ${CPU_SYNTAX}`);
  try {
    return parseCpuSpec(value);
  } catch (e) {
    if (e instanceof CpuSpecError) throw usageError(`--cpu: ${e.message}`);
    throw e;
  }
}

export const CPUS_FLAGS: Record<string, FlagSpec> = {
  help: { value: false, aliases: ["-h"] },
};

export const CPUS_HELP = `vmm86 cpus — the CPU models --cpu accepts

Usage:
  vmm86 cpus

Prints one row per model: its name, vendor, CPUID signature (family_model, stepping) and
features, and under it the real processor it copies. Use a model with --cpu, adding or
removing features QEMU's way: --cpu core2, --cpu pentium3,-sse, --cpu pentium2,+strict.
--cpu standard is pentium2 and --cpu strict is pentium2,+strict.
`;

function hex2(n: number): string {
  return n.toString(16).toUpperCase().padStart(2, "0");
}

/** "06_0Fh s6": display family and model (SDM vol. 2 CPUID, figure 3-6), stepping. */
export function signatureText(sig: number): string {
  const baseFamily = (sig >> 8) & 0xf, baseModel = (sig >> 4) & 0xf;
  const family = baseFamily === 0xf ? baseFamily + ((sig >> 20) & 0xff) : baseFamily;
  const model = baseFamily === 0x6 || baseFamily === 0xf ? (((sig >> 16) & 0xf) << 4) + baseModel : baseModel;
  return `${hex2(family)}_${hex2(model)}h s${sig & 0xf}`;
}

/** The table `vmm86 cpus` prints. */
export function formatCpus(): string {
  const named = (f: FeatureName): string => (NOT_YET_MODELLED.has(f) ? f + "*" : f);
  const rows = CPU_MODELS.map((m) => [m.name, m.vendor === "intel" ? "Intel" : "AMD", signatureText(m.signature), featureList(m.features).map(named).join(" ") || "-"]);
  const head = ["MODEL", "VENDOR", "SIGNATURE", "FEATURES"];
  const width = head.map((h, k) => Math.max(h.length, ...rows.map((r) => r[k].length)));
  const line = (cells: string[]): string => cells.map((c, k) => (k === cells.length - 1 ? c : c.padEnd(width[k]))).join("  ") + "\n";
  let out = line(head);
  CPU_MODELS.forEach((m, k) => {
    out += line(rows[k]);
    out += `  ${m.stands_for}\n`;
  });
  out += `\nDefault: ${DEFAULT_MODEL.name}. Short forms: standard = pentium2, strict = pentium2,+strict.\n`;
  out += `Features (+NAME adds, -NAME removes): ${FEATURE_NAMES.join(" ")}\n`;
  if (NOT_YET_MODELLED.size > 0) out += "* the real part had it; vmm86 does not model it yet, so CPUID reports it clear (docs/cpu.md)\n";
  out += `A 64-bit guest under --mode bt: --protect segments needs lmsle (${lmsleModels().join(", ")}); --protect two-tables works on every model with lm.\n`;
  return out;
}

/** Runs `vmm86 cpus …` (argv without "cpus"); returns the exit status. */
export async function cpusCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, CPUS_FLAGS);
  if (p.flags.has("help")) { writeAll(1, CPUS_HELP); return ExitCode.OK; }
  if (p.positional.length > 0) throw usageError(`cpus takes no arguments (got '${p.positional[0]}')`);
  writeAll(1, formatCpus());
  return ExitCode.OK;
}

/**
 * The model `run linux64` uses without --cpu, and the one E_NO_LONG_MODE names: the first
 * AMD64 part, with exactly the x86-64 baseline (SSE2, FXSR, NX, SYSCALL, long mode). Not
 * `core2`: Linux's verify_cpu (arch/x86/kernel/verify_cpu.S, the first code of every x86-64
 * kernel) reads IA32_MISC_ENABLE (MSR 1A0h) on Intel family 6 model 13 and later, and the
 * core2 model has no such MSR yet, so an x86-64 Linux triple-faults there after 135
 * instructions; on the AMD models the same kernel boots until it needs SSE (FXSAVE).
 */
export const LONG_MODE_MODEL = "athlon64-revc";

/**
 * The error for a 64-bit kernel on a model without long mode (E_NO_LONG_MODE, exit status
 * 6 like every image that cannot run): it names the flag that would work.
 */
export function longModeRefusal(what: string, why: string, model: CpuModel): UserError {
  const lm = CPU_MODELS.filter((m) => m.features.lm).map((m) => m.name);
  const preferred = lm.includes(LONG_MODE_MODEL) ? LONG_MODE_MODEL : lm[0];
  return new UserError("E_NO_LONG_MODE", ExitCode.IMAGE,
    `${what} is a 64-bit (x86-64) kernel (${why}), and the CPU model ${model.name} has no long mode (lm): ` +
    `run it with --cpu ${preferred} (models with lm: ${lm.join(", ")})`);
}

import type { Protection } from "../vmm/protection.js";
export { PROTECTIONS } from "../vmm/protection.js";

/** Models on which `--protect segments` is sound for a 64-bit guest: those with EFER.LMSLE. */
export function lmsleModels(): string[] {
  return CPU_MODELS.filter((m) => m.features.lm && m.features.lmsle).map((m) => m.name);
}

/**
 * Is this `--protect` choice sound for this guest on this model? Null if so, else the error.
 * For a 64-bit guest under bt, `segments` needs AMD's long-mode segment limits (EFER.LMSLE):
 * without them nothing keeps the guest kernel (machine ring 1, supervisor to the pager) out
 * of the monitor region, and VMware refused such a guest the same way. `unsafe` runs it
 * anyway (the escape suite shows the hole). `two-tables` is the long-mode design only.
 */
export function protectRefusal(protect: Protection, guest64: boolean | "maybe", model: CpuModel, unsafe: boolean): UserError | null {
  // A kernel that may turn long mode on later: the monitor checks then (ProtectUnsound).
  if (guest64 === "maybe") return null;
  if (protect === "two-tables" && !guest64) {
    return usageError("--protect two-tables is the long-mode design (guest kernel and user both at ring 3, two shadow page-table sets): " +
      "it applies to 64-bit guests (linux64, an x86-64 --kernel); a 32-bit guest uses segments");
  }
  if (protect !== "segments" || !guest64 || model.features.lmsle || unsafe) return null;
  const why = model.vendor === "intel" ? "Intel 64 never limit-checks segments in 64-bit mode"
    : model.features.noLmsle ? "it dropped EFER.LMSLE (CPUID 8000_0008h:EBX[20], as Zen 3 did)"
      : "it has no EFER.LMSLE (AMD added it in K8 revision D)";
  return new UserError("E_PROTECT_UNSOUND", ExitCode.UNSUPPORTED,
    `--protect segments cannot protect the monitor from a 64-bit guest on ${model.name}: ${why}, ` +
    `so nothing would keep the guest kernel out of the monitor region. Use --protect two-tables (any model with long mode), ` +
    `or --cpu ${lmsleModels()[0]} (models with EFER.LMSLE: ${lmsleModels().join(", ")}); --unsafe-protect runs it unprotected (docs/long-mode-monitor.md)`);
}
