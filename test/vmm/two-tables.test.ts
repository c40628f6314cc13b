// --protect two-tables on the machine model (src/vmm/world/two-tables.ts): a 64-bit guest
// kernel (translated, at machine ring 3) and its user program (run directly at ring 3) kept
// apart by two shadow root sets, switched by the monitor on every transition: SYSCALL,
// SYSRET, INT n, IRETQ, an exception (#PF from user code touching kernel memory) and an
// external interrupt. A small monitor loop stands in for the monitor: every entry runs the
// guest instruction on the vCPU (the interpreter holding the guest's state, which delivers
// through the guest's own IDT, TSS and MSRs), then selects the set for the vCPU's CPL and
// returns with IRETQ. The guest's results must equal the interpreter's alone (bare), and
// the machine must be on the kernel set exactly while the guest kernel runs.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Machine } from "../../src/hw/machine.js";
import { Cpu, Reg } from "../../src/hw/cpu/cpu.js";
import { parseCpuSpec } from "../../src/hw/cpu/models.js";
import { SegReg, Descriptor } from "../../src/hw/cpu/segment.js";
import { StopReason } from "../../src/hw/cpu/fault.js";
import { iret64, deliverLong } from "../../src/hw/cpu/interrupt64.js";
import { IntKind } from "../../src/hw/cpu/interrupt.js";
import { IoBus } from "../../src/hw/io/io-bus.js";
import type { PhysicalMemory } from "../../src/hw/mem/physical-memory.js";
import { World64 } from "../../src/vmm/world/world64.js";
import { TwoTables, viewEntry } from "../../src/vmm/world/two-tables.js";
import { Translator64 } from "../../src/vmm/bt/translator64.js";
import { Counters } from "../../src/vmm/stats/counters.js";
import * as L from "../../src/vmm/layout.js";
import { asm64 } from "../protection/harness.js";

const TWO32 = 0x1_0000_0000, BASE = 0x40_0000;
const KERNEL = -0x8000_0000;          // 0xFFFFFFFF80000000 → physical 0 (supervisor)
const USER = 0x20_0000;               // 0x200000 → physical 0x200000 (user)
const KCODE = 0x20000, UCODE = USER, GDT = 0x1000, IDT = 0x2000, TSS = 0x3000, KSTACK = 0x90000, USTACK = USER + 0x80000;
const GPML4 = 0x10000, GPDPT = 0x11000, GPD = 0x12000, GPDPT_HI = 0x13000, GPD_HI = 0x14000;
const KPML4 = 0x15000, KPDPT_HI = 0x16000, KPD_HI = 0x17000, KPD_REGION = 0x18000;
const UPML4 = 0x19000, UPDPT_HI = 0x1a000, UPD_REGION = 0x1b000;

/** The guest kernel; its entry points at fixed offsets (ENTRY). */
const ENTRY = { syscall: 0x100, int80: 0x200, pageFault: 0x300, irq: 0x400 };
const KERNEL_SRC = `.code64
  mov ecx, 0xc0000080           # EFER.SCE
  rdmsr
  or eax, 1
  wrmsr
  mov ecx, 0xc0000081           # STAR: SYSCALL CS 0x08, SYSRET base 0x18
  xor eax, eax
  mov edx, 0x00180008
  wrmsr
  mov ecx, 0xc0000082           # LSTAR
  lea rax, [rip + syscall_entry]
  mov rdx, rax
  shr rdx, 32
  wrmsr
  mov ecx, 0xc0000084           # FMASK: IF
  mov eax, 0x200
  xor edx, edx
  wrmsr
  mov rcx, ${UCODE}
  mov r11, 0x202
  sysretq
  .org ${ENTRY.syscall}
syscall_entry:
  cmp rax, 99
  je finished
  add r12, rax
  add r12, [rip + kone]         # kernel data, RIP-relative: reachable on the kernel set only
  sysretq
finished:
  hlt
  .org ${ENTRY.int80}
  inc r13
  iretq
  .org ${ENTRY.pageFault}
  inc r14
  add rsp, 8                    # the error code
  add qword ptr [rsp], 3        # skip the 3-byte load that faulted
  iretq
  .org ${ENTRY.irq}
  inc r15
  iretq
  .balign 8
kone: .quad 1
`;

const USER_SRC = `.code64
  mov rsp, ${USTACK}
  mov rax, 1
  syscall
  mov rax, 2
  syscall
  int 0x80
  mov rbx, ${KERNEL + 0x30000}
  mov rax, [rbx]                # kernel memory from user mode: #PF
  mov rax, 5
  syscall
  mov rax, 99
  syscall
`;

/** Guest memory, page tables, GDT, IDT, TSS; the vCPU in 64-bit mode at CPL 0, ready to run the kernel. */
function guest(mem: PhysicalMemory, cpu: string): Cpu {
  const put64 = (a: number, lo: number, hi = 0): void => { mem.write32(a, lo); mem.write32(a + 4, hi); };
  mem.load(KCODE, asm64(KERNEL_SRC, 0));
  mem.load(UCODE, asm64(USER_SRC, 0));
  mem.write32(0x30000, 0x1234);
  // The guest's tables: user 2 MiB at 0x200000 (U/S = 1), the kernel at 0xFFFFFFFF80000000 (U/S = 0).
  put64(GPML4, GPDPT | 7); put64(GPDPT, GPD | 7); put64(GPD + 8, USER | 0x87);
  put64(GPML4 + 511 * 8, GPDPT_HI | 3); put64(GPDPT_HI + 510 * 8, GPD_HI | 3); put64(GPD_HI, 0x83);
  // GDT: 0x08 kernel code64, 0x10 kernel data, 0x18 user code32, 0x20 user data, 0x28 user code64, 0x30 TSS.
  const gdt = [[0, 0], [0xffff, 0x00af9a00], [0xffff, 0x00cf9200], [0xffff, 0x00cffa00], [0xffff, 0x00cff200], [0xffff, 0x00affa00]];
  gdt.forEach(([lo, hi], k) => put64(GDT + k * 8, lo, hi));
  const gate = (v: number, entry: number, dpl: number): void => {
    const off = KERNEL + KCODE + entry;
    put64(IDT + v * 16, (0x08 << 16) | (off & 0xffff), (off & 0xffff0000) | 0x8e00 | (dpl << 13));
    put64(IDT + v * 16 + 8, Math.floor(off / TWO32) | 0, 0);
  };
  gate(14, ENTRY.pageFault, 0); gate(0x80, ENTRY.int80, 3); gate(0x40, ENTRY.irq, 0);
  put64(TSS + 4, (KERNEL + KSTACK) | 0, -1);
  const vc = new Cpu(mem, new IoBus(), { model: parseCpuSpec(cpu), jit: false });
  vc.setCr4(0x20); vc.setEfer(0x100); vc.setCr3(GPML4); vc.setCr0(0x8000_0011);
  vc.gdtrBase = KERNEL + GDT; vc.gdtrLimit = 0x3f;
  vc.idtrBase = KERNEL + IDT; vc.idtrLimit = 0xfff;
  vc.tr.base = KERNEL + TSS; vc.tr.limit = 0x67; vc.tr.selector = 0x30;
  const d = new Descriptor();
  vc.readDescriptor(0x08, d); vc.segs[SegReg.CS].loadDescriptor(0x08, d);
  vc.readDescriptor(0x10, d);
  for (const s of [SegReg.SS, SegReg.DS, SegReg.ES]) vc.segs[s].loadDescriptor(0x10, d);
  vc.updateCpl(); vc.mode64 = true;
  vc.eip = KERNEL + KCODE;
  vc.regs[Reg.ESP] = (KERNEL + KSTACK) | 0; vc.regsHi[Reg.ESP] = -1;
  for (const r of [12, 13, 14, 15]) { vc.regs[r] = 0; vc.regsHi[r] = 0; }
  return vc;
}

/** Bare: the interpreter alone, the external interrupt delivered at the same guest instruction. */
function bare(cpu: string, irqAt: number): Cpu {
  const m = new Machine({ ramBytes: 8 << 20, model: parseCpuSpec(cpu), jit: false });
  const vc = guest(m.mem, cpu);
  for (let k = 0; k < 500 && !vc.halted; k++) {
    vc.run(1);
    if (vc.instructions === irqAt) deliverLong(vc, 0x40, IntKind.External, 0, false);
  }
  assert.ok(vc.halted);
  return vc;
}

interface Exit { vector: number; error: number; fromCpl: number; toCpl: number; cr3: number }

function twoTables(cpu: string): { vc: Cpu; exits: Exit[]; counters: Counters; world: World64; irqAt: number } {
  const m = new Machine({ ramBytes: 8 << 20, model: parseCpuSpec(cpu), jit: false });
  const c = m.cpu, mem = m.mem;
  const put64 = (a: number, lo: number, hi = 0): void => { mem.write32(a, lo); mem.write32(a + 4, hi); };
  const vc = guest(mem, cpu);
  const counters = new Counters();
  const world = new World64(mem, BASE, 3);
  const tables = new TwoTables(counters);
  const exits: Exit[] = [];
  let bt: Translator64 | null = null;
  let done = false, injected = false, irqAt = -1;
  // The two sets (what the shadow paging builds from the guest's tables): the kernel set with
  // the guest's supervisor 2 MiB promoted to U/S = 1, the user set without it; both with the
  // region at PML4 511 → PDPT 511 → PD 511, the user set's page table keeping the TC supervisor.
  put64(KPML4, GPDPT | 7); put64(KPML4 + 511 * 8, KPDPT_HI | 7);
  put64(KPDPT_HI + 510 * 8, KPD_HI | 7); put64(KPD_HI, 0x87);
  put64(KPDPT_HI + 511 * 8, KPD_REGION | 7); put64(KPD_REGION + 511 * 8, world.regionPde);
  put64(UPML4, GPDPT | 7); put64(UPML4 + 511 * 8, UPDPT_HI | 7);
  put64(UPDPT_HI + 511 * 8, UPD_REGION | 7); put64(UPD_REGION + 511 * 8, world.regionPdeUser);
  const roots = { kernel: KPML4, user: UPML4 };
  const frameAt = world.lin(L.STACK_TOP) - 40;

  const resume = (): void => {
    tables.select(c, vc.cpl, roots);
    c.regs.set(vc.regs); c.regsHi.set(vc.regsHi);
    const kernel = vc.cpl === 0;
    const rip = kernel ? bt!.enter(vc.eip) : vc.eip;
    assert.ok(rip !== null);
    const rsp = vc.regsHi[Reg.ESP] * TWO32 + (vc.regs[Reg.ESP] >>> 0);
    const frame = [rip, kernel ? L.SEL64_TC_CS | 3 : vc.segs[SegReg.CS].selector, (vc.getEflags() & 0x8d5) | 0x202, rsp,
      kernel ? L.SEL64_GUEST_DS | 3 : vc.segs[SegReg.SS].selector];
    frame.forEach((v, k) => { c.writeLin32(frameAt + 8 * k, v | 0, false); c.writeLin32(frameAt + 8 * k + 4, Math.floor(v / TWO32) | 0, false); });
    c.regs[Reg.ESP] = frameAt | 0; c.regsHi[Reg.ESP] = -1;
    iret64(c, 8);
  };

  world.build((v) => {
    const sp = c.regsHi[Reg.ESP] * TWO32 + (c.regs[Reg.ESP] >>> 0);
    const q = (k: number): number => c.readLin32(sp + 8 * k + 4, false) * TWO32 + (c.readLin32(sp + 8 * k, false) >>> 0);
    const hasErr = v === 8 || (v >= 10 && v <= 14) || v === 17;
    const f = hasErr ? 1 : 0;
    const rip = q(f), cs = q(f + 1) & 0xffff, rsp = q(f + 4 - 1);
    const fromCpl = vc.cpl;
    // In: registers; the guest's RIP (translated code maps back); the vCPU keeps its CPL.
    vc.regs.set(c.regs); vc.regsHi.set(c.regsHi);
    vc.regs[Reg.ESP] = rsp | 0; vc.regsHi[Reg.ESP] = Math.floor(rsp / TWO32) | 0;
    vc.setEflags((vc.getEflags() & ~0x8d5) | (q(f + 2) & 0x8d5));
    let emulate = true;
    if (v === L.VEC_CALLOUT) {
      assert.ok(tables.calloutAllowed(cs), "a callout from translated code on the kernel set");
      const r = bt!.callout(rip);
      vc.eip = r.guest;
      emulate = r.kind === "emulate";
    } else if (cs === (L.SEL64_TC_CS | 3)) {
      vc.eip = bt!.guestRip(rip);
    } else {
      vc.eip = rip;
    }
    if (emulate) {
      vc.run(1);
      if (vc.halted) { done = true; exits.push({ vector: v, error: hasErr ? q(0) : -1, fromCpl, toCpl: 0, cr3: c.cr3 }); c.stop(StopReason.HaltForever); return; }
    }
    // An external interrupt for the guest, once, on the way back to user mode after INT 0x80's IRETQ.
    if (!injected && fromCpl === 0 && vc.cpl === 3 && vc.regs[13] === 1) {
      injected = true;
      irqAt = vc.instructions;
      deliverLong(vc, 0x40, IntKind.External, 0, false);
    }
    exits.push({ vector: v, error: hasErr ? q(0) : -1, fromCpl, toCpl: vc.cpl, cr3: -1 });
    resume();
    exits[exits.length - 1].cr3 = c.cr3;
  }, () => {});
  world.gdtEntry(0x18, 0xffff, 0x00cffb00);
  world.gdtEntry(0x20, 0xffff, 0x00cff300);
  world.gdtEntry(0x28, 0xffff, 0x00affb00);
  c.setCr4(0x20); c.setEfer(0x100); c.setCr3(KPML4); c.setCr0(0x8000_0011); // EFER.SCE clear: SYSCALL is #UD
  world.enter(c);
  bt = new Translator64(world, vc, { trace: () => {}, untrace: () => {} }, counters, false);
  vc.instructions = 0;
  c.watchRing0 = true; // resource control: nothing but native monitor code at machine CPL 0
  resume();
  for (let k = 0; k < 2000 && !done; k++) c.run(1);
  assert.ok(done, "the guest kernel reached its HLT");
  assert.equal(c.ring0Foreign, 0, "no guest instruction ran at machine CPL 0");
  return { vc, exits, counters, world, irqAt };
}

for (const cpu of ["athlon64-revc", "core2", "zen3"]) {
  test(`--protect two-tables on ${cpu}: SYSCALL, SYSRET, INT n, IRETQ, #PF and an external interrupt each switch the set; results equal bare`, () => {
    const t = twoTables(cpu);
    const vc = t.vc;
    assert.equal(vc.regs[12], (1 + 1) + (2 + 1) + (5 + 1), "three system calls, each reading kernel data");
    assert.equal(vc.regs[13], 1, "INT 0x80");
    assert.equal(vc.regs[14], 1, "the user's load of kernel memory faulted once");
    assert.equal(vc.regs[15], 1, "the external interrupt");
    const b = bare(cpu, t.irqAt);
    assert.deepEqual(Array.from(vc.regs), Array.from(b.regs));
    assert.deepEqual(Array.from(vc.regsHi), Array.from(b.regsHi));
    assert.equal(vc.eip, b.eip);
    // After every exit the machine is on the set of the guest's mode.
    for (const e of t.exits.slice(0, -1)) assert.equal(e.cr3, e.toCpl === 0 ? 0x15000 : 0x19000, JSON.stringify(e));
    // The transitions, by the machine vector that brought each to the monitor.
    const changes = t.exits.filter((e) => e.fromCpl !== e.toCpl).map((e) => `${e.vector}:${e.fromCpl}>${e.toCpl}`);
    assert.deepEqual(changes, [
      `${L.VEC_CALLOUT}:0>3`,            // the kernel's SYSRET to the user program
      "6:3>0", `${L.VEC_CALLOUT}:0>3`,   // SYSCALL (#UD on the machine), SYSRET
      "6:3>0", `${L.VEC_CALLOUT}:0>3`,
      "13:3>0",                          // INT 0x80 (#GP: the monitor's gates are DPL 0); its IRETQ
                                         // returns and the interrupt comes in the same exit (0>0)
      `${L.VEC_CALLOUT}:0>3`,            // the interrupt handler's IRETQ
      "14:3>0", `${L.VEC_CALLOUT}:0>3`,  // #PF from the user set (not present there), IRETQ
      "6:3>0", `${L.VEC_CALLOUT}:0>3`,
      "6:3>0",                           // the last SYSCALL; the kernel halts
    ]);
    const pf = t.exits.find((e) => e.vector === 14)!;
    assert.equal(pf.error & 1, 0, "the kernel's page is not present in the user set");
    assert.equal(pf.error & 4, 4, "a user access");
    const s = t.counters.snapshot();
    assert.equal(s["shadow.to-kernel-set"], 6);
    assert.equal(s["shadow.to-user-set"], 6);
    assert.deepEqual(t.world.tampered(), []);
  });
}

test("viewEntry: the kernel view makes present entries user-accessible, the user view drops supervisor ones", () => {
  const sup = 0x0020_0083, usr = 0x0020_0087, rw = 0x1003, absent = 0x2000;
  assert.equal(viewEntry(sup, "kernel"), 0x0020_0087);
  assert.equal(viewEntry(usr, "kernel"), usr);
  assert.equal(viewEntry(rw, "kernel"), 0x1007);
  assert.equal(viewEntry(absent, "kernel"), absent, "not present stays so (a true fault either way)");
  assert.equal(viewEntry(sup, "user"), 0, "a supervisor mapping is not in the user set");
  assert.equal(viewEntry(usr, "user"), usr);
  assert.equal(viewEntry(absent, "user"), absent);
  // The hand-built sets of the transition test follow the rule: the kernel page's PDE.
  assert.equal(viewEntry(0x83, "kernel"), 0x87);
  assert.equal(viewEntry(0x83, "user"), 0);
});
