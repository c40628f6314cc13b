// Runs one of the project's multiboot guests (guests/*) to its end under a chosen mode and
// CPU variant and returns what it wrote to COM1: the lab commands (redpill, escape,
// microbench) are built on this.

import { Pc } from "../hw/pc/pc.js";
import { applyEntryState, ramWriter } from "../hw/pc/boot-entry.js";
import type { RunEnd } from "../hw/pc/clocked-run.js";
import { loadMultiboot, pcE820Map } from "../boot/index.js";

export type LabMode = "bare" | "trap" | "bt";
export type LabCpu = "standard" | "strict";

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

/** Modes this build can run (the monitor adds trap and bt). */
export function availableModes(): LabMode[] {
  return ["bare"];
}

export function runLabGuest(image: Uint8Array, opts: LabRunOptions): LabRunResult {
  if (!availableModes().includes(opts.mode)) throw new Error(`mode ${opts.mode} is not available in this build`);
  const ramBytes = opts.ramBytes ?? 32 << 20;
  let serial = "";
  const pc = new Pc({ ramBytes, acpi: true, variant: opts.cpu, serialOut: (b) => { serial += String.fromCharCode(b); } });
  applyEntryState(pc.machine, loadMultiboot(ramWriter(pc.machine), image, {
    cmdline: opts.cmdline ?? "lab", modules: [], e820: pcE820Map(ramBytes),
  }));
  const t0 = Date.now();
  const end = pc.run({ deadline: Date.now() + 120_000, maxInstructions: opts.maxInstructions ?? 2e8 });
  return {
    serial, end, instructions: pc.cpu.instructions, cycles: pc.cpu.cycles, hostMs: Date.now() - t0,
    counters: {}, integrity: null,
  };
}
