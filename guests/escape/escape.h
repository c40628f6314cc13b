/* vmm86 escape guest: the layout every attempt relies on.
 *
 * Guest-linear address space (32-bit paging, 4 KiB pages, SDM Vol. 3A §4.3):
 *
 *   0x00000000 ... RAM top   identity map of guest RAM (up to 128 MiB), user-accessible
 *   0xE0000000 ... +16 MiB   PTE window: four page tables the page-table attempts fill
 *   0xE1000000               a PDE the pde-above-ram attempt points above RAM
 *   0xFFBFF000               decoy D: the last page below the monitor region
 *   0xFFC00000               decoy A: the first page of the monitor region (stubs here)
 *   0xFFC01000 ... 0xFFFFE000  decoy C: every middle page of the region maps this frame
 *   0xFFFFF000               decoy B: the last page of the region
 *
 * The decoys are ordinary guest frames, also reachable through the identity map (the
 * "alias"). A write aimed at the region that a faithful machine performs lands in a decoy
 * and shows through the alias; a write that lands anywhere else (the monitor's own pages)
 * completes but does not show: the guest sees "wrote-lost".
 */
#ifndef ESCAPE_H
#define ESCAPE_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;

#define REGION        0xFFC00000u
#define REGION_LAST   0xFFFFF000u
#define BELOW_REGION  0xFFBFF000u
#define WINDOW        0xE0000000u
#define WINDOW_PAGES  4096u        /* 16 MiB of PTEs */
#define PDE_WINDOW    896u         /* 0xE0000000 >> 22 */
#define PDE_FOREIGN   900u         /* 0xE1000000 >> 22 */

/* Offsets in decoy A of the code stubs the control-transfer attempts run. Each stub
 * stores CS in EAX (xor %eax,%eax; mov %cs,%ax) and returns its own way. */
#define STUB_RET      0x400        /* ret */
#define STUB_LRET     0x410        /* lret */
#define STUB_IRET     0x420        /* iret */
#define STUB_UD       0x430        /* addl $2,(%esp); iret: returns past a ud2 */
#define STUB_LANDING  0x440        /* jmp *%ss:landing_ptr */
#define TABLE_COPY    0x800        /* where lgdt/lidt/ldt attempts put their tables */
#define PROBE         0x200        /* a known dword the read attempts look for */
#define PROBE_VALUE   0x600DF00Du

#define MARK          0xE5CA9E00u  /* what the write attempts write */

/* GDT selectors. */
#define KCODE         0x08
#define KDATA         0x10
#define UCODE         0x1B
#define UDATA         0x23
#define TSS_MAIN      0x28
#define SEL_SCRATCH   0x30         /* a data descriptor each attempt shapes */
#define SEL_CODE0     0x38         /* a DPL 0 code segment behind the user call gate */
#define SEL_TSS2      0x40         /* the task the task-switch attempts run */
#define SEL_TASKGATE  0x48
#define SEL_CALLGATE  0x50         /* DPL 0 call gate */
#define SEL_LDT       0x58
#define SEL_UCALLGATE 0x60         /* DPL 3 call gate (used as 0x63) */
#define GDT_ENTRIES   13
#define LDT_SEL0      0x04         /* LDT index 0, TI = 1, RPL 0 */

/* Written to port 0xF4 (isa-debug-exit): status = (value << 1) | 1. */
#define EXIT_DONE     0x10         /* every requested attempt ran: 33 */
#define EXIT_BAD      0x11         /* unknown attempt name or no Multiboot magic: 35 */

#endif
