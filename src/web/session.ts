// One guest running for a host that is not a terminal: the browser's worker (and tests).
// The machine's output leaves as events — serial bytes, counter samples, the end of the run
// (DESIGN.md §1, STYLE.md 8) — and the host drives it in steps of a few milliseconds of host
// time, yielding to its own event loop between them (docs/web.md). Virtual time is the
// machine's own, so the guest prints the same bytes here as under `vmm86 run`.

import type { RunEnd } from "../hw/pc/clocked-run.js";
import { NS_PER_CYCLE } from "../hw/dev/device.js";
import type { Pc } from "../hw/pc/pc.js";
import { COUNTER_GROUPS } from "./protocol.js";
import { startGuest, startLabGuest, type GuestLoader, type LabMonitor, type LabRunOptions } from "../lab/guest-runner.js";
import { restorePc, savePc, type GuestState } from "../hw/pc/pc-state.js";


/** What the machine did since the previous sample: rates per virtual millisecond. */
export interface Sample {
  /** Guest virtual time at the sample (ms). */
  virtualMs: number;
  /** Host time the guest ran since the previous sample (ms). */
  hostMs: number;
  /** Guest instructions retired per host second, in millions. */
  mips: number;
  /** Machine cycles spent in the monitor per guest cycle (0 under bare). */
  monitorRatio: number;
  /** Per counter group (COUNTER_GROUPS), events per virtual millisecond. */
  perVirtualMs: Record<string, number>;
}

export type SessionEvent =
  | { type: "serial"; bytes: Uint8Array }
  | { type: "sample"; sample: Sample }
  | { type: "end"; end: RunEnd; summary: string; instructions: number; hostMs: number };

export interface SessionOptions extends LabRunOptions {
  /** Host input is typed live (as on a terminal), not scripted. */
  live?: boolean;
  /** Continue this saved guest instead of booting the image (a snapshot taken here). */
  restore?: GuestState;
}

export class Session {
  readonly pc: Pc | LabMonitor;
  readonly mon: LabMonitor | null;
  ended: RunEnd | null = null;
  /** Host ms spent inside runFor (MIPS is guest instructions over this). */
  hostMsRunning = 0;
  private serial: number[] = [];
  private typed: number[] = [];
  private last = { hostMs: 0, guestInstr: 0, guestCycles: 0, machineCycles: 0, counts: {} as Record<string, number> };

  /** `guest`: a multiboot image (booted with opts.cmdline), or a loader for any other guest. */
  constructor(guest: Uint8Array | GuestLoader, readonly opts: SessionOptions, private readonly emit: (e: SessionEvent) => void) {
    const out = (b: number): void => { this.serial.push(b); };
    const { pc, mon } = guest instanceof Uint8Array ? startLabGuest(guest, opts, out) : startGuest(guest, opts, out);
    this.pc = pc;
    this.mon = mon;
    if (opts.restore !== undefined) {
      if (mon !== null) mon.restoreFrom(opts.restore);
      else restorePc(pc as Pc, opts.restore);
    } else mon?.start();
    const line = this.platform.line;
    line.setLive(opts.live ?? true);
    line.open(this.platform.now());
    // Samples count from here (a restored guest has run before).
    this.last = { hostMs: 0, guestInstr: this.guestInstructions, guestCycles: this.guestCycles, machineCycles: pc.cpu.cycles, counts: this.counts() };
  }

  private get platform() { return this.mon !== null ? this.mon.platform : (this.pc as Pc).platform; }

  get guestInstructions(): number { return this.mon !== null ? this.mon.guestInstructions : this.pc.cpu.instructions; }
  get guestCycles(): number { return this.mon !== null ? this.mon.guestCycles : this.pc.cpu.cycles; }

  /** Bytes for COM1's receiver (a key typed in the page). */
  type(bytes: Uint8Array): void {
    for (const b of bytes) this.typed.push(b);
  }

  /**
   * Run for about `ms` of host time: the machine's run loop (ClockedStep slices of ~1 ms)
   * until then, or until the run ends. Returns how it ended, "idle" when only input can
   * wake the guest, or null when it can go on.
   */
  runFor(ms: number): RunEnd | null {
    if (this.ended !== null) return this.ended;
    const t0 = performance.now();
    const mon = this.mon;
    const r = this.pc.run({
      deadline: Date.now() + ms,
      maxInstructions: this.opts.maxInstructions,
      poll: () => this.takeInput(),
      until: mon !== null && this.capturing ? () => mon.captured !== null : undefined,
    });
    this.hostMsRunning += performance.now() - t0;
    this.flush();
    if (r.kind === "idle") return this.typed.length > 0 ? null : r;
    if (r.kind === "timeout" && (this.opts.maxInstructions === undefined || this.pc.cpu.instructions < this.opts.maxInstructions)) return null;
    this.ended = r;
    this.emit({ type: "end", end: r, summary: this.summary(r), instructions: this.guestInstructions, hostMs: this.hostMsRunning });
    return r;
  }

  private capturing = false;

  /**
   * Save the guest's state. The bare PC is saved at once (between steps is an instruction
   * boundary); the monitor is asked to leave the guest at its next exit, so this returns
   * null until a later step has captured it.
   */
  snapshot(): GuestState | null {
    if (this.mon === null) return savePc(this.pc as Pc);
    if (this.mon.captured !== null) { this.capturing = false; return this.mon.captured; }
    if (!this.capturing) { this.capturing = true; this.mon.requestCapture(); }
    return null;
  }

  /** Counter rates since the previous sample. */
  sample(): Sample {
    const counts = this.counts();
    const guestInstr = this.guestInstructions, guestCycles = this.guestCycles, machineCycles = this.pc.cpu.cycles;
    const dGuest = guestCycles - this.last.guestCycles;
    const dVirtualMs = dGuest * NS_PER_CYCLE / 1e6;
    const dHost = this.hostMsRunning - this.last.hostMs;
    const perVirtualMs: Record<string, number> = {};
    for (const g of COUNTER_GROUPS) perVirtualMs[g] = dVirtualMs > 0 ? ((counts[g] ?? 0) - (this.last.counts[g] ?? 0)) / dVirtualMs : 0;
    const dMachine = machineCycles - this.last.machineCycles;
    const s: Sample = {
      virtualMs: guestCycles * NS_PER_CYCLE / 1e6,
      hostMs: dHost,
      mips: dHost > 0 ? (guestInstr - this.last.guestInstr) / dHost / 1e3 : 0,
      monitorRatio: this.mon !== null && dGuest > 0 ? Math.max(0, dMachine - dGuest) / dGuest : 0,
      perVirtualMs,
    };
    this.last = { hostMs: this.hostMsRunning, guestInstr, guestCycles, machineCycles, counts };
    this.emit({ type: "sample", sample: s });
    return s;
  }

  private counts(): Record<string, number> {
    return this.mon !== null ? this.mon.counters.groups() : {};
  }

  private takeInput(): boolean {
    if (this.typed.length === 0) return false;
    this.platform.line.push(Uint8Array.from(this.typed), this.platform.now());
    this.typed.length = 0;
    return true;
  }

  private flush(): void {
    if (this.serial.length === 0) return;
    this.emit({ type: "serial", bytes: Uint8Array.from(this.serial) });
    this.serial.length = 0;
  }

  private summary(r: RunEnd): string {
    const n = this.guestInstructions;
    // A restored guest's count includes what it ran before the snapshot: the MIPS is approximate then.
    const mips = this.hostMsRunning > 0 ? (n / this.hostMsRunning / 1e3).toFixed(1) : "-";
    const how = r.kind === "poweroff" ? `powered off with status ${r.status}` : r.kind === "timeout" ? "stopped at its instruction limit" : r.kind;
    return `guest ${how} after ${n} instructions, ${(this.guestCycles * NS_PER_CYCLE / 1e9).toFixed(3)} s of virtual time, ${mips} MIPS`;
  }
}
