// Difftest: which flags an instruction leaves undefined, from the "Flags Affected" and
// "FPU Flags Affected" sections of the Intel SDM vol. 2 (instruction pages cited below).
// Only what the SDM calls undefined is masked; everything else is compared bit for bit.
// The generator attaches these masks to each instruction it emits (counts and sources are
// known to it, so count- and value-dependent cases are exact), tracks which flags are
// undefined at each point of a sequence, and inserts a defining instruction before anything
// that would read an undefined flag (ADC, Jcc, PUSHF, LAHF, FNSTSW …), so an undefined flag
// never leaks into registers or memory.

export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800, DF = 0x400;
export const ARITH = CF | PF | AF | ZF | SF | OF;
/** EFLAGS bits compared at the end of a case (RF is excluded: the kernel's signal context may show it). */
export const COMPARED = ARITH | DF | 0x200 /* IF */ | 0x3000 /* IOPL */ | 0x4000 /* NT */ | 0x4_0000 /* AC */ | 0x20_0000 /* ID */ | 0x100 /* TF */;

/** x87 condition codes in the status word. */
export const C0 = 0x100, C1 = 0x200, C2 = 0x400, C3 = 0x4000;
export const CC_ALL = C0 | C1 | C2 | C3;

export interface FlagEffect {
  /** Flags written with a defined value. */
  def: number;
  /** Flags the SDM calls undefined afterwards. */
  undef: number;
}

const NONE: FlagEffect = { def: 0, undef: 0 };

/** ADD ADC SUB SBB CMP NEG XADD CMPXCHG CMPS SCAS: all six defined (SDM "ADD", "SUB" …). */
export const ARITH_ALL: FlagEffect = { def: ARITH, undef: 0 };
/** AND OR XOR TEST: "OF and CF cleared; SF, ZF, PF set; AF undefined" (SDM "AND", "TEST"). */
export const LOGIC: FlagEffect = { def: ARITH & ~AF, undef: AF };
/** INC DEC: "CF not affected; OF SF ZF AF PF set" (SDM "INC"). */
export const INCDEC: FlagEffect = { def: ARITH & ~CF, undef: 0 };
/** MUL IMUL (all forms): "OF, CF defined; SF, ZF, AF, PF undefined" (SDM "MUL", "IMUL"). */
export const MUL: FlagEffect = { def: CF | OF, undef: SF | ZF | AF | PF };
/** DIV IDIV: "CF, OF, SF, ZF, AF, PF undefined" (SDM "DIV", "IDIV"). */
export const DIV: FlagEffect = { def: 0, undef: ARITH };
/** BT BTS BTR BTC: "CF = selected bit; ZF unaffected; OF SF AF PF undefined" (SDM "BT"). */
export const BT: FlagEffect = { def: CF, undef: OF | SF | AF | PF };
/** BSF BSR: "ZF defined; CF OF SF AF PF undefined" (SDM "BSF"); the destination is undefined when the source is 0. */
export const BSF: FlagEffect = { def: ZF, undef: CF | OF | SF | AF | PF };
/** DAA DAS: "OF undefined; CF AF SF ZF PF set" (SDM "DAA", "DAS"). */
export const DAA: FlagEffect = { def: CF | AF | SF | ZF | PF, undef: OF };
/** AAA AAS: "AF CF set; OF SF ZF PF undefined" (SDM "AAA", "AAS"). */
export const AAA: FlagEffect = { def: CF | AF, undef: OF | SF | ZF | PF };
/** AAM AAD: "SF ZF PF set; OF AF CF undefined" (SDM "AAM", "AAD"). */
export const AAM: FlagEffect = { def: SF | ZF | PF, undef: OF | AF | CF };
/** CMPXCHG8B: ZF only (SDM "CMPXCHG8B"). */
export const ZF_ONLY: FlagEffect = { def: ZF, undef: 0 };
/** SAHF and POPF define the flags they load. */
export const SAHF: FlagEffect = { def: SF | ZF | AF | PF | CF, undef: 0 };
export const CF_ONLY: FlagEffect = { def: CF, undef: 0 };
export const NO_FLAGS = NONE;

/**
 * Shifts and rotates (SDM "SAL/SAR/SHL/SHR", "RCL/RCR/ROL/ROR"). `op` is the ModR/M.reg
 * (0 ROL, 1 ROR, 2 RCL, 3 RCR, 4 SHL, 5 SHR, 6 SAL, 7 SAR); `count` the count operand before
 * masking; `bits` the operand size.
 * - masked count (count & 1Fh) = 0: no flag is affected;
 * - shifts: CF = last bit out, undefined for SHL/SHR when count ≥ operand size; OF only for
 *   1-bit shifts, else undefined; SF ZF PF from the result; AF undefined;
 * - rotates: CF defined; OF defined only for 1-bit rotates, else undefined; others unaffected.
 */
export function shiftEffect(op: number, count: number, bits: number): FlagEffect {
  const m = count & 0x1f;
  if (m === 0) return NONE;
  const ofDef = m === 1;
  if (op < 4) return { def: CF | (ofDef ? OF : 0), undef: ofDef ? 0 : OF };
  let def = SF | ZF | PF;
  let undef = AF;
  if ((op === 4 || op === 5 || op === 6) && m >= bits) undef |= CF; else def |= CF;
  if (ofDef) def |= OF; else undef |= OF;
  return { def, undef };
}

/**
 * SHLD SHRD (SDM "SHLD", "SHRD"): count masked to 5 bits; 0 affects nothing; CF SF ZF PF
 * defined; OF only for a 1-bit shift; AF undefined; a count greater than the operand size
 * leaves all flags (and the destination) undefined — the generator never emits that case.
 */
export function shldEffect(count: number, bits: number): FlagEffect {
  const m = count & 0x1f;
  if (m === 0) return NONE;
  if (m > bits) return { def: 0, undef: ARITH };
  return { def: CF | SF | ZF | PF | (m === 1 ? OF : 0), undef: AF | (m === 1 ? 0 : OF) };
}

/** Flags read by condition code cc (SDM vol. 1 appendix B, table B-1). */
export function conditionReads(cc: number): number {
  switch (cc >> 1) {
    case 0: return OF;
    case 1: return CF;
    case 2: return ZF;
    case 3: return CF | ZF;
    case 4: return SF;
    case 5: return PF;
    case 6: return SF | OF;
    default: return ZF | SF | OF;
  }
}

/**
 * x87 condition-code effects (SDM vol. 2 "FPU Flags Affected" of each instruction):
 * - "C1 set/cleared, C0 C2 C3 undefined": loads, stores, arithmetic, FXCH, FCHS, FABS,
 *   FSQRT, FSCALE, FRNDINT, FXTRACT, constants, FCMOVcc, F2XM1, FYL2X, FYL2XP1, FPATAN;
 * - all four defined: FCOM family, FTST, FXAM, FPREM, FPREM1, FNINIT;
 * - C1 C2 defined, C0 C3 undefined: FPTAN FSIN FCOS FSINCOS;
 * - FCOMI family: C1 defined, C0 C2 C3 not affected;
 * - all undefined: FLDCW, FNSTCW, FNSTSW, FNCLEX, FFREE, WAIT, FINCSTP/FDECSTP (C1 = 0).
 */
export const X87_C1: FlagEffect = { def: C1, undef: C0 | C2 | C3 };
export const X87_ALL: FlagEffect = { def: CC_ALL, undef: 0 };
export const X87_TRIG: FlagEffect = { def: C1 | C2, undef: C0 | C3 };
export const X87_C1_ONLY: FlagEffect = { def: C1, undef: 0 };
export const X87_UNDEF: FlagEffect = { def: 0, undef: CC_ALL };
