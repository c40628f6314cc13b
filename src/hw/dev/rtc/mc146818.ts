// Motorola MC146818A real-time clock and CMOS RAM, as in the IBM PC/AT (ports 0x70–0x71).
//
//   port 0x70 (offset 0, write)  bit 7: NMI disable (PC/AT system board), bits 6–0: index
//   port 0x71 (offset 1)         the indexed byte
//
//   0 seconds  1 sec alarm  2 minutes  3 min alarm  4 hours  5 hr alarm  6 day of week (1 = Sun)
//   7 date  8 month  9 year  A UIP DV2–0 RS3–0  B SET PIE AIE UIE SQWE DM 24/12 DSE
//   C IRQF PF AF UF (read clears)  D VRT  0E–7F CMOS RAM (MC146818A figure 3 and tables 1–5;
//   PC/AT layout of the RAM: IBM PC/AT Technical Reference, "CMOS RAM Address Map")
//
// The divider chain runs on virtual time at 32.768 kHz (DV = 010). Once per second the update
// cycle advances the time registers: UIP rises 244 µs before the cycle and stays high through
// it (1984 µs at 32.768 kHz), 2228 µs in all; the registers change and UF is set at its end
// (datasheet figure 16). Here the registers keep their old values throughout the UIP window and
// change at its end. Alarm (AF) is checked at each update; PF is set at the rate chosen by
// RS (table 5). Updates are applied lazily on access and in advance(); SET = 1 stops them.
// Releasing the divider reset (DV 11x → 010) makes the first update come 500 ms later.
//
// Not modelled: daylight-saving (DSE), the square-wave output pin, the 4.19/1.05 MHz time
// bases. Day of week is incremented with the date, as the chip does; the century byte 0x32 is
// carried on a year wrap as a BIOS would.

import type { IrqLine, PortDevice, Snapshot, TimedDevice } from "../device.js";

/** Default wall-clock start: 2026-01-01 00:00:00 UTC (reproducible runs). */
export const RTC_DEFAULT_START = Date.UTC(2026, 0, 1, 0, 0, 0);

const HZ = 32768;
/** Divider ticks from release of the divider reset to the first update (500 ms). */
const FIRST_UPDATE = HZ / 2;
/** UIP high for 244 µs + 1984 µs = 73 ticks of 30.5 µs before the registers change. */
export const UIP_TICKS = 73;

export const REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d;
export const A_UIP = 0x80;
export const B_SET = 0x80, B_PIE = 0x40, B_AIE = 0x20, B_UIE = 0x10, B_DM = 0x04, B_24H = 0x02;
export const C_IRQF = 0x80, C_PF = 0x40, C_AF = 0x20, C_UF = 0x10;

/** Divider ticks at time ns (exact below 2^53 ns). */
function tick32(ns: number): number {
  const s = Math.floor(ns / 1e9);
  return s * HZ + Math.floor(((ns - s * 1e9) * HZ) / 1e9);
}

/** Earliest ns at which tick32() reaches t. */
function tick32Time(t: number): number {
  const q = Math.floor(t / HZ), r = t - q * HZ;
  return q * 1e9 + Math.ceil((r * 1e9) / HZ);
}

export interface Mc146818Options {
  /** Wall-clock time at virtual time 0, ms since 1970-01-01 UTC. */
  startTime?: number;
  /** Guest RAM size in bytes, for the memory-size bytes 0x15–0x18, 0x30–0x31, 0x34–0x35. */
  ramBytes?: number;
  /** Called when port 0x70 bit 7 changes the NMI mask. */
  onNmiMask?: (disabled: boolean) => void;
}

export interface Mc146818State {
  regs: number[]; index: number; nmiDisabled: boolean; running: boolean; anchor: number;
  updatesDone: number; periodicDone: number; irq: boolean;
}

export class Mc146818 implements PortDevice, TimedDevice, Snapshot<Mc146818State> {
  private regs = new Uint8Array(128);
  private index = 0;
  nmiDisabled = false;
  private running = true;
  /** Divider tick at which the chain was released; updates at anchor + 0.5 s + k s. */
  private anchor = -FIRST_UPDATE;
  private updatesDone = 0;
  private periodicDone = 0;
  private irqLevel = false;

  constructor(private readonly irq: IrqLine, private readonly options: Mc146818Options = {}) {
    const d = new Date(options.startTime ?? RTC_DEFAULT_START);
    this.regs[REG_A] = 0x26; // DV = 010 (32.768 kHz), RS = 0110 (1024 Hz) as the BIOS leaves it
    this.regs[REG_B] = B_24H; // BCD, 24-hour
    const year = d.getUTCFullYear();
    this.regs[0] = this.enc(d.getUTCSeconds());
    this.regs[2] = this.enc(d.getUTCMinutes());
    this.regs[4] = this.enc(d.getUTCHours());
    this.regs[6] = d.getUTCDay() + 1;
    this.regs[7] = this.enc(d.getUTCDate());
    this.regs[8] = this.enc(d.getUTCMonth() + 1);
    this.regs[9] = this.enc(year % 100);
    this.regs[0x32] = this.enc(Math.floor(year / 100));
    this.regs[0x14] = 0x02; // equipment: math coprocessor present, no floppies, VGA
    this.setMemorySize(options.ramBytes ?? 0);
    this.periodicDone = Math.floor(-this.anchor / this.periodTicks());
  }

  /** Fill the PC/AT memory-size bytes and the standard checksum (0x10–0x2D at 0x2E–0x2F). */
  setMemorySize(ramBytes: number): void {
    const kb = Math.floor(ramBytes / 1024);
    const base = Math.min(kb, 640);
    const ext = Math.min(Math.max(kb - 1024, 0), 0xffff);
    const ext16 = Math.min(Math.max(Math.floor((ramBytes - 16 * 1024 * 1024) / 65536), 0), 0xffff);
    this.regs[0x15] = base & 0xff; this.regs[0x16] = base >> 8;
    this.regs[0x17] = ext & 0xff; this.regs[0x18] = ext >> 8;
    this.regs[0x30] = ext & 0xff; this.regs[0x31] = ext >> 8;
    this.regs[0x34] = ext16 & 0xff; this.regs[0x35] = ext16 >> 8;
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += this.regs[i];
    this.regs[0x2e] = (sum >> 8) & 0xff;
    this.regs[0x2f] = sum & 0xff;
  }

  private get bcd(): boolean {
    return !(this.regs[REG_B] & B_DM);
  }

  private enc(v: number): number {
    return this.bcd ? ((Math.floor(v / 10) << 4) | (v % 10)) : v;
  }

  private dec(v: number): number {
    return this.bcd ? (v >> 4) * 10 + (v & 0xf) : v;
  }

  /** Divider tick → position relative to the chain's release. */
  private u(now: number): number {
    return tick32(now) - this.anchor;
  }

  /** Periodic interrupt period in divider ticks (table 5), or 0 for none. */
  private periodTicks(): number {
    const rs = this.regs[REG_A] & 0x0f;
    if (rs === 0) return 0;
    return rs <= 2 ? 1 << (rs + 6) : 1 << (rs - 1);
  }

  /** Apply every update cycle and periodic edge up to `now`. */
  private sync(now: number): void {
    if (!this.running) return;
    const u = this.u(now);
    const last = u >= FIRST_UPDATE ? Math.floor((u - FIRST_UPDATE) / HZ) : -1;
    if (last > this.updatesDone) {
      if (!(this.regs[REG_B] & B_SET)) {
        for (let k = this.updatesDone; k < last; k++) this.tick();
        this.regs[REG_C] |= C_UF;
      }
      this.updatesDone = last;
    }
    const p = this.periodTicks();
    if (p) {
      const j = Math.floor(u / p);
      if (j > this.periodicDone) {
        this.regs[REG_C] |= C_PF;
        this.periodicDone = j;
      }
    }
    this.updateIrq();
  }

  /** One update cycle: advance the time by a second, then compare the alarm. */
  private tick(): void {
    const r = this.regs;
    const h24 = (r[REG_B] & B_24H) !== 0;
    let sec = this.dec(r[0]) + 1, min = this.dec(r[2]);
    let hour: number;
    if (h24) hour = this.dec(r[4]);
    else hour = (this.dec(r[4] & 0x7f) % 12) + (r[4] & 0x80 ? 12 : 0);
    let date = this.dec(r[7]), month = this.dec(r[8]), year = this.dec(r[9]), dow = r[6];
    if (sec >= 60) {
      sec = 0;
      if (++min >= 60) {
        min = 0;
        if (++hour >= 24) {
          hour = 0;
          dow = (dow % 7) + 1;
          const days = [31, year % 4 === 0 ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][(month - 1) % 12] ?? 31;
          if (++date > days) {
            date = 1;
            if (++month > 12) {
              month = 1;
              if (++year > 99) {
                year = 0;
                r[0x32] = this.enc((this.dec(r[0x32]) + 1) % 100);
              }
            }
          }
        }
      }
    }
    r[0] = this.enc(sec);
    r[2] = this.enc(min);
    if (h24) r[4] = this.enc(hour);
    else r[4] = this.enc(hour % 12 === 0 ? 12 : hour % 12) | (hour >= 12 ? 0x80 : 0);
    r[6] = dow; r[7] = this.enc(date); r[8] = this.enc(month); r[9] = this.enc(year);
    const match = (a: number, v: number): boolean => (a & 0xc0) === 0xc0 || a === v;
    if (match(r[1], r[0]) && match(r[3], r[2]) && match(r[5], r[4])) r[REG_C] |= C_AF;
  }

  private updateIrq(): void {
    const c = this.regs[REG_C] & 0x70;
    if (c & this.regs[REG_B] & 0x70) this.regs[REG_C] |= C_IRQF;
    else this.regs[REG_C] &= ~C_IRQF;
    const level = (this.regs[REG_C] & C_IRQF) !== 0;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq(level);
    }
  }

  private uip(now: number): boolean {
    if (!this.running || this.regs[REG_B] & B_SET) return false;
    const u = this.u(now) + UIP_TICKS;
    if (u < FIRST_UPDATE) return false;
    return (u - FIRST_UPDATE) % HZ < UIP_TICKS;
  }

  read(offset: number, now: number): number {
    if (!(offset & 1)) return 0xff; // the index port is write-only
    this.sync(now);
    const i = this.index;
    switch (i) {
      case REG_A: return (this.regs[REG_A] & 0x7f) | (this.uip(now) ? A_UIP : 0);
      case REG_C: {
        const v = this.regs[REG_C];
        this.regs[REG_C] = 0;
        this.updateIrq();
        return v;
      }
      case REG_D: return 0x80; // VRT: valid RAM and time
      default: return this.regs[i];
    }
  }

  write(offset: number, value: number, now: number): void {
    value &= 0xff;
    if (!(offset & 1)) {
      this.index = value & 0x7f;
      const nmi = (value & 0x80) !== 0;
      if (nmi !== this.nmiDisabled) {
        this.nmiDisabled = nmi;
        this.options.onNmiMask?.(nmi);
      }
      return;
    }
    this.sync(now);
    const i = this.index;
    switch (i) {
      case REG_A: {
        const wasReset = (this.regs[REG_A] & 0x60) === 0x60;
        this.regs[REG_A] = value & 0x7f;
        const reset = (value & 0x60) === 0x60;
        let t = tick32(now);
        if (tick32Time(t) < now) t++; // the chain starts at the first tick after the write
        if (reset) this.running = false;
        else if (wasReset || !this.running) {
          this.running = true;
          this.anchor = t;
          this.updatesDone = -1;
        }
        const p = this.periodTicks();
        this.periodicDone = p ? Math.floor((t - this.anchor) / p) : 0;
        break;
      }
      case REG_B:
        // Setting SET aborts any update and clears UIE (datasheet, register B bit 7).
        if (value & B_SET) value &= ~B_UIE;
        this.regs[REG_B] = value;
        break;
      case REG_C: case REG_D: break; // read-only
      default: this.regs[i] = value;
    }
    this.updateIrq();
  }

  /** Port 0x70's index (for the wiring and tests). */
  get selected(): number {
    return this.index;
  }

  advance(now: number): void {
    this.sync(now);
  }

  nextEvent(now: number): number {
    if (!this.running) return Infinity;
    this.sync(now);
    const b = this.regs[REG_B], c = this.regs[REG_C];
    let at = Infinity;
    if (!(b & B_SET) && ((b & B_UIE && !(c & C_UF)) || b & B_AIE)) {
      at = this.anchor + FIRST_UPDATE + (this.updatesDone + 1) * HZ;
    }
    const p = this.periodTicks();
    if (p && b & B_PIE && !(c & C_PF)) at = Math.min(at, this.anchor + (this.periodicDone + 1) * p);
    return at === Infinity ? Infinity : tick32Time(at);
  }

  save(): Mc146818State {
    return {
      regs: [...this.regs], index: this.index, nmiDisabled: this.nmiDisabled, running: this.running,
      anchor: this.anchor, updatesDone: this.updatesDone, periodicDone: this.periodicDone, irq: this.irqLevel,
    };
  }

  restore(s: Mc146818State): void {
    this.regs = Uint8Array.from(s.regs);
    this.index = s.index; this.nmiDisabled = s.nmiDisabled; this.running = s.running;
    this.anchor = s.anchor; this.updatesDone = s.updatesDone; this.periodicDone = s.periodicDone;
    this.irqLevel = s.irq;
  }
}
