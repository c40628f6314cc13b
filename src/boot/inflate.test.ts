import { test } from "node:test";
import assert from "node:assert/strict";
import { gzipSync, deflateRawSync, constants } from "node:zlib";
import { gunzip, inflateRaw } from "./inflate.js";
import { BootError } from "./errors.js";

function sample(n: number, seed: number): Uint8Array {
  // Text-like bytes with repeats, so every block type and long matches turn up.
  const words = ["mov", "eax", "push", "ebp", "0x1000", "\n", "  ", "call", "ret", "int 0x80"];
  const out: number[] = [];
  let s = seed;
  while (out.length < n) {
    s = (s * 1103515245 + 12345) >>> 0;
    if ((s >>> 28) === 0) for (let k = 0; k < 40; k++) out.push((s >>> (k % 24)) & 0xff);
    else for (const c of words[(s >>> 16) % words.length]) out.push(c.charCodeAt(0));
  }
  return Uint8Array.from(out.slice(0, n));
}

test("gunzip matches zlib on every compression level and strategy", () => {
  for (const [n, seed] of [[0, 1], [1, 2], [1000, 3], [300_000, 4]]) {
    const data = sample(n, seed);
    for (const level of [0, 1, 6, 9]) {
      assert.deepEqual(gunzip(gzipSync(data, { level })), data, `n=${n} level=${level}`);
    }
    assert.deepEqual(gunzip(gzipSync(data, { strategy: constants.Z_FIXED })), data, `n=${n} fixed`);
    assert.deepEqual(inflateRaw(deflateRawSync(data, { strategy: constants.Z_HUFFMAN_ONLY })).out, data, `n=${n} huffman only`);
  }
});

test("gunzip ignores bytes after the member (the Linux payload appends its size)", () => {
  const data = sample(5000, 9);
  const z = gzipSync(data);
  const padded = new Uint8Array(z.length + 4);
  padded.set(z);
  assert.deepEqual(gunzip(padded), data);
});

test("gunzip refuses damaged input with E_PAYLOAD_FORMAT", () => {
  const z = gzipSync(sample(5000, 7));
  const crc = Uint8Array.from(z);
  crc[crc.length - 8] ^= 1;
  for (const bad of [z.subarray(0, z.length - 20), crc, Uint8Array.of(0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)]) {
    assert.throws(() => gunzip(bad), (e: unknown) => e instanceof BootError && e.code === "E_PAYLOAD_FORMAT");
  }
});
