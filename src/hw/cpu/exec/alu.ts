// Integer arithmetic and logic: ADD OR ADC SBB AND SUB XOR CMP, INC DEC NEG NOT TEST,
// MUL IMUL DIV IDIV (Intel SDM vol. 2, the instruction pages of those names).

import { Cpu, LazyOp, Reg } from "../cpu.js";
import { Vector } from "../fault.js";
import type { Instr } from "../instr.js";

const MASK = [0, 0xff, 0xffff, 0, 0xffff_ffff];

/**
 * Apply ALU operation `op` (the /digit of group 1: 0=ADD … 7=CMP). Returns the result.
 * 32-bit operands may be passed signed (as the Int32Array registers hold them): the result
 * and the lazy flags depend only on the operands modulo 2^32, and a signed value stays a
 * small integer to V8 where an unsigned one above 2^31 would be a boxed number per call.
 */
export function alu(cpu: Cpu, op: number, dst: number, src: number, size: number): number {
  let r: number;
  switch (op) {
    case 0: r = dst + src; cpu.setLazy(LazyOp.ADD, dst, src, r, size); break;
    case 1: r = dst | src; cpu.setLazy(LazyOp.LOGIC, dst, src, r, size); break;
    case 2: {
      const c = cpu.getCF() ? 1 : 0;
      r = dst + src + c; cpu.lCin = c; cpu.setLazy(LazyOp.ADC, dst, src, r, size); break;
    }
    case 3: {
      const c = cpu.getCF() ? 1 : 0;
      r = dst - src - c; cpu.lCin = c; cpu.setLazy(LazyOp.SBB, dst, src, r, size); break;
    }
    case 4: r = dst & src; cpu.setLazy(LazyOp.LOGIC, dst, src, r, size); break;
    case 6: r = dst ^ src; cpu.setLazy(LazyOp.LOGIC, dst, src, r, size); break;
    default: r = dst - src; cpu.setLazy(LazyOp.SUB, dst, src, r, size); break; // SUB, CMP
  }
  return r & MASK[size];
}

const opOf = (i: Instr): number => (i.opcode >> 3) & 7;

// 00–3D: op Eb,Gb / Ev,Gv / Gb,Eb / Gv,Ev / AL,Ib / eAX,Iz.
export function alu_Eb_Gb(cpu: Cpu, i: Instr): void {
  const op = opOf(i);
  if (op === 7) { alu(cpu, 7, cpu.readE8(i), cpu.get8(i.reg), 1); return; }
  cpu.writeE8(i, alu(cpu, op, cpu.readRmw8(i), cpu.get8(i.reg), 1));
}
export function alu_Ev_Gv(cpu: Cpu, i: Instr): void {
  const op = opOf(i);
  if (i.opsize32) {
    if (op === 7) { alu(cpu, 7, cpu.readE32(i), cpu.regs[i.reg], 4); return; }
    cpu.writeE32(i, alu(cpu, op, cpu.readRmw32(i), cpu.regs[i.reg], 4));
  } else {
    if (op === 7) { alu(cpu, 7, cpu.readE16(i), cpu.get16(i.reg), 2); return; }
    cpu.writeE16(i, alu(cpu, op, cpu.readRmw16(i), cpu.get16(i.reg), 2));
  }
}
export function alu_Gb_Eb(cpu: Cpu, i: Instr): void {
  const op = opOf(i);
  const r = alu(cpu, op, cpu.get8(i.reg), cpu.readE8(i), 1);
  if (op !== 7) cpu.set8(i.reg, r);
}
export function alu_Gv_Ev(cpu: Cpu, i: Instr): void {
  const op = opOf(i);
  if (i.opsize32) {
    const r = alu(cpu, op, cpu.regs[i.reg], cpu.readE32(i), 4);
    if (op !== 7) cpu.regs[i.reg] = r;
  } else {
    const r = alu(cpu, op, cpu.get16(i.reg), cpu.readE16(i), 2);
    if (op !== 7) cpu.set16(i.reg, r);
  }
}
export function alu_AL_Ib(cpu: Cpu, i: Instr): void {
  const op = opOf(i);
  const r = alu(cpu, op, cpu.regs[Reg.EAX] & 0xff, i.imm & 0xff, 1);
  if (op !== 7) cpu.set8(Reg.EAX, r);
}
export function alu_eAX_Iz(cpu: Cpu, i: Instr): void {
  const op = opOf(i);
  if (i.opsize32) {
    const r = alu(cpu, op, cpu.regs[Reg.EAX], i.imm | 0, 4);
    if (op !== 7) cpu.regs[Reg.EAX] = r;
  } else {
    const r = alu(cpu, op, cpu.regs[Reg.EAX] & 0xffff, i.imm & 0xffff, 2);
    if (op !== 7) cpu.set16(Reg.EAX, r);
  }
}

// Group 1 (80, 81, 82, 83): op = ModR/M.reg.
export function grp1_Eb_Ib(cpu: Cpu, i: Instr): void {
  if (i.reg === 7) { alu(cpu, 7, cpu.readE8(i), i.imm & 0xff, 1); return; }
  cpu.writeE8(i, alu(cpu, i.reg, cpu.readRmw8(i), i.imm & 0xff, 1));
}
export function grp1_Ev_I(cpu: Cpu, i: Instr): void {
  if (i.opsize32) {
    if (i.reg === 7) { alu(cpu, 7, cpu.readE32(i), i.imm | 0, 4); return; }
    cpu.writeE32(i, alu(cpu, i.reg, cpu.readRmw32(i), i.imm | 0, 4));
  } else {
    if (i.reg === 7) { alu(cpu, 7, cpu.readE16(i), i.imm & 0xffff, 2); return; }
    cpu.writeE16(i, alu(cpu, i.reg, cpu.readRmw16(i), i.imm & 0xffff, 2));
  }
}

// TEST (84, 85, A8, A9, F6 /0, F7 /0).
export function test_Eb_Gb(cpu: Cpu, i: Instr): void { alu(cpu, 4, cpu.readE8(i), cpu.get8(i.reg), 1); }
export function test_Ev_Gv(cpu: Cpu, i: Instr): void {
  if (i.opsize32) alu(cpu, 4, cpu.readE32(i), cpu.regs[i.reg], 4);
  else alu(cpu, 4, cpu.readE16(i), cpu.get16(i.reg), 2);
}
export function test_AL_Ib(cpu: Cpu, i: Instr): void { alu(cpu, 4, cpu.regs[Reg.EAX] & 0xff, i.imm & 0xff, 1); }
export function test_eAX_Iz(cpu: Cpu, i: Instr): void {
  if (i.opsize32) alu(cpu, 4, cpu.regs[Reg.EAX], i.imm | 0, 4);
  else alu(cpu, 4, cpu.regs[Reg.EAX] & 0xffff, i.imm & 0xffff, 2);
}
export function test_Eb_Ib(cpu: Cpu, i: Instr): void { alu(cpu, 4, cpu.readE8(i), i.imm & 0xff, 1); }
export function test_Ev_Iz(cpu: Cpu, i: Instr): void {
  if (i.opsize32) alu(cpu, 4, cpu.readE32(i), i.imm | 0, 4);
  else alu(cpu, 4, cpu.readE16(i), i.imm & 0xffff, 2);
}

// INC / DEC (40–4F, FE /0 /1, FF /0 /1): CF is kept (setLazy fixes it first).
/** INC of `d` at `size` bytes: the result (unmasked), with the lazy flags set. */
export function incOp(cpu: Cpu, d: number, size: number): number { const v = d + 1; cpu.setLazy(LazyOp.INC, d, 1, v, size); return v; }
/** DEC of `d` at `size` bytes: the result (unmasked), with the lazy flags set. */
export function decOp(cpu: Cpu, d: number, size: number): number { const v = d - 1; cpu.setLazy(LazyOp.DEC, d, 1, v, size); return v; }
export function inc_Zv(cpu: Cpu, i: Instr): void {
  const r = i.opcode & 7;
  if (i.opsize32) cpu.regs[r] = incOp(cpu, cpu.regs[r], 4); else cpu.set16(r, incOp(cpu, cpu.get16(r), 2));
}
export function dec_Zv(cpu: Cpu, i: Instr): void {
  const r = i.opcode & 7;
  if (i.opsize32) cpu.regs[r] = decOp(cpu, cpu.regs[r], 4); else cpu.set16(r, decOp(cpu, cpu.get16(r), 2));
}
export function inc_Eb(cpu: Cpu, i: Instr): void { cpu.writeE8(i, incOp(cpu, cpu.readRmw8(i), 1)); }
export function dec_Eb(cpu: Cpu, i: Instr): void { cpu.writeE8(i, decOp(cpu, cpu.readRmw8(i), 1)); }
export function inc_Ev(cpu: Cpu, i: Instr): void {
  if (i.opsize32) cpu.writeE32(i, incOp(cpu, cpu.readRmw32(i), 4)); else cpu.writeE16(i, incOp(cpu, cpu.readRmw16(i), 2));
}
export function dec_Ev(cpu: Cpu, i: Instr): void {
  if (i.opsize32) cpu.writeE32(i, decOp(cpu, cpu.readRmw32(i), 4)); else cpu.writeE16(i, decOp(cpu, cpu.readRmw16(i), 2));
}

// NOT / NEG (F6/F7 /2 /3).
export function not_Eb(cpu: Cpu, i: Instr): void { cpu.writeE8(i, ~cpu.readRmw8(i)); }
export function not_Ev(cpu: Cpu, i: Instr): void {
  if (i.opsize32) cpu.writeE32(i, ~cpu.readRmw32(i)); else cpu.writeE16(i, ~cpu.readRmw16(i));
}
export function neg_Eb(cpu: Cpu, i: Instr): void {
  const s = cpu.readRmw8(i); const r = -s; cpu.setLazy(LazyOp.NEG, 0, s, r, 1); cpu.writeE8(i, r);
}
export function neg_Ev(cpu: Cpu, i: Instr): void {
  if (i.opsize32) { const s = cpu.readRmw32(i) >>> 0; const r = -s; cpu.setLazy(LazyOp.NEG, 0, s, r, 4); cpu.writeE32(i, r); }
  else { const s = cpu.readRmw16(i); const r = -s; cpu.setLazy(LazyOp.NEG, 0, s, r, 2); cpu.writeE16(i, r); }
}

// ---- Multiplication ----

/** High dword of the unsigned 32×32 → 64 product (16-bit limbs keep every step exact). */
export function mulHighU32(a: number, b: number): number {
  a >>>= 0; b >>>= 0;
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (hh + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 65536)) >>> 0;
}
/** High dword of the signed 32×32 → 64 product. */
export function mulHighS32(a: number, b: number): number {
  let hi = mulHighU32(a, b);
  if ((a | 0) < 0) hi -= b >>> 0;
  if ((b | 0) < 0) hi -= a >>> 0;
  return hi >>> 0;
}

// MUL/IMUL leave SF, ZF, AF, PF undefined; P6 computes SF/ZF/PF from the low half (checked by difftest).
function setMulFlags(cpu: Cpu, overflow: boolean, low: number, size: number): void {
  cpu.setArith(overflow, overflow, false, low, size);
}

export function mul_Eb(cpu: Cpu, i: Instr): void {
  const r = (cpu.regs[Reg.EAX] & 0xff) * cpu.readE8(i);
  cpu.set16(Reg.EAX, r);
  setMulFlags(cpu, (r & 0xff00) !== 0, r, 1);
}
export function imul_Eb(cpu: Cpu, i: Instr): void {
  const r = ((cpu.regs[Reg.EAX] << 24) >> 24) * ((cpu.readE8(i) << 24) >> 24);
  cpu.set16(Reg.EAX, r);
  setMulFlags(cpu, r !== ((r << 24) >> 24), r, 1);
}
export function mul_Ev(cpu: Cpu, i: Instr): void {
  if (i.opsize32) {
    const a = cpu.regs[Reg.EAX], b = cpu.readE32(i);
    const lo = Math.imul(a, b), hi = mulHighU32(a, b);
    cpu.regs[Reg.EAX] = lo; cpu.regs[Reg.EDX] = hi;
    setMulFlags(cpu, hi !== 0, lo, 4);
  } else {
    const r = (cpu.regs[Reg.EAX] & 0xffff) * cpu.readE16(i);
    cpu.set16(Reg.EAX, r); cpu.set16(Reg.EDX, r >>> 16);
    setMulFlags(cpu, (r >>> 16) !== 0, r, 2);
  }
}
export function imul_Ev(cpu: Cpu, i: Instr): void {
  if (i.opsize32) {
    const a = cpu.regs[Reg.EAX], b = cpu.readE32(i);
    const lo = Math.imul(a, b), hi = mulHighS32(a, b);
    cpu.regs[Reg.EAX] = lo; cpu.regs[Reg.EDX] = hi;
    setMulFlags(cpu, (hi | 0) !== (lo >> 31), lo, 4);
  } else {
    const r = ((cpu.regs[Reg.EAX] << 16) >> 16) * ((cpu.readE16(i) << 16) >> 16);
    cpu.set16(Reg.EAX, r); cpu.set16(Reg.EDX, r >> 16);
    setMulFlags(cpu, r !== ((r << 16) >> 16), r, 2);
  }
}
/** IMUL Gv,Ev / Gv,Ev,Iz / Gv,Ev,Ib: truncated signed product. */
function imulTrunc(cpu: Cpu, i: Instr, a: number, b: number): void {
  if (i.opsize32) {
    const lo = Math.imul(a, b), hi = mulHighS32(a, b);
    cpu.regs[i.reg] = lo;
    // The flags are a lazy record (flag-semantics.ts): the same as setMulFlags would set.
    cpu.setLazy(LazyOp.IMUL, hi, 0, lo, 4);
  } else {
    const r = ((a << 16) >> 16) * ((b << 16) >> 16);
    cpu.set16(i.reg, r);
    setMulFlags(cpu, r !== ((r << 16) >> 16), r, 2);
  }
}
export function imul_Gv_Ev(cpu: Cpu, i: Instr): void {
  imulTrunc(cpu, i, i.opsize32 ? cpu.regs[i.reg] : cpu.get16(i.reg), i.opsize32 ? cpu.readE32(i) : cpu.readE16(i));
}
export function imul_Gv_Ev_I(cpu: Cpu, i: Instr): void {
  imulTrunc(cpu, i, i.opsize32 ? cpu.readE32(i) : cpu.readE16(i), i.imm);
}

// ---- Division (#DE on divide by zero or quotient overflow) ----

export function div_Eb(cpu: Cpu, i: Instr): void {
  const d = cpu.readE8(i);
  if (d === 0) cpu.raiseNoCode(Vector.DE);
  const n = cpu.regs[Reg.EAX] & 0xffff;
  const q = Math.floor(n / d);
  if (q > 0xff) cpu.raiseNoCode(Vector.DE);
  cpu.set16(Reg.EAX, q | ((n % d) << 8));
}
export function idiv_Eb(cpu: Cpu, i: Instr): void {
  const d = (cpu.readE8(i) << 24) >> 24;
  if (d === 0) cpu.raiseNoCode(Vector.DE);
  const n = (cpu.regs[Reg.EAX] << 16) >> 16;
  const q = Math.trunc(n / d);
  if (q > 127 || q < -128) cpu.raiseNoCode(Vector.DE);
  cpu.set16(Reg.EAX, (q & 0xff) | ((n % d & 0xff) << 8));
}
export function div_Ev(cpu: Cpu, i: Instr): void {
  if (i.opsize32) {
    const d = cpu.readE32(i) >>> 0;
    if (d === 0) cpu.raiseNoCode(Vector.DE);
    const hi = cpu.regs[Reg.EDX] >>> 0, lo = cpu.regs[Reg.EAX] >>> 0;
    if (hi >= d) cpu.raiseNoCode(Vector.DE);
    const q = divu64(hi, lo, d);
    cpu.regs[Reg.EAX] = q; cpu.regs[Reg.EDX] = lo - Math.imul(q, d);
  } else {
    const d = cpu.readE16(i);
    if (d === 0) cpu.raiseNoCode(Vector.DE);
    const n = ((cpu.regs[Reg.EDX] & 0xffff) * 65536) + (cpu.regs[Reg.EAX] & 0xffff);
    const q = Math.floor(n / d);
    if (q > 0xffff) cpu.raiseNoCode(Vector.DE);
    cpu.set16(Reg.EAX, q); cpu.set16(Reg.EDX, n % d);
  }
}
export function idiv_Ev(cpu: Cpu, i: Instr): void {
  if (i.opsize32) {
    const d = cpu.readE32(i) | 0;
    if (d === 0) cpu.raiseNoCode(Vector.DE);
    let hi = cpu.regs[Reg.EDX] >>> 0, lo = cpu.regs[Reg.EAX] >>> 0;
    const negN = (hi & 0x8000_0000) !== 0;
    if (negN) { lo = (~lo + 1) >>> 0; hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0; }
    const ad = Math.abs(d);
    if (hi >= ad) cpu.raiseNoCode(Vector.DE);
    let q = divu64(hi, lo, ad);
    // The remainder is below the divisor, so the low dword of dividend − q·divisor is exact.
    let r = (lo - Math.imul(q, ad)) >>> 0;
    const negQ = negN !== (d < 0);
    if (negQ ? q > 0x8000_0000 : q > 0x7fff_ffff) cpu.raiseNoCode(Vector.DE);
    if (negQ) q = -q;
    if (negN) r = -r;
    cpu.regs[Reg.EAX] = q; cpu.regs[Reg.EDX] = r;
  } else {
    const d = (cpu.readE16(i) << 16) >> 16;
    if (d === 0) cpu.raiseNoCode(Vector.DE);
    const n = (cpu.regs[Reg.EDX] << 16) | (cpu.regs[Reg.EAX] & 0xffff);
    const q = Math.trunc(n / d);
    if (q > 32767 || q < -32768) cpu.raiseNoCode(Vector.DE);
    cpu.set16(Reg.EAX, q); cpu.set16(Reg.EDX, n % d);
  }
}

/** Unsigned (hi:lo) / d for hi < d, in 16-bit steps so every intermediate is exact in a double. */
function divu64(hi: number, lo: number, d: number): number {
  let rem = hi;
  let cur = rem * 65536 + (lo >>> 16);
  const q1 = Math.floor(cur / d);
  rem = cur - q1 * d;
  cur = rem * 65536 + (lo & 0xffff);
  const q2 = Math.floor(cur / d);
  return (q1 * 65536 + q2) >>> 0;
}
