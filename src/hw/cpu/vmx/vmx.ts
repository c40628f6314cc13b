// VMX operation of one CPU (Intel SDM vol. 3C chapters 23–31): VMX root and non-root
// operation, the VMCS (ch. 24), VM entries with their checks (ch. 26), VM exits (ch. 27)
// and the VMX instructions' outcomes (ch. 30, §30.2 "Conventions").
//
// The VMCS lives in guest-physical memory, in the region software gave VMCLEAR/VMPTRLD.
// Its layout is this implementation's (SDM §24.2 leaves it to the processor):
//
//   offset 0   VMCS revision identifier (bits 30:0), shadow-VMCS indicator (bit 31)
//   offset 4   VMX-abort indicator
//   offset 8   launch state: 0 clear, 1 launched
//   offset 16  field k of VMCS_FIELDS at 16 + 8k: bits 31:0, then bits 63:32
//
// The current VMCS is cached here (SDM §24.11.1 allows it): VMPTRLD reads the region into
// the cache, VMCLEAR and a VMPTRLD of another region write it back. Software that changes
// the region of the current VMCS by ordinary writes sees undefined results, as on silicon.
//
// The CPU asks `cpu.nonRoot` (a boolean) on the instructions that can exit; everything else
// here runs only on VMX instructions, exits and entries.

import type { Cpu } from "../cpu.js";
import { Reg, CR0_PE, CR0_PG, CR0_NE, CR0_TS, CR0_ET, CR0_CD, CR0_NW, CR4_PAE, CR4_VMXE, EFER_LMA, EFER_LME } from "../cpu.js";
import * as F from "../eflags.js";
import { Vector, vectorHasErrorCode } from "../fault.js";
import { IntKind } from "../interrupt.js";
import { SegReg, type SegmentCache } from "../segment.js";
import type { Instr } from "../instr.js";
import { Vmcs, VMCS_FIELDS, ExitReason, VmxError, EXIT_REASON_ENTRY_FAILURE, FieldWidth, fieldWidth,
  IntrType, INTR_INFO_VALID, INTR_INFO_DELIVER_CODE, ActivityState, BLOCKING_BY_STI, BLOCKING_BY_MOV_SS,
  BLOCKING_BY_NMI } from "./vmcs-fields.js";
import * as C from "./vmcs-fields.js";
import { VmxCapabilities, VMCS_REVISION, CR0_FIXED0, CR4_FIXED0 } from "./capabilities.js";
import { checkControls, checkHostState, checkGuestState } from "./entry-checks.js";
import { msrReadForVmx, msrWriteForVmx } from "../exec/system.js";
import { eptWalk, EptResult, type EptMode, type EptMemory, EPT_READ, EPT_WRITE } from "./ept.js";
import { walk, type Translation } from "../../mmu/paging.js";
import { Vector as V } from "../fault.js";
import { VMEXIT } from "../fault.js";

const TWO32 = 0x1_0000_0000;
/** The current-VMCS pointer when there is none (SDM §24.1: FFFFFFFF_FFFFFFFFh). */
export const NO_VMCS = -1;
const FIELD_BASE = 16, LAUNCH_STATE = 8;
/** Index of each field encoding in VMCS_FIELDS (the region layout), -1 where none. */
const FIELD_INDEX = new Int16Array(0x8000).fill(-1);
VMCS_FIELDS.forEach(([e], k) => { FIELD_INDEX[e] = k; });

/** The CpuFault vector that means "a VM exit happened: nothing to deliver" (cpu.ts handleFault): fault.ts's VMEXIT, shared with SVM. */
export const VM_EXIT_THROWN = VMEXIT;

/** The segment registers in VMCS field order (ES CS SS DS FS GS LDTR TR: SDM §24.4.1). */
const SEG_FIELDS = [0, 1, 2, 3, 4, 5, 6, 7] as const;

export class Vmx {
  readonly caps: VmxCapabilities;
  /** In VMX operation (after VMXON). */
  on = false;
  /** The VMXON region's physical address. */
  vmxonPtr = 0;
  /** The current-VMCS pointer, NO_VMCS when invalid. */
  current = NO_VMCS;
  /** The cache of the current VMCS: bits 31:0 and 63:32 of each field, by layout index. */
  private readonly lo = new Int32Array(VMCS_FIELDS.length);
  private readonly hi = new Int32Array(VMCS_FIELDS.length);
  /** The launch state of the current VMCS (also written back to its region). */
  private launched = false;

  // Non-root operation: the controls in effect, copied at VM entry for the exit checks.
  pin = 0; proc = 0; proc2 = 0; exitCtls = 0; entryCtls = 0;
  exceptionBitmap = 0; pfecMask = 0; pfecMatch = 0;
  cr0Mask = 0; cr4Mask = 0; cr0Shadow = 0; cr4Shadow = 0;
  /** The instruction count at which the VMX-preemption timer expires (Infinity: off). */
  timerDeadline = Infinity;
  /** An event being delivered in non-root operation, as IDT-vectoring information (0: none). */
  vectoring = 0;
  vectoringCode = 0;
  /** The host's own NMI blocking, and virtual-NMI blocking in the guest (SDM §24.4.2). */
  guestNmiBlocked = false;

  // EPT (SDM §28.2), in effect while cpu.eptOn.
  private readonly ept: EptMode = { pml4: 0, ad: false, maxPhyAddr: 36, executeOnly: true, page1gb: false };
  private readonly eptOut = new EptResult();
  /** The last EPT translation allowed writes (the TLB entry the CPU builds gets no write right otherwise). */
  eptWritable = true;
  /** Guest-physical memory as the guest's paging structures are read and written: through EPT. */
  readonly guestTables: EptMemory = {
    read32: (gpa) => this.cpu.mem.read32(this.translateGpa(gpa, EPT_READ, false)),
    write32: (gpa, v) => this.cpu.mem.write32(this.translateGpa(gpa, EPT_WRITE, false), v),
  };
  /** The guest-linear address being translated (an EPT violation reports it). */
  eptLinear = 0;

  constructor(readonly cpu: Cpu, cr4Allowed: number) {
    this.caps = new VmxCapabilities(cpu.features, cr4Allowed);
  }

  // ===================================================================================
  // The VMCS
  // ===================================================================================

  /** Whether `enc` names a field this model has (VMREAD/VMWRITE: error 12 otherwise). */
  supported(enc: number): boolean {
    if ((enc & ~0x7fff) !== 0) return false;
    const full = fieldWidth(enc) === FieldWidth.W64 ? enc & ~1 : enc;
    // The high-access form exists only for 64-bit fields (bit 0 set elsewhere is not a field).
    if ((enc & 1) !== 0 && fieldWidth(enc) !== FieldWidth.W64) return false;
    return this.caps.fields.has(full);
  }

  /** Bits 31:0 of a field of the current VMCS. */
  get(enc: Vmcs): number { return this.lo[FIELD_INDEX[enc]]; }
  /** Bits 63:32 of a field. */
  getHi(enc: Vmcs): number { return this.hi[FIELD_INDEX[enc]]; }
  /** A natural-width or 64-bit field as a number (bits 63:32 signed: canonical addresses). */
  getNum(enc: Vmcs): number { const k = FIELD_INDEX[enc]; return this.hi[k] * TWO32 + (this.lo[k] >>> 0); }
  set(enc: Vmcs, lo: number, hi = 0): void { const k = FIELD_INDEX[enc]; this.lo[k] = lo; this.hi[k] = hi; }
  setNum(enc: Vmcs, v: number): void { this.set(enc, v | 0, Math.floor(v / TWO32) | 0); }

  /** VMREAD's value: [lo, hi] of the field as `enc` names it (high access: bits 63:32 in lo). */
  readField(enc: number): [number, number] {
    const k = FIELD_INDEX[enc & ~1];
    if ((enc & 1) !== 0) return [this.hi[k], 0];
    const w = fieldWidth(enc);
    if (w === FieldWidth.W16) return [this.lo[k] & 0xffff, 0];
    if (w === FieldWidth.W32) return [this.lo[k], 0];
    return [this.lo[k], this.hi[k]];
  }

  /** VMWRITE: a 16-bit field keeps bits 15:0, a 32-bit one 31:0, a high access only 63:32. */
  writeField(enc: number, lo: number, hi: number): void {
    const k = FIELD_INDEX[enc & ~1];
    if ((enc & 1) !== 0) { this.hi[k] = lo; return; }
    const w = fieldWidth(enc);
    this.lo[k] = w === FieldWidth.W16 ? lo & 0xffff : lo;
    this.hi[k] = w === FieldWidth.W16 || w === FieldWidth.W32 ? 0 : hi;
  }

  /** Write the cache back to the current VMCS's region (VMCLEAR, VMPTRLD of another, VMXOFF). */
  private flushCurrent(): void {
    if (this.current === NO_VMCS) return;
    const mem = this.cpu.mem, base = this.current;
    for (let k = 0; k < this.lo.length; k++) {
      mem.write32(base + FIELD_BASE + 8 * k, this.lo[k]);
      mem.write32(base + FIELD_BASE + 8 * k + 4, this.hi[k]);
    }
    mem.write32(base + LAUNCH_STATE, this.launched ? 1 : 0);
  }

  private loadCurrent(addr: number): void {
    const mem = this.cpu.mem;
    for (let k = 0; k < this.lo.length; k++) {
      this.lo[k] = mem.read32(addr + FIELD_BASE + 8 * k);
      this.hi[k] = mem.read32(addr + FIELD_BASE + 8 * k + 4);
    }
    this.launched = mem.read32(addr + LAUNCH_STATE) === 1;
    this.current = addr;
  }

  // ===================================================================================
  // Instruction outcomes (SDM §30.2)
  // ===================================================================================

  private flagsResult(cf: boolean, zf: boolean): void {
    const cpu = this.cpu;
    cpu.setFlagsMasked((cf ? F.CF : 0) | (zf ? F.ZF : 0), F.ARITH);
  }
  succeed(): void { this.flagsResult(false, false); }
  failInvalid(): void { this.flagsResult(true, false); }
  failValid(error: VmxError): void {
    this.flagsResult(false, true);
    this.set(Vmcs.VM_INSTRUCTION_ERROR, error);
  }
  /** VMfail: VMfailValid with a current VMCS, VMfailInvalid without. */
  fail(error: VmxError): void {
    if (this.current === NO_VMCS) this.failInvalid();
    else this.failValid(error);
  }

  /** A physical address operand of VMXON/VMCLEAR/VMPTRLD is 4-KiB aligned and within MAXPHYADDR. */
  validRegion(lo: number, hi: number): boolean {
    if ((lo & 0xfff) !== 0) return false;
    const bits = this.cpu.maxPhyAddr;
    if (bits >= 64) return true;
    return bits <= 32 ? hi === 0 && (bits === 32 || (lo >>> bits) === 0) : (hi >>> (bits - 32)) === 0;
  }

  // ---- VMXON / VMXOFF / VMCLEAR / VMPTRLD / VMPTRST (SDM ch. 31 pages) ----

  /** VMXON after the #UD/#GP checks: enter VMX operation with the region at `addr`. */
  vmxon(addr: number, hi: number): void {
    const mem = this.cpu.mem;
    if (!this.validRegion(addr, hi) || (mem.read32(addr) & 0x7fff_ffff) !== VMCS_REVISION || (mem.read32(addr) >>> 31) !== 0) {
      this.failInvalid();
      return;
    }
    this.on = true;
    this.vmxonPtr = addr;
    this.current = NO_VMCS;
    this.guestNmiBlocked = false;
    this.succeed();
  }

  vmxoff(): void {
    this.flushCurrent();
    this.on = false;
    this.current = NO_VMCS;
    this.succeed();
  }

  vmclear(addr: number, hi: number): void {
    if (!this.validRegion(addr, hi)) { this.fail(VmxError.VMCLEAR_INVALID_ADDRESS); return; }
    if (addr === this.vmxonPtr) { this.fail(VmxError.VMCLEAR_VMXON_POINTER); return; }
    if (addr === this.current) {
      this.launched = false;
      this.flushCurrent();
      this.current = NO_VMCS;
    } else {
      this.cpu.mem.write32(addr + LAUNCH_STATE, 0);
    }
    this.succeed();
  }

  vmptrld(addr: number, hi: number): void {
    if (!this.validRegion(addr, hi)) { this.fail(VmxError.VMPTRLD_INVALID_ADDRESS); return; }
    if (addr === this.vmxonPtr) { this.fail(VmxError.VMPTRLD_VMXON_POINTER); return; }
    const rev = this.cpu.mem.read32(addr);
    // Bit 31 (a shadow VMCS) needs VMCS shadowing, which no model here has.
    if ((rev & 0x7fff_ffff) !== VMCS_REVISION || (rev >>> 31) !== 0) { this.fail(VmxError.VMPTRLD_INCORRECT_REVISION); return; }
    if (addr !== this.current) {
      this.flushCurrent();
      this.loadCurrent(addr);
    }
    this.succeed();
  }

  // ===================================================================================
  // VM entry (SDM ch. 26)
  // ===================================================================================

  /**
   * VMLAUNCH (`launch`) or VMRESUME after the #UD/#GP checks and the exits of non-root
   * operation. Ends in VMfail, in a VM-entry failure (host state loaded, exit reason with
   * bit 31), or in non-root operation at the guest's RIP.
   */
  enter(launch: boolean): void {
    const cpu = this.cpu;
    if (this.current === NO_VMCS) { this.failInvalid(); return; }
    if (launch && this.launched) { this.failValid(VmxError.VMLAUNCH_NONCLEAR_VMCS); return; }
    if (!launch && !this.launched) { this.failValid(VmxError.VMRESUME_NONLAUNCHED_VMCS); return; }
    if (!checkControls(this)) { this.failValid(VmxError.ENTRY_INVALID_CONTROL_FIELD); return; }
    if (!checkHostState(this, cpu)) { this.failValid(VmxError.ENTRY_INVALID_HOST_STATE); return; }
    // From here the entry either succeeds or fails like a VM exit (SDM §26.8).
    this.set(Vmcs.VM_EXIT_INTR_INFO, 0);
    this.set(Vmcs.IDT_VECTORING_INFO_FIELD, 0);
    const qual = checkGuestState(this, cpu);
    if (qual >= 0) { this.entryFailure(ExitReason.INVALID_GUEST_STATE, qual); return; }
    this.loadGuestState();
    const bad = this.loadMsrList(this.getNum(Vmcs.VM_ENTRY_MSR_LOAD_ADDR), this.get(Vmcs.VM_ENTRY_MSR_LOAD_COUNT));
    if (bad > 0) { this.entryFailure(ExitReason.MSR_LOAD_FAIL, bad); return; }
    if (launch) this.launched = true;
    this.startNonRoot();
    this.injectEvent();
  }

  /** A VM entry that fails after the host-state checks: exit reason | bit 31, host state (SDM §26.8). */
  private entryFailure(reason: ExitReason, qual: number): void {
    this.set(Vmcs.VM_EXIT_REASON, reason | EXIT_REASON_ENTRY_FAILURE);
    this.setNum(Vmcs.EXIT_QUALIFICATION, qual);
    this.set(Vmcs.VM_ENTRY_INTR_INFO_FIELD, this.get(Vmcs.VM_ENTRY_INTR_INFO_FIELD) & ~INTR_INFO_VALID);
    this.loadHostState();
  }

  /** Copy the controls the exit checks read, and switch the CPU into non-root operation. */
  private startNonRoot(): void {
    const cpu = this.cpu;
    this.pin = this.get(Vmcs.PIN_BASED_VM_EXEC_CONTROL);
    this.proc = this.get(Vmcs.CPU_BASED_VM_EXEC_CONTROL);
    this.proc2 = (this.proc & C.CPU_ACTIVATE_SECONDARY_CONTROLS) !== 0 ? this.get(Vmcs.SECONDARY_VM_EXEC_CONTROL) : 0;
    this.exitCtls = this.get(Vmcs.VM_EXIT_CONTROLS);
    this.entryCtls = this.get(Vmcs.VM_ENTRY_CONTROLS);
    this.exceptionBitmap = this.get(Vmcs.EXCEPTION_BITMAP);
    this.pfecMask = this.get(Vmcs.PAGE_FAULT_ERROR_CODE_MASK);
    this.pfecMatch = this.get(Vmcs.PAGE_FAULT_ERROR_CODE_MATCH);
    this.cr0Mask = this.get(Vmcs.CR0_GUEST_HOST_MASK); this.cr0Shadow = this.get(Vmcs.CR0_READ_SHADOW);
    this.cr4Mask = this.get(Vmcs.CR4_GUEST_HOST_MASK); this.cr4Shadow = this.get(Vmcs.CR4_READ_SHADOW);
    this.timerDeadline = (this.pin & C.PIN_ACTIVATE_PREEMPTION_TIMER) !== 0
      ? cpu.cycles + ((this.get(Vmcs.VMX_PREEMPTION_TIMER_VALUE) >>> 0) * (1 << this.caps.preemptionTimerRate)) : Infinity;
    cpu.nonRoot = true;
    // External-interrupt exiting: RFLAGS.IF does not block interrupts (SDM §25.2), so the
    // loop's "IF set" test also passes on the always-one bit 1.
    cpu.irqEnableMask = (this.pin & C.PIN_EXTERNAL_INTERRUPT_EXITING) !== 0 ? F.IF | F.FIXED_ONE : F.IF;
    this.updatePoll();
  }

  /** Whether the run loop must look at VMX events before every instruction. */
  updatePoll(): void {
    const cpu = this.cpu;
    cpu.vmxPoll = cpu.nonRoot && ((this.proc & (C.CPU_INTERRUPT_WINDOW_EXITING | C.CPU_NMI_WINDOW_EXITING)) !== 0 ||
      this.timerDeadline !== Infinity);
    // The slice running now did not poll: end it after this instruction so the loop does.
    if (cpu.vmxPoll) cpu.yieldSlice();
  }

  private loadGuestState(): void {
    const cpu = this.cpu;
    const ia32e = (this.get(Vmcs.VM_ENTRY_CONTROLS) & C.ENTRY_IA32E_MODE_GUEST) !== 0;
    cpu.cr0 = this.get(Vmcs.GUEST_CR0) | CR0_ET;
    const proc = this.get(Vmcs.CPU_BASED_VM_EXEC_CONTROL);
    const proc2 = (proc & C.CPU_ACTIVATE_SECONDARY_CONTROLS) !== 0 ? this.get(Vmcs.SECONDARY_VM_EXEC_CONTROL) : 0;
    cpu.eptOn = (proc2 & C.SECONDARY_ENABLE_EPT) !== 0;
    if (cpu.eptOn) {
      const eptp = this.get(Vmcs.EPT_POINTER);
      this.ept.pml4 = (this.getHi(Vmcs.EPT_POINTER) & 0xf_ffff) * TWO32 + ((eptp & ~0xfff) >>> 0);
      this.ept.ad = (eptp & 0x40) !== 0;
      this.ept.maxPhyAddr = cpu.maxPhyAddr;
      this.ept.executeOnly = (this.caps.eptVpidCap()[0] & 1) !== 0;
    }
    cpu.paging = (cpu.cr0 & CR0_PG) !== 0 || cpu.eptOn;
    cpu.cr3 = this.get(Vmcs.GUEST_CR3); cpu.cr3Hi = this.getHi(Vmcs.GUEST_CR3);
    cpu.cr4 = this.get(Vmcs.GUEST_CR4);
    if ((this.entryCtls & C.ENTRY_LOAD_DEBUG_CONTROLS) !== 0 || (this.get(Vmcs.VM_ENTRY_CONTROLS) & C.ENTRY_LOAD_DEBUG_CONTROLS) !== 0) {
      cpu.dr[7] = this.get(Vmcs.GUEST_DR7) | 0x400;
    }
    let efer = cpu.efer;
    if ((this.get(Vmcs.VM_ENTRY_CONTROLS) & C.ENTRY_LOAD_IA32_EFER) !== 0) efer = this.get(Vmcs.GUEST_IA32_EFER);
    else if (cpu.features.lm) efer = ia32e ? efer | EFER_LMA | EFER_LME : efer & ~(EFER_LMA | EFER_LME);
    this.setEferRaw(efer);
    for (const k of SEG_FIELDS) this.loadGuestSegment(k);
    cpu.gdtrBase = this.getNum(Vmcs.GUEST_GDTR_BASE); cpu.gdtrLimit = this.get(Vmcs.GUEST_GDTR_LIMIT) & 0xffff;
    cpu.idtrBase = this.getNum(Vmcs.GUEST_IDTR_BASE); cpu.idtrLimit = this.get(Vmcs.GUEST_IDTR_LIMIT) & 0xffff;
    this.setRip(this.getNum(Vmcs.GUEST_RIP));
    this.setGpr(Reg.ESP, this.getNum(Vmcs.GUEST_RSP));
    cpu.lazyMask = 0;
    cpu.flags = this.get(Vmcs.GUEST_RFLAGS) | F.FIXED_ONE;
    cpu.sysenterCs = this.get(Vmcs.GUEST_SYSENTER_CS) & 0xffff;
    cpu.sysenterEsp = this.get(Vmcs.GUEST_SYSENTER_ESP); cpu.sysenterEip = this.get(Vmcs.GUEST_SYSENTER_EIP);
    cpu.cpl = cpu.segs[SegReg.SS].dpl;
    if ((cpu.cr0 & CR0_PE) === 0) cpu.cpl = 0;
    const intr = this.get(Vmcs.GUEST_INTERRUPTIBILITY_INFO);
    cpu.inhibitIrq = (intr & (BLOCKING_BY_STI | BLOCKING_BY_MOV_SS)) !== 0;
    this.guestNmiBlocked = (intr & BLOCKING_BY_NMI) !== 0;
    cpu.halted = this.get(Vmcs.GUEST_ACTIVITY_STATE) === ActivityState.Hlt;
    if ((cpu.cr0 & CR0_PG) !== 0 && (cpu.cr4 & CR4_PAE) !== 0 && !cpu.lma) {
      // With EPT the PDPTEs come from the VMCS (SDM §26.3.2.4); without, from memory.
      if (cpu.eptOn) for (let k = 0; k < 4; k++) { cpu.pdpte[2 * k] = this.get(Vmcs.GUEST_PDPTE0 + 2 * k); cpu.pdpte[2 * k + 1] = this.getHi(Vmcs.GUEST_PDPTE0 + 2 * k); }
      else cpu.reloadPdptes();
    }
    cpu.modeChanged();
  }

  private setEferRaw(efer: number): void {
    const cpu = this.cpu;
    const lma = (efer & EFER_LMA) !== 0;
    cpu.efer = efer;
    cpu.nxe = (efer & (1 << 11)) !== 0;
    cpu.lmsleOn = (efer & (1 << 13)) !== 0;
    if (lma !== cpu.lma) cpu.setLmaRaw(lma);
  }

  private segment(k: number): SegmentCache {
    const cpu = this.cpu;
    return k < 6 ? cpu.segs[k] : k === 6 ? cpu.ldtr : cpu.tr;
  }

  private loadGuestSegment(k: number): void {
    const s = this.segment(k);
    const ar = this.get(Vmcs.GUEST_ES_AR_BYTES + 2 * k);
    s.selector = this.get(Vmcs.GUEST_ES_SELECTOR + 2 * k) & 0xffff;
    s.base = this.getNum(Vmcs.GUEST_ES_BASE + 2 * k);
    if (!this.cpu.lma || k >= 6 || k === SegReg.FS || k === SegReg.GS) { /* full base */ } else s.base = s.base >>> 0;
    s.limit = this.get(Vmcs.GUEST_ES_LIMIT + 2 * k) >>> 0;
    setAr(s, ar);
  }

  private setRip(v: number): void {
    const cpu = this.cpu;
    cpu.eip = cpu.lma && cpu.segs[SegReg.CS].l ? v : v >>> 0;
    cpu.instrEip = cpu.eip;
  }

  private setGpr(r: number, v: number): void {
    this.cpu.regs[r] = v | 0;
    this.cpu.regsHi[r] = Math.floor(v / TWO32) | 0;
  }

  /**
   * The MSR-load list at `addr` with `count` entries of 16 bytes (index, reserved, value:
   * SDM §24.8.2, table 24-12). Returns 0, or the 1-based number of the entry that failed.
   */
  private loadMsrList(addr: number, count: number): number {
    const cpu = this.cpu;
    for (let k = 0; k < count; k++) {
      const e = addr + 16 * k;
      const n = cpu.mem.read32(e);
      // FS_BASE, GS_BASE, the x2APIC range and microcode MSRs may not be in the list (§26.4).
      if (cpu.mem.read32(e + 4) !== 0 || n === 0xc000_0100 || n === 0xc000_0101 || (n >>> 8) === 8 || n === 0x8b) return k + 1;
      if (!msrWriteForVmx(cpu, n, cpu.mem.read32(e + 8), cpu.mem.read32(e + 12))) return k + 1;
    }
    return 0;
  }

  private storeMsrList(addr: number, count: number): void {
    const cpu = this.cpu;
    for (let k = 0; k < count; k++) {
      const e = addr + 16 * k;
      const v = msrReadForVmx(cpu, cpu.mem.read32(e));
      if (v === null) return; // a VMX abort on silicon; here the list simply stops
      cpu.mem.write32(e + 8, v[0]); cpu.mem.write32(e + 12, v[1]);
    }
  }

  /** Event injection (SDM §26.6): deliver the event in VM_ENTRY_INTR_INFO_FIELD through the guest's IDT. */
  private injectEvent(): void {
    const info = this.get(Vmcs.VM_ENTRY_INTR_INFO_FIELD);
    if ((info & INTR_INFO_VALID) === 0) return;
    const cpu = this.cpu;
    const vector = info & 0xff, type = (info >>> 8) & 7;
    const code = this.get(Vmcs.VM_ENTRY_EXCEPTION_ERROR_CODE), hasCode = (info & INTR_INFO_DELIVER_CODE) !== 0;
    cpu.halted = false;
    const kind = type === IntrType.External || type === IntrType.NMI ? IntKind.External
      : type === IntrType.HardwareException ? IntKind.Exception : IntKind.Software;
    // Software interrupts and exceptions push the address after the instruction (its length
    // is in VM_ENTRY_INSTRUCTION_LEN); the RIP in the VMCS is the instruction's.
    if (type === IntrType.SoftwareInterrupt || type === IntrType.SoftwareException || type === IntrType.PrivilegedSoftwareException) {
      cpu.eip = cpu.eip + this.get(Vmcs.VM_ENTRY_INSTRUCTION_LEN);
      if (!cpu.mode64) cpu.eip = cpu.segs[SegReg.CS].big ? cpu.eip >>> 0 : cpu.eip & 0xffff;
    }
    if (type === IntrType.NMI) this.guestNmiBlocked = true;
    // The injected event is what an exit during its delivery reports as IDT-vectoring information.
    this.set(Vmcs.VM_ENTRY_INTR_INFO_FIELD, info & ~INTR_INFO_VALID);
    try {
      cpu.deliverVectored(vector, type === IntrType.PrivilegedSoftwareException ? IntKind.Exception : kind, code, hasCode, info & ~0x1000);
    } catch (e) {
      if (e !== cpu.fault) throw e;
      cpu.faultAfterEntry();
    }
  }

  // ===================================================================================
  // VM exit (SDM ch. 27)
  // ===================================================================================

  /**
   * Leave non-root operation: record the exit, save the guest's state, load the host's
   * (§27.2–27.6). `rip` is the guest RIP to save (the instruction's for faults and
   * instruction exits; the next one's for traps and events between instructions).
   */
  exit(reason: ExitReason, qual: number, rip: number, intrInfo = 0, intrCode = 0): void {
    const cpu = this.cpu;
    this.set(Vmcs.VM_EXIT_REASON, reason);
    this.setNum(Vmcs.EXIT_QUALIFICATION, qual);
    this.set(Vmcs.VM_EXIT_INTR_INFO, intrInfo);
    this.set(Vmcs.VM_EXIT_INTR_ERROR_CODE, intrCode);
    this.set(Vmcs.IDT_VECTORING_INFO_FIELD, this.vectoring);
    this.set(Vmcs.IDT_VECTORING_ERROR_CODE, this.vectoringCode);
    this.vectoring = 0;
    this.set(Vmcs.VM_ENTRY_INTR_INFO_FIELD, this.get(Vmcs.VM_ENTRY_INTR_INFO_FIELD) & ~INTR_INFO_VALID);
    this.saveGuestState(rip);
    this.storeMsrList(this.getNum(Vmcs.VM_EXIT_MSR_STORE_ADDR), this.get(Vmcs.VM_EXIT_MSR_STORE_COUNT));
    this.loadHostState();
    cpu.vmExits++;
  }

  /**
   * An exit caused by the instruction `i` executing now (SDM §27.2.4, §27.2.5): the saved RIP
   * is the instruction's, with its length and information. Throws to end the instruction.
   */
  exitInstr(reason: ExitReason, qual: number, i: Instr, info = 0): never {
    this.exitInstrRecorded(reason, qual, i, info);
    return this.cpu.throwVmExit();
  }

  /** The VM exit of exitInstr, without ending the instruction (its caller does). */
  private exitInstrRecorded(reason: ExitReason, qual: number, i: Instr, info = 0): void {
    this.set(Vmcs.VM_EXIT_INSTRUCTION_LEN, i.len);
    this.set(Vmcs.VMX_INSTRUCTION_INFO, info);
    this.exit(reason, qual, this.cpu.instrEip);
  }

  private saveGuestState(rip: number): void {
    const cpu = this.cpu;
    cpu.materializeFlags();
    this.set(Vmcs.GUEST_CR0, cpu.cr0);
    this.set(Vmcs.GUEST_CR3, cpu.cr3, cpu.lma ? cpu.cr3Hi : 0);
    this.set(Vmcs.GUEST_CR4, cpu.cr4);
    if ((this.exitCtls & C.EXIT_SAVE_DEBUG_CONTROLS) !== 0) this.set(Vmcs.GUEST_DR7, cpu.dr[7]);
    for (const k of SEG_FIELDS) {
      const s = this.segment(k);
      this.set(Vmcs.GUEST_ES_SELECTOR + 2 * k, s.selector);
      this.setNum(Vmcs.GUEST_ES_BASE + 2 * k, s.base);
      this.set(Vmcs.GUEST_ES_LIMIT + 2 * k, s.limit);
      // SS.DPL is the CPL, also for an unusable SS (a null SS loaded by a 64-bit interrupt
      // or SYSCALL's successor keeps no DPL of its own): SDM §24.4.1, §27.3.2.
      this.set(Vmcs.GUEST_ES_AR_BYTES + 2 * k, k === SegReg.SS ? (getAr(s) & ~0x60) | (cpu.cpl << 5) : getAr(s));
    }
    this.setNum(Vmcs.GUEST_GDTR_BASE, cpu.gdtrBase); this.set(Vmcs.GUEST_GDTR_LIMIT, cpu.gdtrLimit);
    this.setNum(Vmcs.GUEST_IDTR_BASE, cpu.idtrBase); this.set(Vmcs.GUEST_IDTR_LIMIT, cpu.idtrLimit);
    this.set(Vmcs.GUEST_RSP, cpu.regs[Reg.ESP], cpu.lma ? cpu.regsHi[Reg.ESP] : 0);
    this.setNum(Vmcs.GUEST_RIP, rip);
    this.set(Vmcs.GUEST_RFLAGS, cpu.flags);
    this.set(Vmcs.GUEST_SYSENTER_CS, cpu.sysenterCs);
    this.set(Vmcs.GUEST_SYSENTER_ESP, cpu.sysenterEsp); this.set(Vmcs.GUEST_SYSENTER_EIP, cpu.sysenterEip);
    if ((this.exitCtls & C.EXIT_SAVE_IA32_EFER) !== 0) this.set(Vmcs.GUEST_IA32_EFER, cpu.efer);
    // IA32_VMX_MISC bit 5: the exit stores EFER.LMA into the IA-32e-mode-guest control.
    if (cpu.features.lm) {
      const e = this.get(Vmcs.VM_ENTRY_CONTROLS);
      this.set(Vmcs.VM_ENTRY_CONTROLS, cpu.lma ? e | C.ENTRY_IA32E_MODE_GUEST : e & ~C.ENTRY_IA32E_MODE_GUEST);
    }
    // A pending MOV SS/STI shadow: blocking by STI is only valid with IF = 1 (§26.3.1.5).
    let intr = 0;
    if (cpu.inhibitIrq && rip === cpu.eip) intr |= (cpu.flags & F.IF) !== 0 ? BLOCKING_BY_STI : BLOCKING_BY_MOV_SS;
    if (this.guestNmiBlocked) intr |= BLOCKING_BY_NMI;
    this.set(Vmcs.GUEST_INTERRUPTIBILITY_INFO, intr);
    this.set(Vmcs.GUEST_ACTIVITY_STATE, cpu.halted ? ActivityState.Hlt : ActivityState.Active);
    if ((this.exitCtls & C.EXIT_SAVE_PREEMPTION_TIMER) !== 0 && this.timerDeadline !== Infinity) {
      const left = Math.max(0, Math.ceil((this.timerDeadline - cpu.cycles) / (1 << this.caps.preemptionTimerRate)));
      this.set(Vmcs.VMX_PREEMPTION_TIMER_VALUE, left);
    }
  }

  /** Load the host-state area (SDM §27.5): a VM exit and a VM-entry failure after §26.2 end here. */
  private loadHostState(): void {
    const cpu = this.cpu;
    const host64 = (this.get(Vmcs.VM_EXIT_CONTROLS) & C.EXIT_HOST_ADDRESS_SPACE_SIZE) !== 0;
    // CR0: PE, MP, EM, TS, NE, WP, AM, PG come from the field; ET, CD, NW and the rest stay (§27.5.1).
    const keep = CR0_ET | CR0_CD | CR0_NW | 0x1ff_ffc0 & ~0x1_0000 & ~0x4_0000;
    cpu.cr0 = (cpu.cr0 & keep) | (this.get(Vmcs.HOST_CR0) & ~keep) | CR0_ET;
    cpu.eptOn = false;
    cpu.paging = (cpu.cr0 & CR0_PG) !== 0;
    cpu.cr3 = this.get(Vmcs.HOST_CR3); cpu.cr3Hi = host64 ? this.getHi(Vmcs.HOST_CR3) : 0;
    cpu.cr4 = this.get(Vmcs.HOST_CR4);
    cpu.dr[7] = 0x400;
    cpu.sysenterCs = this.get(Vmcs.HOST_IA32_SYSENTER_CS) & 0xffff;
    cpu.sysenterEsp = this.get(Vmcs.HOST_IA32_SYSENTER_ESP); cpu.sysenterEip = this.get(Vmcs.HOST_IA32_SYSENTER_EIP);
    let efer = cpu.efer;
    if ((this.get(Vmcs.VM_EXIT_CONTROLS) & C.EXIT_LOAD_IA32_EFER) !== 0) efer = this.get(Vmcs.HOST_IA32_EFER);
    if (cpu.features.lm) efer = host64 ? efer | EFER_LMA | EFER_LME : efer & ~(EFER_LMA | EFER_LME);
    this.setEferRaw(efer);
    // Segments (§27.5.2): flat, DPL 0, from the selectors; null data selectors are unusable.
    for (let k = 0; k < 6; k++) {
      const s = cpu.segs[k];
      const sel = this.get(Vmcs.HOST_ES_SELECTOR + 2 * k) & 0xffff;
      s.selector = sel;
      s.base = k === SegReg.FS ? this.getNum(Vmcs.HOST_FS_BASE) : k === SegReg.GS ? this.getNum(Vmcs.HOST_GS_BASE) : 0;
      s.limit = 0xffff_ffff;
      if (k === SegReg.CS) setAr(s, 0xb | 0x10 | 0x80 | (host64 ? 1 << 13 : 1 << 14) | (1 << 15));
      else setAr(s, 0x3 | 0x10 | 0x80 | (1 << 14) | (1 << 15) | (sel === 0 ? 1 << 16 : 0));
    }
    cpu.tr.selector = this.get(Vmcs.HOST_TR_SELECTOR) & 0xffff;
    cpu.tr.base = this.getNum(Vmcs.HOST_TR_BASE); cpu.tr.limit = 0x67;
    setAr(cpu.tr, 0x8b);
    cpu.ldtr.selector = 0; cpu.ldtr.base = 0; cpu.ldtr.limit = 0;
    setAr(cpu.ldtr, 1 << 16);
    cpu.gdtrBase = this.getNum(Vmcs.HOST_GDTR_BASE); cpu.gdtrLimit = 0xffff;
    cpu.idtrBase = this.getNum(Vmcs.HOST_IDTR_BASE); cpu.idtrLimit = 0xffff;
    cpu.lazyMask = 0;
    cpu.flags = F.FIXED_ONE;
    cpu.cpl = 0;
    this.setRip(this.getNum(Vmcs.HOST_RIP));
    this.setGpr(Reg.ESP, this.getNum(Vmcs.HOST_RSP));
    cpu.inhibitIrq = false;
    cpu.halted = false;
    cpu.nonRoot = false;
    cpu.vmxPoll = false;
    cpu.irqEnableMask = F.IF;
    this.timerDeadline = Infinity;
    if (cpu.paging && (cpu.cr4 & CR4_PAE) !== 0 && !cpu.lma) cpu.reloadPdptes();
    cpu.modeChanged();
    const bad = this.loadMsrList(this.getNum(Vmcs.VM_EXIT_MSR_LOAD_ADDR), this.get(Vmcs.VM_EXIT_MSR_LOAD_COUNT));
    if (bad > 0) this.abort(bad);
  }

  /** A VMX abort (SDM §27.7): the indicator is written and the processor shuts down. */
  private abort(code: number): void {
    if (this.current !== NO_VMCS) this.cpu.mem.write32(this.current + 4, code);
    this.cpu.vmxAbort();
  }

  // ===================================================================================
  // Exits for events (SDM §25.2, §27.2.2) — called only in non-root operation
  // ===================================================================================

  /**
   * An exception, NMI or external interrupt about to be delivered in non-root operation.
   * Returns true when it caused a VM exit instead (the caller delivers nothing).
   */
  interceptEvent(vector: number, kind: IntKind, errorCode: number, hasErrorCode: boolean, type: number): boolean {
    const cpu = this.cpu;
    let exits: boolean;
    if (type === IntrType.NMI) exits = (this.pin & C.PIN_NMI_EXITING) !== 0;
    else if (type === IntrType.External) exits = false; // handled in externalInterrupt()
    else if (type === IntrType.SoftwareInterrupt) exits = false; // INT n never exits
    else if (vector === Vector.PF) {
      const match = (errorCode & this.pfecMask) === this.pfecMatch;
      exits = ((this.exceptionBitmap >>> 14) & 1) === (match ? 1 : 0);
    } else exits = ((this.exceptionBitmap >>> vector) & 1) !== 0;
    if (!exits) return false;
    const info = vector | (type << 8) | (hasErrorCode ? INTR_INFO_DELIVER_CODE : 0) | INTR_INFO_VALID;
    // Exit qualification (§27.2.1): the linear address for #PF (CR2 is not loaded), DR6-style bits for #DB.
    const qual = vector === Vector.PF ? cpu.fault.cr2 : vector === Vector.DB && type === IntrType.HardwareException ? cpu.dr[6] & 0x600f : 0;
    // Faults save the faulting instruction's RIP; traps, software exceptions and NMIs the next one.
    const rip = type === IntrType.SoftwareException || type === IntrType.PrivilegedSoftwareException ? cpu.instrEip : cpu.eip;
    if (type === IntrType.SoftwareException || type === IntrType.PrivilegedSoftwareException) {
      this.set(Vmcs.VM_EXIT_INSTRUCTION_LEN, (cpu.eip - cpu.instrEip) | 0);
    }
    void kind;
    this.exit(ExitReason.EXCEPTION_NMI, qual, rip, info, hasErrorCode ? errorCode : 0);
    return true;
  }

  /**
   * Between instructions in non-root operation, with an interrupt pending on INTR: exit
   * (acknowledging it when the exit control says so) if external-interrupt exiting is on.
   */
  externalInterrupt(): boolean {
    if ((this.pin & C.PIN_EXTERNAL_INTERRUPT_EXITING) === 0) return false;
    const cpu = this.cpu;
    let info = 0;
    if ((this.exitCtls & C.EXIT_ACK_INTERRUPT_ON_EXIT) !== 0) {
      info = cpu.intr!.acknowledge() | (IntrType.External << 8) | INTR_INFO_VALID;
    }
    this.exit(ExitReason.EXTERNAL_INTERRUPT, 0, cpu.eip, info);
    return true;
  }

  /** Interrupt-window, NMI-window and preemption-timer exits, checked before each instruction. */
  poll(): boolean {
    const cpu = this.cpu;
    if (cpu.cycles >= this.timerDeadline) {
      this.set(Vmcs.VMX_PREEMPTION_TIMER_VALUE, 0);
      this.exit(ExitReason.PREEMPTION_TIMER, 0, cpu.eip);
      return true;
    }
    if ((this.proc & C.CPU_NMI_WINDOW_EXITING) !== 0 && !this.guestNmiBlocked && !cpu.inhibitIrq) {
      this.exit(ExitReason.NMI_WINDOW, 0, cpu.eip);
      return true;
    }
    if ((this.proc & C.CPU_INTERRUPT_WINDOW_EXITING) !== 0 && (cpu.flags & F.IF) !== 0 && !cpu.inhibitIrq) {
      this.exit(ExitReason.INTERRUPT_WINDOW, 0, cpu.eip);
      return true;
    }
    return false;
  }

  /** The instruction count the run loop may go to before it must poll again. */
  pollEnd(): number {
    if ((this.proc & (C.CPU_INTERRUPT_WINDOW_EXITING | C.CPU_NMI_WINDOW_EXITING)) !== 0) return this.cpu.instructions + 1;
    return this.cpu.instructions + Math.max(1, this.timerDeadline - this.cpu.cycles);
  }

  // ===================================================================================
  // Exits for instructions (SDM §25.1.2, §25.1.3) — called only in non-root operation
  // ===================================================================================

  /** HLT, INVLPG, RDPMC, RDTSC, MOV DR, WBINVD: exit if the control is set. */
  exitIf(control: number, reason: ExitReason, qual: number, i: Instr): void {
    if ((this.proc & control) !== 0) this.exitInstr(reason, qual, i);
  }

  /** The TSC as the guest reads it (SDM §25.3: TSC offsetting). */
  guestTsc(): number {
    const t = this.cpu.readTsc();
    return (this.proc & C.CPU_USE_TSC_OFFSETTING) !== 0 ? t + this.getNum(Vmcs.TSC_OFFSET) : t;
  }

  /** RDTSCP in non-root operation is #UD unless "enable RDTSCP" is set (§25.3); it exits under RDTSC exiting. */
  rdtscpEnabled(): void {
    if ((this.proc2 & C.SECONDARY_ENABLE_RDTSCP) === 0) this.cpu.ud();
  }

  /** MOV to CR0/CR3/CR4 (and CLTS, LMSW through crWriteValue): exit, or the value to load. */
  movToCr(cr: number, value: number, gpr: number, i: Instr): number {
    if (cr === 0 || cr === 4) {
      const mask = cr === 0 ? this.cr0Mask : this.cr4Mask, shadow = cr === 0 ? this.cr0Shadow : this.cr4Shadow;
      if (((value ^ shadow) & mask) !== 0) this.exitInstr(ExitReason.CR_ACCESS, cr | (gpr << 8), i);
      // Host-owned bits keep their value (SDM §25.3, "MOV to CR0/CR4").
      const cur = cr === 0 ? this.cpu.cr0 : this.cpu.cr4;
      return (value & ~mask) | (cur & mask);
    }
    if (cr === 3 && (this.proc & C.CPU_CR3_LOAD_EXITING) !== 0) {
      const n = Math.min(this.get(Vmcs.CR3_TARGET_COUNT), 4);
      let hit = false;
      for (let k = 0; k < n; k++) if ((this.get(Vmcs.CR3_TARGET_VALUE0 + 2 * k) >>> 0) === (value >>> 0) && this.getHi(Vmcs.CR3_TARGET_VALUE0 + 2 * k) === this.cpu.hi) hit = true;
      if (!hit) this.exitInstr(ExitReason.CR_ACCESS, 3 | (gpr << 8), i);
    }
    return value;
  }

  /**
   * MOV to CR8 (`store` false) or from CR8 (`store` true) in 64-bit mode: a VM exit under
   * CR8-load or CR8-store exiting (§25.1.3), qualification CR number 8, access type 0 or 1 and
   * the register (table 27-3). Without them (and without a TPR shadow, not offered) the access
   * goes to the TPR.
   */
  movCr8(store: boolean, gpr: number, i: Instr): void {
    if ((this.proc & (store ? C.CPU_CR8_STORE_EXITING : C.CPU_CR8_LOAD_EXITING)) !== 0) {
      this.exitInstr(ExitReason.CR_ACCESS, 8 | (store ? 1 << 4 : 0) | (gpr << 8), i);
    }
  }

  /** MOV from CR3 (exits under CR3-store exiting); CR0/CR4 reads see the read shadows. */
  movFromCr(cr: number, value: number, gpr: number, i: Instr): number {
    if (cr === 3 && (this.proc & C.CPU_CR3_STORE_EXITING) !== 0) this.exitInstr(ExitReason.CR_ACCESS, 3 | (1 << 4) | (gpr << 8), i);
    if (cr === 0) return (value & ~this.cr0Mask) | (this.cr0Shadow & this.cr0Mask);
    if (cr === 4) return (value & ~this.cr4Mask) | (this.cr4Shadow & this.cr4Mask);
    return value;
  }

  /** CLTS: exits if CR0.TS is host-owned and set in the shadow (§25.1.3); else TS clears only if guest-owned. */
  clts(i: Instr): boolean {
    if ((this.cr0Mask & CR0_TS) !== 0) {
      if ((this.cr0Shadow & CR0_TS) !== 0) this.exitInstr(ExitReason.CR_ACCESS, (2 << 4), i);
      return false;
    }
    return true;
  }

  /** LMSW with source `src` (bits 3:0 of it count): exit, or the CR0 value to load. */
  lmsw(src: number, mem: boolean, lin: number, i: Instr): number {
    const m = this.cr0Mask, sh = this.cr0Shadow;
    if (((m & CR0_PE) !== 0 && (sh & CR0_PE) === 0 && (src & CR0_PE) !== 0) || ((m & 0xe & (src ^ sh)) !== 0)) {
      if (mem) this.setNum(Vmcs.GUEST_LINEAR_ADDRESS, lin);
      this.exitInstr(ExitReason.CR_ACCESS, (3 << 4) | (mem ? 1 << 6 : 0) | ((src & 0xffff) << 16), i);
    }
    return src;
  }

  /** SMSW and the low bits of MOV from CR0 read the shadow where the host owns a bit. */
  shadowCr0(v: number): number { return (v & ~this.cr0Mask) | (this.cr0Shadow & this.cr0Mask); }

  /** MOV DR (§25.1.3): qualification bits 2:0 DR, 4 direction (1 = MOV from DR), 11:8 GPR. */
  movDr(dr: number, fromDr: boolean, gpr: number, i: Instr): void {
    this.exitIf(C.CPU_MOV_DR_EXITING, ExitReason.DR_ACCESS, dr | (fromDr ? 1 << 4 : 0) | (gpr << 8), i);
  }

  /**
   * IN, OUT, INS, OUTS (§25.1.3): with I/O bitmaps, exit if a bit of any port accessed is set
   * (or the access wraps past FFFFh); without, unconditional I/O exiting decides.
   */
  /** IN/OUT/INS/OUTS (§25.1.3): true when it exited (the caller ends the instruction: Cpu.signalExit or throwExit). */
  io(port: number, size: number, isIn: boolean, string: boolean, rep: boolean, imm: boolean, i: Instr): boolean {
    let exits: boolean;
    if ((this.proc & C.CPU_USE_IO_BITMAPS) !== 0) {
      exits = port + size > 0x10000;
      for (let p = port; p < port + size && !exits; p++) {
        const base = this.getNum(p < 0x8000 ? Vmcs.IO_BITMAP_A : Vmcs.IO_BITMAP_B);
        const bit = p & 0x7fff;
        if ((this.cpu.mem.read8(base + (bit >>> 3)) >>> (bit & 7)) & 1) exits = true;
      }
    } else exits = (this.proc & C.CPU_UNCONDITIONAL_IO_EXITING) !== 0;
    if (!exits) return false;
    const qual = (size - 1) | (isIn ? 1 << 3 : 0) | (string ? 1 << 4 : 0) | (rep ? 1 << 5 : 0) | (imm ? 1 << 6 : 0) | (port << 16);
    if (string) {
      // The guest-linear address of the string operand (§27.2.5); INS/OUTS information with IA32_VMX_BASIC[54].
      const cpu = this.cpu;
      const seg = isIn ? SegReg.ES : i.seg;
      const off = isIn ? cpu.regs[Reg.EDI] : cpu.regs[Reg.ESI];
      this.setNum(Vmcs.GUEST_LINEAR_ADDRESS, (cpu.segs[seg].base + (i.adsize32 ? off >>> 0 : off & 0xffff)) >>> 0);
      this.exitInstrRecorded(ExitReason.IO_INSTRUCTION, qual, i, ((i.adsize32 ? 1 : 0) << 7) | (seg << 15));
    } else {
      this.exitInstrRecorded(ExitReason.IO_INSTRUCTION, qual >>> 0, i);
    }
    return true;
  }

  /** RDMSR/WRMSR (§25.1.3): with MSR bitmaps, exit if the MSR's bit is set or it is outside both ranges. */
  msr(n: number, write: boolean, i: Instr): void {
    let exits = true;
    if ((this.proc & C.CPU_USE_MSR_BITMAPS) !== 0) {
      const low = n <= 0x1fff, high = n >= 0xc000_0000 && n <= 0xc000_1fff;
      if (low || high) {
        const base = this.getNum(Vmcs.MSR_BITMAP) + (write ? 2048 : 0) + (high ? 1024 : 0);
        const bit = n & 0x1fff;
        exits = ((this.cpu.mem.read8(base + (bit >>> 3)) >>> (bit & 7)) & 1) !== 0;
      }
    }
    if (exits) this.exitInstr(write ? ExitReason.MSR_WRITE : ExitReason.MSR_READ, 0, i);
  }

  /** A task switch (§25.4.2): an exit with the instruction's RIP (or the interrupted one's for a task gate). */
  taskSwitch(sel: number, source: number): never {
    const cpu = this.cpu;
    const len = (cpu.eip - cpu.instrEip) | 0;
    this.set(Vmcs.VM_EXIT_INSTRUCTION_LEN, source === 3 ? 0 : len);
    this.exit(ExitReason.TASK_SWITCH, (sel & 0xffff) | (source << 30), cpu.instrEip);
    return cpu.throwVmExit();
  }

  // ===================================================================================
  // EPT (SDM §28.2): translation, violations and misconfigurations
  // ===================================================================================

  /**
   * A TLB miss in non-root operation with EPT: the guest's own walk (CR0.PG) reading its
   * tables through EPT, then the guest-physical page through EPT. Fills `t` with the guest
   * translation's rights and returns the physical frame; a guest #PF is raised, an EPT
   * violation or misconfiguration exits.
   */
  eptTranslateLinear(lin: number, write: boolean, user: boolean, t: Translation): number {
    const cpu = this.cpu;
    this.eptLinear = lin >>> 0;
    let gpa: number;
    if ((cpu.cr0 & CR0_PG) !== 0) {
      if (!walk(this.guestTables, cpu, lin, write, user, t)) {
        cpu.fault.cr2 = lin >>> 0;
        cpu.raise(V.PF, t.errorCode);
      }
      gpa = t.frame;
    } else {
      gpa = (cpu.a20 ? lin : lin & ~0x10_0000) & ~0xfff;
      t.user = true; t.writable = true; t.dirty = true; t.global = false; t.noExec = false;
    }
    const phys = this.translateGpa((gpa >>> 0) + (lin & 0xfff), write ? EPT_WRITE : EPT_READ, true);
    return phys - (phys % 4096);
  }

  /**
   * A guest-physical address through EPT for `access`; `final`: the access is the
   * translated one (qualification bit 8), not one to the guest's paging structures.
   */
  translateGpa(gpa: number, access: number, final: boolean): number {
    const out = this.eptOut;
    const k = eptWalk(this.cpu.mem, this.ept, gpa, access, out);
    if (k === 0) { this.eptWritable = (out.rights & EPT_WRITE) !== 0; return out.phys; }
    const cpu = this.cpu;
    this.setNum(Vmcs.GUEST_PHYSICAL_ADDRESS, gpa);
    if (k === 2) {
      this.exit(ExitReason.EPT_MISCONFIG, 0, cpu.instrEip);
    } else {
      // Table 27-7: 2:0 the access, 5:3 the translation's R/W/X, 7 linear address valid,
      // 8 the access was the translation's (1) or a paging-structure access (0).
      this.setNum(Vmcs.GUEST_LINEAR_ADDRESS, this.eptLinear);
      this.exit(ExitReason.EPT_VIOLATION, access | (out.rights << 3) | (1 << 7) | (final ? 1 << 8 : 0), cpu.instrEip);
    }
    return cpu.throwVmExit();
  }

  /** A triple fault in non-root operation is a VM exit (§25.2). */
  tripleFault(): void {
    this.vectoring = 0;
    this.exit(ExitReason.TRIPLE_FAULT, 0, this.cpu.instrEip);
  }
}

// ---- Access rights (SDM §24.4.1, table 24-2) ----
//   bits 3:0 type, 4 S, 6:5 DPL, 7 P, 12 AVL, 13 L, 14 D/B, 15 G, 16 segment unusable

function getAr(s: SegmentCache): number {
  return s.access & 0xff | (s.l ? 1 << 13 : 0) | (s.big ? 1 << 14 : 0) | (s.gran ? 1 << 15 : 0) | (s.valid ? 0 : 1 << 16);
}

function setAr(s: SegmentCache, ar: number): void {
  s.access = ar & 0xff;
  s.l = (ar & (1 << 13)) !== 0;
  s.big = (ar & (1 << 14)) !== 0;
  s.gran = (ar & (1 << 15)) !== 0;
  s.valid = (ar & (1 << 16)) === 0;
  s.refresh();
}

export { getAr as accessRights, setAr as setAccessRights };

/** The interruption type of an event the CPU is about to deliver. */
export function intrType(vector: number, kind: IntKind): IntrType {
  if (kind === IntKind.External) return vector === Vector.NMI ? IntrType.NMI : IntrType.External;
  if (kind === IntKind.Software) return vector === Vector.BP || vector === Vector.OF ? IntrType.SoftwareException : IntrType.SoftwareInterrupt;
  return IntrType.HardwareException;
}

export { CR0_FIXED0, CR4_FIXED0, CR0_NE, CR4_VMXE, vectorHasErrorCode };
