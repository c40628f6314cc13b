// Shadow page tables (DESIGN.md §3 "Shadow page tables"; docs/monitor.md; Intel SDM vol. 3
// §4.3 "32-bit paging", §4.4 "PAE paging", §4.6 "Access rights", §4.8 "Accessed and dirty flags").
//
// The machine's CR3 points at a shadow hierarchy built from the guest's, lazily: an entry is
// filled on the hidden page fault that first needs it, from a walk of the guest's tables
// (`hw/mmu/paging.ts` `walk`, which checks the access and sets the guest's A and D bits as
// the hardware would). A fault the guest's own tables also give is a true fault and goes to
// the guest.
//
// The shadow has the guest's shape: a guest using 32-bit paging gets 2-level shadows of
// 4-byte entries on a machine in 32-bit paging; a PAE guest gets 3-level shadows of 8-byte
// entries on a machine in PAE paging (the monitor switches the machine's CR4.PAE with the
// guest's). A `Shape` says how many levels there are, where each level's index sits in the
// linear address, how wide an entry is, where large pages may be, and which level holds the
// monitor region; the fill, the coherence and the integrity check walk any shape the same
// way, so 4-level paging is one more Shape (plus 48-bit addresses) rather than new code.
//
//   32-bit  CR3 → PD (1024 × 4 B, 4 MiB pages with PSE) → PT (1024 × 4 B)
//   PAE     CR3 → PDPT (4 PDPTEs, loaded into registers at CR3 load) → PD (512 × 8 B, 2 MiB
//           pages) → PT (512 × 8 B); bit 63 of a PDE/PTE is XD when EFER.NXE is set
//
// Shadow pages are kept per (shape, level, guest frame): a shadow table per guest table, and
// for a guest large page (or guest paging off, shadowed as identity large pages) a table of
// 4 KiB entries keyed by the large page's base and rights. They stay cached across guest CR3
// reloads. PAE's top level is the PDPTE registers, not memory (SDM vol. 3 §4.4.1): the shadow
// PDPT is rebuilt from the vCPU's registers at every guest CR3 load, and its four entries
// point at the (cached) shadow directories; the guest's PDPT page is not traced, since
// writing it changes nothing until the next CR3 load.
//
// Coherence comes from write-protecting every guest frame that holds a shadowed table: the
// guest's write faults, the monitor emulates it, then compares the table with the entries it
// shadowed and drops those that changed. A page table (the last level) may instead be let
// out of sync (`unsyncLeaves`, as KVM's unsync shadow pages): its first write faults once
// and the frame stops being traced; its shadow entries then stand for TLB entries, dropped
// by the guest's INVLPG and compared again at its next TLB flush (`syncOutOfSync`), after
// which the frame is traced again (docs/monitor.md, "Tables out of sync").
//
// Dirty bits: a page is mapped writable only once the guest's D bit is set, so the first
// write faults and sets it. XD is copied into the shadow
// (the machine's EFER.NXE follows the guest's); an instruction fetch from a page the guest
// marked XD is a true fault. The pool of shadow pages is bounded; when it runs out, every
// shadow page is dropped (and counted).
//
// The monitor region (the top 4 MiB) is mapped in every shadow directory that covers the top
// of the address space, by entries pointing at the monitor's own page tables (one 32-bit PT,
// or two PAE PTs); no guest entry ever replaces them.
//
// Guest frames are traced for several reasons (page tables here; descriptor tables and
// translated code by other parts of the monitor); every shadow entry mapping a traced frame
// is read-only. A reverse map (frame → shadow entries) finds the mappings to downgrade when
// a frame becomes traced.

import { PageKind, type PhysicalMemory } from "../../hw/mem/physical-memory.js";
import { walk, Translation, type PagingMode, PTE_P, PTE_W, PTE_U, PTE_A, PTE_D, PTE_PS, CR4_PSE, CR4_PAE } from "../../hw/mmu/paging.js";
import type { Counters } from "../stats/counters.js";
import { REGION_BASE, REGION64_BASE } from "../layout.js";

/** tableWritten reads guest tables as Int32Array words on a little-endian host. */
const LITTLE_ENDIAN = new Uint8Array(new Int32Array([1]).buffer)[0] === 1;
import { viewEntry, type View } from "../world/two-tables.js";

export const TRACE_PT = 1, TRACE_DESC = 2, TRACE_CODE = 4;

/** Why the last fill() returned false. */
/** At most this many pool pages hold copies of ROM (the PC's 0xC0000–0xFFFFF is 64 pages) and the hole page. */
const FIXED_COPIES = 128;

export const enum Miss {
  /** The monitor region, no root, or an eviction while building. */
  OTHER,
  /** The guest's own tables refuse the access (or XD for a fetch): a true fault. */
  GUEST,
  /** A write to a traced frame: emulate it. */
  TRACED,
  /** The guest frame is not RAM (device memory): emulate the access. */
  NOT_RAM,
}
const CR0_PG = 0x8000_0000 | 0;
/** Bit 63 of a PAE or 4-level entry, in its high half: execute-disable. */
const XD_HI = 0x8000_0000 | 0;

/** The shape of a paging-structure hierarchy (SDM vol. 3 figures 4-2, 4-5; table 4-1). */
export interface Shape {
  /** Key prefix of this shape's shadow pages. */
  readonly name: string;
  /** Bytes per entry: 4 (32-bit paging) or 8 (PAE, 4-level). */
  readonly entryBytes: 4 | 8;
  /** Where each level's index starts in the linear address, root first. */
  readonly shifts: readonly number[];
  /** Entries per table at each level. */
  readonly entries: readonly number[];
  /** Levels whose entries may map a page (PS), and whether that needs CR4.PSE. */
  readonly largeAt: readonly boolean[];
  readonly largeNeedsPse: boolean;
  /** The root's entries are registers loaded at CR3 load (PAE's PDPTEs): P and the frame only. */
  readonly rootInRegisters: boolean;
  /** The level whose top table holds the monitor region's entries. */
  readonly regionLevel: number;
}

export const SHAPE_32: Shape = {
  name: "32", entryBytes: 4, shifts: [22, 12], entries: [1024, 1024], largeAt: [true, false], largeNeedsPse: true,
  rootInRegisters: false, regionLevel: 0,
};
export const SHAPE_PAE: Shape = {
  name: "pae", entryBytes: 8, shifts: [30, 21, 12], entries: [4, 512, 512], largeAt: [false, true, false], largeNeedsPse: false,
  rootInRegisters: true, regionLevel: 1,
};
/**
 * 4-level (IA-32e) paging, SDM vol. 3 §4.5, APM vol. 2 §5.3: PML4 → PDPT → PD → PT, 512
 * 8-byte entries each, 1 GiB pages at the PDPT (where CPUID says they exist: the guest's walk
 * refuses PDPTE.PS otherwise) and 2 MiB pages at the PD. Linear addresses are canonical 48-bit
 * numbers in [-2^47, 2^47) (docs/long-mode.md). With the long-mode monitor's region
 * (docs/long-mode-monitor.md) the top path PML4 511 → PDPT 511 → PD 511 always exists: its
 * two upper entries are present, writable and never XD whatever the guest has there, and PD
 * entry 511 is the region's.
 */
export const SHAPE_4L: Shape = {
  name: "4l", entryBytes: 8, shifts: [39, 30, 21, 12], entries: [512, 512, 512, 512], largeAt: [false, true, true, false],
  largeNeedsPse: false, rootInRegisters: false, regionLevel: 2,
};

const TWO32 = 0x1_0000_0000, TWO48 = TWO32 * 0x1_0000;

/**
 * The index of `lin` in a table at `level` of `shape`. `lin` is a 32-bit address (0 … 2^32)
 * for the 32-bit and PAE shapes, a canonical one (-2^47 … 2^47) for the 4-level shape.
 */
export function shapeIndex(lin: number, shape: Shape, level: number): number {
  const shift = shape.shifts[level], mask = shape.entries[level] - 1;
  if (lin >= 0 && lin < TWO32) return (shift >= 32 ? 0 : lin >>> shift) & mask;
  const u = lin < 0 ? lin + TWO48 : lin;
  return Math.floor(u / 2 ** shift) & mask;
}

/**
 * The entries that map the monitor region, per shape: in 32-bit paging one PDE (→ the
 * region's page table), in PAE paging two PDEs (→ its two PAE page tables). Supervisor,
 * writable, never XD.
 */
export interface RegionEntries {
  legacy: readonly number[];
  pae: readonly number[];
  /** 4-level paging: PD entry 511 (the kernel view's under --protect two-tables) … */
  long?: readonly number[];
  /** … and the user view's (two-tables). */
  longUser?: readonly number[];
}

/** The region's first linear address in a shadow of `shape`. */
function regionBase(shape: Shape): number {
  return shape === SHAPE_4L ? REGION64_BASE : REGION_BASE;
}

/** Is `lin` (32-bit, or canonical for the 4-level shape) in the monitor region? */
function inRegion(lin: number, shape: Shape): boolean {
  return shape === SHAPE_4L ? lin >= REGION64_BASE && lin < 0 : lin >= REGION_BASE;
}

class ShadowPage {
  /** Guest entries each shadow entry was built from, as 32-bit words (lo 0: entry not filled). */
  readonly snap = new Int32Array(1024);
  constructor(
    readonly shape: Shape, readonly level: number, readonly key: string,
    /** The guest table it shadows (-1: a large page's split, an identity table, a PAE root). */
    readonly gframe: number,
    readonly mframe: number,
    /** It covers the top of the address space: at the region level it holds the region's entries. */
    readonly top: boolean,
  ) {}
}

export class ShadowMmu {
  private readonly free: number[] = [];
  private readonly pages = new Map<string, ShadowPage>();
  /** Shadow pages by their machine frame. */
  private readonly byMframe = new Map<number, ShadowPage>();
  /** Shadow pages built from each guest frame (directories and tables). */
  private readonly byFrame = new Map<number, ShadowPage[]>();
  /** Per guest frame: TRACE_* bits. */
  readonly traced: Uint8Array;
  /** Reverse map: guest frame → machine addresses of shadow entries that map it. */
  private rmap = new Map<number, number[]>();
  /**
   * Machine-side copy of every shadow word written, for the integrity check: one per word
   * of the pool (a Map by address cost the monitor's fills and new tables a look-up and an
   * allocation per word).
   */
  private readonly mirror: Int32Array;
  private root: ShadowPage | null = null;
  /** The key suffix of the current paging mode's shadows (CR4.PSE for 32-bit, EFER.NXE for PAE; the view). */
  private modeKey = 0;
  /**
   * --protect two-tables: which of the two sets the shadows are built for (viewEntry); null
   * for one set (every other configuration). Each view has its own shadow pages.
   */
  private viewNow: View | null = null;
  private readonly tr = new Translation();
  /** The shadow changed in a way the machine's TLB may still hold. */
  needFlush = false;
  /**
   * Let page tables out of sync on their first write (the classic monitor); false: every
   * write to a shadowed table faults and is emulated (the hardware-assisted monitors'
   * shadow paging).
   */
  unsyncLeaves = false;
  /** Guest frames of page tables let out of sync since the guest's last TLB flush. */
  private readonly outOfSync: number[] = [];

  constructor(
    private readonly machineMem: PhysicalMemory,
    private readonly guestMem: PhysicalMemory,
    private readonly poolBase: number,
    private readonly poolPages: number,
    /** The monitor region's entries, or null when the monitor is not in the guest's address space (svm, vtx). */
    private region: RegionEntries | null,
    private readonly counters: Counters,
  ) {
    for (let k = poolPages - 1; k >= 0; k--) this.free.push(poolBase + k * 4096);
    this.mirror = new Int32Array(poolPages * 1024);
    this.traced = new Uint8Array(guestMem.ramSize >>> 12);
  }

  get poolSize(): number { return this.poolPages; }

  /** The monitor moved to another world (the long-mode region): drop every shadow, use its entries. */
  useRegion(region: RegionEntries): void {
    this.evictAll();
    this.region = region;
  }
  get poolUsed(): number { return this.poolPages - this.free.length; }

  /** The current root's shape: the machine's paging mode (CR4.PAE) must match it. */
  get shape(): Shape { return this.root?.shape ?? SHAPE_32; }

  /** The view shadows are built and filled for (two-tables); the caller loads rootFor() next. */
  get view(): View | null { return this.viewNow; }
  set view(v: View | null) { this.viewNow = v; }

  private get viewKey(): number { return this.viewNow === null ? 0 : this.viewNow === "kernel" ? 2 : 4; }

  /**
   * The machine CR3 for the guest's paging state (a cached root if there is one). For a PAE
   * guest, the shadow PDPT's four entries are brought in line with the vCPU's PDPTE
   * registers; the caller loads CR3 after every call (the machine reads PDPTEs only then).
   */
  rootFor(m: PagingMode): number {
    for (let attempt = 0; attempt < 2; attempt++) {
      this.evicted = false;
      const root = this.buildRoot(m);
      // An eviction while building freed the root itself: build again on the empty pool.
      if (!this.evicted) { this.root = root; return root.mframe; }
    }
    throw new Error(`the shadow page-table pool (${this.poolPages} pages) cannot hold one address space's root`);
  }

  private buildRoot(m: PagingMode): ShadowPage {
    if ((m.cr0 & CR0_PG) === 0) {
      this.modeKey = 0;
      return this.rootPage(SHAPE_32, "flat", -1);
    }
    if ((m.cr4 & CR4_PAE) === 0) {
      this.modeKey = (m.cr4 & CR4_PSE) !== 0 ? 1 : 0;
      const g = ((m.cr3 >>> 12) << 12) >>> 0;
      return this.rootPage(SHAPE_32, this.tableKey(SHAPE_32, 0, g, true), g);
    }
    this.modeKey = (m.nxe === true ? 1 : 0) | this.viewKey;
    if (m.lma === true) {
      // 4-level paging: the root is the guest's PML4, shadowed like any other table.
      const g = ((m.cr3 >>> 12) << 12) >>> 0;
      return this.rootPage(SHAPE_4L, this.tableKey(SHAPE_4L, 0, g, true), g);
    }
    const s = SHAPE_PAE;
    const root = this.rootPage(s, `pae:root:${(m.cr3 & ~0x1f) >>> 0}:${this.modeKey}`, -1);
    for (let i = 0; i < 4; i++) {
      const lo = m.pdpte[i * 2];
      // The top PDPTE always leads to a directory holding the monitor region, even when the
      // guest's is not present (its other entries then stay empty: every fault there is true).
      const present = (lo & PTE_P) !== 0;
      const top = i === 3 && this.region !== null;
      let want = 0;
      if (present || top) {
        const g = present ? ((lo >>> 12) << 12) >>> 0 : -1;
        const child = this.get(s, 1, present ? this.tableKey(s, 1, g, top) : `pae:1:none:${this.modeKey}`, g, top);
        want = child.mframe | PTE_P;
      }
      this.putEntry(root.mframe + i * 8, want, 0, true);
    }
    return root;
  }

  private rootPage(shape: Shape, key: string, gframe: number): ShadowPage {
    const have = this.pages.get(key);
    if (have !== undefined) { this.counters.inc("shadow.root-cached"); return have; }
    this.counters.inc("shadow.root-built");
    return this.get(shape, 0, key, gframe, true);
  }

  /**
   * The key of the shadow of guest table `gframe` at `level`. The mode bit is in it where it
   * changes what the shadow holds: NXE at every level of a wide shape (XD is copied), PSE only
   * at the levels where it decides whether PS maps a page.
   */
  private tableKey(shape: Shape, level: number, gframe: number, top: boolean): string {
    const mode = shape.largeNeedsPse && !shape.largeAt[level] ? 0 : this.modeKey;
    return `${shape.name}:${level}:${gframe >>> 12}:${top ? 1 : 0}:${mode}`;
  }

  /** The current shadow root's machine frame. */
  get rootFrame(): number { return this.root?.mframe ?? 0; }

  /** The shadow page for `key`, built empty if there is none (traced if it shadows a guest table). */
  private get(shape: Shape, level: number, key: string, gframe: number, top: boolean): ShadowPage {
    const have = this.pages.get(key);
    if (have !== undefined) return have;
    if (this.free.length === 0) this.evictAll();
    const mframe = this.free.pop()!;
    const page = new ShadowPage(shape, level, key, gframe, mframe, top);
    for (let k = 0; k < 1024; k++) this.setEntry(mframe + k * 4, 0);
    if (top && level === shape.regionLevel && this.region !== null) {
      const r = this.region;
      const entries = shape === SHAPE_PAE ? r.pae : shape === SHAPE_4L ? (this.viewNow === "user" ? r.longUser : r.long) ?? [] : r.legacy;
      const first = this.index(regionBase(shape), shape, level);
      for (let k = 0; k < entries.length; k++) this.putEntry(mframe + (first + k) * shape.entryBytes, entries[k], 0, shape.entryBytes === 8);
    }
    this.pages.set(key, page);
    this.byMframe.set(mframe, page);
    if (top && level < shape.regionLevel && this.region !== null && !shape.rootInRegisters) this.topPath(page);
    if (level !== 0) this.counters.inc("shadow.table-built");
    if (gframe >= 0) {
      const list = this.byFrame.get(gframe >>> 12);
      if (list) list.push(page); else this.byFrame.set(gframe >>> 12, [page]);
      this.trace(gframe >>> 12, TRACE_PT);
    }
    return page;
  }

  /**
   * 4-level shadows with the monitor region: the last entry of a top table above the region
   * level always leads on toward the region, present, writable and not XD (the region's own
   * entries decide its rights): to the shadow of the guest's next table when the guest has
   * one there (in this view), else to a table holding only the path.
   */
  private topPath(page: ShadowPage): void {
    const shape = page.shape, level = page.level, i = shape.entries[level] - 1, w = shape.entryBytes >>> 2;
    let glo = 0, ghi = 0;
    if (page.gframe >= 0) {
      glo = this.guestMem.read32(page.gframe + i * 8);
      ghi = this.guestMem.read32(page.gframe + i * 8 + 4);
      if (this.viewNow !== null) glo = viewEntry(glo, this.viewNow);
    }
    let child: ShadowPage;
    if ((glo & PTE_P) !== 0 && (glo & PTE_PS) === 0) {
      const g = ((glo >>> 12) << 12) >>> 0;
      child = this.get(shape, level + 1, this.tableKey(shape, level + 1, g, true), g, true);
      page.snap[i * w] = glo | PTE_A;
      page.snap[i * w + 1] = ghi;
    } else {
      child = this.get(shape, level + 1, `${shape.name}:${level + 1}:path:${this.modeKey}`, -1, true);
      page.snap[i * w] = 0;
    }
    this.putEntry(page.mframe + i * 8, child.mframe | PTE_P | PTE_W | (glo & PTE_U), 0, true);
  }

  private index(lin: number, shape: Shape, level: number): number {
    return shapeIndex(lin, shape, level);
  }

  /** Drop every shadow page (the pool is full). The caller reloads the machine CR3. */
  evictAll(): void {
    this.counters.inc("shadow.evict-all");
    this.counters.inc("shadow.evicted-pages", this.pages.size);
    for (const p of this.pages.values()) this.free.push(p.mframe);
    this.pages.clear();
    this.byMframe.clear();
    this.byFrame.clear();
    this.rmap = new Map();
    this.outOfSync.length = 0;
    this.mirror.fill(0);
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

  /**
   * The machine frame that reads as guest page `frame` when that never changes: for ROM a
   * copy made on its first read, for a hole (and any frame past the guest's RAM) one page
   * of 0xFF. Kept for the monitor's life, outside the shadow pages, so evictions leave
   * them. -1 for device memory, past FIXED_COPIES ROM pages, or with half the pool in use
   * (the copies never take the shadows' room).
   */
  private fixedCopy(frame: number): number {
    const kind = this.guestMem.pageKind(frame);
    if (kind === PageKind.Mmio) return -1;
    const key = kind === PageKind.Hole ? -1 : frame >>> 12;
    const have = this.fixedCopies.get(key);
    if (have !== undefined) return have;
    if (this.fixedCopies.size >= FIXED_COPIES || this.free.length < this.poolPages / 2) return -1;
    const mframe = this.free.pop()!;
    this.machineMem.load(mframe, this.guestMem.fixedPage(frame));
    this.fixedCopies.set(key, mframe);
    this.counters.inc("shadow.rom-copy");
    return mframe;
  }
  /** Guest ROM frame number (or -1, for holes) → the machine frame reading as it. */
  private readonly fixedCopies = new Map<number, number>();

  /** Set when evictAll ran: the machine CR3 must be reloaded from rootFor(). */
  evicted = false;
  /** The guest-physical frame the last fill() walked to (a TRACED miss: the frame written). */
  get missFrame(): number { return this.tr.frame; }
  /** Why the last fill() returned false. */
  miss = Miss.OTHER;

  private setEntry(addr: number, v: number): void {
    this.machineMem.write32(addr, v);
    this.mirror[(addr - this.poolBase) >>> 2] = v;
  }

  /** Write a shadow entry: its low half, and its high half if it is 8 bytes wide. */
  private putEntry(addr: number, lo: number, hi: number, wide: boolean): void {
    this.setEntry(addr, lo | 0);
    if (wide) this.setEntry(addr + 4, hi | 0);
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
      // The entry's low half holds the frame and the rights in every shape.
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
   * access. Returns false when the guest must see the fault (including an instruction fetch,
   * `fetch`, from a page the guest marked execute-disable), or when the access must be
   * emulated (a write to a traced frame, memory that is not RAM, the monitor region).
   */
  fill(m: PagingMode, lin: number, write: boolean, user: boolean, fetch = false): boolean {
    if (m.lma !== true) lin >>>= 0;
    const root = this.root;
    this.miss = Miss.OTHER;
    if (root === null || (this.region !== null && inRegion(lin, root.shape))) return false;
    const paging = (m.cr0 & CR0_PG) !== 0;
    let frame: number;
    if (paging) {
      const tr = this.tr;
      if (!walk(this.guestMem, m, lin, write, user, tr)) { this.miss = Miss.GUEST; return false; }
      if (fetch && tr.noExec) { this.miss = Miss.GUEST; return false; }
      frame = tr.frame;
    } else {
      frame = ((lin >>> 12) << 12) >>> 0;
    }
    // The machine frame the entry maps: the guest's RAM frame itself, or for a read of ROM
    // or of a hole, a read-only copy in monitor RAM (the access is emulated otherwise).
    let mframe = frame;
    const ram = this.guestMem.isRam(frame);
    if (!ram) {
      mframe = write ? -1 : this.fixedCopy(frame);
      if (mframe < 0) { this.miss = Miss.NOT_RAM; return false; }
    }
    const shape = root.shape, eb = shape.entryBytes, wide = eb === 8, last = shape.shifts.length - 1;
    const nx = wide && m.nxe === true;
    const pse = (m.cr4 & CR4_PSE) !== 0;
    let page = root;
    /** The guest table of the current level (its address), when the guest has one there. */
    let table = ((m.cr3 >>> 12) << 12) >>> 0;
    /** Inside a guest large page (or guest paging off): its U/W/D rights, else -1. */
    let rights = paging ? -1 : PTE_U | PTE_W | PTE_D;
    let largeXd = 0;
    for (let level = 0; ; level++) {
      const i = this.index(lin, shape, level);
      const at = page.mframe + i * eb;
      let glo = 0, ghi = 0;
      if (rights < 0) {
        if (level === 0 && shape.rootInRegisters) { glo = m.pdpte[i * 2]; ghi = m.pdpte[i * 2 + 1]; }
        else { glo = this.guestMem.read32(table + i * eb); ghi = wide ? this.guestMem.read32(table + i * eb + 4) : 0; }
      }
      if (level === last) {
        // The 4 KiB mapping.
        const bits = rights >= 0 ? rights : glo;
        let lo = mframe | PTE_P | (bits & PTE_U) | ((bits & PTE_W) !== 0 && (bits & PTE_D) !== 0 && ram ? PTE_W : 0);
        if (this.viewNow === "kernel") lo |= PTE_U;
        if ((this.traced[frame >>> 12] ?? 0) !== 0 && !(write && this.letOutOfSync(frame >>> 12))) {
          if (write) { this.miss = Miss.TRACED; return false; }
          lo &= ~PTE_W;
        }
        const hi = nx && ((rights >= 0 ? largeXd : ghi) & XD_HI) !== 0 ? XD_HI : 0;
        this.putEntry(at, lo, hi, wide);
        const w = eb >>> 2;
        page.snap[i * w] = rights >= 0 ? frame | 1 : glo | PTE_A;
        if (wide) page.snap[i * w + 1] = rights >= 0 ? 0 : ghi;
        const list = this.rmap.get(frame >>> 12);
        if (list === undefined) this.rmap.set(frame >>> 12, [at]);
        else if (list.length < 64 || !list.includes(at)) list.push(at);
        this.counters.inc(write ? "shadow.fill-write" : "shadow.fill-read");
        return true;
      }
      // A directory level: the entry names the next table, or maps a large page that the
      // shadow splits into 4 KiB entries.
      const top = page.top && i === shape.entries[level] - 1;
      let child: ShadowPage;
      let lo: number, hi = 0;
      if (rights < 0 && (glo & PTE_PS) !== 0 && shape.largeAt[level] && (pse || !shape.largeNeedsPse)) {
        rights = glo & (PTE_U | PTE_W | PTE_D);
        largeXd = nx ? ghi & XD_HI : 0;
      }
      if (rights >= 0) {
        // Inside a large page: a table of 4 KiB entries for the part of it this entry covers.
        const span = 2 ** shape.shifts[level];
        const base = frame - (frame % span);
        child = this.get(shape, level + 1, `${shape.name}:${level + 1}:big:${base >>> 12}:${rights}:${largeXd}:${top ? 1 : 0}`, -1, top);
        lo = child.mframe | PTE_P | (rights & (PTE_U | PTE_W));
        hi = largeXd;
      } else {
        const g = ((glo >>> 12) << 12) >>> 0;
        child = this.get(shape, level + 1, this.tableKey(shape, level + 1, g, top), g, top);
        table = g;
        lo = child.mframe | PTE_P | (glo & (PTE_U | PTE_W));
        hi = nx ? ghi & XD_HI : 0;
      }
      if (this.root === null) return false; // evicted while building: the caller reloads CR3
      if (this.viewNow === "kernel") lo |= PTE_U;
      if (top && level < shape.regionLevel && this.region !== null && !shape.rootInRegisters) { lo |= PTE_W; hi = 0; }
      if (level === 0 && shape.rootInRegisters) {
        // PDPTEs are written by rootFor and read by the machine at CR3 load only: one that
        // differs (it cannot, unless the vCPU's registers changed unseen) needs a reload.
        if ((this.machineMem.read32(at) >>> 0) !== ((child.mframe | PTE_P) >>> 0)) { this.evicted = true; return false; }
        page = child;
        continue;
      }
      // The machine sets A in a directory entry it walks: an entry that differs from what the
      // walk would put there by A alone is the same entry, for it and for its TLB. (Compared
      // with A, nearly every walk through a directory entry the machine had used rewrote it
      // and flushed the machine's whole TLB: 123 k of trap's 140 k flushes in Linux's boot.)
      if (((this.machineMem.read32(at) & ~PTE_A) >>> 0) !== (lo >>> 0) || (wide && this.machineMem.read32(at + 4) !== hi)) {
        this.putEntry(at, lo, hi, wide);
        this.needFlush = true;
      }
      if (page.gframe >= 0) {
        const w = eb >>> 2;
        page.snap[i * w] = glo | PTE_A;
        if (wide) page.snap[i * w + 1] = ghi;
      }
      page = child;
    }
  }

  /**
   * INVLPG `lin` (the guest's, or a monitor's hint): drop the 4 KiB shadow entry that maps
   * it in the current root, so the next access walks the guest's tables again and sets the
   * accessed and dirty bits as the processor would after its TLB entry was dropped.
   * Returns whether an entry was dropped.
   */
  invalidatePage(lin: number): boolean {
    const root = this.root;
    if (root?.shape !== SHAPE_4L) lin >>>= 0;
    if (root === null || (this.region !== null && inRegion(lin, root.shape))) return false;
    const shape = root.shape, eb = shape.entryBytes, last = shape.shifts.length - 1;
    let at = root.mframe + this.index(lin, shape, 0) * eb;
    for (let level = 0; level < last; level++) {
      const e = this.machineMem.read32(at);
      if ((e & PTE_P) === 0) return false;
      at = ((e >>> 12) << 12) + this.index(lin, shape, level + 1) * eb;
    }
    if ((this.machineMem.read32(at) & PTE_P) === 0) return false;
    // Find the shadow page holding the entry, to forget the guest entry it was built from.
    const mframe = at - (at % 4096), p = this.byMframe.get(mframe);
    if (p !== undefined) {
      const i = (at - mframe) / eb, w = eb >>> 2;
      p.snap[i * w] = 0;
      if (w === 2) p.snap[i * w + 1] = 0;
    }
    this.putEntry(at, 0, 0, eb === 8);
    this.needFlush = true;
    this.counters.inc("shadow.invlpg-dropped");
    return true;
  }

  /**
   * The guest wrote traced page-table frame `f` (an emulated write): drop the shadow
   * entries whose guest entry changed other than by the A bit or a D bit being set. When the
   * caller knows the bytes written (`len` at offset `off`, one store), only the entries under
   * them are compared; otherwise the whole table is (1,024 words against the snapshot: most
   * of a page-table store's cost).
   */
  tableWritten(f: number, off = 0, len = 4096): void {
    const list = this.byFrame.get(f);
    if (list === undefined) return;
    this.counters.inc("shadow.pt-write");
    this.compareTable(list, f, off, len);
  }

  /**
   * A write to traced frame `f`, a page table and nothing else, shadowed once (so an
   * INVLPG, which drops the entry of the current root, reaches its only shadow), may go
   * ahead without a fault from now on: the frame is no longer traced, and its shadow entries
   * wait for the guest's next TLB flush. Returns whether it was let out of sync.
   */
  private letOutOfSync(f: number): boolean {
    if (!this.unsyncLeaves || this.traced[f] !== TRACE_PT) return false;
    const list = this.byFrame.get(f);
    if (list === undefined || list.length !== 1 || list[0].level !== list[0].shape.shifts.length - 1) return false;
    this.untrace(f, TRACE_PT);
    this.outOfSync.push(f);
    this.counters.inc("shadow.unsync");
    return true;
  }

  /**
   * The guest flushed its TLB (a CR3 load, a paging-mode change): the shadow entries of the
   * tables let out of sync since the last flush are compared with the tables as they are now
   * (those that changed are dropped, as tableWritten drops them), and the frames are traced
   * again. Call before the guest runs on. (Each frame listed has its shadow page: pages go
   * only in evictAll, which empties the list.)
   */
  syncOutOfSync(): void {
    const list = this.outOfSync;
    if (list.length === 0) return;
    this.counters.inc("shadow.resync", list.length);
    for (let k = 0; k < list.length; k++) {
      const f = list[k];
      this.compareTable(this.byFrame.get(f)!, f, 0, 4096);
      this.trace(f, TRACE_PT);
    }
    list.length = 0;
  }

  /** Compare the entries of guest table `f` (shadowed by `list`) under `len` bytes at `off` with their snapshots; drop those that changed. */
  private compareTable(list: readonly ShadowPage[], f: number, off: number, len: number): void {
    const base = f * 4096;
    // The guest's table as 32-bit words, read straight from RAM (the frame is RAM: the
    // shadow was built from it); otherwise through read32.
    const mem = this.guestMem, ram = mem.ram;
    const words = LITTLE_ENDIAN && base + 4096 <= mem.ramSize && mem.notRam[f] === 0 && (ram.byteOffset & 3) === 0
      ? new Int32Array(ram.buffer, ram.byteOffset + base, 1024) : null;
    for (const page of list) {
      const snap = page.snap, shape = page.shape, eb = shape.entryBytes, w = eb >>> 2;
      const n = shape.entries[page.level];
      const first = Math.floor(off / eb), end = Math.min(n, Math.floor((off + len - 1) / eb) + 1);
      const regionFirst = page.top && page.level === shape.regionLevel && this.region !== null ? this.index(regionBase(shape), shape, page.level) : n;
      // The top path above the region level is re-pointed, never dropped.
      const path = page.top && page.level < shape.regionLevel && this.region !== null && !shape.rootInRegisters ? n - 1 : n;
      for (let i = first; i < end; i++) {
        const old = snap[i * w];
        if (old === 0) continue;
        const cur = (words !== null ? words[i * w] : mem.read32(base + i * eb)) | PTE_A;
        const hiSame = w === 1 || (words !== null ? words[i * w + 1] : mem.read32(base + i * eb + 4)) === snap[i * w + 1];
        if (cur === old && hiSame) continue;
        if ((old ^ cur) === PTE_D && (cur & PTE_D) !== 0 && hiSame) { snap[i * w] = cur; continue; }
        snap[i * w] = 0;
        if (i >= regionFirst) continue;
        if (i === path) { this.topPath(page); this.needFlush = true; continue; }
        this.putEntry(page.mframe + i * eb, 0, 0, w === 2);
        this.needFlush = true;
        this.counters.inc("shadow.entry-dropped");
      }
    }
  }

  /** Compare every shadow word with what the monitor wrote (resource control). */
  tampered(): number {
    let bad = 0;
    for (const p of this.pages.values()) {
      for (let i = 0; i < 1024; i++) {
        const addr = p.mframe + i * 4;
        const want = this.mirror[(addr - this.poolBase) >>> 2];
        // The processor sets A and D in the entries it walks (in the low half of a wide entry).
        const mask = p.shape.entryBytes === 8 && (i & 1) === 1 ? -1 : ~(PTE_A | PTE_D);
        if (((this.machineMem.read32(addr) ^ want) & mask) !== 0) bad++;
      }
    }
    return bad;
  }
}
