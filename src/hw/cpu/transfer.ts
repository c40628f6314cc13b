// Far control transfers: JMP far, CALL far, RET far, IRET (Intel SDM vol. 2 "JMP", "CALL",
// "RET", "IRET/IRETD" operation sections; vol. 3 §5.8 "Privilege level checking when
// transferring program control between code segments", §5.8.5 "Stack switching").
//
// Real and virtual-8086 mode load CS as base = selector * 16. Protected mode goes through
// a code descriptor, a call gate (possibly to an inner privilege level, switching stacks
// and copying parameters), a task gate or a TSS (a task switch, task.ts).

import { Reg, type Cpu } from "./cpu.js";
import * as F from "./eflags.js";
import { Vector } from "./fault.js";
import { Descriptor, SegReg, SysType, type SegmentCache } from "./segment.js";
import { loadStackSegment, pushFrame, scratchFor, stackFromTss } from "./interrupt.js";
import { taskSwitch, TaskSource } from "./task.js";
import { throughGate } from "./exec64/control.js";

const gateDesc = new WeakMap<Cpu, Descriptor>();
function gateScratch(cpu: Cpu): Descriptor {
  let d = gateDesc.get(cpu);
  if (!d) { d = new Descriptor(); gateDesc.set(cpu, d); }
  return d;
}

function realModeTarget(cpu: Cpu, sel: number, off: number, opsize32: boolean): void {
  const eip = opsize32 ? off >>> 0 : off & 0xffff;
  // The new CS in real mode keeps its limit; the offset must lie inside it.
  if (eip > cpu.segs[SegReg.CS].limit) cpu.gp(0);
  cpu.loadCsReal(sel);
  cpu.eip = eip;
}

/** JMP/CALL to a TSS or through a task gate: DPL checks, then the task switch (SDM §7.3). */
function switchThrough(cpu: Cpu, sel: number, d: Descriptor, source: TaskSource): void {
  if (d.dpl < cpu.cpl || d.dpl < (sel & 3)) cpu.gp(sel & 0xfffc);
  if (!d.present) cpu.raise(Vector.NP, sel & 0xfffc);
  taskSwitch(cpu, d.type === SysType.TASK_GATE ? d.gateSelector : sel, source, 0);
}

/**
 * In IA-32e mode a code segment with L = 1 and D = 1 is reserved: loading it into CS is
 * #GP(selector) (SDM vol. 2 "JMP", "CALL", "RET", "IRET" pseudocode; vol. 3 §5.2.1).
 */
export function badLongCode(cpu: Cpu, d: Descriptor): boolean {
  return cpu.lma && d.l && d.db;
}

/** Checks for a direct transfer to a code segment (JMP/CALL); raises #GP/#NP. */
function checkDirectCode(cpu: Cpu, sel: number, d: Descriptor): void {
  if (!d.isCode || badLongCode(cpu, d)) cpu.gp(sel & 0xfffc);
  if ((d.type & 4) !== 0) {
    if (d.dpl > cpu.cpl) cpu.gp(sel & 0xfffc);
  } else if ((sel & 3) > cpu.cpl || d.dpl !== cpu.cpl) {
    cpu.gp(sel & 0xfffc);
  }
  if (!d.present) cpu.raise(Vector.NP, sel & 0xfffc);
}

export function farJump(cpu: Cpu, sel: number, off: number, opsize32: boolean): void {
  if (!cpu.protectedMode || cpu.v86) { realModeTarget(cpu, sel, off, opsize32); return; }
  if ((sel & 0xfffc) === 0) cpu.gp(0);
  const sc = scratchFor(cpu);
  const d = sc.code;
  cpu.fetchDescriptor(sel, d);
  if (d.s) {
    checkDirectCode(cpu, sel, d);
    const eip = opsize32 ? off >>> 0 : off & 0xffff;
    if (eip > d.limit) cpu.gp(0);
    cpu.loadCsDescriptor(sel, d, cpu.cpl);
    cpu.eip = eip;
    return;
  }
  // Compatibility mode: every call gate is a 16-byte 64-bit one, and task gates and TSSs are
  // #GP(selector) (SDM vol. 3 §5.8.3.1, §7.7).
  if (cpu.lma) { throughGate(cpu, sel, false); return; }
  switch (d.type) {
    case SysType.CALL_GATE16: case SysType.CALL_GATE32: {
      if (d.dpl < cpu.cpl || d.dpl < (sel & 3)) cpu.gp(sel & 0xfffc);
      if (!d.present) cpu.raise(Vector.NP, sel & 0xfffc);
      const g = gateScratch(cpu);
      g.lo = d.lo; g.hi = d.hi;
      const tsel = g.gateSelector;
      if ((tsel & 0xfffc) === 0) cpu.gp(0);
      cpu.fetchDescriptor(tsel, d);
      if (!d.isCode) cpu.gp(tsel & 0xfffc);
      if ((d.type & 4) !== 0 ? d.dpl > cpu.cpl : d.dpl !== cpu.cpl) cpu.gp(tsel & 0xfffc);
      if (!d.present) cpu.raise(Vector.NP, tsel & 0xfffc);
      const eip = g.type === SysType.CALL_GATE32 ? g.gateOffset : g.gateOffset & 0xffff;
      if (eip > d.limit) cpu.gp(0);
      cpu.loadCsDescriptor(tsel, d, cpu.cpl);
      cpu.eip = eip;
      return;
    }
    case SysType.TASK_GATE: case SysType.TSS16_AVAIL: case SysType.TSS32_AVAIL:
      switchThrough(cpu, sel, d, TaskSource.Jump);
      return;
    default:
      cpu.gp(sel & 0xfffc);
  }
}

export function farCall(cpu: Cpu, sel: number, off: number, opsize32: boolean): void {
  const cs = cpu.segs[SegReg.CS];
  if (!cpu.protectedMode || cpu.v86) {
    const eip = opsize32 ? off >>> 0 : off & 0xffff;
    if (eip > cs.limit) cpu.gp(0);
    const sp = cpu.stackOffset(opsize32 ? -8 : -4);
    cpu.checkWrite(SegReg.SS, sp, opsize32 ? 8 : 4);
    cpu.push(cs.selector, opsize32);
    cpu.push(cpu.eip, opsize32);
    cpu.loadCsReal(sel);
    cpu.eip = eip;
    return;
  }
  if ((sel & 0xfffc) === 0) cpu.gp(0);
  const sc = scratchFor(cpu);
  const d = sc.code;
  cpu.fetchDescriptor(sel, d);
  if (d.s) {
    checkDirectCode(cpu, sel, d);
    const eip = opsize32 ? off >>> 0 : off & 0xffff;
    const ss = cpu.segs[SegReg.SS];
    const esp = pushFrame(cpu, ss, cpu.stackPointer, [cs.selector, cpu.eip], opsize32 ? 4 : 2, cpu.cpl === 3, -1);
    if (eip > d.limit) cpu.gp(0);
    cpu.setStackPointer(esp);
    cpu.loadCsDescriptor(sel, d, cpu.cpl);
    cpu.eip = eip;
    return;
  }
  if (cpu.lma) { throughGate(cpu, sel, true); return; }
  switch (d.type) {
    case SysType.CALL_GATE16: case SysType.CALL_GATE32:
      callGate(cpu, sel, d);
      return;
    case SysType.TASK_GATE: case SysType.TSS16_AVAIL: case SysType.TSS32_AVAIL:
      switchThrough(cpu, sel, d, TaskSource.Call);
      return;
    default:
      cpu.gp(sel & 0xfffc);
  }
}

/** CALL through a call gate (SDM vol. 3 §5.8.4–5.8.5). */
function callGate(cpu: Cpu, sel: number, gd: Descriptor): void {
  if (gd.dpl < cpu.cpl || gd.dpl < (sel & 3)) cpu.gp(sel & 0xfffc);
  if (!gd.present) cpu.raise(Vector.NP, sel & 0xfffc);
  const g = gateScratch(cpu);
  g.lo = gd.lo; g.hi = gd.hi;
  const gate32 = g.type === SysType.CALL_GATE32;
  const size = gate32 ? 4 : 2;
  const tsel = g.gateSelector;
  if ((tsel & 0xfffc) === 0) cpu.gp(0);
  const sc = scratchFor(cpu);
  const d = sc.code;
  cpu.fetchDescriptor(tsel, d);
  if (!d.isCode || d.dpl > cpu.cpl) cpu.gp(tsel & 0xfffc);
  if (!d.present) cpu.raise(Vector.NP, tsel & 0xfffc);
  const eip = gate32 ? g.gateOffset : g.gateOffset & 0xffff;
  const cs = cpu.segs[SegReg.CS];
  const retEip = cpu.eip;

  if ((d.type & 4) === 0 && d.dpl < cpu.cpl) {
    // More privileged: switch to the inner stack from the TSS and copy parameters.
    const newCpl = d.dpl;
    stackFromTss(cpu, newCpl, 0, sc);
    const espRaw = sc.tssEsp;
    const newSs = loadStackSegment(cpu, sc.tssSs, newCpl, 0, sc);
    const oldSs = cpu.segs[SegReg.SS];
    const params: number[] = [];
    const count = g.gateParamCount;
    for (let k = count - 1; k >= 0; k--) {
      const off = cpu.stackOffset(k * size);
      params.push(size === 4 ? cpu.read32(SegReg.SS, off) : cpu.read16(SegReg.SS, off));
    }
    const frame = [oldSs.selector, cpu.regs[Reg.ESP], ...params, cs.selector, retEip];
    const start = newSs.big ? espRaw >>> 0 : espRaw & 0xffff;
    const esp = pushFrame(cpu, newSs, start, frame, size, false, 0);
    if (eip > d.limit) cpu.gp(0);
    cpu.segs[SegReg.SS].copyFrom(newSs);
    if (newSs.big) cpu.regs[Reg.ESP] = esp; else cpu.set16(Reg.ESP, esp);
    cpu.loadCsDescriptor(tsel, d, newCpl);
    cpu.eip = eip;
    return;
  }
  const ss = cpu.segs[SegReg.SS];
  const esp = pushFrame(cpu, ss, cpu.stackPointer, [cs.selector, retEip], size, cpu.cpl === 3, -1);
  if (eip > d.limit) cpu.gp(0);
  cpu.setStackPointer(esp);
  cpu.loadCsDescriptor(tsel, d, cpu.cpl);
  cpu.eip = eip;
}

/** Read a stack slot `k` slots of `size` above the current stack pointer (no pop). */
function peek(cpu: Cpu, byteOffset: number, size: number): number {
  const off = cpu.stackOffset(byteOffset);
  return size === 4 ? cpu.read32(SegReg.SS, off) : cpu.read16(SegReg.SS, off);
}

/** After a return to an outer level: data segments the new CPL may not use become null. */
function nullInaccessibleSegments(cpu: Cpu): void {
  // Unrolled: a `for…of` over a literal array allocated the array on every return.
  nullIfInaccessible(cpu, cpu.segs[SegReg.ES]);
  nullIfInaccessible(cpu, cpu.segs[SegReg.DS]);
  nullIfInaccessible(cpu, cpu.segs[SegReg.FS]);
  nullIfInaccessible(cpu, cpu.segs[SegReg.GS]);
}

/** A data or non-conforming code segment more privileged than the new CPL becomes null. */
function nullIfInaccessible(cpu: Cpu, seg: SegmentCache): void {
  const a = seg.access;
  const isData = (a & 0x10) !== 0 && (a & 0x08) === 0;
  const conformingCode = (a & 0x10) !== 0 && (a & 0x0c) === 0x0c;
  if ((isData || !conformingCode) && ((a >>> 5) & 3) < cpu.cpl) seg.loadNull(0);
}

/** Validate a return CS (RET far / IRET to protected mode). */
export function checkReturnCs(cpu: Cpu, sel: number, d: Descriptor): void {
  if ((sel & 0xfffc) === 0) cpu.gp(0);
  cpu.fetchDescriptor(sel, d);
  if (!d.isCode || badLongCode(cpu, d)) cpu.gp(sel & 0xfffc);
  if ((sel & 3) < cpu.cpl) cpu.gp(sel & 0xfffc);
  if ((d.type & 4) !== 0 ? d.dpl > (sel & 3) : d.dpl !== (sel & 3)) cpu.gp(sel & 0xfffc);
  if (!d.present) cpu.raise(Vector.NP, sel & 0xfffc);
}

/** Validate the outer stack for a return to privilege `rpl`. */
function checkReturnSs(cpu: Cpu, sel: number, rpl: number, d: Descriptor): void {
  if ((sel & 0xfffc) === 0) cpu.gp(0);
  cpu.fetchDescriptor(sel, d);
  if ((sel & 3) !== rpl || !d.isData || (d.type & 2) === 0 || d.dpl !== rpl) cpu.gp(sel & 0xfffc);
  if (!d.present) cpu.raise(Vector.SS, sel & 0xfffc);
}

export function farReturn(cpu: Cpu, opsize32: boolean, popBytes: number): void {
  const size = opsize32 ? 4 : 2;
  if (!cpu.protectedMode || cpu.v86) {
    const eip = peek(cpu, 0, size);
    const sel = peek(cpu, size, size) & 0xffff;
    realModeTarget(cpu, sel, eip, opsize32);
    cpu.setStackPointer(cpu.stackOffset(size * 2 + popBytes));
    return;
  }
  const eip = opsize32 ? peek(cpu, 0, 4) >>> 0 : peek(cpu, 0, 2);
  const sel = peek(cpu, size, size) & 0xffff;
  const sc = scratchFor(cpu);
  const d = sc.code;
  checkReturnCs(cpu, sel, d);
  const rpl = sel & 3;
  if (rpl === cpu.cpl) {
    if (eip > d.limit) cpu.gp(0);
    cpu.setStackPointer(cpu.stackOffset(size * 2 + popBytes));
    cpu.loadCsDescriptor(sel, d, rpl);
    cpu.eip = eip;
    return;
  }
  // Return to an outer privilege level: the caller's SS:ESP sit above the parameters.
  const newEsp = peek(cpu, size * 2 + popBytes, size);
  const ssSel = peek(cpu, size * 3 + popBytes, size) & 0xffff;
  const sd = sc.ss;
  checkReturnSs(cpu, ssSel, rpl, sd);
  if (eip > d.limit) cpu.gp(0);
  cpu.loadCsDescriptor(sel, d, rpl);
  cpu.eip = eip;
  cpu.setAccessed(ssSel, sd);
  cpu.segs[SegReg.SS].loadDescriptor(ssSel, sd);
  const esp = (opsize32 ? newEsp : newEsp & 0xffff) + popBytes;
  if (sd.db) cpu.regs[Reg.ESP] = esp; else cpu.set16(Reg.ESP, esp);
  nullInaccessibleSegments(cpu);
}

/** IRET/IRETD (SDM vol. 2 "IRET" operation). */
export function iret(cpu: Cpu, opsize32: boolean): void {
  const size = opsize32 ? 4 : 2;
  if (!cpu.protectedMode) {
    const eip = peek(cpu, 0, size);
    const sel = peek(cpu, size, size) & 0xffff;
    const fl = peek(cpu, size * 2, size);
    realModeTarget(cpu, sel, eip, opsize32);
    cpu.setStackPointer(cpu.stackOffset(size * 3));
    if (opsize32) cpu.setFlagsMasked(fl, 0x257fd5 | 0x2a);
    else cpu.setFlagsMasked(fl, 0xffff);
    return;
  }
  if (cpu.v86) {
    if (cpu.iopl < 3) cpu.gp(0);
    const eip = peek(cpu, 0, size);
    const sel = peek(cpu, size, size) & 0xffff;
    const fl = peek(cpu, size * 2, size);
    realModeTarget(cpu, sel, eip, opsize32);
    cpu.setStackPointer(cpu.stackOffset(size * 3));
    const mask = (opsize32 ? 0xffff_ffff : 0xffff) & ~(F.IOPL | F.VM | F.VIF | F.VIP);
    cpu.setFlagsMasked(fl, mask);
    return;
  }
  if ((cpu.flags & F.NT) !== 0) {
    // Return from a nested task through the TSS back link.
    const link = cpu.readSys16(cpu.tr.base);
    taskSwitch(cpu, link, TaskSource.Iret, 0);
    return;
  }
  const eip = opsize32 ? peek(cpu, 0, 4) >>> 0 : peek(cpu, 0, 2);
  const sel = peek(cpu, size, size) & 0xffff;
  const fl = peek(cpu, size * 2, size);
  if (opsize32 && (fl & F.VM) !== 0 && cpu.cpl === 0) {
    iretToV86(cpu, eip, sel, fl);
    return;
  }
  const sc = scratchFor(cpu);
  const d = sc.code;
  checkReturnCs(cpu, sel, d);
  const rpl = sel & 3;
  const oldCpl = cpu.cpl;
  // Which flags IRET may change (SDM "IRET": IF only if CPL ≤ IOPL; IOPL/VIF/VIP only at CPL 0).
  let mask = F.ARITH | F.TF | F.DF | F.NT | F.RF | F.AC | F.ID;
  if (oldCpl <= cpu.iopl) mask |= F.IF;
  if (oldCpl === 0) mask |= F.IOPL | F.VIF | F.VIP;
  if (!opsize32) mask &= 0xffff;
  if (rpl === oldCpl) {
    if (eip > d.limit) cpu.gp(0);
    cpu.setStackPointer(cpu.stackOffset(size * 3));
    cpu.loadCsDescriptor(sel, d, rpl);
    cpu.eip = eip;
    cpu.setFlagsMasked(fl, mask);
    return;
  }
  const newEsp = peek(cpu, size * 3, size);
  const ssSel = peek(cpu, size * 4, size) & 0xffff;
  const sd = sc.ss;
  checkReturnSs(cpu, ssSel, rpl, sd);
  if (eip > d.limit) cpu.gp(0);
  cpu.loadCsDescriptor(sel, d, rpl);
  cpu.eip = eip;
  cpu.setFlagsMasked(fl, mask);
  cpu.setAccessed(ssSel, sd);
  cpu.segs[SegReg.SS].loadDescriptor(ssSel, sd);
  if (sd.db) cpu.regs[Reg.ESP] = newEsp; else cpu.set16(Reg.ESP, newEsp);
  nullInaccessibleSegments(cpu);
}

/** IRET from CPL 0 with VM set in the popped EFLAGS: enter virtual-8086 mode (SDM "IRET", RETURN-TO-VIRTUAL-8086-MODE). */
function iretToV86(cpu: Cpu, eip: number, cs: number, fl: number): void {
  const esp = peek(cpu, 12, 4);
  const ss = peek(cpu, 16, 4) & 0xffff;
  const es = peek(cpu, 20, 4) & 0xffff;
  const ds = peek(cpu, 24, 4) & 0xffff;
  const fs = peek(cpu, 28, 4) & 0xffff;
  const gs = peek(cpu, 32, 4) & 0xffff;
  cpu.setEflags(fl);
  cpu.cpl = 3;
  cpu.segs[SegReg.CS].loadV86(cs);
  cpu.segs[SegReg.SS].loadV86(ss);
  cpu.segs[SegReg.ES].loadV86(es);
  cpu.segs[SegReg.DS].loadV86(ds);
  cpu.segs[SegReg.FS].loadV86(fs);
  cpu.segs[SegReg.GS].loadV86(gs);
  cpu.regs[Reg.ESP] = esp;
  cpu.eip = eip & 0xffff;
}
