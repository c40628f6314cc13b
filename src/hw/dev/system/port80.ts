// Port 0x80, the POST diagnostic port: writes are latched (and reported to an optional
// listener, e.g. a POST-code display); Linux writes it only as an I/O delay. Reads return
// the last value written (as on many chipsets; 0xFF before the first write).

import type { PortDevice, Snapshot } from "../device.js";

export interface Port80State { last: number }

export class Port80 implements PortDevice, Snapshot<Port80State> {
  private last = 0xff;

  constructor(private readonly onPost?: (value: number) => void) {}

  read(): number {
    return this.last;
  }

  write(_offset: number, value: number): void {
    this.last = value & 0xff;
    this.onPost?.(this.last);
  }

  save(): Port80State {
    return { last: this.last };
  }

  restore(s: Port80State): void {
    this.last = s.last;
  }
}
