// The VMX capability MSRs (Intel SDM vol. 3C appendix A; vol. 4 table 2-2, 480h–490h):
// what VMX features a model has, as software reads them. Each value follows from the
// model's features, so a control this machine does not implement is never offered.
//
// The allowed-settings MSRs (appendix A.3–A.5) hold the allowed 0-settings in bits 31:0
// (a 1 there: the control must be 1) and the allowed 1-settings in bits 63:32 (a 0 there:
// the control must be 0).

import type { CpuFeatures } from "../models.js";
import * as C from "./vmcs-fields.js";
import { VMCS_FIELDS, type FieldNeeds } from "./vmcs-fields.js";

export const MSR_IA32_VMX_BASIC = 0x480, MSR_IA32_VMX_PINBASED_CTLS = 0x481, MSR_IA32_VMX_PROCBASED_CTLS = 0x482,
  MSR_IA32_VMX_EXIT_CTLS = 0x483, MSR_IA32_VMX_ENTRY_CTLS = 0x484, MSR_IA32_VMX_MISC = 0x485,
  MSR_IA32_VMX_CR0_FIXED0 = 0x486, MSR_IA32_VMX_CR0_FIXED1 = 0x487, MSR_IA32_VMX_CR4_FIXED0 = 0x488,
  MSR_IA32_VMX_CR4_FIXED1 = 0x489, MSR_IA32_VMX_VMCS_ENUM = 0x48a, MSR_IA32_VMX_PROCBASED_CTLS2 = 0x48b,
  MSR_IA32_VMX_EPT_VPID_CAP = 0x48c, MSR_IA32_VMX_TRUE_PINBASED_CTLS = 0x48d, MSR_IA32_VMX_TRUE_PROCBASED_CTLS = 0x48e,
  MSR_IA32_VMX_TRUE_EXIT_CTLS = 0x48f, MSR_IA32_VMX_TRUE_ENTRY_CTLS = 0x490;

/**
 * The VMCS revision identifier (IA32_VMX_BASIC bits 30:0). It names the layout of the VMCS
 * region, which is each implementation's own: vmm86's layout (vmx.ts) is not a real part's,
 * so it has its own number, and a VMCS written by one vmm86 build is only read by one
 * with the same layout.
 */
export const VMCS_REVISION = 0x0000_7686;
/** Bytes of the VMXON and VMCS regions (IA32_VMX_BASIC bits 44:32). */
export const VMCS_REGION_BYTES = 0x1000;

/** Default-1 controls (appendix A.2): the bits of the plain MSRs' allowed 0-settings. */
const PIN_DEFAULT1 = 0x0000_0016, PROC_DEFAULT1 = 0x0401_e172, EXIT_DEFAULT1 = 0x0003_6dff, ENTRY_DEFAULT1 = 0x0000_11ff;
/** The TRUE MSRs' allowed 0-settings: CR3-load/store exiting and the debug-controls bits may be 0. */
const PROC_TRUE0 = 0x0400_6172, EXIT_TRUE0 = 0x0003_6dfb, ENTRY_TRUE0 = 0x0000_11fb;

/** CR0 bits that must be 1 in VMX operation (PE, NE, PG: appendix A.7) and CR4's VMXE (A.8). */
export const CR0_FIXED0 = 0x8000_0021 | 0, CR4_FIXED0 = 0x2000;

/** What a model offers, as the controls' allowed 1-settings and the other capability values. */
export class VmxCapabilities {
  readonly pin1: number;
  readonly proc1: number;
  readonly proc2: number;
  readonly exit1: number;
  readonly entry1: number;
  /** IA32_VMX_BASIC bit 55: the TRUE_ MSRs exist. */
  readonly trueControls: boolean;
  readonly cr4Fixed1: number;
  /** IA32_VMX_MISC bits 4:0: the preemption timer counts down once every 2^rate TSC ticks. */
  readonly preemptionTimerRate = 5;
  readonly cr3TargetCount = 4;
  /** Field encodings that exist on this model. */
  readonly fields: ReadonlySet<number>;

  constructor(readonly features: CpuFeatures, cr4Allowed: number) {
    const f = features;
    const lm = f.lm;
    const secondary = f.ept || f.vpid || f.unrestrictedGuest || f.rdtscp;
    // Virtual NMIs and NMI-window exiting came with the preemption timer generation here
    // (Nehalem); Yonah's VMX had neither.
    const vnmi = f.vmxPreemptionTimer;
    this.pin1 = PIN_DEFAULT1 | C.PIN_EXTERNAL_INTERRUPT_EXITING | C.PIN_NMI_EXITING |
      (vnmi ? C.PIN_VIRTUAL_NMIS : 0) | (f.vmxPreemptionTimer ? C.PIN_ACTIVATE_PREEMPTION_TIMER : 0);
    this.proc1 = (PROC_DEFAULT1 | C.CPU_INTERRUPT_WINDOW_EXITING | C.CPU_USE_TSC_OFFSETTING | C.CPU_HLT_EXITING |
      C.CPU_INVLPG_EXITING | C.CPU_RDPMC_EXITING | C.CPU_RDTSC_EXITING | C.CPU_CR3_LOAD_EXITING | C.CPU_CR3_STORE_EXITING |
      (vnmi ? C.CPU_NMI_WINDOW_EXITING : 0) | C.CPU_MOV_DR_EXITING | C.CPU_UNCONDITIONAL_IO_EXITING |
      C.CPU_USE_IO_BITMAPS | C.CPU_USE_MSR_BITMAPS | (secondary ? C.CPU_ACTIVATE_SECONDARY_CONTROLS : 0) |
      // MONITOR/MWAIT exiting: every VMX part had them. The models report no MONITOR in CPUID,
      // so both instructions are #UD, which has priority over the exit (§25.1.1): a hypervisor
      // may set these (KVM requires them) and they never fire. CR8-load/store exiting (MOV
      // CR8 exists in 64-bit mode only) on the parts with Intel 64.
      C.CPU_MWAIT_EXITING | C.CPU_MONITOR_EXITING | (lm ? C.CPU_CR8_LOAD_EXITING | C.CPU_CR8_STORE_EXITING : 0)) | 0;
    this.proc2 = secondary ? (f.ept ? C.SECONDARY_ENABLE_EPT : 0) | (f.rdtscp ? C.SECONDARY_ENABLE_RDTSCP : 0) |
      (f.vpid ? C.SECONDARY_ENABLE_VPID : 0) | C.SECONDARY_WBINVD_EXITING |
      (f.unrestrictedGuest ? C.SECONDARY_UNRESTRICTED_GUEST : 0) : 0;
    this.exit1 = EXIT_DEFAULT1 | C.EXIT_ACK_INTERRUPT_ON_EXIT |
      (lm ? C.EXIT_HOST_ADDRESS_SPACE_SIZE | C.EXIT_SAVE_IA32_EFER | C.EXIT_LOAD_IA32_EFER : 0) |
      (f.vmxPreemptionTimer ? C.EXIT_SAVE_PREEMPTION_TIMER : 0);
    this.entry1 = ENTRY_DEFAULT1 | (lm ? C.ENTRY_IA32E_MODE_GUEST | C.ENTRY_LOAD_IA32_EFER : 0);
    this.trueControls = lm;
    this.cr4Fixed1 = cr4Allowed;
    const has = (n: FieldNeeds | undefined): boolean =>
      n === undefined || (n === "secondary" ? secondary : n === "lm" ? lm : f[n]);
    this.fields = new Set(VMCS_FIELDS.filter(([, n]) => has(n)).map(([e]) => e));
  }

  get secondary(): boolean { return (this.proc1 & C.CPU_ACTIVATE_SECONDARY_CONTROLS) !== 0; }

  /**
   * The value of capability MSR `n` as [lo, hi], or null when the model has no such MSR
   * (RDMSR then raises #GP(0)).
   */
  read(n: number): [number, number] | null {
    const f = this.features;
    switch (n) {
      case MSR_IA32_VMX_BASIC:
        // 30:0 revision, 44:32 region size, 48 physical addresses limited to 32 bits (parts
        // without Intel 64), 53:50 memory type 6 (write-back), 54 INS/OUTS information,
        // 55 TRUE controls.
        return [VMCS_REVISION, VMCS_REGION_BYTES | (f.lm ? 0 : 1 << 16) | (6 << 18) |
          (f.lm ? 1 << 22 : 0) | (this.trueControls ? 1 << 23 : 0)];
      case MSR_IA32_VMX_PINBASED_CTLS: return [PIN_DEFAULT1, this.pin1];
      case MSR_IA32_VMX_PROCBASED_CTLS: return [PROC_DEFAULT1, this.proc1];
      case MSR_IA32_VMX_EXIT_CTLS: return [EXIT_DEFAULT1, this.exit1];
      case MSR_IA32_VMX_ENTRY_CTLS: return [ENTRY_DEFAULT1, this.entry1];
      case MSR_IA32_VMX_MISC:
        // 4:0 timer rate, 5 exits store EFER.LMA in the IA-32e-mode-guest control,
        // 8:6 activity states (HLT only), 24:16 CR3-target values, 27:25 MSR-list size
        // (512 × (N + 1): 0).
        return [(f.vmxPreemptionTimer ? this.preemptionTimerRate : 0) | (f.lm ? 1 << 5 : 0) | (1 << 6) |
          (this.cr3TargetCount << 16), 0];
      case MSR_IA32_VMX_CR0_FIXED0: return [CR0_FIXED0, 0];
      case MSR_IA32_VMX_CR0_FIXED1: return [-1, 0];
      case MSR_IA32_VMX_CR4_FIXED0: return [CR4_FIXED0, 0];
      case MSR_IA32_VMX_CR4_FIXED1: return [this.cr4Fixed1, 0];
      case MSR_IA32_VMX_VMCS_ENUM: {
        let top = 0;
        for (const e of this.fields) top = Math.max(top, (e >>> 1) & 0x1ff);
        return [top << 1, 0];
      }
      case MSR_IA32_VMX_PROCBASED_CTLS2: return this.secondary ? [0, this.proc2] : null;
      case MSR_IA32_VMX_EPT_VPID_CAP: return f.ept || f.vpid ? this.eptVpidCap() : null;
      case MSR_IA32_VMX_TRUE_PINBASED_CTLS: return this.trueControls ? [PIN_DEFAULT1, this.pin1] : null;
      case MSR_IA32_VMX_TRUE_PROCBASED_CTLS: return this.trueControls ? [PROC_TRUE0, this.proc1] : null;
      case MSR_IA32_VMX_TRUE_EXIT_CTLS: return this.trueControls ? [EXIT_TRUE0, this.exit1] : null;
      case MSR_IA32_VMX_TRUE_ENTRY_CTLS: return this.trueControls ? [ENTRY_TRUE0, this.entry1] : null;
      default: return null;
    }
  }

  /** The allowed 0-settings the entry checks use: the TRUE ones where they exist (appendix A.2). */
  pin0(): number { return PIN_DEFAULT1; }
  proc0(): number { return this.trueControls ? PROC_TRUE0 : PROC_DEFAULT1; }
  exit0(): number { return this.trueControls ? EXIT_TRUE0 : EXIT_DEFAULT1; }
  entry0(): number { return this.trueControls ? ENTRY_TRUE0 : ENTRY_DEFAULT1; }

  /**
   * IA32_VMX_EPT_VPID_CAP (appendix A.10): 0 execute-only translations, 6 page-walk
   * length 4, 8 UC and 14 WB paging-structure memory types, 16 2-MiB pages, 20 INVEPT,
   * 25 single-context and 26 all-context INVEPT; 32 INVVPID, 40–43 its four types. No
   * accessed and dirty flags (bit 21): those came with Haswell.
   */
  eptVpidCap(): [number, number] {
    const f = this.features;
    const lo = f.ept ? (1 << 0) | (1 << 6) | (1 << 8) | (1 << 14) | (1 << 16) | (1 << 20) | (1 << 25) | (1 << 26) : 0;
    const hi = f.vpid ? (1 << 0) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) : 0;
    return [lo, hi];
  }
}
