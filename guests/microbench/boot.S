# vmm86 micro-benchmark guest: Multiboot v1 entry, exception stubs, the int 0x80 and
# SYSENTER entry paths, and the switch into and out of ring 3.
#
# Follows the Multiboot Specification 0.6.96 §3.1-3.2, Intel SDM Vol. 3A §6.12 (the
# frame the processor pushes on an exception, SS:ESP only on a privilege change) and
# SDM Vol. 2B "SYSENTER"/"SYSEXIT" (CS, SS, ESP, EIP from MSRs 0x174-0x176; SYSEXIT
# returns to CS+16/SS+24 at ring 3 with EIP = EDX, ESP = ECX).
#include "microbench.h"

        .set MB_MAGIC,    0x1BADB002
        .set MB_FLAGS,    0x00000003          # page-align modules, memory info
        .set MB_CHECKSUM, -(MB_MAGIC + MB_FLAGS)

        .section .multiboot, "a"
        .balign 4
        .long MB_MAGIC, MB_FLAGS, MB_CHECKSUM

        .section .bss
        .balign 16
        .globl kernel_stack_top, trap_stack_top
kernel_stack:                                  # kmain and the ring-0 benchmarks
        .skip 16384
kernel_stack_top:
trap_stack:                                    # TSS.ESP0 and SYSENTER_ESP: every entry from ring 3
        .skip 8192
trap_stack_top:
saved_kesp:                                    # kernel ESP while ring 3 runs (enter_user)
        .skip 4

        .text
        .globl _start
_start:
        cli
        cld
        movl $kernel_stack_top, %esp
        pushl %ebx                             # multiboot info (physical)
        pushl %eax                             # multiboot magic
        call kmain
1:      cli
        hlt
        jmp 1b

# Exception stubs: every vector reaches trap_common with the same frame (struct frame
# in kernel.c): error code (0 if the processor pushes none), vector, general registers,
# data segment registers.
        .macro STUB_NOERR vec
        .globl vector\vec
vector\vec:
        pushl $0
        pushl $\vec
        jmp trap_common
        .endm

        .macro STUB_ERR vec
        .globl vector\vec
vector\vec:
        pushl $\vec
        jmp trap_common
        .endm

        # SDM Vol. 3A Table 6-1: vectors 8, 10-14 and 17 push an error code.
        STUB_NOERR 0
        STUB_NOERR 1
        STUB_NOERR 2
        STUB_NOERR 3
        STUB_NOERR 4
        STUB_NOERR 5
        STUB_NOERR 6
        STUB_NOERR 7
        STUB_ERR   8
        STUB_NOERR 9
        STUB_ERR   10
        STUB_ERR   11
        STUB_ERR   12
        STUB_ERR   13
        STUB_ERR   14
        STUB_NOERR 15
        STUB_NOERR 16
        STUB_ERR   17
        STUB_NOERR 18
        STUB_NOERR 19
        STUB_NOERR 20
        STUB_NOERR 21
        STUB_NOERR 22
        STUB_NOERR 23
        STUB_NOERR 24
        STUB_NOERR 25
        STUB_NOERR 26
        STUB_NOERR 27
        STUB_NOERR 28
        STUB_NOERR 29
        STUB_NOERR 30
        STUB_NOERR 31
        STUB_NOERR 128

# 10 instructions in, the C handler, 8 instructions out (counted by the tests in
# src/lab/microbench/guest.test.ts; keep them in step).
trap_common:
        pushal
        pushl %ds
        pushl %es
        pushl %fs
        pushl %gs
        movw $KERNEL_DS, %ax
        movw %ax, %ds
        movw %ax, %es
        pushl %esp                             # struct frame *
        call trap
        addl $4, %esp
        popl %gs
        popl %fs
        popl %es
        popl %ds
        popal
        addl $8, %esp                          # vector and error code
        iret

# SYSENTER lands here at ring 0 with IF clear, ESP = trap_stack_top; the caller left
# its return EIP in EDX and its ESP in ECX, which SYSEXIT takes back. DS and ES still
# hold the flat user data selector, which ring 0 may use. 7 instructions and the C
# dispatcher.
        .globl sysenter_entry
sysenter_entry:
        pushl %ecx
        pushl %edx
        pushl %ebx                             # argument
        pushl %eax                             # system call number
        call sysenter_call                     # u32 sysenter_call(u32 nr, u32 arg)
        addl $8, %esp
        popl %edx
        popl %ecx
        sysexit

# u32 enter_user(u32 eip, u32 esp): run ring-3 code at eip with the stack at esp
# (IF clear, IOPL 0) until it makes the SYS_EXIT call; returns that call's argument.
# Callee-saved registers and the kernel stack pointer are kept for leave_user.
        .globl enter_user
enter_user:
        pushl %ebp
        pushl %ebx
        pushl %esi
        pushl %edi
        movl %esp, saved_kesp
        movl 20(%esp), %eax
        movl 24(%esp), %edx
        movw $USER_DS, %cx
        movw %cx, %ds
        movw %cx, %es
        movw %cx, %fs
        movw %cx, %gs
        pushl $USER_DS
        pushl %edx
        pushl $0x002                           # EFLAGS: reserved bit 1 only
        pushl $USER_CS
        pushl %eax
        iret

# leave_user(u32 code): called from the SYS_EXIT handler on the trap stack; abandons
# that frame and returns from enter_user with code.
        .globl leave_user
leave_user:
        movl 4(%esp), %eax
        movl saved_kesp, %esp
        movw $KERNEL_DS, %cx
        movw %cx, %ds
        movw %cx, %es
        xorw %cx, %cx
        movw %cx, %fs
        movw %cx, %gs
        popl %edi
        popl %esi
        popl %ebx
        popl %ebp
        ret

# Descriptor-table loads.
        .globl load_gdt
load_gdt:
        movl 4(%esp), %eax
        lgdt (%eax)
        ljmp $KERNEL_CS, $1f
1:      movw $KERNEL_DS, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        xorw %ax, %ax
        movw %ax, %fs
        movw %ax, %gs
        ret

        .globl load_idt
load_idt:
        movl 4(%esp), %eax
        lidt (%eax)
        ret

        .globl load_tr
load_tr:
        movl 4(%esp), %eax
        ltr %ax
        ret

        .section .note.GNU-stack, "", @progbits
