// Interrupt and exception delivery (Intel SDM vol. 3 chapter 6: §6.4 sources, §6.10 the
// IDT, §6.11 IDT descriptors, §6.12 "Exception and Interrupt Handling"; vol. 3 §20.1.4 for
// real mode and §20.3 for virtual-8086 mode).
//
// Real mode vectors through the IVT (4-byte CS:IP entries at IDTR.base). Protected mode
// vectors through an interrupt, trap or task gate, switching stacks from the TSS when the
// handler is more privileged, and from virtual-8086 mode saving the data segments too.
// Every push goes to the new stack before anything is committed, so a fault during
// delivery leaves the interrupted state intact for the double-fault logic in cpu.ts.

import { Reg, type Cpu } from "./cpu.js";
import * as F from "./eflags.js";
import { Vector } from "./fault.js";
import { Descriptor, SegmentCache, SegReg, SysType } from "./segment.js";
import { taskSwitch, TaskSource } from "./task.js";
import { deliverLong } from "./interrupt64.js";

/** What raised the event: decides the gate-DPL check and the EXT bit of error codes. */
export const enum IntKind {
  /** A hardware interrupt (INTR, NMI). */
  External = 0,
  /** INT n, INT3, INTO: checked against the gate's DPL. */
  Software = 1,
  /** A processor exception (and INT1). */
  Exception = 2,
}

/** Per-CPU scratch used while building a frame (no allocation per interrupt). */
export class DeliveryScratch {
  readonly gate = new Descriptor();
  readonly code = new Descriptor();
  readonly ss = new Descriptor();
  readonly newSs = new SegmentCache();
  /**
   * The frame being pushed, its first `n` slots (reused, and never shortened: setting an
   * array's length to 0 gives up its storage, and the next push allocates it again).
   */
  readonly frame: number[] = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  /** stackFromTss's result. */
  tssSs = 0;
  tssEsp = 0;
}

/** The CPU's delivery scratch (a field: a WeakMap look-up cost every interrupt and IRET). */
export function scratchFor(cpu: Cpu): DeliveryScratch {
  return cpu.delivery;
}

export function deliverInterrupt(cpu: Cpu, vector: number, kind: IntKind, errorCode: number, hasErrorCode: boolean): void {
  if (!cpu.protectedMode) { deliverReal(cpu, vector); return; }
  if (cpu.lma) { deliverLong(cpu, vector, kind, errorCode, hasErrorCode); return; }
  deliverProtected(cpu, vector, kind, errorCode, hasErrorCode);
}

/** Real mode: push FLAGS, CS, IP; clear IF, TF, AC; jump through the IVT. */
function deliverReal(cpu: Cpu, vector: number): void {
  if (vector * 4 + 3 > cpu.idtrLimit) cpu.gp(0);
  const entry = cpu.idtrBase + vector * 4;
  const ip = cpu.readSys16(entry), cs = cpu.readSys16(entry + 2);
  const flags = cpu.getEflags();
  cpu.push16(flags);
  cpu.push16(cpu.segs[SegReg.CS].selector);
  cpu.push16(cpu.eip);
  cpu.flags &= ~(F.IF | F.TF | F.AC | F.RF);
  cpu.loadCsReal(cs);
  cpu.eip = ip;
  cpu.halted = false;
}

function deliverProtected(cpu: Cpu, vector: number, kind: IntKind, errorCode: number, hasErrorCode: boolean): void {
  const ext = kind === IntKind.Software ? 0 : 1;
  const idtErr = vector * 8 + 2 + ext; // error code naming the IDT entry (IDT bit set)
  const sc = scratchFor(cpu);

  // INT n in V86 mode with IOPL < 3 faults before looking at the IDT (no VME).
  // (INT3 and INTO are not IOPL-sensitive.)
  if (kind === IntKind.Software && cpu.v86 && cpu.iopl < 3 && vector !== Vector.BP && vector !== Vector.OF) cpu.gp(0);

  if (vector * 8 + 7 > cpu.idtrLimit) cpu.gp(idtErr);
  const gate = sc.gate;
  gate.lo = cpu.readSys32(cpu.idtrBase + vector * 8);
  gate.hi = cpu.readSys32(cpu.idtrBase + vector * 8 + 4);
  const type = gate.type;
  if (gate.s || (type !== SysType.TASK_GATE && type !== SysType.INT_GATE16 && type !== SysType.TRAP_GATE16 &&
      type !== SysType.INT_GATE32 && type !== SysType.TRAP_GATE32)) cpu.gp(idtErr);
  if (kind === IntKind.Software && gate.dpl < cpu.cpl) cpu.gp(vector * 8 + 2);
  if (!gate.present) cpu.raise(Vector.NP, idtErr);

  if (type === SysType.TASK_GATE) {
    taskSwitch(cpu, gate.gateSelector, TaskSource.Interrupt, ext);
    if (hasErrorCode) {
      // The error code goes on the new task's stack, sized by the new TSS type.
      if ((cpu.tr.access & 0x8) !== 0) cpu.push32(errorCode); else cpu.push16(errorCode);
    }
    return;
  }

  const gate32 = type === SysType.INT_GATE32 || type === SysType.TRAP_GATE32;
  const sel = gate.gateSelector;
  let offset = gate.gateOffset;
  if (!gate32) offset &= 0xffff;
  if ((sel & 0xfffc) === 0) cpu.gp(ext);
  const code = sc.code;
  if (!cpu.readDescriptor(sel, code)) cpu.gp((sel & 0xfffc) + ext);
  if (!code.isCode || code.dpl > cpu.cpl) cpu.gp((sel & 0xfffc) + ext);
  if (!code.present) cpu.raise(Vector.NP, (sel & 0xfffc) + ext);

  const conforming = (code.type & 4) !== 0;
  const fromV86 = cpu.v86;
  const oldFlags = cpu.getEflags();
  const oldCs = cpu.segs[SegReg.CS].selector;
  const oldEip = cpu.eip;
  const size = gate32 ? 4 : 2;

  if (!conforming && code.dpl < cpu.cpl) {
    // Inter-privilege: new stack from the TSS.
    if (fromV86 && code.dpl !== 0) cpu.gp((sel & 0xfffc) + ext);
    const newCpl = code.dpl;
    stackFromTss(cpu, newCpl, ext, sc);
    const newEspRaw = sc.tssEsp;
    const newSs = loadStackSegment(cpu, sc.tssSs, newCpl, ext, sc);
    let esp = newSs.big ? newEspRaw >>> 0 : newEspRaw & 0xffff;
    const oldSs = cpu.segs[SegReg.SS].selector;
    const oldEsp = cpu.regs[Reg.ESP];
    const frame = sc.frame;
    let n = 0;
    if (fromV86) {
      frame[0] = cpu.segs[SegReg.GS].selector; frame[1] = cpu.segs[SegReg.FS].selector;
      frame[2] = cpu.segs[SegReg.DS].selector; frame[3] = cpu.segs[SegReg.ES].selector;
      n = 4;
    }
    frame[n] = oldSs; frame[n + 1] = oldEsp; frame[n + 2] = oldFlags; frame[n + 3] = oldCs; frame[n + 4] = oldEip;
    n += 5;
    if (hasErrorCode) frame[n++] = errorCode;
    esp = pushFrame(cpu, newSs, esp, frame, size, newCpl === 3, ext, n);
    if (offset > code.limit) cpu.gp(ext);
    // Commit.
    cpu.segs[SegReg.SS].copyFrom(newSs);
    if (newSs.big) cpu.regs[Reg.ESP] = esp; else cpu.set16(Reg.ESP, esp);
    if (fromV86) {
      for (const s of [SegReg.GS, SegReg.FS, SegReg.DS, SegReg.ES]) cpu.segs[s].loadNull(0);
    }
    cpu.setFlagsMasked(0, F.VM);
    cpu.loadCsDescriptor(sel, code, newCpl);
  } else if (conforming || code.dpl === cpu.cpl) {
    if (fromV86) cpu.gp((sel & 0xfffc) + ext);
    const frame = sc.frame;
    frame[0] = oldFlags; frame[1] = oldCs; frame[2] = oldEip;
    let n = 3;
    if (hasErrorCode) frame[n++] = errorCode;
    const ss = cpu.segs[SegReg.SS];
    const esp = pushFrame(cpu, ss, ss.big ? cpu.regs[Reg.ESP] >>> 0 : cpu.regs[Reg.ESP] & 0xffff, frame, size, cpu.cpl === 3, -1, n);
    if (offset > code.limit) cpu.gp(ext);
    cpu.setStackPointer(esp);
    cpu.loadCsDescriptor(sel, code, cpu.cpl);
  } else {
    cpu.gp((sel & 0xfffc) + ext);
  }
  cpu.eip = offset;
  let clear = F.TF | F.NT | F.VM | F.RF;
  if (type === SysType.INT_GATE16 || type === SysType.INT_GATE32) clear |= F.IF;
  cpu.setEflags(cpu.getEflags() & ~clear);
  cpu.updateCpl();
  cpu.halted = false;
}

/** The stack for privilege level `pl` from the current TSS (SDM vol. 3 §7.2.1, figure 7-2). */
export function stackFromTss(cpu: Cpu, pl: number, ext: number, out: DeliveryScratch): void {
  const tr = cpu.tr;
  const tss32 = (tr.access & 0x8) !== 0;
  if (tss32) {
    const off = 4 + pl * 8;
    if (off + 5 > tr.limit) cpu.raise(Vector.TS, (tr.selector & 0xfffc) + ext);
    out.tssEsp = cpu.readSys32(tr.base + off);
    out.tssSs = cpu.readSys16(tr.base + off + 4);
    return;
  }
  const off = 2 + pl * 4;
  if (off + 3 > tr.limit) cpu.raise(Vector.TS, (tr.selector & 0xfffc) + ext);
  out.tssEsp = cpu.readSys16(tr.base + off);
  out.tssSs = cpu.readSys16(tr.base + off + 2);
}

/** Validate a stack segment taken from the TSS for privilege `pl` (#TS / #SS on failure). */
export function loadStackSegment(cpu: Cpu, sel: number, pl: number, ext: number, sc: DeliveryScratch): SegmentCache {
  if ((sel & 0xfffc) === 0) cpu.raise(Vector.TS, ext);
  const d = sc.ss;
  if (!cpu.readDescriptor(sel, d)) cpu.raise(Vector.TS, (sel & 0xfffc) + ext);
  if ((sel & 3) !== pl || d.dpl !== pl || !d.isData || (d.type & 2) === 0) cpu.raise(Vector.TS, (sel & 0xfffc) + ext);
  if (!d.present) cpu.raise(Vector.SS, (sel & 0xfffc) + ext);
  cpu.setAccessed(sel, d);
  sc.newSs.loadDescriptor(sel, d);
  return sc.newSs;
}

/**
 * Push the first `n` of `values` (first pushed first) onto the stack described by `ss` starting at `esp`,
 * each `size` bytes, after checking the whole frame fits (#SS otherwise). Returns the new
 * stack pointer. `ssErr` is the error code for #SS: -1 for 0 (same stack), else the EXT bit
 * added to the new SS selector.
 */
export function pushFrame(cpu: Cpu, ss: SegmentCache, esp: number, values: number[], size: number, user: boolean, ssErr: number,
  n = values.length): number {
  const big = ss.big;
  const errCode = ssErr < 0 ? 0 : (ss.selector & 0xfffc) + ssErr;
  // The k-th slot (k = 1..n) is at esp - k*size, wrapped to the stack's width. `p` is kept
  // as an int32 (the same bits; compared unsigned): a kernel stack above 2 GiB as a double
  // cost V8 a heap number per slot.
  let p = esp | 0;
  for (let k = 0; k < n; k++) {
    p = big ? (p - size) | 0 : (p - size) & 0xffff;
    const u = p >>> 0;
    if (u < ss.writeLo || u + size - 1 > ss.writeHi) cpu.raise(Vector.SS, errCode);
  }
  // Probe every page before writing anything: each slot's first and last byte, in push
  // order; when the frame, unwrapped, lies in one page (p is now its lowest slot) the first
  // probe is the only one that can fault, with the same CR2.
  const low = (ss.base + p) | 0, high = (ss.base + p + n * size - 1) | 0;
  if ((p >>> 0) + n * size === esp && (low ^ high) >>> 12 === 0) {
    cpu.translateWrite((high - size + 1) | 0, user);
    // The whole frame in one page of RAM the TLB now holds writable (every slot would take
    // writeLin32's fast path, through the same entry): stored at once. A monitor's every
    // exit pushes one.
    const at = size === 4 && !cpu.lma ? cpu.fastWriteAddress(low, user) : -1;
    if (at !== -1 && (at & 3) === 0 && cpu.ram32 !== null) {
      const r = cpu.ram32, w = at >>> 2;
      for (let k = 0; k < n; k++) r[w + n - 1 - k] = values[k] | 0;
      return p >>> 0;
    }
  } else {
    probeEach(cpu, ss, esp, n, size, user);
  }
  p = esp | 0;
  for (let k = 0; k < n; k++) {
    p = big ? (p - size) | 0 : (p - size) & 0xffff;
    const lin = (ss.base + p) | 0;
    if (size === 4) cpu.writeLin32(lin, values[k] | 0, user); else cpu.writeLin16(lin, values[k] & 0xffff, user);
  }
  return p >>> 0;
}

/** pushFrame's probe of each slot's first and last byte (a frame across pages, or wrapping). */
function probeEach(cpu: Cpu, ss: SegmentCache, esp: number, n: number, size: number, user: boolean): void {
  const big = ss.big;
  let p = esp;
  for (let k = 0; k < n; k++) {
    p = big ? (p - size) >>> 0 : (p - size) & 0xffff;
    cpu.translateWrite((ss.base + p) | 0, user);
    cpu.translateWrite((ss.base + p + size - 1) | 0, user);
  }
}
