// The block compiler's differential fuzzer in 64-bit mode (docs/jit.md, "Lowering in 64-bit
// mode"): jit-diff.ts for IA-32e. A random 64-bit program runs from the same state on CPUs with
// the compiler off, at tier 1 only, with every block generated at once (tier 2), and with a
// 4-block cache, in slices of random length; after every slice all state must be equal: the 16
// registers in full (both halves), RIP, RFLAGS, CPL, CR2, the instruction count, halted, the
// run's stop reason, and the memory the program can touch (data, stack, code, and the page
// tables, which carry the A and D bits).
//
// The programs stress what the 64-bit lowering can get wrong: REX (R8–R15 in every operand
// position, SPL…DIL against AH…BH), dword writes that zero the high half, memory through
// base, index, RIP and FS/GS (and 67h, LOCK, ignored segment overrides, which the handlers
// take), and linear addresses above 2^32 and in the high half (negative as numbers), for
// code, data and the stack. As in jit-diff.ts they loop, start close to a page
// end, rewrite their own immediates (a third of them) and fault mid-block now and then (#PF on
// a page that is not present, DIV by zero or overflow, a non-canonical address); the IDT's
// gates lead to HLT stubs, so a fault ends the run where every CPU must agree on it. One data
// pointer (R12) reaches the data page through a linear address in the long-mode TLB set of a
// code page, so data accesses evict the entries fetches use.

import type { FlatMachine } from "../support/flat-machine.js";
import { PD, PDPT, PDPT_HIGH, PML4, SEL64, longMachine, useLongTables } from "../support/long-machine.js";
import type { JitOptions } from "../../src/hw/cpu/jit/block-compiler.js";
import { CONFIGS, lockstep } from "./lockstep.js";
import { SegReg } from "../../src/hw/cpu/segment.js";
import { Rng } from "../fuzz/rng.js";

const TWO32 = 0x1_0000_0000;
/** Linear aliases of physical memory (long-machine.ts maps 0–1 GiB at each; PDPT[4] added below). */
export const FOUR_G = TWO32;
/** 0xFFFFFFFF80000000 as the CPU holds a canonical address: a negative number. */
export const HIGH = -0x8000_0000;
const ALIASES = [0, FOUR_G, HIGH];

/** Page tables of our own, for 4 KiB pages (A and D bits per page, a page not present). */
export const PT_A = 0x28000, PT_B = 0x29000;
/** Physical pages: data (the page after it is not present: #PF), code (two pages), stack. */
export const DATA = 0x200000, HOLE = 0x201000, CODE = 0x210000, STACK = 0x220000;
/**
 * Linear CODE + 16 MiB (and + 4 KiB) map the data page through PT_B: the long-mode TLB is
 * direct-mapped on the page number modulo 4096, so these fall in the sets of the two code pages.
 */
export const TLB_ALIAS = CODE + 0x100_0000;
const COUNTER = 0xff0; // offset in the data page
const LOOPS = 10;

/** The registers a program may change (RBX = data, RSP, RBP = program base, R12 = TLB alias: not). */
const FREE = [0, 1, 2, 6, 7, 8, 9, 10, 11, 13, 14, 15];

/** A 64-bit value as the [low, high] int32 halves of a register. */
function split(v: number): [number, number] {
  const hi = Math.floor(v / TWO32);
  return [(v - hi * TWO32) | 0, hi | 0];
}

function le(v: number): number[] { return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]; }
function le16(v: number): number[] { return [v & 0xff, (v >>> 8) & 0xff]; }

/**
 * A program: its bytes at physical `start`, run through the linear alias `code`; `count`
 * instructions generated (what `drop` indexes); the initial registers ([low, high] halves),
 * RFLAGS and the FS and GS bases.
 */
export interface Program64 { start: number; bytes: number[]; count: number; code: number; regs: [number, number][]; flags: number; fs: number; gs: number; }

/**
 * A memory operand: [base + index*scale + disp] (index -1: none; base -1: none, a disp32), or
 * RIP-relative to data offset `rip`; `pre`: a segment override or 67h (a 32-bit address).
 */
interface Mem { base: number; index: number; scale: number; disp: number; rip: number; pre?: number[]; }

/**
 * A random program (deterministic in the seed). `drop`: the indices of generated instructions
 * to leave out (the rest as they were: the reduction of a failing seed to a small program).
 */
export function program(seed: number, drop: ReadonlySet<number> = new Set()): Program64 {
  const rng = new Rng(seed);
  const r = (): number => FREE[rng.int(FREE.length)];
  const any = (): number => rng.int(16);
  const cc = (): number => rng.int(16);
  const b: number[] = [];
  const imms: number[] = [];   // offsets of dword immediates (MOV, group 1): SMC targets
  const smc: number[] = [];    // offsets of the disp32 of [rbp+d32] SMC stores, filled in at the end
  const smcRip: { at: number; end: number }[] = []; // RIP-relative SMC stores
  const dataRip: { at: number; end: number; off: number }[] = []; // RIP-relative data operands
  const modrm = (mod: number, reg: number, rm: number): number => (mod << 6) | ((reg & 7) << 3) | (rm & 7);
  const u32 = (v: number): void => { b.push(...le(v)); };
  /** An instruction without ModRM: opcode bytes (prefixes and REX included), then the immediate. */
  const ins0 = (op: number[], imm: number[]): void => { b.push(...op, ...imm); };

  /**
   * Append one instruction: prefixes, REX (W, R, X, B as the operands need; `rex` forces one so
   * byte registers 4–7 are SPL…DIL; `legacy` forbids one: they are AH…BH), opcode, ModRM, SIB,
   * displacement, immediate. Returns the offset of the immediate.
   */
  const ins = (o: { pre?: number[]; w?: boolean; rex?: boolean; legacy?: boolean; op: number[]; reg: number; rm: number | Mem; imm?: number[] }): number => {
    let rex = (o.w ? 8 : 0) | ((o.reg & 8) >> 1);
    const tail: number[] = [];
    let ripAt = -1;
    if (typeof o.rm === "number") {
      rex |= o.rm >> 3;
      tail.push(modrm(3, o.reg, o.rm));
    } else if (o.rm.rip >= 0) {
      tail.push(modrm(0, o.reg, 5));
      ripAt = tail.length;
      tail.push(0, 0, 0, 0);
    } else if (o.rm.base < 0) { // [index*scale + disp32] or [disp32]: SIB with no base
      const m = o.rm, idx = m.index >= 0 ? m.index : 4;
      rex |= (idx & 8) >> 2;
      tail.push(modrm(0, o.reg, 4), (m.scale << 6) | ((idx & 7) << 3) | 5, ...le(m.disp));
    } else {
      const m = o.rm;
      const d8 = m.disp >= -128 && m.disp < 128;
      const mod = d8 ? 1 : 2;
      rex |= m.base >> 3;
      if (m.index >= 0 || (m.base & 7) === 4) {
        const idx = m.index >= 0 ? m.index : 4;
        rex |= (idx & 8) >> 2;
        tail.push(modrm(mod, o.reg, 4), (m.scale << 6) | ((idx & 7) << 3) | (m.base & 7));
      } else tail.push(modrm(mod, o.reg, m.base));
      if (d8) tail.push(m.disp & 0xff); else tail.push(...le(m.disp));
    }
    if (o.legacy && rex !== 0) throw new Error(`jit-diff64 seed ${seed}: REX with AH…BH`);
    const pre = [...(typeof o.rm === "number" ? [] : o.rm.pre ?? []), ...(o.pre ?? [])];
    const head = [...pre, ...(rex !== 0 || o.rex ? [0x40 | rex] : []), ...o.op];
    const at = b.length;
    b.push(...head, ...tail);
    const imm = b.length;
    b.push(...(o.imm ?? []));
    if (ripAt >= 0) dataRip.push({ at: at + head.length + ripAt, end: b.length, off: (o.rm as Mem).rip });
    return imm;
  };

  /**
   * A memory operand of `size` bytes in the data page (by RBX, RIP, R12: its TLB alias, an
   * index, or FS: its base is the data page) or the stack page (RSP, or GS: its base). An index
   * is a free register zero-extended from its low byte first. Mostly aligned (the lowering's
   * fast path), sometimes not; now and then with 67h (a 32-bit address: the same page through
   * the low alias, or a #PF from the high one) or a DS/CS override (ignored in 64-bit mode).
   * `legacy`: no REX allowed (AH…BH in the instruction): no R12, an index below R8.
   */
  const mem = (size: number, legacy = false): Mem => {
    const d = (n: number): number => (rng.int(4) === 0 ? rng.int(n) : rng.int(n) & ~(size - 1));
    const index = (): number => {
      const x = legacy ? rng.pick([0, 1, 2, 6, 7]) : r();
      ins({ rex: true, op: [0x0f, 0xb6], reg: x, rm: x }); // movzx x32, x8 (no flags changed)
      return x;
    };
    let m: Mem;
    switch (rng.pick(legacy ? [0, 1, 2, 3, 5, 6, 7] : [0, 1, 2, 3, 4, 5, 6, 7])) {
      case 0: m = { base: 3, index: -1, scale: 0, disp: d(0x80), rip: -1 }; break;   // [rbx + d8]
      case 1: m = { base: 3, index: -1, scale: 0, disp: d(0xf00), rip: -1 }; break;  // [rbx + d32]
      case 2: m = { base: 0, index: -1, scale: 0, disp: 0, rip: d(0xf00) }; break;    // [rip + d32]
      case 3: m = { base: 4, index: -1, scale: 0, disp: d(0x80), rip: -1 }; break;   // [rsp + d8]
      case 4: m = { base: 12, index: -1, scale: 0, disp: d(0x100), rip: -1 }; break; // [r12 + d]
      case 5: m = { base: 3, index: index(), scale: rng.int(4), disp: d(rng.int(2) ? 0x80 : 0x600), rip: -1 }; break; // [rbx + x*s + d]
      case 6: m = rng.int(2) ? { base: -1, index: -1, scale: 0, disp: d(0xf00), rip: -1, pre: [0x64] } // fs:[d32]
        : { base: -1, index: index(), scale: rng.int(4), disp: d(0x600), rip: -1, pre: [0x64] }; break; // fs:[x*s + d32]
      default: m = { base: -1, index: -1, scale: 0, disp: d(0xff8), rip: -1, pre: [0x65] }; break; // gs:[d32]
    }
    if (rng.int(48) === 0) m.pre = [...(m.pre ?? []), 0x67];
    else if (m.pre === undefined && rng.int(20) === 0) m.pre = [rng.pick([0x2e, 0x3e, 0x26, 0x36])];
    return m;
  };

  /** Operand sizes, wide ones more often. */
  const size = (): number => [8, 8, 4, 4, 2, 1][rng.int(6)];
  const opsize = (s: number): number[] => (s === 2 ? [0x66] : []);
  const immOf = (s: number): number[] => (s === 1 ? [rng.int(256)] : s === 2 ? le16(rng.next()) : le(rng.next()));
  /**
   * The register operands of an instruction of size `s`: byte registers either without REX
   * (AH CH DH as destinations, AH…BH as sources) or with one (SIL, DIL, R8B… as destinations,
   * SPL and BPL too as sources).
   */
  const operands = (s: number): { legacy: boolean; rex: boolean; dst: () => number; src: () => number } => {
    if (s === 1 && rng.int(2) === 0) return { legacy: true, rex: false, dst: () => rng.pick([0, 1, 2, 4, 5, 6]), src: () => rng.int(8) };
    return { legacy: false, rex: s === 1, dst: r, src: any };
  };
  /** A destination: a register, or memory (half the time). */
  const dest = (s: number, o: { legacy: boolean; dst: () => number }): number | Mem => (rng.int(2) ? o.dst() : mem(s, o.legacy));

  const count = 20 + rng.int(40);
  const smcOn = rng.int(3) === 0; // a third of the programs rewrite their own code
  for (let k = 0; k < count; k++) {
    const marks = [b.length, imms.length, smc.length, smcRip.length, dataRip.length];
    switch (rng.int(33)) {
      case 0: { // mov r64, imm64 (REX.W B8+r)
        const x = r();
        b.push(0x48 | (x >> 3), 0xb8 + (x & 7));
        imms.push(b.length);
        u32(rng.next()); u32(rng.int(4) === 0 ? rng.next() : -(rng.int(2)));
        break;
      }
      case 1: { // mov r32, imm32 (high half zeroed), mov r/m64, imm32 (sign-extended), mov r16, imm16
        const x = r();
        const f = rng.int(3);
        if (f === 0) { if (x >= 8) b.push(0x41); b.push(0xb8 + (x & 7)); imms.push(b.length); u32(rng.next()); }
        else if (f === 1) imms.push(ins({ w: true, op: [0xc7], reg: 0, rm: rng.int(2) ? x : mem(8), imm: le(rng.next()) }));
        else { b.push(0x66); if (x >= 8) b.push(0x41); b.push(0xb8 + (x & 7), ...le16(rng.next())); }
        break;
      }
      case 2: case 3: case 4: { // the ALU group 00–3F: Eb,Gb / Ev,Gv / Gb,Eb / Gv,Ev on registers or memory
        const s = size(), o = operands(s), op = rng.int(8), toReg = rng.int(2);
        const memory = rng.int(2) === 0;
        const opc = op * 8 + (s === 1 ? 0 : 1) + toReg * 2;
        if (toReg) ins({ pre: opsize(s), w: s === 8, rex: o.rex, legacy: o.legacy, op: [opc], reg: o.dst(), rm: memory ? mem(s, o.legacy) : o.src() });
        else { // LOCK now and then on a memory destination (not CMP): the lowering leaves it to the handler
          const lock = memory && op !== 7 && rng.int(5) === 0 ? [0xf0] : [];
          ins({ pre: [...lock, ...opsize(s)], w: s === 8, rex: o.rex, legacy: o.legacy, op: [opc], reg: o.src(), rm: memory ? mem(s, o.legacy) : o.dst() });
        }
        break;
      }
      case 5: { // group 1 immediates: 80 ib, 81 iz (imm32 sign-extended to 64), 83 ib (sign-extended)
        const s = size(), o = operands(s), op = rng.int(8);
        if (s === 1) ins({ rex: o.rex, legacy: o.legacy, op: [0x80], reg: op, rm: dest(1, o), imm: [rng.int(256)] });
        else if (rng.int(2)) ins({ pre: opsize(s), w: s === 8, op: [0x83], reg: op, rm: dest(s, o), imm: [rng.int(256)] });
        else {
          const at = ins({ pre: opsize(s), w: s === 8, op: [0x81], reg: op, rm: dest(s, o), imm: immOf(s) });
          if (s !== 2) imms.push(at);
        }
        break;
      }
      case 6: { // AL/eAX/rAX immediates (04+8n, 05+8n)
        const s = size(), op = rng.int(8);
        ins0(s === 1 ? [0x04 + 8 * op] : [...opsize(s), ...(s === 8 ? [0x48] : []), 0x05 + 8 * op], immOf(s));
        break;
      }
      case 7: { // TEST: 84/85 /r, A8/A9, F6/F7 /0
        const s = size(), o = operands(s), f = rng.int(3);
        if (f === 0) ins({ pre: opsize(s), w: s === 8, rex: o.rex, legacy: o.legacy, op: [s === 1 ? 0x84 : 0x85], reg: o.src(), rm: rng.int(2) ? o.src() : mem(s, o.legacy) });
        else if (f === 1) ins0(s === 1 ? [0xa8] : [...opsize(s), ...(s === 8 ? [0x48] : []), 0xa9], immOf(s));
        else ins({ pre: opsize(s), w: s === 8, rex: o.rex, legacy: o.legacy, op: [s === 1 ? 0xf6 : 0xf7], reg: 0, rm: rng.int(2) ? o.src() : mem(s, o.legacy), imm: immOf(s) });
        break;
      }
      case 8: { // INC/DEC (FE, FF /0 /1), NEG/NOT (F6, F7 /2 /3)
        const s = size(), o = operands(s), n = rng.int(2) ? rng.int(2) : 2 + rng.int(2);
        ins({ pre: opsize(s), w: s === 8, rex: o.rex, legacy: o.legacy, op: [n < 2 ? (s === 1 ? 0xfe : 0xff) : (s === 1 ? 0xf6 : 0xf7)], reg: n, rm: dest(s, o) });
        break;
      }
      case 9: case 10: { // MOV: 88/89 (store), 8A/8B (load), register to register, C6 /0, B0+r
        const s = size(), o = operands(s), f = rng.int(4);
        const wide = s === 1 ? 0 : 1;
        if (f === 0) ins({ pre: opsize(s), w: s === 8, rex: o.rex, legacy: o.legacy, op: [0x88 + wide], reg: o.src(), rm: mem(s, o.legacy) });
        else if (f === 1) ins({ pre: opsize(s), w: s === 8, rex: o.rex, legacy: o.legacy, op: [0x8a + wide], reg: o.dst(), rm: mem(s, o.legacy) });
        else if (f === 2) ins({ pre: opsize(s), w: s === 8, rex: o.rex, legacy: o.legacy, op: [0x88 + wide + 2 * rng.int(2)], reg: o.dst(), rm: o.dst() });
        else if (s === 1 && rng.int(2)) ins({ rex: o.rex, legacy: o.legacy, op: [0xc6], reg: 0, rm: mem(1, o.legacy), imm: [rng.int(256)] });
        else { const x = o.dst(); if (!o.legacy) b.push(0x40 | (x >> 3)); b.push(0xb0 + (x & 7), rng.int(256)); } // mov r8, imm8
        break;
      }
      case 11: { // LEA (67h: a 32-bit address, zero-extended), RIP-relative too
        const x = r(), s = [8, 4, 2][rng.int(3)];
        if (rng.int(5) === 0) { ins0([...opsize(s), 0x40 | (s === 8 ? 8 : 0) | ((x & 8) >> 1), 0x8d, modrm(0, x, 5)], le(rng.next() >> rng.int(32))); break; }
        const idx = rng.int(3) === 0 ? -1 : rng.pick([0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
        const disp = rng.int(2) ? rng.int(256) - 128 : rng.next() | 0;
        ins({ pre: [...(rng.int(3) === 0 ? [0x67] : []), ...opsize(s)], w: s === 8, op: [0x8d], reg: x, rm: { base: any(), index: idx, scale: rng.int(4), disp, rip: -1 } });
        break;
      }
      case 12: { // MOVZX/MOVSX of a byte or word (0F B6/B7/BE/BF), MOVSXD (63)
        const f = rng.int(5);
        if (f === 4) { ins({ w: true, op: [0x63], reg: r(), rm: rng.int(2) ? any() : mem(4) }); break; }
        const byte = f < 2, o = operands(byte ? 1 : 8);
        const s = o.legacy ? [4, 2][rng.int(2)] : byte ? [8, 4, 2][rng.int(3)] : [8, 4][rng.int(2)];
        const dst = o.legacy ? rng.pick([0, 1, 2, 6, 7]) : r();
        ins({ pre: opsize(s), w: s === 8, rex: o.rex, legacy: o.legacy, op: [0x0f, (f & 1 ? 0xbe : 0xb6) + (byte ? 0 : 1)], reg: dst, rm: rng.int(2) ? o.src() : mem(byte ? 1 : 2, o.legacy) });
        break;
      }
      case 13: { // push r64; pop r64 (R8–R15 by REX.B)
        const x = any(), y = r();
        if (x >= 8) b.push(0x41); b.push(0x50 + (x & 7));
        if (y >= 8) b.push(0x41); b.push(0x58 + (y & 7));
        break;
      }
      case 14: { // push imm8/imm32/r/m64; pop r64 or pop r/m64
        const f = rng.int(4), y = r();
        if (f === 0) b.push(0x6a, rng.int(256));
        else if (f === 1) { b.push(0x68); u32(rng.next()); }
        else if (f === 2) ins({ op: [0xff], reg: 6, rm: mem(8) });
        else { const x = any(); if (x >= 8) b.push(0x41); b.push(0x50 + (x & 7)); ins({ op: [0x8f], reg: 0, rm: mem(8) }); break; }
        if (y >= 8) b.push(0x41); b.push(0x58 + (y & 7));
        break;
      }
      case 15: case 16: { // shifts and rotates: C1 ib, D1 (1), D3 (CL) on 64- and 32-bit operands; C0/D0/D2 and 16-bit now and then
        const s = [8, 8, 4, 4, 2, 1][rng.int(6)], o = operands(s), f = rng.int(3);
        const n = rng.pick([0, 1, 2, 3, 4, 5, 7]);
        ins({ pre: opsize(s), w: s === 8, rex: o.rex, legacy: o.legacy, op: [[0xc1, 0xd1, 0xd3][f] - (s === 1 ? 1 : 0)], reg: n, rm: dest(s, o), imm: f === 0 ? [rng.int(70)] : [] });
        break;
      }
      case 17: { // SETcc on a byte register or memory
        const o = operands(1);
        ins({ rex: o.rex, legacy: o.legacy, op: [0x0f, 0x90 + cc()], reg: 0, rm: dest(1, o) });
        break;
      }
      case 18: { // CMOVcc r64/r32/r16, r/m (a dword CMOVcc zeroes the high half even when it does not move)
        const s = [8, 4, 2][rng.int(3)];
        ins({ pre: opsize(s), w: s === 8, op: [0x0f, 0x40 + cc()], reg: r(), rm: rng.int(2) ? any() : mem(s) });
        break;
      }
      case 19: { // cmp/test (sometimes), then Jcc short or near forward over an instruction
        if (rng.int(2)) ins({ w: rng.int(2) === 0, op: [rng.pick([0x39, 0x85])], reg: any(), rm: any() });
        const x = r();
        const over = rng.int(2) ? [0x48 | (x >> 3), 0x01 + 8 * rng.int(8), modrm(3, 0, x)] : [...(x >= 8 ? [0x41] : []), 0xb8 + (x & 7), ...le(rng.next())];
        if (rng.int(2)) b.push(0x70 + cc(), over.length); else b.push(0x0f, 0x80 + cc(), ...le(over.length));
        b.push(...over);
        break;
      }
      case 20: { // IMUL r, r/m (0F AF), r, r/m, imm8/imm32 (6B, 69)
        const s = [8, 4, 2][rng.int(3)], f = rng.int(3), rm = rng.int(2) ? any() : mem(s);
        if (f === 0) ins({ pre: opsize(s), w: s === 8, op: [0x0f, 0xaf], reg: r(), rm });
        else ins({ pre: opsize(s), w: s === 8, op: [f === 1 ? 0x6b : 0x69], reg: r(), rm, imm: f === 1 ? [rng.int(256)] : immOf(s === 8 ? 4 : s) });
        break;
      }
      case 21: { // XCHG: 86/87 with a register or memory, 90+r
        const s = size(), o = operands(s), f = rng.int(3);
        if (f === 2 && s !== 1) { const x = r(); ins0([...opsize(s), ...((s === 8 || x >= 8) ? [0x40 | (s === 8 ? 8 : 0) | (x >> 3)] : []), 0x90 + (x & 7)], []); break; }
        ins({ pre: opsize(s), w: s === 8, rex: o.rex, legacy: o.legacy, op: [s === 1 ? 0x86 : 0x87], reg: o.dst(), rm: f === 0 ? o.dst() : mem(s, o.legacy) });
        break;
      }
      case 22: { // CMPXCHG (0F B0/B1), sometimes
        if (rng.int(2)) break;
        const s = size(), o = operands(s);
        ins({ pre: opsize(s), w: s === 8, rex: o.rex, legacy: o.legacy, op: [0x0f, s === 1 ? 0xb0 : 0xb1], reg: o.src(), rm: dest(s, o) });
        break;
      }
      case 23: // pushfq; popfq (the block ends after POPFQ); now and then pushfq; pop r; or a random RFLAGS (TF too: #DB)
        if (rng.int(8) === 0) { const y = r(); b.push(0x9c); if (y >= 8) b.push(0x41); b.push(0x58 + (y & 7)); }
        else if (rng.int(10) === 0) { b.push(0x68); u32((rng.next() & 0x8d5) | (rng.int(4) === 0 ? 0x100 : 0)); b.push(0x9d); }
        else b.push(0x9c, 0x9d);
        break;
      case 24: // DIV/IDIV r/m64 or r/m32, sometimes: #DE on zero or overflow, which RDX = 0 first makes rare
        if (rng.int(5) !== 0) break;
        if (rng.int(3) !== 0) { // xor edx, edx; div (not by RDX)
          b.push(0x31, 0xd2);
          ins({ w: rng.int(2) === 0, op: [0xf7], reg: 6 + rng.int(2), rm: rng.int(3) ? rng.pick(FREE.filter((x) => x !== 2)) : mem(8) });
        } else ins({ w: rng.int(2) === 0, op: [0xf7], reg: 6 + rng.int(2), rm: rng.int(3) ? r() : mem(8) });
        break;
      case 25: // #PF mid-block, sometimes: a load from the page after the data page (not present),
        // or one that reaches it only in a late iteration, when the blocks are hot: from
        // [rbx + (counter - k) * 4096] (the pages before are mapped; counter < k: far off, unmapped).
        if (rng.int(16) === 0) ins({ w: true, op: [0x8b], reg: r(), rm: { base: 3, index: -1, scale: 0, disp: 0x1000 + rng.int(0x100), rip: -1 } });
        else if (rng.int(10) === 0) {
          const x = r();
          ins({ op: [0x8b], reg: x, rm: { base: 3, index: -1, scale: 0, disp: COUNTER, rip: -1 } }); // mov x32, [rbx + COUNTER]
          ins({ op: [0x83], reg: 5, rm: x, imm: [rng.int(LOOPS)] });                                  // sub x32, k
          ins({ op: [0xc1], reg: 4, rm: x, imm: [12] });                                              // shl x32, 12
          ins({ w: true, op: [0x8b], reg: r(), rm: { base: 3, index: x, scale: 0, disp: 8 * rng.int(16), rip: -1 } });
        }
        break;
      case 26: { // a non-canonical address (#GP), or a load through a random register, sometimes
        if (rng.int(16) !== 0) break;
        const x = r();
        if (rng.int(2)) { b.push(0x48 | (x >> 3), 0xb8 + (x & 7)); u32(rng.next()); u32((rng.int(0x7fff) + 1) << 16 | rng.int(0x10000)); }
        ins({ w: true, op: [0x8b], reg: r(), rm: { base: x, index: -1, scale: 0, disp: rng.int(2) ? 0 : 8, rip: -1 } });
        break;
      }
      case 27: { // self-modifying code: a store into some MOV's or group 1 immediate
        if (!smcOn) break;
        const f = rng.int(3);
        if (f === 0) { b.push(0xc7, modrm(2, 0, 5)); smc.push(b.length); u32(0); u32(rng.next()); } // mov dword [rbp+d32], imm32
        else if (f === 1) { b.push(0xc7, modrm(0, 0, 5)); const at = b.length; u32(0); u32(rng.next()); smcRip.push({ at, end: b.length }); } // mov dword [rip+d32], imm32
        else { // inc dword [rbp+d32] into a MOV's immediate: a new value each iteration, so stale code shows.
          const x = r();
          if (x >= 8) b.push(0x41); b.push(0xb8 + (x & 7)); imms.push(b.length); u32(rng.next());
          b.push(0xff, modrm(2, 0, 5)); smc.push(b.length); u32(0);
        }
        break;
      }
      case 28: { // MOV with a 64-bit absolute address (A0–A3), in the data page through any alias
        const s = rng.pick([8, 4, 1]), addr = split(rng.pick(ALIASES) + DATA + (rng.int(0xf00) & ~(s - 1)));
        ins0([...(s === 8 ? [0x48] : []), (s === 1 ? 0xa0 : 0xa1) + 2 * rng.int(2)], [...le(addr[0]), ...le(addr[1])]);
        break;
      }
      case 29: { // REP STOS/MOVS of bytes, dwords or quadwords into the data page (RDI, RSI, RCX are free)
        const s = rng.pick([1, 4, 8]), movs = rng.int(2) === 1;
        ins({ w: true, op: [0x8d], reg: 7, rm: { base: 3, index: -1, scale: 0, disp: 0x800 + (rng.int(0x200) & ~(s - 1)), rip: -1 } }); // lea rdi, [rbx + d]
        if (movs) ins({ w: true, op: [0x8d], reg: 6, rm: { base: 3, index: -1, scale: 0, disp: rng.int(0x600), rip: -1 } });     // lea rsi, [rbx + d]
        b.push(0xb9, ...le(rng.int(24)), 0xfc, 0xf3, ...(s === 8 ? [0x48] : []), (movs ? 0xa4 : 0xaa) + (s === 1 ? 0 : 1)); // mov ecx, n; cld; rep stos/movs
        break;
      }
      case 30: // mov eax, ss; mov ss, eax (a segment load in 64-bit mode, and an interrupt shadow), now and then
        if (rng.int(4) === 0) b.push(0x8c, 0xd0, 0x8e, 0xd0);
        break;
      default: { // register ALU on 64-bit operands (the common case)
        ins({ w: true, op: [0x01 + 8 * rng.int(8) + 2 * rng.int(2)], reg: r(), rm: r() });
        break;
      }
    }
    if (drop.has(k)) {
      b.length = marks[0]; imms.length = marks[1]; smc.length = marks[2]; smcRip.length = marks[3]; dataRip.length = marks[4];
    }
  }
  // The loop: dec dword [rbx + COUNTER]; jnz start (rel32); then hlt.
  ins({ op: [0xff], reg: 1, rm: { base: 3, index: -1, scale: 0, disp: COUNTER, rip: -1 } });
  b.push(0x0f, 0x85); const rel = b.length; u32(0);
  b.push(0xf4);
  const start = CODE + 0x1000 - (8 + rng.int(Math.min(b.length, 200)));
  const put = (at: number, v: number): void => { b.splice(at, 4, ...le(v)); };
  put(rel, -(rel + 4));
  // RIP-relative operands reach the data page through the same alias as the code.
  for (const f of dataRip) put(f.at, DATA + f.off - (start + f.end));
  // Each SMC store rewrites some immediate (earlier or later in the program; none: itself).
  for (const at of smc) put(at, imms.length > 0 ? imms[rng.int(imms.length)] : at);
  for (const f of smcRip) put(f.at, (imms.length > 0 ? imms[rng.int(imms.length)] : f.at) - f.end);

  // Initial state: the fixed pointers, and for the free registers a mix of small values,
  // full 64-bit ones, and pointers into the data page through each alias.
  const code = rng.pick(ALIASES);
  const regs: [number, number][] = [];
  for (let x = 0; x < 16; x++) {
    const f = rng.int(4);
    regs.push(f === 0 ? [0x1000 * (x + 1), 0] : f === 1 ? [rng.next() | 0, rng.next() | 0]
      : f === 2 ? split(rng.pick(ALIASES) + DATA + rng.int(0x800)) : [rng.next() | 0, -rng.int(2)]);
  }
  regs[3] = split(rng.pick(ALIASES) + DATA);
  regs[4] = split(rng.pick(ALIASES) + STACK + 0xf00);
  regs[5] = split(code + start);
  regs[12] = split(TLB_ALIAS + 0x1000 * rng.int(2));
  // FS: the data page, GS: the stack page, each through some alias.
  return { start, bytes: b, count, code, regs, flags: 2 | (rng.next() & 0x8d5), fs: rng.pick(ALIASES) + DATA, gs: rng.pick(ALIASES) + STACK };
}

// Hand-assembled ENTER_LONG_MODE (long-machine.ts) at CODE32, ending at a HLT in 64-bit code.
const CODE32 = 0x10000;
const ENTRY = [
  0x0f, 0x20, 0xe0,                 // mov eax, cr4
  0x83, 0xc8, 0x20,                 // or eax, 0x20 (PAE)
  0x0f, 0x22, 0xe0,                 // mov cr4, eax
  0xb8, ...le(PML4),                // mov eax, PML4
  0x0f, 0x22, 0xd8,                 // mov cr3, eax
  0xb9, ...le(0xc0000080),          // mov ecx, IA32_EFER
  0x0f, 0x32,                       // rdmsr
  0x0d, ...le(0x100),               // or eax, LME
  0x0f, 0x30,                       // wrmsr
  0x0f, 0x20, 0xc0,                 // mov eax, cr0
  0x0d, ...le(0x80000000),          // or eax, PG
  0x0f, 0x22, 0xc0,                 // mov cr0, eax
  0xea, ...le(CODE32 + 49), SEL64.CODE0, 0, // ljmp CODE0:entry64
  0xf4,                             // entry64: hlt
];

/**
 * A long-mode machine (long-machine.ts: 64-bit GDT, IDT gates to HLT stubs, TSS) with 4 KiB
 * pages over 2–4 MiB (PT_A; HOLE not present), linear 4 GiB as a third alias of physical 0,
 * and the TLB aliases of the two code pages on the data page (PT_B), in 64-bit mode at CPL 0.
 */
export function machine64(jit: boolean | JitOptions): FlatMachine {
  const f = longMachine("core2", jit);
  useLongTables(f);
  const mem = f.mem;
  const put64 = (a: number, lo: number, hi = 0): void => { mem.write32(a, lo); mem.write32(a + 4, hi); };
  put64(PD + 1 * 8, PT_A | 7);
  for (let k = 0; k < 512; k++) if (DATA + k * 0x1000 !== HOLE) put64(PT_A + k * 8, (0x200000 + k * 0x1000) | 7);
  put64(PD + 9 * 8, PT_B | 7);
  put64(PT_B + ((TLB_ALIAS - 0x1200000) >> 12) * 8, DATA | 7);
  put64(PT_B + ((TLB_ALIAS + 0x1000 - 0x1200000) >> 12) * 8, DATA | 7);
  put64(PDPT + 4 * 8, PD | 7);
  f.load(ENTRY, CODE32);
  if (f.runToHalt() !== -1 || !f.cpu.mode64) throw new Error("jit-diff64: the machine did not reach 64-bit mode");
  f.cpu.halted = false;
  return f;
}

function machine(p: Program64, jit: boolean | JitOptions): FlatMachine {
  const f = machine64(jit);
  f.mem.load(p.start, Uint8Array.from(p.bytes));
  f.mem.write32(DATA + COUNTER, LOOPS);
  const cpu = f.cpu;
  p.regs.forEach(([lo, hi], x) => { cpu.regs[x] = lo; cpu.regsHi[x] = hi; });
  cpu.setEflags(p.flags);
  cpu.segs[SegReg.FS].base = p.fs;
  cpu.segs[SegReg.GS].base = p.gs;
  cpu.eip = p.code + p.start;
  return f;
}

const hex = (v: number): string => (v >>> 0).toString(16);

/** Everything compared after a slice, as one string (the first difference is easy to read). */
export function state(f: FlatMachine, withMemory: boolean): string {
  const c = f.cpu;
  const parts = [
    `rip=${c.eip} fl=${hex(c.getEflags())} cpl=${c.cpl} cr2=${c.cr2} n=${c.instructions} halted=${c.halted}`,
    `regs=${Array.from({ length: 16 }, (_, x) => `${hex(c.regsHi[x])}:${hex(c.regs[x])}`).join(",")}`,
  ];
  if (withMemory) {
    let h = 0;
    // Data, code, stack, the page tables the walks set A and D bits in.
    for (const [base, len] of [[DATA, 0x1000], [CODE, 0x2000], [STACK, 0x1000], [PT_A, 0x1000], [PT_B, 0x1000],
      [PD, 0x80], [PDPT, 0x40], [PDPT_HIGH + 510 * 8, 8], [PML4, 8], [PML4 + 511 * 8, 8]]) {
      for (let a = base; a < base + len; a += 4) h = (Math.imul(h, 31) + f.mem.read32(a)) | 0;
    }
    parts.push(`mem=${hex(h)}`);
  }
  return parts.join(" ");
}

export interface DiffResult { seed: number; slices: number; instructions: number; compiled: number; generated: number; lowered: number; mismatch?: string; }

/** Run program `seed` under each JIT setting in lockstep; the first difference, if any. */
export function jitDiff64(seed: number, maxInstructions = 6000, drop?: ReadonlySet<number>): DiffResult {
  const p = program(seed, drop);
  const ms = CONFIGS.map((c) => machine(p, c));
  const before = ms[0].cpu.instructions;
  const { slices, mismatch } = lockstep(ms, seed, maxInstructions, state);
  const st = ms[2].cpu.jit!.stats;
  return { seed, slices, instructions: ms[0].cpu.instructions - before, compiled: st.compiled, generated: st.generated, lowered: st.lowered, mismatch };
}
