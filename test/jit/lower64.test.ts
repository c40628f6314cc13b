// The 64-bit lowering (jit/lower64.ts) on one program that uses every lowered form: byte
// registers with and without REX (AH…BH against SPL…DIL and R8B…), byte, dword and quadword
// memory (base, index, RIP-relative, an address in the high half), the ALU group, TEST, INC/
// DEC, MOV, MOVZX/MOVSX, CMOVcc, PUSH/POP, Jcc. It runs with the compiler off, at tier 1 (the
// specialised handlers) and with every block generated (tier 2), in slices of varying length;
// after every slice the registers (both halves), RIP, EFLAGS, the count and memory agree.
// Swapping the AH…BH/SPL…DIL choice in either tier fails it.

import { test } from "node:test";
import assert from "node:assert/strict";
import { asm64 } from "../protection/harness.js";
import { CODE } from "../support/flat-machine.js";
import { ENTER_LONG_MODE, RSP0, longMachine, useLongTables } from "../support/long-machine.js";
import type { JitOptions } from "../../src/hw/cpu/jit/block-compiler.js";

const BODY = `
  mov rsp, ${RSP0}
  mov rbx, 0x300000
  mov rbp, 0xffffffff80300100
  mov r12, 0x12345678abcdef01
  mov rcx, 40
  mov rax, 0x1111222233334444
  mov rdx, 0x0102030405060708
  mov rsi, 0x8090a0b0c0d0e0f0
  mov rdi, -5
loop1:
  add al, dl
  sub ah, cl
  xor dh, bl
  add sil, dil
  adc spl, 0
  mov bh, ah
  mov sil, 0x7f
  mov r8b, al
  add r9b, r8b
  cmp byte ptr [rbx + 3], 0x40
  add byte ptr [rbx + rcx], al
  add byte ptr [rbp + 7], dh
  inc byte ptr [rbx + 0x11]
  dec r10b
  mov al, byte ptr [rbx + rcx*2]
  mov byte ptr [rbx + 0x21], sil
  mov byte ptr [rbp + rcx], ah
  test dl, 0x80
  sete r11b
  test byte ptr [rbx + 5], ch
  movzx eax, ah
  movzx r13, byte ptr [rbp + rcx]
  movsx r14, sil
  movsx r15d, word ptr [rbx + 0x40]
  movsx eax, bh
  add rax, r12
  imul rdx, rax
  push rdx
  push r12
  pop r13
  pop r14
  cmovc r9, r12
  cmovnz r10d, eax
  add qword ptr [rbx + rcx*8 + 0x100], r12
  sub dword ptr [rbp + 0x200], edx
  mov qword ptr [rip + scratchq], rax
  add rax, qword ptr [rip + scratchq]
  or ah, byte ptr [rip + scratchq + 3]
  dec rcx
  jnz loop1
  hlt
.balign 4096
scratchq: .quad 0
`;

test("64-bit lowered forms: compiler off, tier 1 and tier 2 agree after every slice", () => {
  const code = asm64(`${ENTER_LONG_MODE}\n.code64\nentry64:\n${BODY}\n`, CODE);
  const configs: (false | JitOptions)[] = [false, { hot: 1, generate: 1e9 }, { hot: 1, generate: 1 }];
  const ms = configs.map((j) => { const f = longMachine("core2", j); useLongTables(f); f.load(code); return f; });
  const state = (k: number): string => {
    const f = ms[k], c = f.cpu;
    const mem = [0x300000, 0x300004, 0x300010, 0x300020, 0x300104, 0x300200, 0x300300].map((a) => f.mem.read32(a));
    return [c.eip, c.instructions, c.getEflags(), c.halted, ...c.regs, ...c.regsHi, ...mem].join(",");
  };
  for (let s = 0; s < 1000 && !ms[0].cpu.halted; s++) {
    const budget = s % 5 === 0 ? 7 + (s % 13) : 40 + ((s * 37) % 200);
    for (const f of ms) f.cpu.run(budget);
    const ref = state(0);
    for (let k = 1; k < ms.length; k++) assert.equal(state(k), ref, `config ${JSON.stringify(configs[k])}, slice ${s}`);
  }
  assert.ok(ms[0].cpu.halted, "the program ran to its end");
  const st = ms[2].cpu.jit!.stats;
  assert.ok(st.lowered > 100 && st.instructions > 1000, `the compiled path ran (${st.lowered} lowered, ${st.instructions} instructions)`);
});
