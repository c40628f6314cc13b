// Integer instructions in 64-bit mode, one handler for every operand size (Intel SDM vol. 2,
// the instruction pages; docs/long-mode.md). `i.osz` is the size in bytes (1 for the byte
// forms). Sizes 1, 2 and 4 compute exactly as the legacy handlers do (and share their flag
// code); size 8 works on (lo, hi) halves and sets the flags eagerly.

import { LazyOp, Reg, type Cpu } from "../cpu.js";
import { Vector } from "../fault.js";
import type { Instr } from "../instr.js";
import { alu, mulHighS32, mulHighU32 } from "../exec/alu.js";
import { shiftOp, doubleShift } from "../exec/shift.js";
import { popcount32 } from "../exec/bit.js";
import * as F from "../eflags.js";
import { getReg, setReg, readE, readRmwE, writeE, writeRmwE, readG, writeG, immOf, readMem, ea64, segLinear as segLinearOf } from "./operands.js";
import { mulU64, mulS64, divU128, neg64 } from "./wide.js";

const MASK = [0, 0xff, 0xffff, 0, 0xffff_ffff];
const TWO32 = 0x1_0000_0000;
/** Scratch for 128-bit products and quotients (used within one call only). */
const W = new Int32Array(4);

// ---- The ALU operation on any size ----

/**
 * Group-1 operation `op` (0 = ADD … 7 = CMP) on (dLo, dHi) and (sLo, sHi) of `size` bytes.
 * Returns the low half; the high half is in cpu.hi.
 */
export function aluOp(cpu: Cpu, op: number, dLo: number, dHi: number, sLo: number, sHi: number, size: number): number {
  if (size !== 8) {
    cpu.hi = 0;
    return alu(cpu, op, (dLo & MASK[size]) >>> 0, (sLo & MASK[size]) >>> 0, size);
  }
  let lo: number, hi: number;
  switch (op) {
    case 1: lo = dLo | sLo; hi = dHi | sHi; break;
    case 4: lo = dLo & sLo; hi = dHi & sHi; break;
    case 6: lo = dLo ^ sLo; hi = dHi ^ sHi; break;
    case 0: case 2: {
      const c = op === 2 && cpu.getCF() ? 1 : 0;
      const l = (dLo >>> 0) + (sLo >>> 0) + c;
      const h = (dHi >>> 0) + (sHi >>> 0) + (l >= TWO32 ? 1 : 0);
      lo = l | 0; hi = h | 0;
      cpu.setArith64(h >= TWO32, ((dHi ^ hi) & (sHi ^ hi)) < 0, ((dLo ^ sLo ^ lo) & 0x10) !== 0, lo, hi);
      cpu.hi = hi;
      return lo;
    }
    default: { // SUB, SBB, CMP
      const c = op === 3 && cpu.getCF() ? 1 : 0;
      const l = (dLo >>> 0) - (sLo >>> 0) - c;
      const h = (dHi >>> 0) - (sHi >>> 0) - (l < 0 ? 1 : 0);
      lo = l | 0; hi = h | 0;
      cpu.setArith64(h < 0, ((dHi ^ sHi) & (dHi ^ hi)) < 0, ((dLo ^ sLo ^ lo) & 0x10) !== 0, lo, hi);
      cpu.hi = hi;
      return lo;
    }
  }
  cpu.setArith64(false, false, false, lo, hi);
  cpu.hi = hi;
  return lo;
}

const opOf = (i: Instr): number => (i.opcode >> 3) & 7;

// 00–3D: op E,G / G,E / AL|rAX,I.
export function alu_E_G(cpu: Cpu, i: Instr): void {
  const op = opOf(i), n = i.osz;
  const s = readG(cpu, i, n), sh = cpu.hi;
  if (op === 7) { const d = readE(cpu, i, n); aluOp(cpu, 7, d, cpu.hi, s, sh, n); return; }
  const d = readRmwE(cpu, i, n);
  const r = aluOp(cpu, op, d, cpu.hi, s, sh, n);
  writeRmwE(cpu, i, n, r, cpu.hi);
}
export function alu_G_E(cpu: Cpu, i: Instr): void {
  const op = opOf(i), n = i.osz;
  const s = readE(cpu, i, n), sh = cpu.hi;
  const d = readG(cpu, i, n);
  const r = aluOp(cpu, op, d, cpu.hi, s, sh, n);
  if (op !== 7) writeG(cpu, i, n, r, cpu.hi);
}
export function alu_A_I(cpu: Cpu, i: Instr): void {
  const op = opOf(i), n = i.osz;
  const s = immOf(cpu, i, n), sh = cpu.hi;
  const d = getReg(cpu, Reg.EAX, n, 0);
  const r = aluOp(cpu, op, d, cpu.hi, s, sh, n);
  if (op !== 7) setReg(cpu, Reg.EAX, n, r, cpu.hi, 0);
}
/** 80, 81, 83: op = ModR/M.reg, immediate Ib, Iz or Ibs. */
export function grp1_E_I(cpu: Cpu, i: Instr): void {
  const n = i.osz;
  const s = immOf(cpu, i, n), sh = cpu.hi;
  if (i.reg === 7 || (i.reg & 7) === 7) {
    const d = readE(cpu, i, n); aluOp(cpu, 7, d, cpu.hi, s, sh, n); return;
  }
  const d = readRmwE(cpu, i, n);
  const r = aluOp(cpu, i.modrm >> 3 & 7, d, cpu.hi, s, sh, n);
  writeRmwE(cpu, i, n, r, cpu.hi);
}

// TEST 84, 85, A8, A9, F6/F7 /0 /1.
export function test_E_G(cpu: Cpu, i: Instr): void {
  const n = i.osz;
  const s = readG(cpu, i, n), sh = cpu.hi;
  const d = readE(cpu, i, n);
  aluOp(cpu, 4, d, cpu.hi, s, sh, n);
}
export function test_A_I(cpu: Cpu, i: Instr): void {
  const n = i.osz;
  const s = immOf(cpu, i, n), sh = cpu.hi;
  const d = getReg(cpu, Reg.EAX, n, 0);
  aluOp(cpu, 4, d, cpu.hi, s, sh, n);
}
export function test_E_I(cpu: Cpu, i: Instr): void {
  const n = i.osz;
  const s = immOf(cpu, i, n), sh = cpu.hi;
  const d = readE(cpu, i, n);
  aluOp(cpu, 4, d, cpu.hi, s, sh, n);
}

// ---- INC DEC NOT NEG (FE/FF /0 /1, F6/F7 /2 /3) ----

export function incdec_E(cpu: Cpu, i: Instr): void {
  const n = i.osz, dec = (i.modrm & 0x08) !== 0;
  const d = readRmwE(cpu, i, n), dh = cpu.hi;
  if (n !== 8) {
    const v = dec ? d - 1 : d + 1;
    cpu.setLazy(dec ? LazyOp.DEC : LazyOp.INC, (d & MASK[n]) >>> 0, 1, dec ? ((d & MASK[n]) >>> 0) - 1 : ((d & MASK[n]) >>> 0) + 1, n);
    writeRmwE(cpu, i, n, v, 0);
    return;
  }
  const cf = cpu.getCF();
  const r = aluOp(cpu, dec ? 5 : 0, d, dh, 1, 0, 8), rh = cpu.hi;
  cpu.setFlag(F.CF, cf); // INC and DEC keep CF
  writeRmwE(cpu, i, n, r, rh);
}
export function not_E(cpu: Cpu, i: Instr): void {
  const n = i.osz;
  const d = readRmwE(cpu, i, n);
  writeRmwE(cpu, i, n, ~d, ~cpu.hi);
}
export function neg_E(cpu: Cpu, i: Instr): void {
  const n = i.osz;
  const s = readRmwE(cpu, i, n);
  const r = aluOp(cpu, 5, 0, 0, s, cpu.hi, n);
  if (n !== 8) {
    // The legacy lazy NEG: CF = (source != 0).
    cpu.setLazy(LazyOp.NEG, 0, (s & MASK[n]) >>> 0, -((s & MASK[n]) >>> 0), n);
  }
  writeRmwE(cpu, i, n, r, cpu.hi);
}

// ---- MUL IMUL DIV IDIV ----

function mulFlags(cpu: Cpu, overflow: boolean, lo: number, hi: number, size: number): void {
  // SF, ZF, PF from the low half as P6 does (see exec/alu.ts).
  if (size === 8) cpu.setArith64(overflow, overflow, false, lo, hi);
  else cpu.setArith(overflow, overflow, false, lo, size);
}

/** F6/F7 /4 /5: one-operand MUL and IMUL into rDX:rAX (AX for bytes). */
export function mul_E(cpu: Cpu, i: Instr): void {
  const n = i.osz, signed = (i.modrm & 0x08) !== 0;
  const b = readE(cpu, i, n), bh = cpu.hi;
  if (n === 1) {
    const a = cpu.regs[Reg.EAX];
    const r = signed ? ((a << 24) >> 24) * ((b << 24) >> 24) : (a & 0xff) * (b & 0xff);
    cpu.regs[Reg.EAX] = (cpu.regs[Reg.EAX] & ~0xffff) | (r & 0xffff);
    mulFlags(cpu, signed ? r !== ((r << 24) >> 24) : (r & 0xff00) !== 0, r, 0, 1);
  } else if (n === 2) {
    const a = cpu.regs[Reg.EAX];
    const r = signed ? ((a << 16) >> 16) * ((b << 16) >> 16) : (a & 0xffff) * (b & 0xffff);
    setReg(cpu, Reg.EAX, 2, r, 0, 0); setReg(cpu, Reg.EDX, 2, signed ? r >> 16 : r >>> 16, 0, 0);
    mulFlags(cpu, signed ? r !== ((r << 16) >> 16) : (r >>> 16) !== 0, r, 0, 2);
  } else if (n === 4) {
    const a = cpu.regs[Reg.EAX];
    const lo = Math.imul(a, b), hi = signed ? mulHighS32(a, b) : mulHighU32(a, b);
    setReg(cpu, Reg.EAX, 4, lo, 0, 0); setReg(cpu, Reg.EDX, 4, hi, 0, 0);
    mulFlags(cpu, signed ? (hi | 0) !== (lo >> 31) : hi !== 0, lo, 0, 4);
  } else {
    const aLo = cpu.regs[Reg.EAX], aHi = cpu.regsHi[Reg.EAX];
    if (signed) mulS64(aLo, aHi, b, bh, W); else mulU64(aLo, aHi, b, bh, W);
    const over = signed ? !(W[2] === W[1] >> 31 && W[3] === W[1] >> 31) : (W[2] | W[3]) !== 0;
    cpu.regs[Reg.EAX] = W[0]; cpu.regsHi[Reg.EAX] = W[1];
    cpu.regs[Reg.EDX] = W[2]; cpu.regsHi[Reg.EDX] = W[3];
    mulFlags(cpu, over, W[0], W[1], 8);
  }
}

/** IMUL G,E (0F AF) and IMUL G,E,I (69, 6B): the truncated signed product. */
function imulTrunc(cpu: Cpu, i: Instr, aLo: number, aHi: number, bLo: number, bHi: number): void {
  const n = i.osz;
  if (n === 8) {
    mulS64(aLo, aHi, bLo, bHi, W);
    const over = !(W[2] === W[1] >> 31 && W[3] === W[1] >> 31);
    writeG(cpu, i, 8, W[0], W[1]);
    mulFlags(cpu, over, W[0], W[1], 8);
  } else if (n === 4) {
    const lo = Math.imul(aLo, bLo), hi = mulHighS32(aLo, bLo);
    writeG(cpu, i, 4, lo, 0);
    mulFlags(cpu, (hi | 0) !== (lo >> 31), lo, 0, 4);
  } else {
    const r = ((aLo << 16) >> 16) * ((bLo << 16) >> 16);
    writeG(cpu, i, 2, r, 0);
    mulFlags(cpu, r !== ((r << 16) >> 16), r, 0, 2);
  }
}
export function imul_G_E(cpu: Cpu, i: Instr): void {
  const b = readE(cpu, i, i.osz), bh = cpu.hi;
  const a = readG(cpu, i, i.osz);
  imulTrunc(cpu, i, a, cpu.hi, b, bh);
}
export function imul_G_E_I(cpu: Cpu, i: Instr): void {
  const a = readE(cpu, i, i.osz), ah = cpu.hi;
  imulTrunc(cpu, i, a, ah, i.imm, i.imm >> 31);
}

/** F6/F7 /6 /7: DIV and IDIV of rDX:rAX (AX for bytes); #DE on zero or overflow. */
export function div_E(cpu: Cpu, i: Instr): void {
  const n = i.osz, signed = (i.modrm & 0x08) !== 0;
  const d = readE(cpu, i, n), dh = cpu.hi;
  if (n === 1) {
    const dv = signed ? (d << 24) >> 24 : d & 0xff;
    if (dv === 0) cpu.raiseNoCode(Vector.DE);
    const num = signed ? (cpu.regs[Reg.EAX] << 16) >> 16 : cpu.regs[Reg.EAX] & 0xffff;
    const q = signed ? Math.trunc(num / dv) : Math.floor(num / dv);
    if (signed ? q > 127 || q < -128 : q > 0xff) cpu.raiseNoCode(Vector.DE);
    cpu.regs[Reg.EAX] = (cpu.regs[Reg.EAX] & ~0xffff) | (q & 0xff) | (((num % dv) & 0xff) << 8);
    return;
  }
  if (n === 2) {
    const dv = signed ? (d << 16) >> 16 : d & 0xffff;
    if (dv === 0) cpu.raiseNoCode(Vector.DE);
    const num = signed ? (cpu.regs[Reg.EDX] << 16) | (cpu.regs[Reg.EAX] & 0xffff)
      : (cpu.regs[Reg.EDX] & 0xffff) * 65536 + (cpu.regs[Reg.EAX] & 0xffff);
    const q = signed ? Math.trunc(num / dv) : Math.floor(num / dv);
    if (signed ? q > 32767 || q < -32768 : q > 0xffff) cpu.raiseNoCode(Vector.DE);
    setReg(cpu, Reg.EAX, 2, q, 0, 0); setReg(cpu, Reg.EDX, 2, num % dv, 0, 0);
    return;
  }
  // 32 and 64 bits: a 2n-bit dividend in four 32-bit words (n = 4 uses the low two).
  let n0: number, n1: number, n2: number, n3: number, dLo: number, dHi: number;
  if (n === 4) { n0 = cpu.regs[Reg.EAX]; n1 = cpu.regs[Reg.EDX]; n2 = n1 >> 31; n3 = n2; dLo = d; dHi = d >> 31; if (!signed) { n2 = 0; n3 = 0; dHi = 0; } }
  else { n0 = cpu.regs[Reg.EAX]; n1 = cpu.regsHi[Reg.EAX]; n2 = cpu.regs[Reg.EDX]; n3 = cpu.regsHi[Reg.EDX]; dLo = d; dHi = dh; }
  let negN = false, negD = false;
  if (signed) {
    negN = n3 < 0; negD = dHi < 0;
    if (negN) { // 128-bit negate
      n0 = ~n0; n1 = ~n1; n2 = ~n2; n3 = ~n3;
      let c = 1;
      const words = [n0, n1, n2, n3];
      for (let k = 0; k < 4 && c; k++) { const t = (words[k] >>> 0) + c; words[k] = t | 0; c = t >= TWO32 ? 1 : 0; }
      [n0, n1, n2, n3] = words;
    }
    if (negD) { neg64(dLo, dHi, W, 0); dLo = W[0]; dHi = W[1]; }
  }
  if (n === 4) { n2 = n1; n1 = 0; n3 = 0; n1 = n2; n2 = 0; } // dividend fits in 64 bits: (n1:n0)
  if (!divU128(n0, n1, n2, n3, dLo, dHi, W)) cpu.raiseNoCode(Vector.DE);
  let qLo = W[0], qHi = W[1], rLo = W[2], rHi = W[3];
  if (n === 4 && !signed && qHi !== 0) cpu.raiseNoCode(Vector.DE);
  if (signed) {
    const negQ = negN !== negD;
    // The magnitude must fit the signed range: up to 2^(bits-1) when negative.
    if (n === 4) {
      if (qHi !== 0 || (negQ ? (qLo >>> 0) > 0x8000_0000 : (qLo >>> 0) > 0x7fff_ffff)) cpu.raiseNoCode(Vector.DE);
    } else if (negQ ? (qHi >>> 0) > 0x8000_0000 || ((qHi >>> 0) === 0x8000_0000 && qLo !== 0) : qHi < 0) {
      cpu.raiseNoCode(Vector.DE);
    }
    if (negQ) { neg64(qLo, qHi, W, 0); qLo = W[0]; qHi = W[1]; }
    if (negN) { neg64(rLo, rHi, W, 0); rLo = W[0]; rHi = W[1]; }
  }
  setReg(cpu, Reg.EAX, n, qLo, qHi, 0);
  setReg(cpu, Reg.EDX, n, rLo, rHi, 0);
}

// ---- Shifts and rotates ----

function shiftCount(cpu: Cpu, i: Instr): number {
  const o = i.def.operands[1];
  if (o === "1") return 1;
  if (o === "CL") return cpu.regs[Reg.ECX] & 0xff;
  return i.imm & 0xff;
}

/** Group 2 on 64 bits: count masked to 6 bits. */
function shift64(cpu: Cpu, op: number, lo: number, hi: number, count: number): number {
  let cf = 0, of = 0;
  const msb = (h: number): number => (h >>> 31) & 1;
  switch (op) {
    case 0: case 1: { // ROL, ROR
      const c = op === 0 ? count : 64 - count;
      for (let k = 0; k < c; k++) { const t = hi >>> 31; hi = (hi << 1) | (lo >>> 31); lo = (lo << 1) | t; }
      if (op === 0) { cf = lo & 1; of = msb(hi) ^ cf; } else { cf = msb(hi); of = msb(hi) ^ ((hi >>> 30) & 1); }
      setCfOf(cpu, cf, of);
      cpu.hi = hi;
      return lo;
    }
    case 2: case 3: { // RCL, RCR through CF
      let carry = cpu.getCF() ? 1 : 0;
      for (let k = 0; k < count; k++) {
        if (op === 2) { const out = hi >>> 31; hi = (hi << 1) | (lo >>> 31); lo = (lo << 1) | carry; carry = out; }
        else { const out = lo & 1; lo = (lo >>> 1) | (hi << 31); hi = (hi >>> 1) | (carry << 31); carry = out; }
      }
      setCfOf(cpu, carry, op === 2 ? msb(hi) ^ carry : msb(hi) ^ ((hi >>> 30) & 1));
      cpu.hi = hi;
      return lo;
    }
    case 4: case 6: { // SHL
      cf = count <= 32 ? (hi >>> (32 - count)) & 1 : (lo >>> (64 - count)) & 1;
      lo = shl64(lo, hi, count); hi = H;
      of = msb(hi) ^ cf;
      break;
    }
    case 5: { // SHR
      of = msb(hi);
      cf = count <= 32 ? (lo >>> (count - 1)) & 1 : (hi >>> (count - 33)) & 1;
      lo = shr64(lo, hi, count); hi = H;
      break;
    }
    default: { // SAR
      if (count <= 32) cf = count === 32 ? (lo >>> 31) & 1 : (lo >>> (count - 1)) & 1;
      else cf = (hi >> (count - 33)) & 1;
      if (count >= 32) { lo = hi >> (count - 32); hi >>= 31; } else { lo = (lo >>> count) | (hi << (32 - count)); hi >>= count; }
      of = 0;
      break;
    }
  }
  lo |= 0; hi |= 0;
  cpu.setArith64(cf !== 0, of !== 0, false, lo, hi);
  cpu.hi = hi;
  return lo;
}

function setCfOf(cpu: Cpu, cf: number, of: number): void {
  cpu.flags = (cpu.getEflags() & ~(F.CF | F.OF)) | (cf ? F.CF : 0) | (of ? F.OF : 0);
}

/** C0, C1, D0–D3: group 2 with count Ib, 1 or CL. */
export function grp2_E(cpu: Cpu, i: Instr): void {
  const n = i.osz;
  const c = shiftCount(cpu, i) & (n === 8 ? 63 : 31);
  if (c === 0) {
    // Nothing changes, but a 32-bit register destination is still written (zero-extended).
    const v = readE(cpu, i, n);
    if (n === 4 && !i.hasMem) setReg(cpu, i.rm, 4, v, 0, i.rex);
    return;
  }
  const v = readRmwE(cpu, i, n), vh = cpu.hi;
  const op = (i.modrm >> 3) & 7;
  if (n === 8) { const r = shift64(cpu, op, v, vh, c); writeRmwE(cpu, i, 8, r, cpu.hi); return; }
  writeRmwE(cpu, i, n, shiftOp(cpu, op, v, c, n), 0);
}

/** SHLD/SHRD (0F A4/A5/AC/AD). */
export function shxd_E_G(cpu: Cpu, i: Instr): void {
  const n = i.osz, left = (i.opcode & 0xff) < 0xa8;
  const c = (i.def.operands[2] === "CL" ? cpu.regs[Reg.ECX] : i.imm) & (n === 8 ? 63 : 31);
  const s = readG(cpu, i, n), sh = cpu.hi;
  if (c === 0) {
    const v = readE(cpu, i, n);
    if (n === 4 && !i.hasMem) setReg(cpu, i.rm, 4, v, 0, i.rex);
    return;
  }
  const d = readRmwE(cpu, i, n), dh = cpu.hi;
  if (n !== 8) { writeRmwE(cpu, i, n, doubleShift(cpu, left, d, s, c, n), 0); return; }
  // SHLD: (d << c) | (s >>> (64 - c)); SHRD: (d >>> c) | (s << (64 - c)).
  let lo: number, hi: number, cf: number;
  if (left) {
    lo = shl64(d, dh, c); hi = H;
    lo |= shr64(s, sh, 64 - c); hi |= H;
    cf = c <= 32 ? (dh >>> (32 - c)) & 1 : (d >>> (64 - c)) & 1;
  } else {
    lo = shr64(d, dh, c); hi = H;
    lo |= shl64(s, sh, 64 - c); hi |= H;
    cf = c <= 32 ? (d >>> (c - 1)) & 1 : (dh >>> (c - 33)) & 1;
  }
  cpu.setArith64(cf !== 0, ((hi ^ dh) >>> 31) !== 0, false, lo, hi);
  writeRmwE(cpu, i, 8, lo, hi);
}

/** The high half of the last shl64/shr64 result (used within one handler only). */
let H = 0;
/** (hi:lo) << c for 0 < c < 64: returns the low half, the high half in H. */
function shl64(lo: number, hi: number, c: number): number {
  if (c >= 32) { H = lo << (c - 32); return 0; }
  H = (hi << c) | (lo >>> (32 - c));
  return lo << c;
}
/** (hi:lo) >>> c for 0 < c < 64. */
function shr64(lo: number, hi: number, c: number): number {
  if (c >= 32) { H = 0; return hi >>> (c - 32) | 0; }
  H = hi >>> c;
  return (lo >>> c) | (hi << (32 - c));
}

// ---- Data movement ----

export function mov_E_G(cpu: Cpu, i: Instr): void {
  const v = readG(cpu, i, i.osz);
  writeE(cpu, i, i.osz, v, cpu.hi);
}
export function mov_G_E(cpu: Cpu, i: Instr): void {
  const v = readE(cpu, i, i.osz);
  writeG(cpu, i, i.osz, v, cpu.hi);
}
/** C6/C7 /0: MOV E, Ib/Iz (Iz sign-extended to 64 bits). */
export function mov_E_I(cpu: Cpu, i: Instr): void {
  const v = immOf(cpu, i, i.osz);
  writeE(cpu, i, i.osz, v, cpu.hi);
}
/** B0–BF: MOV Zb, Ib and MOV Zv, Iv (a 64-bit immediate with REX.W). */
export function mov_Z_I(cpu: Cpu, i: Instr): void {
  const n = i.osz;
  setReg(cpu, i.rm, n, n === 1 ? i.imm & 0xff : i.imm, n === 8 ? i.imm2 : 0, i.rex);
}
/** A0–A3: MOV AL/rAX to or from a 64-bit (or 32-bit with 67h) absolute address. */
export function mov_A_O(cpu: Cpu, i: Instr): void {
  const toMem = (i.opcode & 2) !== 0;
  const lin = ea64(cpu, i);
  if (toMem) { const v = getReg(cpu, Reg.EAX, i.osz, 0); writeMemE(cpu, i, lin, v, cpu.hi); }
  else { const v = readMem(cpu, i.seg, lin, i.osz); setReg(cpu, Reg.EAX, i.osz, v, cpu.hi, 0); }
}
function writeMemE(cpu: Cpu, i: Instr, lin: number, lo: number, hi: number): void {
  if (i.osz === 8) { cpu.checkWrite(i.seg, lin, 8); cpu.write32(i.seg, lin, lo); cpu.write32(i.seg, lin + 4, hi); }
  else if (i.osz === 4) cpu.write32(i.seg, lin, lo);
  else if (i.osz === 2) cpu.write16(i.seg, lin, lo);
  else cpu.write8(i.seg, lin, lo);
}
/** 0F B6/B7/BE/BF: MOVZX/MOVSX from a byte or word. */
export function movx_G_E(cpu: Cpu, i: Instr): void {
  const from = (i.opcode & 1) === 0 ? 1 : 2;
  const signed = (i.opcode & 0xff) >= 0xbe;
  let v = readE(cpu, i, from);
  if (signed) v = from === 1 ? (v << 24) >> 24 : (v << 16) >> 16;
  writeG(cpu, i, i.osz, v, signed ? v >> 31 : 0);
}
/** 63 /r in 64-bit mode: MOVSXD G, Ed (with REX.W; without, a plain 32/16-bit move). */
export function movsxd_G_E(cpu: Cpu, i: Instr): void {
  const n = i.osz;
  const v = readE(cpu, i, n === 8 ? 4 : n);
  writeG(cpu, i, n, v, v >> 31);
}
/** 8D: LEA: the effective address (modulo 2^64, no segment base, never a fault), truncated to the operand size. */
export function lea_G_M(cpu: Cpu, i: Instr): void {
  let lo = i.disp >>> 0, hi = i.dispHi;
  if (i.eaBase >= 0) { const s = lo + (cpu.regs[i.eaBase] >>> 0); lo = s; hi += cpu.regsHi[i.eaBase] + (s >= TWO32 ? 1 : 0); }
  else if (i.eaBase === -2) { const rip = cpu.eip; const s = lo + (rip >>> 0); lo = s; hi += Math.floor(rip / TWO32) + (s >= TWO32 ? 1 : 0); }
  if (i.eaIndex >= 0) {
    let xl = cpu.regs[i.eaIndex], xh = cpu.regsHi[i.eaIndex];
    const sc = i.eaScale;
    if (sc !== 0) { xh = (xh << sc) | (xl >>> (32 - sc)); xl <<= sc; }
    const s = (lo >>> 0) + (xl >>> 0); lo = s; hi += xh + (s >= TWO32 ? 1 : 0);
  }
  writeG(cpu, i, i.osz, lo | 0, i.adsize64 ? hi | 0 : 0);
}
/** 86/87: XCHG E, G (locked with memory, as always). */
export function xchg_E_G(cpu: Cpu, i: Instr): void {
  const n = i.osz;
  const g = readG(cpu, i, n), gh = cpu.hi;
  const e = readRmwE(cpu, i, n), eh = cpu.hi;
  writeRmwE(cpu, i, n, g, gh);
  writeG(cpu, i, n, e, eh);
}
/** 90–97: XCHG rAX, Zv (90 without REX.B is NOP, even as a 32-bit operation: EAX keeps its high half). */
export function xchg_A_Z(cpu: Cpu, i: Instr): void {
  const n = i.osz, r = i.rm;
  if (r === 0) return;
  const a = getReg(cpu, Reg.EAX, n, 0), ah = cpu.hi;
  const z = getReg(cpu, r, n, 0), zh = cpu.hi;
  setReg(cpu, Reg.EAX, n, z, zh, 0);
  setReg(cpu, r, n, a, ah, 0);
}
/** 0F B0/B1: CMPXCHG E, G. */
export function cmpxchg_E_G(cpu: Cpu, i: Instr): void {
  const n = i.osz;
  const d = readRmwE(cpu, i, n), dh = cpu.hi;
  const a = getReg(cpu, Reg.EAX, n, 0), ah = cpu.hi;
  aluOp(cpu, 7, a, ah, d, dh, n);
  if (cpu.getZF()) {
    const s = readG(cpu, i, n);
    writeRmwE(cpu, i, n, s, cpu.hi);
  } else {
    // The destination is written back unchanged (a locked cycle always writes).
    writeRmwE(cpu, i, n, d, dh);
    setReg(cpu, Reg.EAX, n, d, dh, 0);
  }
}
/** 0F C0/C1: XADD E, G. */
export function xadd_E_G(cpu: Cpu, i: Instr): void {
  const n = i.osz;
  const s = readG(cpu, i, n), sh = cpu.hi;
  const d = readRmwE(cpu, i, n), dh = cpu.hi;
  const r = aluOp(cpu, 0, d, dh, s, sh, n), rh = cpu.hi;
  writeG(cpu, i, n, d, dh);
  writeRmwE(cpu, i, n, r, rh);
}
/** 0F C7 /1: CMPXCHG8B m64, or CMPXCHG16B m128 with REX.W (features.cx16; 16-byte aligned). */
export function cmpxchg8b_16b(cpu: Cpu, i: Instr): void {
  const wide = (i.rex & 8) !== 0;
  if (wide && !cpu.features.cx16) cpu.ud();
  const lin = ea64(cpu, i);
  if (!wide) {
    cpu.checkWrite(i.seg, lin, 8);
    const lo = cpu.read32(i.seg, lin), hi = cpu.read32(i.seg, lin + 4);
    const eq = lo === cpu.regs[Reg.EAX] && hi === cpu.regs[Reg.EDX];
    if (eq) { cpu.write32(i.seg, lin, cpu.regs[Reg.EBX]); cpu.write32(i.seg, lin + 4, cpu.regs[Reg.ECX]); }
    else { cpu.write32(i.seg, lin, lo); cpu.write32(i.seg, lin + 4, hi); setReg(cpu, Reg.EAX, 4, lo, 0, 0); setReg(cpu, Reg.EDX, 4, hi, 0, 0); }
    cpu.setFlag(F.ZF, eq);
    return;
  }
  if ((lin & 15) !== 0) cpu.gp(0);
  cpu.checkWrite(i.seg, lin, 16);
  const m = [cpu.read32(i.seg, lin), cpu.read32(i.seg, lin + 4), cpu.read32(i.seg, lin + 8), cpu.read32(i.seg, lin + 12)];
  const r = cpu.regs, h = cpu.regsHi;
  const eq = m[0] === r[Reg.EAX] && m[1] === h[Reg.EAX] && m[2] === r[Reg.EDX] && m[3] === h[Reg.EDX];
  const out = eq ? [r[Reg.EBX], h[Reg.EBX], r[Reg.ECX], h[Reg.ECX]] : m;
  for (let k = 0; k < 4; k++) cpu.write32(i.seg, lin + 4 * k, out[k]);
  if (!eq) { r[Reg.EAX] = m[0]; h[Reg.EAX] = m[1]; r[Reg.EDX] = m[2]; h[Reg.EDX] = m[3]; }
  cpu.setFlag(F.ZF, eq);
}
/** 0F C8+r: BSWAP (a 16-bit operand is undefined; P6 and later give 0). */
export function bswap_Z(cpu: Cpu, i: Instr): void {
  const r = i.rm;
  const sw = (v: number): number => ((v >>> 24) | ((v >>> 8) & 0xff00) | ((v << 8) & 0xff_0000) | (v << 24)) | 0;
  if (i.osz === 8) { const lo = cpu.regs[r], hi = cpu.regsHi[r]; setReg(cpu, r, 8, sw(hi), sw(lo), 0); }
  else if (i.osz === 4) setReg(cpu, r, 4, sw(cpu.regs[r]), 0, 0);
  else setReg(cpu, r, 2, 0, 0, 0);
}
/** 98: CBW / CWDE / CDQE. */
export function cbw(cpu: Cpu, i: Instr): void {
  const a = cpu.regs[Reg.EAX];
  if (i.osz === 8) setReg(cpu, Reg.EAX, 8, a, a >> 31, 0);
  else if (i.osz === 4) setReg(cpu, Reg.EAX, 4, (a << 16) >> 16, 0, 0);
  else setReg(cpu, Reg.EAX, 2, (a << 24) >> 24, 0, 0);
}
/** 99: CWD / CDQ / CQO. */
export function cwd(cpu: Cpu, i: Instr): void {
  if (i.osz === 8) { const s = cpu.regsHi[Reg.EAX] >> 31; setReg(cpu, Reg.EDX, 8, s, s, 0); }
  else if (i.osz === 4) setReg(cpu, Reg.EDX, 4, cpu.regs[Reg.EAX] >> 31, 0, 0);
  else setReg(cpu, Reg.EDX, 2, (cpu.regs[Reg.EAX] << 16) >> 31, 0, 0);
}
/** 9E/9F in 64-bit mode: SAHF/LAHF exist only with CPUID 8000_0001h:ECX.LAHF-SAHF. */
export function lahfSahf(cpu: Cpu, i: Instr): void {
  if (!cpu.features.lahfLm) cpu.ud();
  if (i.opcode === 0x9f) setReg(cpu, 4, 1, cpu.getEflags() & 0xff, 0, 0); // AH
  else cpu.setFlagsMasked(cpu.regs[Reg.EAX] >> 8, F.SF | F.ZF | F.AF | F.PF | F.CF);
}

// ---- Bits ----

/** 0F 90–9F: SETcc E8. */
export function setcc_E(cpu: Cpu, i: Instr): void {
  writeE(cpu, i, 1, cpu.condition(i.opcode & 0xf) ? 1 : 0, 0);
}
/** 0F 40–4F: CMOVcc G, E (the source is read, and a 32-bit destination zero-extended, either way). */
export function cmovcc_G_E(cpu: Cpu, i: Instr): void {
  const n = i.osz;
  const v = readE(cpu, i, n), vh = cpu.hi;
  if (cpu.condition(i.opcode & 0xf)) writeG(cpu, i, n, v, vh);
  else if (n === 4) setReg(cpu, i.reg, 4, cpu.regs[i.reg], 0, i.rex);
}

/** BT BTS BTR BTC with a register or an immediate bit offset (0F A3/AB/B3/BB, 0F BA /4–7). */
export function bt_E(cpu: Cpu, i: Instr): void {
  const n = i.osz, bits = n * 8;
  const imm = i.opcode === 0x0fba;
  const kind = imm ? i.modrm >> 3 & 3 : ((i.opcode >> 3) & 3); // 0 BT, 1 BTS, 2 BTR, 3 BTC
  let offLo: number, offHi: number;
  if (imm) { offLo = i.imm & (bits - 1); offHi = 0; } else { offLo = readG(cpu, i, n); offHi = cpu.hi; }
  if (!i.hasMem || imm) {
    const b = offLo & (bits - 1);
    const v = kind === 0 ? readE(cpu, i, n) : readRmwE(cpu, i, n), vh = cpu.hi;
    const word = b >= 32 ? vh : v, sh = b & 31;
    cpu.setFlag(F.CF, ((word >>> sh) & 1) !== 0);
    if (kind === 0) return;
    const m = 1 << sh;
    const nw = kind === 1 ? word | m : kind === 2 ? word & ~m : word ^ m;
    writeRmwE(cpu, i, n, b >= 32 ? v : nw, b >= 32 ? nw : vh);
    return;
  }
  // A register bit offset addresses memory beyond the operand: signed, in bytes offset >> 3.
  let byteLo: number, byteHi: number;
  if (n === 8) { byteLo = (offLo >>> 3) | (offHi << 29); byteHi = offHi >> 3; }
  else if (n === 4) { byteLo = offLo >> 3; byteHi = offLo >> 31; }
  else { const o = (offLo << 16) >> 16; byteLo = o >> 3; byteHi = o >> 31; }
  const base = ea64(cpu, i);
  const lin = base + (byteHi * TWO32 + (byteLo >>> 0));
  const bit = offLo & 7;
  const v = kind === 0 ? cpu.read8(i.seg, lin) : (cpu.checkWrite(i.seg, lin, 1), cpu.read8(i.seg, lin));
  cpu.setFlag(F.CF, ((v >>> bit) & 1) !== 0);
  if (kind === 0) return;
  const m = 1 << bit;
  cpu.write8(i.seg, lin, kind === 1 ? v | m : kind === 2 ? v & ~m : v ^ m);
}

/** 0F BC/BD: BSF/BSR (a zero source sets ZF and leaves the destination unchanged). */
export function bsx_G_E(cpu: Cpu, i: Instr): void {
  const n = i.osz;
  const v = readE(cpu, i, n), vh = cpu.hi;
  const lo = n === 2 ? v & 0xffff : v;
  if ((lo | (n === 8 ? vh : 0)) === 0) { cpu.setFlag(F.ZF, true); return; }
  let r: number;
  if ((i.opcode & 0xff) === 0xbc) r = lo !== 0 ? 31 - Math.clz32(lo & -lo) : 63 - Math.clz32(vh & -vh);
  else r = n === 8 && vh !== 0 ? 63 - Math.clz32(vh) : 31 - Math.clz32(lo);
  writeG(cpu, i, n, r, 0);
  cpu.setArith(false, false, false, 1, 4); // ZF clear; CF, OF, SF, AF, PF undefined
}
/** F3 0F B8: POPCNT (features.popcnt). */
export function popcnt_G_E(cpu: Cpu, i: Instr): void {
  if (!cpu.features.popcnt) cpu.ud();
  const n = i.osz;
  const v = readE(cpu, i, n), vh = cpu.hi;
  const c = popcount32(n === 2 ? v & 0xffff : v) + (n === 8 ? popcount32(vh) : 0);
  writeG(cpu, i, n, c, 0);
  cpu.setFlagsMasked(c === 0 ? F.ZF : 0, F.ARITH);
}

/** 8C: MOV r/m, Sreg (a register destination takes the zero-extended selector). */
export function mov_E_Sw(cpu: Cpu, i: Instr): void {
  const sel = cpu.segs[i.modrm >> 3 & 7].selector;
  writeE(cpu, i, i.hasMem ? 2 : i.osz, sel, 0);
}

/** D7: XLAT in 64-bit mode: AL = [rBX + AL] (EBX with 67h) through DS or the override. */
export function xlat(cpu: Cpu, i: Instr): void {
  const al = cpu.regs[Reg.EAX] & 0xff;
  const lo = (cpu.regs[Reg.EBX] >>> 0) + al;
  const hi = i.adsize64 ? (cpu.regsHi[Reg.EBX] + (lo >= TWO32 ? 1 : 0)) | 0 : 0;
  const v = cpu.read8(i.seg, segLinearOf(cpu, i.seg, lo | 0, hi));
  setReg(cpu, Reg.EAX, 1, v, 0, 0);
}

/** 0F B2/B4/B5: LSS/LFS/LGS G, m16:16/32/64: the offset (operand size), then the selector. */
export function lseg(cpu: Cpu, i: Instr): void {
  const seg = i.opcode === 0x0fb2 ? 2 : i.opcode === 0x0fb4 ? 4 : 5;
  if (seg === 2) cpu.strictSensitive();
  const n = i.osz, a = ea64(cpu, i);
  const off = readMem(cpu, i.seg, a, n), offHi = cpu.hi;
  const sel = cpu.read16(i.seg, a + n);
  cpu.loadSegment(seg, sel);
  writeG(cpu, i, n, off, offHi);
}
