// Operands of the MMX and SSE instructions (Intel SDM vol. 1 ch. 9–12; vol. 3 §2.5 and
// §13.1–13.4 on CR0.EM/TS/MP and CR4.OSFXSR/OSXMMEXCPT), shared by every SIMD handler:
// when the instruction may run (#UD, #NM, a pending x87 error), MMX and XMM registers,
// memory operands of 4, 8 or 16 bytes (16-byte ones aligned where the instruction says),
// general registers of 32 or 64 bits, and the end of a floating-point instruction (#XM).

import { type Cpu } from "../cpu.js";
import { CR0_EM, CR0_TS, CR4_OSFXSR, CR4_OSXMMEXCPT } from "../control-regs.js";
import { Vector } from "../fault.js";
import type { Instr } from "../instr.js";
import { fpuPendingCheck } from "./fpu-escape.js";
import { MXCSR_MASK_SHIFT, MXCSR_MM, type Vec } from "../../sse/simd-state.js";

/** The CPUID feature the row needs (opcode-table `feature`), then CR0.EM: #UD. */
function featureCheck(cpu: Cpu, i: Instr): void {
  const f = i.def.feature;
  if (f !== undefined && !cpu.features[f]) cpu.ud();
  if ((cpu.cr0 & CR0_EM) !== 0) cpu.ud();
}

/**
 * An instruction on XMM state: #UD without the feature, with CR0.EM or without
 * CR4.OSFXSR; then #NM with CR0.TS (SDM vol. 3 table 13-? "exceptions of SSE instructions").
 */
export function sseCheck(cpu: Cpu, i: Instr): void {
  featureCheck(cpu, i);
  if ((cpu.cr4 & CR4_OSFXSR) === 0) cpu.ud();
  if ((cpu.cr0 & CR0_TS) !== 0) cpu.raiseNoCode(Vector.NM);
}

/** An instruction on MMX state: #UD, #NM, a pending x87 exception (#MF), then TOP = 0, tags valid. */
export function mmxCheck(cpu: Cpu, i: Instr): void {
  featureCheck(cpu, i);
  if ((cpu.cr0 & CR0_TS) !== 0) cpu.raiseNoCode(Vector.NM);
  fpuPendingCheck(cpu);
  cpu.fpu.mmxEnter();
}

/** An instruction on both (CVTPI2PS …): the SSE checks, then the MMX transition. */
export function sseMmxCheck(cpu: Cpu, i: Instr, touchesMmx: boolean): void {
  sseCheck(cpu, i);
  if (touchesMmx) {
    fpuPendingCheck(cpu);
    cpu.fpu.mmxEnter();
  }
}

// ---- Registers ----

export function readXmm(cpu: Cpu, r: number, v: Vec): void {
  const x = cpu.simd.xmm, o = r << 2;
  v.i32[0] = x[o]; v.i32[1] = x[o + 1]; v.i32[2] = x[o + 2]; v.i32[3] = x[o + 3];
}

export function writeXmm(cpu: Cpu, r: number, v: Vec): void {
  const x = cpu.simd.xmm, o = r << 2;
  x[o] = v.i32[0]; x[o + 1] = v.i32[1]; x[o + 2] = v.i32[2]; x[o + 3] = v.i32[3];
}

/** MMX register `r` (REX.R and REX.B never extend MMX register numbers). */
export function readMmx(cpu: Cpu, r: number, v: Vec): void {
  cpu.fpu.mmxRead(r & 7, v.i32, 0);
}

export function writeMmx(cpu: Cpu, r: number, v: Vec): void {
  cpu.fpu.mmxWrite(r & 7, v.i32[0], v.i32[1]);
}

/** A general register, 32 bits (or 64 with `wide`: the high half in cpu.hi). */
export function readGpr(cpu: Cpu, r: number, wide: boolean): number {
  cpu.hi = wide ? cpu.regsHi[r] : 0;
  return cpu.regs[r];
}

/** Write a general register's low 32 bits (zeroing the high half in 64-bit mode), or all 64 with `wide`. */
export function writeGpr(cpu: Cpu, i: Instr, r: number, lo: number, hi: number, wide: boolean): void {
  cpu.regs[r] = lo;
  if (i.code64) cpu.regsHi[r] = wide ? hi : 0;
}

/** REX.W in 64-bit mode: the general-register operand is 64 bits (MOVQ, CVTSI2SD r64 …). */
export function rexW(i: Instr): boolean {
  return i.code64 && (i.rex & 8) !== 0;
}

// ---- Memory ----

/** The linear address of a 16-byte operand must be 16-aligned: #GP(0), unless MXCSR.MM (AMD). */
function alignCheck(cpu: Cpu, i: Instr, off: number): void {
  const lin = i.code64 ? off : cpu.segs[i.seg].base + off;
  if ((lin & 15) !== 0 && (cpu.simd.mxcsr & MXCSR_MM) === 0) cpu.raise(Vector.GP, 0);
}

/** Read `bytes` (4, 8 or 16) of the memory operand into v (the rest of v is left alone). */
export function readMem(cpu: Cpu, i: Instr, v: Vec, bytes: number, aligned: boolean): void {
  const off = cpu.ea(i);
  if (aligned && bytes === 16) alignCheck(cpu, i, off);
  if (bytes === 16) cpu.readAddr(i.seg, off, 16);
  for (let k = 0; k < bytes >> 2; k++) v.i32[k] = cpu.read32(i.seg, off + 4 * k);
}

/** Write the low `bytes` of v to the memory operand, faulting before any byte is written. */
export function writeMem(cpu: Cpu, i: Instr, v: Vec, bytes: number, aligned: boolean): void {
  const off = cpu.ea(i);
  if (aligned && bytes === 16) alignCheck(cpu, i, off);
  cpu.checkWrite(i.seg, off, bytes);
  for (let k = 0; k < bytes >> 2; k++) cpu.write32(i.seg, off + 4 * k, v.i32[k]);
}

/** The XMM r/m operand (W): a register, or `bytes` of memory. */
export function readW(cpu: Cpu, i: Instr, v: Vec, bytes: number, aligned: boolean): void {
  if (i.hasMem) readMem(cpu, i, v, bytes, aligned);
  else readXmm(cpu, i.rm, v);
}

/** The MMX r/m operand (Q): a register, or `bytes` of memory. */
export function readQ(cpu: Cpu, i: Instr, v: Vec, bytes: number): void {
  if (i.hasMem) readMem(cpu, i, v, bytes, false);
  else readMmx(cpu, i.rm, v);
}

// ---- Floating point ----

/**
 * End a floating-point instruction (SDM vol. 1 §11.5.1): an unmasked pre-computation
 * exception (IE, DE, ZE on any element) sets those flags only; otherwise every flag is set,
 * and an unmasked post-computation one (OE, UE, PE) faults too. A fault leaves the
 * destination unwritten: #XM with CR4.OSXMMEXCPT, else #UD. Returns normally when the
 * caller may write its result.
 */
export function simdFinish(cpu: Cpu): void {
  const sf = cpu.simdFloat, s = cpu.simd;
  const masks = (s.mxcsr >>> MXCSR_MASK_SHIFT) & 0x3f;
  if ((sf.pre & ~masks) !== 0) {
    s.mxcsr |= sf.pre;
    xmFault(cpu);
  }
  s.mxcsr |= sf.pre | sf.post;
  if ((sf.post & ~masks) !== 0) xmFault(cpu);
}

function xmFault(cpu: Cpu): never {
  if ((cpu.cr4 & CR4_OSXMMEXCPT) === 0) cpu.ud();
  return cpu.raiseNoCode(Vector.XM);
}
