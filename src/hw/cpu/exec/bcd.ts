// Decimal adjust instructions: DAA DAS AAA AAS AAM AAD (Intel SDM vol. 2, their pages).

import { Reg, type Cpu } from "../cpu.js";
import { Vector } from "../fault.js";
import type { Instr } from "../instr.js";

export function daa(cpu: Cpu, _i: Instr): void {
  const oldAl = cpu.regs[Reg.EAX] & 0xff;
  const oldCf = cpu.getCF();
  let al = oldAl, cf = false, af = false;
  if ((al & 0xf) > 9 || cpu.getAF()) { al += 6; cf = oldCf || al > 0xff; af = true; }
  if (oldAl > 0x99 || oldCf) { al += 0x60; cf = true; }
  al &= 0xff;
  cpu.set8(Reg.EAX, al);
  // OF is undefined; P6 sets it as for an addition of the adjustment.
  cpu.setArith(cf, ((oldAl ^ al) & (al ^ (al - oldAl)) & 0x80) !== 0 && false, af, al, 1);
}

export function das(cpu: Cpu, _i: Instr): void {
  const oldAl = cpu.regs[Reg.EAX] & 0xff;
  const oldCf = cpu.getCF();
  let al = oldAl, cf = false, af = false;
  if ((al & 0xf) > 9 || cpu.getAF()) { cf = oldCf || al < 6; al = (al - 6) & 0xff; af = true; }
  if (oldAl > 0x99 || oldCf) { al = (al - 0x60) & 0xff; cf = true; }
  cpu.set8(Reg.EAX, al);
  cpu.setArith(cf, false, af, al, 1);
}

export function aaa(cpu: Cpu, _i: Instr): void {
  let ax = cpu.regs[Reg.EAX] & 0xffff;
  let adj = false;
  if ((ax & 0xf) > 9 || cpu.getAF()) { ax = (ax + 0x106) & 0xffff; adj = true; }
  ax &= 0xff0f;
  cpu.set16(Reg.EAX, ax);
  cpu.setArith(adj, false, adj, ax & 0xff, 1);
}

export function aas(cpu: Cpu, _i: Instr): void {
  let ax = cpu.regs[Reg.EAX] & 0xffff;
  let adj = false;
  if ((ax & 0xf) > 9 || cpu.getAF()) {
    // SDM "AAS": AX ← AX − 6 (a borrow reaches AH), then AH ← AH − 1.
    ax = (ax - 6) & 0xffff;
    ax = (ax - 0x100) & 0xffff;
    adj = true;
  }
  ax &= 0xff0f;
  cpu.set16(Reg.EAX, ax);
  cpu.setArith(adj, false, adj, ax & 0xff, 1);
}

export function aam(cpu: Cpu, i: Instr): void {
  const base = i.imm & 0xff;
  if (base === 0) cpu.raiseNoCode(Vector.DE);
  const al = cpu.regs[Reg.EAX] & 0xff;
  const r = al % base;
  cpu.set16(Reg.EAX, (Math.floor(al / base) << 8) | r);
  cpu.setArith(false, false, false, r, 1);
}

export function aad(cpu: Cpu, i: Instr): void {
  const ax = cpu.regs[Reg.EAX];
  const al = ((ax & 0xff) + ((ax >>> 8) & 0xff) * (i.imm & 0xff)) & 0xff;
  cpu.set16(Reg.EAX, al);
  cpu.setArith(false, false, false, al, 1);
}

/** SALC (D6, undocumented): AL = CF ? 0xFF : 0. Present on every Intel x86. */
export function salc(cpu: Cpu, _i: Instr): void {
  cpu.set8(Reg.EAX, cpu.getCF() ? 0xff : 0);
}


