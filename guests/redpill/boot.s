# vmm86 red-pill guest: Multiboot v1 entry, interrupt stubs, the probe harness (a
# setjmp-like run_probe that a fault handler can resume), the way in and out of ring 3,
# the far-call target and the SYSENTER entry.
#
# Multiboot Specification 0.6.96 §3.1-3.2; Intel SDM vol. 3A §6.12 (the frame the
# processor pushes, SS:ESP only on a privilege change), vol. 2 "SYSENTER", "IRET".
# The constants below repeat redpill.h.

        .set MB_MAGIC,    0x1BADB002
        .set MB_FLAGS,    0x00000003
        .set MB_CHECKSUM, -(MB_MAGIC + MB_FLAGS)
        .set KERNEL_CS,   0x08
        .set KERNEL_DS,   0x10
        .set USER_CS,     0x1B
        .set USER_DS,     0x23
        .set USER_STACK_TOP, 0x0018C000

        .section .multiboot, "a"
        .balign 4
        .long MB_MAGIC, MB_FLAGS, MB_CHECKSUM

        .section .bss
        .balign 16
kernel_stack:
        .skip 16384
kernel_stack_top:

        .text
        .globl _start
_start:
        cli
        cld
        movl $kernel_stack_top, %esp
        pushl %ebx                             # multiboot info
        pushl %eax                             # multiboot magic
        call kmain
1:      cli
        hlt
        jmp 1b

# Every vector enters through a stub that leaves the same frame (struct frame in
# redpill.c): error code (0 if none), vector, general registers, data segment registers.
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

        # SDM vol. 3A Table 6-1: vectors 8, 10-14 and 17 push an error code.
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
        STUB_NOERR 32
        STUB_NOERR 33
        STUB_NOERR 34
        STUB_NOERR 35
        STUB_NOERR 36
        STUB_NOERR 37
        STUB_NOERR 38
        STUB_NOERR 39
        STUB_NOERR 40
        STUB_NOERR 41
        STUB_NOERR 42
        STUB_NOERR 43
        STUB_NOERR 44
        STUB_NOERR 45
        STUB_NOERR 46
        STUB_NOERR 47
        STUB_NOERR 129

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

# void run_probe(int index): runs probe_dispatch(index) at the current privilege level.
# A fault inside the probe is caught by trap(), which records it and resumes at
# probe_resume (at the same privilege level) with the stack pointer saved here.
        .globl run_probe, probe_resume
run_probe:
        pushl %ebp
        pushl %ebx
        pushl %esi
        pushl %edi
        movl %esp, probe_esp
        movl 20(%esp), %eax
        movl $1, probe_active
        pushl %eax
        call probe_dispatch
        addl $4, %esp
probe_resume:
        movl $0, probe_active
        movl probe_esp, %esp
        cld
        popl %edi
        popl %esi
        popl %ebx
        popl %ebp
        ret

# void enter_ring3(void): run ring3_main at CPL 3 (IRET to an outer level, SDM vol. 2
# "IRET"), with IF=1 and IOPL 0; returns when ring 3 reaches r3_done (trap() sends the
# #UD there to ring3_exit). DS and ES are loaded with the user data selector first:
# ring 3 must not need to load a segment register itself (it faults on the strict CPU).
        .globl enter_ring3, ring3_exit
enter_ring3:
        pushl %ebp
        pushl %ebx
        pushl %esi
        pushl %edi
        movl %esp, kernel_saved_esp
        movw $USER_DS, %ax
        movw %ax, %ds
        movw %ax, %es
        pushl $USER_DS
        pushl $USER_STACK_TOP
        pushl $0x202
        pushl $USER_CS
        pushl $ring3_main
        iret
ring3_exit:
        movw $KERNEL_DS, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movl kernel_saved_esp, %esp
        popl %edi
        popl %esi
        popl %ebx
        popl %ebp
        ret

# Ring 3 hands each result to the kernel with UD2 at one of these two addresses.
        .globl r3_yield, r3_done
r3_yield:
        ud2
        ret
r3_done:
        ud2
1:      jmp 1b

# The far CALL probe's target: records the CS the call pushed (at 4(%esp), above the
# return EIP) and returns with RET far.
        .globl far_target
far_target:
        movl 4(%esp), %eax
        movl %eax, far_pushed_cs
        lret

# SYSENTER lands here at CPL 0 with CS = IA32_SYSENTER_CS, SS = that + 8 and
# ESP = IA32_SYSENTER_ESP (SDM vol. 2 "SYSENTER"). Record what arrived, then go back to
# the probe: a near jump from CPL 0, an IRET to ring 3 otherwise (SYSEXIT would leave IF
# clear, which later ring-3 probes would see).
        .globl sysenter_entry
sysenter_entry:
        movl %esp, sysenter_seen_esp
        xorl %eax, %eax
        movw %cs, %ax
        movl %eax, sysenter_seen_cs
        movw %ss, %ax
        movl %eax, sysenter_seen_ss
        movl $1, sysenter_hit
        cmpl $0, sysenter_from_user
        jne 1f
        movl sysenter_ret_esp, %esp
        jmp *sysenter_ret_eip
1:      pushl $USER_DS
        pushl sysenter_ret_esp
        pushl $0x202
        pushl $USER_CS
        pushl sysenter_ret_eip
        iret

# Small helpers for the C code.
        .globl load_tables
load_tables:                                   # load_tables(gdtr *, idtr *)
        movl 4(%esp), %eax
        lgdt (%eax)
        movl 8(%esp), %eax
        lidt (%eax)
        ljmp $KERNEL_CS, $1f
1:      movw $KERNEL_DS, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        ret

        .section .note.GNU-stack, "", @progbits
