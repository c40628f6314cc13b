// SSE/SSE2/SSE3 and MMX data movement (Intel SDM vol. 2): register and memory moves of
// 4, 8 and 16 bytes, the half-register moves, MOVD/MOVQ to and from general registers,
// masks, inserts and extracts, the non-temporal stores, fences and prefetches, EMMS, and
// the MXCSR loads and stores.

import { CR0_EM, CR0_TS } from "../control-regs.js";
import { Vector } from "../fault.js";
import type { Handler } from "../instr.js";
import { SegReg } from "../segment.js";
import { fpuPendingCheck } from "./fpu-escape.js";
import type { VecFn } from "./simd-int.js";
import {
  mmxCheck, readGpr, readMem, readMmx, readQ, readW, readXmm, rexW, sseCheck, sseMmxCheck, writeGpr, writeMem, writeMmx, writeXmm,
} from "./simd.js";

/** MOVAPS/MOVUPS/MOVDQA/MOVDQU/LDDQU … Vx, Wx (`aligned`: 16-byte memory must be aligned). */
export function loadX(aligned: boolean): Handler {
  return (cpu, i) => {
    sseCheck(cpu, i);
    readW(cpu, i, cpu.simd.r, 16, aligned);
    writeXmm(cpu, i.reg, cpu.simd.r);
  };
}

/** The stores Wx, Vx (MOVNTPS/MOVNTDQ are the memory-only rows of the same shape). */
export function storeX(aligned: boolean): Handler {
  return (cpu, i) => {
    sseCheck(cpu, i);
    const r = cpu.simd.r;
    readXmm(cpu, i.reg, r);
    if (i.hasMem) writeMem(cpu, i, r, 16, aligned);
    else writeXmm(cpu, i.rm, r);
  };
}

/**
 * MOVSS/MOVSD loads (`bytes` 4 or 8): from memory the element is zero-extended to 128 bits;
 * from a register only the element is replaced.
 */
export function loadScalar(bytes: number): Handler {
  return (cpu, i) => {
    sseCheck(cpu, i);
    const { b, r } = cpu.simd;
    if (i.hasMem) {
      r.i32.fill(0);
      readMem(cpu, i, r, bytes, false);
    } else {
      readXmm(cpu, i.reg, r);
      readXmm(cpu, i.rm, b);
      for (let k = 0; k < bytes >> 2; k++) r.i32[k] = b.i32[k];
    }
    writeXmm(cpu, i.reg, r);
  };
}

/** MOVSS/MOVSD stores; MOVLPS/MOVLPD Mq, Vq (memory-only rows) are the 8-byte memory case. */
export function storeScalar(bytes: number): Handler {
  return (cpu, i) => {
    sseCheck(cpu, i);
    const { b, r } = cpu.simd;
    readXmm(cpu, i.reg, b);
    if (i.hasMem) { writeMem(cpu, i, b, bytes, false); return; }
    readXmm(cpu, i.rm, r);
    for (let k = 0; k < bytes >> 2; k++) r.i32[k] = b.i32[k];
    writeXmm(cpu, i.rm, r);
  };
}

/**
 * 0F 12 / 0F 16 without prefix and their 66h memory forms: MOVLPS/MOVLPD (low half from m64),
 * MOVHPS/MOVHPD (high half from m64), MOVHLPS (low half from the source's high half),
 * MOVLHPS (high half from the source's low half).
 */
export function loadHalf(high: boolean): Handler {
  return (cpu, i) => {
    sseCheck(cpu, i);
    const { b, r } = cpu.simd;
    readXmm(cpu, i.reg, r);
    if (i.hasMem) readMem(cpu, i, b, 8, false);
    else { readXmm(cpu, i.rm, b); if (!high) { b.i32[0] = b.i32[2]; b.i32[1] = b.i32[3]; } }
    const at = high ? 2 : 0;
    r.i32[at] = b.i32[0]; r.i32[at + 1] = b.i32[1];
    writeXmm(cpu, i.reg, r);
  };
}

/** MOVHPS/MOVHPD Mq, Vq: the high half to memory. */
export const storeHigh: Handler = (cpu, i) => {
  sseCheck(cpu, i);
  const { b } = cpu.simd;
  readXmm(cpu, i.reg, b);
  b.i32[0] = b.i32[2]; b.i32[1] = b.i32[3];
  writeMem(cpu, i, b, 8, false);
};

/** SSE3 MOVSLDUP, MOVSHDUP (Wx) and MOVDDUP (Wsd: 8 bytes of memory). */
export function dup(kind: "sl" | "sh" | "dd"): Handler {
  return (cpu, i) => {
    sseCheck(cpu, i);
    const { b, r } = cpu.simd;
    readW(cpu, i, b, kind === "dd" ? 8 : 16, kind !== "dd");
    if (kind === "dd") { r.i32[0] = b.i32[0]; r.i32[1] = b.i32[1]; r.i32[2] = b.i32[0]; r.i32[3] = b.i32[1]; }
    else {
      const o = kind === "sl" ? 0 : 1;
      r.i32[0] = b.i32[o]; r.i32[1] = b.i32[o]; r.i32[2] = b.i32[2 + o]; r.i32[3] = b.i32[2 + o];
    }
    writeXmm(cpu, i.reg, r);
  };
}

/** SHUFPS: two elements from the destination, two from the source, chosen by imm8. */
export const shufps: VecFn = (a, b, r, _n, imm) => {
  const s0 = a.i32[imm & 3], s1 = a.i32[(imm >> 2) & 3], s2 = b.i32[(imm >> 4) & 3], s3 = b.i32[(imm >> 6) & 3];
  r.i32[0] = s0; r.i32[1] = s1; r.i32[2] = s2; r.i32[3] = s3;
};
export const shufpd: VecFn = (a, b, r, _n, imm) => {
  const p = (imm & 1) * 2, q = ((imm >> 1) & 1) * 2;
  const a0 = a.i32[p], a1 = a.i32[p + 1], b0 = b.i32[q], b1 = b.i32[q + 1];
  r.i32[0] = a0; r.i32[1] = a1; r.i32[2] = b0; r.i32[3] = b1;
};

// ---- General registers ----

/** MOVD/MOVQ Pq, Ey (mmx) and Vx, Ey: the integer zero-extended to the register. */
export function movdToVec(mmx: boolean): Handler {
  return (cpu, i) => {
    if (mmx) mmxCheck(cpu, i); else sseCheck(cpu, i);
    const r = cpu.simd.r, wide = rexW(i);
    r.i32.fill(0);
    if (i.hasMem) readMem(cpu, i, r, wide ? 8 : 4, false);
    else { r.i32[0] = readGpr(cpu, i.rm, wide); r.i32[1] = cpu.hi; }
    if (mmx) writeMmx(cpu, i.reg, r); else writeXmm(cpu, i.reg, r);
  };
}

/** MOVD/MOVQ Ey, Pq and Ey, Vx. */
export function movdFromVec(mmx: boolean): Handler {
  return (cpu, i) => {
    if (mmx) mmxCheck(cpu, i); else sseCheck(cpu, i);
    const r = cpu.simd.r, wide = rexW(i);
    if (mmx) readMmx(cpu, i.reg, r); else readXmm(cpu, i.reg, r);
    if (i.hasMem) writeMem(cpu, i, r, wide ? 8 : 4, false);
    else writeGpr(cpu, i, i.rm, r.i32[0], r.i32[1], wide);
  };
}

/** MOVQ Pq, Qq and Qq, Pq (MMX). */
export const movqLoadMmx: Handler = (cpu, i) => {
  mmxCheck(cpu, i);
  readQ(cpu, i, cpu.simd.r, 8);
  writeMmx(cpu, i.reg, cpu.simd.r);
};
export const movqStoreMmx: Handler = (cpu, i) => {
  mmxCheck(cpu, i);
  const r = cpu.simd.r;
  readMmx(cpu, i.reg, r);
  if (i.hasMem) writeMem(cpu, i, r, 8, false); else writeMmx(cpu, i.rm, r);
};

/** MOVQ Vx, Wq (F3 0F 7E) and MOVQ Wq, Vx (66 0F D6): 8 bytes, the register destination's high half zeroed. */
export const movqLoadXmm: Handler = (cpu, i) => {
  sseCheck(cpu, i);
  const r = cpu.simd.r;
  readW(cpu, i, r, 8, false);
  r.i32[2] = 0; r.i32[3] = 0;
  writeXmm(cpu, i.reg, r);
};
export const movqStoreXmm: Handler = (cpu, i) => {
  sseCheck(cpu, i);
  const r = cpu.simd.r;
  readXmm(cpu, i.reg, r);
  if (i.hasMem) { writeMem(cpu, i, r, 8, false); return; }
  r.i32[2] = 0; r.i32[3] = 0;
  writeXmm(cpu, i.rm, r);
};

/** MOVQ2DQ Vx, Nq and MOVDQ2Q Pq, Ux. */
export const movq2dq: Handler = (cpu, i) => {
  sseMmxCheck(cpu, i, true);
  const r = cpu.simd.r;
  readMmx(cpu, i.rm, r);
  r.i32[2] = 0; r.i32[3] = 0;
  writeXmm(cpu, i.reg, r);
};
export const movdq2q: Handler = (cpu, i) => {
  sseMmxCheck(cpu, i, true);
  const r = cpu.simd.r;
  readXmm(cpu, i.rm, r);
  writeMmx(cpu, i.reg, r);
};

/** MOVMSKPS/MOVMSKPD/PMOVMSKB Gd, Ux|Nq: the sign bits of the elements, zero-extended. */
export function movmsk(elementBytes: number, mmx: boolean): Handler {
  return (cpu, i) => {
    if (mmx) mmxCheck(cpu, i); else sseCheck(cpu, i);
    const b = cpu.simd.b;
    if (mmx) readMmx(cpu, i.rm, b); else readXmm(cpu, i.rm, b);
    const n = mmx ? 8 : 16;
    let m = 0;
    for (let k = 0; k < n / elementBytes; k++) if ((b.u8[(k + 1) * elementBytes - 1] & 0x80) !== 0) m |= 1 << k;
    writeGpr(cpu, i, i.reg, m, 0, false);
  };
}

/** PEXTRW Gd, Nq|Ux, Ib. */
export function pextrw(mmx: boolean): Handler {
  return (cpu, i) => {
    if (mmx) mmxCheck(cpu, i); else sseCheck(cpu, i);
    const b = cpu.simd.b;
    if (mmx) readMmx(cpu, i.rm, b); else readXmm(cpu, i.rm, b);
    writeGpr(cpu, i, i.reg, b.u16[i.imm & (mmx ? 3 : 7)], 0, false);
  };
}

/** PINSRW Pq|Vx, Rd/Mw, Ib. */
export function pinsrw(mmx: boolean): Handler {
  return (cpu, i) => {
    if (mmx) mmxCheck(cpu, i); else sseCheck(cpu, i);
    const r = cpu.simd.r;
    if (mmx) readMmx(cpu, i.reg, r); else readXmm(cpu, i.reg, r);
    const w = i.hasMem ? cpu.read16(i.seg, cpu.ea(i)) : cpu.regs[i.rm] & 0xffff;
    r.u16[i.imm & (mmx ? 3 : 7)] = w;
    if (mmx) writeMmx(cpu, i.reg, r); else writeXmm(cpu, i.reg, r);
  };
}

/** MASKMOVQ / MASKMOVDQU: the bytes whose mask byte has its top bit set, to DS:[rDI]. */
export function maskmov(mmx: boolean): Handler {
  return (cpu, i) => {
    if (mmx) mmxCheck(cpu, i); else sseCheck(cpu, i);
    const { a, b } = cpu.simd;
    if (mmx) { readMmx(cpu, i.reg, a); readMmx(cpu, i.rm, b); } else { readXmm(cpu, i.reg, a); readXmm(cpu, i.rm, b); }
    const seg = i.segOverride >= 0 ? i.segOverride : SegReg.DS;
    const n = mmx ? 8 : 16;
    let base: number;
    if (i.code64) {
      const lo = cpu.regs[7] >>> 0;
      base = i.adsize64 ? cpu.regsHi[7] * 4294967296 + lo : lo;
      if (seg >= SegReg.FS) base += cpu.segs[seg].base;
    } else base = i.adsize32 ? cpu.regs[7] >>> 0 : cpu.regs[7] & 0xffff;
    for (let k = 0; k < n; k++) if ((b.u8[k] & 0x80) !== 0) cpu.checkWrite(seg, base + k, 1);
    for (let k = 0; k < n; k++) if ((b.u8[k] & 0x80) !== 0) cpu.write8(seg, base + k, a.u8[k]);
  };
}

/** MOVNTI My, Gy (SSE2; no XMM state). */
export const movnti: Handler = (cpu, i) => {
  const f = i.def.feature;
  if (f !== undefined && !cpu.features[f]) cpu.ud();
  const r = cpu.simd.r, wide = rexW(i);
  r.i32[0] = readGpr(cpu, i.reg, wide); r.i32[1] = cpu.hi;
  writeMem(cpu, i, r, wide ? 8 : 4, false);
};

/** EMMS: the x87 tag word all empty. */
export const emms: Handler = (cpu, i) => {
  const f = i.def.feature;
  if (f !== undefined && !cpu.features[f]) cpu.ud();
  if ((cpu.cr0 & CR0_EM) !== 0) cpu.ud();
  if ((cpu.cr0 & CR0_TS) !== 0) cpu.raiseNoCode(Vector.NM);
  fpuPendingCheck(cpu);
  cpu.fpu.emms();
};

/** LFENCE/MFENCE/SFENCE, PREFETCHh, CLFLUSH: ordering and cache hints, no architectural effect here. */
export const fence: Handler = (cpu, i) => {
  const f = i.def.feature;
  if (f !== undefined && !cpu.features[f]) cpu.ud();
};

/** CLFLUSH m8: faults as a byte read would; the model has no caches to flush. */
export const clflush: Handler = (cpu, i) => {
  const f = i.def.feature;
  if (f !== undefined && !cpu.features[f]) cpu.ud();
  cpu.read8(i.seg, cpu.ea(i));
};

