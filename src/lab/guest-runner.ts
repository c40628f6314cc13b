// Runs one of the project's multiboot guests (guests/*) to its end under a chosen mode and
// CPU model and returns what it wrote to COM1: the lab commands (redpill, escape,
// microbench) are built on this.

import { Pc } from "../hw/pc/pc.js";
import { applyEntryState, ramWriter } from "../hw/pc/boot-entry.js";
import type { RunEnd } from "../hw/pc/clocked-run.js";
import { loadMultiboot, pcE820Map } from "../boot/index.js";
import { Monitor } from "../vmm/monitor.js";
import { parseCpuSpec } from "../hw/cpu/models.js";

export type LabMode = "bare" | "trap" | "bt";
/** A `--cpu` value: `standard`, `strict`, or MODEL[,+FEATURE][,-FEATURE]. */
export type LabCpu = string;

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
  protect?: "segments" | "paging-only";
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

/** Modes this build can run. */
export function availableModes(): LabMode[] {
  return ["bare", "trap", "bt"];
}

export function runLabGuest(image: Uint8Array, opts: LabRunOptions): LabRunResult {
  if (!availableModes().includes(opts.mode)) throw new Error(`mode ${opts.mode} is not available in this build`);
  const ramBytes = opts.ramBytes ?? 32 << 20;
  let serial = "";
  const pcOpts = { ramBytes, acpi: true, model: parseCpuSpec(opts.cpu), serialOut: (b: number) => { serial += String.fromCharCode(b); } };
  const boot = { cmdline: opts.cmdline ?? "lab", modules: [], e820: pcE820Map(ramBytes) };
  const deadline = Date.now() + 120_000;
  const maxInstructions = opts.maxInstructions ?? 2e8;
  if (opts.mode === "bare") {
    const pc = new Pc(pcOpts);
    applyEntryState(pc.machine, loadMultiboot(ramWriter(pc.machine), image, boot));
    const t0 = Date.now();
    const end = pc.run({ deadline, maxInstructions });
    return {
      serial, end, instructions: pc.cpu.instructions, cycles: pc.cpu.cycles, hostMs: Date.now() - t0,
      counters: {}, integrity: null,
    };
  }
  const mon = new Monitor({ ...pcOpts, mode: opts.mode, protect: opts.protect ?? "segments" });
  const target = mon.bootTarget;
  applyEntryState(target, loadMultiboot(ramWriter(target), image, boot));
  const t0 = Date.now();
  mon.start();
  const end = mon.run({ deadline, maxInstructions });
  const integ = mon.integrity();
  return {
    serial, end, instructions: mon.guestCycles, cycles: mon.guestCycles, hostMs: Date.now() - t0,
    counters: mon.stats(), integrity: { monitorIntact: integ.monitorIntact, guestRanAtCpl0: integ.guestRanAtCpl0 },
  };
}
