// The unpacked-kernel cache (src/cli/unpack-cache.ts) on Debian's real bzImage: the first
// unpack writes the vmlinux, the next one reads it back instead of decoding, and a cached
// file of the wrong length (a write cut short) is decoded again and replaced.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cachedLinux, fetchLinux } from "../../src/guests/fetch-linux.js";
import { parseSetupHeader, unpackPayload } from "../../src/boot/linux.js";
import { cachedUnpacker } from "../../src/cli/unpack-cache.js";

test("the unpacked vmlinux is written once, read back, and replaced when its length is wrong", { timeout: 600_000 }, async () => {
  const g = cachedLinux() ?? await fetchLinux({ log: () => {} });
  const img = new Uint8Array(readFileSync(g.bzImage));
  const h = parseSetupHeader(img);
  const expected = unpackPayload(img, h).vmlinux;
  const dir = mkdtempSync(join(tmpdir(), "vmm86-unpack-"));
  try {
    const unpack = cachedUnpacker(dir);
    assert.deepEqual(unpack(img, h), expected, "the first unpack decodes");
    const files = readdirSync(dir);
    assert.equal(files.length, 1, "one file, no temporary left");
    assert.match(files[0], /^[0-9a-f]{64}\.vmlinux$/);
    const file = join(dir, files[0]);
    assert.equal(statSync(file).size, expected.length);

    // Read back: a marker written into the cached file (same length) comes back, so no decode ran.
    const marked = expected.slice();
    marked[marked.length - 1] ^= 0xff;
    writeFileSync(file, marked);
    assert.deepEqual(unpack(img, h), marked, "the second unpack reads the cache");

    // A file cut short is not used: decoded again, and the file rewritten whole.
    truncateSync(file, 1000);
    assert.deepEqual(unpack(img, h), expected);
    assert.equal(statSync(file).size, expected.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
