// Code at EIPs of 2^31 and above (a kernel's, or here a code segment's offsets) through the
// WebAssembly tier: the context holds EIP as an int32, and the run loop must take it back
// as the unsigned offset it is. A negative EIP passed every CS-limit check after it (the
// fetch's, the block's, the chain's), so code could run on past the limit without the #GP:
// past a monitor's limit, into its region.

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine, segDescriptor } from "../../../../test/support/flat-machine.js";
import { loadAsm, setGdt } from "../../../../test/protection/harness.js";
import type { JitOptions } from "./block-compiler.js";

const TIERS: (false | JitOptions)[] = [false, { hot: 1, generate: 1e9, wasm: 0 }, { hot: 1, generate: 1e9, wasm: 1, wasmBatch: 1 }];

test("a loop at EIPs above 2^31 ending at CS's limit: the instruction after it faults (#GP, the EIP past the limit) in every tier, also after WebAssembly leaves the block mid-way to tier 1", () => {
  // CS: base 0x80000000, limit 0x80100fff (4 KiB granular), so EIP 0x80100xxx is linear
  // 0x00100xxx. The loop's last byte is the limit's; SHLD in it is what the WebAssembly
  // tier leaves to tier 1 on every pass (after the eight INCs it compiles). At the first
  // byte past the limit: a RET, run once before through a flat CS, so its decoded
  // instruction is cached (a fetch of it is then a look-up and the limit check beside it,
  // not a decode that checks every byte).
  const results = TIERS.map((jit) => {
    const fm = new FlatMachine({ cpl: 0, jit });
    const sel = setGdt(fm, 12, segDescriptor(0x8000_0000, 0x80100, 0x9a, 0xc));
    const at = (eip: number, bytes: number[]): void => { bytes.forEach((b, k) => fm.mem.write8(eip - 0x8000_0000 + k, b)); };
    at(0x8010_0f00, [0xbe, 0xb8, 0x0b, 0, 0, 0x31, 0xff, 0xe9, 0xe5, 0, 0, 0]); // mov esi, 3000; xor edi, edi; jmp L (0x80100ff1)
    at(0x8010_0ff1, [0x47, 0x47, 0x47, 0x47, 0x47, 0x47, 0x47, 0x47, 0x0f, 0xa4, 0xd8, 0x01, 0x4e, 0x75, 0xf1]); // L: inc edi ×8; shld eax, ebx, 1; dec esi; jnz L
    at(0x8010_1000, [0xc3]);                                            // ret (past the limit)
    loadAsm(fm, `call 0x101000\n jmp ${sel}:0x80100f00`);
    const vector = fm.runToHalt(100_000);
    const esp = fm.cpu.regs[4] >>> 0;
    return { vector, edi: fm.cpu.regs[7], frameEip: fm.mem.read32(esp + 4) >>> 0, instructions: fm.cpu.instructions, wasm: fm.cpu.jit?.stats.wasm ?? 0 };
  });
  assert.equal(results[0].vector, 13, "#GP");
  assert.equal(results[0].frameEip, 0x8010_1000, "at the first byte past the limit");
  assert.equal(results[0].edi, 8 * 3000);
  for (const r of results.slice(1)) assert.deepEqual({ ...r, wasm: 0 }, { ...results[0], wasm: 0 });
  assert.ok(results[2].wasm > 0, "the loop was compiled to WebAssembly");
});
