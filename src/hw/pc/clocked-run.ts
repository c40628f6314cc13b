// The machine's run loop in virtual time (DESIGN.md §4).
//
// Virtual time is `cpu.cycles * NS_PER_CYCLE`: one cycle per retired instruction plus the
// cycles a halted CPU skips. The loop runs the CPU in slices that end at the next device
// event, brings devices up to date at each slice boundary, and when the CPU halts with
// interrupts enabled jumps the clock to the next event instead of spinning. Nothing here
// reads the host clock except the optional pacing of `--clock realtime` and the run's
// host-time limit.

import type { Cpu } from "../cpu/cpu.js";
import { StopReason } from "../cpu/fault.js";
import { NS_PER_CYCLE, type TimedDevice } from "../dev/device.js";

/** Why a run ended. */
export type RunEnd =
  | { kind: "poweroff"; status: number }
  | { kind: "halt" }
  /** HLT with interrupts enabled and no device event pending: only host input can wake it. */
  | { kind: "idle" }
  | { kind: "triple-fault" }
  /** The host's debug probe stopped the CPU at an instruction boundary (cpu.debug.hit). */
  | { kind: "debug" }
  | { kind: "timeout"; instructions: number };

export interface ClockedRunOptions {
  /** Host time (Date.now()) after which the run stops with a timeout. */
  deadline: number;
  /** Stop after this many retired instructions. */
  maxInstructions?: number;
  /** Pace guest time to host time (interactive use). */
  realtime?: boolean;
  /** The longest slice in instructions (bounds latency of host-side checks). */
  slice?: number;
  /** Called between slices (e.g. to feed host input to a UART). */
  poll?: () => unknown;
  /** The exit status set by a power-off device. */
  exitStatus?: () => number;
  /** The CPU halted with interrupts enabled (HLT waiting for an interrupt). */
  onHalt?: () => void;
  /** End the run (as a timeout) at the first slice boundary where this is true. */
  until?: () => boolean;
}

export function nowNs(cpu: Cpu): number {
  return cpu.cycles * NS_PER_CYCLE;
}

/**
 * One step of the run loop, the unit every host drives (the CLI through `clockedRun`, the
 * browser's worker through its own scheduling): bring the devices up to date, run the CPU
 * for at most `slice` instructions and never past the next device event, and deal with a
 * halt. Returns how the run ended, or null if it can go on. Nothing here reads the host
 * clock, so the guest sees the same run whatever the slices were.
 */
export class ClockedStep {
  /** The instruction budget the last step ran with. */
  budget = 0;

  constructor(readonly cpu: Cpu, readonly devices: TimedDevice[], readonly opts: Omit<ClockedRunOptions, "deadline" | "realtime">) {}

  step(slice: number): RunEnd | null {
    const { cpu, devices, opts } = this;
    opts.poll?.();
    const now = nowNs(cpu);
    let next = Infinity;
    for (const d of devices) {
      d.advance(now);
      const t = d.nextEvent(now);
      if (t < next) next = t;
    }
    const left = (opts.maxInstructions ?? Infinity) - cpu.instructions;
    if (left <= 0) return { kind: "timeout", instructions: cpu.instructions };
    const untilEvent = next === Infinity ? slice : Math.ceil((next - now) / NS_PER_CYCLE);
    const budget = this.budget = Math.max(1, Math.min(slice, untilEvent, left));
    const r = cpu.run(budget);
    if (opts.until?.()) return { kind: "timeout", instructions: cpu.instructions };
    switch (r) {
      case StopReason.PowerOff: return { kind: "poweroff", status: opts.exitStatus?.() ?? 0 };
      case StopReason.HaltForever: return { kind: "halt" };
      case StopReason.TripleFault: return { kind: "triple-fault" };
      case StopReason.Debug: return { kind: "debug" };
      case StopReason.Halted: {
        // HLT with IF=1: nothing happens until the next device event, or host input. The
        // slice may have programmed a timer, so ask the devices again.
        const t = nowNs(cpu);
        for (const d of devices) d.advance(t);
        if (cpu.intr?.hasInterrupt()) break;
        opts.onHalt?.();
        let wake = Infinity;
        for (const d of devices) wake = Math.min(wake, d.nextEvent(t));
        if (wake === Infinity) return { kind: "idle" };
        if (wake > t) cpu.idleCycles += Math.ceil((wake - t) / NS_PER_CYCLE);
        break;
      }
      default: break;
    }
    return null;
  }
}

/** Run `cpu` with `devices` until power-off, a final halt, a triple fault, or a limit. */
export function clockedRun(cpu: Cpu, devices: TimedDevice[], opts: ClockedRunOptions): RunEnd {
  const hostStart = Date.now();
  const guestStart = nowNs(cpu);
  const steps = new ClockedStep(cpu, devices, opts);
  // --clock realtime sleeps in Atomics.wait: only a host that asks for it needs shared memory.
  const sleeper = opts.realtime ? new Int32Array(new SharedArrayBuffer(4)) : null;
  // The host-time limit is looked at after every slice, and a slice is kept to about a
  // millisecond of host time: it shrinks when the guest runs slowly (self-modifying code,
  // a fault storm), so a limit is never overshot by more than a few milliseconds.
  const sliceCap = opts.slice ?? 1 << 16;
  let maxSlice = Math.min(sliceCap, 1 << 12);
  let sliceStart = hostStart;
  for (;;) {
    const end = steps.step(maxSlice);
    if (end !== null) return end;
    if (sleeper !== null) {
      const ahead = (nowNs(cpu) - guestStart) / 1e6 - (Date.now() - hostStart);
      if (ahead > 2) Atomics.wait(sleeper, 0, 0, Math.min(ahead, 20));
    }
    const host = Date.now();
    if (host > opts.deadline) return { kind: "timeout", instructions: cpu.instructions };
    if (steps.budget === maxSlice) {
      // A full slice: size the next one to about 1 ms of host time.
      const took = host - sliceStart;
      if (took > 2 && maxSlice > 16) maxSlice >>= 1;
      else if (took < 1 && maxSlice < sliceCap) maxSlice <<= 1;
    }
    sliceStart = host;
  }
}
