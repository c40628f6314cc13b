// A one-shot timer that interrupts when the time-stamp counter reaches a deadline: the
// local APIC timer in TSC-deadline mode (SDM vol. 3 §10.5.4.1), reduced to what a monitor
// uses — the IA32_TSC_DEADLINE value (MSR 0x6E0), a vector from the LVT timer entry, and
// the INTR line to the processor. Writing a deadline arms it; writing 0 disarms it; it
// fires once when TSC ≥ deadline and disarms itself.
//
// The classic monitor programs it to regain control at the guest's next virtual-device
// event, cycle-exactly, so guest interrupts arrive at the same guest instruction as on the
// bare machine.

import { NS_PER_CYCLE, type TimedDevice } from "../device.js";
import type { InterruptSource } from "../../cpu/cpu.js";

export class TscDeadlineTimer implements TimedDevice, InterruptSource {
  /** Armed deadline in TSC cycles, or 0 when disarmed. */
  private deadline = 0;
  private pending = false;

  /**
   * @param vector the LVT timer vector delivered on INTA.
   * @param setLine drives the processor's INTR pin.
   */
  constructor(readonly vector: number, private readonly setLine: (level: boolean) => void) {}

  /** WRMSR IA32_TSC_DEADLINE: arm at `tsc` (0 disarms). */
  arm(tsc: number): void {
    this.deadline = tsc > 0 ? tsc : 0;
  }

  get armedAt(): number { return this.deadline; }

  advance(now: number): void {
    if (this.deadline !== 0 && now >= this.deadline * NS_PER_CYCLE) {
      this.deadline = 0;
      this.pending = true;
      this.setLine(true);
    }
  }

  nextEvent(): number {
    return this.deadline !== 0 ? this.deadline * NS_PER_CYCLE : Infinity;
  }

  hasInterrupt(): boolean { return this.pending; }

  acknowledge(): number {
    this.pending = false;
    this.setLine(false);
    return this.vector;
  }
}
