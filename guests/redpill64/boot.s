# vmm86 64-bit red-pill guest: Multiboot v1 entry (32-bit, protected mode, paging off),
# the switch to long mode, interrupt stubs, the probe harness (run_probe/probe_resume, a
# setjmp that a fault handler can resume), the way into and out of ring 3, the far-call
# target and the SYSCALL entry.
#
# Multiboot Specification 0.6.96 §3.2; Intel SDM vol. 3A §9.8.5 (initializing IA-32e
# mode), §6.14 (64-bit interrupt frame: SS:RSP always pushed), vol. 2 "SYSCALL",
# "SYSRET", "IRET". The constants below repeat redpill64.h.

        .set MB_MAGIC,    0x1BADB002
        .set MB_FLAGS,    0x00000003
        .set MB_CHECKSUM, -(MB_MAGIC + MB_FLAGS)
        .set KERNEL_CS,   0x08
        .set KERNEL_DS,   0x10
        .set USER_DS,     0x23
        .set USER_CS,     0x2B
        .set USER_STACK_TOP, 0x0018C000
        .set PML4,        0x001A0000

        .section .multiboot, "a"
        .balign 4
        .long MB_MAGIC, MB_FLAGS, MB_CHECKSUM

        .section .bss
        .balign 16
kernel_stack:
        .skip 16384
kernel_stack_top:

        .section .data
        .balign 8
boot_gdt:                                      # null, 64-bit code 0x08, data 0x10
        .quad 0
        .quad 0x00AF9B000000FFFF
        .quad 0x00CF93000000FFFF
boot_gdtr:
        .word 3 * 8 - 1
        .long boot_gdt

        .section .text32, "ax"
        .code32
        .globl _start
_start:
        cli
        cld
        movl $kernel_stack_top, %esp
        movl %ebx, %esi                        # multiboot info, kept for kmain
        # Long mode needs CPUID 0x80000001 EDX bit 29 (LM); without it, say so and stop.
        movl $0x80000000, %eax
        cpuid
        cmpl $0x80000001, %eax
        jb no_long_mode
        movl $0x80000001, %eax
        cpuid
        btl $29, %edx
        jnc no_long_mode
        # PML4[0] -> PDPT, PDPT[0] -> PD, PD[i] = i * 2 MiB (P, RW, US, PS).
        movl $PML4, %edi
        movl $(3 * 4096 / 4), %ecx
        xorl %eax, %eax
        rep stosl
        movl $(PML4 + 0x1000 + 7), PML4
        movl $(PML4 + 0x2000 + 7), PML4 + 0x1000
        xorl %ecx, %ecx
1:      movl %ecx, %eax
        shll $21, %eax
        orl $0x87, %eax
        movl %eax, PML4 + 0x2000(, %ecx, 8)
        incl %ecx
        cmpl $512, %ecx
        jne 1b
        lgdt boot_gdtr
        movl %cr4, %eax
        orl $0x20, %eax                        # PAE
        movl %eax, %cr4
        movl $PML4, %eax
        movl %eax, %cr3
        movl $0xC0000080, %ecx                 # IA32_EFER: LME, SCE
        rdmsr
        orl $0x101, %eax
        wrmsr
        movl %cr0, %eax
        orl $0x80000000, %eax
        movl %eax, %cr0
        ljmp $KERNEL_CS, $long_entry

no_long_mode:
        movl $msg_no_lm, %esi
1:      movb (%esi), %al
        testb %al, %al
        jz 2f
        movw $0x3F8, %dx
        outb %al, %dx
        incl %esi
        jmp 1b
2:      movb $0x11, %al
        outb %al, $0xF4
3:      cli
        hlt
        jmp 3b
msg_no_lm:
        .asciz "RP-ABORT no long mode: CPUID 0x80000001 EDX bit 29 (LM) is clear\n"

        .text
        .code64
long_entry:
        movw $KERNEL_DS, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movq $kernel_stack_top, %rsp
        movl %esi, %edi
        call kmain
1:      cli
        hlt
        jmp 1b

# Every vector enters through a stub that leaves the same frame (struct frame in
# redpill64.c): error code (0 if none), vector, general registers, data segment registers.
        .macro STUB_NOERR vec
        .globl vector\vec
vector\vec:
        pushq $0
        pushq $\vec
        jmp trap_common
        .endm

        .macro STUB_ERR vec
        .globl vector\vec
vector\vec:
        pushq $\vec
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
        pushq %rax
        pushq %rcx
        pushq %rdx
        pushq %rbx
        pushq %rbp
        pushq %rsi
        pushq %rdi
        pushq %r8
        pushq %r9
        pushq %r10
        pushq %r11
        pushq %r12
        pushq %r13
        pushq %r14
        pushq %r15
        xorl %eax, %eax
        movw %ds, %ax
        pushq %rax
        movw %es, %ax
        pushq %rax
        movw %fs, %ax
        pushq %rax
        movw %gs, %ax
        pushq %rax
        movq %rsp, %rdi                        # struct frame *
        movq %rsp, %rbx
        andq $-16, %rsp
        call trap
        movq %rbx, %rsp
        popq %rax
        movw %ax, %gs
        popq %rax
        movw %ax, %fs
        popq %rax
        movw %ax, %es
        popq %rax
        movw %ax, %ds
        popq %r15
        popq %r14
        popq %r13
        popq %r12
        popq %r11
        popq %r10
        popq %r9
        popq %r8
        popq %rdi
        popq %rsi
        popq %rbp
        popq %rbx
        popq %rdx
        popq %rcx
        popq %rax
        addq $16, %rsp                         # vector and error code
        iretq

# void run_probe(u64 index): runs probe_dispatch(index) at the current privilege level.
# A fault inside the probe is caught by trap(), which records it and resumes at
# probe_resume (at the same privilege level) with the stack pointer saved here.
        .globl run_probe, probe_resume
run_probe:
        pushq %rbp
        pushq %rbx
        pushq %r12
        pushq %r13
        pushq %r14
        pushq %r15
        movq %rsp, probe_rsp
        movl $1, probe_active
        subq $8, %rsp                          # 16-byte alignment for the call
        call probe_dispatch
probe_resume:
        movl $0, probe_active
        movq probe_rsp, %rsp
        cld
        popq %r15
        popq %r14
        popq %r13
        popq %r12
        popq %rbx
        popq %rbp
        ret

# void enter_ring3(void): run ring3_main at CPL 3 (IRETQ to an outer level) with IF=1
# and IOPL 0; returns when ring 3 reaches r3_done (trap() sends that #UD to ring3_exit).
        .globl enter_ring3, ring3_exit
enter_ring3:
        pushq %rbp
        pushq %rbx
        pushq %r12
        pushq %r13
        pushq %r14
        pushq %r15
        movq %rsp, kernel_saved_rsp
        movw $USER_DS, %ax
        movw %ax, %ds
        movw %ax, %es
        pushq $USER_DS
        pushq $USER_STACK_TOP
        pushq $0x202
        pushq $USER_CS
        pushq $ring3_main
        iretq
ring3_exit:
        movw $KERNEL_DS, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        movq kernel_saved_rsp, %rsp
        popq %r15
        popq %r14
        popq %r13
        popq %r12
        popq %rbx
        popq %rbp
        ret

# Ring 3 hands each result to the kernel with UD2 at one of these two addresses.
        .globl r3_yield, r3_done
r3_yield:
        ud2
        ret
r3_done:
        ud2
1:      jmp 1b

# The far CALL probe's target: a far CALL with the default operand size (32 bits in
# 64-bit mode) pushes CS and EIP as doublewords; record the CS (at 4(%rsp)) and return
# with a 32-bit RET far.
        .globl far_target
far_target:
        movl 4(%rsp), %eax
        movl %eax, far_pushed_cs
        lretl

# SYSCALL lands here at CPL 0 with CS = STAR[47:32], SS = that + 8, RCX = the return
# RIP, R11 = RFLAGS and RFLAGS masked by IA32_FMASK; RSP is not changed (SDM vol. 2
# "SYSCALL"). Record what arrived, then go back: SYSRET to ring 3, or, from ring 0 (which
# SYSRET cannot return to), restore RFLAGS and jump.
        .globl syscall_entry
syscall_entry:
        xorl %eax, %eax
        movw %cs, %ax
        movl %eax, syscall_seen_cs
        movw %ss, %ax
        movl %eax, syscall_seen_ss
        pushfq
        popq %rax
        movl %eax, syscall_seen_flags
        movq %r11, syscall_seen_r11
        movl $1, syscall_hit
        cmpl $0, syscall_from_user
        je 1f
        sysretq
1:      pushq %r11
        popfq
        jmpq *%rcx

# Small helpers for the C code.
        .globl load_tables
load_tables:                                   # load_tables(gdtr *, idtr *)
        lgdt (%rdi)
        lidt (%rsi)
        pushq $KERNEL_CS
        leaq 1f(%rip), %rax
        pushq %rax
        lretq
1:      movw $KERNEL_DS, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        ret

        .section .note.GNU-stack, "", @progbits
