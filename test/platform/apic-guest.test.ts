// The local APIC as a guest kernel uses it, on a bare PC of a model with one (pentium3): read
// IA32_APIC_BASE, enable the APIC through the SVR, program the timer periodic with a vector,
// take five timer interrupts (EOI each), and, through LINT0 in ExtINT mode, the PIT's IRQ 0
// from the 8259, then the PIT's IRQ 0 through the I/O APIC's input 2 (the MADT's override).
// On pentium2, which has no APIC, RDMSR 1Bh is #GP.

import { test } from "node:test";
import assert from "node:assert/strict";
import { asm } from "../protection/harness.js";
import { runLabGuest } from "../../src/lab/guest-runner.js";

const BASE = 0x100000;
const GUEST = `
  .long 0x1BADB002, 0x00010000, -(0x1BADB002 + 0x00010000)
  .long ${BASE}, ${BASE}, 0, 0, start
start:
  mov esp, 0x17f000
  # IDT: vector 0x40 → tick, 0x20 → pic0, 13 → gp (everything else: gp too).
  xor ecx, ecx
1:
  lea eax, [gp]
  call setgate
  inc ecx
  cmp ecx, 256
  jne 1b
  mov ecx, 0x40
  lea eax, [tick]
  call setgate
  mov ecx, 0x20
  lea eax, [pic0]
  call setgate
  mov ecx, 0x50
  lea eax, [ioapic0]
  call setgate
  lidt [idtr]
  mov ecx, 0x1b
  rdmsr                         # #GP without an APIC
  and eax, 0xfffff000
  mov esi, eax                  # the APIC's base
  mov dword ptr [esi + 0xf0], 0x1ff        # SVR: enable, spurious 0xFF
  mov dword ptr [esi + 0x3e0], 0xb         # divide by 1
  mov dword ptr [esi + 0x320], 0x20040     # LVT timer: periodic, vector 0x40
  mov dword ptr [esi + 0x380], 20000       # initial count
  sti
2:
  hlt
  cmp dword ptr [ticks], 5
  jb 2b
  mov dword ptr [esi + 0x320], 0x10000     # mask the timer
  # The PIT through the 8259 (IRQ 0 → vector 0x20) and LINT0 in ExtINT mode.
  mov al, 0x11
  out 0x20, al
  mov al, 0x20
  out 0x21, al
  mov al, 4
  out 0x21, al
  mov al, 1
  out 0x21, al
  mov al, 0xfe
  out 0x21, al
  mov al, 0x34
  out 0x43, al
  mov al, 0x00
  out 0x40, al
  mov al, 0x10
  out 0x40, al
  mov dword ptr [esi + 0x350], 0x700       # LINT0: ExtINT
3:
  hlt
  cmp dword ptr [pics], 2
  jb 3b
  # Now through the I/O APIC: mask IRQ 0 at the 8259, route input 2 (ISA IRQ 0) to 0x50.
  mov dword ptr [esi + 0x350], 0x10000     # LINT0 masked again
  mov al, 0xff
  out 0x21, al
  mov edi, 0xfec00000
  mov dword ptr [edi], 0x14                # IOREGSEL: redirection entry 2, low dword
  mov dword ptr [edi + 0x10], 0x50         # IOWIN: vector 0x50, fixed, edge, unmasked
4:
  hlt
  cmp dword ptr [ioapics], 2
  jb 4b
  cli
  mov al, 'A'
  mov dx, 0x3f8
  out dx, al
  mov al, 0
  out 0xf4, al
  hlt
setgate:
  mov edx, eax
  and eax, 0xffff
  or eax, 0x00100000
  mov [idt + ecx * 8], eax
  and edx, 0xffff0000
  or edx, 0x8e00
  mov [idt + ecx * 8 + 4], edx
  ret
tick:
  incd [ticks]
  mov dword ptr [esi + 0xb0], 0            # EOI
  iretd
pic0:
  incd [pics]
  push eax
  mov al, 0x20
  out 0x20, al
  pop eax
  iretd
ioapic0:
  inc dword ptr [ioapics]
  mov dword ptr [esi + 0xb0], 0            # EOI to the local APIC
  iretd
gp:
  mov al, 'G'
  mov dx, 0x3f8
  out dx, al
  mov al, 1
  out 0xf4, al
  hlt
ticks: .long 0
pics: .long 0
ioapics: .long 0
idtr: .word 256 * 8 - 1
  .long idt
  .balign 8
idt: .fill 256 * 8, 1, 0
`.replace(/incd \[(\w+)\]/g, "inc dword ptr [$1]");

test("a guest drives the APICs on pentium3: local timer interrupts with EOI, the 8259 through LINT0 ExtINT, then the PIT through the I/O APIC", () => {
  const img = asm(GUEST, BASE);
  const r = runLabGuest(img, { mode: "bare", cpu: "pentium3", maxInstructions: 5e6 });
  assert.deepEqual(r.end, { kind: "poweroff", status: 1 });
  assert.equal(r.serial, "A");
  const none = runLabGuest(img, { mode: "bare", cpu: "pentium2", maxInstructions: 5e6 });
  assert.equal(none.serial, "G", "no APIC on pentium2: RDMSR 1Bh is #GP");
});
