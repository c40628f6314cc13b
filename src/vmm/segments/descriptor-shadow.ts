// Keeps the machine's GDT and LDT shadows in step with the guest's (DESIGN.md §3 "Segment
// truncation"): rebuilt when the guest loads GDTR or LDTR, and when it writes a page of its
// descriptor tables (those pages are traced: the write faults, is emulated, and lands here).

import type { Cpu } from "../../hw/cpu/cpu.js";
import { Descriptor, SegReg, type SegmentCache } from "../../hw/cpu/segment.js";
import type { World } from "../world/world.js";
import type { ShadowMmu } from "../shadow/shadow-mmu.js";
import { TRACE_DESC } from "../shadow/shadow-mmu.js";
import type { Counters } from "../stats/counters.js";
import { shadowDescriptor } from "./descriptors.js";
import * as L from "../layout.js";

const MAX_GUEST_ENTRIES = L.MONITOR_GDT_START >>> 3;

export class DescriptorShadow {
  private gdtBase = -1;
  private gdtLimit = -1;
  private ldtSel = -1;
  private ldtBase = -1;
  private ldtLimit = -1;
  private dirty = false;
  /** The shadow entries as last written ([lo, hi] pairs), to write only what changed. */
  private readonly gdt = new Int32Array(MAX_GUEST_ENTRIES * 2);
  private readonly ldt = new Int32Array(8192 * 2);
  private tracedFrames: number[] = [];
  private readonly d = new Descriptor();

  constructor(
    private readonly world: World,
    private readonly vcpu: Cpu,
    private readonly machine: Cpu,
    private readonly shadow: ShadowMmu,
    private readonly counters: Counters,
    private readonly top: number,
  ) {}

  /** A traced descriptor-table page was written. */
  written(): void { this.dirty = true; }

  sync(force: boolean): void {
    const vc = this.vcpu;
    const ldtValid = vc.ldtr.valid && (vc.ldtr.selector & 0xfffc) !== 0;
    const ldtSel = ldtValid ? vc.ldtr.selector : 0;
    const changed = vc.gdtrBase !== this.gdtBase || vc.gdtrLimit !== this.gdtLimit ||
      ldtSel !== this.ldtSel || (ldtValid && (vc.ldtr.base !== this.ldtBase || vc.ldtr.limit !== this.ldtLimit));
    if (!force && !this.dirty && !changed) return;
    this.dirty = false;
    this.gdtBase = vc.gdtrBase; this.gdtLimit = vc.gdtrLimit;
    this.ldtSel = ldtSel; this.ldtBase = ldtValid ? vc.ldtr.base : -1; this.ldtLimit = ldtValid ? vc.ldtr.limit : -1;
    this.counters.inc("desc.sync");
    const frames = new Set<number>();
    const n = Math.min((vc.gdtrLimit + 1) >>> 3, MAX_GUEST_ENTRIES);
    if (((vc.gdtrLimit + 1) >>> 3) > MAX_GUEST_ENTRIES) this.counters.inc("desc.gdt-overlaps-monitor-entries");
    for (let i = 0; i < MAX_GUEST_ENTRIES; i++) {
      const [lo, hi] = i < n && i > 0 ? this.readGuest(vc.gdtrBase + i * 8, frames) : [0, 0];
      if (this.gdt[i * 2] !== lo || this.gdt[i * 2 + 1] !== hi) {
        this.gdt[i * 2] = lo; this.gdt[i * 2 + 1] = hi;
        this.world.gdtEntry(i * 8, lo, hi);
      }
    }
    const m = this.machine;
    if (ldtValid) {
      const count = Math.min((vc.ldtr.limit + 1) >>> 3, 8192);
      for (let i = 0; i < count; i++) {
        const [lo, hi] = this.readGuest(vc.ldtr.base + i * 8, frames);
        if (this.ldt[i * 2] !== lo || this.ldt[i * 2 + 1] !== hi) {
          this.ldt[i * 2] = lo; this.ldt[i * 2 + 1] = hi;
          this.world.ldtEntry(i, lo, hi);
        }
      }
      const base = (L.REGION_BASE + L.LDT_OFF) >>> 0, limit = vc.ldtr.limit & 0xffff;
      this.world.gdtEntry(L.SEL_LDT, ((base & 0xffff) << 16) | limit, (base & 0xff00_0000) | ((base >>> 16) & 0xff) | 0x8200);
      m.readDescriptor(L.SEL_LDT, this.d);
      m.ldtr.loadDescriptor(L.SEL_LDT, this.d);
    } else {
      m.ldtr.loadNull(0);
    }
    for (const f of this.tracedFrames) if (!frames.has(f)) this.shadow.untrace(f, TRACE_DESC);
    this.tracedFrames = [...frames];
    for (const f of frames) this.shadow.trace(f, TRACE_DESC);
  }

  /**
   * The selector the machine should load for guest segment register `s` (cache `seg`) at
   * guest privilege `cpl`: the guest's own selector when its shadow entry matches what the
   * register has cached, otherwise a monitor entry holding the shadow of the cached copy.
   */
  machineSelector(s: number, seg: SegmentCache, cpl: number): number {
    let sel = seg.selector;
    if ((s === SegReg.CS || s === SegReg.SS) && cpl === 0) sel = (sel & ~3) | 1;
    if (!seg.valid || (sel & 0xfffc) === 0) return sel;
    const rawLimit = seg.gran ? seg.limit >>> 12 : seg.limit;
    const base = seg.base >>> 0;
    const lo = (((base & 0xffff) << 16) | (rawLimit & 0xffff)) | 0;
    const hi = ((base & 0xff00_0000) | ((base >>> 16) & 0xff) | ((seg.access & 0xff) << 8) |
      (rawLimit & 0x000f_0000) | (seg.gran ? 0x0080_0000 : 0) | (seg.big ? 0x0040_0000 : 0)) | 0;
    const [slo, shiRaw] = shadowDescriptor(lo, hi, this.top);
    const shi = (shiRaw & 0x9000) === 0x9000 ? shiRaw | 0x100 : shiRaw;
    const index = sel >>> 3;
    const table = (sel & 4) !== 0 ? this.ldt : this.gdt;
    if ((sel & 4) !== 0 || index < MAX_GUEST_ENTRIES) {
      if (table[index * 2] === slo && table[index * 2 + 1] === shi) return sel;
    }
    const slot = L.SEL_CACHED_BASE + s * 8;
    this.world.gdtEntry(slot, slo, shi);
    this.counters.inc("desc.cached-segment");
    return slot | (sel & 3);
  }

  /** Read the guest descriptor at linear `lin` and return its shadow. */
  private readGuest(lin: number, frames: Set<number>): [number, number] {
    const vc = this.vcpu;
    try {
      const lo = vc.readLin32(lin, false), hi = vc.readLin32(lin + 4, false);
      frames.add(vc.translateRead(lin, false) >>> 12);
      const [slo, shi] = shadowDescriptor(lo, hi, this.top);
      // Preset the accessed bit of code and data segments: the machine never writes it.
      return [slo, (shi & 0x9000) === 0x9000 ? shi | 0x100 : shi];
    } catch (e) {
      if (e !== vc.fault) throw e;
      return [0, 0];
    }
  }
}
