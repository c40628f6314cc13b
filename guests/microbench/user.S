# vmm86 micro-benchmark guest: the ring-3 loops. Linked into their own pages (.utext),
# the only kernel-image pages mapped user-accessible. Each is entered by enter_user()
# with its iteration count at 4(%esp), uses no memory but its stack and the pages it
# is given, and ends with the SYS_EXIT call.
#include "microbench.h"

        .text

# n null system calls through the DPL-3 interrupt gate 0x80. 4 instructions/op here.
        .globl u_syscall
u_syscall:
        movl 4(%esp), %esi
1:      movl $SYS_NULL, %eax
        int $0x80
        decl %esi
        jnz 1b
        jmp u_exit

# n null system calls through SYSENTER; SYSEXIT comes back to 2: with our ESP.
# 6 instructions/op here.
        .globl u_sysenter
u_sysenter:
        movl 4(%esp), %esi
1:      movl $SYS_NULL, %eax
        movl %esp, %ecx
        movl $2f, %edx
        sysenter
2:      decl %esi
        jnz 1b
        jmp u_exit

# n reads of the never-mapped page; the kernel's #PF handler checks CR2 and the error
# code and steps over the 2-byte load (8b 03). 3 instructions/op here.
        .globl u_pgfault
u_pgfault:
        movl 4(%esp), %esi
        movl $PGFAULT_VA, %ebx
1:      movl (%ebx), %eax
        decl %esi
        jnz 1b
        jmp u_exit

# n divisions by zero; the kernel's #DE handler steps over the 2-byte DIV (f7 f1).
# 5 instructions/op here.
        .globl u_divzero
u_divzero:
        movl 4(%esp), %esi
        xorl %ecx, %ecx
1:      movl $1, %eax
        xorl %edx, %edx
        divl %ecx
        decl %esi
        jnz 1b
        jmp u_exit

# The forkwait child: write one word to each of its FORK_PAGES pages (page i gets
# FORK_PAGES - i), then exit. Needs no stack.
        .globl u_child
u_child:
        movl $FORK_BASE, %edi
        movl $FORK_PAGES, %ecx
1:      movl %ecx, (%edi)
        addl $4096, %edi
        decl %ecx
        jnz 1b
        jmp u_exit

u_exit:
        movl $SYS_EXIT, %eax
        xorl %ebx, %ebx
        int $0x80
2:      jmp 2b

        .section .note.GNU-stack, "", @progbits
