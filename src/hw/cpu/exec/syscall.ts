// SYSCALL and SYSRET (Intel SDM vol. 2 "SYSCALL", "SYSRET"; AMD APM vol. 3, same pages, and
// vol. 2 §6.1.1), and RDTSCP. Both need EFER.SCE. In 64-bit mode SYSCALL saves RIP in RCX and
// RFLAGS in R11, masks RFLAGS with IA32_FMASK and enters the flat 64-bit ring-0 code segment
// named by STAR[47:32] at LSTAR; SYSRET returns to STAR[63:48] + 16 (64-bit, with REX.W) or
// STAR[63:48] (compatibility mode), ring 3. The segments are loaded with fixed flat
// descriptors, not from the GDT.
//
// Vendors differ (docs/long-mode.md): AMD has SYSCALL/SYSRET in legacy and compatibility mode
// too (`features.syscallLegacy`, CSTAR is the compatibility-mode target, STAR[31:0] the
// legacy one); Intel raises #UD outside 64-bit mode. Intel's SYSRET checks that RCX is
// canonical (#GP(0) at CPL 0); AMD's loads it and the fetch faults at CPL 3.

import { Reg, type Cpu } from "../cpu.js";
import { EFER_SCE } from "../control-regs.js";
import * as F from "../eflags.js";
import type { Instr } from "../instr.js";
import { SegReg } from "../segment.js";
import { scratchFor } from "../interrupt.js";
import { MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_FMASK } from "./system.js";
import { Intercept } from "../guest-mode.js";
import { ExitReason, CPU_RDTSC_EXITING } from "../vmx/vmcs-fields.js";

const TWO32 = 0x1_0000_0000;

function msr(cpu: Cpu, n: number): [number, number] {
  return cpu.plainMsrs.get(n) ?? [0, 0];
}

/** Load `seg` with the fixed flat descriptor SYSCALL/SYSRET use (base 0, limit 4 GiB). */
function loadFixed(cpu: Cpu, seg: number, selector: number, code: boolean, long: boolean, dpl: number): void {
  const d = scratchFor(cpu).code;
  d.lo = 0x0000_ffff;
  // G = 1; code: L = long, D = !long; data: B = 1. Present, S = 1, type execute/read or read/write, accessed.
  const flags = code ? (long ? 0xa : 0xc) : 0xc;
  d.hi = 0x000f_0000 | (flags << 20) | ((code ? 0x9b : 0x93) << 8) | (dpl << 13);
  cpu.segs[seg].loadDescriptor(selector, d);
}

export function syscall(cpu: Cpu, _i: Instr): void {
  if ((cpu.efer & EFER_SCE) === 0 || !cpu.protectedMode) cpu.ud();
  if (!cpu.mode64 && !cpu.features.syscallLegacy) cpu.ud();
  if (cpu.strictRefuses()) return;
  const star = msr(cpu, MSR_STAR);
  const cs = (star[1] & 0xfffc);
  const flags = cpu.getEflags() & ~F.RF;
  if (cpu.lma) {
    const next = cpu.mode64 ? cpu.eip : cpu.eip >>> 0;
    const [tLo, tHi] = msr(cpu, cpu.mode64 ? MSR_LSTAR : MSR_CSTAR);
    cpu.regs[Reg.ECX] = next | 0; cpu.regsHi[Reg.ECX] = Math.floor(next / TWO32) | 0;
    cpu.regs[11] = flags; cpu.regsHi[11] = 0;
    cpu.setEflags(flags & ~msr(cpu, MSR_FMASK)[0]);
    loadFixed(cpu, SegReg.CS, cs, true, true, 0);
    loadFixed(cpu, SegReg.SS, (cs + 8) & 0xfffc, false, false, 0);
    cpu.cpl = 0;
    cpu.mode64 = true;
    cpu.eip = tHi * TWO32 + (tLo >>> 0);
    return;
  }
  // Legacy mode (AMD): ECX = return EIP; VM, IF and RF cleared; EIP = STAR[31:0].
  cpu.regs[Reg.ECX] = cpu.eip;
  cpu.setEflags(flags & ~(F.VM | F.IF));
  loadFixed(cpu, SegReg.CS, cs, true, false, 0);
  loadFixed(cpu, SegReg.SS, (cs + 8) & 0xfffc, false, false, 0);
  cpu.cpl = 0;
  cpu.eip = star[0] >>> 0;
}

export function sysret(cpu: Cpu, i: Instr): void {
  if ((cpu.efer & EFER_SCE) === 0 || !cpu.protectedMode) cpu.ud();
  if (!cpu.mode64 && !cpu.features.syscallLegacy) cpu.ud();
  if (cpu.cpl !== 0) cpu.gp(0);
  const base = cpu.msrStarHigh();
  if (cpu.mode64) {
    const wide = (i.rex & 8) !== 0;
    let target: number;
    if (wide) {
      const lo = cpu.regs[Reg.ECX], hi = cpu.regsHi[Reg.ECX];
      if (((hi << 16) >> 16) !== hi && cpu.model.vendor === "intel") cpu.gp(0);
      target = hi * TWO32 + (lo >>> 0);
    } else {
      target = cpu.regs[Reg.ECX] >>> 0;
    }
    cpu.setEflags((cpu.regs[11] & 0x3c_7fd7) | 2);
    loadFixed(cpu, SegReg.CS, ((wide ? base + 16 : base) & 0xfffc) | 3, true, wide, 3);
    loadFixed(cpu, SegReg.SS, ((base + 8) & 0xfffc) | 3, false, false, 3);
    cpu.cpl = 3;
    cpu.mode64 = wide;
    cpu.eip = target;
    return;
  }
  // Legacy or compatibility mode (AMD): back to 32-bit ring 3 at ECX with IF set.
  cpu.setFlag(F.IF, true);
  loadFixed(cpu, SegReg.CS, (base & 0xfffc) | 3, true, false, 3);
  loadFixed(cpu, SegReg.SS, ((base + 8) & 0xfffc) | 3, false, false, 3);
  cpu.cpl = 3;
  cpu.eip = cpu.regs[Reg.ECX] >>> 0;
}

/** 0F 01 F9: RDTSCP (features.rdtscp): EDX:EAX = TSC, ECX = IA32_TSC_AUX. */
export function rdtscp(cpu: Cpu, i: Instr): void {
  if (!cpu.features.rdtscp) cpu.ud();
  if (cpu.nonRoot) cpu.vmx!.rdtscpEnabled();
  if ((cpu.cr4 & (1 << 2)) !== 0 && cpu.protectedMode && cpu.cpl !== 0) cpu.gp(0);
  cpu.guest?.instruction(Intercept.RDTSCP, i);
  if (cpu.nonRoot) cpu.vmx!.exitIf(CPU_RDTSC_EXITING, ExitReason.RDTSCP, 0, i);
  const t = cpu.nonRoot ? cpu.vmx!.guestTsc() : cpu.readTsc();
  cpu.regs[Reg.EAX] = t | 0;
  cpu.regs[Reg.EDX] = Math.floor(t / TWO32) | 0;
  cpu.regs[Reg.ECX] = cpu.tscAux;
  if (cpu.mode64) { cpu.regsHi[Reg.EAX] = 0; cpu.regsHi[Reg.EDX] = 0; cpu.regsHi[Reg.ECX] = 0; }
}
