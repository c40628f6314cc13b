// Double extended-precision arithmetic of the x87 FPU (Intel SDM vol. 1, chapter 4 "Data
// types" §4.2.2, §4.8 "Real numbers and floating-point formats", §4.9 "Overview of
// floating-point exceptions", and chapter 8 §8.5 "x87 FPU floating-point exception
// conditions").
//
// A value is sign, 15-bit biased exponent and a 64-bit significand with an explicit integer
// bit, held as two uint32 limbs (`hi` holds bits 63..32, bit 63 being the J bit).
//
//   79  78          64 63 62                                   0
//  +---+--------------+--+--------------------------------------+
//  | S |   exponent   |J |              fraction                 |
//  +---+--------------+--+--------------------------------------+
//
// Addition, multiplication and rounding work on uint32 limbs; division, square root and the
// remainder use BigInt (slow paths). Every operation takes an `FpEnv` carrying the rounding
// control, precision control and the OE/UE masks (they change the result, §4.9.1.4/5) and
// collects the exception flags it raises and whether it rounded up (C1).

/** Exception flag bits, as in the status word (SDM vol. 1 §8.1.3). */
export const IE = 0x01;
export const DE = 0x02;
export const ZE = 0x04;
export const OE = 0x08;
export const UE = 0x10;
export const PE = 0x20;
/** Stack fault; always reported together with IE. */
export const SF = 0x40;

/** Rounding control field values (SDM vol. 1 table 4-8). */
export const RC_NEAREST = 0;
export const RC_DOWN = 1;
export const RC_UP = 2;
export const RC_CHOP = 3;

export const BIAS = 16383;
export const EXP_MAX = 0x7fff;
/** Exponent bias adjustment for unmasked overflow/underflow (SDM vol. 1 §8.5.3, §8.5.4). */
export const WRAP = 24576;

/** An 80-bit value. Treated as immutable everywhere. */
export class F80 {
  constructor(
    readonly sign: number,
    readonly exp: number,
    readonly hi: number,
    readonly lo: number,
  ) {}
}

/** Operand classes (SDM vol. 1 table 8-? / FXAM). */
export const K_ZERO = 0;
export const K_NORMAL = 1;
export const K_DENORMAL = 2; // includes pseudo-denormals (exponent 0, J = 1)
export const K_INF = 3;
export const K_QNAN = 4;
export const K_SNAN = 5;
export const K_UNSUPPORTED = 6; // unnormals, pseudo-NaN, pseudo-infinity (SDM vol. 1 §8.2.2)

export const POS_ZERO = new F80(0, 0, 0, 0);
export const NEG_ZERO = new F80(1, 0, 0, 0);
export const POS_ONE = new F80(0, BIAS, 0x80000000, 0);
export const POS_INF = new F80(0, EXP_MAX, 0x80000000, 0);
export const NEG_INF = new F80(1, EXP_MAX, 0x80000000, 0);
/** The QNaN floating-point indefinite (SDM vol. 1 table 4-3). */
export const INDEFINITE = new F80(1, EXP_MAX, 0xc0000000, 0);

export function classify(f: F80): number {
  if (f.exp === 0) return (f.hi | f.lo) === 0 ? K_ZERO : K_DENORMAL;
  if ((f.hi & 0x80000000) === 0) return K_UNSUPPORTED;
  if (f.exp === EXP_MAX) {
    if ((f.hi & 0x7fffffff) === 0 && f.lo === 0) return K_INF;
    return f.hi & 0x40000000 ? K_QNAN : K_SNAN;
  }
  return K_NORMAL;
}

export function isNaNKind(k: number): boolean {
  return k === K_QNAN || k === K_SNAN;
}

export function zero(sign: number): F80 {
  return sign ? NEG_ZERO : POS_ZERO;
}

export function inf(sign: number): F80 {
  return sign ? NEG_INF : POS_INF;
}

export function negate(f: F80): F80 {
  return new F80(f.sign ^ 1, f.exp, f.hi, f.lo);
}

export function withSign(f: F80, sign: number): F80 {
  return f.sign === sign ? f : new F80(sign, f.exp, f.hi, f.lo);
}

function quiet(f: F80): F80 {
  return new F80(f.sign, f.exp, (f.hi | 0x40000000) >>> 0, f.lo);
}

/**
 * Rounding and exception environment of one operation. One per FPU; `flags` and `up` are
 * outputs, reset by the caller before each instruction.
 */
export class FpEnv {
  rc = RC_NEAREST;
  /** Precision control in significand bits: 24, 53 or 64. */
  prec = 64;
  maskOE = true;
  maskUE = true;
  /** Exception flags raised (IE..PE, SF). */
  flags = 0;
  /** The last rounding incremented the magnitude (reported in C1). */
  up = false;
  /**
   * The destination format's normal exponent range (extended-biased) and the response to an
   * unmasked overflow or underflow, for add, mul, div and sqrt. The x87 keeps the extended
   * range and wraps the exponent; SSE (src/hw/sse) narrows the range to single or double and
   * leaves the destination unwritten.
   */
  eMin = EXT_EMIN;
  eMax = EXT_EMAX;
  wrap = true;

  setControl(cw: number): void {
    this.rc = (cw >> 10) & 3;
    const pc = (cw >> 8) & 3;
    // PC = 01 is reserved; it is treated as double extended (see docs/fpu.md).
    this.prec = pc === 0 ? 24 : pc === 2 ? 53 : 64;
    this.maskOE = (cw & OE) !== 0;
    this.maskUE = (cw & UE) !== 0;
  }
}

// ---------------------------------------------------------------------------------------
// Unpacking: finite non-zero values to a normalized (e, hi, lo) with hi bit 31 set. The
// exponent may drop below 1 for denormals (it is not a field value any more).

class Unpacked {
  e = 0;
  hi = 0;
  lo = 0;
}

function unpack(f: F80, u: Unpacked): Unpacked {
  let e = f.exp === 0 ? 1 : f.exp;
  let hi = f.hi;
  let lo = f.lo;
  if (hi === 0) {
    hi = lo;
    lo = 0;
    e -= 32;
  }
  const n = Math.clz32(hi);
  if (n) {
    hi = ((hi << n) | (lo >>> (32 - n))) >>> 0;
    lo = (lo << n) >>> 0;
    e -= n;
  }
  u.e = e;
  u.hi = hi;
  u.lo = lo;
  return u;
}

// 96-bit shift right with jamming of lost bits into bit 0 ("sticky").
class Sig96 {
  hi = 0;
  lo = 0;
  x = 0;
}

function shr96jam(hi: number, lo: number, x: number, n: number, out: Sig96): void {
  if (n <= 0) {
    out.hi = hi;
    out.lo = lo;
    out.x = x;
  } else if (n < 32) {
    const lost = (x << (32 - n)) !== 0 ? 1 : 0;
    out.x = ((lo << (32 - n)) | (x >>> n) | lost) >>> 0;
    out.lo = ((hi << (32 - n)) | (lo >>> n)) >>> 0;
    out.hi = hi >>> n;
  } else if (n < 64) {
    const m = n - 32;
    if (m === 0) {
      out.x = (lo | (x !== 0 ? 1 : 0)) >>> 0;
      out.lo = hi;
    } else {
      const lost = x !== 0 || (lo << (32 - m)) !== 0 ? 1 : 0;
      out.x = ((hi << (32 - m)) | (lo >>> m) | lost) >>> 0;
      out.lo = hi >>> m;
    }
    out.hi = 0;
  } else if (n < 96) {
    const m = n - 64;
    const lost = x !== 0 || lo !== 0 || (m !== 0 && (hi << (32 - m)) !== 0) ? 1 : 0;
    out.x = ((m === 0 ? hi : hi >>> m) | lost) >>> 0;
    out.lo = 0;
    out.hi = 0;
  } else {
    out.x = (hi | lo | x) !== 0 ? 1 : 0;
    out.lo = 0;
    out.hi = 0;
  }
}

// ---------------------------------------------------------------------------------------
// Rounding (SDM vol. 1 §4.8.4). `roundSig` rounds the 96-bit hi:lo:x at the precision's
// last significand bit; it returns the carry out of bit 63.

class Rounded {
  hi = 0;
  lo = 0;
  carry = false;
  inexact = false;
  up = false;
}

function roundSig(rc: number, sign: number, hi: number, lo: number, x: number, prec: number, r: Rounded): void {
  let half: boolean;
  let sticky: boolean;
  let lsb: boolean;
  if (prec === 64) {
    half = (x & 0x80000000) !== 0;
    sticky = (x & 0x7fffffff) !== 0;
    lsb = (lo & 1) !== 0;
  } else if (prec === 53) {
    half = (lo & 0x400) !== 0;
    sticky = (lo & 0x3ff) !== 0 || x !== 0;
    lsb = (lo & 0x800) !== 0;
  } else {
    half = (hi & 0x80) !== 0;
    sticky = (hi & 0x7f) !== 0 || lo !== 0 || x !== 0;
    lsb = (hi & 0x100) !== 0;
  }
  const inexact = half || sticky;
  let inc: boolean;
  switch (rc) {
    case RC_NEAREST:
      inc = half && (sticky || lsb);
      break;
    case RC_DOWN:
      inc = inexact && sign === 1;
      break;
    case RC_UP:
      inc = inexact && sign === 0;
      break;
    default:
      inc = false;
  }
  let carry = false;
  if (prec === 64) {
    if (inc) {
      lo = (lo + 1) >>> 0;
      if (lo === 0) {
        hi = (hi + 1) >>> 0;
        if (hi === 0) carry = true;
      }
    }
  } else if (prec === 53) {
    lo = (lo & ~0x7ff) >>> 0;
    if (inc) {
      const s = lo + 0x800;
      lo = s >>> 0;
      if (s > 0xffffffff) {
        hi = (hi + 1) >>> 0;
        if (hi === 0) carry = true;
      }
    }
  } else {
    hi = (hi & ~0xff) >>> 0;
    lo = 0;
    if (inc) {
      const s = hi + 0x100;
      hi = s >>> 0;
      if (s > 0xffffffff) carry = true;
    }
  }
  if (carry) hi = 0x80000000;
  r.hi = hi;
  r.lo = lo;
  r.carry = carry;
  r.inexact = inexact;
  r.up = inc;
}

/** Target exponent ranges in extended-biased terms. */
export const EXT_EMIN = 1;
export const EXT_EMAX = 0x7ffe;
export const DBL_EMIN = BIAS - 1022;
export const DBL_EMAX = BIAS + 1023;
export const SGL_EMIN = BIAS - 126;
export const SGL_EMAX = BIAS + 127;

/**
 * Round and pack s × hi:lo:x × 2^(e − BIAS − 63) (x holds bits below the significand, bit 0
 * sticky). `prec` is the significand width, [eMin, eMax] the target's normal exponent range
 * in extended-biased terms. `wrap` selects the register-destination response to unmasked
 * overflow/underflow (exponent wrapped by 24576); memory destinations pass false and the
 * caller does not store when OE/UE is unmasked.
 *
 * The result's exponent is extended-biased. A denormal result of the extended format gets
 * exponent field 0; for narrower targets a denormal keeps e = eMin with J = 0.
 */
export function roundPack(
  env: FpEnv,
  s: number,
  e: number,
  hi: number,
  lo: number,
  x: number,
  prec: number,
  eMin: number,
  eMax: number,
  wrap: boolean,
): F80 {
  if ((hi | lo | x) === 0) return zero(s);
  // Normalize.
  if ((hi & 0x80000000) === 0) {
    while (hi === 0) {
      hi = lo;
      lo = x;
      x = 0;
      e -= 32;
    }
    const n = Math.clz32(hi);
    if (n) {
      hi = ((hi << n) | (lo >>> (32 - n))) >>> 0;
      lo = ((lo << n) | (x >>> (32 - n))) >>> 0;
      x = (x << n) >>> 0;
      e -= n;
    }
  }
  const r = new Rounded();
  roundSig(env.rc, s, hi, lo, x, prec, r);
  const re = r.carry ? e + 1 : e;
  // Tininess is detected after rounding (x87 behaviour, as in SoftFloat's 8086 model).
  if (re < eMin) {
    if (!env.maskUE) {
      env.flags |= UE;
      // A memory destination is left unwritten, and no PE is reported for it.
      if (!wrap) return new F80(s, eMin, r.hi, r.lo);
      if (re + WRAP < eMin) {
        // Massive underflow (FSCALE): "if underflow occurs again, after the result has been
        // bias-adjusted, a properly signed 0 is stored" (SDM vol. 1 §8.5.4), with PE.
        env.flags |= PE;
        env.up = false;
        return zero(s);
      }
      if (r.inexact) env.flags |= PE;
      env.up = r.up;
      return new F80(s, re + WRAP, r.hi, r.lo);
    }
    const sh = new Sig96();
    shr96jam(hi, lo, x, eMin - e, sh);
    roundSig(env.rc, s, sh.hi, sh.lo, sh.x, prec, r);
    if (r.inexact) env.flags |= UE | PE;
    env.up = r.up;
    // A carry here means the denormal rounded up to the smallest normal.
    const rhi = r.carry ? 0x80000000 : r.hi;
    if ((rhi | r.lo) === 0) return zero(s);
    const isNormal = (rhi & 0x80000000) !== 0;
    return new F80(s, isNormal || eMin !== EXT_EMIN ? eMin : 0, rhi, r.lo);
  }
  if (re > eMax) {
    env.flags |= OE;
    if (!env.maskOE) {
      if (!wrap) return new F80(s, EXP_MAX, 0x80000000, 0); // not stored by the caller
      if (re - WRAP > eMax) {
        // Massive overflow (FSCALE): "if overflow occurs again, after the result has been
        // bias-adjusted, a properly signed ∞ is stored" (SDM vol. 1 §8.5.3), with PE, C1 = 1.
        env.flags |= PE;
        env.up = true;
        return inf(s);
      }
      if (r.inexact) env.flags |= PE;
      env.up = r.up;
      return new F80(s, re - WRAP, r.hi, r.lo);
    }
    env.flags |= PE;
    const toInf =
      env.rc === RC_NEAREST || (env.rc === RC_UP && s === 0) || (env.rc === RC_DOWN && s === 1);
    env.up = toInf;
    if (toInf) return inf(s);
    // Largest finite number of the precision.
    return maxFinite(s, prec, eMax);
  }
  if (r.inexact) env.flags |= PE;
  env.up = r.up;
  return new F80(s, re, r.hi, r.lo);
}

function maxFinite(s: number, prec: number, eMax: number): F80 {
  if (prec === 64) return new F80(s, eMax, 0xffffffff, 0xffffffff);
  if (prec === 53) return new F80(s, eMax, 0xffffffff, 0xfffff800);
  return new F80(s, eMax, 0xffffff00, 0);
}

/** Round a finite non-zero extended value to the current precision/range (used by FLD-like paths). */
export function roundToPrecision(env: FpEnv, f: F80, prec: number): F80 {
  const u = unpack(f, new Unpacked());
  return roundPack(env, f.sign, u.e, u.hi, u.lo, 0, prec, EXT_EMIN, EXT_EMAX, true);
}

// ---------------------------------------------------------------------------------------
// NaN handling (SDM vol. 1 §4.8.3.5, table 4-7, and §8.5.1.2).

/**
 * The result of an operation with at least one NaN operand: IE for an SNaN, then the QNaN
 * chosen by table 4-7 (the larger significand among two NaNs, SNaN quieted).
 */
export function propagateNaN(env: FpEnv, a: F80, b: F80 | null): F80 {
  const ka = classify(a);
  const kb = b ? classify(b) : K_ZERO;
  if (ka === K_SNAN || kb === K_SNAN) env.flags |= IE;
  const aNaN = isNaNKind(ka);
  const bNaN = isNaNKind(kb);
  if (aNaN && bNaN && b && ka !== kb) return quiet(ka === K_QNAN ? a : b); // SNaN and QNaN: the QNaN
  if (aNaN && bNaN && b) {
    // Two NaNs of the same kind: the larger significand, ignoring the quiet bit.
    const ah = (a.hi | 0x40000000) >>> 0;
    const bh = (b.hi | 0x40000000) >>> 0;
    let pick: F80;
    if (ah !== bh) pick = ah > bh ? a : b;
    else if (a.lo !== b.lo) pick = a.lo > b.lo ? a : b;
    else pick = a.sign <= b.sign ? a : b;
    return quiet(pick);
  }
  return quiet(aNaN ? a : (b as F80));
}

/** Checks shared by two-operand arithmetic; returns a result for special operands, else null. */
function invalidOrNaN(env: FpEnv, a: F80, ka: number, b: F80, kb: number): F80 | null {
  if (ka === K_UNSUPPORTED || kb === K_UNSUPPORTED) {
    env.flags |= IE;
    return INDEFINITE;
  }
  if (isNaNKind(ka) || isNaNKind(kb)) return propagateNaN(env, a, b);
  if (ka === K_DENORMAL || kb === K_DENORMAL) env.flags |= DE;
  return null;
}

// ---------------------------------------------------------------------------------------
// FADD / FSUB (SDM vol. 2 FADD, table 3-? "FADD/FADDP/FIADD results").

export function add(env: FpEnv, a: F80, b: F80, subtract: boolean): F80 {
  const ka = classify(a);
  const kb = classify(b);
  // NaNs propagate with their own sign, so negate only after the NaN checks.
  const special = invalidOrNaN(env, a, ka, b, kb);
  if (special) return special;
  if (subtract) b = negate(b);
  if (ka === K_INF || kb === K_INF) {
    if (ka === K_INF && kb === K_INF && a.sign !== b.sign) {
      env.flags |= IE;
      return INDEFINITE;
    }
    return ka === K_INF ? a : b;
  }
  if (ka === K_ZERO && kb === K_ZERO) {
    if (a.sign === b.sign) return a;
    return zero(env.rc === RC_DOWN ? 1 : 0);
  }
  const prec = env.prec;
  if (kb === K_ZERO) return roundToPrecision(env, a, prec);
  if (ka === K_ZERO) return roundToPrecision(env, b, prec);
  let ua = unpack(a, new Unpacked());
  let ub = unpack(b, new Unpacked());
  let sa = a.sign;
  let sb = b.sign;
  if (ua.e < ub.e || (ua.e === ub.e && (ua.hi < ub.hi || (ua.hi === ub.hi && ua.lo < ub.lo)))) {
    const t = ua;
    ua = ub;
    ub = t;
    const ts = sa;
    sa = sb;
    sb = ts;
  }
  const sh = new Sig96();
  shr96jam(ub.hi, ub.lo, 0, ua.e - ub.e, sh);
  const e = ua.e;
  if (sa === sb) {
    const x = sh.x;
    let lo = ua.lo + sh.lo;
    let c = lo > 0xffffffff ? 1 : 0;
    lo >>>= 0;
    let hi = ua.hi + sh.hi + c;
    c = hi > 0xffffffff ? 1 : 0;
    hi >>>= 0;
    if (c) {
      const o = new Sig96();
      shr96jam(hi, lo, x, 1, o);
      return roundPack(env, sa, e + 1, (o.hi | 0x80000000) >>> 0, o.lo, o.x, prec, env.eMin, env.eMax, env.wrap);
    }
    return roundPack(env, sa, e, hi, lo, x, prec, env.eMin, env.eMax, env.wrap);
  }
  // Magnitude subtraction, |a| >= |b|.
  let borrow = sh.x !== 0 ? 1 : 0;
  const x = (0 - sh.x) >>> 0;
  let lo = ua.lo - sh.lo - borrow;
  borrow = lo < 0 ? 1 : 0;
  lo >>>= 0;
  const hi = (ua.hi - sh.hi - borrow) >>> 0;
  if ((hi | lo | x) === 0) return zero(env.rc === RC_DOWN ? 1 : 0);
  return roundPack(env, sa, e, hi, lo, x, prec, env.eMin, env.eMax, env.wrap);
}

// ---------------------------------------------------------------------------------------
// FMUL.

/** 32×32 → 64-bit product as [hi, lo] written into out[0], out[1]. */
function mul32(a: number, b: number, out: number[], i: number): void {
  const al = a & 0xffff;
  const ah = a >>> 16;
  const bl = b & 0xffff;
  const bh = b >>> 16;
  const mid = al * bh + ah * bl; // < 2^33, exact
  const low = al * bl + (mid % 65536) * 65536; // < 2^49
  out[i + 1] = low % 4294967296;
  out[i] = ah * bh + Math.floor(mid / 65536) + Math.floor(low / 4294967296);
}

export function mul(env: FpEnv, a: F80, b: F80): F80 {
  const ka = classify(a);
  const kb = classify(b);
  const special = invalidOrNaN(env, a, ka, b, kb);
  if (special) return special;
  const s = a.sign ^ b.sign;
  if (ka === K_INF || kb === K_INF) {
    if (ka === K_ZERO || kb === K_ZERO) {
      env.flags |= IE;
      return INDEFINITE;
    }
    return inf(s);
  }
  if (ka === K_ZERO || kb === K_ZERO) return zero(s);
  const ua = unpack(a, new Unpacked());
  const ub = unpack(b, new Unpacked());
  const p = [0, 0, 0, 0, 0, 0, 0, 0];
  mul32(ua.lo, ub.lo, p, 0); // weight 0
  mul32(ua.lo, ub.hi, p, 2); // weight 32
  mul32(ua.hi, ub.lo, p, 4); // weight 32
  mul32(ua.hi, ub.hi, p, 6); // weight 64
  const r0 = p[1];
  let t = p[0] + p[3] + p[5]; // weight 32
  const r1 = t % 4294967296;
  t = Math.floor(t / 4294967296) + p[2] + p[4] + p[7]; // weight 64
  const r2 = t % 4294967296;
  t = Math.floor(t / 4294967296) + p[6]; // weight 96
  const r3 = t >>> 0;
  const x = (r1 | (r0 !== 0 ? 1 : 0)) >>> 0;
  return roundPack(env, s, ua.e + ub.e - BIAS + 1, r3, r2, x, env.prec, env.eMin, env.eMax, env.wrap);
}

// ---------------------------------------------------------------------------------------
// BigInt helpers for the slow paths.

export function sigBig(f: F80): bigint {
  return (BigInt(f.hi) << 32n) | BigInt(f.lo);
}

export function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/**
 * Round and pack s × m × 2^k (plus a sticky bit below m) to the extended format at `prec`.
 */
export function roundPackBig(env: FpEnv, s: number, m: bigint, k: number, sticky: boolean, prec: number): F80 {
  if (m === 0n) {
    if (!sticky) return zero(s);
    m = 1n;
    k -= 200;
  }
  const n = bitLength(m);
  let t: bigint;
  if (n > 96) {
    const sh = BigInt(n - 96);
    t = m >> sh;
    if ((t << sh) !== m) sticky = true;
  } else {
    t = m << BigInt(96 - n);
  }
  const hi = Number(t >> 64n);
  const lo = Number((t >> 32n) & 0xffffffffn);
  const x = Number(t & 0xffffffffn) | (sticky ? 1 : 0);
  return roundPack(env, s, k + n + 16382, hi, lo, x >>> 0, prec, env.eMin, env.eMax, env.wrap);
}

/** Exact value of a finite F80 as m × 2^k. */
export function toBigParts(f: F80): { m: bigint; k: number } {
  return { m: sigBig(f), k: (f.exp === 0 ? 1 : f.exp) - BIAS - 63 };
}

// ---------------------------------------------------------------------------------------
// FDIV.

export function div(env: FpEnv, a: F80, b: F80): F80 {
  const ka = classify(a);
  const kb = classify(b);
  // Division of a finite non-zero value by zero reports ZE without DE (as hardware does).
  if (kb === K_ZERO && (ka === K_NORMAL || ka === K_DENORMAL)) {
    env.flags |= ZE;
    return inf(a.sign ^ b.sign);
  }
  const special = invalidOrNaN(env, a, ka, b, kb);
  if (special) return special;
  const s = a.sign ^ b.sign;
  if (ka === K_INF) {
    if (kb === K_INF) {
      env.flags |= IE;
      return INDEFINITE;
    }
    return inf(s);
  }
  if (kb === K_INF) return zero(s);
  if (kb === K_ZERO) {
    if (ka === K_ZERO) {
      env.flags |= IE;
      return INDEFINITE;
    }
    env.flags |= ZE;
    return inf(s);
  }
  if (ka === K_ZERO) return zero(s);
  const pa = toBigParts(a);
  const pb = toBigParts(b);
  const num = pa.m << 130n;
  const q = num / pb.m;
  const rem = num - q * pb.m;
  return roundPackBig(env, s, q, pa.k - pb.k - 130, rem !== 0n, env.prec);
}

// ---------------------------------------------------------------------------------------
// FSQRT.

export function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt((bitLength(n) + 1) >> 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

export function sqrt(env: FpEnv, a: F80): F80 {
  const ka = classify(a);
  if (ka === K_UNSUPPORTED) {
    env.flags |= IE;
    return INDEFINITE;
  }
  if (isNaNKind(ka)) return propagateNaN(env, a, null);
  if (ka === K_ZERO) return a;
  if (a.sign) {
    env.flags |= IE;
    return INDEFINITE;
  }
  if (ka === K_DENORMAL) env.flags |= DE;
  if (ka === K_INF) return a;
  let { m, k } = toBigParts(a);
  if (k & 1) {
    m <<= 1n;
    k -= 1;
  }
  const sh = 200;
  const big = m << BigInt(sh);
  const r = isqrt(big);
  return roundPackBig(env, 0, r, (k - sh) / 2, r * r !== big, env.prec);
}

// ---------------------------------------------------------------------------------------
// Comparison (FCOM/FUCOM/FCOMI/FTST). Returns CMP_* .

export const CMP_GT = 0;
export const CMP_LT = 1;
export const CMP_EQ = 2;
export const CMP_UN = 3;

/**
 * Compare a with b. `quietNaNsOk` is the unordered (FUCOM) variant: QNaN operands do not
 * raise IE; unsupported formats and SNaNs always do.
 */
export function compare(env: FpEnv, a: F80, b: F80, quietNaNsOk: boolean): number {
  const ka = classify(a);
  const kb = classify(b);
  if (ka === K_UNSUPPORTED || kb === K_UNSUPPORTED || ka === K_SNAN || kb === K_SNAN) {
    env.flags |= IE;
    return CMP_UN;
  }
  if (ka === K_QNAN || kb === K_QNAN) {
    if (!quietNaNsOk) env.flags |= IE;
    return CMP_UN;
  }
  if (ka === K_DENORMAL || kb === K_DENORMAL) env.flags |= DE;
  if (ka === K_ZERO && kb === K_ZERO) return CMP_EQ;
  if (a.sign !== b.sign) return a.sign ? CMP_LT : CMP_GT;
  const c = compareMagnitude(a, ka, b, kb);
  if (c === 0) return CMP_EQ;
  return (c > 0) !== (a.sign === 1) ? CMP_GT : CMP_LT;
}

function compareMagnitude(a: F80, ka: number, b: F80, kb: number): number {
  if (ka === K_ZERO) return kb === K_ZERO ? 0 : -1;
  if (kb === K_ZERO) return 1;
  const ua = unpack(a, new Unpacked());
  const ub = unpack(b, new Unpacked());
  if (ua.e !== ub.e) return ua.e > ub.e ? 1 : -1;
  if (ua.hi !== ub.hi) return ua.hi > ub.hi ? 1 : -1;
  if (ua.lo !== ub.lo) return ua.lo > ub.lo ? 1 : -1;
  return 0;
}

// ---------------------------------------------------------------------------------------
// Integers (FILD, FIST/FISTP, FRNDINT).

/** Exact conversion of a signed magnitude hi:lo to F80. */
export function fromInt(sign: number, hi: number, lo: number): F80 {
  if ((hi | lo) === 0) return zero(sign);
  let e = BIAS + 63;
  if (hi === 0) {
    hi = lo;
    lo = 0;
    e -= 32;
  }
  const n = Math.clz32(hi);
  if (n) {
    hi = ((hi << n) | (lo >>> (32 - n))) >>> 0;
    lo = (lo << n) >>> 0;
    e -= n;
  }
  return new F80(sign, e, hi, lo);
}

/** From a two's complement 64-bit integer hi:lo. */
export function fromInt64(hi: number, lo: number): F80 {
  if (hi & 0x80000000) {
    // negate
    lo = (~lo + 1) >>> 0;
    hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
    return fromInt(1, hi, lo);
  }
  return fromInt(0, hi >>> 0, lo >>> 0);
}

export function fromInt32(v: number): F80 {
  v |= 0;
  return v < 0 ? fromInt(1, 0, -v >>> 0) : fromInt(0, 0, v);
}

/** Result of rounding to an integer: magnitude hi:lo (null on overflow of 64 bits). */
export class IntResult {
  sign = 0;
  hi = 0;
  lo = 0;
  inexact = false;
  up = false;
  overflow = false;
}

/** Round a finite value to an integer magnitude in the current rounding mode. */
export function roundToIntMag(rc: number, f: F80, out: IntResult): IntResult {
  out.sign = f.sign;
  out.overflow = false;
  out.inexact = false;
  out.up = false;
  if (f.exp === 0 && (f.hi | f.lo) === 0) {
    out.hi = 0;
    out.lo = 0;
    return out;
  }
  const e = (f.exp === 0 ? 1 : f.exp) - BIAS;
  if (e > 63) {
    out.overflow = true;
    return out;
  }
  const sh = new Sig96();
  shr96jam(f.hi, f.lo, 0, 63 - e, sh);
  const r = new Rounded();
  roundSig(rc, f.sign, sh.hi, sh.lo, sh.x, 64, r);
  if (r.carry) {
    out.overflow = true;
    return out;
  }
  out.hi = r.hi;
  out.lo = r.lo;
  out.inexact = r.inexact;
  out.up = r.up;
  return out;
}

/** FRNDINT (SDM vol. 2 FRNDINT). */
export function roundToInt(env: FpEnv, a: F80): F80 {
  const ka = classify(a);
  if (ka === K_UNSUPPORTED) {
    env.flags |= IE;
    return INDEFINITE;
  }
  if (isNaNKind(ka)) return propagateNaN(env, a, null);
  if (ka === K_INF || ka === K_ZERO) return a;
  if (ka === K_DENORMAL) env.flags |= DE;
  if (a.exp >= BIAS + 63) return a;
  const r = roundToIntMag(env.rc, a, new IntResult());
  if (r.inexact) {
    env.flags |= PE;
    env.up = r.up;
  }
  return fromInt(a.sign, r.hi, r.lo);
}

// ---------------------------------------------------------------------------------------
// Single and double precision memory formats (SDM vol. 1 §4.2.2).

/** m32fp bits → F80 (exact). Raises DE for a denormal source; SNaNs stay signaling. */
export function fromF32(env: FpEnv, bits: number): F80 {
  const s = bits >>> 31;
  const be = (bits >>> 23) & 0xff;
  const frac = bits & 0x7fffff;
  if (be === 0xff) return new F80(s, EXP_MAX, (0x80000000 | (frac << 8)) >>> 0, 0);
  if (be === 0) {
    if (frac === 0) return zero(s);
    env.flags |= DE;
    const n = Math.clz32(frac) - 8; // shift to bring the leading bit to bit 23
    return new F80(s, BIAS - 126 - n, (frac << (8 + n)) >>> 0, 0);
  }
  return new F80(s, be - 127 + BIAS, (0x80000000 | (frac << 8)) >>> 0, 0);
}

/** m64fp (hi, lo words) → F80. */
export function fromF64(env: FpEnv, whi: number, wlo: number): F80 {
  const s = whi >>> 31;
  const be = (whi >>> 20) & 0x7ff;
  const fhi = whi & 0xfffff;
  // fraction shifted to sit right below the J bit: 52 bits → bits 62..11
  let hi = ((fhi << 11) | (wlo >>> 21)) >>> 0;
  let lo = (wlo << 11) >>> 0;
  if (be === 0x7ff) return new F80(s, EXP_MAX, (hi | 0x80000000) >>> 0, lo);
  if (be === 0) {
    if ((hi | lo) === 0) return zero(s);
    env.flags |= DE;
    let e = BIAS - 1022;
    if (hi === 0) {
      hi = lo;
      lo = 0;
      e -= 32;
    }
    const n = Math.clz32(hi);
    if (n) {
      hi = ((hi << n) | (lo >>> (32 - n))) >>> 0;
      lo = (lo << n) >>> 0;
      e -= n;
    }
    return new F80(s, e, hi, lo);
  }
  return new F80(s, be - 1023 + BIAS, (hi | 0x80000000) >>> 0, lo);
}

/**
 * F80 → m32fp bits, with IE for SNaN/unsupported, OE/UE/PE from rounding. The caller must
 * not store when an unmasked IE/OE/UE was raised.
 */
export function toF32(env: FpEnv, f: F80): number {
  const k = classify(f);
  const s = f.sign << 31;
  switch (k) {
    case K_ZERO:
      return s >>> 0;
    case K_INF:
      return (s | 0x7f800000) >>> 0;
    case K_UNSUPPORTED:
      env.flags |= IE;
      return 0xffc00000;
    case K_SNAN:
    case K_QNAN:
      if (k === K_SNAN) env.flags |= IE;
      return (s | 0x7fc00000 | ((f.hi >>> 8) & 0x3fffff)) >>> 0;
  }
  const r = roundToPrecisionRange(env, f, 24, SGL_EMIN, SGL_EMAX);
  if (r.exp === EXP_MAX) return (s | 0x7f800000) >>> 0;
  if (r.hi & 0x80000000) return (s | ((r.exp - (BIAS - 127)) << 23) | ((r.hi >>> 8) & 0x7fffff)) >>> 0;
  return (s | (r.hi >>> 8)) >>> 0; // denormal
}

/** F80 → m64fp as [hi, lo] words. */
export function toF64(env: FpEnv, f: F80): [number, number] {
  const k = classify(f);
  const s = f.sign << 31;
  switch (k) {
    case K_ZERO:
      return [s >>> 0, 0];
    case K_INF:
      return [(s | 0x7ff00000) >>> 0, 0];
    case K_UNSUPPORTED:
      env.flags |= IE;
      return [0xfff80000, 0];
    case K_SNAN:
    case K_QNAN:
      if (k === K_SNAN) env.flags |= IE;
      return [(s | 0x7ff80000 | ((f.hi >>> 11) & 0x7ffff)) >>> 0, ((f.hi << 21) | (f.lo >>> 11)) >>> 0];
  }
  const r = roundToPrecisionRange(env, f, 53, DBL_EMIN, DBL_EMAX);
  if (r.exp === EXP_MAX) return [(s | 0x7ff00000) >>> 0, 0];
  const fracHi = (r.hi >>> 11) & 0xfffff;
  const fracLo = ((r.hi << 21) | (r.lo >>> 11)) >>> 0;
  if (r.hi & 0x80000000) return [(s | ((r.exp - (BIAS - 1023)) << 20) | fracHi) >>> 0, fracLo];
  return [(s | fracHi) >>> 0, fracLo];
}

function roundToPrecisionRange(env: FpEnv, f: F80, prec: number, eMin: number, eMax: number): F80 {
  const u = unpack(f, new Unpacked());
  return roundPack(env, f.sign, u.e, u.hi, u.lo, 0, prec, eMin, eMax, false);
}

// ---------------------------------------------------------------------------------------
// FSCALE, FXTRACT helpers.

/** Multiply a finite non-zero value by 2^n, rounding to 64 bits (FSCALE ignores PC). */
export function scaleFinite(env: FpEnv, a: F80, n: number): F80 {
  const u = unpack(a, new Unpacked());
  // Clamp to keep within JS integer range; anything beyond the format saturates anyway.
  if (n > 0x10000) n = 0x10000;
  if (n < -0x10000) n = -0x10000;
  return roundPack(env, a.sign, u.e + n, u.hi, u.lo, 0, 64, EXT_EMIN, EXT_EMAX, true);
}

/** Normalized significand with exponent BIAS, and the unbiased exponent (finite non-zero). */
export function extract(a: F80): { sig: F80; exp: number } {
  const u = unpack(a, new Unpacked());
  return { sig: new F80(a.sign, BIAS, u.hi, u.lo), exp: u.e - BIAS };
}

/** Whether an F80 is a (pseudo-)denormal, for the DE checks done outside this file. */
export function isDenormal(f: F80): boolean {
  return f.exp === 0 && (f.hi | f.lo) !== 0;
}
