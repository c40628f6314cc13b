// LZMA2 decoder (the only compression filter of the .xz format, filter ID 0x21) and the LZMA
// decoder inside it. LZMA: a binary range decoder over adaptive 11-bit probabilities, a
// 12-state machine that remembers whether the last symbols were literals, matches, rep
// matches or short reps, and four "rep" distances. LZMA2 wraps LZMA data in chunks of at most
// 2 MiB uncompressed / 64 KiB compressed, each LZMA chunk restarting the range coder, with
// control bytes that reset the dictionary, the state, or the lc/lp/pb properties.
// Written from the format description (LZMA SDK lzma-specification.txt, the xz file format
// spec and the LZMA2 chunk layout); the whole output buffer serves as the dictionary.

import { BootError } from "../errors.js";
import { OutBuffer } from "./out-buffer.js";

// Probability array layout (one Uint16Array for everything).
const STATES = 12;
const POS_STATES_MAX = 16;
const IS_MATCH = 0;
const IS_REP = IS_MATCH + STATES * POS_STATES_MAX;
const IS_REP_G0 = IS_REP + STATES;
const IS_REP_G1 = IS_REP_G0 + STATES;
const IS_REP_G2 = IS_REP_G1 + STATES;
const IS_REP0_LONG = IS_REP_G2 + STATES;
const POS_SLOT = IS_REP0_LONG + STATES * POS_STATES_MAX; // 4 length states × 64 slots
const SPEC_POS = POS_SLOT + 4 * 64;                      // distances with slots 4..13
const FULL_DISTANCES = 128;
const END_POS_MODEL_INDEX = 14;
const ALIGN = SPEC_POS + FULL_DISTANCES - END_POS_MODEL_INDEX;
const ALIGN_BITS = 4;
// A length coder: choice, choice2, low[16][8], mid[16][8], high[256].
const LEN_CHOICE = 0, LEN_CHOICE2 = 1, LEN_LOW = 2, LEN_MID = LEN_LOW + 16 * 8, LEN_HIGH = LEN_MID + 16 * 8;
const LEN_CODER_SIZE = LEN_HIGH + 256;
const MATCH_LEN = ALIGN + (1 << ALIGN_BITS);
const REP_LEN = MATCH_LEN + LEN_CODER_SIZE;
const LITERAL = REP_LEN + LEN_CODER_SIZE;
const LITERAL_CODER_SIZE = 0x300;
const PROBS_SIZE = LITERAL + (LITERAL_CODER_SIZE << 4); // lc + lp <= 4 in LZMA2

const PROB_INIT = 1024;
const MATCH_LEN_MIN = 2;

function dataError(msg: string): never {
  throw new BootError("E_XZ_DATA", `corrupt LZMA2 data: ${msg}`);
}
function truncated(): never {
  throw new BootError("E_XZ_TRUNCATED", "the input ends inside LZMA2 data");
}

/** Dictionary size encoded in the LZMA2 filter's one property byte (0..40). */
export function lzma2DictSize(prop: number): number {
  if (prop > 40) throw new BootError("E_XZ_FORMAT", `LZMA2 dictionary size property ${prop} is above 40`);
  if (prop === 40) return 0xffffffff;
  return (2 | (prop & 1)) * 2 ** ((prop >> 1) + 11);
}

/**
 * Decodes one LZMA2 stream (up to and including its 0x00 end byte) appending to an OutBuffer.
 * One instance can be reused for several blocks.
 */
export class Lzma2Decoder {
  private readonly probs = new Uint16Array(PROBS_SIZE);
  // Range decoder.
  private range = 0;
  private code = 0;
  private input: Uint8Array = new Uint8Array(0);
  private inPos = 0;
  // LZMA state carried across chunks.
  private state = 0;
  private rep0 = 0;
  private rep1 = 0;
  private rep2 = 0;
  private rep3 = 0;
  private lc = 0;
  private lp = 0;
  private pb = 0;

  /**
   * Decode the LZMA2 stream starting at input[pos] into `out` (appending at out.len).
   * Returns the input position just after the end-of-stream control byte.
   */
  decode(input: Uint8Array, pos: number, out: OutBuffer): number {
    const blockStart = out.len;
    let dictStart = blockStart;
    let needDictReset = true;
    let needProps = true;
    for (;;) {
      if (pos >= input.length) truncated();
      const control = input[pos++];
      if (control === 0x00) return pos;
      if (control >= 0xe0 || control === 0x01) {
        needProps = true;
        needDictReset = false;
        dictStart = out.len;
      } else if (needDictReset) {
        dataError(`the first chunk (control byte ${control}) does not reset the dictionary`);
      }
      if (control >= 0x80) {
        if (pos + 4 > input.length) truncated();
        const unpacked = ((control & 0x1f) << 16) + (input[pos] << 8) + input[pos + 1] + 1;
        const packed = (input[pos + 2] << 8) + input[pos + 3] + 1;
        pos += 4;
        if (control >= 0xc0) {
          if (pos >= input.length) truncated();
          this.setProps(input[pos++]);
          needProps = false;
          this.resetState();
        } else if (needProps) {
          dataError("an LZMA chunk without properties follows a dictionary reset");
        } else if (control >= 0xa0) {
          this.resetState();
        }
        if (pos + packed > input.length) truncated();
        out.ensure(unpacked);
        this.lzmaChunk(input, pos, packed, out.buf, out.len, out.len + unpacked, dictStart);
        out.len += unpacked;
        pos += packed;
      } else {
        if (control > 0x02) dataError(`invalid control byte 0x${control.toString(16)}`);
        if (pos + 2 > input.length) truncated();
        const size = (input[pos] << 8) + input[pos + 1] + 1;
        pos += 2;
        if (pos + size > input.length) truncated();
        out.ensure(size);
        out.buf.set(input.subarray(pos, pos + size), out.len);
        out.len += size;
        pos += size;
      }
    }
  }

  private setProps(b: number): void {
    if (b >= 9 * 5 * 5) dataError(`LZMA properties byte ${b} is out of range`);
    this.lc = b % 9;
    b = (b / 9) | 0;
    this.lp = b % 5;
    this.pb = (b / 5) | 0;
    if (this.lc + this.lp > 4) dataError(`lc + lp = ${this.lc + this.lp} exceeds 4`);
  }

  private resetState(): void {
    this.probs.fill(PROB_INIT);
    this.state = 0;
    this.rep0 = this.rep1 = this.rep2 = this.rep3 = 0;
  }

  // --- Range decoder ---------------------------------------------------------------

  // The range coder's `range` and `code` are unsigned 32-bit values kept as their int32 bits
  // (compared through `>>> 0`): as numbers above 2^31 they were doubles to V8 (the loader's
  // unpacking of Debian's 686 kernel, with the changes to the match copy, the CRC and
  // PhysicalMemory.writeBytes: 1.1 → 0.73 s).
  private bit(i: number): number {
    const p = this.probs[i];
    const bound = Math.imul(this.range >>> 11, p);
    let b: number;
    if ((this.code >>> 0) < (bound >>> 0)) {
      this.range = bound;
      this.probs[i] = p + ((2048 - p) >> 5);
      b = 0;
    } else {
      this.range = (this.range - bound) | 0;
      this.code = (this.code - bound) | 0;
      this.probs[i] = p - (p >> 5);
      b = 1;
    }
    if ((this.range >>> 0) < 0x1000000) {
      this.range <<= 8;
      this.code = (this.code << 8) | this.input[this.inPos++];
    }
    return b;
  }

  /** A bit tree of `n` bits at probs[base + 1 ..], most significant bit first. */
  private tree(base: number, n: number): number {
    let m = 1;
    for (let i = 0; i < n; i++) m = (m << 1) | this.bit(base + m);
    return m - (1 << n);
  }

  /** A bit tree of `n` bits, least significant bit first. */
  private reverseTree(base: number, n: number): number {
    let m = 1, r = 0;
    for (let i = 0; i < n; i++) {
      const b = this.bit(base + m);
      m = (m << 1) | b;
      r |= b << i;
    }
    return r;
  }

  /** `n` bits with fixed probability 1/2. */
  private direct(n: number): number {
    let r = 0;
    for (let i = 0; i < n; i++) {
      this.range = this.range >>> 1;
      let b = 0;
      if ((this.code >>> 0) >= (this.range >>> 0)) {
        this.code = (this.code - this.range) | 0;
        b = 1;
      }
      r = (r << 1) | b;
      if ((this.range >>> 0) < 0x1000000) {
        this.range <<= 8;
        this.code = (this.code << 8) | this.input[this.inPos++];
      }
    }
    return r >>> 0;
  }

  private length(base: number, posState: number): number {
    if (!this.bit(base + LEN_CHOICE)) return MATCH_LEN_MIN + this.tree(base + LEN_LOW + (posState << 3), 3);
    if (!this.bit(base + LEN_CHOICE2)) return MATCH_LEN_MIN + 8 + this.tree(base + LEN_MID + (posState << 3), 3);
    return MATCH_LEN_MIN + 16 + this.tree(base + LEN_HIGH, 8);
  }

  /** Distance - 1 of a new match of length `len` (0xFFFFFFFF is the end marker). */
  private distance(len: number): number {
    const lenState = len < 6 ? len - MATCH_LEN_MIN : 3;
    const slot = this.tree(POS_SLOT + (lenState << 6), 6);
    if (slot < 4) return slot;
    const n = (slot >> 1) - 1;
    const base = ((2 | (slot & 1)) << n) >>> 0;
    if (slot < END_POS_MODEL_INDEX) return base + this.reverseTree(SPEC_POS + base - slot - 1, n);
    return (base + ((this.direct(n - ALIGN_BITS) << ALIGN_BITS) >>> 0) + this.reverseTree(ALIGN, ALIGN_BITS)) >>> 0;
  }

  // --- One LZMA chunk ----------------------------------------------------------------

  private lzmaChunk(input: Uint8Array, inPos: number, packed: number, out: Uint8Array,
    pos: number, end: number, dictStart: number): void {
    if (input[inPos] !== 0) dataError("range coder data does not start with a zero byte");
    this.input = input;
    this.code = (input[inPos + 1] << 24) | (input[inPos + 2] << 16) | (input[inPos + 3] << 8) | input[inPos + 4];
    this.range = -1; // 0xFFFFFFFF
    this.inPos = inPos + 5;
    const lc = this.lc, lpMask = (1 << this.lp) - 1, pbMask = (1 << this.pb) - 1;
    let state = this.state, rep0 = this.rep0, rep1 = this.rep1, rep2 = this.rep2, rep3 = this.rep3;
    while (pos < end) {
      const rel = pos - dictStart;
      const posState = rel & pbMask;
      if (!this.bit(IS_MATCH + (state << 4) + posState)) {
        const prev = rel > 0 ? out[pos - 1] : 0;
        const base = LITERAL + LITERAL_CODER_SIZE * (((rel & lpMask) << lc) + (prev >> (8 - lc)));
        let sym = 1;
        if (state >= 7) {
          // Matched literal: the byte at rep0 steers the first bits until they differ.
          let matchByte = out[pos - rep0 - 1];
          do {
            const matchBit = (matchByte >> 7) & 1;
            matchByte <<= 1;
            const b = this.bit(base + ((1 + matchBit) << 8) + sym);
            sym = (sym << 1) | b;
            if (matchBit !== b) break;
          } while (sym < 0x100);
        }
        while (sym < 0x100) sym = (sym << 1) | this.bit(base + sym);
        out[pos++] = sym;
        state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
        continue;
      }
      let len: number;
      if (this.bit(IS_REP + state)) {
        if (rel === 0) dataError("a rep match at the start of the dictionary");
        if (!this.bit(IS_REP_G0 + state)) {
          if (!this.bit(IS_REP0_LONG + (state << 4) + posState)) {
            state = state < 7 ? 9 : 11;
            out[pos] = out[pos - rep0 - 1];
            pos++;
            continue;
          }
        } else {
          let dist: number;
          if (!this.bit(IS_REP_G1 + state)) {
            dist = rep1;
          } else {
            if (!this.bit(IS_REP_G2 + state)) {
              dist = rep2;
            } else {
              dist = rep3;
              rep3 = rep2;
            }
            rep2 = rep1;
          }
          rep1 = rep0;
          rep0 = dist;
        }
        len = this.length(REP_LEN, posState);
        state = state < 7 ? 8 : 11;
      } else {
        rep3 = rep2;
        rep2 = rep1;
        rep1 = rep0;
        len = this.length(MATCH_LEN, posState);
        state = state < 7 ? 7 : 10;
        rep0 = this.distance(len);
        if (rep0 === 0xffffffff) dataError("an end-of-payload marker inside an LZMA2 chunk");
      }
      if (rep0 >= rel) dataError(`match distance ${rep0 + 1} reaches before the dictionary start (${rel} bytes available)`);
      if (pos + len > end) dataError("a match runs past the end of its chunk");
      // A run of one byte (distance 1: a kernel's zero padding) is a fill; a long match that
      // does not overlap its own output, a copy; the rest byte by byte, as the format defines.
      const stop = pos + len;
      if (rep0 === 0) {
        out.fill(out[pos - 1], pos, stop);
        pos = stop;
      } else if (len >= 16 && rep0 >= len) {
        out.copyWithin(pos, pos - rep0 - 1, stop - rep0 - 1);
        pos = stop;
      } else {
        let src = pos - rep0 - 1;
        while (pos < stop) out[pos++] = out[src++];
      }
    }
    this.state = state;
    this.rep0 = rep0;
    this.rep1 = rep1;
    this.rep2 = rep2;
    this.rep3 = rep3;
    if (this.inPos !== inPos + packed) {
      dataError(`an LZMA chunk used ${this.inPos - inPos} bytes of input but declared ${packed}`);
    }
    if (this.code !== 0) dataError("the range coder did not finish cleanly at the end of an LZMA chunk");
  }
}
