// Segment descriptors and the checks on loading and using them: limits (with G, expand-down
// and the B flag), types, DPL/RPL/CPL, present, null selectors, the accessed flag.
// Intel SDM vol. 3 §3.4.5 (descriptor fields, figure 3-8), §3.4.5.1 (types, table 3-1),
// §5.3 (limit checking, expand-down), §5.5–5.7 (privilege levels, data and stack segment
// checks), §5.10.1; vol. 2 "MOV" (segment register loads, protected mode).

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine, SEL, CODE, segDescriptor } from "../../../test/support/flat-machine.js";
import { gdtHigh, loadAsm, setGdt, stackDwords } from "../../../test/protection/harness.js";
import { Vector } from "./fault.js";

const S = 0x50; // GDT 10, used by each test for the segment under test

/** Put `desc` at GDT 10, run `source` at `cpl`; returns vector, error code, EIP and whether it finished. */
function run(desc: [number, number], source: string, cpl: 0 | 3 = 0) {
  const fm = new FlatMachine({ cpl });
  setGdt(fm, 10, desc);
  loadAsm(fm, `${source}\n mov ebx, 0x600d\n hlt`);
  const vector = fm.runToHalt();
  const [code, eip] = stackDwords(fm, 2);
  return { fm, vector, code, eip, done: fm.cpu.regs[3] === 0x600d };
}

test("G=1 scales the limit: limit 0 with G covers offsets 0..0xFFF", () => {
  assert.equal(run(segDescriptor(0, 0, 0x92, 0xc), `mov ax, ${S}\n mov ds, ax\n mov al, [0xfff]`).done, true);
  const r = run(segDescriptor(0, 0, 0x92, 0xc), `mov ax, ${S}\n mov ds, ax\n mov al, [0x1000]`);
  assert.deepEqual([r.vector, r.code], [Vector.GP, 0]);
});

test("expand-down, B=1: valid offsets are limit+1 .. 0xFFFFFFFF (§5.3)", () => {
  const ed = segDescriptor(0, 0xfff, 0x96, 0x4); // data rw expand-down, byte granular, B=1
  assert.equal(run(ed, `mov ax, ${S}\n mov ds, ax\n mov al, [0x1000]`).done, true);
  assert.equal(run(ed, `mov ax, ${S}\n mov ds, ax\n mov eax, [0x20000]`).done, true);
  assert.equal(run(ed, `mov ax, ${S}\n mov ds, ax\n mov al, [0xfff]`).vector, Vector.GP);
  assert.equal(run(ed, `mov ax, ${S}\n mov ds, ax\n mov eax, [0xffe]`).vector, Vector.GP, "straddles limit+1");
});

test("expand-down, B=0: the upper bound is 0xFFFF", () => {
  const ed = segDescriptor(0, 0xfff, 0x96, 0x0);
  assert.equal(run(ed, `mov ax, ${S}\n mov ds, ax\n mov al, [0xffff]`).done, true);
  assert.equal(run(ed, `mov ax, ${S}\n mov ds, ax\n mov al, [0x10000]`).vector, Vector.GP);
  assert.equal(run(ed, `mov ax, ${S}\n mov ds, ax\n mov ax, [0xffff]`).vector, Vector.GP);
});

test("expand-down stack: a push below limit+1 is #SS(0)", () => {
  // (At ring 3, so the #SS is delivered on the good ring-0 stack.)
  const r3 = run(segDescriptor(0, 0x7fff, 0xf6, 0x4), `mov ax, ${S | 3}\n mov ss, ax\n mov esp, 0x8004\n push eax\n push eax`, 3);
  assert.deepEqual([r3.vector, r3.code], [Vector.SS, 0]);
  assert.equal(r3.eip, CODE + 12, "the second PUSH (first one wrote 0x8000..0x8003)");
});

test("execute-only code cannot be loaded into DS; readable code can, but not written", () => {
  let r = run(segDescriptor(0, 0xfffff, 0x98), `mov ax, ${S}\n mov ds, ax`);
  assert.deepEqual([r.vector, r.code], [Vector.GP, S]);
  assert.equal(run(segDescriptor(0, 0xfffff, 0x9a), `mov ax, ${S}\n mov ds, ax\n mov eax, [0x10000]`).done, true);
  r = run(segDescriptor(0, 0xfffff, 0x9a), `mov ax, ${S}\n mov ds, ax\n mov [0x20000], eax`);
  assert.deepEqual([r.vector, r.code], [Vector.GP, 0]);
});

test("reading through CS of execute-only code → #GP(0)", () => {
  const fm = new FlatMachine();
  setGdt(fm, 10, segDescriptor(0, 0xfffff, 0x98));
  loadAsm(fm, `jmp ${S}:offset 1f\n 1: mov eax, cs:[0x10000]\n hlt`);
  assert.equal(fm.runToHalt(), Vector.GP);
  assert.equal(stackDwords(fm, 1)[0], 0);
});

test("data segment loads: RPL > DPL or CPL > DPL → #GP(selector); conforming code is exempt", () => {
  let r = run(segDescriptor(0, 0xfffff, 0x92), `mov ax, ${S | 3}\n mov ds, ax`);
  assert.deepEqual([r.vector, r.code], [Vector.GP, S], "RPL 3 > DPL 0");
  r = run(segDescriptor(0, 0xfffff, 0xb2), `mov ax, ${S | 3}\n mov ds, ax`, 3);
  assert.deepEqual([r.vector, r.code], [Vector.GP, S], "CPL 3 > DPL 1");
  assert.equal(run(segDescriptor(0, 0xfffff, 0x9e), `mov ax, ${S | 3}\n mov ds, ax\n mov eax, [0x10000]`, 3).done, true);
});

test("SS loads: RPL ≠ CPL, DPL ≠ CPL, read-only, code, null → #GP", () => {
  const cases: [[number, number], number, number][] = [
    [segDescriptor(0, 0xfffff, 0x92), S | 1, S],   // RPL ≠ CPL 0
    [segDescriptor(0, 0xfffff, 0xb2), S | 0, S],   // DPL 1 ≠ CPL 0
    [segDescriptor(0, 0xfffff, 0x90), S, S],       // read-only data
    [segDescriptor(0, 0xfffff, 0x9a), S, S],       // code
    [segDescriptor(0, 0xfffff, 0x92), 0, 0],       // null
  ];
  for (const [desc, sel, code] of cases) {
    const r = run(desc, `mov ax, ${sel}\n mov ss, ax`);
    assert.deepEqual([r.vector, r.code], [Vector.GP, code], `selector ${sel.toString(16)}`);
  }
});

test("not-present: DS → #NP(selector), SS → #SS(selector)", () => {
  let r = run(segDescriptor(0, 0xfffff, 0x12), `mov ax, ${S}\n mov ds, ax`);
  assert.deepEqual([r.vector, r.code], [Vector.NP, S]);
  r = run(segDescriptor(0, 0xfffff, 0x12), `mov ax, ${S}\n mov ss, ax`);
  assert.deepEqual([r.vector, r.code], [Vector.SS, S]);
});

test("system descriptors, selectors past the GDT limit and LDT selectors without an LDT → #GP(selector)", () => {
  let r = run(segDescriptor(0x3000, 0x67, 0x89, 0), `mov ax, ${S}\n mov ds, ax`);
  assert.deepEqual([r.vector, r.code], [Vector.GP, S], "TSS into DS");
  r = run(segDescriptor(0, 0xfffff, 0x92), "mov ax, 0x400\n mov ds, ax");
  assert.deepEqual([r.vector, r.code], [Vector.GP, 0x400], "beyond GDTR.limit");
  r = run(segDescriptor(0, 0xfffff, 0x92), "mov ax, 0x0c\n mov ds, ax");
  assert.deepEqual([r.vector, r.code], [Vector.GP, 0x0c], "TI=1 with a null LDTR");
});

test("a null selector loads into DS at any CPL; using it → #GP(0)", () => {
  assert.equal(run(segDescriptor(0, 0, 0), "mov ax, 3\n mov ds, ax", 3).done, true);
  const r = run(segDescriptor(0, 0, 0), "mov ax, 3\n mov es, ax\n mov eax, es:[0x20000]", 3);
  assert.deepEqual([r.vector, r.code], [Vector.GP, 0]);
});

test("loading a segment register sets the descriptor's accessed flag", () => {
  const r = run(segDescriptor(0, 0xfffff, 0x92), `mov ax, ${S}\n mov fs, ax`);
  assert.equal(r.done, true);
  assert.equal(gdtHigh(r.fm, 10) & 0x100, 0x100);
});

test("the B flag of CS selects 32- or 16-bit code (D/B, §3.4.5)", () => {
  const fm = new FlatMachine();
  // Below 64 KiB, inside the 16-bit segment's limit. In the 16-bit segment, B8 takes a 2-byte immediate: `mov ax, 0x1234` then `hlt`.
  loadAsm(fm, `mov eax, 0xffffffff\n jmp ${SEL.CODE16}:offset 1f\n 1: .byte 0xb8, 0x34, 0x12, 0xf4`, 0xe000);
  fm.runToHalt();
  assert.equal(fm.cpu.regs[0] >>> 0, 0xffff_1234);
});
