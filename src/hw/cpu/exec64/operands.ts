// Operands in 64-bit mode (docs/long-mode.md): registers by REX, effective addresses summed
// in two 32-bit halves, memory operands of 1, 2, 4 or 8 bytes. A 64-bit value is returned as
// its low half, with the high half left in `cpu.hi`; sizes below 8 leave `cpu.hi` = 0.

import { SegReg } from "../segment.js";
import type { Cpu } from "../cpu.js";
import type { Instr } from "../instr.js";

export const TWO32 = 0x1_0000_0000;
/** eaBase for RIP-relative addressing (mod = 00, r/m = 101 in 64-bit mode). */
export const EA_RIP = -2;

/** The high half of a canonical address held as a number. */
export function highHalf(v: number): number { return Math.floor(v / TWO32) | 0; }

/** (hi, lo) as a canonical linear address, or the fault for `seg` (#SS for SS, else #GP(0)). */
export function linear(cpu: Cpu, lo: number, hi: number, seg: number): number {
  // Canonical: bits 63:47 all equal, i.e. the high half is bit 47 sign-extended.
  if (((hi << 16) >> 16) !== hi) cpu.segFault(seg);
  return hi * TWO32 + (lo >>> 0);
}

/**
 * The linear address of segment `seg`, offset (lo, hi): FS and GS add their base, the other
 * segments have base 0 in 64-bit mode (SDM vol. 3 §3.2.4).
 */
export function segLinear(cpu: Cpu, seg: number, lo: number, hi: number): number {
  if (seg >= SegReg.FS) {
    const base = cpu.segs[seg].base;
    const blo = base >>> 0;
    const sum = (lo >>> 0) + blo;
    lo = sum | 0;
    hi = (hi + highHalf(base) + (sum >= TWO32 ? 1 : 0)) | 0;
  }
  return linear(cpu, lo, hi, seg);
}

/** The effective address of a 64-bit-mode memory operand as a canonical linear address. */
export function ea64(cpu: Cpu, i: Instr): number {
  let lo = i.disp >>> 0, hi = i.dispHi;
  const b = i.eaBase;
  if (b >= 0) {
    const s = lo + (cpu.regs[b] >>> 0);
    lo = s; hi = hi + cpu.regsHi[b] + (s >= TWO32 ? 1 : 0);
  } else if (b === EA_RIP) {
    // RIP of the next instruction: the loop has already moved eip past this one.
    const rip = cpu.eip;
    const s = lo + (rip >>> 0);
    lo = s; hi = hi + highHalf(rip) + (s >= TWO32 ? 1 : 0);
  }
  const x = i.eaIndex;
  if (x >= 0) {
    let xl = cpu.regs[x], xh = cpu.regsHi[x];
    const sc = i.eaScale;
    if (sc !== 0) { xh = (xh << sc) | (xl >>> (32 - sc)); xl <<= sc; }
    const s = (lo >>> 0) + (xl >>> 0);
    lo = s; hi = hi + xh + (s >= TWO32 ? 1 : 0);
  }
  lo = lo >>> 0;
  hi |= 0;
  if (!i.adsize64) hi = 0; // 67h: a 32-bit address, zero-extended
  return segLinear(cpu, i.seg, lo, hi);
}

// ---- Registers ----

/** Read register `r` of `size` bytes; byte registers follow REX (SPL…DIL with any REX). */
export function getReg(cpu: Cpu, r: number, size: number, rex: number): number {
  switch (size) {
    case 1:
      cpu.hi = 0;
      return rex !== 0 || r < 4 ? cpu.regs[r] & 0xff : (cpu.regs[r - 4] >>> 8) & 0xff;
    case 2: cpu.hi = 0; return cpu.regs[r] & 0xffff;
    case 4: cpu.hi = 0; return cpu.regs[r];
    default: cpu.hi = cpu.regsHi[r]; return cpu.regs[r];
  }
}

/** Write register `r`: 32-bit writes zero the high half, 8- and 16-bit writes keep it. */
export function setReg(cpu: Cpu, r: number, size: number, lo: number, hi: number, rex: number): void {
  switch (size) {
    case 1:
      if (rex !== 0 || r < 4) cpu.regs[r] = (cpu.regs[r] & ~0xff) | (lo & 0xff);
      else cpu.regs[r - 4] = (cpu.regs[r - 4] & ~0xff00) | ((lo & 0xff) << 8);
      return;
    case 2: cpu.regs[r] = (cpu.regs[r] & ~0xffff) | (lo & 0xffff); return;
    case 4: cpu.regs[r] = lo; cpu.regsHi[r] = 0; return;
    default: cpu.regs[r] = lo; cpu.regsHi[r] = hi; return;
  }
}

// ---- Memory ----

export function readMem(cpu: Cpu, seg: number, lin: number, size: number): number {
  switch (size) {
    case 1: cpu.hi = 0; return cpu.read8(seg, lin);
    case 2: cpu.hi = 0; return cpu.read16(seg, lin);
    case 4: cpu.hi = 0; return cpu.read32(seg, lin);
    default: {
      cpu.readAddr(seg, lin, 8); // the segment checks (EFER.LMSLE)
      if ((lin & 7) !== 0 && cpu.alignmentChecked()) cpu.checkAlignment(lin, 8, false);
      return cpu.long.read64(lin, cpu.cpl === 3);
    }
  }
}

export function writeMem(cpu: Cpu, seg: number, lin: number, size: number, lo: number, hi: number): void {
  switch (size) {
    case 1: cpu.write8(seg, lin, lo); return;
    case 2: cpu.write16(seg, lin, lo); return;
    case 4: cpu.write32(seg, lin, lo); return;
    default:
      if ((lin & 7) !== 0 && cpu.alignmentChecked()) cpu.checkAlignment(lin, 8, true);
      cpu.checkWrite(seg, lin, 8);
      cpu.long.write64(lin, lo, hi, cpu.cpl === 3);
  }
}

/** The r/m operand. */
export function readE(cpu: Cpu, i: Instr, size: number): number {
  return i.hasMem ? readMem(cpu, i.seg, ea64(cpu, i), size) : getReg(cpu, i.rm, size, i.rex);
}

/** The r/m operand of a read-modify-write: a fault is the write's fault. Returns the address in `lin`. */
export function readRmwE(cpu: Cpu, i: Instr, size: number): number {
  if (!i.hasMem) return getReg(cpu, i.rm, size, i.rex);
  const lin = ea64(cpu, i);
  cpu.checkWrite(i.seg, lin, size);
  cpu.rmwLin = lin;
  return readMem(cpu, i.seg, lin, size);
}

export function writeE(cpu: Cpu, i: Instr, size: number, lo: number, hi: number): void {
  if (i.hasMem) writeMem(cpu, i.seg, ea64(cpu, i), size, lo, hi);
  else setReg(cpu, i.rm, size, lo, hi, i.rex);
}

/** Write back a read-modify-write operand read by readRmwE (the address is not computed twice). */
export function writeRmwE(cpu: Cpu, i: Instr, size: number, lo: number, hi: number): void {
  if (i.hasMem) writeMem(cpu, i.seg, cpu.rmwLin, size, lo, hi);
  else setReg(cpu, i.rm, size, lo, hi, i.rex);
}

export function readG(cpu: Cpu, i: Instr, size: number): number { return getReg(cpu, i.reg, size, i.rex); }
export function writeG(cpu: Cpu, i: Instr, size: number, lo: number, hi: number): void { setReg(cpu, i.reg, size, lo, hi, i.rex); }

/** The immediate as an operand of `size`: Iz is sign-extended to 64 bits. */
export function immOf(cpu: Cpu, i: Instr, size: number): number {
  cpu.hi = size === 8 ? (i.immCount > 1 && i.imm64 ? i.imm2 : i.imm >> 31) : 0;
  return size === 1 ? i.imm & 0xff : size === 2 ? i.imm & 0xffff : i.imm;
}
