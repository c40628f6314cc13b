// SVM nested paging (AMD APM vol. 2 §15.25): while a guest with NP_ENABLE runs, every
// guest-physical address — of the guest's own page tables as its walk reads them, and of
// the page the walk ends at, or of every access when the guest's paging is off — is
// translated again through the host's tables at N_CR3. The guest's walk is the ordinary one
// (paging.ts), reading its tables through `read32`/`write32` below; the TLB then holds the
// combined linear → host-physical translation.
//
// The nested tables have the host's format at VMRUN (§15.25.3: legacy, PAE or 4-level by the
// host's CR4.PAE and EFER.LMA); every nested access is a user access (§15.25.5), so a
// nested page must have U/S set. A failed nested walk is #VMEXIT(NPF) (§15.25.6) with the
// #PF-style error code in EXITINFO1 — bit 32 set when the final guest-physical address
// faulted, bit 33 when an access of the guest's own walk did — and the guest-physical address
// in EXITINFO2.
//
// Simplification: in PAE format the four nested PDPTEs are read at VMRUN (as CR3 loads do)
// rather than on every walk.

import type { Cpu } from "../cpu.js";
import { Translation, walk, PFEC_ID, PFEC_U, type PagingMode } from "../../mmu/paging.js";
import type { Svm } from "./svm.js";

const TWO32 = 0x1_0000_0000;
const CR0_PG_WP = (1 << 31) | (1 << 16);

export class NestedPaging {
  private readonly mode: PagingMode & { pdpte: Int32Array };
  private readonly t = new Translation();
  /** Set while the guest's own walk reads its tables (EXITINFO1 bit 33 then, bit 32 otherwise). */
  private inGuestWalk = false;
  /** Nested walks done (each is a TLB miss of the guest's). */
  walks = 0;

  constructor(private readonly cpu: Cpu, private readonly svm: Svm, nCr3: number) {
    // The host's paging mode now, at VMRUN.
    this.mode = {
      cr0: CR0_PG_WP, cr3: (nCr3 % TWO32) | 0, cr3Hi: Math.floor(nCr3 / TWO32) | 0, cr4: cpu.cr4,
      lma: cpu.lma, nxe: cpu.nxe, maxPhyAddr: cpu.maxPhyAddr, page1gb: cpu.page1gb, pdpte: new Int32Array(8),
    };
    if (!cpu.lma && (cpu.cr4 & (1 << 5)) !== 0) {
      const base = (nCr3 & 0xffff_ffe0) >>> 0;
      for (let k = 0; k < 8; k++) this.mode.pdpte[k] = cpu.mem.read32(base + k * 4);
    }
  }

  /** The host-physical address of guest-physical `gpa`; #VMEXIT(NPF) if the host's tables forbid the access. */
  translate(gpa: number, write: boolean, fetch: boolean): number {
    this.walks++;
    const t = this.t;
    if (!walk(this.cpu.mem, this.mode, gpa, write, true, t)) this.fault(t.errorCode, gpa, fetch);
    if (fetch && t.noExec) this.fault(t.errorCode | 1, gpa, true);
    return t.frame + (gpa % 4096);
  }

  /** Whether the nested mapping of the page last translated allows writes (for the TLB's rights). */
  get lastWritable(): boolean { return this.t.writable; }

  /** The guest's walk: its paging structures live in guest-physical memory. */
  read32(gpa: number): number {
    this.inGuestWalk = true;
    try { return this.cpu.mem.read32(this.translate(gpa, false, false)); } finally { this.inGuestWalk = false; }
  }
  write32(gpa: number, v: number): void {
    this.inGuestWalk = true;
    try { this.cpu.mem.write32(this.translate(gpa, true, false), v); } finally { this.inGuestWalk = false; }
  }

  private fault(errorCode: number, gpa: number, fetch: boolean): never {
    let code = errorCode | PFEC_U | (fetch && this.mode.nxe === true ? PFEC_ID : 0);
    code += this.inGuestWalk ? 2 * TWO32 : TWO32;
    this.inGuestWalk = false;
    return this.svm.nestedPageFault(code, gpa);
  }
}
