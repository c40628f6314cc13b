// Lowering (docs/jit.md, "Lowering"): tier 2 of the block compiler writes an instruction's
// operand access as inline JavaScript (registers as `r[n]`, the effective address as one
// expression of constants and registers, immediates as literals) around the same semantic
// function its handler calls (`alu`, `incOp`, `decOp`, `shiftOp`, `sx8`, `cpu.condition` …).
// The instruction's meaning stays in one place; what the lowering removes is the handler's
// work of reading the operand kinds, sizes and registers out of the `Instr` at run time.
//
// The opcode table says which rows lower and as what (`OpDef.lower`). Each lowering below
// reads and writes its operands in the order the handler does, so faults, lazy flags and
// memory effects are the same to the instruction.

import type { Instr } from "../instr.js";
import { TLB_DIRTY, TLB_RAM, TLB_SUP_W, TLB_USER, TLB_USER_W, TLB_VALID } from "../tlb-bits.js";
import { lower64, PROLOGUE_64 } from "./lower64.js";

/** One lowered instruction: its code, and whether it can fault or touch memory. */
export interface Lowered {
  code: string;
  /** Reads or writes memory (the stack included): it can fault, and reach a device. */
  mem: boolean;
  /**
   * A conditional jump: `code` is its condition. When it holds, the block runs jumpNear to
   * the next instruction's EIP + `disp` (masked by `opsize32`), as jcc_J, and leaves.
   */
  branch: boolean;
  disp: number;
  opsize32: boolean;
  /**
   * A branch whose taken path is not jumpNear: the statement to run instead (64-bit mode:
   * the Jcc's own handler, which makes the canonical check of the target).
   */
  taken?: string;
}

/** A register, immediate or memory operand, as JavaScript. */
interface Operand {
  /** An expression for its value (memory: read through `a`). */
  read: string;
  /** The read of a read-modify-write (memory: the write check first, as readRmw*). */
  rmw: string;
  /** A statement storing `v`. */
  write(v: string): string;
  mem: boolean;
}

const READ = ["", "cpu.read8", "cpu.read16", "", "cpu.read32"];
const WRITE = ["", "cpu.write8", "cpu.write16", "", "cpu.write32"];

/**
 * What the fast paths read, declared at the top of a tier-2 block (only the
 * names its code uses): `segs`, `tlb`, `ram`, `ram32`, `codePages`, `pg` (paging on and RAM
 * viewable as dwords), `flat` (paging off: linear = physical), `ramSize`, `notRam` and
 * `unwatched` for it, `needR` and `needW` (the TLB bits a read or a write at this CPL needs),
 * and scratch `s`, `lin`, `e`, `x`. CPL, paging, A20 and IA-32e mode cannot change inside a
 * block (no instruction that changes them is straight).
 */
export function prologue(code: string): string {
  const uses = (name: string): boolean => new RegExp(`\\b${name}\\b`).test(code);
  const out: string[] = [];
  if (uses("segs")) out.push("const segs = cpu.segs;");
  if (uses("tlb")) out.push("const tlb = cpu.tlb;");
  if (uses("ram")) out.push("const ram = cpu.mem.ram;");
  if (uses("ram32") || uses("pg") || uses("flat") || uses("lm")) out.push("const ram32 = cpu.ram32;");
  if (uses("codePages")) out.push("const codePages = cpu.mem.codePages;");
  if (uses("pg")) out.push("const pg = cpu.paging && ram32 !== null;");
  // Paging off, no A20 masking, not IA-32e (compatibility mode), no nested paging: linear = physical.
  if (uses("flat")) out.push("const flat = !cpu.paging && cpu.a20 && !cpu.lma && cpu.nested === null && ram32 !== null;");
  if (uses("ramSize")) out.push("const ramSize = cpu.mem.ramSize, notRam = cpu.mem.notRam;");
  if (uses("unwatched")) out.push("const unwatched = !cpu.mem.anyWatched;");
  if (uses("needR")) out.push(`const needR = cpu.cpl === 3 ? ${TLB_VALID | TLB_RAM | TLB_USER} : ${TLB_VALID | TLB_RAM};`);
  if (uses("needW")) out.push(`const needW = cpu.cpl === 3 ? ${TLB_VALID | TLB_RAM | TLB_DIRTY | TLB_USER_W} : ${TLB_VALID | TLB_RAM | TLB_DIRTY | TLB_SUP_W};`);
  for (const [name, declaration] of PROLOGUE_64) if (uses(name)) out.push(declaration);
  if (uses("s")) out.push("let s;");
  if (uses("fsgs")) out.push("let fsgs = 0;");
  const scratch = ["lin", "e", "x", "q"].filter(uses);
  if (scratch.length > 0) out.push(`let ${scratch.map((n) => `${n} = 0`).join(", ")};`);
  return out.join(" ");
}

/** The RAM index of linear `lin` through TLB entry `e`: a byte index, or (size 4) a dword index. */
const index = (size: number): string => (size === 4 ? "(((e & ~0xfff) | (lin & 0xfff)) >>> 2)" : "((e & ~0xfff) | (lin & 0xfff))");
const array = (size: number): string => (size === 4 ? "ram32" : "ram");

/**
 * The inline fast path of a read or write of `size` (1 or 4) bytes at offset `off` in segment
 * `seg`: true when the access is inside the segment's limits, aligned (dwords: so it neither
 * crosses a page nor needs an alignment check), and either its TLB entry maps RAM with the
 * rights needed (and for a write: dirty, not a page holding decoded code) or, with paging
 * off, the address is plain RAM. Then `lin` and `e` are set. Every other case takes the
 * Cpu's own read8/read32/write8/write32, the full path.
 */
function fast(seg: number | string, off: string, size: number, write: boolean): string {
  const lo = write ? "writeLo" : "readLo", hi = write ? "writeHi" : "readHi";
  const need = write ? "needW" : "needR";
  const aligned = size === 4 ? " && (lin & 3) === 0" : "";
  const inSegment = `(s = segs[${seg}], (${off} >>> 0) >= s.${lo} && (${off} >>> 0) <= s.${hi} - ${size - 1}) && ((lin = (s.base + ${off}) | 0), true)${aligned}`;
  // Paging on: the TLB entry. Paging off (`flat`): the linear address is the physical one,
  // which must be RAM (and, for a write, hold no decoded code, with no page watched); `e`
  // is then its page, so the index below serves both.
  const paged = `((e = tlb[lin >>> 12]) & ${need}) === ${need}${write ? " && codePages[e >>> 12] === 0" : ""}`;
  const direct = `lin >= 0 && lin < ramSize && notRam[lin >>> 12] === 0${write ? " && codePages[lin >>> 12] === 0 && unwatched" : ""} && ((e = lin), true)`;
  return `((pg || flat) && ${inSegment} && (pg ? ${paged} : ${direct}))`;
}

/** The Instr's fields as a tier-2 block's code reads them: literals. */
interface Fields {
  rm: string; reg: string; z: string; seg: string;
  disp: string; base: string; index: string; scale: string;
  /** The immediate as decoded, masked to a byte, and as a signed dword. */
  imm: string; imm8: string; imm32: string;
}

function fields(i: Instr): Fields {
  return {
    rm: String(i.rm), reg: String(i.reg), z: String(i.opcode & 7), seg: String(i.seg),
    disp: String(i.disp | 0), base: String(i.eaBase), index: String(i.eaIndex), scale: String(i.eaScale),
    imm: String(i.imm), imm8: String(i.imm & 0xff), imm32: String(i.imm | 0),
  };
}

/** The 32-bit effective address of a ModR/M memory operand (Cpu.ea, its parts known present or absent). */
function effectiveAddress(i: Instr, f: Fields): string {
  const parts = [f.disp];
  if (i.eaBase >= 0) parts.push(`r[${f.base}]`);
  if (i.eaIndex >= 0) parts.push(`(r[${f.index}] << ${f.scale})`);
  // Signed: the Cpu's read/write paths take the offset modulo 2^32 (readAddr's `>>> 0`), and an
  // int32 stays a small integer to V8 where a kernel address above 2^31 would be a boxed number.
  return `((${parts.join(" + ")}) | 0)`;
}

function memory(f: Fields, size: number): Operand {
  const seg = f.seg;
  if (size === 2) {
    return {
      read: `${READ[size]}(${seg}, a)`,
      rmw: `(cpu.checkWrite(${seg}, a, ${size}), ${READ[size]}(${seg}, a))`,
      write: (v) => `${WRITE[size]}(${seg}, a, ${v});`,
      mem: true,
    };
  }
  // A read-modify-write probes for the write (then the read is safe too: a writable data
  // segment is readable, checked anyway) and keeps the RAM index in `x` for the store (-1:
  // the full path, checkWrite then the read, and the write through the Cpu).
  return {
    read: `(${fast(seg, "a", size, false)} ? ${array(size)}[${index(size)}] : ${READ[size]}(${seg}, a))`,
    rmw: `(${fast(seg, "a", size, true)} && (a >>> 0) >= s.readLo && (a >>> 0) <= s.readHi - ${size - 1} ? ${array(size)}[x = ${index(size)}] : ` +
      `(x = -1, cpu.checkWrite(${seg}, a, ${size}), ${READ[size]}(${seg}, a)))`,
    write: (v) => `{ const v = ${v}; if (${fast(seg, "a", size, true)}) ${array(size)}[${index(size)}] = v; else ${WRITE[size]}(${seg}, a, v); }`,
    mem: true,
  };
}

/** The store of a read-modify-write whose read was `memory().rmw` (the index is in `x`). */
function rmwWrite(f: Fields, size: number, v: string): string {
  if (size === 2) return `${WRITE[size]}(${f.seg}, a, ${v});`;
  return `{ const v = ${v}; if (x >= 0) ${array(size)}[x] = v; else ${WRITE[size]}(${f.seg}, a, v); }`;
}

/** PUSH of a dword (Cpu.push32): SS.B = 1 and the fast path, else the Cpu's. */
function push32(v: string): string {
  return `{ const v = ${v}; const sp = (r[4] - 4) | 0; ` +
    `if (segs[2].big && ${fast(2, "sp", 4, true)}) { ram32[${index(4)}] = v; r[4] = sp; } else cpu.push32(v); }`;
}

/** POP of a dword into register `n` (Cpu.pop32, then the store). */
function pop32(n: string): string {
  return `{ const sp = r[4]; let v; ` +
    `if (segs[2].big && ${fast(2, "sp", 4, false)}) { v = ram32[${index(4)}]; r[4] = sp + 4; } else v = cpu.pop32(); r[${n}] = v; }`;
}

function register(n: number | string, size: number): Operand {
  if (size === 1) return { read: `cpu.get8(${n})`, rmw: `cpu.get8(${n})`, write: (v) => `cpu.set8(${n}, ${v});`, mem: false };
  if (size === 2) return { read: `(r[${n}] & 0xffff)`, rmw: `(r[${n}] & 0xffff)`, write: (v) => `cpu.set16(${n}, ${v});`, mem: false };
  return { read: `r[${n}]`, rmw: `r[${n}]`, write: (v) => `r[${n}] = ${v};`, mem: false };
}

function immediate(v: string): Operand {
  return { read: String(v), rmw: String(v), write: () => { throw new Error("write to an immediate"); }, mem: false };
}

/**
 * The operand named `spec` (an opcode-table operand: Eb Ev Ew Gb Gv Ib Iz Ibs AL eAX Zb Zv)
 * as the handler reads it: immediates as the handlers mask them (bytes & 0xff, dwords | 0).
 */
function operand(i: Instr, f: Fields, spec: string): Operand | null {
  switch (spec) {
    case "Eb": return i.hasMem ? memory(f, 1) : register(f.rm, 1);
    case "Ew": return i.hasMem ? memory(f, 2) : register(f.rm, 2);
    case "Ev": return i.hasMem ? memory(f, 4) : register(f.rm, 4);
    case "Gb": return register(f.reg, 1);
    case "Gv": return register(f.reg, 4);
    case "AL": return register(0, 1);
    case "eAX": return register(0, 4);
    case "Zb": return register(f.z, 1);
    case "Zv": return register(f.z, 4);
    case "Ib": return immediate(f.imm8);
    case "Iz": case "Ibs": return immediate(f.imm32);
    default: return null;
  }
}

/** The operand size of a form: 1 for byte forms, 4 for the rest (only 32-bit operand size lowers). */
const sizeOf = (spec: string): number => (spec.endsWith("b") || spec === "AL" ? 1 : 4);

/**
 * Lower `i`, or null when its handler must run: it is not a lowerable row, or a form the
 * lowering does not take (16-bit operand or address size, 64-bit mode, a LOCK prefix, a
 * handler the decoder replaced, e.g. by #UD).
 */
export function lower(i: Instr, name = "i"): Lowered | null {
  if (i.code64) return lower64(i, name);
  const kind = i.def.lower;
  if (kind === undefined || !i.code32 || i.lock || i.handler !== i.def.handler) return null;
  if (i.hasMem && !i.adsize32) return null;
  const specs = i.def.operands;
  if (specs.some((s) => s.endsWith("v") || s === "eAX" || s === "Iz") && !i.opsize32) return null;
  const f = fields(i);
  const pre = i.hasMem ? `const a = ${effectiveAddress(i, f)}; ` : "";
  const wrap = (body: string, mem: boolean): Lowered => ({ code: mem ? `{ ${pre}${body} }` : body, mem, branch: false, disp: 0, opsize32: true });

  switch (kind) {
    case "alu": case "test": {
      const dst = operand(i, f, specs[0]), src = operand(i, f, specs[1]);
      if (dst === null || src === null) return null;
      const size = sizeOf(specs[0]);
      // The /digit of group 1 (80–83), or bits 5:3 of 00–3D; TEST is AND without the store.
      const op = kind === "test" ? 4 : i.opcode >= 0x80 ? i.reg : (i.opcode >> 3) & 7;
      const mem = dst.mem || src.mem;
      if (kind === "test" || op === 7) return wrap(`alu(cpu, ${op}, ${dst.read}, ${src.read}, ${size});`, mem);
      if (dst.mem) return wrap(rmwWrite(f, size, `alu(cpu, ${op}, ${dst.rmw}, ${src.read}, ${size})`), mem);
      return wrap(`${dst.write(`alu(cpu, ${op}, ${dst.read}, ${src.read}, ${size})`)}`, mem);
    }
    case "mov": {
      const dst = operand(i, f, specs[0]), src = operand(i, f, specs[1]);
      if (dst === null || src === null) return null;
      // MOV r/m, imm (C6, C7) and MOV reg, imm (B0–BF) store the immediate as decoded.
      const value = specs[1].startsWith("I") ? f.imm : src.read;
      return wrap(dst.write(value), dst.mem || src.mem);
    }
    case "inc": case "dec": {
      const spec = specs[0];
      const dst = operand(i, f, spec);
      if (dst === null) return null;
      const fn = kind === "inc" ? "incOp" : "decOp";
      const call = `${fn}(cpu, ${dst.rmw}, ${sizeOf(spec)})`;
      return wrap(dst.mem ? rmwWrite(f, sizeOf(spec), call) : dst.write(call), dst.mem);
    }
    case "push": {
      // PUSH r/m (FF /6) is the WebAssembly tier's only.
      if (specs[0] === "Ev") return null;
      const src = operand(i, f, specs[0]);
      if (src === null) return null;
      // PUSH imm (68, 6A) pushes the immediate as decoded, as push_I.
      return wrap(push32(specs[0].startsWith("I") ? f.imm : src.read), true);
    }
    case "pop":
      return wrap(pop32(f.z), true);
    case "lea":
      return i.hasMem ? { code: `r[${f.reg}] = ${effectiveAddress(i, f)};`, mem: false, branch: false, disp: 0, opsize32: true } : null;
    case "movzx": {
      const src = operand(i, f, specs[1]);
      if (src === null) return null;
      return wrap(`r[${f.reg}] = ${src.read};`, src.mem);
    }
    case "movsx": {
      const src = operand(i, f, specs[1]);
      if (src === null) return null;
      return wrap(`r[${f.reg}] = ${specs[1] === "Eb" ? "sx8" : "sx16"}(${src.read});`, src.mem);
    }
    case "shift": {
      // Group 2 (C0 C1 D0–D3), as grp2_Eb/grp2_Ev: a masked count of 0 only reads the operand.
      const dst = operand(i, f, specs[0]);
      if (dst === null) return null;
      const size = sizeOf(specs[0]);
      const count = specs[1] === "1" ? "1" : specs[1] === "CL" ? "(r[1] & 0xff)" : f.imm8;
      const call = `shiftOp(cpu, ${i.reg}, ${dst.rmw}, c, ${size})`;
      return wrap(`{ const c = ${count}; if ((c & 31) === 0) ${dst.read}; else ${dst.mem ? rmwWrite(f, size, call) : dst.write(call)} }`, dst.mem);
    }
    case "setcc": {
      const dst = operand(i, f, specs[0]);
      if (dst === null) return null;
      return wrap(dst.write(`(cpu.condition(${i.opcode & 0xf}) ? 1 : 0)`), dst.mem);
    }
    case "cmovcc": {
      // The source is read (and may fault) whether or not the move happens.
      const src = operand(i, f, specs[1]);
      if (src === null) return null;
      return wrap(`{ const v = ${src.read}; if (cpu.condition(${i.opcode & 0xf})) r[${f.reg}] = v; }`, src.mem);
    }
    case "jcc":
      return { code: `cpu.condition(${i.opcode & 0xf})`, mem: false, branch: true, disp: i.imm | 0, opsize32: i.opsize32 };
  }
  return null;
}
