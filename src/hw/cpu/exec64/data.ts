// Data movement in 64-bit mode (SDM vol. 2): MOV in all its forms, MOVZX/MOVSX/MOVSXD, LEA,
// XCHG, CMPXCHG, XADD, CMPXCHG8B/16B, BSWAP, CBW/CWD and their wider forms, LAHF/SAHF, MOV
// from a segment register, XLAT, LSS/LFS/LGS.

import { Reg, type Cpu } from "../cpu.js";
import type { Instr } from "../instr.js";
import * as F from "../eflags.js";
import { getReg, setReg, readE, readRmwE, writeE, writeRmwE, readG, writeG, immOf, readMem, ea64, segLinear as segLinearOf } from "./operands.js";
import { aluOp, TWO32 } from "./alu.js";

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
  if (seg === 2 && cpu.strictRefuses()) return;
  const n = i.osz, a = ea64(cpu, i);
  const off = readMem(cpu, i.seg, a, n), offHi = cpu.hi;
  const sel = cpu.read16(i.seg, a + n);
  cpu.loadSegment(seg, sel);
  writeG(cpu, i, n, off, offHi);
}
