// gzip (RFC 1952) and DEFLATE (RFC 1951) decompression, synchronous and host-independent:
// the Linux loader unpacks gzip kernel payloads with it in Node and in a browser alike
// (DecompressionStream is async, node:zlib is Node's). Plain canonical-Huffman decoding; a
// kernel payload of a few MiB decodes in well under a second.

import { BootError } from "./errors.js";
import { crc32 } from "./xz/crc.js";

/** Length and distance bases and extra bits (RFC 1951 §3.2.5). */
const LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
  4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/** The order code-length code lengths are sent in (§3.2.7). */
const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

function corrupt(what: string): BootError {
  return new BootError("E_PAYLOAD_FORMAT", `gzip payload does not decompress: ${what}`);
}

/** A canonical Huffman code: symbols sorted by code, and the count of codes of each length. */
class Huffman {
  readonly counts = new Uint16Array(16);
  readonly symbols: Uint16Array;
  constructor(lengths: ArrayLike<number>) {
    this.symbols = new Uint16Array(lengths.length);
    for (let i = 0; i < lengths.length; i++) this.counts[lengths[i]]++;
    this.counts[0] = 0;
    const offs = new Uint16Array(16);
    for (let l = 1; l < 16; l++) offs[l] = offs[l - 1] + this.counts[l - 1];
    for (let i = 0; i < lengths.length; i++) if (lengths[i] !== 0) this.symbols[offs[lengths[i]]++] = i;
  }
}

class BitReader {
  pos: number;
  private bitBuf = 0;
  private bitCount = 0;
  constructor(readonly data: Uint8Array, pos: number) { this.pos = pos; }
  bits(n: number): number {
    while (this.bitCount < n) {
      if (this.pos >= this.data.length) throw corrupt("unexpected end of data");
      this.bitBuf |= this.data[this.pos++] << this.bitCount;
      this.bitCount += 8;
    }
    const v = this.bitBuf & ((1 << n) - 1);
    this.bitBuf >>>= n;
    this.bitCount -= n;
    return v;
  }
  /** Drop the bits left in the current byte (stored blocks start byte-aligned). */
  align(): void { this.bitBuf = 0; this.bitCount = 0; }
  decode(h: Huffman): number {
    // Codes are sent most significant bit first: walk the lengths one bit at a time.
    let code = 0, first = 0, index = 0;
    for (let len = 1; len < 16; len++) {
      code |= this.bits(1);
      const count = h.counts[len];
      if (code - first < count) return h.symbols[index + code - first];
      index += count;
      first = (first + count) << 1;
      code <<= 1;
    }
    throw corrupt("invalid Huffman code");
  }
}

class Output {
  buf: Uint8Array;
  len = 0;
  constructor(size: number) { this.buf = new Uint8Array(Math.max(size, 1024)); }
  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
}

/** The fixed codes (§3.2.6), built per block: cheap next to the block itself. */
function fixedCodes(): [Huffman, Huffman] {
  const l = new Uint8Array(288);
  l.fill(8, 0, 144); l.fill(9, 144, 256); l.fill(7, 256, 280); l.fill(8, 280, 288);
  return [new Huffman(l), new Huffman(new Uint8Array(30).fill(5))];
}

function dynamicCodes(r: BitReader): [Huffman, Huffman] {
  const hlit = r.bits(5) + 257, hdist = r.bits(5) + 1, hclen = r.bits(4) + 4;
  const cl = new Uint8Array(19);
  for (let i = 0; i < hclen; i++) cl[CL_ORDER[i]] = r.bits(3);
  const clCode = new Huffman(cl);
  const lengths = new Uint8Array(hlit + hdist);
  for (let i = 0; i < lengths.length;) {
    const sym = r.decode(clCode);
    if (sym < 16) { lengths[i++] = sym; continue; }
    let rep: number, val = 0;
    if (sym === 16) {
      if (i === 0) throw corrupt("repeat with no previous length");
      val = lengths[i - 1]; rep = 3 + r.bits(2);
    } else if (sym === 17) rep = 3 + r.bits(3);
    else rep = 11 + r.bits(7);
    if (i + rep > lengths.length) throw corrupt("code lengths overrun");
    lengths.fill(val, i, i + rep);
    i += rep;
  }
  return [new Huffman(lengths.subarray(0, hlit)), new Huffman(lengths.subarray(hlit))];
}

/** Decompress a raw DEFLATE stream starting at `pos`; returns the bytes and where the stream ended. */
export function inflateRaw(data: Uint8Array, pos = 0, sizeHint = data.length * 4): { out: Uint8Array; end: number } {
  const r = new BitReader(data, pos);
  const o = new Output(sizeHint);
  for (;;) {
    const last = r.bits(1);
    const type = r.bits(2);
    if (type === 0) {
      r.align();
      if (r.pos + 4 > data.length) throw corrupt("unexpected end of data");
      const len = data[r.pos] | (data[r.pos + 1] << 8);
      const nlen = data[r.pos + 2] | (data[r.pos + 3] << 8);
      if ((len ^ 0xffff) !== nlen) throw corrupt("stored block length check failed");
      r.pos += 4;
      if (r.pos + len > data.length) throw corrupt("unexpected end of data");
      o.ensure(len);
      o.buf.set(data.subarray(r.pos, r.pos + len), o.len);
      o.len += len;
      r.pos += len;
    } else if (type === 1 || type === 2) {
      const [lit, dist] = type === 1 ? fixedCodes() : dynamicCodes(r);
      for (;;) {
        const sym = r.decode(lit);
        if (sym < 256) { o.ensure(1); o.buf[o.len++] = sym; continue; }
        if (sym === 256) break;
        const li = sym - 257;
        if (li >= 29) throw corrupt("invalid length symbol");
        const len = LEN_BASE[li] + r.bits(LEN_EXTRA[li]);
        const di = r.decode(dist);
        if (di >= 30) throw corrupt("invalid distance symbol");
        const d = DIST_BASE[di] + r.bits(DIST_EXTRA[di]);
        if (d > o.len) throw corrupt("distance before the start of the output");
        o.ensure(len);
        const b = o.buf;
        for (let k = 0; k < len; k++, o.len++) b[o.len] = b[o.len - d];
      }
    } else throw corrupt("invalid block type 3");
    if (last) return { out: o.buf.subarray(0, o.len), end: r.pos };
  }
}

/** Decompress one gzip member (RFC 1952), checking its CRC-32 and length. */
export function gunzip(data: Uint8Array): Uint8Array {
  if (data.length < 18 || data[0] !== 0x1f || data[1] !== 0x8b) throw corrupt("incorrect header check");
  if (data[2] !== 8) throw corrupt(`unknown compression method ${data[2]}`);
  const flags = data[3];
  let p = 10;
  if (flags & 4) p += 2 + (data[p] | (data[p + 1] << 8));          // FEXTRA
  if (flags & 8) { while (p < data.length && data[p] !== 0) p++; p++; }  // FNAME
  if (flags & 16) { while (p < data.length && data[p] !== 0) p++; p++; } // FCOMMENT
  if (flags & 2) p += 2;                                            // FHCRC
  const isize = data.length >= 4 ? (data[data.length - 4] | (data[data.length - 3] << 8) | (data[data.length - 2] << 16) | (data[data.length - 1] << 24)) >>> 0 : 0;
  const { out, end } = inflateRaw(data, p, isize || data.length * 4);
  if (end + 8 > data.length) throw corrupt("unexpected end of data");
  const v = new DataView(data.buffer, data.byteOffset + end, 8);
  if (v.getUint32(0, true) !== crc32(out, 0, out.length) >>> 0) throw corrupt("CRC-32 does not match");
  if (v.getUint32(4, true) !== (out.length >>> 0)) throw corrupt("length does not match");
  return out;
}
