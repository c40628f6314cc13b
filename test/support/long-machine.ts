// Test support: the flat protected-mode machine (flat-machine.ts) prepared for long mode the
// way a 64-bit kernel's start-up code prepares it: 64-bit code and data descriptors in the
// GDT, 4-level page tables, a 64-bit IDT whose gates point at the HLT stubs, and a 64-bit
// TSS. The test's own code then turns long mode on (ENTER_LONG_MODE below) and far-jumps
// to its `.code64` part, so every test goes through the architectural entry path.
//
// Page tables: PML4 0x20000, PDPT 0x21000, PD 0x22000 maps 0–1 GiB with 2 MiB pages
// (U/S, R/W); PML4[511] → PDPT 0x23000 whose entry 510 reuses that PD, so
// 0xFFFFFFFF80000000 is physical 0 too (the Linux kernel's mapping of itself).
// 64-bit IDT at 0x24000 (gates to STUBS + v * 16), 64-bit TSS at 0x25000.

import type { JitOptions } from "../../src/hw/cpu/jit/block-compiler.js";
import { FlatMachine, GDT, STUBS, segDescriptor } from "./flat-machine.js";

export const PML4 = 0x20000, PDPT = 0x21000, PD = 0x22000, PDPT_HIGH = 0x23000, IDT64 = 0x24000, TSS64 = 0x25000;
/** Ring-0 stack top for 64-bit code, and the IST1 stack. */
export const RSP0 = 0x60000, IST1 = 0x70000;
/**
 * GDT selectors, in the order SYSCALL/SYSRET need (STAR[47:32] = 0x50, STAR[63:48] = 0x60):
 * kernel code, kernel data, user 32-bit code, user data, user 64-bit code; then the TSS.
 */
export const SEL64 = { CODE0: 0x50, DATA0: 0x58, CODE32_3: 0x63, DATA3: 0x6b, CODE3: 0x73, TSS: 0x78 } as const;

/** 32-bit code that enables long mode and jumps to the label `entry64` (defined by the test in `.code64`). */
export const ENTER_LONG_MODE = `
  mov eax, cr4
  or eax, 0x20
  mov cr4, eax
  mov eax, ${PML4}
  mov cr3, eax
  mov ecx, 0xc0000080
  rdmsr
  or eax, 0x100
  wrmsr
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  ljmp ${SEL64.CODE0}, offset entry64
`;

export function longMachine(cpu = "core2", jit: boolean | JitOptions = true): FlatMachine {
  const f = new FlatMachine({ cpu, ramBytes: 8 << 20, jit });
  const m = f.mem, c = f.cpu;
  const put64 = (a: number, lo: number, hi = 0): void => { m.write32(a, lo); m.write32(a + 4, hi); };
  const extra: [number, number][] = [
    segDescriptor(0, 0xfffff, 0x9a, 0xa), // 0x50 64-bit code, DPL 0 (L = 1, D = 0)
    segDescriptor(0, 0xfffff, 0x92),      // 0x58 data, DPL 0
    segDescriptor(0, 0xfffff, 0xfa),      // 0x60 32-bit code, DPL 3 (compatibility mode)
    segDescriptor(0, 0xfffff, 0xf2),      // 0x68 data, DPL 3
    segDescriptor(0, 0xfffff, 0xfa, 0xa), // 0x70 64-bit code, DPL 3
    segDescriptor(TSS64, 0x67, 0x89, 0),  // 0x78 64-bit TSS (16 bytes: the next entry is base 63:32)
    [0, 0],
  ];
  extra.forEach(([lo, hi], k) => put64(GDT + 0x50 + k * 8, lo, hi));
  c.gdtrLimit = 0x50 + extra.length * 8 - 1;
  put64(PML4, PDPT | 7);
  put64(PML4 + 511 * 8, PDPT_HIGH | 7);
  put64(PDPT, PD | 7);
  put64(PDPT_HIGH + 510 * 8, PD | 7);
  for (let k = 0; k < 512; k++) put64(PD + k * 8, (k << 21) | 0x87);
  for (let v = 0; v < 256; v++) {
    const off = STUBS + v * 16;
    put64(IDT64 + v * 16, (SEL64.CODE0 << 16) | (off & 0xffff), (off & 0xffff_0000) | 0x8e00);
    put64(IDT64 + v * 16 + 8, 0, 0);
  }
  put64(TSS64 + 4, RSP0);        // RSP0
  put64(TSS64 + 0x24, IST1);     // IST1
  return f;
}

/** Point IDTR at the 64-bit IDT and TR at the 64-bit TSS (hidden parts as LTR would load them). */
export function useLongTables(f: FlatMachine): void {
  const c = f.cpu;
  c.idtrBase = IDT64; c.idtrLimit = 256 * 16 - 1;
  c.tr.base = TSS64; c.tr.limit = 0x67; c.tr.selector = SEL64.TSS;
}

/** The 64-bit value of register r (BigInt: tests only). */
export function reg64(f: FlatMachine, r: number): bigint {
  return (BigInt(f.cpu.regsHi[r] >>> 0) << 32n) | BigInt(f.cpu.regs[r] >>> 0);
}

/** Read a 64-bit value from physical memory. */
export function mem64(f: FlatMachine, a: number): bigint {
  return (BigInt(f.mem.read32(a + 4) >>> 0) << 32n) | BigInt(f.mem.read32(a) >>> 0);
}
