// The I/O port address space (Intel SDM vol. 1 chapter 19, "Input/Output").
//
// Devices register a port range with byte handlers; wider accesses are split into bytes
// unless the device registers word/dword handlers. Unassigned ports read as all ones and
// ignore writes, as on a PC's ISA bus.

export interface PortHandler {
  read8(port: number): number;
  write8(port: number, value: number): void;
  read16?(port: number): number;
  write16?(port: number, value: number): void;
  read32?(port: number): number;
  write32?(port: number, value: number): void;
}

export class IoBus {
  private readonly handlers: (PortHandler | undefined)[] = new Array(0x10000);

  /** Attach `handler` to ports [first, first + count). */
  register(first: number, count: number, handler: PortHandler): void {
    for (let p = first; p < first + count; p++) this.handlers[p & 0xffff] = handler;
  }

  in8(port: number): number {
    const h = this.handlers[port & 0xffff];
    return h ? h.read8(port & 0xffff) & 0xff : 0xff;
  }

  in16(port: number): number {
    const h = this.handlers[port & 0xffff];
    if (h?.read16) return h.read16(port & 0xffff) & 0xffff;
    return this.in8(port) | (this.in8(port + 1) << 8);
  }

  in32(port: number): number {
    const h = this.handlers[port & 0xffff];
    if (h?.read32) return h.read32(port & 0xffff) >>> 0;
    return (this.in16(port) | (this.in16(port + 2) << 16)) >>> 0;
  }

  out8(port: number, value: number): void {
    this.handlers[port & 0xffff]?.write8(port & 0xffff, value & 0xff);
  }

  out16(port: number, value: number): void {
    const h = this.handlers[port & 0xffff];
    if (h?.write16) { h.write16(port & 0xffff, value & 0xffff); return; }
    this.out8(port, value);
    this.out8(port + 1, value >>> 8);
  }

  out32(port: number, value: number): void {
    const h = this.handlers[port & 0xffff];
    if (h?.write32) { h.write32(port & 0xffff, value >>> 0); return; }
    this.out16(port, value);
    this.out16(port + 2, value >>> 16);
  }
}
