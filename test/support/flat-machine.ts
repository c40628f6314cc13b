// Test support: a machine already in 32-bit protected mode with flat segments, built the
// way a small kernel would build it — a GDT, an IDT whose gates point at HLT stubs, and a
// TSS — but written straight into memory, so tests start at the instruction they test.
//
// Memory layout (physical = linear unless a test turns paging on):
//   0x1000 GDT   0x2000 IDT   0x3000 TSS   0x4000 exception stubs (vector v at 0x4000 + v*16)
//   0x8000 ring-0 stack top   0x9000 ring-3 stack top (0x8800..0x9000)
//   0x10000.. free for test code and data

import { Machine } from "../../src/hw/machine.js";
import { Descriptor, SegReg } from "../../src/hw/cpu/segment.js";
import { CR0_PE, CR0_PG, type CpuVariant } from "../../src/hw/cpu/cpu.js";
import { parseCpuSpec } from "../../src/hw/cpu/models.js";
import { StopReason } from "../../src/hw/cpu/fault.js";
import type { JitOptions } from "../../src/hw/cpu/jit/block-compiler.js";

export const GDT = 0x1000, IDT = 0x2000, TSS = 0x3000, STUBS = 0x4000;
export const STACK0 = 0x8000, STACK3 = 0x9000, CODE = 0x10000;

/** GDT selectors. */
export const SEL = {
  CODE0: 0x08, DATA0: 0x10, CODE3: 0x1b, DATA3: 0x23, TSS: 0x28,
  CODE16: 0x30, DATA16: 0x38, CODE1: 0x41, DATA1: 0x49,
} as const;

/** Encode a code/data descriptor (access = P|DPL|S|type byte; flags = G|D/B nibble). */
export function segDescriptor(base: number, limit: number, access: number, flags = 0xc): [number, number] {
  const lo = ((base & 0xffff) << 16) | (limit & 0xffff);
  const hi = ((base >>> 16) & 0xff) | (access << 8) | (limit & 0xf0000) | (flags << 20) | (base & 0xff000000);
  return [lo | 0, hi | 0];
}

/** Encode a gate (type 0xE int32, 0xF trap32, 0xC call32, 0x5 task). */
export function gateDescriptor(selector: number, offset: number, type: number, dpl: number, params = 0): [number, number] {
  const lo = (selector << 16) | (offset & 0xffff);
  const hi = (offset & 0xffff0000) | 0x8000 | (dpl << 13) | (type << 8) | (params & 0x1f);
  return [lo | 0, hi | 0];
}

export interface FlatOptions {
  cpl?: 0 | 1 | 3;
  variant?: CpuVariant;
  /** A `--cpu` value (MODEL[,+F][,-F]); overrides `variant`. */
  cpu?: string;
  ramBytes?: number;
  /** The block compiler's settings (default: the CPU's default, on). */
  jit?: boolean | JitOptions;
}

export class FlatMachine {
  readonly m: Machine;
  constructor(opts: FlatOptions = {}) {
    this.m = new Machine({ ramBytes: opts.ramBytes ?? 4 * 1024 * 1024, model: parseCpuSpec(opts.cpu ?? opts.variant ?? "standard"), jit: opts.jit });
    const cpu = this.m.cpu;
    const gdt: [number, number][] = [
      [0, 0],
      segDescriptor(0, 0xfffff, 0x9a),       // 0x08 code, DPL 0
      segDescriptor(0, 0xfffff, 0x92),       // 0x10 data, DPL 0
      segDescriptor(0, 0xfffff, 0xfa),       // 0x18 code, DPL 3
      segDescriptor(0, 0xfffff, 0xf2),       // 0x20 data, DPL 3
      segDescriptor(TSS, 0x67, 0x89, 0),     // 0x28 32-bit TSS (available)
      segDescriptor(0, 0xffff, 0x9a, 0),     // 0x30 16-bit code
      segDescriptor(0, 0xffff, 0x92, 0),     // 0x38 16-bit data
      segDescriptor(0, 0xfffff, 0xba),       // 0x40 code, DPL 1
      segDescriptor(0, 0xfffff, 0xb2),       // 0x48 data, DPL 1
    ];
    gdt.forEach(([lo, hi], k) => { this.m.mem.write32(GDT + k * 8, lo); this.m.mem.write32(GDT + k * 8 + 4, hi); });
    for (let v = 0; v < 256; v++) {
      const [lo, hi] = gateDescriptor(SEL.CODE0, STUBS + v * 16, 0xe, 0);
      this.m.mem.write32(IDT + v * 8, lo);
      this.m.mem.write32(IDT + v * 8 + 4, hi);
      this.m.mem.write8(STUBS + v * 16, 0xf4); // hlt
    }
    // TSS: ring-0 stack, and an I/O bitmap after the 0x68-byte header that forbids everything
    // (tests that need ports clear bits or raise IOPL).
    this.m.mem.write32(TSS + 4, STACK0);
    this.m.mem.write32(TSS + 8, SEL.DATA0);
    this.m.mem.write32(TSS + 12, STACK0 - 0x400);
    this.m.mem.write32(TSS + 16, SEL.DATA1);
    this.m.mem.write16(TSS + 0x66, 0x68);
    cpu.gdtrBase = GDT; cpu.gdtrLimit = gdt.length * 8 - 1;
    cpu.idtrBase = IDT; cpu.idtrLimit = 256 * 8 - 1;
    cpu.setCr0(cpu.cr0 | CR0_PE);
    const d = new Descriptor();
    cpu.readDescriptor(SEL.TSS, d);
    cpu.tr.loadDescriptor(SEL.TSS, d);
    this.enterRing(opts.cpl ?? 0);
    cpu.eip = CODE;
  }

  get cpu() { return this.m.cpu; }
  get mem() { return this.m.mem; }

  /** Load CS/SS/DS/ES/FS/GS with the flat selectors of ring `cpl` and set ESP. */
  enterRing(cpl: 0 | 1 | 3): void {
    const cpu = this.m.cpu;
    const code = cpl === 0 ? SEL.CODE0 : cpl === 1 ? SEL.CODE1 : SEL.CODE3;
    const data = cpl === 0 ? SEL.DATA0 : cpl === 1 ? SEL.DATA1 : SEL.DATA3;
    const d = new Descriptor();
    cpu.readDescriptor(code, d);
    cpu.segs[SegReg.CS].loadDescriptor(code, d);
    cpu.cpl = cpl;
    cpu.readDescriptor(data, d);
    for (const s of [SegReg.SS, SegReg.DS, SegReg.ES, SegReg.FS, SegReg.GS]) cpu.segs[s].loadDescriptor(data, d);
    cpu.regs[4] = cpl === 0 ? STACK0 : STACK3;
  }

  /** Copy code bytes to `at` (default CODE) and point EIP there. */
  /**
   * Paging on, the low 4 MiB identity-mapped (read/write, supervisor, no A or D bits set) by
   * the page directory at `pd` and the page table at `pt`; a test changes entries of `pt` after.
   */
  pageLow4MiB(pd: number, pt: number): void {
    this.mem.write32(pd, pt | 3);
    for (let p = 0; p < 1024; p++) this.mem.write32(pt + p * 4, (p << 12) | 3);
    this.cpu.setCr3(pd);
    this.cpu.setCr0(this.cpu.cr0 | CR0_PG);
  }

  load(bytes: number[] | Uint8Array, at = CODE): void {
    this.m.mem.load(at, Uint8Array.from(bytes));
    this.m.cpu.eip = at;
  }

  /**
   * Run until HLT. Returns the vector of the exception stub that halted (-1 if the code's
   * own HLT or a budget end stopped it). A stub at vector v halts at STUBS + v*16 + 1.
   */
  runToHalt(maxInstructions = 100_000): number {
    const cpu = this.m.cpu;
    cpu.halted = false;
    // A slice can end early (an instruction that reprograms a device yields): go on until
    // the CPU halts, stops, or the budget is spent.
    const end = cpu.instructions + maxInstructions;
    while (!cpu.halted && cpu.instructions < end) {
      if (cpu.run(end - cpu.instructions) !== StopReason.Budget) break;
    }
    const eip = cpu.eip - 1;
    if (eip >= STUBS && eip < STUBS + 256 * 16 && (eip - STUBS) % 16 === 0) return (eip - STUBS) / 16;
    return -1;
  }
}

/**
 * A program that runs `call` (which leaves a value in EAX) 40 times, summing EAX into EBX,
 * with `change` before the 21st time, then halts: what a test runs to see that code is
 * fetched anew after a change of its mapping or its bytes.
 */
export function callLoop(change: string, call: string): string {
  return `
    xor ebx, ebx
    mov edx, 40
  1:
    cmp edx, 20
    jne 3f
    ${change}
  3:
    ${call}
    add ebx, eax
    dec edx
    jnz 1b
    hlt`;
}

/**
 * A program that calls f `turns` times, f adding its ADD EAX's imm32 (1) to EAX and leaving
 * EAX in EBX; when ECX (counting down from `turns`) reaches `at`, the loop rewrites that
 * imm32 to 5 before the call. EBX ends as (turns - at) * 1 + at * 5: what a test runs to see
 * that a block rewritten after it was compiled runs its new code.
 */
export function patchedCallLoop(turns: number, at: number): string {
  return `
      xor ebx, ebx
      mov ecx, ${turns}
      xor eax, eax
    1:
      cmp ecx, ${at}
      jne 2f
      mov dword ptr [patch + 1], 5
    2:
      call f
      dec ecx
      jnz 1b
      hlt
    f:
    patch:
      .byte 0x05
      .long 1
      mov ebx, eax
      ret`;
}
