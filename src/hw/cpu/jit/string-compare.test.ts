// REPE/REPNE CMPS and SCAS inside WebAssembly (wasm-block.ts, Emitter.repeatedCompare): the
// comparison ends the run, or the count; the flags are the last comparison's. Linux's memcmp
// (REPE CMPSB) and strlen (REPNE SCASB with ECX = -1) ran their blocks through JavaScript
// at every call before.

import { test } from "node:test";
import assert from "node:assert/strict";
import type { FlatMachine } from "../../../../test/support/flat-machine.js";
import { loopInWasm, runFlat, WASM_SOON } from "../../../../test/support/flat-run.js";

const DATA = 0x200000;

/** Two strings that differ at byte 37, NUL-terminated at 60. */
function strings(fm: FlatMachine): void {
  for (let k = 0; k < 60; k++) { fm.mem.write8(DATA + k, 0x41 + (k % 26)); fm.mem.write8(DATA + 0x100 + k, 0x41 + (k % 26) + (k === 37 ? 1 : 0)); }
}

const LOOPS: [string, string][] = [
  // memcmp of lengths 0..63 (equal up to 37, then not); the flags and ECX, ESI, EDI after it.
  ["repe cmpsb", "mov ecx, ebx\nand ecx, 63\nmov esi, 0x200000\nmov edi, 0x200100\nrepe cmpsb\npushfd\npop eax\nadd edx, eax\nadd edx, ecx\nadd edx, esi"],
  // The same as dwords, and REPNE (stops at the first equal pair).
  ["repe cmpsd", "mov ecx, ebx\nand ecx, 15\nmov esi, 0x200000\nmov edi, 0x200100\nrepe cmpsd\npushfd\npop eax\nadd edx, eax\nadd edx, ecx\nadd edx, edi"],
  ["repne cmpsb", "mov ecx, ebx\nand ecx, 7\nmov esi, 0x200025\nmov edi, 0x200125\nrepne cmpsb\npushfd\npop eax\nadd edx, eax\nadd edx, ecx"],
  // strlen: REPNE SCASB with ECX = -1 from offsets 0..31; and a search for a byte that is there or not.
  ["repne scasb (strlen)", "mov edi, ebx\nand edi, 31\nadd edi, 0x200000\nmov ecx, -1\nxor eax, eax\nrepne scasb\nnot ecx\nadd edx, ecx\nadd edx, edi"],
  ["repne scasb", "mov ecx, ebx\nand ecx, 63\nmov edi, 0x200000\nmov eax, ebx\nand eax, 0x47\nrepne scasb\npushfd\npop eax\nadd edx, eax\nadd edx, ecx"],
  ["repe scasb", "mov ecx, ebx\nand ecx, 63\nmov edi, 0x200000\nmov al, 0x41\nrepe scasb\npushfd\npop eax\nadd edx, eax\nadd edx, ecx"],
];

for (const [name, body] of LOOPS) {
  test(`${name} in a loop: WebAssembly as the interpreter, and the loop in WebAssembly`, () => {
    const source = `mov ebx, 2000\nxor edx, edx\nL:\n${body}\nmov [0x200400], edx\ndec ebx\njnz L\nhlt`;
    loopInWasm(source, 7, 0x200400, strings);
  });
}

test("a run that goes on past the end of its page is left to tier 1: the interpreter's result", () => {
  // From 0x200ff0 the strings run into 0x201000; REPE CMPSB over equal bytes goes on into it.
  const source = "mov ebx, 50\nxor edx, edx\nL:\nmov ecx, 64\nmov esi, 0x200ff0\nmov edi, 0x200ff0\nrepe cmpsb\nadd edx, ecx\ndec ebx\njnz L\nhlt";
  assert.equal(runFlat(source, WASM_SOON, 0x200400, strings).state, runFlat(source, false, 0x200400, strings).state);
});
