// The long-mode monitor world (src/vmm/world/world64.ts, docs/long-mode-monitor.md) on the
// machine model: the region at 0xFFFFFFFFFFE00000, its 64-bit IDT, TSS (RSP0) and native
// entries, and how each --protect choice keeps guest kernel code out of it:
//   segments   (ring 1 + EFER.LMSLE on athlon64-reve): DS, ES, FS and SS stop below the
//              region; GS does not (the translator must take every GS access);
//   paging-only (ring 1, no LMSLE): nothing stops ring 1 — the escape suite's configuration;
//   two-tables (ring 3): U/S alone; the translation cache readable, not writable.
// Each run enters the guest with the monitor's own IRETQ and ends at the first entry into
// the monitor, whose native handler reads the 64-bit frame.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Machine } from "../../src/hw/machine.js";
import { parseCpuSpec } from "../../src/hw/cpu/models.js";
import { Reg } from "../../src/hw/cpu/cpu.js";
import { SegReg } from "../../src/hw/cpu/segment.js";
import { StopReason, Vector } from "../../src/hw/cpu/fault.js";
import { iret64 } from "../../src/hw/cpu/interrupt64.js";
import { World64 } from "../../src/vmm/world/world64.js";
import * as L from "../../src/vmm/layout.js";
import { asm64 } from "../protection/harness.js";

const CODE = 0x20000, STACK = 0x80000, BASE = 0x40_0000;
const PML4 = 0x10000, PDPT_LO = 0x11000, PD_LO = 0x12000, PDPT_HI = 0x13000, PD_HI = 0x14000;
const TWO32 = 0x1_0000_0000;

interface Entry { vector: number; error: number; rip: number; cs: number; ss: number; rsp: number; monitorRsp: number }

function run(cpu: string, protect: "segments" | "paging-only" | "two-tables" | "segments-unsafe", body: string): { entry: Entry; world: World64; m: Machine; ud2: number } {
  const ring = protect === "two-tables" ? 3 : 1;
  const m = new Machine({ ramBytes: 8 << 20, model: parseCpuSpec(cpu), jit: false });
  const c = m.cpu, mem = m.mem;
  const put64 = (a: number, lo: number, hi = 0): void => { mem.write32(a, lo); mem.write32(a + 4, hi); };
  let entry: Entry | null = null;
  // segments-unsafe: --unsafe-protect on a model without EFER.LMSLE: the limits are set, and
  // nothing checks them.
  const world = new World64(mem, BASE, ring, protect === "paging-only" ? 0xffff_ffff : L.GUEST_LIMIT64);
  world.build((v) => {
    const sp = c.regsHi[Reg.ESP] * TWO32 + (c.regs[Reg.ESP] >>> 0);
    const q = (k: number): number => c.readLin32(sp + 8 * k + 4, false) * TWO32 + (c.readLin32(sp + 8 * k, false) >>> 0);
    const hasErr = v === 8 || (v >= 10 && v <= 14) || v === 17;
    const f = hasErr ? 1 : 0;
    entry = { vector: v, error: hasErr ? q(0) : -1, rip: q(f), cs: q(f + 1), rsp: q(f + 3), ss: q(f + 4), monitorRsp: sp };
    c.stop(StopReason.HaltForever);
  }, () => {});
  // 4-level tables: 0–2 MiB (the guest's code, data and stack) and the 2 MiB just below the
  // region, user pages; the region's PDE at PML4 511 → PDPT 511 → PD 511.
  put64(PML4, PDPT_LO | 7);
  put64(PDPT_LO, PD_LO | 7);
  put64(PD_LO, 0x87);
  put64(PML4 + 511 * 8, PDPT_HI | 7);
  put64(PDPT_HI + 511 * 8, PD_HI | 7);
  put64(PD_HI + 510 * 8, 0x20_0000 | 0x87);
  put64(PD_HI + 511 * 8, world.regionPde);
  c.setCr4(0x20);
  c.setEfer(0x100 | (protect === "segments" ? 0x2000 : 0));
  c.setCr3(PML4);
  c.setCr0(0x8000_0011);
  world.enter(c);
  const code = asm64(`.code64\n mov rbx, 0xffffffffffe00000\n${body}\n ud2\n`, CODE);
  mem.load(CODE, code);
  // The monitor's IRETQ into the guest kernel: translated-code CS, the stand-in data segment.
  const ds = L.SEL64_GUEST_DS | ring;
  for (const s of [SegReg.DS, SegReg.ES, SegReg.FS, SegReg.GS]) c.loadSegment(s, ds);
  c.segs[SegReg.GS].base = 0; c.segs[SegReg.FS].base = 0;
  const sp = world.lin(L.STACK_TOP) - 40;
  for (const [k, v] of [CODE, L.SEL64_TC_CS | ring, 0x2, STACK, ds].entries()) put64(BASE + L.STACK_TOP - 40 + 8 * k, v, 0);
  c.regs[Reg.ESP] = sp | 0; c.regsHi[Reg.ESP] = -1;
  iret64(c, 8);
  assert.equal(c.cpl, ring);
  c.watchRing0 = true;
  c.run(1000);
  assert.ok(entry !== null, "the guest entered the monitor");
  assert.equal(c.ring0Foreign, 0, "no guest instruction ran at machine CPL 0");
  return { entry: entry as Entry, world, m, ud2: CODE + code.length - 2 };
}

/** Resource control saw the first IDT gate changed. */
function idtWritten(world: World64): boolean {
  return world.tampered().some((off) => off >= L.IDT_OFF && off < L.IDT_OFF + 16);
}

test("the long-mode world: the guest's exception reaches the monitor's native entry on RSP0 with the 64-bit frame", () => {
  const { entry, world, ud2 } = run("athlon64-reve", "segments", "nop");
  assert.equal(entry.vector, Vector.UD);
  assert.equal(entry.rip, ud2);
  assert.equal(entry.cs, L.SEL64_TC_CS | 1);
  assert.equal(entry.ss, L.SEL64_GUEST_DS | 1);
  assert.equal(entry.rsp, STACK);
  assert.equal(entry.monitorRsp, world.lin(L.STACK_TOP) - 40, "RSP0 from the 64-bit TSS, five 8-byte slots");
  assert.deepEqual(world.tampered(), []);
});

test("--protect segments (athlon64-reve, EFER.LMSLE): DS, ES, FS and SS stop below the region; GS does not", () => {
  // DS, ES (STOSQ), FS, SS (PUSH) into the region's first byte: #GP(0), #SS(0) through SS.
  for (const [body, vector] of [
    ["mov rax, [rbx]", Vector.GP], ["mov rax, [rbx + 0x20000]", Vector.GP], ["mov rdi, rbx\n stosq", Vector.GP],
    ["mov rax, fs:[rbx]", Vector.GP], ["lea rsp, [rbx + 0x100]\n push rax", Vector.SS],
    ["mov rax, [rbx - 8]", Vector.UD],     // the last quadword below the region: allowed
    ["mov rax, [rbx - 7]", Vector.GP],     // one byte of it in the region: not
    ["mov rax, gs:[rbx + 0x20000]", Vector.UD], // GS is never limit-checked: it reads the IDT
  ] as [string, number][]) {
    const { entry, world } = run("athlon64-reve", "segments", body);
    assert.equal(entry.vector, vector, body);
    if (vector !== Vector.UD) assert.equal(entry.error, 0, body);
    assert.deepEqual(world.tampered(), [], body);
  }
  // So a GS write reaches the monitor: what the translator's GS callouts are for, and what
  // resource control reports.
  const { entry, world } = run("athlon64-reve", "segments", "mov qword ptr gs:[rbx + 0x20000], rbx");
  assert.equal(entry.vector, Vector.UD);
  assert.ok(idtWritten(world), "the IDT was written");
});

test("--protect paging-only: ring 1 passes U/S and nothing else checks, so the guest kernel writes the monitor", () => {
  for (const cpu of ["athlon64-revc", "core2", "zen3"]) {
    const { entry, world } = run(cpu, "paging-only", "mov qword ptr [rbx + 0x20000], rbx");
    assert.equal(entry.vector, Vector.UD, cpu);
    assert.ok(idtWritten(world), cpu);
  }
});

test("--protect two-tables: guest kernel code at ring 3 cannot reach the region except to read the translation cache", () => {
  for (const cpu of ["athlon64-revc", "core2", "zen3"]) {
    let r = run(cpu, "two-tables", "mov rax, [rbx + 0x20000]");
    assert.equal(r.entry.vector, Vector.PF, cpu);
    assert.equal(r.entry.error, 0x5, `${cpu}: present, read, user`);
    r = run(cpu, "two-tables", "mov qword ptr gs:[rbx + 0x20000], rbx");
    assert.equal(r.entry.vector, Vector.PF, cpu);
    assert.equal(r.entry.error, 0x7, `${cpu}: present, write, user`);
    r = run(cpu, "two-tables", `mov rax, [rbx + ${L.TC64_OFF}]`);
    assert.equal(r.entry.vector, Vector.UD, `${cpu}: the TC is readable at ring 3`);
    r = run(cpu, "two-tables", `mov [rbx + ${L.TC64_OFF}], rax`);
    assert.equal(r.entry.vector, Vector.PF, `${cpu}: and not writable`);
    assert.equal(r.entry.error, 0x7, cpu);
    assert.equal(r.entry.cs, L.SEL64_TC_CS | 3, cpu);
    assert.deepEqual(r.world.tampered(), [], cpu);
  }
});

test("--unsafe-protect (segments without EFER.LMSLE on athlon64-revc, core2, zen3): the truncated limits are ignored in 64-bit mode, the guest kernel writes the monitor", () => {
  for (const cpu of ["athlon64-revc", "core2", "zen3"]) {
    const { entry, world } = run(cpu, "segments-unsafe", "mov qword ptr [rbx + 0x20000], rbx");
    assert.equal(entry.vector, Vector.UD, cpu);
    assert.ok(idtWritten(world), cpu);
  }
});
