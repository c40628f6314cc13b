// The monitor's own world (docs/monitor.md): its GDT entries, IDT, TSS, stack and native
// entry points in monitor RAM, mapped supervisor-only at the top of every guest address
// space through page tables shared by all shadow page directories: one for 32-bit paging,
// two for PAE paging (SDM vol. 3 §4.3, §4.4). The machine enters
// it only through the IDT; nothing else in machine ring 0 exists.
//
// Every byte the monitor writes into its protected memory (tables, native page, translation
// cache) also goes to a host-side copy, so that at the end of a run the machine's copy can
// be compared with it: a guest that wrote the monitor is caught (resource control).

import type { NativeEntry, PhysicalMemory } from "../../hw/mem/physical-memory.js";
import type { NativeForm, NativeTargets } from "../../hw/mem/native-targets.js";
import { Descriptor, SegReg } from "../../hw/cpu/segment.js";
import { type Cpu, Reg } from "../../hw/cpu/cpu.js";
import * as L from "../layout.js";
import type { RegionEntries } from "../shadow/shadow-mmu.js";

const PTE_P = 1, PTE_W = 2;

/** Regions of the monitor compared with their expected contents after a run. */
const PROTECTED: [number, number][] = [
  [L.GDT_OFF, L.IDT_OFF + 0x800],
  [L.TSS_OFF, L.TSS_OFF + 0x68],
  [L.NATIVE_OFF, L.NATIVE_OFF + 0x1000],
  [L.TC_OFF, L.TC_OFF + L.TC_BYTES],
  [L.REGION_PAE_PT_OFF, L.REGION_PT_OFF + 0x1000],
];

export class World {
  /** Expected contents of the region's protected parts. */
  private readonly expected = new Uint8Array(L.REGION_SIZE);

  /**
   * @param mem machine memory
   * @param base machine-physical address of the region's first byte (monitor RAM)
   */
  constructor(private readonly mem: PhysicalMemory, readonly base: number) {}

  /** Machine-physical address of region offset `off`. */
  phys(off: number): number { return this.base + off; }

  /** A translator's helper at region offset `off`: native code entered at CPL 1 (docs/bt.md, "Returns"). */
  registerHelper(off: number, run: (cpu: Cpu) => void, form?: NativeForm): void {
    this.mem.registerNative(this.base + off, run as NativeEntry, true, form);
  }

  /** The table the helpers' forms look up (native-targets.ts): the translator keeps its entry points' cache there. */
  get nativeTargets(): NativeTargets { return this.mem.nativeTargets; }

  unregisterHelper(off: number): void {
    this.mem.unregisterRing1Native(this.base + off);
  }

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

  /** Build the tables and native entries; `entry(v)` runs for vector v, `idle()` for the idle loop. */
  build(entry: (vector: number) => void, idle: () => void, calloutDpl: number): void {
    // Native page: UD2 everywhere, entry points registered over it.
    for (let k = 0; k < 0x1000; k += 2) { this.put8(L.NATIVE_OFF + k, 0x0f); this.put8(L.NATIVE_OFF + k + 1, 0x0b); }
    for (let v = 0; v < 256; v++) {
      this.mem.registerNative(this.phys(L.NATIVE_OFF + v * L.NATIVE_STRIDE), () => entry(v));
    }
    this.mem.registerNative(this.phys(L.NATIVE_OFF + L.NATIVE_IDLE), () => idle());
    // IDT: interrupt gates to the native entries, DPL 0 (a guest INT n faults into the
    // monitor, which delivers it through the guest's IDT), except the translator's callout.
    for (let v = 0; v < 256; v++) {
      const off = (L.REGION_BASE + L.NATIVE_OFF + v * L.NATIVE_STRIDE) >>> 0;
      const dpl = v === L.VEC_CALLOUT ? calloutDpl : 0;
      this.put32(L.IDT_OFF + v * 8, ((L.SEL_MON_CS << 16) | (off & 0xffff)) | 0);
      this.put32(L.IDT_OFF + v * 8 + 4, ((off & 0xffff_0000) | 0x8e00 | (dpl << 13)) | 0);
    }
    // The monitor's own GDT entries (accessed bits preset: the CPU never writes them).
    this.gdtEntry(L.SEL_MON_CS, 0x0000ffff, 0x00cf9b00);
    this.gdtEntry(L.SEL_MON_DS, 0x0000ffff, 0x00cf9300);
    this.gdtEntry(L.SEL_TC_CS, 0x0000ffff, 0x00cfb900); // DPL 1, execute-only, accessed
    const tss = (L.REGION_BASE + L.TSS_OFF) >>> 0;
    this.gdtEntry(L.SEL_TSS, ((tss & 0xffff) << 16) | 0x67, (tss & 0xff00_0000) | ((tss >>> 16) & 0xff) | 0x8b00);
    // TSS: the ring-0 stack; the I/O map base beyond the limit, so all guest I/O faults.
    this.put32(L.TSS_OFF + 4, (L.REGION_BASE + L.STACK_TOP) | 0);
    this.put32(L.TSS_OFF + 8, L.SEL_MON_DS);
    this.put32(L.TSS_OFF + 0x64, 0x68 << 16);
    // The region's page tables: the tables, native page, stack and translation cache.
    for (let off = 0; off < L.REGION_SIZE; off += 0x1000) {
      const used = off < L.STACK_TOP || (off >= L.TC_OFF && off < L.TC_OFF + L.TC_BYTES);
      // A and D preset: the processor never needs to write them.
      const pte = used ? (this.phys(off) | PTE_P | PTE_W | 0x60) : 0;
      this.put32(L.REGION_PT_OFF + (off >>> 12) * 4, pte);
      this.put32(L.REGION_PAE_PT_OFF + (off >>> 12) * 8, pte);
      this.put32(L.REGION_PAE_PT_OFF + (off >>> 12) * 8 + 4, 0);
    }
  }

  /**
   * The directory entries every shadow directory covering the top of the address space
   * carries for the region: one 32-bit PDE, or two PAE PDEs (PD entries 510 and 511).
   */
  get regionEntries(): RegionEntries {
    return {
      legacy: [this.phys(L.REGION_PT_OFF) | PTE_P | PTE_W],
      pae: [this.phys(L.REGION_PAE_PT_OFF) | PTE_P | PTE_W, this.phys(L.REGION_PAE_PT_OFF + 0x1000) | PTE_P | PTE_W],
    };
  }

  gdtEntry(selector: number, lo: number, hi: number): void {
    this.put32(L.GDT_OFF + (selector & 0xfff8), lo);
    this.put32(L.GDT_OFF + (selector & 0xfff8) + 4, hi);
  }

  ldtEntry(index: number, lo: number, hi: number): void {
    this.put32(L.LDT_OFF + index * 8, lo);
    this.put32(L.LDT_OFF + index * 8 + 4, hi);
  }

  /** Point the machine at the monitor: its GDT, IDT, TSS, and its own code and stack. */
  enter(cpu: Cpu): void {
    cpu.gdtrBase = (L.REGION_BASE + L.GDT_OFF) | 0;
    cpu.gdtrLimit = 0xffff;
    cpu.idtrBase = (L.REGION_BASE + L.IDT_OFF) | 0;
    cpu.idtrLimit = 0x7ff;
    const d = new Descriptor();
    cpu.readDescriptor(L.SEL_TSS, d);
    cpu.tr.loadDescriptor(L.SEL_TSS, d);
    cpu.readDescriptor(L.SEL_MON_CS, d);
    cpu.segs[SegReg.CS].loadDescriptor(L.SEL_MON_CS, d);
    cpu.readDescriptor(L.SEL_MON_DS, d);
    for (const s of [SegReg.SS, SegReg.DS, SegReg.ES, SegReg.FS, SegReg.GS]) cpu.segs[s].loadDescriptor(L.SEL_MON_DS, d);
    cpu.updateCpl();
    cpu.regs[Reg.ESP] = (L.REGION_BASE + L.STACK_TOP) | 0;
  }

  /** Offsets in the protected parts whose machine contents differ from what the monitor wrote. */
  tampered(): number[] {
    const bad: number[] = [];
    for (const [lo, hi] of PROTECTED) {
      for (let off = lo; off < hi; off++) {
        if (this.mem.read8(this.base + off) !== this.expected[off]) { bad.push(off); if (bad.length >= 16) return bad; }
      }
    }
    return bad;
  }
}
