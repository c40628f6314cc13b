# vmm86 64-bit escape guest: Multiboot v1 entry (32-bit), the switch to long mode, 256
# interrupt stubs of 16 bytes, trap_common, the attempt harness (run_attempt /
# attempt_resume: a setjmp a fault handler can resume), the way to ring 3, and the code
# stubs an attempt copies into the region to run there.
#
# Multiboot 0.6.96 §3.2; SDM vol. 3A §9.8.5 (IA-32e initialization), §6.14 (64-bit
# interrupt frame), vol. 2 SYSCALL, SYSRET, IRET.

        .set MB_MAGIC,    0x1BADB002
        .set MB_FLAGS,    0x00000003
        .set MB_CHECKSUM, -(MB_MAGIC + MB_FLAGS)
        .set KERNEL_CS,   0x08
        .set KERNEL_DS,   0x10
        .set USER_DS,     0x23
        .set USER_CS,     0x2B
        .set BOOT_PML4,   0x001B0000
        .set RAN_CS,      0x001F0000

        .section .multiboot, "a"
        .balign 4
        .long MB_MAGIC, MB_FLAGS, MB_CHECKSUM

        .section .bss
        .balign 16
kernel_stack:
        .skip 32768
        .globl kernel_stack_top
kernel_stack_top:

        .section .data
        .balign 8
boot_gdt:
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
        movl %ebx, %esi
        movl $0x80000000, %eax
        cpuid
        cmpl $0x80000001, %eax
        jb no_long_mode
        movl $0x80000001, %eax
        cpuid
        btl $29, %edx
        jnc no_long_mode
        # Boot tables at 0x1B0000 (the kernel builds its own later): the first GiB 1:1.
        movl $BOOT_PML4, %edi
        movl $(3 * 4096 / 4), %ecx
        xorl %eax, %eax
        rep stosl
        movl $(BOOT_PML4 + 0x1000 + 7), BOOT_PML4
        movl $(BOOT_PML4 + 0x2000 + 7), BOOT_PML4 + 0x1000
        xorl %ecx, %ecx
1:      movl %ecx, %eax
        shll $21, %eax
        orl $0x87, %eax
        movl %eax, BOOT_PML4 + 0x2000(, %ecx, 8)
        incl %ecx
        cmpl $512, %ecx
        jne 1b
        lgdt boot_gdtr
        movl %cr4, %eax
        orl $0x20, %eax
        movl %eax, %cr4
        movl $BOOT_PML4, %eax
        movl %eax, %cr3
        movl $0xC0000080, %ecx
        rdmsr
        orl $0x101, %eax                       # LME, SCE
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
        .asciz "escape64: no long mode: CPUID 0x80000001 EDX bit 29 (LM) is clear\n"

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

# 256 stubs, 16 bytes each (stubs + 16 * vector): error code (0 if the CPU pushes none),
# vector, then trap_common.
        .balign 16
        .globl stubs
stubs:
        .set vec, 0
        .rept 256
        .balign 16
        .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
        pushq $vec
        .else
        pushq $0
        pushq $vec
        .endif
        jmp trap_common
        .set vec, vec + 1
        .endr

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
        movq %rsp, %rdi
        movq %rsp, %rbx
        andq $-16, %rsp
        cld
        call trap
        movq %rbx, %rsp
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
        addq $16, %rsp
        iretq

# void run_attempt(void (*fn)(void)): calls fn at CPL 0; a fault inside it is caught by
# trap(), which records it and resumes at attempt_resume with the RSP saved here.
        .globl run_attempt, attempt_resume
run_attempt:
        pushq %rbp
        pushq %rbx
        pushq %r12
        pushq %r13
        pushq %r14
        pushq %r15
        movq %rsp, attempt_rsp
        movl $1, attempt_active
        subq $8, %rsp
        call *%rdi
attempt_resume:
        movl $0, attempt_active
        movq attempt_rsp, %rsp
        movw $KERNEL_DS, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        cld
        popq %r15
        popq %r14
        popq %r13
        popq %r12
        popq %rbx
        popq %rbp
        ret

# void to_ring3(u64 rip, u64 rsp): IRETQ to ring 3 (IF=0 stays clear: RFLAGS = 2).
# Ring 3 comes back by INT 0x80 (a DPL 3 gate) or a fault, both caught by trap().
        .globl to_ring3
to_ring3:
        movw $USER_DS, %ax
        movw %ax, %ds
        movw %ax, %es
        pushq $USER_DS
        pushq %rsi
        pushq $0x2
        pushq $USER_CS
        pushq %rdi
        iretq

# Code an attempt copies into the region (position-independent; RAN_CS is absolute).
        .globl stub_ret, stub_lret, stub_iret, stub_iret_skip2, stub_sysret, stub_syscall_k, stub_user_int80, stub_end
stub_ret:                                      # near call target
        movl %cs, %eax
        movl %eax, RAN_CS
        ret
stub_lret:                                     # far call / far return target
        movl %cs, %eax
        movl %eax, RAN_CS
        lretq
stub_iret:                                     # interrupt gate target
        movl %cs, %eax
        movl %eax, RAN_CS
        iretq
stub_iret_skip2:                               # #UD gate target: return past the UD2
        movl %cs, %eax
        movl %eax, RAN_CS
        addq $2, (%rsp)
        iretq
stub_sysret:                                   # LSTAR target for a SYSCALL from ring 3
        movl %cs, %eax
        movl %eax, RAN_CS
        sysretq
stub_syscall_k:                                # LSTAR target for a SYSCALL from ring 0
        movl %cs, %eax
        movl %eax, RAN_CS
        pushq %r11
        popfq
        jmpq *%rcx
stub_user_int80:                               # ring-3 code in the region
        movl %cs, %eax
        movl %eax, RAN_CS
        int $0x80
stub_end:

# Ring-3 routines in the kernel image (pages are user-accessible).
        .globl user_syscall, user_callgate, gate_ptr
user_syscall:
        syscall
        int $0x80
user_callgate:
        lcall *gate_ptr
        int $0x80

        .section .data
        .balign 8
gate_ptr:                                      # m16:32: the offset is ignored through a gate
        .long 0
        .word 0x43                             # SPARE_SEL | RPL 3

        .section .note.GNU-stack, "", @progbits
