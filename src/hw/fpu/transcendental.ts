// x87 transcendental instructions: F2XM1, FYL2X, FYL2XP1, FPTAN, FPATAN, FSIN, FCOS, FSINCOS
// (Intel SDM vol. 2 instruction pages; vol. 1 §8.3.8 "Transcendental instructions" and §8.3.10
// "Transcendental instruction accuracy").
//
// Real hardware is within about 1 ulp. We evaluate every function in BigInt fixed point with
// FB = 320 fraction bits (argument reduction for FSIN/FCOS/FPTAN uses π to 600 bits, so
// reduction is exact for every |x| < 2^63, unlike Intel's 66-bit π) and then round the value
// once, with a sticky bit, to 64 bits in the current rounding mode. The result is therefore
// the correctly rounded one except when the true value lies within ~2^-250 (relative) of a
// rounding boundary. Results that are exactly representable are special-cased so that no PE
// is raised for them. Precision control does not apply (SDM vol. 1 §8.1.5.2).

import {
  BIAS, DE, EXP_MAX, PE, F80, FpEnv, IE, INDEFINITE, K_DENORMAL, K_INF, K_UNSUPPORTED, K_ZERO, POS_ONE, ZE,
  classify, inf, isNaNKind, mul, propagateNaN, roundPackBig, sigBig, zero, fromInt32,
} from "./float80.js";

const FB = 320;
const ONE = 1n << BigInt(FB);

/** Σ 1/((2k+1)·n^(2k+1)) · 2^bits, i.e. atanh(1/n) (alternating=false) or atan(1/n). */
function arcInv(n: bigint, bits: number, alternating: boolean): bigint {
  const n2 = n * n;
  let term = (1n << BigInt(bits)) / n;
  let sum = 0n;
  let k = 1n;
  let neg = false;
  while (term !== 0n) {
    const t = term / k;
    sum += neg ? -t : t;
    term /= n2;
    k += 2n;
    if (alternating) neg = !neg;
  }
  return sum;
}

const PI_BITS = 600;
/** π · 2^600 (Machin's formula, with guard bits). */
const PI_BIG = (16n * arcInv(5n, PI_BITS + 16, true) - 4n * arcInv(239n, PI_BITS + 16, true)) >> 16n;
const PI_FIX = PI_BIG >> BigInt(PI_BITS - FB);
/** The FPU's internal 66-bit π as an integer: π66 = PI66 · 2^−66. */
const PI66 = 0xc90fdaa22168c234cn;
/** ln 2 · 2^FB = 2·atanh(1/3). */
const LN2_FIX = (2n * arcInv(3n, FB + 16, false)) >> 16n;

// Truncating toward zero keeps series of negative terms from sticking at −1.
function mulFix(a: bigint, b: bigint): bigint {
  return (a * b) / ONE;
}

function sqrtFix(a: bigint): bigint {
  // isqrt(a · 2^FB)
  const n = a << BigInt(FB);
  if (n < 2n) return n;
  let x = 1n << BigInt((n.toString(2).length + 1) >> 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

const SQRT2_FIX = sqrtFix(2n * ONE);

/** e^y − 1 for |y| ≤ ~1 (fixed point). */
function expm1Fix(y: bigint): bigint {
  const R = 8;
  const yr = y >> BigInt(R);
  let term = yr;
  let sum = 0n;
  let k = 1n;
  while (term !== 0n) {
    sum += term;
    k += 1n;
    term = mulFix(term, yr) / k;
  }
  for (let i = 0; i < R; i++) sum = mulFix(sum, sum + 2n * ONE);
  return sum;
}

/** ln(1+x) via 2·atanh(x/(2+x)); x fixed, x > −1. */
function log1pFix(x: bigint): bigint {
  const z = (x << BigInt(FB)) / (2n * ONE + x);
  const z2 = mulFix(z, z);
  let term = z;
  let sum = 0n;
  let k = 1n;
  while (term !== 0n) {
    sum += term / k;
    term = mulFix(term, z2);
    k += 2n;
  }
  return 2n * sum;
}

/** atan(z) for 0 ≤ z ≤ 1 (fixed point). */
function atanFix(z: bigint): bigint {
  // Two halvings of the angle: atan z = 2·atan(z / (1 + sqrt(1 + z²))).
  for (let i = 0; i < 2; i++) z = (z << BigInt(FB)) / (ONE + sqrtFix(ONE + mulFix(z, z)));
  const z2 = mulFix(z, z);
  let term = z;
  let sum = 0n;
  let k = 1n;
  let neg = false;
  while (term !== 0n) {
    const t = term / k;
    sum += neg ? -t : t;
    term = mulFix(term, z2);
    k += 2n;
    neg = !neg;
  }
  return sum * 4n;
}

/** sin r and cos r for |r| ≤ π/4 (fixed point). */
function sinCosFix(r: bigint): [bigint, bigint] {
  const r2 = mulFix(r, r);
  let s = 0n;
  let term = r;
  let k = 1n;
  while (term !== 0n) {
    s += term;
    term = -mulFix(term, r2) / ((k + 1n) * (k + 2n));
    k += 2n;
  }
  let c = 0n;
  term = ONE;
  k = 0n;
  while (term !== 0n) {
    c += term;
    term = -mulFix(term, r2) / ((k + 1n) * (k + 2n));
    k += 2n;
  }
  return [s, c];
}

/** Exact finite value as a signed fixed-point number, or null if it has bits below 2^-FB. */
function toFix(f: F80): bigint {
  const k = (f.exp === 0 ? 1 : f.exp) - BIAS - 63 + FB;
  const m = sigBig(f);
  const v = k >= 0 ? m << BigInt(k) : m >> BigInt(-k);
  return f.sign ? -v : v;
}

/** Unbiased exponent of a finite non-zero value's leading bit. */
function ilogb(f: F80): number {
  const e = f.exp === 0 ? 1 : f.exp;
  const m = sigBig(f);
  return e - BIAS - (64 - m.toString(2).length);
}

/** Round a signed fixed-point value (inexact: sticky) to 64 bits. */
function packFix(env: FpEnv, v: bigint): F80 {
  const s = v < 0n ? 1 : 0;
  return roundPackBig(env, s, s ? -v : v, -FB, true, 64);
}

/**
 * Round s·(m·2^k − ε) (below = true) or s·(m·2^k + ε): a value within a hair of a number
 * we can represent exactly, so the direction of that hair decides directed rounding.
 */
function packNear(env: FpEnv, s: number, m: bigint, k: number, below: boolean): F80 {
  const mm = (m << 128n) - (below ? 1n : 0n);
  return roundPackBig(env, s, mm, k - 128, true, 64);
}

/** Common operand screening for one-operand functions: returns a result for special cases. */
function screen1(env: FpEnv, a: F80, ka: number): F80 | null {
  if (ka === K_UNSUPPORTED) {
    env.flags |= IE;
    return INDEFINITE;
  }
  if (isNaNKind(ka)) return propagateNaN(env, a, null);
  if (ka === K_DENORMAL) env.flags |= DE;
  return null;
}

const TINY = -150;

// ---------------------------------------------------------------------------------------
// F2XM1: 2^x − 1 (defined for −1 ≤ x ≤ +1).

export function f2xm1(env: FpEnv, a: F80): F80 {
  const ka = classify(a);
  const sp = screen1(env, a, ka);
  if (sp) return sp;
  if (ka === K_ZERO) return a;
  if (ka === K_INF) return a.sign ? new F80(1, BIAS, 0x80000000, 0) : a;
  if (a.exp === BIAS && a.hi === 0x80000000 && a.lo === 0) {
    // 2^1 − 1 = 1, 2^−1 − 1 = −0.5 exactly.
    return a.sign ? new F80(1, BIAS - 1, 0x80000000, 0) : POS_ONE;
  }
  const lg = ilogb(a);
  if (lg < TINY) {
    // x·ln2·(1 + x·ln2/2 + …): irrational, a sticky bit suffices.
    const m = sigBig(a) * LN2_FIX;
    return roundPackBig(env, a.sign, m, (a.exp === 0 ? 1 : a.exp) - BIAS - 63 - FB, true, 64);
  }
  if (lg < 0) return packFix(env, expm1Fix(mulFix(toFix(a), LN2_FIX)));
  // |x| > 1 is outside the architectural domain ("undefined"); the hardware we compare
  // against leaves the operand unchanged and reports PE, and so do we.
  env.flags |= PE;
  return a;
}

// ---------------------------------------------------------------------------------------
// FYL2X: y · log2(x); FYL2XP1: y · log2(x + 1).

/** log2 of a positive finite non-zero value: exact integer, or fixed-point (inexact). */
function log2Fix(a: F80): { v: bigint; exact: boolean } {
  return log2OfFix(sigBig(a), ilogb(a));
}

/** log2(m · 2^(e − bitlen(m) + 1)): m's leading bit has weight 2^e. */
function log2OfFix(m: bigint, e: number): { v: bigint; exact: boolean } {
  const bl = m.toString(2).length;
  // Normalized significand M in [1, 2) as fixed point.
  let M = bl - 1 > FB ? m >> BigInt(bl - 1 - FB) : m << BigInt(FB - (bl - 1));
  if (M === ONE && (m & ((1n << BigInt(bl - 1)) - 1n)) === 0n) return { v: BigInt(e) << BigInt(FB), exact: true };
  // Move M into [√½, √2) so ln M is small and the series converges fast.
  if (M > SQRT2_FIX) {
    M >>= 1n;
    e += 1;
  }
  const ln = log1pFix(M - ONE);
  return { v: (BigInt(e) << BigInt(FB)) + (ln << BigInt(FB)) / LN2_FIX, exact: false };
}

/** y · L where L = v·2^-FB; exact when L is exact (y·integer, rounded like FMUL). */
function mulByLog(env: FpEnv, y: F80, v: bigint, exact: boolean): F80 {
  if (exact) {
    const L = Number(v >> BigInt(FB));
    const prec = env.prec;
    env.prec = 64;
    const r = mul(env, y, fromInt32(L));
    env.prec = prec;
    return r;
  }
  const s = y.sign ^ (v < 0n ? 1 : 0);
  const mv = v < 0n ? -v : v;
  return roundPackBig(env, s, sigBig(y) * mv, (y.exp === 0 ? 1 : y.exp) - BIAS - 63 - FB, true, 64);
}

function screen2(env: FpEnv, x: F80, kx: number, y: F80, ky: number): F80 | null {
  if (kx === K_UNSUPPORTED || ky === K_UNSUPPORTED) {
    env.flags |= IE;
    return INDEFINITE;
  }
  if (isNaNKind(kx) || isNaNKind(ky)) return propagateNaN(env, x, y);
  return null;
}

function denormalCheck(env: FpEnv, kx: number, ky: number): void {
  if (kx === K_DENORMAL || ky === K_DENORMAL) env.flags |= DE;
}

/** FYL2X with x = ST(0), y = ST(1) (SDM vol. 2 FYL2X table 3-?). */
export function fyl2x(env: FpEnv, x: F80, y: F80): F80 {
  const kx = classify(x);
  const ky = classify(y);
  const sp = screen2(env, x, kx, y, ky);
  if (sp) return sp;
  if (x.sign && kx !== K_ZERO) {
    env.flags |= IE;
    return INDEFINITE;
  }
  if (kx === K_ZERO) {
    // log2(±0) = −∞: ZE (no DE for a denormal y, as on hardware).
    if (ky === K_ZERO) {
      env.flags |= IE;
      return INDEFINITE;
    }
    if (ky !== K_INF) env.flags |= ZE;
    return inf(y.sign ^ 1);
  }
  denormalCheck(env, kx, ky);
  if (kx === K_INF) {
    if (ky === K_ZERO) {
      env.flags |= IE;
      return INDEFINITE;
    }
    return inf(y.sign);
  }
  const L = log2Fix(x);
  if (ky === K_INF) {
    if (L.v === 0n) {
      env.flags |= IE;
      return INDEFINITE;
    }
    return inf(y.sign ^ (L.v < 0n ? 1 : 0));
  }
  if (ky === K_ZERO) return zero(y.sign ^ (L.v < 0n ? 1 : 0));
  if (L.v === 0n) return zero(y.sign);
  return mulByLog(env, y, L.v, L.exact);
}

/** FYL2XP1 with x = ST(0), y = ST(1). */
export function fyl2xp1(env: FpEnv, x: F80, y: F80): F80 {
  const kx = classify(x);
  const ky = classify(y);
  const sp = screen2(env, x, kx, y, ky);
  if (sp) return sp;
  denormalCheck(env, kx, ky);
  if (kx === K_ZERO) {
    if (ky === K_INF) {
      env.flags |= IE;
      return INDEFINITE;
    }
    return zero(x.sign ^ y.sign);
  }
  if (kx === K_INF) {
    if (x.sign || ky === K_ZERO) {
      env.flags |= IE;
      return INDEFINITE;
    }
    return inf(y.sign);
  }
  if (ky === K_INF) return inf(x.sign ^ y.sign);
  if (ky === K_ZERO) return zero(x.sign ^ y.sign);
  const lg = ilogb(x);
  if (lg < TINY) {
    // log2(1+x) ≈ x/ln2: irrational.
    const q = (sigBig(x) << BigInt(2 * FB)) / LN2_FIX;
    return roundPackBig(env, x.sign ^ y.sign, sigBig(y) * q, (x.exp || 1) + (y.exp || 1) - 2 * BIAS - 126 - FB, true, 64);
  }
  if (lg >= -1) {
    // Outside the architectural domain (|x| < 1 − √2/2): log2 of 1 + x directly.
    const xf = toFix(x) + ONE;
    if (xf <= 0n) {
      // x ≤ −1: undefined; the hardware we compare against returns x with PE.
      env.flags |= PE;
      return x;
    }
    const L = log2OfFix(xf, xf.toString(2).length - 1 - FB);
    // Even when 1 + x is a power of two (x = 1, −1/2, 3 …) the oracle reports the result
    // as inexact (PE, and UE for a tiny result): treat it as approximate, never exact.
    return mulByLog(env, y, L.v, false);
  }
  const ln = log1pFix(toFix(x));
  return mulByLog(env, y, (ln << BigInt(FB)) / LN2_FIX, false);
}

// ---------------------------------------------------------------------------------------
// FPATAN: atan2(y = ST(1), x = ST(0)).

export function fpatan(env: FpEnv, x: F80, y: F80): F80 {
  const kx = classify(x);
  const ky = classify(y);
  const sp = screen2(env, x, kx, y, ky);
  if (sp) return sp;
  denormalCheck(env, kx, ky);
  const s = y.sign;
  const piFrac = (num: bigint, den: bigint): F80 => packFix(env, ((s ? -PI_FIX : PI_FIX) * num) / den);
  if (ky === K_ZERO) {
    if (x.sign) return piFrac(1n, 1n);
    return zero(s);
  }
  if (ky === K_INF) {
    if (kx === K_INF) return x.sign ? piFrac(3n, 4n) : piFrac(1n, 4n);
    return piFrac(1n, 2n);
  }
  if (kx === K_ZERO) return piFrac(1n, 2n);
  if (kx === K_INF) return x.sign ? piFrac(1n, 1n) : zero(s);
  // Both finite non-zero.
  const my = sigBig(y);
  const mx = sigBig(x);
  const ly = ilogb(y);
  const lx = ilogb(x);
  const swap = ly > lx || (ly === lx && cmpNormalized(my, mx) > 0); // |y| > |x|
  if (!swap && ly - lx < TINY) {
    // atan(z) = z − z³/3 + …, z = |y/x| tiny.
    if (x.sign) return piFrac(1n, 1n);
    const q = (my << 256n) / mx;
    const k = (y.exp || 1) - (x.exp || 1) - 256;
    return packNear(env, s, q, k, true);
  }
  if (swap && lx - ly < TINY) {
    // ±π/2 ∓ tiny
    const q = (mx << BigInt(FB + 64)) / my;
    const k = (x.exp || 1) - (y.exp || 1);
    const z = k >= -64 ? q << BigInt(k + 64) >> 128n : 0n;
    const r = PI_FIX / 2n + (x.sign ? z : -z);
    return packFix(env, s ? -r : r);
  }
  // |y/x| or |x/y| in fixed point from the significands (the exponents may be tiny).
  const d = (y.exp || 1) - (x.exp || 1);
  let r: bigint;
  if (!swap) r = atanFix((my << BigInt(FB + d)) / mx);
  else r = PI_FIX / 2n - atanFix((mx << BigInt(FB - d)) / my);
  if (x.sign) r = PI_FIX - r;
  return packFix(env, s ? -r : r);
}

function cmpNormalized(a: bigint, b: bigint): number {
  const la = a.toString(2).length;
  const lb = b.toString(2).length;
  const na = a << BigInt(64 - la);
  const nb = b << BigInt(64 - lb);
  return na > nb ? 1 : na < nb ? -1 : 0;
}

// ---------------------------------------------------------------------------------------
// FSIN, FCOS, FSINCOS, FPTAN.

/** Result of a trigonometric instruction. `outOfRange` means C2 = 1 and no change. */
export class TrigResult {
  outOfRange = false;
  sin: F80 = INDEFINITE;
  cos: F80 = INDEFINITE;
  tan: F80 = INDEFINITE;
}

export const TRIG_SIN = 1;
export const TRIG_COS = 2;
export const TRIG_TAN = 4;

/**
 * Compute the requested functions of ST(0). Operand checks (IE for ∞/SNaN/unsupported, DE)
 * are raised into env; NaN operands give NaN results.
 */
export function trig(env: FpEnv, a: F80, which: number): TrigResult {
  const res = new TrigResult();
  const ka = classify(a);
  const sp = screen1(env, a, ka);
  if (sp) {
    res.sin = res.cos = res.tan = sp;
    return res;
  }
  if (ka === K_INF) {
    env.flags |= IE;
    return res;
  }
  if (a.exp >= BIAS + 63 && a.exp !== EXP_MAX) {
    res.outOfRange = true;
    return res;
  }
  if (ka === K_ZERO) {
    res.sin = a;
    res.tan = a;
    res.cos = POS_ONE;
    return res;
  }
  const lg = ilogb(a);
  const m = sigBig(a);
  const k = (a.exp || 1) - BIAS - 63;
  if (lg < TINY) {
    if (which & TRIG_SIN) res.sin = packNear(env, a.sign, m, k, true);
    if (which & TRIG_TAN) res.tan = packNear(env, a.sign, m, k, false);
    if (which & TRIG_COS) res.cos = packNear(env, 0, 1n, 0, true);
    return res;
  }
  // Reduction modulo π/2 as the hardware does it: with the 66-bit internal π
  // (0.C90FDAA22168C234C × 2^2, SDM vol. 1 §8.3.10), but exactly (x − q·π66/2 computed
  // without rounding). Large arguments therefore show the hardware's well-known deviation
  // from the true sine, and our results agree with it.
  // Common scale 2^−S: x = xb·2^−S, π66/2 = hp·2^−S.
  const S = Math.max(67, -k);
  const xb = m << BigInt(k + S);
  const hp = PI66 << BigInt(S - 67);
  const q = (xb + (hp >> 1n)) / hp;
  const r = (xb - q * hp) << BigInt(FB - S);
  const quad = Number(q & 3n);
  const [sr, cr] = sinCosFix(r);
  const sinTab = [sr, cr, -sr, -cr];
  const cosTab = [cr, -sr, -cr, sr];
  const sg = a.sign ? -1n : 1n;
  if (which & TRIG_SIN) res.sin = packFix(env, sg * sinTab[quad]);
  if (which & TRIG_COS) res.cos = packFix(env, cosTab[quad]);
  if (which & TRIG_TAN) {
    const t = quad & 1 ? -((cr << BigInt(FB)) / sr) : (sr << BigInt(FB)) / cr;
    res.tan = packFix(env, sg * t);
  }
  return res;
}

/** Exposed for tests: π rounded in the current rounding mode. */
export function piRounded(env: FpEnv): F80 {
  return packFix(env, PI_FIX);
}

/** Indices of the FLD constants that are not exact: D9 E9..ED. */
export const CONST_L2T = 0;
export const CONST_L2E = 1;
export const CONST_PI = 2;
export const CONST_LG2 = 3;
export const CONST_LN2 = 4;

/**
 * The five irrational load-constant values rounded in each rounding mode (index [rc][c]).
 * The 486 and later round their internal 66-bit constants per RC; rounding the exact value
 * gives the same results for these five (checked against hardware in fpu-native.test).
 */
export function roundedConstants(): F80[][] {
  const l2t = log2OfFix(10n, 3).v;
  const fixes = [l2t, (ONE << BigInt(FB)) / LN2_FIX, PI_FIX, (ONE << BigInt(FB)) / l2t, LN2_FIX];
  const out: F80[][] = [];
  for (let rc = 0; rc < 4; rc++) {
    const env = new FpEnv();
    env.rc = rc;
    out.push(fixes.map((v) => packFix(env, v)));
  }
  return out;
}
