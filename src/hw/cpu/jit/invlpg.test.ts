// INVLPG inside WebAssembly (wasm-block.ts, case "invlpg"): at CPL 0 with no monitor to
// intercept it, the page's TLB entry is dropped in the block, the run loop's links are made
// void and the run goes on. Linux's `native_flush_tlb_one_user` (seven instructions, then
// INVLPG) ran at tier 1 for good before, 70 k times on the boot: a function covering fewer
// than MIN_PARTIAL instructions of its block is not made.
//
// The loop below remaps a data page and a code page at every iteration, each to one of two
// physical pages, and flushes both with INVLPG: a stale TLB entry reads the other data page,
// a stale link runs the other code page's block. Both give another sum than the interpreter.

import { test } from "node:test";
import assert from "node:assert/strict";
import { runFlat, WASM_SOON } from "../../../../test/support/flat-run.js";
import { CODE, type FlatMachine } from "../../../../test/support/flat-machine.js";

const PD = 0x300000, PT = 0x301000;

/** Identity-map the first 4 MiB with 4-KiB pages, turn paging on; the two data pages and the two code pages. */
function paged(fm: FlatMachine): void {
  const mem = fm.mem;
  for (let k = 0; k < 1024; k++) mem.write32(PT + 4 * k, (k << 12) | 3);
  mem.write32(PD, PT | 3);
  mem.write32(0x260000, 1);
  mem.write32(0x270000, 2);
  // mov edx, imm32; ret
  mem.writeBytes(0x290000, [0xba, 5, 0, 0, 0, 0xc3]);
  mem.writeBytes(0x2a0000, [0xba, 7, 0, 0, 0, 0xc3]);
  fm.cpu.setCr3(PD);
  fm.cpu.setCr0(fm.cpu.cr0 | 0x8000_0001);
}

test("INVLPG after remapping a data page and a code page, in a loop: WebAssembly as the interpreter", () => {
  const source = [
    "mov ebx, 3000", "xor edi, edi", "xor esi, esi",
    "L:", "mov eax, ebx", "and eax, 1", "shl eax, 16",
    `lea ecx, [eax + 0x290003]`, `mov [${PT + 4 * 0x280}], ecx`,
    `lea ecx, [eax + 0x260003]`, `mov [${PT + 4 * 0x250}], ecx`,
    "invlpg [0x280000]",
    // Entered by the run loop: the link the second call made in the iteration before would
    // run the other page's code.
    "call 0x280000", "add edi, edx", "call 0x280000",
    "add edi, edx", "add edi, esi", "invlpg [0x250000]",
    "mov [0x200000], edi", "dec ebx", "mov esi, [0x250000]", "jnz L", "hlt",
  ].join("\n");
  const want = runFlat(source, false, 0x200000, paged).state;
  const { fm, state } = runFlat(source, WASM_SOON, 0x200000, paged);
  assert.equal(state, want);
  assert.ok(fm.cpu.halted);
  for (const at of [9, 0x3c]) {
    const blk = fm.cpu.cachedInstr(CODE + at)?.block;
    assert.ok(blk && blk.wasm >= 0, `the block at +${at.toString(16)} is WebAssembly`);
    assert.equal(blk.instrs[blk.count - 1].def.mnemonic, "invlpg", "it ends in an INVLPG");
  }
  // The read of the flushed data page misses the TLB in every iteration: it and the JNZ
  // after it (two instructions of twenty-two) run at tier 1, which fills the entry; the rest
  // stays in WebAssembly (41 % did with INVLPG at tier 1).
  const s = fm.cpu.jit!.stats;
  assert.ok(s.wasmInstructions > 0.85 * fm.cpu.instructions, `${s.wasmInstructions} of ${fm.cpu.instructions} instructions in WebAssembly`);
});
