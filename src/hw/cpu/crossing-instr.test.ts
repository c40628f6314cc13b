// Instructions across a page boundary (cpu.ts, crossingInstr): decoded once and used again
// while they would decode the same. These pin what must make the fetch decode again: the
// second page mapped to another frame, a write to the bytes on either page, and the second
// page no longer present (the #PF decode raises, with CR2 at the second page). Each program
// runs with the compiler off and on; the results must be the ones computed here.

import { test } from "node:test";
import assert from "node:assert/strict";
import { CODE, FlatMachine, callLoop } from "../../../test/support/flat-machine.js";
import { asm64, loadAsm } from "../../../test/protection/harness.js";
import { ENTER_LONG_MODE, PD as PD64, RSP0, longMachine, useLongTables } from "../../../test/support/long-machine.js";

const PD = 0x20000, PT = 0x21000;
/** `mov eax, imm32` starts 2 bytes before PAGE2; its last three bytes and the RET after it are on PAGE2. */
const PAGE2 = 0x301000, AT = PAGE2 - 2;
const FRAME_A = 0x200000, FRAME_B = 0x201000;
const PTE2 = PT + (PAGE2 >>> 12) * 4;
const VALUE_A = 0x33221199, VALUE_B = 0x66554499;

function machine(jit: boolean, source: string): FlatMachine {
  const fm = new FlatMachine({ cpl: 0, jit });
  fm.pageLow4MiB(PD, PT);
  fm.mem.write32(PTE2, FRAME_A | 3);
  fm.mem.load(AT, Uint8Array.from([0xb8, 0x99]));
  fm.mem.load(FRAME_A, Uint8Array.from([0x11, 0x22, 0x33, 0xc3]));
  fm.mem.load(FRAME_B, Uint8Array.from([0x44, 0x55, 0x66, 0xc3]));
  loadAsm(fm, source);
  return fm;
}

/** Call the crossing MOV 40 times, summing EAX into EBX; `change` before the 21st call. */
function program(change: string): string {
  return callLoop(change, `mov ecx, ${AT}\n call ecx`);
}

function check(change: string, expectEbx: number, expectVector = -1): FlatMachine[] {
  return [false, true].map((jit) => {
    const fm = machine(jit, program(change));
    assert.equal(fm.runToHalt(), expectVector, `jit ${jit}: the exception`);
    assert.equal(fm.cpu.regs[3] >>> 0, expectEbx >>> 0, `jit ${jit}: the sum`);
    return fm;
  });
}

test("a page-crossing instruction decodes again after INVLPG maps its second page to another frame", () => {
  check(`mov dword ptr [${PTE2}], ${FRAME_B | 3}\n invlpg [${PAGE2}]`, 20 * VALUE_A + 20 * VALUE_B);
});

test("a page-crossing instruction decodes again after its bytes on the second page are written", () => {
  check(`mov byte ptr [${PAGE2 + 1}], 0x77`, 20 * VALUE_A + 20 * 0x33771199);
});

test("a page-crossing instruction decodes again after its bytes on the first page are written", () => {
  check(`mov byte ptr [${AT + 1}], 0x88`, 20 * VALUE_A + 20 * 0x33221188);
});

test("a page-crossing instruction whose second page is no longer present raises #PF there, as decoding it does", () => {
  for (const fm of check(`mov dword ptr [${PTE2}], 0\n invlpg [${PAGE2}]`, 20 * VALUE_A, 14)) {
    assert.equal(fm.cpu.cr2 >>> 0, PAGE2, "CR2: the first byte on the second page");
    assert.equal(fm.cpu.regs[2], 20, "EDX: the 21st call faulted");
  }
});

test("without a change the page-crossing instruction runs 40 times", () => {
  check("nop", 40 * VALUE_A);
});

// The same in 64-bit mode, across the end of a 2 MiB page (long-machine.ts maps 0–1 GiB with
// them): the MOV starts 2 bytes before 0x400000, whose page is remapped from frame 0x400000
// to 0x600000 by its PD entry.
const AT64 = 0x3ffffe, PAGE64 = 0x400000, FRAME64_B = 0x600000, PDE64 = PD64 + 2 * 8;

function check64(change: string, expectEbx: number, expectVector = -1): FlatMachine[] {
  return [false, true].map((jit) => {
    const f = longMachine("core2", jit);
    useLongTables(f);
    f.mem.load(AT64, Uint8Array.from([0xb8, 0x99]));
    f.mem.load(PAGE64, Uint8Array.from([0x11, 0x22, 0x33, 0xc3]));
    f.mem.load(FRAME64_B, Uint8Array.from([0x44, 0x55, 0x66, 0xc3]));
    f.load(asm64(`${ENTER_LONG_MODE}
    .code64
    entry64:
      mov rsp, ${RSP0}
      ${callLoop(change, `mov ecx, ${AT64}\n call rcx`)}`, CODE));
    assert.equal(f.runToHalt(1_000_000), expectVector, `64-bit, jit ${jit}: the exception`);
    assert.equal(f.cpu.regs[3] >>> 0, expectEbx >>> 0, `64-bit, jit ${jit}: the sum`);
    return f;
  });
}

test("64-bit mode: a page-crossing instruction decodes again after its second page is mapped to another frame", () => {
  check64(`mov rax, ${FRAME64_B | 0x87}\n mov [${PDE64}], rax\n invlpg [${PAGE64}]`, 20 * VALUE_A + 20 * VALUE_B);
});

test("64-bit mode: a page-crossing instruction decodes again after its bytes on either page are written", () => {
  check64(`mov byte ptr [${PAGE64 + 1}], 0x77`, 20 * VALUE_A + 20 * 0x33771199);
  check64(`mov byte ptr [${AT64 + 1}], 0x88`, 20 * VALUE_A + 20 * 0x33221188);
});

test("64-bit mode: a page-crossing instruction whose second page is no longer present raises #PF there", () => {
  for (const f of check64(`mov qword ptr [${PDE64}], 0\n invlpg [${PAGE64}]`, 20 * VALUE_A, 14)) {
    assert.equal(f.cpu.cr2, PAGE64, "CR2: the first byte on the second page");
  }
});

test("64-bit mode: without a change the page-crossing instruction runs 40 times", () => {
  check64("nop", 40 * VALUE_A);
});
