// The XZ decoder against the host's xz tool: round trips over random, repetitive and x86
// code-like data with every check type, the x86 BCJ and delta filters, several LZMA2
// property sets, multiple blocks and concatenated streams; and corrupt inputs, which must
// fail with a stable code rather than return wrong data.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { BootError } from "../errors.js";
import { crc32, crc64 } from "./crc.js";
import { xzDecode, xzDecompress } from "./xz.js";
import { haveTool, prng, tool } from "../../../test/support/boot-testing.js";

const skip = haveTool("xz") ? false : "the xz tool is not installed";

function xz(data: Uint8Array, ...args: string[]): Uint8Array {
  return tool("xz", ["--format=xz", "-c", ...args], data);
}

/** Repetitive text plus x86 code (node's own binary is as good a source of E8/E9 as any). */
function structured(n: number): Uint8Array {
  const out = new Uint8Array(n);
  const text = new TextEncoder().encode("CONFIG_X86_32=y\nCONFIG_HIGHMEM4G=y\n# CONFIG_FOO is not set\n");
  let code: Uint8Array;
  try {
    code = new Uint8Array(readFileSync(process.execPath)).subarray(0x10000, 0x10000 + n / 2);
  } catch {
    code = prng(n / 2, 7);
  }
  let p = 0;
  while (p < n / 2) { out.set(text.subarray(0, Math.min(text.length, n / 2 - p)), p); p += text.length; }
  out.set(code.subarray(0, n - n / 2), n / 2);
  return out;
}

function expectCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof BootError && e.code === code, `expected ${code}`);
}

test("CRC32 and CRC64 check values of '123456789'", () => {
  const s = new TextEncoder().encode("123456789");
  assert.equal(crc32(s), 0xcbf43926);
  assert.deepEqual(Buffer.from(crc64(s)).toString("hex"), "fa3919dfbbc95d99"); // 0x995DC9BBDF1939FA LE
});

test("round trips: random and structured data, every check type, x86 BCJ", { skip }, () => {
  const inputs = [new Uint8Array(0), prng(1, 3), prng(300_000, 5), structured(400_000)];
  for (const data of inputs) {
    for (const check of ["none", "crc32", "crc64", "sha256"]) {
      for (const filt of [["--lzma2"], ["--x86", "--lzma2"]]) {
        const got = xzDecompress(xz(data, `--check=${check}`, ...filt));
        assert.equal(Buffer.compare(Buffer.from(got), Buffer.from(data)), 0, `len ${data.length} ${check} ${filt.join(" ")}`);
      }
    }
  }
});

test("round trips: LZMA2 lc/lp/pb variants, presets, delta filter, small dictionary", { skip }, () => {
  const data = structured(200_000);
  const variants = [
    ["--lzma2=preset=0"], ["--lzma2=preset=9e"], ["--lzma2=lc=0,lp=0,pb=0"], ["--lzma2=lc=4,lp=0,pb=4"],
    ["--lzma2=lc=1,lp=3,pb=1"], ["--lzma2=dict=4KiB"], ["--delta=dist=4", "--lzma2"], ["--x86=start=4096", "--lzma2"],
  ];
  for (const v of variants) {
    const got = xzDecompress(xz(data, "--check=crc32", ...v));
    assert.equal(Buffer.compare(Buffer.from(got), Buffer.from(data)), 0, v.join(" "));
  }
});

test("incompressible data is stored in uncompressed LZMA2 chunks", { skip }, () => {
  const data = prng(3_000_000, 11); // > 2 MiB so several chunks, some across a chunk boundary
  assert.equal(Buffer.compare(Buffer.from(xzDecompress(xz(data, "-0"))), Buffer.from(data)), 0);
});

test("several blocks, concatenated streams with padding, and singleStream", { skip }, () => {
  const a = structured(300_000), b = prng(50_000, 9);
  const blocks = xz(a, "--block-size=65536", "--check=crc64");
  assert.equal(Buffer.compare(Buffer.from(xzDecompress(blocks)), Buffer.from(a)), 0);

  const sa = xz(a), sb = xz(b);
  const cat = new Uint8Array(sa.length + 8 + sb.length);
  cat.set(sa);
  cat.set(sb, sa.length + 8); // 8 bytes of stream padding
  const both = xzDecompress(cat);
  assert.equal(both.length, a.length + b.length);
  assert.equal(Buffer.compare(Buffer.from(both.subarray(a.length)), Buffer.from(b)), 0);

  // Linux appends the uncompressed size after the stream: singleStream stops before it.
  const withSize = new Uint8Array(sa.length + 4);
  withSize.set(sa);
  new DataView(withSize.buffer).setUint32(sa.length, a.length, true);
  const r = xzDecode(withSize, { singleStream: true, sizeHint: a.length });
  assert.equal(r.consumed, sa.length);
  assert.equal(r.check, 4); // xz defaults to CRC64
  assert.equal(r.data.length, a.length);
  expectCode(() => xzDecompress(withSize), "E_XZ_FORMAT");
});

test("malformed input is rejected with a stable code", { skip }, () => {
  const data = structured(100_000);
  const good = xz(data, "--check=crc32", "--x86", "--lzma2");
  expectCode(() => xzDecompress(new Uint8Array(0)), "E_XZ_TRUNCATED");
  expectCode(() => xzDecompress(new TextEncoder().encode("not an xz file at all")), "E_XZ_FORMAT");
  expectCode(() => xzDecompress(good.subarray(0, good.length - 20)), "E_XZ_TRUNCATED");
  expectCode(() => xzDecompress(good.subarray(0, good.length / 2)), "E_XZ_TRUNCATED");

  const badHeader = good.slice();
  badHeader[7] ^= 0x04; // check type changes, header CRC32 no longer matches
  expectCode(() => xzDecompress(badHeader), "E_XZ_CHECK");

  // Flip bytes all over the compressed data: every result must be an error, never wrong data.
  const codes = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const bad = good.slice();
    const at = 12 + 12 + Math.floor((i / 40) * (good.length - 60));
    bad[at] ^= 0x55;
    try {
      const out = xzDecompress(bad);
      assert.fail(`corruption at ${at} decoded to ${out.length} bytes without an error`);
    } catch (e) {
      assert.ok(e instanceof BootError, String(e));
      codes.add(e.code);
    }
  }
  for (const c of codes) assert.ok(["E_XZ_DATA", "E_XZ_CHECK", "E_XZ_FORMAT", "E_XZ_TRUNCATED"].includes(c), c);

  expectCode(() => xzDecompress(xz(data, "--arm", "--lzma2")), "E_XZ_UNSUPPORTED");
  expectCode(() => xzDecompress(xz(data, "--check=crc32"), { maxOutput: 1000 }), "E_XZ_DATA");
});

test("16 MB of structured data through the x86 BCJ filter and LZMA2 preset 6 decodes to the original (speed is bench's)", { skip }, () => {
  const data = new Uint8Array(16 << 20);
  const s = structured(1 << 20);
  for (let i = 0; i < 16; i++) { data.set(s, i << 20); data[i << 20] = i; }
  const packed = xz(data, "--x86", "--lzma2=preset=6", "--check=crc32");
  const out = xzDecompress(packed, { sizeHint: data.length });
  assert.equal(out.length, data.length);
  assert.ok(out.every((b, k) => b === data[k]), "the bytes round-trip");
});
