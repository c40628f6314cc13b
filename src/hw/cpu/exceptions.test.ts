// Exceptions: vector, error code, the saved EIP (fault or trap), CR2, which of two
// conditions wins, double fault, triple fault, and HLT with interrupts off.
// Intel SDM vol. 3 chapter 6: table 6-1 (vectors, error codes, fault/trap class), §6.5
// (faults restart, traps continue), table 6-2 (priority), §6.13 and figure 6-7 (error
// code: EXT, IDT, TI), §6.15 (each exception), table 6-5 (double-fault conditions),
// "Interrupt 8" (triple fault → shutdown).

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine, SEL, CODE, STACK0, STACK3, gateDescriptor, segDescriptor } from "../../../test/support/flat-machine.js";
import { loadAsm, asm, stackDwords, setGdt, setIdt } from "../../../test/protection/harness.js";
import { StopReason, Vector } from "./fault.js";
import { CR0_MP, CR0_NE, CR0_PG, CR0_TS, CR0_EM } from "./cpu.js";
import * as F from "./eflags.js";

/** Run `source` at CODE (ring `cpl`); return the delivered vector and the handler's frame. */
function fault(source: string, opts: { cpl?: 0 | 3; setup?: (fm: FlatMachine) => void; frame?: number } = {}) {
  const fm = new FlatMachine({ cpl: opts.cpl ?? 0 });
  loadAsm(fm, source);
  opts.setup?.(fm);
  const vector = fm.runToHalt();
  return { fm, vector, frame: stackDwords(fm, opts.frame ?? 6) };
}
/** Address of the n-th byte of the assembled prefix `source` (to compute expected EIPs). */
const at = (source: string) => CODE + asm(source).length;

test("#DE: DIV by zero is a fault, no error code, EIP of the DIV (table 6-1)", () => {
  const pre = "xor ecx, ecx";
  const { vector, frame } = fault(`${pre}\n div ecx`);
  assert.equal(vector, Vector.DE);
  assert.deepEqual(frame.slice(0, 2), [at(pre), SEL.CODE0]);
});

test("#DE: IDIV overflow (INT_MIN / -1)", () => {
  const pre = "mov eax, 0x80000000\n cdq\n mov ecx, -1";
  const { vector, frame } = fault(`${pre}\n idiv ecx`);
  assert.equal(vector, Vector.DE);
  assert.equal(frame[0], at(pre));
});

test("#UD: UD2 and LOCK on a non-memory instruction fault at the instruction", () => {
  let r = fault("nop\n ud2");
  assert.equal(r.vector, Vector.UD);
  assert.equal(r.frame[0], CODE + 1);
  r = fault("nop\n .byte 0xf0, 0x90"); // lock nop
  assert.equal(r.vector, Vector.UD);
  assert.equal(r.frame[0], CODE + 1);
});

test("#BP and #OF are traps: the saved EIP follows INT3 / INTO", () => {
  let r = fault("nop\n int3");
  assert.equal(r.vector, Vector.BP);
  assert.equal(r.frame[0], CODE + 2);
  r = fault("mov al, 0x7f\n add al, 1\n into");
  assert.equal(r.vector, Vector.OF);
  assert.equal(r.frame[0], at("mov al, 0x7f\n add al, 1\n into"));
});

test("INTO with OF clear does nothing", () => {
  const fm = new FlatMachine();
  loadAsm(fm, "xor eax, eax\n into\n mov ebx, 1\n hlt");
  assert.equal(fm.runToHalt(), -1);
  assert.equal(fm.cpu.regs[3], 1);
});

test("#BR: BOUND out of range is a fault", () => {
  const pre = "mov eax, 0x20000\n mov dword ptr [eax], 1\n mov dword ptr [eax+4], 5\n mov ecx, 6";
  const { vector, frame } = fault(`${pre}\n bound ecx, [eax]`);
  assert.equal(vector, Vector.BR);
  assert.equal(frame[0], at(pre));
});

test("#NM: x87 with CR0.TS, and WAIT only with TS and MP (§2.5, table 2-2)", () => {
  let r = fault("fld1", { setup: (fm) => { fm.cpu.cr0 |= CR0_TS; } });
  assert.equal(r.vector, Vector.NM);
  r = fault("fld1", { setup: (fm) => { fm.cpu.cr0 |= CR0_EM; } });
  assert.equal(r.vector, Vector.NM);
  r = fault("wait\n hlt", { setup: (fm) => { fm.cpu.cr0 |= CR0_TS; } });
  assert.equal(r.vector, -1, "WAIT with TS but not MP runs");
  r = fault("wait", { setup: (fm) => { fm.cpu.cr0 |= CR0_TS | CR0_MP; } });
  assert.equal(r.vector, Vector.NM);
});

test("#MF: an unmasked x87 exception is reported at the next waiting x87 instruction (CR0.NE=1)", () => {
  const pre = "fninit\n push 0x37a\n fldcw [esp]\n fldz\n fld1\n fdiv st, st(1)"; // ZE unmasked
  const { vector, frame } = fault(`${pre}\n fld1`, { setup: (fm) => { fm.cpu.cr0 |= CR0_NE; } });
  assert.equal(vector, Vector.MF);
  assert.equal(frame[0], at(pre), "#MF is reported on the next x87 instruction, before it runs");
});

test("#NP: loading DS with a not-present descriptor: error code = selector (§6.13)", () => {
  const { vector, frame } = fault("mov ax, 0x53\n mov ds, ax", {
    setup: (fm) => { setGdt(fm, 10, segDescriptor(0, 0xfffff, 0x72)); }, // DPL 3 data, P=0
  });
  assert.equal(vector, Vector.NP);
  assert.equal(frame[0], 0x50, "error code: index 10, TI=0, EXT=0 (the RPL bits are not part of it)");
});

test("#SS: SS loaded with a not-present segment, and a push past the SS limit", () => {
  let r = fault("mov ax, 0x50\n mov ss, ax", { setup: (fm) => { setGdt(fm, 10, segDescriptor(0, 0xfffff, 0x12)); } });
  assert.equal(r.vector, Vector.SS);
  assert.equal(r.frame[0], 0x50);
  // Ring 3, expand-up SS with limit 0xFFF: with ESP = 0x1004 a push writes 0x1000..0x1003,
  // beyond the limit. (#SS is delivered on the ring-0 stack, which is still good.)
  r = fault("mov ax, 0x53\n mov ss, ax\n mov esp, 0x1004\n push eax", {
    cpl: 3,
    setup: (fm) => { setGdt(fm, 10, segDescriptor(0, 0xfff, 0xf2, 0x4)); },
  });
  assert.equal(r.vector, Vector.SS);
  assert.equal(r.frame[0], 0, "limit violations report error code 0");
});

test("#GP: privileged instruction at CPL 3, error code 0", () => {
  for (const ins of ["hlt", "cli", "mov eax, cr0", "lgdt [eax]", "invlpg [eax]", "wrmsr", "clts", "lmsw ax"]) {
    const { vector, frame } = fault(`nop\n ${ins}`, { cpl: 3 });
    assert.equal(vector, Vector.GP, ins);
    assert.deepEqual(frame.slice(0, 3), [0, CODE + 1, SEL.CODE3], ins);
    assert.deepEqual(frame.slice(4, 6), [STACK3, SEL.DATA3], `${ins}: SS:ESP of ring 3 pushed`);
  }
});

test("#GP: write to a read-only data segment and read past a segment limit", () => {
  let r = fault("mov ax, 0x50\n mov ds, ax\n mov [0], eax", { setup: (fm) => { setGdt(fm, 10, segDescriptor(0, 0xfffff, 0x90)); } });
  assert.equal(r.vector, Vector.GP);
  assert.equal(r.frame[0], 0);
  r = fault("mov ax, 0x50\n mov ds, ax\n mov eax, [0xffe]", { setup: (fm) => { setGdt(fm, 10, segDescriptor(0, 0xfff, 0x92, 0x4)); } });
  assert.equal(r.vector, Vector.GP, "a dword at 0xFFE crosses the limit 0xFFF");
});

test("#GP: INT n through a gate whose DPL < CPL: error code names the IDT entry (IDT=1)", () => {
  const { vector, frame } = fault("int 0x40", { cpl: 3 });
  assert.equal(vector, Vector.GP);
  assert.equal(frame[0], 0x40 * 8 + 2);
  assert.equal(frame[1], CODE, "#GP is a fault: EIP of the INT");
});

test("#GP: a null DS used for an access (error code 0)", () => {
  const { vector, frame } = fault("xor eax, eax\n mov ds, ax\n mov eax, [0x100]");
  assert.equal(vector, Vector.GP);
  assert.equal(frame[0], 0);
});

test("#PF: CR2 is the faulting linear address; error code U/W/P (§6.15, fig. 4-12)", () => {
  // Identity-map the low 4 MiB with one page table; page 0x300 not present, page 0x301 read-only user.
  const setup = (fm: FlatMachine) => {
    const pd = 0x20000, pt = 0x21000;
    fm.mem.write32(pd, pt | 7);
    for (let p = 0; p < 1024; p++) fm.mem.write32(pt + p * 4, (p << 12) | 7);
    fm.mem.write32(pt + 0x300 * 4, 0);
    fm.mem.write32(pt + 0x301 * 4, (0x301 << 12) | 5);
    fm.cpu.setCr3(pd);
    fm.cpu.setCr0(fm.cpu.cr0 | CR0_PG);
  };
  let r = fault("mov eax, [0x300123]", { setup });
  assert.equal(r.vector, Vector.PF);
  assert.equal(r.fm.cpu.cr2 >>> 0, 0x300123);
  assert.deepEqual(r.frame.slice(0, 2), [0, CODE]);
  r = fault("mov dword ptr [0x301ffe], 0", { setup, cpl: 3 });
  assert.equal(r.vector, Vector.PF);
  assert.equal(r.frame[0], 7, "user write to a present read-only page");
  assert.equal(r.fm.cpu.cr2 >>> 0, 0x301ffe);
  // A dword write straddling into the not-present page reports the address in that page.
  r = fault("mov dword ptr [0x2ffffe], 0", { setup });
  assert.equal(r.vector, Vector.PF);
  assert.equal(r.fm.cpu.cr2 >>> 0, 0x300000);
  assert.equal(r.frame[0], 2);
  assert.equal(r.fm.mem.read16(0x2ffffe), 0, "nothing written on the first page");
});

test("#PF: a code fetch from a not-present page faults with CR2 = the target, EIP = the target", () => {
  const setup = (fm: FlatMachine) => {
    const pd = 0x20000, pt = 0x21000;
    fm.mem.write32(pd, pt | 7);
    for (let p = 0; p < 1024; p++) fm.mem.write32(pt + p * 4, (p << 12) | 7);
    fm.mem.write32(pt + 0x300 * 4, 0);
    fm.cpu.setCr3(pd);
    fm.cpu.setCr0(fm.cpu.cr0 | CR0_PG);
  };
  const r = fault("mov eax, 0x300000\n jmp eax", { setup, cpl: 3 });
  assert.equal(r.vector, Vector.PF);
  assert.equal(r.fm.cpu.cr2 >>> 0, 0x300000);
  assert.deepEqual(r.frame.slice(0, 2), [4, 0x300000]);
});

test("priority: segment checks come before paging (#GP, not #PF, past the DS limit)", () => {
  // DS: base 0x300000, limit 0xFFF; linear 0x301000 (offset 0x1000) is not present.
  const { vector } = fault("mov ax, 0x50\n mov ds, ax\n mov eax, [0x1000]", {
    setup: (fm) => {
      setGdt(fm, 10, segDescriptor(0x300000, 0xfff, 0x92, 0x4));
      fm.mem.write32(0x20000, 0x21000 | 3);
      for (let p = 0; p < 0x400; p++) fm.mem.write32(0x21000 + p * 4, (p << 12) | 3);
      fm.mem.write32(0x21000 + 0x301 * 4, 0);
      fm.cpu.setCr3(0x20000);
      fm.cpu.setCr0(fm.cpu.cr0 | CR0_PG);
    },
  });
  assert.equal(vector, Vector.GP);
});

test("#DB single-step is a trap after the instruction; a faulting instruction is not stepped", () => {
  let r = fault("pushfd\n or dword ptr [esp], 0x100\n popfd\n nop\n nop");
  assert.equal(r.vector, Vector.DB);
  assert.equal(r.frame[0], at("pushfd\n or dword ptr [esp], 0x100\n popfd\n nop"), "trap after the first NOP");
  assert.equal((r.fm.cpu.dr[6] & 0x4000) !== 0, true, "DR6.BS");
  r = fault("pushfd\n or dword ptr [esp], 0x100\n popfd\n ud2");
  assert.equal(r.vector, Vector.UD, "the fault is taken, not the single-step trap");
});

test("external interrupt through a not-present gate: #NP with EXT=1 and IDT=1", () => {
  const fm = new FlatMachine();
  loadAsm(fm, "sti\n nop\n nop\n hlt");
  setIdt(fm, 0x30, [gateDescriptor(SEL.CODE0, 0x4000, 0xe, 0)[0], gateDescriptor(SEL.CODE0, 0x4000, 0xe, 0)[1] & ~0x8000]);
  // The controller drives the INTR pin (cpu.intrLine) and answers INTA with the vector.
  let pending = true;
  fm.cpu.intr = { hasInterrupt: () => pending, acknowledge: () => { pending = false; fm.cpu.intrLine = false; return 0x30; } };
  fm.cpu.intrLine = true;
  assert.equal(fm.runToHalt(), Vector.NP);
  assert.equal(stackDwords(fm, 1)[0], 0x30 * 8 + 2 + 1);
});

// ---- Double and triple fault (table 6-5) ----

/** Mark IDT entry `v` not present. */
function notPresent(fm: FlatMachine, v: number): void {
  const [lo, hi] = gateDescriptor(SEL.CODE0, 0x4000 + v * 16, 0xe, 0);
  setIdt(fm, v, [lo, hi & ~0x8000]);
}

test("contributory + contributory: #GP while delivering #DE is a double fault, error code 0", () => {
  const { vector, frame } = fault("xor ecx, ecx\n div ecx", { setup: (fm) => notPresent(fm, Vector.DE) });
  assert.equal(vector, Vector.DF);
  assert.deepEqual(frame.slice(0, 3), [0, CODE + 2, SEL.CODE0], "#DF frame: error code 0, EIP of the DIV");
});

test("benign + contributory: #NP while delivering #UD is delivered as #NP (EXT=1)", () => {
  const { vector, frame } = fault("ud2", { setup: (fm) => notPresent(fm, Vector.UD) });
  assert.equal(vector, Vector.NP);
  assert.equal(frame[0], Vector.UD * 8 + 2 + 1);
});

/**
 * Paging on (identity map of the low 4 MiB), page 0x300 not present, and the ring-1 stack
 * (ESP1 = 0x6000, page 5) unmapped, so delivering an event to a ring-1 handler page-faults
 * while the ring-0 stack stays usable.
 */
function ring1StackUnmapped(fm: FlatMachine): void {
  fm.mem.write32(0x20000, 0x21000 | 7);
  for (let p = 0; p < 1024; p++) fm.mem.write32(0x21000 + p * 4, (p << 12) | 7);
  fm.mem.write32(0x21000 + 0x300 * 4, 0);
  fm.mem.write32(0x21000 + 0x5 * 4, 0);
  fm.mem.write32(0x3000 + 12, 0x6000); // TSS.ESP1
  fm.cpu.setCr3(0x20000);
  fm.cpu.setCr0(fm.cpu.cr0 | CR0_PG);
}

test("#PF + #PF: a page fault while delivering a page fault is a double fault", () => {
  const { fm, vector, frame } = fault("mov eax, [0x300000]", {
    cpl: 3,
    setup: (fm) => {
      ring1StackUnmapped(fm);
      setIdt(fm, Vector.PF, gateDescriptor(SEL.CODE1, 0x4000 + Vector.PF * 16, 0xe, 0));
    },
  });
  assert.equal(vector, Vector.DF);
  assert.deepEqual(frame.slice(0, 3), [0, CODE, SEL.CODE3], "#DF: error code 0, the faulting instruction");
  assert.equal(fm.cpu.cr2 >>> 0, 0x5ffc, "CR2 holds the second page-fault address");
});

test("#GP + #PF: a page fault while delivering #GP is handled serially (#PF delivered)", () => {
  const { fm, vector, frame } = fault("hlt", {
    cpl: 3,
    setup: (fm) => {
      ring1StackUnmapped(fm);
      setIdt(fm, Vector.GP, gateDescriptor(SEL.CODE1, 0x4000 + Vector.GP * 16, 0xe, 0));
    },
  });
  assert.equal(vector, Vector.PF);
  assert.deepEqual(frame.slice(0, 3), [2, CODE, SEL.CODE3], "supervisor write, not present; EIP of the HLT");
  assert.equal(fm.cpu.cr2 >>> 0, 0x5ffc);
});

test("#PF + contributory: #NP while delivering #PF is a double fault", () => {
  const { vector, frame } = fault("mov eax, [0x300000]", {
    setup: (fm) => { ring1StackUnmapped(fm); notPresent(fm, Vector.PF); },
  });
  assert.equal(vector, Vector.DF);
  assert.equal(frame[0], 0);
});

test("triple fault: a fault while delivering #DF stops the machine with TripleFault (no host exception)", () => {
  const fm = new FlatMachine();
  loadAsm(fm, "xor ecx, ecx\n div ecx");
  notPresent(fm, Vector.DE);
  notPresent(fm, Vector.DF);
  assert.equal(fm.cpu.run(1000), StopReason.TripleFault);
});

test("a fault while the IDT limit excludes every vector is a triple fault", () => {
  const fm = new FlatMachine();
  loadAsm(fm, "ud2");
  fm.cpu.idtrLimit = 0;
  assert.equal(fm.cpu.run(1000), StopReason.TripleFault);
});

test("HLT with IF=0 stops with HaltForever; with IF=1 it waits (Halted)", () => {
  let fm = new FlatMachine();
  loadAsm(fm, "cli\n hlt");
  assert.equal(fm.cpu.run(1000), StopReason.HaltForever);
  fm = new FlatMachine();
  loadAsm(fm, "sti\n hlt");
  fm.cpu.intr = { hasInterrupt: () => false, acknowledge: () => 0 };
  assert.equal(fm.cpu.run(1000), StopReason.Halted);
  assert.equal(fm.cpu.flags & F.IF, F.IF);
});

test("#GP at CPL 3 uses the ring-0 stack from the TSS (SS0:ESP0)", () => {
  const { fm, vector } = fault("cli", { cpl: 3 });
  assert.equal(vector, Vector.GP);
  assert.equal(fm.cpu.regs[4] >>> 0, STACK0 - 24, "error code, EIP, CS, EFLAGS, ESP, SS");
});
