// The monitor's world for 64-bit guests (docs/long-mode-monitor.md): the region in Linux
// amd64's unused top 2 MiB (0xFFFFFFFFFFE00000), holding a GDT with the monitor's 64-bit
// code segment and a 16-byte TSS descriptor, an IDT of 256 sixteen-byte 64-bit interrupt
// gates into the native page (SDM vol. 3 §6.14.1), a 64-bit TSS whose RSP0 and IST1 are
// monitor stacks in the region (§7.7), and the region's page table, reached from every
// shadow root through one PDE (PML4 511 → PDPT 511 → PD 511).
//
// Where the guest kernel runs decides the rest (`guestRing`):
//   ring 1 (--protect segments, paging-only): the translated code's segment, the callout gate
//     and the guest kernel's stand-in data segment are DPL 1; with EFER.LMSLE the data
//     segment's limit (GUEST_LIMIT64) ends below the region (APM vol. 2 §4.12.2);
//   ring 3 (--protect two-tables): they are DPL 3, and the translation cache's pages are
//     U/S = 1 (read-only): paging's U/S bit alone keeps the guest out of everything else.
//
// As in the 32-bit world, every byte the monitor writes into its protected memory goes to a
// host-side copy too, compared with the machine's after a run (resource control).

import type { PhysicalMemory } from "../../hw/mem/physical-memory.js";
import { Descriptor, SegReg } from "../../hw/cpu/segment.js";
import { type Cpu, Reg } from "../../hw/cpu/cpu.js";
import * as L from "../layout.js";

const PTE_P = 1, PTE_W = 2, PTE_U = 4, PTE_A = 0x20, PTE_D = 0x40;
const TWO32 = 0x1_0000_0000;

export class World64 {
  private readonly expected = new Uint8Array(L.REGION64_SIZE);
  /** Offsets compared with their expected contents after a run. */
  private readonly protectedParts: [number, number][] = [
    [L.GDT_OFF, L.IDT_OFF + 256 * 16],
    [L.TSS_OFF, L.TSS_OFF + 0x68],
    [L.NATIVE_OFF, L.NATIVE_OFF + 0x1000],
    [L.TC64_OFF, L.TC64_OFF + L.TC64_BYTES],
    [L.REGION64_USER_PT_OFF, L.REGION64_PT_OFF + 0x1000],
  ];

  /**
   * @param mem machine memory
   * @param base machine-physical address of the region's first byte (monitor RAM)
   * @param guestRing the machine ring guest kernel code runs at: 1, or 3 with two tables
   * @param guestLimit the 32-bit limit of the guest kernel's data segments (LMSLE)
   */
  constructor(private readonly mem: PhysicalMemory, readonly base: number, readonly guestRing: 1 | 3, readonly guestLimit = L.GUEST_LIMIT64) {}

  /** Machine-physical address of region offset `off`. */
  phys(off: number): number { return this.base + off; }

  /** The canonical linear address of region offset `off`. */
  lin(off: number): number { return L.REGION64_BASE + off; }

  put8(off: number, v: number): void {
    this.mem.write8(this.base + off, v);
    this.expected[off] = v & 0xff;
  }

  /** `bytes` from `off` on, as put8 each (one code-write report per page: PhysicalMemory.writeBytes). */
  putBytes(off: number, bytes: ArrayLike<number>): void {
    this.mem.writeBytes(this.base + off, bytes);
    for (let k = 0; k < bytes.length; k++) this.expected[off + k] = bytes[k] & 0xff;
  }

  put32(off: number, v: number): void {
    for (let k = 0; k < 4; k++) this.put8(off + k, v >>> (k * 8));
  }

  /** A canonical 64-bit value (a JS number) as two dwords. */
  put64(off: number, v: number): void {
    this.put32(off, v | 0);
    this.put32(off + 4, Math.floor(v / TWO32) | 0);
  }

  /** Build the tables and native entries; `entry(v)` runs for vector v, `idle()` for the idle loop. */
  build(entry: (vector: number) => void, idle: () => void): void {
    const ring = this.guestRing;
    // The region's monitor RAM may hold another world's tables (a guest that turned long
    // mode on ran on the 32-bit world): start the protected parts from zero.
    for (const [lo, hi] of this.protectedParts) {
      for (let off = lo; off < hi; off += 4) this.mem.write32(this.base + off, 0);
      this.expected.fill(0, lo, hi);
    }
    for (let k = 0; k < 0x1000; k += 2) { this.put8(L.NATIVE_OFF + k, 0x0f); this.put8(L.NATIVE_OFF + k + 1, 0x0b); }
    for (let v = 0; v < 256; v++) this.mem.registerNative(this.phys(L.NATIVE_OFF + v * L.NATIVE_STRIDE), () => entry(v));
    this.mem.registerNative(this.phys(L.NATIVE_OFF + L.NATIVE_IDLE), () => idle());
    // IDT: 64-bit interrupt gates (type 0Eh), DPL 0 except the callout's; NMI, #DF and #MC
    // on IST1, so they always find a good stack.
    for (let v = 0; v < 256; v++) {
      const off = this.lin(L.NATIVE_OFF + v * L.NATIVE_STRIDE);
      const dpl = v === L.VEC_CALLOUT ? ring : 0;
      const ist = v === 2 || v === 8 || v === 18 ? 1 : 0;
      const lo = off | 0; // bits 31:0
      this.put32(L.IDT_OFF + v * 16, (L.SEL64_MON_CS << 16) | (lo & 0xffff));
      this.put32(L.IDT_OFF + v * 16 + 4, (lo & 0xffff_0000) | 0x8e00 | (dpl << 13) | ist);
      this.put32(L.IDT_OFF + v * 16 + 8, Math.floor(off / TWO32) | 0);
      this.put32(L.IDT_OFF + v * 16 + 12, 0);
    }
    // The monitor's descriptors (accessed bits preset: the CPU never writes them).
    this.gdtEntry(L.SEL64_MON_CS, 0x0000_ffff, 0x00af_9b00);                    // 64-bit code, DPL 0
    this.gdtEntry(L.SEL64_MON_DS, 0x0000_ffff, 0x00cf_9300);                    // data, DPL 0
    this.gdtEntry(L.SEL64_TC_CS, 0x0000_ffff, 0x00af_9900 | (ring << 13));      // 64-bit, execute-only
    const raw = this.guestLimit >>> 12; // G = 1: the limit in 4 KiB units
    this.gdtEntry(L.SEL64_GUEST_DS, raw & 0xffff, 0x00c0_9300 | (ring << 13) | (raw & 0xf_0000));
    const tss = this.lin(L.TSS_OFF), tlo = tss >>> 0;
    this.gdtEntry(L.SEL64_TSS, ((tlo & 0xffff) << 16) | 0x67, (tlo & 0xff00_0000) | ((tlo >>> 16) & 0xff) | 0x8b00);
    this.gdtEntry(L.SEL64_TSS + 8, Math.floor(tss / TWO32) | 0, 0);
    // The 64-bit TSS: RSP0 (any entry from the guest) and IST1; I/O map base past the limit.
    this.put64(L.TSS_OFF + 4, this.lin(L.STACK_TOP));
    this.put64(L.TSS_OFF + 0x24, this.lin(L.IST_STACK_TOP));
    this.put32(L.TSS_OFF + 0x64, 0x68 << 16);
    // The region's page table: tables, native page, stacks and translation cache. With the
    // guest kernel at ring 3 the TC must be fetchable at ring 3: U/S = 1, read-only.
    for (let off = 0; off < L.REGION64_SIZE; off += 0x1000) {
      const tc = off >= L.TC64_OFF && off < L.TC64_OFF + L.TC64_BYTES;
      const used = off < L.IST_STACK_TOP || tc;
      const pte = !used ? 0 : tc && ring === 3 ? (this.phys(off) | PTE_P | PTE_U | PTE_A | PTE_D) : (this.phys(off) | PTE_P | PTE_W | PTE_A | PTE_D);
      this.put32(L.REGION64_PT_OFF + (off >>> 12) * 8, pte);
      this.put32(L.REGION64_PT_OFF + (off >>> 12) * 8 + 4, 0);
      // The user set (two-tables): guest user code must not even read the TC.
      this.put32(L.REGION64_USER_PT_OFF + (off >>> 12) * 8, pte & ~PTE_U);
      this.put32(L.REGION64_USER_PT_OFF + (off >>> 12) * 8 + 4, 0);
    }
  }

  /**
   * The PDE every shadow root carries at PML4 511 → PDPT 511 → PD 511. U/S = 1 only when
   * the guest kernel runs at ring 3 (the TC's PTEs then say which pages ring 3 may fetch);
   * the upper levels of the top path must allow U/S = 1 too in that case.
   */
  get regionPde(): number {
    return this.phys(L.REGION64_PT_OFF) | PTE_P | PTE_W | (this.guestRing === 3 ? PTE_U : 0);
  }

  /** --protect two-tables: the PDE the user set's roots carry (no TC page is U/S = 1 there). */
  get regionPdeUser(): number {
    return this.phys(L.REGION64_USER_PT_OFF) | PTE_P | PTE_W | (this.guestRing === 3 ? PTE_U : 0);
  }

  gdtEntry(selector: number, lo: number, hi: number): void {
    this.put32(L.GDT_OFF + (selector & 0xfff8), lo);
    this.put32(L.GDT_OFF + (selector & 0xfff8) + 4, hi);
  }

  ldtEntry(index: number, lo: number, hi: number): void {
    this.put32(L.LDT_OFF + index * 8, lo);
    this.put32(L.LDT_OFF + index * 8 + 4, hi);
  }

  /**
   * Point the machine, already in IA-32e mode, at the monitor: GDT, IDT, TSS, its own
   * 64-bit code and stack.
   */
  enter(cpu: Cpu): void {
    cpu.gdtrBase = this.lin(L.GDT_OFF);
    cpu.gdtrLimit = 0xffff;
    cpu.idtrBase = this.lin(L.IDT_OFF);
    cpu.idtrLimit = 256 * 16 - 1;
    const d = new Descriptor();
    cpu.readDescriptor(L.SEL64_TSS, d);
    cpu.tr.loadDescriptor(L.SEL64_TSS, d);
    cpu.tr.base = this.lin(L.TSS_OFF); // the 16-byte descriptor's base 63:32
    cpu.readDescriptor(L.SEL64_MON_CS, d);
    cpu.segs[SegReg.CS].loadDescriptor(L.SEL64_MON_CS, d);
    cpu.readDescriptor(L.SEL64_MON_DS, d);
    for (const s of [SegReg.SS, SegReg.DS, SegReg.ES, SegReg.FS, SegReg.GS]) cpu.segs[s].loadDescriptor(L.SEL64_MON_DS, d);
    cpu.updateCpl();
    cpu.mode64 = true;
    const top = this.lin(L.STACK_TOP);
    cpu.regs[Reg.ESP] = top | 0;
    cpu.regsHi[Reg.ESP] = Math.floor(top / TWO32) | 0;
  }

  /** Offsets in the protected parts whose machine contents differ from what the monitor wrote. */
  tampered(): number[] {
    const bad: number[] = [];
    for (const [lo, hi] of this.protectedParts) {
      for (let off = lo; off < hi; off++) {
        if (this.mem.read8(this.base + off) !== this.expected[off]) { bad.push(off); if (bad.length >= 16) return bad; }
      }
    }
    return bad;
  }
}
