// I/O protection: IOPL and the TSS I/O permission bitmap (Intel SDM vol. 1 §19.5.1 "I/O
// Privilege Level", §19.5.2 "I/O Permission Bit Map", figure 19-2; vol. 2 "IN", "OUT",
// "INS", "OUTS"). At CPL ≤ IOPL every port is allowed; otherwise every bit for the ports
// the access touches must be clear, the processor reads the bitmap two bytes at a time, and
// anything beyond the TSS limit counts as set. Failures are #GP(0).

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine, SEL, CODE, TSS, segDescriptor } from "../../../test/support/flat-machine.js";
import { loadAsm, setGdt, setTssLimit, stackDwords } from "../../../test/protection/harness.js";
import { Vector } from "./fault.js";
import { Descriptor } from "./segment.js";

const MAP = TSS + 0x68;

/** A machine at `cpl` with IOPL `iopl`; `bitmapPorts` > 0 extends the TSS over a bitmap of all ones for that many ports plus the trailing 0xFF byte. */
const ringOf = new WeakMap<FlatMachine, 0 | 1 | 3>();
function machine(cpl: 0 | 1 | 3, iopl: number, bitmapPorts = 0): FlatMachine {
  const fm = new FlatMachine({ cpl });
  ringOf.set(fm, cpl);
  fm.cpu.flags |= iopl << 12;
  if (bitmapPorts > 0) {
    for (let b = 0; b <= bitmapPorts / 8; b++) fm.mem.write8(MAP + b, 0xff);
    setTssLimit(fm, 0x68 + bitmapPorts / 8);
  }
  return fm;
}
function allow(fm: FlatMachine, port: number): void {
  fm.mem.write8(MAP + (port >>> 3), fm.mem.read8(MAP + (port >>> 3)) & ~(1 << (port & 7)));
}
/**
 * Run `source` (from the machine's starting ring: a fault leaves the CPU in ring 0) then HLT.
 * Returns the vector of the first fault, its error code and EIP.
 */
function run(fm: FlatMachine, source: string): { vector: number; eip: number; code: number } {
  fm.enterRing(ringOf.get(fm) ?? 0);
  loadAsm(fm, `${source}\n mov ebx, 0x600d\n hlt`);
  fm.cpu.regs[3] = 0;
  const vector = fm.runToHalt();
  const [code, eip] = stackDwords(fm, 2);
  return { vector, eip, code };
}
/** True if `source` completed (reached the MOV EBX after it). */
function ok(fm: FlatMachine, source: string): boolean {
  run(fm, source);
  return fm.cpu.regs[3] === 0x600d;
}

test("CPL ≤ IOPL: IN and OUT are allowed without consulting the bitmap", () => {
  assert.equal(ok(machine(0, 0), "in al, 0x80\n out 0x80, al"), true);
  assert.equal(ok(machine(3, 3), "in al, 0x80\n out 0x80, al"), true);
  assert.equal(ok(machine(1, 1), "mov dx, 0x3f8\n in eax, dx"), true);
});

test("CPL > IOPL with the bitmap outside the TSS limit: #GP(0) at the IN", () => {
  for (const cpl of [1, 3] as const) {
    const r = run(machine(cpl, 0), "nop\n in al, 0x80");
    assert.equal(r.vector, Vector.GP);
    assert.deepEqual([r.code, r.eip], [0, CODE + 1]);
  }
});

test("the bitmap grants exactly the ports whose bits are clear", () => {
  const fm = machine(3, 0, 0x400);
  allow(fm, 0x80);
  assert.equal(ok(fm, "in al, 0x80"), true);
  assert.equal(ok(fm, "out 0x80, al"), true);
  assert.equal(ok(fm, "in al, 0x81"), false);
  assert.equal(ok(fm, "in al, 0x7f"), false);
});

test("a word or dword access needs every port's bit clear", () => {
  const fm = machine(3, 0, 0x400);
  allow(fm, 0x80); allow(fm, 0x81); allow(fm, 0x82);
  assert.equal(ok(fm, "in ax, 0x80"), true);
  assert.equal(ok(fm, "in eax, 0x80"), false, "port 0x83 still denied");
  allow(fm, 0x83);
  assert.equal(ok(fm, "in eax, 0x80"), true);
  assert.equal(ok(fm, "in ax, 0x82"), true);
});

test("an access whose bits span two bitmap bytes reads both", () => {
  const fm = machine(3, 0, 0x400);
  allow(fm, 0x87);
  assert.equal(ok(fm, "in ax, 0x87"), false, "port 0x88 (next byte) denied");
  allow(fm, 0x88);
  assert.equal(ok(fm, "in ax, 0x87"), true);
});

test("the processor reads two bytes: the byte after the last one used must lie within the TSS limit", () => {
  const fm = machine(3, 0, 0x400);
  for (let p = 0x3f8; p < 0x400; p++) allow(fm, p);
  assert.equal(ok(fm, "mov dx, 0x3f8\n in al, dx"), true);
  setTssLimit(fm, 0x68 + 0x7f); // the trailing 0xFF byte now lies outside the limit
  assert.equal(ok(fm, "mov dx, 0x3f8\n in al, dx"), false);
});

test("the bitmap base comes from TSS offset 0x66", () => {
  const fm = machine(3, 0, 0x400);
  // Move the map 0x10 bytes up: the old bits no longer apply.
  fm.mem.write16(TSS + 0x66, 0x78);
  for (let b = 0; b <= 0x80; b++) fm.mem.write8(TSS + 0x78 + b, 0xff);
  setTssLimit(fm, 0x78 + 0x80);
  fm.mem.write8(TSS + 0x78 + (0x60 >>> 3), 0xfe); // port 0x60 allowed
  assert.equal(ok(fm, "in al, 0x60"), true);
  const r = run(fm, "in al, 0x80");
  assert.deepEqual([r.vector, r.code, r.eip], [Vector.GP, 0, CODE]);
});

test("INS/OUTS are checked like IN/OUT", () => {
  const fm = machine(3, 0, 0x400);
  assert.equal(ok(fm, "mov dx, 0x80\n mov edi, 0x20000\n insb"), false);
  assert.equal(ok(fm, "mov dx, 0x80\n mov esi, 0x20000\n outsb"), false);
  allow(fm, 0x80);
  assert.equal(ok(fm, "mov dx, 0x80\n mov edi, 0x20000\n insb"), true);
  assert.equal(ok(fm, "mov dx, 0x80\n mov esi, 0x20000\n outsb"), true);
});

test("with a 16-bit TSS there is no bitmap: CPL > IOPL always faults", () => {
  const fm = machine(3, 0);
  const sel = setGdt(fm, 10, segDescriptor(0x3800, 0x2b, 0x83, 0)); // busy 16-bit TSS
  fm.mem.write16(0x3800 + 2, 0x8000); // SP0
  fm.mem.write16(0x3800 + 4, SEL.DATA0); // SS0
  const d = new Descriptor();
  fm.cpu.readDescriptor(sel, d);
  fm.cpu.tr.loadDescriptor(sel, d);
  const r = run(fm, "in al, 0x80");
  assert.deepEqual([r.vector, r.code, r.eip], [Vector.GP, 0, CODE]);
});
