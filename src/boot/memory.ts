// What a loader needs from the machine and what it hands back: a writer over guest RAM, the
// E820 memory map it reports to the guest, and the CPU state to enter the kernel in. Loaders
// never touch the CPU class (DESIGN.md §1); the machine applies the returned EntryState.

import { BootError, hex } from "./errors.js";

/** Write access to guest-physical RAM [0, ramBytes). */
export interface GuestMemoryWriter {
  write(addr: number, bytes: Uint8Array): void;
  readonly ramBytes: number;
}

/** Register state at kernel entry. */
export interface EntryState {
  /** EIP, or RIP for `long64` (a physical, identity-mapped address below 4 GiB). */
  eip: number;
  /** The low 32 bits of the registers (their high halves are zero under `long64`). */
  regs: Partial<Record<"eax" | "ebx" | "ecx" | "edx" | "esi" | "edi" | "ebp" | "esp", number>>;
  /**
   * `protected32`: flat 32-bit protected mode, paging off, interrupts off. The machine loads
   * a flat GDT with CS = 0x10 and DS = ES = SS = 0x18 (the Linux boot protocol's __BOOT_CS /
   * __BOOT_DS).
   *
   * `long64`: 64-bit mode (the Linux 64-bit boot protocol): the same GDT but CS = 0x10 a
   * 64-bit code segment (L = 1, D = 0), CR4.PAE, EFER.LME, CR0.PG|PE and CR3 = `cr3`, a
   * 4-level page table the loader built in guest RAM; interrupts off.
   */
  mode: "protected32" | "long64";
  /** `long64`: the physical address of the PML4. */
  cr3?: number;
}

/** E820 address range types (ACPI spec, "System Address Map Interfaces"). */
export const E820 = { RAM: 1, RESERVED: 2, ACPI: 3, NVS: 4 } as const;

/** One BIOS INT 15h/E820 address range descriptor. */
export interface E820Entry {
  base: number;
  length: number;
  type: 1 | 2 | 3 | 4;
}

/** Top of conventional memory below the EBDA (639 KiB), as a PC BIOS reports it. */
export const EBDA_BASE = 0x9fc00;
const MIB = 0x100000;

/**
 * What a PC BIOS leaves in its data area at 0x400 and the loaders, standing in for it, fill
 * too (IBM PC/AT Technical Reference, BIOS data area): the serial ports' I/O bases (0x400,
 * COM1 and COM2), the EBDA's segment (0x40E) and the conventional memory size in KiB
 * (0x413). Kernels read these: Linux finds the EBDA through 0x40E, Xen's loader places its
 * trampoline below the 0x413 size.
 */
export function writeBiosDataArea(mem: GuestMemoryWriter): void {
  const bda = new Uint8Array(0x20);
  const w16 = (off: number, v: number): void => { bda[off] = v & 0xff; bda[off + 1] = v >> 8; };
  w16(0x00, 0x3f8);
  w16(0x02, 0x2f8);
  w16(0x0e, EBDA_BASE >> 4);
  w16(0x13, EBDA_BASE >> 10);
  mem.write(0x400, bda);
}

/**
 * The standard PC map for `ramBytes` of RAM: RAM 0–0x9FC00, the EBDA reserved up to 0xA0000,
 * the BIOS ROM 0xF0000–0x100000 reserved, RAM from 1 MiB to the top. (The VGA window
 * 0xA0000–0xF0000 is absent from the map, as on real BIOSes.)
 */
export function pcE820Map(ramBytes: number): E820Entry[] {
  if (ramBytes < 2 * MIB) {
    throw new BootError("E_NO_ROOM", `guest RAM of ${ramBytes} bytes is too small: a PC map needs at least 2 MiB`);
  }
  return [
    { base: 0, length: EBDA_BASE, type: 1 },
    { base: EBDA_BASE, length: 0xa0000 - EBDA_BASE, type: 2 },
    { base: 0xf0000, length: 0x10000, type: 2 },
    { base: MIB, length: ramBytes - MIB, type: 1 },
  ];
}

/** Throw E_SEGMENT_OUTSIDE_RAM unless [addr, addr+len) lies inside guest RAM. */
export function checkInRam(mem: GuestMemoryWriter, addr: number, len: number, what: string): void {
  if (addr < 0 || len < 0 || addr + len > mem.ramBytes) {
    throw new BootError("E_SEGMENT_OUTSIDE_RAM",
      `${what} at ${hex(addr)}–${hex(addr + len)} lies outside guest RAM (${hex(mem.ramBytes)} bytes); give the guest more memory`);
  }
}

/** A little-endian byte buffer the loaders fill before writing it to guest RAM. */
export class LeBuffer {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }
  u8(off: number, v: number): void { this.view.setUint8(off, v); }
  u16(off: number, v: number): void { this.view.setUint16(off, v, true); }
  u32(off: number, v: number): void { this.view.setUint32(off, v >>> 0, true); }
  /** A 64-bit field from a non-negative number below 2^53. */
  u64(off: number, v: number): void {
    this.view.setUint32(off, v >>> 0, true);
    this.view.setUint32(off + 4, Math.floor(v / 0x1_0000_0000) >>> 0, true);
  }
}

/** NUL-terminated ASCII/UTF-8 bytes of `s`. */
export function cString(s: string): Uint8Array {
  const enc = new TextEncoder().encode(s);
  const out = new Uint8Array(enc.length + 1);
  out.set(enc);
  return out;
}
