# vmm86 64-bit micro-benchmark guest: Multiboot v1 entry (32-bit), the switch to long
# mode, the benchmark loops (in assembly, so the instructions per operation are what is
# written here), the minimal handlers they exercise, and the way into and out of ring 3.
#
# SDM vol. 3A §9.8.5, §6.14; vol. 2 SYSCALL, SYSRET, IRET.

        .set MB_MAGIC,    0x1BADB002
        .set MB_FLAGS,    0x00000003
        .set MB_CHECKSUM, -(MB_MAGIC + MB_FLAGS)
        .set KERNEL_CS,   0x08
        .set KERNEL_DS,   0x10
        .set USER_DS,     0x23
        .set USER_CS,     0x2B
        .set BOOT_PML4,   0x001B0000
        .set PGFAULT_VA,  0x80000000

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
        .asciz "MB-FAIL no long mode: CPUID 0x80000001 EDX bit 29 (LM) is clear\nMB end fail\n"

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

# ---- handlers ----------------------------------------------------------------------------

        .globl h_null_iret, h_step2, h_step2_err, h_user_exit, h_fatal, syscall_entry
h_null_iret:                                   # INT 0x80: the null system call
        iretq
h_step2:                                       # #DE: step over the 2-byte DIV
        addq $2, (%rsp)
        iretq
h_step2_err:                                   # #PF: drop the error code, step over the 2-byte load
        addq $8, %rsp
        addq $2, (%rsp)
        iretq
syscall_entry:                                 # SYSCALL: the null system call
        sysretq
h_user_exit:                                   # INT 0x81 from ring 3: back to enter_user's caller
        movq kernel_saved_rsp, %rsp
        popq %r15
        popq %r14
        popq %r13
        popq %r12
        popq %rbx
        popq %rbp
        ret
h_fatal:
        movb $0x11, %al
        outb %al, $0xF4
1:      hlt
        jmp 1b

# void enter_user(void (*fn)(u64), u64 n, u64 rsp): run fn(n) at CPL 3 (IF=0); fn ends
# with INT 0x81.
        .globl enter_user
enter_user:
        pushq %rbp
        pushq %rbx
        pushq %r12
        pushq %r13
        pushq %r14
        pushq %r15
        movq %rsp, kernel_saved_rsp
        pushq $USER_DS
        pushq %rdx
        pushq $0x2
        pushq $USER_CS
        pushq %rdi
        movq %rsi, %rdi
        iretq

# ---- ring-3 loops (n in RDI) ------------------------------------------------------------

        .globl u_syscall, u_int80, u_pgfault, u_divzero
u_syscall:                                     # 3 instructions/op
1:      syscall
        decq %rdi
        jnz 1b
        int $0x81
u_int80:                                       # 3 instructions/op
1:      int $0x80
        decq %rdi
        jnz 1b
        int $0x81
u_pgfault:                                     # 3 instructions/op
        movl $PGFAULT_VA, %ebx
1:      movl (%rbx), %eax
        decq %rdi
        jnz 1b
        int $0x81
u_divzero:                                     # 5 instructions/op
        xorl %ecx, %ecx
1:      movl $1, %eax
        xorl %edx, %edx
        divl %ecx
        decq %rdi
        jnz 1b
        int $0x81

# ---- ring-0 loops ------------------------------------------------------------------------

        .globl k_in, k_cr3, k_callret, k_ptemod
k_in:                                          # k_in(n): 3 instructions/op
1:      inb $0x61, %al
        decq %rdi
        jnz 1b
        ret
k_cr3:                                         # k_cr3(pairs, a, b): 2 instructions/op
1:      movq %rdx, %cr3
        movq %rsi, %cr3
        decq %rdi
        jnz 1b
        ret
k_callret:                                     # k_callret(n): 4 instructions/op
1:      call 2f
        decq %rdi
        jnz 1b
        ret
2:      ret
k_ptemod:                                      # k_ptemod(n, pte *, va, pte_a, pte_b): 6 instructions/op
        xorl %eax, %eax
1:      movq %rcx, (%rsi)
        invlpg (%rdx)
        addl (%rdx), %eax
        xchgq %rcx, %r8
        decq %rdi
        jnz 1b
        ret

        .section .note.GNU-stack, "", @progbits
