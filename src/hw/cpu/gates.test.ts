// Gates and privilege changes: interrupt and trap gates (IDT), call gates, far CALL/JMP/RET
// and IRET between rings. Intel SDM vol. 3 §5.8 (privilege checks for control transfers,
// figures 5-4 to 5-13, tables 5-1/5-2), §5.8.5 (stack switching, figure 5-13), §6.12
// (interrupt procedures, figure 6-4 stack frames, IF cleared by interrupt gates only),
// and vol. 2 pseudocode of CALL, JMP, RET, IRET and INT n.

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine, SEL, CODE, STACK0, STACK3, gateDescriptor, segDescriptor } from "../../../test/support/flat-machine.js";
import { asm, loadAsm, setGdt, setIdt, stackDwords, stackWords } from "../../../test/protection/harness.js";
import { Vector } from "./fault.js";
import { SegReg } from "./segment.js";
import * as F from "./eflags.js";

const HANDLER = 0x11000;
/** Handler address for 16-bit gates, whose offsets have 16 bits. */
const HANDLER16 = 0xe000;
const INT_GATE = 0xe, TRAP_GATE = 0xf, INT_GATE16 = 0x6, CALL_GATE = 0xc, CALL_GATE16 = 0x4;

/** Put code at `at` without moving EIP. */
function place(fm: FlatMachine, source: string, at: number): void {
  fm.mem.load(at, asm(source, at));
}

// ---- Interrupt and trap gates ----

test("INT n from ring 3 to a ring-0 interrupt gate: stack switch to SS0:ESP0, frame of figure 6-4", () => {
  const fm = new FlatMachine({ cpl: 3 });
  setIdt(fm, 0x40, gateDescriptor(SEL.CODE0, HANDLER, INT_GATE, 3));
  place(fm, "hlt", HANDLER);
  loadAsm(fm, "sti\n int 0x40");
  fm.cpu.flags |= 3 << 12; // IOPL 3 so ring 3 may STI
  assert.equal(fm.runToHalt(), -1);
  const cpu = fm.cpu;
  assert.equal(cpu.cpl, 0);
  assert.equal(cpu.segs[SegReg.SS].selector, SEL.DATA0);
  assert.equal(cpu.regs[4] >>> 0, STACK0 - 20);
  const [eip, cs, eflags, esp, ss] = stackDwords(fm, 5);
  assert.deepEqual([eip, cs, esp, ss], [CODE + 3, SEL.CODE3, STACK3, SEL.DATA3]);
  assert.equal(eflags & F.IF, F.IF, "pushed EFLAGS has IF");
  assert.equal(cpu.flags & F.IF, 0, "interrupt gate clears IF");
});

test("a trap gate leaves IF set; both gate kinds clear TF and NT", () => {
  const fm = new FlatMachine();
  setIdt(fm, 0x41, gateDescriptor(SEL.CODE0, HANDLER, TRAP_GATE, 0));
  place(fm, "hlt", HANDLER);
  loadAsm(fm, "sti\n pushfd\n or dword ptr [esp], 0x4000\n popfd\n int 0x41");
  assert.equal(fm.runToHalt(), -1);
  assert.equal(fm.cpu.flags & (F.IF | F.NT | F.TF), F.IF);
  assert.equal(stackDwords(fm, 3)[2] & F.NT, F.NT, "NT was set in the pushed EFLAGS");
});

test("a gate to ring-1 code uses SS1:ESP1 from the TSS", () => {
  const fm = new FlatMachine({ cpl: 3 });
  setIdt(fm, 0x42, gateDescriptor(SEL.CODE1, HANDLER, INT_GATE, 3));
  place(fm, "mov eax, cs\n mov ebx, esp\n mov ecx, ss\n hlt", HANDLER);
  loadAsm(fm, "int 0x42");
  assert.equal(fm.runToHalt(), Vector.GP, "HLT at CPL 1");
  const r = fm.cpu.regs;
  assert.equal(r[0] & 0xffff, SEL.CODE1);
  assert.equal(r[1] & 0xffff, SEL.DATA1);
  assert.equal(r[3] >>> 0, STACK0 - 0x400 - 20);
});

test("a 16-bit interrupt gate pushes a 16-bit frame", () => {
  const fm = new FlatMachine();
  setIdt(fm, 0x43, gateDescriptor(SEL.CODE0, HANDLER16, INT_GATE16, 0));
  place(fm, "hlt", HANDLER16);
  loadAsm(fm, "int 0x43");
  fm.runToHalt();
  assert.equal(fm.cpu.regs[4] >>> 0, STACK0 - 6);
  const [ip, cs] = stackWords(fm, 3);
  assert.deepEqual([ip, cs], [(CODE + 2) & 0xffff, SEL.CODE0]);
});

test("a gate to conforming code runs the handler at the caller's CPL, on the caller's stack", () => {
  const fm = new FlatMachine({ cpl: 3 });
  const conf = setGdt(fm, 10, segDescriptor(0, 0xfffff, 0x9e)); // DPL 0 conforming code
  setIdt(fm, 0x44, gateDescriptor(conf, HANDLER, INT_GATE, 3));
  place(fm, "hlt", HANDLER);
  loadAsm(fm, "int 0x44");
  assert.equal(fm.runToHalt(), Vector.GP, "the handler's HLT faults at CPL 3");
  assert.equal(fm.cpu.regs[4] >>> 0, STACK0 - 24, "#GP from the conforming handler, at CPL 3");
  const [, eip, cs, , esp] = stackDwords(fm, 5);
  assert.equal(eip, HANDLER);
  assert.equal(cs, conf | 3, "CS.RPL = CPL 3");
  assert.equal(esp, STACK3 - 12, "INT pushed its 3-dword frame on the ring-3 stack");
});

test("gate checks: DPL < CPL → #GP(IDT), not present → #NP(IDT), bad type → #GP(IDT), beyond IDT limit → #GP(IDT)", () => {
  const cases: [string, (fm: FlatMachine) => void, number, number][] = [
    ["dpl", (fm) => setIdt(fm, 0x45, gateDescriptor(SEL.CODE0, HANDLER, INT_GATE, 0)), Vector.GP, 0x45 * 8 + 2],
    ["np", (fm) => { const g = gateDescriptor(SEL.CODE0, HANDLER, INT_GATE, 3); setIdt(fm, 0x45, [g[0], g[1] & ~0x8000]); }, Vector.NP, 0x45 * 8 + 2],
    ["type", (fm) => setIdt(fm, 0x45, gateDescriptor(SEL.CODE0, HANDLER, CALL_GATE, 3)), Vector.GP, 0x45 * 8 + 2],
    ["limit", (fm) => { fm.cpu.idtrLimit = 0x45 * 8 + 6; }, Vector.GP, 0x45 * 8 + 2],
  ];
  for (const [name, setup, vector, code] of cases) {
    const fm = new FlatMachine({ cpl: 3 });
    setIdt(fm, 0x45, gateDescriptor(SEL.CODE0, HANDLER, INT_GATE, 3));
    setup(fm);
    loadAsm(fm, "int 0x45");
    assert.equal(fm.runToHalt(), vector, name);
    assert.equal(stackDwords(fm, 1)[0], code, name);
  }
});

test("gate to a code segment less privileged than CPL → #GP(selector)", () => {
  const fm = new FlatMachine();
  setIdt(fm, 0x46, gateDescriptor(SEL.CODE3, HANDLER, INT_GATE, 0));
  loadAsm(fm, "int 0x46");
  assert.equal(fm.runToHalt(), Vector.GP);
  assert.equal(stackDwords(fm, 1)[0], SEL.CODE3 & 0xfffc);
});

// ---- IRET ----

test("IRET to ring 3 pops SS:ESP and nulls data segments the outer ring may not use", () => {
  const fm = new FlatMachine();
  place(fm, "mov eax, cs\n mov ebx, esp\n mov ecx, ss\n hlt", 0x12000);
  loadAsm(fm, `push ${SEL.DATA3}\n push 0x8f00\n push 0x202\n push ${SEL.CODE3}\n push 0x12000\n iretd`);
  assert.equal(fm.runToHalt(), Vector.GP, "HLT at CPL 3");
  const cpu = fm.cpu;
  assert.deepEqual([cpu.regs[0] & 0xffff, cpu.regs[3] >>> 0, cpu.regs[1] & 0xffff], [SEL.CODE3, 0x8f00, SEL.DATA3]);
  for (const s of [SegReg.DS, SegReg.ES, SegReg.FS, SegReg.GS]) assert.equal(cpu.segs[s].selector, 0, `seg ${s} nulled`);
});

test("IRET at CPL 3 cannot change IOPL or (with IOPL 0) IF; at CPL 0 it can", () => {
  let fm = new FlatMachine({ cpl: 3 });
  loadAsm(fm, `push ${SEL.CODE3}\n push offset 1f\n push 0x3202\n push ${SEL.CODE3}\n push offset 1f\n iretd\n 1: pushfd\n pop ebx\n hlt`);
  // (The first two pushes are unused padding.)
  assert.equal(fm.runToHalt(), Vector.GP, "the final HLT faults at CPL 3");
  assert.equal(fm.cpu.regs[3] & (F.IOPL | F.IF), 0);
  fm = new FlatMachine();
  loadAsm(fm, `push 0x3202\n push ${SEL.CODE0}\n push offset 1f\n iretd\n 1: pushfd\n pop ebx\n hlt`);
  fm.runToHalt();
  assert.equal(fm.cpu.regs[3] & (F.IOPL | F.IF), F.IOPL | F.IF);
});

test("IRET to a more privileged level → #GP(return CS)", () => {
  const fm = new FlatMachine({ cpl: 3 });
  loadAsm(fm, `push 0x202\n push ${SEL.CODE0}\n push 0x12000\n iretd`);
  assert.equal(fm.runToHalt(), Vector.GP);
  assert.equal(stackDwords(fm, 1)[0], SEL.CODE0);
});

// ---- Call gates ----

/** A ring-3 caller, a DPL-3 call gate (GDT 10) to ring-0 code at HANDLER with `params` dwords. */
function callGateMachine(params: number, handler: string, type = CALL_GATE): FlatMachine {
  const fm = new FlatMachine({ cpl: 3 });
  setGdt(fm, 10, gateDescriptor(SEL.CODE0, HANDLER, type, 3, params));
  place(fm, handler, HANDLER);
  return fm;
}

test("CALL through a call gate to ring 0 switches stacks and copies parameters (figure 5-13)", () => {
  const fm = callGateMachine(2, "hlt");
  loadAsm(fm, "push 0x1111\n push 0x2222\n call 0x53:0");
  fm.runToHalt();
  const cpu = fm.cpu;
  assert.equal(cpu.cpl, 0);
  assert.equal(cpu.segs[SegReg.SS].selector, SEL.DATA0);
  assert.equal(cpu.regs[4] >>> 0, STACK0 - 24);
  const retEip = CODE + asm("push 0x1111\n push 0x2222\n call 0x53:0").length;
  assert.deepEqual(stackDwords(fm, 6), [retEip, SEL.CODE3, 0x2222, 0x1111, STACK3 - 8, SEL.DATA3]);
});

test("RETF n back through the gate returns to ring 3 and releases the parameters on both stacks", () => {
  const fm = callGateMachine(2, "retf 8");
  loadAsm(fm, "push 0x1111\n push 0x2222\n call 0x53:0\n mov eax, cs\n mov ebx, esp\n hlt");
  assert.equal(fm.runToHalt(), Vector.GP, "the final HLT faults at CPL 3");
  assert.equal(fm.cpu.regs[0] & 0xffff, SEL.CODE3);
  assert.equal(fm.cpu.regs[3] >>> 0, STACK3, "ring-3 ESP after RETF 8");
});

test("a 16-bit call gate pushes 16-bit values", () => {
  const fm = new FlatMachine({ cpl: 3 });
  setGdt(fm, 10, gateDescriptor(SEL.CODE0, HANDLER16, CALL_GATE16, 3, 1));
  place(fm, "hlt", HANDLER16);
  loadAsm(fm, "push 0x3333\n call 0x53:0");
  fm.runToHalt();
  assert.equal(fm.cpu.regs[4] >>> 0, STACK0 - 10);
  const retIp = (CODE + asm("push 0x3333\n call 0x53:0").length) & 0xffff;
  assert.deepEqual(stackWords(fm, 5), [retIp, SEL.CODE3, 0x3333, (STACK3 - 4) & 0xffff, SEL.DATA3]);
});

test("call gate checks: gate DPL < CPL, RPL > gate DPL → #GP(gate); not present → #NP(gate)", () => {
  let fm = new FlatMachine({ cpl: 3 });
  setGdt(fm, 10, gateDescriptor(SEL.CODE0, HANDLER, CALL_GATE, 0));
  loadAsm(fm, "call 0x53:0");
  assert.equal(fm.runToHalt(), Vector.GP);
  assert.equal(stackDwords(fm, 1)[0], 0x50);
  fm = new FlatMachine({ cpl: 1 });
  setGdt(fm, 10, gateDescriptor(SEL.CODE0, HANDLER, CALL_GATE, 1));
  loadAsm(fm, "call 0x53:0"); // RPL 3 > gate DPL 1
  assert.equal(fm.runToHalt(), Vector.GP);
  assert.equal(stackDwords(fm, 1)[0], 0x50);
  fm = new FlatMachine({ cpl: 3 });
  const g = gateDescriptor(SEL.CODE0, HANDLER, CALL_GATE, 3);
  setGdt(fm, 10, [g[0], g[1] & ~0x8000]);
  loadAsm(fm, "call 0x53:0");
  assert.equal(fm.runToHalt(), Vector.NP);
  assert.equal(stackDwords(fm, 1)[0], 0x50);
});

test("JMP through a call gate cannot change privilege → #GP(target selector)", () => {
  const fm = callGateMachine(0, "hlt");
  loadAsm(fm, "jmp 0x53:0");
  assert.equal(fm.runToHalt(), Vector.GP);
  assert.equal(stackDwords(fm, 1)[0], SEL.CODE0);
});

test("CALL gate whose target is less privileged than CPL → #GP(target)", () => {
  const fm = new FlatMachine();
  setGdt(fm, 10, gateDescriptor(SEL.CODE3, HANDLER, CALL_GATE, 0));
  loadAsm(fm, "call 0x50:0");
  assert.equal(fm.runToHalt(), Vector.GP);
  assert.equal(stackDwords(fm, 1)[0], SEL.CODE3 & 0xfffc);
});

test("call gate to ring 1 with a bad SS1 in the TSS → #TS(SS1 selector)", () => {
  // (Ring 1, so the #TS itself is delivered on the good ring-0 stack.)
  const fm = new FlatMachine({ cpl: 3 });
  setGdt(fm, 10, gateDescriptor(SEL.CODE1, HANDLER, CALL_GATE, 3));
  fm.mem.write32(0x3000 + 16, SEL.DATA3); // SS1 = a DPL-3 segment
  loadAsm(fm, "call 0x53:0");
  assert.equal(fm.runToHalt(), Vector.TS);
  assert.equal(stackDwords(fm, 1)[0], SEL.DATA3 & 0xfffc);
});

// ---- Direct far transfers ----

test("far CALL/JMP to non-conforming code of another DPL → #GP(selector)", () => {
  for (const ins of [`call ${SEL.CODE3}:0x12000`, `jmp ${SEL.CODE3}:0x12000`]) {
    const fm = new FlatMachine();
    loadAsm(fm, ins);
    assert.equal(fm.runToHalt(), Vector.GP, ins);
    assert.equal(stackDwords(fm, 1)[0], SEL.CODE3 & 0xfffc, ins);
  }
  const fm = new FlatMachine({ cpl: 3 });
  loadAsm(fm, `jmp ${SEL.CODE0 | 3}:0x12000`);
  assert.equal(fm.runToHalt(), Vector.GP);
  assert.equal(stackDwords(fm, 1)[0], SEL.CODE0);
});

test("far CALL to conforming code of DPL 0 from ring 3 stays at CPL 3", () => {
  const fm = new FlatMachine({ cpl: 3 });
  const conf = setGdt(fm, 10, segDescriptor(0, 0xfffff, 0x9e));
  place(fm, "mov eax, cs\n mov ebx, 1\n hlt", HANDLER);
  loadAsm(fm, `call ${conf}:${HANDLER}`);
  assert.equal(fm.runToHalt(), Vector.GP, "HLT at CPL 3");
  assert.equal(fm.cpu.regs[3], 1);
  assert.equal(fm.cpu.regs[0] & 0xffff, conf | 3);
});

test("far JMP: data segment → #GP(sel), not-present code → #NP(sel), offset past limit → #GP(0)", () => {
  let fm = new FlatMachine();
  loadAsm(fm, `jmp ${SEL.DATA0}:0`);
  assert.equal(fm.runToHalt(), Vector.GP);
  assert.equal(stackDwords(fm, 1)[0], SEL.DATA0);
  fm = new FlatMachine();
  setGdt(fm, 10, segDescriptor(0, 0xfffff, 0x1a));
  loadAsm(fm, "jmp 0x50:0");
  assert.equal(fm.runToHalt(), Vector.NP);
  assert.equal(stackDwords(fm, 1)[0], 0x50);
  fm = new FlatMachine();
  setGdt(fm, 10, segDescriptor(0, 0xffff, 0x9a, 0x4));
  loadAsm(fm, "jmp 0x50:0x10000");
  assert.equal(fm.runToHalt(), Vector.GP);
  assert.deepEqual(stackDwords(fm, 2), [0, CODE]);
});

test("far RET to an outer ring nulls DS/ES/FS/GS whose DPL is below the new CPL", () => {
  const fm = new FlatMachine();
  place(fm, "mov eax, cs\n mov ebx, esp\n hlt", 0x12000);
  loadAsm(fm, `mov ax, ${SEL.DATA3}\n mov es, ax\n push ${SEL.DATA3}\n push 0x8f00\n push ${SEL.CODE3}\n push 0x12000\n retf`);
  assert.equal(fm.runToHalt(), Vector.GP, "HLT at CPL 3");
  const cpu = fm.cpu;
  assert.equal(cpu.regs[0] & 0xffff, SEL.CODE3);
  assert.equal(cpu.regs[3] >>> 0, 0x8f00, "ring-3 ESP popped from the ring-0 stack");
  assert.equal(cpu.segs[SegReg.ES].selector, SEL.DATA3, "a DPL-3 segment stays");
  assert.equal(cpu.segs[SegReg.DS].selector, 0);
});

test("far RET to a more privileged ring → #GP(return CS)", () => {
  const fm = new FlatMachine({ cpl: 3 });
  loadAsm(fm, `push ${SEL.CODE0}\n push 0x12000\n retf`);
  assert.equal(fm.runToHalt(), Vector.GP);
  assert.equal(stackDwords(fm, 1)[0], SEL.CODE0);
});
