// The SVM monitor (`--mode svm`, docs/svm.md): hardware-assisted virtualization on the
// machine model's AMD-V (src/hw/cpu/svm), with nested paging.
//
// The guest runs in SVM guest mode on the machine's processor — its kernel at its own ring
// 0, its user code at ring 3, its own page tables walked by the hardware through the
// monitor's nested tables — until something the monitor intercepts happens. Then native
// monitor code (the exit handler) runs at host CPL 0: it brings the guest's state from the
// VMCB into the vCPU (the same instruction-level emulator the classic monitor uses, holding
// the guest's virtual platform), carries out what the guest did (an I/O instruction, CPUID,
// RDMSR/WRMSR, HLT, a device access the nested tables do not map), delivers interrupts from
// the virtual devices through the guest's IDT, and returns with VMRUN. Nothing is shadowed,
// nothing translated: the hardware does what trap and bt spend their effort on.
//
// Host memory (machine-physical, above the guest's RAM), after what every hardware-assisted
// monitor has (src/vmm/assist/assisted-monitor.ts: host GDT, IDT, native entries, stack):
//   +0x4000 host save area   +0x5000 VMCB   +0x6000 I/O permission map (12 KiB)
//   +0x9000 MSR permission map (8 KiB)   +0xB000 nested page tables (legacy 2-level format:
//   the host runs in 32-bit protected mode without paging), then the shadow pool or the
//   long-mode host area
//
// Time is the classic monitor's (docs/monitor.md): guest time = machine cycles − overhead
// (each exit's native instructions); the machine's local APIC timer, in TSC-deadline mode,
// is armed at the guest's next virtual-device event plus the overhead and brings an INTR
// exit at exactly that guest instruction; the VMCB's TSC offset makes the guest's RDTSC read
// guest time. An interrupt the guest cannot take yet (IF=0, or in an interrupt shadow) is
// left to the hardware: V_IRQ with the VINTR intercept exits at the first instruction
// boundary where it can.

import { Reg, CR0_PE, CR0_PG, CR4_PAE, EFER_LME, EFER_LMA } from "../../hw/cpu/cpu.js";
import { withFeatures } from "../../hw/cpu/models.js";
import { Descriptor, SegReg, type SegmentCache } from "../../hw/cpu/segment.js";
import { StopReason } from "../../hw/cpu/fault.js";
import * as F from "../../hw/cpu/eflags.js";
import type { PcOptions } from "../../hw/pc/pc.js";
import { EFER_SVME, type Svm } from "../../hw/cpu/svm/svm.js";
import { Misc1, Misc2, SvmExit, Vmcb, VmcbSeg, svmExitName } from "../../hw/cpu/svm/vmcb.js";
import { ShadowPaging, PfOutcome } from "../shadow/shadow-paging.js";
import { GuestUnsupported, MonitorPanic } from "../monitor.js";
import { AssistedMonitor, HOST_GDT, HOST_IDT, HOST_PRIVATE, NATIVE, SEL_CS } from "../assist/assisted-monitor.js";
import { HostAreaGuard, svmGuardedRanges, type IntegrityVerdict } from "./integrity.js";

const HSAVE = HOST_PRIVATE, VMCB = HOST_PRIVATE + 0x1000, IOPM = HOST_PRIVATE + 0x2000, MSRPM = HOST_PRIVATE + 0x5000;
const NPT = HOST_PRIVATE + 0x7000;
/** The SVM monitor's own host structures, as offsets from the host area's base. */
export const SVM_HOST = { hsave: HSAVE, vmcb: VMCB, iopm: IOPM, msrpm: MSRPM, npt: NPT } as const;
/** Shadow page-table pool (shadow paging), in pages after the host area. */
const POOL_PAGES = 2048;
/** MOV CRn intercepts (VMCB offset 000h): reads in bits 15:0, writes in bits 31:16. */
const CR_READ = (cr: number) => 1 << cr, CR_WRITE = (cr: number) => 1 << (16 + cr);
/** Exception intercepts (VMCB offset 008h). */
const EXCP_PF = 1 << 14;
/** How the guest's memory is virtualized: the hardware's nested walk, or the monitor's shadow tables. */
export type SvmPaging = "nested" | "shadow";
/** The host's native interrupt entries (NATIVE + 4 × vector), for the long-mode host's IDT. */
const N_VECTOR = 0x000;
/** The host's 64-bit code selector, after AssistedMonitor's flat code and data. */
const SEL_CS64 = 0x18;
/**
 * The long-mode host (64-bit guests, nested paging), after the legacy nested tables: its
 * IDT (16-byte gates), its page tables (4 GiB identity-mapped with 2 MiB pages: PML4, PDPT,
 * four PDs), and the 4-level nested tables (PML4, PDPT, PDs, PTs).
 */
const L_IDT = 0x0000, L_PML4 = 0x1000, L_PDPT = 0x2000, L_PD = 0x3000, L_NPML4 = 0x7000, L_NPDPT = 0x8000, L_NPD = 0x9000;
/** The MSRs of SYSCALL/SYSRET (STAR, LSTAR, CSTAR, SFMASK): the guest uses them natively; they change only by WRMSR, which exits. */
const SYSCALL_MSRS = [0xc000_0081, 0xc000_0082, 0xc000_0083, 0xc000_0084];
const TWO32 = 0x1_0000_0000;
const TWO48 = TWO32 * 0x1_0000;

/** A 64-bit-mode linear address as a canonical number in [-2^47, 2^47) (bits 63:48 copy bit 47). */
function canonical(x: number): number {
  const u = ((x % TWO48) + TWO48) % TWO48;
  return u >= TWO48 / 2 ? u - TWO48 : u;
}

/** The intercepts this monitor sets (APM vol. 2 §15.9–15.13). */
const MISC1 = Misc1.INTR | Misc1.NMI | Misc1.VINTR | Misc1.CPUID | Misc1.HLT | Misc1.IOIO_PROT | Misc1.MSR_PROT |
  Misc1.SHUTDOWN | Misc1.INVD | Misc1.RSM | Misc1.INVLPGA;
const MISC2 = Misc2.VMRUN | Misc2.VMMCALL | Misc2.VMLOAD | Misc2.VMSAVE | Misc2.STGI | Misc2.CLGI | Misc2.SKINIT |
  Misc2.MONITOR | Misc2.MWAIT;
/**
 * MSRs the guest reads and writes natively (the host does not use them): SYSENTER_CS/ESP/EIP
 * and TSC_AUX, which RDTSCP returns (Linux reads the TSC with RDTSCP millions of times while
 * booting: intercepting it cost 4.2 million exits).
 */
const PASS_MSRS = [0x174, 0x175, 0x176, 0xc000_0103];

/** The bit of MSR `msr`'s read intercept in the MSR permission map (APM vol. 2 §15.11); the write bit follows it. */
function msrpmBit(msr: number): number {
  const base = msr <= 0x1fff ? 0 : msr >= 0xc000_0000 && msr <= 0xc000_1fff ? 0x800 : 0x1000;
  return base * 8 + (msr & 0x1fff) * 2;
}

export class SvmMonitor extends AssistedMonitor {
  readonly mode = "svm" as const;
  private readonly svm: Svm;
  /** Nested or shadow paging (the best the model offers unless asked). */
  readonly paging: SvmPaging;
  /** Shadow paging's tables (null under nested paging). */
  private readonly shadow: ShadowPaging | null = null;
  /** The CR intercepts last written to the VMCB (shadow paging changes the read intercepts). */
  private crIntercepts = 0;
  /** The host area as buildHost() left it, for integrity() (integrity.ts). */
  private readonly guard: HostAreaGuard;
  /** The long-mode host area (models with long mode, nested paging), or -1. */
  private readonly longArea: number = -1;
  /** The host runs in long mode now (a guest with EFER.LME). */
  private hostLong = false;

  constructor(opts: PcOptions & { paging?: SvmPaging }) {
    const model = opts.model;
    if (model === undefined || !model.features.svm) {
      throw new GuestUnsupported("--mode svm needs a CPU model with SVM (--cpu athlon64-revf or barcelona)");
    }
    const paging = opts.paging ?? (model.features.npt ? "nested" : "shadow");
    if (paging === "nested" && !model.features.npt) {
      throw new GuestUnsupported(`nested paging needs a CPU model with NPT (--cpu barcelona); ${model.name} has SVM only: use shadow paging`);
    }
    const guestRam = opts.ramBytes;
    const nptBytes = paging === "nested" ? 0x1000 + Math.ceil(guestRam / 0x40_0000) * 0x1000 : 0;
    const poolBytes = paging === "shadow" ? POOL_PAGES * 0x1000 : 0;
    // A long-mode host for 64-bit guests: its IDT and page tables, and 4-level nested tables.
    // Shadow paging needs only the host's part (its shadows are in the pool, before it).
    const longBytes = !model.features.lm ? 0 : paging === "nested" ? L_NPD + Math.ceil(guestRam / 0x4000_0000) * 0x1000 + Math.ceil(guestRam / 0x20_0000) * 0x1000 : L_NPML4;
    // The guest's processor: the machine's model without what a hypervisor keeps to itself
    // (SVM) or does not virtualize (the local APIC, as under trap and bt).
    super(opts, withFeatures(model, { strict: false, apic: false, tscDeadline: false, svm: false, npt: false }), NPT + nptBytes + poolBytes + longBytes);
    this.paging = paging;
    if (longBytes > 0) this.longArea = NPT + nptBytes + poolBytes;
    this.svm = this.machine.cpu.svm!;
    if (paging === "shadow") this.shadow = new ShadowPaging(this.machine.mem, this.guestMem, this.phys(NPT + nptBytes), POOL_PAGES, this.counters);
    this.buildHost();
    this.guard = new HostAreaGuard(this.machine.mem, svmGuardedRanges({ base: this.base, gdt: HOST_GDT, idt: HOST_IDT, native: NATIVE,
      vmcb: VMCB, iopm: IOPM, msrpm: MSRPM, npt: NPT, nptBytes, crInterceptsChange: paging === "shadow",
      long: longBytes > 0 ? { at: this.longArea, bytes: longBytes, nestedRootSwitches: paging === "nested" } : undefined }));
  }

  // ===================================================================================
  // The host: protected mode, flat, no paging; SVM on; the VMCB's controls; nested tables
  // ===================================================================================


  private buildHost(): void {
    const m = this.machine.cpu, mem = this.machine.mem;
    // GDT (null, flat code, flat data, and a 64-bit code segment for the long-mode host), the
    // IDT's gates to native entries (only the deadline timer is expected, while idle), VMRUN
    // and the exit handler right after it (VMRUN's "next instruction").
    this.buildCommonHost(() => this.vmrunEntry(), () => this.exitEntry());
    this.put32(HOST_GDT + SEL_CS64, 0x0000_ffff); this.put32(HOST_GDT + SEL_CS64 + 4, 0x00af_9b00); // L=1: 64-bit code
    m.gdtrLimit = SEL_CS64 + 7;
    // EFER.SVME and VM_HSAVE_PA; IF set (with V_INTR_MASKING the host's IF lets physical
    // interrupts exit the guest).
    m.setEfer(m.efer | EFER_SVME);
    this.svm.hsavePa = this.phys(HSAVE);
    // The I/O permission map: every port; the MSR permission map: every MSR but PASS_MSRS.
    for (let k = 0; k < 3 * 4096; k += 4) this.put32(IOPM + k, -1);
    for (let k = 0; k < 2 * 4096; k += 4) this.put32(MSRPM + k, -1);
    for (const msr of PASS_MSRS) {
      const bit = msrpmBit(msr), at = MSRPM + (bit >>> 5) * 4;
      this.put32(at, mem.read32(this.phys(at)) & ~(3 << (bit & 31)));
    }
    // The VMCB's control area.
    this.put32(VMCB + Vmcb.INTERCEPT_MISC2, MISC2);
    this.put32(VMCB + Vmcb.IOPM_BASE_PA, this.phys(IOPM));
    this.put32(VMCB + Vmcb.MSRPM_BASE_PA, this.phys(MSRPM));
    this.put32(VMCB + Vmcb.GUEST_ASID, 1);
    if (this.paging === "nested") this.buildNested();
    if (this.longArea >= 0) this.buildLong();
    if (this.paging === "shadow") {
      // Shadow paging: the guest's page faults, MOV to CR0/CR3/CR4 (and reads of those that
      // differ from the guest's: syncOut), INVLPG and task switches (which load CR3) exit.
      this.put32(VMCB + Vmcb.INTERCEPT_MISC1, MISC1 | Misc1.INVLPG | Misc1.TASK_SWITCH);
      this.put32(VMCB + Vmcb.INTERCEPT_EXCEPTIONS, EXCP_PF);
    }
  }

  /**
   * Nested tables: guest-physical RAM page p → machine page p (the guest's RAM is the
   * machine's first bytes), user and writable; the VGA/ROM window and everything above RAM
   * not present, so accesses there exit (NPF) and the vCPU carries them out on the guest's
   * devices.
   */
  private buildNested(): void {
    const guestRam = this.base;
    const tables = Math.ceil(guestRam / 0x40_0000);
    // Accessed and dirty preset: the processor never writes the tables (A 20h, D 40h).
    for (let t = 0; t < tables; t++) this.put32(NPT + t * 4, (this.phys(NPT + 0x1000 + t * 0x1000) | 0x27) | 0);
    for (let p = 0; p < guestRam / 4096; p++) {
      const a = p * 4096;
      if (this.guestMem.isRam(a)) this.put32(NPT + 0x1000 + p * 4, a | 0x67);
    }
    this.put32(VMCB + Vmcb.INTERCEPT_MISC1, MISC1);
    this.put32(VMCB + Vmcb.NP_ENABLE, 1);
    this.put32(VMCB + Vmcb.N_CR3, this.phys(NPT));
  }

  /**
   * The long-mode host's tables. A 64-bit guest needs a host in long mode: a #VMEXIT to a
   * legacy-mode host would leave the guest's R8–R15 and the upper halves of its registers,
   * which the VMCB does not hold, undefined (APM vol. 2 §3.1.2: leaving 64-bit mode), and
   * with the host in long mode the nested tables are 4-level (§15.25.3: the nested walk
   * uses the host's paging mode), as the guest's own are.
   */
  private buildLong(): void {
    const L = this.longArea;
    // The IDT: 16-byte interrupt gates (64-bit code selector) to the same native entries.
    for (let v = 0; v < 256; v++) {
      const at = this.phys(NATIVE + N_VECTOR + v * 4);
      this.put32(L + L_IDT + v * 16, (SEL_CS64 << 16) | (at & 0xffff));
      this.put32(L + L_IDT + v * 16 + 4, ((at & 0xffff_0000) | 0x8e00) | 0);
    }
    // Host paging: the low 4 GiB identity-mapped, supervisor, 2 MiB pages, A and D preset.
    this.put32(L + L_PML4, this.phys(L + L_PDPT) | 0x23);
    for (let i = 0; i < 4; i++) {
      this.put32(L + L_PDPT + i * 8, this.phys(L + L_PD + i * 0x1000) | 0x23);
      for (let j = 0; j < 512; j++) this.put32(L + L_PD + i * 0x1000 + j * 8, ((i * 512 + j) * 0x20_0000 + 0xe3) | 0);
    }
    if (this.paging !== "nested") return;
    // 4-level nested tables: guest-physical RAM page p → machine page p, as the legacy ones.
    const ram = this.base;
    const pds = Math.ceil(ram / 0x4000_0000), pts = Math.ceil(ram / 0x20_0000);
    const pt0 = L + L_NPD + pds * 0x1000;
    this.put32(L + L_NPML4, this.phys(L + L_NPDPT) | 0x27);
    for (let i = 0; i < pds; i++) this.put32(L + L_NPDPT + i * 8, this.phys(L + L_NPD + i * 0x1000) | 0x27);
    for (let t = 0; t < pts; t++) this.put32(L + L_NPD + t * 8, this.phys(pt0 + t * 0x1000) | 0x27);
    for (let p = 0; p < ram / 4096; p++) {
      const a = p * 4096;
      if (this.guestMem.isRam(a)) this.put32(pt0 + p * 8, a | 0x67);
    }
  }

  /**
   * Switch the host between 32-bit protected mode without paging (legacy nested tables) and
   * long mode (4-level nested tables), as the guest's EFER.LME asks: native code at CPL 0,
   * in the order the architecture allows (PAE and CR3 before LME and PG; out through
   * compatibility mode).
   */
  private setHostLong(on: boolean): void {
    const m = this.machine.cpu, d = new Descriptor();
    this.hostLong = on;
    this.counters.inc(on ? "host.long-mode" : "host.legacy-mode");
    if (on) {
      m.setCr4(m.cr4 | CR4_PAE);
      m.setCr3(this.phys(this.longArea + L_PML4));
      m.setEfer(m.efer | EFER_LME);
      m.setCr0(m.cr0 | CR0_PG);
      d.lo = 0x0000_ffff; d.hi = 0x00af_9b00;
      m.segs[SegReg.CS].loadDescriptor(SEL_CS64, d);
      m.idtrBase = this.phys(this.longArea + L_IDT); m.idtrLimit = 256 * 16 - 1;
      if (this.paging === "nested") this.put32(VMCB + Vmcb.N_CR3, this.phys(this.longArea + L_NPML4));
    } else {
      d.lo = 0x0000_ffff; d.hi = 0x00cf_9b00;
      m.segs[SegReg.CS].loadDescriptor(SEL_CS, d);
      m.mode64 = false;
      m.setCr0(m.cr0 & ~CR0_PG);
      m.setEfer(m.efer & ~EFER_LME);
      m.setCr4(m.cr4 & ~CR4_PAE);
      m.setCr3(0);
      m.idtrBase = this.phys(HOST_IDT); m.idtrLimit = 256 * 8 - 1;
      if (this.paging === "nested") this.put32(VMCB + Vmcb.N_CR3, this.phys(NPT));
    }
    m.regsHi.fill(0, Reg.ESP, Reg.ESP + 1);
  }

  protected override restored(): void { this.shadow?.reset(this.vcpu); }

  // ===================================================================================
  // Native entries
  // ===================================================================================

  /** VMRUN (rAX = the VMCB): the guest runs until an intercept; the host resumes at the exit handler. */
  private vmrunEntry(): void {
    this.entering();
    const m = this.machine.cpu;
    m.regs[Reg.EAX] = this.phys(VMCB);
    m.regsHi[Reg.EAX] = 0;
    this.svm.enter(this.phys(VMCB));
  }

  /** After #VMEXIT: the exit handler. */
  private exitEntry(): void {
    this.enterMonitor();
    const m = this.machine.cpu;
    const code = this.r32(Vmcb.EXITCODE) | 0;
    if (code === SvmExit.INVALID) throw new MonitorPanic("VMRUN refused the guest state (#VMEXIT(INVALID))");
    this.counters.inc(`vmexit.${svmExitName(code)}`);
    this.syncIn();
    switch (code) {
      case SvmExit.INTR:
        // The deadline timer (the host's only interrupt source). The host takes it, as after
        // STGI it would through its IDT: acknowledge, then end it at the APIC. The exit
        // itself is what the timer was for.
        this.endTimerInterrupt();
        break;
      case SvmExit.NMI:
        throw new MonitorPanic("an NMI reached the SVM monitor");
      case SvmExit.VINTR:
        break;
      case SvmExit.SHUTDOWN:
        m.stop(StopReason.TripleFault);
        break;
      case SvmExit.EXCP0 + 14:
        this.pageFault(this.vcpu.lma ? this.r64(Vmcb.EXITINFO2) : this.r32(Vmcb.EXITINFO2) >>> 0, this.r32(Vmcb.EXITINFO1));
        break;
      case SvmExit.INVLPG: {
        // INVLPG on the vCPU (its TLB), then the shadow entry for the address (no decode
        // assists on these parts: the address comes from the instruction the vCPU ran).
        this.emulateOne();
        const ins = this.lastIns, vc = this.vcpu;
        if (ins !== null && this.shadow !== null) {
          const lin = vc.segs[ins.seg].base + vc.ea(ins);
          this.shadow.invlpg(vc.mode64 ? canonical(lin) : lin >>> 0);
        }
        break;
      }
      default:
        // CPUID, HLT, IN/OUT, RDMSR/WRMSR, RDTSCP, a device access (NPF), the SVM
        // instructions (#UD for the guest, whose model has no SVM): one instruction on the vCPU.
        this.emulateOne();
        break;
    }
    this.leaveMonitor();
  }

  /** SVM holds the host's interrupts with GIF: CLGI while the monitor runs, STGI in the idle loop. */
  protected override hostInterruptsOff(): void { this.machine.cpu.gif = false; }
  protected override hostInterruptsOn(): void { this.machine.cpu.gif = true; }

  // ===================================================================================
  // VMCB ⇄ vCPU
  // ===================================================================================

  private r32(off: number): number { return this.machine.mem.read32(this.phys(VMCB + off)); }
  private w32(off: number, v: number): void { this.machine.mem.write32(this.phys(VMCB + off), v); }
  private w64(off: number, v: number): void {
    this.w32(off, ((v % TWO32) + TWO32) % TWO32 | 0);
    this.w32(off + 4, Math.floor(v / TWO32) | 0);
  }
  /** A 64-bit VMCB field as the processor keeps 64-bit addresses: signed (canonical). */
  private r64(off: number): number { return (this.r32(off + 4) | 0) * TWO32 + (this.r32(off) >>> 0); }

  private segIn(off: number, s: SegmentCache, long: boolean): void {
    const mem = this.machine.mem, at = this.phys(VMCB + off);
    const attrib = mem.read16(at + VmcbSeg.ATTRIB);
    s.selector = mem.read16(at + VmcbSeg.SELECTOR);
    s.access = attrib & 0xff;
    s.l = (attrib & 0x200) !== 0; s.big = (attrib & 0x400) !== 0; s.gran = (attrib & 0x800) !== 0;
    s.limit = mem.read32(at + VmcbSeg.LIMIT) >>> 0;
    s.base = long ? this.r64(off + VmcbSeg.BASE) : mem.read32(at + VmcbSeg.BASE) >>> 0;
    s.valid = (attrib & 0x80) !== 0 || (this.vcpu.cr0 & CR0_PE) === 0;
    s.refresh();
  }
  private segOut(off: number, s: SegmentCache): void {
    const mem = this.machine.mem, at = this.phys(VMCB + off);
    mem.write16(at + VmcbSeg.SELECTOR, s.selector);
    // A null data selector loaded in protected mode is "unusable": not present in the VMCB.
    const access = s.valid ? s.access : s.access & 0x7f;
    mem.write16(at + VmcbSeg.ATTRIB, (access & 0xff) | (s.l ? 0x200 : 0) | (s.big ? 0x400 : 0) | (s.gran ? 0x800 : 0));
    mem.write32(at + VmcbSeg.LIMIT, s.limit);
    this.w64(off + VmcbSeg.BASE, s.base);
  }

  /** The guest's state after an exit: the VMCB's part, and what stays in the machine (other GPRs, FS, GS, LDTR, TR, SYSENTER). */
  private syncIn(): void {
    const m = this.machine.cpu, vc = this.vcpu;
    // Guest time: machine cycles less the overhead before this exit (the exit handler now
    // running is in `overhead` already and not yet in `cycles`).
    vc.instructions = m.cycles - (this.overhead - 1);
    vc.idleCycles = 0;
    vc.regs.set(m.regs);
    vc.regsHi.set(m.regsHi);
    vc.regs[Reg.EAX] = this.r32(Vmcb.RAX); vc.regsHi[Reg.EAX] = this.r32(Vmcb.RAX + 4);
    vc.regs[Reg.ESP] = this.r32(Vmcb.RSP); vc.regsHi[Reg.ESP] = this.r32(Vmcb.RSP + 4);
    const long = (this.r32(Vmcb.EFER) & EFER_LMA) !== 0;
    // Under shadow paging the VMCB holds the shadow's CR0/CR3/CR4; the guest's own are the
    // vCPU's (every write of them exits, and so does EFER's).
    if (this.shadow === null) {
      vc.loadSystemState(this.r32(Vmcb.CR0) >>> 0, this.r32(Vmcb.CR3) >>> 0, this.r32(Vmcb.CR3 + 4), this.r32(Vmcb.CR4) >>> 0,
        (this.r32(Vmcb.EFER) & ~EFER_SVME) >>> 0);
    }
    vc.cr2 = long ? this.r64(Vmcb.CR2) : this.r32(Vmcb.CR2) >>> 0;
    vc.dr[6] = this.r32(Vmcb.DR6); vc.dr[7] = this.r32(Vmcb.DR7);
    this.segIn(Vmcb.ES, vc.segs[SegReg.ES], long); this.segIn(Vmcb.CS, vc.segs[SegReg.CS], long);
    this.segIn(Vmcb.SS, vc.segs[SegReg.SS], long); this.segIn(Vmcb.DS, vc.segs[SegReg.DS], long);
    vc.segs[SegReg.FS].copyFrom(m.segs[SegReg.FS]); vc.segs[SegReg.GS].copyFrom(m.segs[SegReg.GS]);
    vc.ldtr.copyFrom(m.ldtr); vc.tr.copyFrom(m.tr);
    vc.gdtrLimit = this.r32(Vmcb.GDTR + 4) & 0xffff; vc.gdtrBase = long ? this.r64(Vmcb.GDTR + 8) : this.r32(Vmcb.GDTR + 8) >>> 0;
    vc.idtrLimit = this.r32(Vmcb.IDTR + 4) & 0xffff; vc.idtrBase = long ? this.r64(Vmcb.IDTR + 8) : this.r32(Vmcb.IDTR + 8) >>> 0;
    vc.setEflags(this.r32(Vmcb.RFLAGS));
    vc.eip = long && vc.segs[SegReg.CS].l ? this.r64(Vmcb.RIP) : this.r32(Vmcb.RIP) >>> 0;
    vc.cpl = this.machine.mem.read8(this.phys(VMCB + Vmcb.CPL)) & 3;
    vc.inhibitIrq = (this.r32(Vmcb.INTERRUPT_SHADOW) & 1) !== 0;
    vc.sysenterCs = m.sysenterCs; vc.sysenterEsp = m.sysenterEsp; vc.sysenterEip = m.sysenterEip;
    vc.tscAux = m.tscAux;
    // SWAPGS runs natively.
    vc.kernelGsBase = m.kernelGsBase;
    vc.halted = false;
  }

  /** The vCPU's state into the VMCB and the machine, for VMRUN. */
  private syncOut(): void {
    const m = this.machine.cpu, vc = this.vcpu;
    m.regs.set(vc.regs);
    m.regsHi.set(vc.regsHi);
    this.w32(Vmcb.RAX, vc.regs[Reg.EAX]); this.w32(Vmcb.RAX + 4, vc.regsHi[Reg.EAX]);
    this.w32(Vmcb.RSP, vc.regs[Reg.ESP]); this.w32(Vmcb.RSP + 4, vc.regsHi[Reg.ESP]);
    const sh = this.shadow;
    if (sh === null) {
      this.w64(Vmcb.CR0, vc.cr0 >>> 0); this.w64(Vmcb.CR4, vc.cr4 >>> 0);
      this.w32(Vmcb.CR3, vc.cr3); this.w32(Vmcb.CR3 + 4, vc.cr3Hi);
    } else {
      // The shadow's root and the CR0/CR4 it needs; the guest reads its own CR3 always, and
      // its CR0 and CR4 when they differ from these, through the vCPU.
      const cr0 = sh.hostCr0(vc.cr0), cr4 = sh.hostCr4(vc.cr4);
      this.w64(Vmcb.CR0, cr0); this.w64(Vmcb.CR4, cr4);
      this.w32(Vmcb.CR3, sh.root); this.w32(Vmcb.CR3 + 4, 0);
      const icr = CR_WRITE(0) | CR_WRITE(3) | CR_WRITE(4) | CR_READ(3) |
        (cr0 !== vc.cr0 >>> 0 ? CR_READ(0) : 0) | (cr4 !== vc.cr4 >>> 0 ? CR_READ(4) : 0);
      if (icr !== this.crIntercepts) { this.crIntercepts = icr; this.put32(VMCB + Vmcb.INTERCEPT_CR, icr); }
    }
    this.w64(Vmcb.CR2, vc.lma ? vc.cr2 : vc.cr2 >>> 0);
    // Shadow paging runs the guest with paging on (hostCr0) even while its own is off: a
    // guest that has set EFER.LME but not yet CR0.PG must not look to VMRUN like long mode
    // without PAE (an illegal state, APM vol. 2 §15.5.1), so LME waits for the guest's PG.
    const efer = sh !== null && (vc.cr0 & CR0_PG) === 0 ? vc.efer & ~(EFER_LME | EFER_LMA) : vc.efer;
    this.w64(Vmcb.EFER, (efer | EFER_SVME) >>> 0);
    this.w64(Vmcb.DR6, vc.dr[6] >>> 0); this.w64(Vmcb.DR7, vc.dr[7] >>> 0);
    this.segOut(Vmcb.ES, vc.segs[SegReg.ES]); this.segOut(Vmcb.CS, vc.segs[SegReg.CS]);
    this.segOut(Vmcb.SS, vc.segs[SegReg.SS]); this.segOut(Vmcb.DS, vc.segs[SegReg.DS]);
    m.segs[SegReg.FS].copyFrom(vc.segs[SegReg.FS]); m.segs[SegReg.GS].copyFrom(vc.segs[SegReg.GS]);
    m.ldtr.copyFrom(vc.ldtr); m.tr.copyFrom(vc.tr);
    this.w32(Vmcb.GDTR + 4, vc.gdtrLimit); this.w64(Vmcb.GDTR + 8, vc.gdtrBase);
    this.w32(Vmcb.IDTR + 4, vc.idtrLimit); this.w64(Vmcb.IDTR + 8, vc.idtrBase);
    this.w64(Vmcb.RFLAGS, vc.getEflags() >>> 0);
    this.w64(Vmcb.RIP, vc.eip);
    this.machine.mem.write8(this.phys(VMCB + Vmcb.CPL), vc.cpl);
    this.w32(Vmcb.INTERRUPT_SHADOW, vc.inhibitIrq ? 1 : 0);
    m.sysenterCs = vc.sysenterCs; m.sysenterEsp = vc.sysenterEsp; m.sysenterEip = vc.sysenterEip;
    m.tscAux = vc.tscAux;
    m.kernelGsBase = vc.kernelGsBase;
    for (const msr of SYSCALL_MSRS) {
      const v = vc.plainMsrs.get(msr);
      if (v !== undefined) m.plainMsrs.set(msr, v); else m.plainMsrs.delete(msr);
    }
    // V_IRQ with V_INTR_MASKING: a virtual interrupt the guest cannot take yet exits (VINTR)
    // as soon as it can.
    this.w32(Vmcb.VINTR, (1 << 24) | (this.wantIrqWindow ? 1 << 8 : 0));
    // The guest's TSC is guest time: machine cycles − overhead, offset as the guest set it.
    this.w64(Vmcb.TSC_OFFSET, vc.tscOffset - this.overhead - m.tscOffset);
  }

  // ===================================================================================
  // The guest's instructions, devices and interrupts
  // ===================================================================================

  /**
   * Shadow paging: the guest's #PF at `lin` (EXITINFO2; CR2 is not written by an intercepted
   * #PF) with error code `err` (EXITINFO1). A hidden fault is filled and the guest resumes at
   * the same instruction — also when the fault came while the processor delivered an event
   * (EXITINTINFO): the instruction raises it again. A true fault, or an access the monitor
   * must carry out, is the instruction run on the vCPU, which walks the guest's tables and
   * delivers the guest's own #PF (error code, CR2) or makes the access.
   */
  private pageFault(lin: number, err: number): void {
    const outcome = this.shadow!.pageFault(this.vcpu, lin, err);
    if (outcome !== PfOutcome.HIDDEN) this.emulateOne();
  }

  protected override enterable(): boolean {
    const vc = this.vcpu;
    if (vc.v86 || (!vc.protectedMode && this.shadow !== null)) {
      // Real mode runs in guest mode under nested paging (APM vol. 2 §15.19: paged real
      // mode is not needed, the nested walk translates); virtual-8086 mode is not synced yet.
      throw new GuestUnsupported(`the guest entered ${vc.v86 ? "virtual-8086" : "real"} mode; --mode svm runs real mode under nested paging, protected-mode and long-mode guests`);
    }
    if ((vc.efer & EFER_LME) !== 0 && this.longArea < 0) {
      throw new GuestUnsupported(`the guest turned on long mode, which ${this.machine.cpu.model.name} does not have`);
    }
    return true;
  }

  /** The VMCB and the machine for VMRUN: a long-mode host for a long-mode guest (buildLong), the shadow's root, the guest's state. */
  protected override prepareEntry(): void {
    const lme = (this.vcpu.efer & EFER_LME) !== 0;
    if (lme !== this.hostLong) this.setHostLong(lme);
    this.shadow?.update(this.vcpu);
    this.syncOut();
    this.machine.cpu.flags |= F.IF;
  }

  // ===================================================================================
  // Reporting
  // ===================================================================================

  /** Resource control (integrity.ts): the monitor's memory as it wrote it, its shadow tables as it filled them, and no CPL-0 code but its own outside guest mode. */
  override integrity(): IntegrityVerdict {
    const v = this.guard.check(this.machine.cpu.ring0Foreign);
    const problems: string[] = [];
    if (this.longArea >= 0 && this.paging === "nested") {
      // N_CR3 is left out of the guard (it switches to the 4-level tables with the host's
      // mode): it must hold exactly the root the monitor's mode calls for.
      const at = this.phys(VMCB + Vmcb.N_CR3), mem = this.machine.mem;
      const want = this.phys(this.hostLong ? this.longArea + L_NPML4 : NPT);
      let first = -1, count = 0;
      for (let k = 0; k < 8; k++) {
        const byte = k < 4 ? (want >>> (8 * k)) & 0xff : 0;
        if (mem.read8(at + k) !== byte) { if (first < 0) first = at + k; count++; }
      }
      if (count > 0) problems.push(`monitor memory changed: VMCB control area (${count} byte${count === 1 ? "" : "s"}, first at 0x${first.toString(16)})`);
    }
    const badShadow = this.shadow?.tampered() ?? 0;
    if (badShadow > 0) problems.push(`${badShadow} shadow page-table entries changed behind the monitor`);
    if (problems.length === 0) return v;
    return { ...v, monitorIntact: false, detail: [v.detail, ...problems].filter((x) => x !== "").join("; ") };
  }

  protected override extraStats(c: Record<string, number>): void { this.shadow?.stats(c); }
}

