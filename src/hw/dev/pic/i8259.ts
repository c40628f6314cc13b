// One Intel 8259A programmable interrupt controller (Intel 8259A datasheet, order 231468).
//
//   ICW1 (A0=0, D4=1)  D3 LTIM (level)  D1 SNGL  D0 IC4
//   ICW2 (A0=1)        T7–T3 vector base
//   ICW3 (A0=1)        master: slave-present bits; slave: its ID
//   ICW4 (A0=1)        D4 SFNM  D3 BUF  D2 M/S  D1 AEOI  D0 µPM
//   OCW1 (A0=1)        interrupt mask register
//   OCW2 (A0=0, D4–3=00)  R SL EOI  L2–L0   (table 1, "Operation Command Words")
//   OCW3 (A0=0, D4–3=01)  ESMM SMM  P  RR RIS
//
// Requests: in level mode (LTIM=1) IRR follows the input. In edge mode a low-to-high
// transition latches IRR and the request stays latched until acknowledged even if the input
// falls again (a deliberate deviation shared with QEMU and Bochs: device models may pulse
// their lines). A request that disappears before INTA (level input dropped, or masked)
// yields the default IR7 vector without setting ISR: the spurious interrupt.

import type { Snapshot } from "../device.js";

export interface I8259State {
  irr: number; isr: number; imr: number; lines: number;
  vectorBase: number; icw3: number; ltim: boolean; single: boolean; needIcw4: boolean;
  aeoi: boolean; sfnm: boolean; autoRotate: boolean; lowest: number;
  specialMask: boolean; readIsr: boolean; poll: boolean; initStep: number;
}

export class I8259 implements Snapshot<I8259State> {
  /** `slaveRole`: this chip is cascaded into a master (its ICW3 is an ID, not a slave map). */
  constructor(readonly slaveRole = false) {}

  irr = 0;
  isr = 0;
  imr = 0;
  /** Current level of each IR input. */
  private lines = 0;
  private vectorBase = 0;
  private icw3 = 0;
  private ltim = false;
  private single = false;
  private needIcw4 = false;
  private aeoi = false;
  private sfnm = false;
  private autoRotate = false;
  /** The IR with the lowest priority (7 after initialization: fixed priority 0 > 1 > … > 7). */
  private lowest = 7;
  private specialMask = false;
  private readIsr = false;
  private poll = false;
  /** 0: ready (OCWs); 2, 3, 4: expecting that ICW next. */
  private initStep = 0;

  /** Called whenever INT may have changed (the dual PIC uses it for the cascade). */
  onChange: (() => void) | null = null;

  /** Drive IR input `n` (0–7) to `level`. */
  setIrq(n: number, level: boolean): void {
    const m = 1 << n;
    if (level) {
      if (this.ltim || !(this.lines & m)) this.irr |= m;
      this.lines |= m;
    } else {
      if (this.ltim) this.irr &= ~m;
      this.lines &= ~m;
    }
    this.onChange?.();
  }

  /** Priority rank of IR n: 0 is the highest. */
  private rank(n: number): number {
    return (n - this.lowest - 1) & 7;
  }

  /** The highest-priority IR set in `bits`, or -1. */
  private highest(bits: number): number {
    if (!bits) return -1;
    for (let r = 0; r < 8; r++) {
      const n = (this.lowest + 1 + r) & 7;
      if (bits & (1 << n)) return n;
    }
    return -1;
  }

  /** The IR that INT is being asserted for, or -1 (datasheet "Interrupt Sequence"). */
  pending(): number {
    if ((this.irr & ~this.imr) === 0) return -1; // the common case, checked often
    const req = this.highest(this.irr & ~this.imr);
    if (req < 0) return -1;
    let inService = this.isr;
    // Special mask mode: masked levels in service do not inhibit lower ones.
    if (this.specialMask) inService &= ~this.imr;
    // Special fully nested mode (master): the slave's own IR may interrupt its service.
    if (this.sfnm && !this.slaveRole) inService &= ~this.icw3;
    const svc = this.highest(inService);
    if (svc >= 0 && this.rank(svc) <= this.rank(req)) return -1;
    return req;
  }

  /** The INT output. */
  get int(): boolean {
    return this.pending() >= 0;
  }

  /** True if IR n of this (master) chip has a slave attached (ICW3). */
  hasSlaveOn(n: number): boolean {
    return !this.single && !this.slaveRole && (this.icw3 & (1 << n)) !== 0;
  }

  /**
   * First INTA pulse: pick the request, set ISR (unless AEOI), clear IRR. Returns the IR
   * number, or 7 with `spurious` set when no request survived (no ISR bit set then).
   */
  acknowledgeIrq(): { irq: number; spurious: boolean } {
    const irq = this.pending();
    if (irq < 0) return { irq: 7, spurious: true };
    const m = 1 << irq;
    if (!this.ltim) this.irr &= ~m;
    else if (!(this.lines & m)) this.irr &= ~m;
    if (this.aeoi) {
      if (this.autoRotate) this.lowest = irq;
    } else {
      this.isr |= m;
    }
    this.onChange?.();
    return { irq, spurious: false };
  }

  /** The vector the second INTA pulse puts on the bus for IR `irq`. */
  vector(irq: number): number {
    return (this.vectorBase & 0xf8) | irq;
  }

  /** A0 = `offset` (port 0x20/0xA0 is 0, 0x21/0xA1 is 1). */
  read(offset: number): number {
    if (this.poll) {
      // Poll command: the read is the interrupt acknowledge (datasheet "The Poll Command").
      this.poll = false;
      const irq = this.pending();
      if (irq < 0) return 0;
      this.acknowledgeIrq();
      return 0x80 | irq;
    }
    if (offset & 1) return this.imr;
    return this.readIsr ? this.isr : this.irr;
  }

  write(offset: number, value: number): void {
    value &= 0xff;
    if (!(offset & 1)) {
      if (value & 0x10) this.icw1(value);
      else if (value & 0x08) this.ocw3(value);
      else this.ocw2(value);
    } else {
      switch (this.initStep) {
        case 2:
          this.vectorBase = value & 0xf8;
          this.initStep = this.single ? (this.needIcw4 ? 4 : 0) : 3;
          break;
        case 3:
          this.icw3 = value;
          this.initStep = this.needIcw4 ? 4 : 0;
          break;
        case 4:
          this.aeoi = (value & 0x02) !== 0;
          this.sfnm = (value & 0x10) !== 0;
          this.initStep = 0;
          break;
        default:
          this.imr = value;
      }
    }
    this.onChange?.();
  }

  private icw1(value: number): void {
    // Datasheet ICW1: edge sense reset, IMR cleared, IR7 lowest, special mask cleared,
    // status read set to IRR, and ICW4 functions zero if IC4 = 0.
    this.ltim = (value & 0x08) !== 0;
    this.single = (value & 0x02) !== 0;
    this.needIcw4 = (value & 0x01) !== 0;
    this.imr = 0;
    this.isr = 0;
    this.irr = this.ltim ? this.lines : 0;
    this.lowest = 7;
    this.specialMask = false;
    this.readIsr = false;
    this.poll = false;
    this.aeoi = false;
    this.sfnm = false;
    this.autoRotate = false;
    this.initStep = 2;
  }

  private ocw2(value: number): void {
    const l = value & 7;
    switch (value >> 5) {
      case 0b001: { // non-specific EOI
        const n = this.highest(this.isr);
        if (n >= 0) this.isr &= ~(1 << n);
        break;
      }
      case 0b011: // specific EOI
        this.isr &= ~(1 << l);
        break;
      case 0b101: { // rotate on non-specific EOI
        const n = this.highest(this.isr);
        if (n >= 0) {
          this.isr &= ~(1 << n);
          this.lowest = n;
        }
        break;
      }
      case 0b100: this.autoRotate = true; break; // rotate in AEOI mode (set)
      case 0b000: this.autoRotate = false; break; // rotate in AEOI mode (clear)
      case 0b111: // rotate on specific EOI
        this.isr &= ~(1 << l);
        this.lowest = l;
        break;
      case 0b110: this.lowest = l; break; // set priority
      default: break; // 010: no operation
    }
  }

  private ocw3(value: number): void {
    if (value & 0x40) this.specialMask = (value & 0x20) !== 0;
    if (value & 0x02) this.readIsr = (value & 0x01) !== 0;
    if (value & 0x04) this.poll = true;
  }

  save(): I8259State {
    return {
      irr: this.irr, isr: this.isr, imr: this.imr, lines: this.lines, vectorBase: this.vectorBase,
      icw3: this.icw3, ltim: this.ltim, single: this.single, needIcw4: this.needIcw4, aeoi: this.aeoi,
      sfnm: this.sfnm, autoRotate: this.autoRotate, lowest: this.lowest, specialMask: this.specialMask,
      readIsr: this.readIsr, poll: this.poll, initStep: this.initStep,
    };
  }

  restore(s: I8259State): void {
    Object.assign(this, s);
  }
}
