// Interrupt and exception delivery in IA-32e mode, and IRET in 64-bit mode (Intel SDM vol. 3
// §6.14 "Exception and Interrupt Handling in 64-bit Mode", §7.7 "Task Management in 64-bit
// Mode"; AMD APM vol. 2 §8.9 "Long-Mode Interrupt Control Transfers").
//
// IDT entries are 16 bytes and only 64-bit interrupt and trap gates exist. The handler's code
// segment must be a 64-bit one. The processor always pushes SS:RSP (8 bytes each, like every
// slot), after aligning RSP down to 16 bytes; it switches stacks from the 64-bit TSS when the
// privilege level changes (RSPn) or when the gate names an IST slot, and a privilege change
// loads SS with a null selector whose RPL is the new CPL. As in legacy delivery, nothing is
// committed until the whole frame is written.

import { Reg, type Cpu } from "./cpu.js";
import * as F from "./eflags.js";
import { Vector } from "./fault.js";
import { SegReg } from "./segment.js";
import { IntKind, scratchFor } from "./interrupt.js";
import { checkReturnCs } from "./transfer.js";

const TWO32 = 0x1_0000_0000;
const GATE_INT64 = 0xe, GATE_TRAP64 = 0xf;

/** A canonical number from two halves, or #GP(0) (a non-canonical handler or stack). */
function canonical(cpu: Cpu, lo: number, hi: number, vector: number, code: number): number {
  if (((hi << 16) >> 16) !== hi) cpu.raise(vector, code);
  return hi * TWO32 + (lo >>> 0);
}

export function deliverLong(cpu: Cpu, vector: number, kind: IntKind, errorCode: number, hasErrorCode: boolean): void {
  const ext = kind === IntKind.Software ? 0 : 1;
  const idtErr = vector * 8 + 2 + ext;
  if (vector * 16 + 15 > cpu.idtrLimit) cpu.gp(idtErr);
  const entry = cpu.idtrBase + vector * 16;
  const w0 = cpu.readSys32(entry), w1 = cpu.readSys32(entry + 4), w2 = cpu.readSys32(entry + 8), w3 = cpu.readSys32(entry + 12);
  const type = (w1 >>> 8) & 0x1f; // S and type: 64-bit gates are system descriptors (S = 0)
  if ((type !== GATE_INT64 && type !== GATE_TRAP64) || ((w3 >>> 8) & 0x1f) !== 0) cpu.gp(idtErr);
  const dpl = (w1 >>> 13) & 3;
  if (kind === IntKind.Software && dpl < cpu.cpl) cpu.gp(vector * 8 + 2);
  if ((w1 & 0x8000) === 0) cpu.raise(Vector.NP, idtErr);
  const sel = w0 >>> 16;
  const ist = w1 & 7;
  const offset = canonical(cpu, (w0 & 0xffff) | (w1 & 0xffff_0000), w2, Vector.GP, ext);

  if ((sel & 0xfffc) === 0) cpu.gp(ext);
  const code = scratchFor(cpu).code;
  if (!cpu.readDescriptor(sel, code)) cpu.gp((sel & 0xfffc) + ext);
  const long = (code.hi & 0x0020_0000) !== 0 && !code.db;
  if (!code.isCode || !long || code.dpl > cpu.cpl) cpu.gp((sel & 0xfffc) + ext);
  if (!code.present) cpu.raise(Vector.NP, (sel & 0xfffc) + ext);
  const newCpl = (code.type & 4) !== 0 ? cpu.cpl : code.dpl;
  const outer = newCpl < cpu.cpl;

  // The new RSP: from the TSS (IST slot, or RSPn on a privilege change), else the current one.
  let rsp: number;
  if (ist !== 0 || outer) {
    const off = ist !== 0 ? 0x24 + (ist - 1) * 8 : 4 + newCpl * 8;
    if (off + 7 > cpu.tr.limit) cpu.raise(Vector.TS, (cpu.tr.selector & 0xfffc) + ext);
    const lo = cpu.readSys32(cpu.tr.base + off), hi = cpu.readSys32(cpu.tr.base + off + 4);
    rsp = canonical(cpu, lo, hi, Vector.SS, ext);
  } else {
    rsp = cpu.regsHi[Reg.ESP] * TWO32 + (cpu.regs[Reg.ESP] >>> 0);
  }
  rsp -= ((rsp % 16) + 16) % 16; // align down to 16

  const oldRsp = cpu.regsHi[Reg.ESP] * TWO32 + (cpu.regs[Reg.ESP] >>> 0);
  const rip = cpu.mode64 ? cpu.eip : cpu.eip >>> 0;
  const frame = [cpu.segs[SegReg.SS].selector, oldRsp, cpu.getEflags(), cpu.segs[SegReg.CS].selector, rip];
  if (hasErrorCode) frame.push(errorCode >>> 0);
  const user = newCpl === 3;
  const top = rsp - frame.length * 8;
  canonical(cpu, top | 0, Math.floor(top / TWO32) | 0, Vector.SS, ext);
  for (let k = 0; k < frame.length; k++) cpu.translateWrite(rsp - 8 * (k + 1), user); // probe
  for (let k = 0; k < frame.length; k++) {
    const a = rsp - 8 * (k + 1), v = frame[k];
    cpu.writeLin32(a, v | 0, user);
    cpu.writeLin32(a + 4, Math.floor(v / TWO32) | 0, user);
  }
  // Commit.
  cpu.regs[Reg.ESP] = top | 0;
  cpu.regsHi[Reg.ESP] = Math.floor(top / TWO32) | 0;
  if (outer) cpu.segs[SegReg.SS].loadNull(newCpl);
  cpu.loadCsDescriptor(sel, code, newCpl);
  cpu.mode64 = true;
  cpu.eip = offset;
  let clear = F.TF | F.NT | F.VM | F.RF;
  if (type === GATE_INT64) clear |= F.IF;
  cpu.setEflags(cpu.getEflags() & ~clear);
  cpu.halted = false;
}

/**
 * IRET in 64-bit mode (IRETQ with REX.W, 8-byte slots; 4-byte slots without): pops RIP, CS,
 * RFLAGS, RSP and SS, always. Returns to 64-bit or compatibility mode at the same or an
 * outer privilege level; NT = 1 is #GP(0) (no task switches in IA-32e mode).
 */
export function iret64(cpu: Cpu, size: number): void {
  if ((cpu.flags & F.NT) !== 0) cpu.gp(0);
  const sp = cpu.regsHi[Reg.ESP] * TWO32 + (cpu.regs[Reg.ESP] >>> 0);
  const user = cpu.cpl === 3;
  const slot = (k: number): [number, number] => {
    const a = canonical(cpu, (sp + k * size) | 0, Math.floor((sp + k * size) / TWO32) | 0, Vector.SS, 0);
    const lo = cpu.readLin32(a, user);
    return [lo, size === 8 ? cpu.readLin32(a + 4, user) : 0];
  };
  const [ripLo, ripHi] = slot(0);
  const sel = slot(1)[0] & 0xffff;
  const fl = slot(2)[0];
  const [rspLo, rspHi] = slot(3);
  const ssSel = slot(4)[0] & 0xffff;
  const sc = scratchFor(cpu);
  const d = sc.code;
  checkReturnCs(cpu, sel, d);
  const rpl = sel & 3;
  const to64 = (d.hi & 0x0020_0000) !== 0 && !d.db;
  const rip = to64 ? canonical(cpu, ripLo, ripHi, Vector.GP, 0) : ripLo >>> 0;
  if (!to64 && (rip > d.limit || ripHi !== 0)) cpu.gp(0);
  // SS: a null selector is allowed when returning to 64-bit mode at CPL < 3.
  const sd = sc.ss;
  if ((ssSel & 0xfffc) === 0) {
    if (!to64 || rpl === 3) cpu.gp(0);
  } else {
    cpu.fetchDescriptor(ssSel, sd);
    if ((ssSel & 3) !== rpl || !sd.isData || (sd.type & 2) === 0 || sd.dpl !== rpl) cpu.gp(ssSel & 0xfffc);
    if (!sd.present) cpu.raise(Vector.SS, ssSel & 0xfffc);
  }
  const oldCpl = cpu.cpl;
  let mask = F.ARITH | F.TF | F.DF | F.NT | F.RF | F.AC | F.ID;
  if (oldCpl <= cpu.iopl) mask |= F.IF;
  if (oldCpl === 0) mask |= F.IOPL | F.VIF | F.VIP;
  // Commit.
  cpu.loadCsDescriptor(sel, d, rpl);
  cpu.eip = rip;
  cpu.setFlagsMasked(fl, mask);
  if ((ssSel & 0xfffc) === 0) cpu.segs[SegReg.SS].loadNull(ssSel);
  else { cpu.setAccessed(ssSel, sd); cpu.segs[SegReg.SS].loadDescriptor(ssSel, sd); }
  cpu.regs[Reg.ESP] = rspLo;
  cpu.regsHi[Reg.ESP] = size === 8 ? rspHi : 0;
  if (rpl > oldCpl) {
    // Data segments the outer level may not use become null (SDM "IRET": RETURN-TO-OUTER-PRIVILEGE-LEVEL).
    for (const s of [SegReg.ES, SegReg.DS, SegReg.FS, SegReg.GS]) {
      const c = cpu.segs[s];
      const conformingCode = (c.access & 0x18) === 0x18 && (c.access & 4) !== 0;
      if (c.dpl < rpl && !conformingCode && (c.selector & 0xfffc) !== 0) c.loadNull(0);
    }
  }
}
