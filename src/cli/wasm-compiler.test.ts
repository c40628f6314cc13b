// The CLI's worker compiler (wasm-compiler.ts): modules come back from the worker, errors
// too, and its touching of guest RAM changes no byte; a machine given it boots its guest
// to the same state as one that compiles on its own thread.

import { test } from "node:test";
import assert from "node:assert/strict";
import { workerCompiler } from "./wasm-compiler.js";
import { Code, moduleOfFunctions } from "../hw/cpu/jit/wasm-writer.js";
import { FlatMachine } from "../../test/support/flat-machine.js";
import { loadAsm } from "../../test/protection/harness.js";

/** Ask for `ticket` until it comes (the worker takes a few milliseconds), for at most 10 s. */
async function wait(c: NonNullable<ReturnType<typeof workerCompiler>>, ticket: number): Promise<WebAssembly.Module | Error> {
  const end = Date.now() + 10_000;
  for (;;) {
    const got = c.take(ticket);
    if (got !== undefined) return got;
    assert.ok(Date.now() < end, "the worker answered within 10 s");
    await new Promise((r) => setTimeout(r, 2));
  }
}

test("the worker compiles modules, and reports a module it cannot compile", async () => {
  const c = workerCompiler();
  assert.ok(c !== null, "a worker started");
  try {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1 });
    const body = new Code().get(0).const(40).add();
    const good = c.compile(moduleOfFunctions([{ code: body, locals: 0 }], { pages: 1, shared: false }));
    const bad = c.compile(new Uint8Array([0, 0x61, 0x73, 0x6d, 9, 9, 9, 9]));
    const m = await wait(c, good);
    assert.ok(m instanceof WebAssembly.Module);
    const f = new WebAssembly.Instance(m, { e: { m: memory, f: () => 0, io: () => 0 } }).exports["0"] as (x: number) => number;
    assert.equal(f(2), 42);
    const e = await wait(c, bad);
    assert.ok(e instanceof Error && /compiling a WebAssembly module on the worker/.test(e.message), String(e));
  } finally {
    c.close();
  }
});

test("a machine with the worker compiler shares its memory, and the worker's touching changes no byte", async () => {
  const c = workerCompiler()!;
  try {
    const fm = new FlatMachine({ cpl: 0, ramBytes: 8 << 20, jit: { hot: 1, wasm: 50, compiler: c } });
    const memory = fm.m.mem.wasm!.memory;
    assert.ok(memory.buffer instanceof SharedArrayBuffer, "guest RAM is shared with the worker");
    // A sum over a table the program writes while the worker touches the same pages.
    loadAsm(fm, `
        mov edi, 0x200000
        mov ecx, 0x100000
      1:
        mov dword ptr [edi], ecx
        add edi, 4
        dec ecx
        jnz 1b
        xor ebx, ebx
        mov esi, 0x200000
        mov ecx, 0x100000
      2:
        add ebx, dword ptr [esi]
        add esi, 4
        dec ecx
        jnz 2b
        hlt`);
    const cpu = fm.cpu;
    cpu.halted = false;
    for (let n = 0; !cpu.halted && n < 100_000; n++) {
      cpu.run(20_000);
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(cpu.halted);
    // 1 + 2 + … + 2^20, modulo 2^32.
    assert.equal(cpu.regs[3] >>> 0, (0x100000 * 0x100001 / 2) % 2 ** 32);
    // (On a loaded host the worker, at a lower priority, may answer after the guest halted.)
    const wasm = cpu.jit!.wasm!;
    for (const end = Date.now() + 10_000; wasm.compiling && Date.now() < end;) {
      wasm.install();
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.ok(cpu.jit!.stats.wasm > 0, "modules came back from the worker");
  } finally {
    c.close();
  }
});
