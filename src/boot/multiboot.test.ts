// The multiboot v1 loader on kernels built here: an ELF with the header in its first
// segment, an a.out-kludge image, modules and the information structure layout (spec §3.3:
// flags, mem_lower/mem_upper, cmdline, mods, mmap entries with their size field), and
// malformed images (no header, bad checksum, unknown required flags, segments outside RAM,
// truncated or 64-bit ELF).

import { test } from "node:test";
import assert from "node:assert/strict";
import { BootError } from "./errors.js";
import { pcE820Map } from "./memory.js";
import { loadMultiboot, loadMultibootWithPlacement, MBI, MULTIBOOT_BOOTLOADER_MAGIC } from "./multiboot.js";
import { makeElf, prng, TestRam } from "../../test/support/boot-testing.js";

const RAM = 16 << 20;

function header(flags: number, extra: number[] = []): Uint8Array {
  const h = new Uint8Array(12 + extra.length * 4);
  const v = new DataView(h.buffer);
  v.setUint32(0, 0x1badb002, true);
  v.setUint32(4, flags >>> 0, true);
  v.setUint32(8, (-(0x1badb002 + flags)) >>> 0, true);
  extra.forEach((x, i) => v.setUint32(12 + i * 4, x >>> 0, true));
  return h;
}

function elfKernel(flags = 3, opts: { paddr?: number; text?: Uint8Array } = {}): { img: Uint8Array; text: Uint8Array } {
  const text = opts.text ?? new Uint8Array(0x3000);
  if (!opts.text) {
    text.set(header(flags), 0x10);
    text.set(prng(100, 8), 0x100);
  }
  const paddr = opts.paddr ?? 0x100000;
  const img = makeElf(paddr + 0x100, [
    { paddr, vaddr: paddr, data: text },
    { paddr: paddr + 0x4000, vaddr: paddr + 0x4000, data: prng(500, 9), memsz: 0x2000 },
  ]);
  return { img, text };
}

function expectCode(fn: () => unknown, code: string, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof BootError && e.code === code && (!re || re.test(e.message)),
    `expected ${code}${re ? " " + re : ""}`);
}

test("ELF kernel: segments loaded, modules page aligned above it, info structure layout", () => {
  const { img, text } = elfKernel();
  const ram = new TestRam(RAM);
  const mods = [{ data: prng(5000, 1), cmdline: "initrd.img rw" }, { data: prng(10, 2), cmdline: "" }];
  const e820 = pcE820Map(RAM);
  const { entry, placement } = loadMultibootWithPlacement(ram, img, { cmdline: "kernel -v", modules: mods, e820 });
  assert.equal(entry.eip, 0x100100);
  assert.equal(entry.regs.eax, MULTIBOOT_BOOTLOADER_MAGIC);
  assert.equal(entry.mode, "protected32");
  assert.equal(Buffer.compare(Buffer.from(ram.bytes.subarray(0x100000, 0x103000)), Buffer.from(text)), 0);
  assert.deepEqual(placement.kernel, { start: 0x100000, end: 0x106000 });

  const mbi = entry.regs.ebx as number;
  assert.equal(mbi, placement.info);
  assert.ok(mbi >= 0x106000 && mbi % 4096 === 0);
  const flags = ram.u32(mbi);
  assert.equal(flags, MBI.MEMORY | MBI.CMDLINE | MBI.MODS | MBI.MEM_MAP | MBI.BOOT_LOADER_NAME);
  assert.equal(ram.u32(mbi + 4), 639);                          // mem_lower (KiB)
  assert.equal(ram.u32(mbi + 8), (RAM - 0x100000) / 1024);      // mem_upper (KiB from 1 MiB)
  assert.equal(ram.cstr(ram.u32(mbi + 16)), "kernel -v");       // cmdline
  assert.equal(ram.u32(mbi + 20), 2);                           // mods_count
  const modsAddr = ram.u32(mbi + 24);
  let prevEnd = 0x106000;
  mods.forEach((m, i) => {
    const start = ram.u32(modsAddr + i * 16), end = ram.u32(modsAddr + i * 16 + 4);
    assert.equal(start % 4096, 0);
    assert.ok(start >= prevEnd);
    assert.equal(end - start, m.data.length);
    assert.equal(Buffer.compare(Buffer.from(ram.bytes.subarray(start, end)), Buffer.from(m.data)), 0);
    assert.equal(ram.cstr(ram.u32(modsAddr + i * 16 + 8)), m.cmdline);
    assert.equal(ram.u32(modsAddr + i * 16 + 12), 0);
    prevEnd = end;
  });
  assert.ok(mbi >= prevEnd);
  // mmap: mmap_length bytes of {size=20, base_addr u64, length u64, type}; size excludes itself.
  const mmapLen = ram.u32(mbi + 44), mmapAddr = ram.u32(mbi + 48);
  assert.equal(mmapLen, e820.length * 24);
  let p = mmapAddr, i = 0;
  while (p < mmapAddr + mmapLen) {
    const size = ram.u32(p);
    assert.equal(size, 20);
    assert.deepEqual([ram.u64(p + 4), ram.u64(p + 12), ram.u32(p + 20)], [e820[i].base, e820[i].length, e820[i].type]);
    p += size + 4;
    i++;
  }
  assert.equal(i, e820.length);
  assert.equal(ram.cstr(ram.u32(mbi + 64)), "vmm86");           // boot_loader_name
});

test("ELF entry given as a virtual address is translated through its segment", () => {
  const text = new Uint8Array(0x1000);
  text.set(header(2), 0);
  const img = makeElf(0xc0100040, [{ paddr: 0x100000, vaddr: 0xc0100000, data: text }]);
  const e = loadMultiboot(new TestRam(RAM), img, { cmdline: "", modules: [], e820: pcE820Map(RAM) });
  assert.equal(e.eip, 0x100040);
});

test("a.out kludge: load_addr/load_end_addr/bss_end_addr/entry_addr from the header", () => {
  // File: 0x20 bytes of code at load_addr 0x200000, header at file offset 0x20, more code.
  const file = new Uint8Array(0x400);
  file.set(prng(0x20, 5));
  const h = header(0x10003, [0x200020, 0x200000, 0x200300, 0x201000, 0x200040]);
  file.set(h, 0x20);
  file.set(prng(0x100, 6), 0x40);
  const ram = new TestRam(RAM);
  ram.bytes.fill(0xcc, 0x200300, 0x201000);
  const { entry, placement } = loadMultibootWithPlacement(ram, file, { cmdline: "", modules: [], e820: pcE820Map(RAM) });
  assert.equal(entry.eip, 0x200040);
  assert.equal(Buffer.compare(Buffer.from(ram.bytes.subarray(0x200000, 0x200300)), Buffer.from(file.subarray(0, 0x300))), 0);
  assert.ok(ram.bytes.subarray(0x200300, 0x201000).every((b) => b === 0));
  assert.deepEqual(placement.kernel, { start: 0x200000, end: 0x201000 });
  // load_end_addr 0 means "to the end of the file".
  const h0 = header(0x10000, [0x200020, 0x200000, 0, 0, 0x200040]);
  file.set(h0, 0x20);
  const p2 = loadMultibootWithPlacement(new TestRam(RAM), file, { cmdline: "", modules: [], e820: pcE820Map(RAM) }).placement;
  assert.equal(p2.kernel.end, 0x200400);
});

test("malformed multiboot kernels are rejected with a stable code and a clear message", () => {
  const ram = new TestRam(RAM);
  const opts = { cmdline: "", modules: [], e820: pcE820Map(RAM) };
  // No header at all; header beyond 8192 bytes; misaligned header.
  expectCode(() => loadMultiboot(ram, prng(20000, 3), opts), "E_MB_NO_HEADER", /first 8192 bytes/);
  const late = new Uint8Array(12000);
  late.set(header(3), 8192);
  expectCode(() => loadMultiboot(ram, late, opts), "E_MB_NO_HEADER");
  const odd = new Uint8Array(0x100);
  odd.set(header(3), 0x22);
  expectCode(() => loadMultiboot(ram, odd, opts), "E_MB_NO_HEADER");
  // Bad checksum.
  const { img } = elfKernel();
  const bad = img.slice();
  bad[0x1000 + 0x10 + 8] ^= 1;
  expectCode(() => loadMultiboot(ram, bad, opts), "E_MB_CHECKSUM", /checksum/);
  // A required feature this loader does not know (bit 3).
  expectCode(() => loadMultiboot(ram, elfKernel(0x8).img, opts), "E_MB_FLAGS", /0x8/);
  // Neither ELF nor the a.out kludge.
  const raw = new Uint8Array(0x100);
  raw.set(header(3), 0);
  expectCode(() => loadMultiboot(ram, raw, opts), "E_MB_FLAGS", /a\.out kludge/);
  // Segments outside RAM.
  expectCode(() => loadMultiboot(ram, elfKernel(3, { paddr: RAM - 0x1000 }).img, opts), "E_SEGMENT_OUTSIDE_RAM", /outside guest RAM/);
  // Truncated ELF: program headers or segment data cut off.
  expectCode(() => loadMultiboot(ram, img.subarray(0, 0x2000), opts), "E_ELF", /truncated/);
  const text = new Uint8Array(0x1000);
  text.set(header(3), 0);
  const elf64 = makeElf(0x100000, [{ paddr: 0x100000, data: text }], { cls: 2 });
  expectCode(() => loadMultiboot(ram, elf64, opts), "E_ELF", /64-bit/);
  const arm = makeElf(0x100000, [{ paddr: 0x100000, data: text }], { machine: 40 });
  expectCode(() => loadMultiboot(ram, arm, opts), "E_ELF", /EM_386/);
  // a.out kludge with inconsistent addresses, and modules that do not fit.
  const k = new Uint8Array(0x100);
  k.set(header(0x10000, [0x200000, 0x200010, 0, 0, 0x200040]), 0);
  expectCode(() => loadMultiboot(ram, k, opts), "E_MB_AOUT", /above header_addr/);
  expectCode(() => loadMultiboot(ram, img, { ...opts, modules: [{ data: new Uint8Array(RAM), cmdline: "" }] }), "E_NO_ROOM", /module 0/);
});

test("the loader fills the BIOS data area as a PC BIOS would: COM ports, EBDA segment, base memory", () => {
  const ram = new TestRam(RAM);
  loadMultiboot(ram, elfKernel().img, { cmdline: "", modules: [], e820: pcE820Map(RAM) });
  const w16 = (a: number): number => ram.bytes[a] | (ram.bytes[a + 1] << 8);
  assert.equal(w16(0x400), 0x3f8);
  assert.equal(w16(0x402), 0x2f8);
  assert.equal(w16(0x40e), 0x9fc0, "EBDA segment (the EBDA at 0x9FC00, reserved in the E820 map)");
  assert.equal(w16(0x413), 639, "conventional memory in KiB, up to the EBDA");
});
