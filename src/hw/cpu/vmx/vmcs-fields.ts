// The VMCS as software sees it: field encodings, exit reasons, VM-instruction error numbers
// and the control bits (Intel SDM vol. 3C). Names follow the SDM's field names in the
// upper-case style hypervisors use (`GUEST_CR0 = 0x6800`).
//
// A field encoding (SDM vol. 3C §24.11.2, table 24-17):
//   31        15 14 13 12 11 10 9          1  0
//  +------------+-----+--+-----+------------+--+
//  | reserved 0 |width|0 |type |   index    |A |   A = access type (1: high half of a 64-bit field)
//  +------------+-----+--+-----+------------+--+
//   width: 0 16-bit, 1 64-bit, 2 32-bit, 3 natural width
//   type:  0 control, 1 VM-exit information (read-only), 2 guest state, 3 host state

/** VMCS field encodings (SDM vol. 3C appendix B, tables B-1 … B-14). */
export const enum Vmcs {
  // B.1.1 16-bit control fields
  VIRTUAL_PROCESSOR_ID = 0x0000,
  // B.1.2 16-bit guest-state fields
  GUEST_ES_SELECTOR = 0x0800, GUEST_CS_SELECTOR = 0x0802, GUEST_SS_SELECTOR = 0x0804, GUEST_DS_SELECTOR = 0x0806,
  GUEST_FS_SELECTOR = 0x0808, GUEST_GS_SELECTOR = 0x080a, GUEST_LDTR_SELECTOR = 0x080c, GUEST_TR_SELECTOR = 0x080e,
  // B.1.3 16-bit host-state fields
  HOST_ES_SELECTOR = 0x0c00, HOST_CS_SELECTOR = 0x0c02, HOST_SS_SELECTOR = 0x0c04, HOST_DS_SELECTOR = 0x0c06,
  HOST_FS_SELECTOR = 0x0c08, HOST_GS_SELECTOR = 0x0c0a, HOST_TR_SELECTOR = 0x0c0c,
  // B.2.1 64-bit control fields
  IO_BITMAP_A = 0x2000, IO_BITMAP_B = 0x2002, MSR_BITMAP = 0x2004, VM_EXIT_MSR_STORE_ADDR = 0x2006,
  VM_EXIT_MSR_LOAD_ADDR = 0x2008, VM_ENTRY_MSR_LOAD_ADDR = 0x200a, EXECUTIVE_VMCS_POINTER = 0x200c,
  TSC_OFFSET = 0x2010, EPT_POINTER = 0x201a,
  // B.2.2 64-bit read-only data field
  GUEST_PHYSICAL_ADDRESS = 0x2400,
  // B.2.3 64-bit guest-state fields
  VMCS_LINK_POINTER = 0x2800, GUEST_IA32_DEBUGCTL = 0x2802, GUEST_IA32_EFER = 0x2806,
  GUEST_PDPTE0 = 0x280a, GUEST_PDPTE1 = 0x280c, GUEST_PDPTE2 = 0x280e, GUEST_PDPTE3 = 0x2810,
  // B.2.4 64-bit host-state fields
  HOST_IA32_EFER = 0x2c02,
  // B.3.1 32-bit control fields
  PIN_BASED_VM_EXEC_CONTROL = 0x4000, CPU_BASED_VM_EXEC_CONTROL = 0x4002, EXCEPTION_BITMAP = 0x4004,
  PAGE_FAULT_ERROR_CODE_MASK = 0x4006, PAGE_FAULT_ERROR_CODE_MATCH = 0x4008, CR3_TARGET_COUNT = 0x400a,
  VM_EXIT_CONTROLS = 0x400c, VM_EXIT_MSR_STORE_COUNT = 0x400e, VM_EXIT_MSR_LOAD_COUNT = 0x4010,
  VM_ENTRY_CONTROLS = 0x4012, VM_ENTRY_MSR_LOAD_COUNT = 0x4014, VM_ENTRY_INTR_INFO_FIELD = 0x4016,
  VM_ENTRY_EXCEPTION_ERROR_CODE = 0x4018, VM_ENTRY_INSTRUCTION_LEN = 0x401a, TPR_THRESHOLD = 0x401c,
  SECONDARY_VM_EXEC_CONTROL = 0x401e,
  // B.3.2 32-bit read-only data fields
  VM_INSTRUCTION_ERROR = 0x4400, VM_EXIT_REASON = 0x4402, VM_EXIT_INTR_INFO = 0x4404, VM_EXIT_INTR_ERROR_CODE = 0x4406,
  IDT_VECTORING_INFO_FIELD = 0x4408, IDT_VECTORING_ERROR_CODE = 0x440a, VM_EXIT_INSTRUCTION_LEN = 0x440c,
  VMX_INSTRUCTION_INFO = 0x440e,
  // B.3.3 32-bit guest-state fields
  GUEST_ES_LIMIT = 0x4800, GUEST_CS_LIMIT = 0x4802, GUEST_SS_LIMIT = 0x4804, GUEST_DS_LIMIT = 0x4806,
  GUEST_FS_LIMIT = 0x4808, GUEST_GS_LIMIT = 0x480a, GUEST_LDTR_LIMIT = 0x480c, GUEST_TR_LIMIT = 0x480e,
  GUEST_GDTR_LIMIT = 0x4810, GUEST_IDTR_LIMIT = 0x4812,
  GUEST_ES_AR_BYTES = 0x4814, GUEST_CS_AR_BYTES = 0x4816, GUEST_SS_AR_BYTES = 0x4818, GUEST_DS_AR_BYTES = 0x481a,
  GUEST_FS_AR_BYTES = 0x481c, GUEST_GS_AR_BYTES = 0x481e, GUEST_LDTR_AR_BYTES = 0x4820, GUEST_TR_AR_BYTES = 0x4822,
  GUEST_INTERRUPTIBILITY_INFO = 0x4824, GUEST_ACTIVITY_STATE = 0x4826, GUEST_SMBASE = 0x4828,
  GUEST_SYSENTER_CS = 0x482a, VMX_PREEMPTION_TIMER_VALUE = 0x482e,
  // B.3.4 32-bit host-state field
  HOST_IA32_SYSENTER_CS = 0x4c00,
  // B.4.1 natural-width control fields
  CR0_GUEST_HOST_MASK = 0x6000, CR4_GUEST_HOST_MASK = 0x6002, CR0_READ_SHADOW = 0x6004, CR4_READ_SHADOW = 0x6006,
  CR3_TARGET_VALUE0 = 0x6008, CR3_TARGET_VALUE1 = 0x600a, CR3_TARGET_VALUE2 = 0x600c, CR3_TARGET_VALUE3 = 0x600e,
  // B.4.2 natural-width read-only data fields
  EXIT_QUALIFICATION = 0x6400, IO_RCX = 0x6402, IO_RSI = 0x6404, IO_RDI = 0x6406, IO_RIP = 0x6408,
  GUEST_LINEAR_ADDRESS = 0x640a,
  // B.4.3 natural-width guest-state fields
  GUEST_CR0 = 0x6800, GUEST_CR3 = 0x6802, GUEST_CR4 = 0x6804,
  GUEST_ES_BASE = 0x6806, GUEST_CS_BASE = 0x6808, GUEST_SS_BASE = 0x680a, GUEST_DS_BASE = 0x680c,
  GUEST_FS_BASE = 0x680e, GUEST_GS_BASE = 0x6810, GUEST_LDTR_BASE = 0x6812, GUEST_TR_BASE = 0x6814,
  GUEST_GDTR_BASE = 0x6816, GUEST_IDTR_BASE = 0x6818, GUEST_DR7 = 0x681a, GUEST_RSP = 0x681c, GUEST_RIP = 0x681e,
  GUEST_RFLAGS = 0x6820, GUEST_PENDING_DBG_EXCEPTIONS = 0x6822, GUEST_SYSENTER_ESP = 0x6824, GUEST_SYSENTER_EIP = 0x6826,
  // B.4.4 natural-width host-state fields
  HOST_CR0 = 0x6c00, HOST_CR3 = 0x6c02, HOST_CR4 = 0x6c04, HOST_FS_BASE = 0x6c06, HOST_GS_BASE = 0x6c08,
  HOST_TR_BASE = 0x6c0a, HOST_GDTR_BASE = 0x6c0c, HOST_IDTR_BASE = 0x6c0e, HOST_IA32_SYSENTER_ESP = 0x6c10,
  HOST_IA32_SYSENTER_EIP = 0x6c12, HOST_RSP = 0x6c14, HOST_RIP = 0x6c16,
}

/** Which model features a field needs to exist (others exist on every VMX model). */
export type FieldNeeds = "ept" | "vpid" | "vmxPreemptionTimer" | "lm" | "secondary";

/**
 * Every field this machine implements, in the order of the model's VMCS layout (the slot a
 * field's value occupies in the VMCS region is its index here: the layout is the
 * implementation's own business, SDM vol. 3C §24.2). Fields a model lacks read as
 * "unsupported VMCS component" (VM-instruction error 12).
 */
export const VMCS_FIELDS: readonly (readonly [Vmcs, FieldNeeds?])[] = [
  [Vmcs.VIRTUAL_PROCESSOR_ID, "vpid"],
  [Vmcs.GUEST_ES_SELECTOR], [Vmcs.GUEST_CS_SELECTOR], [Vmcs.GUEST_SS_SELECTOR], [Vmcs.GUEST_DS_SELECTOR],
  [Vmcs.GUEST_FS_SELECTOR], [Vmcs.GUEST_GS_SELECTOR], [Vmcs.GUEST_LDTR_SELECTOR], [Vmcs.GUEST_TR_SELECTOR],
  [Vmcs.HOST_ES_SELECTOR], [Vmcs.HOST_CS_SELECTOR], [Vmcs.HOST_SS_SELECTOR], [Vmcs.HOST_DS_SELECTOR],
  [Vmcs.HOST_FS_SELECTOR], [Vmcs.HOST_GS_SELECTOR], [Vmcs.HOST_TR_SELECTOR],
  [Vmcs.IO_BITMAP_A], [Vmcs.IO_BITMAP_B], [Vmcs.MSR_BITMAP], [Vmcs.VM_EXIT_MSR_STORE_ADDR],
  [Vmcs.VM_EXIT_MSR_LOAD_ADDR], [Vmcs.VM_ENTRY_MSR_LOAD_ADDR], [Vmcs.EXECUTIVE_VMCS_POINTER], [Vmcs.TSC_OFFSET],
  [Vmcs.EPT_POINTER, "ept"], [Vmcs.GUEST_PHYSICAL_ADDRESS, "ept"],
  [Vmcs.VMCS_LINK_POINTER], [Vmcs.GUEST_IA32_DEBUGCTL], [Vmcs.GUEST_IA32_EFER, "lm"],
  [Vmcs.GUEST_PDPTE0, "ept"], [Vmcs.GUEST_PDPTE1, "ept"], [Vmcs.GUEST_PDPTE2, "ept"], [Vmcs.GUEST_PDPTE3, "ept"],
  [Vmcs.HOST_IA32_EFER, "lm"],
  [Vmcs.PIN_BASED_VM_EXEC_CONTROL], [Vmcs.CPU_BASED_VM_EXEC_CONTROL], [Vmcs.EXCEPTION_BITMAP],
  [Vmcs.PAGE_FAULT_ERROR_CODE_MASK], [Vmcs.PAGE_FAULT_ERROR_CODE_MATCH], [Vmcs.CR3_TARGET_COUNT],
  [Vmcs.VM_EXIT_CONTROLS], [Vmcs.VM_EXIT_MSR_STORE_COUNT], [Vmcs.VM_EXIT_MSR_LOAD_COUNT], [Vmcs.VM_ENTRY_CONTROLS],
  [Vmcs.VM_ENTRY_MSR_LOAD_COUNT], [Vmcs.VM_ENTRY_INTR_INFO_FIELD], [Vmcs.VM_ENTRY_EXCEPTION_ERROR_CODE],
  [Vmcs.VM_ENTRY_INSTRUCTION_LEN], [Vmcs.TPR_THRESHOLD], [Vmcs.SECONDARY_VM_EXEC_CONTROL, "secondary"],
  [Vmcs.VM_INSTRUCTION_ERROR], [Vmcs.VM_EXIT_REASON], [Vmcs.VM_EXIT_INTR_INFO], [Vmcs.VM_EXIT_INTR_ERROR_CODE],
  [Vmcs.IDT_VECTORING_INFO_FIELD], [Vmcs.IDT_VECTORING_ERROR_CODE], [Vmcs.VM_EXIT_INSTRUCTION_LEN],
  [Vmcs.VMX_INSTRUCTION_INFO],
  [Vmcs.GUEST_ES_LIMIT], [Vmcs.GUEST_CS_LIMIT], [Vmcs.GUEST_SS_LIMIT], [Vmcs.GUEST_DS_LIMIT], [Vmcs.GUEST_FS_LIMIT],
  [Vmcs.GUEST_GS_LIMIT], [Vmcs.GUEST_LDTR_LIMIT], [Vmcs.GUEST_TR_LIMIT], [Vmcs.GUEST_GDTR_LIMIT], [Vmcs.GUEST_IDTR_LIMIT],
  [Vmcs.GUEST_ES_AR_BYTES], [Vmcs.GUEST_CS_AR_BYTES], [Vmcs.GUEST_SS_AR_BYTES], [Vmcs.GUEST_DS_AR_BYTES],
  [Vmcs.GUEST_FS_AR_BYTES], [Vmcs.GUEST_GS_AR_BYTES], [Vmcs.GUEST_LDTR_AR_BYTES], [Vmcs.GUEST_TR_AR_BYTES],
  [Vmcs.GUEST_INTERRUPTIBILITY_INFO], [Vmcs.GUEST_ACTIVITY_STATE], [Vmcs.GUEST_SMBASE], [Vmcs.GUEST_SYSENTER_CS],
  [Vmcs.VMX_PREEMPTION_TIMER_VALUE, "vmxPreemptionTimer"],
  [Vmcs.HOST_IA32_SYSENTER_CS],
  [Vmcs.CR0_GUEST_HOST_MASK], [Vmcs.CR4_GUEST_HOST_MASK], [Vmcs.CR0_READ_SHADOW], [Vmcs.CR4_READ_SHADOW],
  [Vmcs.CR3_TARGET_VALUE0], [Vmcs.CR3_TARGET_VALUE1], [Vmcs.CR3_TARGET_VALUE2], [Vmcs.CR3_TARGET_VALUE3],
  [Vmcs.EXIT_QUALIFICATION], [Vmcs.IO_RCX], [Vmcs.IO_RSI], [Vmcs.IO_RDI], [Vmcs.IO_RIP], [Vmcs.GUEST_LINEAR_ADDRESS],
  [Vmcs.GUEST_CR0], [Vmcs.GUEST_CR3], [Vmcs.GUEST_CR4], [Vmcs.GUEST_ES_BASE], [Vmcs.GUEST_CS_BASE], [Vmcs.GUEST_SS_BASE],
  [Vmcs.GUEST_DS_BASE], [Vmcs.GUEST_FS_BASE], [Vmcs.GUEST_GS_BASE], [Vmcs.GUEST_LDTR_BASE], [Vmcs.GUEST_TR_BASE],
  [Vmcs.GUEST_GDTR_BASE], [Vmcs.GUEST_IDTR_BASE], [Vmcs.GUEST_DR7], [Vmcs.GUEST_RSP], [Vmcs.GUEST_RIP],
  [Vmcs.GUEST_RFLAGS], [Vmcs.GUEST_PENDING_DBG_EXCEPTIONS], [Vmcs.GUEST_SYSENTER_ESP], [Vmcs.GUEST_SYSENTER_EIP],
  [Vmcs.HOST_CR0], [Vmcs.HOST_CR3], [Vmcs.HOST_CR4], [Vmcs.HOST_FS_BASE], [Vmcs.HOST_GS_BASE], [Vmcs.HOST_TR_BASE],
  [Vmcs.HOST_GDTR_BASE], [Vmcs.HOST_IDTR_BASE], [Vmcs.HOST_IA32_SYSENTER_ESP], [Vmcs.HOST_IA32_SYSENTER_EIP],
  [Vmcs.HOST_RSP], [Vmcs.HOST_RIP],
];

/** A field's width from its encoding (bits 14:13). */
export const enum FieldWidth { W16 = 0, W64 = 1, W32 = 2, Natural = 3 }
export function fieldWidth(enc: number): FieldWidth { return (enc >>> 13) & 3; }
/** A field's type (bits 11:10): 1 is the read-only VM-exit information. */
export function fieldType(enc: number): number { return (enc >>> 10) & 3; }

/** Basic exit reasons (SDM vol. 3C appendix C, table C-1). */
export const enum ExitReason {
  EXCEPTION_NMI = 0, EXTERNAL_INTERRUPT = 1, TRIPLE_FAULT = 2, INIT_SIGNAL = 3, SIPI = 4, IO_SMI = 5, OTHER_SMI = 6,
  INTERRUPT_WINDOW = 7, NMI_WINDOW = 8, TASK_SWITCH = 9, CPUID = 10, GETSEC = 11, HLT = 12, INVD = 13, INVLPG = 14,
  RDPMC = 15, RDTSC = 16, RSM = 17, VMCALL = 18, VMCLEAR = 19, VMLAUNCH = 20, VMPTRLD = 21, VMPTRST = 22,
  VMREAD = 23, VMRESUME = 24, VMWRITE = 25, VMXOFF = 26, VMXON = 27, CR_ACCESS = 28, DR_ACCESS = 29,
  IO_INSTRUCTION = 30, MSR_READ = 31, MSR_WRITE = 32, INVALID_GUEST_STATE = 33, MSR_LOAD_FAIL = 34,
  MWAIT_INSTRUCTION = 36, MONITOR_TRAP_FLAG = 37, MONITOR_INSTRUCTION = 39, PAUSE_INSTRUCTION = 40,
  MCE_DURING_VMENTRY = 41, TPR_BELOW_THRESHOLD = 43, APIC_ACCESS = 44, GDTR_IDTR = 46, LDTR_TR = 47,
  EPT_VIOLATION = 48, EPT_MISCONFIG = 49, INVEPT = 50, RDTSCP = 51, PREEMPTION_TIMER = 52, INVVPID = 53,
  WBINVD = 54, XSETBV = 55,
}

/** The SDM's names of the exit reasons, for counters and messages. */
export const EXIT_REASON_NAMES: Readonly<Record<number, string>> = {
  0: "EXCEPTION_NMI", 1: "EXTERNAL_INTERRUPT", 2: "TRIPLE_FAULT", 7: "INTERRUPT_WINDOW", 8: "NMI_WINDOW",
  9: "TASK_SWITCH", 10: "CPUID", 12: "HLT", 13: "INVD", 14: "INVLPG", 15: "RDPMC", 16: "RDTSC", 18: "VMCALL",
  19: "VMCLEAR", 20: "VMLAUNCH", 21: "VMPTRLD", 22: "VMPTRST", 23: "VMREAD", 24: "VMRESUME", 25: "VMWRITE",
  26: "VMXOFF", 27: "VMXON", 28: "CR_ACCESS", 29: "DR_ACCESS", 30: "IO_INSTRUCTION", 31: "MSR_READ",
  32: "MSR_WRITE", 33: "INVALID_GUEST_STATE", 34: "MSR_LOAD_FAIL", 48: "EPT_VIOLATION", 49: "EPT_MISCONFIG",
  50: "INVEPT", 51: "RDTSCP", 52: "PREEMPTION_TIMER", 53: "INVVPID", 54: "WBINVD",
};

/** Bit 31 of the exit reason: VM-entry failure (SDM vol. 3C §24.9.1, §26.8). */
export const EXIT_REASON_ENTRY_FAILURE = 0x8000_0000;

/** VM-instruction error numbers (SDM vol. 3C §30.4, table 30-1). */
export const enum VmxError {
  VMCALL_IN_ROOT = 1, VMCLEAR_INVALID_ADDRESS = 2, VMCLEAR_VMXON_POINTER = 3, VMLAUNCH_NONCLEAR_VMCS = 4,
  VMRESUME_NONLAUNCHED_VMCS = 5, VMRESUME_AFTER_VMXOFF = 6, ENTRY_INVALID_CONTROL_FIELD = 7,
  ENTRY_INVALID_HOST_STATE = 8, VMPTRLD_INVALID_ADDRESS = 9, VMPTRLD_VMXON_POINTER = 10,
  VMPTRLD_INCORRECT_REVISION = 11, UNSUPPORTED_VMCS_COMPONENT = 12, VMWRITE_READ_ONLY_COMPONENT = 13,
  VMXON_IN_ROOT = 15, ENTRY_EVENTS_BLOCKED_BY_MOV_SS = 26, INVALID_OPERAND_INVEPT_INVVPID = 28,
}

// ---- Controls (SDM vol. 3C §24.6–24.8) ----

/** Pin-based VM-execution controls (table 24-5). */
export const PIN_EXTERNAL_INTERRUPT_EXITING = 1 << 0, PIN_NMI_EXITING = 1 << 3, PIN_VIRTUAL_NMIS = 1 << 5,
  PIN_ACTIVATE_PREEMPTION_TIMER = 1 << 6;
/** Primary processor-based VM-execution controls (table 24-6). */
export const CPU_INTERRUPT_WINDOW_EXITING = 1 << 2, CPU_USE_TSC_OFFSETTING = 1 << 3, CPU_HLT_EXITING = 1 << 7,
  CPU_INVLPG_EXITING = 1 << 9, CPU_MWAIT_EXITING = 1 << 10, CPU_RDPMC_EXITING = 1 << 11, CPU_RDTSC_EXITING = 1 << 12,
  CPU_CR3_LOAD_EXITING = 1 << 15, CPU_CR3_STORE_EXITING = 1 << 16, CPU_CR8_LOAD_EXITING = 1 << 19,
  CPU_CR8_STORE_EXITING = 1 << 20, CPU_USE_TPR_SHADOW = 1 << 21, CPU_NMI_WINDOW_EXITING = 1 << 22,
  CPU_MOV_DR_EXITING = 1 << 23, CPU_UNCONDITIONAL_IO_EXITING = 1 << 24, CPU_USE_IO_BITMAPS = 1 << 25,
  CPU_MONITOR_TRAP_FLAG = 1 << 27, CPU_USE_MSR_BITMAPS = 1 << 28, CPU_MONITOR_EXITING = 1 << 29,
  CPU_PAUSE_EXITING = 1 << 30, CPU_ACTIVATE_SECONDARY_CONTROLS = 1 << 31;
/** Secondary processor-based VM-execution controls (table 24-7). */
export const SECONDARY_ENABLE_EPT = 1 << 1, SECONDARY_ENABLE_RDTSCP = 1 << 3, SECONDARY_ENABLE_VPID = 1 << 5,
  SECONDARY_WBINVD_EXITING = 1 << 6, SECONDARY_UNRESTRICTED_GUEST = 1 << 7;
/** VM-exit controls (table 24-11). */
export const EXIT_SAVE_DEBUG_CONTROLS = 1 << 2, EXIT_HOST_ADDRESS_SPACE_SIZE = 1 << 9,
  EXIT_ACK_INTERRUPT_ON_EXIT = 1 << 15, EXIT_SAVE_IA32_EFER = 1 << 20, EXIT_LOAD_IA32_EFER = 1 << 21,
  EXIT_SAVE_PREEMPTION_TIMER = 1 << 22;
/** VM-entry controls (table 24-13). */
export const ENTRY_LOAD_DEBUG_CONTROLS = 1 << 2, ENTRY_IA32E_MODE_GUEST = 1 << 9, ENTRY_LOAD_IA32_EFER = 1 << 15;

/** Interruption-information format (VM-entry and VM-exit, tables 24-15 and 24-19). */
export const enum IntrType { External = 0, NMI = 2, HardwareException = 3, SoftwareInterrupt = 4,
  PrivilegedSoftwareException = 5, SoftwareException = 6, Other = 7 }
export const INTR_INFO_DELIVER_CODE = 1 << 11, INTR_INFO_VALID = 1 << 31;

/** Guest interruptibility state (table 24-3). */
export const BLOCKING_BY_STI = 1 << 0, BLOCKING_BY_MOV_SS = 1 << 1, BLOCKING_BY_SMI = 1 << 2, BLOCKING_BY_NMI = 1 << 3;
/** Guest activity states (§24.4.2). */
export const enum ActivityState { Active = 0, Hlt = 1, Shutdown = 2, WaitForSipi = 3 }
