# vmm86 escape guest: Multiboot v1 entry, 256 interrupt stubs, a setjmp/longjmp pair and
# the landing pad that code run inside the monitor region jumps back to.
#
# Follows the Multiboot Specification 0.6.96 §3.1-3.2 and Intel SDM Vol. 3A §6.12 (the
# frame the processor pushes; SS:ESP only on a privilege change; vectors 8, 10-14 and 17
# push an error code, Table 6-1).

        .set MB_MAGIC,    0x1BADB002
        .set MB_FLAGS,    0x00000003          # page-align modules, memory info
        .set MB_CHECKSUM, -(MB_MAGIC + MB_FLAGS)
        .set KERNEL_DS,   0x10

        .section .multiboot, "a"
        .balign 4
        .long MB_MAGIC, MB_FLAGS, MB_CHECKSUM

        .section .bss
        .balign 16
kernel_stack:
        .skip 16384
        .globl kernel_stack_top
kernel_stack_top:

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

# One 16-byte stub per vector (vector_table + 16 * n), so every vector of the IDT has a
# handler: an error code (0 when the processor pushes none), the vector, then trap_common.
        .balign 16
        .globl vector_table
vector_table:
        .set vec, 0
        .rept 256
        .balign 16
        .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17)
        pushl $vec
        .else
        pushl $0
        pushl $vec
        .endif
        jmp trap_common
        .set vec, vec + 1
        .endr

trap_common:
        pushal
        pushl %ds
        pushl %es
        pushl %fs
        pushl %gs
        movw $KERNEL_DS, %ax
        movw %ax, %ds
        movw %ax, %es
        cld
        pushl %esp                             # struct frame *
        call trap                              # returns only for events that resume
        addl $4, %esp
        popl %gs
        popl %fs
        popl %es
        popl %ds
        popal
        addl $8, %esp                          # vector and error code
        iret

# int esc_setjmp(struct jmpbuf *jb): saves EBX, ESI, EDI, EBP, ESP and the return
# address; returns 0 now and the value given to esc_longjmp later.
        .globl esc_setjmp
esc_setjmp:
        movl 4(%esp), %eax
        movl %ebx, 0(%eax)
        movl %esi, 4(%eax)
        movl %edi, 8(%eax)
        movl %ebp, 12(%eax)
        leal 4(%esp), %ecx
        movl %ecx, 16(%eax)
        movl (%esp), %ecx
        movl %ecx, 20(%eax)
        xorl %eax, %eax
        ret

# void esc_longjmp(struct jmpbuf *jb, int value): back to the esc_setjmp, from any
# stack and with any data segments loaded (the flat kernel ones are reloaded first).
        .globl esc_longjmp
esc_longjmp:
        movl 4(%esp), %edx
        movl 8(%esp), %eax
longjmp_regs:                                   # EDX = jmpbuf, EAX = value
        movw $KERNEL_DS, %cx
        movw %cx, %ds
        movw %cx, %es
        movw %cx, %ss
        xorw %cx, %cx
        movw %cx, %fs
        movw %cx, %gs
        movl 0(%edx), %ebx
        movl 4(%edx), %esi
        movl 8(%edx), %edi
        movl 12(%edx), %ebp
        movl 16(%edx), %esp
        cld
        jmp *20(%edx)

# Code placed in the monitor region by an attempt ends with `jmp *landing_ptr`: it comes
# here with EAX = what it observed (its CS), on whatever stack it had (SYSENTER gives a
# fresh one), and goes back to the attempt's esc_setjmp with value 3.
        .globl escape_landing
escape_landing:
        movw $KERNEL_DS, %cx
        movw %cx, %ds
        movl %eax, landing_eax
        movl $attempt_jb, %edx
        movl $3, %eax
        jmp longjmp_regs

        .section .data
        .balign 4
        .globl landing_ptr
landing_ptr:
        .long escape_landing

# Ring-3 halves of the attempts that start in user mode. Each ends with int $0x80 (a DPL 3
# gate): the kernel takes EAX as what the user code observed.
        .text
        .globl user_call_gate
user_call_gate:
        movl $0xdead, %eax
        lcall $0x63, $0                        # DPL 3 call gate to a DPL 0 code segment
        int $0x80
        .globl user_sysenter
user_sysenter:
        movl $0xdead, %eax
        sysenter                               # SYSENTER_EIP aims at the monitor region
        int $0x80

        .section .note.GNU-stack, "", @progbits
