// Lowering in 64-bit mode (docs/jit.md, "Lowering in 64-bit mode"): the same idea as lower.ts
// for the 64-bit handlers (exec64/): operand access as inline JavaScript around the semantic
// function the handler calls (`aluOp`, `incdecOp`), for the dword and quadword forms of MOV,
// the ALU group, TEST, INC/DEC, PUSH and POP, and of their byte forms.
//
// A 64-bit register is two int32 halves (`r[n]`, `rh[n]`). A memory operand takes the inline
// path only when everything about it is the common case, checked before anything happens:
//
// - the effective address is exact as a double: every register in it has a high half below
//   2^20 in magnitude (so the sum of the parts is exact whenever it is canonical at all);
// - it is aligned to its size (so it lies in one page, and no alignment check applies);
// - LMSLE checks nothing here (EFER.LMSLE off, or CPL 0);
// - the long-mode TLB (long-memory.ts) holds the page with the rights the access needs, on
//   RAM, and for a write on a page that is already dirty and holds no decoded code.
//
// A TLB entry exists only for a canonical page, so a hit also says the address is canonical.
// In every other case the instruction's own handler runs, from the start, as if nothing had
// been lowered: the checks above read state and change none.

import type { Instr } from "../instr.js";
import { SegReg } from "../segment.js";
import { DIRTY, RAM, SUP_W, USER, USER_W, VALID } from "../long-memory.js";
import type { Lowered } from "./lower.js";

/** What the 64-bit fast paths read, for the block's prologue (lower.ts `prologue`). */
export const PROLOGUE_64: [name: string, declaration: string][] = [
  ["rh", "const rh = cpu.regsHi;"],
  ["ltag", "const ltag = cpu.long.tags, lent = cpu.long.entries;"],
  ["lm", "const lm = ram32 !== null && (!cpu.lmsleOn || cpu.cpl === 0);"],
  ["needR64", `const needR64 = cpu.cpl === 3 ? ${VALID | RAM | USER} : ${VALID | RAM};`],
  ["needW64", `const needW64 = cpu.cpl === 3 ? ${VALID | RAM | DIRTY | USER_W} : ${VALID | RAM | DIRTY | SUP_W};`],
];

/** The Instr's fields as the generated code reads them: literals. */
interface Fields64 {
  rm: string; reg: string; seg: string; disp: string; base: string; index: string; scale: string;
  /** The immediate's low half, and its high half when sign-extended (Iz, Ibs) or a MOV's imm64. */
  imm: string; immSx: string; imm2: string;
}

function fields(i: Instr): Fields64 {
  return {
    rm: String(i.rm), reg: String(i.reg), seg: String(i.seg), disp: String(i.disp | 0),
    base: String(i.eaBase), index: String(i.eaIndex), scale: String(1 << i.eaScale),
    imm: String(i.imm | 0), immSx: String(i.imm >> 31), imm2: String(i.imm2 | 0),
  };
}

/** A 64-bit register as a double: exact while its high half is below 2^20 in magnitude (`small`). */
const wide = (n: string): string => `(rh[${n}] * 4294967296 + (r[${n}] >>> 0))`;
const small = (n: string): string => `((rh[${n}] + 0x100000) >>> 21) === 0`;

/** The effective address as a double, and the conditions under which it is exact. */
function address(i: Instr, f: Fields64): { ea: string; exact: string[] } {
  const parts = [f.disp];
  const exact: string[] = [];
  if (i.eaBase >= 0) { parts.push(wide(f.base)); exact.push(small(f.base)); }
  else if (i.eaBase === -2) parts.push("cpu.eip"); // RIP-relative: EIP is at the next instruction
  if (i.eaIndex >= 0) { parts.push(`${wide(f.index)} * ${f.scale}`); exact.push(small(f.index)); }
  if (i.seg >= SegReg.FS) {
    // The FS or GS base, when it is held as a canonical address (it always is once loaded).
    // Loaded inside the sum (the address is computed before the conditions are tested).
    parts.push(`(fsgs = segs[${f.seg}].base)`);
    exact.unshift("(fsgs >= -0x800000000000 && fsgs < 0x800000000000)");
  }
  return { ea: parts.join(" + "), exact };
}

/**
 * The TLB lookup of `a` for an access of `size` bytes (4 or 8): true when the inline path may
 * take it, with `e` the entry and `x` the dword index of the access in `ram32`.
 */
function hit(size: number, write: boolean): string {
  const need = write ? "needW64" : "needR64";
  // Dwords and quadwords index ram32; bytes and words index ram.
  const index = size >= 4 ? "(((e & ~0xfff) | (a & 0xfff)) >>> 2)" : "((e & ~0xfff) | (a & 0xfff))";
  return `lm && ${size > 1 ? `(a & ${size - 1}) === 0 && ` : ""}ltag[(q = Math.floor(a / 4096)) & 4095] === q && ((e = lent[q & 4095]) & ${need}) === ${need}` +
    (write ? " && codePages[e >>> 12] === 0" : "") + ` && ((x = ${index}), true)`;
}

/** An operand's value as (lo, hi) expressions, and how to store (lo, hi) into it. */
interface Operand64 { lo: string; hi: string; store(lo: string, hi: string): string; mem: boolean; }

function register(n: string, size: number): Operand64 {
  return {
    lo: `r[${n}]`, hi: size === 8 ? `rh[${n}]` : "0",
    // A dword write zeroes the high half (SDM vol. 1 §3.4.1.1).
    store: (lo, hi) => `r[${n}] = ${lo}; rh[${n}] = ${size === 8 ? hi : "0"};`,
    mem: false,
  };
}
/** Byte register `n` as getReg/setReg name it: SPL…DIL with any REX prefix, AH…BH (4–7) without one. */
function byteRegister(i: Instr, n: string): Operand64 {
  const low = i.rex !== 0 || Number(n) < 4;
  if (low) return { lo: `(r[${n}] & 0xff)`, hi: "0", store: (v) => `r[${n}] = (r[${n}] & ~0xff) | (${v} & 0xff);`, mem: false };
  return { lo: `((r[${n} - 4] >>> 8) & 0xff)`, hi: "0", store: (v) => `r[${n} - 4] = (r[${n} - 4] & ~0xff00) | ((${v} & 0xff) << 8);`, mem: false };
}

/** The memory operand at index `x` (after hit()): dwords and quadwords in ram32, bytes in ram. */
function memory(size: number): Operand64 {
  if (size === 1) return { lo: "ram[x]", hi: "0", store: (lo) => `ram[x] = ${lo};`, mem: true };
  return {
    lo: "ram32[x]", hi: size === 8 ? "ram32[x + 1]" : "0",
    store: (lo, hi) => (size === 8 ? `ram32[x] = ${lo}; ram32[x + 1] = ${hi};` : `ram32[x] = ${lo};`),
    mem: true,
  };
}

/** Register-only: `body` inline, no fallback. With memory: `body` on the fast path, else the handler. */
function withMemory(i: Instr, f: Fields64, name: string, body: string, mem: boolean, size: number, write: boolean): Lowered {
  if (!mem) return { code: body, mem: false, branch: false, disp: 0, opsize32: true };
  const { ea, exact } = address(i, f);
  const cond = [...exact, hit(size, write)].join(" && ");
  return { code: `{ const a = ${ea}; if (${cond}) { ${body} } else ${name}.handler(cpu, ${name}); }`, mem: true, branch: false, disp: 0, opsize32: true };
}

/** MOVZX and MOVSX (0F B6 B7 BE BF) into a dword or quadword register, as movx_G_E. */
function extend(i: Instr, f: Fields64, name: string, signed: boolean): Lowered | null {
  const from = (i.opcode & 1) === 0 ? 1 : 2;
  let v: string;
  if (i.hasMem) v = from === 1 ? "ram[x]" : "(ram[x] | (ram[x + 1] << 8))";
  else if (from === 2) v = `(r[${f.rm}] & 0xffff)`;
  else v = byteRegister(i, f.rm).lo;
  if (signed) v = from === 1 ? `((${v} << 24) >> 24)` : `((${v} << 16) >> 16)`;
  const store = i.osz === 8 ? `r[${f.reg}] = v; rh[${f.reg}] = ${signed ? "v >> 31" : "0"};` : `r[${f.reg}] = v; rh[${f.reg}] = 0;`;
  return withMemory(i, f, name, `{ const v = ${v}; ${store} }`, i.hasMem, from, false);
}

/**
 * Lower `i`, a 64-bit-mode instruction, or null when its handler must run: not a lowered
 * row or form (word operands, 67h, LOCK, a handler the decoder replaced).
 * `name` is the Instr as the generated code can reach it (its handler is the fallback).
 */
export function lower64(i: Instr, name: string): Lowered | null {
  const kind = i.def.lower;
  const n = i.osz;
  if (kind === undefined || !i.code64 || i.lock || i.handler !== i.def.x64 || (n !== 1 && n !== 4 && n !== 8)) return null;
  if (i.hasMem && (!i.adsize64 || i.dispHi !== i.disp >> 31)) return null;
  const specs = i.def.operands;
  const f = fields(i);
  if (kind === "jcc") {
    // Not taken: the block goes on. Taken: the handler (the condition again, and the target's canonical check).
    return { code: `cpu.condition(${i.opcode & 0xf})`, mem: false, branch: true, disp: 0, opsize32: true, taken: `${name}.handler(cpu, ${name});` };
  }
  if (kind === "movzx" || kind === "movsx") return extend(i, f, name, kind === "movsx");
  const op = (spec: string): Operand64 | null => {
    switch (spec) {
      case "Ev": return i.hasMem ? memory(n) : register(f.rm, n);
      case "Eb": return i.hasMem ? memory(1) : byteRegister(i, f.rm);
      case "Gb": return byteRegister(i, f.reg);
      case "Zb": return byteRegister(i, f.rm);
      case "AL": return byteRegister(i, "0");
      case "Ib": return { lo: String(i.imm & 0xff), hi: "0", store: () => "", mem: false };
      case "Gv": return register(f.reg, n);
      case "eAX": return register("0", n);
      case "Zv": return register(f.rm, n);
      case "Iz": case "Ibs": return { lo: f.imm, hi: n === 8 ? f.immSx : "0", store: () => "", mem: false };
      default: return null;
    }
  };
  // Register-only: inline, no fallback. With memory: the fast path, else the handler.
  const result = (body: string, mem: boolean, write: boolean): Lowered => withMemory(i, f, name, body, mem, n, write);

  switch (kind) {
    case "cmovcc": {
      // The source is read either way; not moved, a dword destination still has its high half zeroed.
      const src = op(specs[1]);
      if (src === null) return null;
      const otherwise = n === 4 ? ` else rh[${f.reg}] = 0;` : "";
      return result(`{ const lo = ${src.lo}, hi = ${src.hi}; if (cpu.condition(${i.opcode & 0xf})) { r[${f.reg}] = lo; rh[${f.reg}] = ${n === 8 ? "hi" : "0"}; }${otherwise} }`, src.mem, false);
    }
    case "alu": case "test": {
      const dst = op(specs[0]), src = op(specs[1]);
      if (dst === null || src === null) return null;
      // The group-1 /digit (80–83) is ModR/M bits 5:3 (i.reg has REX.R in it), else opcode bits 5:3.
      const code = kind === "test" ? 4 : i.opcode >= 0x80 ? (i.modrm >> 3) & 7 : (i.opcode >> 3) & 7;
      const call = `aluOp(cpu, ${code}, ${dst.lo}, ${dst.hi}, ${src.lo}, ${src.hi}, ${n})`;
      const mem = dst.mem || src.mem;
      if (kind === "test" || code === 7) return result(`${call};`, mem, false);
      return result(`{ const v = ${call}; ${dst.store("v", "cpu.hi")} }`, mem, dst.mem);
    }
    case "mov": {
      const dst = op(specs[0]);
      // B8–BF with REX.W: MOV r64, imm64 (the high half is imm2); the other immediates are sign-extended.
      const src = (i.opcode & 0xf8) === 0xb8 ? { lo: f.imm, hi: n === 8 ? f.imm2 : "0", mem: false } : op(specs[1]);
      if (dst === null || src === null) return null;
      // Through locals: a store may overwrite what the high half's expression reads.
      return result(`{ const lo = ${src.lo}, hi = ${src.hi}; ${dst.store("lo", "hi")} }`, dst.mem || src.mem, dst.mem);
    }
    case "inc": case "dec": {
      const dst = op(specs[0]);
      if (dst === null) return null;
      return result(`{ const v = incdecOp(cpu, ${kind === "dec"}, ${dst.lo}, ${dst.hi}, ${n}); ${dst.store("v", "cpu.hi")} }`, dst.mem, dst.mem);
    }
    case "push": {
      // PUSH r64 / imm (d64: 8 bytes; 66h gives 2, left to the handler).
      if (n !== 8 || specs[0] === "Ev") return null;
      const src = op(specs[0]);
      if (src === null) return null;
      const cond = `${small("4")} && ((a = ${wide("4")} - 8), ${hit(8, true)})`;
      return {
        code: `{ let a = 0; if (${cond}) { const lo = ${src.lo}, hi = ${src.hi}; ram32[x] = lo; ram32[x + 1] = hi; r[4] = a | 0; rh[4] = Math.floor(a / 4294967296) | 0; } ` +
          `else ${name}.handler(cpu, ${name}); }`,
        mem: true, branch: false, disp: 0, opsize32: true,
      };
    }
    case "pop": {
      if (n !== 8) return null;
      // RSP moves first, then the register is written (POP RSP loads the popped value). The
      // handler checks the new RSP is canonical too: the top slot of the lower half is its.
      const cond = `${small("4")} && ((a = ${wide("4")}) < 0x7ffffffffff8) && ${hit(8, false)}`;
      return {
        code: `{ let a = 0; if (${cond}) { const lo = ram32[x], hi = ram32[x + 1]; const t = a + 8; r[4] = t | 0; rh[4] = Math.floor(t / 4294967296) | 0; ` +
          `r[${f.rm}] = lo; rh[${f.rm}] = hi; } else ${name}.handler(cpu, ${name}); }`,
        mem: true, branch: false, disp: 0, opsize32: true,
      };
    }
  }
  return null;
}
