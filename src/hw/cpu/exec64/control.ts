// Branches and the stack in 64-bit mode (Intel SDM vol. 2, the instruction pages; vol. 1
// §6.2–6.4 and §3.4.1.1). Near branches take 64-bit RIPs and must land on a canonical
// address (#GP(0) otherwise, before anything changes). The stack is RSP, 8 bytes a slot
// (2 with 66h); a non-canonical stack address is #SS(0).

import { Reg, type Cpu } from "../cpu.js";
import * as F from "../eflags.js";
import { SegReg } from "../segment.js";
import type { Instr } from "../instr.js";
import { TWO32, readE, readMem, writeMem, getReg, setReg, ea64, linear } from "./operands.js";
import { iret64 } from "../interrupt64.js";
import { scratchFor } from "../interrupt.js";
import { badLongCode, checkReturnCs } from "../transfer.js";
import { Vector } from "../fault.js";
import { Intercept } from "../guest-mode.js";

/** RSP as a number (for the canonical check). */
function rsp(cpu: Cpu): number { return cpu.regsHi[Reg.ESP] * TWO32 + (cpu.regs[Reg.ESP] >>> 0); }
function setRsp(cpu: Cpu, v: number): void {
  cpu.regs[Reg.ESP] = v | 0;
  cpu.regsHi[Reg.ESP] = Math.floor(v / TWO32) | 0;
}
/** The canonical stack address `delta` bytes from RSP, wrapping modulo 2^64 like the hardware. */
function stackAddr(cpu: Cpu, delta: number): number {
  const lo = (cpu.regs[Reg.ESP] >>> 0) + delta;
  const hi = cpu.regsHi[Reg.ESP] + Math.floor(lo / TWO32);
  return linear(cpu, lo >>> 0, hi | 0, SegReg.SS);
}

/** Push (lo, hi) of `size` bytes (8, or 2 with 66h). */
export function push64(cpu: Cpu, lo: number, hi: number, size: number): void {
  const a = stackAddr(cpu, -size);
  writeMem(cpu, SegReg.SS, a, size, lo, hi);
  setRsp(cpu, a);
}
/** Pop `size` bytes: returns the low half, the high half in cpu.hi. */
export function pop64(cpu: Cpu, size: number): number {
  const a = stackAddr(cpu, 0);
  const v = readMem(cpu, SegReg.SS, a, size);
  const h = cpu.hi;
  setRsp(cpu, stackAddr(cpu, size));
  cpu.hi = h;
  return v;
}

/** The stack slot size of a d64 instruction: 8, or 2 with 66h. */
const slot = (i: Instr): number => (i.osz === 2 ? 2 : 8);

function jumpTo(cpu: Cpu, target: number): void {
  cpu.eip = cpu.canonical(target, SegReg.CS);
}
/** The next RIP plus a sign-extended displacement. */
const relTarget = (cpu: Cpu, i: Instr): number => cpu.eip + i.imm;

export function jcc(cpu: Cpu, i: Instr): void {
  if (cpu.condition(i.opcode & 0xf)) jumpTo(cpu, relTarget(cpu, i));
}
export function jmp_J(cpu: Cpu, i: Instr): void { jumpTo(cpu, relTarget(cpu, i)); }
export function call_J(cpu: Cpu, i: Instr): void {
  const t = cpu.canonical(relTarget(cpu, i), SegReg.CS);
  const rip = cpu.eip;
  push64(cpu, rip | 0, Math.floor(rip / TWO32) | 0, 8);
  cpu.eip = t;
}
/** FF /4: JMP r/m64. */
export function jmp_E(cpu: Cpu, i: Instr): void {
  const lo = readE(cpu, i, 8);
  jumpTo(cpu, cpu.hi * TWO32 + (lo >>> 0));
}
/** FF /2: CALL r/m64. */
export function call_E(cpu: Cpu, i: Instr): void {
  const lo = readE(cpu, i, 8);
  const t = cpu.canonical(cpu.hi * TWO32 + (lo >>> 0), SegReg.CS);
  const rip = cpu.eip;
  push64(cpu, rip | 0, Math.floor(rip / TWO32) | 0, 8);
  cpu.eip = t;
}
/** C3, C2 Iw: RET, popping 8 bytes and then Iw more. */
export function ret(cpu: Cpu, i: Instr): void {
  const a = stackAddr(cpu, 0);
  const lo = readMem(cpu, SegReg.SS, a, 8);
  const t = cpu.canonical(cpu.hi * TWO32 + (lo >>> 0), SegReg.CS);
  setRsp(cpu, stackAddr(cpu, 8 + (i.opcode === 0xc2 ? i.imm & 0xffff : 0)));
  cpu.eip = t;
}
/** E0–E2: LOOPNE, LOOPE, LOOP on RCX (ECX with 67h). */
export function loop(cpu: Cpu, i: Instr): void {
  let go: boolean;
  if (i.adsize64) {
    const lo = cpu.regs[Reg.ECX], hi = cpu.regsHi[Reg.ECX];
    const nl = (lo - 1) | 0, nh = (hi - (lo === 0 ? 1 : 0)) | 0;
    cpu.regs[Reg.ECX] = nl; cpu.regsHi[Reg.ECX] = nh;
    go = (nl | nh) !== 0;
  } else {
    const v = (cpu.regs[Reg.ECX] - 1) | 0;
    setReg(cpu, Reg.ECX, 4, v, 0, 0);
    go = v !== 0;
  }
  if (i.opcode === 0xe0) go &&= !cpu.getZF();
  else if (i.opcode === 0xe1) go &&= cpu.getZF();
  if (go) jumpTo(cpu, relTarget(cpu, i));
}
/** E3: JRCXZ (JECXZ with 67h). */
export function jrcxz(cpu: Cpu, i: Instr): void {
  const zero = i.adsize64 ? (cpu.regs[Reg.ECX] | cpu.regsHi[Reg.ECX]) === 0 : cpu.regs[Reg.ECX] === 0;
  if (zero) jumpTo(cpu, relTarget(cpu, i));
}

// ---- Stack ----

export function push_Z(cpu: Cpu, i: Instr): void {
  const n = slot(i);
  const v = getReg(cpu, i.rm, n, 0);
  push64(cpu, v, cpu.hi, n);
}
export function pop_Z(cpu: Cpu, i: Instr): void {
  const n = slot(i);
  const v = pop64(cpu, n);
  setReg(cpu, i.rm, n, v, cpu.hi, 0);
}
/** 68, 6A: PUSH imm, sign-extended to 64 bits. */
export function push_I(cpu: Cpu, i: Instr): void {
  const n = slot(i);
  push64(cpu, n === 2 ? i.imm & 0xffff : i.imm, i.imm >> 31, n);
}
/** FF /6: PUSH r/m64. */
export function push_E(cpu: Cpu, i: Instr): void {
  const n = slot(i);
  const v = readE(cpu, i, n);
  push64(cpu, v, cpu.hi, n);
}
/** 8F /0: POP r/m64; a memory address using RSP is computed after the pop (SDM "POP"). */
export function pop_E(cpu: Cpu, i: Instr): void {
  const n = slot(i);
  const a = stackAddr(cpu, 0);
  const v = readMem(cpu, SegReg.SS, a, n), h = cpu.hi;
  const old = rsp(cpu);
  setRsp(cpu, stackAddr(cpu, n));
  try {
    if (i.hasMem) writeMem(cpu, i.seg, ea64(cpu, i), n, v, h);
    else setReg(cpu, i.rm, n, v, h, i.rex);
  } catch (e) {
    setRsp(cpu, old);
    throw e;
  }
}
/** 0F A0/A8: PUSH FS/GS (the selector, zero-extended to 64 bits). */
export function push_Sreg(cpu: Cpu, i: Instr): void {
  const seg = i.opcode === 0x0fa0 ? SegReg.FS : SegReg.GS;
  push64(cpu, cpu.segs[seg].selector, 0, slot(i));
}
/** 0F A1/A9: POP FS/GS. */
export function pop_Sreg(cpu: Cpu, i: Instr): void {
  const seg = i.opcode === 0x0fa1 ? SegReg.FS : SegReg.GS;
  const n = slot(i);
  const a = stackAddr(cpu, 0);
  const v = readMem(cpu, SegReg.SS, a, n);
  cpu.loadSegment(seg, v & 0xffff);
  setRsp(cpu, stackAddr(cpu, n));
}
/** 9C: PUSHFQ (VM and RF read as 0). */
export function pushf(cpu: Cpu, i: Instr): void {
  if (cpu.strictRefuses()) return;
  cpu.guest?.instruction(Intercept.PUSHF, i);
  push64(cpu, cpu.getEflags() & ~(F.VM | F.RF), 0, slot(i));
}
/** 9D: POPFQ with the POPF rules for IOPL and IF (64-bit mode is never V86). */
export function popf(cpu: Cpu, i: Instr): void {
  if (cpu.strictRefuses()) return;
  cpu.guest?.instruction(Intercept.POPF, i);
  const n = slot(i);
  const v = readMem(cpu, SegReg.SS, stackAddr(cpu, 0), n);
  let mask = F.ARITH | F.TF | F.DF | F.NT | F.AC | F.ID;
  if (cpu.cpl === 0) mask |= F.IOPL | F.IF;
  else if (cpu.cpl <= cpu.iopl) mask |= F.IF;
  if (n === 2) mask &= 0xffff;
  setRsp(cpu, stackAddr(cpu, n));
  cpu.setFlagsMasked(v, mask | F.RF);
  cpu.setFlag(F.RF, false);
}
/** C9: LEAVE: RSP = RBP, then pop RBP. */
export function leave(cpu: Cpu, i: Instr): void {
  const n = slot(i);
  const a = linear(cpu, cpu.regs[Reg.EBP], cpu.regsHi[Reg.EBP], SegReg.SS);
  const v = readMem(cpu, SegReg.SS, a, n), h = cpu.hi;
  setRsp(cpu, a + n);
  setReg(cpu, Reg.EBP, n, v, h, 0);
}
/** C8 Iw, Ib: ENTER with nesting level mod 32, 8-byte slots. */
export function enter(cpu: Cpu, i: Instr): void {
  const n = slot(i);
  const size = i.imm & 0xffff, level = i.imm2 & 31;
  let sp = stackAddr(cpu, -n);
  const rbpLo = cpu.regs[Reg.EBP], rbpHi = cpu.regsHi[Reg.EBP];
  writeMem(cpu, SegReg.SS, sp, n, rbpLo, rbpHi);
  const frame = sp;
  let bp = linear(cpu, rbpLo, rbpHi, SegReg.SS);
  for (let k = 1; k < level; k++) {
    bp -= n; sp -= n;
    const v = readMem(cpu, SegReg.SS, bp, n);
    writeMem(cpu, SegReg.SS, linear(cpu, sp | 0, Math.floor(sp / TWO32) | 0, SegReg.SS), n, v, cpu.hi);
  }
  if (level > 0) { sp -= n; writeMem(cpu, SegReg.SS, sp, n, frame | 0, Math.floor(frame / TWO32) | 0); }
  const end = sp - size;
  linear(cpu, end | 0, Math.floor(end / TWO32) | 0, SegReg.SS);
  setReg(cpu, Reg.EBP, n, frame | 0, Math.floor(frame / TWO32) | 0, 0);
  setRsp(cpu, end);
}

/** CF: IRET / IRETQ in 64-bit mode (interrupt64.ts). */
export function iret(cpu: Cpu, i: Instr): void {
  if (cpu.strictRefuses()) return;
  cpu.guest?.instruction(Intercept.IRET, i);
  iret64(cpu, i.osz === 8 ? 8 : 4);
}

// ---- Far transfers in 64-bit mode (SDM vol. 2 "JMP", "CALL", "RET": far, to code segments) ----

/** Check a far target's code segment for JMP/CALL and load it at the current CPL. */
function loadFarCode(cpu: Cpu, sel: number, lo: number, hi: number): number {
  const d = scratchFor(cpu).code;
  const conforming = (d.type & 4) !== 0;
  if (badLongCode(cpu, d)) cpu.gp(sel & 0xfffc);
  if (conforming ? d.dpl > cpu.cpl : (sel & 3) > cpu.cpl || d.dpl !== cpu.cpl) cpu.gp(sel & 0xfffc);
  if (!d.present) cpu.raise(Vector.NP, sel & 0xfffc);
  const long = (d.hi & 0x0020_0000) !== 0 && !d.db;
  const target = long ? cpu.canonical(hi * TWO32 + (lo >>> 0), SegReg.CS) : lo >>> 0;
  if (!long && target > d.limit) cpu.gp(0);
  cpu.loadCsDescriptor(sel, d, cpu.cpl);
  return target;
}

/** The descriptor a far JMP/CALL names (into the scratch code descriptor); #GP for null. */
function fetchFarTarget(cpu: Cpu, sel: number): void {
  if ((sel & 0xfffc) === 0) cpu.gp(0);
  cpu.fetchDescriptor(sel, scratchFor(cpu).code);
}

/**
 * A far JMP or CALL through a 64-bit call gate (SDM vol. 3 §5.8.3.1: 16-byte gates, type
 * 0Ch, whose second half's type field must be 0; the target must be 64-bit code; CALL to a
 * more privileged level takes RSPn from the TSS and loads SS with a null selector, and
 * pushes the old SS and RSP before CS and RIP, 8 bytes each; no parameters are copied).
 * Task gates do not exist in IA-32e mode: other system descriptors are #GP(selector). Far
 * JMP/CALL in compatibility mode come here too (transfer.ts), with the gate descriptor in the
 * scratch code descriptor as fetchFarTarget leaves it.
 */
export function throughGate(cpu: Cpu, gateSel: number, call: boolean): void {
  const g = scratchFor(cpu).gate;
  g.lo = scratchFor(cpu).code.lo; g.hi = scratchFor(cpu).code.hi;
  const err = gateSel & 0xfffc;
  if (g.s || g.type !== 0xc) cpu.gp(err);
  if (g.dpl < cpu.cpl || g.dpl < (gateSel & 3)) cpu.gp(err);
  if (!g.present) cpu.raise(Vector.NP, err);
  if ((gateSel & 0xfff8) + 15 > (gateSel & 4 ? cpu.ldtr.limit : cpu.gdtrLimit)) cpu.gp(err);
  const at = cpu.descriptorAddress(gateSel);
  const offHi = cpu.readSys32(at + 8), top = cpu.readSys32(at + 12);
  if (((top >>> 8) & 0x1f) !== 0) cpu.gp(err);
  const sel = g.gateSelector;
  if ((sel & 0xfffc) === 0) cpu.gp(0);
  const d = scratchFor(cpu).code;
  cpu.fetchDescriptor(sel, d);
  const long = (d.hi & 0x0020_0000) !== 0 && !d.db;
  const conforming = (d.type & 4) !== 0;
  if (!d.isCode || !long || d.dpl > cpu.cpl || (!call && !conforming && d.dpl !== cpu.cpl)) cpu.gp(sel & 0xfffc);
  if (!d.present) cpu.raise(Vector.NP, sel & 0xfffc);
  const target = cpu.canonical(offHi * TWO32 + (g.gateOffset >>> 0), SegReg.CS);
  const newCpl = conforming ? cpu.cpl : d.dpl;
  if (!call) { cpu.loadCsDescriptor(sel, d, cpu.cpl); cpu.eip = target; return; }
  const rip = cpu.eip, oldCs = cpu.segs[SegReg.CS].selector;
  if (newCpl < cpu.cpl) {
    const off = 4 + newCpl * 8;
    if (off + 7 > cpu.tr.limit) cpu.raise(Vector.TS, cpu.tr.selector & 0xfffc);
    const lo = cpu.readSys32(cpu.tr.base + off), hi = cpu.readSys32(cpu.tr.base + off + 4);
    const rsp = linear(cpu, lo, hi, SegReg.SS);
    const frame = [cpu.segs[SegReg.SS].selector, cpu.regsHi[Reg.ESP] * TWO32 + (cpu.regs[Reg.ESP] >>> 0), oldCs, rip];
    const user = newCpl === 3;
    for (let k = 0; k < frame.length; k++) cpu.translateWrite(rsp - 8 * (k + 1), user);
    for (let k = 0; k < frame.length; k++) {
      cpu.writeLin32(rsp - 8 * (k + 1), frame[k] | 0, user);
      cpu.writeLin32(rsp - 8 * (k + 1) + 4, Math.floor(frame[k] / TWO32) | 0, user);
    }
    setRsp(cpu, rsp - 8 * frame.length);
    cpu.segs[SegReg.SS].loadNull(newCpl);
  } else {
    push64(cpu, oldCs, 0, 8);
    push64(cpu, rip | 0, Math.floor(rip / TWO32) | 0, 8);
  }
  cpu.loadCsDescriptor(sel, d, newCpl);
  cpu.eip = target;
}

/** FF /5: JMP m16:32 (m16:64 with REX.W, m16:16 with 66h), to a code segment or through a call gate. */
export function jmp_far(cpu: Cpu, i: Instr): void {
  const n = i.osz, a = ea64(cpu, i);
  const off = readMem(cpu, i.seg, a, n), offHi = cpu.hi;
  const sel = cpu.read16(i.seg, a + n);
  fetchFarTarget(cpu, sel);
  if (!scratchFor(cpu).code.s) { throughGate(cpu, sel, false); return; }
  if (!scratchFor(cpu).code.isCode) cpu.gp(sel & 0xfffc);
  cpu.eip = loadFarCode(cpu, sel, n === 2 ? off & 0xffff : off, n === 8 ? offHi : 0);
}

/** FF /3: CALL m16:32 (m16:64, m16:16): pushes CS and the return RIP in slots of the operand size, or goes through a call gate. */
export function call_far(cpu: Cpu, i: Instr): void {
  const n = i.osz, a = ea64(cpu, i);
  const off = readMem(cpu, i.seg, a, n), offHi = cpu.hi;
  const sel = cpu.read16(i.seg, a + n);
  fetchFarTarget(cpu, sel);
  if (!scratchFor(cpu).code.s) { throughGate(cpu, sel, true); return; }
  if (!scratchFor(cpu).code.isCode) cpu.gp(sel & 0xfffc);
  const oldCs = cpu.segs[SegReg.CS].selector, rip = cpu.eip;
  const oldRspLo = cpu.regs[Reg.ESP], oldRspHi = cpu.regsHi[Reg.ESP];
  push64(cpu, oldCs, 0, n);
  push64(cpu, rip | 0, n === 8 ? Math.floor(rip / TWO32) | 0 : 0, n);
  try {
    cpu.eip = loadFarCode(cpu, sel, n === 2 ? off & 0xffff : off, n === 8 ? offHi : 0);
  } catch (e) {
    cpu.regs[Reg.ESP] = oldRspLo; cpu.regsHi[Reg.ESP] = oldRspHi;
    throw e;
  }
}

/** CA/CB: RETF (RETFQ with REX.W), to the same or an outer privilege level. */
export function retf(cpu: Cpu, i: Instr): void {
  const n = i.osz;
  const extra = i.opcode === 0xca ? i.imm & 0xffff : 0;
  const lo = readMem(cpu, SegReg.SS, stackAddr(cpu, 0), n), hi = n === 8 ? cpu.hi : 0;
  const sel = readMem(cpu, SegReg.SS, stackAddr(cpu, n), n) & 0xffff;
  const d = scratchFor(cpu).code;
  checkReturnCs(cpu, sel, d);
  const rpl = sel & 3;
  const long = (d.hi & 0x0020_0000) !== 0 && !d.db;
  const target = long ? cpu.canonical(hi * TWO32 + (lo >>> 0), SegReg.CS) : (n === 2 ? lo & 0xffff : lo >>> 0);
  if (!long && target > d.limit) cpu.gp(0);
  if (rpl === cpu.cpl) {
    setRsp(cpu, stackAddr(cpu, 2 * n + extra));
    cpu.loadCsDescriptor(sel, d, rpl);
    cpu.eip = target;
    return;
  }
  // Outer level: the caller's RSP and SS follow the parameters.
  const rspLo = readMem(cpu, SegReg.SS, stackAddr(cpu, 2 * n + extra), n), rspHi = n === 8 ? cpu.hi : 0;
  const ssSel = readMem(cpu, SegReg.SS, stackAddr(cpu, 3 * n + extra), n) & 0xffff;
  const sd = scratchFor(cpu).ss;
  if ((ssSel & 0xfffc) === 0 && (rpl === 3 || !long)) cpu.gp(0);
  if ((ssSel & 0xfffc) !== 0) {
    cpu.fetchDescriptor(ssSel, sd);
    if ((ssSel & 3) !== rpl || !sd.isData || (sd.type & 2) === 0 || sd.dpl !== rpl) cpu.gp(ssSel & 0xfffc);
    if (!sd.present) cpu.raise(Vector.SS, ssSel & 0xfffc);
  }
  cpu.loadCsDescriptor(sel, d, rpl);
  cpu.eip = target;
  if ((ssSel & 0xfffc) === 0) cpu.segs[SegReg.SS].loadNull(ssSel);
  else { cpu.setAccessed(ssSel, sd); cpu.segs[SegReg.SS].loadDescriptor(ssSel, sd); }
  const rsp = rspHi * TWO32 + (rspLo >>> 0) + extra;
  setRsp(cpu, rsp);
}
