// The guest's own debug registers under every mode: the monitors virtualize MOV DR (it is
// privileged, so it traps at ring 1 or is a callout under bt) and, while the guest's DR7
// enables a breakpoint, interpret the guest on the vCPU, where the breakpoint is checked at
// the guest's address and #DB is delivered through the guest's IDT (docs/gdb.md).

import { test } from "node:test";
import assert from "node:assert/strict";
import { runCode, le32, CODE } from "./guest-code.js";

const IDTR = 0x80000, IDT = 0x81000, RESULT = 0x82000, WATCH = 0x83000;
const HANDLER = CODE + 0x100;
const w16 = (v: number) => [v & 0xff, (v >>> 8) & 0xff];

/** Install a #DB gate for HANDLER, set DR0 and DR7, then `body`. */
function guest(dr0: number, dr7: number, body: number[]): number[] {
  const code = [
    0xb8, ...le32(HANDLER),                    // mov eax, HANDLER
    0x66, 0xa3, ...le32(IDT + 8),              // mov [IDT+8], ax
    0xc1, 0xe8, 0x10,                          // shr eax, 16
    0x66, 0xa3, ...le32(IDT + 14),             // mov [IDT+14], ax
    0x66, 0x8c, 0xc8,                          // mov ax, cs
    0x66, 0xa3, ...le32(IDT + 10),             // mov [IDT+10], ax
    0x66, 0xc7, 0x05, ...le32(IDT + 12), ...w16(0x8e00), // 32-bit interrupt gate, DPL 0
    0x0f, 0x01, 0x1d, ...le32(IDTR),           // lidt [IDTR]
    0xb8, ...le32(dr0), 0x0f, 0x23, 0xc0,      // mov dr0, eax
    0xb8, ...le32(dr7), 0x0f, 0x23, 0xf8,      // mov dr7, eax
    ...body,
    0xb0, 0x7f, 0xe6, 0xf4,                    // no #DB: exit with 0x7f
  ];
  while (code.length < 0x100) code.push(0x90);
  // The handler: keep the saved EIP, exit with DR6's B0–B3.
  code.push(0x5b, 0x89, 0x1d, ...le32(RESULT), 0x0f, 0x21, 0xf0, 0x24, 0x0f, 0xe6, 0xf4);
  return code;
}

/** Where the body starts: after the MOV DR7. */
function bodyAt(code: number[]): number {
  return CODE + code.findIndex((b, k) => b === 0x0f && code[k + 1] === 0x23 && code[k + 2] === 0xf8) + 3;
}

const IDTR_DATA: [number, number[]][] = [[IDTR, [...w16(0x7ff), ...le32(IDT)]]];

for (const mode of ["bare", "trap", "bt"] as const) {
  test(`${mode}: a data write breakpoint is a #DB trap after the write, through the guest's IDT`, () => {
    const store = [0xc7, 0x05, ...le32(WATCH), ...le32(5)]; // mov dword [WATCH], 5
    const code = guest(WATCH, 0x1 | (1 << 16) | (3 << 18) | 0x400, store);
    const afterStore = bodyAt(code) + store.length;
    const r = runCode(code, mode, "standard", IDTR_DATA);
    assert.deepEqual(r.end, { kind: "poweroff", status: 3 }, "exit with DR6.B0");
    assert.equal(r.read32(WATCH), 5);
    assert.equal(r.read32(RESULT) >>> 0, afterStore >>> 0);
  });

  test(`${mode}: an instruction breakpoint is a #DB fault at the instruction`, () => {
    // DR0 at the second NOP of the body (the code's layout does not depend on DR0's value).
    const nop = bodyAt(guest(0, 0, [])) + 1;
    const code2 = guest(nop, 0x1 | 0x400, [0x90, 0x90, 0x90]);
    const r = runCode(code2, mode, "standard", IDTR_DATA);
    assert.deepEqual(r.end, { kind: "poweroff", status: 3 });
    assert.equal(r.read32(RESULT) >>> 0, nop >>> 0);
  });
}
