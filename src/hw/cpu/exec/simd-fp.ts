// SSE, SSE2 and SSE3 floating-point instructions (Intel SDM vol. 2; vol. 1 §10.4, §11.4,
// §12.3): packed and scalar arithmetic, comparisons and conversions. The numbers are
// src/hw/sse/simd-float.ts; this file moves operands and ends each instruction through
// simdFinish (#XM, MXCSR flags) before anything is written.

import type { Cpu } from "../cpu.js";
import type { Handler, Instr } from "../instr.js";
import * as F from "../eflags.js";
import { FOp, isNaN32, isNaN64, valueOf32, valueOf64 } from "../../sse/simd-float.js";
import type { Vec } from "../../sse/simd-state.js";
import {
  readGpr, readMem, readQ, readW, readXmm, rexW, simdFinish, sseCheck, sseMmxCheck, writeGpr, writeMmx, writeXmm,
} from "./simd.js";

export { FOp };

/** ps: four singles; pd: two doubles; ss/sd: the low element, the rest of the destination kept. */
export type FKind = "ps" | "pd" | "ss" | "sd";

const MEM_BYTES: Record<FKind, number> = { ps: 16, pd: 16, ss: 4, sd: 8 };

/** Read the destination into a and the source into b, and start the floating-point unit. */
function operands(cpu: Cpu, i: Instr, kind: FKind): void {
  sseCheck(cpu, i);
  const s = cpu.simd;
  readXmm(cpu, i.reg, s.a);
  readW(cpu, i, s.b, MEM_BYTES[kind], kind === "ps" || kind === "pd");
  s.r.i32.set(s.a.i32);
  cpu.simdFloat.begin(s.mxcsr);
}

function finish(cpu: Cpu, i: Instr): void {
  simdFinish(cpu);
  writeXmm(cpu, i.reg, cpu.simd.r);
}

function arith32(cpu: Cpu, op: FOp, r: Vec, k: number, x: number, y: number): void {
  r.i32[k] = cpu.simdFloat.arith32(op, x, y);
}
function arith64(cpu: Cpu, op: FOp, r: Vec, k: number, a: Vec, ka: number, b: Vec, kb: number): void {
  const sf = cpu.simdFloat;
  r.i32[k] = sf.arith64(op, a.i32[ka + 1], a.i32[ka], b.i32[kb + 1], b.i32[kb]);
  r.i32[k + 1] = sf.hi;
}

/** ADD, SUB, MUL, DIV, MIN, MAX, SQRT in each form. */
export function arith(op: FOp, kind: FKind): Handler {
  return (cpu, i) => {
    operands(cpu, i, kind);
    const { a, b, r } = cpu.simd;
    switch (kind) {
      case "ps": for (let k = 0; k < 4; k++) arith32(cpu, op, r, k, a.i32[k], b.i32[k]); break;
      case "ss": arith32(cpu, op, r, 0, a.i32[0], b.i32[0]); break;
      case "pd": arith64(cpu, op, r, 0, a, 0, b, 0); arith64(cpu, op, r, 2, a, 2, b, 2); break;
      default: arith64(cpu, op, r, 0, a, 0, b, 0);
    }
    finish(cpu, i);
  };
}

/** SSE3 HADDPS/HSUBPS, HADDPD/HSUBPD: pairs within each source. */
export function horizontal(op: FOp, kind: "ps" | "pd"): Handler {
  return (cpu, i) => {
    operands(cpu, i, kind);
    const { a, b, r } = cpu.simd;
    if (kind === "ps") {
      const x = [a.i32[0], a.i32[1], a.i32[2], a.i32[3], b.i32[0], b.i32[1], b.i32[2], b.i32[3]];
      for (let k = 0; k < 4; k++) arith32(cpu, op, r, k, x[2 * k], x[2 * k + 1]);
    } else {
      arith64(cpu, op, r, 0, a, 0, a, 2);
      arith64(cpu, op, r, 2, b, 0, b, 2);
    }
    finish(cpu, i);
  };
}

/** SSE3 ADDSUBPS/ADDSUBPD: even elements subtract, odd ones add. */
export function addsub(kind: "ps" | "pd"): Handler {
  return (cpu, i) => {
    operands(cpu, i, kind);
    const { a, b, r } = cpu.simd;
    if (kind === "ps") for (let k = 0; k < 4; k++) arith32(cpu, k & 1 ? FOp.Add : FOp.Sub, r, k, a.i32[k], b.i32[k]);
    else { arith64(cpu, FOp.Sub, r, 0, a, 0, b, 0); arith64(cpu, FOp.Add, r, 2, a, 2, b, 2); }
    finish(cpu, i);
  };
}

/** CMPPS/CMPPD/CMPSS/CMPSD: all ones where the predicate (imm8[2:0]) holds. */
export function cmp(kind: FKind): Handler {
  return (cpu, i) => {
    operands(cpu, i, kind);
    const { a, b, r } = cpu.simd;
    const sf = cpu.simdFloat, p = i.imm & 7;
    const n = kind === "ps" ? 4 : kind === "ss" ? 1 : 0;
    for (let k = 0; k < n; k++) r.i32[k] = sf.compare32(a.i32[k], b.i32[k], p) ? -1 : 0;
    const m = kind === "pd" ? 2 : kind === "sd" ? 1 : 0;
    for (let k = 0; k < 2 * m; k += 2) {
      const t = sf.compare64(a.i32[k + 1], a.i32[k], b.i32[k + 1], b.i32[k], p) ? -1 : 0;
      r.i32[k] = t; r.i32[k + 1] = t;
    }
    finish(cpu, i);
  };
}

/** COMISS/UCOMISS/COMISD/UCOMISD: ZF, PF, CF from the comparison; OF, SF, AF cleared. */
export function comis(double: boolean, signalQNaN: boolean): Handler {
  return (cpu, i) => {
    operands(cpu, i, double ? "sd" : "ss");
    const { a, b } = cpu.simd;
    const sf = cpu.simdFloat;
    const z = double
      ? sf.comis64(a.i32[1], a.i32[0], b.i32[1], b.i32[0], signalQNaN)
      : sf.comis32(a.i32[0], b.i32[0], signalQNaN);
    simdFinish(cpu);
    cpu.setFlagsMasked((z & 4 ? F.ZF : 0) | (z & 2 ? F.PF : 0) | (z & 1 ? F.CF : 0), F.ARITH);
  };
}

/** RCPPS/RCPSS/RSQRTPS/RSQRTSS (no flags, no exceptions). */
export function approx(rsqrt: boolean, packed: boolean): Handler {
  return (cpu, i) => {
    operands(cpu, i, packed ? "ps" : "ss");
    const { b, r } = cpu.simd;
    for (let k = 0; k < (packed ? 4 : 1); k++) r.i32[k] = cpu.simdFloat.approx32(b.i32[k], rsqrt);
    writeXmm(cpu, i.reg, r);
  };
}

// ---- Conversions (0F 2A, 2C, 2D, 5A, 5B, E6) ----

/** CVTSI2SS/CVTSI2SD Vx, Ey: the low element from a 32- or 64-bit (REX.W) integer. */
export function cvtsi2s(double: boolean): Handler {
  return (cpu, i) => {
    sseCheck(cpu, i);
    const s = cpu.simd, sf = cpu.simdFloat, wide = rexW(i);
    let lo: number, hi = 0;
    if (i.hasMem) { readMem(cpu, i, s.b, wide ? 8 : 4, false); lo = s.b.i32[0]; hi = s.b.i32[1]; }
    else { lo = readGpr(cpu, i.rm, wide); hi = cpu.hi; }
    readXmm(cpu, i.reg, s.r);
    sf.begin(s.mxcsr);
    if (double) { s.r.i32[0] = sf.intTo64(lo, hi, wide); s.r.i32[1] = sf.hi; }
    else s.r.i32[0] = sf.intTo32(lo, hi, wide);
    finish(cpu, i);
  };
}

/** The value of element k of v as a single (k counts dwords) or double (k counts dword pairs). */
function elementValue(v: Vec, k: number, double: boolean): { x: number; nan: boolean; den: boolean } {
  if (double) {
    const hi = v.i32[2 * k + 1], lo = v.i32[2 * k];
    return { x: valueOf64(hi, lo), nan: isNaN64(hi, lo), den: (hi & 0x7ff00000) === 0 && ((hi & 0xfffff) | lo) !== 0 };
  }
  const b = v.i32[k];
  return { x: valueOf32(b), nan: isNaN32(b >>> 0), den: (b & 0x7f800000) === 0 && (b & 0x7fffff) !== 0 };
}

/** CVT(T)SS2SI/CVT(T)SD2SI Gy, Wss/Wsd. */
export function cvts2si(double: boolean, truncate: boolean): Handler {
  return (cpu, i) => {
    sseCheck(cpu, i);
    const s = cpu.simd, sf = cpu.simdFloat, wide = rexW(i);
    readW(cpu, i, s.b, double ? 8 : 4, false);
    sf.begin(s.mxcsr);
    const e = elementValue(s.b, 0, double);
    const lo = sf.toInt(e.x, e.nan, e.den, truncate, wide);
    simdFinish(cpu);
    writeGpr(cpu, i, i.reg, lo, sf.hi, wide);
  };
}

/**
 * The packed conversions between singles, doubles and dword integers, in XMM registers
 * (`mmx` false) or between XMM and MMX (CVTPI2PS …). `from`/`to`: "ps", "pd", "dq" (dword
 * integers), "pi" (dword integers in an MMX register or 8 bytes of memory).
 */
export function cvtPacked(from: "ps" | "pd" | "dq" | "pi", to: "ps" | "pd" | "dq" | "pi", truncate = false): Handler {
  const srcBytes = from === "pi" ? 8 : from === "ps" && to === "pd" ? 8 : from === "dq" && to === "pd" ? 8 : from === "ps" && to === "pi" ? 8 : 16;
  const conversion = `${from}>${to}`;
  return (cpu, i) => {
    sseMmxCheck(cpu, i, from === "pi" ? !i.hasMem : to === "pi");
    const s = cpu.simd, sf = cpu.simdFloat;
    if (from === "pi") readQ(cpu, i, s.b, 8);
    else readW(cpu, i, s.b, srcBytes, srcBytes === 16);
    if (to === "pi") s.r.i32.fill(0); else readXmm(cpu, i.reg, s.r);
    sf.begin(s.mxcsr);
    const b = s.b, r = s.r;
    switch (conversion) {
      case "dq>ps": for (let k = 0; k < 4; k++) r.i32[k] = sf.intTo32(b.i32[k], 0, false); break;
      case "pi>ps": for (let k = 0; k < 2; k++) r.i32[k] = sf.intTo32(b.i32[k], 0, false); break;
      case "dq>pd": case "pi>pd":
        for (let k = 1; k >= 0; k--) { r.i32[2 * k] = sf.intTo64(b.i32[k], 0, false); r.i32[2 * k + 1] = sf.hi; }
        break;
      case "ps>dq": case "ps>pi": case "pd>dq": case "pd>pi": {
        const double = from === "pd", n = double ? 2 : to === "pi" ? 2 : 4;
        const out = [0, 0, 0, 0];
        for (let k = 0; k < n; k++) { const e = elementValue(b, k, double); out[k] = sf.toInt(e.x, e.nan, e.den, truncate, false); }
        for (let k = 0; k < 4; k++) r.i32[k] = k < n ? out[k] : to === "dq" ? 0 : r.i32[k];
        break;
      }
      case "ps>pd": {
        const x0 = b.i32[0], x1 = b.i32[1];
        r.i32[0] = sf.single2double(x0); r.i32[1] = sf.hi;
        r.i32[2] = sf.single2double(x1); r.i32[3] = sf.hi;
        break;
      }
      case "pd>ps":
        r.i32[0] = sf.double2single(b.i32[1], b.i32[0]);
        r.i32[1] = sf.double2single(b.i32[3], b.i32[2]);
        r.i32[2] = 0; r.i32[3] = 0;
        break;
    }
    simdFinish(cpu);
    if (to === "pi") writeMmx(cpu, i.reg, r); else writeXmm(cpu, i.reg, r);
  };
}

/** CVTSS2SD / CVTSD2SS: the low element, the rest of the destination kept. */
export function cvtScalar(toDouble: boolean): Handler {
  return (cpu, i) => {
    operands(cpu, i, toDouble ? "ss" : "sd");
    const { b, r } = cpu.simd;
    const sf = cpu.simdFloat;
    if (toDouble) { r.i32[0] = sf.single2double(b.i32[0]); r.i32[1] = sf.hi; }
    else r.i32[0] = sf.double2single(b.i32[1], b.i32[0]);
    finish(cpu, i);
  };
}

