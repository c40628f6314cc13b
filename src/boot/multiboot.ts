// Multiboot (version 0.6.96, "Multiboot Specification"): find the header in the first 8192
// bytes, load the kernel (ELF, or the a.out kludge addresses when flags bit 16 is set, as
// QEMU's -kernel does), place modules page-aligned above it, and build the multiboot
// information structure (memory sizes, command line, modules, memory map, loader name).
// Entry: EAX = 0x2BADB002, EBX = physical address of the information structure.

import { BootError, hex } from "./errors.js";
import { isElf, loadSegments, parseElf32, physicalEntry, physicalExtent } from "./elf.js";
import { checkInRam, cString, writeBiosDataArea, LeBuffer, type E820Entry, type EntryState, type GuestMemoryWriter } from "./memory.js";

export const MULTIBOOT_HEADER_MAGIC = 0x1badb002;
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
const SEARCH_LIMIT = 8192;

/** Header flags (spec §3.1.2). Bits 0–15 are requirements: unknown ones must fail the load. */
export const MB_PAGE_ALIGN = 1 << 0, MB_MEMORY_INFO = 1 << 1, MB_VIDEO_MODE = 1 << 2, MB_AOUT_KLUDGE = 1 << 16;

/** Information structure flags (spec §3.3). */
export const MBI = {
  MEMORY: 1 << 0, BOOTDEV: 1 << 1, CMDLINE: 1 << 2, MODS: 1 << 3, AOUT_SYMS: 1 << 4, ELF_SHDR: 1 << 5,
  MEM_MAP: 1 << 6, DRIVE_INFO: 1 << 7, CONFIG_TABLE: 1 << 8, BOOT_LOADER_NAME: 1 << 9, APM_TABLE: 1 << 10,
  VBE_INFO: 1 << 11, FRAMEBUFFER_INFO: 1 << 12,
} as const;

/** Field offsets of the information structure. */
export const MBI_OFF = {
  FLAGS: 0, MEM_LOWER: 4, MEM_UPPER: 8, BOOT_DEVICE: 12, CMDLINE: 16, MODS_COUNT: 20, MODS_ADDR: 24,
  SYMS: 28, MMAP_LENGTH: 44, MMAP_ADDR: 48, DRIVES_LENGTH: 52, DRIVES_ADDR: 56, CONFIG_TABLE: 60,
  BOOT_LOADER_NAME: 64, APM_TABLE: 68,
} as const;
/** Size of the information structure up to and including the framebuffer fields. */
const MBI_SIZE = 116;
const MODULE_SIZE = 16;     // mod_start, mod_end, string, reserved
const MMAP_ENTRY_SIZE = 24; // size (=20), base_addr u64, length u64, type
const PAGE = 4096;
export const BOOT_LOADER_NAME = "vmm86";

export interface MultibootHeader {
  /** File offset of the header. */
  offset: number;
  flags: number;
  headerAddr: number;
  loadAddr: number;
  loadEndAddr: number;
  bssEndAddr: number;
  entryAddr: number;
}

/** Find and validate the multiboot header (32-bit aligned, in the first 8192 bytes). */
export function findMultibootHeader(img: Uint8Array): MultibootHeader {
  const v = new DataView(img.buffer, img.byteOffset, img.byteLength);
  const end = Math.min(img.length, SEARCH_LIMIT) - 12;
  for (let off = 0; off <= end; off += 4) {
    if (v.getUint32(off, true) !== MULTIBOOT_HEADER_MAGIC) continue;
    const flags = v.getUint32(off + 4, true);
    const checksum = v.getUint32(off + 8, true);
    if (((MULTIBOOT_HEADER_MAGIC + flags + checksum) >>> 0) !== 0) {
      throw new BootError("E_MB_CHECKSUM",
        `multiboot header at offset ${hex(off)}: magic + flags + checksum = ${hex((MULTIBOOT_HEADER_MAGIC + flags + checksum) >>> 0)}, must be 0`);
    }
    const unknown = flags & 0xffff & ~(MB_PAGE_ALIGN | MB_MEMORY_INFO | MB_VIDEO_MODE);
    if (unknown) {
      throw new BootError("E_MB_FLAGS", `multiboot header requires unknown features (flags bits ${hex(unknown)}); this loader knows bits 0–2 and 16`);
    }
    const h: MultibootHeader = { offset: off, flags, headerAddr: 0, loadAddr: 0, loadEndAddr: 0, bssEndAddr: 0, entryAddr: 0 };
    if (flags & MB_AOUT_KLUDGE) {
      if (off + 32 > img.length) {
        throw new BootError("E_IMAGE_TRUNCATED", "multiboot header with the a.out kludge (flags bit 16) is cut off before its address fields");
      }
      h.headerAddr = v.getUint32(off + 12, true);
      h.loadAddr = v.getUint32(off + 16, true);
      h.loadEndAddr = v.getUint32(off + 20, true);
      h.bssEndAddr = v.getUint32(off + 24, true);
      h.entryAddr = v.getUint32(off + 28, true);
    }
    return h;
  }
  throw new BootError("E_MB_NO_HEADER",
    `no multiboot header (magic 0x1BADB002 at a 4-byte aligned offset) in the first ${SEARCH_LIMIT} bytes: not a multiboot kernel`);
}

export interface MultibootModule {
  data: Uint8Array;
  cmdline: string;
}

export interface MultibootOptions {
  cmdline: string;
  modules: MultibootModule[];
  e820: E820Entry[];
}

export interface MultibootPlacement {
  kernel: { start: number; end: number };
  modules: { start: number; end: number }[];
  info: number;
}

/** Load a multiboot kernel; see loadMultibootWithPlacement. */
export function loadMultiboot(mem: GuestMemoryWriter, elf: Uint8Array, opts: MultibootOptions): EntryState {
  return loadMultibootWithPlacement(mem, elf, opts).entry;
}

/**
 * Load a multiboot v1 kernel and its modules and return the entry state. Throws BootError
 * (E_MB_*, E_ELF, E_SEGMENT_OUTSIDE_RAM, E_NO_ROOM) for images it cannot load.
 */
export function loadMultibootWithPlacement(mem: GuestMemoryWriter, img: Uint8Array, opts: MultibootOptions):
  { entry: EntryState; placement: MultibootPlacement } {
  const h = findMultibootHeader(img);
  let eip: number, kStart: number, kEnd: number;
  writeBiosDataArea(mem);
  if (h.flags & MB_AOUT_KLUDGE) {
    ({ eip, kStart, kEnd } = loadAout(mem, img, h));
  } else {
    if (!isElf(img)) {
      throw new BootError("E_MB_FLAGS", "multiboot kernel is not ELF and its header lacks the a.out kludge (flags bit 16) load addresses");
    }
    const elf = parseElf32(img, "multiboot kernel");
    const ext = physicalExtent(elf);
    loadSegments(mem, img, elf, "multiboot kernel");
    eip = physicalEntry(elf);
    kStart = ext.low;
    kEnd = ext.high;
  }

  // Modules, each page aligned (satisfies flags bit 0 whether or not it is set), above the kernel.
  let cursor = alignUp(kEnd, PAGE);
  const mods: { start: number; end: number }[] = [];
  for (const [i, m] of opts.modules.entries()) {
    checkRoom(mem, cursor, m.data.length, `module ${i} (${m.data.length} bytes)`);
    mem.write(cursor, m.data);
    mods.push({ start: cursor, end: cursor + m.data.length });
    cursor = alignUp(cursor + m.data.length, PAGE);
  }

  // Information area after the modules: the structure, the module list, the memory map, strings.
  const strings: Uint8Array[] = [cString(opts.cmdline), cString(BOOT_LOADER_NAME), ...opts.modules.map((m) => cString(m.cmdline))];
  const modsOff = MBI_SIZE;
  const mmapOff = modsOff + mods.length * MODULE_SIZE;
  const strOff = mmapOff + opts.e820.length * MMAP_ENTRY_SIZE;
  const total = strOff + strings.reduce((n, s) => n + s.length, 0);
  const base = cursor;
  checkRoom(mem, base, total, "the multiboot information structure");
  const buf = new LeBuffer(total);
  const strAddr: number[] = [];
  let sp = strOff;
  for (const s of strings) {
    buf.bytes.set(s, sp);
    strAddr.push(base + sp);
    sp += s.length;
  }

  const { lower, upper } = memSizes(opts.e820);
  buf.u32(MBI_OFF.FLAGS, MBI.MEMORY | MBI.CMDLINE | MBI.MODS | MBI.MEM_MAP | MBI.BOOT_LOADER_NAME);
  buf.u32(MBI_OFF.MEM_LOWER, lower);
  buf.u32(MBI_OFF.MEM_UPPER, upper);
  buf.u32(MBI_OFF.CMDLINE, strAddr[0]);
  buf.u32(MBI_OFF.MODS_COUNT, mods.length);
  buf.u32(MBI_OFF.MODS_ADDR, base + modsOff);
  buf.u32(MBI_OFF.MMAP_LENGTH, opts.e820.length * MMAP_ENTRY_SIZE);
  buf.u32(MBI_OFF.MMAP_ADDR, base + mmapOff);
  buf.u32(MBI_OFF.BOOT_LOADER_NAME, strAddr[1]);
  mods.forEach((m, i) => {
    const o = modsOff + i * MODULE_SIZE;
    buf.u32(o, m.start);
    buf.u32(o + 4, m.end);
    buf.u32(o + 8, strAddr[2 + i]);
    buf.u32(o + 12, 0);
  });
  opts.e820.forEach((e, i) => {
    const o = mmapOff + i * MMAP_ENTRY_SIZE;
    buf.u32(o, MMAP_ENTRY_SIZE - 4);
    buf.u64(o + 4, e.base);
    buf.u64(o + 12, e.length);
    buf.u32(o + 20, e.type);
  });
  mem.write(base, buf.bytes);

  return {
    entry: { eip, regs: { eax: MULTIBOOT_BOOTLOADER_MAGIC, ebx: base }, mode: "protected32" },
    placement: { kernel: { start: kStart, end: kEnd }, modules: mods, info: base },
  };
}

/** Load with the header's address fields (spec §3.1.3): file offset of load_addr follows from header_addr. */
function loadAout(mem: GuestMemoryWriter, img: Uint8Array, h: MultibootHeader): { eip: number; kStart: number; kEnd: number } {
  if (h.loadAddr > h.headerAddr) {
    throw new BootError("E_MB_AOUT", `load_addr ${hex(h.loadAddr)} is above header_addr ${hex(h.headerAddr)}`);
  }
  const fileStart = h.offset - (h.headerAddr - h.loadAddr);
  if (fileStart < 0) {
    throw new BootError("E_MB_AOUT", `header_addr − load_addr = ${hex(h.headerAddr - h.loadAddr)} reaches before the start of the file`);
  }
  const loadEnd = h.loadEndAddr === 0 ? h.loadAddr + (img.length - fileStart) : h.loadEndAddr;
  if (loadEnd < h.loadAddr) throw new BootError("E_MB_AOUT", `load_end_addr ${hex(loadEnd)} is below load_addr ${hex(h.loadAddr)}`);
  const size = loadEnd - h.loadAddr;
  if (fileStart + size > img.length) {
    throw new BootError("E_IMAGE_TRUNCATED", `the a.out kludge loads ${size} bytes from file offset ${hex(fileStart)} but the file is ${img.length} bytes`);
  }
  const bssEnd = h.bssEndAddr === 0 ? loadEnd : h.bssEndAddr;
  if (bssEnd < loadEnd) throw new BootError("E_MB_AOUT", `bss_end_addr ${hex(bssEnd)} is below load_end_addr ${hex(loadEnd)}`);
  checkInRam(mem, h.loadAddr, bssEnd - h.loadAddr, "multiboot kernel (a.out kludge)");
  if (h.entryAddr < h.loadAddr || h.entryAddr >= loadEnd) {
    throw new BootError("E_MB_AOUT", `entry_addr ${hex(h.entryAddr)} lies outside the loaded image ${hex(h.loadAddr)}–${hex(loadEnd)}`);
  }
  mem.write(h.loadAddr, img.subarray(fileStart, fileStart + size));
  if (bssEnd > loadEnd) mem.write(loadEnd, new Uint8Array(bssEnd - loadEnd));
  return { eip: h.entryAddr, kStart: h.loadAddr, kEnd: bssEnd };
}

/** mem_lower: KiB of RAM from 0 (≤ 640); mem_upper: KiB of contiguous RAM from 1 MiB. */
function memSizes(e820: E820Entry[]): { lower: number; upper: number } {
  let lower = 0, upper = 0;
  for (const e of e820) {
    if (e.type !== 1) continue;
    if (e.base === 0) lower = Math.floor(Math.min(e.length, 0xa0000) / 1024);
    if (e.base <= 0x100000 && e.base + e.length > 0x100000) upper = Math.floor((e.base + e.length - 0x100000) / 1024);
  }
  return { lower, upper };
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function checkRoom(mem: GuestMemoryWriter, addr: number, len: number, what: string): void {
  if (addr + len > mem.ramBytes) {
    throw new BootError("E_NO_ROOM",
      `${what} would end at ${hex(addr + len)}, beyond guest RAM (${hex(mem.ramBytes)} bytes); give the guest more memory`);
  }
}
