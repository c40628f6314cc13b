// Machines for the snapshot tests: the demo guest on the bare PC or under the monitor, cut
// at a chosen point, saved, and continued in a fresh machine of any mode.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Pc } from "../../src/hw/pc/pc.js";
import { applyEntryState, ramWriter } from "../../src/hw/pc/boot-entry.js";
import { loadMultiboot, pcE820Map } from "../../src/boot/index.js";
import { Monitor } from "../../src/vmm/monitor.js";
import { parseCpuSpec } from "../../src/hw/cpu/models.js";
import { restorePc, savePc, type GuestState } from "../../src/hw/pc/pc-state.js";
import { REPO_ROOT } from "../support/paths.js";

export type Mode = "bare" | "trap" | "bt";
export const RAM = 32 << 20;

export class DemoRun {
  readonly pc: Pc | Monitor;
  readonly out: number[] = [];
  end = "";

  constructor(readonly mode: Mode, from?: GuestState) {
    // Trap-and-emulate is correct only on a strict CPU (every sensitive instruction traps):
    // on the standard one the demo loses IF in an IRET at ring 1 and never finishes. The
    // guest sees a standard pentium2 either way.
    const cpu = mode === "trap" ? "strict" : "standard";
    const opts = { ramBytes: RAM, acpi: true, model: parseCpuSpec(cpu), serialOut: (b: number) => { this.out.push(b); } };
    this.pc = mode === "bare" ? new Pc(opts) : new Monitor({ ...opts, mode });
    if (from !== undefined) {
      if (this.pc instanceof Monitor) this.pc.restoreFrom(structuredClone(from));
      else restorePc(this.pc, structuredClone(from));
      return;
    }
    const img = readFileSync(join(REPO_ROOT, "guests", "demo", "demo.elf"));
    const t = this.pc.bootTarget;
    applyEntryState(t, loadMultiboot(ramWriter(t), img, { cmdline: "demo", modules: [], e820: pcE820Map(RAM) }));
    if (this.pc instanceof Monitor) this.pc.start();
  }

  /** Run until the machine has retired `n` instructions (its own count), or the guest ends. */
  runTo(n: number): void {
    const r = this.pc.run({ deadline: Date.now() + 300_000, maxInstructions: n });
    if (r.kind !== "timeout") this.end = r.kind === "poweroff" ? `poweroff ${r.status}` : r.kind;
  }

  /** Run to the guest's end. */
  finish(): void {
    while (this.end === "") this.runTo(Infinity);
  }

  /** The guest's state now (under the monitor: at an exit the monitor forces). */
  save(): GuestState {
    if (this.pc instanceof Pc) return savePc(this.pc);
    const mon = this.pc;
    mon.requestCapture();
    while (mon.captured === null) {
      const r = mon.run({ deadline: Date.now() + 60_000, until: () => mon.captured !== null });
      if (r.kind !== "timeout") throw new Error(`the guest ended (${r.kind}) before the capture`);
    }
    return mon.captured;
  }

  get serial(): string { return Buffer.from(this.out).toString("latin1"); }

  /** Guest instructions retired and guest cycles (virtual time). */
  get guestCounts(): { instructions: number; cycles: number } {
    const pc = this.pc;
    return pc instanceof Monitor ? { instructions: pc.guestInstructions, cycles: pc.guestCycles } : { instructions: pc.cpu.instructions, cycles: pc.cpu.cycles };
  }
}
