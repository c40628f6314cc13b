# vmm86 echo guest: the smallest interactive guest. It prints a banner and a prompt on
# COM1, then sends back every byte COM1 receives (a carriage return as a new line and a
# fresh prompt). The browser test types into the page's terminal and looks for the echo.
#
# Multiboot v1 (Specification 0.6.96 §3.1, §3.2: protected mode, flat segments, paging and
# interrupts off). The UART is polled (16550A datasheet: LSR bit 0 data ready, bit 5
# transmit holding register empty), so no IDT or PIC is needed.

        .set MB_MAGIC,    0x1BADB002
        .set MB_FLAGS,    0x00000000
        .set MB_CHECKSUM, -(MB_MAGIC + MB_FLAGS)
        .set COM1,        0x3F8

        .text                                  # the header first: within the first 8 KiB
        .balign 4
        .long MB_MAGIC, MB_FLAGS, MB_CHECKSUM

        .globl _start
_start:
        cli
        movl $stack_top, %esp
        # 115200 baud 8N1, FIFOs on, no UART interrupts.
        movw $COM1+1, %dx; xorb %al, %al; outb %al, %dx
        movw $COM1+3, %dx; movb $0x80, %al; outb %al, %dx
        movw $COM1+0, %dx; movb $1, %al; outb %al, %dx
        movw $COM1+1, %dx; xorb %al, %al; outb %al, %dx
        movw $COM1+3, %dx; movb $3, %al; outb %al, %dx
        movw $COM1+2, %dx; movb $0xC7, %al; outb %al, %dx
        movw $COM1+4, %dx; movb $3, %al; outb %al, %dx
        movl $banner, %esi
        call puts
read:
        movw $COM1+5, %dx
1:      inb %dx, %al
        testb $1, %al
        jz 1b
        movw $COM1, %dx
        inb %dx, %al
        cmpb $13, %al
        je newline
        cmpb $10, %al
        je newline
        call putc
        jmp read
newline:
        movl $prompt, %esi
        call puts
        jmp read

# putc: send AL once the transmit holding register is empty.
putc:
        pushl %eax
        movw $COM1+5, %dx
1:      inb %dx, %al
        testb $0x20, %al
        jz 1b
        popl %eax
        movw $COM1, %dx
        outb %al, %dx
        ret

# puts: send the NUL-terminated string at ESI.
puts:
        lodsb
        testb %al, %al
        jz 1f
        call putc
        jmp puts
1:      ret

        .section .rodata
banner: .ascii "vmm86 echo guest: every key you type comes back\r\n"
prompt: .asciz "\r\necho> "

        .section .bss
        .balign 16
        .skip 4096
stack_top:
