// Linear memory in IA-32e mode (docs/long-mode.md): translation through 4-level paging
// (paging.ts) and a TLB for 48-bit linear addresses.
//
// The CPU's own TLB indexes a flat array by the 20-bit page number of a 32-bit address. A
// 48-bit address has a 36-bit page number, so IA-32e mode has this second TLB instead:
// direct-mapped, 4096 sets, each tagged with the whole page number (a float64, since page
// numbers do not fit in 32 bits). While EFER.LMA = 1 every linear access goes through here,
// compatibility mode included, and the 32-bit path pays one flag test for it.

import type { Cpu } from "./cpu.js";
import { Vector } from "./fault.js";
import { Translation, walk, CR4_PGE, PFEC_ID } from "../mmu/paging.js";
import { EPT_READ, EPT_WRITE } from "./vmx/ept.js";

const SETS = 4096;
const PAGE = 4096;
// Entry bits (low 12 bits; the high 20 are the 4 KiB frame).
export const VALID = 1, USER = 2, USER_W = 4, SUP_W = 8, DIRTY = 16, GLOBAL = 32, NO_EXEC = 64;
/**
 * Model bookkeeping, not a right: the entry has served an instruction fetch. Replacing such
 * an entry bumps `cpu.codeEpoch`, as a replaced translation does in the 32-bit TLB: the
 * block compiler's chain links skip the fetch's translation, and must stop leading to code
 * a fetch would no longer find there (a conflict in this direct-mapped TLB can drop an
 * entry any time, and the walk after it sees the guest's page tables as they are now).
 */
export const FETCHED = 128;
/**
 * Model bookkeeping: the frame is plain RAM, not watched (as TLB_RAM in the 32-bit TLB), so
 * an access that hits the entry may read or write the RAM array itself. Writes also need the
 * page to hold no decoded code (`codePages`), which PhysicalMemory would invalidate.
 */
export const RAM = 256;

export class LongModeMemory {
  private readonly cpu: Cpu;
  /**
   * Set k caches page `tags[k]` (the linear address / 4096, NaN: empty) as `entries[k]`: the
   * frame in bits 31:12, the bits above in 11:0. Read by the block compiler's 64-bit fast
   * paths (jit/lower64.ts), which look an entry up exactly as hit() below does.
   */
  readonly tags = new Float64Array(SETS).fill(NaN);
  readonly entries = new Int32Array(SETS);
  private readonly xlat = new Translation();
  /**
   * The sets filled since they were last flushed (each once: `listed`), so that a flush or
   * an unmap visits only those, not all 4096. A monitor's host flushes at every VM entry
   * and exit: the whole array each time cost about 5 µs.
   */
  private readonly filled = new Int32Array(SETS);
  private readonly listed = new Uint8Array(SETS);
  private filledCount = 0;

  constructor(cpu: Cpu) {
    this.cpu = cpu;
  }

  /** The physical address for an access to canonical linear address `lin`; #PF if unmapped. */
  translate(lin: number, write: boolean, user: boolean, fetch: boolean): number {
    const page = Math.floor(lin / PAGE);
    const set = page & (SETS - 1);
    if (this.tags[set] === page) {
      const e = this.entries[set];
      const need = VALID | (user ? USER : 0) | (write ? DIRTY | (user ? USER_W : SUP_W) : 0);
      if ((e & need) === need && !(fetch && (e & NO_EXEC) !== 0)) {
        if (fetch && (e & FETCHED) === 0) this.entries[set] = e | FETCHED;
        return ((e & ~0xfff) | (lin & 0xfff)) >>> 0;
      }
    }
    return this.miss(lin, page, set, write, user, fetch);
  }

  private miss(lin: number, page: number, set: number, write: boolean, user: boolean, fetch: boolean): number {
    const cpu = this.cpu, t = this.xlat;
    const nested = cpu.nested;
    // EPT (vmx/ept.ts): the guest's tables are read and written through EPT, and so is the frame.
    const vmx = cpu.eptOn ? cpu.vmx : null;
    if (vmx !== null) vmx.eptLinear = lin;
    if (!walk(vmx !== null ? vmx.guestTables : nested ?? cpu.mem, cpu, lin, write, user, t)) this.pageFault(lin, t.errorCode, fetch);
    if (fetch && t.noExec) this.pageFault(lin, t.errorCode | 1, true);
    if (vmx !== null) {
      // The guest-physical frame through EPT; the TLB keeps the rights of both levels.
      const phys = vmx.translateGpa(t.frame + (lin & 0xfff), write ? EPT_WRITE : EPT_READ, true);
      t.frame = phys - (phys % PAGE);
      if (!vmx.eptWritable) t.writable = false;
      t.dirty = write;
    } else if (nested !== null) {
      // Nested paging (svm/nested-paging.ts): the guest-physical frame through the host's tables.
      t.frame = nested.translate(t.frame, write, fetch);
      if (!nested.lastWritable) t.writable = false;
      t.dirty = write;
    }
    let e = (t.frame & ~0xfff) | VALID;
    if (t.user) e |= USER;
    if (t.user && t.writable) e |= USER_W;
    if (t.writable || (cpu.cr0 & (1 << 16)) === 0) e |= SUP_W;
    if (t.dirty) e |= DIRTY;
    if (t.global && (cpu.cr4 & CR4_PGE) !== 0) e |= GLOBAL;
    if (t.noExec) e |= NO_EXEC;
    if (fetch) e |= FETCHED;
    if (cpu.mem.isRam(t.frame) && !cpu.mem.isWatched(t.frame)) e |= RAM;
    if ((this.entries[set] & FETCHED) !== 0) cpu.codeEpoch++;
    this.tags[set] = page;
    this.entries[set] = e;
    if (this.listed[set] === 0) { this.listed[set] = 1; this.filled[this.filledCount++] = set; }
    return (t.frame | (lin & 0xfff)) >>> 0;
  }

  private pageFault(lin: number, errorCode: number, fetch: boolean): never {
    const cpu = this.cpu;
    // I/D: an instruction fetch with EFER.NXE (SDM vol. 3 §4.7).
    if (fetch && cpu.nxe) errorCode |= PFEC_ID;
    cpu.fault.cr2 = lin;
    return cpu.raise(Vector.PF, errorCode);
  }

  /** Drop every translation, or all but global ones (SDM vol. 3 §4.10.4). */
  flush(includingGlobal: boolean): void {
    const filled = this.filled;
    let keep = 0;
    for (let i = 0; i < this.filledCount; i++) {
      const k = filled[i];
      if (!includingGlobal && (this.entries[k] & GLOBAL) !== 0) filled[keep++] = k;
      else { this.tags[k] = NaN; this.entries[k] = 0; this.listed[k] = 0; }
    }
    this.filledCount = keep;
  }

  /** Physical page `frame` became watched: its entries lose RAM (cpu.ts unmapRamFrame). */
  unmapRamFrame(frame: number): void {
    for (let i = 0; i < this.filledCount; i++) {
      const k = this.filled[i];
      if ((this.entries[k] & RAM) !== 0 && (this.entries[k] >>> 12) === frame) this.entries[k] &= ~RAM;
    }
  }

  /**
   * The entry for `lin` if it is cached with every bit of `need` (RAM for a direct access),
   * else 0: the fast paths below use it, and fall back to translate() (a walk, a fault, the
   * A and D bits) when it is 0.
   */
  private hit(lin: number, need: number): number {
    const page = Math.floor(lin / PAGE);
    const set = page & (SETS - 1);
    if (this.tags[set] !== page) return 0;
    const e = this.entries[set];
    return (e & need) === need ? e : 0;
  }

  /** INVLPG. */
  invalidate(lin: number): void {
    const page = Math.floor(lin / PAGE);
    const set = page & (SETS - 1);
    if (this.tags[set] === page) { this.tags[set] = NaN; this.entries[set] = 0; }
  }

  read8(lin: number, user: boolean): number {
    const e = this.hit(lin, VALID | RAM | (user ? USER : 0));
    if (e !== 0) return this.cpu.mem.ram[(e & ~0xfff) | (lin & 0xfff)];
    return this.cpu.mem.read8(this.translate(lin, false, user, false));
  }
  read16(lin: number, user: boolean): number {
    if ((lin & 0xfff) === 0xfff) return this.read8(lin, user) | (this.read8(lin + 1, user) << 8);
    return this.cpu.mem.read16(this.translate(lin, false, user, false));
  }
  read32(lin: number, user: boolean): number {
    const ram32 = this.cpu.ram32;
    if ((lin & 3) === 0 && ram32 !== null) {
      const e = this.hit(lin, VALID | RAM | (user ? USER : 0));
      if (e !== 0) return ram32[((e & ~0xfff) | (lin & 0xfff)) >>> 2];
    }
    if ((lin & 0xfff) > 0xffc) {
      this.translate(lin, false, user, false); this.translate(lin + 3, false, user, false);
      let v = 0;
      for (let k = 0; k < 4; k++) v |= this.read8(lin + k, user) << (k * 8);
      return v;
    }
    return this.cpu.mem.read32(this.translate(lin, false, user, false));
  }
  /**
   * A quadword: the low dword returned, the high one in `cpu.hi`. Inside one page it is
   * translated once; across pages, as two dwords (each page's fault in address order).
   */
  read64(lin: number, user: boolean): number {
    const cpu = this.cpu;
    if ((lin & 0xfff) > 0xff8) {
      const lo = this.read32(lin, user);
      cpu.hi = this.read32(lin + 4, user);
      return lo;
    }
    const ram32 = cpu.ram32;
    if ((lin & 7) === 0 && ram32 !== null) {
      const e = this.hit(lin, VALID | RAM | (user ? USER : 0));
      if (e !== 0) {
        const x = ((e & ~0xfff) | (lin & 0xfff)) >>> 2;
        cpu.hi = ram32[x + 1];
        return ram32[x];
      }
    }
    const p = this.translate(lin, false, user, false);
    const lo = cpu.mem.read32(p);
    cpu.hi = cpu.mem.read32(p + 4);
    return lo;
  }
  write8(lin: number, v: number, user: boolean): void {
    const mem = this.cpu.mem;
    const e = this.hit(lin, VALID | RAM | DIRTY | (user ? USER_W : SUP_W));
    if (e !== 0 && mem.codePages[e >>> 12] === 0) { mem.ram[(e & ~0xfff) | (lin & 0xfff)] = v; return; }
    mem.write8(this.translate(lin, true, user, false), v);
  }
  write16(lin: number, v: number, user: boolean): void {
    if ((lin & 0xfff) === 0xfff) {
      this.translate(lin, true, user, false); this.translate(lin + 1, true, user, false);
      this.write8(lin, v, user); this.write8(lin + 1, v >>> 8, user);
      return;
    }
    this.cpu.mem.write16(this.translate(lin, true, user, false), v);
  }
  write32(lin: number, v: number, user: boolean): void {
    const cpu = this.cpu, ram32 = cpu.ram32;
    if ((lin & 3) === 0 && ram32 !== null) {
      const e = this.hit(lin, VALID | RAM | DIRTY | (user ? USER_W : SUP_W));
      if (e !== 0 && cpu.mem.codePages[e >>> 12] === 0) { ram32[((e & ~0xfff) | (lin & 0xfff)) >>> 2] = v; return; }
    }
    if ((lin & 0xfff) > 0xffc) {
      // Both pages first, so a fault on the second leaves memory unchanged.
      this.translate(lin, true, user, false); this.translate(lin + 3, true, user, false);
      for (let k = 0; k < 4; k++) this.write8(lin + k, v >>> (k * 8), user);
      return;
    }
    cpu.mem.write32(this.translate(lin, true, user, false), v);
  }
  /** A quadword (lo, hi): inside one page translated once; across pages both first, then the dwords. */
  write64(lin: number, lo: number, hi: number, user: boolean): void {
    const cpu = this.cpu;
    if ((lin & 0xfff) > 0xff8) {
      this.translate(lin, true, user, false); this.translate(lin + 7, true, user, false);
      this.write32(lin, lo, user); this.write32(lin + 4, hi, user);
      return;
    }
    const ram32 = cpu.ram32;
    if ((lin & 7) === 0 && ram32 !== null) {
      const e = this.hit(lin, VALID | RAM | DIRTY | (user ? USER_W : SUP_W));
      if (e !== 0 && cpu.mem.codePages[e >>> 12] === 0) {
        const x = ((e & ~0xfff) | (lin & 0xfff)) >>> 2;
        ram32[x] = lo; ram32[x + 1] = hi;
        return;
      }
    }
    const p = this.translate(lin, true, user, false);
    cpu.mem.write32(p, lo);
    cpu.mem.write32(p + 4, hi);
  }
}
