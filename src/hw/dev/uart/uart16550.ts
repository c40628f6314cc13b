// National Semiconductor / TI PC16550D UART with FIFOs (datasheet SNLS378, tables 2–4):
//
//   offset  DLAB=0 read / write      DLAB=1
//   0       RBR / THR                DLL
//   1       IER (bits 3–0)           DLM
//   2       IIR / FCR
//   3       LCR   4 MCR   5 LSR   6 MSR   7 SCR
//
//   IIR (table 4)  bits 7–6 = 11 when FIFOs are enabled; bits 3–0 by priority:
//     0110 receiver line status (OE/PE/FE/BI; cleared by reading LSR)
//     0100 received data available (≥ trigger level; cleared below it)
//     1100 character timeout (FIFO holds data, no FIFO activity for 4 character times)
//     0010 THR empty (cleared by reading IIR when it is the source, or writing THR)
//     0000 modem status (cleared by reading MSR)
//     0001 none
//
// Transmission is immediate: a byte written to THR leaves through `onTransmit` at once, so THR
// and the transmitter are always empty (LSR THRE and TEMT stay 1) and a THRE interrupt becomes
// pending again after every write. Pacing the console at 9600 baud in virtual time would cost
// Linux a second of virtual time per kilobyte of boot log for no observable benefit.
// Reception: `receive()` queues host bytes that move into the receive FIFO as it has room,
// so the host never overruns the guest; overruns (LSR OE) happen in loopback mode, where the
// transmitter feeds the receiver at the speed of THR writes. The character timeout uses the
// programmed baud rate and frame in virtual time.
//
// PC wiring: the INTR output reaches the ISA IRQ line only while MCR OUT2 is set (the PC's
// serial card gates it with OUT2) and not in loopback, where OUT2 is internal. With no cable,
// the modem inputs read as a connected terminal: CTS, DSR and DCD asserted, RI not.

import type { IrqLine, PortDevice, Snapshot, TimedDevice } from "../device.js";
import { DOUBLE_FIELD } from "../../double-field.js";

/** The 1.8432 MHz crystal: baud = 115200 / divisor. */
export const UART_CLOCK_HZ = 1_843_200;

export const LSR_DR = 0x01, LSR_OE = 0x02, LSR_PE = 0x04, LSR_FE = 0x08, LSR_BI = 0x10;
export const LSR_THRE = 0x20, LSR_TEMT = 0x40;
export const IIR_NONE = 0x01, IIR_MSI = 0x00, IIR_THRI = 0x02, IIR_RDI = 0x04, IIR_RLSI = 0x06;
export const IIR_CTI = 0x0c, IIR_FIFO = 0xc0;
export const IER_RDI = 0x01, IER_THRI = 0x02, IER_RLSI = 0x04, IER_MSI = 0x08;
export const MCR_DTR = 0x01, MCR_RTS = 0x02, MCR_OUT1 = 0x04, MCR_OUT2 = 0x08, MCR_LOOP = 0x10;
const MSR_CTS = 0x10, MSR_DSR = 0x20, MSR_RI = 0x40, MSR_DCD = 0x80;

const FIFO_SIZE = 16;
const TRIGGER = [1, 4, 8, 14];

export interface Uart16550State {
  rx: number[]; input: number[]; fifo: boolean; trigger: number; ier: number; lcr: number;
  mcr: number; lsrErrors: number; msr: number; scr: number; divisor: number; thre: boolean;
  lastRx: number; irq: boolean;
}

export class Uart16550 implements PortDevice, TimedDevice, Snapshot<Uart16550State> {
  private rx: number[] = [];
  /** Host bytes not yet in the receive FIFO. */
  private input: number[] = [];
  private fifo = false;
  private trigger = 1;
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private lsrErrors = 0;
  /** MSR: line states in bits 7–4, change (delta) bits in 3–0. */
  private msr = MSR_CTS | MSR_DSR | MSR_DCD;
  private scr = 0;
  private divisor = 12; // 9600 baud until programmed
  /** A THR-empty interrupt is pending. */
  private thre = false;
  /** Time (ns) of the last receive-FIFO activity (for the character timeout): a double from the start (src/hw/double-field.ts). */
  private lastRx = DOUBLE_FIELD;
  private irqLevel = false;

  /** `irq`: the ISA IRQ line (4 for COM1, 3 for COM2); `onTransmit`: each byte sent. */
  constructor(private readonly irq: IrqLine, private readonly onTransmit: (byte: number) => void) { this.lastRx = 0; }

  /** Bytes arriving on the serial input at time `now`. */
  receive(bytes: ArrayLike<number>, now: number): void {
    for (let i = 0; i < bytes.length; i++) this.input.push(bytes[i] & 0xff);
    this.fill(now);
    this.update(now);
  }

  /** Host bytes waiting for room in the receive FIFO (the line's flow control looks here). */
  get backlog(): number {
    return this.input.length;
  }

  /** The baud rate currently programmed. */
  get baud(): number {
    return UART_CLOCK_HZ / 16 / (this.divisor || 0x10000);
  }

  /** One character frame (start, data, parity, stop bits) in ns. */
  characterTime(): number {
    const data = 5 + (this.lcr & 3);
    const parity = this.lcr & 0x08 ? 1 : 0;
    const stop = this.lcr & 0x04 ? (data === 5 ? 1.5 : 2) : 1;
    return ((1 + data + parity + stop) * 1e9) / this.baud;
  }

  private get dlab(): boolean {
    return (this.lcr & 0x80) !== 0;
  }

  private get loop(): boolean {
    return (this.mcr & MCR_LOOP) !== 0;
  }

  private fill(now: number): void {
    if (this.loop) return; // the serial input is disconnected in loopback
    const cap = this.fifo ? FIFO_SIZE : 1;
    let moved = false;
    while (this.input.length && this.rx.length < cap) {
      this.rx.push(this.input.shift()!);
      moved = true;
    }
    if (moved) this.lastRx = now;
  }

  /** A character entering the receiver from the wire or the loopback path. */
  private rxChar(byte: number, now: number): void {
    const cap = this.fifo ? FIFO_SIZE : 1;
    if (this.rx.length >= cap) {
      // Overrun: in FIFO mode the new character is lost; without FIFOs it replaces RBR.
      this.lsrErrors |= LSR_OE;
      if (!this.fifo) this.rx[0] = byte;
    } else {
      this.rx.push(byte);
    }
    this.lastRx = now;
  }

  private timedOut(now: number): boolean {
    return this.fifo && this.rx.length > 0 && now - this.lastRx >= 4 * this.characterTime();
  }

  /** The interrupt identification (IIR bits 3–0) at time `now`. */
  private identify(now: number): number {
    if (this.ier & IER_RLSI && this.lsrErrors) return IIR_RLSI;
    if (this.ier & IER_RDI) {
      if (this.rx.length >= (this.fifo ? this.trigger : 1)) return IIR_RDI;
      if (this.timedOut(now)) return IIR_CTI;
    }
    if (this.ier & IER_THRI && this.thre) return IIR_THRI;
    if (this.ier & IER_MSI && this.msr & 0x0f) return IIR_MSI;
    return IIR_NONE;
  }

  private update(now: number): void {
    const level = (this.mcr & (MCR_OUT2 | MCR_LOOP)) === MCR_OUT2 && this.identify(now) !== IIR_NONE;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq(level);
    }
  }

  /** The INTR output of the chip itself (before the PC's OUT2 gate). */
  interruptPending(now: number): boolean {
    return this.identify(now) !== IIR_NONE;
  }

  private lsr(): number {
    return (this.rx.length ? LSR_DR : 0) | this.lsrErrors | LSR_THRE | LSR_TEMT;
  }

  /** MSR bits 7–4 as the inputs now are (loopback: MCR outputs fed back, table 2 note). */
  private modemInputs(): number {
    if (!this.loop) return MSR_CTS | MSR_DSR | MSR_DCD;
    return (this.mcr & MCR_RTS ? MSR_CTS : 0) | (this.mcr & MCR_DTR ? MSR_DSR : 0) |
      (this.mcr & MCR_OUT1 ? MSR_RI : 0) | (this.mcr & MCR_OUT2 ? MSR_DCD : 0);
  }

  private updateModem(): void {
    const now = this.modemInputs(), old = this.msr & 0xf0, ch = now ^ old;
    let delta = this.msr & 0x0f;
    if (ch & MSR_CTS) delta |= 0x01;
    if (ch & MSR_DSR) delta |= 0x02;
    if (old & MSR_RI && !(now & MSR_RI)) delta |= 0x04; // TERI: trailing edge of RI
    if (ch & MSR_DCD) delta |= 0x08;
    this.msr = now | delta;
  }

  read(offset: number, now: number): number {
    this.fill(now);
    let v: number;
    switch (offset & 7) {
      case 0:
        if (this.dlab) { v = this.divisor & 0xff; break; }
        v = this.rx.length ? this.rx.shift()! : 0;
        this.lastRx = now;
        this.fill(now);
        break;
      case 1: v = this.dlab ? this.divisor >> 8 : this.ier; break;
      case 2: {
        const id = this.identify(now);
        if (id === IIR_THRI) this.thre = false;
        v = id | (this.fifo ? IIR_FIFO : 0);
        break;
      }
      case 3: v = this.lcr; break;
      case 4: v = this.mcr; break;
      case 5: v = this.lsr(); this.lsrErrors = 0; break;
      case 6: v = this.msr; this.msr &= 0xf0; break;
      default: v = this.scr; break;
    }
    this.update(now);
    return v;
  }

  write(offset: number, value: number, now: number): void {
    value &= 0xff;
    switch (offset & 7) {
      case 0:
        if (this.dlab) { this.divisor = (this.divisor & 0xff00) | value; break; }
        if (this.loop) this.rxChar(value, now);
        else this.onTransmit(value);
        this.thre = true; // the byte left THR at once: THR empty again
        break;
      case 1:
        if (this.dlab) { this.divisor = (this.divisor & 0xff) | (value << 8); break; }
        // Enabling the THRE interrupt while THR is empty raises it (16550D IER note).
        if (value & IER_THRI && !(this.ier & IER_THRI)) this.thre = true;
        this.ier = value & 0x0f;
        break;
      case 2: {
        const enable = (value & 1) !== 0;
        if (enable !== this.fifo) this.rx = [];
        this.fifo = enable;
        if (enable) {
          if (value & 0x02) this.rx = [];
          this.trigger = TRIGGER[value >> 6];
        }
        this.lastRx = now;
        this.fill(now);
        break;
      }
      case 3: this.lcr = value; break;
      case 4:
        this.mcr = value & 0x1f;
        this.updateModem();
        this.fill(now);
        break;
      case 5: break; // LSR is read-only (factory test)
      case 6: break;
      default: this.scr = value; break;
    }
    this.update(now);
  }

  advance(now: number): void {
    this.update(now);
  }

  nextEvent(now: number): number {
    if (!this.fifo || !this.rx.length || !(this.ier & IER_RDI) || this.timedOut(now)) return Infinity;
    return Math.ceil(this.lastRx + 4 * this.characterTime());
  }

  save(): Uart16550State {
    return {
      rx: [...this.rx], input: [...this.input], fifo: this.fifo, trigger: this.trigger, ier: this.ier,
      lcr: this.lcr, mcr: this.mcr, lsrErrors: this.lsrErrors, msr: this.msr, scr: this.scr,
      divisor: this.divisor, thre: this.thre, lastRx: this.lastRx, irq: this.irqLevel,
    };
  }

  restore(s: Uart16550State): void {
    this.rx = [...s.rx];
    this.input = [...s.input];
    this.fifo = s.fifo; this.trigger = s.trigger; this.ier = s.ier; this.lcr = s.lcr; this.mcr = s.mcr;
    this.lsrErrors = s.lsrErrors; this.msr = s.msr; this.scr = s.scr; this.divisor = s.divisor;
    this.thre = s.thre; this.lastRx = s.lastRx; this.irqLevel = s.irq;
  }
}
