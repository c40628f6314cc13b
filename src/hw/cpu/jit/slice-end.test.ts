// A slice that ends inside a block (cpu.ts runSlice): the block's first instructions run up
// to the slice's end at tier 1, not one by one through the interpreter, where each would
// count a hit and, run near enough slice ends, start a block of its own (Linux's unrolled
// blake2s became a block at each of its 2,000 instructions). These run a loop whose body is
// one straight block in slices of one turn that end inside it, at each tier: after every
// slice, EIP, the registers, memory and the instruction count must be the interpreter's, and
// of the body's instructions only the one every slice resumes at may start a block.

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine, CODE } from "../../../../test/support/flat-machine.js";
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
 * instructions): each ends after the body's tenth instruction of the next turn. The state
 * after each slice, and the number of the body's instructions after its first that started
 * blocks.
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
  test(`${name}: slices ending inside the loop's block end where the interpreter's do, and start no block before their end`, () => {
    const want = slices(machine(false)).states;
    const fm = machine(jit);
    const got = slices(fm);
    assert.deepEqual(got.states, want);
    assert.ok(fm.cpu.halted);
    assert.ok(fm.cpu.cachedInstr(CODE + 5)?.block, "the loop's block");
    // The eleventh instruction, where every slice resumes, starts a block of its own; the
    // nine before it, run near every slice's end, do not.
    assert.equal(got.inner, 1, "instructions inside the body that started blocks");
  });
}
