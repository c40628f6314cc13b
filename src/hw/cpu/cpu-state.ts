// The processor's architectural state as plain data (issue 12, docs/snapshot.md): what a
// snapshot keeps of a Cpu, and how it is put back.
//
// Kept: every register a program or the processor itself can observe — the general registers
// with their 64-bit halves, RIP, RFLAGS, the six segment registers with their hidden
// descriptor caches (SDM vol. 3 §3.4.3), LDTR, TR, GDTR, IDTR, CR0/CR2/CR3/CR4 (and CR3's
// high half), DR0–DR7, the PAE PDPTE registers (SDM vol. 3 §4.4.1: loaded on CR3 writes, not
// re-read from memory), EFER and the other MSRs, the x87 unit, XMM0–XMM15 and MXCSR, and the
// execution state between instructions: HLT, the one-instruction interrupt shadow (STI,
// MOV SS), a pending NMI, the INTR pin, the A20 gate and the retired-instruction and halted
// cycle counts that virtual time is made of (DESIGN.md §4).
//
// Not kept: caches (the TLBs, the decoded-instruction cache, the code-fetch shortcut). They
// are flushed on restore and refill from memory as on any TLB flush: a guest that relied on
// a stale TLB entry across a snapshot would see the architectural (re-walked) translation.

import type { Cpu } from "./cpu.js";
import type { SegmentCache } from "./segment.js";
import type { FpuState } from "../fpu/fpu.js";
import { CR0_PG, EFER_LMA, EFER_NXE, EFER_LMSLE } from "./control-regs.js";

/** A segment register: selector and hidden descriptor cache. */
export interface SegmentState {
  selector: number; base: number; limit: number; access: number;
  big: boolean; gran: boolean; l: boolean; valid: boolean;
}

export interface CpuState {
  regs: number[];
  regsHi: number[];
  eip: number;
  /** EFLAGS with the lazily computed arithmetic flags materialized. */
  eflags: number;
  /** ES, CS, SS, DS, FS, GS (SegReg order). */
  segs: SegmentState[];
  ldtr: SegmentState;
  tr: SegmentState;
  gdtr: [number, number];
  idtr: [number, number];
  cpl: number;
  cr0: number; cr2: number; cr3: number; cr3Hi: number; cr4: number;
  dr: number[];
  pdpte: number[];
  efer: number;
  sysenter: [number, number, number];
  tscOffset: number;
  kernelGsBase: number;
  tscAux: number;
  /** Side-effect-free MSRs as [index, low, high], sorted by index. */
  msrs: [number, number, number][];
  fpu: FpuState;
  /** XMM0–XMM15, four dwords each. */
  xmm: number[];
  mxcsr: number;
  instructions: number;
  idleCycles: number;
  halted: boolean;
  inhibitIrq: boolean;
  nmiPending: boolean;
  intrLine: boolean;
  a20: boolean;
}

function saveSeg(s: SegmentCache): SegmentState {
  return { selector: s.selector, base: s.base, limit: s.limit, access: s.access, big: s.big, gran: s.gran, l: s.l, valid: s.valid };
}

function restoreSeg(s: SegmentCache, v: SegmentState): void {
  s.selector = v.selector; s.base = v.base; s.limit = v.limit; s.access = v.access;
  s.big = v.big; s.gran = v.gran; s.l = v.l; s.valid = v.valid;
  s.refresh();
}

/** The architectural state of `cpu`, between two instructions. */
export function saveCpu(cpu: Cpu): CpuState {
  const msrs: [number, number, number][] = [...cpu.plainMsrs.entries()].map(([k, [lo, hi]]) => [k, lo, hi]);
  msrs.sort((a, b) => a[0] - b[0]);
  return {
    regs: Array.from(cpu.regs),
    regsHi: Array.from(cpu.regsHi),
    eip: cpu.eip,
    eflags: cpu.getEflags(),
    segs: cpu.segs.map(saveSeg),
    ldtr: saveSeg(cpu.ldtr),
    tr: saveSeg(cpu.tr),
    gdtr: [cpu.gdtrBase, cpu.gdtrLimit],
    idtr: [cpu.idtrBase, cpu.idtrLimit],
    cpl: cpu.cpl,
    cr0: cpu.cr0, cr2: cpu.cr2, cr3: cpu.cr3, cr3Hi: cpu.cr3Hi, cr4: cpu.cr4,
    dr: Array.from(cpu.dr),
    pdpte: Array.from(cpu.pdpte),
    efer: cpu.efer,
    sysenter: [cpu.sysenterCs, cpu.sysenterEsp, cpu.sysenterEip],
    tscOffset: cpu.tscOffset,
    kernelGsBase: cpu.kernelGsBase,
    tscAux: cpu.tscAux,
    msrs,
    fpu: cpu.fpu.save(),
    xmm: Array.from(cpu.simd.xmm),
    mxcsr: cpu.simd.mxcsr,
    instructions: cpu.instructions,
    idleCycles: cpu.idleCycles,
    halted: cpu.halted,
    inhibitIrq: cpu.inhibitIrq,
    nmiPending: cpu.nmiPending,
    intrLine: cpu.intrLine,
    a20: cpu.a20,
  };
}

/**
 * Put `s` into `cpu` (whose model the caller has checked) and drop every cache derived from
 * the old state. The interrupt controller's wiring (`intr`, `apic`) is the machine's and is
 * left alone.
 */
export function restoreCpu(cpu: Cpu, s: CpuState): void {
  cpu.regs.set(s.regs);
  cpu.regsHi.set(s.regsHi);
  cpu.eip = s.eip;
  cpu.flags = s.eflags;
  cpu.lazyMask = 0;
  s.segs.forEach((v, k) => restoreSeg(cpu.segs[k], v));
  restoreSeg(cpu.ldtr, s.ldtr);
  restoreSeg(cpu.tr, s.tr);
  [cpu.gdtrBase, cpu.gdtrLimit] = s.gdtr;
  [cpu.idtrBase, cpu.idtrLimit] = s.idtr;
  cpu.cpl = s.cpl;
  cpu.cr0 = s.cr0; cpu.cr2 = s.cr2; cpu.cr3 = s.cr3; cpu.cr3Hi = s.cr3Hi; cpu.cr4 = s.cr4;
  cpu.paging = (s.cr0 & CR0_PG) !== 0;
  cpu.dr.set(s.dr);
  cpu.debug.guestChanged(cpu.dr);
  cpu.pdpte.set(s.pdpte);
  cpu.efer = s.efer;
  cpu.lma = (s.efer & EFER_LMA) !== 0;
  cpu.nxe = (s.efer & EFER_NXE) !== 0;
  cpu.lmsleOn = (s.efer & EFER_LMSLE) !== 0;
  cpu.mode64 = false;
  [cpu.sysenterCs, cpu.sysenterEsp, cpu.sysenterEip] = s.sysenter;
  cpu.tscOffset = s.tscOffset;
  cpu.kernelGsBase = s.kernelGsBase;
  cpu.tscAux = s.tscAux;
  cpu.plainMsrs.clear();
  for (const [k, lo, hi] of s.msrs) cpu.plainMsrs.set(k, [lo, hi]);
  cpu.fpu.restore(s.fpu);
  cpu.simd.xmm.set(s.xmm);
  cpu.simd.mxcsr = s.mxcsr;
  cpu.instructions = s.instructions;
  cpu.idleCycles = s.idleCycles;
  cpu.halted = s.halted;
  cpu.inhibitIrq = s.inhibitIrq;
  cpu.nmiPending = s.nmiPending;
  cpu.intrLine = s.intrLine;
  cpu.a20 = s.a20;
  cpu.shutdown = null;
  cpu.flushTlb(true);
  cpu.flushCodeCache();
}
