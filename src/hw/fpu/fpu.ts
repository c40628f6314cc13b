// The x87 FPU of an i686 (Pentium Pro class, no MMX/SSE/FXSR): register stack, control,
// status and tag words, instruction and data pointers, and the D8–DF instruction set
// (Intel SDM vol. 1 chapter 8 "Programming with the x87 FPU"; vol. 2 instruction pages;
// opcode map vol. 2 appendix A.4 "Escape opcode instructions").
//
// The CPU core decodes the escape opcode, handles #NM and, for waiting instructions, a
// pending unmasked exception (#MF); then it calls `execute`. Arithmetic lives in
// float80.ts, transcendentals in transcendental.ts, packed BCD in bcd.ts.
//
// Status word (§8.1.3):                      Control word (§8.1.5):
//  15 14 13-11 10 9  8  7  6  5  4  3  2  1  0     12 11-10 9-8 5  4  3  2  1  0
//  B  C3 TOP  C2 C1 C0 ES SF PE UE OE ZE DE IE     X  RC    PC  PM UM OM ZM DM IM

import { FpuHost, FpuInstr } from "./fpu-host.js";
import {
  BIAS, CMP_EQ, CMP_GT, CMP_LT, CMP_UN, DE, F80, FpEnv, IE, INDEFINITE, IntResult, K_DENORMAL, K_INF,
  K_NORMAL, K_QNAN, K_SNAN, K_UNSUPPORTED, K_ZERO, OE, PE, POS_ONE, POS_ZERO, SF, UE, ZE, add, classify,
  compare, div, extract, fromF32, fromF64, fromInt, fromInt32, fromInt64, inf, isNaNKind, mul, negate,
  propagateNaN, roundToInt, roundToIntMag, scaleFinite, sqrt, toF32, toF64, withSign, zero,
} from "./float80.js";
import { bcdToF80, f80ToBcd } from "./bcd.js";
import { TRIG_COS, TRIG_SIN, TRIG_TAN, f2xm1, fpatan, fyl2x, fyl2xp1, roundedConstants, trig } from "./transcendental.js";
import { fprem } from "./remainder.js";
import { DOUBLE_FIELD } from "../double-field.js";

const C0 = 0x0100;
const C1 = 0x0200;
const C2 = 0x0400;
const C3 = 0x4000;
const ES = 0x0080;
const B = 0x8000;
const CC_MASK = C0 | C1 | C2 | C3;

/** Control word after FNINIT / power-on (SDM vol. 1 table 8-? "FINIT state"). */
const CW_INIT = 0x037f;

/** The five irrational constants, rounded per RC; immutable data shared by all instances. */
const CONSTS = roundedConstants();

/** Plain-object snapshot of the whole FPU state (for save/restore). */
export interface FpuState {
  /** Physical registers R0..R7 as [sign, exponent, significand hi, significand lo]. */
  regs: number[][];
  /** Bit i set: physical register i is empty (tag 11). */
  empty: number;
  top: number;
  cw: number;
  /** Status word without TOP. */
  sw: number;
  fip: number;
  fcs: number;
  fdp: number;
  fds: number;
  fop: number;
}

/** Which D8–DF encodings are the no-wait control forms (FNINIT, FNCLEX, FNSTENV, FNSTCW, FNSAVE, FNSTSW, FNENI, FNDISI, FNSETPM). */
export function isNoWaitInstruction(opcode: number, modrm: number): boolean {
  const mem = modrm < 0xc0;
  const reg = (modrm >> 3) & 7;
  switch (opcode) {
    case 0xd9:
      return mem && (reg === 6 || reg === 7);
    case 0xdb:
      return !mem && modrm >= 0xe0 && modrm <= 0xe4;
    case 0xdd:
      return mem && (reg === 6 || reg === 7);
    case 0xdf:
      return modrm === 0xe0;
  }
  return false;
}

export class Fpu {
  private regs: F80[] = [POS_ZERO, POS_ZERO, POS_ZERO, POS_ZERO, POS_ZERO, POS_ZERO, POS_ZERO, POS_ZERO];
  private empty = 0xff;
  private top = 0;
  private cw = CW_INIT;
  private sw = 0;
  // The last instruction's and operand's addresses: doubles from the start
  // (src/hw/double-field.ts; a kernel's are above 2^31), zero after reset().
  private fip = DOUBLE_FIELD;
  private fcs = 0;
  private fdp = DOUBLE_FIELD;
  private fds = 0;
  private fop = 0;
  private readonly env = new FpEnv();
  /** C1 value for a stack fault in the current instruction (1 = overflow). */
  private sfOverflow = false;
  private readonly bcdBuf = new Uint8Array(10);

  constructor() {
    this.reset();
  }

  /** Power-on state: registers +0 and empty, CW 037F, SW 0, pointers 0 (SDM vol. 3 table 9-1). */
  reset(): void {
    this.regs.fill(POS_ZERO);
    this.finit();
  }

  statusWord(): number {
    return (this.sw | (this.top << 11)) & 0xffff;
  }

  controlWord(): number {
    return this.cw;
  }

  /** The full tag word, derived from register contents (SDM vol. 1 §8.1.7). */
  tagWord(): number {
    let tw = 0;
    for (let p = 0; p < 8; p++) tw |= this.tagOf(p) << (2 * p);
    return tw;
  }

  /** ES: an unmasked exception is pending; the CPU raises #MF at the next waiting instruction. */
  pendingUnmaskedException(): boolean {
    return (this.sw & ES) !== 0;
  }

  save(): FpuState {
    return {
      regs: this.regs.map((r) => [r.sign, r.exp, r.hi, r.lo]),
      empty: this.empty,
      top: this.top,
      cw: this.cw,
      sw: this.sw,
      fip: this.fip,
      fcs: this.fcs,
      fdp: this.fdp,
      fds: this.fds,
      fop: this.fop,
    };
  }

  restore(s: FpuState): void {
    this.regs = s.regs.map((r) => new F80(r[0], r[1], r[2] >>> 0, r[3] >>> 0));
    this.empty = s.empty & 0xff;
    this.top = s.top & 7;
    this.cw = s.cw;
    this.sw = s.sw & ~0x3800;
    this.fip = s.fip;
    this.fcs = s.fcs;
    this.fdp = s.fdp;
    this.fds = s.fds;
    this.fop = s.fop;
  }

  // ---- MMX (SDM vol. 1 §9.5): MM0–MM7 are the significands of physical registers R0–R7 ----

  /** MMX register `r` into out[at] (low dword) and out[at + 1]. */
  mmxRead(r: number, out: Int32Array, at: number): void {
    const f = this.regs[r];
    out[at] = f.lo;
    out[at + 1] = f.hi;
  }

  /** Write MMX register `r`: bits 79–64 (sign and exponent) become all ones (§9.5.1). */
  mmxWrite(r: number, lo: number, hi: number): void {
    this.regs[r] = new F80(1, 0x7fff, hi >>> 0, lo >>> 0);
  }

  /** Every MMX instruction but EMMS: TOP = 0 and the whole tag word valid (table 9-2). */
  mmxEnter(): void {
    this.top = 0;
    this.empty = 0;
  }

  /** EMMS: the whole tag word empty. */
  emms(): void {
    this.empty = 0xff;
  }

  /**
   * Execute one escape instruction. Returns false if the encoding is undefined (the CPU
   * raises #UD); memory accessors of `host` may throw, leaving the FPU state unchanged.
   */
  execute(instr: FpuInstr, host: FpuHost): boolean {
    const op = instr.opcode & 7;
    const modrm = instr.modrm & 0xff;
    const reg = (modrm >> 3) & 7;
    const mem = modrm < 0xc0;
    this.env.setControl(this.cw);
    this.env.flags = 0;
    this.env.up = false;
    this.sfOverflow = false;
    if (!isControl(op, modrm)) {
      this.fip = instr.eip >>> 0;
      this.fcs = instr.cs & 0xffff;
      this.fop = (op << 8) | modrm;
      if (mem) {
        this.fdp = instr.offset >>> 0;
        this.fds = instr.operandSelector & 0xffff;
      }
    }
    if (mem) return this.executeMemory(op, reg, instr, host);
    return this.executeRegister(op, modrm, host);
  }

  // -------------------------------------------------------------------------------------
  // Register stack (§8.1.2).

  private phys(i: number): number {
    return (this.top + i) & 7;
  }

  private isEmpty(i: number): boolean {
    return ((this.empty >> this.phys(i)) & 1) !== 0;
  }

  private st(i: number): F80 {
    return this.regs[this.phys(i)];
  }

  private setSt(i: number, v: F80): void {
    const p = this.phys(i);
    this.regs[p] = v;
    this.empty &= ~(1 << p);
  }

  private push(v: F80): void {
    this.top = (this.top - 1) & 7;
    this.setSt(0, v);
  }

  private pop(): void {
    this.empty |= 1 << this.top;
    this.top = (this.top + 1) & 7;
  }

  private tagOf(p: number): number {
    if ((this.empty >> p) & 1) return 3;
    const k = classify(this.regs[p]);
    if (k === K_ZERO) return 1;
    if (k === K_NORMAL) return 0;
    return 2;
  }

  private stackUnderflow(): void {
    this.env.flags |= IE | SF;
    this.sfOverflow = false;
  }

  private stackOverflow(): void {
    this.env.flags |= IE | SF;
    this.sfOverflow = true;
  }

  /**
   * Merge this instruction's exceptions into the status word (§8.5, §8.7) and set C1.
   * Returns whether the destination may be written: not after an unmasked IE, DE or ZE
   * (pre-computation exceptions), nor for memory destinations after unmasked OE/UE.
   */
  private finish(memoryDest = false): boolean {
    let f = this.env.flags;
    const um = f & ~this.cw & 0x3f;
    let write = true;
    if (um & IE) {
      f &= IE | SF;
      write = false;
    } else if (um & DE) {
      f &= DE;
      write = false;
    } else if (um & ZE) {
      f &= ZE | DE;
      write = false;
    } else if (memoryDest && um & (OE | UE)) {
      write = false;
    }
    let sw = this.sw | f;
    if (f & SF) sw = this.sfOverflow ? sw | C1 : sw & ~C1;
    else sw = this.env.up && f & PE ? sw | C1 : sw & ~C1;
    this.sw = sw;
    this.updateES();
    return write;
  }

  /**
   * `finish` for FCMOVcc and FCOMI/FCOMIP/FUCOMI/FUCOMIP: C1 = 0 only on a stack fault,
   * otherwise it keeps its value (silicon; see docs/fpu.md "C1 after FCMOVcc and FCOMI").
   */
  private finishKeepC1(): boolean {
    const c1 = this.sw & C1;
    const stackFault = (this.env.flags & SF) !== 0;
    const write = this.finish();
    if (!stackFault) this.sw = (this.sw & ~C1) | c1;
    return write;
  }

  private updateES(): void {
    if (this.sw & ~this.cw & 0x3f) this.sw |= ES | B;
    else this.sw &= ~(ES | B);
  }

  private setCC(c3: boolean, c2: boolean, c1: boolean, c0: boolean): void {
    this.sw = (this.sw & ~CC_MASK) | (c3 ? C3 : 0) | (c2 ? C2 : 0) | (c1 ? C1 : 0) | (c0 ? C0 : 0);
  }

  private finit(): void {
    this.cw = CW_INIT;
    this.sw = 0;
    this.top = 0;
    this.empty = 0xff;
    this.fip = this.fcs = this.fdp = this.fds = this.fop = 0;
  }

  // -------------------------------------------------------------------------------------
  // Memory operand forms.

  private executeMemory(op: number, reg: number, instr: FpuInstr, host: FpuHost): boolean {
    const seg = instr.seg;
    // Already an unsigned 32- or 16-bit offset outside 64-bit mode; in 64-bit mode a canonical
    // linear address held as a signed number, which must not be cut to 32 bits.
    const off = instr.offset;
    switch (op) {
      case 0: // D8: arithmetic with m32fp
        return this.arithMem(reg, fromF32(this.env, host.read32(seg, off)));
      case 4: // DC: m64fp
        return this.arithMem(reg, fromF64(this.env, host.read32(seg, off + 4), host.read32(seg, off)));
      case 2: // DA: m32int
        return this.arithMem(reg, fromInt32(host.read32(seg, off)));
      case 6: {
        // DE: m16int
        const v = host.read16(seg, off);
        return this.arithMem(reg, fromInt32((v << 16) >> 16));
      }
      case 1:
        switch (reg) {
          case 0:
            return this.load(fromF32(this.env, host.read32(seg, off)), true);
          case 2:
          case 3:
            return this.storeFloat(host, seg, off, 32, reg === 3);
          case 4:
            this.loadEnv(host, seg, off, instr);
            return true;
          case 5:
            this.cw = (host.read16(seg, off) & 0x1f7f) | 0x40;
            this.updateES();
            return true;
          case 6:
            this.storeEnv(host, seg, off, instr);
            this.cw |= 0x3f;
            this.updateES();
            return true;
          case 7:
            host.write16(seg, off, this.cw);
            return true;
        }
        return false;
      case 3:
        switch (reg) {
          case 0:
            return this.load(fromInt32(host.read32(seg, off)), false);
          case 2:
          case 3:
            return this.storeInt(host, seg, off, 32, reg === 3);
          case 5: {
            const lo = host.read32(seg, off);
            const hi = host.read32(seg, off + 4);
            const se = host.read16(seg, off + 8);
            return this.load(new F80(se >> 15, se & 0x7fff, hi >>> 0, lo >>> 0), false);
          }
          case 7:
            return this.storeFloat(host, seg, off, 80, true);
          case 1:
            return this.fisttp(host, seg, off, 32);
        }
        return false; // /4 and /6 are reserved
      case 5:
        switch (reg) {
          case 0:
            return this.load(fromF64(this.env, host.read32(seg, off + 4), host.read32(seg, off)), true);
          case 2:
          case 3:
            return this.storeFloat(host, seg, off, 64, reg === 3);
          case 1:
            return this.fisttp(host, seg, off, 64);
          case 4:
            this.restoreState(host, seg, off, instr);
            return true;
          case 6:
            this.saveState(host, seg, off, instr);
            return true;
          case 7:
            host.write16(seg, off, this.statusWord());
            return true;
        }
        return false;
      default:
        // DF
        switch (reg) {
          case 0: {
            const v = host.read16(seg, off);
            return this.load(fromInt32((v << 16) >> 16), false);
          }
          case 1:
            return this.fisttp(host, seg, off, 16);
          case 2:
          case 3:
            return this.storeInt(host, seg, off, 16, reg === 3);
          case 4: {
            const b = this.bcdBuf;
            for (let i = 0; i < 10; i++) b[i] = host.read8(seg, off + i);
            return this.load(bcdToF80(b), false);
          }
          case 5: {
            const lo = host.read32(seg, off);
            const hi = host.read32(seg, off + 4);
            return this.load(fromInt64(hi, lo), false);
          }
          case 6:
            return this.storeBcd(host, seg, off);
          case 7:
            return this.storeInt(host, seg, off, 64, true);
        }
        return false;
    }
  }

  /** D8/DC/DA/DE memory forms: /0 add, /1 mul, /2 com, /3 comp, /4 sub, /5 subr, /6 div, /7 divr. */
  private arithMem(reg: number, src: F80): boolean {
    // The load normalized a denormal m32/m64 source and noted DE. Hardware reports DE only
    // if the operation goes on to use the operand: not for NaN operands (IE or plain
    // propagation) nor for a zero divisor (ZE).
    const srcDenormal = (this.env.flags & DE) !== 0;
    this.env.flags &= ~DE;
    if (reg === 2 || reg === 3) {
      this.compareOp(src, false, false, reg === 3 ? 1 : 0, false, 1, undefined, srcDenormal);
      return true;
    }
    this.arith(reg, 0, src, 0, false, srcDenormal);
    return true;
  }

  /**
   * dest := ST(0) op src (op by the reg field; SUBR/DIVR swap the operands). `srcIndex` is
   * used when src is a register that might be empty (src null means register ST(srcIndex)).
   */
  private arith(reg: number, dest: number, src: F80 | null, srcIndex: number, popAfter: boolean, srcDenormal = false): void {
    let result: F80;
    if (this.isEmpty(0) || (src === null && this.isEmpty(srcIndex))) {
      this.stackUnderflow();
      result = INDEFINITE;
    } else {
      const a = this.st(0);
      const b = src ?? this.st(srcIndex);
      const ka = classify(a);
      result = this.compute(reg, a, b);
      if (srcDenormal && !isNaNKind(ka) && ka !== K_UNSUPPORTED && !(this.env.flags & ZE)) this.env.flags |= DE;
    }
    if (this.finish()) {
      this.setSt(dest, result);
      if (popAfter) this.pop();
    }
  }

  private compute(reg: number, a: F80, b: F80): F80 {
    const env = this.env;
    switch (reg) {
      case 0:
        return add(env, a, b, false);
      case 1:
        return mul(env, a, b);
      case 4:
        return add(env, a, b, true);
      case 5:
        return add(env, b, a, true);
      case 6:
        return div(env, a, b);
      default:
        return div(env, b, a);
    }
  }

  /**
   * FCOM family: compare ST(0) with src (or ST(srcIndex)); `pops` 0–2. Sets C3/C2/C0, or
   * ZF/PF/CF for FCOMI (`eflags`).
   */
  private compareOp(src: F80 | null, unordered: boolean, eflags: boolean, pops: number, _reserved: boolean, srcIndex = 1, host?: FpuHost, srcDenormal = false): void {
    let r: number;
    if (this.isEmpty(0) || (src === null && this.isEmpty(srcIndex))) {
      this.stackUnderflow();
      r = CMP_UN;
    } else {
      const k0 = classify(this.st(0));
      r = compare(this.env, this.st(0), src ?? this.st(srcIndex), unordered);
      if (srcDenormal && !isNaNKind(k0) && k0 !== K_UNSUPPORTED) this.env.flags |= DE;
    }
    this.env.up = false;
    // The condition codes are set even when an unmasked IE stops the pops.
    const write = eflags ? this.finishKeepC1() : this.finish();
    if (eflags && host) {
      host.setComparisonFlags(r === CMP_EQ || r === CMP_UN, r === CMP_UN, r === CMP_LT || r === CMP_UN);
    } else {
      const c1 = (this.sw & C1) !== 0;
      this.setCC(r === CMP_EQ || r === CMP_UN, r === CMP_UN, c1, r === CMP_LT || r === CMP_UN);
    }
    if (!write) return;
    for (let i = 0; i < pops; i++) this.pop();
  }

  /** FLD/FILD/FBLD: push a value (`checkSNaN`: m32/m64 sources raise IE on SNaN). */
  private load(v: F80, checkSNaN: boolean): boolean {
    if (!this.isEmpty(7)) {
      // Overflow replaces the value: a denormal m32/m64 source then raises no DE, and an
      // empty FLD ST(i) source keeps reporting underflow (C1 = 0), as on the silicon.
      const underflow = (this.env.flags & SF) !== 0;
      this.env.flags &= ~DE;
      this.stackOverflow();
      if (underflow) this.sfOverflow = false;
      v = INDEFINITE;
    } else if (checkSNaN && classify(v) === K_SNAN) {
      v = propagateNaN(this.env, v, null);
    }
    // An unmasked DE from a denormal m32/m64 source does not stop the load (observed on
    // hardware); IE does.
    const write = this.finish();
    if (write || (this.env.flags & (IE | DE)) === DE) this.push(v);
    return true;
  }

  /** FST/FSTP m32fp, m64fp, m80fp. */
  private storeFloat(host: FpuHost, seg: number, off: number, bits: number, popAfter: boolean): boolean {
    let v: F80;
    if (this.isEmpty(0)) {
      this.stackUnderflow();
      v = INDEFINITE;
    } else {
      v = this.st(0);
    }
    const env = this.env;
    if (bits === 32) {
      const w = toF32(env, v);
      if (this.finishStore()) host.write32(seg, off, w);
      else return true;
    } else if (bits === 64) {
      const [whi, wlo] = toF64(env, v);
      if (this.finishStore()) {
        host.checkWrite(seg, off, 8);
        host.write32(seg, off, wlo);
        host.write32(seg, off + 4, whi);
      } else return true;
    } else {
      if (this.finishStore()) {
        host.checkWrite(seg, off, 10);
        host.write32(seg, off, v.lo);
        host.write32(seg, off + 4, v.hi);
        host.write16(seg, off + 8, (v.sign << 15) | v.exp);
      } else return true;
    }
    if (popAfter) this.pop();
    return true;
  }

  /**
   * finish() for stores, done before the memory write. If the write then faults, the
   * instruction restarts later; the sticky flags it already merged are the same ones it
   * will raise again, and TOP and the registers have not changed.
   */
  private finishStore(): boolean {
    return this.finish(true);
  }

  /** FIST/FISTP m16int, m32int, m64int. */
  /** SSE3 FISTTP (DF /1, DB /1, DD /1): FISTP rounding toward zero whatever FCW.RC says. */
  private fisttp(host: FpuHost, seg: number, off: number, bits: number): boolean {
    const rc = this.env.rc;
    this.env.rc = 3;
    try {
      return this.storeInt(host, seg, off, bits, true);
    } finally {
      this.env.rc = rc;
    }
  }

  private storeInt(host: FpuHost, seg: number, off: number, bits: number, popAfter: boolean): boolean {
    let hi = 0;
    let lo = 0;
    let indefinite = false;
    if (this.isEmpty(0)) {
      this.stackUnderflow();
      indefinite = true;
    } else {
      const v = this.st(0);
      const k = classify(v);
      if (k === K_UNSUPPORTED || k === K_INF || isNaNKind(k)) {
        this.env.flags |= IE;
        indefinite = true;
      } else {
        const r = roundToIntMag(this.env.rc, v, new IntResult());
        // Largest magnitude: 2^(bits-1) − 1, or 2^(bits-1) for negatives.
        let fits: boolean;
        if (r.overflow) fits = false;
        else if (bits === 64) fits = r.hi < 0x80000000 || (r.sign === 1 && r.hi === 0x80000000 && r.lo === 0);
        else {
          const max = 2 ** (bits - 1) - 1 + r.sign;
          fits = r.hi === 0 && r.lo <= max;
        }
        if (!fits) {
          this.env.flags |= IE;
          indefinite = true;
        } else {
          hi = r.hi;
          lo = r.lo;
          if (r.sign) {
            lo = (~lo + 1) >>> 0;
            hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
          }
          if (r.inexact) {
            this.env.flags |= PE;
            this.env.up = r.up;
          }
        }
      }
    }
    if (indefinite) {
      hi = bits === 64 ? 0x80000000 : 0;
      lo = bits === 64 ? 0 : bits === 32 ? 0x80000000 : 0x8000;
    }
    if (!this.finish(true)) return true;
    if (bits === 16) host.write16(seg, off, lo & 0xffff);
    else if (bits === 32) host.write32(seg, off, lo);
    else {
      host.checkWrite(seg, off, 8);
      host.write32(seg, off, lo);
      host.write32(seg, off + 4, hi);
    }
    if (popAfter) this.pop();
    return true;
  }

  /** FBSTP m80bcd. */
  private storeBcd(host: FpuHost, seg: number, off: number): boolean {
    const b = this.bcdBuf;
    if (this.isEmpty(0)) {
      this.stackUnderflow();
      f80ToBcd(this.env, INDEFINITE, b);
      this.env.flags |= IE | SF;
    } else {
      f80ToBcd(this.env, this.st(0), b);
    }
    if (!this.finish(true)) return true;
    host.checkWrite(seg, off, 10);
    for (let i = 0; i < 10; i++) host.write8(seg, off + i, b[i]);
    this.pop();
    return true;
  }

  // -------------------------------------------------------------------------------------
  // FSTENV/FLDENV, FSAVE/FRSTOR (§8.1.10, figures 8-9 to 8-12).

  private envSize(instr: FpuInstr): number {
    return instr.operandSize32 ? 28 : 14;
  }

  private storeEnv(host: FpuHost, seg: number, off: number, instr: FpuInstr): void {
    host.checkWrite(seg, off, this.envSize(instr));
    this.writeEnv(host, seg, off, instr);
  }

  private writeEnv(host: FpuHost, seg: number, off: number, instr: FpuInstr): void {
    const cw = this.cw;
    const sw = this.statusWord();
    const tw = this.tagWord();
    if (instr.operandSize32) {
      const words: number[] = [0xffff0000 | cw, 0xffff0000 | sw, 0xffff0000 | tw];
      if (instr.protectedMode) {
        words.push(this.fip, ((this.fop & 0x7ff) << 16) | this.fcs, this.fdp, 0xffff0000 | this.fds);
      } else {
        const ip = (this.fcs * 16 + this.fip) >>> 0;
        const dp = (this.fds * 16 + this.fdp) >>> 0;
        words.push(
          0xffff0000 | (ip & 0xffff),
          ((ip >>> 16) << 12) | (this.fop & 0x7ff),
          0xffff0000 | (dp & 0xffff),
          (dp >>> 16) << 12,
        );
      }
      for (let i = 0; i < 7; i++) host.write32(seg, off + 4 * i, words[i] >>> 0);
    } else {
      const words: number[] = [cw, sw, tw];
      if (instr.protectedMode) {
        words.push(this.fip & 0xffff, this.fcs, this.fdp & 0xffff, this.fds);
      } else {
        const ip = (this.fcs * 16 + this.fip) >>> 0;
        const dp = (this.fds * 16 + this.fdp) >>> 0;
        words.push(ip & 0xffff, (((ip >>> 16) & 0xf) << 12) | (this.fop & 0x7ff), dp & 0xffff, ((dp >>> 16) & 0xf) << 12);
      }
      for (let i = 0; i < 7; i++) host.write16(seg, off + 2 * i, words[i] & 0xffff);
    }
  }

  /** Read an environment image; returns the fields without applying them. */
  private readEnv(host: FpuHost, seg: number, off: number, instr: FpuInstr): number[] {
    const w: number[] = [];
    if (instr.operandSize32) for (let i = 0; i < 7; i++) w.push(host.read32(seg, off + 4 * i) >>> 0);
    else for (let i = 0; i < 7; i++) w.push(host.read16(seg, off + 2 * i));
    return w;
  }

  private applyEnv(w: number[], instr: FpuInstr): void {
    this.cw = (w[0] & 0x1f7f) | 0x40;
    const sw = w[1] & 0xffff;
    this.top = (sw >> 11) & 7;
    this.sw = sw & ~0x3800;
    const tw = w[2] & 0xffff;
    let empty = 0;
    for (let p = 0; p < 8; p++) if (((tw >> (2 * p)) & 3) === 3) empty |= 1 << p;
    this.empty = empty;
    if (instr.protectedMode) {
      this.fip = instr.operandSize32 ? w[3] : w[3] & 0xffff;
      this.fcs = w[4] & 0xffff;
      this.fop = instr.operandSize32 ? (w[4] >>> 16) & 0x7ff : this.fop;
      this.fdp = instr.operandSize32 ? w[5] : w[5] & 0xffff;
      this.fds = w[6] & 0xffff;
    } else {
      const hiShift = instr.operandSize32 ? 0xffff : 0xf;
      this.fip = ((w[3] & 0xffff) | (((w[4] >>> 12) & hiShift) << 16)) >>> 0;
      this.fop = w[4] & 0x7ff;
      this.fdp = ((w[5] & 0xffff) | (((w[6] >>> 12) & hiShift) << 16)) >>> 0;
      this.fcs = 0;
      this.fds = 0;
    }
    this.updateES();
  }

  private loadEnv(host: FpuHost, seg: number, off: number, instr: FpuInstr): void {
    this.applyEnv(this.readEnv(host, seg, off, instr), instr);
  }

  private saveState(host: FpuHost, seg: number, off: number, instr: FpuInstr): void {
    const n = this.envSize(instr);
    host.checkWrite(seg, off, n + 80);
    this.writeEnv(host, seg, off, instr);
    for (let i = 0; i < 8; i++) {
      const v = this.st(i);
      const a = off + n + 10 * i;
      host.write32(seg, a, v.lo);
      host.write32(seg, a + 4, v.hi);
      host.write16(seg, a + 8, (v.sign << 15) | v.exp);
    }
    this.finit();
  }

  private restoreState(host: FpuHost, seg: number, off: number, instr: FpuInstr): void {
    const w = this.readEnv(host, seg, off, instr);
    const n = this.envSize(instr);
    const vals: F80[] = [];
    for (let i = 0; i < 8; i++) {
      const a = off + n + 10 * i;
      const lo = host.read32(seg, a) >>> 0;
      const hi = host.read32(seg, a + 4) >>> 0;
      const se = host.read16(seg, a + 8);
      vals.push(new F80(se >> 15, se & 0x7fff, hi, lo));
    }
    this.applyEnv(w, instr);
    for (let i = 0; i < 8; i++) this.regs[this.phys(i)] = vals[i];
  }

  // -------------------------------------------------------------------------------------
  // Register forms.

  private executeRegister(op: number, modrm: number, host: FpuHost): boolean {
    const reg = (modrm >> 3) & 7;
    const i = modrm & 7;
    switch (op) {
      case 0: // D8
        if (reg === 2 || reg === 3) this.compareOp(null, false, false, reg === 3 ? 1 : 0, false, i);
        else this.arith(reg, 0, null, i, false);
        return true;
      case 4: // DC: dest ST(i); /2 /3 are FCOM2/FCOMP3 aliases
        if (reg === 2 || reg === 3) this.compareOp(null, false, false, reg === 3 ? 1 : 0, false, i);
        else this.arith(reg, i, null, i, false);
        return true;
      case 6: // DE
        if (reg === 3) {
          if (i !== 1) return false;
          this.compareOp(null, false, false, 2, false, 1); // FCOMPP
          return true;
        }
        if (reg === 2) this.compareOp(null, false, false, 1, false, i); // FCOMP5 alias
        else this.arith(reg, i, null, i, true);
        return true;
      case 1:
        return this.executeD9(modrm, reg, i);
      case 2: // DA
        if (reg < 4) {
          this.fcmov(host, reg, false, i);
          return true;
        }
        if (modrm === 0xe9) {
          this.compareOp(null, true, false, 2, false, 1); // FUCOMPP
          return true;
        }
        return false;
      case 3: // DB
        if (reg < 4) {
          this.fcmov(host, reg, true, i);
          return true;
        }
        if (reg === 4) {
          switch (modrm) {
            case 0xe0: // FNENI, FNDISI, FNSETPM: no-ops on the 387 and later
            case 0xe1:
            case 0xe4:
              return true;
            case 0xe2: // FNCLEX
              this.sw &= ~(0x00ff | B);
              return true;
            case 0xe3:
              this.finit();
              return true;
          }
          return false;
        }
        if (reg === 5) this.compareOp(null, true, true, 0, false, i, host); // FUCOMI
        else if (reg === 6) this.compareOp(null, false, true, 0, false, i, host); // FCOMI
        else return false;
        return true;
      case 5: // DD
        switch (reg) {
          case 0: // FFREE (C0–C3 undefined in the SDM; the silicon clears C1, keeps the rest)
            this.empty |= 1 << this.phys(i);
            this.sw &= ~C1;
            return true;
          case 1: // FXCH4 alias
            this.fxch(i);
            return true;
          case 2:
          case 3:
            this.fstReg(i, reg === 3);
            return true;
          case 4:
            this.compareOp(null, true, false, 0, false, i);
            return true;
          case 5:
            this.compareOp(null, true, false, 1, false, i);
            return true;
        }
        return false;
      default: // DF
        switch (reg) {
          case 0: // FFREEP
            this.empty |= 1 << this.phys(i);
            this.sw &= ~C1;
            this.pop();
            return true;
          case 1: // FXCH7 alias
            this.fxch(i);
            return true;
          case 2: // FSTP8, FSTP9 aliases
          case 3:
            this.fstReg(i, true);
            return true;
          case 4:
            if (i !== 0) return false;
            host.setAX(this.statusWord());
            return true;
          case 5:
            this.compareOp(null, true, true, 1, false, i, host); // FUCOMIP
            return true;
          case 6:
            this.compareOp(null, false, true, 1, false, i, host); // FCOMIP
            return true;
        }
        return false;
    }
  }

  private executeD9(modrm: number, reg: number, i: number): boolean {
    switch (reg) {
      case 0: // FLD ST(i)
        if (this.isEmpty(i)) {
          this.stackUnderflow();
          return this.load(INDEFINITE, false);
        }
        return this.load(this.st(i), false);
      case 1:
        this.fxch(i);
        return true;
      case 2:
        return modrm === 0xd0; // FNOP
      case 3: // FSTP1 alias
        this.fstReg(i, true);
        return true;
    }
    switch (modrm) {
      case 0xe0:
        this.unary((a) => negate(a));
        return true;
      case 0xe1:
        this.unary((a) => withSign(a, 0));
        return true;
      case 0xe4:
        this.compareOp(POS_ZERO, false, false, 0, false);
        return true;
      case 0xe5:
        this.fxam();
        return true;
      case 0xe8:
        return this.load(POS_ONE, false);
      case 0xe9:
      case 0xea:
      case 0xeb:
      case 0xec:
      case 0xed:
        return this.load(CONSTS[this.env.rc][modrm - 0xe9], false);
      case 0xee:
        return this.load(POS_ZERO, false);
      case 0xf0:
        this.unary((a) => f2xm1(this.env, a));
        return true;
      case 0xf1:
        this.binaryPop((x, y) => fyl2x(this.env, x, y));
        return true;
      case 0xf2:
        this.trigOp(TRIG_TAN);
        return true;
      case 0xf3:
        this.binaryPop((x, y) => fpatan(this.env, x, y));
        return true;
      case 0xf4:
        this.fxtract();
        return true;
      case 0xf5:
        this.remainder(true);
        return true;
      case 0xf6:
        this.top = (this.top - 1) & 7;
        this.sw &= ~C1;
        return true;
      case 0xf7:
        this.top = (this.top + 1) & 7;
        this.sw &= ~C1;
        return true;
      case 0xf8:
        this.remainder(false);
        return true;
      case 0xf9:
        this.binaryPop((x, y) => fyl2xp1(this.env, x, y));
        return true;
      case 0xfa:
        this.unary((a) => sqrt(this.env, a));
        return true;
      case 0xfb:
        this.trigOp(TRIG_SIN | TRIG_COS);
        return true;
      case 0xfc:
        this.unary((a) => roundToInt(this.env, a));
        return true;
      case 0xfd:
        this.fscale();
        return true;
      case 0xfe:
        this.trigOp(TRIG_SIN);
        return true;
      case 0xff:
        this.trigOp(TRIG_COS);
        return true;
    }
    return false;
  }

  /** ST(0) := f(ST(0)). */
  private unary(f: (a: F80) => F80): void {
    let r: F80;
    if (this.isEmpty(0)) {
      this.stackUnderflow();
      r = INDEFINITE;
    } else {
      r = f(this.st(0));
    }
    if (this.finish()) this.setSt(0, r);
  }

  /** ST(1) := f(x = ST(0), y = ST(1)); pop. FYL2X, FYL2XP1, FPATAN. */
  private binaryPop(f: (x: F80, y: F80) => F80): void {
    let r: F80;
    if (this.isEmpty(0) || this.isEmpty(1)) {
      this.stackUnderflow();
      r = INDEFINITE;
    } else {
      r = f(this.st(0), this.st(1));
    }
    if (this.finish()) {
      this.setSt(1, r);
      this.pop();
    }
  }

  private fxch(i: number): void {
    if (this.isEmpty(0) || this.isEmpty(i)) {
      this.stackUnderflow();
      if (!this.finish()) return;
      if (this.isEmpty(0)) this.setSt(0, INDEFINITE);
      if (this.isEmpty(i)) this.setSt(i, INDEFINITE);
    } else {
      this.finish();
    }
    const t = this.st(0);
    this.setSt(0, this.st(i));
    this.setSt(i, t);
  }

  /** FST/FSTP ST(i). */
  private fstReg(i: number, popAfter: boolean): void {
    let v: F80;
    if (this.isEmpty(0)) {
      this.stackUnderflow();
      v = INDEFINITE;
    } else {
      v = this.st(0);
    }
    if (!this.finish()) return;
    this.setSt(i, v);
    if (popAfter) this.pop();
  }

  private fcmov(host: FpuHost, reg: number, negateCond: boolean, i: number): void {
    const fl = host.getEflags();
    const cf = (fl & 1) !== 0;
    const pf = (fl & 4) !== 0;
    const zf = (fl & 0x40) !== 0;
    let cond = reg === 0 ? cf : reg === 1 ? zf : reg === 2 ? cf || zf : pf;
    if (negateCond) cond = !cond;
    if (this.isEmpty(0) || this.isEmpty(i)) {
      this.stackUnderflow();
      if (this.finish()) this.setSt(0, INDEFINITE);
      return;
    }
    this.finishKeepC1();
    if (cond) this.setSt(0, this.st(i));
  }

  /** FXAM (SDM vol. 2 FXAM table): C3 C2 C0 class, C1 sign. */
  private fxam(): void {
    const v = this.st(0);
    const s = v.sign === 1;
    if (this.isEmpty(0)) {
      this.setCC(true, false, s, true);
      return;
    }
    switch (classify(v)) {
      case K_UNSUPPORTED:
        this.setCC(false, false, s, false);
        break;
      case K_QNAN:
      case K_SNAN:
        this.setCC(false, false, s, true);
        break;
      case K_NORMAL:
        this.setCC(false, true, s, false);
        break;
      case K_INF:
        this.setCC(false, true, s, true);
        break;
      case K_ZERO:
        this.setCC(true, false, s, false);
        break;
      case K_DENORMAL:
        this.setCC(true, true, s, false);
        break;
    }
  }

  private trigOp(which: number): void {
    const pushes = (which & TRIG_TAN) !== 0 || which === (TRIG_SIN | TRIG_COS);
    if (this.isEmpty(0) || (pushes && !this.isEmpty(7))) {
      if (this.isEmpty(0)) this.stackUnderflow();
      else this.stackOverflow();
      if (this.finish()) {
        this.setSt(0, INDEFINITE);
        if (pushes) this.push(INDEFINITE);
      }
      this.sw &= ~C2;
      return;
    }
    const r = trig(this.env, this.st(0), which);
    if (r.outOfRange) {
      this.finish();
      this.sw |= C2;
      return;
    }
    if (!this.finish()) return;
    this.sw &= ~C2;
    if (which === TRIG_SIN) this.setSt(0, r.sin);
    else if (which === TRIG_COS) this.setSt(0, r.cos);
    else if (which & TRIG_TAN) {
      this.setSt(0, r.tan);
      this.push(isNaNKind(classify(r.tan)) ? r.tan : POS_ONE);
    } else {
      this.setSt(0, r.sin);
      this.push(r.cos);
    }
  }

  /** FXTRACT: ST(0) := exponent, then push significand. */
  private fxtract(): void {
    if (this.isEmpty(0) || !this.isEmpty(7)) {
      if (this.isEmpty(0)) this.stackUnderflow();
      else this.stackOverflow();
      if (this.finish()) {
        this.setSt(0, INDEFINITE);
        this.push(INDEFINITE);
      }
      return;
    }
    const a = this.st(0);
    const k = classify(a);
    let e: F80;
    let s: F80;
    if (k === K_UNSUPPORTED) {
      this.env.flags |= IE;
      e = s = INDEFINITE;
    } else if (isNaNKind(k)) {
      e = s = propagateNaN(this.env, a, null);
    } else if (k === K_ZERO) {
      this.env.flags |= ZE;
      e = inf(1);
      s = a;
    } else if (k === K_INF) {
      e = inf(0);
      s = a;
    } else {
      if (k === K_DENORMAL) this.env.flags |= DE;
      const x = extract(a);
      e = fromInt32(x.exp);
      s = x.sig;
    }
    if (!this.finish()) return;
    this.setSt(0, e);
    this.push(s);
  }

  /** FSCALE: ST(0) := ST(0) · 2^trunc(ST(1)). */
  private fscale(): void {
    if (this.isEmpty(0) || this.isEmpty(1)) {
      this.stackUnderflow();
      if (this.finish()) this.setSt(0, INDEFINITE);
      return;
    }
    const env = this.env;
    const a = this.st(0);
    const b = this.st(1);
    const ka = classify(a);
    const kb = classify(b);
    let r: F80;
    if (ka === K_UNSUPPORTED || kb === K_UNSUPPORTED) {
      env.flags |= IE;
      r = INDEFINITE;
    } else if (isNaNKind(ka) || isNaNKind(kb)) {
      r = propagateNaN(env, a, b);
    } else {
      if (ka === K_DENORMAL || kb === K_DENORMAL) env.flags |= DE;
      if (kb === K_INF) {
        if ((ka === K_ZERO && !b.sign) || (ka === K_INF && b.sign)) {
          env.flags |= IE;
          r = INDEFINITE;
        } else if (ka === K_ZERO || ka === K_INF) r = a;
        else r = b.sign ? zero(a.sign) : inf(a.sign);
      } else if (ka === K_ZERO || ka === K_INF) {
        r = a;
      } else {
        let n = 0;
        if (kb !== K_ZERO) {
          const e = (b.exp || 1) - BIAS;
          if (e > 30) n = b.sign ? -0x10000 : 0x10000;
          else if (e >= 0) {
            const mag = b.hi >>> (31 - e);
            n = b.sign ? -mag : mag;
          }
        }
        r = scaleFinite(env, a, n);
      }
    }
    if (this.finish()) this.setSt(0, r);
  }

  /** FPREM (`ieee` false) and FPREM1: ST(0) := remainder of ST(0)/ST(1); C2 = incomplete. */
  private remainder(ieee: boolean): void {
    if (this.isEmpty(0) || this.isEmpty(1)) {
      this.stackUnderflow();
      if (this.finish()) this.setSt(0, INDEFINITE);
      this.sw &= ~C2;
      return;
    }
    const r = fprem(this.env, this.st(0), this.st(1), ieee);
    // No remainder (NaN result, or an unmasked IE/DE stopped the instruction): C2 = 0,
    // C1 = 0 (set by finish), C0 and C3 unchanged.
    const write = this.finish();
    if (write) this.setSt(0, r.value);
    if (!write || !r.valid) {
      this.sw &= ~C2;
      return;
    }
    // Partial remainder: C2 = 1 and C0, C3, C1 = 0. Complete: C0, C3, C1 = Q2, Q1, Q0.
    if (r.incomplete) this.setCC(false, true, false, false);
    else {
      const q = r.quotient;
      this.setCC((q & 2) !== 0, false, (q & 1) !== 0, (q & 4) !== 0);
    }
  }
}

/** Control instructions leave FIP/FCS/FOP/FDP/FDS alone (SDM vol. 1 §8.1.8). */
function isControl(op: number, modrm: number): boolean {
  const mem = modrm < 0xc0;
  const reg = (modrm >> 3) & 7;
  if (op === 1) return mem && reg >= 4;
  if (op === 3) return !mem && modrm >= 0xe0 && modrm <= 0xe4;
  if (op === 5) return mem && (reg === 4 || reg === 6 || reg === 7);
  if (op === 7) return modrm === 0xe0;
  return false;
}

// Re-exported for tests and the CPU.
export { FpEnv, fromInt, fromInt32, fromInt64, CMP_GT, UE, OE };
