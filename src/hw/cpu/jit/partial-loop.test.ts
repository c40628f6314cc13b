// A WebAssembly function may cover only the first part of its block, up to an instruction
// the tier cannot compile (an OUT under a monitor, an STI): worth it only when the block nearly always leaves
// before that instruction, at a jump the function covers (wasm-block.ts, MIN_PARTIAL;
// CompiledBlock.leftEarly). A loop whose back edge sits inside the block, with an OUT after
// the loop, was refused and ran at tier 2 (bench:modes' compute loop: 20 M instructions at
// about 50 MIPS under bare, five times slower than under bt). A block that reaches such an
// instruction on most runs is still left to tier 1.

import { test } from "node:test";
import assert from "node:assert/strict";
import { CODE } from "../../../../test/support/flat-machine.js";
import { runFlat, WASM_SOON } from "../../../../test/support/flat-run.js";
import type { JitOptions } from "./block-compiler.js";

const run = (source: string, jit: false | JitOptions): ReturnType<typeof runFlat> => runFlat(source, jit);

test("a loop whose back edge is inside its block, an STI after it: the loop runs in WebAssembly, with the interpreter's results", () => {
  const source = "mov ecx, 20000\nxor eax, eax\nmov esi, 0x200000\nL:\nadd eax, ecx\nrol eax, 5\nmov [esi], eax\ndec ecx\njnz L\nmov al, 0x10\nsti\nhlt";
  const want = run(source, false).state;
  const { fm, state } = run(source, WASM_SOON);
  assert.equal(state, want);
  assert.ok(fm.cpu.halted);
  const blk = fm.cpu.cachedInstr(CODE + 12)?.block;
  assert.ok(blk, "the loop's block");
  assert.equal(blk.count, 7, "add, rol, mov, dec, jnz, mov, sti");
  assert.ok(blk.wasm >= 0, "compiled to WebAssembly though it stops before the STI");
  const s = fm.cpu.jit!.stats;
  assert.ok(s.wasmInstructions > 0.95 * fm.cpu.instructions, `${s.wasmInstructions} of ${fm.cpu.instructions} instructions in WebAssembly`);
});

test("a block that reaches its STI on most runs stays out of WebAssembly (a function covering a few of its instructions would leave to tier 1 every time)", () => {
  // The JZ is taken in one run of four; the other three go on to the STI (which the tier
  // does not take: it ends the block for its interrupt shadow). (An OUT at CPL 0 is done in
  // WebAssembly since port-io.test.ts's change.)
  const source = "mov ecx, 20000\nxor eax, eax\nL:\nadd eax, ecx\ntest cl, 3\njz skip\nmov [0x200000], eax\nsti\nskip:\ndec ecx\njnz L\nhlt";
  const want = run(source, false).state;
  // Compiled after 40 runs at tier 1, about 10 of which left early.
  const { fm, state } = run(source, { ...WASM_SOON, wasm: 40 });
  assert.equal(state, want);
  const blk = fm.cpu.cachedInstr(CODE + 7)?.block;
  assert.ok(blk, "the loop's block");
  assert.ok(blk.leftEarly > 1000 && blk.leftEarly < blk.runs / 2, `left early in ${blk.leftEarly} of ${blk.runs} runs`);
  assert.equal(blk.wasm, -1, "not compiled to WebAssembly");
});
