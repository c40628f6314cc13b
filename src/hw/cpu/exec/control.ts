// Control transfer: JMP, Jcc, CALL, RET, LOOP/LOOPE/LOOPNE, JCXZ/JECXZ, INT n, INT3,
// INTO, INT1, IRET, BOUND (Intel SDM vol. 2, their pages). Far transfers through
// descriptors and gates are in ../transfer.ts.

import { Reg, type Cpu } from "../cpu.js";
import { Vector } from "../fault.js";
import { SegReg } from "../segment.js";
import type { Instr } from "../instr.js";
import { IntKind } from "../interrupt.js";
import { farCall, farJump, farReturn, iret } from "../transfer.js";
import { Intercept } from "../guest-mode.js";

/** Near jump to `target` (already relative-resolved); #GP(0) if beyond the CS limit. */
export function jumpNear(cpu: Cpu, target: number, opsize32: boolean): void {
  target = opsize32 ? target >>> 0 : target & 0xffff;
  if (target > cpu.segs[SegReg.CS].limit) cpu.gp(0);
  cpu.eip = target;
}

export function jmp_J(cpu: Cpu, i: Instr): void { jumpNear(cpu, cpu.eip + i.imm, i.opsize32); }
export function jcc_J(cpu: Cpu, i: Instr): void {
  if (cpu.condition(i.opcode & 0xf)) jumpNear(cpu, cpu.eip + i.imm, i.opsize32);
}
export function jmp_Ev(cpu: Cpu, i: Instr): void {
  jumpNear(cpu, i.opsize32 ? cpu.readE32(i) : cpu.readE16(i), i.opsize32);
}

export function call_J(cpu: Cpu, i: Instr): void {
  const ret = cpu.eip;
  const target = i.opsize32 ? (ret + i.imm) >>> 0 : (ret + i.imm) & 0xffff;
  if (target > cpu.segs[SegReg.CS].limit) cpu.gp(0);
  cpu.push(ret | 0, i.opsize32); // the same 32 bits; an int32 is not boxed on the way to memory
  cpu.eip = target;
}
export function call_Ev(cpu: Cpu, i: Instr): void {
  const target = i.opsize32 ? cpu.readE32(i) >>> 0 : cpu.readE16(i);
  if (target > cpu.segs[SegReg.CS].limit) cpu.gp(0);
  cpu.push(cpu.eip, i.opsize32);
  cpu.eip = target;
}

export function ret(cpu: Cpu, i: Instr): void {
  const sp = cpu.stackPointer;
  const target = i.opsize32 ? cpu.read32(SegReg.SS, sp) >>> 0 : cpu.read16(SegReg.SS, sp);
  if (target > cpu.segs[SegReg.CS].limit) cpu.gp(0);
  const pop = (i.opsize32 ? 4 : 2) + (i.opcode === 0xc2 ? i.imm & 0xffff : 0);
  cpu.setStackPointer(cpu.stackOffset(pop));
  cpu.eip = target;
}

// Far forms.
export function jmp_Ap(cpu: Cpu, i: Instr): void {
  if (cpu.strictRefuses()) return;
  farJump(cpu, i.imm2 & 0xffff, i.imm >>> 0, i.opsize32);
}
/** Read an m16:16/m16:32 far pointer operand: [selector, offset] (offset first in memory). */
function farPointer(cpu: Cpu, i: Instr): [number, number] {
  const a = cpu.ea(i);
  const size = i.opsize32 ? 4 : 2;
  const off = i.opsize32 ? cpu.read32(i.seg, a) >>> 0 : cpu.read16(i.seg, a);
  const sel = cpu.read16(i.seg, i.adsize32 ? (a + size) >>> 0 : (a + size) & 0xffff);
  return [sel, off];
}
export function jmp_Mp(cpu: Cpu, i: Instr): void {
  if (cpu.strictRefuses()) return;
  const [sel, off] = farPointer(cpu, i);
  farJump(cpu, sel, off, i.opsize32);
}
export function call_Ap(cpu: Cpu, i: Instr): void {
  if (cpu.strictRefuses()) return;
  farCall(cpu, i.imm2 & 0xffff, i.imm >>> 0, i.opsize32);
}
export function call_Mp(cpu: Cpu, i: Instr): void {
  if (cpu.strictRefuses()) return;
  const [sel, off] = farPointer(cpu, i);
  farCall(cpu, sel, off, i.opsize32);
}
export function retf(cpu: Cpu, i: Instr): void {
  if (cpu.strictRefuses()) return;
  farReturn(cpu, i.opsize32, i.opcode === 0xca ? i.imm & 0xffff : 0);
}
export function iret_(cpu: Cpu, i: Instr): void {
  if (cpu.strictRefuses()) return;
  cpu.guest?.instruction(Intercept.IRET, i);
  iret(cpu, i.opsize32);
}

export function loop(cpu: Cpu, i: Instr): void {
  let c: number;
  if (i.adsize32) { c = (cpu.regs[Reg.ECX] - 1) | 0; cpu.regs[Reg.ECX] = c; }
  else { c = (cpu.regs[Reg.ECX] - 1) & 0xffff; cpu.set16(Reg.ECX, c); }
  let take = c !== 0;
  if (i.opcode === 0xe1) take = take && cpu.getZF();
  else if (i.opcode === 0xe0) take = take && !cpu.getZF();
  if (take) jumpNear(cpu, cpu.eip + i.imm, i.opsize32);
}
export function jcxz(cpu: Cpu, i: Instr): void {
  const c = i.adsize32 ? cpu.regs[Reg.ECX] : cpu.regs[Reg.ECX] & 0xffff;
  if (c === 0) jumpNear(cpu, cpu.eip + i.imm, i.opsize32);
}

// Software interrupts. INT n, INT3 and INTO are checked against the gate DPL; INT1 (F1,
// ICEBP) is delivered like a hardware #DB without that check.
export function int_Ib(cpu: Cpu, i: Instr): void {
  if (cpu.strictRefuses()) return;
  cpu.guest?.instruction(Intercept.INTN, i);
  cpu.deliver(i.imm & 0xff, IntKind.Software, 0, false);
}
export function int3(cpu: Cpu, _i: Instr): void {
  if (cpu.strictRefuses()) return;
  // INT3 and INTO raise exceptions: the exception intercepts apply, with rIP after them.
  if (cpu.guest !== null && cpu.guest.exception(Vector.BP, 0, false, 0)) return;
  cpu.deliver(Vector.BP, IntKind.Software, 0, false);
}
export function into(cpu: Cpu, _i: Instr): void {
  if (cpu.getOF()) {
    if (cpu.strictRefuses()) return;
    if (cpu.guest !== null && cpu.guest.exception(Vector.OF, 0, false, 0)) return;
    cpu.deliver(Vector.OF, IntKind.Software, 0, false);
  }
}
export function int1(cpu: Cpu, i: Instr): void {
  cpu.guest?.instruction(Intercept.ICEBP, i);
  cpu.deliver(Vector.DB, IntKind.Exception, 0, false);
}

/** BOUND Gv,Ma: #BR if the signed index is outside [lower, upper]. */
export function bound(cpu: Cpu, i: Instr): void {
  const a = cpu.ea(i);
  if (i.opsize32) {
    const lo = cpu.read32(i.seg, a) | 0;
    const hi = cpu.read32(i.seg, i.adsize32 ? (a + 4) >>> 0 : (a + 4) & 0xffff) | 0;
    const v = cpu.regs[i.reg] | 0;
    if (v < lo || v > hi) cpu.raiseNoCode(Vector.BR);
  } else {
    const lo = (cpu.read16(i.seg, a) << 16) >> 16;
    const hi = (cpu.read16(i.seg, i.adsize32 ? (a + 2) >>> 0 : (a + 2) & 0xffff) << 16) >> 16;
    const v = (cpu.regs[i.reg] << 16) >> 16;
    if (v < lo || v > hi) cpu.raiseNoCode(Vector.BR);
  }
}
