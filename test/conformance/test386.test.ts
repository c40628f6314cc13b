// test386 (../shared/conformance/test386, see its ABOUT.md): every test passes — POST 0xFF
// with a final HLT — for both the 64 KiB and the 128 KiB (task switching) images, and the
// arithmetic results printed by test 0xEE equal test386-EE-reference.txt byte for byte.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { join } from "node:path";
import { Machine } from "../../src/hw/machine.js";
import { attachDebugPorts } from "../../src/hw/pc/debug-ports.js";
import { TEST386_DIR } from "../support/paths.js";
import { buildTest386 } from "./test386-build.js";

interface Result { posts: number[]; output: string; end: string; }

function runRom(path: string): Result {
  const m = new Machine({ ramBytes: 16 * 1024 * 1024 });
  const posts: number[] = [];
  const out: number[] = [];
  attachDebugPorts(m.io, { post: (v) => posts.push(v), debugconByte: (b) => out.push(b), exit: (s) => m.powerOff(s) }, 0x190);
  m.loadBios(readFileSync(path));
  const end = m.run(Date.now() + 120_000, 2_000_000_000);
  return { posts, output: Buffer.from(out).toString("latin1"), end: end.kind };
}

for (const image of ["test386.bin", "test386-128k.bin"]) {
  test(`test386: ${image} reaches POST 0xFF and halts`, () => {
    const r = runRom(join(TEST386_DIR, image));
    assert.equal(r.end, "halt");
    assert.equal(r.posts.at(-1)?.toString(16), "ff", `last POST code was 0x${r.posts.at(-1)?.toString(16)} (the failing test)`);
    if (image.includes("128k")) assert.ok(r.posts.includes(0x22), "task-switch test 0x22 ran");
  });
}

test("test386: EE output on port 0xE9 equals the reference exactly", () => {
  const rom = buildTest386(false);
  const r = runRom(rom);
  assert.equal(r.posts.at(-1), 0xff);
  const ref = gunzipSync(readFileSync(join(TEST386_DIR, "test386-EE-reference.txt.gz"))).toString("latin1");
  assert.ok(ref.length > 1_000_000, "reference loaded");
  if (r.output !== ref) {
    const a = r.output.split("\n"), b = ref.split("\n");
    const k = a.findIndex((line, n) => line !== b[n]);
    assert.fail(`EE output differs at line ${k + 1}:\n  got:      ${a[k]}\n  expected: ${b[k]}`);
  }
});
