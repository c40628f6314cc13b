// What every platform device model offers (STYLE.md: a chip with read(offset)/write(offset,
// value) and save()/restore(), wired by a bus, time passed in as an argument).
//
// Time is virtual (DESIGN.md §4): nanoseconds derived from retired instructions, never the
// host clock. A device is told the current time on every access and whenever the machine
// reaches the device's next event; it raises and lowers interrupt lines through `IrqLine`.

/** An interrupt request line into the PIC (edge or level decided by the PIC's ICW1.LTIM). */
export type IrqLine = (level: boolean) => void;

/** A device on the I/O bus. `offset` is the port minus the device's base port. */
export interface PortDevice {
  read(offset: number, now: number): number;
  write(offset: number, value: number, now: number): void;
}

/** A device with time-driven behaviour (timers, UART transmit pacing, RTC update cycle). */
export interface TimedDevice {
  /** Bring the device's state up to `now` (ns): fire due events, raise interrupts. */
  advance(now: number): void;
  /** The earliest time (ns) after which advance() would change something, or Infinity. */
  nextEvent(now: number): number;
}

/** A device whose whole state can be saved and restored as a plain (JSON-able) object. */
export interface Snapshot<S> {
  save(): S;
  restore(state: S): void;
}

/** The virtual clock: one instruction is one cycle of a nominal 100 MHz processor. */
export const NS_PER_CYCLE = 10;

/** A memory-mapped device window (e.g. VGA text memory). `offset` is relative to its base. */
export interface MemoryDevice {
  read8(offset: number): number;
  write8(offset: number, value: number): void;
}
