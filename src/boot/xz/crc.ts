// CRC32 (IEEE 802.3, reflected polynomial 0xEDB88320) and CRC64 (ECMA-182, reflected
// polynomial 0xC96C5795D7870F42), the two integrity checks of the .xz format (xz file format
// spec §3.4 and §5.3.2). Table-driven, one byte per step. CRC64 is kept as two 32-bit halves
// so no BigInt is needed.

// Int32 bits throughout: uint32 values above 2^31 are doubles to V8.
const CRC32_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC32 of bytes[start, end). Pass a previous result as `crc` to continue a computation. */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length, crc = 0): number {
  let c = ~crc;
  for (let i = start; i < end; i++) c = CRC32_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

// CRC64 table: entry n as [lo, hi] at 2n, 2n+1.
const CRC64_TABLE = (() => {
  const t = new Uint32Array(512);
  const polyLo = 0xd7870f42, polyHi = 0xc96c5795;
  for (let n = 0; n < 256; n++) {
    let lo = n, hi = 0;
    for (let k = 0; k < 8; k++) {
      const bit = lo & 1;
      lo = ((lo >>> 1) | (hi << 31)) >>> 0;
      hi = hi >>> 1;
      if (bit) { lo = (lo ^ polyLo) >>> 0; hi = (hi ^ polyHi) >>> 0; }
    }
    t[2 * n] = lo;
    t[2 * n + 1] = hi;
  }
  return t;
})();

/** CRC64 of bytes[start, end) as 8 little-endian bytes, the order .xz stores it in. */
export function crc64(bytes: Uint8Array, start = 0, end = bytes.length): Uint8Array {
  let lo = 0xffffffff, hi = 0xffffffff;
  for (let i = start; i < end; i++) {
    const idx = ((lo ^ bytes[i]) & 0xff) << 1;
    lo = (((lo >>> 8) | (hi << 24)) ^ CRC64_TABLE[idx]) >>> 0;
    hi = ((hi >>> 8) ^ CRC64_TABLE[idx + 1]) >>> 0;
  }
  lo = ~lo >>> 0;
  hi = ~hi >>> 0;
  const out = new Uint8Array(8);
  const v = new DataView(out.buffer);
  v.setUint32(0, lo, true);
  v.setUint32(4, hi, true);
  return out;
}
