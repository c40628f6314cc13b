// Long mode's architectural checks that the other long-mode tests do not reach: leaving
// paging from 64-bit mode, clearing CR4.PAE under LMA, the architectural exit through
// compatibility mode, a code segment with L = 1 and D = 1, non-canonical base MSRs, EFER's
// read-only LMA and reserved bits, and the #UD/#GP rules of SWAPGS and SYSRET. Expected
// behaviour from the Intel SDM vol. 3 §9.8.5 (initializing and leaving IA-32e mode), vol. 2
// "MOV to CR", "WRMSR", "JMP", "RET", "SWAPGS", "SYSRET", and the AMD APM vol. 2 §3.1.7.

import { test } from "node:test";
import assert from "node:assert/strict";
import { asm64 } from "../protection/harness.js";
import { CODE, GDT, FlatMachine, segDescriptor } from "../support/flat-machine.js";
import { ENTER_LONG_MODE, RSP0, SEL64, longMachine, useLongTables } from "../support/long-machine.js";
import { EFER_LMA } from "../../src/hw/cpu/cpu.js";
import { Vector } from "../../src/hw/cpu/fault.js";

/** GDT slot after long-machine.ts's: a code segment with L = 1 and D = 1 (reserved). */
const SEL_LD = 0x88;

function run64(body: string, cpu = "core2"): { f: FlatMachine; vector: number } {
  const f = longMachine(cpu);
  useLongTables(f);
  const [lo, hi] = segDescriptor(0, 0xfffff, 0x9a, 0xe); // G, D, L
  f.mem.write32(GDT + SEL_LD, lo); f.mem.write32(GDT + SEL_LD + 4, hi);
  f.cpu.gdtrLimit = SEL_LD + 7;
  f.load(asm64(`${ENTER_LONG_MODE}\n.code64\nentry64:\nmov rsp, ${RSP0}\n${body}\n`, CODE));
  return { f, vector: f.runToHalt(200_000) };
}

/** The error code of the fault the halting stub took (on top of the 64-bit frame). */
const errorCode = (f: FlatMachine): number => f.mem.read32(f.cpu.regs[4] >>> 0);

test("64-bit mode: clearing CR0.PG or CR4.PAE is #GP(0) and IA-32e mode stays active", () => {
  for (const body of [
    "mov rax, cr0\n and eax, 0x7fffffff\n mov cr0, rax\n hlt",
    "mov rax, cr4\n and eax, 0xffffffdf\n mov cr4, rax\n hlt",
  ]) {
    const { f, vector } = run64(body);
    assert.equal(vector, Vector.GP, body);
    assert.equal(errorCode(f), 0);
    assert.equal(f.cpu.lma, true);
    assert.equal(f.cpu.paging, true);
  }
});

test("leaving long mode: compatibility-mode code may clear CR0.PG, which clears LMA; then LME may be cleared", () => {
  const { f, vector } = run64(`
    push 0x08
    lea rax, [rip + compat32]
    push rax
    retfq
  .code32
  compat32:
    mov eax, cr0
    and eax, 0x7fffffff
    mov cr0, eax
    mov ecx, 0xc0000080
    rdmsr
    and eax, 0xfffffeff
    wrmsr
    mov ebx, 0x5a
    hlt
  .code64
  `);
  assert.equal(vector, -1);
  assert.equal(f.cpu.lma, false);
  assert.equal(f.cpu.paging, false);
  assert.equal(f.cpu.efer & 0x500, 0);
  assert.equal(f.cpu.regs[3], 0x5a);
});

test("a code segment with L = 1 and D = 1 is #GP(selector) for far RET and far JMP in IA-32e mode", () => {
  let r = run64(`
    push ${SEL_LD}
    lea rax, [rip + there]
    push rax
    retfq
  there:
    hlt
  `);
  assert.equal(r.vector, Vector.GP);
  assert.equal(errorCode(r.f), SEL_LD);
  assert.equal(r.f.cpu.mode64, true);
  r = run64(`
    lea rax, [rip + there]
    mov [0x50000], eax
    mov word ptr [0x50004], ${SEL_LD}
    jmp fword ptr [0x50000]
  there:
    hlt
  `);
  assert.equal(r.vector, Vector.GP);
  assert.equal(errorCode(r.f), SEL_LD);
});

test("WRMSR of a non-canonical address to FS_BASE, GS_BASE, KERNEL_GS_BASE or LSTAR is #GP(0); a canonical one is taken", () => {
  for (const msr of [0xc0000100, 0xc0000101, 0xc0000102, 0xc0000082]) {
    const wr = (edx: number): { f: FlatMachine; vector: number } =>
      run64(`mov ecx, ${msr}\n xor eax, eax\n mov edx, ${edx}\n wrmsr\n rdmsr\n hlt`);
    let r = wr(0x00008000);              // 0x0000_8000_0000_0000
    assert.equal(r.vector, Vector.GP, msr.toString(16));
    assert.equal(errorCode(r.f), 0);
    r = wr(0xffff8000);                  // 0xFFFF_8000_0000_0000
    assert.equal(r.vector, -1, msr.toString(16));
    assert.equal(r.f.cpu.regs[2] >>> 0, 0xffff8000);
  }
});

test("EFER: LMA is read-only (a written 1 is ignored), a reserved bit is #GP(0)", () => {
  const wr = (eax: number): { f: FlatMachine; vector: number } => {
    const f = new FlatMachine({ cpu: "core2" });
    f.load(asm64(`mov ecx, 0xc0000080\n mov eax, ${eax}\n xor edx, edx\n wrmsr\n hlt`, CODE));
    return { f, vector: f.runToHalt() };
  };
  let r = wr(EFER_LMA | 1);
  assert.equal(r.vector, -1);
  assert.equal(r.f.cpu.efer, 1);
  assert.equal(r.f.cpu.lma, false);
  for (const bit of [1 << 1, 1 << 9, 1 << 12, 1 << 16]) {
    r = wr(bit);
    assert.equal(r.vector, Vector.GP, bit.toString(16));
  }
});

test("SWAPGS is #UD in compatibility mode and #GP(0) at CPL 3; SYSRET is #UD without EFER.SCE and #GP(0) at CPL 3", () => {
  // Compatibility mode: 0F 01 F8 is not SWAPGS.
  let r = run64(`
    push 0x08
    lea rax, [rip + compat32]
    push rax
    retfq
  .code32
  compat32:
    .byte 0x0f, 0x01, 0xf8   # SWAPGS
    hlt
  .code64
  `);
  assert.equal(r.vector, Vector.UD);
  r = run64("mov rcx, 0x1000\n sysretq\n hlt");
  assert.equal(r.vector, Vector.UD);
  // Ring 3 through IRETQ (SS, RSP, RFLAGS, CS, RIP), then SWAPGS or SYSRET there.
  const ring3 = (insn: string): { f: FlatMachine; vector: number } => run64(`
    mov ecx, 0xc0000080
    rdmsr
    or eax, 1
    wrmsr
    push ${SEL64.DATA3}
    push 0x58000
    push 0x2
    push ${SEL64.CODE3}
    lea rax, [rip + user]
    push rax
    iretq
  user:
    ${insn}
    hlt
  `);
  for (const insn of ["swapgs", "sysretq"]) {
    r = ring3(insn);
    assert.equal(r.vector, Vector.GP, insn);
    assert.equal(errorCode(r.f), 0);
    assert.equal(r.f.mem.read32((r.f.cpu.regs[4] >>> 0) + 16) & 0xffff, SEL64.CODE3, insn);
  }
});
