// Where a run resumes inside a block (cpu.ts runSlice). A slice that ends inside a block
// runs the block's first instructions up to the slice's end at tier 1, and the next slice,
// resuming there, runs the rest of that block; so does an IRET back into a block (after an
// exception or an interrupt taken inside it). Neither goes one by one through the
// interpreter, where each instruction would count a hit and, resumed at often enough, start
// a block of its own (Linux's unrolled blake2s became a block at each of its 2,000
// instructions, each the head of a second chain of blocks, shifted, never hot).
//
// The first tests run a loop whose body is one straight block in slices of one turn that end
// inside it, at each tier: after every slice, EIP, the registers, memory and the instruction
// count must be the interpreter's, and none of the body's instructions after its first may
// start a block.

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine, CODE, STUBS } from "../../../../test/support/flat-machine.js";
import { loadAsm } from "../../../../test/protection/harness.js";
import type { JitOptions } from "./block-compiler.js";

const DATA = 0x200000;
/** 30 straight instructions (registers and memory), then DEC and JNZ: 400 turns of 32. */
const BODY = Array.from({ length: 30 }, (_, k) =>
  k % 5 === 4 ? `add dword ptr [${DATA + 4 * (k % 7)}], eax` : k % 3 === 0 ? `add eax, ${k + 1}` : k % 3 === 1 ? `xor ebx, eax` : `lea edx, [eax + ebx*2 + ${k}]`,
).join("\n");
const SOURCE = `mov ecx, 400\nL:\n${BODY}\ndec ecx\njnz L\nhlt`;

function machine(jit: false | JitOptions): FlatMachine {
  const fm = new FlatMachine({ cpl: 0, jit });
  loadAsm(fm, SOURCE);
  return fm;
}

/**
 * Run the MOV and the body's first 10 instructions, then slices of one loop turn (32
 * instructions): each ends after the body's tenth instruction of the next turn, and the
 * next resumes at its eleventh. The state after each slice, and the number of the body's
 * instructions after its first that started blocks.
 */
function slices(fm: FlatMachine): { states: string[]; inner: number } {
  const cpu = fm.cpu, states: string[] = [];
  cpu.run(11);
  for (let k = 0; !cpu.halted && k < 1000; k++) {
    cpu.run(32);
    states.push(`${cpu.instructions} ${cpu.eip.toString(16)} ${[...cpu.regs.slice(0, 4)].join(",")} ${fm.mem.read32(DATA)}`);
  }
  const first = cpu.cachedInstr(CODE + 5)!;
  let inner = 0;
  for (let a = CODE + 6; a < CODE + 5 + (first.block?.bytes ?? 0); a++) if (cpu.cachedInstr(a)?.block) inner++;
  return { states, inner };
}

for (const [name, jit] of [["tier 1", { hot: 2, generate: 1e9, wasm: 0 }], ["tier 2", { hot: 2, generate: 3, wasm: 0 }], ["WebAssembly", { hot: 2, generate: 1e9, wasm: 3, wasmBatch: 1 }]] as [string, JitOptions][]) {
  test(`${name}: slices ending and resuming inside the loop's block end where the interpreter's do, and start no block inside it`, () => {
    const want = slices(machine(false)).states;
    const fm = machine(jit);
    const got = slices(fm);
    assert.deepEqual(got.states, want);
    assert.ok(fm.cpu.halted);
    assert.ok(fm.cpu.cachedInstr(CODE + 5)?.block, "the loop's block");
    // Not the eleventh instruction either, where every slice resumes: it runs the rest of
    // the body's block (it started a block of its own before resumptions did that).
    assert.equal(got.inner, 0, "instructions inside the body that started blocks");
  });
}

/**
 * 200 turns of a loop whose body divides by ECX = ESI >> 7 part-way: from the 74th turn on
 * (the body long a block) that is 0, #DE, whose handler sets ECX to 3 and IRETs to the DIV
 * again (a fault returns to the faulting instruction), inside the body's block. The body
 * reads the TSC too, after the DIV: RDTSC does not end a block.
 */
const DIVIDE = `mov esi, 200
L:
add eax, 7
add ebx, eax
mov ecx, esi
shr ecx, 7
xor edx, edx
div ecx
add ebx, eax
rdtsc
add edi, eax
xor edx, edx
dec esi
jnz L
hlt`;

for (const [name, jit] of [["tier 1", { hot: 2, generate: 1e9, wasm: 0 }], ["tier 2", { hot: 2, generate: 3, wasm: 0 }], ["WebAssembly", { hot: 2, generate: 1e9, wasm: 3, wasmBatch: 1 }]] as [string, JitOptions][]) {
  test(`${name}: an IRET into a block runs the rest of the block, with RDTSC inside it`, () => {
    const run = (j: false | JitOptions): FlatMachine => {
      const fm = new FlatMachine({ cpl: 0, jit: j });
      loadAsm(fm, DIVIDE);
      fm.mem.load(STUBS, Uint8Array.from([0xb9, 3, 0, 0, 0, 0xcf])); // #DE: mov ecx, 3; iretd
      assert.equal(fm.runToHalt(), -1, "no stub halted");
      return fm;
    };
    const ref = run(false), fm = run(jit);
    assert.equal(fm.cpu.instructions, ref.cpu.instructions);
    assert.deepEqual([...fm.cpu.regs.slice(0, 8)], [...ref.cpu.regs.slice(0, 8)]);
    // mov esi (5 bytes); L: add eax, 7 (3), add ebx, eax (2), mov (2), shr (3), xor (2), then DIV.
    const body = fm.cpu.cachedInstr(CODE + 5)?.block;
    // (A block goes on along a Jcc's fall-through: the HLT after the JNZ is its last.)
    assert.equal(body?.count, 13, "one block from L to the HLT, RDTSC inside it");
    assert.equal(fm.cpu.cachedInstr(CODE + 17)?.block ?? null, null, "the DIV, returned to 127 times, starts no block");
  });
}

/**
 * CLI inside a block: 50 turns of a loop that masks interrupts, works, and unmasks them with
 * STI. An interrupt raised while the CPU stands after a turn's CLI (a slice's end there) must
 * be taken where the interpreter takes it: after the instruction that follows STI (its
 * shadow). The handler copies EDX, which the shadow's instruction has just changed, to EDI.
 */
const MASKED = `mov ecx, 50
L:
add eax, 1
cli
add ebx, eax
add ebx, 2
sti
add edx, 1
add edx, 2
dec ecx
jnz L
hlt`;

for (const [name, jit] of [["tier 1", { hot: 2, generate: 1e9, wasm: 0 }], ["tier 2", { hot: 2, generate: 3, wasm: 0 }], ["WebAssembly", { hot: 2, generate: 1e9, wasm: 3, wasmBatch: 1 }]] as [string, JitOptions][]) {
  test(`${name}: CLI does not end a block, and an interrupt raised after it is taken after STI's shadow`, () => {
    const run = (j: false | JitOptions): FlatMachine => {
      const fm = new FlatMachine({ cpl: 0, jit: j });
      loadAsm(fm, MASKED);
      // Vector 0x20: mov edi, edx; iretd.
      fm.mem.load(STUBS + 0x20 * 16, Uint8Array.from([0x89, 0xd7, 0xcf]));
      const cpu = fm.cpu;
      cpu.flags |= 0x200;
      // The MOV, 29 turns of 9, then the ADD and the CLI of the 30th.
      cpu.run(1 + 29 * 9 + 2);
      let raised = true;
      cpu.intr = { hasInterrupt: () => raised, acknowledge: () => { raised = false; cpu.intrLine = false; return 0x20; } };
      cpu.intrLine = true;
      assert.equal(fm.runToHalt(), -1, "no stub halted");
      return fm;
    };
    const ref = run(false), fm = run(jit);
    assert.equal(fm.cpu.instructions, ref.cpu.instructions);
    assert.deepEqual([...fm.cpu.regs.slice(0, 8)], [...ref.cpu.regs.slice(0, 8)]);
    // EDX gains 3 a turn, 150 in all: after 29 turns and one ADD it was 62 short of its end.
    assert.equal(ref.cpu.regs[7], ref.cpu.regs[2] - 150 + 29 * 3 + 1, "EDI: the interrupt came after the 30th turn's first ADD to EDX");
    assert.ok((fm.cpu.cachedInstr(CODE + 5)?.block?.count ?? 0) >= 5, "the block at L runs through the CLI to the STI");
  });
}
