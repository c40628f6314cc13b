// Stack instructions: PUSH POP (registers, memory, immediates, segment registers), PUSHA
// POPA, PUSHF POPF, ENTER LEAVE (Intel SDM vol. 2, their pages; vol. 1 §6.2–6.5).

import { Reg, type Cpu } from "../cpu.js";
import * as F from "../eflags.js";
import { SegReg } from "../segment.js";
import type { Instr } from "../instr.js";
import { Intercept } from "../guest-mode.js";

export function push_Zv(cpu: Cpu, i: Instr): void {
  const v = cpu.regs[i.opcode & 7]; // PUSH ESP pushes the value before the push
  cpu.push(v, i.opsize32);
}
export function pop_Zv(cpu: Cpu, i: Instr): void {
  const v = cpu.pop(i.opsize32);
  if (i.opsize32) cpu.regs[i.opcode & 7] = v; else cpu.set16(i.opcode & 7, v);
}
export function push_I(cpu: Cpu, i: Instr): void { cpu.push(i.imm, i.opsize32); }
export function push_Ev(cpu: Cpu, i: Instr): void { cpu.push(i.opsize32 ? cpu.readE32(i) : cpu.readE16(i), i.opsize32); }

/** POP Ev: ESP is incremented before the destination address is computed (SDM "POP"). */
export function pop_Ev(cpu: Cpu, i: Instr): void {
  const size = i.opsize32 ? 4 : 2;
  const sp = cpu.stackPointer;
  const v = i.opsize32 ? cpu.read32(SegReg.SS, sp) : cpu.read16(SegReg.SS, sp);
  if (!i.hasMem) {
    cpu.setStackPointer(cpu.stackOffset(size));
    if (i.opsize32) cpu.regs[i.rm] = v; else cpu.set16(i.rm, v);
    return;
  }
  const oldEsp = cpu.regs[Reg.ESP];
  cpu.setStackPointer(cpu.stackOffset(size));
  try {
    if (i.opsize32) cpu.write32(i.seg, cpu.ea(i), v); else cpu.write16(i.seg, cpu.ea(i), v);
  } catch (e) {
    cpu.regs[Reg.ESP] = oldEsp;
    throw e;
  }
}

/**
 * PUSH Sreg: with a 32-bit operand size the P6 family decrements ESP by 4 and writes only
 * the low 16 bits (SDM vol. 2 "PUSH", operation notes).
 */
export function push_Sw(cpu: Cpu, i: Instr): void {
  if (cpu.strictRefuses()) return;
  const sel = cpu.segs[segOfPushPop(i.opcode)].selector;
  if (i.opsize32) {
    const sp = cpu.stackOffset(-4);
    cpu.write16(SegReg.SS, sp, sel);
    cpu.checkWrite(SegReg.SS, sp, 4);
    cpu.setStackPointer(sp);
  } else {
    cpu.push16(sel);
  }
}
export function pop_Sw(cpu: Cpu, i: Instr): void {
  if (cpu.strictRefuses()) return;
  const seg = segOfPushPop(i.opcode);
  const sel = cpu.read16(SegReg.SS, cpu.stackPointer);
  // The stack-address size is the old SS's: compute the new pointer before loading SS.
  const big = cpu.segs[SegReg.SS].big;
  const sp = cpu.stackOffset(i.opsize32 ? 4 : 2);
  cpu.loadSegment(seg, sel);
  if (big) cpu.regs[4] = sp; else cpu.set16(4, sp);
  if (seg === SegReg.SS) cpu.inhibitIrq = true;
}
/** The segment register PUSH Sreg or POP Sreg names, by its opcode. */
export function segOfPushPop(op: number): number {
  switch (op) {
    case 0x06: case 0x07: return SegReg.ES;
    case 0x0e: return SegReg.CS;
    case 0x16: case 0x17: return SegReg.SS;
    case 0x1e: case 0x1f: return SegReg.DS;
    case 0x0fa0: case 0x0fa1: return SegReg.FS;
    default: return SegReg.GS;
  }
}

export function pusha(cpu: Cpu, i: Instr): void {
  const size = i.opsize32 ? 4 : 2;
  const start = cpu.stackOffset(-8 * size);
  cpu.checkWrite(SegReg.SS, start, 8 * size);
  const esp = cpu.regs[Reg.ESP];
  for (let r = 0; r < 8; r++) cpu.push(r === Reg.ESP ? esp : cpu.regs[r], i.opsize32);
}
export function popa(cpu: Cpu, i: Instr): void {
  const size = i.opsize32 ? 4 : 2;
  // Read everything first so a fault leaves the registers unchanged.
  const vals: number[] = [];
  for (let k = 0; k < 8; k++) {
    const off = cpu.stackOffset(k * size);
    vals.push(i.opsize32 ? cpu.read32(SegReg.SS, off) : cpu.read16(SegReg.SS, off));
  }
  for (let k = 0; k < 8; k++) {
    const r = 7 - k;
    if (r === Reg.ESP) continue;
    if (i.opsize32) cpu.regs[r] = vals[k]; else cpu.set16(r, vals[k]);
  }
  cpu.setStackPointer(cpu.stackOffset(8 * size));
}

/** PUSHF: VM and RF are pushed as 0 (SDM "PUSHF"). V86 with IOPL < 3 faults. */
export function pushf(cpu: Cpu, i: Instr): void {
  if (cpu.v86 && cpu.iopl < 3) return cpu.signalGp();
  if (cpu.strictRefuses()) return;
  cpu.guest?.instruction(Intercept.PUSHF, i);
  const f = cpu.getEflags() & ~(F.VM | F.RF);
  cpu.push(f, i.opsize32);
}

/**
 * POPF: which flags change depends on the mode, CPL and IOPL (SDM "POPF" operation):
 * at CPL > 0 IOPL is kept; at CPL > IOPL, IF is kept — silently, without a fault.
 * VM, VIF, VIP are never changed; RF is cleared.
 */
export function popf(cpu: Cpu, i: Instr): void {
  if (cpu.v86 && cpu.iopl < 3) return cpu.signalGp();
  if (cpu.strictRefuses()) return;
  cpu.guest?.instruction(Intercept.POPF, i);
  const v = i.opsize32 ? cpu.read32(SegReg.SS, cpu.stackPointer) : cpu.read16(SegReg.SS, cpu.stackPointer);
  let mask = F.ARITH | F.TF | F.DF | F.NT | F.AC | F.ID;
  if (!cpu.protectedMode || cpu.cpl === 0) mask |= F.IOPL | F.IF;
  else if (cpu.cpl <= cpu.iopl) mask |= F.IF;
  if (cpu.v86) mask &= ~F.IOPL;
  if (!i.opsize32) mask &= 0xffff;
  cpu.setStackPointer(cpu.stackOffset(i.opsize32 ? 4 : 2));
  cpu.setFlagsMasked(v, mask | F.RF);
  cpu.setFlag(F.RF, false);
}

/**
 * ENTER Iw,Ib (SDM "ENTER", nesting level mod 32). EBP is pushed first, then level − 1
 * frame pointers are copied from the old frame (the copies are read after the push:
 * difftest finding, `enter 4,4` with overlapping slots), then the new frame pointer.
 * ESP and EBP change only once everything has been written.
 */
export function enter(cpu: Cpu, i: Instr): void {
  const size = i.opsize32 ? 4 : 2;
  const frameSize = i.imm & 0xffff;
  const level = i.imm2 & 31;
  const big = cpu.segs[SegReg.SS].big;
  const wrap = (v: number): number => (big ? v >>> 0 : v & 0xffff);
  const ebp = cpu.regs[Reg.EBP];
  let sp = cpu.stackOffset(-size);
  // The whole new frame must be writable before anything changes.
  cpu.checkWrite(SegReg.SS, sp, size);
  const bottom = wrap(cpu.regs[Reg.ESP] - size * (1 + level) - frameSize);
  cpu.checkWrite(SegReg.SS, bottom, 1);
  const push = (v: number): void => {
    if (i.opsize32) cpu.write32(SegReg.SS, sp, v); else cpu.write16(SegReg.SS, sp, v);
  };
  push(ebp);
  // FrameTemp is the whole ESP register after the push; with a 16-bit stack its upper half
  // is kept (test386 test 0x1A pins this).
  const frameTemp = big ? sp : ((cpu.regs[Reg.ESP] & ~0xffff) | sp) >>> 0;
  let bp = big ? ebp >>> 0 : ebp & 0xffff;
  for (let k = 1; k < level; k++) {
    bp = wrap(bp - size);
    const t = i.opsize32 ? cpu.read32(SegReg.SS, bp) : cpu.read16(SegReg.SS, bp);
    sp = wrap(sp - size);
    push(t);
  }
  if (level > 0) {
    sp = wrap(sp - size);
    push(frameTemp);
  }
  if (i.opsize32) cpu.regs[Reg.EBP] = frameTemp; else cpu.set16(Reg.EBP, frameTemp);
  cpu.setStackPointer(wrap(sp - frameSize));
}

/** LEAVE: ESP ← EBP, then pop EBP. */
export function leave(cpu: Cpu, i: Instr): void {
  const big = cpu.segs[SegReg.SS].big;
  const bp = big ? cpu.regs[Reg.EBP] >>> 0 : cpu.regs[Reg.EBP] & 0xffff;
  const v = i.opsize32 ? cpu.read32(SegReg.SS, bp) : cpu.read16(SegReg.SS, bp);
  cpu.setStackPointer(big ? bp + (i.opsize32 ? 4 : 2) : (bp + (i.opsize32 ? 4 : 2)) & 0xffff);
  if (i.opsize32) cpu.regs[Reg.EBP] = v; else cpu.set16(Reg.EBP, v);
}

