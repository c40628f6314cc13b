// Shadow paging for a hardware-assisted monitor whose processor has no nested paging: SVM on
// a first-generation AMD-V part (athlon64-revf; AMD APM vol. 2 §15.12 "Exception
// Intercepts", §15.9 "Instruction Intercepts" for MOV CRn and INVLPG, §15.16 "TLB Control")
// or VT-x without EPT (core-duo; Intel SDM vol. 3C §28.3 "Caching translation information",
// §25.1.3 for the CR3-load and INVLPG exits). docs/svm.md "Shadow paging".
//
// The guest runs in guest mode on the machine's MMU with the machine's CR3 at a shadow
// hierarchy that maps guest-linear addresses straight to host-physical frames. It is the
// classic monitor's `ShadowMmu` (same fill, same coherence by write-protecting the frames
// that hold guest tables, same cache of shadows across CR3 reloads), without a monitor
// region: the monitor lives outside the guest's address space, so every linear address
// belongs to the guest.
//
// What the monitor gives it (inputs):
//   - the guest's paging state (CR0, CR3, CR4, EFER.NXE and LMA, the PAE PDPTE registers) as the
//     vCPU holds it, after every exit the monitor handled (`update`); the monitor intercepts
//     MOV to CR0/CR3/CR4, WRMSR to EFER and task switches, so those only change on the vCPU;
//   - every #PF the guest takes in guest mode (`pageFault`: the exception intercept), with
//     its linear address and hardware error code;
//   - every INVLPG (`invlpg`);
//   - the guest frames the vCPU wrote (it watches them itself, through the guest's memory).
// What it gives back (outputs): the root to load as the guest's CR3 (`root`), and the CR0
// and CR4 the guest must run with (`hostCr0`, `hostCr4`): paging always on (an identity
// shadow while the guest's is off), CR0.WP always set (a read-only shadow entry must stop
// the guest's kernel too), CR4.PAE as the shadow's shape needs.
//
// A #PF the shadow caused (the guest's tables allow the access) is *hidden*: the entry is
// filled, the guest's A and D bits are set by the walk exactly as the processor would set
// them, and the guest resumes at the faulting instruction. A #PF the guest's tables give too
// is *true*: the monitor must make the guest take it (it runs the instruction on its vCPU,
// which delivers the #PF with the guest's error code and CR2 through the guest's IDT). A
// write to a frame holding a guest table, or an access to a frame that is not RAM, is
// *emulated*: the vCPU carries it out and the shadow drops the entries the write changed.

import type { PhysicalMemory } from "../../hw/mem/physical-memory.js";
import { CR0_WP, CR4_PAE, CR4_PSE, type PagingMode } from "../../hw/mmu/paging.js";
import type { Counters } from "../stats/counters.js";
import { ShadowMmu, Miss, TRACE_PT } from "./shadow-mmu.js";

const CR0_PG = 0x8000_0000 | 0;
const PFEC_W = 2, PFEC_U = 4, PFEC_ID = 0x10;
const EFER_NXE_KEY = 1 << 11, EFER_LMA_KEY = 1 << 10;

/** What a guest #PF turned out to be. */
export const enum PfOutcome {
  /** The shadow lacked the entry: filled; resume the guest at the same instruction. */
  HIDDEN,
  /** The guest's own tables refuse the access: the guest must take the #PF. */
  TRUE,
  /** Allowed, but the monitor must carry the access out (a traced frame, device memory). */
  EMULATE,
}

export class ShadowPaging {
  readonly mmu: ShadowMmu;
  /** Guest frames the vCPU wrote since the last update (only traced frames are reported). */
  private readonly written: number[] = [];
  private lastCr3 = -1;
  private lastKey = -1;
  private readonly lastPdpte = new Int32Array(8);
  private rootPa = 0;

  constructor(machineMem: PhysicalMemory, guestMem: PhysicalMemory, poolBase: number, poolPages: number,
    private readonly counters: Counters) {
    this.mmu = new ShadowMmu(machineMem, guestMem, poolBase, poolPages, null, counters);
    guestMem.onWatchedWrite = (page) => { if (this.written.length < 64) this.written.push(page); };
  }

  /** The host-physical root to load as the guest's CR3. */
  get root(): number { return this.rootPa; }
  /** The shadow has 8-byte entries (PAE or 4-level): the guest must run with CR4.PAE set. */
  get pae(): boolean { return this.mmu.shape.entryBytes === 8; }
  /** The shadow changed in a way a TLB may hold (a monitor whose entries do not flush it must). */
  get needFlush(): boolean { return this.mmu.needFlush; }
  set needFlush(v: boolean) { this.mmu.needFlush = v; }

  /** The CR0 the guest runs with: paging on, write protection on. */
  hostCr0(guestCr0: number): number { return (guestCr0 | CR0_PG | CR0_WP) >>> 0; }
  /** The CR4 the guest runs with: PAE as the shadow's shape. */
  hostCr4(guestCr4: number): number { return ((guestCr4 & ~CR4_PAE) | (this.pae ? CR4_PAE : 0)) >>> 0; }

  /**
   * Catch up with what the guest did on the vCPU: drop shadow entries of the tables it wrote,
   * and pick the root for its paging state (a cached one if it has been seen). PAE: a CR3
   * load reloads the PDPTE registers even with the same value, so they are compared too.
   * Returns whether the root changed.
   */
  update(g: PagingMode, force = false): boolean {
    for (const page of this.written) {
      if ((this.mmu.traced[page] & TRACE_PT) !== 0) this.mmu.tableWritten(page);
    }
    this.written.length = 0;
    const key = (g.cr0 & CR0_PG) | (g.cr4 & (CR4_PSE | CR4_PAE)) | (g.nxe === true ? EFER_NXE_KEY : 0) | (g.lma === true ? EFER_LMA_KEY : 0);
    const pae = (key & (CR0_PG | CR4_PAE | EFER_LMA_KEY)) === (CR0_PG | CR4_PAE);
    let changed = false;
    if (force || this.mmu.evicted || g.cr3 !== this.lastCr3 || key !== this.lastKey || (pae && !samePdptes(g.pdpte, this.lastPdpte))) {
      this.lastCr3 = g.cr3;
      this.lastKey = key;
      this.lastPdpte.set(g.pdpte);
      this.counters.inc("shadow.cr3-switch");
      this.loadRoot(g);
      changed = true;
    }
    return changed;
  }

  private loadRoot(g: PagingMode): void {
    this.mmu.evicted = false;
    this.rootPa = this.mmu.rootFor(g);
    this.mmu.needFlush = true;
  }

  /**
   * A #PF the guest took at `lin` with the processor's error code `errorCode` (P, W/R, U/S,
   * I/D), the guest's paging state `g`. A supervisor write to a page the guest maps
   * read-only, with the guest's CR0.WP clear, is allowed to the guest but not to the shadow
   * (it runs with WP set): emulated.
   */
  pageFault(g: PagingMode, lin: number, errorCode: number): PfOutcome {
    const write = (errorCode & PFEC_W) !== 0, user = (errorCode & PFEC_U) !== 0, fetch = (errorCode & PFEC_ID) !== 0;
    if (write && !user && (g.cr0 & CR0_WP) === 0 && (g.cr0 & CR0_PG) !== 0) {
      this.counters.inc("pf.emulated");
      return PfOutcome.EMULATE;
    }
    if (this.mmu.fill(g, lin, write, user, fetch)) {
      this.counters.inc("pf.hidden");
      return PfOutcome.HIDDEN;
    }
    if (this.mmu.evicted) {
      // The pool ran out while building: a fresh root, and the guest faults again.
      this.loadRoot(g);
      this.counters.inc("pf.hidden");
      return PfOutcome.HIDDEN;
    }
    if (this.mmu.miss === Miss.GUEST) {
      this.counters.inc("pf.true");
      return PfOutcome.TRUE;
    }
    this.counters.inc("pf.emulated");
    return PfOutcome.EMULATE;
  }

  /** The guest's INVLPG of `lin` (after the vCPU ran it). */
  invlpg(lin: number): void {
    this.mmu.invalidatePage(lin);
  }

  /** Forget every shadow (a restored snapshot: the guest's tables are other ones now). */
  reset(g: PagingMode): void {
    this.mmu.evictAll();
    this.written.length = 0;
    this.update(g, true);
  }

  /** Shadow entries changed behind the monitor's back (resource control). */
  tampered(): number { return this.mmu.tampered(); }

  stats(c: Record<string, number>): void {
    c["shadow.pool-used"] = this.mmu.poolUsed;
  }
}

function samePdptes(a: Int32Array, b: Int32Array): boolean {
  for (let i = 0; i < 8; i++) if (a[i] !== b[i]) return false;
  return true;
}
