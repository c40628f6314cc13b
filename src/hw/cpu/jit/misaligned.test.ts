// Misaligned accesses in the WebAssembly tier: one inside a page takes the fast path where no
// #AC can follow (FLAT_UNALIGNED, checked at a function's entry), one across two pages never
// does (the pages' frames need not be neighbours); with the TLB emptied now and then, the A
// and D bits are the interpreter's.

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine } from "../../../../test/support/flat-machine.js";
import { loadAsm } from "../../../../test/protection/harness.js";
import type { JitOptions } from "./block-compiler.js";
import { CR0_AM } from "../cpu.js";

const TIERS: (false | JitOptions)[] = [false, { hot: 1, generate: 1e9, wasm: 0 }, { hot: 1, generate: 1e9, wasm: 1, wasmBatch: 1 }];
const PD = 0x100000, PT = 0x101000;

test("a dword across two pages whose frames are apart, misaligned dwords inside a page, the TLB emptied every eighth pass: every tier reads, writes and sets A and D as the interpreter", () => {
  const results = TIERS.map((jit) => {
    const fm = new FlatMachine({ cpl: 0, jit });
    fm.pageLow4MiB(PD, PT);
    fm.mem.write32(PT + 4 * 0x203, 0x207003); // linear 0x203000 → frame 0x207000
    [1, 2, 3, 4].forEach((b, k) => fm.mem.write8(0x202ffc + k, b));
    [5, 6, 7, 8].forEach((b, k) => fm.mem.write8(0x207000 + k, b));
    [9, 9, 9, 9].forEach((b, k) => fm.mem.write8(0x203000 + k, b)); // what a read of the frames as neighbours would see
    loadAsm(fm, `
      mov esi, 3000
      xor edi, edi
    top:
      test esi, 7
      jnz body
      mov eax, cr3
      mov cr3, eax
    body:
      mov ecx, [0x202ff5]
      add edi, ecx
      mov [0x202ff1], edi
      mov edx, [0x204001]
      add edx, esi
      mov [0x204ff9], edx
      add edi, edx
      mov eax, [0x202ffe]
      add edi, eax
      dec esi
      jnz top
      hlt`);
    const vector = fm.runToHalt(200_000);
    const pte = (page: number): number => fm.mem.read32(PT + 4 * page) & 0x60;
    return {
      vector, edi: fm.cpu.regs[7] >>> 0, eax: fm.cpu.regs[0] >>> 0, instructions: fm.cpu.instructions,
      stored: [fm.mem.read32(0x202ff1) >>> 0, fm.mem.read32(0x204ff9) >>> 0], ad: [0x202, 0x203, 0x204, 0x207].map(pte),
      wasm: fm.cpu.jit?.stats.wasmInstructions ?? 0,
    };
  });
  assert.equal(results[0].vector, -1, "the loop ends at its HLT");
  assert.equal(results[0].eax, 0x06050403, "the dword across the pages, from both frames");
  assert.deepEqual(results[0].ad, [0x60, 0x20, 0x60, 0], "A and D where read and written");
  for (const r of results.slice(1)) assert.deepEqual({ ...r, wasm: 0 }, { ...results[0], wasm: 0 });
  assert.ok(results[2].wasm > 10_000, `the loop ran in WebAssembly (${results[2].wasm} instructions)`);
});

test("#AC in compiled code: a loop made hot with aligned dwords at CPL 3 (CR0.AM set), then run with EFLAGS.AC and a misaligned address, faults (#AC) at its first misaligned access in every tier", () => {
  const results = TIERS.map((jit) => {
    const fm = new FlatMachine({ cpl: 3, jit });
    fm.cpu.setCr0(fm.cpu.cr0 | CR0_AM);
    loadAsm(fm, `
      mov ebx, 0x20000
      call run
      pushfd
      or dword ptr [esp], 0x40000
      popfd
      mov ebx, 0x20001
      call run
      hlt
    run:
      mov esi, 3000
      xor edi, edi
    again:
      add edi, [ebx]
      mov [ebx + 8], edi
      inc edi
      add edi, esi
      dec esi
      jnz again
      ret`);
    const vector = fm.runToHalt(200_000);
    const esp = fm.cpu.regs[4] >>> 0;
    return { vector, code: fm.mem.read32(esp) >>> 0, esi: fm.cpu.regs[6], instructions: fm.cpu.instructions, wasm: fm.cpu.jit?.stats.wasmInstructions ?? 0 };
  });
  assert.equal(results[0].vector, 17, "#AC");
  assert.equal(results[0].code, 0, "error code 0");
  assert.equal(results[0].esi, 3000, "at the second run's first pass");
  for (const r of results.slice(1)) assert.deepEqual({ ...r, wasm: 0 }, { ...results[0], wasm: 0 });
  assert.ok(results[2].wasm > 10_000, `the first run's loop ran in WebAssembly (${results[2].wasm} instructions)`);
});
