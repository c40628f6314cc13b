// Bit names of the control registers and IA32_EFER (Intel SDM vol. 3 §2.5, vol. 4 table 2-2;
// AMD APM vol. 2 §3.1). A module of their own, so the instruction handlers (exec/, exec64/)
// reach them without importing cpu.ts, which imports the handlers through the opcode table.

/** CR0 bits (SDM vol. 3 §2.5). */
export const CR0_PE = 1 << 0, CR0_MP = 1 << 1, CR0_EM = 1 << 2, CR0_TS = 1 << 3, CR0_ET = 1 << 4,
  CR0_NE = 1 << 5, CR0_WP = 1 << 16, CR0_AM = 1 << 18, CR0_NW = 1 << 29, CR0_CD = 1 << 30, CR0_PG = 1 << 31;
/** CR4 bits. */
export const CR4_VME = 1 << 0, CR4_PVI = 1 << 1, CR4_TSD = 1 << 2, CR4_DE = 1 << 3, CR4_PSE = 1 << 4,
  CR4_PAE = 1 << 5, CR4_MCE = 1 << 6, CR4_PCE = 1 << 8, CR4_UMIP = 1 << 11;
/** IA32_EFER bits (SDM vol. 4 table 2-2; AMD APM vol. 2 §3.1.7). */
export const EFER_SCE = 1 << 0, EFER_LME = 1 << 8, EFER_LMA = 1 << 10, EFER_NXE = 1 << 11, EFER_LMSLE = 1 << 13;
/** CR4.VMXE: VMX enable (SDM vol. 3 §2.5), settable only on a part with VMX. */
export const CR4_VMXE = 1 << 13;
/** CR4.OSFXSR and CR4.OSXMMEXCPT (SDM vol. 3 §2.5): settable only on models with FXSR / SSE. */
export const CR4_OSFXSR = 1 << 9, CR4_OSXMMEXCPT = 1 << 10;

