// The A20 gate of a PC: address line 20 is enabled when either the i8042's output port bit 1
// or port 0x92 bit 1 enables it (the two drive an OR gate on the system board).

export class A20Gate {
  private sources = 0;

  /** `onChange(enabled)` is called whenever the combined gate changes. */
  constructor(private readonly onChange: (enabled: boolean) => void, initial = 0) {
    this.sources = initial;
  }

  get enabled(): boolean {
    return this.sources !== 0;
  }

  /** Source `bit` (1: i8042, 2: port 0x92) sets its input to `enabled`. */
  set(bit: number, enabled: boolean): void {
    const was = this.enabled;
    this.sources = enabled ? this.sources | bit : this.sources & ~bit;
    if (this.enabled !== was) this.onChange(this.enabled);
  }

  /** Which sources enable A20 (bit 0: i8042, bit 1: port 0x92). */
  save(): number { return this.sources; }

  /** Put saved sources back without telling the CPU (a restored CPU has its own A20 state). */
  restore(sources: number): void { this.sources = sources; }
}

export const A20_KBC = 1;
export const A20_PORT92 = 2;
