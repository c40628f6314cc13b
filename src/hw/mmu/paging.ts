// Linear-to-physical translation: 32-bit paging, PAE paging and 4-level (IA-32e) paging
// (Intel SDM vol. 3 chapter 4, §4.3 "32-bit paging", §4.4 "PAE paging", §4.5 "4-level
// paging", §4.6 "Access rights", §4.7 "Page-fault exceptions", §4.8 "Accessed and dirty
// flags"; AMD APM vol. 2 §5.3 "Long-mode page translation").
//
// The walk is a function of (memory, control registers, address, access kind) that returns a
// translation or a page-fault error code; the caller decides what a fault becomes (a #PF for
// the CPU, a hidden fault for a shadow MMU later). Its only side effect is the one real
// hardware has: setting accessed and dirty flags in the paging structures it used.
//
// 32-bit PDE/PTE (SDM vol. 3 figure 4-4):
//   31            12 11  9 8 7  6 5 4   3   2   1   0
//  +----------------+-----+-+--+-+-+---+---+---+---+-+
//  | frame          | avl |G|PS|D|A|PCD|PWT|U/S|R/W|P|
//  +----------------+-----+-+--+-+-+---+---+---+---+-+

import { DOUBLE_FIELD } from "../double-field.js";

export const PTE_P = 1 << 0;
export const PTE_W = 1 << 1;
export const PTE_U = 1 << 2;
export const PTE_PWT = 1 << 3;
export const PTE_PCD = 1 << 4;
export const PTE_A = 1 << 5;
export const PTE_D = 1 << 6;
export const PTE_PS = 1 << 7;
export const PTE_G = 1 << 8;

/** Page-fault error code bits (SDM vol. 3 figure 4-12). */
export const PFEC_P = 1 << 0;
export const PFEC_W = 1 << 1;
export const PFEC_U = 1 << 2;
export const PFEC_RSVD = 1 << 3;
export const PFEC_ID = 1 << 4;

export const CR0_WP = 1 << 16;
export const CR4_PSE = 1 << 4;
export const CR4_PAE = 1 << 5;
export const CR4_PGE = 1 << 7;

/** What a walk reads and writes paging structures through: physical memory, or guest-physical memory through EPT. */
export interface PageTableMemory {
  read32(addr: number): number;
  write32(addr: number, value: number): void;
}

/** The registers a walk depends on (the long-mode ones may be left out: legacy paging). */
export interface PagingMode {
  cr0: number;
  cr3: number;
  cr4: number;
  /** PAE: the four PDPTEs loaded at the last CR3 write (SDM vol. 3 §4.4.1), [lo, hi] pairs. */
  pdpte: Int32Array;
  /** EFER.LMA: IA-32e mode, so 4-level paging (CR3 bits 63:32 are in cr3Hi). */
  lma?: boolean;
  /** EFER.NXE: the XD bit (63) of 4-level and PAE entries is defined. */
  nxe?: boolean;
  /** Bits 63:32 of CR3 (4-level paging). */
  cr3Hi?: number;
  /** MAXPHYADDR (CPUID 8000_0008h:EAX[7:0]): entry bits from here to 51 are reserved. */
  maxPhyAddr?: number;
  /** 1 GiB pages exist (CPUID 8000_0001h:EDX bit 26); without them PDPTE.PS is reserved. */
  page1gb?: boolean;
}

/** Outcome of a walk. Preallocate one and reuse it. */
export class Translation {
  ok = false;
  /**
   * Physical address of the 4 KiB frame containing the address (low 12 bits zero). A double
   * from the start (src/hw/double-field.ts): frames at 2 GiB and above (a local APIC's MMIO).
   */
  frame = DOUBLE_FIELD;
  /** Access rights of the final mapping: user-accessible, writable (U/S and R/W of all levels). */
  user = false;
  writable = false;
  /** The mapping is global (G, only meaningful with CR4.PGE). */
  global = false;
  /** Dirty flag is now set in the final entry (a later write needs no walk). */
  dirty = false;
  /** Execute-disable: instruction fetches from the page fault (XD in any level, EFER.NXE). */
  noExec = false;
  /** Page-fault error code when !ok. */
  errorCode = 0;
  constructor() { this.frame = 0; }
}

/**
 * Translate `lin` for an access of the given kind.
 * `write`: a write access; `user`: the access is made at CPL 3 (not an implicit supervisor
 * access). Fills `out`; returns out.ok. On failure out.errorCode is the #PF error code.
 */
export function walk(mem: PageTableMemory, m: PagingMode, lin: number, write: boolean, user: boolean, out: Translation): boolean {
  out.noExec = false;
  if (m.lma === true) return walk4Level(mem, m, lin, write, user, out);
  lin >>>= 0;
  const wp = (m.cr0 & CR0_WP) !== 0;
  const ecBase = (write ? PFEC_W : 0) | (user ? PFEC_U : 0);
  if ((m.cr4 & CR4_PAE) !== 0) return walkPae(mem, m, lin, write, user, wp, ecBase, out);

  const pdeAddr = ((m.cr3 & 0xffff_f000) + ((lin >>> 22) << 2)) >>> 0;
  const pde = mem.read32(pdeAddr);
  if ((pde & PTE_P) === 0) return fail(out, ecBase);
  if ((pde & PTE_PS) !== 0 && (m.cr4 & CR4_PSE) !== 0) {
    // 4 MiB page.
    return finishLargePage(mem, pdeAddr, pde, ((pde & 0xffc0_0000) | (lin & 0x003f_f000)) >>> 0, write, user, wp, ecBase, out);
  }
  const pteAddr = ((pde & 0xffff_f000) + (((lin >>> 12) & 0x3ff) << 2)) >>> 0;
  const pte = mem.read32(pteAddr);
  if ((pte & PTE_P) === 0) return fail(out, ecBase);
  return finishPte(mem, pdeAddr, pde, pteAddr, pte, write, user, wp, ecBase, out);
}

/** The last level of a 4 KiB mapping: rights, then the A bit in the PDE and A/D in the PTE. */
function finishPte(mem: PageTableMemory, pdeAddr: number, pde: number, pteAddr: number, pte: number,
  write: boolean, user: boolean, wp: boolean, ecBase: number, out: Translation): boolean {
  if (!allowed(pde, pte, write, user, wp)) return fail(out, ecBase | PFEC_P);
  if ((pde & PTE_A) === 0) mem.write32(pdeAddr, pde | PTE_A);
  let upd = pte | PTE_A;
  if (write) upd |= PTE_D;
  if (upd !== pte) mem.write32(pteAddr, upd);
  return succeed(out, (pte & 0xffff_f000) >>> 0, pde, pte, (upd & PTE_D) !== 0);
}

// PAE entries are 64-bit; with MAXPHYADDR = 36 and no NX, bits 63:36 are reserved
// (SDM vol. 3 §4.4.2, table 4-8 ... 4-11). Frames above 4 GiB have no RAM here and are
// truncated to 32 bits; the machine never has that much memory.
const PAE_HI_RSVD = 0xffff_fff0 | 0;

function walkPae(mem: PageTableMemory, m: PagingMode, lin: number, write: boolean, user: boolean, wp: boolean, ecBase: number, out: Translation): boolean {
  const n = lin >>> 30;
  const pdpte = m.pdpte[n * 2];
  if ((pdpte & PTE_P) === 0) return fail(out, ecBase);
  // With EFER.NXE, bit 63 (XD) of a PDE or PTE is defined (SDM vol. 3 §4.4.2, tables 4-9 … 4-11).
  const rsvd = m.nxe === true ? PAE_HI_RSVD & 0x7fff_ffff : PAE_HI_RSVD;
  const pdeAddr = ((pdpte & 0xffff_f000) + (((lin >>> 21) & 0x1ff) << 3)) >>> 0;
  const pde = mem.read32(pdeAddr);
  const pdeHi = mem.read32(pdeAddr + 4);
  if ((pde & PTE_P) === 0) return fail(out, ecBase);
  if ((pdeHi & rsvd) !== 0) return fail(out, ecBase | PFEC_P | PFEC_RSVD);
  if ((pde & PTE_PS) !== 0) {
    // 2 MiB page; bits 20:13 reserved.
    if ((pde & 0x001f_e000) !== 0) return fail(out, ecBase | PFEC_P | PFEC_RSVD);
    if (!finishLargePage(mem, pdeAddr, pde, ((pde & 0xffe0_0000) | (lin & 0x001f_f000)) >>> 0, write, user, wp, ecBase, out)) return false;
    out.noExec = m.nxe === true && pdeHi < 0;
    return true;
  }
  const pteAddr = ((pde & 0xffff_f000) + (((lin >>> 12) & 0x1ff) << 3)) >>> 0;
  const pte = mem.read32(pteAddr);
  const pteHi = mem.read32(pteAddr + 4);
  if ((pte & PTE_P) === 0) return fail(out, ecBase);
  if ((pteHi & rsvd) !== 0) return fail(out, ecBase | PFEC_P | PFEC_RSVD);
  if (!finishPte(mem, pdeAddr, pde, pteAddr, pte, write, user, wp, ecBase, out)) return false;
  out.noExec = m.nxe === true && (pdeHi | pteHi) < 0;
  return true;
}

/** A 4 MiB (or PAE 2 MiB) page mapped by the PDE itself: rights, then its A/D bits. */
function finishLargePage(mem: PageTableMemory, pdeAddr: number, pde: number, frame: number,
  write: boolean, user: boolean, wp: boolean, ecBase: number, out: Translation): boolean {
  if (!allowed(pde, pde, write, user, wp)) return fail(out, ecBase | PFEC_P);
  let upd = pde | PTE_A;
  if (write) upd |= PTE_D;
  if (upd !== pde) mem.write32(pdeAddr, upd);
  return succeed(out, frame, pde, pde, (upd & PTE_D) !== 0);
}

/** SDM vol. 3 §4.6: rights are the AND of U/S and R/W across levels; WP governs supervisor writes. */
function allowed(dir: number, leaf: number, write: boolean, user: boolean, wp: boolean): boolean {
  const u = (dir & leaf & PTE_U) !== 0;
  const w = (dir & leaf & PTE_W) !== 0;
  if (user) return u && (!write || w);
  return !write || w || !wp;
}

function fail(out: Translation, errorCode: number): boolean {
  out.ok = false;
  out.errorCode = errorCode;
  return false;
}

function succeed(out: Translation, frame: number, dir: number, leaf: number, dirty: boolean): boolean {
  out.ok = true;
  out.frame = frame;
  out.user = (dir & leaf & PTE_U) !== 0;
  out.writable = (dir & leaf & PTE_W) !== 0;
  out.global = (leaf & PTE_G) !== 0;
  out.dirty = dirty;
  return true;
}

// ---- 4-level paging (SDM vol. 3 §4.5, tables 4-14 … 4-20) ----
//
// `lin` is a canonical linear address as a JS number in [-2^47, 2^47) (docs/long-mode.md).
// Entries are 64 bits, read as two halves. In the high half, bits MAXPHYADDR–51 are reserved,
// bits 52–62 are ignored and bit 63 is XD (reserved unless EFER.NXE). Frames above 4 GiB have
// no memory here and are truncated to 32 bits, as in PAE paging.

const TWO32 = 0x1_0000_0000;

/** Reserved bits of an entry's high half for a MAXPHYADDR and EFER.NXE. */
function highReserved(m: PagingMode): number {
  const bits = m.maxPhyAddr ?? 36;
  const phys = bits >= 52 ? 0 : (~((1 << (bits - 32)) - 1) & 0x000f_ffff);
  return (phys | (m.nxe ? 0 : 0x8000_0000)) | 0;
}

function walk4Level(mem: PageTableMemory, m: PagingMode, lin: number, write: boolean, user: boolean, out: Translation): boolean {
  const wp = (m.cr0 & CR0_WP) !== 0;
  const ecBase = (write ? PFEC_W : 0) | (user ? PFEC_U : 0);
  const rsvdHi = highReserved(m);
  const u48 = lin < 0 ? lin + TWO32 * 0x1_0000 : lin;
  const bits47to32 = Math.floor(u48 / TWO32);
  const low = lin >>> 0;
  const indexes = [(bits47to32 >>> 7) & 0x1ff, ((bits47to32 & 0x7f) << 2) | (low >>> 30), (low >>> 21) & 0x1ff, (low >>> 12) & 0x1ff];
  let table = (m.cr3 & 0xffff_f000) >>> 0;
  let rights = PTE_U | PTE_W;
  let xd = 0;
  for (let level = 0; level < 4; level++) {
    const addr = (table + indexes[level] * 8) >>> 0;
    const lo = mem.read32(addr), hi = mem.read32(addr + 4);
    if ((lo & PTE_P) === 0) return fail(out, ecBase);
    // PS is reserved in a PML4E; in a PDPTE it is a 1 GiB page only on parts that have them.
    const large = (lo & PTE_PS) !== 0 && (level === 2 || (level === 1 && m.page1gb === true));
    const psReserved = (lo & PTE_PS) !== 0 && (level === 0 || (level === 1 && m.page1gb !== true));
    const lowReserved = large ? (level === 1 ? 0x3fff_e000 : 0x001f_e000) : 0;
    if ((hi & rsvdHi) !== 0 || psReserved || (lo & lowReserved) !== 0) return fail(out, ecBase | PFEC_P | PFEC_RSVD);
    rights &= lo;
    xd |= hi;
    if ((lo & PTE_A) === 0 && !(large || level === 3)) mem.write32(addr, lo | PTE_A);
    if (large || level === 3) {
      const pageMask = level === 1 ? 0x3fff_f000 : level === 2 ? 0x001f_f000 : 0;
      const frame = (((lo & 0xffff_f000) & ~pageMask) | (low & pageMask)) >>> 0;
      const leaf = (rights & (PTE_U | PTE_W)) | (lo & ~(PTE_U | PTE_W));
      if (!allowed(leaf, leaf, write, user, wp)) return fail(out, ecBase | PFEC_P);
      let upd = lo | PTE_A;
      if (write) upd |= PTE_D;
      if (upd !== lo) mem.write32(addr, upd);
      succeed(out, frame, leaf, leaf, (upd & PTE_D) !== 0);
      out.noExec = m.nxe === true && (xd & 0x8000_0000) !== 0;
      return true;
    }
    table = (lo & 0xffff_f000) >>> 0;
  }
  return fail(out, ecBase); // not reached: level 3 is always a leaf
}
