// The EPT page walk (Intel SDM vol. 3C §28.2 "The extended page table mechanism"): a
// guest-physical address through the four levels the EPT pointer names, to a physical
// address, or to the EPT violation or misconfiguration it causes (§28.2.3). Like the guest
// walk (src/hw/mmu/paging.ts) it is a function of memory and a few registers that returns
// a value; the caller decides what it becomes (a VM exit).
//
// An EPT paging-structure entry (SDM figures 28-1 … 28-6):
//   63     52 51      N N-1         12 11 10 9 8 7  6  5  3 2 1 0
//  +---------+---------+--------------+-----+-+-+--+---+----+-+-+-+
//  | ignored | rsvd 0  | address      | ign |D|A|PS|IPAT|MT|X|W|R|
//  +---------+---------+--------------+-----+-+-+--+---+----+-+-+-+
//   PS (bit 7): a 1-GiB page in a PDPTE, a 2-MiB page in a PDE; reserved in a PML4E.
//   MT, IPAT: the leaf's memory type and ignore-PAT; reserved (0) in non-leaf entries.
//   A, D (bits 8, 9): set by the walk only when EPTP bit 6 enables them.

/** The kinds of access an EPT violation's qualification names (bits 2:0). */
export const EPT_READ = 1, EPT_WRITE = 2, EPT_FETCH = 4;

/** The outcome of an EPT walk. Preallocate one and reuse it. */
export class EptResult {
  /** 0: translated; 1: EPT violation; 2: EPT misconfiguration. */
  kind = 0;
  /** The physical address. */
  phys = 0;
  /** R, W, X of the translation: the AND of every level's bits (bits 3–5 of a violation's qualification). */
  rights = 0;
}

export interface EptMemory {
  read32(addr: number): number;
  write32(addr: number, value: number): void;
}

export interface EptMode {
  /** EPTP bits 51:12 (the PML4 table) as a number. */
  pml4: number;
  /** EPTP bit 6: accessed and dirty flags. */
  ad: boolean;
  /** MAXPHYADDR: entry bits from here to 51 are reserved. */
  maxPhyAddr: number;
  /** IA32_VMX_EPT_VPID_CAP bit 0: entries with X = 1, R = W = 0 (execute-only) are allowed. */
  executeOnly: boolean;
  /** IA32_VMX_EPT_VPID_CAP bit 17: 1-GiB pages. */
  page1gb: boolean;
}

const TWO32 = 0x1_0000_0000;

/**
 * Walk `gpa` (a guest-physical address below 2^52) for an access of kind `access`
 * (EPT_READ, EPT_WRITE or EPT_FETCH). Fills `out` and returns its kind.
 */
export function eptWalk(mem: EptMemory, m: EptMode, gpa: number, access: number, out: EptResult): number {
  let table = m.pml4;
  let rights = 7;
  const hiMask = m.maxPhyAddr >= 52 ? 0 : ((1 << (52 - 32)) - 1) & ~((1 << Math.max(0, m.maxPhyAddr - 32)) - 1);
  for (let level = 4; level >= 1; level--) {
    const shift = 12 + 9 * (level - 1);
    const index = Math.floor(gpa / 2 ** shift) % 512;
    const addr = table + index * 8;
    const lo = mem.read32(addr), hi = mem.read32(addr + 4);
    const rwx = lo & 7;
    if (rwx === 0) { out.kind = 1; out.rights = 0; return 1; }                       // not present: violation
    // Misconfigurations (§28.2.3.1): write without read, execute-only where unsupported,
    // reserved address bits, and the level's reserved bits.
    if ((rwx & 3) === 2 || (rwx === 4 && !m.executeOnly) || (hi & hiMask) !== 0) { out.kind = 2; return 2; }
    const large = (lo & 0x80) !== 0;
    const leaf = level === 1 || (large && (level === 2 || (level === 3 && m.page1gb)));
    if (level === 4 && large) { out.kind = 2; return 2; }
    if (level === 3 && large && !m.page1gb) { out.kind = 2; return 2; }
    if (!leaf && (lo & 0x78) !== 0) { out.kind = 2; return 2; }                      // bits 6:3 reserved in non-leaf entries
    if (leaf) {
      const mt = (lo >>> 3) & 7;
      if (mt === 2 || mt === 3 || mt === 7) { out.kind = 2; return 2; }            // reserved memory types
      // Large pages: the address bits below the page size are reserved.
      if (level === 2 && (lo & 0x1f_f000) !== 0) { out.kind = 2; return 2; }
      if (level === 3 && (lo & 0x3fff_f000) !== 0) { out.kind = 2; return 2; }
    }
    rights &= rwx;
    if (m.ad && (lo & 0x100) === 0) mem.write32(addr, lo | 0x100);
    const next = (hi & 0xf_ffff) * TWO32 + ((lo & ~0xfff) >>> 0);
    if (leaf) {
      out.rights = rights;
      if ((access & rights) !== access) { out.kind = 1; return 1; }
      if (m.ad && (access & EPT_WRITE) !== 0 && (lo & 0x200) === 0) mem.write32(addr, (mem.read32(addr) | 0x300));
      const size = 2 ** shift;
      out.phys = next - (next % size) + (gpa % size);
      out.kind = 0;
      return 0;
    }
    table = next;
  }
  out.kind = 1;
  return 1;
}
