// The WebAssembly tier with a compiler that finishes late (module-compiler.ts; the CLI's
// worker, docs/jit.md "Compiling on another thread"): a batch's blocks run at tier 1 until
// its module comes back, and a block whose code was written or dropped meanwhile is not
// installed. Here the compiler hands each module back only after a set number of slices
// have asked for it, so the window in which the guest rewrites the code is the same in
// every run.

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine, patchedCallLoop } from "../../../../test/support/flat-machine.js";
import { loadAsm } from "../../../../test/protection/harness.js";
import type { ModuleCompiler } from "./module-compiler.js";
import type { JitOptions } from "./block-compiler.js";

/** Compiles at once, but returns a module only at the `delay(ticket)`+1-th `take` of its ticket. */
class LateCompiler implements ModuleCompiler {
  private readonly modules: { module: WebAssembly.Module; asks: number }[] = [];
  delivered = 0;
  constructor(private readonly delay: (ticket: number) => number) {}
  compile(bytes: Uint8Array<ArrayBuffer>): number {
    this.modules.push({ module: new WebAssembly.Module(bytes), asks: 0 });
    return this.modules.length - 1;
  }
  take(ticket: number): WebAssembly.Module | undefined {
    const m = this.modules[ticket];
    if (++m.asks <= this.delay(ticket)) return undefined;
    this.delivered++;
    return m.module;
  }
}

/**
 * Run `source` in slices of 200 instructions (the tier installs modules between them) until
 * HLT; `compiler` false: the interpreter. `more`: JitOptions besides hot 1, wasm 100, batch 4.
 */
function run(source: string, compiler: ModuleCompiler | null | false, more: JitOptions = {}): FlatMachine {
  const fm = new FlatMachine({ cpl: 0, jit: compiler === false ? false : { hot: 1, wasm: 100, wasmBatch: 4, ...more, compiler } });
  loadAsm(fm, source);
  const cpu = fm.cpu;
  cpu.halted = false;
  for (let n = 0; !cpu.halted && n < 10_000; n++) cpu.run(200);
  assert.ok(cpu.halted, "the program reached its HLT");
  return fm;
}

/** The interpreter's result and instruction count, against each compiler. */
function compare(source: string, ebx: number, delay: (ticket: number) => number = () => 3): { late: LateCompiler; wasm: number; share: number; dropped: number } {
  const ref = run(source, false);
  assert.equal(ref.cpu.regs[3] >>> 0, ebx, "the interpreter's result");
  const late = new LateCompiler(delay);
  let out = { late, wasm: 0, share: 0, dropped: 0 };
  for (const compiler of [null, late]) {
    const fm = run(source, compiler);
    const name = compiler === null ? "compiled at once" : "compiled late";
    assert.equal(fm.cpu.regs[3] >>> 0, ebx, `${name}: the result`);
    assert.equal(fm.cpu.instructions, ref.cpu.instructions, `${name}: the instruction count`);
    const s = fm.cpu.jit!.stats;
    if (compiler === late) {
      out = { late, wasm: s.wasm, share: s.wasmInstructions / fm.cpu.instructions, dropped: s.wasmDroppedCompiling };
      assert.equal(s.wasmModulesOffThread, s.wasmModules, "every module went through the compiler");
    }
  }
  return out;
}

test("a block rewritten while its module compiles is not installed: the new code runs", () => {
  // f is hot after 100 calls and its batch is compiled by the 125th; at the 130th call the
  // loop rewrites f's ADD EAX imm32, before the module comes back (three slices later).
  const { late, wasm, share, dropped } = compare(patchedCallLoop(3000, 2870), 130 * 1 + 2870 * 5);
  assert.ok(late.delivered >= 2, `modules delivered late: ${late.delivered}`);
  assert.ok(wasm >= 2, `blocks installed: ${wasm}`);
  assert.ok(share > 0.5, `share of instructions in WebAssembly: ${share.toFixed(2)}`);
  assert.ok(dropped >= 1, `blocks dropped while compiling: ${dropped}`);
});

test("blocks of a page dropped whole while their module compiles are not installed", () => {
  // g and f are on the page after the loop's. Each of the first 255 turns rewrites g (a RET
  // the loop calls): 255 partial drops. The 256th turn's write into code, f's ADD EAX
  // imm32, drops that page whole (PARTIAL_DROPS, cpu.ts) while the second batch, which
  // holds f, is still compiling: it comes back after 100 slices, the others after 3.
  // Installed then, the old f would take the block map's slot of the new one, and the
  // loop's blocks, in WebAssembly by then, would run it.
  const { late, wasm, dropped } = compare(`
      xor ebx, ebx
      mov ecx, 3000
      xor eax, eax
    1:
      call g
      cmp ecx, 2745
      jbe 2f
      mov byte ptr [g], 0xc3
      jmp 3f
    2:
      jne 3f
      mov dword ptr [patch + 1], 5
    3:
      call f
      dec ecx
      jnz 1b
      hlt
      .balign 4096
    g:
      ret
    f:
    patch:
      .byte 0x05
      .long 1
      mov ebx, eax
      ret`, 255 * 1 + 2745 * 5, (ticket) => (ticket === 1 ? 100 : 3));
  assert.ok(late.delivered >= 1, `modules delivered late: ${late.delivered}`);
  assert.ok(wasm >= 1, `blocks installed: ${wasm}`);
  assert.ok(dropped >= 1, `blocks dropped while compiling: ${dropped}`);
});

test("a region takes as members blocks whose batch is still compiling, as it takes them installed", () => {
  // A loop of three blocks, each in a batch of its own (wasmBatch 1): the later batches'
  // regions reach the earlier blocks while those are still with the compiler.
  const source = `
      xor ebx, ebx
      mov ecx, 5000
    1:
      add ebx, ecx
      test ecx, 1
      jz 2f
      add ebx, 3
    2:
      sub ebx, 1
      dec ecx
      jnz 1b
      hlt`;
  const members = (compiler: ModuleCompiler | null): number => run(source, compiler, { wasmBatch: 1 }).cpu.jit!.stats.wasmRegionMembers;
  const now = members(null), late = members(new LateCompiler(() => 20));
  assert.ok(now >= 2, `region members compiled at once: ${now}`);
  assert.equal(late, now, "region members compiled late");
});

test("a batch compiled before the cache was evicted whole is not installed", () => {
  // At most four live blocks (cacheBlocks). The first loop's block is hot at its 100th turn
  // and goes to the compiler (back 20 slices later); the straight run of blocks after the
  // loop makes a fifth block meanwhile, which drops them all: the batch comes back to a
  // cleared cache. The second loop compiles again; the sum is the interpreter's.
  const source = `
      xor ebx, ebx
      mov ecx, 150
    1:
      add ebx, ecx
      dec ecx
      jnz 1b
      jmp 2f
    2:
      add ebx, 1
      jmp 3f
    3:
      add ebx, 2
      jmp 4f
    4:
      add ebx, 3
      jmp 5f
    5:
      add ebx, 4
      mov ecx, 3000
    6:
      add ebx, ecx
      dec ecx
      jnz 6b
      hlt`;
  const ref = run(source, false), fm = run(source, new LateCompiler(() => 20), { wasmBatch: 1, cacheBlocks: 4 });
  assert.equal(fm.cpu.regs[3] >>> 0, 150 * 151 / 2 + 10 + 3000 * 3001 / 2, "the result");
  assert.equal(fm.cpu.regs[3], ref.cpu.regs[3], "the interpreter's result");
  assert.equal(fm.cpu.instructions, ref.cpu.instructions, "the instruction count");
  const s = fm.cpu.jit!.stats;
  assert.ok(s.evicted > 0, `blocks evicted: ${s.evicted}`);
  assert.ok(s.wasmDroppedCompiling > 0, `blocks dropped while compiling: ${s.wasmDroppedCompiling}`);
  assert.ok(s.wasm > 0, `blocks installed: ${s.wasm}`);
});
