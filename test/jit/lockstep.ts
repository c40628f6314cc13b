// The block compiler's differential fuzzers (jit-diff.ts, 32-bit; jit-diff64.ts, 64-bit) run
// one program on several CPUs, the first with the compiler off, in slices of random length,
// and compare all state after each slice: this is that loop, shared by both.

import type { FlatMachine } from "../support/flat-machine.js";
import type { JitOptions } from "../../src/hw/cpu/jit/block-compiler.js";
import type { StopReason } from "../../src/hw/cpu/fault.js";
import { Rng } from "../fuzz/rng.js";

/**
 * The compiler off, tier 1 only, every block generated (tier 2), a cache so small it evicts
 * all the time, every block compiled to WebAssembly at once, and WebAssembly in batches of 3
 * with a small cache.
 */
export const CONFIGS: (boolean | JitOptions)[] = [
  false, { hot: 1, generate: 1e9, wasm: 0 }, { hot: 1, generate: 1, wasm: 0 }, { hot: 2, generate: 2, wasm: 0, cacheBlocks: 4 },
  { hot: 1, generate: 1e9, wasm: 1, wasmBatch: 1 }, { hot: 2, generate: 1e9, wasm: 2, wasmBatch: 3, cacheBlocks: 8 },
];

/**
 * Run `ms` (one machine per CONFIGS entry) in lockstep until the first halts or has run
 * `maxInstructions` more; `state` renders what is compared (memory too every 8th slice and at
 * the end). Returns the slices run and the first difference, if any.
 */
export function lockstep(ms: FlatMachine[], seed: number, maxInstructions: number,
  state: (f: FlatMachine, withMemory: boolean) => string): { slices: number; mismatch?: string } {
  const rng = new Rng(seed ^ 0x5a5a5a5a);
  const end = ms[0].cpu.instructions + maxInstructions;
  let slices = 0;
  for (;;) {
    const budget = 1 + rng.int(rng.int(4) === 0 ? 8 : 160);
    const stops: StopReason[] = ms.map((m) => m.cpu.run(budget));
    slices++;
    const mem = slices % 8 === 0 || ms[0].cpu.halted;
    const ref = state(ms[0], mem);
    for (let k = 1; k < ms.length; k++) {
      const s = state(ms[k], mem);
      if (s !== ref || stops[k] !== stops[0]) {
        return { slices, mismatch: `config ${JSON.stringify(CONFIGS[k])} after slice ${slices} (budget ${budget}):\n  off: ${ref} stop=${stops[0]}\n  jit: ${s} stop=${stops[k]}` };
      }
    }
    if (ms[0].cpu.halted || ms[0].cpu.instructions >= end) return { slices };
  }
}
