/* vmm86 64-bit escape guest: the address-space layout the attempts share.
 *
 * Physical (guest RAM, at least 32 MiB; all identity-mapped in the first GiB):
 *   0x00100000  the kernel image (below 0x1C0000)
 *   0x001C0000  GDT (0x1C0000), IDT (0x1C1000), TSS (0x1C2000), LDT (0x1C3000)
 *   0x001D0000  top of the ring-3 stack; 0x1E0000 top of TSS.RSP0's stack
 *   0x001F0000  RAN_CS: where code run in the region records its CS
 *   0x00200000  page tables (PT_BASE: PML4, PDPT low, PD low 0 and 3, PDPT high, PD high, PT)
 *   0x00600000  decoy frames: region_phys(va) = 0x800000 + (va - REGION), for
 *               va from REGION - 2 MiB to the top of the address space
 *   0x00E00000  decoy frames of the low alias LOW_REGION (0xFFC00000, 4 MiB)
 *
 * Linear:
 *   REGION = 0xFFFFFFFFFFC00000, the top 4 MiB of the 64-bit address space (the upper
 *   half's last 4 MiB: where a 64-bit classic monitor hides itself, as the 32-bit one
 *   hides at 0xFFC00000). Its first 2 MiB are mapped by a 4 KiB page table, its last
 *   2 MiB by one 2 MiB page; the 2 MiB below it by another 2 MiB page.
 *   LOW_REGION = 0xFFC00000: the 32-bit monitor's region, mapped with two 2 MiB pages.
 */
#ifndef ESCAPE64_H
#define ESCAPE64_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;

#define GDT_ADDR        0x001C0000ul
#define IDT_ADDR        0x001C1000ul
#define TSS_ADDR        0x001C2000ul
#define LDT_ADDR        0x001C3000ul
#define USER_STACK_TOP  0x001D0000ul
#define RSP0_TOP        0x001E0000ul
#define RAN_CS          0x001F0000ul
#define PT_BASE         0x00200000ul

#define REGION          0xFFFFFFFFFFC00000ul
#define REGION_SIZE     0x400000ul
#define DECOY_BASE      0x00800000ul   /* region_phys(REGION) */
#define LOW_REGION      0xFFC00000ul
#define LOW_DECOY       0x00E00000ul

#define KERNEL_CS   0x08
#define KERNEL_DS   0x10
#define USER_CS32   0x1B
#define USER_DS     0x23
#define USER_CS     0x2B
#define TSS_SEL     0x30   /* GDT 6-7 */
#define SPARE_SEL   0x40   /* GDT 8-9: what an attempt builds (LDT, call gate, second TSS) */
#define DATA_SEL    0x50   /* GDT 10: data an attempt sets up */

#define GDT_SLOTS   16

#endif
