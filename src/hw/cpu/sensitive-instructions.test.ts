// Robin & Irvine's sensitive but unprivileged instructions ("Analysis of the Intel Pentium's
// ability to support a secure virtual machine monitor", 2000): SGDT, SIDT, SLDT, SMSW, STR,
// PUSHF, POPF, LAR, LSL, VERR, VERW, PUSH/POP/MOV of segment registers, far CALL, JMP, RET,
// INT n (and IRET). On the standard CPU they run at every CPL exactly as the SDM vol. 2 pages
// say — leaking or quietly ignoring state; on the `strict` variant (DESIGN.md §2) each faults
// with #GP(0) at CPL > 0. CR4.UMIP (SDM vol. 3 §2.5) makes SGDT/SIDT/SLDT/SMSW/STR #GP(0)
// at CPL > 0 on any CPU.

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine, SEL, CODE, GDT, IDT, gateDescriptor } from "../../../test/support/flat-machine.js";
import { asm, loadAsm, setIdt, stackDwords } from "../../../test/protection/harness.js";
import { Vector } from "./fault.js";
import { CR4_UMIP } from "./cpu.js";
import type { CpuVariant } from "./cpu.js";
import * as F from "./eflags.js";

const DATA = 0x20000;

/** One sensitive instruction, with a set-up (itself not sensitive) it needs to succeed at ring `cpl`. */
interface Case { name: string; pre?: string; ins: string; post?: string }
function cases(cpl: 0 | 3): Case[] {
  const cs = cpl === 0 ? SEL.CODE0 : SEL.CODE3;
  const ds = cpl === 0 ? SEL.DATA0 : SEL.DATA3;
  return [
    { name: "SGDT", ins: `sgdt [${DATA}]` },
    { name: "SIDT", ins: `sidt [${DATA}]` },
    { name: "SLDT", ins: "sldt eax" },
    { name: "SMSW", ins: "smsw eax" },
    { name: "STR", ins: "str eax" },
    { name: "PUSHF", ins: "pushfd" },
    { name: "POPF", pre: "push 0x2", ins: "popfd" },
    { name: "LAR", pre: `mov ecx, ${ds}`, ins: "lar eax, ecx" },
    { name: "LSL", pre: `mov ecx, ${ds}`, ins: "lsl eax, ecx" },
    { name: "VERR", pre: `mov ecx, ${ds}`, ins: "verr cx" },
    { name: "VERW", pre: `mov ecx, ${ds}`, ins: "verw cx" },
    { name: "MOV r, Sreg", ins: "mov eax, cs" },
    { name: "MOV Sreg, r", pre: `mov eax, ${ds}`, ins: "mov ds, ax" },
    { name: "PUSH Sreg", ins: "push cs" },
    { name: "POP Sreg", pre: `push ${ds}`, ins: "pop ds" },
    { name: "CALL far", ins: `call ${cs}:offset 1f`, post: "1:" },
    { name: "JMP far", ins: `jmp ${cs}:offset 1f`, post: "1:" },
    { name: "RET far", pre: `push ${cs}\n push offset 1f`, ins: "retf", post: "1:" },
    { name: "IRET", pre: `push 0x2\n push ${cs}\n push offset 1f`, ins: "iretd", post: "1:" },
    { name: "INT n", ins: "int 0x80", post: "1:" },
  ];
}

/** Run one case; returns the delivered vector, the #GP frame's EIP, EBX and the ins address. */
function runCase(c: Case, cpl: 0 | 3, variant: CpuVariant, umip = false) {
  const fm = new FlatMachine({ cpl, variant });
  if (umip) fm.cpu.cr4 |= CR4_UMIP;
  const pre = c.pre ?? "";
  const src = `${pre}\n ${c.ins}\n ${c.post ?? ""}\n mov ebx, 0x600d\n hlt`;
  loadAsm(fm, src);
  // INT 0x80 lands on the continuation (the final MOV EBX, imm32 and HLT are 6 bytes).
  const cont = CODE + asm(src).length - 6;
  setIdt(fm, 0x80, gateDescriptor(cpl === 0 ? SEL.CODE0 : SEL.CODE3, cont, 0xe, 3));
  const vector = fm.runToHalt();
  const insAt = CODE + asm(`${pre}\n 1:`).length; // (a label so `push offset 1f` assembles)
  return { fm, vector, gpEip: vector === Vector.GP ? stackDwords(fm, 2)[1] : -1, ebx: fm.cpu.regs[3], insAt };
}

for (const variant of ["standard", "strict"] as const) {
  test(`${variant} CPU at CPL 0: every sensitive instruction runs`, () => {
    for (const c of cases(0)) {
      const r = runCase(c, 0, variant);
      assert.equal(r.vector, -1, c.name);
      assert.equal(r.ebx, 0x600d, c.name);
    }
  });
}

test("standard CPU at CPL 3: every sensitive instruction runs without a fault", () => {
  for (const c of cases(3)) {
    const r = runCase(c, 3, "standard");
    assert.equal(r.ebx, 0x600d, c.name);
    assert.notEqual(r.gpEip, r.insAt, `${c.name} must not fault`);
  }
});

test("strict CPU at CPL 3: every sensitive instruction raises #GP(0) at the instruction", () => {
  for (const c of cases(3)) {
    const r = runCase(c, 3, "strict");
    assert.equal(r.vector, Vector.GP, c.name);
    assert.deepEqual(stackDwords(r.fm, 2), [0, r.insAt], c.name);
    assert.notEqual(r.ebx, 0x600d, c.name);
  }
});

test("strict CPU at CPL 1 faults too (CPL > 0, not just CPL 3)", () => {
  const fm = new FlatMachine({ cpl: 1, variant: "strict" });
  loadAsm(fm, "pushfd");
  assert.equal(fm.runToHalt(), Vector.GP);
  assert.deepEqual(stackDwords(fm, 2), [0, CODE]);
});

// ---- What the standard CPU reveals at CPL 3 (the leaks that defeat trap-and-emulate) ----

function atCpl3(source: string, setup?: (fm: FlatMachine) => void): FlatMachine {
  const fm = new FlatMachine({ cpl: 3 });
  setup?.(fm);
  loadAsm(fm, `${source}\n hlt`);
  assert.equal(fm.runToHalt(), Vector.GP, "only the final HLT faults");
  assert.equal(stackDwords(fm, 2)[1], CODE + asm(source).length, "…at the HLT");
  return fm;
}

test("SGDT/SIDT at CPL 3 store the real GDTR/IDTR (limit, then 32-bit base)", () => {
  const fm = atCpl3(`sgdt [${DATA}]\n sidt [${DATA + 8}]`);
  assert.equal(fm.mem.read16(DATA), fm.cpu.gdtrLimit);
  assert.equal(fm.mem.read32(DATA + 2), GDT);
  assert.equal(fm.mem.read16(DATA + 8), 0x7ff);
  assert.equal(fm.mem.read32(DATA + 10), IDT);
});

test("SLDT, STR, SMSW at CPL 3 read LDTR, TR and CR0[15:0]", () => {
  const fm = atCpl3("mov eax, -1\n mov ecx, -1\n sldt ax\n str cx\n smsw word ptr [0x20000]", (fm) => { fm.mem.write32(DATA, 0xffff_ffff); });
  assert.equal(fm.cpu.regs[0] >>> 0, 0xffff_0000, "SLDT AX writes 16 bits: LDTR = 0");
  assert.equal(fm.cpu.regs[1] >>> 0, (0xffff_0000 | SEL.TSS) >>> 0);
  assert.equal(fm.mem.read32(DATA) >>> 0, (0xffff_0000 | (fm.cpu.cr0 & 0xffff)) >>> 0, "SMSW m16 stores CR0[15:0] (PE=1)");
  assert.equal(fm.mem.read16(DATA) & 1, 1);
});

test("PUSHF at CPL 3 shows the real IF and IOPL", () => {
  const fm = atCpl3("pushfd\n pop ebx", (fm) => { fm.cpu.flags |= F.IF | (2 << 12); });
  assert.equal(fm.cpu.regs[3] & (F.IF | F.IOPL), F.IF | (2 << 12));
});

test("POPF at CPL > IOPL: IF and IOPL unchanged, no fault; arithmetic flags do change", () => {
  for (const cpl of [1, 3] as const) {
    const fm = new FlatMachine({ cpl });
    loadAsm(fm, "push 0x3001\n popfd\n pushfd\n pop ebx\n push 0x0200\n popfd\n pushfd\n pop ecx\n hlt");
    fm.cpu.flags |= F.IF;
    assert.equal(fm.runToHalt(), Vector.GP, `CPL ${cpl}: only the HLT faults`);
    assert.equal(fm.cpu.regs[3] & (F.IF | F.IOPL | F.CF), F.IF | F.CF, `CPL ${cpl}: IF kept (popped 0), IOPL kept, CF set`);
    assert.equal(fm.cpu.regs[1] & (F.IF | F.CF), F.IF, `CPL ${cpl}: CF cleared`);
  }
});

test("POPF at CPL 3 with IOPL 3 changes IF but never IOPL; at CPL 0 it changes both", () => {
  let fm = atCpl3("push 0x0002\n popfd\n pushfd\n pop ebx", (fm) => { fm.cpu.flags |= F.IF | F.IOPL; });
  assert.equal(fm.cpu.regs[3] & (F.IF | F.IOPL), F.IOPL);
  fm = new FlatMachine();
  loadAsm(fm, "push 0x3202\n popfd\n pushfd\n pop ebx\n hlt");
  fm.runToHalt();
  assert.equal(fm.cpu.regs[3] & (F.IF | F.IOPL), F.IF | F.IOPL);
});

test("LAR/LSL/VERR/VERW at CPL 3 report descriptors without faulting (ZF)", () => {
  const src = [
    `mov ecx, ${SEL.DATA3}`, "lar eax, ecx", "setz bl", "lsl edx, ecx", "setz bh",
    `mov ecx, ${SEL.DATA0}`, "lar esi, ecx", "setz byte ptr [0x20000]", "verr cx", "setz byte ptr [0x20001]",
    `mov ecx, ${SEL.CODE3}`, "verr cx", "setz byte ptr [0x20002]", "verw cx", "setz byte ptr [0x20003]",
    `mov ecx, ${SEL.DATA3}`, "verw cx", "setz byte ptr [0x20004]",
    `mov ecx, ${SEL.TSS}`, "lsl edi, ecx", "setz byte ptr [0x20005]",
  ].join("\n");
  const fm = atCpl3(src);
  const r = fm.cpu.regs;
  assert.equal(r[3] & 0xffff, 0x0101, "LAR and LSL of the DPL-3 data segment succeed");
  assert.equal(r[0] & 0x00f0_fe00, 0x00c0_f200, "LAR: G, D/B, P, DPL 3, S, type 2 (SDM 'LAR')");
  assert.equal(r[2] >>> 0, 0xffff_ffff, "LSL: byte-granular limit of a 4 GiB segment");
  assert.deepEqual([...fm.mem.ram.subarray(DATA, DATA + 6)], [0, 0, 1, 0, 1, 0],
    "DPL-0 data invisible to LAR and VERR; code readable not writable; DPL-3 data writable; DPL-0 TSS invisible to LSL");
});

test("MOV from CS/SS and PUSH CS at CPL 3 show RPL 3", () => {
  const fm = atCpl3("mov eax, cs\n mov ebx, ss\n push cs\n pop ecx");
  assert.equal(fm.cpu.regs[0] & 0xffff, SEL.CODE3);
  assert.equal(fm.cpu.regs[3] & 0xffff, SEL.DATA3);
  assert.equal(fm.cpu.regs[1] & 0xffff, SEL.CODE3);
});

test("MOV/POP of a more privileged data segment at CPL 3 → #GP(selector)", () => {
  for (const src of [`mov eax, ${SEL.DATA0}\n mov ds, ax`, `push ${SEL.DATA0}\n pop es`, `mov eax, ${SEL.DATA0}\n mov ss, ax`]) {
    const fm = new FlatMachine({ cpl: 3 });
    loadAsm(fm, src);
    assert.equal(fm.runToHalt(), Vector.GP, src);
    assert.equal(stackDwords(fm, 1)[0], SEL.DATA0, src);
  }
});

// ---- CR4.UMIP ----

test("CR4.UMIP: SGDT, SIDT, SLDT, SMSW, STR #GP(0) at CPL 3, run at CPL 0; LAR etc. unaffected", () => {
  for (const c of cases(3)) {
    const r = runCase(c, 3, "standard", true);
    const umip = ["SGDT", "SIDT", "SLDT", "SMSW", "STR"].includes(c.name);
    if (umip) {
      assert.equal(r.vector, Vector.GP, c.name);
      assert.deepEqual(stackDwords(r.fm, 2), [0, r.insAt], c.name);
    } else {
      assert.equal(r.ebx, 0x600d, c.name);
    }
  }
  for (const c of cases(0)) {
    const r = runCase(c, 0, "standard", true);
    assert.equal(r.ebx, 0x600d, `${c.name} at CPL 0`);
  }
});

test("CR4.UMIP can be set and read back with MOV CR4", () => {
  const fm = new FlatMachine();
  loadAsm(fm, "mov eax, cr4\n or eax, 0x800\n mov cr4, eax\n mov ebx, cr4\n hlt");
  assert.equal(fm.runToHalt(), -1);
  assert.equal(fm.cpu.regs[3] & CR4_UMIP, CR4_UMIP);
});
