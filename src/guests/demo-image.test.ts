// Checks that the committed demo guest (guests/demo/demo.elf) is what a Multiboot v1
// loader expects: the header within the first 8 KiB (Multiboot 0.6.96 §3.1.1), an i386
// executable ELF (System V ABI i386 supplement), every PT_LOAD at or above 1 MiB, and
// the entry point inside an executable segment. Needs no QEMU and no compiler.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

// This file runs as dist/src/guests/demo-image.test.js; the image stays in the source tree.
const root = fileURLToPath(new URL("../../../", import.meta.url));
const image = readFileSync(root + "guests/demo/demo.elf");
const view = new DataView(image.buffer, image.byteOffset, image.byteLength);

const MULTIBOOT_MAGIC = 0x1badb002;
const PT_LOAD = 1;
const PF_X = 1;
const EM_386 = 3;
const ET_EXEC = 2;

test("demo.elf carries a valid Multiboot v1 header in its first 8 KiB", () => {
  let found = -1;
  for (let off = 0; off + 12 <= Math.min(8192, image.length); off += 4) {
    if (view.getUint32(off, true) === MULTIBOOT_MAGIC) { found = off; break; }
  }
  assert.ok(found >= 0, "no Multiboot magic 0x1BADB002 on a 4-byte boundary in the first 8 KiB");
  const flags = view.getUint32(found + 4, true);
  const checksum = view.getUint32(found + 8, true);
  assert.equal((MULTIBOOT_MAGIC + flags + checksum) >>> 0, 0, "magic + flags + checksum must be 0 mod 2^32");
  assert.equal(flags & 0x10000, 0, "an ELF image should not need the a.out address fields (flag 16)");
  assert.equal(flags & 0xfffc, 0, "no required feature bits other than 0 and 1");
});

test("demo.elf is an i386 executable ELF loaded at or above 1 MiB", () => {
  assert.deepEqual([...image.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46], "ELF magic");
  assert.equal(image[4], 1, "ELFCLASS32");
  assert.equal(image[5], 1, "ELFDATA2LSB");
  assert.equal(view.getUint16(16, true), ET_EXEC, "ET_EXEC");
  assert.equal(view.getUint16(18, true), EM_386, "EM_386");
  const entry = view.getUint32(24, true);
  const phoff = view.getUint32(28, true);
  const phentsize = view.getUint16(42, true);
  const phnum = view.getUint16(44, true);
  assert.equal(phentsize, 32);
  let loads = 0;
  let entryOk = false;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (view.getUint32(ph, true) !== PT_LOAD) continue;
    loads++;
    const offset = view.getUint32(ph + 4, true);
    const vaddr = view.getUint32(ph + 8, true);
    const paddr = view.getUint32(ph + 12, true);
    const filesz = view.getUint32(ph + 16, true);
    const memsz = view.getUint32(ph + 20, true);
    const pflags = view.getUint32(ph + 24, true);
    assert.ok(paddr >= 0x100000, `PT_LOAD ${i} at 0x${paddr.toString(16)} is below 1 MiB`);
    assert.equal(vaddr, paddr, "the demo is linked with virtual = physical");
    assert.ok(filesz <= memsz && offset + filesz <= image.length, `PT_LOAD ${i} lies within the file`);
    if (pflags & PF_X && entry >= vaddr && entry < vaddr + filesz) entryOk = true;
  }
  assert.ok(loads > 0, "at least one PT_LOAD");
  assert.ok(entryOk, `entry 0x${entry.toString(16)} is not inside an executable PT_LOAD`);
});

test("the golden serial log ends in PASS", () => {
  const log = readFileSync(root + "guests/demo/expected-serial.txt", "latin1");
  assert.ok(log.startsWith("vmm86 demo guest\n"));
  assert.ok(log.endsWith("demo: PASS, powering off\n"));
});
