// The 64-bit lowering (jit/lower64.ts) on one program that uses every lowered form: byte
// registers with and without REX (AH…BH against SPL…DIL and R8B…), byte, dword and quadword
// memory (base, index, RIP-relative, an address in the high half), the ALU group, TEST, INC/
// DEC, MOV, MOVZX/MOVSX, CMOVcc, PUSH/POP, Jcc. It runs with the compiler off, at tier 1 (the
// specialised handlers) and with every block generated (tier 2), in slices of varying length;
// after every slice the registers (both halves), RIP, EFLAGS, the count and memory agree.
// Then the same on 40 random programs (below). Checked by breaking the lowering on purpose:
// the AH…BH/SPL…DIL choice swapped, a dword CMOVcc that does not zero the high half when it
// does not move, no alignment condition, and a write fast path without the code-page check
// each fail it.

import { test } from "node:test";
import assert from "node:assert/strict";
import { asm64 } from "../protection/harness.js";
import { CODE } from "../support/flat-machine.js";
import { ENTER_LONG_MODE, RSP0, longMachine, useLongTables } from "../support/long-machine.js";
import type { JitOptions } from "../../src/hw/cpu/jit/block-compiler.js";
import { Rng } from "../fuzz/rng.js";

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

// ---- Random 64-bit programs ----
// The same lockstep comparison on generated programs (gas syntax, assembled by asm64): random
// forms of the lowered rows over random registers, byte registers with and without REX,
// memory by base, index and RIP, self-modifying code (a store into a MOV's immediate in the
// running loop), a page fault or a non-canonical #GP mid-block now and then (the IDT's stubs
// halt), and a loop body that crosses a page boundary.

const R64 = ["rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14"];
const R32 = ["eax", "ecx", "edx", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d"];
const R8 = ["al", "cl", "dl", "sil", "dil", "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b"];
const R8_LEGACY = ["al", "cl", "dl", "ah", "ch", "dh"];
const ALU = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"];
const CC = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];

function randomProgram(seed: number): string {
  const rng = new Rng(seed);
  const r = (): number => rng.int(R64.length);
  const d8 = (): number => rng.int(0x100);
  // [rbx + d], [rbx + idx*s + d] (idx: a small register, masked first), [rbp + d] (high half), [rip + data].
  // noRex: not the R15-indexed form (AH…BH cannot be encoded beside a REX prefix).
  const mem = (size: number, noRex = false): string => {
    const w = size === 8 ? "qword" : size === 4 ? "dword" : "byte";
    switch (rng.int(noRex ? 3 : 4)) {
      case 0: return `${w} ptr [rbx + ${d8() & ~(size - 1)}]`;
      case 1: return `${w} ptr [rbp + ${d8() & ~(size - 1)}]`;
      case 2: return `${w} ptr [rip + data + ${d8() & ~(size - 1)}]`;
      default: return `${w} ptr [rbx + r15 * ${size} + ${d8() & ~(size - 1)}]`;
    }
  };
  const lines: string[] = [];
  const smc: string[] = [];
  const n = 15 + rng.int(30);
  for (let k = 0; k < n; k++) {
    const op = rng.pick(ALU);
    switch (rng.int(20)) {
      case 0: lines.push(`${op} ${R64[r()]}, ${R64[r()]}`); break;
      case 1: lines.push(`${op} ${R32[r()]}, ${mem(4)}`); break;
      case 2: lines.push(`${op} ${mem(8)}, ${R64[r()]}`); break;
      case 3: lines.push(`${op} ${rng.int(2) ? R64[r()] : mem(8)}, ${rng.int(2) ? rng.int(256) - 128 : rng.next() | 0}`); break;
      case 4: lines.push(`${op} ${rng.pick(R8_LEGACY)}, ${rng.pick(R8_LEGACY)}`); break;
      case 5: lines.push(`${op} ${R8[r()]}, ${rng.int(2) ? R8[r()] : mem(1)}`); break;
      case 6: lines.push(`${op} ${mem(1, true)}, ${rng.int(2) ? rng.pick(R8_LEGACY) : String(d8())}`); break;
      case 7: lines.push(`mov ${R64[r()]}, ${rng.int(2) ? mem(8) : R64[r()]}`); break;
      case 8: lines.push(`mov ${mem(rng.pick([1, 4, 8]))}, ${rng.int(2) ? "0x7f" : "-3"}`); break;
      case 9: lines.push(`mov ${mem(4)}, ${R32[r()]}`); break;
      case 10: lines.push(`movabs ${R64[r()]}, ${rng.next() * 0x10000 + rng.int(0x10000)}`); break;
      case 11: lines.push(`${rng.pick(["movzx", "movsx"])} ${rng.int(2) ? R64[r()] : R32[r()]}, ${rng.int(2) ? mem(1) : rng.pick(R8_LEGACY.slice(0, 3).concat(R8.slice(3)))}`); break;
      case 12: lines.push(`${rng.pick(["inc", "dec"])} ${rng.pick([R64[r()], R32[r()], R8[r()], mem(8), mem(4), mem(1)])}`); break;
      case 13: lines.push(`test ${R64[r()]}, ${R64[r()]}`, `j${rng.pick(CC)} 1f`, `mov ${R32[r()]}, ${rng.next() | 0}`, "1:"); break;
      case 14: lines.push(rng.int(2) ? `cmov${rng.pick(CC)} ${R64[r()]}, ${rng.int(2) ? R64[r()] : mem(8)}` : `cmov${rng.pick(CC)} ${R32[r()]}, ${rng.int(2) ? R32[r()] : mem(4)}`); break;
      case 15: { const x = r(); lines.push(`push ${R64[r()]}`, rng.int(2) ? `push ${rng.next() | 0}` : `push ${mem(8)}`, `pop ${R64[x]}`, `pop ${R64[r()]}`); break; }
      case 16: { // self-modifying: a later iteration runs a different immediate
        const label = `smc${k}`;
        smc.push(label);
        lines.push(`${label}: mov ${R32[r()]}, 0x11111111`);
        break;
      }
      case 17: if (smc.length > 0) lines.push(`mov dword ptr [rip + ${rng.pick(smc)} + 1], ${R32[r()]}`); break;
      case 18: // a fault, rarely: a page not present (above 1 GiB), or a non-canonical address
        if (rng.int(10) === 0) lines.push(rng.int(2) ? "mov rax, qword ptr [0x40001000]" : "movabs rax, 0x8000000000000000", "mov rcx, qword ptr [rax]");
        break;
      default: lines.push(`test ${rng.pick([R32[r()], mem(4)])}, 0x40`); break;
    }
  }
  const regs = R64.map((name, k) => `movabs ${name}, ${((seed * 2654435761 + k * 0x9e3779b9) >>> 0) * (k % 3 === 0 ? 0x10001 : 1)}`);
  return `
  mov rsp, ${RSP0}
  mov rbx, 0x300000
  mov rbp, 0xffffffff80300400
  ${regs.join("\n  ")}
  mov r15, 12
  jmp loop
  .balign 4096
  .skip ${4096 - 8 - rng.int(120)}
loop:
  and r15, 15
  ${lines.join("\n  ")}
  dec r15
  jnz loop
  hlt
  .balign 4096
data: .skip 512
`;
}

test("64-bit lowering, random programs (SMC, faults mid-block, a page-crossing loop): compiler off, tier 1 and tier 2 agree", () => {
  let compiled = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const code = asm64(`${ENTER_LONG_MODE}\n.code64\nentry64:\n${randomProgram(seed)}\n`, CODE);
    const configs: (false | JitOptions)[] = [false, { hot: 1, generate: 1e9 }, { hot: 1, generate: 1 }, { hot: 2, generate: 2, cacheBlocks: 4 }];
    const ms = configs.map((j) => { const f = longMachine("core2", j); useLongTables(f); f.load(code); return f; });
    const state = (k: number): string => {
      const f = ms[k], c = f.cpu;
      let h = 0;
      for (let a = 0x300000; a < 0x300800; a += 4) h = (Math.imul(h, 31) + f.mem.read32(a)) | 0;
      for (let a = CODE; a < CODE + 0x3000; a += 4) h = (Math.imul(h, 31) + f.mem.read32(a)) | 0;
      return [c.eip, c.instructions, c.getEflags(), c.halted, c.cr2, ...c.regs, ...c.regsHi, h].join(",");
    };
    const rng = new Rng(seed ^ 0x5a5a);
    for (let s = 0; s < 400 && !ms[0].cpu.halted; s++) {
      const budget = 1 + rng.int(rng.int(4) === 0 ? 8 : 160);
      for (const f of ms) f.cpu.run(budget);
      const ref = state(0);
      for (let k = 1; k < ms.length; k++) assert.equal(state(k), ref, `seed ${seed}, config ${JSON.stringify(configs[k])}, slice ${s}`);
    }
    compiled += ms[2].cpu.jit!.stats.lowered;
  }
  assert.ok(compiled > 500, `lowered instructions ran (${compiled})`);
});
