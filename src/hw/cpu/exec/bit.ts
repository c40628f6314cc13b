// Bit instructions: BT BTS BTR BTC, BSF BSR, SETcc, CMOVcc, BSWAP
// (Intel SDM vol. 2, their pages).

import type { Cpu } from "../cpu.js";
import * as F from "../eflags.js";
import type { Instr } from "../instr.js";

/** 0=BT 1=BTS 2=BTR 3=BTC. Returns the new value; sets CF to the old bit. */
function bitOp(cpu: Cpu, kind: number, v: number, bit: number): number {
  const m = 1 << bit;
  cpu.setFlag(F.CF, (v & m) !== 0);
  switch (kind) {
    case 1: return v | m;
    case 2: return v & ~m;
    case 3: return v ^ m;
    default: return v;
  }
}

function kindOf(i: Instr): number {
  // 0F A3 BT, AB BTS, B3 BTR, BB BTC; 0F BA /4../7.
  if (i.opcode === 0x0fba) return i.reg - 4;
  return ((i.opcode & 0xff) >> 3) & 3;
}

/** BT* Ev,Gv: with a memory operand the bit offset is signed and may leave the operand. */
export function bt_Ev_Gv(cpu: Cpu, i: Instr): void {
  const kind = kindOf(i);
  if (i.opsize32) {
    const off = cpu.regs[i.reg];
    if (!i.hasMem) {
      const r = bitOp(cpu, kind, cpu.regs[i.rm], off & 31);
      if (kind) cpu.regs[i.rm] = r;
      return;
    }
    const a = adjust(cpu.ea(i) + (off >> 5) * 4, i);
    if (kind) { cpu.checkWrite(i.seg, a, 4); cpu.write32(i.seg, a, bitOp(cpu, kind, cpu.read32(i.seg, a), off & 31)); }
    else bitOp(cpu, 0, cpu.read32(i.seg, a), off & 31);
  } else {
    const off = (cpu.regs[i.reg] << 16) >> 16;
    if (!i.hasMem) {
      const r = bitOp(cpu, kind, cpu.get16(i.rm), off & 15);
      if (kind) cpu.set16(i.rm, r);
      return;
    }
    const a = adjust(cpu.ea(i) + (off >> 4) * 2, i);
    if (kind) { cpu.checkWrite(i.seg, a, 2); cpu.write16(i.seg, a, bitOp(cpu, kind, cpu.read16(i.seg, a), off & 15)); }
    else bitOp(cpu, 0, cpu.read16(i.seg, a), off & 15);
  }
}

function adjust(a: number, i: Instr): number { return i.adsize32 ? a >>> 0 : a & 0xffff; }

export function bt_Ev_Ib(cpu: Cpu, i: Instr): void {
  const kind = kindOf(i);
  if (i.opsize32) {
    const v = kind ? cpu.readRmw32(i) : cpu.readE32(i);
    const r = bitOp(cpu, kind, v, i.imm & 31);
    if (kind) cpu.writeE32(i, r);
  } else {
    const v = kind ? cpu.readRmw16(i) : cpu.readE16(i);
    const r = bitOp(cpu, kind, v, i.imm & 15);
    if (kind) cpu.writeE16(i, r);
  }
}

/** BSF/BSR: ZF=1 and destination unchanged if the source is zero. */
export function bsf_Gv_Ev(cpu: Cpu, i: Instr): void {
  const v = i.opsize32 ? cpu.readE32(i) : cpu.readE16(i);
  bitScan(cpu, i, v, (v & -v) === 0 ? 0 : 31 - Math.clz32(v & -v));
}
export function bsr_Gv_Ev(cpu: Cpu, i: Instr): void {
  const v = i.opsize32 ? cpu.readE32(i) : cpu.readE16(i);
  bitScan(cpu, i, v, 31 - Math.clz32(v));
}
function bitScan(cpu: Cpu, i: Instr, v: number, index: number): void {
  if (v === 0) {
    cpu.setArith(false, false, false, 0, 4); // ZF=1; the rest undefined
    return;
  }
  if (i.opsize32) cpu.regs[i.reg] = index; else cpu.set16(i.reg, index);
  cpu.setArith(false, false, false, 1, 4); // ZF=0
}

/** The number of set bits of a 32-bit value. */
export function popcount32(x: number): number {
  x -= (x >>> 1) & 0x5555_5555;
  x = (x & 0x3333_3333) + ((x >>> 2) & 0x3333_3333);
  return Math.imul((x + (x >>> 4)) & 0x0f0f_0f0f, 0x0101_0101) >>> 24;
}

/** F3 0F B8: POPCNT (features.popcnt): ZF if the source is 0, the other five flags cleared. */
export function popcnt_Gv_Ev(cpu: Cpu, i: Instr): void {
  if (!cpu.features.popcnt) cpu.ud();
  const c = popcount32(i.opsize32 ? cpu.readE32(i) : cpu.readE16(i));
  if (i.opsize32) cpu.regs[i.reg] = c; else cpu.set16(i.reg, c);
  cpu.setFlagsMasked(c === 0 ? F.ZF : 0, F.ARITH);
}

export function setcc_Eb(cpu: Cpu, i: Instr): void {
  cpu.writeE8(i, cpu.condition(i.opcode & 0xf) ? 1 : 0);
}

/** CMOVcc: the source is read (and may fault) whether or not the move happens. */
export function cmovcc_Gv_Ev(cpu: Cpu, i: Instr): void {
  if (i.opsize32) {
    const v = cpu.readE32(i);
    if (cpu.condition(i.opcode & 0xf)) cpu.regs[i.reg] = v;
  } else {
    const v = cpu.readE16(i);
    if (cpu.condition(i.opcode & 0xf)) cpu.set16(i.reg, v);
  }
}

export function bswap_Zd(cpu: Cpu, i: Instr): void {
  const r = i.opcode & 7;
  const v = cpu.regs[r];
  if (!i.opsize32) { cpu.set16(r, 0); return; } // undefined; P6 clears the low word
  cpu.regs[r] = ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | ((v >>> 24) & 0xff);
}
