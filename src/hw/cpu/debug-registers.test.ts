// The debug registers, per the SDM vol. 3 §18.2 (DR0–DR3 addresses, DR6 status, DR7
// control) and §18.3.1 (instruction breakpoints are faults, data breakpoints traps, RF,
// general detect), and the host probe beside them (invisible to the guest).

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine, CODE } from "../../../test/support/flat-machine.js";
import { loadAsm, asm, stackDwords } from "../../../test/protection/harness.js";
import { StopReason, Vector } from "./fault.js";
import * as F from "./eflags.js";

const at = (source: string) => CODE + asm(source).length;
const DATA = 0x9000;

/** Run `source` with the debug registers set; the vector taken and the handler's frame. */
function run(source: string, dr: Partial<Record<0 | 1 | 2 | 3 | 7, number>>, setup?: (fm: FlatMachine) => void) {
  const fm = new FlatMachine();
  loadAsm(fm, source);
  for (const [k, v] of Object.entries(dr)) fm.cpu.dr[Number(k)] = v;
  fm.cpu.debugRegistersChanged();
  setup?.(fm);
  const vector = fm.runToHalt();
  return { fm, vector, frame: stackDwords(fm, 3), dr6: fm.cpu.dr[6] >>> 0 };
}
/** DR7 for breakpoint n: Ln set, R/W and LEN as given (SDM figure 18-1). */
const dr7 = (n: number, rw: number, len: number) => (1 << (n * 2)) | (rw << (16 + n * 4)) | (len << (18 + n * 4)) | 0x400;

test("instruction breakpoint: a #DB fault before the instruction, DR6.B0, EIP of the instruction (§18.3.1.1)", () => {
  const pre = "mov eax, 1";
  const r = run(`${pre}\n mov eax, 2\n hlt`, { 0: at(pre), 7: dr7(0, 0, 0) });
  assert.equal(r.vector, Vector.DB);
  assert.equal(r.frame[0], at(pre), "a fault: the saved EIP is the breakpoint's");
  assert.equal(r.fm.cpu.regs[0], 1, "the instruction did not run");
  assert.equal(r.dr6 & 0xf, 1);
  assert.equal(r.frame[2] & F.RF, 0, "RF is pushed clear for an instruction breakpoint (the handler sets it)");
});

test("instruction breakpoint: not taken with EFLAGS.RF set, and RF clears after the instruction", () => {
  const r = run("mov eax, 2\n hlt", { 0: CODE, 7: dr7(0, 0, 0) }, (fm) => { fm.cpu.flags |= F.RF; });
  assert.equal(r.vector, -1);
  assert.equal(r.fm.cpu.regs[0], 2);
  assert.equal(r.fm.cpu.flags & F.RF, 0);
});

test("a disabled breakpoint (L0 = G0 = 0) is not taken", () => {
  const r = run("mov eax, 2\n hlt", { 0: CODE, 7: 0x400 });
  assert.equal(r.vector, -1);
});

test("data write breakpoint: a #DB trap after the write, DR6.B1, memory written (§18.3.1.2)", () => {
  const pre = `mov eax, 0x1234\n mov [${DATA}], eax`;
  const r = run(`${pre}\n nop\n hlt`, { 1: DATA, 7: dr7(1, 1, 3) });
  assert.equal(r.vector, Vector.DB);
  assert.equal(r.frame[0], at(pre), "a trap: the saved EIP is the next instruction's");
  assert.equal(r.fm.mem.read32(DATA), 0x1234);
  assert.equal(r.dr6 & 0xf, 2);
});

test("R/W = 01 ignores reads; R/W = 11 takes them", () => {
  assert.equal(run(`mov eax, [${DATA}]\n hlt`, { 1: DATA, 7: dr7(1, 1, 3) }).vector, -1);
  const r = run(`mov eax, [${DATA + 2}]\n hlt`, { 1: DATA, 7: dr7(1, 3, 3) });
  assert.equal(r.vector, Vector.DB, "a 4-byte read overlapping the watched dword");
  assert.equal(r.dr6 & 0xf, 2);
});

test("LEN bounds the watched range: a write to the next dword is not taken; a 1-byte write inside a 2-byte one is", () => {
  assert.equal(run(`mov dword ptr [${DATA + 4}], 1\n hlt`, { 2: DATA, 7: dr7(2, 1, 3) }).vector, -1);
  const r = run(`mov byte ptr [${DATA + 1}], 1\n hlt`, { 2: DATA, 7: dr7(2, 1, 1) });
  assert.equal(r.vector, Vector.DB);
  assert.equal(r.dr6 & 0xf, 4);
});

test("DR7.GD: MOV DR faults with #DB before it runs, DR6.BD set, GD cleared for the handler (§18.2.4)", () => {
  const r = run("mov eax, dr0\n hlt", { 0: 0x5555, 7: 0x400 | (1 << 13) }, (fm) => { fm.cpu.regs[0] = 7; });
  assert.equal(r.vector, Vector.DB);
  assert.equal(r.frame[0], CODE);
  assert.equal(r.fm.cpu.regs[0], 7, "the MOV did not run");
  assert.notEqual(r.dr6 & (1 << 13), 0);
  assert.equal(r.fm.cpu.dr[7] & (1 << 13), 0);
});

test("the guest arms a breakpoint with MOV DR7 and it fires", () => {
  const pre = `mov eax, ${CODE + 0x40}\n mov dr0, eax\n mov eax, ${dr7(0, 0, 0)}\n mov dr7, eax\n jmp ${CODE + 0x40}`;
  const fm = new FlatMachine();
  loadAsm(fm, pre);
  fm.mem.write8(CODE + 0x40, 0x90); // nop
  fm.mem.write8(CODE + 0x41, 0xf4);
  const v = fm.runToHalt();
  assert.equal(v, Vector.DB);
  assert.equal(stackDwords(fm, 1)[0], CODE + 0x40);
});

test("single-step and a data breakpoint in one instruction: one #DB with BS and B0", () => {
  const r = run(`mov [${DATA}], eax\n hlt`, { 0: DATA, 7: dr7(0, 1, 3) }, (fm) => { fm.cpu.flags |= F.TF; });
  assert.equal(r.vector, Vector.DB);
  assert.equal(r.dr6 & 0x400f, 0x4001);
});

test("the host probe: a breakpoint stops the CPU before the instruction, the guest sees nothing", () => {
  const pre = "mov eax, 1";
  const fm = new FlatMachine();
  loadAsm(fm, `${pre}\n mov eax, 2\n hlt`);
  fm.cpu.debug.hostBreaks.add(at(pre));
  fm.cpu.debugProbeChanged();
  const dr6 = fm.cpu.dr[6];
  assert.equal(fm.cpu.run(100), StopReason.Debug);
  assert.equal(fm.cpu.eip, at(pre));
  assert.equal(fm.cpu.regs[0], 1);
  assert.deepEqual(fm.cpu.debug.hit, { kind: "break", lin: at(pre) });
  assert.equal(fm.cpu.dr[6], dr6);
  // Resuming passes the breakpoint once.
  fm.cpu.debug.skipLin = at(pre);
  assert.equal(fm.runToHalt(), -1);
  assert.equal(fm.cpu.regs[0], 2);
});

test("the host probe and a guest breakpoint on one address: the host stops first, then the guest's #DB", () => {
  const fm = new FlatMachine();
  loadAsm(fm, "nop\n hlt");
  fm.cpu.dr[0] = CODE; fm.cpu.dr[7] = dr7(0, 0, 0);
  fm.cpu.debugRegistersChanged();
  fm.cpu.debug.hostBreaks.add(CODE);
  fm.cpu.debugProbeChanged();
  assert.equal(fm.cpu.run(100), StopReason.Debug);
  fm.cpu.debug.skipLin = CODE;
  assert.equal(fm.runToHalt(), Vector.DB);
  assert.equal(fm.cpu.dr[6] & 0xf, 1);
});

test("a host single-step of a faulting instruction stops at the handler's first instruction", () => {
  const fm = new FlatMachine();
  loadAsm(fm, "ud2\n hlt");
  fm.cpu.debug.step = true;
  fm.cpu.debugProbeChanged();
  assert.equal(fm.cpu.run(100), StopReason.Debug);
  assert.deepEqual(fm.cpu.debug.hit, { kind: "step" });
  assert.equal(stackDwords(fm, 1)[0], CODE, "the #UD frame is pushed");
  assert.notEqual(fm.cpu.eip, CODE);
  assert.equal(fm.mem.read8(fm.cpu.eip), 0xf4, "at the #UD stub's HLT, not past it");
});
