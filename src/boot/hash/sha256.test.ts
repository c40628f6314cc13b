import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { sha256 } from "./sha256.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

test("sha256: FIPS 180-4 examples", () => {
  assert.equal(hex(sha256(new Uint8Array(0))), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.equal(hex(sha256(new TextEncoder().encode("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
});

test("sha256 agrees with node:crypto at every length around the block and padding edges", () => {
  const data = Uint8Array.from({ length: 300 }, (_, i) => (i * 131 + 7) & 0xff);
  for (let n = 0; n <= 300; n++) {
    const d = data.subarray(0, n);
    assert.equal(hex(sha256(d)), createHash("sha256").update(d).digest("hex"), `length ${n}`);
  }
});
