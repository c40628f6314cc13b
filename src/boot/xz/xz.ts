// The .xz container (The .xz File Format, version 1.2.x): stream header and footer, blocks
// (block header with its filter chain, compressed data, padding, check), the index, stream
// padding and concatenated streams. Filters: LZMA2, x86 BCJ, delta. Checks: none, CRC32,
// CRC64, SHA-256. Every CRC in the container is verified, and the index is checked against
// the blocks actually decoded.

import { BootError } from "../errors.js";
import { crc32, crc64 } from "./crc.js";
import { sha256 } from "../hash/sha256.js";
import { bcjX86Decode, deltaDecode } from "./filters.js";
import { Lzma2Decoder, lzma2DictSize } from "./lzma2.js";
import { OutBuffer } from "./out-buffer.js";

export interface XzOptions {
  /** Stop after the first stream and ignore what follows (the Linux payload appends its size). */
  singleStream?: boolean;
  /** Expected uncompressed size, to allocate the output once. */
  sizeHint?: number;
  /** Refuse to produce more than this many bytes (default 1 GiB). */
  maxOutput?: number;
}

export interface XzResult {
  data: Uint8Array;
  /** Input bytes consumed (the whole input unless singleStream stopped early). */
  consumed: number;
  /** Check type of the (last) stream: 0 none, 1 CRC32, 4 CRC64, 10 SHA-256. */
  check: number;
}

const HEADER_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const FOOTER_MAGIC = [0x59, 0x5a];
const CHECK_SIZE = [0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64];
const CHECK_NAMES: Record<number, string> = { 0: "none", 1: "CRC32", 4: "CRC64", 10: "SHA-256" };
const FILTER_LZMA2 = 0x21, FILTER_X86 = 0x04, FILTER_DELTA = 0x03;
const FILTER_NAMES: Record<number, string> = {
  0x03: "delta", 0x04: "x86 BCJ", 0x05: "PowerPC BCJ", 0x06: "IA-64 BCJ", 0x07: "ARM BCJ",
  0x08: "ARM-Thumb BCJ", 0x09: "SPARC BCJ", 0x0a: "ARM64 BCJ", 0x0b: "RISC-V BCJ", 0x21: "LZMA2",
};

function fail(msg: string): never {
  throw new BootError("E_XZ_FORMAT", msg);
}

/** Reads the input with bounds checks; every overrun is E_XZ_TRUNCATED. */
class Reader {
  constructor(readonly buf: Uint8Array, public pos: number) {}
  need(n: number, what: string): void {
    if (this.pos + n > this.buf.length) {
      throw new BootError("E_XZ_TRUNCATED", `the input ends inside the ${what} (offset ${this.pos}, need ${n} more bytes)`);
    }
  }
  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++];
  }
  u32(what: string): number {
    this.need(4, what);
    const b = this.buf, p = this.pos;
    this.pos += 4;
    return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
  }
  /** A variable-length integer (xz spec §1.2): 7 bits per byte, at most 9 bytes, minimal. */
  vli(what: string): number {
    let v = 0;
    for (let i = 0; i < 9; i++) {
      const b = this.u8(what);
      v += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) {
        if (i > 0 && b === 0) fail(`non-minimal variable-length integer in the ${what}`);
        if (v > Number.MAX_SAFE_INTEGER) throw new BootError("E_XZ_UNSUPPORTED", `a ${what} value above 2^53`);
        return v;
      }
    }
    fail(`variable-length integer longer than 9 bytes in the ${what}`);
  }
}

interface Filter { id: number; props: Uint8Array }

/** Decode a complete .xz file (or its first stream, with `singleStream`). */
export function xzDecompress(input: Uint8Array, opts: XzOptions = {}): Uint8Array {
  return xzDecode(input, opts).data;
}

export function xzDecode(input: Uint8Array, opts: XzOptions = {}): XzResult {
  const out = new OutBuffer(opts.sizeHint ?? input.length * 4, opts.maxOutput ?? 1 << 30);
  const lzma2 = new Lzma2Decoder();
  const r = new Reader(input, 0);
  let check = 0;
  for (;;) {
    check = decodeStream(r, out, lzma2);
    if (opts.singleStream) break;
    // Stream padding: NUL bytes in multiples of four, then EOF or another stream.
    const padStart = r.pos;
    while (r.pos < input.length && input[r.pos] === 0) r.pos++;
    if ((r.pos - padStart) % 4 !== 0) fail(`stream padding of ${r.pos - padStart} bytes is not a multiple of 4`);
    if (r.pos === input.length) break;
    if (input[r.pos] !== HEADER_MAGIC[0]) fail(`${input.length - r.pos} bytes of trailing data after the stream that are not another .xz stream`);
  }
  return { data: out.result(), consumed: r.pos, check };
}

function decodeStream(r: Reader, out: OutBuffer, lzma2: Lzma2Decoder): number {
  const streamStart = r.pos;
  const b = r.buf;
  // Stream header: magic, flags (0x00, check type), CRC32 of the flags.
  r.need(12, "stream header");
  for (let i = 0; i < 6; i++) {
    if (b[r.pos + i] !== HEADER_MAGIC[i]) fail("no .xz stream header magic (FD 37 7A 58 5A 00)");
  }
  r.pos += 6;
  const flags0 = b[r.pos], flags1 = b[r.pos + 1];
  if (crc32(b, r.pos, r.pos + 2) !== ((b[r.pos + 2] | (b[r.pos + 3] << 8) | (b[r.pos + 4] << 16) | (b[r.pos + 5] << 24)) >>> 0)) {
    throw new BootError("E_XZ_CHECK", "stream header CRC32 mismatch");
  }
  if (flags0 !== 0 || (flags1 & 0xf0) !== 0) throw new BootError("E_XZ_UNSUPPORTED", "stream flags use reserved bits (a newer .xz version?)");
  r.pos += 6;
  const checkType = flags1;
  const checkSize = CHECK_SIZE[checkType];
  if (!(checkType in CHECK_NAMES)) {
    throw new BootError("E_XZ_UNSUPPORTED", `check type ${checkType} is not supported (only none, CRC32, CRC64, SHA-256)`);
  }

  const records: { unpadded: number; uncompressed: number }[] = [];
  // Blocks until the index indicator (a 0x00 where a block header size would be).
  for (;;) {
    const blockStart = r.pos;
    const sizeByte = r.u8("block header");
    if (sizeByte === 0) break;
    const headerSize = (sizeByte + 1) * 4;
    r.pos = blockStart;
    r.need(headerSize, "block header");
    const hdrEnd = blockStart + headerSize - 4;
    if (crc32(b, blockStart, hdrEnd) !== ((b[hdrEnd] | (b[hdrEnd + 1] << 8) | (b[hdrEnd + 2] << 16) | (b[hdrEnd + 3] << 24)) >>> 0)) {
      throw new BootError("E_XZ_CHECK", `block header CRC32 mismatch at offset ${blockStart}`);
    }
    r.pos = blockStart + 1;
    const bflags = r.u8("block header");
    if (bflags & 0x3c) throw new BootError("E_XZ_UNSUPPORTED", "block flags use reserved bits");
    const nFilters = (bflags & 3) + 1;
    const declaredPacked = bflags & 0x40 ? r.vli("block header") : -1;
    const declaredUnpacked = bflags & 0x80 ? r.vli("block header") : -1;
    const filters: Filter[] = [];
    for (let i = 0; i < nFilters; i++) {
      const id = r.vli("block header");
      const propsSize = r.vli("block header");
      if (r.pos + propsSize > hdrEnd) fail("filter properties run past the block header");
      filters.push({ id, props: b.subarray(r.pos, r.pos + propsSize) });
      r.pos += propsSize;
    }
    if (r.pos > hdrEnd) fail("block header fields run past its declared size");
    for (let p = r.pos; p < hdrEnd; p++) if (b[p] !== 0) fail("non-zero block header padding");
    r.pos = hdrEnd + 4;
    validateFilters(filters);

    const outStart = out.len;
    if (declaredUnpacked >= 0) out.ensure(declaredUnpacked);
    const dataStart = r.pos;
    r.pos = lzma2.decode(b, dataStart, out);
    const packed = r.pos - dataStart;
    const unpacked = out.len - outStart;
    if (declaredPacked >= 0 && declaredPacked !== packed) {
      fail(`block compressed size is ${packed}, its header says ${declaredPacked}`);
    }
    if (declaredUnpacked >= 0 && declaredUnpacked !== unpacked) {
      fail(`block uncompressed size is ${unpacked}, its header says ${declaredUnpacked}`);
    }
    for (let i = filters.length - 2; i >= 0; i--) {
      const f = filters[i];
      if (f.id === FILTER_X86) {
        const offset = f.props.length === 4 ? (f.props[0] | (f.props[1] << 8) | (f.props[2] << 16) | (f.props[3] << 24)) >>> 0 : 0;
        bcjX86Decode(out.buf, outStart, out.len, offset);
      } else {
        deltaDecode(out.buf, outStart, out.len, f.props[0] + 1);
      }
    }
    // Block padding to a multiple of four, then the check.
    while ((r.pos - streamStart) % 4 !== 0) {
      if (r.u8("block padding") !== 0) fail("non-zero block padding");
    }
    r.need(checkSize, "block check");
    verifyCheck(checkType, out.buf, outStart, out.len, b.subarray(r.pos, r.pos + checkSize));
    r.pos += checkSize;
    records.push({ unpadded: headerSize + packed + checkSize, uncompressed: unpacked });
  }

  // Index: indicator (already read), record count, records, padding, CRC32.
  const indexStart = r.pos - 1;
  const count = r.vli("index");
  if (count !== records.length) fail(`the index lists ${count} blocks but the stream has ${records.length}`);
  for (const rec of records) {
    const unpadded = r.vli("index"), uncompressed = r.vli("index");
    if (unpadded !== rec.unpadded || uncompressed !== rec.uncompressed) fail("an index record does not match its block");
  }
  while ((r.pos - indexStart) % 4 !== 0) {
    if (r.u8("index padding") !== 0) fail("non-zero index padding");
  }
  const indexCrc = crc32(b, indexStart, r.pos);
  if (r.u32("index") !== indexCrc) throw new BootError("E_XZ_CHECK", "index CRC32 mismatch");
  const indexSize = r.pos - indexStart;

  // Stream footer: CRC32 of backward size + flags, backward size, flags, "YZ".
  r.need(12, "stream footer");
  const f = r.pos;
  const footerCrc = r.u32("stream footer");
  if (crc32(b, f + 4, f + 10) !== footerCrc) throw new BootError("E_XZ_CHECK", "stream footer CRC32 mismatch");
  const backward = (r.u32("stream footer") + 1) * 4;
  if (b[f + 8] !== flags0 || b[f + 9] !== flags1) fail("stream footer flags differ from the header's");
  if (b[f + 10] !== FOOTER_MAGIC[0] || b[f + 11] !== FOOTER_MAGIC[1]) fail("no stream footer magic (YZ)");
  if (backward !== indexSize) fail(`stream footer backward size ${backward} differs from the index size ${indexSize}`);
  r.pos = f + 12;
  return checkType;
}

function validateFilters(filters: Filter[]): void {
  for (let i = 0; i < filters.length; i++) {
    const f = filters[i];
    const last = i === filters.length - 1;
    const name = FILTER_NAMES[f.id] ?? `0x${f.id.toString(16)}`;
    if (last) {
      if (f.id !== FILTER_LZMA2) throw new BootError("E_XZ_UNSUPPORTED", `the last filter is ${name}; only LZMA2 is supported`);
      if (f.props.length !== 1) fail("LZMA2 filter properties must be one byte");
      lzma2DictSize(f.props[0]);
    } else if (f.id === FILTER_X86) {
      if (f.props.length !== 0 && f.props.length !== 4) fail("x86 BCJ properties must be 0 or 4 bytes");
    } else if (f.id === FILTER_DELTA) {
      if (f.props.length !== 1) fail("delta filter properties must be one byte");
    } else if (f.id === FILTER_LZMA2) {
      fail("LZMA2 is only allowed as the last filter");
    } else {
      throw new BootError("E_XZ_UNSUPPORTED", `filter ${name} is not supported (supported: LZMA2, x86 BCJ, delta)`);
    }
  }
}

function verifyCheck(type: number, buf: Uint8Array, start: number, end: number, stored: Uint8Array): void {
  let actual: Uint8Array;
  switch (type) {
    case 0:
      return;
    case 1: {
      const c = crc32(buf, start, end);
      actual = new Uint8Array([c & 0xff, (c >>> 8) & 0xff, (c >>> 16) & 0xff, c >>> 24]);
      break;
    }
    case 4:
      actual = crc64(buf, start, end);
      break;
    default:
      actual = sha256(buf.subarray(start, end));
      break;
  }
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== stored[i]) {
      throw new BootError("E_XZ_CHECK", `${CHECK_NAMES[type]} of the uncompressed block does not match (corrupt data)`);
    }
  }
}
