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
const VALID = 1, USER = 2, USER_W = 4, SUP_W = 8, DIRTY = 16, GLOBAL = 32, NO_EXEC = 64;

export class LongModeMemory {
  private readonly cpu: Cpu;
  private readonly tags = new Float64Array(SETS).fill(NaN);
  private readonly entries = new Int32Array(SETS);
  private readonly xlat = new Translation();
  /** Any entry is valid (a flush of an empty TLB costs nothing). */
  private used = false;

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
      if ((e & need) === need && !(fetch && (e & NO_EXEC) !== 0)) return ((e & ~0xfff) | (lin & 0xfff)) >>> 0;
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
    this.tags[set] = page;
    this.entries[set] = e;
    this.used = true;
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
    if (!this.used) return;
    for (let k = 0; k < SETS; k++) {
      if (includingGlobal || (this.entries[k] & GLOBAL) === 0) { this.tags[k] = NaN; this.entries[k] = 0; }
    }
  }

  /** INVLPG. */
  invalidate(lin: number): void {
    const page = Math.floor(lin / PAGE);
    const set = page & (SETS - 1);
    if (this.tags[set] === page) { this.tags[set] = NaN; this.entries[set] = 0; }
  }

  read8(lin: number, user: boolean): number {
    return this.cpu.mem.read8(this.translate(lin, false, user, false));
  }
  read16(lin: number, user: boolean): number {
    if ((lin & 0xfff) === 0xfff) return this.read8(lin, user) | (this.read8(lin + 1, user) << 8);
    return this.cpu.mem.read16(this.translate(lin, false, user, false));
  }
  read32(lin: number, user: boolean): number {
    if ((lin & 0xfff) > 0xffc) {
      this.translate(lin, false, user, false); this.translate(lin + 3, false, user, false);
      let v = 0;
      for (let k = 0; k < 4; k++) v |= this.read8(lin + k, user) << (k * 8);
      return v;
    }
    return this.cpu.mem.read32(this.translate(lin, false, user, false));
  }
  write8(lin: number, v: number, user: boolean): void {
    this.cpu.mem.write8(this.translate(lin, true, user, false), v);
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
    if ((lin & 0xfff) > 0xffc) {
      // Both pages first, so a fault on the second leaves memory unchanged.
      this.translate(lin, true, user, false); this.translate(lin + 3, true, user, false);
      for (let k = 0; k < 4; k++) this.write8(lin + k, v >>> (k * 8), user);
      return;
    }
    this.cpu.mem.write32(this.translate(lin, true, user, false), v);
  }
}
