// The local APIC in xAPIC mode (Intel SDM vol. 3 chapter 10), one per CPU: the
// memory-mapped registers at IA32_APIC_BASE (default 0xFEE00000), task and processor
// priority, the 256-bit IRR/ISR/TMR, EOI, the spurious-interrupt vector register, the local
// vector table, the timer (one-shot, periodic, and TSC-deadline through IA32_TSC_DEADLINE),
// and self-IPIs through the ICR. This machine has one CPU, APIC ID 0.
//
// Time: the timer counts down at the CPU's cycle rate divided by the divide configuration
// (the model's bus clock is its core clock), so it is exact in virtual time like the PIT.
//
// Interrupts reach the CPU through `hasInterrupt`/`acknowledge` (cpu.ts's InterruptSource):
// the highest-priority IRR vector whose class is above the processor priority. LINT0 in
// ExtINT mode is the virtual wire to the 8259s: their INTR is passed through, acknowledged at
// the PIC, never entering IRR/ISR (§10.5.1). The PC routes the CPU's INTR through this APIC
// only once software enables it (SVR bit 8); before that, in PIC mode, the 8259s drive INTR
// directly, as on a PC whose firmware left the APIC alone (docs/apic.md).

import { NS_PER_CYCLE, type TimedDevice } from "../device.js";
import type { InterruptSource } from "../../cpu/cpu.js";

export const APIC_BASE_DEFAULT = 0xfee0_0000;
/** IA32_APIC_BASE bits (SDM vol. 3 §10.4.4): BSP, global enable. */
export const APIC_BASE_BSP = 1 << 8, APIC_BASE_ENABLE = 1 << 11;

/** Register offsets (SDM vol. 3 table 10-1). */
export const enum ApicReg {
  ID = 0x20, VERSION = 0x30, TPR = 0x80, APR = 0x90, PPR = 0xa0, EOI = 0xb0, RRD = 0xc0, LDR = 0xd0, DFR = 0xe0,
  SVR = 0xf0, ISR = 0x100, TMR = 0x180, IRR = 0x200, ESR = 0x280, LVT_CMCI = 0x2f0, ICR_LO = 0x300, ICR_HI = 0x310,
  LVT_TIMER = 0x320, LVT_THERMAL = 0x330, LVT_PERF = 0x340, LVT_LINT0 = 0x350, LVT_LINT1 = 0x360, LVT_ERROR = 0x370,
  TIMER_INITIAL = 0x380, TIMER_CURRENT = 0x390, TIMER_DIVIDE = 0x3e0,
}

const LVT_MASKED = 1 << 16;
const SVR_ENABLE = 1 << 8;
/** LVT timer modes (bits 18:17). */
const TIMER_ONE_SHOT = 0, TIMER_PERIODIC = 1, TIMER_TSC_DEADLINE = 2;
/** The LVT timer's mode field (bits 18:17) for TSC-deadline mode. */
export const APIC_TIMER_TSC_DEADLINE = TIMER_TSC_DEADLINE << 17;
/** Delivery modes (bits 10:8). */
const DM_FIXED = 0, DM_NMI = 4, DM_EXTINT = 7;

/** What the APIC needs from the machine. */
export interface ApicHost {
  /** The current time in ns (virtual). */
  now(): number;
  /** The time-stamp counter now. */
  tsc(): number;
  /** Drive the CPU's INTR input (the result of hasInterrupt changed). */
  setIntr(level: boolean): void;
  /** Raise NMI. */
  nmi(): void;
  /** The register page moved (IA32_APIC_BASE): remap it. */
  moved(base: number): void;
}

export class LocalApic implements InterruptSource, TimedDevice {
  /** IA32_APIC_BASE. */
  baseMsr = APIC_BASE_DEFAULT | APIC_BASE_BSP | APIC_BASE_ENABLE;
  private tpr = 0;
  private ldr = 0;
  private dfr = 0xffff_ffff | 0;
  private svr = 0xff;
  private esr = 0;
  /** Errors detected since the last write to the ESR (a write latches them into it, §10.5.3). */
  private esrPending = 0;
  private icrLo = 0;
  private icrHi = 0;
  /** LVT entries: timer, thermal, perf, LINT0, LINT1, error, CMCI. */
  private readonly lvt = new Int32Array(7).fill(LVT_MASKED);
  private readonly irr = new Int32Array(8);
  private readonly isr = new Int32Array(8);
  private readonly tmr = new Int32Array(8);
  // The timer: the initial count, the divide configuration register, and when (in cycles)
  // the current count started from the initial count (one-shot/periodic), or the
  // IA32_TSC_DEADLINE value (TSC-deadline mode).
  private initialCount = 0;
  private divideReg = 0;
  private countStart = 0;
  private running = false;
  private tscDeadline = 0;
  /** The PIC behind LINT0 (ExtINT), if any. */
  extint: InterruptSource | null = null;
  /** Told of every EOI of a level-triggered vector (the EOI broadcast to the I/O APIC). */
  onLevelEoi: ((vector: number) => void) | null = null;
  /** Bytes of a 32-bit register read or written through byte accesses. */
  private latch = 0;

  constructor(private readonly host: ApicHost) {}

  reset(): void {
    this.baseMsr = APIC_BASE_DEFAULT | APIC_BASE_BSP | APIC_BASE_ENABLE;
    this.tpr = 0; this.ldr = 0; this.dfr = 0xffff_ffff | 0; this.svr = 0xff; this.esr = 0; this.esrPending = 0; this.icrLo = 0; this.icrHi = 0;
    this.lvt.fill(LVT_MASKED);
    this.irr.fill(0); this.isr.fill(0); this.tmr.fill(0);
    this.initialCount = 0; this.divideReg = 0; this.running = false; this.tscDeadline = 0;
  }

  /** Globally enabled (the MSR) and software-enabled (SVR): the APIC delivers interrupts. */
  get active(): boolean {
    return (this.baseMsr & APIC_BASE_ENABLE) !== 0 && (this.svr & SVR_ENABLE) !== 0;
  }

  /** The physical address of the register page. */
  get base(): number { return (this.baseMsr & 0xffff_f000) >>> 0; }

  /** WRMSR IA32_APIC_BASE (reserved bits already checked): relocation, global enable. */
  setBaseMsr(v: number): void {
    const moved = ((v ^ this.baseMsr) & 0xffff_f000) !== 0;
    // Clearing the global enable resets the APIC to its power-up state but the base (§10.4.3).
    if ((v & APIC_BASE_ENABLE) === 0 && (this.baseMsr & APIC_BASE_ENABLE) !== 0) {
      const keep = v;
      this.reset();
      this.baseMsr = keep;
    }
    this.baseMsr = (v & (0xffff_f000 | APIC_BASE_ENABLE)) | APIC_BASE_BSP;
    if (moved) this.host.moved(this.base);
    this.updateIntr();
  }

  // ---- Registers (32-bit, at 16-byte-aligned offsets) ----

  readReg(off: number): number {
    switch (off) {
      case ApicReg.ID: return 0;
      case ApicReg.VERSION: return 0x0005_0014; // xAPIC, 6 LVT entries (max LVT 5)
      case ApicReg.TPR: return this.tpr;
      case ApicReg.APR: return 0;
      case ApicReg.PPR: return this.ppr();
      case ApicReg.LDR: return this.ldr;
      case ApicReg.DFR: return this.dfr;
      case ApicReg.SVR: return this.svr;
      case ApicReg.ESR: return this.esr;
      case ApicReg.ICR_LO: return this.icrLo & ~(1 << 12); // delivery status: idle
      case ApicReg.ICR_HI: return this.icrHi;
      case ApicReg.LVT_TIMER: return this.lvt[0];
      case ApicReg.LVT_THERMAL: return this.lvt[1];
      case ApicReg.LVT_PERF: return this.lvt[2];
      case ApicReg.LVT_LINT0: return this.lvt[3];
      case ApicReg.LVT_LINT1: return this.lvt[4];
      case ApicReg.LVT_ERROR: return this.lvt[5];
      case ApicReg.LVT_CMCI: return this.lvt[6];
      case ApicReg.TIMER_INITIAL: return this.initialCount;
      case ApicReg.TIMER_CURRENT: return this.currentCount();
      case ApicReg.TIMER_DIVIDE: return this.divideReg;
      default:
        if (off >= ApicReg.ISR && off < ApicReg.ISR + 0x80) return this.isr[(off - ApicReg.ISR) >> 4];
        if (off >= ApicReg.TMR && off < ApicReg.TMR + 0x80) return this.tmr[(off - ApicReg.TMR) >> 4];
        if (off >= ApicReg.IRR && off < ApicReg.IRR + 0x80) return this.irr[(off - ApicReg.IRR) >> 4];
        return 0;
    }
  }

  writeReg(off: number, v: number): void {
    switch (off) {
      case ApicReg.TPR: this.tpr = v & 0xff; break;
      case ApicReg.EOI: this.eoi(); break;
      case ApicReg.LDR: this.ldr = v & 0xff00_0000; break;
      case ApicReg.DFR: this.dfr = v | 0x0fff_ffff; break;
      case ApicReg.SVR:
        this.svr = v & 0x13ff;
        // Software disable masks every LVT entry (SDM vol. 3 §10.4.7.2).
        if ((v & SVR_ENABLE) === 0) for (let k = 0; k < this.lvt.length; k++) this.lvt[k] |= LVT_MASKED;
        break;
      case ApicReg.ESR: this.esr = this.esrPending; this.esrPending = 0; break;
      case ApicReg.ICR_HI: this.icrHi = v & 0xff00_0000; break;
      case ApicReg.ICR_LO: this.icrLo = v & 0x000c_ffff; this.sendIpi(); break;
      case ApicReg.LVT_TIMER: this.setLvt(0, v & 0x0007_10ff); break;
      case ApicReg.LVT_THERMAL: this.setLvt(1, v & 0x0001_07ff); break;
      case ApicReg.LVT_PERF: this.setLvt(2, v & 0x0001_07ff); break;
      case ApicReg.LVT_LINT0: this.setLvt(3, v & 0x0001_a7ff); break;
      case ApicReg.LVT_LINT1: this.setLvt(4, v & 0x0001_a7ff); break;
      case ApicReg.LVT_ERROR: this.setLvt(5, v & 0x0001_00ff); break;
      case ApicReg.LVT_CMCI: this.setLvt(6, v & 0x0001_07ff); break;
      case ApicReg.TIMER_INITIAL:
        if (this.timerMode() === TIMER_TSC_DEADLINE) break; // ignored in TSC-deadline mode
        this.initialCount = v >>> 0;
        this.countStart = this.cycles();
        this.running = this.initialCount !== 0;
        break;
      case ApicReg.TIMER_DIVIDE: this.divideReg = v & 0xb; break;
      default: break; // read-only or reserved: writes are ignored
    }
    this.updateIntr();
  }

  private setLvt(k: number, v: number): void {
    // While software-disabled the mask bits stay set.
    if ((this.svr & SVR_ENABLE) === 0) v |= LVT_MASKED;
    const wasMode = this.timerMode();
    this.lvt[k] = v;
    if (k === 0 && this.timerMode() !== wasMode) { this.running = false; this.initialCount = 0; this.tscDeadline = 0; }
  }

  // ---- Priority, acceptance, EOI (SDM vol. 3 §10.8) ----

  /** The highest set vector of a 256-bit register, or -1. */
  private static highest(bits: Int32Array): number {
    for (let w = 7; w >= 0; w--) if (bits[w] !== 0) return w * 32 + 31 - Math.clz32(bits[w]);
    return -1;
  }

  /** PPR: TPR if its class is at least the highest in-service class, else that class. */
  private ppr(): number {
    const isrv = LocalApic.highest(this.isr);
    const isrClass = isrv < 0 ? 0 : isrv & 0xf0;
    return (this.tpr & 0xf0) >= isrClass ? this.tpr : isrClass;
  }

  /** Accept `vector` into IRR (a fixed interrupt from any source: LVT, self-IPI, I/O APIC). */
  acceptInterrupt(vector: number, level = false): void {
    if (vector < 16) { this.esrPending |= 1 << 6; return; } // received illegal vector: ESR bit 6
    this.irr[vector >> 5] |= 1 << (vector & 31);
    if (level) this.tmr[vector >> 5] |= 1 << (vector & 31);
    else this.tmr[vector >> 5] &= ~(1 << (vector & 31));
    this.updateIntr();
  }

  private deliverableVector(): number {
    const v = LocalApic.highest(this.irr);
    if (v < 0 || (v & 0xf0) <= (this.ppr() & 0xf0)) return -1;
    return v;
  }

  private extintPending(): boolean {
    const l0 = this.lvt[3];
    return this.extint !== null && (l0 & LVT_MASKED) === 0 && ((l0 >> 8) & 7) === DM_EXTINT && this.extint.hasInterrupt();
  }

  hasInterrupt(): boolean {
    if (!this.active) return false;
    return this.extintPending() || this.deliverableVector() >= 0;
  }

  /** INTA: an ExtINT comes from the PIC; otherwise IRR → ISR, or the spurious vector. */
  acknowledge(): number {
    if (this.extintPending()) { const v = this.extint!.acknowledge(); this.updateIntr(); return v; }
    const v = this.deliverableVector();
    if (v < 0) { this.updateIntr(); return this.svr & 0xff; }
    this.irr[v >> 5] &= ~(1 << (v & 31));
    this.isr[v >> 5] |= 1 << (v & 31);
    this.updateIntr();
    return v;
  }

  private eoi(): void {
    const v = LocalApic.highest(this.isr);
    if (v < 0) return;
    this.isr[v >> 5] &= ~(1 << (v & 31));
    if ((this.tmr[v >> 5] & (1 << (v & 31))) !== 0) this.onLevelEoi?.(v);
  }

  /** Re-evaluate INTR (after anything that can change it). */
  updateIntr(): void {
    this.host.setIntr(this.hasInterrupt());
  }

  // ---- ICR: this machine has one CPU, so only self-IPIs arrive anywhere ----

  private sendIpi(): void {
    const mode = (this.icrLo >> 8) & 7, vector = this.icrLo & 0xff, shorthand = (this.icrLo >> 18) & 3;
    // Destination: self (01), all including self (10), or physical APIC ID 0 (00, no shorthand).
    const toSelf = shorthand === 1 || shorthand === 2 || (shorthand === 0 && (this.icrLo & (1 << 11)) === 0 && (this.icrHi >>> 24) === 0);
    if (!toSelf) return;
    if (mode === DM_FIXED) this.acceptInterrupt(vector);
    else if (mode === DM_NMI) this.host.nmi();
  }

  // ---- The timer (SDM vol. 3 §10.5.4) ----

  private timerMode(): number { return (this.lvt[0] >> 17) & 3; }
  private divisor(): number {
    const d = ((this.divideReg & 8) >> 1) | (this.divideReg & 3);
    return d === 7 ? 1 : 2 << d;
  }
  private cycles(): number { return Math.floor(this.host.now() / NS_PER_CYCLE); }

  private currentCount(): number {
    if (!this.running || this.timerMode() === TIMER_TSC_DEADLINE) return 0;
    const ticks = Math.floor((this.cycles() - this.countStart) / this.divisor());
    if (this.timerMode() === TIMER_PERIODIC) return this.initialCount - (ticks % this.initialCount);
    return ticks >= this.initialCount ? 0 : this.initialCount - ticks;
  }

  /** The TPR, as CR8 reads and writes it (SDM vol. 3 §10.8.6.1: CR8[3:0] = TPR[7:4]). */
  get taskPriority(): number { return this.tpr; }
  set taskPriority(v: number) { this.tpr = v & 0xff; this.updateIntr(); }

  /** IA32_TSC_DEADLINE (MSR 6E0h): arms the timer in TSC-deadline mode; 0 disarms. */
  get tscDeadlineMsr(): number { return this.tscDeadline; }
  set tscDeadlineMsr(v: number) {
    if (this.timerMode() !== TIMER_TSC_DEADLINE) return; // writes are ignored in other modes
    this.tscDeadline = v;
  }

  private fireTimer(): void {
    if ((this.lvt[0] & LVT_MASKED) === 0) this.acceptInterrupt(this.lvt[0] & 0xff);
  }

  advance(now: number): void {
    const cyc = Math.floor(now / NS_PER_CYCLE);
    const mode = this.timerMode();
    if (mode === TIMER_TSC_DEADLINE) {
      if (this.tscDeadline !== 0 && this.host.tsc() >= this.tscDeadline) { this.tscDeadline = 0; this.fireTimer(); }
      return;
    }
    if (!this.running) return;
    const period = this.initialCount * this.divisor();
    if (cyc - this.countStart < period) return;
    if (mode === TIMER_ONE_SHOT) { this.running = false; this.fireTimer(); return; }
    // Periodic: one interrupt per elapsed period (missed ones collapse into the IRR bit).
    this.countStart += Math.floor((cyc - this.countStart) / period) * period;
    this.fireTimer();
  }

  nextEvent(now: number): number {
    const mode = this.timerMode();
    if (mode === TIMER_TSC_DEADLINE) {
      if (this.tscDeadline === 0) return Infinity;
      return now + Math.max(0, this.tscDeadline - this.host.tsc()) * NS_PER_CYCLE;
    }
    if (!this.running || mode === 3) return Infinity;
    return (this.countStart + this.initialCount * this.divisor()) * NS_PER_CYCLE;
  }

  // ---- MMIO (4 KiB page at the base; 32-bit accesses, bytes latched) ----

  read32(off: number): number { return this.readReg(off & 0xff0); }
  write32(off: number, v: number): void { this.writeReg(off & 0xff0, v); }
  read8(off: number): number {
    if ((off & 3) === 0) this.latch = this.readReg(off & 0xff0);
    return (this.latch >>> ((off & 3) * 8)) & 0xff;
  }
  write8(off: number, v: number): void {
    const sh = (off & 3) * 8;
    this.latch = (this.latch & ~(0xff << sh)) | ((v & 0xff) << sh);
    if ((off & 3) === 3) this.writeReg(off & 0xff0, this.latch);
  }

  save(): LocalApicState {
    return {
      baseMsr: this.baseMsr, tpr: this.tpr, ldr: this.ldr, dfr: this.dfr, svr: this.svr, esr: this.esr,
      esrPending: this.esrPending, icrLo: this.icrLo, icrHi: this.icrHi, lvt: Array.from(this.lvt),
      irr: Array.from(this.irr), isr: Array.from(this.isr), tmr: Array.from(this.tmr), initialCount: this.initialCount,
      divideReg: this.divideReg, countStart: this.countStart, running: this.running, tscDeadline: this.tscDeadline,
      latch: this.latch,
    };
  }

  /** Put a saved state back; the caller remaps the register page (`base`) and drives INTR. */
  restore(s: LocalApicState): void {
    this.baseMsr = s.baseMsr; this.tpr = s.tpr; this.ldr = s.ldr; this.dfr = s.dfr; this.svr = s.svr; this.esr = s.esr;
    this.esrPending = s.esrPending; this.icrLo = s.icrLo; this.icrHi = s.icrHi;
    this.lvt.set(s.lvt); this.irr.set(s.irr); this.isr.set(s.isr); this.tmr.set(s.tmr);
    this.initialCount = s.initialCount; this.divideReg = s.divideReg; this.countStart = s.countStart;
    this.running = s.running; this.tscDeadline = s.tscDeadline; this.latch = s.latch;
  }
}

export interface LocalApicState {
  baseMsr: number; tpr: number; ldr: number; dfr: number; svr: number; esr: number; esrPending: number;
  icrLo: number; icrHi: number; lvt: number[]; irr: number[]; isr: number[]; tmr: number[];
  initialCount: number; divideReg: number; countStart: number; running: boolean; tscDeadline: number; latch: number;
}
