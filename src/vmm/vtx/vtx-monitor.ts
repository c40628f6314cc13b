// The VT-x monitor (`--mode vtx`, docs/vmx.md): hardware-assisted virtualization on the
// machine model's VMX (src/hw/cpu/vmx), with EPT (`nehalem`, `westmere`) or, as the first
// VT-x parts needed, shadow page tables (`core-duo`; `--paging shadow` anywhere).
//
// The monitor runs in VMX root operation. Its one VMCS describes the guest; VMLAUNCH and
// VMRESUME run it in non-root operation — its kernel at its own ring 0, its own page tables
// walked by the processor and each guest-physical address translated again through the
// monitor's EPT — until an exit the controls ask for. Exit handling is native monitor code
// (assisted-monitor.ts): VMREAD of the guest's state into the vCPU, the exiting instruction
// on the vCPU, interrupts from the virtual devices, VMWRITE of the state back, VMRESUME. The
// monitor's VMREAD/VMWRITE are calls into the processor's current-VMCS cache (`vmx.get`,
// `vmx.set`): what the instructions do, without decoding them.
//
// What guest mode cannot hold, and what the monitor does about it (SDM vol. 3C §26.3.1.1):
// - CR0.PE, CR0.PG and CR0.NE must be 1 in non-root operation, and CR4.VMXE. The CR0 and
//   CR4 guest/host masks own those bits, and the read shadows show the guest its own values.
// - A guest with paging off (CR0.PG = 0: Linux's first instructions, the lab guests) runs
//   with paging on, through an identity page directory of 4-MiB pages the monitor maps into
//   guest-physical space just above the guest's RAM while it is needed (KVM's "EPT identity
//   map"); CR3 loads and stores exit meanwhile, so the guest keeps its own CR3 value.
// - Real mode (CR0.PE = 0) cannot be entered on nehalem: the vCPU interprets it, counted as
//   `emulate.real-mode`, until the guest is back in protected mode. `westmere` has
//   unrestricted guest: PE and PG are the guest's own there and real mode runs in guest mode.
// - A state the entry checks refuse (exit reason 33) is interpreted likewise, counted as
//   `emulate.invalid-state`, and entered again.
// - Without EPT (shadow paging, src/vmm/shadow/shadow-paging.ts) the guest runs on the
//   monitor's shadow tables: every #PF exits (exception bitmap bit 14, PFEC mask and match
//   0), and so do INVLPG, CR3 loads and stores, and writes of the CR0 and CR4 bits the masks
//   own (all but CR0.TS). A hidden fault is filled and the guest resumes; a true one, or an
//   access to a traced page table, is the instruction run on the vCPU.
//
// Host memory (above the guest's RAM; the common part is in assisted-monitor.ts):
//   +0x4000 host TSS   +0x5000 VMXON region   +0x6000 VMCS   +0x7000 I/O bitmap A
//   +0x8000 I/O bitmap B   +0x9000 MSR bitmap   +0xA000 host page directory (4-MiB pages,
//   identity)   +0xB000 the guest's identity page directory   +0xC000 EPT PML4
//   +0xD000 EPT PDPT   +0xE000 EPT page directory   +0xF000 EPT page tables

import { Reg, CR0_PE, CR0_PG, CR0_NE, CR0_ET, CR4_PAE, CR4_VMXE, EFER_LMA, EFER_LME } from "../../hw/cpu/cpu.js";
import { Descriptor } from "../../hw/cpu/segment.js";
import { withFeatures } from "../../hw/cpu/models.js";
import { SegReg, type SegmentCache } from "../../hw/cpu/segment.js";
import { StopReason } from "../../hw/cpu/fault.js";
import * as F from "../../hw/cpu/eflags.js";
import type { PcOptions } from "../../hw/pc/pc.js";
import { Vmx, accessRights, setAccessRights } from "../../hw/cpu/vmx/vmx.js";
import { VMCS_REVISION } from "../../hw/cpu/vmx/capabilities.js";
import * as C from "../../hw/cpu/vmx/vmcs-fields.js";
import { Vmcs, ExitReason, EXIT_REASON_NAMES, EXIT_REASON_ENTRY_FAILURE } from "../../hw/cpu/vmx/vmcs-fields.js";
import { MSR_FEATURE_CONTROL } from "../../hw/cpu/exec/system.js";
import { GuestUnsupported, MonitorPanic } from "../monitor.js";
import { ShadowPaging, PfOutcome } from "../shadow/shadow-paging.js";
import { AssistedMonitor, HOST_GDT, HOST_IDT, HOST_PRIVATE, NATIVE, N_EXIT, STACK_TOP, SEL_CS, SEL_DS, SEL_TSS } from "../assist/assisted-monitor.js";

const TSS = HOST_PRIVATE, VMXON = 0x5000, VMCS = 0x6000, IO_A = 0x7000, IO_B = 0x8000, MSR_BITMAP = 0x9000;
const HOST_PD = 0xa000, IDENT_PD = 0xb000, EPT_PML4 = 0xc000, EPT_PDPT = 0xd000, EPT_PD = 0xe000, EPT_PT = 0xf000;
const CR4_PSE = 1 << 4, CR0_TS = 1 << 3;
/** A 64-bit host's tables (after the EPT tables): PML4, PDPT, four page directories of 2-MiB identity pages. */
const HOST64_PAGES = 6;
/** MSRs that are neither VMCS state nor intercepted, which a 64-bit guest uses natively: STAR, LSTAR, CSTAR, FMASK. */
const SYSCALL_MSRS = [0xc000_0081, 0xc000_0082, 0xc000_0083, 0xc000_0084];
/** Shadow page-table pool (shadow paging), in pages after the host area. */
const POOL_PAGES = 2048;
/** EPT entries (SDM §28.2.2): read, write, execute; memory type WB (6) in bits 5:3 of a leaf. */
const EPT_RWX = 7, EPT_LEAF_WB = 6 << 3;
/** A 4-MiB page directory entry, present, writable, user, accessed and dirty preset (the processor never writes it). */
const PDE_4M = 0x1 | 0x2 | 0x4 | 0x20 | 0x40 | 0x80;
/**
 * MSRs the guest reads and writes natively: SYSENTER_CS/ESP/EIP are guest state in the VMCS,
 * TSC_AUX is left to the guest (RDTSCP returns it; Linux reads the TSC with it).
 */
const PASS_MSRS = [0x174, 0x175, 0x176, 0xc000_0103];
/** The guest's segment registers in VMCS order (ES CS SS DS FS GS LDTR TR). */
const SEGMENTS = 8;

/** How the guest's memory is virtualized: EPT, or the monitor's shadow tables. */
export type VtxPaging = "nested" | "shadow";

export class VtxMonitor extends AssistedMonitor {
  readonly mode = "vtx" as const;
  readonly paging: VtxPaging;
  /** Shadow paging's tables (null under EPT). */
  private readonly shadow: ShadowPaging | null = null;
  private readonly vmx: Vmx;
  private readonly unrestricted: boolean;
  /** The host runs in IA-32e mode (models with Intel 64): 64-bit guests need it (SDM §26.2.4). */
  private readonly host64: boolean;
  private launched = false;
  /** The guest's CR0.PG is 0 and it runs on the identity page directory. */
  private identityPaging = false;
  /** What syncOut wrote for each segment (selector, base, limit, access rights): an unchanged segment is not read back. */
  private readonly segWritten = new Float64Array(SEGMENTS * 4);
  /** The VMCS controls as the monitor last wrote them, for the integrity check. */
  private readonly controls = new Map<number, number>();

  constructor(opts: PcOptions & { paging?: VtxPaging }) {
    const model = opts.model;
    if (model === undefined || !model.features.vmx) {
      throw new GuestUnsupported("--mode vtx needs a CPU model with VMX: --cpu core-duo or core2 (shadow paging), nehalem or westmere (EPT)");
    }
    const paging = opts.paging ?? (model.features.ept ? "nested" : "shadow");
    if (paging === "nested" && !model.features.ept) throw new GuestUnsupported(`EPT needs --cpu nehalem or westmere; ${model.name} has VMX only: use shadow paging`);
    const guestRam = opts.ramBytes;
    if (guestRam + 0x1000 > 0x4000_0000) throw new GuestUnsupported("--mode vtx maps at most 1 GiB of guest RAM");
    const ptCount = paging === "nested" ? Math.ceil((guestRam + 0x1000) / 0x20_0000) : 0;
    const guestModel = withFeatures(model, {
      strict: false, apic: false, tscDeadline: false, vmx: false, ept: false, vpid: false, unrestrictedGuest: false, vmxPreemptionTimer: false,
    });
    const host64 = model.features.lm;
    const hostBytes = EPT_PT + ptCount * 0x1000 + (host64 ? HOST64_PAGES * 0x1000 : 0);
    super(opts, guestModel, hostBytes + (paging === "shadow" ? POOL_PAGES * 0x1000 : 0));
    this.host64 = host64;
    this.paging = paging;
    this.vmx = this.machine.cpu.vmx!;
    // Unrestricted guest needs EPT (SDM §26.2.1.1).
    this.unrestricted = model.features.unrestrictedGuest && paging === "nested";
    if (paging === "shadow") this.shadow = new ShadowPaging(this.machine.mem, this.guestMem, this.phys(hostBytes), POOL_PAGES, this.counters);
    this.buildHost(ptCount, EPT_PT + ptCount * 0x1000);
  }

  // ===================================================================================
  // The host: paging on (VMX operation needs it), VMXON, the VMCS's controls, EPT
  // ===================================================================================

  private buildHost(ptCount: number, host64Tables: number): void {
    const m = this.machine.cpu, mem = this.machine.mem, v = this.vmx;
    const long = this.host64;
    this.buildCommonHost(() => this.enterEntry(), () => this.exitEntry(), TSS, long);
    // The host's page directory: 4-MiB pages, identity, supervisor.
    for (let k = 0; k < 1024; k++) this.put32(HOST_PD + k * 4, ((k << 22) | 0x1 | 0x2 | 0x20 | 0x40 | 0x80) | 0);
    // The guest's identity page directory (used while its CR0.PG is 0).
    for (let k = 0; k < 1024; k++) this.put32(IDENT_PD + k * 4, ((k << 22) | PDE_4M) | 0);
    // I/O bitmaps: every port exits. MSR bitmap: every MSR but PASS_MSRS (SDM §24.6.9:
    // read low 0, read high 400h, write low 800h, write high C00h).
    for (let k = 0; k < 0x1000; k += 4) { this.put32(IO_A + k, -1); this.put32(IO_B + k, -1); this.put32(MSR_BITMAP + k, -1); }
    for (const msr of PASS_MSRS) {
      const high = msr >= 0xc000_0000 ? 0x400 : 0, bit = msr & 0x1fff;
      for (const quarter of [0, 0x800]) {
        const at = MSR_BITMAP + quarter + high + (bit >>> 3);
        const word = at & ~3, shift = (at & 3) * 8 + (bit & 7);
        this.put32(word, mem.read32(this.phys(word)) & ~(1 << shift));
      }
    }
    // EPT (SDM §28.2.2): guest-physical RAM page p → machine page p, read/write/execute,
    // write-back; the VGA/ROM window and everything above RAM not present, so accesses
    // there exit (EPT violation) and the vCPU carries them out on the guest's devices.
    if (this.paging === "nested") {
      this.put32(EPT_PML4, this.phys(EPT_PDPT) | EPT_RWX);
      this.put32(EPT_PDPT, this.phys(EPT_PD) | EPT_RWX);
      for (let t = 0; t < ptCount; t++) this.put32(EPT_PD + t * 8, this.phys(EPT_PT + t * 0x1000) | EPT_RWX);
      for (let p = 0; p < this.base / 4096; p++) {
        const a = p * 4096;
        this.put32(EPT_PT + p * 8, this.guestMem.isRam(a) ? a | EPT_RWX | EPT_LEAF_WB : 0);
      }
      this.put32(EPT_PT + (this.base / 4096) * 8, 0);
    }

    // VMX operation: CR0.PE/NE/PG, CR4.VMXE (and PSE for the host's 4-MiB pages),
    // IA32_FEATURE_CONTROL locked with VMX outside SMX, VMXON, then the VMCS. A 64-bit host:
    // 4-level identity paging with 2-MiB pages, EFER.LME, then CR0.PG (LMA), then a 64-bit CS.
    if (long) {
      const pml4 = host64Tables, pdpt = host64Tables + 0x1000, pd = host64Tables + 0x2000;
      this.put32(pml4, this.phys(pdpt) | 0x23);
      for (let k = 0; k < 4; k++) this.put32(pdpt + k * 8, this.phys(pd + k * 0x1000) | 0x23);
      for (let k = 0; k < 2048; k++) this.put32(pd + k * 8, ((k % 2048) * 0x20_0000 + 0xe3) | 0);
      m.cr3 = this.phys(pml4);
      m.cr4 = CR4_VMXE | CR4_PAE;
      m.setEfer(EFER_LME);
      m.setCr0(CR0_PE | CR0_ET | CR0_NE | CR0_PG);
      const d = new Descriptor();
      d.lo = 0x0000_ffff; d.hi = 0x00af_9b00;
      m.segs[SegReg.CS].loadDescriptor(SEL_CS, d);
    } else {
      m.cr3 = this.phys(HOST_PD);
      m.cr4 = CR4_VMXE | CR4_PSE;
      m.setCr0(CR0_PE | CR0_ET | CR0_NE | CR0_PG);
    }
    m.plainMsrs.set(MSR_FEATURE_CONTROL, [5, 0]);
    m.tr.selector = SEL_TSS; m.tr.base = this.phys(TSS); m.tr.limit = 0x67;
    setAccessRights(m.tr, 0x8b);
    this.put32(VMXON, VMCS_REVISION);
    this.put32(VMCS, VMCS_REVISION);
    v.vmxon(this.phys(VMXON), 0);
    v.vmclear(this.phys(VMCS), 0);
    v.vmptrld(this.phys(VMCS), 0);
    if ((m.getEflags() & (F.CF | F.ZF)) !== 0) throw new MonitorPanic("VMXON/VMPTRLD failed");

    const caps = v.caps;
    const ctl = (name: string, want: number, allowed0: number, allowed1: number): number => {
      if ((want & ~allowed1) !== 0) throw new MonitorPanic(`the model does not allow ${name} ${(want & ~allowed1).toString(16)}`);
      return (want | allowed0) & allowed1;
    };
    this.write(Vmcs.PIN_BASED_VM_EXEC_CONTROL, ctl("pin-based", C.PIN_EXTERNAL_INTERRUPT_EXITING | C.PIN_NMI_EXITING, caps.pin0(), caps.pin1));
    const shadow = this.shadow !== null;
    const proc2 = (shadow ? 0 : C.SECONDARY_ENABLE_EPT) | (caps.features.rdtscp ? C.SECONDARY_ENABLE_RDTSCP : 0) |
      (this.unrestricted ? C.SECONDARY_UNRESTRICTED_GUEST : 0);
    this.procBase = ctl("processor-based", C.CPU_HLT_EXITING | C.CPU_USE_IO_BITMAPS | C.CPU_USE_MSR_BITMAPS |
      C.CPU_USE_TSC_OFFSETTING | (proc2 !== 0 ? C.CPU_ACTIVATE_SECONDARY_CONTROLS : 0) |
      (shadow ? C.CPU_INVLPG_EXITING | C.CPU_CR3_LOAD_EXITING | C.CPU_CR3_STORE_EXITING : 0), caps.proc0(), caps.proc1);
    if (proc2 !== 0) this.write(Vmcs.SECONDARY_VM_EXEC_CONTROL, ctl("secondary", proc2, 0, caps.proc2));
    // A 64-bit host: host address-space size, and EFER saved and loaded by the processor
    // (the guest's in GUEST_IA32_EFER, LMA and LME the IA-32e-mode-guest control's).
    const efer = long ? C.EXIT_HOST_ADDRESS_SPACE_SIZE | C.EXIT_SAVE_IA32_EFER | C.EXIT_LOAD_IA32_EFER : 0;
    this.write(Vmcs.VM_EXIT_CONTROLS, ctl("exit", C.EXIT_ACK_INTERRUPT_ON_EXIT | efer, caps.exit0(), caps.exit1));
    this.entryBase = ctl("entry", long ? C.ENTRY_LOAD_IA32_EFER : 0, caps.entry0(), caps.entry1);
    if (long) this.write(Vmcs.HOST_IA32_EFER, EFER_LME | EFER_LMA);
    else this.write(Vmcs.VM_ENTRY_CONTROLS, this.entryBase);
    // Shadow paging: every #PF exits (bit 14 with PFEC mask and match 0: SDM §25.2).
    this.write(Vmcs.EXCEPTION_BITMAP, shadow ? 1 << 14 : 0);
    this.write(Vmcs.PAGE_FAULT_ERROR_CODE_MASK, 0);
    this.write(Vmcs.PAGE_FAULT_ERROR_CODE_MATCH, 0);
    this.write(Vmcs.CR3_TARGET_COUNT, 0);
    this.write(Vmcs.IO_BITMAP_A, this.phys(IO_A));
    this.write(Vmcs.IO_BITMAP_B, this.phys(IO_B));
    this.write(Vmcs.MSR_BITMAP, this.phys(MSR_BITMAP));
    // EPTP: write-back paging structures (6), a 4-level walk (3 in bits 5:3).
    if (!shadow) this.write(Vmcs.EPT_POINTER, this.phys(EPT_PML4) | 6 | (3 << 3));
    v.set(Vmcs.VMCS_LINK_POINTER, -1, -1);
    // The host state (SDM §24.5): what the processor loads on every exit.
    this.write(Vmcs.HOST_CR0, m.cr0);
    this.write(Vmcs.HOST_CR3, m.cr3);
    this.write(Vmcs.HOST_CR4, m.cr4);
    this.write(Vmcs.HOST_CS_SELECTOR, SEL_CS);
    for (const s of [Vmcs.HOST_SS_SELECTOR, Vmcs.HOST_DS_SELECTOR, Vmcs.HOST_ES_SELECTOR, Vmcs.HOST_FS_SELECTOR, Vmcs.HOST_GS_SELECTOR]) this.write(s, SEL_DS);
    this.write(Vmcs.HOST_TR_SELECTOR, SEL_TSS);
    this.write(Vmcs.HOST_TR_BASE, this.phys(TSS));
    this.write(Vmcs.HOST_GDTR_BASE, this.phys(HOST_GDT));
    this.write(Vmcs.HOST_IDTR_BASE, this.phys(HOST_IDT));
    this.write(Vmcs.HOST_RSP, this.phys(STACK_TOP));
    this.write(Vmcs.HOST_RIP, this.phys(NATIVE + N_EXIT));
  }

  /** The primary processor-based controls without the ones that change between entries. */
  private procBase = 0;
  /** The VM-entry controls without IA-32e mode guest. */
  private entryBase = 0;

  /** VMWRITE of a control or host-state field, remembered for the integrity check. */
  private write(enc: Vmcs, value: number): void {
    this.vmx.set(enc, value | 0, 0);
    this.controls.set(enc, value | 0);
  }

  /** Map (or unmap) the identity page directory at the guest-physical page above its RAM. */
  private mapIdentity(on: boolean): void {
    if (on === this.identityPaging) return;
    this.identityPaging = on;
    this.put32(EPT_PT + (this.base / 4096) * 8, on ? this.phys(IDENT_PD) | 5 | EPT_LEAF_WB : 0);
    this.machine.cpu.flushTlb(true); // INVEPT, all contexts
  }

  // ===================================================================================
  // Native entries
  // ===================================================================================

  /** VMLAUNCH the first time, VMRESUME after: the guest runs until an exit; the host resumes at HOST_RIP. */
  private enterEntry(): void {
    this.entering();
    const m = this.machine.cpu;
    this.vmx.enter(!this.launched);
    if (m.nonRoot) this.launched = true;
    else if ((m.getEflags() & (F.CF | F.ZF)) !== 0) {
      throw new MonitorPanic(`VM entry failed: VM-instruction error ${this.vmx.get(Vmcs.VM_INSTRUCTION_ERROR)}`);
    }
  }

  /** After a VM exit (and after an entry that failed its guest-state checks): the exit handler. */
  private exitEntry(): void {
    this.enterMonitor();
    const v = this.vmx, m = this.machine.cpu;
    const reason = v.get(Vmcs.VM_EXIT_REASON);
    const basic = reason & 0xffff;
    this.counters.inc(`exit.${EXIT_REASON_NAMES[basic] ?? basic}`);
    if ((reason & EXIT_REASON_ENTRY_FAILURE) !== 0) {
      if (basic !== ExitReason.INVALID_GUEST_STATE) throw new MonitorPanic(`VM entry failed: exit reason ${basic}`);
      // The guest state is the vCPU's still (nothing was loaded): interpret a little of it.
      this.interpret(1000, "emulate.invalid-state", () => false);
      this.leaveMonitor();
      return;
    }
    this.syncIn();
    switch (basic) {
      case ExitReason.EXTERNAL_INTERRUPT:
        // The deadline timer, acknowledged by the exit: end it at the APIC. The exit itself is what it was for.
        this.endTimerInterrupt();
        break;
      case ExitReason.INTERRUPT_WINDOW:
        break;
      case ExitReason.TRIPLE_FAULT:
        m.stop(StopReason.TripleFault);
        break;
      case ExitReason.EXCEPTION_NMI:
        if (this.shadow !== null && (v.get(Vmcs.VM_EXIT_INTR_INFO) & 0x7ff) === (14 | (C.IntrType.HardwareException << 8))) {
          this.pageFault(this.linearQualification(), v.get(Vmcs.VM_EXIT_INTR_ERROR_CODE));
          break;
        }
        throw new MonitorPanic(`unexpected VM exit EXCEPTION_NMI (interruption information ${v.get(Vmcs.VM_EXIT_INTR_INFO).toString(16)})`);
      case ExitReason.INVLPG:
        // INVLPG on the vCPU (its TLB), then the shadow entry for the address (the qualification).
        this.emulateOne();
        this.shadow?.invlpg(this.linearQualification());
        break;
      case ExitReason.EPT_MISCONFIG:
        throw new MonitorPanic(`unexpected VM exit ${EXIT_REASON_NAMES[basic]} (qualification ${v.get(Vmcs.EXIT_QUALIFICATION)})`);
      default:
        if ((v.get(Vmcs.IDT_VECTORING_INFO_FIELD) & C.INTR_INFO_VALID) !== 0) {
          throw new GuestUnsupported(`the guest's event delivery exited (${EXIT_REASON_NAMES[basic]}: its IDT, GDT or stack outside RAM, or a task gate); --mode vtx does not re-deliver it`);
        }
        // CPUID, HLT, I/O, RDMSR/WRMSR, a CR access the masks own, a device access EPT does
        // not map, INVD, the VMX instructions (#UD for the guest): one instruction on the vCPU.
        this.emulateOne();
        break;
    }
    this.leaveMonitor();
  }

  /**
   * Shadow paging: the guest's #PF at `lin` (the exit qualification; CR2 is not written by
   * an exiting #PF) with error code `err`. A hidden fault is filled and the guest resumes at
   * the same instruction — also when the fault came while the processor delivered an event
   * (IDT-vectoring information): the instruction raises it again. A true fault, or an access
   * the monitor must carry out, is the instruction run on the vCPU, which walks the guest's
   * tables and delivers the guest's own #PF (error code, CR2) or makes the access.
   */
  /** The exit qualification as a linear address: 32 bits, or canonical 64 bits in IA-32e mode. */
  private linearQualification(): number {
    return this.vcpu.lma ? this.vmx.getNum(Vmcs.EXIT_QUALIFICATION) : this.vmx.get(Vmcs.EXIT_QUALIFICATION) >>> 0;
  }

  private pageFault(lin: number, err: number): void {
    if (this.shadow!.pageFault(this.vcpu, lin, err) !== PfOutcome.HIDDEN) this.emulateOne();
  }

  protected override restored(): void { this.shadow?.reset(this.vcpu); }

  protected override extraStats(c: Record<string, number>): void { this.shadow?.stats(c); }

  // ===================================================================================
  // VMCS ⇄ vCPU
  // ===================================================================================

  protected override enterable(): boolean {
    const vc = this.vcpu;
    if (vc.lma && !this.host64) throw new GuestUnsupported("the guest entered long mode on a model without Intel 64");
    if (!this.unrestricted && (vc.cr0 & CR0_PE) === 0) {
      this.interpret(10_000, "emulate.real-mode", () => (vc.cr0 & CR0_PE) !== 0);
      return false;
    }
    return true;
  }

  protected override prepareEntry(): void {
    this.shadow?.update(this.vcpu);
    this.syncOut();
  }

  private segmentOf(k: number): SegmentCache {
    const vc = this.vcpu;
    return k < 6 ? vc.segs[k] : k === 6 ? vc.ldtr : vc.tr;
  }

  /** The vCPU's state into the VMCS and the machine, for VMRESUME. */
  private syncOut(): void {
    const m = this.machine.cpu, vc = this.vcpu, v = this.vmx;
    m.regs.set(vc.regs);
    m.regsHi.set(vc.regsHi);
    m.cr2 = vc.cr2;
    for (const k of [0, 1, 2, 3, 6]) m.dr[k] = vc.dr[k];
    if (this.host64) {
      v.set(Vmcs.VM_ENTRY_CONTROLS, this.entryBase | (vc.lma ? C.ENTRY_IA32E_MODE_GUEST : 0));
      v.set(Vmcs.GUEST_IA32_EFER, vc.efer);
      m.kernelGsBase = vc.kernelGsBase;
      for (const n of SYSCALL_MSRS) {
        const x = vc.plainMsrs.get(n);
        if (x !== undefined) m.plainMsrs.set(n, [x[0], x[1]]); else m.plainMsrs.delete(n);
      }
    } else if (m.efer !== vc.efer) m.setEfer(vc.efer);
    // CR0: PE, PG (unless unrestricted) and NE are the host's; the guest sees its own in the
    // shadow. Under shadow paging every bit but TS is the host's, and all of CR4.
    const sh = this.shadow;
    const cr0Mask = sh !== null ? ~CR0_TS : CR0_NE | (this.unrestricted ? 0 : CR0_PE | CR0_PG);
    const identity = sh === null && !this.unrestricted && (vc.cr0 & CR0_PG) === 0;
    if (sh === null) this.mapIdentity(identity);
    const cr4Mask = sh !== null ? -1 : CR4_VMXE | (identity ? CR4_PSE | CR4_PAE : 0);
    v.set(Vmcs.CR0_GUEST_HOST_MASK, cr0Mask); v.set(Vmcs.CR0_READ_SHADOW, vc.cr0);
    v.set(Vmcs.CR4_GUEST_HOST_MASK, cr4Mask); v.set(Vmcs.CR4_READ_SHADOW, vc.cr4);
    if (sh !== null) {
      v.set(Vmcs.GUEST_CR0, sh.hostCr0(vc.cr0) | CR0_NE | CR0_PE | CR0_ET);
      v.set(Vmcs.GUEST_CR3, sh.root);
      v.set(Vmcs.GUEST_CR4, sh.hostCr4(vc.cr4) | CR4_VMXE);
    } else {
    v.set(Vmcs.GUEST_CR0, vc.cr0 | cr0Mask | CR0_ET);
    if (identity) {
      v.set(Vmcs.GUEST_CR3, this.base);
      v.set(Vmcs.GUEST_CR4, (vc.cr4 | CR4_VMXE | CR4_PSE) & ~CR4_PAE);
    } else {
      v.set(Vmcs.GUEST_CR3, vc.cr3, vc.lma ? vc.cr3Hi : 0);
      v.set(Vmcs.GUEST_CR4, vc.cr4 | CR4_VMXE);
      if ((vc.cr0 & CR0_PG) !== 0 && (vc.cr4 & CR4_PAE) !== 0 && !vc.lma) {
        for (let k = 0; k < 4; k++) v.set(Vmcs.GUEST_PDPTE0 + 2 * k, vc.pdpte[2 * k], vc.pdpte[2 * k + 1]);
      }
    }
    }
    // CR3 loads and stores exit while the identity directory or a shadow stands in for the guest's CR3.
    let proc = this.procBase | (identity || !v.caps.trueControls ? C.CPU_CR3_LOAD_EXITING | C.CPU_CR3_STORE_EXITING : 0);
    if (this.wantIrqWindow) proc |= C.CPU_INTERRUPT_WINDOW_EXITING;
    v.set(Vmcs.CPU_BASED_VM_EXEC_CONTROL, proc);
    v.set(Vmcs.GUEST_DR7, vc.dr[7]);
    for (let k = 0; k < SEGMENTS; k++) {
      const s = this.segmentOf(k);
      let ar = accessRights(s);
      let base = s.base, limit = s.limit;
      if (k === 7 && !s.valid) {
        // A guest that never loaded TR: VM entry needs a usable busy TSS (§26.3.1.2). The
        // stand-in is never read back while it is unchanged (see syncIn).
        ar = 0x8b; base = 0; limit = 0x67;
      }
      if ((ar & 0x1_0010) === 0x10) ar |= 1; // a usable code or data segment was accessed when it was loaded
      // SS.DPL holds the CPL, also when SS is unusable (a null SS in 64-bit mode: §24.4.1).
      if (k === SegReg.SS) ar = (ar & ~0x60) | (vc.cpl << 5);
      v.set(Vmcs.GUEST_ES_SELECTOR + 2 * k, s.selector);
      v.setNum(Vmcs.GUEST_ES_BASE + 2 * k, base);
      v.set(Vmcs.GUEST_ES_LIMIT + 2 * k, limit | 0);
      v.set(Vmcs.GUEST_ES_AR_BYTES + 2 * k, ar);
      const w = this.segWritten;
      w[4 * k] = s.selector; w[4 * k + 1] = v.getNum(Vmcs.GUEST_ES_BASE + 2 * k); w[4 * k + 2] = limit >>> 0; w[4 * k + 3] = ar;
    }
    v.setNum(Vmcs.GUEST_GDTR_BASE, vc.gdtrBase); v.set(Vmcs.GUEST_GDTR_LIMIT, vc.gdtrLimit);
    v.setNum(Vmcs.GUEST_IDTR_BASE, vc.idtrBase); v.set(Vmcs.GUEST_IDTR_LIMIT, vc.idtrLimit);
    v.set(Vmcs.GUEST_RSP, vc.regs[Reg.ESP], vc.lma ? vc.regsHi[Reg.ESP] : 0);
    v.setNum(Vmcs.GUEST_RIP, vc.lma ? vc.eip : vc.eip >>> 0);
    v.set(Vmcs.GUEST_RFLAGS, vc.getEflags());
    v.set(Vmcs.GUEST_SYSENTER_CS, vc.sysenterCs);
    v.set(Vmcs.GUEST_SYSENTER_ESP, vc.sysenterEsp); v.set(Vmcs.GUEST_SYSENTER_EIP, vc.sysenterEip);
    v.set(Vmcs.GUEST_INTERRUPTIBILITY_INFO, vc.inhibitIrq ? ((vc.flags & F.IF) !== 0 ? C.BLOCKING_BY_STI : C.BLOCKING_BY_MOV_SS) : 0);
    v.set(Vmcs.GUEST_ACTIVITY_STATE, C.ActivityState.Active);
    m.tscAux = vc.tscAux;
    // The guest's TSC is guest time: machine cycles − overhead, offset as the guest set it.
    v.setNum(Vmcs.TSC_OFFSET, vc.tscOffset - this.overhead - m.tscOffset);
  }

  /** The guest's state after an exit: the VMCS's part, and what stays in the machine (GPRs, DR0–3, DR6). */
  private syncIn(): void {
    const m = this.machine.cpu, vc = this.vcpu, v = this.vmx;
    vc.regs.set(m.regs);
    vc.regsHi.set(m.regsHi);
    vc.regs[Reg.ESP] = v.get(Vmcs.GUEST_RSP);
    vc.regsHi[Reg.ESP] = v.getHi(Vmcs.GUEST_RSP);
    const efer = this.host64 ? v.get(Vmcs.GUEST_IA32_EFER) : vc.efer;
    if (this.host64) vc.kernelGsBase = m.kernelGsBase;
    for (const k of [0, 1, 2, 3, 6]) vc.dr[k] = m.dr[k];
    vc.dr[7] = v.get(Vmcs.GUEST_DR7);
    const cr0Mask = v.get(Vmcs.CR0_GUEST_HOST_MASK), cr4Mask = v.get(Vmcs.CR4_GUEST_HOST_MASK);
    const cr0 = (v.get(Vmcs.GUEST_CR0) & ~cr0Mask) | (v.get(Vmcs.CR0_READ_SHADOW) & cr0Mask);
    const cr4 = (v.get(Vmcs.GUEST_CR4) & ~cr4Mask) | (v.get(Vmcs.CR4_READ_SHADOW) & cr4Mask);
    const cr3 = this.identityPaging || this.shadow !== null ? vc.cr3 : v.get(Vmcs.GUEST_CR3);
    if (this.shadow === null) {
      const lma = (efer & EFER_LMA) !== 0;
      vc.loadSystemState(cr0 >>> 0, cr3 >>> 0, lma ? v.getHi(Vmcs.GUEST_CR3) : 0, cr4 >>> 0, efer >>> 0);
      if ((cr0 & CR0_PG) !== 0 && (cr4 & CR4_PAE) !== 0 && !lma) vc.pdpte.set(m.pdpte);
    } else if (cr0 !== vc.cr0) {
      vc.cr0 = cr0 | CR0_ET; // CR0.TS, the one bit the guest owns (CLTS does not exit)
    }
    vc.cr2 = m.cr2;
    for (let k = 0; k < SEGMENTS; k++) {
      const sel = v.get(Vmcs.GUEST_ES_SELECTOR + 2 * k) & 0xffff, base = v.getNum(Vmcs.GUEST_ES_BASE + 2 * k);
      const limit = v.get(Vmcs.GUEST_ES_LIMIT + 2 * k) >>> 0, ar = v.get(Vmcs.GUEST_ES_AR_BYTES + 2 * k);
      const w = this.segWritten;
      // Unchanged since entry: the vCPU's own cache stands (with its accessed bit, or TR unusable).
      if (w[4 * k] === sel && w[4 * k + 1] === base && w[4 * k + 2] === limit && w[4 * k + 3] === ar) continue;
      const s = this.segmentOf(k);
      s.selector = sel; s.base = vc.lma ? base : base >>> 0; s.limit = limit;
      setAccessRights(s, ar);
    }
    const wide = (x: number): number => (vc.lma ? x : x >>> 0);
    vc.gdtrLimit = v.get(Vmcs.GUEST_GDTR_LIMIT) & 0xffff; vc.gdtrBase = wide(v.getNum(Vmcs.GUEST_GDTR_BASE));
    vc.idtrLimit = v.get(Vmcs.GUEST_IDTR_LIMIT) & 0xffff; vc.idtrBase = wide(v.getNum(Vmcs.GUEST_IDTR_BASE));
    vc.setEflags(v.get(Vmcs.GUEST_RFLAGS));
    vc.eip = wide(v.getNum(Vmcs.GUEST_RIP));
    vc.mode64 = vc.lma && vc.segs[SegReg.CS].l && !vc.segs[SegReg.CS].big;
    vc.cpl = (cr0 & CR0_PE) === 0 ? 0 : (vc.flags & F.VM) !== 0 ? 3 : (v.get(Vmcs.GUEST_SS_AR_BYTES) >>> 5) & 3;
    vc.inhibitIrq = (v.get(Vmcs.GUEST_INTERRUPTIBILITY_INFO) & (C.BLOCKING_BY_STI | C.BLOCKING_BY_MOV_SS)) !== 0;
    vc.sysenterCs = v.get(Vmcs.GUEST_SYSENTER_CS) & 0xffff;
    vc.sysenterEsp = v.get(Vmcs.GUEST_SYSENTER_ESP); vc.sysenterEip = v.get(Vmcs.GUEST_SYSENTER_EIP);
    vc.tscAux = m.tscAux;
    vc.halted = false;
  }

  /** The VMCS controls and host state the monitor wrote are what the processor holds. */
  protected override extraIntegrity(): string[] {
    const bad: string[] = [];
    for (const [enc, value] of this.controls) {
      if (this.vmx.get(enc) !== value) bad.push(`VMCS field ${enc.toString(16)} is ${this.vmx.get(enc).toString(16)}, written ${value.toString(16)}`);
    }
    if (this.machine.cpu.vmx?.current !== this.phys(VMCS)) bad.push("the current VMCS is not the monitor's");
    const badShadow = this.shadow?.tampered() ?? 0;
    if (badShadow) bad.push(`${badShadow} shadow page-table entries changed behind the monitor`);
    return bad;
  }
}

