// The virtual machine control block, as the AMD APM vol. 2 defines it (appendix B, "Layout
// of VMCB": table B-1 the control area, table B-2 the state-save area), the #VMEXIT codes
// (appendix C, table C-1) and the intercept bits of the control area's vectors (§15.9–15.13).
// Unlike Intel's VMCS, the VMCB is architectural: software reads and writes it in memory,
// so these offsets are the interface between a hypervisor and the processor.

/** Control area (APM vol. 2 table B-1): offsets from the VMCB's start. */
export const enum Vmcb {
  /** Intercept CR0–CR15 reads (bits 15:0) and writes (bits 31:16). */
  INTERCEPT_CR = 0x000,
  /** Intercept DR0–DR15 reads (bits 15:0) and writes (bits 31:16). */
  INTERCEPT_DR = 0x004,
  /** Intercept exception vectors 0–31, one bit each. */
  INTERCEPT_EXCEPTIONS = 0x008,
  /** Intercept vector 3 (Misc1): INTR, NMI … SHUTDOWN (`Misc1` below). */
  INTERCEPT_MISC1 = 0x00c,
  /** Intercept vector 4 (Misc2): VMRUN, VMMCALL … (`Misc2` below). */
  INTERCEPT_MISC2 = 0x010,
  PAUSE_FILTER_THRESHOLD = 0x03c,
  PAUSE_FILTER_COUNT = 0x03e,
  /** Physical base of the I/O permission map (12 KiB, 4 KiB aligned). */
  IOPM_BASE_PA = 0x040,
  /** Physical base of the MSR permission map (8 KiB, 4 KiB aligned). */
  MSRPM_BASE_PA = 0x048,
  /** Added to the TSC while the guest runs. */
  TSC_OFFSET = 0x050,
  /** Guest ASID (bits 31:0). */
  GUEST_ASID = 0x058,
  /** TLB_CONTROL (byte): 0 nothing, 1 flush the whole TLB on VMRUN. */
  TLB_CONTROL = 0x05c,
  /** V_TPR [7:0], V_IRQ [8], V_INTR_PRIO [19:16], V_IGN_TPR [20], V_INTR_MASKING [24]. */
  VINTR = 0x060,
  /** V_INTR_VECTOR [7:0]. */
  VINTR_VECTOR = 0x064,
  /** INTERRUPT_SHADOW [0]: the guest is in an interrupt shadow (after STI/MOV SS). */
  INTERRUPT_SHADOW = 0x068,
  EXITCODE = 0x070,
  EXITINFO1 = 0x078,
  EXITINFO2 = 0x080,
  /** An event whose delivery the #VMEXIT interrupted (EVENTINJ format). */
  EXITINTINFO = 0x088,
  /** NP_ENABLE [0]: nested paging. */
  NP_ENABLE = 0x090,
  /** The event injected on VMRUN (APM §15.20). */
  EVENTINJ = 0x0a8,
  /** Nested page table root (host-physical). */
  N_CR3 = 0x0b0,
  LBR_VIRTUALIZATION_ENABLE = 0x0b8,
  /** The next sequential RIP (NRIPS; not offered by the modelled parts, left zero). */
  NRIP = 0x0c8,

  // State-save area (APM vol. 2 table B-2). A segment is selector (word), attributes (word),
  // limit (dword), base (qword).
  ES = 0x400, CS = 0x410, SS = 0x420, DS = 0x430, FS = 0x440, GS = 0x450,
  /** GDTR: limit at +4, base at +8. */
  GDTR = 0x460,
  LDTR = 0x470,
  IDTR = 0x480,
  TR = 0x490,
  CPL = 0x4cb,
  EFER = 0x4d0,
  CR4 = 0x548, CR3 = 0x550, CR0 = 0x558, DR7 = 0x560, DR6 = 0x568,
  RFLAGS = 0x570, RIP = 0x578, RSP = 0x5d8, RAX = 0x5f8,
  STAR = 0x600, LSTAR = 0x608, CSTAR = 0x610, SFMASK = 0x618, KERNEL_GS_BASE = 0x620,
  SYSENTER_CS = 0x628, SYSENTER_ESP = 0x630, SYSENTER_EIP = 0x638,
  CR2 = 0x640,
  G_PAT = 0x668,
}

/** Offsets inside a VMCB segment register. */
export const enum VmcbSeg { SELECTOR = 0, ATTRIB = 2, LIMIT = 4, BASE = 8 }

/** Intercept vector 3 (VMCB offset 00Ch), APM vol. 2 table B-1. */
export const enum Misc1 {
  INTR = 1 << 0, NMI = 1 << 1, SMI = 1 << 2, INIT = 1 << 3, VINTR = 1 << 4, CR0_SEL_WRITE = 1 << 5,
  IDTR_READ = 1 << 6, GDTR_READ = 1 << 7, LDTR_READ = 1 << 8, TR_READ = 1 << 9,
  IDTR_WRITE = 1 << 10, GDTR_WRITE = 1 << 11, LDTR_WRITE = 1 << 12, TR_WRITE = 1 << 13,
  RDTSC = 1 << 14, RDPMC = 1 << 15, PUSHF = 1 << 16, POPF = 1 << 17, CPUID = 1 << 18, RSM = 1 << 19,
  IRET = 1 << 20, INTN = 1 << 21, INVD = 1 << 22, PAUSE = 1 << 23, HLT = 1 << 24, INVLPG = 1 << 25,
  INVLPGA = 1 << 26, IOIO_PROT = 1 << 27, MSR_PROT = 1 << 28, TASK_SWITCH = 1 << 29, FERR_FREEZE = 1 << 30,
  SHUTDOWN = 1 << 31,
}

/** Intercept vector 4 (VMCB offset 010h), APM vol. 2 table B-1. */
export const enum Misc2 {
  VMRUN = 1 << 0, VMMCALL = 1 << 1, VMLOAD = 1 << 2, VMSAVE = 1 << 3, STGI = 1 << 4, CLGI = 1 << 5,
  SKINIT = 1 << 6, RDTSCP = 1 << 7, ICEBP = 1 << 8, WBINVD = 1 << 9, MONITOR = 1 << 10, MWAIT = 1 << 11,
  MWAIT_CONDITIONAL = 1 << 12,
}

/** #VMEXIT codes (APM vol. 2 appendix C, table C-1). */
export const enum SvmExit {
  CR0_READ = 0x00, CR0_WRITE = 0x10, DR0_READ = 0x20, DR0_WRITE = 0x30, EXCP0 = 0x40,
  INTR = 0x60, NMI = 0x61, SMI = 0x62, INIT = 0x63, VINTR = 0x64, CR0_SEL_WRITE = 0x65,
  IDTR_READ = 0x66, GDTR_READ = 0x67, LDTR_READ = 0x68, TR_READ = 0x69,
  IDTR_WRITE = 0x6a, GDTR_WRITE = 0x6b, LDTR_WRITE = 0x6c, TR_WRITE = 0x6d,
  RDTSC = 0x6e, RDPMC = 0x6f, PUSHF = 0x70, POPF = 0x71, CPUID = 0x72, RSM = 0x73, IRET = 0x74,
  SWINT = 0x75, INVD = 0x76, PAUSE = 0x77, HLT = 0x78, INVLPG = 0x79, INVLPGA = 0x7a, IOIO = 0x7b,
  MSR = 0x7c, TASK_SWITCH = 0x7d, FERR_FREEZE = 0x7e, SHUTDOWN = 0x7f,
  VMRUN = 0x80, VMMCALL = 0x81, VMLOAD = 0x82, VMSAVE = 0x83, STGI = 0x84, CLGI = 0x85, SKINIT = 0x86,
  RDTSCP = 0x87, ICEBP = 0x88, WBINVD = 0x89, MONITOR = 0x8a, MWAIT = 0x8b, MWAIT_CONDITIONAL = 0x8c,
  NPF = 0x400,
  /** VMRUN's consistency checks failed (-1 in the 64-bit EXITCODE). */
  INVALID = -1,
}

/** The APM's names of the exit codes, for counters and messages (`vmexit.NPF`). */
export function svmExitName(code: number): string {
  if (code === SvmExit.INVALID) return "INVALID";
  if (code < 0x10) return `CR${code}_READ`;
  if (code < 0x20) return `CR${code - 0x10}_WRITE`;
  if (code < 0x30) return `DR${code - 0x20}_READ`;
  if (code < 0x40) return `DR${code - 0x30}_WRITE`;
  if (code < 0x60) return `EXCP${code - 0x40}`;
  return EXIT_NAMES[code] ?? `0x${code.toString(16)}`;
}

const EXIT_NAMES: Record<number, string> = {
  0x60: "INTR", 0x61: "NMI", 0x62: "SMI", 0x63: "INIT", 0x64: "VINTR", 0x65: "CR0_SEL_WRITE",
  0x66: "IDTR_READ", 0x67: "GDTR_READ", 0x68: "LDTR_READ", 0x69: "TR_READ", 0x6a: "IDTR_WRITE", 0x6b: "GDTR_WRITE",
  0x6c: "LDTR_WRITE", 0x6d: "TR_WRITE", 0x6e: "RDTSC", 0x6f: "RDPMC", 0x70: "PUSHF", 0x71: "POPF", 0x72: "CPUID",
  0x73: "RSM", 0x74: "IRET", 0x75: "SWINT", 0x76: "INVD", 0x77: "PAUSE", 0x78: "HLT", 0x79: "INVLPG",
  0x7a: "INVLPGA", 0x7b: "IOIO", 0x7c: "MSR", 0x7d: "TASK_SWITCH", 0x7e: "FERR_FREEZE", 0x7f: "SHUTDOWN",
  0x80: "VMRUN", 0x81: "VMMCALL", 0x82: "VMLOAD", 0x83: "VMSAVE", 0x84: "STGI", 0x85: "CLGI", 0x86: "SKINIT",
  0x87: "RDTSCP", 0x88: "ICEBP", 0x89: "WBINVD", 0x8a: "MONITOR", 0x8b: "MWAIT", 0x8c: "MWAIT_CONDITIONAL",
  0x400: "NPF",
};

/** EVENTINJ and EXITINTINFO (APM vol. 2 §15.20, figure 15-4): vector [7:0], type [10:8], EV [11], V [31], error code [63:32]. */
export const enum EventInj { TYPE_INTR = 0, TYPE_NMI = 2, TYPE_EXCEPTION = 3, TYPE_SOFT_INT = 4, EV = 1 << 11, V = 1 << 31 }

/** The EXITINFO1 bits of an IOIO intercept (APM vol. 2 §15.10.2, figure 15-2). */
export const enum IoInfo { TYPE_IN = 1 << 0, STR = 1 << 2, REP = 1 << 3, SZ8 = 1 << 4, SZ16 = 1 << 5, SZ32 = 1 << 6, A16 = 1 << 7, A32 = 1 << 8, A64 = 1 << 9 }

/** The MSRs of SVM (APM vol. 2 §15.30): VM_CR and VM_HSAVE_PA. */
export const MSR_VM_CR = 0xc001_0114, MSR_VM_HSAVE_PA = 0xc001_0117;
/** VM_CR bits: DPD [0], R_INIT [1], DIS_A20M [2], LOCK [3], SVMDIS [4]. */
export const VM_CR_LOCK = 1 << 3, VM_CR_SVMDIS = 1 << 4;
