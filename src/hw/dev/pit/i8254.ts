// Intel 8254 programmable interval timer (datasheet order 231164): three 16-bit down counters
// clocked at 1.193182 MHz, ports 0x40–0x43 (offset 0–2: counters, 3: control word).
//
//   control word  SC1 SC0 | RW1 RW0 | M2 M1 M0 | BCD      (figure 7)
//     SC = 11: read-back  ~COUNT ~STATUS CNT2 CNT1 CNT0 0  (figure 9)
//     RW = 00: counter latch command
//   status byte   OUTPUT NULLCOUNT RW1 RW0 M2 M1 M0 BCD      (figure 10)
//
// The counters are not stepped clock by clock: each one keeps the CLK pulse at which its
// counting element (CE) was last loaded and computes CE and OUT for any later pulse. The input
// clock is derived from virtual time: pulse n happens at n / 1.193182 MHz. A count written
// between pulses w and w+1 is loaded into CE on pulse w+1 ("the Counter will be loaded on the
// next CLK pulse"), so in mode 0 OUT rises N+1 pulses after the write, as the datasheet says.
//
// PC wiring: counter 0's OUT drives IRQ 0 (an IrqLine), counter 1 is the old DRAM refresh
// (its OUT goes nowhere), counter 2's GATE and OUT go through port 0x61 (setGate/out).
// Gates 0 and 1 are tied high.
//
// Simplification: in modes 2 and 3 a count written while counting takes effect at the end of
// the current period (the datasheet allows "end of current half-cycle" in mode 3).

import type { IrqLine, Snapshot, TimedDevice } from "../device.js";
import { DOUBLE_FIELD } from "../../double-field.js";

/** The PIT input clock, Hz. */
export const PIT_HZ = 1_193_182;

/** The CLK pulse number at or before time `ns` (exact for any ns below 2^53). */
export function pitTick(ns: number): number {
  const s = Math.floor(ns / 1e9);
  return s * PIT_HZ + Math.floor(((ns - s * 1e9) * PIT_HZ) / 1e9);
}

/** The earliest time (ns) whose pitTick() is `tick`. */
export function pitTickTime(tick: number): number {
  const q = Math.floor(tick / PIT_HZ);
  const r = tick - q * PIT_HZ;
  let ns = q * 1e9 + Math.ceil((r * 1e9) / PIT_HZ);
  while (pitTick(ns) < tick) ns++;
  while (ns > 0 && pitTick(ns - 1) >= tick) ns--;
  return ns;
}

export interface CounterState {
  mode: number; rw: number; bcd: boolean;
  cr: number; crValid: boolean; writeLow: boolean; writeHalf: number;
  readHigh: boolean; latched: number[]; statusLatched: number;
  counting: boolean; start: number; n: number; gate: boolean; pausedAt: number;
  nextN: number; nextAt: number; nullUntil: number; modeSetOut: boolean;
}

/** One counter. Times (`t`) are CLK pulse numbers. */
class Counter {
  mode = 0;
  rw = 3;
  bcd = false;
  /** Count register: the value written (binary; 0 means the maximum count). */
  cr = 0;
  crValid = false;
  /** RW=11: the next write is the low byte. */
  writeLow = true;
  writeHalf = 0;
  readHigh = false;
  /** Latched output bytes still to be read (counter latch / read-back), status first. */
  latched: number[] = [];
  statusLatched = -1;
  /** CE is counting from `n`, loaded at pulse `start`. */
  counting = false;
  start = 0;
  n = 0;
  gate = true;
  /** Modes 0/4: pulse at which GATE fell (counting paused), or -1. */
  pausedAt = -1;
  /** Modes 2/3: a new count waiting for the end of the period. */
  nextN = 0;
  nextAt = -1;
  /**
   * NULL COUNT is set until this pulse (the CR → CE load); Infinity from a control word
   * until a count is written. A double from the start (src/hw/double-field.ts); the constructor stores -1.
   */
  nullUntil = DOUBLE_FIELD;
  constructor() { this.nullUntil = -1; }
  /** OUT right after the control word and before counting (low in mode 0 only). */
  modeSetOut = true;

  private get modulus(): number {
    return this.bcd ? 10000 : 0x10000;
  }

  private fullCount(v: number): number {
    return v === 0 ? this.modulus : v;
  }

  /** Apply a pending mode-2/3 reload that falls at or before pulse t. */
  normalize(t: number): void {
    if (this.nextAt >= 0 && t >= this.nextAt) {
      this.start = this.nextAt;
      this.n = this.nextN;
      this.nextAt = -1;
    }
  }

  /** Pulses CE has counted by pulse t (t ≥ start). */
  private elapsed(t: number): number {
    return (this.pausedAt >= 0 ? this.pausedAt : t) - this.start;
  }

  /** OUT at pulse t. */
  out(t: number): boolean {
    this.normalize(t);
    if (!this.counting || t < this.start) return this.modeSetOut;
    const d = this.elapsed(t);
    const n = this.n;
    switch (this.mode) {
      case 0: case 1: return d >= n;
      case 4: case 5: return d !== n;
      case 2: return !this.gate || n < 2 || d % n !== n - 1;
      case 3: return !this.gate || n < 2 || d % n < Math.ceil(n / 2);
    }
    return true;
  }

  /** The first pulse after t at which OUT changes, or Infinity. */
  nextChange(t: number): number {
    this.normalize(t);
    if (!this.counting) return Infinity;
    if (t < this.start) {
      if (this.out(this.start) !== this.modeSetOut) return this.start;
      t = this.start;
    }
    if (this.pausedAt >= 0) return Infinity;
    const d = t - this.start;
    const n = this.n;
    switch (this.mode) {
      case 0: case 1: return d < n ? this.start + n : Infinity;
      case 4: case 5: return d < n ? this.start + n : d === n ? this.start + n + 1 : Infinity;
      case 2: case 3: {
        if (!this.gate || n < 2) return Infinity;
        const p = d % n, base = this.start + d - p;
        const lowAt = this.mode === 2 ? n - 1 : Math.ceil(n / 2);
        return p < lowAt ? base + lowAt : base + n;
      }
    }
    return Infinity;
  }

  /** CE at pulse t (binary). */
  count(t: number): number {
    this.normalize(t);
    if (!this.counting || t < this.start) return this.cr & 0xffff;
    const d = this.elapsed(t);
    const n = this.n, m = this.modulus;
    switch (this.mode) {
      case 2: return n - (d % n);
      case 3: {
        // CE counts down by two; an odd count starts from N-1 in the high half.
        const h = Math.ceil(n / 2), p = d % n;
        const v = p < h ? (n & ~1) - 2 * p : (n & ~1) - 2 * (p - h);
        return v <= 0 ? n & ~1 : v;
      }
      default: return (((n - d) % m) + m) % m;
    }
  }

  private encode(v: number): number {
    if (!this.bcd) return v & 0xffff;
    v %= 10000;
    return (v % 10) | (Math.floor(v / 10) % 10) << 4 | (Math.floor(v / 100) % 10) << 8 | Math.floor(v / 1000) << 12;
  }

  private decode(v: number): number {
    if (!this.bcd) return v;
    return (v & 0xf) + ((v >> 4) & 0xf) * 10 + ((v >> 8) & 0xf) * 100 + ((v >> 12) & 0xf) * 1000;
  }

  controlWord(value: number, t: number): void {
    this.rw = (value >> 4) & 3;
    this.mode = (value >> 1) & 7;
    if (this.mode > 5) this.mode &= 3; // X10 = 2, X11 = 3
    this.bcd = (value & 1) !== 0;
    this.counting = false;
    this.crValid = false;
    this.writeLow = true;
    this.readHigh = false;
    this.latched = [];
    this.statusLatched = -1;
    this.pausedAt = -1;
    this.nextAt = -1;
    this.modeSetOut = this.mode !== 0;
    this.nullUntil = Infinity;
    void t;
  }

  latchCount(t: number): void {
    if (this.latched.length) return; // a second latch before reading is ignored
    const v = this.encode(this.count(t));
    if (this.rw === 1) this.latched = [v & 0xff];
    else if (this.rw === 2) this.latched = [v >> 8];
    else this.latched = [v & 0xff, v >> 8];
  }

  latchStatus(t: number): void {
    if (this.statusLatched >= 0) return;
    this.statusLatched = (this.out(t) ? 0x80 : 0) | (t < this.nullUntil ? 0x40 : 0) |
      (this.rw << 4) | (this.mode << 1) | (this.bcd ? 1 : 0);
  }

  read(t: number): number {
    if (this.statusLatched >= 0) {
      const s = this.statusLatched;
      this.statusLatched = -1;
      return s;
    }
    if (this.latched.length) return this.latched.shift()!;
    const v = this.encode(this.count(t));
    switch (this.rw) {
      case 1: return v & 0xff;
      case 2: return v >> 8;
      default:
        this.readHigh = !this.readHigh;
        return this.readHigh ? v & 0xff : v >> 8;
    }
  }

  write(value: number, t: number): void {
    let v: number;
    if (this.rw === 1) v = value;
    else if (this.rw === 2) v = value << 8;
    else if (this.writeLow) {
      this.writeLow = false;
      this.writeHalf = value;
      // Mode 0: writing the first byte stops counting and sets OUT low at once.
      if (this.mode === 0) {
        this.counting = false;
        this.modeSetOut = false;
      }
      return;
    } else {
      this.writeLow = true;
      v = this.writeHalf | (value << 8);
    }
    this.cr = this.decode(v);
    this.crValid = true;
    const n = this.fullCount(this.cr);
    switch (this.mode) {
      case 0: case 4:
        this.load(n, t + 1);
        break;
      case 1: case 5:
        // Loaded on the next gate trigger; a retrigger uses the new count.
        this.nullUntil = Infinity;
        break;
      case 2: case 3:
        if (this.counting && this.gate && t >= this.start) {
          const d = t + 1 - this.start;
          this.nextN = n;
          this.nextAt = this.start + Math.ceil(d / this.n) * this.n;
          this.nullUntil = this.nextAt;
        } else if (this.gate) {
          this.load(n, t + 1);
        } else {
          this.n = n;
          this.nullUntil = Infinity;
        }
        break;
    }
  }

  private load(n: number, at: number): void {
    // Until the load pulse OUT keeps its present level (mode 0 drops it at the write).
    const prev = this.mode === 0 ? false : !this.counting || this.out(at - 1);
    this.n = n;
    this.start = at;
    this.counting = true;
    this.pausedAt = -1;
    this.nextAt = -1;
    this.nullUntil = at;
    this.modeSetOut = prev;
  }

  setGate(level: boolean, t: number): void {
    if (level === this.gate) return;
    this.normalize(t);
    this.gate = level;
    switch (this.mode) {
      case 0: case 4:
        if (!this.counting) break;
        if (!level) this.pausedAt = Math.max(t, this.start);
        else if (this.pausedAt >= 0) {
          this.start += Math.max(t, this.start) - this.pausedAt;
          this.pausedAt = -1;
        }
        break;
      case 1: case 5:
        if (level && this.crValid) this.load(this.fullCount(this.cr), t + 1);
        break;
      case 2: case 3:
        if (level && this.crValid) this.load(this.nextAt >= 0 ? this.nextN : this.fullCount(this.cr), t + 1);
        else if (!level) this.nextAt = -1;
        break;
    }
  }

  save(): CounterState {
    return {
      mode: this.mode, rw: this.rw, bcd: this.bcd, cr: this.cr, crValid: this.crValid,
      writeLow: this.writeLow, writeHalf: this.writeHalf, readHigh: this.readHigh,
      latched: [...this.latched], statusLatched: this.statusLatched, counting: this.counting,
      start: this.start, n: this.n, gate: this.gate, pausedAt: this.pausedAt, nextN: this.nextN,
      nextAt: this.nextAt, nullUntil: this.nullUntil === Infinity ? -2 : this.nullUntil,
      modeSetOut: this.modeSetOut,
    };
  }

  restore(s: CounterState): void {
    Object.assign(this, s);
    this.latched = [...s.latched];
    if (s.nullUntil === -2) this.nullUntil = Infinity;
  }
}

export interface I8254State { counters: CounterState[]; out0: boolean; lastTick: number }

export class I8254 implements TimedDevice, Snapshot<I8254State> {
  private readonly counters = [new Counter(), new Counter(), new Counter()];
  /** Counter 0's OUT as last driven onto IRQ 0. */
  private out0 = true;
  /** The pulse up to which counter 0's OUT transitions have been delivered. */
  private lastTick = 0;

  /** `irq0`: counter 0's OUT (IRQ 0 on the PC). */
  constructor(private readonly irq0: IrqLine) {}

  read(offset: number, now: number): number {
    this.advance(now);
    if (offset >= 3) return 0xff; // the control word register is write-only
    return this.counters[offset].read(pitTick(now)) & 0xff;
  }

  write(offset: number, value: number, now: number): void {
    this.advance(now);
    const t = pitTick(now);
    value &= 0xff;
    if (offset < 3) {
      this.counters[offset].write(value, t);
    } else {
      const sc = value >> 6;
      if (sc === 3) {
        // Read-back command: bit 5 = 0 latches count, bit 4 = 0 latches status.
        for (let i = 0; i < 3; i++) {
          if (!(value & (2 << i))) continue;
          if (!(value & 0x10)) this.counters[i].latchStatus(t);
          if (!(value & 0x20)) this.counters[i].latchCount(t);
        }
      } else if ((value & 0x30) === 0) {
        this.counters[sc].latchCount(t);
      } else {
        this.counters[sc].controlWord(value, t);
      }
    }
    this.syncIrq(t);
  }

  /** GATE input of counter `n` (counter 2's comes from port 0x61 bit 0). */
  setGate(n: number, level: boolean, now: number): void {
    this.advance(now);
    const t = pitTick(now);
    this.counters[n].setGate(level, t);
    this.syncIrq(t);
  }

  gate(n: number): boolean {
    return this.counters[n].gate;
  }

  /** OUT of counter `n` at time `now` (counter 2's is readable in port 0x61 bit 5). */
  out(n: number, now: number): boolean {
    if (n === 0) this.advance(now);
    return this.counters[n].out(pitTick(now));
  }

  advance(now: number): void {
    const t = pitTick(now);
    const c = this.counters[0];
    // Deliver every OUT edge between lastTick and t so that no IRQ 0 edge is lost even if the
    // machine calls in late; after many missed periods, deliver only the last pulse.
    let from = this.lastTick, steps = 0;
    while (true) {
      const at = c.nextChange(from);
      if (at > t) break;
      if (++steps > 8) {
        const last = c.out(t);
        if (last) {
          if (this.out0) this.irq0(false);
          this.irq0(true);
        } else if (this.out0) this.irq0(false);
        this.out0 = last;
        this.lastTick = t;
        return;
      }
      from = at;
      const o = c.out(at);
      if (o !== this.out0) {
        this.out0 = o;
        this.irq0(o);
      }
    }
    if (t > this.lastTick) this.lastTick = t;
  }

  nextEvent(now: number): number {
    const t = Math.max(pitTick(now), this.lastTick);
    const at = this.counters[0].nextChange(t);
    return at === Infinity ? Infinity : pitTickTime(at);
  }

  /** After a state change at pulse t: drive IRQ 0 from counter 0's present OUT. */
  private syncIrq(t: number): void {
    const o = this.counters[0].out(t);
    if (o !== this.out0) {
      this.out0 = o;
      this.irq0(o);
    }
    if (t > this.lastTick) this.lastTick = t;
  }

  save(): I8254State {
    return { counters: this.counters.map((c) => c.save()), out0: this.out0, lastTick: this.lastTick };
  }

  restore(s: I8254State): void {
    s.counters.forEach((c, i) => this.counters[i].restore(c));
    this.out0 = s.out0;
    this.lastTick = s.lastTick;
  }
}
