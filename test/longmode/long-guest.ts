// A small multiboot kernel that does what a 64-bit OS's start-up code does: it checks CPUID
// for long mode, builds 4-level page tables (1 GiB identity-mapped with 2 MiB pages), loads
// a GDT with a 64-bit code segment, sets CR4.PAE, EFER.LME and CR0.PG, and far-jumps to
// 64-bit code, which prints on COM1 and powers off through port 0xF4 (status 0). On a CPU
// without long mode it says so and powers off with status 1.

import { asm64 } from "../protection/harness.js";

const BASE = 0x100000;

const SOURCE = `
  .long 0x1BADB002, 0x00010000, -(0x1BADB002 + 0x00010000)
  .long ${BASE}, ${BASE}, 0, 0, start
start:
  mov esp, 0x17f000
  mov eax, 0x80000000
  cpuid
  cmp eax, 0x80000001
  jb no_lm
  mov eax, 0x80000001
  cpuid
  bt edx, 29
  jnc no_lm
  # PML4 at 0x200000, PDPT at 0x201000, PD at 0x202000.
  mov edi, 0x200000
  mov ecx, 0x3000 / 4
  xor eax, eax
  rep stosd
  mov dword ptr [0x200000], 0x201007
  mov dword ptr [0x201000], 0x202007
  xor ecx, ecx
1:
  mov eax, ecx
  shl eax, 21
  or eax, 0x87
  mov [0x202000 + ecx * 8], eax
  inc ecx
  cmp ecx, 512
  jne 1b
  lgdt [gdtr]
  mov eax, cr4
  or eax, 0x20
  mov cr4, eax
  mov eax, 0x200000
  mov cr3, eax
  mov ecx, 0xc0000080
  rdmsr
  or eax, 0x100
  wrmsr
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  ljmp 0x08, offset long64
no_lm:
  lea esi, [msg_no_lm]
2:
  lodsb
  test al, al
  jz 3f
  mov dx, 0x3f8
  out dx, al
  jmp 2b
3:
  mov al, 1
  out 0xf4, al
  hlt
.code64
long64:
  mov ax, 0x10
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov rsp, 0x17f000
  lea rsi, [rip + msg_64]
  call puts
  # 64-bit arithmetic: 0x123456789 * 0x10 + 0xfedcba987654321 printed in hex.
  mov rax, 0x123456789
  shl rax, 4
  mov rbx, 0x0fedcba987654321
  add rax, rbx
  call puthex
  mov al, 10
  call putc
  mov al, 0
  out 0xf4, al
  hlt
puts:
  lodsb
  test al, al
  jz 4f
  call putc
  jmp puts
4:
  ret
putc:
  mov dx, 0x3f8
  out dx, al
  ret
puthex:
  mov rcx, 16
5:
  rol rax, 4
  mov rbx, rax
  and ebx, 15
  push rax
  lea rdx, [rip + hexdigits]
  mov al, [rdx + rbx]
  call putc
  pop rax
  loop 5b
  ret
hexdigits: .ascii "0123456789abcdef"
msg_64: .asciz "vmm86 long-mode guest: in 64-bit mode, "
msg_no_lm: .asciz "vmm86 long-mode guest: this CPU has no long mode\\n"
  .balign 8
gdt:
  .quad 0
  .quad 0x00af9a000000ffff    # 0x08: 64-bit code, DPL 0 (L = 1)
  .quad 0x00cf92000000ffff    # 0x10: data
gdtr:
  .word 3 * 8 - 1
  .long gdt
`;

/** The kernel image (a multiboot a.out-kludge binary loaded at 1 MiB). */
export function longModeGuest(): Uint8Array {
  return asm64(`.code32\n${SOURCE}`, BASE);
}

/** What it prints in 64-bit mode: 0x123456789 << 4 plus 0x0FEDCBA987654321. */
export const LONG_GUEST_LINE = `vmm86 long-mode guest: in 64-bit mode, ${(0x123456789n * 16n + 0x0fedcba987654321n).toString(16).padStart(16, "0")}`;

// `node dist/test/longmode/long-guest.js FILE` writes the image, for `vmm86 run --kernel FILE`.
if (process.argv[1]?.endsWith("long-guest.js") && process.argv[2] !== undefined) {
  const { writeFileSync } = await import("node:fs");
  writeFileSync(process.argv[2], longModeGuest());
}
