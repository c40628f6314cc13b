// System instructions: flag control (CLC STC CMC CLD STD CLI STI), HLT, MOV to/from CRn and
// DRn, LGDT LIDT SGDT SIDT LMSW SMSW CLTS INVLPG INVD WBINVD, CPUID, RDTSC, RDMSR WRMSR,
// RDPMC, SYSENTER SYSEXIT, UD2 (Intel SDM vol. 2 pages; vol. 3 chapters 2 and 5).

import { Reg, type Cpu } from "../cpu.js";
import { EFER_SCE, EFER_LME, EFER_LMA, EFER_NXE, EFER_LMSLE, CR0_PE, CR0_MP, CR0_EM, CR0_TS, CR0_NE, CR0_WP, CR0_AM, CR0_NW, CR0_CD, CR0_PG, CR4_PVI, CR4_TSD, CR4_VME, CR4_PCE } from "../control-regs.js";
import * as F from "../eflags.js";
import type { Instr } from "../instr.js";
import { SegReg, Descriptor } from "../segment.js";
import { EFER_SVME } from "../svm/svm.js";
import { MSR_VM_CR, MSR_VM_HSAVE_PA, VM_CR_LOCK, VM_CR_SVMDIS } from "../svm/vmcb.js";
import { Intercept } from "../guest-mode.js";
import { ExitReason, CPU_HLT_EXITING, CPU_INVLPG_EXITING, CPU_RDTSC_EXITING, CPU_RDPMC_EXITING, SECONDARY_WBINVD_EXITING } from "../vmx/vmcs-fields.js";
import { DR6_BD, DR7_GD } from "../debug.js";
import { Vector } from "../fault.js";

/** Instructions that require CPL 0 (#GP(0) otherwise; #GP(0) in V86 too). */
/** A CPL-0-only instruction run above CPL 0 in protected mode: its #GP(0). */
function belowCpl0(cpu: Cpu): boolean {
  return cpu.protectedMode && cpu.cpl !== 0;
}

export function requireCpl0(cpu: Cpu): void {
  if (belowCpl0(cpu)) cpu.gp(0);
}

export function clc(cpu: Cpu, _i: Instr): void { cpu.setFlag(F.CF, false); }
export function stc(cpu: Cpu, _i: Instr): void { cpu.setFlag(F.CF, true); }
export function cmc(cpu: Cpu, _i: Instr): void { cpu.setFlag(F.CF, !cpu.getCF()); }
export function cld(cpu: Cpu, _i: Instr): void { cpu.flags &= ~F.DF; }
export function std(cpu: Cpu, _i: Instr): void { cpu.flags |= F.DF; }

/**
 * CLI/STI (SDM "CLI" table 3-7): allowed when CPL ≤ IOPL; in V86 with VME, or protected
 * mode at CPL 3 with PVI, they act on VIF instead; otherwise #GP(0).
 */
export function cli(cpu: Cpu, _i: Instr): void {
  if (!cpu.protectedMode || (!cpu.v86 && cpu.cpl <= cpu.iopl) || (cpu.v86 && cpu.iopl === 3)) {
    cpu.flags &= ~F.IF;
    return;
  }
  if ((cpu.v86 && (cpu.cr4 & CR4_VME) !== 0) || (!cpu.v86 && cpu.cpl === 3 && (cpu.cr4 & CR4_PVI) !== 0)) {
    cpu.flags &= ~F.VIF;
    return;
  }
  cpu.signalGp();
}
export function sti(cpu: Cpu, _i: Instr): void {
  if (!cpu.protectedMode || (!cpu.v86 && cpu.cpl <= cpu.iopl) || (cpu.v86 && cpu.iopl === 3)) {
    if ((cpu.flags & F.IF) === 0) cpu.inhibitIrq = true;
    cpu.flags |= F.IF;
    return;
  }
  if ((cpu.v86 && (cpu.cr4 & CR4_VME) !== 0) || (!cpu.v86 && cpu.cpl === 3 && (cpu.cr4 & CR4_PVI) !== 0)) {
    if ((cpu.flags & F.VIP) !== 0) cpu.gp(0);
    cpu.flags |= F.VIF;
    return;
  }
  cpu.signalGp();
}

export function hlt(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  cpu.guest?.instruction(Intercept.HLT, i);
  if (cpu.nonRoot) cpu.vmx!.exitIf(CPU_HLT_EXITING, ExitReason.HLT, 0, i);
  cpu.halted = true;
}

// ---- Control and debug registers ----

export function mov_Rd_Cd(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  cpu.guest?.crAccess(i.reg, false, 0, i);
  let v: number;
  switch (i.reg) {
    case 0: v = cpu.cr0; break;
    case 2: v = cpu.cr2; break;
    case 3: v = cpu.cr3; break;
    case 4: v = cpu.cr4; break;
    default: cpu.ud();
  }
  if (cpu.nonRoot) v = cpu.vmx!.movFromCr(i.reg, v, i.rm, i);
  cpu.regs[i.rm] = v;
}

export function mov_Cd_Rd(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  let v = cpu.regs[i.rm];
  cpu.guest?.crAccess(i.reg, true, v, i);
  if (cpu.nonRoot && i.reg !== 2 && !i.code64) { cpu.hi = 0; v = cpu.vmx!.movToCr(i.reg, v, i.rm, i); }
  switch (i.reg) {
    case 0: {
      // Reserved bits must be zero; NW without CD, or PG without PE, is #GP(0).
      const known = CR0_PE | CR0_MP | CR0_EM | CR0_TS | CR0_NE | CR0_WP | CR0_AM | CR0_NW | CR0_CD | CR0_PG | 0x10;
      if ((v & ~known) !== 0) cpu.gp(0);
      if ((v & CR0_NW) !== 0 && (v & CR0_CD) === 0) cpu.gp(0);
      cpu.setCr0(v);
      break;
    }
    case 2: cpu.cr2 = v; break;
    case 3: cpu.setCr3(v); break;
    case 4: cpu.setCr4(v); break;
    default: cpu.ud();
  }
  // Paging or mode changes alter how the following bytes are fetched.
}

/**
 * MOV to or from a debug register with DR7.GD set: a #DB fault with DR6.BD, before the
 * access (SDM vol. 3 §18.2.4; the CPL check comes first, as in the instruction's pseudocode).
 */
export function generalDetect(cpu: Cpu): void {
  if ((cpu.dr[7] & DR7_GD) !== 0) {
    cpu.dr[6] |= DR6_BD;
    cpu.raiseNoCode(Vector.DB);
  }
}

export function mov_Rd_Dd(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  generalDetect(cpu);
  cpu.guest?.drAccess(i.reg, false, i);
  if (cpu.nonRoot) cpu.vmx!.movDr(i.reg, true, i.rm, i);
  let r = i.reg;
  if (r === 4 || r === 5) { if (cpu.cr4 & 8) cpu.ud(); r += 2; }
  cpu.regs[i.rm] = cpu.dr[r];
}
export function mov_Dd_Rd(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  generalDetect(cpu);
  cpu.guest?.drAccess(i.reg, true, i);
  if (cpu.nonRoot) cpu.vmx!.movDr(i.reg, false, i.rm, i);
  let r = i.reg;
  if (r === 4 || r === 5) { if (cpu.cr4 & 8) cpu.ud(); r += 2; }
  let v = cpu.regs[i.rm];
  if (r === 6) v = (v & 0xe00f) | 0xffff0ff0;
  if (r === 7) v = (v & ~0xd800) | 0x400;
  cpu.dr[r] = v;
  if (r !== 6) cpu.debugRegistersChanged();
}

// ---- Descriptor-table registers (0F 01) ----

function pseudoDescriptor(cpu: Cpu, i: Instr): [number, number] {
  const a = cpu.ea(i);
  const limit = cpu.read16(i.seg, a);
  let base = cpu.read32(i.seg, i.adsize32 ? (a + 2) >>> 0 : (a + 2) & 0xffff) >>> 0;
  if (!i.opsize32) base &= 0x00ff_ffff;
  return [limit, base];
}
export function lgdt(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  if (cpu.v86) cpu.gp(0);
  cpu.guest?.instruction(Intercept.LGDT, i);
  const [limit, base] = pseudoDescriptor(cpu, i);
  cpu.gdtrLimit = limit; cpu.gdtrBase = base;
}
export function lidt(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  if (cpu.v86) cpu.gp(0);
  cpu.guest?.instruction(Intercept.LIDT, i);
  const [limit, base] = pseudoDescriptor(cpu, i);
  cpu.idtrLimit = limit; cpu.idtrBase = base;
}
/**
 * SGDT/SIDT: not privileged — the classic leak (Robin & Irvine). With a 16-bit operand
 * size the P6 family still stores all 32 base bits. UMIP makes them #GP at CPL > 0.
 */
function storePseudo(cpu: Cpu, i: Instr, limit: number, base: number): void {
  cpu.umipCheck();
  const a = cpu.ea(i);
  cpu.checkWrite(i.seg, a, 6);
  cpu.write16(i.seg, a, limit);
  cpu.write32(i.seg, i.adsize32 ? (a + 2) >>> 0 : (a + 2) & 0xffff, base);
}
export function sgdt(cpu: Cpu, i: Instr): void {
  cpu.guest?.instruction(Intercept.SGDT, i);
  storePseudo(cpu, i, cpu.gdtrLimit, cpu.gdtrBase);
}
export function sidt(cpu: Cpu, i: Instr): void {
  cpu.guest?.instruction(Intercept.SIDT, i);
  storePseudo(cpu, i, cpu.idtrLimit, cpu.idtrBase);
}

/** SMSW: stores CR0[15:0]; to a register with 32-bit operand size P6 stores all of CR0. */
export function smsw(cpu: Cpu, i: Instr): void {
  cpu.umipCheck();
  cpu.guest?.crAccess(0, false, 0, i);
  const cr0 = cpu.nonRoot ? cpu.vmx!.shadowCr0(cpu.cr0) : cpu.cr0;
  if (i.hasMem) cpu.write16(i.seg, cpu.ea(i), cr0);
  else if (i.opsize32) cpu.regs[i.rm] = cr0;
  else cpu.set16(i.rm, cr0);
}
/** LMSW: loads PE, MP, EM, TS; cannot clear PE. */
export function lmsw(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  let v = cpu.readE16(i);
  if (cpu.nonRoot) {
    v = cpu.vmx!.lmsw(v, i.hasMem, i.hasMem ? (cpu.segs[i.seg].base + cpu.ea(i)) >>> 0 : 0, i);
    v = (v & ~cpu.vmx!.cr0Mask) | (cpu.cr0 & cpu.vmx!.cr0Mask); // host-owned bits stay
  }
  let cr0 = (cpu.cr0 & ~0xe) | (v & 0xf);
  if ((cpu.cr0 & CR0_PE) !== 0) cr0 |= CR0_PE;
  cpu.guest?.crAccess(0, true, cr0, i);
  cpu.setCr0(cr0);
}
export function clts(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  cpu.guest?.crAccess(0, true, cpu.cr0 & ~CR0_TS, i);
  if (cpu.nonRoot && !cpu.vmx!.clts(i)) return;
  cpu.cr0 &= ~CR0_TS;
}
export function invlpg(cpu: Cpu, i: Instr): void {
  if (belowCpl0(cpu)) return cpu.signalGp(); // signalled: the trap monitor's INVLPG exit
  cpu.guest?.instruction(Intercept.INVLPG, i);
  const s = cpu.segs[i.seg];
  const lin = (s.base + cpu.ea(i)) | 0;
  if (cpu.nonRoot) cpu.vmx!.exitIf(CPU_INVLPG_EXITING, ExitReason.INVLPG, lin >>> 0, i);
  cpu.invalidatePage(lin);
}
/** INVD (0F 08) exits unconditionally in non-root operation, WBINVD (0F 09) under WBINVD exiting. */
export function invd(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  cpu.guest?.instruction(i.opcode === 0x0f09 ? Intercept.WBINVD : Intercept.INVD, i);
  if (cpu.nonRoot) {
    if (i.opcode === 0x0f08) cpu.vmx!.exitInstr(ExitReason.INVD, 0, i);
    if ((cpu.vmx!.proc2 & SECONDARY_WBINVD_EXITING) !== 0) cpu.vmx!.exitInstr(ExitReason.WBINVD, 0, i);
  }
}
export function ud2(cpu: Cpu, _i: Instr): void { cpu.ud(); }
export function undefinedOpcode(cpu: Cpu, _i: Instr): void { cpu.ud(); }

// ---- CPUID (SDM vol. 2 "CPUID") ----

/** The leaf answered, from the model's table (cpuid.ts); ECX selects the subleaf. */
export function cpuid(cpu: Cpu, i: Instr): void {
  cpu.guest?.instruction(Intercept.CPUID, i);
  if (cpu.nonRoot) cpu.vmx!.exitInstr(ExitReason.CPUID, 0, i);
  const r = cpu.regs, t = cpu.cpuidTable, out = t.out;
  t.lookup(r[Reg.EAX], r[Reg.ECX], cpu.lma, out);
  r[Reg.EAX] = out[0]; r[Reg.EBX] = out[1]; r[Reg.ECX] = out[2]; r[Reg.EDX] = out[3];
  if (cpu.mode64) cpu.regsHi.fill(0, 0, 4); // 32-bit results zero-extend into RAX…RDX
}

// ---- Time-stamp counter and MSRs (SDM vol. 4) ----

export const MSR_TSC = 0x10, MSR_SYSENTER_CS = 0x174, MSR_SYSENTER_ESP = 0x175, MSR_SYSENTER_EIP = 0x176;
/**
 * MSRs that simply hold a value, by vendor: Intel's IA32_PLATFORM_ID (17h), EBL_CR_POWERON
 * (2Ah) and IA32_BIOS_SIGN_ID (8Bh, the microcode revision); AMD has no platform ID (RDMSR
 * 17h is #GP on a K8) but has 2Ah and the patch level at 8Bh. An MSR the model lacks is
 * #GP(0) (SDM vol. 2 "RDMSR").
 */
const PLAIN_MSRS = { intel: new Set([0x17, 0x2a, 0x8b]), amd: new Set([0x2a, 0x8b]) };

/**
 * IA32_FEATURE_CONTROL (3Ah, SDM vol. 4 table 2-2), on parts with VMX: bit 0 lock, bit 1 VMX
 * inside SMX, bit 2 VMX outside SMX. Zero after RESET; once locked, WRMSR is #GP(0) until
 * RESET; other bits are reserved here (#GP(0)).
 */
export const MSR_FEATURE_CONTROL = 0x3a;
const FEATURE_CONTROL_LOCK = 1, FEATURE_CONTROL_BITS = 0x7;

/** The long-mode MSRs (SDM vol. 4 table 2-2; AMD APM vol. 2 §3.1.7, §6.1.1), on parts with lm. */
export const MSR_EFER = 0xc000_0080, MSR_STAR = 0xc000_0081, MSR_LSTAR = 0xc000_0082, MSR_CSTAR = 0xc000_0083,
  MSR_FMASK = 0xc000_0084, MSR_FS_BASE = 0xc000_0100, MSR_GS_BASE = 0xc000_0101, MSR_KERNEL_GS_BASE = 0xc000_0102,
  MSR_TSC_AUX = 0xc000_0103;
/** The local APIC's MSRs (SDM vol. 3 §10.4.4, §10.5.4.1). */
export const MSR_APIC_BASE = 0x1b, MSR_TSC_DEADLINE = 0x6e0;
/** STAR, LSTAR, CSTAR and FMASK only hold values until SYSCALL/SYSRET read them. */
const SYSCALL_MSRS = new Set([MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_FMASK]);

/** A 64-bit MSR value as the canonical number a base register holds (#GP(0) if not canonical). */
function canonicalBase(cpu: Cpu, lo: number, hi: number): number {
  if (((hi << 16) >> 16) !== hi) cpu.gp(0);
  return hi * 0x1_0000_0000 + (lo >>> 0);
}

/** The EFER bits this model lets WRMSR set (the rest are reserved: #GP(0)). */
export function eferWritable(cpu: Cpu): number {
  const f = cpu.features;
  return (f.syscall || f.syscallLegacy ? EFER_SCE : 0) | (f.lm ? EFER_LME | EFER_LMA : 0) | (f.nx ? EFER_NXE : 0) |
    (f.lmsle ? EFER_LMSLE : 0) | (f.svm ? EFER_SVME : 0);
}

function hasMsr(cpu: Cpu, n: number): boolean {
  return PLAIN_MSRS[cpu.model.vendor].has(n) || (n === MSR_FEATURE_CONTROL && cpu.features.vmx) ||
    (n === MSR_MISC_ENABLE && hasMiscEnable(cpu)) || (n === MSR_PAT && cpu.features.pat) ||
    (n === MSR_DEBUGCTL && cpu.features.debugctl);
}

/** IA32_DEBUGCTL (1D9h), on parts with `debugctl`: only 0 can be written here (models.ts says why). */
export const MSR_DEBUGCTL = 0x1d9;

/**
 * IA32_PAT (277h, SDM vol. 3 §11.12.2; AMD APM vol. 2 §7.8.1), on parts with PAT: eight
 * one-byte entries PA0–PA7, each a memory type in bits 2:0. After RESET: WB, WT, UC-, UC,
 * WB, WT, UC-, UC (0007040600070406h). A write with a reserved type (2, 3, 8 and up) in any
 * entry is #GP(0).
 */
export const MSR_PAT = 0x277;
export const PAT_RESET: readonly [number, number] = [0x0007_0406, 0x0007_0406];
/** Whether each byte of the PAT value `lo`:`hi` is a memory type (0 UC, 1 WC, 4 WT, 5 WP, 6 WB, 7 UC-). */
export function patValid(lo: number, hi: number): boolean {
  for (const w of [lo, hi]) {
    for (let k = 0; k < 32; k += 8) {
      const t = (w >>> k) & 0xff;
      if (t > 7 || t === 2 || t === 3) return false;
    }
  }
  return true;
}

/**
 * IA32_MISC_ENABLE (1A0h, SDM vol. 4 table 2-2): on Intel parts from the Pentium M and
 * Pentium 4 on (family 6 model 0Dh and later here: `core-duo`, `core2`); x86-64 Linux reads
 * it on those. Its value after RESET: fast strings enabled (bit 0), branch trace storage and
 * PEBS unavailable (bits 11, 12); the CPUID limit (bit 22) and XD disable (bit 34) clear.
 * Writes are kept.
 */
export const MSR_MISC_ENABLE = 0x1a0;
const MISC_ENABLE_RESET = 0x1801;
function hasMiscEnable(cpu: Cpu): boolean {
  const sig = cpu.model.signature;
  const family = (sig >> 8) & 0xf, model = ((sig >> 4) & 0xf) | ((sig >> 12) & 0xf0);
  return cpu.model.vendor === "intel" && family === 6 && model >= 0xd;
}

export function rdtsc(cpu: Cpu, i: Instr): void {
  if ((cpu.cr4 & CR4_TSD) !== 0 && cpu.protectedMode && cpu.cpl !== 0) cpu.gp(0);
  cpu.guest?.instruction(Intercept.RDTSC, i);
  if (cpu.nonRoot) cpu.vmx!.exitIf(CPU_RDTSC_EXITING, ExitReason.RDTSC, 0, i);
  const t = cpu.nonRoot ? cpu.vmx!.guestTsc() : cpu.readTsc();
  cpu.regs[Reg.EAX] = t >>> 0;
  cpu.regs[Reg.EDX] = Math.floor(t / 0x1_0000_0000) >>> 0;
  if (cpu.mode64) { cpu.regsHi[Reg.EAX] = 0; cpu.regsHi[Reg.EDX] = 0; }
}
export function rdpmc(cpu: Cpu, i: Instr): void {
  if ((cpu.cr4 & CR4_PCE) === 0 && cpu.protectedMode && cpu.cpl !== 0) cpu.gp(0);
  cpu.guest?.instruction(Intercept.RDPMC, i);
  if (cpu.nonRoot) cpu.vmx!.exitIf(CPU_RDPMC_EXITING, ExitReason.RDPMC, 0, i);
  if ((cpu.regs[Reg.ECX] >>> 0) > 1) cpu.gp(0);
  cpu.regs[Reg.EAX] = 0; cpu.regs[Reg.EDX] = 0;
}

export function rdmsr(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  cpu.guest?.msr(false, i);
  const n = cpu.regs[Reg.ECX] >>> 0;
  if (cpu.nonRoot) cpu.vmx!.msr(n, false, i);
  const lo = readMsr(cpu, n), hi = cpu.hi;
  cpu.regs[Reg.EAX] = lo; cpu.regs[Reg.EDX] = hi;
  if (cpu.mode64) { cpu.regsHi[Reg.EAX] = 0; cpu.regsHi[Reg.EDX] = 0; }
}

/** MSR `n` as RDMSR reads it: bits 31:0 returned, bits 63:32 in cpu.hi; #GP(0) if the model lacks it. */
function readMsr(cpu: Cpu, n: number): number {
  let lo = 0, hi = 0;
  switch (n) {
    case MSR_TSC: { const t = cpu.nonRoot ? cpu.vmx!.guestTsc() : cpu.readTsc(); lo = t >>> 0; hi = Math.floor(t / 0x1_0000_0000); break; }
    case MSR_SYSENTER_CS: lo = cpu.sysenterCs; break;
    case MSR_SYSENTER_ESP: lo = cpu.sysenterEsp; break;
    case MSR_SYSENTER_EIP: lo = cpu.sysenterEip; break;
    case MSR_EFER: if (eferWritable(cpu) === 0) cpu.gp(0); lo = cpu.efer; break;
    case MSR_VM_CR: if (cpu.svm === null) cpu.gp(0); lo = cpu.svm.vmCr; break;
    case MSR_VM_HSAVE_PA: {
      if (cpu.svm === null) cpu.gp(0);
      lo = cpu.svm.hsavePa | 0; hi = Math.floor(cpu.svm.hsavePa / 0x1_0000_0000);
      break;
    }
    case MSR_FS_BASE: case MSR_GS_BASE: {
      if (!cpu.features.lm) cpu.gp(0);
      const b = cpu.segs[n === MSR_FS_BASE ? SegReg.FS : SegReg.GS].base;
      lo = b | 0; hi = Math.floor(b / 0x1_0000_0000);
      break;
    }
    case MSR_KERNEL_GS_BASE: if (!cpu.features.lm) cpu.gp(0); lo = cpu.kernelGsBase | 0; hi = Math.floor(cpu.kernelGsBase / 0x1_0000_0000); break;
    case MSR_TSC_AUX: if (!cpu.features.rdtscp) cpu.gp(0); lo = cpu.tscAux; break;
    case MSR_APIC_BASE: if (cpu.apic === null) cpu.gp(0); lo = cpu.apic.baseMsr; break;
    case MSR_TSC_DEADLINE: {
      if (cpu.apic === null || !cpu.features.tscDeadline) cpu.gp(0);
      const t = cpu.apic.tscDeadlineMsr;
      lo = t | 0; hi = Math.floor(t / 0x1_0000_0000);
      break;
    }
    default: {
      if (SYSCALL_MSRS.has(n) && (cpu.features.syscall || cpu.features.syscallLegacy)) {
        const v = cpu.plainMsrs.get(n);
        if (v) { lo = v[0]; hi = v[1]; }
        break;
      }
      const cap = cpu.vmx?.caps.read(n);
      if (cap) { lo = cap[0]; hi = cap[1]; break; }
      if (!hasMsr(cpu, n)) cpu.gp(0);
      const v = cpu.plainMsrs.get(n);
      if (v) { lo = v[0]; hi = v[1]; } else if (n === MSR_MISC_ENABLE) lo = MISC_ENABLE_RESET;
      else if (n === MSR_PAT) [lo, hi] = PAT_RESET;
    }
  }
  cpu.hi = hi;
  return lo;
}

export function wrmsr(cpu: Cpu, i: Instr): void {
  requireCpl0(cpu);
  cpu.guest?.msr(true, i);
  const n = cpu.regs[Reg.ECX] >>> 0;
  if (cpu.nonRoot) cpu.vmx!.msr(n, true, i);
  writeMsr(cpu, n, cpu.regs[Reg.EAX], cpu.regs[Reg.EDX]);
}

/** The MSR-load and MSR-store lists of VM entry and exit (SDM vol. 3C §26.4, §27.4): null/false where WRMSR/RDMSR would #GP. */
export function msrReadForVmx(cpu: Cpu, n: number): [number, number] | null {
  try { const lo = readMsr(cpu, n); return [lo, cpu.hi]; } catch (e) { if (e !== cpu.fault) throw e; return null; }
}
export function msrWriteForVmx(cpu: Cpu, n: number, lo: number, hi: number): boolean {
  try { writeMsr(cpu, n, lo, hi); return true; } catch (e) { if (e !== cpu.fault) throw e; return false; }
}

/** WRMSR of `n` with bits 31:0 `lo` and 63:32 `hi`; #GP(0) on a missing MSR or a reserved bit. */
function writeMsr(cpu: Cpu, n: number, lo: number, hi: number): void {
  switch (n) {
    case MSR_TSC: cpu.tscOffset = (hi >>> 0) * 0x1_0000_0000 + (lo >>> 0) - cpu.cycles; break;
    case MSR_SYSENTER_CS: cpu.sysenterCs = lo & 0xffff; break;
    case MSR_SYSENTER_ESP: cpu.sysenterEsp = lo; break;
    case MSR_SYSENTER_EIP: cpu.sysenterEip = lo; break;
    case MSR_EFER: {
      const ok = eferWritable(cpu);
      if (ok === 0 || hi !== 0 || (lo & ~ok) !== 0) cpu.gp(0);
      // VM_CR.SVMDIS locks SVM off (APM vol. 2 §15.30.1).
      if ((lo & EFER_SVME) !== 0 && cpu.svm !== null && (cpu.svm.vmCr & VM_CR_SVMDIS) !== 0) cpu.gp(0);
      cpu.setEfer(lo);
      break;
    }
    case MSR_FS_BASE: case MSR_GS_BASE:
      if (!cpu.features.lm) cpu.gp(0);
      cpu.segs[n === MSR_FS_BASE ? SegReg.FS : SegReg.GS].base = canonicalBase(cpu, lo, hi);
      break;
    case MSR_KERNEL_GS_BASE:
      if (!cpu.features.lm) cpu.gp(0);
      cpu.kernelGsBase = canonicalBase(cpu, lo, hi);
      break;
    case MSR_VM_CR: {
      // Bits 4:0 (DPD, R_INIT, DIS_A20M, LOCK, SVMDIS); with LOCK set, SVMDIS and LOCK are read-only.
      if (cpu.svm === null || hi !== 0 || (lo & ~0x1f) !== 0) cpu.gp(0);
      const keep = (cpu.svm.vmCr & VM_CR_LOCK) !== 0 ? VM_CR_LOCK | VM_CR_SVMDIS : 0;
      cpu.svm.vmCr = (lo & ~keep) | (cpu.svm.vmCr & keep);
      break;
    }
    case MSR_VM_HSAVE_PA: {
      // 4 KiB aligned, below MAXPHYADDR (APM vol. 2 §15.30.4).
      const pa = (hi >>> 0) * 0x1_0000_0000 + (lo >>> 0);
      if (cpu.svm === null || (lo & 0xfff) !== 0 || pa >= 2 ** cpu.maxPhyAddr) cpu.gp(0);
      cpu.svm.hsavePa = pa;
      break;
    }
    case MSR_TSC_AUX:
      if (!cpu.features.rdtscp || hi !== 0) cpu.gp(0);
      cpu.tscAux = lo;
      break;
    case MSR_APIC_BASE:
      // Bits 7:0, 9, 10 and those at and above MAXPHYADDR are reserved (SDM vol. 3 §10.4.4).
      if (cpu.apic === null || (lo & 0x6ff) !== 0 || hi !== 0) cpu.gp(0);
      cpu.apic.setBaseMsr(lo);
      cpu.yieldSlice();
      break;
    case MSR_TSC_DEADLINE:
      if (cpu.apic === null || !cpu.features.tscDeadline) cpu.gp(0);
      cpu.apic.tscDeadlineMsr = (hi >>> 0) * 0x1_0000_0000 + (lo >>> 0);
      cpu.yieldSlice(); // the run loop must see the new deadline
      break;
    default:
      if (SYSCALL_MSRS.has(n) && (cpu.features.syscall || cpu.features.syscallLegacy)) {
        // LSTAR and CSTAR hold addresses: a non-canonical one is #GP(0) on WRMSR.
        if (n === MSR_LSTAR || n === MSR_CSTAR) canonicalBase(cpu, lo, hi);
        cpu.plainMsrs.set(n, [lo, hi]);
        break;
      }
      if (!hasMsr(cpu, n)) cpu.gp(0);
      if (n === MSR_FEATURE_CONTROL) {
        const old = cpu.plainMsrs.get(n);
        if ((old !== undefined && (old[0] & FEATURE_CONTROL_LOCK) !== 0) || (lo & ~FEATURE_CONTROL_BITS) !== 0 || hi !== 0) cpu.gp(0);
      }
      if (n === MSR_PAT && !patValid(lo, hi)) cpu.gp(0);
      if (n === MSR_DEBUGCTL && (lo !== 0 || hi !== 0)) cpu.gp(0);
      cpu.plainMsrs.set(n, [lo, hi]);
  }
}

// ---- SYSENTER / SYSEXIT (SDM vol. 2 "SYSENTER", "SYSEXIT") ----

function loadFlat(cpu: Cpu, seg: number, selector: number, code: boolean, dpl: number): void {
  // The processor loads fixed flat descriptors, not the GDT's contents.
  const flatDesc = new Descriptor();
  flatDesc.lo = 0x0000_ffff;
  flatDesc.hi = 0x00cf_0000 | ((code ? 0x9b : 0x93) << 8) | (dpl << 13);
  cpu.segs[seg].loadDescriptor(selector, flatDesc);
}

export function sysenter(cpu: Cpu, _i: Instr): void {
  if (!cpu.protectedMode) cpu.gp(0);
  if (cpu.strictRefuses()) return;
  const cs = cpu.sysenterCs & 0xfffc;
  if (cs === 0) cpu.gp(0);
  cpu.flags &= ~(F.VM | F.IF | F.RF);
  cpu.materializeFlags();
  loadFlat(cpu, SegReg.CS, cs, true, 0);
  loadFlat(cpu, SegReg.SS, (cs + 8) & 0xfffc, false, 0);
  cpu.cpl = 0;
  cpu.regs[Reg.ESP] = cpu.sysenterEsp;
  cpu.eip = cpu.sysenterEip >>> 0;
}
export function sysexit(cpu: Cpu, _i: Instr): void {
  if (!cpu.protectedMode || cpu.v86 || cpu.cpl !== 0) cpu.gp(0);
  const cs = cpu.sysenterCs & 0xfffc;
  if (cs === 0) cpu.gp(0);
  loadFlat(cpu, SegReg.CS, (cs + 16) | 3, true, 3);
  loadFlat(cpu, SegReg.SS, (cs + 24) | 3, false, 3);
  cpu.cpl = 3;
  cpu.regs[Reg.ESP] = cpu.regs[Reg.ECX];
  cpu.eip = cpu.regs[Reg.EDX] >>> 0;
}

