// A machine: memory, I/O bus and CPU, run in slices. This is the bare minimum a ROM image
// needs (issue: CPU); the PC platform (PIC, PIT, RTC, UART …) builds on it.

import { Cpu } from "./cpu/cpu.js";
import type { JitOptions } from "./cpu/jit/block-compiler.js";
import type { CpuModel } from "./cpu/models.js";
import { StopReason } from "./cpu/fault.js";
import { clockedRun, type RunEnd } from "./pc/clocked-run.js";

export type { RunEnd };
import { IoBus } from "./io/io-bus.js";
import { PhysicalMemory } from "./mem/physical-memory.js";

export interface MachineOptions {
  /** Guest RAM in bytes. */
  ramBytes: number;
  /** The processor (default pentium2): see models.ts, parseCpuSpec. */
  model?: CpuModel;
  /** Compile hot guest code into blocks (docs/jit.md; default true). */
  jit?: boolean | JitOptions;
}

export class Machine {
  readonly mem: PhysicalMemory;
  readonly io = new IoBus();
  readonly cpu: Cpu;
  /** Set by a device that ends the run (isa-debug-exit, power-off). */
  exitStatus: number | null = null;

  constructor(opts: MachineOptions) {
    // A host helper thread that touches guest RAM before the guest does needs it shared.
    const helper = typeof opts.jit === "object" ? opts.jit.compiler ?? null : null;
    this.mem = new PhysicalMemory(opts.ramBytes, { shared: helper?.prefault !== undefined });
    if (helper?.prefault !== undefined && this.mem.wasm !== null) helper.prefault(this.mem.wasm.memory, opts.ramBytes);
    // The legacy VGA/ROM window 0xA0000–0xFFFFF is not RAM.
    if (opts.ramBytes > 0xa0000) this.mem.addHole(0xa0000, Math.min(opts.ramBytes, 0x100000));
    this.cpu = new Cpu(this.mem, this.io, { model: opts.model, jit: opts.jit });
  }

  /**
   * Map a BIOS image at the top of the first megabyte and alias it below 4 GiB
   * (64 KiB at 0xF0000/0xFFFF0000, 128 KiB at 0xE0000/0xFFFE0000, …).
   */
  loadBios(rom: Uint8Array): void {
    if (rom.length === 0 || rom.length % 0x10000 !== 0 || rom.length > 0x20000) {
      throw new RangeError("BIOS image must be 64 KiB or 128 KiB");
    }
    this.mem.addRom(0x100000 - rom.length, rom);
    this.mem.addRom(0x1_0000_0000 - rom.length, rom);
  }

  /** Power off from a device: the run loop stops after the current instruction. */
  powerOff(status: number): void {
    this.exitStatus = status;
    this.cpu.stop(StopReason.PowerOff);
  }

  /**
   * Run until the guest powers off, halts for good, triple-faults, or `deadline` (host ms,
   * from Date.now) passes. A bare machine has no timers: a halt with IF=1 is final too.
   */
  run(deadline: number, maxInstructions = Infinity, slice = 1 << 20): RunEnd {
    const end = clockedRun(this.cpu, [], { deadline, maxInstructions, slice, exitStatus: () => this.exitStatus ?? 0 });
    // Without devices nothing can ever end an idle halt.
    return end.kind === "idle" ? { kind: "halt" } : end;
  }
}
