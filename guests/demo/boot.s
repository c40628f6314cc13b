# vmm86 demo guest: Multiboot v1 entry, interrupt stubs and the return to ring 3.
#
# Follows the Multiboot Specification 0.6.96 §3.1 (header) and §3.2 (machine state at
# entry: EAX = 0x2BADB002, EBX = info, protected mode, paging off, interrupts off) and
# Intel SDM Vol. 3A §6.12 (exception and interrupt handling: the stack frame the
# processor pushes, with SS:ESP only on a privilege change).

        .set MB_MAGIC,    0x1BADB002
        .set MB_FLAGS,    0x00000003          # bit 0: page-align modules, bit 1: memory info
        .set MB_CHECKSUM, -(MB_MAGIC + MB_FLAGS)
        .set KERNEL_DS,   0x10

        .section .multiboot, "a"
        .balign 4
        .long MB_MAGIC, MB_FLAGS, MB_CHECKSUM

        .section .bss
        .balign 16
        .globl kernel_stack_top
kernel_stack:
        .skip 16384
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

# Every vector enters through a stub that makes the stack look the same: an error code
# (0 when the processor pushes none), the vector number, then the general registers and
# the data segment registers (struct frame in kernel.c).
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
        STUB_NOERR 128

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
        .globl trap_return
trap_return:
        popl %gs
        popl %fs
        popl %es
        popl %ds
        popal
        addl $8, %esp                          # vector and error code
        iret

# enter_frame(const struct frame *f): copy the frame to the top of the kernel stack
# (where every trap from ring 3 builds it, TSS.ESP0) and return through it; used once,
# to start the first user process. The copy may overwrite the caller's stack, which
# is never returned to.
        .set FRAME_SIZE, 76
        .globl enter_frame
enter_frame:
        movl 4(%esp), %esi
        movl $(kernel_stack_top - FRAME_SIZE), %edi
        movl $(FRAME_SIZE / 4), %ecx
        cld
        rep movsl
        movl $(kernel_stack_top - FRAME_SIZE), %esp
        jmp trap_return

# Small helpers the C code calls: descriptor-table loads and control registers.
        .globl load_gdt
load_gdt:
        movl 4(%esp), %eax
        lgdt (%eax)
        ljmp $0x08, $1f                        # reload CS with the new kernel code selector
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
