// Segment registers and their hidden descriptor caches (Intel SDM vol. 3 §3.4.3, §3.4.5).
//
// Segment descriptor (8 bytes, SDM vol. 3 figure 3-8):
//
//   31        24 23 22 21 20 19   16 15 14 13 12 11   8 7          0
//  +------------+--+---+--+---+------+--+-----+--+------+------------+
//  | base 31:24 |G |D/B|L |AVL|lim19:16|P| DPL |S | type | base 23:16 |  high dword
//  +------------+--+---+--+---+------+--+-----+--+------+------------+
//  |        base 15:00              |         limit 15:00           |  low dword
//  +--------------------------------+-------------------------------+

import { DOUBLE_FIELD } from "../double-field.js";

/** Segment register indices, in ModR/M `reg` order. */
export const enum SegReg { ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5 }
export const SEG_NAMES = ["es", "cs", "ss", "ds", "fs", "gs"] as const;

/** Descriptor type field bits for code/data descriptors (S=1), SDM vol. 3 table 3-1. */
export const TYPE_ACCESSED = 1;
export const TYPE_WRITABLE = 2; // data
export const TYPE_READABLE = 2; // code
export const TYPE_EXPAND_DOWN = 4; // data
export const TYPE_CONFORMING = 4; // code
export const TYPE_CODE = 8;

/** System descriptor types (S=0), SDM vol. 3 table 3-2. */
export const enum SysType {
  TSS16_AVAIL = 1, LDT = 2, TSS16_BUSY = 3, CALL_GATE16 = 4, TASK_GATE = 5,
  INT_GATE16 = 6, TRAP_GATE16 = 7, TSS32_AVAIL = 9, TSS32_BUSY = 11,
  CALL_GATE32 = 12, INT_GATE32 = 14, TRAP_GATE32 = 15,
}

/** A decoded 8-byte descriptor. `lo`/`hi` are the raw dwords. */
export class Descriptor {
  lo = 0;
  hi = 0;
  get base(): number { return ((this.lo >>> 16) | ((this.hi & 0xff) << 16) | (this.hi & 0xff00_0000)) >>> 0; }
  /** Limit in bytes (granularity applied). */
  get limit(): number {
    const raw = (this.lo & 0xffff) | (this.hi & 0x000f_0000);
    return (this.hi & 0x0080_0000) !== 0 ? ((raw << 12) | 0xfff) >>> 0 : raw;
  }
  get type(): number { return (this.hi >>> 8) & 0xf; }
  /** S flag: 1 for code/data, 0 for system. */
  get s(): boolean { return (this.hi & 0x1000) !== 0; }
  get dpl(): number { return (this.hi >>> 13) & 3; }
  get present(): boolean { return (this.hi & 0x8000) !== 0; }
  get db(): boolean { return (this.hi & 0x0040_0000) !== 0; }
  /** L flag (bit 53): 64-bit code in IA-32e mode. */
  get l(): boolean { return (this.hi & 0x0020_0000) !== 0; }
  get isCode(): boolean { return this.s && (this.type & TYPE_CODE) !== 0; }
  get isData(): boolean { return this.s && (this.type & TYPE_CODE) === 0; }
  /** Gate fields (call, interrupt, trap, task gates: SDM vol. 3 figures 5-8, 6-2). */
  get gateSelector(): number { return this.lo >>> 16; }
  get gateOffset(): number { return ((this.lo & 0xffff) | (this.hi & 0xffff_0000)) >>> 0; }
  get gateParamCount(): number { return this.hi & 0x1f; }
}

/** A segment register: the visible selector and the hidden descriptor cache. */
export class SegmentCache {
  selector = 0;
  // base, limit and the ranges are doubles from the start (double-field.ts): a flat
  // segment's limit is 2^32 - 1. The constructor stores their first values.
  base = DOUBLE_FIELD;
  /** Limit in bytes, granularity applied. */
  limit = DOUBLE_FIELD;
  /** Access rights byte as in descriptor bits 8–15 of the high dword (type, S, DPL, P). */
  access = 0x93;
  /** D/B flag: 32-bit default operand size (CS), 32-bit stack (SS), 4 GiB upper bound (expand-down). */
  big = false;
  /** G flag as loaded (visible through LAR). */
  gran = false;
  /** L flag as loaded (descriptor bit 53): a 64-bit code segment when EFER.LMA = 1. */
  l = false;
  /** False after loading a null selector in protected mode: any access faults. */
  valid = true;

  // Derived by refresh(): inclusive offset ranges an access may touch, empty if lo > hi.
  readLo = DOUBLE_FIELD;
  readHi = DOUBLE_FIELD;
  writeLo = DOUBLE_FIELD;
  writeHi = DOUBLE_FIELD;

  constructor() {
    this.base = 0; this.limit = 0xffff;
    this.readLo = 0; this.readHi = 0xffff; this.writeLo = 0; this.writeHi = 0xffff;
  }

  get type(): number { return this.access & 0xf; }
  get dpl(): number { return (this.access >>> 5) & 3; }
  get rpl(): number { return this.selector & 3; }

  /** Real-mode and V86 semantics: base = selector * 16, limit unchanged (SDM vol. 3 §20.1.1). */
  loadReal(selector: number): void {
    this.selector = selector & 0xffff;
    this.l = false;
    this.base = (selector & 0xffff) << 4;
    this.valid = true;
    this.refresh();
  }

  /** V86 mode: the whole cache is reloaded (SDM vol. 3 §20.2.1: limit 0xFFFF, DPL 3, data rw). */
  loadV86(selector: number): void {
    this.selector = selector & 0xffff;
    this.base = (selector & 0xffff) << 4;
    this.limit = 0xffff;
    this.access = 0xf3;
    this.big = false;
    this.gran = false;
    this.l = false;
    this.valid = true;
    this.refresh();
  }

  loadDescriptor(selector: number, d: Descriptor): void {
    this.selector = selector & 0xffff;
    this.base = d.base;
    this.l = (d.hi & 0x0020_0000) !== 0;
    this.limit = d.limit;
    this.access = (d.hi >>> 8) & 0xff;
    this.big = d.db;
    this.gran = (d.hi & 0x0080_0000) !== 0;
    this.valid = true;
    this.refresh();
  }

  /** Protected mode null selector into DS/ES/FS/GS: loads, but every access faults. */
  loadNull(selector: number): void {
    this.selector = selector & 0xffff;
    this.valid = false;
    this.access &= 0x7f; // not present
    this.refresh();
  }

  refresh(): void {
    let lo: number, hi: number;
    const t = this.access & 0xf;
    const isCode = (this.access & 0x10) !== 0 && (t & TYPE_CODE) !== 0;
    if (!isCode && (t & TYPE_EXPAND_DOWN) !== 0 && (this.access & 0x10) !== 0) {
      lo = this.limit + 1;
      hi = this.big ? 0xffff_ffff : 0xffff;
    } else {
      lo = 0;
      hi = this.limit;
    }
    if (!this.valid) { lo = 1; hi = 0; }
    const systemOrUnusable = (this.access & 0x10) === 0;
    const readable = !systemOrUnusable && (!isCode || (t & TYPE_READABLE) !== 0);
    const writable = !systemOrUnusable && !isCode && (t & TYPE_WRITABLE) !== 0;
    this.readLo = readable ? lo : 1;
    this.readHi = readable ? hi : 0;
    this.writeLo = writable ? lo : 1;
    this.writeHi = writable ? hi : 0;
  }

  copyFrom(o: SegmentCache): void {
    this.selector = o.selector; this.base = o.base; this.limit = o.limit; this.access = o.access;
    this.big = o.big; this.gran = o.gran; this.l = o.l; this.valid = o.valid; this.refresh();
  }
}
