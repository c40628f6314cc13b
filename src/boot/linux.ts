// The Linux/x86 boot protocol (Documentation/arch/x86/boot.rst, protocol 2.15), 32-bit entry:
// parse a bzImage's setup header, place the protected-mode kernel, initrd and command line,
// build boot_params (the "zero page") and enter at code32_start with ESI = boot_params.
// Direct entry unpacks the payload (XZ or gzip) to the vmlinux ELF and enters its
// startup_32 with the same boot_params, in the state arch/x86/boot/compressed/head_32.S
// leaves after extract_kernel(): flat segments, interrupts off, ESI = boot_params, EBX = 0.

import { BootError, hex } from "./errors.js";
import { loadSegments, parseElf32, physicalEntry, physicalExtent } from "./elf.js";
import {
  checkInRam, cString, LeBuffer, type E820Entry, type EntryState, type GuestMemoryWriter,
  writeBiosDataArea,
} from "./memory.js";
import { xzDecode } from "./xz/xz.js";
import { gunzip } from "./inflate.js";

// Offsets in the bzImage's first sector and in boot_params (boot.rst "THE REAL-MODE KERNEL
// HEADER" and "ZERO PAGE").
export const BP = {
  EXT_RAMDISK_IMAGE: 0x0c0,
  EXT_RAMDISK_SIZE: 0x0c4,
  EXT_CMD_LINE_PTR: 0x0c8,
  ALT_MEM_K: 0x1e0,
  E820_ENTRIES: 0x1e8,
  SENTINEL: 0x1ef,
  SETUP_SECTS: 0x1f1,
  SYSSIZE: 0x1f4,
  BOOT_FLAG: 0x1fe,
  JUMP: 0x200,
  HEADER: 0x202,
  VERSION: 0x206,
  TYPE_OF_LOADER: 0x210,
  LOADFLAGS: 0x211,
  CODE32_START: 0x214,
  RAMDISK_IMAGE: 0x218,
  RAMDISK_SIZE: 0x21c,
  HEAP_END_PTR: 0x224,
  EXT_LOADER_VER: 0x226,
  CMD_LINE_PTR: 0x228,
  INITRD_ADDR_MAX: 0x22c,
  KERNEL_ALIGNMENT: 0x230,
  RELOCATABLE_KERNEL: 0x234,
  XLOADFLAGS: 0x236,
  CMDLINE_SIZE: 0x238,
  PAYLOAD_OFFSET: 0x248,
  PAYLOAD_LENGTH: 0x24c,
  PREF_ADDRESS: 0x258,
  INIT_SIZE: 0x260,
  E820_TABLE: 0x2d0,
} as const;

/** loadflags bits. */
export const LOADED_HIGH = 0x01, KASLR_FLAG = 0x02, QUIET_FLAG = 0x20, KEEP_SEGMENTS = 0x40, CAN_USE_HEAP = 0x80;
const HDRS = 0x53726448; // "HdrS"
const E820_MAX_ENTRIES_ZEROPAGE = 128;
const BOOT_PARAMS_SIZE = 0x1000;
/** boot_params ends its copy of the setup header here (edd_mbr_sig_buffer follows). */
const SETUP_HEADER_LIMIT = 0x290;

/** Where the loader puts things (all below the EBDA, above the BIOS data area). */
export const LINUX_LAYOUT = {
  BOOT_PARAMS: 0x10000,
  CMDLINE: 0x20000,
  /** Protected-mode kernel of a bzImage: the traditional high load address. */
  KERNEL_HIGH: 0x100000,
} as const;

/** type_of_loader: 0xFF, "undefined" in boot.rst's assigned boot loader IDs. */
export const LOADER_TYPE_UNDEFINED = 0xff;
const MIN_VERSION = 0x0204;

export interface SetupHeader {
  version: number;
  setupSects: number;
  syssize: number;
  /** Length of the setup header from 0x1F1 (boot.rst: ends at 0x202 + byte at 0x201). */
  headerEnd: number;
  loadflags: number;
  code32Start: number;
  initrdAddrMax: number;
  kernelAlignment: number;
  relocatable: boolean;
  cmdlineSize: number;
  payloadOffset: number;
  payloadLength: number;
  /** LOAD_PHYSICAL_ADDR of the kernel (pref_address; 0x100000 before protocol 2.10). */
  prefAddress: number;
  /** Memory the kernel needs from its load address while initializing (0 before 2.10). */
  initSize: number;
  /** File offset of the protected-mode kernel: (setup_sects + 1) * 512. */
  pmOffset: number;
}

function imageError(code: "E_IMAGE_TRUNCATED" | "E_IMAGE_MAGIC" | "E_IMAGE_VERSION" | "E_IMAGE_NOT_BZIMAGE", msg: string): never {
  throw new BootError(code, msg);
}

/** Parse and validate a bzImage's setup header. */
export function parseSetupHeader(img: Uint8Array): SetupHeader {
  if (img.length < 0x264) {
    imageError("E_IMAGE_TRUNCATED", `kernel image is ${img.length} bytes, too short to hold a setup header (needs 0x264)`);
  }
  const v = new DataView(img.buffer, img.byteOffset, img.byteLength);
  if (v.getUint32(BP.HEADER, true) !== HDRS) {
    imageError("E_IMAGE_MAGIC", `no "HdrS" setup header at 0x202: not a Linux x86 kernel image (bzImage)`);
  }
  if (v.getUint16(BP.BOOT_FLAG, true) !== 0xaa55) {
    imageError("E_IMAGE_MAGIC", "boot_flag at 0x1FE is not 0xAA55: not a Linux x86 kernel image");
  }
  const version = v.getUint16(BP.VERSION, true);
  if (version < MIN_VERSION) {
    imageError("E_IMAGE_VERSION",
      `boot protocol ${version >> 8}.${(version & 0xff).toString().padStart(2, "0")} is too old; this loader needs 2.04 or newer (Linux 2.6+)`);
  }
  const loadflags = img[BP.LOADFLAGS];
  if (!(loadflags & LOADED_HIGH)) {
    imageError("E_IMAGE_NOT_BZIMAGE", "loadflags.LOADED_HIGH is clear: a zImage (loaded at 0x10000); build a bzImage");
  }
  const setupSects = img[BP.SETUP_SECTS] || 4;
  const pmOffset = (setupSects + 1) * 512;
  const syssize = v.getUint32(BP.SYSSIZE, true);
  // syssize counts 16-byte paragraphs rounded up, so the last one may be partly absent.
  if (img.length < pmOffset + syssize * 16 - 15) {
    imageError("E_IMAGE_TRUNCATED",
      `kernel image is ${img.length} bytes but its header declares ${pmOffset + syssize * 16} (setup ${pmOffset} + syssize ${syssize}×16): the file is truncated`);
  }
  const headerEnd = Math.min(0x202 + img[BP.JUMP + 1], SETUP_HEADER_LIMIT);
  const has = (ver: number): boolean => version >= ver;
  return {
    version,
    setupSects,
    syssize,
    headerEnd,
    loadflags,
    code32Start: v.getUint32(BP.CODE32_START, true),
    initrdAddrMax: v.getUint32(BP.INITRD_ADDR_MAX, true),
    kernelAlignment: has(0x205) ? v.getUint32(BP.KERNEL_ALIGNMENT, true) : 0,
    relocatable: has(0x205) && img[BP.RELOCATABLE_KERNEL] !== 0,
    cmdlineSize: has(0x206) ? v.getUint32(BP.CMDLINE_SIZE, true) : 255,
    payloadOffset: has(0x208) ? v.getUint32(BP.PAYLOAD_OFFSET, true) : 0,
    payloadLength: has(0x208) ? v.getUint32(BP.PAYLOAD_LENGTH, true) : 0,
    prefAddress: has(0x20a) ? v.getUint32(BP.PREF_ADDRESS, true) : LINUX_LAYOUT.KERNEL_HIGH,
    initSize: has(0x20a) ? v.getUint32(BP.INIT_SIZE, true) : 0,
    pmOffset,
  };
}

/** Formats the payload of a bzImage can be in (boot.rst: payload_offset). */
export type PayloadFormat = "xz" | "gzip" | "bzip2" | "lzma" | "lzo" | "lz4" | "zstd" | "unknown";

export function payloadFormat(p: Uint8Array): PayloadFormat {
  const at = (...b: number[]): boolean => b.every((x, i) => p[i] === x);
  if (at(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return "xz";
  if (at(0x1f, 0x8b)) return "gzip";
  if (at(0x42, 0x5a, 0x68)) return "bzip2";
  if (at(0x5d, 0x00, 0x00)) return "lzma";
  if (at(0x89, 0x4c, 0x5a, 0x4f)) return "lzo";
  if (at(0x02, 0x21, 0x4c, 0x18)) return "lz4";
  if (at(0x28, 0xb5, 0x2f, 0xfd)) return "zstd";
  return "unknown";
}

/** The compressed payload bytes of a bzImage (protocol 2.08+). */
export function payloadBytes(img: Uint8Array, h: SetupHeader): Uint8Array {
  const proto = `${h.version >> 8}.${(h.version & 0xff).toString(16).padStart(2, "0")}`;
  if (h.version < 0x208) {
    throw new BootError("E_IMAGE_VERSION",
      `the image's boot protocol ${proto} predates payload_offset (2.08), so direct entry cannot find the kernel inside it; run it with --entry bzimage`);
  }
  if (h.payloadLength === 0) {
    throw new BootError("E_IMAGE_NO_PAYLOAD",
      `the image (boot protocol ${proto}) has no compressed kernel (payload_length 0): it uses the Linux header for ` +
      `its own code, as memtest86+ does; run it with --entry bzimage`);
  }
  const start = h.pmOffset + h.payloadOffset, end = start + h.payloadLength;
  if (end > img.length) {
    throw new BootError("E_IMAGE_TRUNCATED", `payload ends at ${hex(end)} but the image is ${hex(img.length)} bytes`);
  }
  return img.subarray(start, end);
}

/**
 * The unpacked size a compressed payload ends with (XZ: the kernel build's size_append;
 * gzip: ISIZE), or 0 for a payload too short to hold it.
 */
export function unpackedSize(p: Uint8Array): number {
  return p.length >= 4 ? (p[p.length - 4] | (p[p.length - 3] << 8) | (p[p.length - 2] << 16) | (p[p.length - 1] << 24)) >>> 0 : 0;
}

/**
 * Unpack a bzImage's payload to the vmlinux ELF (with the relocation table the build appends
 * after it, when CONFIG_X86_NEED_RELOCS). XZ payloads carry the uncompressed size in their
 * last four bytes (scripts: size_append), used to size the output once.
 */
export function unpackPayload(img: Uint8Array, h: SetupHeader = parseSetupHeader(img)): { format: PayloadFormat; vmlinux: Uint8Array } {
  const p = payloadBytes(img, h);
  const format = payloadFormat(p);
  if (format === "xz") {
    const size = unpackedSize(p);
    const hint = size > 0 && size < 1 << 30 ? size : undefined;
    return { format, vmlinux: xzDecode(p, { singleStream: true, sizeHint: hint }).data };
  }
  if (format === "gzip") {
    return { format, vmlinux: gunzip(p) };
  }
  throw new BootError("E_PAYLOAD_FORMAT",
    format === "unknown"
      ? "the payload is in an unrecognized format; direct entry supports XZ and gzip kernels (run it with --entry bzimage)"
      : `the payload is ${format}-compressed; direct entry supports XZ and gzip kernels (run it with --entry bzimage)`);
}

export interface LinuxOptions {
  initrd?: Uint8Array;
  cmdline: string;
  e820: E820Entry[];
  /** Unpack the payload and enter the decompressed kernel's startup_32 directly. */
  direct?: boolean;
  /**
   * How direct entry gets the unpacked vmlinux (default: unpackPayload). The CLI passes one
   * that keeps the result in a cache on disk (src/cli/unpack-cache.ts): the XZ decode takes
   * about a second of host time on every boot otherwise.
   */
  unpack?: (kernel: Uint8Array, h: SetupHeader) => Uint8Array;
}

/** Where loadLinux placed things (for logs and tests). */
export interface LinuxPlacement {
  bootParams: number;
  cmdline: number;
  kernel: { start: number; end: number };
  initrd?: { start: number; size: number };
}

/**
 * Load a bzImage and return the 32-bit protocol entry state. Throws BootError for images it
 * cannot boot and for RAM too small to hold everything.
 */
export function loadLinux(mem: GuestMemoryWriter, kernel: Uint8Array, opts: LinuxOptions): EntryState {
  return loadLinuxWithPlacement(mem, kernel, opts).entry;
}

export function loadLinuxWithPlacement(mem: GuestMemoryWriter, kernel: Uint8Array, opts: LinuxOptions):
  { entry: EntryState; placement: LinuxPlacement } {
  const h = parseSetupHeader(kernel);
  const L = LINUX_LAYOUT;
  writeBiosDataArea(mem);

  // Command line (boot.rst: cmd_line_ptr, at most cmdline_size bytes before the NUL).
  const cmd = kernelCmdline(opts.cmdline, h);

  // The kernel: either the protected-mode part of the bzImage at 1 MiB (its decompressor then
  // extracts to LOAD_PHYSICAL_ADDR = pref_address, using init_size bytes from there), or the
  // unpacked vmlinux at its physical addresses.
  let eip: number;
  let kernelStart: number, kernelEnd: number;
  const runtimeEnd = h.prefAddress + h.initSize;
  if (opts.direct) {
    const vmlinux = opts.unpack !== undefined ? opts.unpack(kernel, h) : unpackPayload(kernel, h).vmlinux;
    const elf = parseElf32(vmlinux, "unpacked kernel (vmlinux)");
    const ext = physicalExtent(elf);
    // misc.c parse_elf(): segment i goes to output + (p_paddr - LOAD_PHYSICAL_ADDR); loading at
    // output = LOAD_PHYSICAL_ADDR puts it at p_paddr and needs no relocation processing.
    if (h.version >= 0x20a && ext.low < h.prefAddress) {
      throw new BootError("E_ELF", `vmlinux segment at ${hex(ext.low)} lies below the kernel's LOAD_PHYSICAL_ADDR ${hex(h.prefAddress)}`);
    }
    kernelStart = ext.low;
    kernelEnd = Math.max(ext.high, runtimeEnd);
    checkRoom(mem, kernelEnd, "the unpacked kernel and its init_size");
    loadSegments(mem, vmlinux, elf, "vmlinux");
    eip = physicalEntry(elf);
  } else {
    // boot.rst: a bzImage's protected-mode code starts at code32_start, 0x100000 unless a
    // boot loader moves it. 0 means the image has no 32-bit entry: iPXE's .lkrn (and other
    // programs that borrow the Linux header) must be started by their own real-mode setup
    // code, which this loader does not run.
    if (h.code32Start === 0) {
      throw new BootError("E_IMAGE_NO_32BIT_ENTRY",
        "the image's code32_start is 0: it has no 32-bit entry point and must be started by its own real-mode " +
        "setup code (as iPXE's .lkrn is), which vmm86's loader does not run");
    }
    const pm = kernel.subarray(h.pmOffset);
    kernelStart = L.KERNEL_HIGH;
    kernelEnd = Math.max(L.KERNEL_HIGH + pm.length, runtimeEnd);
    checkRoom(mem, kernelEnd, "the kernel and the area it decompresses into (pref_address + init_size)");
    mem.write(L.KERNEL_HIGH, pm);
    eip = L.KERNEL_HIGH;
  }

  const initrd = placeInitrd(mem, h, opts.initrd, opts.e820, kernelEnd);

  writeBootParams(mem, kernel, h, cmd, initrd, opts.e820);

  return {
    entry: { eip, regs: { esi: L.BOOT_PARAMS, ebp: 0, edi: 0, ebx: 0 }, mode: "protected32" },
    placement: { bootParams: L.BOOT_PARAMS, cmdline: L.CMDLINE, kernel: { start: kernelStart, end: kernelEnd }, initrd },
  };
}

/** Initrd: as high as possible below min(RAM top, initrd_addr_max + 1), page aligned, above `kernelEnd`. */
export function placeInitrd(mem: GuestMemoryWriter, h: SetupHeader, data: Uint8Array | undefined, e820: E820Entry[], kernelEnd: number):
  LinuxPlacement["initrd"] {
  if (!data || data.length === 0) return undefined;
  const limit = Math.min(ramTop(mem, e820), h.initrdAddrMax + 1);
  const start = Math.floor((limit - data.length) / 4096) * 4096;
  if (start < kernelEnd) {
    const needMiB = Math.ceil((kernelEnd + data.length + 4096) / 0x100000);
    throw new BootError("E_NO_ROOM",
      `no room for the ${data.length}-byte initrd between the kernel (ends at ${hex(kernelEnd)}) and ${hex(limit)}; give the guest at least ${needMiB} MiB`);
  }
  mem.write(start, data);
  return { start, size: data.length };
}

/**
 * boot_params (zeroed, the setup header copied in at its own offsets, loader fields set) at
 * LINUX_LAYOUT.BOOT_PARAMS and the command line at LINUX_LAYOUT.CMDLINE; the same for the
 * 32-bit and the 64-bit protocol.
 */
export function writeBootParams(mem: GuestMemoryWriter, kernel: Uint8Array, h: SetupHeader, cmd: Uint8Array,
  initrd: LinuxPlacement["initrd"], e820: E820Entry[]): void {
  const L = LINUX_LAYOUT;
  const bp = new LeBuffer(BOOT_PARAMS_SIZE);
  bp.bytes.set(kernel.subarray(BP.SETUP_SECTS, h.headerEnd), BP.SETUP_SECTS);
  bp.u8(BP.TYPE_OF_LOADER, LOADER_TYPE_UNDEFINED);
  bp.u8(BP.LOADFLAGS, (h.loadflags | CAN_USE_HEAP) & ~(KEEP_SEGMENTS | KASLR_FLAG));
  // Setup's heap end relative to the real-mode code, minus 0x200 (boot.rst: heap_end_ptr); no
  // real-mode code runs under the 32-bit protocol, so this only describes a 64 KiB segment.
  bp.u16(BP.HEAP_END_PTR, 0xfe00 - 0x200);
  bp.u8(BP.EXT_LOADER_VER, 0);
  bp.u32(BP.CMD_LINE_PTR, L.CMDLINE);
  bp.u32(BP.EXT_CMD_LINE_PTR, 0);
  bp.u32(BP.RAMDISK_IMAGE, initrd?.start ?? 0);
  bp.u32(BP.RAMDISK_SIZE, initrd?.size ?? 0);
  bp.u32(BP.EXT_RAMDISK_IMAGE, 0);
  bp.u32(BP.EXT_RAMDISK_SIZE, 0);
  writeE820(bp, e820);
  checkInRam(mem, L.BOOT_PARAMS, BOOT_PARAMS_SIZE, "boot_params");
  checkInRam(mem, L.CMDLINE, cmd.length, "command line");
  mem.write(L.BOOT_PARAMS, bp.bytes);
  mem.write(L.CMDLINE, cmd);
}

/** The command line as the kernel gets it; E_CMDLINE_TOO_LONG beyond cmdline_size. */
export function kernelCmdline(cmdline: string, h: SetupHeader): Uint8Array {
  const cmd = cString(cmdline);
  if (cmd.length - 1 > h.cmdlineSize) {
    throw new BootError("E_CMDLINE_TOO_LONG", `command line is ${cmd.length - 1} bytes; this kernel accepts at most ${h.cmdlineSize}`);
  }
  return cmd;
}

export function checkRoom(mem: GuestMemoryWriter, end: number, what: string): void {
  if (end > mem.ramBytes) {
    throw new BootError("E_NO_ROOM",
      `${what} need RAM up to ${hex(end)} but the guest has ${hex(mem.ramBytes)} bytes; give it at least ${Math.ceil(end / 0x100000) + 1} MiB`);
  }
}

/** End of the usable RAM range that contains 1 MiB (initrds go at its top), capped by RAM size. */
function ramTop(mem: GuestMemoryWriter, e820: E820Entry[]): number {
  for (const e of e820) {
    if (e.type === 1 && e.base <= 0x100000 && e.base + e.length > 0x100000) return Math.min(e.base + e.length, mem.ramBytes);
  }
  return mem.ramBytes;
}

/** e820_entries and e820_table (struct boot_e820_entry: u64 addr, u64 size, u32 type). */
function writeE820(bp: LeBuffer, e820: E820Entry[]): void {
  if (e820.length > E820_MAX_ENTRIES_ZEROPAGE) {
    throw new BootError("E_NO_ROOM", `${e820.length} E820 entries exceed the zero page's ${E820_MAX_ENTRIES_ZEROPAGE}`);
  }
  bp.u8(BP.E820_ENTRIES, e820.length);
  e820.forEach((e, i) => {
    const o = BP.E820_TABLE + i * 20;
    bp.u64(o, e.base);
    bp.u64(o + 8, e.length);
    bp.u32(o + 16, e.type);
  });
  // alt_mem_k: KiB of RAM above 1 MiB, for kernels that look at it when E820 is absent.
  const high = e820.find((e) => e.type === 1 && e.base === 0x100000);
  bp.u32(BP.ALT_MEM_K, high ? Math.floor(high.length / 1024) : 0);
}
