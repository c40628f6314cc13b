// Hardware task switching: JMP, CALL, IRET and interrupts through TSS descriptors and task
// gates. Intel SDM vol. 3 chapter 7: §7.2.1 (TSS, figure 7-2), §7.2.2 (busy flag), §7.3
// (task switching: the checks, what is saved and loaded, table 7-1), §7.4 (task linking:
// back link, NT, table 7-2 "Effect of a task switch on busy flag, NT flag, previous task link
// field and TS flag"), §7.2.4 (LTR). Vol. 2 "LTR".

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine, SEL, CODE, GDT, TSS, gateDescriptor, segDescriptor } from "../../../test/support/flat-machine.js";
import { asm, gdtHigh, loadAsm, setGdt, setIdt, stackDwords } from "../../../test/protection/harness.js";
import { Vector } from "./fault.js";
import { CR0_TS } from "./cpu.js";
import * as F from "./eflags.js";

const TSS2 = 0x5000, TSS2_SEL = 0x50, GATE_SEL = 0x58, TASK2 = 0x12000;
const BUSY = 0x200;

/**
 * The flat machine with its TSS marked busy (as LTR would) and a second, available 32-bit
 * TSS (GDT 10) whose task starts at TASK2 with EAX = 0x2222 on a stack at 0x7000, plus a task
 * gate to it (GDT 11, DPL 3).
 */
function twoTasks(task2: string, cpl: 0 | 3 = 0): FlatMachine {
  const fm = new FlatMachine({ cpl });
  fm.mem.write8(GDT + 5 * 8 + 5, fm.mem.read8(GDT + 5 * 8 + 5) | 2);
  setGdt(fm, 10, segDescriptor(TSS2, 0x67, 0x89, 0));
  setGdt(fm, 11, gateDescriptor(TSS2_SEL, 0, 0x5, 3));
  const w = (off: number, v: number) => fm.mem.write32(TSS2 + off, v);
  w(32, TASK2); w(36, 0x2); w(40, 0x2222); w(56, 0x7000);
  w(72, SEL.DATA0); w(76, SEL.CODE0); w(80, SEL.DATA0); w(84, SEL.DATA0); w(88, SEL.DATA0); w(92, SEL.DATA0);
  fm.mem.load(TASK2, asm(task2, TASK2));
  return fm;
}

test("JMP to a TSS: state saved in the old TSS, loaded from the new; busy moves; no link, no NT; CR0.TS set", () => {
  const fm = twoTasks("hlt");
  const pre = "mov eax, 0x1111";
  loadAsm(fm, `${pre}\n jmp ${TSS2_SEL}:0`);
  assert.equal(fm.runToHalt(), -1);
  const cpu = fm.cpu;
  assert.equal(cpu.tr.selector, TSS2_SEL);
  assert.equal(cpu.regs[0], 0x2222);
  assert.equal(cpu.regs[4], 0x7000);
  assert.equal(fm.mem.read32(TSS + 32), CODE + asm(`${pre}\n jmp ${TSS2_SEL}:0`).length, "old EIP: the next instruction");
  assert.equal(fm.mem.read32(TSS + 40), 0x1111, "old EAX");
  assert.equal(fm.mem.read16(TSS + 76), SEL.CODE0, "old CS");
  assert.equal(gdtHigh(fm, 5) & BUSY, 0, "old TSS no longer busy");
  assert.equal(gdtHigh(fm, 10) & BUSY, BUSY, "new TSS busy");
  assert.equal(fm.mem.read16(TSS2), 0, "no back link");
  assert.equal(cpu.flags & F.NT, 0);
  assert.equal(cpu.cr0 & CR0_TS, CR0_TS);
});

test("CALL to a TSS nests: back link, NT set, old TSS stays busy; IRET returns and un-busies the inner task", () => {
  const inner = "pushfd\n pop ebx\n mov [0x20000], ebx\n iretd";
  const fm = twoTasks(inner);
  const call = `call ${TSS2_SEL}:0`;
  loadAsm(fm, `${call}\n mov ecx, 0x600d\n hlt`);
  assert.equal(fm.runToHalt(), -1);
  const cpu = fm.cpu;
  assert.equal(fm.mem.read32(0x20000) & F.NT, F.NT, "NT set in the called task");
  assert.equal(fm.mem.read16(TSS2), SEL.TSS, "back link = the caller's TSS");
  assert.equal(cpu.tr.selector, SEL.TSS, "IRET went back");
  assert.equal(cpu.regs[1], 0x600d);
  assert.equal(cpu.regs[0], 0, "the caller's EAX restored");
  assert.equal(gdtHigh(fm, 10) & BUSY, 0, "IRET clears the inner task's busy flag");
  assert.equal(gdtHigh(fm, 5) & BUSY, BUSY);
  assert.equal(fm.mem.read32(TSS2 + 36) & F.NT, 0, "EFLAGS saved by IRET has NT clear");
  assert.equal(fm.mem.read32(TSS2 + 32), TASK2 + asm(inner, TASK2).length, "inner task's EIP saved after its IRET");
});

test("CALL through a task gate from ring 3 (gate DPL 3, TSS DPL 0)", () => {
  const fm = twoTasks("hlt", 3);
  loadAsm(fm, `call ${GATE_SEL | 3}:0`);
  assert.equal(fm.runToHalt(), -1);
  assert.equal(fm.cpu.tr.selector, TSS2_SEL);
  assert.equal(fm.cpu.cpl, 0, "the new task's CS decides CPL");
  assert.equal(fm.mem.read16(TSS2 + 76), SEL.CODE0);
  assert.equal(fm.mem.read16(TSS + 76), SEL.CODE3, "ring-3 CS saved in the old TSS");
});

test("JMP/CALL to a TSS directly from ring 3 with TSS DPL 0 → #GP(TSS selector)", () => {
  const fm = twoTasks("hlt", 3);
  loadAsm(fm, `call ${TSS2_SEL | 3}:0`);
  assert.equal(fm.runToHalt(), Vector.GP);
  assert.equal(stackDwords(fm, 1)[0], TSS2_SEL);
});

test("a task gate with DPL < CPL → #GP(gate selector)", () => {
  const fm = twoTasks("hlt", 3);
  setGdt(fm, 11, gateDescriptor(TSS2_SEL, 0, 0x5, 0));
  loadAsm(fm, `jmp ${GATE_SEL | 3}:0`);
  assert.equal(fm.runToHalt(), Vector.GP);
  assert.equal(stackDwords(fm, 1)[0], GATE_SEL);
});

test("CALL/JMP to a busy TSS → #GP(selector)", () => {
  const fm = twoTasks("hlt");
  loadAsm(fm, `jmp ${SEL.TSS}:0`);
  assert.equal(fm.runToHalt(), Vector.GP);
  assert.equal(stackDwords(fm, 1)[0], SEL.TSS);
});

test("a TSS with limit < 0x67 → #TS(selector); not present → #NP(selector)", () => {
  let fm = twoTasks("hlt");
  setGdt(fm, 10, segDescriptor(TSS2, 0x66, 0x89, 0));
  loadAsm(fm, `jmp ${TSS2_SEL}:0`);
  assert.equal(fm.runToHalt(), Vector.TS);
  assert.deepEqual(stackDwords(fm, 2), [TSS2_SEL, CODE]);
  fm = twoTasks("hlt");
  setGdt(fm, 10, segDescriptor(TSS2, 0x67, 0x09, 0));
  loadAsm(fm, `jmp ${TSS2_SEL}:0`);
  assert.equal(fm.runToHalt(), Vector.NP);
  assert.equal(stackDwords(fm, 1)[0], TSS2_SEL);
});

test("IRET with NT set whose back link names an available TSS → #TS(link)", () => {
  const fm = twoTasks("hlt");
  fm.mem.write16(TSS, TSS2_SEL); // back link to a TSS that is not busy
  loadAsm(fm, "pushfd\n or dword ptr [esp], 0x4000\n popfd\n iretd");
  assert.equal(fm.runToHalt(), Vector.TS);
  assert.equal(stackDwords(fm, 1)[0], TSS2_SEL);
});

test("an exception through a task gate in the IDT: new task, error code on its stack, linked back", () => {
  const fm = twoTasks("hlt");
  setIdt(fm, Vector.GP, gateDescriptor(TSS2_SEL, 0, 0x5, 0));
  fm.enterRing(3);
  loadAsm(fm, "nop\n cli");
  assert.equal(fm.runToHalt(), -1);
  const cpu = fm.cpu;
  assert.equal(cpu.tr.selector, TSS2_SEL);
  assert.equal(cpu.regs[4], 0x7000 - 4, "error code pushed on the new task's stack");
  assert.equal(fm.mem.read32(0x7000 - 4), 0);
  assert.equal(fm.mem.read16(TSS2), SEL.TSS, "back link");
  assert.equal(cpu.flags & F.NT, F.NT);
  assert.equal(fm.mem.read32(TSS + 32), CODE + 1, "the faulting CLI's EIP saved in the old TSS");
});

test("#DF through a task gate gets a fresh stack (the classic double-fault handler)", () => {
  const fm = twoTasks("hlt");
  const [lo, hi] = gateDescriptor(SEL.CODE0, 0x4000, 0xe, 0);
  setIdt(fm, Vector.DE, [lo, hi & ~0x8000]);
  setIdt(fm, Vector.DF, gateDescriptor(TSS2_SEL, 0, 0x5, 0));
  loadAsm(fm, "xor ecx, ecx\n div ecx");
  assert.equal(fm.runToHalt(), -1);
  assert.equal(fm.cpu.tr.selector, TSS2_SEL);
  assert.equal(fm.mem.read32(0x7000 - 4), 0, "#DF error code 0");
  assert.equal(fm.mem.read32(TSS + 32), CODE + 2, "saved EIP: the DIV");
});

test("LTR marks the TSS busy; LTR of a busy TSS → #GP(selector); LTR at CPL 3 → #GP(0)", () => {
  let fm = twoTasks("hlt");
  loadAsm(fm, `mov ax, ${TSS2_SEL}\n ltr ax\n hlt`);
  assert.equal(fm.runToHalt(), -1);
  assert.equal(fm.cpu.tr.selector, TSS2_SEL);
  assert.equal(gdtHigh(fm, 10) & BUSY, BUSY);
  fm = twoTasks("hlt");
  loadAsm(fm, `mov ax, ${SEL.TSS}\n ltr ax`);
  assert.equal(fm.runToHalt(), Vector.GP);
  assert.equal(stackDwords(fm, 1)[0], SEL.TSS);
  fm = twoTasks("hlt", 3);
  loadAsm(fm, `mov ax, ${TSS2_SEL}\n ltr ax`);
  assert.equal(fm.runToHalt(), Vector.GP);
  assert.equal(stackDwords(fm, 1)[0], 0);
});

test("a new task whose CS is not code faults #TS(CS) after the switch, in the new task", () => {
  const fm = twoTasks("hlt");
  fm.mem.write32(TSS2 + 76, SEL.DATA0);
  loadAsm(fm, `jmp ${TSS2_SEL}:0`);
  assert.equal(fm.runToHalt(), Vector.TS);
  assert.equal(stackDwords(fm, 1)[0], SEL.DATA0);
  assert.equal(fm.cpu.tr.selector, TSS2_SEL, "the switch had committed");
});
