// 64-bit arithmetic on (lo, hi) int32 pairs without BigInt: sums, 128-bit products in
// 16-bit limbs (every partial product is exact in a double) and 128-by-64 division by
// shift and subtract. Results go to a caller-owned Int32Array.

const TWO32 = 0x1_0000_0000;

/** out[0..3] = the unsigned 128-bit product of (aHi:aLo) and (bHi:bLo), low word first. */
// Limb scratch: only ever used within one call, so machines can share it.
const A = new Float64Array(4), B = new Float64Array(4), R = new Float64Array(8);

export function mulU64(aLo: number, aHi: number, bLo: number, bHi: number, out: Int32Array): void {
  const a = A, b = B, r = R;
  a[0] = aLo & 0xffff; a[1] = aLo >>> 16; a[2] = aHi & 0xffff; a[3] = aHi >>> 16;
  b[0] = bLo & 0xffff; b[1] = bLo >>> 16; b[2] = bHi & 0xffff; b[3] = bHi >>> 16;
  r.fill(0);
  for (let x = 0; x < 4; x++) {
    let carry = 0;
    for (let y = 0; y < 4; y++) {
      const t = a[x] * b[y] + r[x + y] + carry;
      r[x + y] = t % 65536;
      carry = Math.floor(t / 65536);
    }
    r[x + 4] += carry;
  }
  for (let k = 0; k < 4; k++) out[k] = r[2 * k] | (r[2 * k + 1] << 16);
}

/** out[0..3] = the signed 128-bit product. */
export function mulS64(aLo: number, aHi: number, bLo: number, bHi: number, out: Int32Array): void {
  mulU64(aLo, aHi, bLo, bHi, out);
  // Signed correction of the high 64 bits: subtract b if a < 0, a if b < 0 (mod 2^64).
  if (aHi < 0) sub64Into(out, bLo, bHi);
  if (bHi < 0) sub64Into(out, aLo, aHi);
}

function sub64Into(out: Int32Array, lo: number, hi: number): void {
  const l = (out[2] >>> 0) - (lo >>> 0);
  out[2] = l | 0;
  out[3] = ((out[3] >>> 0) - (hi >>> 0) - (l < 0 ? 1 : 0)) | 0;
}

/**
 * Unsigned (n3:n2:n1:n0) / (dHi:dLo): quotient to out[0..1], remainder to out[2..3]. Returns
 * false if the quotient does not fit in 64 bits (or the divisor is zero): #DE.
 */
export function divU128(n0: number, n1: number, n2: number, n3: number, dLo: number, dHi: number, out: Int32Array): boolean {
  const d = (dHi >>> 0) * TWO32 + (dLo >>> 0);
  if (d === 0) return false;
  // The quotient fits iff the high 64 bits are below the divisor.
  if (cmpU64(n2, n3, dLo, dHi) >= 0) return false;
  let rLo = n2, rHi = n3;
  let qLo = n0, qHi = n1;
  for (let k = 0; k < 64; k++) {
    // (r:q) <<= 1, the bit shifted out of r decides the subtraction together with the compare.
    const top = rHi < 0;
    rHi = (rHi << 1) | (rLo >>> 31);
    rLo = (rLo << 1) | (qHi >>> 31);
    qHi = (qHi << 1) | (qLo >>> 31);
    qLo <<= 1;
    if (top || cmpU64(rLo, rHi, dLo, dHi) >= 0) {
      const l = (rLo >>> 0) - (dLo >>> 0);
      rHi = ((rHi >>> 0) - (dHi >>> 0) - (l < 0 ? 1 : 0)) | 0;
      rLo = l | 0;
      qLo |= 1;
    }
  }
  out[0] = qLo; out[1] = qHi; out[2] = rLo; out[3] = rHi;
  return true;
}

function cmpU64(aLo: number, aHi: number, bLo: number, bHi: number): number {
  const h = (aHi >>> 0) - (bHi >>> 0);
  if (h !== 0) return h;
  return (aLo >>> 0) - (bLo >>> 0);
}

/** Two's-complement negation of (hi:lo) into [lo, hi] of out at offset k. */
export function neg64(lo: number, hi: number, out: Int32Array, k: number): void {
  const nl = (~lo + 1) | 0;
  out[k] = nl;
  out[k + 1] = (~hi + (nl === 0 ? 1 : 0)) | 0;
}
