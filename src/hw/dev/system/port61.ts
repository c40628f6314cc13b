// Port 0x61, the PC/AT's system control port B (IBM PC/AT Technical Reference, "System
// Board I/O Address Map"; the same bits on every later chipset):
//
//   write  bit 0  timer 2 GATE        bit 1  speaker data enable
//          bit 2  parity check enable  bit 3  channel (I/O) check enable   (stored only)
//   read   bits 0–3 as written, bit 4 refresh request toggle, bit 5 timer 2 OUT,
//          bit 6 channel check (0), bit 7 parity check (0)
//
// Linux calibrates the TSC by gating counter 2 here and polling OUT in bit 5. The refresh
// toggle flips every 15.085 µs of virtual time (PIT counter 1's 18-clock refresh rate).

import type { PortDevice, Snapshot } from "../device.js";
import type { I8254 } from "../pit/i8254.js";

/** Half-period of the refresh toggle in bit 4, ns (18 PIT clocks). */
export const REFRESH_TOGGLE_NS = 15_085;

export interface Port61State { value: number }

export class Port61 implements PortDevice, Snapshot<Port61State> {
  private value = 0;

  constructor(private readonly pit: I8254) {}

  read(_offset: number, now: number): number {
    const refresh = Math.floor(now / REFRESH_TOGGLE_NS) & 1;
    return (this.value & 0x0f) | (refresh << 4) | (this.pit.out(2, now) ? 0x20 : 0);
  }

  write(_offset: number, value: number, now: number): void {
    this.value = value & 0x0f;
    this.pit.setGate(2, (value & 1) !== 0, now);
  }

  /** The speaker sounds when both the gate and the data enable are set (and OUT toggles). */
  get speakerEnabled(): boolean {
    return (this.value & 3) === 3;
  }

  save(): Port61State {
    return { value: this.value };
  }

  restore(s: Port61State): void {
    this.value = s.value;
  }
}
