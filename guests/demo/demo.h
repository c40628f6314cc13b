/* vmm86 demo guest: what the kernel and the user programs agree on.
 *
 * The user address space of each process (besides the kernel's identity map of the
 * first 4 MiB, which is supervisor-only except for the pages holding the user code):
 *
 *   0x00400000  info page    private, read-only to ring 3: pid and preemption count,
 *                            written by the kernel
 *   0x00401000  baton page   shared by both processes, read/write: whose turn it is
 *                            to print (so the serial output does not depend on when
 *                            the timer happens to fire)
 *   0x00402000  stack        private, two pages, read/write; grows down from 0x00404000
 */
#ifndef DEMO_H
#define DEMO_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;

#define USER_INFO      0x00400000u
#define USER_BATON     0x00401000u
#define USER_STACK     0x00402000u
#define USER_STACK_TOP 0x00404000u

/* System calls: int 0x80, number in EAX, arguments in EBX, ECX; result in EAX. */
#define SYS_WRITE  1   /* write(buf, len) -> len, or -1 if buf is not user memory */
#define SYS_GETPID 2   /* getpid() -> 1 or 2 */
#define SYS_YIELD  3   /* yield() -> 0: run the other process if it can run */
#define SYS_EXIT   4   /* exit(code): does not return */

#define NROUNDS 4      /* rounds of work each process does */

struct info_page {
  volatile u32 pid;
  volatile u32 preemptions;  /* times the timer took the CPU from this process */
};

struct baton_page {
  volatile u32 turn;         /* pid allowed to print next */
};

#endif
