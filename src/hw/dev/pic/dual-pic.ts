// The PC/AT pair of 8259As: the master at ports 0x20–0x21 (IRQ 0–7), the slave at 0xA0–0xA1
// (IRQ 8–15) with its INT output wired to the master's IR2 (Intel 8259A datasheet,
// "Cascading", figure 12). This is the CPU's InterruptSource: INTR is the master's INT, and
// acknowledge() performs both INTA pulses, taking the vector from the slave when the master
// selected a cascaded IR. A spurious request yields IR7 of the chip concerned (vector base + 7,
// i.e. IRQ 7 or IRQ 15; for IRQ 15 the master's IR2 is left in service, as on hardware).

import type { InterruptSource } from "../../cpu/cpu.js";
import type { IrqLine, Snapshot } from "../device.js";
import { I8259, type I8259State } from "./i8259.js";

export interface DualPicState { master: I8259State; slave: I8259State }

export class DualPic implements InterruptSource, Snapshot<DualPicState> {
  /** Ports 0x20–0x21 (offset 0–1). */
  readonly master = new I8259(false);
  /** Ports 0xA0–0xA1 (offset 0–1). */
  readonly slave = new I8259(true);
  /** Called when INTR may have changed (e.g. to wake a halted CPU); optional. */
  onIntr: ((level: boolean) => void) | null = null;
  /** Every ISA IRQ line change, for an I/O APIC wired to the same lines (pc.ts). */
  onIrq: ((n: number, level: boolean) => void) | null = null;

  constructor() {
    this.slave.onChange = () => this.master.setIrq(2, this.slave.int);
    this.master.onChange = () => this.onIntr?.(this.master.int);
  }

  /** Drive ISA IRQ line `n` (0–15). */
  setIrq(n: number, level: boolean): void {
    if (n < 8) this.master.setIrq(n, level);
    else this.slave.setIrq(n - 8, level);
    this.onIrq?.(n, level);
  }

  /** An IrqLine for ISA IRQ `n`, to hand to a device's constructor. */
  line(n: number): IrqLine {
    return (level) => this.setIrq(n, level);
  }

  hasInterrupt(): boolean {
    return this.master.int;
  }

  acknowledge(): number {
    const a = this.master.acknowledgeIrq();
    if (!a.spurious && this.master.hasSlaveOn(a.irq)) {
      const s = this.slave.acknowledgeIrq();
      return this.slave.vector(s.irq);
    }
    return this.master.vector(a.irq);
  }

  save(): DualPicState {
    return { master: this.master.save(), slave: this.slave.save() };
  }

  restore(s: DualPicState): void {
    this.master.restore(s.master);
    this.slave.restore(s.slave);
  }
}
