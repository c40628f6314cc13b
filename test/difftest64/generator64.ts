// The 64-bit difftest's cases: random user-mode sequences of integer instructions in 64-bit
// mode, encoded here byte by byte so every REX form (W, R, X, B, and the bare 40h that turns
// AH…BH into SPL…DIL), 66h, RIP-relative and base+displacement memory operands occur, at
// operand sizes 8, 16, 32 and 64. The generator does not know register values: the host
// CPU decides what each encoding does, and the model must agree.
//
// Registers: R15 holds DATA_VA (the base of memory operands) and RSP points into the data
// image; neither is an operand. Undefined flags (SDM vol. 2 "Flags Affected") are tracked:
// before an instruction that reads flags, a CMP defines them again; at the end the still
// undefined ones are masked. Nothing here faults: divisions get a non-zero divisor other than
// -1 and a dividend that cannot overflow; memory operands stay in the data image.

import { Rng } from "../fuzz/rng.js";
import { CODE_MAX, CODE_VA, DATA_SIZE, DATA_VA, RET_SLOT, type Case64Input } from "./native64.js";
import { SSE_ROWS, f32Bits, f64Words, opcodeBytes, simdBytes } from "../difftest/simd-values.js";

export const CF = 0x1, PF = 0x4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
const ALL = CF | PF | AF | ZF | SF | OF;

export const GROUPS64 = ["alu", "unary", "mov", "shift", "bit", "muldiv", "cond", "stack", "string", "sse", "x87"] as const;
const INTEGER_GROUPS = GROUPS64.filter((g) => g !== "sse" && g !== "x87");
/** SSE cases: initial XMM0–15, MM0–7 and MXCSR at these data offsets, the FXSAVE image at the last. */
export const SSE_INIT = 0xa00, FXSAVE_AT = 0xc00;
export type Group64 = (typeof GROUPS64)[number];

export interface Case64 {
  input: Case64Input;
  codeLen: number;
  /** Flags still undefined at the end (masked in the comparison). */
  undefinedFlags: number;
  /** Each instruction's bytes, for the report. */
  listing: string[];
  group: Group64;
  index: number;
}

/**
 * FXSAVE bytes a case does not compare (see ../difftest/engine.ts): the x87 pointers and
 * MXCSR_MASK; x87 cases also leave MXCSR and the XMM registers alone, which keep whatever the
 * cases before left (natively a fresh runner per batch, in the model one machine for all).
 */
export function fxsaveIgnored(o: number, group: Group64): boolean {
  if (group === "x87" && ((o >= 24 && o < 28) || o >= 160)) return true;
  return (o >= 6 && o < 24) || (o >= 28 && o < 32) || o >= 416;
}

/** General registers a case may use as operands: not RSP (4), not R15 (the data base). */
const POOL = [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
const R15 = 15;

class Emitter {
  bytes: number[] = [];
  listing: string[] = [];
  undef = 0;
  constructor(readonly rng: Rng) {}

  /** One instruction: prefixes, REX, opcode, ModR/M operand, immediate bytes. */
  insn(parts: { pre?: number[]; p66?: boolean; rex?: number; forceRex?: boolean; op: number[]; modrm?: { reg: number; rm: Rm }; imm?: number[] }): void {
    const start = this.bytes.length;
    const out: number[] = [...(parts.pre ?? [])];
    if (parts.p66) out.push(0x66);
    let rex = parts.rex ?? 0;
    let tail: number[] = [];
    let ripFix = -1;
    if (parts.modrm) {
      const { reg, rm } = parts.modrm;
      if (reg & 8) rex |= 4;
      if (rm.kind === "reg") {
        if (rm.r & 8) rex |= 1;
        tail = [0xc0 | ((reg & 7) << 3) | (rm.r & 7)];
      } else if (rm.kind === "r15") {
        rex |= 1;
        tail = [0x40 | ((reg & 7) << 3) | 7, rm.disp & 0xff];
      } else {
        tail = [((reg & 7) << 3) | 5, 0, 0, 0, 0];
        ripFix = 1;
      }
    }
    if (rex !== 0 || parts.forceRex) out.push(0x40 | rex);
    out.push(...parts.op);
    const modrmAt = out.length;
    out.push(...tail);
    out.push(...(parts.imm ?? []));
    if (ripFix >= 0 && parts.modrm?.rm.kind === "rip") {
      // disp32 = target − address of the next instruction.
      const next = CODE_VA + start + out.length;
      const d = (DATA_VA + parts.modrm.rm.off) - next;
      for (let k = 0; k < 4; k++) out[modrmAt + 1 + k] = (d >> (8 * k)) & 0xff;
    }
    this.bytes.push(...out);
    this.listing.push(out.map((b) => b.toString(16).padStart(2, "0")).join(" "));
  }

  /** A CMP that defines all six flags again (if any is undefined). */
  defineFlags(): void {
    if (this.undef === 0) return;
    this.insn({ rex: 8, op: [0x39], modrm: { reg: this.reg(), rm: { kind: "reg", r: this.reg() } } });
    this.undef = 0;
  }

  reg(): number { return this.rng.pick(POOL); }
  size(): number { return this.rng.pick([1, 2, 4, 8]); }
  /** A register or memory operand of `size` bytes. */
  rm(size: number, allowMem = true): Rm {
    const k = this.rng.int(allowMem ? 4 : 2);
    if (k < 2) return { kind: "reg", r: this.reg() };
    const off = this.rng.int(0x400 - 16) & ~(size > 1 && this.rng.int(4) !== 0 ? size - 1 : 0);
    return k === 2 ? { kind: "r15", disp: off & 0x7f, off: off & 0x7f } : { kind: "rip", off: 0x400 + off };
  }
  imm(n: number): number[] { return Array.from({ length: n }, () => this.rng.int(256)); }
}

type Rm = { kind: "reg"; r: number } | { kind: "r15"; disp: number; off: number } | { kind: "rip"; off: number };

/** Size prefixes: 66h for 16-bit, REX.W for 64-bit; the byte form uses opcode − 1 (or a separate one). */
function sz(size: number): { p66: boolean; rex: number } {
  return { p66: size === 2, rex: size === 8 ? 8 : 0 };
}
/** A bare REX sometimes on byte forms, so SPL…DIL appear as well as AH…BH. */
const maybeRex = (e: Emitter, size: number): boolean => size === 1 && e.rng.int(2) === 0;

function genAlu(e: Emitter): void {
  const size = e.size(), op = e.rng.int(8);
  if (op === 2 || op === 3) e.defineFlags(); // ADC/SBB read CF
  const k = e.rng.int(4);
  const base = op << 3;
  if (k === 0) e.insn({ ...sz(size), forceRex: maybeRex(e, size), op: [base + (size === 1 ? 0 : 1)], modrm: { reg: e.reg(), rm: e.rm(size) } });
  else if (k === 1) e.insn({ ...sz(size), forceRex: maybeRex(e, size), op: [base + (size === 1 ? 2 : 3)], modrm: { reg: e.reg(), rm: e.rm(size) } });
  else if (k === 2) {
    const opc = size === 1 ? 0x80 : e.rng.int(2) ? 0x83 : 0x81;
    const immLen = opc === 0x81 ? (size === 2 ? 2 : 4) : 1;
    e.insn({ ...sz(size), forceRex: maybeRex(e, size), op: [opc], modrm: { reg: op, rm: e.rm(size) }, imm: e.imm(immLen) });
  } else {
    e.insn({ ...sz(size), op: [base + (size === 1 ? 4 : 5)], imm: e.imm(size === 1 ? 1 : size === 2 ? 2 : 4) });
  }
  e.undef = op === 1 || op === 4 || op === 6 ? AF : 0;
}

function genUnary(e: Emitter): void {
  const size = e.size(), k = e.rng.int(5);
  const o = size === 1 ? 0 : 1;
  switch (k) {
    case 0: e.insn({ ...sz(size), forceRex: maybeRex(e, size), op: [0xfe + o], modrm: { reg: e.rng.int(2), rm: e.rm(size) } }); e.undef &= ~(PF | AF | ZF | SF | OF); break;
    case 1: e.insn({ ...sz(size), forceRex: maybeRex(e, size), op: [0xf6 + o], modrm: { reg: 2, rm: e.rm(size) } }); break; // NOT
    case 2: e.insn({ ...sz(size), forceRex: maybeRex(e, size), op: [0xf6 + o], modrm: { reg: 3, rm: e.rm(size) } }); e.undef = 0; break; // NEG
    case 3: e.insn({ ...sz(size), forceRex: maybeRex(e, size), op: [0x84 + o], modrm: { reg: e.reg(), rm: e.rm(size) } }); e.undef = AF; break; // TEST
    default: e.insn({ ...sz(size), op: [0xf6 + o], modrm: { reg: 0, rm: e.rm(size) }, imm: e.imm(size === 1 ? 1 : size === 2 ? 2 : 4) }); e.undef = AF; break;
  }
}

function genMov(e: Emitter): void {
  const size = e.size(), k = e.rng.int(9);
  const o = size === 1 ? 0 : 1;
  switch (k) {
    case 0: e.insn({ ...sz(size), forceRex: maybeRex(e, size), op: [0x88 + o], modrm: { reg: e.reg(), rm: e.rm(size) } }); break;
    case 1: e.insn({ ...sz(size), forceRex: maybeRex(e, size), op: [0x8a + o], modrm: { reg: e.reg(), rm: e.rm(size) } }); break;
    case 2: e.insn({ ...sz(size), op: [0xc6 + o], modrm: { reg: 0, rm: e.rm(size) }, imm: e.imm(size === 1 ? 1 : size === 2 ? 2 : 4) }); break;
    case 3: { const r = e.reg(); e.insn({ rex: 8 | (r & 8 ? 1 : 0), op: [0xb8 + (r & 7)], imm: e.imm(8) }); break; } // MOV r64, imm64
    case 4: { // MOVZX / MOVSX from 8 or 16 bits
      const from = e.rng.int(2), to = e.rng.pick([2, 4, 8]);
      e.insn({ ...sz(to), forceRex: from === 0 && e.rng.int(2) === 0, op: [0x0f, (e.rng.int(2) ? 0xbe : 0xb6) + from], modrm: { reg: e.reg(), rm: e.rm(from ? 2 : 1) } });
      break;
    }
    case 5: e.insn({ rex: 8, op: [0x63], modrm: { reg: e.reg(), rm: e.rm(4) } }); break; // MOVSXD
    case 6: { // LEA with any base and index (no memory access)
      const s = e.rng.pick([2, 4, 8]);
      const base = e.rng.int(16), index = e.rng.int(16), scale = e.rng.int(4);
      const rex = (s === 8 ? 8 : 0) | (index & 8 ? 2 : 0) | (base & 8 ? 1 : 0);
      const reg = e.reg();
      const idx = (index & 7) === 4 && !(index & 8) ? 4 : index;
      const bytes = [0x8d, 0x84 | ((reg & 7) << 3), (scale << 6) | ((idx & 7) << 3) | (base & 7), ...e.imm(4)];
      e.insn({ p66: s === 2, rex: rex | (reg & 8 ? 4 : 0), op: bytes });
      break;
    }
    case 7: e.insn({ ...sz(size), forceRex: maybeRex(e, size), op: [0x86 + o], modrm: { reg: e.reg(), rm: e.rm(size) } }); break; // XCHG
    default: { const r = e.reg(); const s = e.rng.pick([4, 8]); e.insn({ rex: (s === 8 ? 8 : 0) | (r & 8 ? 1 : 0), op: [0x0f, 0xc8 + (r & 7)] }); break; } // BSWAP
  }
}

function genShift(e: Emitter): void {
  const size = e.size(), op = e.rng.pick([0, 1, 2, 3, 4, 5, 7]);
  const o = size === 1 ? 0 : 1;
  if (op === 2 || op === 3) e.defineFlags(); // RCL/RCR read CF
  const k = e.rng.int(4);
  if (k === 3 && size >= 4) { // SHLD/SHRD
    const cl = e.rng.int(2) === 0;
    const opc = (e.rng.int(2) ? 0xac : 0xa4) + (cl ? 1 : 0);
    e.insn({ ...sz(size), op: [0x0f, opc], modrm: { reg: e.reg(), rm: e.rm(size) }, imm: cl ? [] : [e.rng.int(size * 8)] });
    e.undef |= AF | OF | (cl ? ALL : 0);
    return;
  }
  if (k === 0) e.insn({ ...sz(size), forceRex: maybeRex(e, size), op: [0xd0 + o], modrm: { reg: op, rm: e.rm(size) } });
  else if (k === 1) e.insn({ ...sz(size), forceRex: maybeRex(e, size), op: [0xd2 + o], modrm: { reg: op, rm: e.rm(size) } });
  else e.insn({ ...sz(size), forceRex: maybeRex(e, size), op: [0xc0 + o], modrm: { reg: op, rm: e.rm(size) }, imm: [e.rng.int(70)] });
  // The count is not known here (CL) or may mask to 0: everything a shift may leave undefined is masked.
  e.undef |= op <= 3 ? OF | (size < 4 ? CF : 0) : AF | OF | (size < 4 ? CF : 0);
}

function genBit(e: Emitter): void {
  const size = e.rng.pick([2, 4, 8]), k = e.rng.int(5);
  if (k <= 1) { // BT/BTS/BTR/BTC r/m, r (register destination only: a register offset reaches far in memory)
    e.insn({ ...sz(size), op: [0x0f, 0xa3 + 8 * e.rng.int(4)], modrm: { reg: e.reg(), rm: e.rm(size, false) } });
    e.undef |= OF | SF | AF | PF;
  } else if (k === 2) { // BT* r/m, imm8
    e.insn({ ...sz(size), op: [0x0f, 0xba], modrm: { reg: 4 + e.rng.int(4), rm: e.rm(size) }, imm: [e.rng.int(256)] });
    e.undef |= OF | SF | AF | PF;
  } else if (k === 3) { // BSF/BSR (the destination is left alone when the source is 0)
    e.insn({ ...sz(size), op: [0x0f, 0xbc + e.rng.int(2)], modrm: { reg: e.reg(), rm: e.rm(size) } });
    e.undef |= CF | OF | SF | AF | PF;
  } else { // CLC STC CMC
    e.defineFlags();
    e.insn({ op: [e.rng.pick([0xf8, 0xf9, 0xf5])] });
  }
}

function genMulDiv(e: Emitter): void {
  const size = e.size(), k = e.rng.int(4);
  const o = size === 1 ? 0 : 1;
  if (k === 0) { // MUL/IMUL one operand
    e.insn({ ...sz(size), forceRex: maybeRex(e, size), op: [0xf6 + o], modrm: { reg: 4 + e.rng.int(2), rm: e.rm(size) } });
    e.undef = SF | ZF | AF | PF;
  } else if (k === 1 && size > 1) { // IMUL r, r/m (, imm)
    const form = e.rng.int(3);
    if (form === 0) e.insn({ ...sz(size), op: [0x0f, 0xaf], modrm: { reg: e.reg(), rm: e.rm(size) } });
    else e.insn({ ...sz(size), op: [form === 1 ? 0x6b : 0x69], modrm: { reg: e.reg(), rm: e.rm(size) }, imm: e.imm(form === 1 ? 1 : size === 2 ? 2 : 4) });
    e.undef = SF | ZF | AF | PF;
  } else { // DIV/IDIV with a safe dividend and a divisor other than 0 and -1
    const signed = e.rng.int(2) === 1;
    const d = e.rng.pick(POOL.filter((r) => r > 2)); // not RAX, RCX, RDX
    let v = e.rng.int(0x7fff_fffe) + 2;
    if (signed && e.rng.int(2)) v = -v;
    e.insn({ rex: 8 | (d & 8 ? 1 : 0), op: [0xc7], modrm: { reg: 0, rm: { kind: "reg", r: d } }, imm: [v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >> 24) & 0xff] });
    if (size === 1) {
      // AX from AL: zero- or sign-extended, so the quotient fits in 8 bits.
      e.insn({ p66: true, op: [0x0f, signed ? 0xbe : 0xb6], modrm: { reg: 0, rm: { kind: "reg", r: 0 } } });
      // The divisor's low byte must be non-zero and not −1: OR it with 2, AND with 0x7f (signed).
      e.insn({ rex: d & 8 ? 1 : 0, forceRex: true, op: [0x80], modrm: { reg: 1, rm: { kind: "reg", r: d } }, imm: [2] });
      if (signed) e.insn({ rex: d & 8 ? 1 : 0, forceRex: true, op: [0x80], modrm: { reg: 4, rm: { kind: "reg", r: d } }, imm: [0x7f] });
    } else if (signed) {
      e.insn({ ...sz(size), op: [0x99] }); // CWD/CDQ/CQO
      if (size === 2) { // the divisor's low word must not be 0 or −1
        e.insn({ p66: true, rex: d & 8 ? 1 : 0, op: [0x83], modrm: { reg: 1, rm: { kind: "reg", r: d } }, imm: [2] });
        e.insn({ p66: true, rex: d & 8 ? 1 : 0, op: [0x81], modrm: { reg: 4, rm: { kind: "reg", r: d } }, imm: [0xff, 0x7f] });
      }
    } else {
      e.insn({ op: [0x31], modrm: { reg: 2, rm: { kind: "reg", r: 2 } } }); // xor edx, edx
      if (size === 2) e.insn({ p66: true, rex: d & 8 ? 1 : 0, op: [0x83], modrm: { reg: 1, rm: { kind: "reg", r: d } }, imm: [2] });
    }
    e.insn({ ...sz(size), forceRex: size === 1, rex: (size === 8 ? 8 : 0) | (d & 8 ? 1 : 0), p66: size === 2, op: [0xf6 + o], modrm: { reg: signed ? 7 : 6, rm: { kind: "reg", r: d } } });
    e.undef = ALL;
  }
}

function genCond(e: Emitter): void {
  e.defineFlags();
  const k = e.rng.int(5), cc = e.rng.int(16);
  if (k === 0) e.insn({ forceRex: e.rng.int(2) === 0, op: [0x0f, 0x90 + cc], modrm: { reg: 0, rm: e.rm(1) } });
  else if (k === 1) { const size = e.rng.pick([2, 4, 8]); e.insn({ ...sz(size), op: [0x0f, 0x40 + cc], modrm: { reg: e.reg(), rm: e.rm(size) } }); }
  else if (k === 2) { // Jcc over a MOV
    e.insn({ op: [0x70 + cc, 10] });
    e.insn({ rex: 8, op: [0xb8 + 3], imm: e.imm(8) });
  } else if (k === 3) e.insn({ op: [0x9f] }); // LAHF
  else { e.insn({ op: [0x9e] }); } // SAHF
  if (k === 4) e.undef = 0;
}

function genStack(e: Emitter): void {
  const k = e.rng.int(4), r = e.reg();
  if (k === 0) { // PUSH r; POP r'
    e.insn({ rex: r & 8 ? 1 : 0, op: [0x50 + (r & 7)] });
    const r2 = e.reg();
    e.insn({ rex: r2 & 8 ? 1 : 0, op: [0x58 + (r2 & 7)] });
  } else if (k === 1) { // PUSH imm; POP r/m
    const long = e.rng.int(2) === 0;
    e.insn({ op: [long ? 0x68 : 0x6a], imm: e.imm(long ? 4 : 1) });
    e.insn({ op: [0x8f], modrm: { reg: 0, rm: e.rm(8) } });
  } else if (k === 2) { // PUSH r/m; POP r
    e.insn({ op: [0xff], modrm: { reg: 6, rm: e.rm(8) } });
    e.insn({ rex: r & 8 ? 1 : 0, op: [0x58 + (r & 7)] });
  } else { // CALL over nothing: pushes the next RIP, which is popped
    e.insn({ op: [0xe8, 0, 0, 0, 0] });
    e.insn({ rex: r & 8 ? 1 : 0, op: [0x58 + (r & 7)] });
  }
}

function genString(e: Emitter): void {
  const size = e.size(), k = e.rng.int(5), down = e.rng.int(2) === 1;
  const n = e.rng.int(12);
  // RDI and RSI inside the data image, far enough from its ends for n elements either way.
  // lea rdi, [r15 + 0x60…0x6f]; lea rsi, [r15 + 0x70…0x77] (disp8 is signed: stay below 0x80)
  const di = 0x60 + e.rng.int(16), si = 0x70 + e.rng.int(8);
  e.insn({ rex: 8, op: [0x8d], modrm: { reg: 7, rm: { kind: "r15", disp: di, off: di } } });
  e.insn({ rex: 8, op: [0x8d], modrm: { reg: 6, rm: { kind: "r15", disp: si, off: si } } });
  e.insn({ op: [0xb9, n, 0, 0, 0] }); // mov ecx, n
  e.insn({ op: [down ? 0xfd : 0xfc] });
  const o = size === 1 ? 0 : 1;
  const opc = [0xaa, 0xac, 0xa4, 0xa6, 0xae][k] + o;
  const rep = k >= 3 ? e.rng.pick([0xf3, 0xf2]) : 0xf3;
  const p = e.rng.int(4) === 0 ? [] : [rep];
  e.insn({ pre: p, p66: size === 2, rex: size === 8 ? 8 : 0, op: [opc] });
  if (k >= 3 && (n > 0 || p.length === 0)) e.undef = 0; // REP with RCX = 0 compares nothing
  if (down) e.insn({ op: [0xfc] });
}

/** One MMX/SSE/SSE2/SSE3 row of the opcode table, with random registers (XMM8–15 through REX) and operands. */
function genSse(e: Emitter): void {
  const d = e.rng.pick(SSE_ROWS);
  const ops = d.operands;
  const pre = d.prefix ? [d.prefix] : [];
  const op = opcodeBytes(d);
  const rmIndex = ops.findIndex((o) => /^([EWQUNM]|Rd\/Mw)/.test(o));
  const regIndex = ops.findIndex((o) => /^[VPG]/.test(o));
  const rex = e.rng.int(3) === 0 ? 8 : 0; // REX.W: 64-bit general-register operands (MOVQ, CVTSI2SD …), else ignored
  if (rmIndex < 0 && d.reg === undefined && regIndex < 0) { e.insn({ pre, op }); return; }
  const rmOp = rmIndex >= 0 ? ops[rmIndex] : "";
  const memForm = d.mem === true || (d.mem !== false && /^[EWQM]|^Rd/.test(rmOp) && e.rng.int(2) === 0);
  const gpr = (o: string | undefined): boolean => o !== undefined && /^[EGR]/.test(o);
  const reg = d.reg ?? (gpr(ops[regIndex]) ? e.reg() : e.rng.int(16));
  let rm: Rm;
  if (memForm) {
    rm = e.rm(simdBytes(rmOp));
    if (rm.kind === "reg") rm = { kind: "rip", off: 0x400 + (e.rng.int(0x3f0) & ~15) };
  } else rm = { kind: "reg", r: gpr(rmOp) ? e.reg() : e.rng.int(16) };
  const imm = ops.includes("Ib") ? e.imm(1) : [];
  if (/comis/.test(d.mnemonic)) e.undef = 0;
  e.insn({ pre, rex, op, modrm: { reg, rm }, imm });
}

/**
 * x87 in 64-bit mode: loads, stores and arithmetic with memory operands through R15 and
 * RIP-relative addresses (the linear address is 64 bits wide), register forms, FNSTSW.
 * Exceptions stay masked (FNINIT), so stack faults and invalid operands are results too.
 */
const X87_MEM: [number, number][] = [
  [0xd9, 0], [0xdd, 0], [0xdb, 5], [0xdf, 0], [0xdb, 0], [0xdf, 5], // FLD m32/m64/m80, FILD m16/m32/m64
  [0xd8, 0], [0xdc, 1], [0xd8, 4], [0xdc, 6], [0xde, 0], [0xda, 1], // FADD FMUL FSUB FDIV, FIADD m16, FIMUL m32
  [0xd9, 2], [0xdd, 3], [0xdb, 7], [0xdf, 3], [0xdb, 3], [0xdf, 7], // FST m32, FSTP m64/m80, FISTP m16/m32/m64
  [0xdb, 1], [0xdd, 1], [0xd8, 2], [0xdc, 3], [0xdd, 7], [0xd9, 7], // FISTTP, FCOM, FCOMP, FNSTSW, FNSTCW
];
function genX87(e: Emitter): void {
  const rng = e.rng;
  if (rng.int(4) === 0) {
    const k = rng.int(6);
    const i = rng.int(8);
    const reg: number[][] = [[0xd9, 0xc0 + i], [0xd9, 0xc8 + i], [0xd8, 0xc0 + i], [0xdc, 0xc8 + i], [0xde, 0xf8 + i], [0xd9, 0xe0 + rng.int(2)]];
    e.insn({ op: reg[k] });
    return;
  }
  const [op, r] = rng.pick(X87_MEM);
  const size = op === 0xdb && (r === 5 || r === 7) ? 10 : 8;
  let rm = e.rm(size);
  if (rm.kind === "reg") rm = { kind: "rip", off: 0x400 + rng.int(0x3f0) };
  e.insn({ rex: rng.int(4) === 0 ? 8 : 0, op: [op], modrm: { reg: r, rm } });
}

const GEN: Record<Group64, (e: Emitter) => void> = {
  alu: genAlu, unary: genUnary, mov: genMov, shift: genShift, bit: genBit, muldiv: genMulDiv, cond: genCond, stack: genStack, string: genString,
  sse: genSse, x87: genX87,
};

/** The SIMD state an SSE case starts from, loaded through R15: x87 registers zeroed and empty, MXCSR, XMM0–15, MM0–7. */
function ssePrologue(e: Emitter, data: Uint8Array): void {
  const rng = e.rng;
  const put = (off: number, v: number): void => { for (let k = 0; k < 4; k++) data[off + k] = (v >>> (8 * k)) & 0xff; };
  for (let o = 0; o < 0xa00; o += 8) {
    const k = rng.int(3);
    if (k === 0) { put(o, f32Bits(rng)); put(o + 4, f32Bits(rng)); } else if (k === 1) { const [lo, hi] = f64Words(rng); put(o, lo); put(o + 4, hi); }
  }
  for (let o = SSE_INIT; o < SSE_INIT + 0x180; o += 8) { const [lo, hi] = f64Words(rng); put(o, rng.int(2) ? lo : f32Bits(rng)); put(o + 4, hi); }
  let mxcsr = (rng.int(4) << 13) | (rng.int(10) < 7 ? 0x1f80 : rng.int(64) << 7);
  if (rng.int(10) < 3) mxcsr |= 0x40;
  if (rng.int(10) < 3) mxcsr |= 0x8000;
  if (rng.int(2)) mxcsr |= rng.int(64);
  put(SSE_INIT + 0x180, mxcsr);
  const at = (off: number): Rm => ({ kind: "rip", off });
  e.insn({ op: [0xdb, 0xe3] });
  for (let k = 0; k < 8; k++) e.insn({ op: [0xd9, 0xee] });
  e.insn({ op: [0xdb, 0xe3] });
  e.insn({ op: [0x0f, 0xae], modrm: { reg: 2, rm: at(SSE_INIT + 0x180) } });
  for (let k = 0; k < 16; k++) e.insn({ op: [0x0f, 0x10], modrm: { reg: k, rm: at(SSE_INIT + 16 * k) } });
  if (rng.int(2)) for (let k = 0; k < 8; k++) e.insn({ op: [0x0f, 0x6f], modrm: { reg: k, rm: at(SSE_INIT + 0x100 + 8 * k) } });
}

const SPECIAL = [0n, 1n, 0xffff_ffff_ffff_ffffn, 0x8000_0000_0000_0000n, 0x7fff_ffff_ffff_ffffn, 0xffff_ffffn, 0x8000_0000n, 0x1_0000_0000n, 0xffn, 0x80n];

function value(rng: Rng): bigint {
  if (rng.int(6) === 0) return rng.pick(SPECIAL);
  return (BigInt(rng.int(0x1_0000) * 0x1_0000 + rng.int(0x1_0000)) << 32n) | BigInt(rng.int(0x1_0000) * 0x1_0000 + rng.int(0x1_0000));
}

/** Case `index` of `seed`, mostly from one group. */
export function generate64(seed: number, index: number, groups: readonly Group64[]): Case64 {
  const rng = new Rng(((seed * 0x9e37_79b1) ^ (index * 0x85eb_ca6b)) >>> 0);
  const group = rng.pick(groups);
  const e = new Emitter(rng);
  e.undef = 0;
  const data = new Uint8Array(DATA_SIZE);
  for (let k = 0; k < DATA_SIZE; k++) data[k] = rng.int(256);
  if (group === "sse") ssePrologue(e, data);
  if (group === "x87") {
    // FNINIT, eight FLDZ, FNINIT: no stale register contents (see ssePrologue), then values.
    e.insn({ op: [0xdb, 0xe3] });
    for (let k = 0; k < 8; k++) e.insn({ op: [0xd9, 0xee] });
    e.insn({ op: [0xdb, 0xe3] });
  }
  const n = 1 + rng.int(8);
  for (let k = 0; k < n && e.bytes.length < CODE_MAX - 64; k++) {
    // A few instructions from the integer groups mixed in (SSE needs its prologue's known state).
    const g = rng.int(5) === 0 ? rng.pick(INTEGER_GROUPS) : group;
    GEN[g](e);
  }
  // SSE cases end with FXSAVE (or FXSAVE64 with REX.W) of the whole SIMD state into the data image.
  if (group === "sse" || group === "x87") e.insn({ rex: rng.int(2) ? 8 : 0, op: [0x0f, 0xae], modrm: { reg: 0, rm: { kind: "rip", off: FXSAVE_AT } } });
  const codeLen = e.bytes.length;
  const code = new Uint8Array(CODE_MAX);
  code.set(e.bytes);
  // The way back to the runner: jmp [abs RET_SLOT] (FF 24 25 disp32).
  code.set([0xff, 0x24, 0x25, RET_SLOT & 0xff, (RET_SLOT >> 8) & 0xff, (RET_SLOT >> 16) & 0xff, 0], codeLen);
  const regs = Array.from({ length: 16 }, () => value(rng));
  regs[4] = BigInt(DATA_VA + 0xe00);
  regs[R15] = BigInt(DATA_VA);
  const rflags = BigInt(0x202 | (rng.int(0x1000) & ALL));
  return { input: { regs, rflags, code, data }, codeLen, undefinedFlags: e.undef, listing: e.listing, group, index };
}
