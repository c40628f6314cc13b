/* vmm86 micro-benchmark guest: what the kernel (C), its assembly and the ring-3 code
 * agree on. Included by C and by the preprocessed assembly files (.S).
 *
 * Address space of the benchmark process (page directory main_pd; alt_pd is a copy
 * used by the CR3 benchmark). Below 4 MiB: the kernel's identity map, supervisor-only
 * except the pages holding the ring-3 code (.utext, user read-only). From 4 MiB, one
 * page table (user_pt):
 *
 *   0x00400000  user stack, two pages, read/write; grows down from 0x00402000
 *   0x00402000  never mapped: the page-fault benchmark reads it
 *   0x00403000  supervisor read/write; the PTE benchmark switches its frame back and forth
 *
 * A forkwait child gets its own page directory and page table: FORK_PAGES fresh
 * read/write user pages from 0x00400000 and nothing else above 4 MiB.
 */
#ifndef MICROBENCH_H
#define MICROBENCH_H

#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define USER_CS   (0x18 | 3)
#define USER_DS   (0x20 | 3)
#define TSS_SEL   0x28

#define USER_STACK     0x00400000
#define USER_STACK_TOP 0x00402000
#define PGFAULT_VA     0x00402000
#define PTEMOD_VA      0x00403000
#define FORK_BASE      0x00400000
#define FORK_PAGES     16

/* System calls, by int 0x80 or by SYSENTER: number in EAX, argument in EBX. */
#define SYS_NULL 0   /* does nothing, returns 0: the round trip alone */
#define SYS_EXIT 1   /* ends the ring-3 run; EBX comes back as enter_user()'s result */

/* Written to port 0xF4 (isa-debug-exit): the exit status is (value << 1) | 1. */
#define EXIT_PASS 0x10   /* status 33 */
#define EXIT_FAIL 0x11   /* status 35 */

#ifndef __ASSEMBLER__
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

/* boot.S */
extern u32 enter_user(u32 eip, u32 esp);
extern void leave_user(u32 code) __attribute__((noreturn));
extern void sysenter_entry(void);
extern char kernel_stack_top[], trap_stack_top[];

/* kbench.S: the ring-0 loops. Each returns nothing or a check value. */
extern void k_in(u32 n);
extern void k_cr3(u32 pairs, u32 pd_a, u32 pd_b);
extern void k_callret(u32 n);
extern u32 k_ptemod(u32 n, volatile u32 *pte, u32 va, u32 pte_a, u32 pte_b);

/* user.S: the ring-3 loops; each ends with SYS_EXIT. n is their stack argument. */
extern void u_syscall(void);
extern void u_sysenter(void);
extern void u_pgfault(void);
extern void u_divzero(void);
extern void u_child(void);
#endif

#endif
