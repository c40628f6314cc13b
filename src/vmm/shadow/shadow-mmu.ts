// Shadow page tables (DESIGN.md §3 "Shadow page tables"; docs/monitor.md).
//
// The machine's CR3 points at a shadow page directory built from the guest's, lazily: an
// entry is filled on the hidden page fault that first needs it, from a walk of the guest's
// tables (which sets the guest's A and D bits as the hardware would). A fault the guest's
// own tables also give is a true fault and goes to the guest.
//
// Shadow pages are kept per (role, guest frame): a directory per guest page directory, a
// table per guest page table, and for a guest 4 MiB page a table of 4 KiB entries keyed by
// the large page's base and rights. They stay cached across guest CR3 reloads; coherence
// comes from write-protecting every guest frame that holds a shadowed table: the guest's
// write faults, the monitor emulates it, then compares the table with the entries it
// shadowed and drops those that changed. Dirty bits: a page is mapped writable only once
// the guest's D bit is set, so the first write faults and sets it. The pool of shadow pages
// is bounded; when it runs out, every shadow page is dropped (and counted).
//
// Guest frames are traced for several reasons (page tables here; descriptor tables and
// translated code by other parts of the monitor); every shadow entry mapping a traced frame
// is read-only. A reverse map (frame → shadow entries) finds the mappings to downgrade when
// a frame becomes traced.

import type { PhysicalMemory } from "../../hw/mem/physical-memory.js";
import { walk, Translation, type PagingMode, PTE_P, PTE_W, PTE_U, PTE_A, PTE_D, PTE_PS, CR4_PSE } from "../../hw/mmu/paging.js";
import type { Counters } from "../stats/counters.js";
import { REGION_BASE } from "../layout.js";

export const TRACE_PT = 1, TRACE_DESC = 2, TRACE_CODE = 4;
const CR0_PG = 0x8000_0000 | 0;

const enum Role { Pd, Pt, Big, FlatPd, FlatPt }

class ShadowPage {
  /** Guest entries each shadow entry was built from (0: entry not filled). */
  readonly snap = new Int32Array(1024);
  constructor(readonly role: Role, readonly key: string, readonly gframe: number, readonly mframe: number) {}
}

export class ShadowMmu {
  private readonly free: number[] = [];
  private readonly pages = new Map<string, ShadowPage>();
  /** Shadow pages built from each guest frame (directories and tables). */
  private readonly byFrame = new Map<number, ShadowPage[]>();
  /** Per guest frame: TRACE_* bits. */
  readonly traced: Uint8Array;
  /** Reverse map: guest frame → machine addresses of shadow entries that map it. */
  private rmap = new Map<number, number[]>();
  /** Machine-side copy of every shadow entry written, for the integrity check. */
  private readonly mirror = new Map<number, number>();
  private root: ShadowPage | null = null;
  private readonly tr = new Translation();
  /** The shadow changed in a way the machine's TLB may still hold. */
  needFlush = false;

  constructor(
    private readonly machineMem: PhysicalMemory,
    private readonly guestMem: PhysicalMemory,
    poolBase: number,
    private readonly poolPages: number,
    private readonly regionPde: number,
    private readonly counters: Counters,
  ) {
    for (let k = poolPages - 1; k >= 0; k--) this.free.push(poolBase + k * 4096);
    this.traced = new Uint8Array(guestMem.ramSize >>> 12);
  }

  get poolSize(): number { return this.poolPages; }
  get poolUsed(): number { return this.poolPages - this.free.length; }

  /** The machine CR3 for the guest's paging state (a cached directory if there is one). */
  rootFor(m: PagingMode): number {
    let page: ShadowPage;
    if ((m.cr0 & CR0_PG) === 0) {
      page = this.get(Role.FlatPd, "flat", -1);
    } else {
      const g = (m.cr3 >>> 12) << 12;
      page = this.get(Role.Pd, `pd:${g >>> 12}:${(m.cr4 & CR4_PSE) !== 0 ? 1 : 0}`, g >>> 0);
    }
    this.root = page;
    return page.mframe;
  }

  /** The current shadow directory's machine frame. */
  get rootFrame(): number { return this.root?.mframe ?? 0; }

  private get(role: Role, key: string, gframe: number): ShadowPage {
    const have = this.pages.get(key);
    if (have !== undefined) { if (role === Role.Pd) this.counters.inc("shadow.root-cached"); return have; }
    if (this.free.length === 0) this.evictAll();
    const mframe = this.free.pop()!;
    const page = new ShadowPage(role, key, gframe, mframe);
    for (let k = 0; k < 1024; k++) this.setEntry(mframe + k * 4, 0);
    if (role === Role.Pd || role === Role.FlatPd) this.setEntry(mframe + 1023 * 4, this.regionPde);
    this.pages.set(key, page);
    this.counters.inc(role === Role.Pd || role === Role.FlatPd ? "shadow.root-built" : "shadow.table-built");
    if (role === Role.Pd || role === Role.Pt) {
      const list = this.byFrame.get(gframe >>> 12);
      if (list) list.push(page); else this.byFrame.set(gframe >>> 12, [page]);
      this.trace(gframe >>> 12, TRACE_PT);
    }
    return page;
  }

  /** Drop every shadow page (the pool is full). The caller reloads the machine CR3. */
  evictAll(): void {
    this.counters.inc("shadow.evict-all");
    this.counters.inc("shadow.evicted-pages", this.pages.size);
    for (const p of this.pages.values()) this.free.push(p.mframe);
    this.pages.clear();
    this.byFrame.clear();
    this.rmap = new Map();
    this.mirror.clear();
    for (let f = 0; f < this.traced.length; f++) {
      if ((this.traced[f] & TRACE_PT) !== 0) {
        this.traced[f] &= ~TRACE_PT;
        if (this.traced[f] === 0) this.guestMem.unwatch(f);
      }
    }
    this.root = null;
    this.needFlush = true;
    this.evicted = true;
  }

  /** Set when evictAll ran: the machine CR3 must be reloaded from rootFor(). */
  evicted = false;

  private setEntry(addr: number, v: number): void {
    this.machineMem.write32(addr, v);
    if (v !== 0) this.mirror.set(addr, v); else this.mirror.delete(addr);
  }

  /** Start tracing guest frame `f` for `why`: every writable shadow mapping of it becomes read-only. */
  trace(f: number, why: number): void {
    if (f >= this.traced.length) return;
    const was = this.traced[f];
    this.traced[f] = was | why;
    if (was !== 0) return;
    this.guestMem.watch(f);
    const list = this.rmap.get(f);
    if (list === undefined) return;
    for (const addr of list) {
      const e = this.machineMem.read32(addr);
      if ((e & PTE_P) !== 0 && (e >>> 12) === f && (e & PTE_W) !== 0) {
        this.setEntry(addr, e & ~PTE_W);
        this.needFlush = true;
      }
    }
    this.counters.inc("shadow.write-protect");
  }

  untrace(f: number, why: number): void {
    if (f >= this.traced.length) return;
    this.traced[f] &= ~why;
    if (this.traced[f] === 0) this.guestMem.unwatch(f);
  }

  /**
   * A hidden page fault at `lin`: fill the shadow from the guest's tables if they allow the
   * access. Returns false when the guest must see the fault, or when the access must be
   * emulated (a write to a traced frame, memory that is not RAM, the monitor region).
   */
  fill(m: PagingMode, lin: number, write: boolean, user: boolean): boolean {
    lin >>>= 0;
    if (lin >= REGION_BASE || this.root === null) return false;
    const paging = (m.cr0 & CR0_PG) !== 0;
    const tr = this.tr;
    let frame: number, pteBits: number, table: ShadowPage, pdeBits: number, gpde = 0, gpte = 0;
    const pdi = lin >>> 22, pti = (lin >>> 12) & 0x3ff;
    if (!paging) {
      frame = (lin >>> 12) << 12;
      if (!this.guestMem.isRam(frame)) return false;
      table = this.get(Role.FlatPt, `flat:${pdi}`, -1);
      pdeBits = PTE_P | PTE_W | PTE_U;
      pteBits = PTE_P | PTE_W | PTE_U;
    } else {
      if (!walk(this.guestMem, m, lin, write, user, tr)) return false;
      frame = tr.frame;
      if (!this.guestMem.isRam(frame)) return false;
      const pdAddr = ((m.cr3 >>> 12) << 12) + pdi * 4;
      gpde = this.guestMem.read32(pdAddr);
      if ((gpde & PTE_PS) !== 0 && (m.cr4 & CR4_PSE) !== 0) {
        const rights = gpde & (PTE_U | PTE_W | PTE_D);
        table = this.get(Role.Big, `big:${gpde >>> 22}:${rights}`, -1);
        pdeBits = PTE_P | (gpde & (PTE_U | PTE_W));
        pteBits = PTE_P | (gpde & PTE_U) | ((gpde & PTE_W) !== 0 && (gpde & PTE_D) !== 0 ? PTE_W : 0);
        gpte = frame | 1;
      } else {
        const ptFrame = (gpde >>> 12) << 12;
        table = this.get(Role.Pt, `pt:${ptFrame >>> 12}`, ptFrame >>> 0);
        pdeBits = PTE_P | (gpde & (PTE_U | PTE_W));
        gpte = this.guestMem.read32(ptFrame + pti * 4);
        pteBits = PTE_P | (gpte & PTE_U) | ((gpte & PTE_W) !== 0 && (gpte & PTE_D) !== 0 ? PTE_W : 0);
      }
    }
    if (this.root === null) return false; // evicted while building: the caller reloads CR3
    if ((this.traced[frame >>> 12] ?? 0) !== 0) {
      if (write) return false;
      pteBits &= ~PTE_W;
    }
    const root = this.root;
    const pdeAddr = root.mframe + pdi * 4;
    const wantPde = (table.mframe | pdeBits) >>> 0;
    if ((this.machineMem.read32(pdeAddr) >>> 0) !== wantPde) {
      this.setEntry(pdeAddr, wantPde | 0);
      this.needFlush = true;
    }
    root.snap[pdi] = paging ? (gpde | PTE_A) : 1;
    const pteAddr = table.mframe + pti * 4;
    this.setEntry(pteAddr, (frame | pteBits) | 0);
    table.snap[pti] = paging ? (gpte | PTE_A) : 1;
    const list = this.rmap.get(frame >>> 12);
    if (list === undefined) this.rmap.set(frame >>> 12, [pteAddr]);
    else if (list.length < 64 || !list.includes(pteAddr)) list.push(pteAddr);
    this.counters.inc(write ? "shadow.fill-write" : "shadow.fill-read");
    return true;
  }

  /**
   * The guest wrote traced page-table frame `f` (an emulated write): drop the shadow
   * entries whose guest entry changed other than by the A bit or a D bit being set.
   */
  tableWritten(f: number): void {
    const list = this.byFrame.get(f);
    if (list === undefined) return;
    this.counters.inc("shadow.pt-write");
    const base = f * 4096;
    for (const page of list) {
      const snap = page.snap;
      for (let i = 0; i < 1024; i++) {
        const old = snap[i];
        if (old === 0) continue;
        const cur = this.guestMem.read32(base + i * 4) | PTE_A;
        if (cur === old) continue;
        if ((old ^ cur) === PTE_D && (cur & PTE_D) !== 0) { snap[i] = cur; continue; }
        snap[i] = 0;
        if (page.role === Role.Pd && i === 1023) continue;
        this.setEntry(page.mframe + i * 4, 0);
        this.needFlush = true;
        this.counters.inc("shadow.entry-dropped");
      }
    }
  }

  /** Compare every shadow entry with what the monitor wrote (resource control). */
  tampered(): number {
    let bad = 0;
    for (const p of this.pages.values()) {
      for (let i = 0; i < 1024; i++) {
        const addr = p.mframe + i * 4;
        const want = this.mirror.get(addr) ?? 0;
        // The processor sets A and D in the entries it walks.
        if (((this.machineMem.read32(addr) ^ want) & ~(PTE_A | PTE_D)) !== 0) bad++;
      }
    }
    return bad;
  }
}
