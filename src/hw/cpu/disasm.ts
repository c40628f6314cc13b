// Disassembler: Intel syntax from the opcode table and a decoded Instr (the same table the
// interpreter runs). Used by --trace, tests and error messages.
//
// `operandsOf` turns the table's operand notation (SDM vol. 2 appendix A.2, see the header of
// opcode-table.ts) into structured operands; `disassemble` prints them. The structured form is
// what test/decoder/iced-oracle.test.ts compares against iced-x86, so the printed text and the
// checked decode cannot drift apart.

import type { Instr } from "./instr.js";
import { Rep } from "./instr.js";
import { SEG_NAMES } from "./segment.js";

const R32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
const R16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"];
const R8 = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"];

/** A decoded operand, in a form independent of any particular syntax. */
export type DisOperand =
  | { kind: "reg"; reg: string }
  /**
   * Memory: `seg` is the effective segment (override or default), `size` in bytes (0 = not
   * an access, e.g. LEA), `disp` already truncated to the address size. `str` marks the
   * implicit operands of string instructions ([esi] / es:[edi]).
   */
  | { kind: "mem"; size: number; seg: string; base: string; index: string; scale: number; disp: number; str: boolean }
  /** Immediate, `value` zero-extended from `bits` (sign-extension to the operand size already applied). */
  | { kind: "imm"; value: number; bits: 8 | 16 | 32 }
  | { kind: "near"; target: number; bits: 16 | 32 }
  | { kind: "far"; selector: number; offset: number; bits: 16 | 32 };

function hex(v: number): string {
  return "0x" + (v >>> 0).toString(16);
}

/** A 64-bit value held as a number (a canonical address, a sign-extended immediate). */
function hex64(v: number): string {
  return "0x" + BigInt.asUintN(64, BigInt(Math.trunc(v))).toString(16);
}

/** The mnemonic for this instruction's operand size ("cbw/cwde" → one of them). */
/** 64-bit operand-size names of the "a/b" rows (SDM vol. 2: CDQE, CQO, IRETQ, MOVSQ …). */
const NAME64: Record<string, string> = {
  "cbw/cwde": "cdqe", "cwd/cdq": "cqo", "iret/iretd": "iretq", "pushf/pushfd": "pushfq", "popf/popfd": "popfq",
  "movsw/movsd": "movsq", "cmpsw/cmpsd": "cmpsq", "stosw/stosd": "stosq", "lodsw/lodsd": "lodsq", "scasw/scasd": "scasq",
};

export function mnemonicOf(i: Instr): string {
  const m = i.def.mnemonic;
  if (i.code64 && i.opcode === 0x90 && i.rm !== 0) return "xchg"; // REX.B 90: XCHG R8, rAX
  if (i.code64 && i.opcode === 0x0fc7 && ((i.modrm >> 3) & 7) === 1 && (i.rex & 8) !== 0) return "cmpxchg16b";
  if (i.code64 && i.opcode === 0x0f07 && (i.rex & 8) !== 0) return "sysretq";
  // MOVD with REX.W moves 64 bits: MOVQ (SDM vol. 2 "MOVD/MOVQ").
  if (i.code64 && m === "movd" && (i.rex & 8) !== 0) return "movq";
  if (i.code64 && (m === "fxsave" || m === "fxrstor") && (i.rex & 8) !== 0) return m + "64";
  const slash = m.indexOf("/");
  if (slash < 0) return m;
  if (i.code64) {
    if (i.opcode === 0xe3) return i.adsize64 ? "jrcxz" : "jecxz";
    if (i.osz === 8 && NAME64[m] !== undefined) return NAME64[m];
  }
  // JCXZ/JECXZ tests CX or ECX: chosen by the address size, not the operand size.
  const wide = i.opcode === 0xe3 ? i.adsize32 : i.opsize32;
  return wide ? m.slice(slash + 1) : m.slice(0, slash);
}

/** Memory operand sizes in bytes, by table notation (opsize-dependent ones handled below). */
const MEM_SIZE: Record<string, number> = {
  Mb: 1, Eb: 1, Ew: 2, Ed: 4, "Mw/Rv": 2, M: 0, Ms: 6, Mq: 8, Ob: 1,
  m32fp: 4, m64fp: 8, m80fp: 10, m16int: 2, m32int: 4, m64int: 8, m80bcd: 10, m2byte: 2,
};

/** Memory sizes of the SIMD operands by their size suffix (opcode-table.ts, MMX/SSE section). */
const SIMD_SIZE: Record<string, number> = { ps: 16, pd: 16, x: 16, ss: 4, d: 4, sd: 8, q: 8 };

function memSize(i: Instr, o: string): number {
  if (/^[WQM][a-z]+$/.test(o) && SIMD_SIZE[o.slice(1)] !== undefined) return SIMD_SIZE[o.slice(1)];
  switch (o) {
    case "Ey": case "My": return i.code64 && (i.rex & 8) !== 0 ? 8 : 4;
    case "Rd/Mw": return 2;
    case "M512": return 512;
    case "Ev": case "Ov": case "Xv": case "Yv": return i.code64 ? i.osz : i.opsize32 ? 4 : 2;
    case "Ma": return i.opsize32 ? 8 : 4;
    case "Mp": return i.opsize32 ? 6 : 4;
    case "m14/28byte": return i.opsize32 ? 28 : 14;
    case "m94/108byte": return i.opsize32 ? 108 : 94;
    case "Xb": case "Yb": return 1;
    default: return MEM_SIZE[o] ?? 0;
  }
}

function memOperand(i: Instr, size: number): DisOperand {
  const regs = i.adsize32 ? R32 : R16;
  const name = (r: number): string => (i.code64 ? reg64Name(r, i.adsize64 ? 8 : 4, 1) : regs[r]);
  return {
    kind: "mem", size, seg: SEG_NAMES[i.seg], str: false,
    base: i.eaBase >= 0 ? name(i.eaBase) : i.eaBase === -2 ? "rip" : "",
    index: i.eaIndex >= 0 ? name(i.eaIndex) : "",
    scale: i.eaIndex >= 0 ? 1 << i.eaScale : 0,
    disp: i.adsize32 ? i.disp >>> 0 : i.disp & 0xffff,
  };
}

/** String-instruction operand: DS:[eSI] (segment overridable) or ES:[eDI] (never). */
function strOperand(i: Instr, src: boolean, size: number): DisOperand {
  return {
    kind: "mem", size, seg: src ? SEG_NAMES[i.seg] : "es", str: true,
    base: (i.adsize32 ? R32 : R16)[src ? 6 : 7], index: "", scale: 0, disp: 0,
  };
}

const reg = (r: string): DisOperand => ({ kind: "reg", reg: r });
const R8_REX = ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil"];
/** A register of `size` bytes in 64-bit mode: rax…r15, eax…r15d, ax…r15w, al…r15b (AH…BH without REX). */
function reg64Name(n: number, size: number, rex: number): string {
  if (n >= 8) return `r${n}${size === 8 ? "" : size === 4 ? "d" : size === 2 ? "w" : "b"}`;
  switch (size) {
    case 8: return ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"][n];
    case 4: return R32[n];
    case 2: return R16[n];
    default: return rex !== 0 ? R8_REX[n] : R8[n];
  }
}
const R64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"];
/** A 32- or 64-bit general register by number (REX-extended ones are r8d…r15d, r8…r15). */
const gpr = (n: number, wide: boolean): string => (n < 8 ? (wide ? R64 : R32)[n] : `r${n}${wide ? "" : "d"}`);

/**
 * The operands of `i`, located at `eip`, in table order. Implicit operands the table names
 * (string-instruction memory, AL/DX/CL/1 …) are included; nothing else is.
 */
export function operandsOf(i: Instr, eip: number): DisOperand[] {
  const out: DisOperand[] = [];
  // In 64-bit mode the "v" registers follow the operand size (16/32/64) and REX names r8–r15.
  const v = i.code64 ? Array.from({ length: 16 }, (_, n) => reg64Name(n, i.osz === 1 ? 4 : i.osz, i.rex)) : i.opsize32 ? R32 : R16;
  const b8 = i.code64 ? Array.from({ length: 16 }, (_, n) => reg64Name(n, 1, i.rex)) : R8;
  const vbits = i.opsize32 ? 32 : 16;
  let immIndex = 0;
  const nextImm = (): number => (immIndex++ === 0 ? i.imm : i.imm2);
  for (const o of i.def.operands) {
    const mem = (): DisOperand => memOperand(i, memSize(i, o));
    let r: DisOperand;
    switch (o) {
      case "Eb": r = i.hasMem ? mem() : reg(b8[i.rm]); break;
      case "Ew": r = i.hasMem ? mem() : reg(R16[i.rm]); break;
      case "Ed": r = i.hasMem ? mem() : reg(R32[i.rm]); break;
      case "Ev": r = i.hasMem ? mem() : reg(v[i.rm]); break;
      case "Mw/Rv": r = i.hasMem ? mem() : reg(v[i.rm]); break;
      case "Gb": r = reg(b8[i.reg]); break;
      case "Gw": r = reg(R16[i.reg]); break;
      case "Gv": r = reg(v[i.reg]); break;
      case "Rd": r = reg(R32[i.rm]); break;
      case "Cd": r = reg("cr" + i.reg); break;
      case "Dd": r = reg("dr" + i.reg); break;
      case "Sw": r = reg(SEG_NAMES[i.reg] ?? "?s"); break;
      case "Ib": r = { kind: "imm", value: nextImm() & 0xff, bits: 8 }; break;
      case "Iw": r = { kind: "imm", value: nextImm() & 0xffff, bits: 16 }; break;
      case "Iz": case "Ibs": {
        const x = nextImm();
        r = { kind: "imm", value: i.code64 && i.osz === 8 ? x : i.opsize32 ? x >>> 0 : x & 0xffff, bits: vbits };
        break;
      }
      case "Jb": case "Jz": {
        const t = eip + i.len + nextImm();
        r = { kind: "near", target: i.code64 ? t : i.opsize32 ? t >>> 0 : t & 0xffff, bits: vbits };
        break;
      }
      case "Ap":
        r = { kind: "far", selector: i.imm2 & 0xffff, offset: i.opsize32 ? i.imm >>> 0 : i.imm & 0xffff, bits: vbits };
        immIndex = 2;
        break;
      case "Zb": r = reg(b8[i.code64 ? i.rm : i.opcode & 7]); break;
      case "Zv": r = reg(v[i.code64 ? i.rm : i.opcode & 7]); break;
      case "AL": case "CL": case "DX": case "AX": r = reg(o.toLowerCase()); break;
      case "eAX": r = reg(v[0]); break;
      case "1": r = { kind: "imm", value: 1, bits: 8 }; break;
      case "ES": case "CS": case "SS": case "DS": case "FS": case "GS": r = reg(o.toLowerCase()); break;
      case "ST": r = reg("st(0)"); break;
      case "STi": r = reg("st(" + i.rm + ")"); break;
      case "Xb": case "Xv": r = strOperand(i, true, memSize(i, o)); break;
      case "Ey": r = i.hasMem ? mem() : reg(gpr(i.rm, i.code64 && (i.rex & 8) !== 0)); break;
      case "Gy": r = reg(gpr(i.reg, i.code64 && (i.rex & 8) !== 0)); break;
      case "Gd": r = reg(gpr(i.reg, false)); break;
      case "Rd/Mw": r = i.hasMem ? mem() : reg(gpr(i.rm, false)); break;
      case "Yb": case "Yv": r = strOperand(i, false, memSize(i, o)); break;
      default:
        // SIMD registers: V/U (XMM by reg/rm), P/N (MMX), W/Q (register or memory).
        if (/^[VUWPNQ]/.test(o) && !(i.hasMem && (o[0] === "W" || o[0] === "Q"))) {
          const xmm = o[0] === "V" || o[0] === "U" || o[0] === "W";
          const n = o[0] === "V" || o[0] === "P" ? i.reg : i.rm;
          r = reg(xmm ? "xmm" + n : "mm" + (n & 7));
        } else r = mem(); // M, Ma, Mp, Ms, Mq, Ob, Ov, the x87 and SIMD memory forms
        break;
    }
    out.push(r);
  }
  return out;
}

const SIZE_PTR: Record<number, string> = { 1: "byte", 2: "word", 4: "dword", 6: "fword", 8: "qword", 10: "tbyte", 16: "xmmword" };

/** One operand in Intel syntax: `dword ptr fs:[ebp-0x8]`, `st(1)`, `0x8:0x1000`. */
export function operandText(op: DisOperand, i: Instr): string {
  switch (op.kind) {
    case "reg": return op.reg;
    case "imm": return i.code64 && op.value < 0 ? hex64(op.value) : hex(op.value);
    case "near": return i.code64 ? hex64(op.target) : hex(op.target);
    case "far": return hex(op.selector) + ":" + hex(op.offset);
    case "mem": {
      let s = op.base;
      if (op.index !== "") s += (s ? "+" : "") + op.index + (op.scale > 1 ? "*" + op.scale : "");
      const bits = i.adsize32 ? 32 : 16;
      const signed = bits === 32 ? op.disp | 0 : (op.disp << 16) >> 16;
      if (s === "") s = hex(op.disp);
      else if (signed < 0) s += "-" + hex(-signed);
      else if (signed > 0) s += "+" + hex(signed);
      const seg = i.segOverride >= 0 || op.str ? op.seg + ":" : "";
      const size = SIZE_PTR[op.size];
      return (size ? size + " ptr " : "") + seg + "[" + s + "]";
    }
  }
}

/**
 * Disassemble `i`, located at `eip` (so relative branches print their target). String
 * instructions print in the short form (`rep movsd`) unless a segment override makes the
 * operands worth showing.
 */
export function disassemble(i: Instr, eip: number): string {
  let m = mnemonicOf(i);
  if (i.rep !== Rep.None && i.def.rep !== undefined) {
    m = (i.def.rep === "c" ? (i.rep === Rep.RepE ? "repe " : "repne ") : "rep ") + m;
  }
  if (i.lock) m = "lock " + m;
  const strOp = i.def.rep !== undefined;
  const ops = operandsOf(i, eip)
    .filter((op) => !(strOp && i.segOverride < 0 && (op.kind === "mem" || op.kind === "reg")))
    .map((op) => operandText(op, i));
  return ops.length ? m + " " + ops.join(",") : m;
}
