// SSE floating point (Intel SDM vol. 1 §10.2.3 "MXCSR", §11.5 "SSE, SSE2 and SSE3
// exceptions", §4.8.3.5 table 4-7 "Rules for handling NaNs"): single and double precision
// arithmetic, comparisons and conversions on raw bits, bit-exact under every MXCSR rounding
// mode, mask, DAZ and FTZ.
//
// The arithmetic is the x87's soft float (src/hw/fpu/float80.ts) with the destination
// format's precision and exponent range: an exact 96-bit intermediate rounded once, with
// tininess detected after rounding, as x86 does. What differs from the x87 is done here:
// NaN propagation (the first source wins), the QNaN indefinite, DAZ and FTZ, no exponent
// wrapping (an unmasked overflow or underflow leaves the destination unwritten), and the
// split between pre-computation exceptions (IE, DE, ZE: detected on the operands, §11.5.1)
// and post-computation ones (OE, UE, PE: detected on the result). Comparisons and
// float-to-integer conversions need no rounding of a result and use the host's doubles,
// which hold every single and double exactly.

import {
  DBL_EMAX, DBL_EMIN, DE, EXP_MAX, F80, FpEnv, IE, OE, PE, POS_ZERO, SGL_EMAX, SGL_EMIN, UE, ZE,
  add, div, fromF32, fromF64, fromInt32, fromInt64, mul, sqrt, toF32, toF64, zero,
} from "../fpu/float80.js";
import { MXCSR_DAZ, MXCSR_FTZ, MXCSR_MASK_SHIFT, MXCSR_OE, MXCSR_RC_SHIFT, MXCSR_UE } from "./simd-state.js";

export const enum FOp { Add, Sub, Mul, Div, Sqrt, Min, Max }

const RC_NEAREST = 0, RC_DOWN = 1, RC_UP = 2;
const BIAS = 16383;
const TWO32 = 4294967296;

const f32 = new Float32Array(1);
const f32bits = new Uint32Array(f32.buffer);
const f64 = new Float64Array(1);
const f64bits = new Uint32Array(f64.buffer); // [low dword, high dword]

export function isNaN32(b: number): boolean { return (b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0; }
function isSNaN32(b: number): boolean { return isNaN32(b) && (b & 0x400000) === 0; }
function isDenormal32(b: number): boolean { return (b & 0x7f800000) === 0 && (b & 0x7fffff) !== 0; }
export function isNaN64(hi: number, lo: number): boolean {
  return (hi & 0x7ff00000) === 0x7ff00000 && ((hi & 0xfffff) | lo) !== 0;
}
function isSNaN64(hi: number, lo: number): boolean { return isNaN64(hi, lo) && (hi & 0x80000) === 0; }
function isDenormal64(hi: number, lo: number): boolean { return (hi & 0x7ff00000) === 0 && ((hi & 0xfffff) | lo) !== 0; }

/** The value of single-precision bits as a host number (exact). */
export function valueOf32(b: number): number { f32bits[0] = b; return f32[0]; }
/** The value of double-precision bits as a host number (exact). */
export function valueOf64(hi: number, lo: number): number { f64bits[0] = lo; f64bits[1] = hi; return f64[0]; }

/** CMPPS/CMPPD predicates 1, 2, 5, 6 (LT, LE, NLT, NLE) signal on QNaNs too. */
function signalingPredicate(p: number): boolean { return p === 1 || p === 2 || p === 5 || p === 6; }

export class SimdFloat {
  readonly env = new FpEnv();
  private daz = false;
  private ftz = false;
  /** Flags of the instruction so far: pre-computation (IE, DE, ZE) and post-computation (OE, UE, PE). */
  pre = 0;
  post = 0;
  /** The high dword of the last double result (the low dword is returned). */
  hi = 0;

  /** Start an instruction under `mxcsr`. */
  begin(mxcsr: number): void {
    const env = this.env;
    env.rc = (mxcsr >>> MXCSR_RC_SHIFT) & 3;
    env.maskOE = (mxcsr & (MXCSR_OE << MXCSR_MASK_SHIFT)) !== 0;
    env.maskUE = (mxcsr & (MXCSR_UE << MXCSR_MASK_SHIFT)) !== 0;
    env.wrap = false;
    this.daz = (mxcsr & MXCSR_DAZ) !== 0;
    this.ftz = (mxcsr & MXCSR_FTZ) !== 0;
    this.pre = 0;
    this.post = 0;
  }

  // ---- Arithmetic ----

  /** ADDSS … SQRTSS, MINSS, MAXSS on one element: `a` is the first source, `b` the second (SQRT: its operand). */
  arith32(op: FOp, a: number, b: number): number {
    a >>>= 0; b >>>= 0;
    if (op === FOp.Min || op === FOp.Max) return this.minMax32(op, a, b);
    const unary = op === FOp.Sqrt;
    const an = !unary && isNaN32(a), bn = isNaN32(b);
    if (an || bn) {
      if ((an && isSNaN32(a)) || (bn && isSNaN32(b))) this.pre |= IE;
      return ((an ? a : b) | 0x400000) >>> 0;
    }
    // The square root of a negative number is invalid, and IE outranks DE (SDM vol. 1 §4.9.2).
    if (unary && b >>> 31 !== 0 && (b & 0x7fffffff) !== 0 && !(this.daz && isDenormal32(b))) { this.pre |= IE; return 0xffc00000; }
    const before = this.pre;
    const fa = unary ? POS_ZERO : this.in32(a), fb = this.in32(b);
    // A finite dividend over zero reports ZE alone, even when the dividend is denormal.
    if (op === FOp.Div && isZero(fb) && !isZero(fa)) this.pre = before;
    const env = this.env;
    env.prec = 24; env.eMin = SGL_EMIN; env.eMax = SGL_EMAX;
    env.flags = 0;
    return this.out32(this.compute(op, fa, fb));
  }

  /** The same for doubles: returns the low dword, the high one in `hi`. */
  arith64(op: FOp, ahi: number, alo: number, bhi: number, blo: number): number {
    if (op === FOp.Min || op === FOp.Max) return this.minMax64(op, ahi, alo, bhi, blo);
    const unary = op === FOp.Sqrt;
    const an = !unary && isNaN64(ahi, alo), bn = isNaN64(bhi, blo);
    if (an || bn) {
      if ((an && isSNaN64(ahi, alo)) || (bn && isSNaN64(bhi, blo))) this.pre |= IE;
      this.hi = (an ? ahi : bhi) | 0x80000;
      return an ? alo : blo;
    }
    if (unary && bhi >>> 31 !== 0 && ((bhi & 0x7fffffff) | blo) !== 0 && !(this.daz && isDenormal64(bhi, blo))) {
      this.pre |= IE;
      this.hi = 0xfff80000 | 0;
      return 0;
    }
    const before = this.pre;
    const fa = unary ? POS_ZERO : this.in64(ahi, alo), fb = this.in64(bhi, blo);
    if (op === FOp.Div && isZero(fb) && !isZero(fa)) this.pre = before;
    const env = this.env;
    env.prec = 53; env.eMin = DBL_EMIN; env.eMax = DBL_EMAX;
    env.flags = 0;
    return this.out64(this.compute(op, fa, fb));
  }

  private compute(op: FOp, a: F80, b: F80): F80 {
    const env = this.env;
    switch (op) {
      case FOp.Add: return add(env, a, b, false);
      case FOp.Sub: return add(env, a, b, true);
      case FOp.Mul: return mul(env, a, b);
      case FOp.Div: return div(env, a, b);
      default: return sqrt(env, b);
    }
  }

  /** MINSS/MAXSS: any NaN is invalid and gives the second source; so do two zeros. */
  private minMax32(op: FOp, a: number, b: number): number {
    // A NaN operand gives the second source, read through DAZ like any operand.
    if (isNaN32(a) || isNaN32(b)) { this.pre |= IE; return this.daz && isDenormal32(b) ? (b & 0x80000000) >>> 0 : b; }
    a = this.daz32(a); b = this.daz32(b);
    const x = valueOf32(a), y = valueOf32(b);
    return (op === FOp.Min ? x < y : x > y) ? a : b;
  }

  private minMax64(op: FOp, ahi: number, alo: number, bhi: number, blo: number): number {
    if (isNaN64(ahi, alo) || isNaN64(bhi, blo)) {
      this.pre |= IE;
      const flush = this.daz && isDenormal64(bhi, blo);
      this.hi = flush ? bhi & 0x80000000 : bhi;
      return flush ? 0 : blo;
    }
    const ad = this.daz64(ahi, alo); if (ad) { ahi &= 0x80000000; alo = 0; }
    const bd = this.daz64(bhi, blo); if (bd) { bhi &= 0x80000000; blo = 0; }
    const x = valueOf64(ahi, alo), y = valueOf64(bhi, blo);
    const first = op === FOp.Min ? x < y : x > y;
    this.hi = first ? ahi : bhi;
    return first ? alo : blo;
  }

  // ---- Comparisons ----

  /** CMPSS predicate 0–7 (EQ LT LE UNORD NEQ NLT NLE ORD). */
  compare32(a: number, b: number, pred: number): boolean {
    a >>>= 0; b >>>= 0;
    if (isNaN32(a) || isNaN32(b)) {
      if (isSNaN32(a) || isSNaN32(b) || signalingPredicate(pred)) this.pre |= IE;
      return pred >= 3 && pred <= 6;
    }
    return comparePredicate(valueOf32(this.daz32(a)), valueOf32(this.daz32(b)), pred);
  }

  compare64(ahi: number, alo: number, bhi: number, blo: number, pred: number): boolean {
    if (isNaN64(ahi, alo) || isNaN64(bhi, blo)) {
      if (isSNaN64(ahi, alo) || isSNaN64(bhi, blo) || signalingPredicate(pred)) this.pre |= IE;
      return pred >= 3 && pred <= 6;
    }
    if (this.daz64(ahi, alo)) { ahi &= 0x80000000; alo = 0; }
    if (this.daz64(bhi, blo)) { bhi &= 0x80000000; blo = 0; }
    return comparePredicate(valueOf64(ahi, alo), valueOf64(bhi, blo), pred);
  }

  /**
   * COMISS/UCOMISS: ZF, PF, CF as bits 2, 1, 0 (unordered 111, less 001, equal 100,
   * greater 000). COMISS signals on QNaNs too.
   */
  comis32(a: number, b: number, signalQNaN: boolean): number {
    a >>>= 0; b >>>= 0;
    if (isNaN32(a) || isNaN32(b)) {
      if (signalQNaN || isSNaN32(a) || isSNaN32(b)) this.pre |= IE;
      return 7;
    }
    return comisResult(valueOf32(this.daz32(a)), valueOf32(this.daz32(b)));
  }

  comis64(ahi: number, alo: number, bhi: number, blo: number, signalQNaN: boolean): number {
    if (isNaN64(ahi, alo) || isNaN64(bhi, blo)) {
      if (signalQNaN || isSNaN64(ahi, alo) || isSNaN64(bhi, blo)) this.pre |= IE;
      return 7;
    }
    if (this.daz64(ahi, alo)) { ahi &= 0x80000000; alo = 0; }
    if (this.daz64(bhi, blo)) { bhi &= 0x80000000; blo = 0; }
    return comisResult(valueOf64(ahi, alo), valueOf64(bhi, blo));
  }

  // ---- Conversions ----

  /** A signed 32-bit integer (or 64-bit: `hi`:`lo`) to single precision, rounded by MXCSR.RC. */
  intTo32(lo: number, hi: number, wide: boolean): number {
    const env = this.env;
    env.flags = 0;
    const r = toF32(env, wide ? fromInt64(hi, lo) : fromInt32(lo));
    this.collect();
    return r;
  }

  intTo64(lo: number, hi: number, wide: boolean): number {
    const env = this.env;
    env.flags = 0;
    const [rh, rl] = toF64(env, wide ? fromInt64(hi, lo) : fromInt32(lo));
    this.collect();
    this.hi = rh;
    return rl;
  }

  /** CVTSS2SD: exact, but an SNaN is invalid (and quieted) and a denormal reports DE. */
  single2double(b: number): number {
    b >>>= 0;
    const env = this.env;
    env.flags = 0;
    const f = isNaN32(b) ? fromF32(env, b) : this.in32(b);
    const [rh, rl] = toF64(env, f);
    this.collect();
    this.hi = rh;
    return rl;
  }

  /** CVTSD2SS: rounded to single with its range, FTZ applying. */
  double2single(hi: number, lo: number): number {
    const env = this.env;
    env.flags = 0;
    if (isNaN64(hi, lo)) { const r = toF32(env, fromF64(env, hi, lo)); this.pre |= env.flags & IE; return r; }
    const f = this.in64(hi, lo);
    env.flags = 0;
    return this.flush32(toF32(env, f));
  }

  /**
   * CVTSS2SI/CVTTSS2SI and the others: `x` is the exact value of the source, `nan` whether
   * it is a NaN. An out-of-range or NaN source is invalid and gives the integer indefinite
   * (the sign bit alone); an inexact one reports PE. Returns the low dword, `hi` the high one.
   */
  toInt(x: number, nan: boolean, denormal: boolean, truncate: boolean, wide: boolean): number {
    if (denormal && this.daz) x = 0;
    let r: number;
    if (nan) r = NaN;
    else if (truncate) r = Math.trunc(x);
    else {
      switch (this.env.rc) {
        case RC_NEAREST: {
          const f = Math.floor(x), d = x - f;
          r = d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
          break;
        }
        case RC_DOWN: r = Math.floor(x); break;
        case RC_UP: r = Math.ceil(x); break;
        default: r = Math.trunc(x);
      }
    }
    const limit = wide ? 9223372036854775808 : 2147483648;
    if (!(r >= -limit && r < limit)) {
      this.pre |= IE;
      this.hi = wide ? 0x80000000 | 0 : 0;
      return wide ? 0 : 0x80000000 | 0;
    }
    if (r !== x) this.post |= PE;
    if (r === 0) { this.hi = 0; return 0; }
    const h = Math.floor(r / TWO32);
    this.hi = wide ? h | 0 : 0;
    return (r - h * TWO32) | 0;
  }

  // ---- Approximations ----

  /**
   * RCPSS/RSQRTSS. The SDM defines only the error bound (|relative error| ≤ 1.5 × 2^-12) and
   * each processor has its own table; the model returns the correctly rounded result with
   * its low 11 fraction bits cleared (docs/sse.md). Denormal sources count as zero, tiny
   * results become zero, and no MXCSR flag is ever set, as on Intel's parts.
   */
  approx32(b: number, rsqrt: boolean): number {
    b >>>= 0;
    const sign = b & 0x80000000;
    if (isNaN32(b)) return (b | 0x400000) >>> 0;
    if ((b & 0x7f800000) === 0) return (sign | 0x7f800000) >>> 0; // ±0 and denormals → ±∞
    if (rsqrt && sign !== 0) return 0xffc00000;
    const x = valueOf32(b);
    f32[0] = rsqrt ? 1 / Math.sqrt(x) : 1 / x;
    const r = f32bits[0];
    if ((r & 0x7f800000) === 0) return sign >>> 0;
    return (r & 0xfffff800) >>> 0;
  }

  // ---- Operands and results ----

  private daz32(b: number): number {
    if (!isDenormal32(b)) return b;
    if (this.daz) return (b & 0x80000000) >>> 0;
    this.pre |= DE;
    return b;
  }

  /** Whether a denormal double is to be read as zero (DAZ); reports DE otherwise. */
  private daz64(hi: number, lo: number): boolean {
    if (!isDenormal64(hi, lo)) return false;
    if (this.daz) return true;
    this.pre |= DE;
    return false;
  }

  private in32(b: number): F80 {
    const d = this.daz32(b);
    return d !== b || (d & 0x7fffffff) === 0 ? zero(d >>> 31) : fromF32(this.env, d);
  }

  private in64(hi: number, lo: number): F80 {
    if (this.daz64(hi, lo)) return zero(hi >>> 31);
    return fromF64(this.env, hi, lo);
  }

  private collect(): void {
    const f = this.env.flags;
    this.pre |= f & (IE | ZE);
    this.post |= f & (OE | UE | PE);
  }

  /** Pack a rounded result (denormals carry J = 0 at the format's minimum exponent). */
  private out32(r: F80): number {
    const env = this.env;
    const s = r.sign << 31;
    let bits: number;
    if (r.exp === EXP_MAX) {
      bits = ((r.hi & 0x7fffffff) | r.lo) !== 0 ? s | 0x7fc00000 | ((r.hi >>> 8) & 0x3fffff) : s | 0x7f800000;
    } else if ((r.hi | r.lo) === 0) {
      bits = s;
    } else if ((r.hi & 0x80000000) === 0) {
      bits = s | (r.hi >>> 8);
    } else if (r.exp < SGL_EMIN) {
      bits = toF32(env, r); // x ± 0 with a denormal x comes back unrounded
    } else {
      bits = s | ((r.exp - (BIAS - 127)) << 23) | ((r.hi >>> 8) & 0x7fffff);
    }
    return this.flush32(bits >>> 0);
  }

  private out64(r: F80): number {
    const env = this.env;
    const s = r.sign << 31;
    let hi: number, lo: number;
    if (r.exp === EXP_MAX) {
      if (((r.hi & 0x7fffffff) | r.lo) !== 0) {
        hi = s | 0x7ff80000 | ((r.hi >>> 11) & 0x7ffff);
        lo = (r.hi << 21) | (r.lo >>> 11);
      } else { hi = s | 0x7ff00000; lo = 0; }
    } else if ((r.hi | r.lo) === 0) {
      hi = s; lo = 0;
    } else if ((r.hi & 0x80000000) === 0) {
      hi = s | (r.hi >>> 11); lo = (r.hi << 21) | (r.lo >>> 11);
    } else if (r.exp < DBL_EMIN) {
      [hi, lo] = toF64(env, r);
    } else {
      hi = s | ((r.exp - (BIAS - 1023)) << 20) | ((r.hi >>> 11) & 0xfffff);
      lo = (r.hi << 21) | (r.lo >>> 11);
    }
    return this.flush64(hi | 0, lo | 0);
  }

  /** FTZ with underflow masked: a tiny result becomes a zero of its sign, with UE and PE. */
  private flush32(bits: number): number {
    const env = this.env;
    if (this.ftz && env.maskUE && ((env.flags & UE) !== 0 || isDenormal32(bits))) {
      env.flags |= UE | PE;
      bits = (bits & 0x80000000) >>> 0;
    }
    this.collect();
    return bits;
  }

  private flush64(hi: number, lo: number): number {
    const env = this.env;
    if (this.ftz && env.maskUE && ((env.flags & UE) !== 0 || isDenormal64(hi, lo))) {
      env.flags |= UE | PE;
      hi &= 0x80000000; lo = 0;
    }
    this.collect();
    this.hi = hi;
    return lo;
  }
}

function isZero(f: F80): boolean {
  return f.exp === 0 && (f.hi | f.lo) === 0;
}

function comparePredicate(x: number, y: number, pred: number): boolean {
  switch (pred & 7) {
    case 0: return x === y;
    case 1: return x < y;
    case 2: return x <= y;
    case 3: return false;
    case 4: return x !== y;
    case 5: return !(x < y);
    case 6: return !(x <= y);
    default: return true;
  }
}

function comisResult(x: number, y: number): number {
  return x === y ? 4 : x < y ? 1 : 0;
}
