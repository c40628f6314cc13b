// FXSAVE/FXRSTOR (Intel SDM vol. 2 "FXSAVE", table 3-53 and 3-56 for the 512-byte image;
// AMD APM vol. 5 "FXSAVE") and LDMXCSR/STMXCSR.
//
// The image: FCW, FSW, the abridged tag byte (one bit per physical register, 1 = valid),
// FOP, the x87 instruction and data pointers (32-bit offset and selector, or 64-bit offsets
// with REX.W), MXCSR, MXCSR_MASK, ST0–ST7 in 16-byte slots, then XMM0–XMM7 (XMM0–XMM15 in
// 64-bit mode). Bytes 464–511 belong to software and are never written.

import { type Cpu } from "../cpu.js";
import { CR0_EM, CR0_TS } from "../control-regs.js";
import { Vector } from "../fault.js";
import type { Handler, Instr } from "../instr.js";
import { sseCheck } from "./simd.js";

function fxCheck(cpu: Cpu, i: Instr): number {
  if (!cpu.features.fxsr) cpu.ud();
  if ((cpu.cr0 & (CR0_TS | CR0_EM)) !== 0) cpu.raiseNoCode(Vector.NM);
  const off = cpu.ea(i);
  const lin = i.code64 ? off : cpu.segs[i.seg].base + off;
  if ((lin & 15) !== 0) cpu.raise(Vector.GP, 0);
  return off;
}

export function mxcsrMask(cpu: Cpu): number {
  return cpu.model.mxcsrMask ?? 0xffff;
}

export const fxsave: Handler = (cpu, i) => {
  const off = fxCheck(cpu, i);
  const xmmCount = i.code64 ? 16 : 8;
  const bytes = 160 + 16 * xmmCount;
  cpu.checkWrite(i.seg, off, bytes);
  const s = cpu.fpu.save();
  const w32 = (at: number, v: number): void => cpu.write32(i.seg, off + at, v);
  let ftw = 0;
  for (let p = 0; p < 8; p++) if ((s.empty & (1 << p)) === 0) ftw |= 1 << p;
  w32(0, (s.cw & 0xffff) | ((s.sw & ~0x3800) | (s.top << 11)) << 16);
  w32(4, ftw | ((s.fop & 0x7ff) << 16));
  w32(8, s.fip);
  if (i.code64 && (i.rex & 8) !== 0) { w32(12, 0); w32(16, s.fdp); w32(20, 0); }
  else { w32(12, s.fcs & 0xffff); w32(16, s.fdp); w32(20, s.fds & 0xffff); }
  w32(24, cpu.simd.mxcsr);
  w32(28, mxcsrMask(cpu));
  for (let k = 0; k < 8; k++) {
    const [sign, exp, hi, lo] = s.regs[(s.top + k) & 7];
    const at = 32 + 16 * k;
    w32(at, lo); w32(at + 4, hi); w32(at + 8, (sign << 15) | exp); w32(at + 12, 0);
  }
  const x = cpu.simd.xmm;
  for (let k = 0; k < 4 * xmmCount; k++) w32(160 + 4 * k, x[k]);
};

export const fxrstor: Handler = (cpu, i) => {
  const off = fxCheck(cpu, i);
  const xmmCount = i.code64 ? 16 : 8;
  const r32 = (at: number): number => cpu.read32(i.seg, off + at);
  cpu.readAddr(i.seg, off, 160 + 16 * xmmCount);
  const mxcsr = r32(24);
  if ((mxcsr & ~mxcsrMask(cpu)) !== 0) cpu.raise(Vector.GP, 0);
  // Read everything before changing anything: a fault half-way leaves the state as it was.
  const w0 = r32(0), w1 = r32(4), fip = r32(8), w3 = r32(12), fdp = r32(16), w5 = r32(20);
  const regs: number[][] = [];
  for (let k = 0; k < 8; k++) {
    const at = 32 + 16 * k;
    regs.push([(r32(at + 8) >>> 15) & 1, r32(at + 8) & 0x7fff, r32(at + 4), r32(at)]);
  }
  const xmm: number[] = [];
  for (let k = 0; k < 4 * xmmCount; k++) xmm.push(r32(160 + 4 * k));
  const sw = w0 >>> 16, top = (sw >>> 11) & 7;
  const phys: number[][] = new Array(8);
  for (let k = 0; k < 8; k++) phys[(top + k) & 7] = regs[k];
  const wide = i.code64 && (i.rex & 8) !== 0;
  cpu.fpu.restore({
    regs: phys, empty: ~w1 & 0xff, top, cw: w0 & 0xffff, sw,
    fip, fcs: wide ? 0 : w3 & 0xffff, fdp, fds: wide ? 0 : w5 & 0xffff, fop: (w1 >>> 16) & 0x7ff,
  });
  cpu.simd.mxcsr = mxcsr;
  for (let k = 0; k < xmm.length; k++) cpu.simd.xmm[k] = xmm[k];
};

/** LDMXCSR m32: a reserved bit set is #GP(0). */
export const ldmxcsr: Handler = (cpu, i) => {
  sseCheck(cpu, i);
  const v = cpu.read32(i.seg, cpu.ea(i));
  if ((v & ~mxcsrMask(cpu)) !== 0) cpu.raise(Vector.GP, 0);
  cpu.simd.mxcsr = v;
};

export const stmxcsr: Handler = (cpu, i) => {
  sseCheck(cpu, i);
  cpu.write32(i.seg, cpu.ea(i), cpu.simd.mxcsr);
};

