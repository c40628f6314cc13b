// The Linux/x86 boot protocol, 64-bit entry (Documentation/arch/x86/boot.rst, "64-bit BOOT
// PROTOCOL"): the loader puts the kernel, initrd, command line and boot_params in RAM as for
// the 32-bit protocol (linux.ts), builds identity-mapped 4-level page tables, and enters in
// 64-bit mode with RSI = boot_params: CS = __BOOT_CS (0x10, 64-bit code), DS = ES = SS =
// __BOOT_DS (0x18), CR4.PAE, EFER.LME, CR0.PG|PE, interrupts off (the machine applies that
// state: src/hw/pc/boot-entry.ts).
//
// Two kernels can be entered this way:
//
//   "bzimage64": the bzImage's protected-mode part at pref_address (for a relocatable
//                kernel aligned to kernel_alignment), entered at load address + 0x200, its
//                decompressor's startup_64 (boot.rst: "the 64-bit entry point is at offset
//                0x200"); it decompresses the kernel itself.
//   "direct":    the payload unpacked here (XZ or gzip) to the x86-64 vmlinux, its segments
//                at their physical addresses (p_paddr, from LOAD_PHYSICAL_ADDR = pref_address,
//                where misc.c's parse_elf() puts them, so no relocation is needed), entered at
//                its startup_64 (e_entry, phys_startup_64) in the state the decompressor's
//                head_64.S leaves: identity-mapped page tables, 64-bit mode, RSI = boot_params.

import { BootError, hex } from "./errors.js";
import { loadSegments, parseElf64, physicalExtent } from "./elf.js";
import {
  LINUX_LAYOUT, checkRoom, kernelCmdline, parseSetupHeader, placeInitrd, unpackPayload, writeBootParams,
  type LinuxOptions, type LinuxPlacement,
} from "./linux.js";
import { writeBiosDataArea, type EntryState, type GuestMemoryWriter } from "./memory.js";

/** xloadflags (protocol 2.12+): XLF_KERNEL_64, the kernel has the 64-bit entry at +0x200. */
export const XLF_KERNEL_64 = 1 << 0;
const XLOADFLAGS = 0x236;
/** The 64-bit entry point's offset from the protected-mode kernel's load address. */
export const ENTRY64_OFFSET = 0x200;

/** Where the identity page tables go: conventional memory after the command line. */
export const PAGE_TABLES = 0x30000;
const PAGE = 0x1000;
const GIB = 0x4000_0000;
const MIB2 = 0x20_0000;
/** Page-table entry bits: present, writable, accessed, dirty (PDEs), page size (2 MiB). */
const PTE_P = 1 << 0, PTE_RW = 1 << 1, PTE_A = 1 << 5, PTE_D = 1 << 6, PTE_PS = 1 << 7;
/** The page tables must end below the EBDA (memory.ts EBDA_BASE, page-aligned down). */
const PAGE_TABLES_LIMIT = 0x9f000;

export interface Linux64Options extends Omit<LinuxOptions, "direct"> {
  /** "direct": unpack and enter vmlinux's startup_64; "bzimage64": the decompressor at +0x200. */
  entry: "direct" | "bzimage64";
}

export interface Linux64Placement extends LinuxPlacement {
  /** The PML4 (CR3) and the end of the page tables. */
  pageTables: { pml4: number; end: number };
  /** Bytes mapped 1:1 from physical 0 (a multiple of 1 GiB, at least 4 GiB). */
  identityMapped: number;
}

/**
 * The identity map: PML4[0] → one PDPT whose entries 0…n-1 each point to a page directory of
 * 512 2 MiB pages, mapping [0, n GiB) 1:1 with n = max(4, RAM rounded up to GiB). Returns
 * the tables' bytes (to be written at `base`): PML4, PDPT, then the n PDs.
 */
export function identityPageTables(base: number, ramBytes: number): { bytes: Uint8Array; mapped: number } {
  const gib = Math.max(4, Math.ceil(ramBytes / GIB));
  if (gib > 512) throw new BootError("E_NO_ROOM", `${ramBytes} bytes of RAM need more than one PDPT (512 GiB) of identity map`);
  const bytes = new Uint8Array((2 + gib) * PAGE);
  const v = new DataView(bytes.buffer);
  const put = (off: number, addr: number, flags: number): void => {
    v.setUint32(off, ((addr % 0x1_0000_0000) | flags) >>> 0, true);
    v.setUint32(off + 4, Math.floor(addr / 0x1_0000_0000), true);
  };
  const pdpt = base + PAGE, pd0 = base + 2 * PAGE;
  put(0, pdpt, PTE_P | PTE_RW | PTE_A);
  for (let g = 0; g < gib; g++) {
    put(PAGE + g * 8, pd0 + g * PAGE, PTE_P | PTE_RW | PTE_A);
    for (let k = 0; k < 512; k++) put((2 + g) * PAGE + k * 8, g * GIB + k * MIB2, PTE_P | PTE_RW | PTE_A | PTE_D | PTE_PS);
  }
  return { bytes, mapped: gib * GIB };
}

/** Load a 64-bit kernel (bzImage with XLF_KERNEL_64) and return the 64-bit entry state. */
export function loadLinux64(mem: GuestMemoryWriter, kernel: Uint8Array, opts: Linux64Options): EntryState {
  return loadLinux64WithPlacement(mem, kernel, opts).entry;
}

export function loadLinux64WithPlacement(mem: GuestMemoryWriter, kernel: Uint8Array, opts: Linux64Options):
  { entry: EntryState; placement: Linux64Placement } {
  const h = parseSetupHeader(kernel);
  const xloadflags = h.version >= 0x20c ? kernel[XLOADFLAGS] | (kernel[XLOADFLAGS + 1] << 8) : 0;
  if ((xloadflags & XLF_KERNEL_64) === 0) {
    throw new BootError("E_IMAGE_NO_64BIT_ENTRY",
      `the image has no 64-bit entry point (boot protocol ${h.version >> 8}.${(h.version & 0xff).toString(16).padStart(2, "0")}, ` +
      `xloadflags ${hex(xloadflags)} without XLF_KERNEL_64): it is not an x86-64 kernel; boot it with the 32-bit protocol`);
  }
  writeBiosDataArea(mem);
  const cmd = kernelCmdline(opts.cmdline, h);

  let rip: number, kernelStart: number, kernelEnd: number;
  if (opts.entry === "direct") {
    const vmlinux = opts.unpack !== undefined ? opts.unpack(kernel, h) : unpackPayload(kernel, h).vmlinux;
    const elf = parseElf64(vmlinux, "unpacked kernel (vmlinux)");
    const ext = physicalExtent(elf);
    if (ext.low < h.prefAddress) {
      throw new BootError("E_ELF", `vmlinux segment at ${hex(ext.low)} lies below the kernel's LOAD_PHYSICAL_ADDR ${hex(h.prefAddress)}`);
    }
    kernelStart = ext.low;
    kernelEnd = Math.max(ext.high, h.prefAddress + h.initSize);
    checkRoom(mem, kernelEnd, "the unpacked kernel and its init_size");
    loadSegments(mem, vmlinux, elf, "vmlinux");
    rip = elf.entry;
  } else {
    // boot.rst: a relocatable kernel may be loaded at any kernel_alignment-aligned address;
    // this loader uses pref_address (aligned up), a non-relocatable one must be there.
    const align = h.relocatable && h.kernelAlignment > 0 ? h.kernelAlignment : 1;
    const load = Math.ceil(h.prefAddress / align) * align;
    const pm = kernel.subarray(h.pmOffset);
    kernelStart = load;
    kernelEnd = load + Math.max(pm.length, h.initSize);
    checkRoom(mem, kernelEnd, "the kernel and the area it decompresses into (load address + init_size)");
    mem.write(load, pm);
    rip = load + ENTRY64_OFFSET;
  }

  const initrd = placeInitrd(mem, h, opts.initrd, opts.e820, kernelEnd);
  writeBootParams(mem, kernel, h, cmd, initrd, opts.e820);

  const { bytes, mapped } = identityPageTables(PAGE_TABLES, mem.ramBytes);
  if (PAGE_TABLES + bytes.length > PAGE_TABLES_LIMIT) {
    throw new BootError("E_NO_ROOM", `the identity page tables for ${mem.ramBytes} bytes of RAM do not fit below the EBDA`);
  }
  mem.write(PAGE_TABLES, bytes);

  const L = LINUX_LAYOUT;
  return {
    entry: { eip: rip, regs: { esi: L.BOOT_PARAMS, ebp: 0, edi: 0, ebx: 0 }, mode: "long64", cr3: PAGE_TABLES },
    placement: {
      bootParams: L.BOOT_PARAMS, cmdline: L.CMDLINE, kernel: { start: kernelStart, end: kernelEnd }, initrd,
      pageTables: { pml4: PAGE_TABLES, end: PAGE_TABLES + bytes.length }, identityMapped: mapped,
    },
  };
}
