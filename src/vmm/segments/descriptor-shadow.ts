// Keeps the machine's GDT and LDT shadows in step with the guest's (DESIGN.md §3 "Segment
// truncation"): rebuilt when the guest loads GDTR or LDTR, and when it writes a page of its
// descriptor tables (those pages are traced: the write faults, is emulated, and lands here).

import type { Cpu } from "../../hw/cpu/cpu.js";
import { Descriptor, SegReg, type SegmentCache } from "../../hw/cpu/segment.js";
import { TRACE_DESC } from "../shadow/shadow-mmu.js";
import type { Counters } from "../stats/counters.js";
import { shadowDescriptor } from "./descriptors.js";
import * as L from "../layout.js";
import { DOUBLE_FIELD } from "../../hw/double-field.js";

/** Where shadow descriptors are written: the world's GDT and LDT. */
export interface DescriptorTables {
  gdtEntry(selector: number, lo: number, hi: number): void;
  ldtEntry(index: number, lo: number, hi: number): void;
}

/** The shadow paging's tracing of the guest's descriptor-table pages. */
export interface DescriptorTracer {
  trace(frame: number, why: number): void;
  untrace(frame: number, why: number): void;
}

/** The machine GDT's layout and the guest kernel's machine ring. */
export interface DescriptorLayout {
  /** The last linear byte a guest segment may reach. */
  top: number;
  /** The machine ring guest ring 0 runs at. */
  ring: 1 | 3;
  /** The first GDT byte offset the monitor keeps for itself. */
  monitorGdtStart: number;
  /** The monitor's entry for the shadow LDT, and the LDT's linear address. */
  selLdt: number;
  ldtLin: number;
  /** Six entries for cached descriptors (one per segment register). */
  selCachedBase: number;
  /** IA-32e mode: the LDT descriptor takes 16 bytes (base 63:32 in the second half). */
  long: boolean;
}

/** The 32-bit world's layout (docs/monitor.md), with the given top. */
export function legacyLayout(top: number): DescriptorLayout {
  return { top, ring: 1, monitorGdtStart: L.MONITOR_GDT_START, selLdt: L.SEL_LDT, ldtLin: (L.REGION_BASE + L.LDT_OFF) >>> 0, selCachedBase: L.SEL_CACHED_BASE, long: false };
}

/** The long-mode world's layout (docs/long-mode-monitor.md). */
export function longLayout(top: number, ring: 1 | 3): DescriptorLayout {
  return { top, ring, monitorGdtStart: L.MONITOR_GDT64_START, selLdt: L.SEL64_LDT, ldtLin: L.REGION64_BASE + L.LDT_OFF, selCachedBase: L.SEL64_CACHED_BASE, long: true };
}

export class DescriptorShadow {
  // Doubles from the start (src/hw/double-field.ts); the constructor stores -1 (none yet).
  private gdtBase = DOUBLE_FIELD;
  private gdtLimit = DOUBLE_FIELD;
  private ldtSel = -1;
  private ldtBase = DOUBLE_FIELD;
  private ldtLimit = DOUBLE_FIELD;
  private dirty = false;
  /** The shadow entries as last written ([lo, hi] pairs), to write only what changed. */
  private readonly gdt: Int32Array;
  private readonly ldt = new Int32Array(8192 * 2);
  private tracedFrames: number[] = [];
  /** GDT entries below this may be non-zero in `gdt` (the guest's count at the last sync). */
  private gdtUsed = 0;
  /**
   * Bumped by every sync and every monitor entry machineSelector writes: a segment register
   * the machine loaded at one stamp holds what loading its selector again would give.
   */
  stamp = 0;
  /** Bumped by every sync: machineSelector's memo is good for one generation. */
  private generation = 0;
  /** machineSelector's last answer per segment register: selector, lo, hi, result, generation. */
  private readonly memo = new Int32Array(6 * 5).fill(-1);
  /** readGuest's result: a shadow descriptor's [lo, hi]. */
  private readonly pair = new Int32Array(2);
  private readonly d = new Descriptor();
  private readonly layout: DescriptorLayout;
  /** Guest GDT entries the machine GDT can hold below the monitor's own. */
  private readonly maxGuestEntries: number;

  /** `layout`: the world's (a number: the 32-bit world with that top). */
  constructor(
    private readonly world: DescriptorTables,
    private readonly vcpu: Cpu,
    private readonly machine: Cpu,
    private readonly shadow: DescriptorTracer,
    private readonly counters: Counters,
    layout: number | DescriptorLayout,
  ) {
    this.gdtBase = -1; this.gdtLimit = -1; this.ldtBase = -1; this.ldtLimit = -1;
    this.layout = typeof layout === "number" ? legacyLayout(layout) : layout;
    this.maxGuestEntries = this.layout.monitorGdtStart >>> 3;
    this.gdt = new Int32Array(this.maxGuestEntries * 2);
  }

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
    this.generation++;
    this.stamp++;
    this.gdtBase = vc.gdtrBase; this.gdtLimit = vc.gdtrLimit;
    this.ldtSel = ldtSel; this.ldtBase = ldtValid ? vc.ldtr.base : -1; this.ldtLimit = ldtValid ? vc.ldtr.limit : -1;
    this.counters.inc("desc.sync");
    const frames = new Set<number>();
    const max = this.maxGuestEntries;
    const n = Math.min((vc.gdtrLimit + 1) >>> 3, max);
    if (((vc.gdtrLimit + 1) >>> 3) > max) this.counters.inc("desc.gdt-overlaps-monitor-entries");
    // Entries past both the guest's limit and the last one written are already zero.
    const upto = Math.max(n, this.gdtUsed);
    const sd = this.pair;
    for (let i = 0; i < upto; i++) {
      if (i < n && i > 0) this.readGuest(vc.gdtrBase + i * 8, frames); else { sd[0] = 0; sd[1] = 0; }
      const lo = sd[0], hi = sd[1];
      if (this.gdt[i * 2] !== lo || this.gdt[i * 2 + 1] !== hi) {
        this.gdt[i * 2] = lo; this.gdt[i * 2 + 1] = hi;
        this.world.gdtEntry(i * 8, lo, hi);
      }
    }
    this.gdtUsed = n;
    const m = this.machine;
    if (ldtValid) {
      const count = Math.min((vc.ldtr.limit + 1) >>> 3, 8192);
      for (let i = 0; i < count; i++) {
        this.readGuest(vc.ldtr.base + i * 8, frames);
        const lo = sd[0], hi = sd[1];
        if (this.ldt[i * 2] !== lo || this.ldt[i * 2 + 1] !== hi) {
          this.ldt[i * 2] = lo; this.ldt[i * 2 + 1] = hi;
          this.world.ldtEntry(i, lo, hi);
        }
      }
      const lay = this.layout, base = lay.ldtLin >>> 0, limit = vc.ldtr.limit & 0xffff;
      this.world.gdtEntry(lay.selLdt, ((base & 0xffff) << 16) | limit, (base & 0xff00_0000) | ((base >>> 16) & 0xff) | 0x8200);
      if (lay.long) this.world.gdtEntry(lay.selLdt + 8, Math.floor(lay.ldtLin / 0x1_0000_0000) | 0, 0);
      m.readDescriptor(lay.selLdt, this.d);
      m.ldtr.loadDescriptor(lay.selLdt, this.d);
      if (lay.long) m.ldtr.base = lay.ldtLin;
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
    if ((s === SegReg.CS || s === SegReg.SS) && cpl === 0) sel = (sel & ~3) | this.layout.ring;
    if (!seg.valid || (sel & 0xfffc) === 0) return sel;
    const rawLimit = seg.gran ? seg.limit >>> 12 : seg.limit;
    const base = seg.base >>> 0;
    const lo = (((base & 0xffff) << 16) | (rawLimit & 0xffff)) | 0;
    const hi = ((base & 0xff00_0000) | ((base >>> 16) & 0xff) | ((seg.access & 0xff) << 8) |
      (rawLimit & 0x000f_0000) | (seg.gran ? 0x0080_0000 : 0) | (seg.big ? 0x0040_0000 : 0) | (seg.l ? 0x0020_0000 : 0)) | 0;
    // The same register, selector and cached descriptor as last time, and no sync since:
    // the same answer (and a monitor entry, if that is the answer, still holds it).
    const mm = this.memo, at = s * 5;
    if (mm[at + 4] === this.generation && mm[at] === sel && mm[at + 1] === lo && mm[at + 2] === hi) {
      const r = mm[at + 3];
      if (r !== sel) this.counters.inc("desc.cached-segment");
      return r;
    }
    const r = this.shadowSelector(s, sel, lo, hi);
    mm[at] = sel; mm[at + 1] = lo; mm[at + 2] = hi; mm[at + 3] = r; mm[at + 4] = this.generation;
    return r;
  }

  /** machineSelector, worked out: the guest's selector if its shadow entry matches, else a monitor entry. */
  private shadowSelector(s: number, sel: number, lo: number, hi: number): number {
    const [slo, shiRaw] = shadowDescriptor(lo, hi, this.layout.top, this.layout.ring);
    const shi = (shiRaw & 0x9000) === 0x9000 ? shiRaw | 0x100 : shiRaw;
    const index = sel >>> 3;
    const table = (sel & 4) !== 0 ? this.ldt : this.gdt;
    if ((sel & 4) !== 0 || index < this.maxGuestEntries) {
      if (table[index * 2] === slo && table[index * 2 + 1] === shi) return sel;
    }
    const slot = this.layout.selCachedBase + s * 8;
    this.world.gdtEntry(slot, slo, shi);
    this.stamp++;
    this.counters.inc("desc.cached-segment");
    return slot | (sel & 3);
  }

  /** Read the guest descriptor at linear `lin`; its shadow goes to `pair` (zero if unreadable). */
  private readGuest(lin: number, frames: Set<number>): void {
    const vc = this.vcpu, out = this.pair;
    try {
      const lo = vc.readLin32(lin, false), hi = vc.readLin32(lin + 4, false);
      frames.add(vc.translateRead(lin, false) >>> 12);
      const [slo, shi] = shadowDescriptor(lo, hi, this.layout.top, this.layout.ring);
      // Preset the accessed bit of code and data segments: the machine never writes it.
      out[0] = slo;
      out[1] = (shi & 0x9000) === 0x9000 ? shi | 0x100 : shi;
    } catch (e) {
      if (e !== vc.fault) throw e;
      out[0] = 0; out[1] = 0;
    }
  }

}
