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
  cpu.strictSensitive();
  push64(cpu, cpu.getEflags() & ~(F.VM | F.RF), 0, slot(i));
}
/** 9D: POPFQ with the POPF rules for IOPL and IF (64-bit mode is never V86). */
export function popf(cpu: Cpu, i: Instr): void {
  cpu.strictSensitive();
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
  cpu.strictSensitive();
  iret64(cpu, i.osz === 8 ? 8 : 4);
}
