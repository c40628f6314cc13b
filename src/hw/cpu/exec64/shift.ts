// Shifts and rotates in 64-bit mode (SDM vol. 2 "SAL/SAR/SHL/SHR", "RCL/RCR/ROL/ROR",
// "SHLD", "SHRD"), every operand size; 64-bit operands as (lo, hi) halves.

import { Reg, type Cpu } from "../cpu.js";
import type { Instr } from "../instr.js";
import * as F from "../eflags.js";
import { shiftOp, doubleShift } from "../exec/shift.js";
import { setReg, readE, readRmwE, writeRmwE, readG } from "./operands.js";

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
