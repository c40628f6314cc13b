// Test helpers for the loader tests: a RAM-backed GuestMemoryWriter, minimal ELF32 and ELF64 builders,
// and a wrapper around the host's xz/gzip tools. Not used by the loaders themselves.

import { execFileSync } from "node:child_process";
import type { GuestMemoryWriter } from "../../src/boot/memory.js";

export class TestRam implements GuestMemoryWriter {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  constructor(readonly ramBytes: number) {
    this.bytes = new Uint8Array(ramBytes);
    this.view = new DataView(this.bytes.buffer);
  }
  write(addr: number, data: Uint8Array): void {
    if (addr < 0 || addr + data.length > this.ramBytes) throw new RangeError(`write outside RAM at 0x${addr.toString(16)}`);
    this.bytes.set(data, addr);
  }
  u8(a: number): number { return this.bytes[a]; }
  u16(a: number): number { return this.view.getUint16(a, true); }
  u32(a: number): number { return this.view.getUint32(a, true); }
  u64(a: number): number { return this.view.getUint32(a, true) + this.view.getUint32(a + 4, true) * 0x1_0000_0000; }
  cstr(a: number): string {
    let e = a;
    while (this.bytes[e] !== 0) e++;
    return new TextDecoder().decode(this.bytes.subarray(a, e));
  }
}

export interface TestSegment { paddr: number; vaddr?: number; data: Uint8Array; memsz?: number }

/** A little-endian i386 ET_EXEC ELF32 with one PT_LOAD per segment (data 4 KiB aligned in the file). */
/** File offsets of the segments' data, each 4 KiB aligned after a 4 KiB header page, and the file size. */
function segmentOffsets(segs: { data: Uint8Array }[]): { offsets: number[]; size: number } {
  let off = 0x1000;
  const offsets = segs.map((s) => {
    const o = off;
    off += Math.ceil(s.data.length / 0x1000) * 0x1000 || 0x1000;
    return o;
  });
  return { offsets, size: off };
}

export function makeElf(entry: number, segs: TestSegment[], opts: { machine?: number; cls?: number } = {}): Uint8Array {
  const phoff = 52, phnum = segs.length;
  const { offsets, size } = segmentOffsets(segs);
  const img = new Uint8Array(size);
  const v = new DataView(img.buffer);
  img.set([0x7f, 0x45, 0x4c, 0x46, opts.cls ?? 1, 1, 1]);
  v.setUint16(16, 2, true);                 // ET_EXEC
  v.setUint16(18, opts.machine ?? 3, true); // EM_386
  v.setUint32(20, 1, true);
  v.setUint32(24, entry >>> 0, true);
  v.setUint32(28, phoff, true);
  v.setUint16(40, 52, true);
  v.setUint16(42, 32, true);
  v.setUint16(44, phnum, true);
  segs.forEach((s, i) => {
    const p = phoff + i * 32;
    v.setUint32(p, 1, true);
    v.setUint32(p + 4, offsets[i], true);
    v.setUint32(p + 8, (s.vaddr ?? s.paddr) >>> 0, true);
    v.setUint32(p + 12, s.paddr, true);
    v.setUint32(p + 16, s.data.length, true);
    v.setUint32(p + 20, s.memsz ?? s.data.length, true);
    v.setUint32(p + 24, 7, true);
    v.setUint32(p + 28, 0x1000, true);
    img.set(s.data, offsets[i]);
  });
  return img;
}

export interface TestSegment64 { paddr: number; vaddr: bigint; data: Uint8Array; memsz?: number }

/** A little-endian x86-64 ET_EXEC ELF64 with one PT_LOAD per segment (data 4 KiB aligned in the file). */
export function makeElf64(entry: bigint, segs: TestSegment64[], opts: { machine?: number } = {}): Uint8Array {
  const phoff = 64, phnum = segs.length;
  const { offsets, size } = segmentOffsets(segs);
  const img = new Uint8Array(size);
  const v = new DataView(img.buffer);
  img.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(16, 2, true);                  // ET_EXEC
  v.setUint16(18, opts.machine ?? 62, true); // EM_X86_64
  v.setUint32(20, 1, true);
  v.setBigUint64(24, entry, true);
  v.setBigUint64(32, BigInt(phoff), true);
  v.setUint16(52, 64, true);
  v.setUint16(54, 56, true);
  v.setUint16(56, phnum, true);
  segs.forEach((s, i) => {
    const p = phoff + i * 56;
    v.setUint32(p, 1, true);
    v.setUint32(p + 4, 7, true);
    v.setBigUint64(p + 8, BigInt(offsets[i]), true);
    v.setBigUint64(p + 16, s.vaddr, true);
    v.setBigUint64(p + 24, BigInt(s.paddr), true);
    v.setBigUint64(p + 32, BigInt(s.data.length), true);
    v.setBigUint64(p + 40, BigInt(s.memsz ?? s.data.length), true);
    v.setBigUint64(p + 48, 0x1000n, true);
    img.set(s.data, offsets[i]);
  });
  return img;
}

/** Run a host tool with `input` on stdin and return its stdout. */
export function tool(cmd: string, args: string[], input: Uint8Array): Uint8Array {
  return new Uint8Array(execFileSync(cmd, args, { input, maxBuffer: 1 << 28 }));
}

/** True if `cmd --version` runs (the xz tool may be missing on some hosts). */
export function haveTool(cmd: string): boolean {
  try {
    execFileSync(cmd, ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Deterministic pseudo-random bytes (xorshift32). */
export function prng(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * A kernel payload as Linux builds one: xz (BCJ x86 + LZMA2, CRC32, the uncompressed size
 * appended as scripts/Makefile.lib's size_append does), gzip, or raw.
 */
export function compressKernel(kind: "xz" | "gzip" | "raw", elf: Uint8Array): Uint8Array {
  if (kind === "raw") return elf;
  const packed = kind === "xz"
    ? tool("xz", ["--format=xz", "--check=crc32", "--x86", "--lzma2", "-c"], elf)
    : tool("gzip", ["-n", "-9", "-c"], elf);
  if (kind === "gzip") return packed;
  const out = new Uint8Array(packed.length + 4);
  out.set(packed);
  new DataView(out.buffer).setUint32(packed.length, elf.length, true);
  return out;
}
