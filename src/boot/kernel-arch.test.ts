// x86_64Kernel: which images are 64-bit kernels (ELF64 x86-64; bzImage with XLF_KERNEL_64,
// Documentation/arch/x86/boot.rst "xloadflags", protocol 2.12+).

import { test } from "node:test";
import assert from "node:assert/strict";
import { x86_64Kernel } from "./kernel-arch.js";

function elf(cls: number, machine: number): Uint8Array {
  const img = new Uint8Array(64);
  img.set([0x7f, 0x45, 0x4c, 0x46, cls, 1, 1]);
  img[16] = 2; img[18] = machine & 0xff; img[19] = machine >> 8;
  return img;
}

function bz(version: number, xloadflags: number): Uint8Array {
  const img = new Uint8Array(0x1000);
  const v = new DataView(img.buffer);
  v.setUint32(0x202, 0x53726448, true);
  v.setUint16(0x206, version, true);
  v.setUint16(0x236, xloadflags, true);
  return img;
}

test("ELF: only ELFCLASS64 with EM_X86_64 is a 64-bit kernel", () => {
  assert.match(x86_64Kernel(elf(2, 62)) ?? "", /ELF64 x86-64/);
  assert.equal(x86_64Kernel(elf(1, 3)), null, "ELF32 i386");
  assert.equal(x86_64Kernel(elf(2, 183)), null, "ELF64 AArch64 is not ours to judge");
  assert.equal(x86_64Kernel(elf(1, 62)), null, "ELF32 x32");
});

test("bzImage: XLF_KERNEL_64 from protocol 2.12; older headers have no xloadflags", () => {
  assert.match(x86_64Kernel(bz(0x20f, 0x1b)) ?? "", /XLF_KERNEL_64/);
  assert.match(x86_64Kernel(bz(0x20c, 0x01)) ?? "", /XLF_KERNEL_64/);
  assert.equal(x86_64Kernel(bz(0x20f, 0x1a)), null, "a 32-bit kernel (EFI handover bits only)");
  assert.equal(x86_64Kernel(bz(0x20b, 0x01)), null, "protocol 2.11: the field is not xloadflags");
  assert.equal(x86_64Kernel(new Uint8Array(0x100)), null);
});
