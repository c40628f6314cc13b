// Runs one of the project's multiboot guests (guests/*) to its end under a chosen mode and
// CPU model and returns what it wrote to COM1: the lab commands (redpill, escape,
// microbench) are built on this.

import { Pc, type PcOptions } from "../hw/pc/pc.js";
import { applyEntryState, ramWriter, type BootTarget } from "../hw/pc/boot-entry.js";
import type { RunEnd } from "../hw/pc/clocked-run.js";
import { loadMultiboot, pcE820Map, type E820Entry, type EntryState } from "../boot/index.js";
import { Monitor } from "../vmm/monitor.js";
import type { Protection } from "../vmm/protection.js";
import { VtxMonitor } from "../vmm/vtx/vtx-monitor.js";
import { SvmMonitor } from "../vmm/svm/svm-monitor.js";
import { parseCpuSpec } from "../hw/cpu/models.js";

export type LabMode = "bare" | "trap" | "bt" | "svm" | "vtx";
/** A monitor the lab runs a guest under. */
export type LabMonitor = Monitor | SvmMonitor | VtxMonitor;
/** A `--cpu` value: `standard`, `strict`, or MODEL[,+FEATURE][,-FEATURE]. */
export type LabCpu = string;
/**
 * `--protect` of the classic monitor; `segments-unsafe` is `--protect segments
 * --unsafe-protect` (segments on a 64-bit guest without EFER.LMSLE: the escape suite's hole).
 */
export type LabProtect = "segments" | "paging-only" | "two-tables" | "segments-unsafe";

export interface LabRunOptions {
  mode: LabMode;
  cpu: LabCpu;
  /** Stop after this many guest instructions (default 2e8). */
  maxInstructions?: number;
  /** Guest RAM in bytes (default 32 MiB). */
  ramBytes?: number;
  /** Multiboot command line passed to the guest. */
  cmdline?: string;
  /**
   * How the monitor guards its region (trap/bt only): `segments` (default: segment limits
   * and page permissions, the classic design) or `paging-only` (page permissions alone, a
   * deliberately weakened configuration that a ring-1 guest kernel can escape).
   */
  protect?: LabProtect;
  /** How a hardware-assisted monitor handles guest page tables (columns.ts); default: nested where the model has it. */
  paging?: "nested" | "shadow";
}

export interface LabRunResult {
  /** Everything the guest wrote to COM1, as latin1 text. */
  serial: string;
  end: RunEnd;
  /** Guest instructions retired; virtual time in cycles. */
  instructions: number;
  cycles: number;
  /** Host milliseconds spent running. */
  hostMs: number;
  /** The monitor's counters by name (empty under bare). */
  counters: Record<string, number>;
  /**
   * The monitor's resource-control verdict (null under bare): did its protected memory
   * keep its checksum, and did any guest instruction run at machine CPL 0.
   */
  integrity: { monitorIntact: boolean; guestRanAtCpl0: boolean } | null;
}

/**
 * How each monitor mode is built, as src/cli/run.ts builds it for `vmm86 run --mode M`
 * (the monitor derives the guest's CPU model from the machine's). A new monitor is one line.
 */
const MONITORS: Partial<Record<LabMode, (pc: PcOptions, opts: LabRunOptions) => LabMonitor>> = {
  trap: (pc, o) => new Monitor({ ...pc, mode: "trap", ...classicProtect(o.protect) }),
  bt: (pc, o) => new Monitor({ ...pc, mode: "bt", ...classicProtect(o.protect) }),
  vtx: (pc, o) => new VtxMonitor({ ...pc, paging: o.paging }),
  svm: (pc, o) => new SvmMonitor({ ...pc, paging: o.paging }),
};

function classicProtect(p: LabProtect | undefined): { protect: Protection; unsafeProtect: boolean } {
  return p === "segments-unsafe" ? { protect: "segments", unsafeProtect: true } : { protect: p ?? "segments", unsafeProtect: false };
}

/** Modes this build can run. */
export function availableModes(): LabMode[] {
  return ["bare", ...(Object.keys(MONITORS) as LabMode[])];
}

/** Puts a guest into the machine's RAM and says how it starts (a boot loader). */
export type GuestLoader = (target: BootTarget, e820: E820Entry[]) => EntryState;

/**
 * Build the machine for a guest under `opts` (bare PC or the monitor), load it with `load`
 * and make it ready to run; COM1's bytes go to `serialOut`. The lab runs and the browser's
 * sessions both start guests here.
 */
export function startGuest(load: GuestLoader, opts: LabRunOptions, serialOut: (b: number) => void): { pc: Pc | LabMonitor; mon: LabMonitor | null } {
  const build = MONITORS[opts.mode];
  if (opts.mode !== "bare" && build === undefined) throw new Error(`mode ${opts.mode} is not available in this build`);
  const ramBytes = opts.ramBytes ?? 32 << 20;
  const pcOpts = { ramBytes, acpi: true, model: parseCpuSpec(opts.cpu), serialOut };
  const e820 = pcE820Map(ramBytes);
  if (opts.mode === "bare") {
    const pc = new Pc(pcOpts);
    applyEntryState(pc.machine, load(pc.machine, e820));
    return { pc, mon: null };
  }
  const mon = build!(pcOpts, opts);
  applyEntryState(mon.bootTarget, load(mon.bootTarget, e820));
  return { pc: mon, mon };
}

/** startGuest for one of the project's multiboot guests, with `opts.cmdline` (default "lab"). */
export function startLabGuest(image: Uint8Array, opts: LabRunOptions, serialOut: (b: number) => void): { pc: Pc | LabMonitor; mon: LabMonitor | null } {
  const cmdline = opts.cmdline ?? "lab";
  return startGuest((t, e820) => loadMultiboot(ramWriter(t), image, { cmdline, modules: [], e820 }), opts, serialOut);
}

export function runLabGuest(image: Uint8Array, opts: LabRunOptions): LabRunResult {
  let serial = "";
  const { pc, mon } = startLabGuest(image, opts, (b: number) => { serial += String.fromCharCode(b); });
  const deadline = Date.now() + 120_000;
  const maxInstructions = opts.maxInstructions ?? 2e8;
  const t0 = Date.now();
  if (mon === null) {
    const end = pc.run({ deadline, maxInstructions });
    return {
      serial, end, instructions: pc.cpu.instructions, cycles: pc.cpu.cycles, hostMs: Date.now() - t0,
      counters: {}, integrity: null,
    };
  }
  mon.start();
  const end = mon.run({ deadline, maxInstructions });
  const integ = mon.integrity();
  return {
    serial, end, instructions: mon.guestCycles, cycles: mon.guestCycles, hostMs: Date.now() - t0,
    counters: mon.stats(), integrity: { monitorIntact: integ.monitorIntact, guestRanAtCpl0: integ.guestRanAtCpl0 },
  };
}
