// Writes to a page of decoded code (cpu.ts `codeWritten`, docs/jit.md "Code writes"): a
// write beside the code leaves it decoded and compiled; a write into the code drops only
// the instructions and blocks it touches; a page written over and over is dropped whole.
// Each program runs with the compiler off, at tier 1 and at tier 2: the result and the
// instruction count must be the interpreter's, and the compiler must have dropped no more
// than the write touched.

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine, patchedCallLoop } from "../../../../test/support/flat-machine.js";
import { loadAsm } from "../../../../test/protection/harness.js";
import type { JitOptions } from "./block-compiler.js";

const TIERS: (false | JitOptions)[] = [false, { hot: 1, generate: 1e9, wasm: 0 }, { hot: 1, generate: 1, wasm: 0 }, { hot: 1, generate: 1e9, wasm: 1, wasmBatch: 1 }];

/** Run `source` (at 0x10000) at every tier; returns the JIT stats of the compiled runs. */
function run(source: string, expectEbx: number): { invalidated: number; compiled: number }[] {
  let instructions = -1;
  const out: { invalidated: number; compiled: number }[] = [];
  for (const jit of TIERS) {
    const fm = new FlatMachine({ cpl: 0, jit });
    loadAsm(fm, source);
    assert.equal(fm.runToHalt(), -1, `${JSON.stringify(jit)}: no exception`);
    const cpu = fm.cpu;
    assert.equal(cpu.regs[3] >>> 0, expectEbx, `${JSON.stringify(jit)}: the result`);
    if (jit === false) instructions = cpu.instructions;
    else {
      assert.equal(cpu.instructions, instructions, `${JSON.stringify(jit)}: instructions`);
      out.push({ invalidated: cpu.jit!.stats.invalidated, compiled: cpu.jit!.stats.compiled });
    }
  }
  return out;
}

test("data written beside code on its page: the code stays decoded and compiled", () => {
  // 2,000 stores into the page the loop runs from (0x10800, past the code).
  const stats = run(`
      xor ebx, ebx
      mov ecx, 2000
    1:
      add ebx, ecx
      mov dword ptr [0x10800], ebx
      dec ecx
      jnz 1b
      hlt`, 2000 * 2001 / 2);
  for (const s of stats) {
    assert.equal(s.invalidated, 0, "no block dropped");
    assert.ok(s.compiled <= 3, `blocks compiled ${s.compiled}`);
  }
});

test("a write into code drops the block it touches, not the page: the new code runs, the loop stays compiled", () => {
  // Halfway, the loop rewrites the imm32 of f's ADD EAX (05 id), on the loop's own page.
  const stats = run(patchedCallLoop(2000, 1000), 1000 * 1 + 1000 * 5);
  for (const s of stats) {
    // f's block (ADD, MOV, RET) and at most the block the fetch made of its ADD alone.
    assert.ok(s.invalidated >= 1 && s.invalidated <= 2, `blocks dropped ${s.invalidated}`);
    assert.ok(s.compiled <= 8, `blocks compiled ${s.compiled}`);
  }
});

test("a page of code written over and over is dropped whole once, and runs on compiled again", () => {
  // 6,000 stores beside the code: past the 4,096 kept writes the page is dropped, once.
  const stats = run(`
      xor ebx, ebx
      mov ecx, 6000
    1:
      add ebx, 3
      mov dword ptr [0x10800], ecx
      dec ecx
      jnz 1b
      hlt`, 18000);
  for (const s of stats) {
    assert.ok(s.invalidated >= 1 && s.invalidated <= 3, `blocks dropped ${s.invalidated}`);
    assert.ok(s.compiled <= 6, `blocks compiled ${s.compiled}`);
  }
});
