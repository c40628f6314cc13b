// Data movement: MOV (all forms), MOVZX, MOVSX, XCHG, XADD, CMPXCHG, CMPXCHG8B, LEA,
// CBW/CWDE, CWD/CDQ, LAHF, SAHF, XLAT, LDS/LES/LFS/LGS/LSS (Intel SDM vol. 2).

import { Reg, type Cpu } from "../cpu.js";
import * as F from "../eflags.js";
import { SegReg } from "../segment.js";
import type { Instr } from "../instr.js";
import { alu } from "./alu.js";

export function mov_Eb_Gb(cpu: Cpu, i: Instr): void { cpu.writeE8(i, cpu.get8(i.reg)); }
export function mov_Ev_Gv(cpu: Cpu, i: Instr): void {
  if (i.opsize32) cpu.writeE32(i, cpu.regs[i.reg]); else cpu.writeE16(i, cpu.regs[i.reg]);
}
export function mov_Gb_Eb(cpu: Cpu, i: Instr): void { cpu.set8(i.reg, cpu.readE8(i)); }
export function mov_Gv_Ev(cpu: Cpu, i: Instr): void {
  if (i.opsize32) cpu.regs[i.reg] = cpu.readE32(i); else cpu.set16(i.reg, cpu.readE16(i));
}
export function mov_Eb_Ib(cpu: Cpu, i: Instr): void { cpu.writeE8(i, i.imm); }
export function mov_Ev_Iz(cpu: Cpu, i: Instr): void {
  if (i.opsize32) cpu.writeE32(i, i.imm); else cpu.writeE16(i, i.imm);
}
export function mov_Zb_Ib(cpu: Cpu, i: Instr): void { cpu.set8(i.opcode & 7, i.imm); }
export function mov_Zv_Iv(cpu: Cpu, i: Instr): void {
  if (i.opsize32) cpu.regs[i.opcode & 7] = i.imm; else cpu.set16(i.opcode & 7, i.imm);
}
// A0–A3: moffs forms (the decoder put the offset in disp, no base or index).
export function mov_AL_Ob(cpu: Cpu, i: Instr): void { cpu.set8(Reg.EAX, cpu.read8(i.seg, cpu.ea(i))); }
export function mov_eAX_Ov(cpu: Cpu, i: Instr): void {
  if (i.opsize32) cpu.regs[Reg.EAX] = cpu.read32(i.seg, cpu.ea(i)); else cpu.set16(Reg.EAX, cpu.read16(i.seg, cpu.ea(i)));
}
export function mov_Ob_AL(cpu: Cpu, i: Instr): void { cpu.write8(i.seg, cpu.ea(i), cpu.regs[Reg.EAX]); }
export function mov_Ov_eAX(cpu: Cpu, i: Instr): void {
  if (i.opsize32) cpu.write32(i.seg, cpu.ea(i), cpu.regs[Reg.EAX]); else cpu.write16(i.seg, cpu.ea(i), cpu.regs[Reg.EAX]);
}

/** MOV Ev,Sw: a register destination with 32-bit operand size is zero-extended (P6 and later). */
export function mov_Ev_Sw(cpu: Cpu, i: Instr): void {
  if (i.reg > 5) cpu.ud();
  if (cpu.strictRefuses()) return;
  const v = cpu.segs[i.reg].selector;
  if (i.hasMem) cpu.write16(i.seg, cpu.ea(i), v);
  else if (i.opsize32) cpu.regs[i.rm] = v;
  else cpu.set16(i.rm, v);
}
/** MOV Sw,Ew: loading CS is undefined (#UD); loading SS inhibits interrupts for one instruction. */
export function mov_Sw_Ew(cpu: Cpu, i: Instr): void {
  if (i.reg > 5 || i.reg === SegReg.CS) cpu.ud();
  if (cpu.strictRefuses()) return;
  const v = cpu.readE16(i);
  cpu.loadSegment(i.reg, v);
  if (i.reg === SegReg.SS) cpu.inhibitIrq = true;
}

export function movzx_Gv_Eb(cpu: Cpu, i: Instr): void {
  const v = cpu.readE8(i);
  if (i.opsize32) cpu.regs[i.reg] = v; else cpu.set16(i.reg, v);
}
export function movzx_Gv_Ew(cpu: Cpu, i: Instr): void {
  const v = cpu.readE16(i);
  if (i.opsize32) cpu.regs[i.reg] = v; else cpu.set16(i.reg, v);
}
/** MOVSX's sign extension of a byte and of a word (also the block compiler's, jit/lower.ts). */
export function sx8(v: number): number { return (v << 24) >> 24; }
export function sx16(v: number): number { return (v << 16) >> 16; }
export function movsx_Gv_Eb(cpu: Cpu, i: Instr): void {
  const v = sx8(cpu.readE8(i));
  if (i.opsize32) cpu.regs[i.reg] = v; else cpu.set16(i.reg, v);
}
export function movsx_Gv_Ew(cpu: Cpu, i: Instr): void {
  const v = sx16(cpu.readE16(i));
  if (i.opsize32) cpu.regs[i.reg] = v; else cpu.set16(i.reg, v);
}

export function xchg_Eb_Gb(cpu: Cpu, i: Instr): void {
  const a = cpu.readRmw8(i);
  cpu.writeE8(i, cpu.get8(i.reg));
  cpu.set8(i.reg, a);
}
export function xchg_Ev_Gv(cpu: Cpu, i: Instr): void {
  if (i.opsize32) {
    const a = cpu.readRmw32(i);
    cpu.writeE32(i, cpu.regs[i.reg]);
    cpu.regs[i.reg] = a;
  } else {
    const a = cpu.readRmw16(i);
    cpu.writeE16(i, cpu.regs[i.reg]);
    cpu.set16(i.reg, a);
  }
}
/** 90+r: XCHG eAX, reg (90 itself is NOP). */
export function xchg_eAX_Zv(cpu: Cpu, i: Instr): void {
  const r = i.opcode & 7;
  if (i.opsize32) { const t = cpu.regs[r]; cpu.regs[r] = cpu.regs[Reg.EAX]; cpu.regs[Reg.EAX] = t; }
  else { const t = cpu.get16(r); cpu.set16(r, cpu.regs[Reg.EAX]); cpu.set16(Reg.EAX, t); }
}
export function nop(_cpu: Cpu, _i: Instr): void {}

// XADD: the destination is written before the source register, because the register may
// be part of the destination's address (difftest finding: xadd [eax],eax).
export function xadd_Eb_Gb(cpu: Cpu, i: Instr): void {
  const d = cpu.readRmw8(i), s = cpu.get8(i.reg);
  const r = alu(cpu, 0, d, s, 1);
  cpu.writeE8(i, r);
  if (i.hasMem || i.rm !== i.reg) cpu.set8(i.reg, d);
}
export function xadd_Ev_Gv(cpu: Cpu, i: Instr): void {
  if (i.opsize32) {
    const d = cpu.readRmw32(i) >>> 0, s = cpu.regs[i.reg] >>> 0;
    const r = alu(cpu, 0, d, s, 4);
    cpu.writeE32(i, r);
    if (i.hasMem || i.rm !== i.reg) cpu.regs[i.reg] = d;
  } else {
    const d = cpu.readRmw16(i), s = cpu.get16(i.reg);
    const r = alu(cpu, 0, d, s, 2);
    cpu.writeE16(i, r);
    if (i.hasMem || i.rm !== i.reg) cpu.set16(i.reg, d);
  }
}

/** CMPXCHG: the destination is always written (with its old value on mismatch), as on P6. */
export function cmpxchg_Eb_Gb(cpu: Cpu, i: Instr): void {
  const d = cpu.readRmw8(i);
  const acc = cpu.regs[Reg.EAX] & 0xff;
  alu(cpu, 7, acc, d, 1);
  if (acc === d) cpu.writeE8(i, cpu.get8(i.reg));
  else { cpu.writeE8(i, d); cpu.set8(Reg.EAX, d); }
}
export function cmpxchg_Ev_Gv(cpu: Cpu, i: Instr): void {
  if (i.opsize32) {
    const d = cpu.readRmw32(i) >>> 0;
    const acc = cpu.regs[Reg.EAX] >>> 0;
    alu(cpu, 7, acc, d, 4);
    if (acc === d) cpu.writeE32(i, cpu.regs[i.reg]);
    else { cpu.writeE32(i, d); cpu.regs[Reg.EAX] = d; }
  } else {
    const d = cpu.readRmw16(i);
    const acc = cpu.regs[Reg.EAX] & 0xffff;
    alu(cpu, 7, acc, d, 2);
    if (acc === d) cpu.writeE16(i, cpu.get16(i.reg));
    else { cpu.writeE16(i, d); cpu.set16(Reg.EAX, d); }
  }
}
/** CMPXCHG8B m64 (0F C7 /1): compare EDX:EAX with m64; ZF reports equality. */
export function cmpxchg8b_Mq(cpu: Cpu, i: Instr): void {
  const a = cpu.ea(i);
  cpu.checkWrite(i.seg, a, 8);
  const lo = cpu.read32(i.seg, a), hi = cpu.read32(i.seg, (a + 4) >>> 0);
  if (lo === cpu.regs[Reg.EAX] && hi === cpu.regs[Reg.EDX]) {
    cpu.write32(i.seg, a, cpu.regs[Reg.EBX]);
    cpu.write32(i.seg, (a + 4) >>> 0, cpu.regs[Reg.ECX]);
    cpu.setFlag(F.ZF, true);
  } else {
    cpu.write32(i.seg, a, lo);
    cpu.write32(i.seg, (a + 4) >>> 0, hi);
    cpu.regs[Reg.EAX] = lo; cpu.regs[Reg.EDX] = hi;
    cpu.setFlag(F.ZF, false);
  }
}

export function lea_Gv_M(cpu: Cpu, i: Instr): void {
  const a = cpu.ea(i);
  if (i.opsize32) cpu.regs[i.reg] = a; else cpu.set16(i.reg, a);
}

export function cbw(cpu: Cpu, i: Instr): void {
  if (i.opsize32) cpu.regs[Reg.EAX] = (cpu.regs[Reg.EAX] << 16) >> 16;
  else cpu.set16(Reg.EAX, (cpu.regs[Reg.EAX] << 24) >> 24);
}
export function cwd(cpu: Cpu, i: Instr): void {
  if (i.opsize32) cpu.regs[Reg.EDX] = cpu.regs[Reg.EAX] >> 31;
  else cpu.set16(Reg.EDX, (cpu.regs[Reg.EAX] << 16) >> 31);
}
/** LAHF: AH = SF:ZF:0:AF:0:PF:1:CF. */
export function lahf(cpu: Cpu, _i: Instr): void {
  cpu.set8(4, (cpu.getEflags() & (F.SF | F.ZF | F.AF | F.PF | F.CF)) | 2);
}
export function sahf(cpu: Cpu, _i: Instr): void {
  cpu.setFlagsMasked(cpu.get8(4), F.SF | F.ZF | F.AF | F.PF | F.CF);
}
export function xlat(cpu: Cpu, i: Instr): void {
  const a = i.adsize32 ? (cpu.regs[Reg.EBX] + (cpu.regs[Reg.EAX] & 0xff)) >>> 0 : (cpu.regs[Reg.EBX] + (cpu.regs[Reg.EAX] & 0xff)) & 0xffff;
  cpu.set8(Reg.EAX, cpu.read8(i.seg, a));
}

/** LDS/LES/LSS/LFS/LGS Gv,Mp: offset then selector; the segment is loaded first. */
export function lseg_Gv_Mp(cpu: Cpu, i: Instr): void {
  let seg: number;
  switch (i.opcode) {
    case 0xc4: seg = SegReg.ES; break;
    case 0xc5: seg = SegReg.DS; break;
    case 0x0fb2: seg = SegReg.SS; break;
    case 0x0fb4: seg = SegReg.FS; break;
    default: seg = SegReg.GS; break;
  }
  // LSS checks SS against CPL exactly as MOV SS and POP SS do.
  if (seg === SegReg.SS && cpu.strictRefuses()) return;
  const a = cpu.ea(i);
  const off = i.opsize32 ? cpu.read32(i.seg, a) : cpu.read16(i.seg, a);
  const sel = cpu.read16(i.seg, (a + (i.opsize32 ? 4 : 2)) & (i.adsize32 ? 0xffff_ffff : 0xffff));
  cpu.loadSegment(seg, sel);
  if (i.opsize32) cpu.regs[i.reg] = off; else cpu.set16(i.reg, off);
}


