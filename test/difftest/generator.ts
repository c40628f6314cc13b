// Difftest: the random case generator. A case is a short sequence (1–8 instructions of one
// group, mixed with a few from others) plus the setup instructions some forms need (a known
// shift count in CL, a divisor that cannot fault, pointers for string instructions …), all
// encoded to bytes here so every prefix, ModR/M and SIB form can be reached. Each emitted
// instruction carries its flag effect (flags.ts); the generator tracks which flags are
// undefined, which register values it knows (for memory operands), ESP, DF and the x87
// stack depth. Memory operands always land inside the case's data image; any register with a
// known value may serve as base or index (with a wrapping disp32 if need be).
//
// Cases are reproducible: case i of seed S is generated from its own PRNG seeded by (S, i).

import * as Fl from "./flags.js";
import { CODE_MAX, CODE_VA, DATA_SIZE, DATA_VA, ESP, FSAVE_OFF, FXSAVE_OFF, LOW_VA, SSE_INIT_OFF, STACK_OFF } from "./layout.js";
import { SSE_ROWS, f32Bits, f64Words, opcodeBytes, simdBytes } from "./simd-values.js";

export const GROUPS = ["alu", "incdec", "muldiv", "shift", "shld", "bcd", "bit", "cond", "data", "stack", "string", "addr16", "x87", "sse"] as const;
export type Group = (typeof GROUPS)[number];

/** One emitted instruction with what the comparison must know about it. */
export interface GenInstr {
  bytes: number[];
  /** Setup instruction (a MOV feeding the next one), not the object of the test. */
  setup?: boolean;
  fx: Fl.FlagEffect;
  /** x87 condition-code effect. */
  cc?: Fl.FlagEffect;
  /** Registers whose value is undefined afterwards (bit per register). */
  regUndef?: number;
  /** A fixup to resolve at layout: a branch displacement or absolute address of a label. */
  fix?: { at: number; kind: "rel8" | "rel32" | "abs32"; label: number };
  /** Labels placed at this instruction. */
  labels?: number[];
  /** Results within a few ulps only (x87 transcendentals). */
  approx?: boolean;
}

export interface Case {
  seed: number;
  index: number;
  group: Group;
  dataVa: number;
  regs: Int32Array;
  eflags: number;
  data: Uint8Array;
  /** Always run (x87: FNINIT, FLDCW, loads). */
  prologue: GenInstr[];
  body: GenInstr[];
  /** Always run (x87: FNSAVE into the data image). */
  epilogue: GenInstr[];
  x87: boolean;
  /** MMX/SSE case: its prologue loads XMM0–7, MM0–7 and MXCSR, its epilogue is FXSAVE. */
  sse: boolean;
}

// ---- PRNG: xorshift128 seeded through splitmix32 ----
export class Rng {
  private a: number; private b: number; private c: number; private d: number;
  constructor(seed: number, stream: number) {
    let s = (seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next() | 1; this.b = next(); this.c = next(); this.d = next();
  }
  u32(): number {
    let t = this.d;
    const s = this.a;
    this.d = this.c; this.c = this.b; this.b = s;
    t ^= t << 11; t ^= t >>> 8;
    this.a = (t ^ s ^ (s >>> 19)) >>> 0;
    return this.a;
  }
  int(n: number): number { return n <= 1 ? 0 : this.u32() % n; }
  chance(p: number): boolean { return this.u32() / 4294967296 < p; }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]; }
  /** An "interesting" value of `bits` bits (boundaries, small, random, sparse). */
  value(bits: number): number {
    const mask = bits === 32 ? 0xffffffff : (1 << bits) - 1;
    const top = bits === 32 ? 0x80000000 : 1 << (bits - 1);
    let v: number;
    switch (this.int(10)) {
      case 0: v = this.pick([0, 1, 2, mask, mask - 1, top, top - 1, top + 1]); break;
      case 1: v = this.int(16); break;
      case 2: v = -this.int(16); break;
      case 3: v = 1 << this.int(bits); break;
      case 4: v = this.u32() & this.u32() & this.u32(); break;
      case 5: v = this.u32() | this.u32(); break;
      default: v = this.u32();
    }
    return (v & mask) >>> 0;
  }
}

function le(v: number, n: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < n; k++) out.push((v >>> (8 * k)) & 0xff);
  return out;
}

const REG_BITS = [8, 16, 32] as const;
type Size = 8 | 16 | 32;

interface MemOp {
  /** Prefixes (0x67, segment override) to put before the opcode. */
  pre: number[];
  /** ModR/M (with reg field 0), SIB, displacement. */
  tail: number[];
  addr: number;
}

/** Builds one case. */
class Builder {
  readonly r: Rng;
  readonly dataVa: number;
  readonly addr16: boolean;
  readonly known: (number | undefined)[] = new Array(8);
  esp: number;
  /** Undefined EFLAGS and x87 condition codes at the current point. */
  U = 0;
  ccU = 0;
  df: boolean | undefined;
  depth = 0;
  body: GenInstr[] = [];
  data: Uint8Array;
  private nextLabel = 1;
  /** A pending forward branch: its label, how many more instructions until it lands, and the state to merge. */
  pending: { label: number; left: number; uncond: boolean; U: number; ccU: number; known: (number | undefined)[]; df: boolean | undefined; esp: number; depth: number } | null = null;
  private labelHere: number[] = [];
  readonly regs = new Int32Array(8);
  eflags: number;
  /** Bytes of the data image that hold values x87 prologue/operands depend on (never targeted by stores). */
  readonly group: Group;

  constructor(r: Rng, group: Group) {
    this.r = r;
    this.group = group;
    this.addr16 = group === "addr16" || (group !== "x87" && group !== "sse" && r.chance(0.05));
    this.dataVa = this.addr16 ? LOW_VA : DATA_VA;
    this.data = new Uint8Array(DATA_SIZE);
    for (let k = 0; k < DATA_SIZE; k++) this.data[k] = r.u32() & 0xff;
    for (let k = 0; k < 8; k++) {
      const v = r.chance(0.45) ? this.dataVa + r.int(0x180) : r.value(32);
      this.regs[k] = v;
      this.known[k] = v >>> 0;
    }
    this.esp = this.dataVa + STACK_OFF - 4 * r.int(8);
    this.regs[ESP] = this.esp;
    this.known[ESP] = undefined;
    // Arithmetic flags and DF random; IF set (user mode); no TF/AC (they would trap natively).
    this.eflags = 0x202 | (r.u32() & (Fl.ARITH | Fl.DF));
    this.df = (this.eflags & Fl.DF) !== 0;
  }

  // ---- emission ----

  /** Emit an instruction; inserts a defining CMP first if it would read an undefined flag. */
  emit(i: GenInstr, reads = 0, ccReads = 0): void {
    if (reads & this.U) this.emitRaw({ bytes: [0x39, 0xc0 | (this.r.int(8) << 3) | this.r.int(8)], fx: Fl.ARITH_ALL, setup: true });
    if (ccReads & this.ccU) this.emitRaw({ bytes: [0xd9, 0xe5], fx: Fl.NO_FLAGS, cc: Fl.X87_ALL, setup: true }); // fxam
    this.emitRaw(i);
  }

  private emitRaw(i: GenInstr): void {
    if (this.labelHere.length) { i.labels = this.labelHere; this.labelHere = []; }
    this.body.push(i);
    this.U = (this.U & ~i.fx.def) | i.fx.undef;
    if (i.cc) this.ccU = (this.ccU & ~i.cc.def) | i.cc.undef;
  }

  /** One generated operation (with its setups) is complete: a pending branch may land after it. */
  tick(): void {
    const p = this.pending;
    if (p && --p.left <= 0) this.land();
  }

  /** Place the pending branch's label before the next instruction and merge the states. */
  land(): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    this.labelHere.push(p.label);
    if (p.uncond) {
      this.U = p.U; this.ccU = p.ccU; this.df = p.df; this.esp = p.esp; this.depth = p.depth;
      for (let k = 0; k < 8; k++) this.known[k] = p.known[k];
    } else {
      this.U |= p.U; this.ccU |= p.ccU;
      if (this.df !== p.df) this.df = undefined;
      for (let k = 0; k < 8; k++) if (this.known[k] !== p.known[k]) this.known[k] = undefined;
    }
  }

  /** Start a forward branch over `skip` instructions; returns its label. */
  branch(skip: number, uncond: boolean): number {
    const label = this.nextLabel++;
    this.pending = { label, left: skip, uncond, U: this.U, ccU: this.ccU, known: [...this.known], df: this.df, esp: this.esp, depth: this.depth };
    return label;
  }

  write(reg: number): void { this.known[reg] = undefined; }
  write8(reg8: number): void { this.known[reg8 & 3] = undefined; }
  setKnown(reg: number, v: number): void { this.known[reg] = v >>> 0; }

  /** mov reg32, imm32 (setup). */
  movImm(reg: number, v: number): void {
    this.emit({ bytes: [0xb8 + reg, ...le(v, 4)], fx: Fl.NO_FLAGS, setup: true });
    this.setKnown(reg, v);
  }

  // ---- operands ----

  /** A register that may be written (never ESP). */
  dst(): number {
    let r: number;
    do r = this.r.int(8); while (r === ESP);
    return r;
  }

  /** A data-image address with `size` bytes of room, avoiding the x87 save area. */
  target(size: number, lo = 0, hi = FSAVE_OFF - 0x20): number {
    return this.dataVa + lo + this.r.int(hi - lo - size);
  }

  /** Encode a memory operand that addresses `addr` (ModR/M reg field left 0). */
  mem(addr: number, opts: { write?: boolean; popEsp?: number } = {}): MemOp {
    const pre: number[] = [];
    if (this.r.chance(0.15)) pre.push(this.r.pick(opts.write ? [0x26, 0x36, 0x3e] : [0x26, 0x2e, 0x36, 0x3e]));
    if (this.addr16) return this.mem16(addr, pre);
    const r = this.r;
    const kn = (k: number) => (k === ESP ? (this.pending ? undefined : this.esp + (opts.popEsp ?? 0)) : this.known[k]);
    const cands = [0, 1, 2, 3, 4, 5, 6, 7].filter((k) => kn(k) !== undefined);
    const dispTail = (d: number, noBaseOk: boolean): { mod: number; bytes: number[] } => {
      d |= 0;
      if (d === 0 && noBaseOk) return { mod: 0, bytes: [] };
      if (d >= -128 && d <= 127) return { mod: 1, bytes: [d & 0xff] };
      return { mod: 2, bytes: le(d, 4) };
    };
    const form = r.int(6);
    if (form === 0 || cands.length === 0) return { pre, tail: [0x05, ...le(addr, 4)], addr };
    if (form <= 2) {
      // [base + disp]; ESP as base needs a SIB
      const near = cands.filter((k) => Math.abs((addr - kn(k)!) | 0) < 128);
      const b = near.length && r.chance(0.8) ? r.pick(near) : r.pick(cands);
      const t = dispTail(addr - kn(b)!, b !== 5);
      if (b === ESP) return { pre, tail: [(t.mod << 6) | 4, 0x24, ...t.bytes], addr };
      return { pre, tail: [(t.mod << 6) | b, ...t.bytes], addr };
    }
    // SIB: [base + index*scale + disp] or [index*scale + disp32]
    const idxC = cands.filter((k) => k !== ESP);
    if (idxC.length === 0) return { pre, tail: [0x05, ...le(addr, 4)], addr };
    const idx = r.chance(0.1) ? 4 : r.pick(idxC); // index 100 = none
    const s = r.int(4);
    const iv = idx === 4 ? 0 : Math.imul(kn(idx)!, 1 << s);
    if (form === 5) {
      const sib = (s << 6) | (idx << 3) | 5;
      return { pre, tail: [0x04, sib, ...le(addr - iv, 4)], addr };
    }
    const b = r.pick(cands);
    const t = dispTail(addr - kn(b)! - iv, b !== 5);
    return { pre, tail: [(t.mod << 6) | 4, (s << 6) | (idx << 3) | b, ...t.bytes], addr };
  }

  private mem16(addr: number, pre: number[]): MemOp {
    pre.push(0x67);
    const r = this.r;
    const k16 = (k: number) => (k === ESP ? undefined : this.known[k] === undefined ? undefined : this.known[k]! & 0xffff);
    const forms: [number, number[]][] = [[0, [3, 6]], [1, [3, 7]], [2, [5, 6]], [3, [5, 7]], [4, [6]], [5, [7]], [6, [5]], [7, [3]]];
    const ok = forms.filter(([, regs]) => regs.every((k) => k16(k) !== undefined));
    if (ok.length === 0 || r.chance(0.15)) return { pre, tail: [0x06, ...le(addr, 2)], addr };
    const [rm, regs] = r.pick(ok);
    const sum = regs.reduce((a, k) => a + k16(k)!, 0);
    const d = (addr - sum) & 0xffff;
    const ds = (d << 16) >> 16;
    if (d === 0 && rm !== 6) return { pre, tail: [rm], addr };
    if (ds >= -128 && ds <= 127) return { pre, tail: [0x40 | rm, d & 0xff], addr };
    return { pre, tail: [0x80 | rm, ...le(d, 2)], addr };
  }

  /** An r/m operand: a register (mod 3) or memory in the data image. Returns the encoding pieces. */
  rm(size: Size, opts: { write?: boolean; memOnly?: boolean; regOnly?: boolean; avoid?: number[] } = {}):
    { pre: number[]; tail: number[]; reg?: number; addr?: number } {
    if (!opts.memOnly && (opts.regOnly || this.r.chance(0.5))) {
      let k: number;
      do k = this.r.int(8); while ((size !== 8 && k === ESP) || opts.avoid?.includes(size === 8 ? k & 3 : k));
      return { pre: [], tail: [0xc0 | k], reg: k };
    }
    const m = this.mem(this.target(size / 8), { write: opts.write });
    return { pre: m.pre, tail: m.tail, addr: m.addr };
  }

  /** Assemble prefixes + opcode + r/m (reg field filled in) + immediate. */
  op(size: Size | 0, pre: number[], opcode: number[], rm: { pre: number[]; tail: number[] } | null, regField: number, imm: number[] = []): number[] {
    const b: number[] = [];
    if (size === 16) b.push(0x66);
    b.push(...pre);
    if (rm) b.push(...rm.pre);
    b.push(...opcode);
    if (rm) { const t = [...rm.tail]; t[0] |= regField << 3; b.push(...t); }
    b.push(...imm);
    return b;
  }

  /** Note a write to an r/m destination. */
  wroteRm(size: Size, rm: { reg?: number }): void {
    if (rm.reg === undefined) return;
    if (size === 8) this.write8(rm.reg); else this.write(rm.reg);
  }

  size(): Size { return this.r.pick(REG_BITS); }
  imm(size: Size, v = this.r.value(size)): number[] { return le(v, size / 8); }

  /** Room left on the stack (bytes that can still be pushed / popped). */
  canPush(n: number): boolean { return !this.pending && this.esp - n >= this.dataVa + 0x20; }
  canPop(n: number): boolean { return !this.pending && this.esp + n <= this.dataVa + DATA_SIZE; }
}

// =========================================================================================
// Instruction groups
// =========================================================================================

type Gen = (b: Builder) => void;

const aluOp: Gen = (b) => {
  const r = b.r;
  const k = r.int(8);
  const fx = k === 1 || k === 4 || k === 6 ? Fl.LOGIC : Fl.ARITH_ALL;
  const reads = k === 2 || k === 3 ? Fl.CF : 0;
  const size = b.size();
  const w = k !== 7;
  const form = r.int(6);
  const lockable = (rm: { addr?: number }) => (w && rm.addr !== undefined && r.chance(0.2) ? [0xf0] : []);
  if (form === 0) {
    const rm = b.rm(size, { write: w });
    const g = r.int(8);
    b.emit({ bytes: b.op(size, lockable(rm), [(k << 3) | (size === 8 ? 0 : 1)], rm, g), fx }, reads);
    if (w) b.wroteRm(size, rm);
  } else if (form === 1) {
    const rm = b.rm(size);
    const g = size === 8 ? r.int(8) : b.dst();
    b.emit({ bytes: b.op(size, [], [(k << 3) | (size === 8 ? 2 : 3)], rm, g), fx }, reads);
    if (w) { if (size === 8) b.write8(g); else b.write(g); }
  } else if (form === 2) {
    b.emit({ bytes: b.op(size, [], [(k << 3) | (size === 8 ? 4 : 5)], null, 0, b.imm(size)), fx }, reads);
    if (w) b.write(0);
  } else {
    const rm = b.rm(size, { write: w });
    let opc: number, imm: number[];
    if (size === 8) { opc = r.chance(0.15) ? 0x82 : 0x80; imm = b.imm(8); }
    else if (r.chance(0.5)) { opc = 0x83; imm = b.imm(8); }
    else { opc = 0x81; imm = b.imm(size); }
    b.emit({ bytes: b.op(size, lockable(rm), [opc], rm, k, imm), fx }, reads);
    if (w) b.wroteRm(size, rm);
  }
};

const testOp: Gen = (b) => {
  const r = b.r;
  const size = b.size();
  const s1 = size === 8 ? 0 : 1;
  const f = r.int(3);
  if (f === 0) b.emit({ bytes: b.op(size, [], [0x84 | s1], b.rm(size), r.int(8)), fx: Fl.LOGIC });
  else if (f === 1) b.emit({ bytes: b.op(size, [], [0xa8 | s1], null, 0, b.imm(size)), fx: Fl.LOGIC });
  else b.emit({ bytes: b.op(size, [], [0xf6 | s1], b.rm(size), r.chance(0.1) ? 1 : 0, b.imm(size)), fx: Fl.LOGIC });
};

const incdecOp: Gen = (b) => {
  const r = b.r;
  const size = b.size();
  const kind = r.int(4); // inc dec not neg
  if (kind < 2 && size !== 8 && r.chance(0.4)) {
    const reg = b.dst();
    b.emit({ bytes: b.op(size, [], [(kind ? 0x48 : 0x40) + reg], null, 0), fx: Fl.INCDEC });
    b.write(reg);
    return;
  }
  const rm = b.rm(size, { write: true });
  const lock = rm.addr !== undefined && r.chance(0.2) ? [0xf0] : [];
  const s1 = size === 8 ? 0 : 1;
  if (kind < 2) b.emit({ bytes: b.op(size, lock, [0xfe | s1], rm, kind), fx: Fl.INCDEC });
  else b.emit({ bytes: b.op(size, lock, [0xf6 | s1], rm, kind), fx: kind === 2 ? Fl.NO_FLAGS : Fl.ARITH_ALL });
  b.wroteRm(size, rm);
};

const mulOp: Gen = (b) => {
  const r = b.r;
  const size = b.size();
  const f = r.int(4);
  if (f === 0 || size === 8) {
    const rm = b.rm(size);
    b.emit({ bytes: b.op(size, [], [size === 8 ? 0xf6 : 0xf7], rm, 4 + r.int(2)), fx: Fl.MUL });
    b.write(0); if (size !== 8) b.write(2);
  } else if (f === 1) {
    const g = b.dst();
    b.emit({ bytes: b.op(size, [], [0x0f, 0xaf], b.rm(size), g), fx: Fl.MUL });
    b.write(g);
  } else {
    const g = b.dst();
    const short = f === 2;
    b.emit({ bytes: b.op(size, [], [short ? 0x6b : 0x69], b.rm(size), g, short ? b.imm(8) : b.imm(size)), fx: Fl.MUL });
    b.write(g);
  }
};

function big(v: bigint, bits: number): bigint { return BigInt.asUintN(bits, v); }

const divOp: Gen = (b) => {
  const r = b.r;
  const size = b.size();
  const signed = r.chance(0.5);
  const n = BigInt(size);
  const rnd = (bits: number): bigint => BigInt(r.value(Math.min(bits, 32))) | (bits > 32 ? BigInt(r.value(bits - 32)) << 32n : 0n);
  let d: bigint;
  let dividend: bigint;
  if (r.chance(0.05)) {
    d = r.chance(0.3) ? 0n : rnd(size);
    dividend = rnd(size * 2);
  } else {
    const lim = 1n << n;
    do d = rnd(size); while (d === 0n || (signed && BigInt.asIntN(size, d) === 0n));
    if (!signed) {
      const q = rnd(size) % lim;
      const rem = rnd(size) % d;
      dividend = q * d + rem;
    } else {
      const ds = BigInt.asIntN(size, d);
      const q = BigInt.asIntN(size, rnd(size));
      const ad = ds < 0n ? -ds : ds;
      let rem = rnd(size) % ad;
      const prod = q * ds;
      if (prod < 0n || (prod === 0n && r.chance(0.5))) rem = -rem;
      dividend = big(prod + rem, size * 2);
    }
  }
  // Dividend first (EAX/EDX become unknown, so no memory operand below is based on them),
  // then the divisor: a register other than the dividend's, or memory, loaded with its value.
  if (size === 8) b.emit({ bytes: [0x66, 0xb8, ...le(Number(dividend), 2)], fx: Fl.NO_FLAGS, setup: true });
  else {
    const lo = Number(dividend & ((1n << n) - 1n));
    const hi = Number(dividend >> n);
    b.emit({ bytes: b.op(size, [], [0xb8], null, 0, le(lo, size / 8)), fx: Fl.NO_FLAGS, setup: true });
    b.emit({ bytes: b.op(size, [], [0xba], null, 0, le(hi, size / 8)), fx: Fl.NO_FLAGS, setup: true });
  }
  b.write(0); b.write(2);
  const rm = b.rm(size, { avoid: size === 8 ? [0] : [0, 2] });
  if (rm.reg !== undefined) {
    if (size === 8) b.emit({ bytes: [0xb0 + rm.reg, Number(d & 0xffn)], fx: Fl.NO_FLAGS, setup: true });
    else b.emit({ bytes: b.op(size, [], [0xb8 + rm.reg], null, 0, le(Number(d), size / 8)), fx: Fl.NO_FLAGS, setup: true });
    if (size === 8) b.write8(rm.reg); else b.write(rm.reg);
  } else {
    b.emit({ bytes: b.op(size, [], [size === 8 ? 0xc6 : 0xc7], { pre: rm.pre, tail: rm.tail }, 0, le(Number(d), size / 8)), fx: Fl.NO_FLAGS, setup: true });
  }
  b.emit({ bytes: b.op(size, [], [size === 8 ? 0xf6 : 0xf7], rm, signed ? 7 : 6), fx: Fl.DIV });
  b.write(0); b.write(2);
};

function shiftCount(r: Rng, size: number): number {
  switch (r.int(6)) {
    case 0: return r.pick([0, 1, 1, 1]);
    case 1: return r.pick([size - 1, size, size + 1, 31, 32, 33, 63, 64]);
    case 2: return r.int(256);
    default: return r.int(size + 2);
  }
}

const shiftOp: Gen = (b) => {
  const r = b.r;
  const size = b.size();
  let k = r.int(8);
  if (k === 6 && r.chance(0.7)) k = 4;
  const how = r.int(3); // 0: 1, 1: imm, 2: CL
  const count = how === 0 ? 1 : shiftCount(r, size);
  if (how === 2) { b.emit({ bytes: [0xb1, count], fx: Fl.NO_FLAGS, setup: true }); b.write(1); }
  const rm = b.rm(size, { write: true });
  const s1 = size === 8 ? 0 : 1;
  const opc = how === 0 ? 0xd0 | s1 : how === 1 ? 0xc0 | s1 : 0xd2 | s1;
  const reads = k === 2 || k === 3 ? ((count & 0x1f) !== 0 ? Fl.CF : 0) : 0;
  b.emit({ bytes: b.op(size, [], [opc], rm, k, how === 1 ? [count] : []), fx: Fl.shiftEffect(k, count, size) }, reads);
  b.wroteRm(size, rm);
};

const shldOp: Gen = (b) => {
  const r = b.r;
  const size: Size = r.chance(0.5) ? 16 : 32;
  const right = r.chance(0.5);
  const useCl = r.chance(0.5);
  let count = shiftCount(r, size);
  if (size === 16 && (count & 0x1f) > 16) count = r.int(17) | (r.int(8) << 5);
  if (useCl) { b.emit({ bytes: [0xb1, count & 0xff], fx: Fl.NO_FLAGS, setup: true }); b.write(1); }
  const rm = b.rm(size, { write: true });
  const g = r.int(8);
  const opc = (right ? 0xac : 0xa4) | (useCl ? 1 : 0);
  b.emit({ bytes: b.op(size, [], [0x0f, opc], rm, g, useCl ? [] : [count & 0xff]), fx: Fl.shldEffect(count, size) });
  b.wroteRm(size, rm);
};

const bcdOp: Gen = (b) => {
  const r = b.r;
  if (r.chance(0.5)) {
    const v = r.chance(0.6) ? (r.int(10) << 4) | r.int(16) | (r.int(16) << 8) : r.value(16);
    b.emit({ bytes: [0x66, 0xb8, ...le(v, 2)], fx: Fl.NO_FLAGS, setup: true });
  }
  const k = r.int(6);
  if (k === 0) b.emit({ bytes: [0x27], fx: Fl.DAA }, Fl.AF | Fl.CF);
  else if (k === 1) b.emit({ bytes: [0x2f], fx: Fl.DAA }, Fl.AF | Fl.CF);
  else if (k === 2) b.emit({ bytes: [0x37], fx: Fl.AAA }, Fl.AF);
  else if (k === 3) b.emit({ bytes: [0x3f], fx: Fl.AAA }, Fl.AF);
  else if (k === 4) b.emit({ bytes: [0xd4, r.chance(0.03) ? 0 : r.chance(0.7) ? 10 : 1 + r.int(255)], fx: Fl.AAM });
  else b.emit({ bytes: [0xd5, r.chance(0.7) ? 10 : r.int(256)], fx: Fl.AAM });
  b.write(0);
};

const bitOp: Gen = (b) => {
  const r = b.r;
  const size: Size = r.chance(0.5) ? 16 : 32;
  const k = r.int(4); // bt bts btr btc
  const w = k !== 0;
  const f = r.int(3);
  if (f === 0) {
    // BSF/BSR with a known source value
    const v = r.chance(0.15) ? 0 : r.chance(0.5) ? 1 << r.int(size) : r.value(size);
    const g = b.dst();
    const rm = b.rm(size, { avoid: [g] });
    if (rm.reg !== undefined) { b.emit({ bytes: b.op(size, [], [0xb8 + rm.reg], null, 0, le(v, size / 8)), fx: Fl.NO_FLAGS, setup: true }); b.write(rm.reg); }
    else b.emit({ bytes: b.op(size, [], [0xc7], { pre: rm.pre, tail: rm.tail }, 0, le(v, size / 8)), fx: Fl.NO_FLAGS, setup: true });
    b.emit({ bytes: b.op(size, [], [0x0f, r.chance(0.5) ? 0xbc : 0xbd], rm, g), fx: Fl.BSF, regUndef: (v & (size === 16 ? 0xffff : -1)) === 0 ? 1 << g : 0 });
    b.write(g);
  } else if (f === 1) {
    const rm = b.rm(size, { write: w });
    const lock = w && rm.addr !== undefined && r.chance(0.2) ? [0xf0] : [];
    b.emit({ bytes: b.op(size, lock, [0x0f, 0xba], rm, 4 + k, [r.int(256)]), fx: Fl.BT });
    if (w) b.wroteRm(size, rm);
  } else {
    const opc = [0xa3, 0xab, 0xb3, 0xbb][k];
    if (r.chance(0.5)) {
      const rm = b.rm(size, { write: w, regOnly: true });
      b.emit({ bytes: b.op(size, [], [0x0f, opc], rm, r.int(8)), fx: Fl.BT });
      if (w) b.wroteRm(size, rm);
    } else {
      // Memory with a register bit offset: the offset reaches outside the operand (signed).
      const g = b.dst();
      const off = r.int(512) - 256;
      const ea = b.target(size / 8, 0x40, 0x100);
      b.movImm(g, size === 16 ? off & 0xffff : off);
      const m = b.mem(ea, { write: w });
      const lock = w && r.chance(0.2) ? [0xf0] : [];
      b.emit({ bytes: b.op(size, lock, [0x0f, opc], { pre: m.pre, tail: m.tail }, g), fx: Fl.BT });
    }
  }
};

const CC_NAMES = 16;

const condOp: Gen = (b) => {
  const r = b.r;
  const cc = r.int(CC_NAMES);
  const reads = Fl.conditionReads(cc);
  const f = r.int(b.pending ? 2 : 5);
  if (f === 0) {
    const rm = b.rm(8, { write: true });
    b.emit({ bytes: b.op(0, [], [0x0f, 0x90 + cc], rm, r.int(8)), fx: Fl.NO_FLAGS }, reads);
    b.wroteRm(8, rm);
  } else if (f === 1) {
    const size: Size = r.chance(0.5) ? 16 : 32;
    const g = b.dst();
    b.emit({ bytes: b.op(size, [], [0x0f, 0x40 + cc], b.rm(size), g), fx: Fl.NO_FLAGS }, reads);
    b.write(g);
  } else {
    const skip = 1 + r.int(3);
    const kind = r.int(6);
    if (kind <= 1) {
      // Jcc rel8 / rel32 (conditional)
      const pre = { fx: Fl.NO_FLAGS };
      if (reads & b.U) b.emit({ bytes: [0x39, 0xc0 | (r.int(8) << 3) | r.int(8)], fx: Fl.ARITH_ALL, setup: true });
      const label = b.branch(skip, false);
      if (kind === 0) b.emit({ ...pre, bytes: [0x70 + cc, 0], fix: { at: 1, kind: "rel8", label } });
      else b.emit({ ...pre, bytes: [0x0f, 0x80 + cc, 0, 0, 0, 0], fix: { at: 2, kind: "rel32", label } });
    } else if (kind === 2) {
      const label = b.branch(skip, true);
      b.emit({ bytes: [0xeb, 0], fx: Fl.NO_FLAGS, fix: { at: 1, kind: "rel8", label } });
    } else {
      // LOOP / LOOPE / LOOPNE / JECXZ (0x67: CX)
      const op = r.pick([0xe0, 0xe1, 0xe2, 0xe3]);
      const a16 = r.chance(0.25);
      if (r.chance(0.5)) b.movImm(1, r.pick([0, 1, 2, 0x10000, 0x10001, r.u32()]));
      const rd = op === 0xe0 || op === 0xe1 ? Fl.ZF : 0;
      if (rd & b.U) b.emit({ bytes: [0x39, 0xc0 | (r.int(8) << 3) | r.int(8)], fx: Fl.ARITH_ALL, setup: true });
      const label = b.branch(skip, false);
      const bytes = a16 ? [0x67, op, 0] : [op, 0];
      b.emit({ bytes, fx: Fl.NO_FLAGS, fix: { at: bytes.length - 1, kind: "rel8", label } });
      if (op !== 0xe3) b.write(1);
    }
  }
};

const dataOp: Gen = (b) => {
  const r = b.r;
  const size = b.size();
  const s1 = size === 8 ? 0 : 1;
  switch (r.int(16)) {
    case 0: { // mov r/m, r  / mov r, r/m
      const rm = b.rm(size, { write: true });
      const g = size === 8 ? r.int(8) : b.dst();
      if (r.chance(0.5)) { b.emit({ bytes: b.op(size, [], [0x88 | s1], rm, g), fx: Fl.NO_FLAGS }); b.wroteRm(size, rm); }
      else { b.emit({ bytes: b.op(size, [], [0x8a | s1], rm, g), fx: Fl.NO_FLAGS }); if (size === 8) b.write8(g); else b.write(g); }
      break;
    }
    case 1: { // mov r/m, imm ; mov r, imm ; moffs
      const k = r.int(3);
      if (k === 0) { const rm = b.rm(size, { write: true }); b.emit({ bytes: b.op(size, [], [0xc6 | s1], rm, 0, b.imm(size)), fx: Fl.NO_FLAGS }); b.wroteRm(size, rm); }
      else if (k === 1) { const g = b.dst(); b.emit({ bytes: b.op(size, [], [(size === 8 ? 0xb0 : 0xb8) + g], null, 0, b.imm(size)), fx: Fl.NO_FLAGS }); if (size === 8) b.write8(g); else b.write(g); }
      else {
        const a = b.target(size / 8);
        const st = r.chance(0.5);
        const pre = b.addr16 ? [0x67] : [];
        b.emit({ bytes: b.op(size, pre, [(st ? 0xa2 : 0xa0) | s1], null, 0, le(a, b.addr16 ? 2 : 4)), fx: Fl.NO_FLAGS });
        if (!st) b.write(0);
      }
      break;
    }
    case 2: { // movzx / movsx
      const ds: Size = r.chance(0.5) ? 16 : 32;
      const src: Size = r.chance(0.5) ? 8 : 16;
      const g = b.dst();
      b.emit({ bytes: b.op(ds, [], [0x0f, (r.chance(0.5) ? 0xb6 : 0xbe) | (src === 16 ? 1 : 0)], b.rm(src), g), fx: Fl.NO_FLAGS });
      b.write(g);
      break;
    }
    case 3: { // xchg
      if (size !== 8 && r.chance(0.3)) { const g = b.dst(); b.emit({ bytes: b.op(size, [], [0x90 + g], null, 0), fx: Fl.NO_FLAGS }); b.write(0); b.write(g); break; }
      const rm = b.rm(size, { write: true });
      const g = size === 8 ? r.int(8) : b.dst();
      b.emit({ bytes: b.op(size, rm.addr !== undefined && r.chance(0.2) ? [0xf0] : [], [0x86 | s1], rm, g), fx: Fl.NO_FLAGS });
      b.wroteRm(size, rm); if (size === 8) b.write8(g); else b.write(g);
      break;
    }
    case 4: { // xadd / cmpxchg
      const rm = b.rm(size, { write: true });
      const g = size === 8 ? r.int(8) : b.dst();
      const lock = rm.addr !== undefined && r.chance(0.3) ? [0xf0] : [];
      b.emit({ bytes: b.op(size, lock, [0x0f, (r.chance(0.5) ? 0xc0 : 0xb0) | s1], rm, g), fx: Fl.ARITH_ALL });
      b.wroteRm(size, rm); if (size === 8) b.write8(g); else b.write(g);
      b.write(0);
      break;
    }
    case 5: { // cmpxchg8b
      const a = b.target(8);
      if (r.chance(0.5)) { // make the comparison succeed: EDX:EAX = m64
        b.write(0); b.write(2);
        const m0 = b.mem(a); b.emit({ bytes: [...m0.pre, 0x8b, ...withReg(m0.tail, 0)], fx: Fl.NO_FLAGS, setup: true });
        const m1 = b.mem(a + 4); b.emit({ bytes: [...m1.pre, 0x8b, ...withReg(m1.tail, 2)], fx: Fl.NO_FLAGS, setup: true });
      }
      const m = b.mem(a, { write: true });
      b.emit({ bytes: [...(r.chance(0.3) ? [0xf0] : []), ...m.pre, 0x0f, 0xc7, ...withReg(m.tail, 1)], fx: Fl.ZF_ONLY });
      b.write(0); b.write(2);
      break;
    }
    case 6: { const g = b.dst(); b.emit({ bytes: [0x0f, 0xc8 + g], fx: Fl.NO_FLAGS }); b.write(g); break; } // bswap
    case 7: case 8: { // lea, every addressing form; with 0x66/0x67 too (no memory access)
      const g = b.dst();
      const size2: Size = r.chance(0.25) ? 16 : 32;
      let tail: number[];
      let pre: number[] = [];
      if (r.chance(0.25)) {
        pre = [0x67];
        const rm = r.int(8), mod = r.int(3);
        tail = [(mod << 6) | rm, ...(mod === 1 ? [r.u32() & 0xff] : mod === 2 || rm === 6 ? le(r.u32(), 2) : [])];
        if (mod === 0 && rm !== 6) tail = [rm];
      } else {
        const mod = r.int(3), rm = r.int(8);
        tail = [(mod << 6) | rm];
        if (rm === 4) tail.push(r.u32() & 0xff);
        if (mod === 1) tail.push(r.u32() & 0xff);
        else if (mod === 2 || (mod === 0 && (rm === 5 || (rm === 4 && (tail[1] & 7) === 5)))) tail.push(...le(r.u32(), 4));
      }
      b.emit({ bytes: b.op(size2, pre, [0x8d], { pre: [], tail }, g), fx: Fl.NO_FLAGS });
      b.write(g);
      break;
    }
    case 9: b.emit({ bytes: b.op(r.chance(0.5) ? 16 : 32, [], [r.chance(0.5) ? 0x98 : 0x99], null, 0), fx: Fl.NO_FLAGS }); b.write(0); b.write(2); break;
    case 10: if (r.chance(0.5)) { b.emit({ bytes: [0x9f], fx: Fl.NO_FLAGS }, Fl.ARITH & ~Fl.OF); b.write(0); } else b.emit({ bytes: [0x9e], fx: Fl.SAHF }); break;
    case 11: { // xlat
      b.movImm(3, b.dataVa + r.int(0x100));
      b.emit({ bytes: [0xd7], fx: Fl.NO_FLAGS }); b.write(0);
      break;
    }
    case 12: { const k = r.int(3); b.emit({ bytes: [[0xf8, 0xf9, 0xf5][k]], fx: Fl.CF_ONLY }, k === 2 ? Fl.CF : 0); break; }
    case 13: { const s = r.chance(0.5); b.emit({ bytes: [s ? 0xfd : 0xfc], fx: Fl.NO_FLAGS }); b.df = s; break; }
    case 14: b.emit({ bytes: [0xd6], fx: Fl.NO_FLAGS }, Fl.CF); b.write(0); break; // salc
    default: { // nop forms
      if (r.chance(0.5)) b.emit({ bytes: [0x90], fx: Fl.NO_FLAGS });
      else b.emit({ bytes: b.op(r.chance(0.5) ? 16 : 32, [], [0x0f, 0x1f], { pre: [], tail: [0x40 | r.pick([0, 1, 2, 3, 5, 6, 7]), r.u32() & 0xff] }, 0), fx: Fl.NO_FLAGS });
    }
  }
};

function withReg(tail: number[], reg: number): number[] {
  const t = [...tail];
  t[0] |= reg << 3;
  return t;
}

const stackOp: Gen = (b) => {
  const r = b.r;
  if (b.pending) { aluOp(b); return; }
  const w16 = r.chance(0.2);
  const n = w16 ? 2 : 4;
  const pre = w16 ? [0x66] : [];
  switch (r.int(12)) {
    case 0: if (!b.canPush(n)) break; b.emit({ bytes: [...pre, 0x50 + r.int(8)], fx: Fl.NO_FLAGS }); b.esp -= n; break;
    case 1: {
      if (!b.canPop(n)) break;
      const g = b.dst();
      b.emit({ bytes: [...pre, 0x58 + g], fx: Fl.NO_FLAGS }); b.esp += n; b.write(g); break;
    }
    case 2: if (!b.canPush(n)) break; if (r.chance(0.5)) b.emit({ bytes: [...pre, 0x6a, r.u32() & 0xff], fx: Fl.NO_FLAGS }); else b.emit({ bytes: [...pre, 0x68, ...le(r.u32(), n)], fx: Fl.NO_FLAGS }); b.esp -= n; break;
    case 3: { // push m / pop m
      if (r.chance(0.5)) {
        if (!b.canPush(n)) break;
        const m = b.mem(b.target(n));
        b.emit({ bytes: [...pre, ...m.pre, 0xff, ...withReg(m.tail, 6)], fx: Fl.NO_FLAGS }); b.esp -= n;
      } else {
        if (!b.canPop(n)) break;
        const m = b.mem(b.target(n), { write: true, popEsp: n }); // ESP-based EA uses ESP after the pop
        b.emit({ bytes: [...pre, ...m.pre, 0x8f, ...m.tail], fx: Fl.NO_FLAGS }); b.esp += n;
      }
      break;
    }
    case 4: if (!b.canPush(8 * n)) break; b.emit({ bytes: [...pre, 0x60], fx: Fl.NO_FLAGS }); b.esp -= 8 * n; break;
    case 5: if (!b.canPop(8 * n)) break; b.emit({ bytes: [...pre, 0x61], fx: Fl.NO_FLAGS }); b.esp += 8 * n; for (let k = 0; k < 8; k++) if (k !== ESP) b.write(k); break;
    case 6: if (!b.canPush(n)) break; b.emit({ bytes: [...pre, 0x9c], fx: Fl.NO_FLAGS }, Fl.ARITH); b.esp -= n; break;
    case 7: { // push imm; popf (no TF, no AC: those would trap natively)
      if (!b.canPush(4)) break;
      const v = (r.u32() & (Fl.ARITH | Fl.DF | 0x4000 | 0x20_0000 | 0x3200)) | 2;
      b.emit({ bytes: [0x68, ...le(v, 4)], fx: Fl.NO_FLAGS, setup: true });
      b.emit({ bytes: [...pre, 0x9d], fx: { def: Fl.ARITH, undef: 0 } });
      b.esp += w16 ? -2 : 0; // push 4, popfw pops 2
      b.df = (v & Fl.DF) !== 0;
      break;
    }
    case 8: { // enter
      const size = r.int(4) * 4 + r.int(2) * 2;
      const level = r.chance(0.6) ? 0 : r.chance(0.7) ? 1 : 2 + r.int(3);
      const need = n * (level + 1) + size;
      if (!b.canPush(need + 8)) break;
      if (level > 1) b.movImm(5, b.dataVa + 0x60 + r.int(0x100));
      b.emit({ bytes: [...pre, 0xc8, ...le(size, 2), level], fx: Fl.NO_FLAGS });
      const frame = b.esp - n;
      b.esp -= need;
      if (w16) b.write(5); else b.setKnown(5, frame);
      break;
    }
    case 9: { // leave with EBP pointing into the stack area
      const target = b.esp + 4 * r.int(8);
      if (!b.canPop(target - b.esp + n)) break;
      if (b.known[5] === undefined || b.known[5] < b.esp || b.known[5] + n > b.dataVa + DATA_SIZE) b.movImm(5, target);
      b.emit({ bytes: [...pre, 0xc9], fx: Fl.NO_FLAGS });
      b.esp = b.known[5]! + n; b.write(5);
      break;
    }
    case 10: { // call forward (rel32 or through a register)
      if (!b.canPush(4)) break;
      const label = b.branch(1 + r.int(2), true);
      b.pending!.esp = b.esp - 4;
      if (r.chance(0.5)) b.emit({ bytes: [0xe8, 0, 0, 0, 0], fx: Fl.NO_FLAGS, fix: { at: 1, kind: "rel32", label } });
      else {
        const g = b.dst();
        b.emit({ bytes: [0xb8 + g, 0, 0, 0, 0], fx: Fl.NO_FLAGS, setup: true, fix: { at: 1, kind: "abs32", label } });
        b.pending!.known[g] = undefined; b.write(g);
        b.emit({ bytes: [0xff, 0xd0 | g], fx: Fl.NO_FLAGS, fix: { at: 0, kind: "abs32", label: 0 } });
      }
      b.esp -= 4;
      break;
    }
    default: { // push label; ret [imm16]
      if (!b.canPush(4)) break;
      const extra = r.chance(0.3) ? 2 * r.int(4) : 0;
      b.emit({ bytes: [0x68, 0, 0, 0, 0], fx: Fl.NO_FLAGS, setup: true });
      const pushAt = b.body.length - 1;
      const label = b.branch(1 + r.int(2), true);
      b.body[pushAt].fix = { at: 1, kind: "abs32", label };
      b.pending!.esp = b.esp + extra;
      b.emit({ bytes: extra ? [0xc2, ...le(extra, 2)] : [0xc3], fx: Fl.NO_FLAGS, fix: { at: 0, kind: "abs32", label: 0 } });
      break;
    }
  }
};

const stringOp: Gen = (b) => {
  const r = b.r;
  const kind = r.int(5); // movs cmps stos lods scas
  const size = b.size();
  const n = size / 8;
  const rep = r.chance(0.6) ? (kind === 1 || kind === 4 ? r.pick([0xf3, 0xf2]) : r.chance(0.9) ? 0xf3 : 0xf2) : 0;
  const count = rep ? r.pick([0, 1, 2, 3, 5, 8, 12]) : 1;
  if (b.df === undefined || r.chance(0.3)) { const s = r.chance(0.5); b.emit({ bytes: [s ? 0xfd : 0xfc], fx: Fl.NO_FLAGS, setup: true }); b.df = s; }
  const span = Math.max(1, count) * n;
  const ptr = () => (b.df ? b.target(0, span + 4, FSAVE_OFF - 0x20) : b.target(span + 4));
  const usesSi = kind === 0 || kind === 1 || kind === 3;
  const usesDi = kind !== 3;
  if (usesSi) b.movImm(6, ptr());
  if (usesDi) b.movImm(7, ptr());
  if (rep) b.movImm(1, count | (b.addr16 ? r.u32() & 0xffff0000 : 0));
  const pre: number[] = [];
  if (size === 16) pre.push(0x66);
  if (b.addr16) pre.push(0x67);
  if (usesSi && r.chance(0.2)) pre.push(r.pick([0x26, 0x2e, 0x36, 0x3e]));
  if (rep) pre.push(rep);
  const opc = [0xa4, 0xa6, 0xaa, 0xac, 0xae][kind] | (size === 8 ? 0 : 1);
  b.emit({ bytes: [...pre, opc], fx: kind === 1 || kind === 4 ? (rep && count === 0 ? Fl.NO_FLAGS : Fl.ARITH_ALL) : Fl.NO_FLAGS });
  b.write(1); b.write(6); b.write(7);
  if (kind === 3) b.write(0);
};

// ---- x87 ----

function f80(r: Rng): number[] {
  const sign = r.int(2) << 15;
  const hi = (r.u32() | 0x80000000) >>> 0;
  const lo = r.u32();
  const pick = r.int(100);
  let exp: number, h = hi, l = lo;
  if (pick < 60) exp = 16383 + r.int(80) - 40;
  else if (pick < 65) exp = 0x7ffe - r.int(3);
  else if (pick < 70) exp = 1 + r.int(60);
  else if (pick < 73) { exp = 0; h = hi & 0x7fffffff; }
  else if (pick < 77) { exp = 0; h = 0; l = 0; }
  else if (pick < 80) { exp = 0x7fff; h = 0x80000000; l = 0; }
  else if (pick < 83) { exp = 0x7fff; h = (hi | 0x40000000) >>> 0; }
  else if (pick < 85) { exp = 0x7fff; h = ((hi & ~0x40000000) | 1) >>> 0; }
  else { // short significand: exact-result territory
    const bits = 1 + r.int(20);
    const m = (r.u32() >>> (32 - bits)) | 1;
    const z = Math.clz32(m);
    exp = 16383 + 31 - z - r.int(6);
    h = (m << z) >>> 0; l = 0;
  }
  return [...le(l, 4), ...le(h, 4), ...le(sign | exp, 2)];
}

/** x87 operand area in the data image: values the prologue loads and memory operands read. */
const X_VALS = 0x100, X_CW = 0x170;

const x87Op: Gen = (b) => {
  const r = b.r;
  /** Escape opcode + memory operand (prefixes go before the opcode). */
  const mop = (opc: number, addr: number, reg: number, write = false): number[] => { const mm = b.mem(addr, { write }); return [...mm.pre, opc, ...withReg(mm.tail, reg)]; };
  const src = (size: number) => b.dataVa + X_VALS + r.int(0x70 - size);
  const dst = (size: number) => b.target(size, 0, X_VALS - 0x10);
  const d = b.depth;
  const need = (k: number) => d >= k || r.chance(0.05);
  const push = () => { b.depth = Math.min(8, b.depth + 1); };
  const pop = (k = 1) => { b.depth = Math.max(0, b.depth - k); };
  const C1 = { fx: Fl.NO_FLAGS, cc: Fl.X87_C1 };
  const sti = () => r.int(Math.max(1, Math.min(8, d)));
  switch (r.int(20)) {
    case 0: case 1: { // register arithmetic
      if (!need(2)) { b.emit({ bytes: [0xd9, 0xe8 + r.int(7)], ...C1 }); push(); break; }
      const k = r.pick([0, 1, 4, 5, 6, 7]);
      const form = r.int(3);
      const i = sti();
      b.emit({ bytes: [[0xd8, 0xdc, 0xde][form], 0xc0 | (k << 3) | i], ...C1 });
      if (form === 2) pop();
      break;
    }
    case 2: case 3: { // memory arithmetic / compare
      if (!need(1)) { b.emit({ bytes: mop(0xdd, src(8), 0), ...C1 }); push(); break; }
      const k = r.int(8);
      const opc = r.pick([0xd8, 0xdc, 0xda, 0xde]);
      const sz = opc === 0xdc ? 8 : opc === 0xde ? 2 : 4;
      b.emit({ bytes: mop(opc, src(sz), k), fx: Fl.NO_FLAGS, cc: k === 2 || k === 3 ? Fl.X87_ALL : Fl.X87_C1 });
      if (k === 3) pop();
      break;
    }
    case 4: { // loads
      const k = r.int(7);
      if (k === 0) b.emit({ bytes: mop(0xd9, src(4), 0), ...C1 });
      else if (k === 1) b.emit({ bytes: mop(0xdd, src(8), 0), ...C1 });
      else if (k === 2) b.emit({ bytes: mop(0xdb, src(10), 5), ...C1 });
      else if (k === 3) b.emit({ bytes: mop(r.pick([0xdf, 0xdb]), src(4), 0), ...C1 });
      else if (k === 4) b.emit({ bytes: mop(0xdf, src(8), 5), ...C1 });
      else if (k === 5) b.emit({ bytes: mop(0xdf, src(10), 4), ...C1 }); // fbld
      else b.emit({ bytes: [0xd9, 0xc0 | sti()], ...C1 });
      push();
      break;
    }
    case 5: case 6: { // stores
      if (!need(1)) break;
      const k = r.int(9);
      const forms: [number, number, number, boolean][] = [
        [0xd9, 2, 4, false], [0xd9, 3, 4, true], [0xdd, 2, 8, false], [0xdd, 3, 8, true], [0xdb, 7, 10, true],
        [0xdf, 2, 2, false], [0xdb, 3, 4, true], [0xdf, 7, 8, true], [0xdf, 6, 10, true],
      ];
      const [opc, reg, sz, p] = forms[k];
      b.emit({ bytes: mop(opc, dst(sz), reg, true), ...C1 });
      if (p) pop();
      break;
    }
    case 7: { // compares
      const k = r.int(8);
      const i = 1 + r.int(Math.max(1, Math.min(7, d - 1)));
      if (k === 0) b.emit({ bytes: [0xd8, 0xd0 | i], fx: Fl.NO_FLAGS, cc: Fl.X87_ALL });
      else if (k === 1) { b.emit({ bytes: [0xd8, 0xd8 | i], fx: Fl.NO_FLAGS, cc: Fl.X87_ALL }); pop(); }
      else if (k === 2) { b.emit({ bytes: [r.pick([0xde, 0xda]), 0xd9 + (r.int(2) ? 0 : 0x10)], fx: Fl.NO_FLAGS, cc: Fl.X87_ALL }); pop(2); }
      else if (k === 3) b.emit({ bytes: [0xdd, (r.chance(0.5) ? 0xe0 : 0xe8) | i], fx: Fl.NO_FLAGS, cc: Fl.X87_ALL });
      else if (k === 4) b.emit({ bytes: [0xd9, r.chance(0.5) ? 0xe4 : 0xe5], fx: Fl.NO_FLAGS, cc: Fl.X87_ALL });
      else { // fcomi / fucomi / fcomip / fucomip
        const opc = r.pick([0xdb, 0xdf]);
        b.emit({ bytes: [opc, (r.chance(0.5) ? 0xf0 : 0xe8) | i], fx: Fl.ARITH_ALL, cc: Fl.X87_C1_ONLY });
        if (opc === 0xdf) pop();
      }
      break;
    }
    case 8: { // fcmovcc (reads CF/ZF/PF)
      const k = r.int(4);
      const reads = [Fl.CF, Fl.ZF, Fl.CF | Fl.ZF, Fl.PF][k];
      b.emit({ bytes: [r.pick([0xda, 0xdb]), 0xc0 | (k << 3) | sti()], ...C1 }, reads);
      break;
    }
    case 9: b.emit({ bytes: [0xd9, 0xc8 | sti()], ...C1 }); break; // fxch
    case 10: { // fchs fabs fsqrt frndint fscale fxtract
      const op = r.pick([0xe0, 0xe1, 0xfa, 0xfc, 0xfd, 0xf4]);
      b.emit({ bytes: [0xd9, op], ...C1 });
      if (op === 0xf4) push();
      break;
    }
    case 11: b.emit({ bytes: [0xd9, r.pick([0xf8, 0xf5])], fx: Fl.NO_FLAGS, cc: Fl.X87_ALL }); break; // fprem fprem1
    case 12: b.emit({ bytes: [0xd9, 0xe8 + r.int(7)], ...C1 }); push(); break; // constants
    case 13: { // fnstsw ax; maybe sahf
      b.emit({ bytes: [0xdf, 0xe0], fx: Fl.NO_FLAGS, cc: Fl.X87_UNDEF }, 0, Fl.CC_ALL);
      b.write(0);
      if (r.chance(0.5)) b.emit({ bytes: [0x9e], fx: Fl.SAHF });
      break;
    }
    case 14: { // fnstsw / fnstcw / fldcw memory
      const k = r.int(3);
      if (k === 0) b.emit({ bytes: mop(0xdd, dst(2), 7, true), fx: Fl.NO_FLAGS, cc: Fl.X87_UNDEF }, 0, Fl.CC_ALL);
      else if (k === 1) b.emit({ bytes: mop(0xd9, dst(2), 7, true), fx: Fl.NO_FLAGS, cc: Fl.X87_UNDEF });
      else b.emit({ bytes: mop(0xd9, b.dataVa + X_CW + 2 * r.int(4), 5), fx: Fl.NO_FLAGS, cc: Fl.X87_UNDEF });
      break;
    }
    case 15: { const k = r.int(4); b.emit({ bytes: [[0xdd, 0xd9, 0xd9, 0xdb][k], [0xc0 | sti(), 0xf6, 0xf7, 0xe2][k]], fx: Fl.NO_FLAGS, cc: Fl.X87_UNDEF }); if (k === 1) push(); if (k === 2) pop(); break; } // ffree fdecstp fincstp fnclex
    case 16: { // fst/fstp st(i)
      const p = r.chance(0.5);
      b.emit({ bytes: [0xdd, (p ? 0xd8 : 0xd0) | sti()], ...C1 }); if (p) pop();
      break;
    }
    case 17: b.emit({ bytes: [0x9b], fx: Fl.NO_FLAGS, cc: Fl.X87_UNDEF }); break; // fwait
    default: { // transcendentals (results compared within a few ulps)
      const op = r.pick([0xf0, 0xf1, 0xf2, 0xf3, 0xf9, 0xfb, 0xfe, 0xff]);
      const cc = op === 0xf2 || op === 0xfb || op === 0xfe || op === 0xff ? Fl.X87_TRIG : Fl.X87_C1;
      b.emit({ bytes: [0xd9, op], fx: Fl.NO_FLAGS, cc, approx: true });
      if (op === 0xf1 || op === 0xf3 || op === 0xf9) pop(); else if (op === 0xf2 || op === 0xfb) push();
    }
  }
};

function x87Prologue(b: Builder): GenInstr[] {
  const r = b.r;
  const out: GenInstr[] = [];
  // values area: mixed f80/f64/f32/int images and BCD
  for (let o = X_VALS; o + 10 <= X_CW; o += 10) b.data.set(f80(r), o);
  if (r.chance(0.5)) for (let o = X_VALS; o + 8 <= X_CW; o += 8) if (r.chance(0.3)) b.data.set(le(r.value(32), 4).concat(le(r.value(32), 4)), o);
  for (let k = 0; k < 4; k++) {
    const rc = r.int(4), pc = r.pick([0, 2, 3, 3, 3]);
    let masks = 0x3f;
    if (r.chance(0.15)) masks &= ~(1 << r.int(6));
    b.data.set(le(0x1040 | (rc << 10) | (pc << 8) | masks, 2), X_CW + 2 * k);
  }
  const abs = (off: number, reg: number, opc: number): number[] => [opc, 0x05 | (reg << 3), ...le(b.dataVa + off, 4)];
  out.push({ bytes: [0xdb, 0xe3], fx: Fl.NO_FLAGS, cc: Fl.X87_ALL });
  // Give all eight physical registers known contents, then free them: an empty register's
  // stale contents show through FXAM (C1 = its sign) and FNSAVE, and natively they would
  // otherwise be whatever the kernel's XRSTOR init optimisation left (often zeros).
  for (let k = 0; k < 8; k++) {
    out.push({ bytes: [0xd9, 0xe8 + r.int(7)], fx: Fl.NO_FLAGS, cc: Fl.X87_C1 });
    if (r.chance(0.5)) out.push({ bytes: [0xd9, 0xe0], fx: Fl.NO_FLAGS, cc: Fl.X87_C1 });
  }
  for (let k = 0; k < 8; k++) out.push({ bytes: [0xdd, 0xc0 | k], fx: Fl.NO_FLAGS, cc: Fl.X87_UNDEF });
  out.push({ bytes: abs(X_CW, 5, 0xd9), fx: Fl.NO_FLAGS });
  const n = 1 + r.int(5);
  for (let k = 0; k < n; k++) out.push({ bytes: abs(X_VALS + 10 * r.int(11), 5, 0xdb), fx: Fl.NO_FLAGS, cc: Fl.X87_C1 });
  b.depth = n;
  return out;
}

// ---- MMX, SSE, SSE2, SSE3: instructions built from the opcode table's rows ----

const sseOp: Gen = (b) => {
  const r = b.r;
  const d = r.pick(SSE_ROWS);
  const ops = d.operands;
  const rmIndex = ops.findIndex((o) => /^([EWQUNM]|Rd\/Mw)/.test(o));
  const regIndex = ops.findIndex((o) => /^[VPG]/.test(o));
  const hasModrm = rmIndex >= 0 || d.reg !== undefined || regIndex >= 0;
  const bytes: number[] = d.prefix ? [d.prefix] : [];
  if (!hasModrm) {
    b.emit({ bytes: [...bytes, ...opcodeBytes(d)], fx: Fl.NO_FLAGS });
    return;
  }
  const rmOp = rmIndex >= 0 ? ops[rmIndex] : "";
  const memForm = d.mem === true || (d.mem !== false && /^[EWQM]|^Rd/.test(rmOp) && r.chance(0.5));
  // ModR/M.reg: the group's digit, or a register (a general-register destination is never ESP).
  const regDst = regIndex === 0 && ops[0][0] === "G";
  const regField = d.reg ?? (regDst ? b.dst() : r.int(8));
  let rm: { pre: number[]; tail: number[] };
  if (memForm) {
    const n = simdBytes(rmOp);
    let addr = b.target(n);
    if (n === 16 && r.chance(0.9)) addr -= addr & 15;
    const m = b.mem(addr, { write: rmIndex === 0 });
    rm = { pre: m.pre, tail: m.tail };
  } else {
    const gprDst = rmIndex === 0 && rmOp[0] === "E";
    const k = gprDst ? b.dst() : r.int(8);
    rm = { pre: [], tail: [0xc0 | k] };
    if (gprDst) b.write(k);
  }
  const imm = ops.includes("Ib") ? [r.int(256)] : [];
  b.emit({ bytes: b.op(0, bytes, opcodeBytes(d), rm, regField, imm), fx: /comis/.test(d.mnemonic) ? Fl.ARITH_ALL : Fl.NO_FLAGS });
  if (regDst) b.write(regField);
};

/** Fill `n` bytes at `off` with floats, doubles and integers. */
function simdData(b: Builder, off: number, n: number): void {
  const r = b.r;
  for (let o = off; o + 8 <= off + n; o += 8) {
    const k = r.int(4);
    if (k === 0) b.data.set([...le(f32Bits(r), 4), ...le(f32Bits(r), 4)], o);
    else if (k === 1) { const [lo, hi] = f64Words(r); b.data.set([...le(lo, 4), ...le(hi, 4)], o); }
    else if (k === 2) b.data.set([...le(r.value(32), 4), ...le(r.value(32), 4)], o);
  }
}

function ssePrologue(b: Builder): GenInstr[] {
  const r = b.r;
  simdData(b, 0, FSAVE_OFF - 0x20);
  simdData(b, SSE_INIT_OFF, 0xc0);
  let mxcsr = (r.int(4) << 13) | (r.chance(0.7) ? 0x1f80 : (r.u32() & 0x3f) << 7);
  if (r.chance(0.3)) mxcsr |= 0x40; // DAZ
  if (r.chance(0.3)) mxcsr |= 0x8000; // FTZ
  if (r.chance(0.5)) mxcsr |= r.u32() & 0x3f;
  b.data.set(le(mxcsr, 4), SSE_INIT_OFF + 0xc0);
  const abs = (op: number[], reg: number, off: number): number[] => [...op, 0x05 | (reg << 3), ...le(b.dataVa + off, 4)];
  // FNINIT, eight FLDZ, FNINIT: the x87 registers MMX aliases hold +0 and are empty. Natively a
  // register FNINIT leaves alone may read as zero anyway (the kernel's XRSTOR of an x87 state
  // in its init configuration), so nothing stale may remain.
  const out: GenInstr[] = [{ bytes: [0xdb, 0xe3], fx: Fl.NO_FLAGS }];
  for (let k = 0; k < 8; k++) out.push({ bytes: [0xd9, 0xee], fx: Fl.NO_FLAGS });
  out.push({ bytes: [0xdb, 0xe3], fx: Fl.NO_FLAGS });
  out.push({ bytes: abs([0x0f, 0xae], 2, SSE_INIT_OFF + 0xc0), fx: Fl.NO_FLAGS }); // LDMXCSR
  for (let k = 0; k < 8; k++) out.push({ bytes: abs([0x0f, 0x10], k, SSE_INIT_OFF + 16 * k), fx: Fl.NO_FLAGS }); // MOVUPS
  if (r.chance(0.5)) for (let k = 0; k < 8; k++) out.push({ bytes: abs([0x0f, 0x6f], k, SSE_INIT_OFF + 0x80 + 8 * k), fx: Fl.NO_FLAGS }); // MOVQ
  return out;
}

const GEN: Record<Exclude<Group, "x87" | "addr16" | "sse">, Gen[]> = {
  alu: [aluOp, aluOp, aluOp, testOp],
  incdec: [incdecOp],
  muldiv: [mulOp, divOp],
  shift: [shiftOp],
  shld: [shldOp],
  bcd: [bcdOp],
  bit: [bitOp],
  cond: [condOp],
  data: [dataOp],
  stack: [stackOp],
  string: [stringOp],
};
const INT_GROUPS = Object.keys(GEN) as (keyof typeof GEN)[];

/** Lay out code: resolve labels and fixups. `keep` instructions of the body run; the rest become NOPs. */
export function layout(c: Case, keep = c.body.length): { code: number[]; starts: number[]; bodyStart: number; bodyEnd: number } {
  const code: number[] = [];
  const starts: number[] = [];
  for (const i of c.prologue) code.push(...i.bytes);
  const bodyStart = code.length;
  const labelAt = new Map<number, number>();
  c.body.forEach((i) => {
    starts.push(code.length);
    for (const l of i.labels ?? []) labelAt.set(l, code.length);
    code.push(...i.bytes);
  });
  const bodyEnd = code.length;
  c.body.forEach((i, k) => {
    if (!i.fix || i.fix.label === 0) return;
    const target = labelAt.get(i.fix.label) ?? bodyEnd;
    const at = starts[k] + i.fix.at;
    if (i.fix.kind === "abs32") code.splice(at, 4, ...le(CODE_VA + target, 4));
    else if (i.fix.kind === "rel32") code.splice(at, 4, ...le(target - (starts[k] + i.bytes.length), 4));
    else {
      const rel = target - (starts[k] + i.bytes.length);
      if (rel > 127) throw new RangeError("branch too far");
      code[at] = rel;
    }
  });
  for (let k = keep; k < c.body.length; k++) for (let j = 0; j < c.body[k].bytes.length; j++) code[starts[k] + j] = 0x90;
  for (const i of c.epilogue) code.push(...i.bytes);
  return { code, starts, bodyStart, bodyEnd };
}

/** Generate case `index` of run `seed` (optionally restricted to some groups). */
export function generate(seed: number, index: number, groups: readonly Group[] = GROUPS): Case {
  for (let attempt = 0; ; attempt++) {
    const r = new Rng(seed, index * 64 + attempt);
    const group = r.pick(groups);
    const b = new Builder(r, group);
    const x87 = group === "x87", sse = group === "sse";
    const prologue = x87 ? x87Prologue(b) : sse ? ssePrologue(b) : [];
    const n = 1 + r.int(8);
    for (let k = 0; k < n; k++) {
      if (sse) {
        if (r.chance(0.9)) sseOp(b); else r.pick(GEN[r.pick(["alu", "data"] as const)])(b);
        b.tick();
      } else if (x87) {
        if (r.chance(0.85)) x87Op(b); else r.pick(GEN[r.pick(["alu", "cond", "data"] as const)])(b);
        b.tick();
        // transcendentals end the body: their last-bit differences must not propagate
        if (b.body.length && b.body[b.body.length - 1].approx) break;
      } else {
        const g = group === "addr16" ? r.pick(["alu", "data", "string", "bit", "incdec", "shift"] as const) : r.chance(0.8) ? group : r.pick(INT_GROUPS);
        r.pick(GEN[g])(b);
        b.tick();
      }
    }
    b.land();
    const epilogue: GenInstr[] = x87 ? [{ bytes: [0xdd, 0x35, ...le(b.dataVa + FSAVE_OFF, 4)], fx: Fl.NO_FLAGS }]
      : sse ? [{ bytes: [0x0f, 0xae, 0x05, ...le(b.dataVa + FXSAVE_OFF, 4)], fx: Fl.NO_FLAGS }] : [];
    const c: Case = { seed, index, group, dataVa: b.dataVa, regs: b.regs, eflags: b.eflags, data: b.data, prologue, body: b.body, epilogue, x87, sse };
    try {
      const { code } = layout(c);
      if (code.length + 8 <= CODE_MAX) return c;
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
    }
    if (attempt > 50) throw new Error("difftest: cannot generate a case that fits");
  }
}

/** Final undefined-flag / condition-code / register masks after `keep` body instructions. */
export function undefinedAfter(c: Case, keep = c.body.length): { flags: number; cc: number; regs: number } {
  // Recompute along the emitted order, merging at labels exactly as the generator did: the
  // generator already inserted definers, so a linear union over possible paths is enough.
  let U = 0, ccU = 0, regs = 0;
  const all = [...c.prologue, ...c.body.slice(0, keep)];
  const pendingU = new Map<number, [number, number, boolean]>();
  for (const i of all) {
    for (const l of i.labels ?? []) {
      const p = pendingU.get(l);
      if (p) { if (p[2]) { U = p[0]; ccU = p[1]; } else { U |= p[0]; ccU |= p[1]; } }
    }
    U = (U & ~i.fx.def) | i.fx.undef;
    if (i.cc) ccU = (ccU & ~i.cc.def) | i.cc.undef;
    regs |= i.regUndef ?? 0;
    if (i.fix && i.fix.label !== 0 && i.fix.kind !== "abs32") pendingU.set(i.fix.label, [U, ccU, i.bytes[0] === 0xeb || i.bytes[0] === 0xe8]);
    if (i.fix && i.fix.kind === "abs32" && i.fix.label !== 0) pendingU.set(i.fix.label, [U, ccU, true]);
  }
  // Branches that land at the end (or beyond a truncated prefix) merge there.
  for (const [, p] of pendingU) { U |= p[0]; ccU |= p[1]; }
  return { flags: U, cc: ccU, regs };
}
