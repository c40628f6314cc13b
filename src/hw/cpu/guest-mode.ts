// Guest mode: what the processor checks while it runs a guest under hardware assist — an
// SVM guest after VMRUN (AMD APM vol. 2 chapter 15) or VMX non-root operation (Intel SDM
// vol. 3C chapter 25). The instruction handlers, the fault path and the interrupt check ask
// `cpu.guest` (null outside guest mode, so the common path pays one null test in the
// handlers of sensitive instructions only) whether the hypervisor intercepts what the guest
// is about to do. An intercept ends guest mode: the implementation saves the guest's state,
// loads the host's, records why (exit code and information), and — when it happens inside an
// instruction — unwinds the instruction with `throwExit`, which the instruction loop treats
// as "continue with the host": no exception is delivered.
//
// Where each check sits follows the manuals' priority rules: an instruction's own simple
// exceptions (#UD, the CPL check, #GP from the I/O permission bitmap) come first, the
// intercept second, then the exceptions of its memory accesses (APM vol. 2 §15.9; SDM vol.
// 3C §25.1.1).

import type { Instr } from "./instr.js";

/** Instructions a hypervisor can intercept, named for both vendors' exit reasons. */
export const enum Intercept {
  CPUID, HLT, RDTSC, RDTSCP, RDPMC, INVLPG, INVD, WBINVD, PAUSE, PUSHF, POPF, IRET, INTN, ICEBP,
  SGDT, SIDT, SLDT, STR, LGDT, LIDT, LLDT, LTR, RSM, MONITOR, MWAIT,
  VMRUN, VMMCALL, VMLOAD, VMSAVE, STGI, CLGI, SKINIT, INVLPGA,
}

export interface GuestMode {
  /** Before `what` does anything after its own simple exception checks: exits if intercepted. */
  instruction(what: Intercept, i: Instr): void;
  /** MOV from/to CRn (and SMSW, LMSW, CLTS as CR0 read/writes; `value` is what a write would load). */
  crAccess(cr: number, write: boolean, value: number, i: Instr): void;
  /** MOV from/to DRn. */
  drAccess(dr: number, write: boolean, i: Instr): void;
  /**
   * IN/OUT/INS/OUTS after the IOPL and TSS bitmap checks: `size` in bytes. True when it
   * exited to the host (the host's state is loaded): the caller abandons the instruction
   * at once, with Cpu.signalExit from the top of IN or OUT, else Cpu.throwExit.
   */
  io(port: number, size: number, input: boolean, i: Instr): boolean;
  /** RDMSR (`write` false) or WRMSR of MSR ECX. */
  msr(write: boolean, i: Instr): void;
  /**
   * An exception is about to be delivered (with EIP at the faulting instruction for faults).
   * Returns true if it became an exit instead (the host runs now; deliver nothing).
   */
  exception(vector: number, errorCode: number, hasErrorCode: boolean, cr2: number): boolean;
  /** An external interrupt (or NMI) is pending and the guest could take it: true if that exits. */
  interrupt(nmi: boolean): boolean;
  /** The guest shut down (triple fault): true if that exits instead. */
  shutdown(): boolean;
}
