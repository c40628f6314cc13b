// The VMX instructions (Intel SDM vol. 3C chapter 31, "VMX Instruction Reference"): VMXON,
// VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMREAD, VMWRITE, VMLAUNCH, VMRESUME, VMCALL, INVEPT,
// INVVPID. Each handler does the instruction's #UD and #GP checks and its VM exit in
// non-root operation, then leaves the outcome (VMsucceed, VMfailInvalid, VMfailValid) to
// src/hw/cpu/vmx/vmx.ts. The same handlers serve 64-bit mode, where VMREAD and VMWRITE
// move 64 bits.

import type { Cpu } from "../cpu.js";
import { CR0_PE, CR4_VMXE } from "../control-regs.js";
import type { Instr } from "../instr.js";
import type { Vmx } from "../vmx/vmx.js";
import { ExitReason, VmxError, fieldType } from "../vmx/vmcs-fields.js";
import { CR0_FIXED0, CR4_FIXED0 } from "../vmx/capabilities.js";
import { MSR_FEATURE_CONTROL } from "./system.js";
import { readMem, writeMem, ea64, getReg, setReg } from "../exec64/operands.js";

/**
 * VM-exit instruction information for VMX instructions (SDM vol. 3C §27.2.5, tables 27-12
 * and 27-13): scaling 1:0, reg1 6:3, address size 9:7, register form 10, segment 17:15,
 * index 21:18 (invalid 22), base 26:23 (invalid 27), reg2 31:28.
 */
function instructionInfo(i: Instr): number {
  const asz = i.code64 ? (i.adsize64 ? 2 : 1) : i.adsize32 ? 1 : 0;
  let info = (asz << 7) | ((i.reg & 0xf) << 28);
  if (!i.hasMem) return info | (1 << 10) | ((i.rm & 0xf) << 3);
  info |= i.eaScale | (i.seg << 15);
  info |= i.eaIndex >= 0 ? (i.eaIndex & 0xf) << 18 : 1 << 22;
  info |= i.eaBase >= 0 ? (i.eaBase & 0xf) << 23 : 1 << 27;
  return info;
}

/**
 * The checks every VMX instruction but VMXON makes first: #UD outside VMX operation, in
 * real and virtual-8086 mode and in compatibility mode; in non-root operation a VM exit
 * with `reason`; #GP(0) at CPL > 0.
 */
function common(cpu: Cpu, i: Instr, reason: ExitReason): Vmx {
  const v = cpu.vmx;
  if (v === null || !v.on || (cpu.cr0 & CR0_PE) === 0 || cpu.v86 || (cpu.lma && !cpu.mode64)) return cpu.ud();
  if (cpu.nonRoot) v.exitInstr(reason, i.hasMem ? i.disp : 0, i, instructionInfo(i));
  if (cpu.cpl !== 0) cpu.gp(0);
  return v;
}

/** A 64-bit memory operand: bits 31:0 returned, 63:32 in cpu.hi. */
function readM64(cpu: Cpu, i: Instr, at = 0): number {
  if (cpu.mode64) return readMem(cpu, i.seg, ea64(cpu, i) + at, 8);
  const a = cpu.ea(i) + at;
  const wrap = (x: number) => i.adsize32 ? x >>> 0 : x & 0xffff;
  const lo = cpu.read32(i.seg, wrap(a));
  cpu.hi = cpu.read32(i.seg, wrap(a + 4));
  return lo;
}

/** VMXON m64 (F3 0F C7 /6): enter VMX operation (SDM vol. 3C ch. 31 "VMXON"). */
export function vmxon(cpu: Cpu, i: Instr): void {
  const v = cpu.vmx;
  if (v === null || (cpu.cr4 & CR4_VMXE) === 0 || (cpu.cr0 & CR0_PE) === 0 || cpu.v86 || (cpu.lma && !cpu.mode64)) return cpu.ud();
  if (v.on) {
    if (cpu.nonRoot) v.exitInstr(ExitReason.VMXON, i.disp, i, instructionInfo(i));
    if (cpu.cpl !== 0) cpu.gp(0);
    v.fail(VmxError.VMXON_IN_ROOT);
    return;
  }
  if (cpu.cpl !== 0) cpu.gp(0);
  // CR0 and CR4 must have their fixed bits (IA32_VMX_CR0_FIXED0/1, CR4_FIXED0/1), and
  // IA32_FEATURE_CONTROL must be locked with VMX outside SMX enabled.
  if ((cpu.cr0 & CR0_FIXED0) !== CR0_FIXED0 || (cpu.cr4 & CR4_FIXED0) !== CR4_FIXED0 || (cpu.cr4 & ~v.caps.cr4Fixed1) !== 0) cpu.gp(0);
  const fc = cpu.plainMsrs.get(MSR_FEATURE_CONTROL)?.[0] ?? 0;
  if ((fc & 1) === 0 || (fc & 4) === 0) cpu.gp(0);
  const lo = readM64(cpu, i);
  v.vmxon(lo, cpu.hi);
}

/** VMXOFF (0F 01 C4). */
export function vmxoff(cpu: Cpu, i: Instr): void {
  common(cpu, i, ExitReason.VMXOFF).vmxoff();
}

/** VMCLEAR m64 (66 0F C7 /6). */
export function vmclear(cpu: Cpu, i: Instr): void {
  const v = common(cpu, i, ExitReason.VMCLEAR);
  const lo = readM64(cpu, i);
  v.vmclear(lo, cpu.hi);
}

/** VMPTRLD m64 (0F C7 /6). */
export function vmptrld(cpu: Cpu, i: Instr): void {
  const v = common(cpu, i, ExitReason.VMPTRLD);
  const lo = readM64(cpu, i);
  v.vmptrld(lo, cpu.hi);
}

/** VMPTRST m64 (0F C7 /7): store the current-VMCS pointer (all ones when there is none). */
export function vmptrst(cpu: Cpu, i: Instr): void {
  const v = common(cpu, i, ExitReason.VMPTRST);
  const p = v.current;
  const lo = p | 0, hi = p === -1 ? -1 : 0;
  if (cpu.mode64) writeMem(cpu, i.seg, ea64(cpu, i), 8, lo, hi);
  else {
    const a = cpu.ea(i);
    cpu.checkWrite(i.seg, a, 8);
    cpu.write32(i.seg, a, lo);
    cpu.write32(i.seg, i.adsize32 ? (a + 4) >>> 0 : (a + 4) & 0xffff, hi);
  }
  v.succeed();
}

/** The field encoding a VMREAD/VMWRITE names (a register): its bits 63:32 must be 0 in 64-bit mode. */
function encodingOf(cpu: Cpu, r: number): [number, boolean] {
  if (cpu.mode64) { const lo = getReg(cpu, r, 8, 0); return [lo, cpu.hi === 0]; }
  return [cpu.regs[r], true];
}

/** VMREAD r/m32, r32 (0F 78; r/m64, r64 in 64-bit mode). */
export function vmread(cpu: Cpu, i: Instr): void {
  const v = common(cpu, i, ExitReason.VMREAD);
  if (v.current === -1) { v.failInvalid(); return; }
  const [enc, ok] = encodingOf(cpu, i.reg);
  if (!ok || !v.supported(enc)) { v.failValid(VmxError.UNSUPPORTED_VMCS_COMPONENT); return; }
  const [lo, hi] = v.readField(enc);
  if (cpu.mode64) {
    if (i.hasMem) writeMem(cpu, i.seg, ea64(cpu, i), 8, lo, hi);
    else setReg(cpu, i.rm, 8, lo, hi, 0);
  } else cpu.writeE32(i, lo);
  v.succeed();
}

/** VMWRITE r32, r/m32 (0F 79; r64, r/m64 in 64-bit mode). */
export function vmwrite(cpu: Cpu, i: Instr): void {
  const v = common(cpu, i, ExitReason.VMWRITE);
  if (v.current === -1) { v.failInvalid(); return; }
  let lo: number, hi = 0;
  if (cpu.mode64) { lo = i.hasMem ? readMem(cpu, i.seg, ea64(cpu, i), 8) : getReg(cpu, i.rm, 8, 0); hi = cpu.hi; }
  else lo = cpu.readE32(i);
  const [enc, ok] = encodingOf(cpu, i.reg);
  if (!ok || !v.supported(enc)) { v.failValid(VmxError.UNSUPPORTED_VMCS_COMPONENT); return; }
  // The VM-exit information fields are read-only (IA32_VMX_MISC bit 29 is clear on every model).
  if (fieldType(enc) === 1) { v.failValid(VmxError.VMWRITE_READ_ONLY_COMPONENT); return; }
  v.writeField(enc, lo, hi);
  v.succeed();
}

/** VMLAUNCH (0F 01 C2). */
export function vmlaunch(cpu: Cpu, i: Instr): void {
  common(cpu, i, ExitReason.VMLAUNCH).enter(true);
}

/** VMRESUME (0F 01 C3). */
export function vmresume(cpu: Cpu, i: Instr): void {
  common(cpu, i, ExitReason.VMRESUME).enter(false);
}

/**
 * VMCALL (0F 01 C1): #UD outside VMX operation; a VM exit in non-root operation; in root
 * operation (no dual-monitor treatment of SMM here) VMfail with error 1.
 */
export function vmcall(cpu: Cpu, i: Instr): void {
  const v = cpu.vmx;
  if (v === null || !v.on) return cpu.ud();
  if (cpu.nonRoot) v.exitInstr(ExitReason.VMCALL, 0, i);
  if (cpu.v86 || (cpu.lma && !cpu.mode64)) cpu.ud();
  if (cpu.cpl !== 0) cpu.gp(0);
  v.fail(VmxError.VMCALL_IN_ROOT);
}

/** The INVEPT/INVVPID type (a register: 32 bits, 64 in 64-bit mode). */
function invType(cpu: Cpu, i: Instr): number {
  if (cpu.mode64) { const lo = getReg(cpu, i.reg, 8, 0); return cpu.hi === 0 ? lo >>> 0 : -1; }
  return cpu.regs[i.reg] >>> 0;
}

/**
 * INVEPT r32, m128 (66 0F 38 80): types 1 (single-context) and 2 (all-context) as
 * IA32_VMX_EPT_VPID_CAP bits 25 and 26 say; anything else is VMfail(28). The TLB here is
 * not tagged by EPTP, so both flush it all.
 */
export function invept(cpu: Cpu, i: Instr): void {
  if (cpu.vmx === null || !cpu.features.ept) return cpu.ud();
  const v = common(cpu, i, ExitReason.INVEPT);
  const type = invType(cpu, i);
  readM64(cpu, i); // the descriptor's EPTP (bits 63:0); bits 127:64 are reserved
  const cap = v.caps.eptVpidCap()[0];
  if (!((type === 1 && (cap & (1 << 25)) !== 0) || (type === 2 && (cap & (1 << 26)) !== 0))) {
    v.fail(VmxError.INVALID_OPERAND_INVEPT_INVVPID);
    return;
  }
  cpu.flushTlb(true);
  v.succeed();
}

/**
 * INVVPID r32, m128 (66 0F 38 81): types 0 individual-address, 1 single-context,
 * 2 all-context, 3 single-context retaining globals (IA32_VMX_EPT_VPID_CAP bits 40–43).
 * Descriptor bits 63:16 must be 0, and the VPID not 0 except for all-context (VMfail(28)).
 */
export function invvpid(cpu: Cpu, i: Instr): void {
  if (cpu.vmx === null || !cpu.features.vpid) return cpu.ud();
  const v = common(cpu, i, ExitReason.INVVPID);
  const type = invType(cpu, i);
  const lo = readM64(cpu, i), hi = cpu.hi;
  const addrLo = readM64(cpu, i, 8), addrHi = cpu.hi;
  const cap = v.caps.eptVpidCap()[1];
  const vpid = lo & 0xffff;
  if (type < 0 || type > 3 || (cap & (1 << (8 + type))) === 0 || (lo & ~0xffff) !== 0 || hi !== 0 || (type !== 2 && vpid === 0)) {
    v.fail(VmxError.INVALID_OPERAND_INVEPT_INVVPID);
    return;
  }
  if (type === 0) {
    // The linear address must be canonical (VMfail(28) otherwise).
    if (((addrHi << 16) >> 16) !== addrHi) { v.fail(VmxError.INVALID_OPERAND_INVEPT_INVVPID); return; }
    cpu.invalidatePage(addrLo);
  } else cpu.flushTlb(type !== 3);
  v.succeed();
}
