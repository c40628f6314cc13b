// FPREM and FPREM1: partial remainder (Intel SDM vol. 2 FPREM, FPREM1; vol. 1 §8.3.10).
//
// The remainder is exact. When the exponent difference d is 64 or more the instruction does
// only a partial reduction and sets C2 = 1 so software loops. The SDM leaves the amount
// "implementation dependent, between 32 and 63"; we reduce by N = 32 + ((d − 64) mod 32)
// bits, which reproduces the partial results of the hardware we compare against.

import {
  DE, F80, FpEnv, IE, INDEFINITE, K_DENORMAL, K_INF, K_UNSUPPORTED, K_ZERO, classify, isNaNKind,
  propagateNaN, roundPackBig, sigBig, BIAS,
} from "./float80.js";

export class RemainderResult {
  value: F80 = INDEFINITE;
  /** C2: the reduction is incomplete. */
  incomplete = false;
  /** Low three bits of the quotient (C0 = bit 2, C3 = bit 1, C1 = bit 0). */
  quotient = 0;
  /**
   * False when the result is a NaN (a NaN operand or an invalid operation): there is no
   * quotient, and the hardware leaves C0 and C3 as they were (C1 = 0, C2 = 0).
   */
  valid = true;
}

/** The leading-bit exponent of a finite non-zero value. */
function lead(f: F80): number {
  const m = sigBig(f);
  return (f.exp || 1) - BIAS - 64 + m.toString(2).length;
}

export function fprem(env: FpEnv, a: F80, b: F80, ieee: boolean): RemainderResult {
  const res = new RemainderResult();
  const ka = classify(a);
  const kb = classify(b);
  res.valid = false;
  if (ka === K_UNSUPPORTED || kb === K_UNSUPPORTED) {
    env.flags |= IE;
    return res;
  }
  if (isNaNKind(ka) || isNaNKind(kb)) {
    res.value = propagateNaN(env, a, b);
    return res;
  }
  if (ka === K_INF || kb === K_ZERO) {
    env.flags |= IE;
    return res;
  }
  res.valid = true;
  if (ka === K_DENORMAL || kb === K_DENORMAL) env.flags |= DE;
  if (ka === K_ZERO) {
    res.value = a;
    return res;
  }
  if (kb === K_INF) {
    // The remainder is ST(0) itself, but it still goes through the rounder: a denormal
    // ST(0) raises an unmasked UE and is delivered with its exponent wrapped, as on hardware.
    res.value = ka === K_DENORMAL ? roundPackBig(env, a.sign, sigBig(a), 1 - BIAS - 63, false, 64) : a;
    return res;
  }
  const ma = sigBig(a);
  const mb = sigBig(b);
  const ka2 = (a.exp || 1) - BIAS - 63;
  const kb2 = (b.exp || 1) - BIAS - 63;
  const d = lead(a) - lead(b);
  let q: bigint;
  let r: bigint;
  let scale: number;
  if (d >= 64) {
    // Partial: divide by b·2^(d − n), truncating; the exponent drops by about n.
    const n = 32 + ((d - 64) & 31);
    const shift = ka2 - kb2 - (d - n);
    // a = ma·2^ka2, b' = mb·2^(kb2 + d − n); compute at scale 2^(kb2 + d − n)
    const A = shift >= 0 ? ma << BigInt(shift) : ma;
    const Bp = shift >= 0 ? mb : mb << BigInt(-shift);
    scale = shift >= 0 ? kb2 + d - n : ka2;
    q = A / Bp;
    r = A - q * Bp;
    res.incomplete = true;
  } else {
    let A: bigint;
    let Bp: bigint;
    if (ka2 >= kb2) {
      A = ma << BigInt(ka2 - kb2);
      Bp = mb;
      scale = kb2;
    } else {
      A = ma;
      Bp = mb << BigInt(kb2 - ka2);
      scale = ka2;
    }
    q = A / Bp;
    r = A - q * Bp;
    if (ieee) {
      // Round the quotient to nearest even.
      const twice = 2n * r;
      if (twice > Bp || (twice === Bp && (q & 1n) === 1n)) {
        q += 1n;
        r -= Bp;
      }
    }
  }
  res.quotient = Number(q & 7n);
  let sign = a.sign;
  if (r < 0n) {
    r = -r;
    sign ^= 1;
  }
  res.value = roundPackBig(env, sign, r, scale, false, 64);
  return res;
}
