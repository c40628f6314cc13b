// Machines for the snapshot tests: the demo guest (or another multiboot guest of guests/) on the bare PC or under the monitor, cut
// at a chosen point, saved, and continued in a fresh machine of any mode.

import assert from "node:assert/strict";
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

/** A multiboot guest of guests/: its image and command line. */
export interface Guest { elf: string; cmdline: string }
export const DEMO: Guest = { elf: "demo/demo.elf", cmdline: "demo" };

export class DemoRun {
  readonly pc: Pc | Monitor;
  readonly out: number[] = [];
  end = "";

  constructor(readonly mode: Mode, from?: GuestState, guest: Guest = DEMO) {
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
    const img = readFileSync(join(REPO_ROOT, "guests", guest.elf));
    const t = this.pc.bootTarget;
    applyEntryState(t, loadMultiboot(ramWriter(t), img, { cmdline: guest.cmdline, modules: [], e820: pcE820Map(RAM) }));
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

interface Whole { serial: string; end: string; instructions: number; cycles: number }

/**
 * Snapshot continuity for one guest: its whole run in each mode (the reference, run once),
 * and runs cut at a point, saved and continued in a fresh machine of the same or another mode.
 */
export class Continuity {
  private readonly wholeRuns = new Map<Mode, Whole>();

  constructor(readonly guest: Guest = DEMO) {}

  whole(mode: Mode): Whole {
    let w = this.wholeRuns.get(mode);
    if (w === undefined) {
      const r = new DemoRun(mode, undefined, this.guest);
      r.finish();
      w = { serial: r.serial, end: r.end, ...r.guestCounts };
      this.wholeRuns.set(mode, w);
    }
    return w;
  }

  /**
   * Cut a `from` run at machine instruction `at`, continue it under `to`; check it against
   * `to`'s whole run: the same serial bytes, end, guest instruction count and virtual time.
   * With `undisturbed`, the first machine is also left to run on and must not notice the save.
   */
  cutAndContinue(from: Mode, to: Mode, at: number, undisturbed = false): void {
    const name = `${this.guest.cmdline}: ${from} cut at ${at}, continued under ${to}`;
    const first = new DemoRun(from, undefined, this.guest);
    first.runTo(at);
    assert.equal(first.end, "", `${name}: the ${from} run ended before the cut`);
    const state = first.save();
    const second = new DemoRun(to, state, this.guest);
    second.finish();
    const w = this.whole(to);
    assert.equal(first.serial + second.serial, w.serial, `${name}: serial output`);
    assert.equal(second.end, w.end, `${name}: end`);
    assert.deepEqual(second.guestCounts, { instructions: w.instructions, cycles: w.cycles }, `${name}: guest counts`);
    if (undisturbed) {
      first.finish();
      assert.equal(first.serial, this.whole(from).serial, `${name}: the saving run, left to run on`);
    }
  }
}
