// A program run on the flat CPL-0 machine with the block compiler off or on, and the state
// that compares the two (the JIT tests that check the WebAssembly tier against the
// interpreter: partial-loop, shift-count, string-compare).

import assert from "node:assert/strict";
import { CODE, FlatMachine } from "./flat-machine.js";
import { loadAsm } from "../protection/harness.js";
import type { CompiledBlock, JitOptions } from "../../src/hw/cpu/jit/block-compiler.js";

/** Blocks compiled after 2 runs, to WebAssembly after 3, one at a time: a loop reaches the tier at once. */
export const WASM_SOON: JitOptions = { hot: 2, generate: 1e9, wasm: 3, wasmBatch: 1 };

/**
 * Assemble `source`, let `prepare` fill memory, run up to 10 M instructions; the state: the
 * instruction count, EIP, the eight registers, EFLAGS and the dword at `watch`.
 */
export function runFlat(source: string, jit: false | JitOptions, watch = 0x200000, prepare?: (fm: FlatMachine) => void): { fm: FlatMachine; state: string } {
  const fm = new FlatMachine({ cpl: 0, jit });
  prepare?.(fm);
  loadAsm(fm, source);
  fm.cpu.run(10_000_000);
  const c = fm.cpu;
  return { fm, state: `${c.instructions} ${c.eip.toString(16)} ${[...c.regs.slice(0, 8)].join(",")} ${c.getEflags()} ${fm.mem.read32(watch)}` };
}

/**
 * Run `source` without and with the compiler (WASM_SOON), assert the same final state, a
 * halt, and that the block at CODE + `loop` is WebAssembly with at least 95 % of the
 * instructions run there; returns that block.
 */
export function loopInWasm(source: string, loop: number, watch = 0x200000, prepare?: (fm: FlatMachine) => void): CompiledBlock {
  const want = runFlat(source, false, watch, prepare).state;
  const { fm, state } = runFlat(source, WASM_SOON, watch, prepare);
  assert.equal(state, want);
  assert.ok(fm.cpu.halted);
  const blk = fm.cpu.cachedInstr(CODE + loop)?.block;
  assert.ok(blk, "the loop's block");
  assert.ok(blk.wasm >= 0, "the loop's block is WebAssembly");
  const s = fm.cpu.jit!.stats;
  assert.ok(s.wasmInstructions > 0.95 * fm.cpu.instructions, `${s.wasmInstructions} of ${fm.cpu.instructions} instructions in WebAssembly`);
  return blk;
}
