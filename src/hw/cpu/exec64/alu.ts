// Arithmetic in 64-bit mode, one handler for every operand size (Intel SDM vol. 2, the
// instruction pages; docs/long-mode.md): the group-1 ALU operations, TEST, INC/DEC/NOT/NEG,
// MUL/IMUL/DIV/IDIV. `i.osz` is the size in bytes (1 for the byte forms). Sizes 1, 2 and 4
// compute exactly as the legacy handlers do (and share their flag code); size 8 works on
// (lo, hi) halves and sets the flags eagerly.

import { LazyOp, Reg, type Cpu } from "../cpu.js";
import { Vector } from "../fault.js";
import type { Instr } from "../instr.js";
import * as F from "../eflags.js";
import { alu, mulHighS32, mulHighU32 } from "../exec/alu.js";
import { getReg, setReg, readE, readRmwE, writeRmwE, readG, writeG, immOf } from "./operands.js";
import { mulU64, mulS64, divU128, neg64 } from "./wide.js";

export const MASK = [0, 0xff, 0xffff, 0, 0xffff_ffff];
export const TWO32 = 0x1_0000_0000;
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

/** INC or DEC of (d, dh), `n` bytes: returns the low half, the high half in cpu.hi (0 below 8 bytes). */
export function incdecOp(cpu: Cpu, dec: boolean, d: number, dh: number, n: number): number {
  if (n !== 8) {
    cpu.setLazy(dec ? LazyOp.DEC : LazyOp.INC, (d & MASK[n]) >>> 0, 1, dec ? ((d & MASK[n]) >>> 0) - 1 : ((d & MASK[n]) >>> 0) + 1, n);
    cpu.hi = 0;
    return dec ? d - 1 : d + 1;
  }
  const cf = cpu.getCF();
  const r = aluOp(cpu, dec ? 5 : 0, d, dh, 1, 0, 8);
  cpu.setFlag(F.CF, cf); // INC and DEC keep CF
  return r;
}
export function incdec_E(cpu: Cpu, i: Instr): void {
  const n = i.osz;
  const d = readRmwE(cpu, i, n);
  const r = incdecOp(cpu, (i.modrm & 0x08) !== 0, d, cpu.hi, n);
  writeRmwE(cpu, i, n, r, cpu.hi);
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
