// The PAE guest of pae-guest.test.ts as an image, shared with the hardware-assist tests.

import { asm } from "../protection/harness.js";
import { COM1_ROUTINES } from "./com1-routines.js";

const BASE = 0x100000;

/**
 * Multiboot kernel. PDPT 0x200000: [0] → PD0 0x201000, [3] → PD3 0x202000. PD0: entry 0 → the
 * PT at 0x203000 (4 KiB pages, identity 0–2 MiB), entries 1–15 identity 2 MiB pages; PD3
 * maps 0xC0000000 → 0 with 2 MiB pages. A #PF handler prints CR2 and the error code, then
 * repairs the cause: it makes PDPTE 2 present and reloads CR3, or clears an XD bit.
 */
export function paeGuest(): Uint8Array {
  return asm(`
  .long 0x1BADB002, 0x00010000, -(0x1BADB002 + 0x00010000)
  .long ${BASE}, ${BASE}, 0, 0, start
start:
  mov esp, 0x17f000
  mov edi, 0x180000
  mov ecx, 0x800 / 4
  xor eax, eax
  rep stosd
  lea eax, [pf]
  mov ecx, cs
  shl ecx, 16
  mov cx, ax
  mov [0x180000 + 14 * 8], ecx
  and eax, 0xffff0000
  or eax, 0x8e00
  mov [0x180000 + 14 * 8 + 4], eax
  lidt [idtr]
  mov edi, 0x200000
  mov ecx, 0x4000 / 4
  xor eax, eax
  rep stosd
  mov dword ptr [0x200000], 0x201001
  mov dword ptr [0x200000 + 3 * 8], 0x202001
  mov dword ptr [0x201000], 0x203003
  mov ecx, 1
1:
  mov eax, ecx
  shl eax, 21
  or eax, 0x83
  mov [0x201000 + ecx * 8], eax
  inc ecx
  cmp ecx, 16
  jne 1b
  mov dword ptr [0x202000], 0x83
  mov dword ptr [0x202000 + 8], 0x200083
  xor ecx, ecx
1:
  mov eax, ecx
  shl eax, 12
  or eax, 3
  mov [0x203000 + ecx * 8], eax
  inc ecx
  cmp ecx, 512
  jne 1b
  mov eax, cr4
  or eax, 0x20
  mov cr4, eax
  mov eax, 0x200000
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  lea esi, [m_on]
  call puts

  # A 2 MiB page and its alias at 0xC0000000.
  mov dword ptr [0x300000], 0x12345678
  cmp dword ptr [0xc0300000], 0x12345678
  jne fail
  lea esi, [m_alias]
  call puts

  # A PTE rewritten (the page table lives in a 2 MiB page), INVLPG, then the D bit.
  mov dword ptr [0x301000], 0xcafe
  mov eax, [0x1f0000]
  mov dword ptr [0x203000 + 0x1f0 * 8], 0x301003
  invlpg [0x1f0000]
  cmp dword ptr [0x1f0000], 0xcafe
  jne fail
  test dword ptr [0x203000 + 0x1f0 * 8], 0x40
  jnz fail
  mov dword ptr [0x1f0004], 1
  test dword ptr [0x203000 + 0x1f0 * 8], 0x40
  jz fail
  lea esi, [m_remap]
  call puts

  # PDPTE 2 is not present: a true #PF; the handler fills it and reloads CR3.
  cmp dword ptr [0x80300000], 0x12345678
  jne fail
  lea esi, [m_pdpte]
  call puts

  # NX, where CPUID says so: EFER.NXE, a RET in an XD page, called.
  mov eax, 0x80000000
  cpuid
  cmp eax, 0x80000001
  jb nonx
  cmp eax, 0x8000ffff
  ja nonx
  mov eax, 0x80000001
  cpuid
  bt edx, 20
  jnc nonx
  mov ecx, 0xc0000080
  rdmsr
  or eax, 0x800
  wrmsr
  mov byte ptr [0x1e0000], 0xc3
  mov dword ptr [0x203000 + 0x1e0 * 8 + 4], 0x80000000
  invlpg [0x1e0000]
  cmp byte ptr [0x1e0000], 0xc3
  jne fail
  mov eax, 0x1e0000
  call eax
  lea esi, [m_nx]
  call puts
  jmp done
nonx:
  lea esi, [m_nonx]
  call puts
done:
  lea esi, [m_done]
  call puts
  xor eax, eax
  out 0xf4, al
  hlt
fail:
  lea esi, [m_fail]
  call puts
  mov al, 2
  out 0xf4, al
  hlt

pf:
  pushad
  lea esi, [m_pf]
  call puts
  mov eax, cr2
  call puthex
  lea esi, [m_err]
  call puts
  mov eax, [esp + 32]
  call puthex
  mov al, 10
  call putc
  mov eax, cr2
  cmp eax, 0x1e0000
  jne 5f
  mov dword ptr [0x203000 + 0x1e0 * 8 + 4], 0
  invlpg [0x1e0000]
  jmp 6f
5:
  shr eax, 30
  cmp eax, 2
  jne fail
  mov dword ptr [0x200000 + 2 * 8], 0x201001
  mov eax, cr3
  mov cr3, eax
6:
  popad
  add esp, 4
  iretd

${COM1_ROUTINES}

idtr: .word 0x7ff
  .long 0x180000
m_on: .asciz "PAE paging on\\n"
m_alias: .asciz "2 MiB pages ok\\n"
m_remap: .asciz "PTE rewrite, INVLPG and D ok\\n"
m_pdpte: .asciz "PDPTE loaded at CR3 reload ok\\n"
m_nx: .asciz "XD fetch fault ok\\n"
m_nonx: .asciz "no NX\\n"
m_done: .asciz "done\\n"
m_fail: .asciz "FAIL\\n"
m_pf: .asciz "#PF cr2="
m_err: .asciz " err="
`, BASE);
}

export const EXPECT: Record<string, string> = {
  pentium2: "PAE paging on\n2 MiB pages ok\nPTE rewrite, INVLPG and D ok\n#PF cr2=80300000 err=00000000\nPDPTE loaded at CR3 reload ok\nno NX\ndone\n",
  "core-duo": "PAE paging on\n2 MiB pages ok\nPTE rewrite, INVLPG and D ok\n#PF cr2=80300000 err=00000000\nPDPTE loaded at CR3 reload ok\n" +
    "#PF cr2=001e0000 err=00000011\nXD fetch fault ok\ndone\n",
};

