// Difftest: the addresses and record formats shared by the native runner (runner.ts, an
// i386 Linux program) and the model harness (model.ts). A case runs at the same linear
// addresses in both, so pushed return addresses, LEA results and pointers compare equal.
//
//   CODE_VA   0x00210000  the case's code (RWX page natively); CODE_VA+0xFFC holds the
//                         address the native epilogue `jmp [CODE_VA+0xFFC]` returns through
//   DATA_VA   0x00200000  the case's data image (memory operands, the stack, and for SSE cases
//                         the initial XMM/MMX/MXCSR values and the final FXSAVE image)
//   LOW_VA    0x0000A000  the same, for cases using 16-bit addressing (0x67): EA < 64 KiB.
//                         Free in the model (FlatMachine uses 0x1000–0x9000); natively it
//                         needs vm.mmap_min_addr <= 0xA000, otherwise those cases are skipped.
//
// Input record (IN_REC bytes, one per case, after an 8-byte header "DTIN", count):
//   +0 data VA   +4 code length   +8 EDI ESI EBP (ESP) EBX EDX ECX EAX (POPAD order)
//   +40 EFLAGS   +44 ESP   +64 code (CODE_MAX bytes, ending in the epilogue)   +DATA_IN data image
// Output record (OUT_REC bytes per case):
//   +0 status (0 = ran to the end; else 0x100 | trapno | signo << 16)   +4 EIP at a fault
//   +8 EDI ESI EBP (ESP) EBX EDX ECX EAX   +40 EFLAGS   +44 ESP   +64 data image after

export const CODE_VA = 0x0021_0000;
export const DATA_VA = 0x0020_0000;
export const LOW_VA = 0x0000_a000;
export const RET_SLOT = CODE_VA + 0xffc;
export const DATA_SIZE = 0x500;
export const CODE_MAX = 448;
/** Offset of the data image in an input record. */
export const DATA_IN = 64 + CODE_MAX;
export const IN_REC = DATA_IN + DATA_SIZE;
export const OUT_REC = 64 + DATA_SIZE;
/** Offset in the data image where x87 cases FNSAVE their state (108 bytes). */
export const FSAVE_OFF = 0x190;
/** SSE cases: initial XMM0–7 (16 bytes each), MM0–7 (8 bytes each) and MXCSR (at +0xC0) here. */
export const SSE_INIT_OFF = 0x200;
/** SSE cases end with FXSAVE here (512 bytes, 16-aligned). */
export const FXSAVE_OFF = 0x300;
/** Initial ESP offset in the data image; the stack grows down into random data. */
export const STACK_OFF = 0x180;

/** Register indices as in the model's Int32Array and in ModR/M encoding. */
export const EAX = 0, ECX = 1, EDX = 2, EBX = 3, ESP = 4, EBP = 5, ESI = 6, EDI = 7;
export const R32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
/** POPAD order of the register slots in the records. */
export const PUSHA_ORDER = [EDI, ESI, EBP, ESP, EBX, EDX, ECX, EAX];
