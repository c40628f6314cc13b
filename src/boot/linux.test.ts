// The Linux boot protocol loader on a synthetic bzImage built here (a setup header, a stub
// protected-mode kernel and a small vmlinux ELF compressed with the host's xz or gzip): the
// boot_params fields at the byte offsets of Documentation/arch/x86/boot.rst, the E820 table,
// initrd and command-line placement, direct entry, and malformed images. Set
// VMM86_LINUX_KERNEL to a real bzImage (e.g. Debian's vmlinuz-6.1.0-*-686) to also check it.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { BootError } from "./errors.js";
import { loadLinux, loadLinuxWithPlacement, parseSetupHeader, unpackPayload, CAN_USE_HEAP, LOADED_HIGH } from "./linux.js";
import { pcE820Map } from "./memory.js";
import { parseElf32 } from "./elf.js";
import { haveTool, makeElf, prng, TestRam, compressKernel } from "../../test/support/boot-testing.js";
import { cachedLinux, fetchLinux } from "../guests/fetch-linux.js";

const skip = haveTool("xz") ? false : "the xz tool is not installed";
const RAM = 32 << 20;
const PREF = 0x400000, INIT_SIZE = 0x300000;
const TEXT = prng(5000, 2), DATA = prng(3000, 3);

function vmlinux(): Uint8Array {
  return makeElf(PREF, [
    { paddr: PREF, vaddr: 0xc0000000 + PREF, data: TEXT },
    { paddr: PREF + 0x2000, vaddr: 0xc0000000 + PREF + 0x2000, data: DATA, memsz: 0x5000 },
  ]);
}

const compress = compressKernel;

interface ImageOpts { version?: number; loadflags?: number; payload?: Uint8Array; magic?: boolean }

/** A bzImage: 4 setup sectors (+ boot sector) then a stub protected-mode kernel with the payload. */
function bzImage(o: ImageOpts = {}): Uint8Array {
  const payload = o.payload ?? compress("xz", vmlinux());
  const pmOffset = 5 * 512, payloadOffset = 0x100;
  const pm = new Uint8Array(payloadOffset + payload.length);
  pm.set([0xfc, 0xfa, 0xf4]); // cld; cli; hlt
  pm.set(payload, payloadOffset);
  const img = new Uint8Array(pmOffset + pm.length);
  const v = new DataView(img.buffer);
  img[0x1f1] = 4;
  v.setUint32(0x1f4, Math.ceil(pm.length / 16), true);
  v.setUint16(0x1fa, 0xffff, true);
  v.setUint16(0x1fe, 0xaa55, true);
  img[0x200] = 0xeb;
  img[0x201] = 0x6a; // header ends at 0x26C, as in 6.x kernels
  if (o.magic !== false) v.setUint32(0x202, 0x53726448, true);
  v.setUint16(0x206, o.version ?? 0x020f, true);
  img[0x211] = o.loadflags ?? LOADED_HIGH;
  v.setUint32(0x214, 0x100000, true);
  v.setUint32(0x22c, 0x7fffffff, true);
  v.setUint32(0x230, 0x200000, true);
  img[0x234] = 1;
  img[0x235] = 13;
  v.setUint32(0x238, 0x7ff, true);
  v.setUint32(0x248, payloadOffset, true);
  v.setUint32(0x24c, payload.length, true);
  v.setUint32(0x258, PREF, true);
  v.setUint32(0x260, INIT_SIZE, true);
  img.set(pm, pmOffset);
  return img;
}

function expectCode(fn: () => unknown, code: string, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof BootError && e.code === code && (!re || re.test(e.message)),
    `expected ${code}${re ? " " + re : ""}`);
}

const CMDLINE = "console=ttyS0 noapic nolapic root=/dev/ram0";

test("pcE820Map: RAM below the EBDA, EBDA and BIOS reserved, RAM from 1 MiB", () => {
  assert.deepEqual(pcE820Map(64 << 20), [
    { base: 0, length: 0x9fc00, type: 1 },
    { base: 0x9fc00, length: 0x400, type: 2 },
    { base: 0xf0000, length: 0x10000, type: 2 },
    { base: 0x100000, length: (64 << 20) - 0x100000, type: 1 },
  ]);
  expectCode(() => pcE820Map(1 << 20), "E_NO_ROOM");
});

test("bzImage: boot_params fields at boot.rst offsets, kernel at 1 MiB, 32-bit entry registers", { skip }, () => {
  const img = bzImage();
  const ram = new TestRam(RAM);
  const initrd = prng(100_000, 4);
  const e820 = pcE820Map(RAM);
  const { entry, placement } = loadLinuxWithPlacement(ram, img, { cmdline: CMDLINE, e820, initrd });
  const bp = 0x10000;
  assert.equal(placement.bootParams, bp);
  assert.deepEqual(entry, { eip: 0x100000, regs: { esi: bp, ebp: 0, edi: 0, ebx: 0 }, mode: "protected32" });

  // The setup header is copied at its own offsets (0x1F1 up to 0x202 + byte at 0x201).
  assert.equal(ram.u8(bp + 0x1f1), 4);                     // setup_sects
  assert.equal(ram.u32(bp + 0x1f4), img[0x1f4] | (img[0x1f5] << 8) | (img[0x1f6] << 16)); // syssize
  assert.equal(ram.u16(bp + 0x1fe), 0xaa55);               // boot_flag
  assert.equal(ram.u32(bp + 0x202), 0x53726448);           // "HdrS"
  assert.equal(ram.u16(bp + 0x206), 0x020f);               // version
  assert.equal(ram.u32(bp + 0x258), PREF);                 // pref_address
  assert.equal(ram.u32(bp + 0x260), INIT_SIZE);            // init_size
  assert.equal(ram.u8(bp + 0x1ef), 0);                     // sentinel stays 0 (not a broken loader)
  // Loader-written fields.
  assert.equal(ram.u8(bp + 0x210), 0xff);                  // type_of_loader
  assert.equal(ram.u8(bp + 0x211), LOADED_HIGH | CAN_USE_HEAP); // loadflags: no KEEP_SEGMENTS
  assert.equal(ram.u16(bp + 0x224), 0xfe00 - 0x200);       // heap_end_ptr
  assert.equal(ram.u32(bp + 0x228), 0x20000);              // cmd_line_ptr
  assert.equal(ram.cstr(0x20000), CMDLINE);
  // Initrd at the top of RAM, page aligned, below initrd_addr_max.
  const rd = ram.u32(bp + 0x218), rdSize = ram.u32(bp + 0x21c);
  assert.equal(rdSize, initrd.length);
  assert.equal(rd % 4096, 0);
  assert.ok(rd + rdSize <= RAM && RAM - (rd + rdSize) < 4096);
  assert.equal(Buffer.compare(Buffer.from(ram.bytes.subarray(rd, rd + rdSize)), Buffer.from(initrd)), 0);
  // E820: count at 0x1E8, 20-byte entries from 0x2D0.
  assert.equal(ram.u8(bp + 0x1e8), e820.length);
  e820.forEach((e, i) => {
    const o = bp + 0x2d0 + i * 20;
    assert.deepEqual([ram.u64(o), ram.u64(o + 8), ram.u32(o + 16)], [e.base, e.length, e.type]);
  });
  assert.equal(ram.u32(bp + 0x1e0), (RAM - 0x100000) / 1024); // alt_mem_k
  // The protected-mode kernel (first byte after the setup sectors) is at code32_start.
  assert.deepEqual([...ram.bytes.subarray(0x100000, 0x100003)], [0xfc, 0xfa, 0xf4]);
});

test("bzImage: an initrd_addr_max below the RAM top caps the initrd; no initrd leaves the fields zero", { skip }, () => {
  const img = bzImage();
  new DataView(img.buffer).setUint32(0x22c, 0x00ffffff, true);
  const ram = new TestRam(RAM);
  // init_size ends at 7 MiB, so a 16 MiB - 1 cap leaves room.
  const { placement } = loadLinuxWithPlacement(ram, img, { cmdline: "", e820: pcE820Map(RAM), initrd: prng(5000) });
  assert.equal(placement.initrd?.start, 0x1000000 - 0x2000);
  const ram2 = new TestRam(RAM);
  loadLinux(ram2, img, { cmdline: "", e820: pcE820Map(RAM) });
  assert.equal(ram2.u32(0x10000 + 0x218), 0);
  assert.equal(ram2.u32(0x10000 + 0x21c), 0);
});

for (const kind of ["xz", "gzip"] as const) {
  test(`direct entry (${kind} payload): vmlinux segments at p_paddr, bss zeroed, entry at startup_32`, { skip }, () => {
    const img = bzImage({ payload: compress(kind, vmlinux()) });
    const ram = new TestRam(RAM);
    ram.bytes.fill(0xcc, PREF + 0x2000, PREF + 0x7000); // bss must come out zero
    const { entry, placement } = loadLinuxWithPlacement(ram, img, { cmdline: CMDLINE, e820: pcE820Map(RAM), direct: true });
    assert.deepEqual(entry, { eip: PREF, regs: { esi: 0x10000, ebp: 0, edi: 0, ebx: 0 }, mode: "protected32" });
    assert.equal(Buffer.compare(Buffer.from(ram.bytes.subarray(PREF, PREF + TEXT.length)), Buffer.from(TEXT)), 0);
    assert.equal(Buffer.compare(Buffer.from(ram.bytes.subarray(PREF + 0x2000, PREF + 0x2000 + DATA.length)), Buffer.from(DATA)), 0);
    assert.ok(ram.bytes.subarray(PREF + 0x2000 + DATA.length, PREF + 0x7000).every((b) => b === 0));
    assert.deepEqual(placement.kernel, { start: PREF, end: PREF + INIT_SIZE });
    // Same boot_params as the bzImage path, KASLR_FLAG clear.
    assert.equal(ram.u32(0x10000 + 0x202), 0x53726448);
    assert.equal(ram.u8(0x10000 + 0x211) & 0x02, 0);
    assert.equal(ram.cstr(ram.u32(0x10000 + 0x228)), CMDLINE);
  });
}

test("unpackPayload reports the format and returns the vmlinux", { skip }, () => {
  const elf = vmlinux();
  const u = unpackPayload(bzImage());
  assert.equal(u.format, "xz");
  assert.equal(Buffer.compare(Buffer.from(u.vmlinux), Buffer.from(elf)), 0);
});

test("malformed and unsupported images are rejected with a stable code and a clear message", { skip }, () => {
  const ram = new TestRam(RAM);
  const opts = { cmdline: "", e820: pcE820Map(RAM) };
  expectCode(() => loadLinux(ram, new Uint8Array(100), opts), "E_IMAGE_TRUNCATED", /too short/);
  expectCode(() => loadLinux(ram, bzImage({ magic: false }), opts), "E_IMAGE_MAGIC", /HdrS/);
  const noFlag = bzImage();
  noFlag[0x1fe] = 0;
  expectCode(() => loadLinux(ram, noFlag, opts), "E_IMAGE_MAGIC", /0xAA55/);
  expectCode(() => loadLinux(ram, bzImage({ version: 0x0203 }), opts), "E_IMAGE_VERSION", /2\.03 is too old/);
  expectCode(() => loadLinux(ram, bzImage({ loadflags: 0 }), opts), "E_IMAGE_NOT_BZIMAGE", /zImage/);
  // iPXE's ipxe.lkrn: code32_start 0, no 32-bit entry (it needs its real-mode setup code).
  const noEntry = bzImage();
  new DataView(noEntry.buffer).setUint32(0x214, 0, true);
  expectCode(() => loadLinux(ram, noEntry, { ...opts, direct: false }), "E_IMAGE_NO_32BIT_ENTRY", /code32_start is 0/);
  // memtest86+ 6.10's memtest86+ia32.bin: protocol 2.12, payload_length 0.
  const noPayload = bzImage();
  new DataView(noPayload.buffer).setUint32(0x24c, 0, true);
  expectCode(() => loadLinux(ram, noPayload, { ...opts, direct: true }), "E_IMAGE_NO_PAYLOAD", /no compressed kernel .*--entry bzimage/);
  const img = bzImage();
  expectCode(() => loadLinux(ram, img.subarray(0, img.length - 100), opts), "E_IMAGE_TRUNCATED", /truncated/);
  expectCode(() => loadLinux(ram, img, { ...opts, cmdline: "x".repeat(0x800) }), "E_CMDLINE_TOO_LONG", /at most 2047/);
  // RAM too small for pref_address + init_size, and for the initrd above it.
  const small = new TestRam(6 << 20);
  expectCode(() => loadLinux(small, img, { cmdline: "", e820: pcE820Map(6 << 20) }), "E_NO_ROOM", /at least/);
  expectCode(() => loadLinux(ram, img, { ...opts, initrd: new Uint8Array(26 << 20) }), "E_NO_ROOM", /initrd/);
  // Direct entry: unsupported compression, corrupt XZ, payload that is not an i386 ELF.
  const bz2 = new Uint8Array(64);
  bz2.set([0x42, 0x5a, 0x68, 0x39]);
  expectCode(() => loadLinux(ram, bzImage({ payload: bz2 }), { ...opts, direct: true }), "E_PAYLOAD_FORMAT", /bzip2/);
  const corrupt = compress("xz", vmlinux());
  corrupt[corrupt.length >> 1] ^= 0xff;
  assert.throws(() => loadLinux(ram, bzImage({ payload: corrupt }), { ...opts, direct: true }),
    (e: unknown) => e instanceof BootError && e.code.startsWith("E_XZ_"));
  const notElf = compress("xz", prng(4096));
  expectCode(() => loadLinux(ram, bzImage({ payload: notElf }), { ...opts, direct: true }), "E_ELF", /no ELF magic/);
  const elf64 = compress("xz", makeElf(PREF, [{ paddr: PREF, data: TEXT }], { cls: 2 }));
  expectCode(() => loadLinux(ram, bzImage({ payload: elf64 }), { ...opts, direct: true }), "E_ELF", /64-bit/);
  const low = compress("xz", makeElf(PREF, [{ paddr: 0x100000, data: TEXT }]));
  expectCode(() => loadLinux(ram, bzImage({ payload: low }), { ...opts, direct: true }), "E_ELF", /LOAD_PHYSICAL_ADDR/);
});

// The fetched Linux guest's kernel (fetched here if no other test did it yet), or
// VMM86_LINUX_KERNEL: the test does not depend on the order test files run in.
test("a real Debian bzImage: header, XZ payload, vmlinux segments, both entry paths", { timeout: 900_000 }, async () => {
    const realKernel = process.env.VMM86_LINUX_KERNEL ?? (cachedLinux() ?? await fetchLinux({ log: () => {} })).bzImage;
    assert.ok(existsSync(realKernel), realKernel);
    const img = new Uint8Array(readFileSync(realKernel));
    const h = parseSetupHeader(img);
    assert.ok(h.version >= 0x020f);
    const u = unpackPayload(img, h);
    const elf = parseElf32(u.vmlinux, "vmlinux");
    assert.equal(elf.entry, h.prefAddress);
    for (const direct of [false, true]) {
      const ram = new TestRam(128 << 20);
      const e = loadLinux(ram, img, { cmdline: CMDLINE, e820: pcE820Map(128 << 20), initrd: prng(1 << 20), direct });
      assert.equal(e.eip, direct ? h.prefAddress : 0x100000);
    }
  });
