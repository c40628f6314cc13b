// The arithmetic flags of a lazy record and the conditions of Jcc, SETcc and CMOVcc, defined
// once, as expressions (docs/jit.md, "One definition"). The interpreter's functions are
// generated from them here (`LAZY_FLAG`, `CONDITION`); the block compiler's WebAssembly tier
// (jit/wasm-block.ts) emits the same expressions with the operation and size it knows when
// it compiles. SDM vol. 1 §3.4.3.1 and appendix A (EFLAGS Cross-Reference), and the
// instruction pages of ADD ADC SUB SBB NEG INC DEC AND OR XOR TEST CMP.
//
// A lazy record (Cpu.setLazy) is the operation, the operands `d` and `s`, the result `r`
// (all int32: only the low `size` bytes matter), the carry in `cin` of ADC and SBB, and the
// size. `mask` is the size's mask and `sh` the number of its sign bit. Every value is an
// int32 and every operation a 32-bit integer one, so the expressions mean the same in
// JavaScript and in WebAssembly.

import * as F from "./eflags.js";

/** The operations of LazyOp (cpu.ts: ADD ADC SUB SBB LOGIC INC DEC NEG SHL SHR SAR IMUL), the tables' index. */
export const LAZY_OPS = 12;

/** A field of the record, or a constant of its size (`bits` = size * 8, `sh` = bits - 1). */
export type Leaf = "d" | "s" | "r" | "cin" | "mask" | "sh" | "bits";
export type Flag = "CF" | "PF" | "AF" | "ZF" | "SF" | "OF";
export type Binary = "and" | "or" | "xor" | "sub" | "shl" | "shru" | "shrs" | "ltu" | "eq" | "ne";
/** An int32 expression; comparisons and `parity` give 0 or 1; `sel` is (a ? b : c). */
export type Expr = number | Leaf | Flag | readonly [Binary, Expr, Expr] | readonly ["parity", Expr] | readonly ["sel", Expr, Expr, Expr];

const m = (x: Expr): Expr => ["and", x, "mask"];
const bit = (x: Expr, n: Expr): Expr => ["and", ["shru", x, n], 1];
/** Carry out of d + s (+ cin): the masked result is below d (or equal to it with a carry in). */
const carryAdd = (cin: boolean): Expr => (cin ? ["or", ["ltu", m("r"), m("d")], ["and", "cin", ["eq", m("r"), m("d")]]] : ["ltu", m("r"), m("d")]);
/** Borrow of d - s (- cin). */
const borrowSub = (cin: boolean): Expr => (cin ? ["or", ["ltu", m("d"), m("s")], ["and", "cin", ["eq", m("d"), m("s")]]] : ["ltu", m("d"), m("s")]);
const overflowAdd: Expr = bit(["and", ["xor", "d", "r"], ["xor", "s", "r"]], "sh");
const overflowSub: Expr = bit(["and", ["xor", "d", "s"], ["xor", "d", "r"]], "sh");
const adjust: Expr = bit(["xor", ["xor", "d", "s"], "r"], 4);
// Shifts by `s` (1–31, the masked count) of `d` (the operand, masked to its size); SDM vol. 2
// "SAL/SAR/SHL/SHR". A count past the size shifts everything out (SHL, SHR: CF 0; SAR: the
// sign). OF is SHL's top bit XOR CF, SHR's original top bit, SAR's 0 (P6 computes it so for
// every count); AF is left clear, as P6 does.
const countPast: Expr = ["ltu", "bits", "s"];
const carryShl: Expr = ["sel", countPast, 0, bit("d", ["sub", "bits", "s"])];
const carryShr: Expr = ["sel", countPast, 0, bit("d", ["sub", "s", 1])];
const signExtended: Expr = ["shrs", ["shl", "d", ["sub", 32, "bits"]], ["sub", 32, "bits"]];
// IMUL r32, r/m32 (and its immediate forms): `d` is the high dword of the signed product, `r`
// the low one kept; CF = OF = the product did not fit (the high dword is not r's sign); AF is
// left clear, SF ZF PF follow the result (as P6 does).
const productOverflow: Expr = ["ne", "d", ["shrs", "r", "sh"]];
const carrySar: Expr = ["sel", ["ltu", "s", "bits"], ["and", ["shrs", signExtended, ["sub", "s", 1]], 1], bit("d", "sh")];

/**
 * Each flag of a lazy record, by operation (Op order). INC and DEC leave CF as it was
 * (Cpu.setLazy keeps it outside the record), so their CF here is never read.
 */
export const FLAG_OF_RECORD: Readonly<Record<Flag, readonly Expr[]>> = {
  CF: [carryAdd(false), carryAdd(true), borrowSub(false), borrowSub(true), 0, 0, 0, ["ne", m("s"), 0], carryShl, carryShr, carrySar, productOverflow],
  OF: [overflowAdd, overflowAdd, overflowSub, overflowSub, 0, overflowAdd, overflowSub, overflowSub, ["xor", bit("r", "sh"), carryShl], bit("d", "sh"), 0, productOverflow],
  AF: [adjust, adjust, adjust, adjust, 0, adjust, adjust, adjust, 0, 0, 0, 0],
  ZF: Array<Expr>(LAZY_OPS).fill(["eq", m("r"), 0]),
  SF: Array<Expr>(LAZY_OPS).fill(bit("r", "sh")),
  PF: Array<Expr>(LAZY_OPS).fill(["parity", "r"]),
};

/** The conditions of Jcc/SETcc/CMOVcc by cc >> 1 (cc & 1 negates): SDM vol. 1 appendix B. */
export const CONDITION_OF_FLAGS: readonly Expr[] = [
  "OF", "CF", "ZF", ["or", "CF", "ZF"], "SF", "PF", ["ne", "SF", "OF"], ["or", "ZF", ["ne", "SF", "OF"]],
];

/** Parity of the low byte as 0/1 (PF), for the JavaScript back end. */
const PARITY01 = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let p = 1;
  for (let b = i; b !== 0; b >>= 1) p ^= b & 1;
  PARITY01[i] = p;
}

/** `e` as JavaScript over the names `d s r cin mask sh` (flags by `flag`). */
export function toJs(e: Expr, flag: (f: Flag) => string = (f) => { throw new Error(`flag ${f} in a record expression`); }): string {
  if (typeof e === "number") return String(e);
  if (typeof e === "string") return e === "CF" || e === "PF" || e === "AF" || e === "ZF" || e === "SF" || e === "OF" ? flag(e) : e;
  if (e[0] === "parity") return `PARITY01[(${toJs(e[1], flag)}) & 0xff]`;
  if (e[0] === "sel") return `((${toJs(e[1], flag)}) !== 0 ? (${toJs(e[2], flag)}) : (${toJs(e[3], flag)}))`;
  const a = toJs(e[1], flag), b = toJs(e[2], flag);
  switch (e[0]) {
    case "and": return `((${a}) & (${b}))`;
    case "or": return `((${a}) | (${b}))`;
    case "xor": return `((${a}) ^ (${b}))`;
    case "sub": return `((${a}) - (${b}) | 0)`;
    case "shl": return `((${a}) << (${b}))`;
    case "shrs": return `((${a}) >> (${b}))`;
    case "shru": return `((${a}) >>> (${b}))`;
    case "ltu": return `(((${a}) >>> 0) < ((${b}) >>> 0) ? 1 : 0)`;
    case "eq": return `((${a}) === (${b}) ? 1 : 0)`;
    case "ne": return `((${a}) !== (${b}) ? 1 : 0)`;
  }
}

/** A flag (0 or 1) of the record (op, d, s, r, cin, size): the interpreter's lazy flags. */
export type RecordFlag = (op: number, d: number, s: number, r: number, cin: number, size: number) => number;

function recordFlag(flag: Flag): RecordFlag {
  const exprs = FLAG_OF_RECORD[flag];
  // ZF, SF and PF are the same for every operation: no switch.
  const same = exprs.every((e) => toJs(e) === toJs(exprs[0]));
  const cases = same ? `default: return ${toJs(exprs[0])};` : exprs.map((e, op) => `case ${op}: return ${toJs(e)};`).join(" ");
  // `(x & mask)` is an int32 for every size (0xffffffff & x is x | 0), so `===` compares alike.
  const src = `return function lazy${flag}(op, d, s, r, cin, size) {
    const mask = size === 4 ? -1 : size === 2 ? 0xffff : 0xff, bits = size * 8, sh = bits - 1;
    switch (op) { ${cases}${same ? "" : " default: return 0;"} }
  };`;
  return new Function("PARITY01", src)(PARITY01) as RecordFlag;
}

/** The six flags of a lazy record, generated from FLAG_OF_RECORD. */
export const LAZY_FLAG: Readonly<Record<Flag, RecordFlag>> = {
  CF: recordFlag("CF"), PF: recordFlag("PF"), AF: recordFlag("AF"), ZF: recordFlag("ZF"), SF: recordFlag("SF"), OF: recordFlag("OF"),
};

/** The EFLAGS bit of each flag. */
export const FLAG_BIT: Readonly<Record<Flag, number>> = { CF: F.CF, PF: F.PF, AF: F.AF, ZF: F.ZF, SF: F.SF, OF: F.OF };

/** Anything with the flag getters (the Cpu): what a generated condition reads. */
export interface FlagReader {
  getCF(): boolean; getPF(): boolean; getAF(): boolean; getZF(): boolean; getSF(): boolean; getOF(): boolean;
}

/** Condition `cc` (0–15) of `cpu`'s flags, generated from CONDITION_OF_FLAGS. */
export const CONDITION: (cpu: FlagReader, cc: number) => boolean = (() => {
  const cases = CONDITION_OF_FLAGS.map((e, k) => `case ${k}: r = ${toJs(e, (f) => `(cpu.get${f}() ? 1 : 0)`)}; break;`).join(" ");
  const src = `return function condition(cpu, cc) { let r = 0; switch (cc >> 1) { ${cases} } return (r ^ (cc & 1)) !== 0; };`;
  return new Function(src)() as (cpu: FlagReader, cc: number) => boolean;
})();
