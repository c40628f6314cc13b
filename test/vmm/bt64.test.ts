// The 64-bit translator (src/vmm/bt/translator64.ts) on the machine model: a small 64-bit
// kernel function is translated into the long-mode world's translation cache and run there
// at the guest kernel's machine ring, with a minimal monitor loop for its callouts (each
// runs the guest instruction on a vCPU, the interpreter holding the guest's state, then
// continues at the translation of wherever it went). Its result must equal the same code
// run by the interpreter alone, the bare machine; and it must reach the same state with the
// same number of guest instructions. RIP-relative operands are re-pointed; CALL becomes
// PUSH imm32; RET, CPUID, HLT and (at ring 1 with LMSLE) every GS access are callouts.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Machine } from "../../src/hw/machine.js";
import { Cpu, Reg } from "../../src/hw/cpu/cpu.js";
import { parseCpuSpec } from "../../src/hw/cpu/models.js";
import { SegReg, Descriptor } from "../../src/hw/cpu/segment.js";
import { StopReason } from "../../src/hw/cpu/fault.js";
import { iret64 } from "../../src/hw/cpu/interrupt64.js";
import { decode64 } from "../../src/hw/cpu/decoder.js";
import { IoBus } from "../../src/hw/io/io-bus.js";
import type { PhysicalMemory } from "../../src/hw/mem/physical-memory.js";
import { World64 } from "../../src/vmm/world/world64.js";
import { Translator64, repointRipRelative, ripRelDispOffset, treatment64 } from "../../src/vmm/bt/translator64.js";
import { Counters } from "../../src/vmm/stats/counters.js";
import * as L from "../../src/vmm/layout.js";
import { asm64 } from "../protection/harness.js";

const TWO32 = 0x1_0000_0000, BASE = 0x40_0000, STACK = 0x80000, GSBASE = 0x30000;
const PML4 = 0x10000, PDPT_LO = 0x11000, PD_LO = 0x12000, PDPT_HI = 0x13000, PD_HI = 0x14000;
/** The kernel's own mapping: 0xFFFFFFFF80000000 is physical 0, as Linux maps itself. */
const KERNEL = -0x8000_0000;

/** A 64-bit guest kernel function: RIP-relative loads, stores and LEA, calls, a loop, GS, CPUID. */
function guestSource(): string {
  return `.code64
  lea rbx, [rip + table]
  mov rcx, [rip + table]
  add rcx, 5
  mov [rip + result], rcx
  xor edx, edx
  mov esi, 4
again:
  call addseven
  dec esi
  jnz again
  mov r8, gs:[0x18]
  add r8, [rbx + 8]
  push r8
  pop r9
  mov eax, 0
  cpuid
  mov r10, rbx
  lea r11, [rip + after]
after:
  hlt
addseven:
  add rdx, 7
  ret
  .balign 8
table: .quad 0x1122334455667788, 0x1000
result: .quad 0
`;
}

function tables(mem: PhysicalMemory, regionPde: number): void {
  const put64 = (a: number, lo: number, hi = 0): void => { mem.write32(a, lo); mem.write32(a + 4, hi); };
  put64(PML4, PDPT_LO | 7);
  put64(PDPT_LO, PD_LO | 7);
  put64(PD_LO, 0x87);
  put64(PML4 + 511 * 8, PDPT_HI | 7);
  put64(PDPT_HI + 510 * 8, PD_LO | 7);
  put64(PDPT_HI + 511 * 8, PD_HI | 7);
  put64(PD_HI + 511 * 8, regionPde);
}

function longMode(c: Cpu, lmsle: boolean): void {
  c.setCr4(0x20);
  c.setEfer(0x100 | (lmsle ? 0x2000 : 0));
  c.setCr3(PML4);
  c.setCr0(0x8000_0011);
}

interface Outcome { regs: number[]; hi: number[]; result: number; instructions: number; callouts: number }

function state(c: Cpu, mem: PhysicalMemory, resultAt: number): Pick<Outcome, "regs" | "hi" | "result"> {
  return { regs: Array.from(c.regs), hi: Array.from(c.regsHi), result: mem.read32(resultAt) };
}

/** Guest code at linear `rip`: its bytes at physical `rip` (low) or the kernel mapping. */
function place(mem: PhysicalMemory, rip: number): { code: Uint8Array; resultAt: number } {
  const phys = rip < 0 ? rip - KERNEL : rip;
  const code = asm64(guestSource(), 0);
  // Link at the guest address: assemble at 0, RIP-relative code is position-independent.
  mem.load(phys, code);
  const resultAt = phys + code.length - 8;
  return { code, resultAt };
}

/** The bare machine: the interpreter runs the function at CPL 0 until HLT. */
function bare(rip: number, cpu: string): Outcome {
  const m = new Machine({ ramBytes: 8 << 20, model: parseCpuSpec(cpu), jit: false });
  const c = m.cpu;
  const world = new World64(m.mem, BASE, 1);
  world.build(() => { throw new Error("no monitor entry on bare"); }, () => {});
  tables(m.mem, world.regionPde);
  longMode(c, false);
  world.enter(c);
  const { resultAt } = place(m.mem, rip);
  c.segs[SegReg.GS].base = GSBASE;
  m.mem.write32(GSBASE + 0x18, 0x55);
  c.regs[Reg.ESP] = STACK;
  c.regsHi[Reg.ESP] = 0;
  c.eip = rip;
  c.instructions = 0;
  for (let k = 0; k < 100 && !c.halted; k++) c.run(1);
  assert.ok(c.halted);
  return { ...state(c, m.mem, resultAt), instructions: c.instructions, callouts: 0 };
}

/** The function translated, run from the TC at the guest kernel's ring with a callout loop. */
function translated(rip: number, cpu: string, protect: "segments" | "two-tables"): Outcome & { counters: Counters; world: World64 } {
  const ring = protect === "two-tables" ? 3 : 1;
  const m = new Machine({ ramBytes: 8 << 20, model: parseCpuSpec(cpu), jit: false });
  const c = m.cpu, mem = m.mem;
  const vc = new Cpu(mem, new IoBus(), { model: parseCpuSpec(cpu), jit: false });
  const counters = new Counters();
  const world = new World64(mem, BASE, ring);
  let bt: Translator64 | null = null;
  let callouts = 0, overhead = 0, done = false;
  const tracer = { trace: () => {}, untrace: () => {} };
  world.build((v) => {
    overhead += 1; // the native entry
    assert.equal(v, L.VEC_CALLOUT, `vector ${v} from the guest`);
    overhead += 1; // the callout's INT
    callouts++;
    const sp = c.regsHi[Reg.ESP] * TWO32 + (c.regs[Reg.ESP] >>> 0);
    const q = (k: number): number => c.readLin32(sp + 8 * k + 4, false) * TWO32 + (c.readLin32(sp + 8 * k, false) >>> 0);
    const w = (k: number, v64: number): void => { c.writeLin32(sp + 8 * k, v64 | 0, false); c.writeLin32(sp + 8 * k + 4, Math.floor(v64 / TWO32) | 0, false); };
    const r = bt!.callout(q(0));
    if (r.kind === "emulate") {
      vc.regs.set(c.regs); vc.regsHi.set(c.regsHi);
      const rsp = q(3);
      vc.regs[Reg.ESP] = rsp | 0; vc.regsHi[Reg.ESP] = Math.floor(rsp / TWO32) | 0;
      vc.setEflags((q(2) & 0x8d5) | 2);
      vc.eip = r.guest;
      vc.run(1);
      if (vc.halted) { done = true; c.stop(StopReason.HaltForever); return; }
      c.regs.set(vc.regs); c.regsHi.set(vc.regsHi);
      w(2, (vc.getEflags() & 0x8d5) | 0x202);
      const nsp = vc.regsHi[Reg.ESP] * TWO32 + (vc.regs[Reg.ESP] >>> 0);
      w(3, nsp);
      c.regs[Reg.ESP] = sp | 0; c.regsHi[Reg.ESP] = Math.floor(sp / TWO32) | 0;
    }
    const at = bt!.enter(r.kind === "emulate" ? vc.eip : r.guest);
    assert.ok(at !== null);
    w(0, at);
    iret64(c, 8);
  }, () => {});
  tables(mem, world.regionPde);
  longMode(c, protect === "segments");
  world.enter(c);
  // The vCPU: the guest's kernel at CPL 0 in 64-bit mode, on the same tables.
  longMode(vc, false);
  vc.gdtrBase = c.gdtrBase; vc.gdtrLimit = c.gdtrLimit;
  const d = new Descriptor();
  vc.readDescriptor(L.SEL64_MON_CS, d); vc.segs[SegReg.CS].loadDescriptor(L.SEL64_MON_CS, d);
  vc.readDescriptor(L.SEL64_MON_DS, d);
  for (const s of [SegReg.SS, SegReg.DS, SegReg.ES, SegReg.FS, SegReg.GS]) vc.segs[s].loadDescriptor(L.SEL64_MON_DS, d);
  vc.updateCpl(); vc.mode64 = true;
  vc.segs[SegReg.GS].base = GSBASE;
  const { resultAt } = place(mem, rip);
  mem.write32(GSBASE + 0x18, 0x55);
  bt = new Translator64(world, vc, tracer, counters, protect === "segments");
  // Enter the translation at the guest kernel's ring with the monitor's IRETQ.
  const ds = L.SEL64_GUEST_DS | ring;
  for (const s of [SegReg.DS, SegReg.ES, SegReg.FS, SegReg.GS]) c.loadSegment(s, ds);
  c.segs[SegReg.GS].base = GSBASE;
  const start = bt.enter(rip);
  assert.ok(start !== null);
  const sp = world.lin(L.STACK_TOP) - 40;
  for (const [k, v] of [start, L.SEL64_TC_CS | ring, 0x202, STACK, ds].entries()) {
    mem.write32(BASE + L.STACK_TOP - 40 + 8 * k, v | 0); mem.write32(BASE + L.STACK_TOP - 36 + 8 * k, Math.floor(v / TWO32) | 0);
  }
  c.regs[Reg.ESP] = sp | 0; c.regsHi[Reg.ESP] = -1;
  iret64(c, 8);
  c.instructions = 0;
  c.watchRing0 = true;
  for (let k = 0; k < 1000 && !done; k++) c.run(1);
  assert.ok(done, "the guest reached its HLT");
  assert.equal(c.ring0Foreign, 0, "no guest instruction ran at machine CPL 0");
  // Guest instructions: the machine's, less the monitor's overhead, plus the vCPU's.
  const out = state(vc, mem, resultAt);
  return { ...out, instructions: c.instructions - overhead + vc.instructions, callouts, counters, world };
}

for (const [where, rip] of [["low memory", 0x20000], ["the kernel mapping (0xFFFFFFFF80020000)", KERNEL + 0x20000]] as [string, number][]) {
  for (const [cpu, protect] of [["athlon64-reve", "segments"], ["core2", "two-tables"], ["zen3", "two-tables"]] as const) {
    test(`bt64: translated code in ${where} equals bare on ${cpu} --protect ${protect} (registers, memory, guest instructions)`, () => {
      const b = bare(rip, cpu);
      const t = translated(rip, cpu, protect);
      assert.deepEqual(t.regs, b.regs);
      assert.deepEqual(t.hi, b.hi);
      assert.equal(t.result, 0x5566778d);
      assert.equal(t.result, b.result);
      assert.equal(t.instructions, b.instructions);
      const s = t.counters.snapshot();
      // CALL became PUSH imm32, in the first trace and again in the loop's (after a RET's callout).
      assert.equal(s["bt.call-inlined"], 2);
      // RET ×4, the loop's jump stub (translated and chained once), CPUID, HLT, and at ring 1
      // with LMSLE the GS load.
      assert.equal(t.callouts, protect === "segments" ? 8 : 7);
      assert.equal(s["bt.chain"], 1);
      assert.equal(s["bt.callout-site"], protect === "segments" ? 5 : 4); // RET (in 2 traces: 2), CPUID, HLT, GS
      assert.deepEqual(t.world.tampered(), []);
    });
  }
}

test("repointRipRelative: the disp32 is found after prefixes, REX, the opcode and ModR/M, and re-pointed at the same target", () => {
  // mov rax, [rip + 0x100]      48 8B 05 00 01 00 00
  const mov = [0x48, 0x8b, 0x05, 0x00, 0x01, 0x00, 0x00];
  assert.equal(ripRelDispOffset(mov), 3);
  const rip = -0x7f00_0000; // 0xFFFFFFFF81000000
  const tc = L.REGION64_BASE + L.TC64_OFF;
  const out = repointRipRelative(mov, rip, tc)!;
  const disp = out[3] | (out[4] << 8) | (out[5] << 16) | (out[6] << 24);
  assert.equal(tc + 7 + disp, rip + 7 + 0x100);
  // gs: add dword ptr [rip + 8], 0x12345678   65 81 05 08 00 00 00 78 56 34 12 (immediate after disp)
  const add = [0x65, 0x81, 0x05, 0x08, 0, 0, 0, 0x78, 0x56, 0x34, 0x12];
  assert.equal(ripRelDispOffset(add), 3);
  assert.deepEqual(repointRipRelative(add, 0x1000, 0x1000), add);
  // movdqa xmm0, [rip + 0]   66 0F 6F 05 …;  pshufb xmm0, [rip]  66 0F 38 00 05 …
  assert.equal(ripRelDispOffset([0x66, 0x0f, 0x6f, 0x05, 0, 0, 0, 0]), 4);
  assert.equal(ripRelDispOffset([0x66, 0x0f, 0x38, 0x00, 0x05, 0, 0, 0, 0]), 5);
  // A target beyond ±2 GiB of the TC: not copied (the translator makes it a callout).
  assert.equal(repointRipRelative(mov, 0x1000, tc - 0x8000_0000), null);
  assert.equal(repointRipRelative(mov, -0x8000_0000_0000, tc), null); // the direct map
});

test("treatment64: SYSCALL, SYSRET, IRETQ end a trace; SWAPGS, RDTSCP, MOV CR8, WRMSR, RDMSR, CLI, STI, PUSHFQ are callouts; GS only at ring 1", () => {
  const m = new Machine({ ramBytes: 8 << 20, model: parseCpuSpec("zen3"), jit: false });
  const c = m.cpu;
  const world = new World64(m.mem, BASE, 1);
  world.build(() => {}, () => {});
  tables(m.mem, world.regionPde);
  longMode(c, false);
  world.enter(c);
  const kinds = (bytes: number[], gs: boolean): string => {
    m.mem.load(0x1000, Uint8Array.from(bytes));
    return treatment64(decode64(c, 0x1000), gs);
  };
  const end = [[0x0f, 0x05], [0x48, 0x0f, 0x07], [0x48, 0xcf], [0xc3], [0xf4], [0xff, 0xe0], [0xcd, 0x80]];
  for (const b of end) assert.equal(kinds(b, false), "callout-end", b.map((x) => x.toString(16)).join(" "));
  const go = [[0x0f, 0x01, 0xf8], [0x0f, 0x01, 0xf9], [0x44, 0x0f, 0x22, 0xc0], [0x44, 0x0f, 0x20, 0xc0], [0x0f, 0x30], [0x0f, 0x32], [0xfa], [0xfb], [0x9c], [0x9d], [0x0f, 0xa2], [0x0f, 0x01, 0x38]];
  for (const b of go) assert.equal(kinds(b, false), "callout", b.map((x) => x.toString(16)).join(" "));
  const gsLoad = [0x65, 0x48, 0x8b, 0x04, 0x25, 0x18, 0, 0, 0]; // mov rax, gs:[0x18]
  assert.equal(kinds(gsLoad, true), "callout");
  assert.equal(kinds(gsLoad, false), "copy");
  assert.equal(kinds([0x65, 0x48, 0xa5], true), "callout"); // movsq with a GS source
  assert.equal(kinds([0x48, 0x8b, 0x05, 0, 0, 0, 0], false), "rip-relative");
  assert.equal(kinds([0x67, 0x48, 0x8b, 0x05, 0, 0, 0, 0], false), "callout"); // EIP-relative (67h)
  assert.equal(kinds([0xe8, 0, 0, 0, 0], false), "call");
  assert.equal(kinds([0x0f, 0x31], false), "copy"); // RDTSC: the machine's TSC is offset
  assert.equal(kinds([0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8], false), "copy");
});

test("bt64: a write to translated guest code invalidates its translations: the entry becomes a 'translate again' callout, the frame is untraced, the next entry translates anew", () => {
  const m = new Machine({ ramBytes: 8 << 20, model: parseCpuSpec("athlon64-reve"), jit: false });
  const mem = m.mem;
  const vc = new Cpu(mem, new IoBus(), { model: parseCpuSpec("athlon64-reve"), jit: false });
  const world = new World64(mem, BASE, 1);
  world.build(() => {}, () => {});
  tables(mem, world.regionPde);
  longMode(vc, false);
  world.enter(vc); // a 64-bit CS at CPL 0 for the vCPU (the tables are only read here)
  const traced: string[] = [];
  const tracer = { trace: (f: number) => { traced.push(`+${f}`); }, untrace: (f: number) => { traced.push(`-${f}`); } };
  const counters = new Counters();
  const bt = new Translator64(world, vc, tracer, counters, true);
  const rip = KERNEL + 0x20000;
  mem.load(0x20000, Uint8Array.from([0x48, 0xff, 0xc0, 0xf4])); // inc rax; hlt
  const first = bt.enter(rip)!;
  assert.deepEqual(traced, ["+32"]); // the guest frame (physical page 0x20)
  assert.equal(bt.guestRip(first), rip);
  assert.equal(mem.read8(BASE + L.TC64_OFF), 0x48, "copied");
  bt.codeWritten(0x20);
  assert.deepEqual(traced, ["+32", "-32"]);
  assert.deepEqual([mem.read8(BASE + L.TC64_OFF), mem.read8(BASE + L.TC64_OFF + 1)], [0xcd, L.VEC_CALLOUT]);
  assert.deepEqual(bt.callout(first + 2), { kind: "continue", guest: rip, patchAt: -1, retPop: -1, why: "invalidated" });
  mem.load(0x20000, Uint8Array.from([0x48, 0xff, 0xc8, 0xf4])); // dec rax; hlt
  const again = bt.enter(rip)!;
  assert.notEqual(again, first);
  assert.equal(mem.read8(BASE + L.TC64_OFF + (again - first) + 2), 0xc8, "the new code");
  assert.equal(counters.snapshot()["bt.invalidate"], 1);
  assert.deepEqual(world.tampered(), []);
});
