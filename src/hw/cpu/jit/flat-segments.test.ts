// A WebAssembly function compiled while a segment is flat over 4 GiB takes the short path for
// its accesses (no limit check, no base: docs/jit.md, "Flat segments"). These pin that the
// function is not used once the segment is not flat any more: the same block, entered again
// after DS is loaded with a base or a limit, must read at the new base and fault at the
// limit exactly as the interpreter does.

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine, segDescriptor } from "../../../../test/support/flat-machine.js";
import { loadAsm, setGdt } from "../../../../test/protection/harness.js";
import type { JitOptions } from "./block-compiler.js";

const TIERS: (false | JitOptions)[] = [false, { hot: 1, generate: 1e9, wasm: 0 }, { hot: 1, generate: 1e9, wasm: 1, wasmBatch: 1 }];
const DATA = 0x80000;

/**
 * Sum the dword at DS:[DATA] 40 times through one function (`sum`), with DS flat; then load
 * DS with `selector` and sum 40 more times through the same function.
 */
function run(jit: false | JitOptions, descriptor: [number, number]): { vector: number; ebx: number; eip: number; instructions: number; flat: number } {
  const fm = new FlatMachine({ cpl: 0, jit });
  const sel = setGdt(fm, 12, descriptor);
  fm.mem.write32(DATA, 5);
  fm.mem.write32(DATA + 0x1000, 7);
  loadAsm(fm, `
    xor ebx, ebx
    mov ecx, 40
  a: call sum
    dec ecx
    jnz a
    mov ax, ${sel}
    mov ds, ax
    mov ecx, 40
  b: call sum
    dec ecx
    jnz b
    hlt
  sum:
    mov eax, [${DATA}]
    add ebx, eax
    mov edx, [${DATA} + 4]
    add ebx, edx
    ret
  `);
  const vector = fm.runToHalt(10_000);
  return { vector, ebx: fm.cpu.regs[3], eip: fm.cpu.eip, instructions: fm.cpu.instructions, flat: fm.cpu.jit?.stats.wasm ?? 0 };
}

test("a function compiled with DS flat over 4 GiB: DS later loaded with a base, the same block reads at the base, as the interpreter", () => {
  // Base 0x1000, limit 4 GiB: the second 40 sums read DATA + 0x1000 (7).
  const results = TIERS.map((jit) => run(jit, segDescriptor(0x1000, 0xfffff, 0x92)));
  assert.equal(results[0].vector, -1);
  assert.equal(results[0].ebx, 40 * 5 + 40 * 7);
  for (const r of results.slice(1)) assert.deepEqual({ ...r, flat: 0 }, { ...results[0], flat: 0 });
  assert.ok(results[2].flat > 0, "functions were compiled to WebAssembly");
});

test("a function compiled with DS flat over 4 GiB: DS later loaded with a limit below the operand, the same block faults (#GP) where the interpreter does", () => {
  // Limit 0x80001 (byte granular): the dword at DATA lies past it.
  const results = TIERS.map((jit) => run(jit, segDescriptor(0, 0x80001, 0x92, 0x4)));
  assert.equal(results[0].vector, 13, "#GP");
  assert.equal(results[0].ebx, 40 * 5, "the first 40 sums (DATA + 4 holds 0), then #GP at the first read");
  for (const r of results.slice(1)) assert.deepEqual({ ...r, flat: 0 }, { ...results[0], flat: 0 });
});

test("a function compiled with DS flat up to a limit below 4 GiB (as a monitor's guest has it) compares with that limit: a dword that ends past it faults (#GP) at the same instruction as the interpreter", () => {
  // Limit 0x80ffd (byte granular): the dword at 0x80ff8 is inside, the one at 0x80ffc ends past it.
  const results = TIERS.map((jit) => {
    const fm = new FlatMachine({ cpl: 0, jit });
    const sel = setGdt(fm, 12, segDescriptor(0, 0x80ffd, 0x92, 0x4));
    for (let a = 0x80000; a < 0x81000; a += 4) fm.mem.write32(a, a >>> 2);
    loadAsm(fm, `
      mov ax, ${sel}
      mov ds, ax
      mov esi, ${0x80ffc - 4 * 60}
      xor ebx, ebx
      mov ecx, 100
    a: mov eax, [esi]
      add ebx, eax
      add esi, 4
      dec ecx
      jnz a
      jmp done
    done:
      hlt
    `);
    const vector = fm.runToHalt(10_000);
    return { vector, ebx: fm.cpu.regs[3], esi: fm.cpu.regs[6], eip: fm.cpu.eip, instructions: fm.cpu.instructions, wasm: fm.cpu.jit?.stats.wasm ?? 0 };
  });
  assert.equal(results[0].vector, 13, "#GP");
  assert.equal(results[0].esi, 0x80ffc, "at the dword that ends past the limit");
  for (const r of results.slice(1)) assert.deepEqual({ ...r, wasm: 0 }, { ...results[0], wasm: 0 });
  assert.ok(results[2].wasm > 0, "the loop ran in WebAssembly");
});
