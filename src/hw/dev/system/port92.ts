// Port 0x92, "system control port A" (PS/2 and every later chipset; IBM PS/2 Hardware
// Interface Technical Reference): bit 1 is the fast A20 gate, bit 0 a fast reset — writing 1
// after 0 resets the processor (a rising edge). Other bits are stored and read back.
//
// On a PC the A20 gate is the OR of this bit and the i8042 output port's bit 1; the machine
// combines the two (see A20Gate in a20-gate.ts).

import type { PortDevice, Snapshot } from "../device.js";

export interface Port92Events {
  onA20?: (enabled: boolean) => void;
  onReset?: () => void;
}

export interface Port92State { value: number }

export class Port92 implements PortDevice, Snapshot<Port92State> {
  private value = 0;

  constructor(private readonly events: Port92Events = {}) {}

  get a20(): boolean {
    return (this.value & 2) !== 0;
  }

  read(): number {
    return this.value;
  }

  write(_offset: number, value: number): void {
    const old = this.value;
    this.value = value & 0xff;
    if ((old ^ value) & 2) this.events.onA20?.(this.a20);
    if (value & 1 && !(old & 1)) this.events.onReset?.();
  }

  save(): Port92State {
    return { value: this.value };
  }

  restore(s: Port92State): void {
    this.value = s.value;
  }
}
