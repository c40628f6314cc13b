// Where the monitor lives: its region at the top of every guest linear address space and
// the monitor RAM behind it (docs/monitor.md, "Address spaces and memory").
//
//   region offset   contents                         machine GDT selectors (indices 8187–8191)
//   0x000000        GDT (64 KiB: the guest's shadow, then the monitor's own entries)
//   0x010000        shadow LDT (64 KiB)
//   0x020000        IDT (256 gates into the native page)
//   0x021000        TSS (ring-0 stack; no I/O bitmap: all guest I/O faults)
//   0x022000        native monitor code (one entry per vector)
//   0x023000        monitor stack (20 KiB)
//   0x100000        translation cache (2.9 MiB, mode bt)
//   0x3fd000        the region's page tables: two PAE ones (8 KiB), then a 32-bit one
//
// Monitor RAM is machine-physical memory above the guest's RAM: the region's 4 MiB, then
// the shadow page-table pool. No guest page table can name it: the guest's view of
// physical memory ends at its RAM size.

import * as F from "../hw/cpu/eflags.js";

export const REGION_BASE = 0xffc0_0000;
export const REGION_SIZE = 0x40_0000;
/** The last linear byte a truncated guest segment may reach. */
export const GUEST_LIMIT_TOP = REGION_BASE - 1;

export const GDT_OFF = 0x0_0000;
export const GDT_BYTES = 0x1_0000;
export const LDT_OFF = 0x1_0000;
export const LDT_BYTES = 0x1_0000;
export const IDT_OFF = 0x2_0000;
export const TSS_OFF = 0x2_1000;
export const NATIVE_OFF = 0x2_2000;
export const STACK_OFF = 0x2_3000;
export const STACK_TOP = 0x2_8000;
export const TC_OFF = 0x10_0000;
export const TC_BYTES = 0x2e_0000;
/** The region's own page table sits in monitor RAM here (it is not mapped in the region). */
export const REGION_PT_OFF = 0x3f_f000;
/** The same mappings as two PAE page tables (8-byte entries, 2 MiB each), for PAE shadows. */
export const REGION_PAE_PT_OFF = 0x3f_d000;

/** Native entry points: one per vector, 16 bytes apart; the idle loop after them. */
export const NATIVE_STRIDE = 16;
export const NATIVE_IDLE = 256 * NATIVE_STRIDE;

/** Machine GDT entries the monitor keeps for itself, above any guest GDT. */
export const SEL_TC_CS = 0xffd8 | 1;   // translated guest kernel code: DPL 1, execute-only, flat
export const SEL_LDT = 0xffe0;         // the shadow LDT
export const SEL_TSS = 0xffe8;         // the monitor's TSS
export const SEL_MON_DS = 0xfff0;      // monitor data and stack, DPL 0
export const SEL_MON_CS = 0xfff8;      // monitor code, DPL 0
/**
 * Six entries that hold the descriptor a guest segment register has cached when the guest's
 * table no longer says the same (it rewrote the entry or loaded another GDT after loading
 * the register): the machine runs on the cached copy, as the processor would.
 */
export const SEL_CACHED_BASE = 0xffa8;
/** The first GDT byte offset the monitor reserves; a guest GDT must end below it. */
export const MONITOR_GDT_START = SEL_CACHED_BASE;

/** The TSC-deadline timer's vector and the translator's callout vector. */
export const VEC_TIMER = 0xf0;
export const VEC_CALLOUT = 0xf1;

/** Shadow page-table pool, in pages of monitor RAM after the region. */
export const DEFAULT_POOL_PAGES = 2048;

// ---- The long-mode region (64-bit guests; docs/long-mode-monitor.md) ----
//
// Linux amd64 leaves 0xFFFFFFFFFFE00000–0xFFFFFFFFFFFFFFFF unused (mm.rst: a 2 MiB hole
// above the vsyscall page): the region is that hole, one PDE (PML4 511 → PDPT 511 → PD 511)
// pointing at the region's own page table. Region offsets:
//
//   0x000000  GDT (64 KiB: guest shadow entries, then the monitor's own at the top)
//   0x010000  shadow LDT (64 KiB)
//   0x020000  IDT: 256 sixteen-byte 64-bit interrupt gates
//   0x021000  64-bit TSS: RSP0 and IST1 in the region, no I/O bitmap
//   0x022000  native monitor code (one entry per vector), the idle loop
//   0x023000  monitor stack (RSP0), then the IST1 stack (#DF, NMI, #MC)
//   0x030000  translation cache (within ±2 GiB of the kernel at 0xFFFFFFFF81000000)
//   0x1FE000  (monitor RAM only, not mapped) the user set's page table (two-tables)
//   0x1FF000  (monitor RAM only, not mapped) the region's page table

/** The long-mode region's first byte, as a canonical linear address (a JS number). */
export const REGION64_BASE = -0x20_0000;
export const REGION64_SIZE = 0x20_0000;
/**
 * The 32-bit segment limit that, with EFER.LMSLE, ends the guest kernel's data segments
 * just below the region (the check applies in the top 4 GB: APM vol. 2 §4.12.2).
 */
export const GUEST_LIMIT64 = 0xffdf_ffff;
export const IST_STACK_TOP = 0x2_a000;
export const TC64_OFF = 0x3_0000;
export const TC64_BYTES = 0x1c_0000;
export const REGION64_PT_OFF = 0x1f_f000;
/** --protect two-tables: the region's page table for the user set (the TC supervisor-only there). */
export const REGION64_USER_PT_OFF = 0x1f_e000;

/** Machine GDT entries of the long-mode world (64-bit TSS and LDT descriptors take two). */
export const SEL64_MON_CS = 0xfff8;      // 64-bit monitor code, DPL 0 (L = 1)
export const SEL64_MON_DS = 0xfff0;      // monitor data and stack, DPL 0
export const SEL64_TSS = 0xffe0;         // 16-byte 64-bit TSS descriptor (0xffe0, 0xffe8)
export const SEL64_TC_CS = 0xffd8;       // translated guest kernel code, 64-bit; RPL/DPL = the guest kernel's ring
export const SEL64_GUEST_DS = 0xffd0;    // flat data at the guest kernel's ring, limit GUEST_LIMIT64 (stands in for a null selector)
export const SEL64_LDT = 0xffc0;         // 16-byte LDT descriptor (0xffc0, 0xffc8)
/** Six entries for descriptors a guest segment register has cached (as SEL_CACHED_BASE). */
export const SEL64_CACHED_BASE = 0xff90;
export const MONITOR_GDT64_START = SEL64_CACHED_BASE;

/**
 * EFLAGS bits the guest's virtual CPU holds and the machine's EFLAGS does not (the machine
 * runs the guest with IF set and the monitor's IOPL): the rest are the guest's own on the
 * machine while it runs.
 */
export const VIRTUAL_FLAGS = F.IF | F.IOPL | F.NT | F.VM | F.VIF | F.VIP;
