// AMD's Secure Virtual Machine extensions in the processor (AMD APM vol. 2 chapter 15):
// VMRUN and #VMEXIT, the host save area, VMLOAD/VMSAVE, the global interrupt flag, and the
// intercept checks of guest mode. One `Svm` per processor, on models with the `svm` feature.
//
// VMRUN (§15.5) saves the host's state to the host save area named by VM_HSAVE_PA, loads
// the guest's from the VMCB at rAX, checks it (§15.5.1), and runs the guest until an
// intercepted event; #VMEXIT (§15.6) writes the guest's state and the exit code back to the
// VMCB and reloads the host's. The host save area's layout is implementation-specific (§15.30.4):
// this one uses the VMCB state-save offsets, so a debugger can read it like a VMCB.
//
// Not modelled: the ASID-tagged TLB (the TLB is flushed on every VMRUN and #VMEXIT, which
// the APM allows: an ASID only lets hardware keep entries), decode assists, NRIPS, the
// VMCB clean bits, pause filtering, virtual interrupts' TPR priority (V_IRQ is taken when
// the guest's IF allows), LBR virtualization, SKINIT (the models do not report it: #UD).

import { Reg, type Cpu } from "../cpu.js";
import { CR0_CD, CR0_NW, CR0_PE, CR0_PG, CR0_TS, CR0_MP, CR4_PAE, EFER_LME } from "../control-regs.js";
import * as F from "../eflags.js";
import { Vector } from "../fault.js";
import type { GuestMode } from "../guest-mode.js";
import { Intercept } from "../guest-mode.js";
import type { Instr } from "../instr.js";
import { IntKind } from "../interrupt.js";
import type { SegmentCache } from "../segment.js";
import { SegReg } from "../segment.js";
import { eferWritable, MSR_PAT, PAT_RESET } from "../exec/system.js";
import { NestedPaging } from "./nested-paging.js";
import { EventInj, IoInfo, Misc1, Misc2, SvmExit, Vmcb, VmcbSeg, VM_CR_SVMDIS } from "./vmcb.js";

/** EFER.SVME (APM vol. 2 §3.1.7): SVM enabled. */
export const EFER_SVME = 1 << 12;

const TWO32 = 0x1_0000_0000;

/** For each Intercept: the intercept vector (3 or 4), its bit there, and the exit code. */
const INSTRUCTION_INTERCEPTS: readonly (readonly [3 | 4, number, SvmExit] | null)[] = (() => {
  const t: (readonly [3 | 4, number, SvmExit] | null)[] = [];
  const m1 = (k: Intercept, bit: Misc1, code: SvmExit) => { t[k] = [3, bit, code]; };
  const m2 = (k: Intercept, bit: Misc2, code: SvmExit) => { t[k] = [4, bit, code]; };
  m1(Intercept.CPUID, Misc1.CPUID, SvmExit.CPUID); m1(Intercept.HLT, Misc1.HLT, SvmExit.HLT);
  m1(Intercept.RDTSC, Misc1.RDTSC, SvmExit.RDTSC); m2(Intercept.RDTSCP, Misc2.RDTSCP, SvmExit.RDTSCP);
  m1(Intercept.RDPMC, Misc1.RDPMC, SvmExit.RDPMC); m1(Intercept.INVLPG, Misc1.INVLPG, SvmExit.INVLPG);
  m1(Intercept.INVD, Misc1.INVD, SvmExit.INVD); m2(Intercept.WBINVD, Misc2.WBINVD, SvmExit.WBINVD);
  m1(Intercept.PAUSE, Misc1.PAUSE, SvmExit.PAUSE); m1(Intercept.PUSHF, Misc1.PUSHF, SvmExit.PUSHF);
  m1(Intercept.POPF, Misc1.POPF, SvmExit.POPF); m1(Intercept.IRET, Misc1.IRET, SvmExit.IRET);
  m1(Intercept.INTN, Misc1.INTN, SvmExit.SWINT); m2(Intercept.ICEBP, Misc2.ICEBP, SvmExit.ICEBP);
  m1(Intercept.SGDT, Misc1.GDTR_READ, SvmExit.GDTR_READ); m1(Intercept.SIDT, Misc1.IDTR_READ, SvmExit.IDTR_READ);
  m1(Intercept.SLDT, Misc1.LDTR_READ, SvmExit.LDTR_READ); m1(Intercept.STR, Misc1.TR_READ, SvmExit.TR_READ);
  m1(Intercept.LGDT, Misc1.GDTR_WRITE, SvmExit.GDTR_WRITE); m1(Intercept.LIDT, Misc1.IDTR_WRITE, SvmExit.IDTR_WRITE);
  m1(Intercept.LLDT, Misc1.LDTR_WRITE, SvmExit.LDTR_WRITE); m1(Intercept.LTR, Misc1.TR_WRITE, SvmExit.TR_WRITE);
  m1(Intercept.RSM, Misc1.RSM, SvmExit.RSM);
  m2(Intercept.MONITOR, Misc2.MONITOR, SvmExit.MONITOR); m2(Intercept.MWAIT, Misc2.MWAIT, SvmExit.MWAIT);
  m2(Intercept.VMRUN, Misc2.VMRUN, SvmExit.VMRUN); m2(Intercept.VMMCALL, Misc2.VMMCALL, SvmExit.VMMCALL);
  m2(Intercept.VMLOAD, Misc2.VMLOAD, SvmExit.VMLOAD); m2(Intercept.VMSAVE, Misc2.VMSAVE, SvmExit.VMSAVE);
  m2(Intercept.STGI, Misc2.STGI, SvmExit.STGI); m2(Intercept.CLGI, Misc2.CLGI, SvmExit.CLGI);
  m2(Intercept.SKINIT, Misc2.SKINIT, SvmExit.SKINIT); m1(Intercept.INVLPGA, Misc1.INVLPGA, SvmExit.INVLPGA);
  return t;
})();

export class Svm implements GuestMode {
  /** VM_CR (C001_0114h). */
  vmCr = 0;
  /** VM_HSAVE_PA (C001_0117h): the host save area, 4 KiB aligned. */
  hsavePa = 0;
  /** The VMCB of the guest running now (physical address). */
  vmcb = 0;
  // The control area as VMRUN read it (the processor may cache it: APM §15.15).
  crRead = 0; crWrite = 0; drRead = 0; drWrite = 0; exceptions = 0; misc1 = 0; misc2 = 0;
  iopm = 0; msrpm = 0; tscOffset = 0; asid = 0;
  vIntrMasking = false;
  /** V_IRQ and V_INTR_VECTOR (§15.21.4): a virtual interrupt for the guest, taken when its IF allows. */
  vIrq = false; vIntrVector = 0;
  /** Nested paging for this guest, and its root (APM §15.25). */
  np = false; nCr3 = 0;
  /** The host's IA32_PAT while a guest with nested paging runs on the VMCB's G_PAT (§15.25.8); null otherwise. */
  private hostPat: [number, number] | null = null;
  /** The event being delivered to the guest, in EXITINTINFO format (0: none), for an exit during delivery. */
  delivering = 0; deliveringCode = 0;
  /** #VMEXITs by exit code since reset. */
  readonly exits = new Map<number, number>();

  constructor(private readonly cpu: Cpu) {}

  get inGuest(): boolean { return this.cpu.guest === this; }

  reset(): void {
    this.vmCr = 0; this.hsavePa = 0; this.vmcb = 0; this.np = false; this.hostPat = null;
    if (this.inGuest) this.cpu.guest = null;
    this.cpu.gif = true;
  }

  // ---- Memory helpers: the VMCB and the host save area are host-physical ----

  private r64(pa: number): number {
    const m = this.cpu.mem;
    return (m.read32(pa + 4) | 0) * TWO32 + (m.read32(pa) >>> 0);
  }
  private ru64(pa: number): number {
    const m = this.cpu.mem;
    return (m.read32(pa + 4) >>> 0) * TWO32 + (m.read32(pa) >>> 0);
  }
  private w64(pa: number, v: number): void {
    const lo = ((v % TWO32) + TWO32) % TWO32;
    this.cpu.mem.write32(pa, lo | 0);
    this.cpu.mem.write32(pa + 4, Math.floor(v / TWO32) | 0);
  }

  private saveSeg(pa: number, s: SegmentCache): void {
    const m = this.cpu.mem;
    m.write16(pa + VmcbSeg.SELECTOR, s.selector);
    // The VMCB's 12-bit attribute: descriptor bits 47:40 (type, S, DPL, P) and 55:52 (AVL, L, D/B, G).
    m.write16(pa + VmcbSeg.ATTRIB, (s.access & 0xff) | (s.l ? 0x200 : 0) | (s.big ? 0x400 : 0) | (s.gran ? 0x800 : 0));
    m.write32(pa + VmcbSeg.LIMIT, s.limit);
    this.w64(pa + VmcbSeg.BASE, s.base);
  }
  private loadSeg(pa: number, s: SegmentCache, long: boolean): void {
    const m = this.cpu.mem;
    const attrib = m.read16(pa + VmcbSeg.ATTRIB);
    s.selector = m.read16(pa + VmcbSeg.SELECTOR);
    s.access = attrib & 0xff;
    s.l = (attrib & 0x200) !== 0;
    s.big = (attrib & 0x400) !== 0;
    s.gran = (attrib & 0x800) !== 0;
    s.limit = m.read32(pa + VmcbSeg.LIMIT) >>> 0;
    s.base = long ? this.r64(pa + VmcbSeg.BASE) : m.read32(pa + VmcbSeg.BASE) >>> 0;
    s.valid = (attrib & 0x80) !== 0 || (this.cpu.cr0 & CR0_PE) === 0;
    s.refresh();
  }

  /** rAX as a VMCB address: 4 KiB aligned and inside the physical address space, else #GP(0). */
  private vmcbAddress(): number {
    const cpu = this.cpu;
    const rax = cpu.mode64 ? (cpu.regsHi[Reg.EAX] >>> 0) * TWO32 + (cpu.regs[Reg.EAX] >>> 0) : cpu.regs[Reg.EAX] >>> 0;
    if (rax % 4096 !== 0 || rax >= 2 ** cpu.maxPhyAddr) cpu.gp(0);
    return rax;
  }

  /** The checks every SVM instruction makes first (APM vol. 3 "VMRUN" …): #UD without EFER.SVME or outside protected mode, #GP(0) at CPL > 0. */
  private check(): void {
    const cpu = this.cpu;
    if ((cpu.efer & EFER_SVME) === 0 || !cpu.protectedMode || cpu.v86) cpu.ud();
    if (cpu.cpl !== 0) cpu.gp(0);
  }

  // ---- The instructions (APM vol. 3, "VMRUN", "VMLOAD", "VMSAVE", "STGI", "CLGI", "INVLPGA", "VMMCALL") ----

  vmrun(i: Instr): void {
    this.check();
    this.instruction(Intercept.VMRUN, i);
    const vmcb = this.vmcbAddress();
    if (this.hsavePa === 0) this.cpu.gp(0);
    this.enter(vmcb);
  }

  /**
   * What VMRUN does once its checks passed, with rAX = `vmcb`: save the host (RIP is the
   * processor's next instruction), check and load the guest, and run it. Native monitor code
   * (src/vmm) executes VMRUN through this.
   */
  enter(vmcb: number): void {
    const cpu = this.cpu;
    // Save the host (§15.5.2: the state VMRUN must restore; RIP is the next instruction's).
    const h = this.hsavePa, m = cpu.mem;
    this.saveSeg(h + Vmcb.ES, cpu.segs[SegReg.ES]); this.saveSeg(h + Vmcb.CS, cpu.segs[SegReg.CS]);
    this.saveSeg(h + Vmcb.SS, cpu.segs[SegReg.SS]); this.saveSeg(h + Vmcb.DS, cpu.segs[SegReg.DS]);
    m.write32(h + Vmcb.GDTR + 4, cpu.gdtrLimit); this.w64(h + Vmcb.GDTR + 8, cpu.gdtrBase);
    m.write32(h + Vmcb.IDTR + 4, cpu.idtrLimit); this.w64(h + Vmcb.IDTR + 8, cpu.idtrBase);
    this.w64(h + Vmcb.EFER, cpu.efer >>> 0); this.w64(h + Vmcb.CR0, cpu.cr0 >>> 0); this.w64(h + Vmcb.CR4, cpu.cr4 >>> 0);
    this.w64(h + Vmcb.CR3, (cpu.cr3Hi >>> 0) * TWO32 + (cpu.cr3 >>> 0));
    this.w64(h + Vmcb.RFLAGS, cpu.getEflags() >>> 0); this.w64(h + Vmcb.RIP, cpu.eip);
    this.saveGpr(h + Vmcb.RSP, Reg.ESP); this.saveGpr(h + Vmcb.RAX, Reg.EAX);

    // Read the control area, then check the guest (§15.5.1).
    const icr = m.read32(vmcb + Vmcb.INTERCEPT_CR), idr = m.read32(vmcb + Vmcb.INTERCEPT_DR);
    this.crRead = icr & 0xffff; this.crWrite = icr >>> 16; this.drRead = idr & 0xffff; this.drWrite = idr >>> 16;
    this.exceptions = m.read32(vmcb + Vmcb.INTERCEPT_EXCEPTIONS) >>> 0;
    this.misc1 = m.read32(vmcb + Vmcb.INTERCEPT_MISC1) >>> 0;
    this.misc2 = m.read32(vmcb + Vmcb.INTERCEPT_MISC2) >>> 0;
    this.iopm = this.ru64(vmcb + Vmcb.IOPM_BASE_PA) - (this.ru64(vmcb + Vmcb.IOPM_BASE_PA) % 4096);
    this.msrpm = this.ru64(vmcb + Vmcb.MSRPM_BASE_PA) - (this.ru64(vmcb + Vmcb.MSRPM_BASE_PA) % 4096);
    this.tscOffset = this.r64(vmcb + Vmcb.TSC_OFFSET);
    this.asid = m.read32(vmcb + Vmcb.GUEST_ASID) >>> 0;
    const vintr = m.read32(vmcb + Vmcb.VINTR);
    this.vIntrMasking = (vintr & (1 << 24)) !== 0;
    this.vIrq = (vintr & (1 << 8)) !== 0;
    this.vIntrVector = m.read8(vmcb + Vmcb.VINTR_VECTOR);
    this.np = (m.read32(vmcb + Vmcb.NP_ENABLE) & 1) !== 0 && cpu.features.npt;
    this.nCr3 = this.ru64(vmcb + Vmcb.N_CR3);
    this.vmcb = vmcb;
    const efer = this.ru64(vmcb + Vmcb.EFER), cr0 = this.ru64(vmcb + Vmcb.CR0), cr4 = this.ru64(vmcb + Vmcb.CR4);
    const cr3 = this.ru64(vmcb + Vmcb.CR3);
    const csAttrib = m.read16(vmcb + Vmcb.CS + VmcbSeg.ATTRIB);
    const inj = m.read32(vmcb + Vmcb.EVENTINJ) >>> 0;
    if (!this.consistent(efer, cr0, cr3, cr4, csAttrib, inj)) {
      // #VMEXIT(INVALID): the host continues after VMRUN with GIF clear (§15.5.1).
      this.w64(vmcb + Vmcb.EXITCODE, SvmExit.INVALID);
      this.w64(vmcb + Vmcb.EXITINFO1, 0); this.w64(vmcb + Vmcb.EXITINFO2, 0);
      this.count(SvmExit.INVALID);
      cpu.gif = false;
      return;
    }

    // Load the guest (§15.5.2). Nested paging takes the host's paging mode as it is now.
    const long = (efer & 0x400) !== 0; // EFER.LMA as the guest has it
    cpu.nested = this.np ? new NestedPaging(cpu, this, this.nCr3) : null;
    if (this.np && cpu.features.pat) {
      // With nested paging the guest has its own PAT, G_PAT; the host's comes back at #VMEXIT (§15.25.8).
      this.hostPat = cpu.plainMsrs.get(MSR_PAT) ?? [PAT_RESET[0], PAT_RESET[1]];
      cpu.plainMsrs.set(MSR_PAT, [m.read32(vmcb + Vmcb.G_PAT), m.read32(vmcb + Vmcb.G_PAT + 4)]);
    }
    cpu.loadSystemState(cr0 >>> 0, cr3 % TWO32, Math.floor(cr3 / TWO32), cr4 >>> 0, efer >>> 0);
    this.loadSeg(vmcb + Vmcb.ES, cpu.segs[SegReg.ES], long); this.loadSeg(vmcb + Vmcb.CS, cpu.segs[SegReg.CS], long);
    this.loadSeg(vmcb + Vmcb.SS, cpu.segs[SegReg.SS], long); this.loadSeg(vmcb + Vmcb.DS, cpu.segs[SegReg.DS], long);
    cpu.gdtrLimit = m.read32(vmcb + Vmcb.GDTR + 4) & 0xffff; cpu.gdtrBase = long ? this.r64(vmcb + Vmcb.GDTR + 8) : m.read32(vmcb + Vmcb.GDTR + 8) >>> 0;
    cpu.idtrLimit = m.read32(vmcb + Vmcb.IDTR + 4) & 0xffff; cpu.idtrBase = long ? this.r64(vmcb + Vmcb.IDTR + 8) : m.read32(vmcb + Vmcb.IDTR + 8) >>> 0;
    // CR2 is 64 bits wide: a long-mode guest's page-fault address may be above 4 GiB (canonical, negative here).
    cpu.cr2 = long ? this.r64(vmcb + Vmcb.CR2) : m.read32(vmcb + Vmcb.CR2) >>> 0;
    cpu.dr[7] = m.read32(vmcb + Vmcb.DR7); cpu.dr[6] = m.read32(vmcb + Vmcb.DR6);
    cpu.setEflags(m.read32(vmcb + Vmcb.RFLAGS));
    cpu.eip = long && (csAttrib & 0x200) !== 0 ? this.r64(vmcb + Vmcb.RIP) : m.read32(vmcb + Vmcb.RIP) >>> 0;
    this.setGpr(Reg.ESP, vmcb + Vmcb.RSP); this.setGpr(Reg.EAX, vmcb + Vmcb.RAX);
    // The guest's CPL is the VMCB's (real mode: 0; virtual-8086 mode: 3).
    cpu.cpl = (cr0 & CR0_PE) === 0 ? 0 : (cpu.flags & F.VM) !== 0 ? 3 : m.read8(vmcb + Vmcb.CPL) & 3;
    cpu.guestTscOffset = this.tscOffset;
    cpu.inhibitIrq = (m.read32(vmcb + Vmcb.INTERRUPT_SHADOW) & 1) !== 0;
    cpu.guest = this;
    cpu.gif = true;
    cpu.halted = false;
    if (this.vIrq) { cpu.virq = true; cpu.intrLine = true; }
    this.w64(vmcb + Vmcb.EXITINTINFO, 0);
    if ((inj & EventInj.V) !== 0) {
      m.write32(vmcb + Vmcb.EVENTINJ + 4, m.read32(vmcb + Vmcb.EVENTINJ + 4)); // unchanged; cleared below
      m.write32(vmcb + Vmcb.EVENTINJ, inj & ~EventInj.V);
      this.inject(inj, m.read32(vmcb + Vmcb.EVENTINJ + 4));
    }
  }

  /** The consistency checks of §15.5.1 that apply to the modelled state. */
  private consistent(efer: number, cr0: number, cr3: number, cr4: number, csAttrib: number, inj: number): boolean {
    const cpu = this.cpu;
    if ((efer & EFER_SVME) === 0) return false;
    if ((cr0 & CR0_CD) === 0 && (cr0 & CR0_NW) !== 0) return false;
    if (cr0 >= TWO32) return false;
    if (cr3 >= 2 ** cpu.maxPhyAddr) return false;
    if (cr4 >= TWO32 || (cr4 & ~cpu.cr4Allowed) !== 0) return false;
    if ((efer & ~(eferWritable(cpu) | 0x400)) !== 0 || efer >= TWO32) return false;
    const lme = (efer & EFER_LME) !== 0, pg = (cr0 & CR0_PG) !== 0;
    if (lme && pg && (cr4 & CR4_PAE) === 0) return false;
    if (lme && pg && (cr0 & CR0_PE) === 0) return false;
    if (lme && pg && (cr4 & CR4_PAE) !== 0 && (csAttrib & 0x200) !== 0 && (csAttrib & 0x400) !== 0) return false;
    if ((this.misc2 & Misc2.VMRUN) === 0) return false;
    const top = 2 ** cpu.maxPhyAddr;
    if ((this.misc1 & Misc1.IOIO_PROT) !== 0 && this.iopm + 3 * 4096 > top) return false;
    if ((this.misc1 & Misc1.MSR_PROT) !== 0 && this.msrpm + 2 * 4096 > top) return false;
    if ((inj & EventInj.V) !== 0) {
      const type = (inj >>> 8) & 7, vector = inj & 0xff;
      if (type === 1 || type > 4) return false;
      if (type === EventInj.TYPE_EXCEPTION && (vector === Vector.NMI || vector > 31)) return false;
    }
    if (this.asid === 0) return false;
    return true;
  }

  /** Deliver EVENTINJ through the guest's IDT before its first instruction (§15.20). */
  private inject(inj: number, code: number): void {
    const type = (inj >>> 8) & 7, vector = inj & 0xff;
    const kind = type === EventInj.TYPE_SOFT_INT ? IntKind.Software : type === EventInj.TYPE_EXCEPTION ? IntKind.Exception : IntKind.External;
    this.cpu.injectEvent(vector, kind, code, (inj & EventInj.EV) !== 0);
  }

  vmload(i: Instr): void {
    this.check();
    this.instruction(Intercept.VMLOAD, i);
    const cpu = this.cpu, v = this.vmcbAddress(), m = cpu.mem;
    this.loadSeg(v + Vmcb.FS, cpu.segs[SegReg.FS], true); this.loadSeg(v + Vmcb.GS, cpu.segs[SegReg.GS], true);
    this.loadSeg(v + Vmcb.TR, cpu.tr, true); this.loadSeg(v + Vmcb.LDTR, cpu.ldtr, true);
    cpu.kernelGsBase = this.r64(v + Vmcb.KERNEL_GS_BASE);
    for (const [off, msr] of SYSCALL_FIELDS) cpu.plainMsrs.set(msr, [m.read32(v + off), m.read32(v + off + 4)]);
    cpu.sysenterCs = m.read32(v + Vmcb.SYSENTER_CS) & 0xffff;
    cpu.sysenterEsp = m.read32(v + Vmcb.SYSENTER_ESP);
    cpu.sysenterEip = m.read32(v + Vmcb.SYSENTER_EIP);
  }

  vmsave(i: Instr): void {
    this.check();
    this.instruction(Intercept.VMSAVE, i);
    const cpu = this.cpu, v = this.vmcbAddress(), m = cpu.mem;
    this.saveSeg(v + Vmcb.FS, cpu.segs[SegReg.FS]); this.saveSeg(v + Vmcb.GS, cpu.segs[SegReg.GS]);
    this.saveSeg(v + Vmcb.TR, cpu.tr); this.saveSeg(v + Vmcb.LDTR, cpu.ldtr);
    this.w64(v + Vmcb.KERNEL_GS_BASE, cpu.kernelGsBase);
    for (const [off, msr] of SYSCALL_FIELDS) {
      const [lo, hi] = cpu.plainMsrs.get(msr) ?? [0, 0];
      m.write32(v + off, lo); m.write32(v + off + 4, hi);
    }
    this.w64(v + Vmcb.SYSENTER_CS, cpu.sysenterCs); this.w64(v + Vmcb.SYSENTER_ESP, cpu.sysenterEsp >>> 0);
    this.w64(v + Vmcb.SYSENTER_EIP, cpu.sysenterEip >>> 0);
  }

  stgi(i: Instr): void { this.check(); this.instruction(Intercept.STGI, i); this.cpu.gif = true; this.cpu.yieldSlice(); }
  clgi(i: Instr): void { this.check(); this.instruction(Intercept.CLGI, i); this.cpu.gif = false; }

  /** INVLPGA: drop the translation of rAX in ASID ECX. The TLB is not tagged: drop it for everyone. */
  invlpga(i: Instr): void {
    this.check();
    this.instruction(Intercept.INVLPGA, i);
    this.cpu.invalidatePage(this.cpu.mode64 ? this.gpr(Reg.EAX) : this.cpu.regs[Reg.EAX] >>> 0);
  }

  /** VMMCALL: an exit if intercepted, #UD otherwise (APM vol. 3 "VMMCALL"). */
  vmmcall(i: Instr): void {
    if (this.inGuest) this.instruction(Intercept.VMMCALL, i);
    this.cpu.ud();
  }

  // ---- Guest mode: the intercept checks (§15.7–15.13) ----

  instruction(what: Intercept, _i: Instr): void {
    if (!this.inGuest) return;
    const e = INSTRUCTION_INTERCEPTS[what];
    if (e === null || e === undefined) return;
    if (((e[0] === 3 ? this.misc1 : this.misc2) & e[1]) !== 0) this.exitInstruction(e[2], 0, 0);
  }

  crAccess(cr: number, write: boolean, value: number, _i: Instr): void {
    if (write) {
      if ((this.crWrite & (1 << cr)) !== 0) this.exitInstruction(SvmExit.CR0_WRITE + cr, 0, 0);
      // The selective CR0 write intercept: a change of any bit but TS and MP (§15.9.1).
      if (cr === 0 && (this.misc1 & Misc1.CR0_SEL_WRITE) !== 0 && ((value ^ this.cpu.cr0) & ~(CR0_TS | CR0_MP)) !== 0) {
        this.exitInstruction(SvmExit.CR0_SEL_WRITE, 0, 0);
      }
    } else if ((this.crRead & (1 << cr)) !== 0) {
      this.exitInstruction(SvmExit.CR0_READ + cr, 0, 0);
    }
  }

  drAccess(dr: number, write: boolean, _i: Instr): void {
    if (((write ? this.drWrite : this.drRead) & (1 << dr)) !== 0) this.exitInstruction((write ? SvmExit.DR0_WRITE : SvmExit.DR0_READ) + dr, 0, 0);
  }

  io(port: number, size: number, input: boolean, i: Instr): boolean {
    if ((this.misc1 & Misc1.IOIO_PROT) === 0) return false;
    const m = this.cpu.mem;
    let hit = false;
    for (let p = port; p < port + size; p++) {
      if ((m.read8(this.iopm + (p >>> 3)) & (1 << (p & 7))) !== 0) { hit = true; break; }
    }
    if (!hit) return false;
    const str = i.opcode >= 0x6c && i.opcode <= 0x6f;
    let info = (port << 16) | (input ? IoInfo.TYPE_IN : 0) | (size === 1 ? IoInfo.SZ8 : size === 2 ? IoInfo.SZ16 : IoInfo.SZ32);
    info |= i.code64 ? (i.adsize64 ? IoInfo.A64 : IoInfo.A32) : i.adsize32 ? IoInfo.A32 : IoInfo.A16;
    if (str) info |= IoInfo.STR | (i.rep !== 0 ? IoInfo.REP : 0) | ((input ? SegReg.ES : i.seg) << 10);
    // EXITINFO2: the rIP of the instruction after the IN/OUT (§15.10.2). The caller ends the instruction.
    this.vmexit(SvmExit.IOIO, info >>> 0, this.cpu.eip, this.cpu.instrEip);
    return true;
  }

  msr(write: boolean, _i: Instr): void {
    if ((this.misc1 & Misc1.MSR_PROT) === 0) return;
    const n = this.cpu.regs[Reg.ECX] >>> 0;
    // The MSR permission map (§15.11): 2 bits per MSR (read, write) for three ranges of 8K MSRs.
    const base = n <= 0x1fff ? 0 : n >= 0xc000_0000 && n <= 0xc000_1fff ? 0x800 : n >= 0xc001_0000 && n <= 0xc001_1fff ? 0x1000 : -1;
    let hit = true;
    if (base >= 0) {
      const bit = (n & 0x1fff) * 2 + (write ? 1 : 0);
      hit = (this.cpu.mem.read8(this.msrpm + base + (bit >>> 3)) & (1 << (bit & 7))) !== 0;
    }
    if (hit) this.exitInstruction(SvmExit.MSR, write ? 1 : 0, 0);
  }

  exception(vector: number, errorCode: number, hasErrorCode: boolean, cr2: number): boolean {
    if (vector > 31 || (this.exceptions & (1 << vector)) === 0) return false;
    // EXITINFO1 the error code, EXITINFO2 for #PF the faulting address (CR2 is not written: §15.12).
    this.vmexit(SvmExit.EXCP0 + vector, hasErrorCode ? errorCode >>> 0 : 0, vector === Vector.PF ? cr2 : 0, this.cpu.eip);
    return true;
  }

  interrupt(nmi: boolean): boolean {
    if (nmi) {
      if ((this.misc1 & Misc1.NMI) === 0) return false;
      this.vmexit(SvmExit.NMI, 0, 0, this.cpu.eip);
      return true;
    }
    const cpu = this.cpu;
    if ((this.misc1 & Misc1.INTR) !== 0 && cpu.intr !== null && cpu.intr.hasInterrupt()) {
      // With V_INTR_MASKING the host's IF (in the host save area) masks physical interrupts,
      // not the guest's (§15.21.1).
      const hostIf = (cpu.mem.read32(this.hsavePa + Vmcb.RFLAGS) & F.IF) !== 0;
      if (this.vIntrMasking ? hostIf : (cpu.flags & F.IF) !== 0) {
        this.vmexit(SvmExit.INTR, 0, 0, cpu.eip);
        return true;
      }
    }
    // A virtual interrupt, once the guest's IF allows it and it is past an interrupt shadow
    // (the caller checked the shadow): the VINTR intercept, or delivery through the guest's
    // IDT (§15.21.4). V_TPR priorities are not modelled.
    if (this.vIrq && (cpu.flags & F.IF) !== 0) {
      if ((this.misc1 & Misc1.VINTR) !== 0) {
        this.vmexit(SvmExit.VINTR, 0, 0, cpu.eip);
        return true;
      }
      this.vIrq = false;
      cpu.virq = false;
      cpu.halted = false;
      cpu.instrEip = cpu.eip;
      cpu.deliver(this.vIntrVector, IntKind.External, 0, false);
      return true;
    }
    return false;
  }

  shutdown(): boolean {
    if ((this.misc1 & Misc1.SHUTDOWN) === 0) return false;
    this.vmexit(SvmExit.SHUTDOWN, 0, 0, this.cpu.eip);
    return true;
  }

  /**
   * A task switch to TSS selector `sel` (§15.14.1): EXITINFO1 the selector, EXITINFO2 bit 36
   * for IRET, bit 38 for a far JMP. (Bit 44 and the error code of a switch through a task
   * gate are not reported: the event being delivered is in EXITINTINFO.)
   */
  taskSwitch(sel: number, iret: boolean, jmp: boolean): void {
    if ((this.misc1 & Misc1.TASK_SWITCH) === 0) return;
    this.exitInstruction(SvmExit.TASK_SWITCH, sel & 0xffff, (iret ? 2 ** 36 : 0) + (jmp ? 2 ** 38 : 0));
  }

  /** A nested page fault (§15.25.6): EXITINFO1 the error code, EXITINFO2 the guest-physical address. */
  nestedPageFault(errorCode: number, gpa: number): never {
    this.exitInstruction(SvmExit.NPF, errorCode, gpa);
  }

  // ---- #VMEXIT (§15.6) ----

  /** An intercept inside an instruction: the guest's rIP stays at it, and the instruction is abandoned. */
  private exitInstruction(code: number, info1: number, info2: number): never {
    this.vmexit(code, info1, info2, this.cpu.instrEip);
    return this.cpu.throwExit();
  }

  /** Write the guest's state and the exit's information to the VMCB, then reload the host. */
  vmexit(code: number, info1: number, info2: number, rip: number): void {
    const cpu = this.cpu, v = this.vmcb, m = cpu.mem;
    this.count(code);
    this.saveSeg(v + Vmcb.ES, cpu.segs[SegReg.ES]); this.saveSeg(v + Vmcb.CS, cpu.segs[SegReg.CS]);
    this.saveSeg(v + Vmcb.SS, cpu.segs[SegReg.SS]); this.saveSeg(v + Vmcb.DS, cpu.segs[SegReg.DS]);
    m.write32(v + Vmcb.GDTR + 4, cpu.gdtrLimit); this.w64(v + Vmcb.GDTR + 8, cpu.gdtrBase);
    m.write32(v + Vmcb.IDTR + 4, cpu.idtrLimit); this.w64(v + Vmcb.IDTR + 8, cpu.idtrBase);
    this.w64(v + Vmcb.EFER, cpu.efer >>> 0); this.w64(v + Vmcb.CR0, cpu.cr0 >>> 0); this.w64(v + Vmcb.CR4, cpu.cr4 >>> 0);
    this.w64(v + Vmcb.CR3, (cpu.cr3Hi >>> 0) * TWO32 + (cpu.cr3 >>> 0)); this.w64(v + Vmcb.CR2, cpu.lma ? cpu.cr2 : cpu.cr2 >>> 0);
    this.w64(v + Vmcb.DR7, cpu.dr[7] >>> 0); this.w64(v + Vmcb.DR6, cpu.dr[6] >>> 0);
    this.w64(v + Vmcb.RFLAGS, cpu.getEflags() >>> 0); this.w64(v + Vmcb.RIP, rip);
    this.saveGpr(v + Vmcb.RSP, Reg.ESP); this.saveGpr(v + Vmcb.RAX, Reg.EAX);
    m.write8(v + Vmcb.CPL, cpu.cpl);
    m.write32(v + Vmcb.INTERRUPT_SHADOW, cpu.inhibitIrq ? 1 : 0); m.write32(v + Vmcb.INTERRUPT_SHADOW + 4, 0);
    this.w64(v + Vmcb.EXITCODE, code);
    this.w64(v + Vmcb.EXITINFO1, info1); this.w64(v + Vmcb.EXITINFO2, info2);
    m.write32(v + Vmcb.VINTR, (m.read32(v + Vmcb.VINTR) & ~(1 << 8)) | (this.vIrq ? 1 << 8 : 0));
    if (this.delivering !== 0) {
      m.write32(v + Vmcb.EXITINTINFO, this.delivering); m.write32(v + Vmcb.EXITINTINFO + 4, this.deliveringCode);
      this.delivering = 0;
    }
    if (this.hostPat !== null) {
      const [lo, hi] = cpu.plainMsrs.get(MSR_PAT) ?? PAT_RESET;
      m.write32(v + Vmcb.G_PAT, lo); m.write32(v + Vmcb.G_PAT + 4, hi);
      cpu.plainMsrs.set(MSR_PAT, this.hostPat);
      this.hostPat = null;
    }

    // Back to the host: GIF clear, the host's state from the save area, CPL 0, DR7 with all
    // breakpoints off, CR0.PE set (§15.6).
    const h = this.hsavePa;
    cpu.guest = null;
    cpu.nested = null;
    if (cpu.virq) { cpu.virq = false; cpu.intrLine = cpu.intr !== null && cpu.intr.hasInterrupt(); }
    cpu.gif = false;
    cpu.guestTscOffset = 0;
    cpu.inhibitIrq = false;
    cpu.halted = false;
    const efer = this.ru64(h + Vmcb.EFER), cr3 = this.ru64(h + Vmcb.CR3);
    cpu.loadSystemState((this.ru64(h + Vmcb.CR0) >>> 0) | CR0_PE, cr3 % TWO32, Math.floor(cr3 / TWO32), this.ru64(h + Vmcb.CR4) >>> 0, efer >>> 0);
    const long = (efer & 0x400) !== 0;
    this.loadSeg(h + Vmcb.ES, cpu.segs[SegReg.ES], long); this.loadSeg(h + Vmcb.CS, cpu.segs[SegReg.CS], long);
    this.loadSeg(h + Vmcb.SS, cpu.segs[SegReg.SS], long); this.loadSeg(h + Vmcb.DS, cpu.segs[SegReg.DS], long);
    cpu.gdtrLimit = m.read32(h + Vmcb.GDTR + 4) & 0xffff; cpu.gdtrBase = this.r64(h + Vmcb.GDTR + 8);
    cpu.idtrLimit = m.read32(h + Vmcb.IDTR + 4) & 0xffff; cpu.idtrBase = this.r64(h + Vmcb.IDTR + 8);
    cpu.setEflags(m.read32(h + Vmcb.RFLAGS));
    cpu.eip = this.r64(h + Vmcb.RIP);
    this.setGpr(Reg.ESP, h + Vmcb.RSP); this.setGpr(Reg.EAX, h + Vmcb.RAX);
    cpu.dr[7] = 0x400;
    cpu.cpl = 0;
  }

  private count(code: number): void { this.exits.set(code, (this.exits.get(code) ?? 0) + 1); }

  private gpr(r: number): number {
    return (this.cpu.regsHi[r] | 0) * TWO32 + (this.cpu.regs[r] >>> 0);
  }
  /** A 64-bit register to memory, both halves as they are (a double would round values above 2^53). */
  private saveGpr(pa: number, r: number): void {
    this.cpu.mem.write32(pa, this.cpu.regs[r]);
    this.cpu.mem.write32(pa + 4, this.cpu.regsHi[r]);
  }
  private setGpr(r: number, pa: number): void {
    this.cpu.regs[r] = this.cpu.mem.read32(pa);
    this.cpu.regsHi[r] = this.cpu.mem.read32(pa + 4);
  }
}

/** VMLOAD/VMSAVE's SYSCALL MSRs: STAR, LSTAR, CSTAR, SFMASK by VMCB offset. */
const SYSCALL_FIELDS: readonly [number, number][] = [
  [Vmcb.STAR, 0xc000_0081], [Vmcb.LSTAR, 0xc000_0082], [Vmcb.CSTAR, 0xc000_0083], [Vmcb.SFMASK, 0xc000_0084],
];

/** VM_CR.SVMDIS forbids setting EFER.SVME (§15.30.1). */
export function svmeAllowed(svm: Svm): boolean { return (svm.vmCr & VM_CR_SVMDIS) === 0; }
