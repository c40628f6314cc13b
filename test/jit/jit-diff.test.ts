// The block compiler against the interpreter: random programs (jit-diff.ts) with the compiler
// off, at tier 1, at tier 2, and with a cache so small it evicts all the time; and the cases
// a block compiler gets wrong first, pinned.

import { test } from "node:test";
import assert from "node:assert/strict";
import { jitDiff } from "./jit-diff.js";
import { FlatMachine } from "../support/flat-machine.js";

test("jit differential fuzzer: 150 random programs, all state equal after every slice", { timeout: 300_000 }, () => {
  let instructions = 0, compiled = 0, generated = 0;
  for (let seed = 1; seed <= 150; seed++) {
    const r = jitDiff(seed);
    assert.equal(r.mismatch, undefined, `seed ${seed}: ${r.mismatch}`);
    instructions += r.instructions; compiled += r.compiled; generated += r.generated;
  }
  // The programs must really exercise the compiler (a fuzzer that compiles nothing proves nothing).
  assert.ok(compiled > 2000 && generated > 500, `blocks compiled ${compiled}, generated ${generated}`);
  assert.ok(instructions > 20_000, `instructions ${instructions}`);
});

/** Run `code` at 0x210100 (EBP = its start) until HLT, at tier 1, tier 2, or interpreted. */
function runAt(code: number[], jit: false | { hot: number; generate: number }, start = 0x210100): FlatMachine {
  const f = new FlatMachine({ cpl: 0, ramBytes: 4 << 20, cpu: "pentium2", jit });
  f.m.mem.load(start, Uint8Array.from(code));
  f.cpu.regs[5] = start;
  f.cpu.eip = start;
  f.cpu.run(1000);
  return f;
}

const TIERS = [false, { hot: 1, generate: 1e9, wasm: 0 }, { hot: 1, generate: 1, wasm: 0 }, { hot: 1, generate: 1e9, wasm: 1, wasmBatch: 1 }] as const;

test("a store into the next instruction of the running block is seen (the block stops, the new bytes run)", () => {
  // mov dword [ebp+8], 0x11111111 ; mov eax, 0x22222222 ; hlt — the store rewrites the MOV's immediate.
  const code = [0xc7, 0x45, 0x08, 0x11, 0x11, 0x11, 0x11, 0xb8, 0x22, 0x22, 0x22, 0x22, 0xf4];
  for (const jit of TIERS) {
    const f = runAt(code, jit);
    assert.equal(f.cpu.regs[0] >>> 0, 0x11111111, JSON.stringify(jit));
    assert.equal(f.cpu.instructions, 3);
    if (jit !== false) assert.equal(f.cpu.jit!.stats.invalidated, 1);
  }
});

test("a fault mid-block leaves EIP, the instruction count and the registers at the faulting instruction", () => {
  // mov eax, 1 ; mov ecx, 0 ; div ecx (#DE) ; mov edx, 3 ; hlt
  const code = [0xb8, 1, 0, 0, 0, 0xb9, 0, 0, 0, 0, 0xf7, 0xf1, 0xba, 3, 0, 0, 0, 0xf4];
  for (const jit of TIERS) {
    const f = runAt(code, jit);
    // The #DE stub (vector 0) halted; the frame holds the DIV's EIP.
    assert.equal(f.m.mem.read32(0x8000 - 12), 0x210100 + 10, JSON.stringify(jit));
    assert.equal(f.cpu.instructions, 3); // the two MOVs and the stub's HLT
    assert.equal(f.cpu.regs[0], 1);
    assert.notEqual(f.cpu.regs[2], 3); // the MOV after the DIV did not run
  }
});

test("code that crosses a page: the block ends at the page, the instruction across it is interpreted", () => {
  // Five NOPs then MOV EAX, imm32 straddling 0x211000, then HLT.
  const start = 0x211000 - 7;
  const code = [0x90, 0x90, 0x90, 0x90, 0x90, 0xb8, 0x44, 0x33, 0x22, 0x11, 0xf4];
  for (const jit of TIERS) {
    const f = runAt(code, jit, start);
    assert.equal(f.cpu.regs[0] >>> 0, 0x11223344, JSON.stringify(jit));
    assert.equal(f.cpu.instructions, 7);
  }
});

test("an interrupt held off by STI is taken right after the next instruction, not at the end of a block", () => {
  // sti ; mov eax, 1 ; mov ebx, 2 ; hlt — with INTR raised and IF clear: the interrupt comes
  // after MOV EAX (the shadow of STI covers one instruction), so EBX is still 0.
  const code = [0xfb, 0xb8, 1, 0, 0, 0, 0xbb, 2, 0, 0, 0, 0xf4];
  for (const jit of TIERS) {
    const f = new FlatMachine({ cpl: 0, ramBytes: 4 << 20, cpu: "pentium2", jit });
    f.m.mem.load(0x210100, Uint8Array.from(code));
    const cpu = f.cpu;
    cpu.eip = 0x210100;
    cpu.regs[3] = 0;
    // A first pass with INTR low makes the block after STI hot (and compiled at tier 2).
    cpu.run(4);
    cpu.halted = false;
    cpu.setEflags(cpu.getEflags() & ~0x200);
    cpu.regs[0] = 0; cpu.regs[3] = 0; cpu.eip = 0x210100;
    cpu.intr = { hasInterrupt: () => true, acknowledge: () => 0x20 };
    cpu.intrLine = true;
    cpu.run(100);
    assert.equal(cpu.regs[0], 1, JSON.stringify(jit));
    assert.equal(cpu.regs[3], 0, `${JSON.stringify(jit)}: MOV EBX ran before the interrupt`);
    assert.equal(f.m.mem.read32(cpu.regs[4] - 0) >>> 0, 0x210106, "the interrupt frame's EIP is MOV EBX's");
  }
});

test("a plain instruction after MOV SS at the end of a block leaves the interrupt shadow over, as the interpreter does", () => {
  // mov ax, ss ; mov ss, ax ; add ecx, ebx — ending at the page end (the block ends there);
  // then hlt on the next page. MOV SS holds interrupts off for one instruction; after ADD
  // (a plain instruction at tier 1: no inhibitIrq store of its own) the shadow is over.
  const code = [0x8c, 0xd0, 0x8e, 0xd0, 0x01, 0xd9, 0xf4];
  for (const jit of TIERS) {
    const f = runAt(code, jit, 0x211000 - 6);
    const cpu = f.cpu;
    cpu.halted = false;
    cpu.eip = 0x211000 - 6;
    const before = cpu.instructions;
    cpu.run(3);
    assert.equal(cpu.instructions - before, 3, JSON.stringify(jit));
    assert.equal(cpu.eip, 0x211000, JSON.stringify(jit));
    assert.equal(cpu.inhibitIrq, false, `${JSON.stringify(jit)}: the shadow of MOV SS outlived ADD`);
  }
});
