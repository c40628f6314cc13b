// The I/O APIC (Intel 82093AA datasheet): 24 interrupt inputs routed through a redirection
// table to the local APIC. Two registers at its base (default 0xFEC00000): IOREGSEL (+0x00)
// selects a register, IOWIN (+0x10) reads or writes it. Registers: ID (0), version (1:
// 0x00170011, 24 entries), arbitration (2), and the redirection table at 0x10 + 2n (low) and
// 0x11 + 2n (high): vector, delivery mode, destination mode, delivery status, polarity,
// remote IRR, trigger mode, mask, destination. Every entry starts masked.
//
// Inputs are the ISA IRQ lines (pc.ts routes ISA IRQ n to input n, except IRQ 0 to input 2,
// as the MADT's interrupt source override says). An edge-triggered input delivers on each
// rising edge; a level-triggered one while asserted, once per EOI: delivery sets remote IRR,
// and the local APIC's EOI for a level-triggered vector (its TMR bit) clears it. The
// polarity bit is stored; inputs here are already "asserted" or not.

/** What the I/O APIC delivers to (the local APIC of the one CPU). */
export interface IoApicTarget {
  acceptInterrupt(vector: number, level: boolean): void;
  nmi(): void;
}

export const IOAPIC_BASE_DEFAULT = 0xfec0_0000;
const PINS = 24;
const MASKED = 1 << 16, REMOTE_IRR = 1 << 14, LEVEL = 1 << 15;

export class IoApic {
  id = 0;
  private select = 0;
  private readonly lo = new Int32Array(PINS).fill(MASKED);
  private readonly hi = new Int32Array(PINS);
  private readonly asserted = new Uint8Array(PINS);
  private latch = 0;

  constructor(private readonly target: IoApicTarget) {}

  reset(): void {
    this.id = 0; this.select = 0;
    this.lo.fill(MASKED); this.hi.fill(0); this.asserted.fill(0);
  }

  readReg(r: number): number {
    if (r === 0) return this.id << 24;
    if (r === 1) return 0x0017_0011;
    if (r === 2) return this.id << 24;
    if (r >= 0x10 && r < 0x10 + 2 * PINS) {
      const pin = (r - 0x10) >> 1;
      return (r & 1) === 0 ? this.lo[pin] : this.hi[pin];
    }
    return 0;
  }

  writeReg(r: number, v: number): void {
    if (r === 0) { this.id = (v >>> 24) & 0xf; return; }
    if (r >= 0x10 && r < 0x10 + 2 * PINS) {
      const pin = (r - 0x10) >> 1;
      if ((r & 1) === 1) { this.hi[pin] = v & 0xff00_0000; return; }
      // Delivery status (12) and remote IRR (14) are read-only.
      this.lo[pin] = (v & ~((1 << 12) | REMOTE_IRR)) | (this.lo[pin] & REMOTE_IRR);
      // An edge-triggered entry has no remote IRR; an unmasked level one may fire now.
      if ((this.lo[pin] & LEVEL) === 0) this.lo[pin] &= ~REMOTE_IRR;
      this.service(pin);
    }
  }

  /** Drive input `pin`. */
  setIrq(pin: number, level: boolean): void {
    const was = this.asserted[pin] !== 0;
    this.asserted[pin] = level ? 1 : 0;
    const e = this.lo[pin];
    if ((e & LEVEL) !== 0) this.service(pin);
    else if (level && !was && (e & MASKED) === 0) this.deliver(pin);
  }

  /** The local APIC's EOI broadcast for a level-triggered `vector`. */
  eoi(vector: number): void {
    for (let pin = 0; pin < PINS; pin++) {
      if ((this.lo[pin] & 0xff) === vector && (this.lo[pin] & LEVEL) !== 0) {
        this.lo[pin] &= ~REMOTE_IRR;
        this.service(pin);
      }
    }
  }

  /** A level-triggered input delivers while asserted, unmasked and without remote IRR. */
  private service(pin: number): void {
    const e = this.lo[pin];
    if ((e & LEVEL) === 0 || (e & (MASKED | REMOTE_IRR)) !== 0 || this.asserted[pin] === 0) return;
    this.lo[pin] |= REMOTE_IRR;
    this.deliver(pin);
  }

  private deliver(pin: number): void {
    const e = this.lo[pin];
    const mode = (e >> 8) & 7;
    // Fixed and lowest priority go to the one local APIC; NMI raises NMI. SMI, INIT and
    // ExtINT are not used by this machine's OSes and are dropped.
    if (mode === 0 || mode === 1) this.target.acceptInterrupt(e & 0xff, (e & LEVEL) !== 0);
    else if (mode === 4) this.target.nmi();
  }

  // ---- MMIO: IOREGSEL at +0x00, IOWIN at +0x10 ----

  read32(off: number): number {
    if (off === 0) return this.select;
    if (off === 0x10) return this.readReg(this.select);
    return 0;
  }
  write32(off: number, v: number): void {
    if (off === 0) this.select = v & 0xff;
    else if (off === 0x10) this.writeReg(this.select, v);
  }
  read8(off: number): number {
    if ((off & 3) === 0) this.latch = this.read32(off & ~3);
    return (this.latch >>> ((off & 3) * 8)) & 0xff;
  }
  write8(off: number, v: number): void {
    const sh = (off & 3) * 8;
    this.latch = (this.latch & ~(0xff << sh)) | ((v & 0xff) << sh);
    if ((off & 3) === 3 || (off & ~3) === 0) this.write32(off & ~3, this.latch);
  }

  save(): IoApicState {
    return { id: this.id, select: this.select, lo: Array.from(this.lo), hi: Array.from(this.hi), asserted: Array.from(this.asserted), latch: this.latch };
  }

  restore(s: IoApicState): void {
    this.id = s.id; this.select = s.select; this.lo.set(s.lo); this.hi.set(s.hi); this.asserted.set(s.asserted); this.latch = s.latch;
  }
}

export interface IoApicState { id: number; select: number; lo: number[]; hi: number[]; asserted: number[]; latch: number }
