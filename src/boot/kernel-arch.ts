// Is a kernel image 64-bit (x86-64) code? Checked before a run, so that a 64-bit kernel on
// a CPU model without long mode is refused with a word about long mode instead of dying on
// its first 64-bit instruction.

import { isElf } from "./elf.js";

const ELFCLASS64 = 2, EM_X86_64 = 62;
/** xloadflags (boot protocol 2.12+, Documentation/arch/x86/boot.rst): the kernel is x86-64. */
const XLF_KERNEL_64 = 1 << 0;
const XLOADFLAGS = 0x236, VERSION = 0x206;

/**
 * Why `img` is a 64-bit kernel (the header field that says so), or null: an ELFCLASS64
 * x86-64 executable, or a bzImage whose xloadflags has XLF_KERNEL_64 — only an x86-64
 * kernel sets it, and such a kernel runs 64-bit code whichever entry point a loader uses.
 */
export function x86_64Kernel(img: Uint8Array): string | null {
  if (isElf(img) && img.length >= 20 && img[4] === ELFCLASS64 && (img[18] | (img[19] << 8)) === EM_X86_64) {
    return "an ELF64 x86-64 executable";
  }
  const bz = img.length > XLOADFLAGS + 1 && img[0x202] === 0x48 && img[0x203] === 0x64 && img[0x204] === 0x72 && img[0x205] === 0x53;
  if (bz && (img[VERSION] | (img[VERSION + 1] << 8)) >= 0x20c && (img[XLOADFLAGS] & XLF_KERNEL_64) !== 0) {
    return "a bzImage whose xloadflags has XLF_KERNEL_64";
  }
  return null;
}
