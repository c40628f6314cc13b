// SHL, SHR and SAR of a register by CL inside WebAssembly (wasm-block.ts, case "shift"): a
// masked count of 0 changes neither the register nor the flags, so the flags after the
// instruction are the ones before it. The tier makes both into one local, by the count at
// run time, instead of leaving to tier 1 at every count of 0 (the bzImage decompressor's
// SHL EDX, CL left WebAssembly 628 k times in its first 1.5 G instructions for that).

import { test } from "node:test";
import assert from "node:assert/strict";
import { loopInWasm } from "../../../../test/support/flat-run.js";

for (const [op, digit] of [["shl", 4], ["shr", 5], ["sar", 7]] as const) for (const reg of ["edx", "dx", "dh"]) {
  test(`${op} ${reg}, cl with counts 0, 1, 2, 3 in a loop, the flags read after it: WebAssembly as the interpreter`, () => {
    // The CMP before the shift leaves flags a count of 0 keeps: CF, ZF and SF change with EBX.
    const source = [
      "mov ebx, 3000", "xor edi, edi", "mov esi, 0x200000",
      "L:", "mov ecx, ebx", "and ecx, 3", "mov edx, ebx", "imul edx, edx, 0x9e3779b1", "cmp ebx, 1500",
      `${op} ${reg}, cl`,
      "pushfd", "pop eax", "and eax, 0x8d5", "add edi, eax", "adc edi, edx", "mov [esi], edi",
      "dec ebx", "jnz L", "hlt",
    ].join("\n");
    const blk = loopInWasm(source, 12);
    assert.ok(blk.instrs.some((i) => (i.opcode & 0xfe) === 0xd2 && i.reg === digit), `the block holds the ${op}`);
  });
}
