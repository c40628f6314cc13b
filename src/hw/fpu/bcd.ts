// Packed BCD integers for FBLD/FBSTP (Intel SDM vol. 1 §4.7 "BCD and packed BCD integers",
// figure 4-? "Packed BCD" and table 4-4; vol. 2 FBLD, FBSTP).
//
//  byte 9: sign in bit 7 (bits 6..0 ignored); bytes 8..0: 18 digits, two per byte, byte 0
//  holding the least significant pair (low nibble = lowest digit).

import { F80, FpEnv, IE, PE, IntResult, classify, fromInt, isNaNKind, K_INF, K_UNSUPPORTED, K_ZERO, roundToIntMag, zero } from "./float80.js";

/** Decode 10 bytes into an exact F80. Invalid digits (> 9) are taken at face value. */
export function bcdToF80(bytes: Uint8Array): F80 {
  let v = 0n;
  for (let i = 8; i >= 0; i--) {
    const b = bytes[i];
    v = v * 100n + BigInt((b >> 4) * 10 + (b & 15));
  }
  const s = bytes[9] >> 7;
  if (v === 0n) return zero(s);
  return fromInt(s, Number(v >> 32n), Number(v & 0xffffffffn));
}

/** The packed BCD indefinite: FFFF C000 0000 0000 0000 (SDM vol. 1 table 4-4). */
function bcdIndefinite(out: Uint8Array): void {
  out.fill(0);
  out[9] = 0xff;
  out[8] = 0xff;
  out[7] = 0xc0;
}

/**
 * Round per RC and encode into `out`. IE (masked response: the BCD indefinite) for NaN,
 * ∞, unsupported operands and magnitudes that do not fit in 18 digits; PE when inexact.
 */
export function f80ToBcd(env: FpEnv, f: F80, out: Uint8Array): void {
  const k = classify(f);
  out.fill(0);
  if (k === K_ZERO) {
    out[9] = f.sign << 7;
    return;
  }
  if (k === K_UNSUPPORTED || k === K_INF || isNaNKind(k)) {
    env.flags |= IE;
    bcdIndefinite(out);
    return;
  }
  const r = roundToIntMag(env.rc, f, new IntResult());
  const v = r.overflow ? 10n ** 18n : (BigInt(r.hi) << 32n) | BigInt(r.lo);
  if (v >= 10n ** 18n) {
    env.flags |= IE;
    bcdIndefinite(out);
    return;
  }
  if (r.inexact) {
    env.flags |= PE;
    env.up = r.up;
  }
  let t = v;
  for (let i = 0; i < 9; i++) {
    const d = Number(t % 100n);
    t /= 100n;
    out[i] = ((Math.floor(d / 10) << 4) | d % 10) & 0xff;
  }
  out[9] = f.sign << 7;
}
