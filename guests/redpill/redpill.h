/* vmm86 red-pill guest: the machine layout the kernel builds and boot.s relies on.
 *
 * Everything here is fixed by this file, not by the linker, so the values the probes
 * should observe on a real i686 can be written down from the SDM alone
 * (docs/redpill.md has the table).
 *
 *   0x00180000  GDT   8 descriptors, limit 0x3F
 *   0x00181000  IDT   256 gates, limit 0x7FF
 *   0x00182000  LDT   2 descriptors, limit 0x0F
 *   0x00183000  TSS   32-bit, limit 0x67, no I/O bitmap
 *   0x00184000  the LDT data segment's base (4 KiB, limit 0xFFF)
 *   0x0018C000  top of the ring-3 stack (16 KiB below it)
 *   0x00190000  top of the ring-0 stack for traps from ring 3 (TSS.ESP0)
 *   0x00194000  top of the SYSENTER stack (IA32_SYSENTER_ESP)
 */
#ifndef REDPILL_H
#define REDPILL_H

#define GDT_ADDR        0x00180000
#define IDT_ADDR        0x00181000
#define LDT_ADDR        0x00182000
#define TSS_ADDR        0x00183000
#define LDT_DATA_BASE   0x00184000
#define USER_STACK_TOP  0x0018C000
#define TRAP_STACK_TOP  0x00190000
#define SYSENTER_STACK_TOP 0x00194000

/* Selectors. SYSENTER/SYSEXIT need KERNEL_CS, +8 kernel stack, +16 user code, +24
 * user stack (SDM vol. 2 "SYSENTER"). */
#define KERNEL_CS   0x08   /* GDT 1: code, DPL 0, flat */
#define KERNEL_DS   0x10   /* GDT 2: data, DPL 0, flat */
#define USER_CS     0x1B   /* GDT 3: code, DPL 3, flat */
#define USER_DS     0x23   /* GDT 4: data, DPL 3, flat */
#define TSS_SEL     0x28   /* GDT 5: 32-bit TSS */
#define LDT_SEL     0x30   /* GDT 6: the LDT */
#define PROBE_SEL   0x3B   /* GDT 7: data, DPL 3, base 0, byte limit 0x12345 (FS) */
#define LDT_DATA    0x07   /* LDT 0: data, DPL 3, base 0x184000, limit 0xFFF (GS) */

#define GDT_ENTRIES 8
#define PROBE_LIMIT 0x12345

#define INT_PROBE_VECTOR 0x81   /* DPL-3 interrupt gate used by the INT n probe */

#endif
