// cpu-state.ts: every field a snapshot keeps survives save → JSON → restore into a fresh CPU
// unchanged, and a restored CPU runs on exactly as the original does (the caches it drops are
// rebuilt from memory).

import { test } from "node:test";
import assert from "node:assert/strict";
import { Cpu } from "./cpu.js";
import { PhysicalMemory } from "../mem/physical-memory.js";
import { IoBus } from "../io/io-bus.js";
import { findModel } from "./models.js";
import { restoreCpu, saveCpu, type CpuState } from "./cpu-state.js";

function cpu(): Cpu {
  return new Cpu(new PhysicalMemory(1 << 20), new IoBus(), { model: findModel("core2") });
}

/** A state with a different value in every field (deterministic). */
function scrambled(): CpuState {
  const s = saveCpu(cpu());
  let k = 0x1234;
  const next = (): number => (k = (Math.imul(k, 1103515245) + 12345) | 0);
  s.regs = s.regs.map(next); s.regsHi = s.regsHi.map(next); s.eip = 0x10_2030; s.eflags = 0x246 | 0x2;
  s.segs.forEach((g, i) => Object.assign(g, { selector: 8 * (i + 1) | 3, base: 0x1000 * (i + 1), limit: 0xfffff, access: 0xf3, big: true, gran: true, l: i === 1, valid: i !== 4 }));
  Object.assign(s.ldtr, { selector: 0x28, base: 0x9000, limit: 0x7f, access: 0x82 });
  Object.assign(s.tr, { selector: 0x30, base: 0xa000, limit: 0x67, access: 0x8b });
  s.gdtr = [0x8000, 0x3ff]; s.idtr = [0x8800, 0x7ff]; s.cpl = 3;
  s.cr0 = 0x8005_0033 | 0; s.cr2 = 0x1234_5678; s.cr3 = 0x20000; s.cr3Hi = 1; s.cr4 = 0x6b0;
  s.dr = s.dr.map(next); s.pdpte = s.pdpte.map(next); s.efer = 0xd01;
  s.sysenter = [0x10, 0x9000, 0xc000_0000 | 0]; s.tscOffset = -12345; s.kernelGsBase = 0x7fff_0000_1000; s.tscAux = 7;
  s.msrs = [[0x174, 1, 0], [0xc000_0081, 2, 3]];
  s.fpu = { ...s.fpu, top: 5, cw: 0x27f, sw: 0x4100, fip: 0x123, fcs: 0x8, fdp: 0x456, fds: 0x10, fop: 0x1d9, empty: 0x3c };
  s.xmm = s.xmm.map(next); s.mxcsr = 0x1fa0;
  s.instructions = 987_654_321; s.idleCycles = 12_345; s.halted = true; s.inhibitIrq = true; s.nmiPending = true; s.intrLine = true; s.a20 = false;
  return s;
}

test("every kept field survives save, JSON and restore into a fresh CPU", () => {
  const s = scrambled();
  const c = cpu();
  restoreCpu(c, JSON.parse(JSON.stringify(s)) as CpuState);
  assert.deepEqual(saveCpu(c), s);
  assert.equal(c.lma, true, "EFER.LMA gives the cached mode");
  assert.equal(c.paging, true, "CR0.PG gives the cached paging flag");
});

test("a restored CPU continues a program exactly as the original", () => {
  // A loop in real mode: ADD/ADC/DEC with flags carried across the cut (lazy flags).
  const a = cpu();
  const code = [0x05, 0x01, 0x80, 0x15, 0x00, 0x00, 0x4b, 0x75, 0xf7, 0xf4]; // add ax,0x8001; adc ax,0; dec bx; jnz; hlt
  const load = (c: Cpu): void => { c.mem.load(0x7c00, Uint8Array.from(code)); c.segs[1].loadReal(0); c.eip = 0x7c00; c.regs[3] = 1000; };
  load(a);
  a.run(1234);
  const s = saveCpu(a);
  const b = cpu();
  b.mem.load(0x7c00, Uint8Array.from(code));
  restoreCpu(b, s);
  a.run(100_000);
  b.run(100_000);
  assert.deepEqual(saveCpu(b), saveCpu(a));
  assert.equal(a.halted, true);
});
