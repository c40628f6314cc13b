// Just enough ELF (System V gABI, the i386 and x86-64 psABIs) to load an executable: the
// ELF32 or ELF64 header and its PT_LOAD program headers. Used for the unpacked Linux vmlinux
// (32- and 64-bit) and for multiboot kernels.

import { BootError, hex } from "./errors.js";
import { checkInRam, type GuestMemoryWriter } from "./memory.js";

export const PT_LOAD = 1;
const EM_386 = 3;
const ET_EXEC = 2;

export interface ElfSegment {
  offset: number;
  vaddr: number;
  paddr: number;
  filesz: number;
  memsz: number;
  flags: number;
}

export interface Elf32 {
  entry: number;
  /** PT_LOAD segments with memsz > 0, in file order. */
  segments: ElfSegment[];
}

/** True if `img` starts with the ELF magic. */
export function isElf(img: Uint8Array): boolean {
  return img.length >= 4 && img[0] === 0x7f && img[1] === 0x45 && img[2] === 0x4c && img[3] === 0x46;
}

function elfError(what: string, msg: string): never {
  throw new BootError("E_ELF", `${what}: ${msg}`);
}

/** Parse a 32-bit little-endian i386 executable; `what` names it in error messages. */
export function parseElf32(img: Uint8Array, what: string): Elf32 {
  if (!isElf(img)) elfError(what, "no ELF magic (7F 'ELF')");
  if (img.length < 52) elfError(what, `truncated: ${img.length} bytes is shorter than an ELF32 header`);
  if (img[4] === 2) elfError(what, "a 64-bit ELF; this loader needs a 32-bit (ELFCLASS32) image");
  if (img[4] !== 1) elfError(what, `unknown ELF class ${img[4]}`);
  if (img[5] !== 1) elfError(what, "not little-endian (ELFDATA2LSB)");
  const v = new DataView(img.buffer, img.byteOffset, img.byteLength);
  const type = v.getUint16(16, true), machine = v.getUint16(18, true);
  if (machine !== EM_386) elfError(what, `e_machine is ${machine}, not EM_386 (3)`);
  if (type !== ET_EXEC) elfError(what, `e_type is ${type}, not ET_EXEC (2)`);
  const entry = v.getUint32(24, true);
  const phoff = v.getUint32(28, true);
  const phentsize = v.getUint16(42, true), phnum = v.getUint16(44, true);
  if (phnum === 0) elfError(what, "no program headers");
  if (phentsize < 32) elfError(what, `program header size ${phentsize} is below 32`);
  if (phoff + phnum * phentsize > img.length) {
    elfError(what, `truncated: program headers end at ${hex(phoff + phnum * phentsize)}, file is ${hex(img.length)} bytes`);
  }
  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (v.getUint32(p, true) !== PT_LOAD) continue;
    const s: ElfSegment = {
      offset: v.getUint32(p + 4, true),
      vaddr: v.getUint32(p + 8, true),
      paddr: v.getUint32(p + 12, true),
      filesz: v.getUint32(p + 16, true),
      memsz: v.getUint32(p + 20, true),
      flags: v.getUint32(p + 24, true),
    };
    if (s.memsz === 0) continue;
    if (s.filesz > s.memsz) elfError(what, `segment ${i} has p_filesz ${hex(s.filesz)} > p_memsz ${hex(s.memsz)}`);
    if (s.offset + s.filesz > img.length) {
      elfError(what, `truncated: segment ${i} needs file bytes up to ${hex(s.offset + s.filesz)}, file is ${hex(img.length)} bytes`);
    }
    segments.push(s);
  }
  if (segments.length === 0) elfError(what, "no loadable (PT_LOAD) segments");
  return { entry, segments };
}

const EM_X86_64 = 62;

/**
 * Parse a 64-bit little-endian x86-64 executable (the unpacked x86-64 vmlinux) to the same
 * shape as parseElf32. Physical addresses, sizes and offsets must lie below 2^53 (they are
 * physical addresses of a guest); `vaddr` keeps only bits 31:0 of p_vaddr (x86-64 kernels
 * link at 0xFFFFFFFF8…), and `entry` is already physical: e_entry if it lies in a
 * segment's physical range, else translated through the segment whose virtual range holds it.
 */
export function parseElf64(img: Uint8Array, what: string): Elf32 {
  if (!isElf(img)) elfError(what, "no ELF magic (7F 'ELF')");
  if (img.length < 64) elfError(what, `truncated: ${img.length} bytes is shorter than an ELF64 header`);
  if (img[4] === 1) elfError(what, "a 32-bit ELF; this loader needs a 64-bit (ELFCLASS64) image");
  if (img[4] !== 2) elfError(what, `unknown ELF class ${img[4]}`);
  if (img[5] !== 1) elfError(what, "not little-endian (ELFDATA2LSB)");
  const v = new DataView(img.buffer, img.byteOffset, img.byteLength);
  const type = v.getUint16(16, true), machine = v.getUint16(18, true);
  if (machine !== EM_X86_64) elfError(what, `e_machine is ${machine}, not EM_X86_64 (62)`);
  if (type !== ET_EXEC) elfError(what, `e_type is ${type}, not ET_EXEC (2)`);
  const u64 = (o: number): bigint => v.getBigUint64(o, true);
  const num = (o: number, field: string): number => {
    const x = u64(o);
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) elfError(what, `${field} ${"0x" + x.toString(16)} is beyond 2^53`);
    return Number(x);
  };
  const entry = u64(24);
  const phoff = num(32, "e_phoff");
  const phentsize = v.getUint16(54, true), phnum = v.getUint16(56, true);
  if (phnum === 0) elfError(what, "no program headers");
  if (phentsize < 56) elfError(what, `program header size ${phentsize} is below 56`);
  if (phoff + phnum * phentsize > img.length) {
    elfError(what, `truncated: program headers end at ${hex(phoff + phnum * phentsize)}, file is ${hex(img.length)} bytes`);
  }
  const segments: ElfSegment[] = [];
  const vaddrs: bigint[] = [];
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (v.getUint32(p, true) !== PT_LOAD) continue;
    const s: ElfSegment = {
      flags: v.getUint32(p + 4, true),
      offset: num(p + 8, "p_offset"),
      vaddr: Number(u64(p + 16) & 0xffff_ffffn),
      paddr: num(p + 24, "p_paddr"),
      filesz: num(p + 32, "p_filesz"),
      memsz: num(p + 40, "p_memsz"),
    };
    if (s.memsz === 0) continue;
    if (s.filesz > s.memsz) elfError(what, `segment ${i} has p_filesz ${hex(s.filesz)} > p_memsz ${hex(s.memsz)}`);
    if (s.offset + s.filesz > img.length) {
      elfError(what, `truncated: segment ${i} needs file bytes up to ${hex(s.offset + s.filesz)}, file is ${hex(img.length)} bytes`);
    }
    segments.push(s);
    vaddrs.push(u64(p + 16));
  }
  if (segments.length === 0) elfError(what, "no loadable (PT_LOAD) segments");
  let phys: number | undefined;
  for (const s of segments) if (entry >= BigInt(s.paddr) && entry < BigInt(s.paddr + s.memsz)) phys = Number(entry);
  if (phys === undefined) {
    segments.forEach((s, k) => {
      if (phys === undefined && entry >= vaddrs[k] && entry < vaddrs[k] + BigInt(s.memsz)) phys = Number(entry - vaddrs[k]) + s.paddr;
    });
  }
  if (phys === undefined) elfError(what, `e_entry ${"0x" + entry.toString(16)} lies in no loadable segment`);
  return { entry: phys, segments };
}

/**
 * Physical address of the entry point: e_entry itself if it lies in a segment's physical
 * range, else translated through the segment whose virtual range holds it (kernels linked
 * high with a low load address).
 */
export function physicalEntry(elf: Elf32): number {
  for (const s of elf.segments) if (elf.entry >= s.paddr && elf.entry < s.paddr + s.memsz) return elf.entry;
  for (const s of elf.segments) {
    if (elf.entry >= s.vaddr && elf.entry < s.vaddr + s.memsz) return (elf.entry - s.vaddr + s.paddr) >>> 0;
  }
  return elf.entry;
}

/** Copy every PT_LOAD segment to its physical address (p_paddr) and zero its bss tail. */
export function loadSegments(mem: GuestMemoryWriter, img: Uint8Array, elf: Elf32, what: string): void {
  for (const s of elf.segments) checkInRam(mem, s.paddr, s.memsz, `${what} segment (p_paddr ${hex(s.paddr)})`);
  for (const s of elf.segments) {
    mem.write(s.paddr, img.subarray(s.offset, s.offset + s.filesz));
    if (s.memsz > s.filesz) mem.write(s.paddr + s.filesz, new Uint8Array(s.memsz - s.filesz));
  }
}

/** Lowest and highest (exclusive) physical addresses the segments occupy. */
export function physicalExtent(elf: Elf32): { low: number; high: number } {
  let low = Infinity, high = 0;
  for (const s of elf.segments) {
    low = Math.min(low, s.paddr);
    high = Math.max(high, s.paddr + s.memsz);
  }
  return { low, high };
}
