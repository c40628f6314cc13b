// A privilege check's #GP is signalled, not thrown (Cpu.signalGp, docs/jit.md "Faults
// without a throw"): IN, OUT, CLI, STI at CPL 3 with IOPL 0, and on the strict CPU PUSHFD
// and POPFD, fault in the middle of a loop's block. The #GP handler counts the fault and
// returns past the one-byte instruction; the loop runs on in the interpreter, at tier 1 and
// at tier 2, and every tier must deliver the same faults at the same instructions: the
// same count, registers, frames and instruction total as the interpreter.

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine, SEL, gateDescriptor } from "../../../../test/support/flat-machine.js";
import { asm, loadAsm, setIdt } from "../../../../test/protection/harness.js";
import type { JitOptions } from "./block-compiler.js";

const TIERS: (false | JitOptions)[] = [false, { hot: 1, generate: 1e9, wasm: 0 }, { hot: 1, generate: 1, wasm: 0 }, { hot: 1, generate: 1e9, wasm: 1, wasmBatch: 1 }];
const HANDLER = 0x11000;

// Ring 0: pop the error code (halt if it is not 0), count the fault in ESI, add the
// faulting EIP to EDI; halt once ECX is 0, else return past the one-byte instruction.
const GP_HANDLER = `
    pop eax
    test eax, eax
    jnz 2f
    inc esi
    add edi, dword ptr [esp]
    test ecx, ecx
    jz 2f
    inc dword ptr [esp]
    iretd
  2:
    hlt`;

function run(cpu: string, loopBody: string, faultsPerRound: number): void {
  let ref: { esi: number; edi: number; ebx: number; instructions: number; eip: number } | null = null;
  for (const jit of TIERS) {
    const fm = new FlatMachine({ cpl: 3, cpu, jit });
    setIdt(fm, 13, gateDescriptor(SEL.CODE0, HANDLER, 0xe, 0));
    fm.mem.load(HANDLER, asm(GP_HANDLER, HANDLER));
    loadAsm(fm, `
        xor ebx, ebx
        xor esi, esi
        xor edi, edi
        mov edx, 0x80
        mov ecx, 300
      1:
        add ebx, ecx
        ${loopBody}
        add ebx, 3
        dec ecx
        jnz 1b
        in al, dx`);
    const what = `${cpu} ${JSON.stringify(jit)}`;
    assert.equal(fm.runToHalt(1_000_000), -1, `${what}: ends in the handler's HLT`);
    const c = fm.cpu;
    const got = { esi: c.regs[6], edi: c.regs[7] >>> 0, ebx: c.regs[3], instructions: c.instructions, eip: c.eip };
    assert.equal(got.esi, 300 * faultsPerRound + 1, `${what}: every fault delivered once`);
    assert.equal(got.ebx, 300 * 301 / 2 + 300 * 3, `${what}: the loop's arithmetic`);
    if (ref === null) ref = got;
    else {
      assert.deepEqual(got, ref, `${what}: as the interpreter`);
      assert.ok(c.jit!.stats.instructions > 0, `${what}: ran compiled`);
    }
    assert.equal(c.faultSignalled, false, `${what}: no fault left pending`);
  }
}

test("IN, OUT, CLI and STI at CPL 3 above IOPL: #GP from inside a compiled block, as the interpreter", () => {
  run("standard", "in al, dx\n out dx, al\n cli\n sti", 4);
});

test("PUSHFD and POPFD on the strict CPU at CPL 3: #GP from inside a compiled block, as the interpreter", () => {
  run("strict", "pushfd\n popfd\n nop", 2);
});

test("PUSHFD on the strict CPU at CPL 3 after seven NOPs (so the WebAssembly tier compiles the block with it): #GP, as the interpreter", () => {
  // The tier pushes EFLAGS itself only where the run allows it (FLAT_PUSHF: no strict CPU
  // above CPL 0, no hardware-assisted guest); elsewhere the function returns at its start.
  run("strict", "nop\n nop\n nop\n nop\n nop\n nop\n nop\n pushfd", 1);
});
