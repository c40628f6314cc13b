// A multiboot guest that leaves protected mode for real mode and comes back (what a boot
// loader, a BIOS call or a kernel's reboot path does): it copies a 16-bit routine below
// 1 MiB, drops CR0.PE, prints from real mode and computes there, then returns to 32-bit
// protected mode, prints the result and powers off. The first VT-x (no unrestricted guest)
// cannot run the middle part in non-root operation; `westmere` and SVM can.

import { asm } from "../protection/harness.js";
import { COM1_ROUTINES } from "./com1-routines.js";

const BASE = 0x100000;

export function realModeGuest(): Uint8Array {
  return asm(`
  .long 0x1BADB002, 0x00010000, -(0x1BADB002 + 0x00010000)
  .long ${BASE}, ${BASE}, 0, 0, start
start:
  mov esp, 0x7000
  lgdt [gdtr]
  mov ax, 0x10
  mov ds, ax
  mov es, ax
  mov ss, ax
  ljmp 0x08, offset pm32
pm32:
  lea esi, [m_pm]
  call puts
  lea esi, [rm_start]
  mov edi, 0x8000
  mov ecx, 0x100              # more than the routine
  rep movsb
  ljmp 0x18, 0x8000

back32:
  mov ax, 0x10
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov esp, 0x7000
  lea esi, [m_back]
  call puts
  movzx eax, word ptr [0x7ff0]
  call puthex
  mov al, 10
  call putc
  xor eax, eax
  out 0xf4, al
  hlt

${COM1_ROUTINES}

gdtr: .word 0x27
  .long gdt
gdt:
  .quad 0
  .quad 0x00cf9b000000ffff    # 0x08: flat 32-bit code
  .quad 0x00cf93000000ffff    # 0x10: flat 32-bit data
  .quad 0x00009b000000ffff    # 0x18: 16-bit code, base 0, 64 KiB
  .quad 0x000093000000ffff    # 0x20: 16-bit data, base 0, 64 KiB
m_pm: .asciz "protected mode\\n"
m_back: .asciz "back in protected mode, sum="

  .code16
rm_start:
  mov ax, 0x20
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov eax, cr0
  and eax, 0xfffffffe
  mov cr0, eax
  ljmp 0x0000, 0x8000 + (rm_real - rm_start)
rm_real:
  xor ax, ax
  mov ds, ax
  mov ss, ax
  mov sp, 0x7000
  mov si, 0x8000 + (rm_msg - rm_start)
  mov dx, 0x3f8
1:
  lodsb
  test al, al
  jz 2f
  out dx, al
  jmp 1b
2:
  mov cx, 1000
  xor bx, bx
3:
  add bx, cx
  loop 3b
  mov [0x7ff0], bx
  cli
  mov eax, cr0
  or eax, 1
  mov cr0, eax
  .byte 0x66, 0xea
  .long back32
  .word 0x08
rm_msg: .asciz "real mode\\n"
rm_end:
  .code32
`, BASE);
}

export const REAL_MODE_SERIAL = "protected mode\nreal mode\nback in protected mode, sum=0000a314\n";
