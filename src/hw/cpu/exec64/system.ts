// System instructions whose 64-bit-mode forms differ (Intel SDM vol. 2 and vol. 3 ch. 2):
// MOV to and from CRn/DRn take 64-bit registers (REX.R reaches CR8), LGDT/LIDT/SGDT/SIDT use
// 10-byte pseudo-descriptors, INVLPG takes a 64-bit address, and SWAPGS exists.

import { Reg, type Cpu } from "../cpu.js";
import { SegReg } from "../segment.js";
import type { Instr } from "../instr.js";
import { Intercept } from "../guest-mode.js";
import { requireCpl0, mov_Cd_Rd, generalDetect } from "../exec/system.js";
import { TWO32, ea64, getReg, setReg, highHalf } from "./operands.js";
import { ExitReason, CPU_INVLPG_EXITING } from "../vmx/vmcs-fields.js";

/** 0F 20: MOV r64, CRn. */
export function mov_R_C(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  cpu.guest?.crAccess(i.reg, false, 0, i);
  let lo: number, hi = 0;
  switch (i.reg) {
    case 0: lo = cpu.cr0; break;
    case 2: lo = cpu.cr2 | 0; hi = highHalf(cpu.cr2); break;
    case 3: lo = cpu.cr3; hi = cpu.cr3Hi; break;
    case 4: lo = cpu.cr4; break;
    case 8:
      if (cpu.apic === null) return cpu.ud();
      if (cpu.nonRoot) cpu.vmx!.movCr8(true, i.rm, i);
      lo = (cpu.apic.taskPriority >> 4) & 0xf;
      break;
    default: return cpu.ud();
  }
  if (cpu.nonRoot && i.reg !== 2 && i.reg !== 8) { cpu.hi = hi; lo = cpu.vmx!.movFromCr(i.reg, lo, i.rm, i); }
  setReg(cpu, i.rm, 8, lo, hi, 0);
}

/** 0F 22: MOV CRn, r64. Bits 63:32 of CR0 and CR4 are reserved (#GP(0)). */
export function mov_C_R(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  let lo = getReg(cpu, i.rm, 8, 0);
  const hi = cpu.hi;
  cpu.guest?.crAccess(i.reg, true, lo, i);
  // CR access exits with the real register number; mov_Cd_Rd below skips its own check in 64-bit mode.
  if (cpu.nonRoot && i.reg !== 2 && i.reg !== 8) lo = cpu.vmx!.movToCr(i.reg, lo, i.rm, i);
  switch (i.reg) {
    case 0: case 4: if (hi !== 0) cpu.gp(0); break;
    case 2: cpu.cr2 = hi * TWO32 + (lo >>> 0); return;
    case 8:
      // CR8 is the TPR's priority class; bits 63:4 are reserved (SDM vol. 3 §2.5).
      if (cpu.apic === null) return cpu.ud();
      if (cpu.nonRoot) cpu.vmx!.movCr8(false, i.rm, i);
      if (hi !== 0 || (lo & ~0xf) !== 0) cpu.gp(0);
      cpu.apic.taskPriority = (lo & 0xf) << 4;
      cpu.yieldSlice(); // a lower priority may let a pending interrupt in
      return;
    case 3: {
      // CR3 bits MAXPHYADDR–63 are reserved.
      const keep = cpu.maxPhyAddr >= 64 ? -1 : (1 << (cpu.maxPhyAddr - 32)) - 1;
      if ((hi & ~keep) !== 0) cpu.gp(0);
      cpu.cr3Hi = hi;
      break;
    }
    default: return cpu.ud();
  }
  // The 32-bit checks and side effects are the legacy instruction's, on the low half.
  const rm = i.rm;
  const saved = cpu.regs[Reg.EAX];
  cpu.regs[Reg.EAX] = lo;
  i.rm = Reg.EAX;
  try { mov_Cd_Rd(cpu, i); } finally { i.rm = rm; cpu.regs[Reg.EAX] = saved; }
}

/** 0F 21 / 0F 23: MOV r64, DRn and MOV DRn, r64 (the high halves read as 0; DR8+ do not exist). */
export function mov_R_D(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  if (i.reg > 7) cpu.ud();
  generalDetect(cpu);
  cpu.guest?.drAccess(i.reg, false, i);
  if (cpu.nonRoot) cpu.vmx!.movDr(i.reg, true, i.rm, i);
  let r = i.reg;
  if (r === 4 || r === 5) { if (cpu.cr4 & 8) cpu.ud(); r += 2; }
  setReg(cpu, i.rm, 8, cpu.dr[r], 0, 0);
}
export function mov_D_R(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  if (i.reg > 7) cpu.ud();
  generalDetect(cpu);
  cpu.guest?.drAccess(i.reg, true, i);
  if (cpu.nonRoot) cpu.vmx!.movDr(i.reg, false, i.rm, i);
  let r = i.reg;
  if (r === 4 || r === 5) { if (cpu.cr4 & 8) cpu.ud(); r += 2; }
  const lo = getReg(cpu, i.rm, 8, 0);
  if ((r === 6 || r === 7) && cpu.hi !== 0) cpu.gp(0); // DR6/DR7 bits 63:32 must be 0
  let v = lo;
  if (r === 6) v = (v & 0xe00f) | 0xffff0ff0;
  if (r === 7) v = (v & ~0xd800) | 0x400;
  cpu.dr[r] = v;
  if (r !== 6) cpu.debugRegistersChanged();
}

/** A 10-byte pseudo-descriptor: 16-bit limit, 64-bit base (must be canonical for LGDT/LIDT). */
function loadPseudo(cpu: Cpu, i: Instr): [number, number] {
  requireCpl0(cpu);
  cpu.guest?.instruction(i.reg === 2 ? Intercept.LGDT : Intercept.LIDT, i);
  const a = ea64(cpu, i);
  const limit = cpu.read16(i.seg, a);
  const lo = cpu.read32(i.seg, a + 2), hi = cpu.read32(i.seg, a + 6);
  if (((hi << 16) >> 16) !== hi) cpu.gp(0);
  return [limit, hi * TWO32 + (lo >>> 0)];
}
export function lgdt(cpu: Cpu, i: Instr): void { [cpu.gdtrLimit, cpu.gdtrBase] = loadPseudo(cpu, i); }
export function lidt(cpu: Cpu, i: Instr): void { [cpu.idtrLimit, cpu.idtrBase] = loadPseudo(cpu, i); }
function storePseudo(cpu: Cpu, i: Instr, limit: number, base: number): void {
  cpu.umipCheck();
  cpu.guest?.instruction(i.reg === 0 ? Intercept.SGDT : Intercept.SIDT, i);
  const a = ea64(cpu, i);
  cpu.checkWrite(i.seg, a, 10);
  cpu.write16(i.seg, a, limit);
  cpu.write32(i.seg, a + 2, base | 0);
  cpu.write32(i.seg, a + 6, highHalf(base));
}
export function sgdt(cpu: Cpu, i: Instr): void { storePseudo(cpu, i, cpu.gdtrLimit, cpu.gdtrBase); }
export function sidt(cpu: Cpu, i: Instr): void { storePseudo(cpu, i, cpu.idtrLimit, cpu.idtrBase); }

/** 0F 01 /7: INVLPG m (a non-canonical address invalidates nothing and does not fault). */
export function invlpg(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  cpu.guest?.instruction(Intercept.INVLPG, i);
  let a: number;
  try { a = ea64(cpu, i); } catch (e) { if (e === cpu.fault) return; throw e; }
  if (cpu.nonRoot) cpu.vmx!.exitIf(CPU_INVLPG_EXITING, ExitReason.INVLPG, a, i);
  cpu.invalidatePage(a);
}

/** 0F 01 F8: SWAPGS, 64-bit mode at CPL 0 only: exchanges GS.base and IA32_KERNEL_GS_BASE. */
export function swapgs(cpu: Cpu, _i: Instr): void {
  if (cpu.cpl !== 0) cpu.gp(0);
  const gs = cpu.segs[SegReg.GS];
  const t = gs.base;
  gs.base = cpu.kernelGsBase;
  cpu.kernelGsBase = t;
}
