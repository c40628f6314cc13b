// The SSE register state (Intel SDM vol. 1 §10.2): XMM0–XMM15 and MXCSR, plus the three
// scratch vectors the SIMD instructions compute in. MMX registers are not here: they are the
// significands of the x87 registers (SDM vol. 1 §9.5), kept by the FPU.
//
// A vector is 16 bytes with typed views over one buffer, so an instruction reads its
// operands into `a` and `b`, computes `r` element by element at any width, and writes `r`
// back. The views are little-endian because x86 is, and so is every host this runs on.

/** MXCSR fields (SDM vol. 1 figure 10-3). The six flags have the x87 status-word positions. */
export const MXCSR_IE = 0x0001;
export const MXCSR_DE = 0x0002;
export const MXCSR_ZE = 0x0004;
export const MXCSR_OE = 0x0008;
export const MXCSR_UE = 0x0010;
export const MXCSR_PE = 0x0020;
export const MXCSR_DAZ = 0x0040;
/** The exception masks are the flags shifted left by 7 (IM = 0x80 … PM = 0x1000). */
export const MXCSR_MASK_SHIFT = 7;
export const MXCSR_RC_SHIFT = 13;
export const MXCSR_FTZ = 0x8000;
/** AMD's misaligned-SSE mode (APM vol. 4, MXCSR bit 17): 16-byte operands need no alignment. */
export const MXCSR_MM = 0x20000;
/** Power-on and INIT value: all exceptions masked, round to nearest (SDM vol. 3 table 9-1). */
export const MXCSR_RESET = 0x1f80;

export class Vec {
  readonly buf = new ArrayBuffer(16);
  readonly u8 = new Uint8Array(this.buf);
  readonly i8 = new Int8Array(this.buf);
  readonly u16 = new Uint16Array(this.buf);
  readonly i16 = new Int16Array(this.buf);
  readonly u32 = new Uint32Array(this.buf);
  readonly i32 = new Int32Array(this.buf);
}

export class SimdState {
  /** XMM0–XMM15, four dwords each, low dword first. */
  readonly xmm = new Int32Array(64);
  mxcsr = MXCSR_RESET;
  /** The destination (first source), the source and the result of the instruction running. */
  readonly a = new Vec();
  readonly b = new Vec();
  readonly r = new Vec();

  reset(): void {
    this.xmm.fill(0);
    this.mxcsr = MXCSR_RESET;
  }
}
