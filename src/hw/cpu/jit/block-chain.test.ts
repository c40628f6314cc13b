// Block chaining (docs/jit.md, "Chaining"): a block is entered straight from the block before
// it, without a fetch, only while the link leads where a fetch would. These pin the cases
// where it would not: the successor's linear page mapped to another frame (with INVLPG, a
// CR3 reload, or no flush but a write that walks the translation again), and the
// successor's code rewritten. Each program runs with the compiler off, at tier 1 and at tier 2; the results
// and the instruction count must be the interpreter's, and the compiler must have chained.

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine, callLoop } from "../../../../test/support/flat-machine.js";
import { loadAsm } from "../../../../test/protection/harness.js";
import type { JitOptions } from "./block-compiler.js";

const PD = 0x20000, PT = 0x21000;
/** The callee's linear page, and the two frames it is mapped to in turn. */
const PAGE = 0x300000, FRAME_A = 0x200000, FRAME_B = 0x201000;
const PTE = PT + (PAGE >>> 12) * 4;
const TIERS: (false | JitOptions)[] = [false, { hot: 1, generate: 1e9, wasm: 0 }, { hot: 1, generate: 1, wasm: 0 }, { hot: 1, generate: 1e9, wasm: 1, wasmBatch: 1 }];

/**
 * Identity-map the low 4 MiB (no D bits set, so a first write re-walks a translation), PAGE
 * at FRAME_A; FRAME_A holds `mov eax, 0xaaaa; ret`, FRAME_B `mov eax, 0xbbbb; ret`.
 */
function machine(jit: false | JitOptions, source: string): FlatMachine {
  const fm = new FlatMachine({ cpl: 0, jit });
  fm.pageLow4MiB(PD, PT);
  fm.mem.write32(PTE, FRAME_A | 3);
  fm.mem.load(FRAME_A, Uint8Array.from([0xb8, 0xaa, 0xaa, 0, 0, 0xc3]));
  fm.mem.load(FRAME_B, Uint8Array.from([0xb8, 0xbb, 0xbb, 0, 0, 0xc3]));
  loadAsm(fm, source);
  return fm;
}

/**
 * Call PAGE 40 times, summing EAX into EBX; before the 21st call, `change` the mapping or the
 * code. The call site is one block throughout, so its link to the callee made before the
 * change is there to be (wrongly) followed after it.
 */
function program(change: string): string {
  return callLoop(change, `mov eax, ${PAGE}\n call eax`);
}

function check(change: string, expectEbx: number): void {
  let instructions = -1;
  for (const jit of TIERS) {
    const fm = machine(jit, program(change));
    assert.equal(fm.runToHalt(), -1, `${JSON.stringify(jit)}: no exception`);
    const cpu = fm.cpu;
    assert.equal(cpu.regs[3] >>> 0, expectEbx, `${JSON.stringify(jit)}: the sum`);
    if (jit === false) instructions = cpu.instructions;
    else {
      assert.equal(cpu.instructions, instructions, `${JSON.stringify(jit)}: instructions`);
      // By a link of the JavaScript run loop, or by the WebAssembly tier's run loop (its block map).
      const chained = cpu.jit!.stats.chained + cpu.jit!.stats.wasmChained;
      assert.ok(chained > 40, `${JSON.stringify(jit)}: chained ${chained}`);
    }
  }
}

test("a chain link is not followed after INVLPG maps the successor's page to another frame", () => {
  check(`mov dword ptr [${PTE}], ${FRAME_B | 3}\n invlpg [${PAGE}]`, 20 * 0xaaaa + 20 * 0xbbbb);
});

test("a chain link is not followed after a write re-walks the successor's translation to another frame (no flush)", () => {
  // The PTE changes without INVLPG; the write to PAGE finds no D bit in the cached entry, so
  // the TLB walks again and now holds FRAME_B for code fetches too.
  check(`mov dword ptr [${PTE}], ${FRAME_B | 3}\n mov byte ptr [${PAGE + 0x800}], 0`, 20 * 0xaaaa + 20 * 0xbbbb);
});

test("a chain link is not followed after the successor's code is rewritten", () => {
  // mov eax, 0xcccc: the immediate's low bytes in FRAME_A.
  check(`mov word ptr [${PAGE + 1}], 0xcccc`, 20 * 0xaaaa + 20 * 0xcccc);
});

test("without a change the links hold: the interpreter's result, most blocks entered by a link", () => {
  check("nop", 40 * 0xaaaa);
});

test("a chain link is not followed after a MOV to CR3 (the successor's page remapped in the new tables)", () => {
  // The same page directory, reloaded after the PTE changed: a flush of every non-global entry.
  check(`mov dword ptr [${PTE}], ${FRAME_B | 3}\n mov ecx, cr3\n mov cr3, ecx`, 20 * 0xaaaa + 20 * 0xbbbb);
});

test("a CPL-0 native entry registered over compiled code is what runs there: links and blocks made before it are not followed", () => {
  // Half-way through the loop the callee's frame gets a native entry (monitor code entered at
  // CPL 0), which a fetch there runs instead of the bytes: it leaves 0xdddd in EAX and
  // returns. Registering it drops what was decoded and compiled there, as a code write does
  // (before, a block, a chain link or the WebAssembly run loop's link went on running the
  // bytes: 39 of the 40 calls).
  const sums: number[] = [];
  for (const jit of TIERS) {
    const fm = machine(jit, program("nop"));
    fm.runToHalt(20 * 7 + 3);
    const cpu = fm.cpu;
    fm.mem.registerNative(FRAME_A, () => { cpu.regs[0] = 0xdddd; cpu.eip = cpu.pop32(); });
    assert.equal(fm.runToHalt(), -1, `${JSON.stringify(jit)}: no exception`);
    sums.push(cpu.regs[3] >>> 0);
    if (jit !== false) assert.ok(cpu.jit!.stats.chained + cpu.jit!.stats.wasmChained > 20, `${JSON.stringify(jit)}: chained`);
  }
  // 16 calls ran the bytes (the first run's budget ends in the 17th), 24 the entry.
  assert.equal(sums[0], 16 * 0xaaaa + 24 * 0xdddd, "the interpreter");
  for (let k = 1; k < sums.length; k++) assert.equal(sums[k], sums[0], `${JSON.stringify(TIERS[k])}: the interpreter's sum`);
});
