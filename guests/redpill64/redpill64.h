/* vmm86 64-bit red-pill guest: the machine layout the kernel builds and boot.s relies on.
 *
 * Everything here is fixed by this file, not by the linker, so what the probes should
 * observe follows from the SDM and these numbers alone.
 *
 *   0x00180000  GDT   11 descriptors (the TSS and LDT take two slots each), limit 0x57
 *   0x00181000  IDT   256 16-byte gates, limit 0xFFF
 *   0x00182000  LDT   1 descriptor, limit 0x07
 *   0x00183000  TSS   64-bit, limit 0x67, no I/O bitmap
 *   0x00184000  the LDT data segment's base (4 KiB, limit 0xFFF)
 *   0x0018C000  top of the ring-3 stack
 *   0x00190000  top of the ring-0 stack for traps from ring 3 (TSS.RSP0)
 *   0x001A0000  PML4, PDPT, PD: the first GiB identity-mapped with 2 MiB pages, U/S=1
 */
#ifndef REDPILL64_H
#define REDPILL64_H

#define GDT_ADDR        0x00180000
#define IDT_ADDR        0x00181000
#define LDT_ADDR        0x00182000
#define TSS_ADDR        0x00183000
#define LDT_DATA_BASE   0x00184000
#define USER_STACK_TOP  0x0018C000
#define TRAP_STACK_TOP  0x00190000
#define PML4_ADDR       0x001A0000

/* Selectors. SYSCALL loads CS = STAR[47:32] (0x08) and SS = that + 8; 64-bit SYSRET loads
 * CS = STAR[63:48] + 16 (0x2B) and SS = STAR[63:48] + 8 (0x23) (SDM vol. 2 "SYSCALL",
 * "SYSRET"), so the user selectors sit in that order, as in every 64-bit OS. */
#define KERNEL_CS   0x08   /* GDT 1: 64-bit code, DPL 0 */
#define KERNEL_DS   0x10   /* GDT 2: data, DPL 0, flat */
#define USER_CS32   0x1B   /* GDT 3: 32-bit code, DPL 3 (STAR's SYSRET base; not run) */
#define USER_DS     0x23   /* GDT 4: data, DPL 3, flat */
#define USER_CS     0x2B   /* GDT 5: 64-bit code, DPL 3 */
#define TSS_SEL     0x30   /* GDT 6-7: 64-bit TSS */
#define LDT_SEL     0x40   /* GDT 8-9: the LDT */
#define PROBE_SEL   0x53   /* GDT 10: data, DPL 3, base 0, byte limit 0x12345 (FS) */
#define LDT_DATA    0x07   /* LDT 0: data, DPL 3, base 0x184000, limit 0xFFF (GS) */

#define GDT_ENTRIES 11
#define PROBE_LIMIT 0x12345
#define STAR_SYSCALL_CS 0x08
#define STAR_SYSRET_BASE 0x18

#define INT_PROBE_VECTOR 0x81   /* DPL-3 interrupt gate used by the INT n probe */

#endif
