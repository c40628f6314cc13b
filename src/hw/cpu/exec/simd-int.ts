// MMX and SSE2 integer instructions (Intel SDM vol. 2; vol. 1 ch. 9 and §11.4.3): one
// element function per operation, run on 8 bytes for MMX registers and 16 for XMM ones.
// The opcode table pairs each operation's MMX row (no prefix) with its SSE2 row (66h).

import type { Cpu } from "../cpu.js";
import type { Handler, Instr } from "../instr.js";
import type { Vec } from "../../sse/simd-state.js";
import { mmxCheck, readMmx, readQ, readW, readXmm, sseCheck, writeMmx, writeXmm } from "./simd.js";

/** dest = f(dest, source) on n bytes (8 or 16); `imm` is the instruction's immediate. */
export type VecFn = (a: Vec, b: Vec, r: Vec, n: number, imm: number) => void;

/** An MMX row, `Pq,Qq` (or `Pq,Qd` with srcBytes 4: the low-half unpacks). */
export function onMmx(fn: VecFn, srcBytes = 8): Handler {
  return (cpu: Cpu, i: Instr): void => {
    mmxCheck(cpu, i);
    const s = cpu.simd;
    readMmx(cpu, i.reg, s.a);
    readQ(cpu, i, s.b, srcBytes);
    fn(s.a, s.b, s.r, 8, i.imm);
    writeMmx(cpu, i.reg, s.r);
  };
}

/** An SSE row, `Vx,Wx`: the memory source is 16 aligned bytes. */
export function onXmm(fn: VecFn): Handler {
  return (cpu: Cpu, i: Instr): void => {
    sseCheck(cpu, i);
    const s = cpu.simd;
    readXmm(cpu, i.reg, s.a);
    readW(cpu, i, s.b, 16, true);
    fn(s.a, s.b, s.r, 16, i.imm);
    writeXmm(cpu, i.reg, s.r);
  };
}

/** Shift-by-immediate groups 0F 71–73 (`Nq,Ib` / `Ux,Ib`): the register is r/m, the count imm8. */
export function shiftImm(fn: VecFn, xmm: boolean): Handler {
  return (cpu: Cpu, i: Instr): void => {
    const s = cpu.simd;
    if (xmm) { sseCheck(cpu, i); readXmm(cpu, i.rm, s.a); } else { mmxCheck(cpu, i); readMmx(cpu, i.rm, s.a); }
    s.b.i32.fill(0);
    s.b.u32[0] = i.imm & 0xff;
    fn(s.a, s.b, s.r, xmm ? 16 : 8, i.imm);
    if (xmm) writeXmm(cpu, i.rm, s.r); else writeMmx(cpu, i.rm, s.r);
  };
}

// ---- Element functions ----

type Lanes = "u8" | "i8" | "u16" | "i16" | "i32" | "u32";
const BYTES: Record<Lanes, number> = { u8: 1, i8: 1, u16: 2, i16: 2, i32: 4, u32: 4 };

/** r[k] = f(a[k], b[k]) on lanes of one type; the typed array wraps or the function saturates. */
function lanes(t: Lanes, f: (x: number, y: number) => number): VecFn {
  const w = BYTES[t];
  return (a, b, r, n) => {
    const A = a[t], B = b[t], R = r[t];
    for (let k = 0; k < n / w; k++) R[k] = f(A[k], B[k]);
  };
}

const sat = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v);

export const paddb = lanes("u8", (x, y) => x + y);
export const paddw = lanes("u16", (x, y) => x + y);
export const paddd = lanes("i32", (x, y) => x + y);
export const psubb = lanes("u8", (x, y) => x - y);
export const psubw = lanes("u16", (x, y) => x - y);
export const psubd = lanes("i32", (x, y) => x - y);
export const paddsb = lanes("i8", (x, y) => sat(x + y, -128, 127));
export const paddsw = lanes("i16", (x, y) => sat(x + y, -32768, 32767));
export const paddusb = lanes("u8", (x, y) => sat(x + y, 0, 255));
export const paddusw = lanes("u16", (x, y) => sat(x + y, 0, 65535));
export const psubsb = lanes("i8", (x, y) => sat(x - y, -128, 127));
export const psubsw = lanes("i16", (x, y) => sat(x - y, -32768, 32767));
export const psubusb = lanes("u8", (x, y) => sat(x - y, 0, 255));
export const psubusw = lanes("u16", (x, y) => sat(x - y, 0, 65535));
export const pmullw = lanes("i16", (x, y) => Math.imul(x, y));
export const pmulhw = lanes("i16", (x, y) => (x * y) >> 16);
export const pmulhuw = lanes("u16", (x, y) => Math.floor((x * y) / 65536));
export const pcmpeqb = lanes("u8", (x, y) => (x === y ? 0xff : 0));
export const pcmpeqw = lanes("u16", (x, y) => (x === y ? 0xffff : 0));
export const pcmpeqd = lanes("i32", (x, y) => (x === y ? -1 : 0));
export const pcmpgtb = lanes("i8", (x, y) => (x > y ? -1 : 0));
export const pcmpgtw = lanes("i16", (x, y) => (x > y ? -1 : 0));
export const pcmpgtd = lanes("i32", (x, y) => (x > y ? -1 : 0));
export const pand = lanes("i32", (x, y) => x & y);
export const pandn = lanes("i32", (x, y) => ~x & y);
export const por = lanes("i32", (x, y) => x | y);
export const pxor = lanes("i32", (x, y) => x ^ y);
export const pavgb = lanes("u8", (x, y) => (x + y + 1) >> 1);
export const pavgw = lanes("u16", (x, y) => (x + y + 1) >> 1);
export const pminub = lanes("u8", (x, y) => Math.min(x, y));
export const pmaxub = lanes("u8", (x, y) => Math.max(x, y));
export const pminsw = lanes("i16", (x, y) => Math.min(x, y));
export const pmaxsw = lanes("i16", (x, y) => Math.max(x, y));

/** Quadword lanes as dword pairs. */
export const paddq: VecFn = (a, b, r, n) => {
  for (let k = 0; k < n / 4; k += 2) {
    const lo = a.u32[k] + b.u32[k];
    r.u32[k] = lo;
    r.u32[k + 1] = a.u32[k + 1] + b.u32[k + 1] + (lo > 0xffffffff ? 1 : 0);
  }
};
export const psubq: VecFn = (a, b, r, n) => {
  for (let k = 0; k < n / 4; k += 2) {
    const lo = a.u32[k] - b.u32[k];
    r.u32[k] = lo;
    r.u32[k + 1] = a.u32[k + 1] - b.u32[k + 1] - (lo < 0 ? 1 : 0);
  }
};

/** PMULUDQ: the low dword of each quadword, multiplied to 64 bits. */
export const pmuludq: VecFn = (a, b, r, n) => {
  for (let k = 0; k < n / 4; k += 2) {
    const x = a.u32[k], y = b.u32[k];
    const xl = x & 0xffff, xh = x >>> 16, yl = y & 0xffff, yh = y >>> 16;
    const ll = xl * yl, mid = xh * yl + xl * yh; // mid < 2^33
    const lo = ll + (mid % 65536) * 65536;
    r.u32[k] = lo;
    r.u32[k + 1] = xh * yh + Math.floor(mid / 65536) + Math.floor(lo / 4294967296);
  }
};

export const pmaddwd: VecFn = (a, b, r, n) => {
  for (let k = 0; k < n / 4; k++) r.i32[k] = a.i16[2 * k] * b.i16[2 * k] + a.i16[2 * k + 1] * b.i16[2 * k + 1];
};

export const psadbw: VecFn = (a, b, r, n) => {
  for (let q = 0; q < n; q += 8) {
    let sum = 0;
    for (let k = q; k < q + 8; k++) sum += Math.abs(a.u8[k] - b.u8[k]);
    r.u32[q >> 2] = sum;
    r.u32[(q >> 2) + 1] = 0;
  }
};

// ---- Shifts: the count is the source's low quadword (or imm8) ----

function count(b: Vec): number {
  return b.u32[1] !== 0 ? 0xffff : Math.min(b.u32[0], 0xffff);
}

function shift(t: "u16" | "i16" | "u32" | "i32", bits: number, left: boolean): VecFn {
  return (a, b, r, n) => {
    const c = count(b), A = a[t], R = r[t];
    const arith = t === "i16" || t === "i32";
    for (let k = 0; k < (n * 8) / bits; k++) {
      if (c >= bits) R[k] = arith ? (A[k] < 0 ? -1 : 0) : 0;
      else if (left) R[k] = A[k] << c;
      else R[k] = arith ? A[k] >> c : A[k] >>> c;
    }
  };
}
export const psllw = shift("u16", 16, true);
export const pslld = shift("u32", 32, true);
export const psrlw = shift("u16", 16, false);
export const psrld = shift("u32", 32, false);
export const psraw = shift("i16", 16, false);
export const psrad = shift("i32", 32, false);

export const psllq: VecFn = (a, b, r, n) => {
  const c = count(b);
  for (let k = 0; k < n / 4; k += 2) {
    const lo = a.u32[k], hi = a.u32[k + 1];
    if (c >= 64) { r.u32[k] = 0; r.u32[k + 1] = 0; }
    else if (c >= 32) { r.u32[k] = 0; r.u32[k + 1] = lo << (c - 32); }
    else if (c === 0) { r.u32[k] = lo; r.u32[k + 1] = hi; }
    else { r.u32[k] = lo << c; r.u32[k + 1] = (hi << c) | (lo >>> (32 - c)); }
  }
};
export const psrlq: VecFn = (a, b, r, n) => {
  const c = count(b);
  for (let k = 0; k < n / 4; k += 2) {
    const lo = a.u32[k], hi = a.u32[k + 1];
    if (c >= 64) { r.u32[k] = 0; r.u32[k + 1] = 0; }
    else if (c >= 32) { r.u32[k] = hi >>> (c - 32); r.u32[k + 1] = 0; }
    else if (c === 0) { r.u32[k] = lo; r.u32[k + 1] = hi; }
    else { r.u32[k] = (lo >>> c) | (hi << (32 - c)); r.u32[k + 1] = hi >>> c; }
  }
};

/** PSLLDQ/PSRLDQ: the whole register by imm8 bytes (16 or more: zero). */
export const pslldq: VecFn = (a, _b, r, n, imm) => {
  const c = imm & 0xff;
  for (let k = 0; k < n; k++) r.u8[k] = k - c >= 0 ? a.u8[k - c] : 0;
};
export const psrldq: VecFn = (a, _b, r, n, imm) => {
  const c = imm & 0xff;
  for (let k = 0; k < n; k++) r.u8[k] = k + c < n ? a.u8[k + c] : 0;
};

// ---- Packs and unpacks (through a scratch buffer: the destination may be a source) ----

const SCRATCH = { u8: new Uint8Array(16), i16: new Int16Array(16), i32: new Int32Array(8) };

export const packsswb: VecFn = (a, b, r, n) => packBytes(a, b, r, n, -128, 127);
export const packuswb: VecFn = (a, b, r, n) => packBytes(a, b, r, n, 0, 255);
function packBytes(a: Vec, b: Vec, r: Vec, n: number, lo: number, hi: number): void {
  const words = n / 2; // words per source
  const out = SCRATCH.i16;
  for (let k = 0; k < words; k++) out[k] = sat(a.i16[k], lo, hi);
  for (let k = 0; k < words; k++) out[words + k] = sat(b.i16[k], lo, hi);
  for (let k = 0; k < n; k++) r.u8[k] = out[k];
}
export const packssdw: VecFn = (a, b, r, n) => {
  const dw = n / 4;
  const out = SCRATCH.i32;
  for (let k = 0; k < dw; k++) out[k] = sat(a.i32[k], -32768, 32767);
  for (let k = 0; k < dw; k++) out[dw + k] = sat(b.i32[k], -32768, 32767);
  for (let k = 0; k < 2 * dw; k++) r.i16[k] = out[k];
};

/** Interleave elements of `w` bytes from the low (high = false) or high halves of a and b. */
function unpack(w: number, high: boolean): VecFn {
  return (a, b, r, n) => {
    const base = high ? n / 2 : 0;
    const tmp = SCRATCH.u8;
    for (let e = 0; e < n / 2 / w; e++) {
      for (let k = 0; k < w; k++) {
        tmp[2 * e * w + k] = a.u8[base + e * w + k];
        tmp[(2 * e + 1) * w + k] = b.u8[base + e * w + k];
      }
    }
    for (let k = 0; k < n; k++) r.u8[k] = tmp[k];
  };
}
export const punpcklbw = unpack(1, false);
export const punpcklwd = unpack(2, false);
export const punpckldq = unpack(4, false);
export const punpcklqdq = unpack(8, false);
export const punpckhbw = unpack(1, true);
export const punpckhwd = unpack(2, true);
export const punpckhdq = unpack(4, true);
export const punpckhqdq = unpack(8, true);

// ---- Shuffles ----

/** PSHUFW (MMX) and PSHUFD: each destination element picks a source element by two imm8 bits. */
export const pshufw: VecFn = (_a, b, r, _n, imm) => {
  const s0 = b.u16[imm & 3], s1 = b.u16[(imm >> 2) & 3], s2 = b.u16[(imm >> 4) & 3], s3 = b.u16[(imm >> 6) & 3];
  r.u16[0] = s0; r.u16[1] = s1; r.u16[2] = s2; r.u16[3] = s3;
};
export const pshufd: VecFn = (_a, b, r, _n, imm) => {
  const s0 = b.i32[imm & 3], s1 = b.i32[(imm >> 2) & 3], s2 = b.i32[(imm >> 4) & 3], s3 = b.i32[(imm >> 6) & 3];
  r.i32[0] = s0; r.i32[1] = s1; r.i32[2] = s2; r.i32[3] = s3;
};
export const pshuflw: VecFn = (_a, b, r, _n, imm) => {
  const s0 = b.u16[imm & 3], s1 = b.u16[(imm >> 2) & 3], s2 = b.u16[(imm >> 4) & 3], s3 = b.u16[(imm >> 6) & 3];
  r.u16[0] = s0; r.u16[1] = s1; r.u16[2] = s2; r.u16[3] = s3;
  r.i32[2] = b.i32[2]; r.i32[3] = b.i32[3];
};
export const pshufhw: VecFn = (_a, b, r, _n, imm) => {
  const s0 = b.u16[4 + (imm & 3)], s1 = b.u16[4 + ((imm >> 2) & 3)], s2 = b.u16[4 + ((imm >> 4) & 3)], s3 = b.u16[4 + ((imm >> 6) & 3)];
  r.i32[0] = b.i32[0]; r.i32[1] = b.i32[1];
  r.u16[4] = s0; r.u16[5] = s1; r.u16[6] = s2; r.u16[7] = s3;
};

// ---- SSSE3 (0F 38 xx, 0F 3A 0F; SDM vol. 2, the PSHUFB … PALIGNR pages) ----

/** PSHUFB: each byte picks a byte of the destination by the source's low bits, or 0 if its top bit is set. */
export const pshufb: VecFn = (a, b, r, n) => {
  for (let k = 0; k < n; k++) r.u8[k] = (b.u8[k] & 0x80) !== 0 ? 0 : a.u8[b.u8[k] & (n - 1)];
};

/** The horizontal pair operations: the destination's pairs, then the source's. */
function horizontal(t: "i16" | "i32", f: (x: number, y: number) => number): VecFn {
  return (a, b, r, n) => {
    const A = a[t], B = b[t], R = r[t], half = n / (t === "i16" ? 4 : 8);
    for (let k = 0; k < half; k++) {
      R[k] = f(A[2 * k], A[2 * k + 1]);
      R[half + k] = f(B[2 * k], B[2 * k + 1]);
    }
  };
}
export const phaddw = horizontal("i16", (x, y) => x + y);
export const phaddd = horizontal("i32", (x, y) => x + y);
export const phaddsw = horizontal("i16", (x, y) => sat(x + y, -32768, 32767));
export const phsubw = horizontal("i16", (x, y) => x - y);
export const phsubd = horizontal("i32", (x, y) => x - y);
export const phsubsw = horizontal("i16", (x, y) => sat(x - y, -32768, 32767));

/** PMADDUBSW: unsigned bytes of the destination times signed bytes of the source, pairs summed with saturation. */
export const pmaddubsw: VecFn = (a, b, r, n) => {
  for (let k = 0; k < n / 2; k++) r.i16[k] = sat(a.u8[2 * k] * b.i8[2 * k] + a.u8[2 * k + 1] * b.i8[2 * k + 1], -32768, 32767);
};

/** PSIGNB/W/D: the destination negated, kept or zeroed by the sign of the source. */
function psign(t: "i8" | "i16" | "i32"): VecFn {
  return lanes(t, (x, y) => (y < 0 ? -x : y === 0 ? 0 : x));
}
export const psignb = psign("i8");
export const psignw = psign("i16");
export const psignd = psign("i32");

/** PMULHRSW: the rounded high half of the 16×16-bit product, scaled (bits 30:15 of the product + 2^14). */
export const pmulhrsw = lanes("i16", (x, y) => (((x * y) >> 14) + 1) >> 1);

/** PABSB/W/D: the source's absolute value (unsigned: |−128| is 0x80). */
export const pabsb: VecFn = (_a, b, r, n) => { for (let k = 0; k < n; k++) r.u8[k] = Math.abs(b.i8[k]); };
export const pabsw: VecFn = (_a, b, r, n) => { for (let k = 0; k < n / 2; k++) r.u16[k] = Math.abs(b.i16[k]); };
export const pabsd: VecFn = (_a, b, r, n) => { for (let k = 0; k < n / 4; k++) r.u32[k] = Math.abs(b.i32[k]); };

/** PALIGNR: destination:source as one 2n-byte value, shifted right by imm8 bytes, its low n bytes. */
export const palignr: VecFn = (a, b, r, n, imm) => {
  const c = imm & 0xff;
  for (let k = 0; k < n; k++) {
    const j = k + c;
    r.u8[k] = j < n ? b.u8[j] : j < 2 * n ? a.u8[j - n] : 0;
  }
};
