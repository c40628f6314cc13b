// Difftest: what the 32-bit and the 64-bit SIMD groups share: the opcode table's MMX, SSE,
// SSE2, SSE3 and SSSE3 rows they generate from, and interesting single and double values.

import { OPCODES, opcodeBytes as tableOpcodeBytes, type OpDef } from "../../src/hw/cpu/opcode-table.js";

/** What these need of a random source (both difftests' generators have it). */
export interface Rand { int(n: number): number }
const u32 = (r: Rand): number => (r.int(0x10000) * 0x10000 + r.int(0x10000)) >>> 0;

/** Rows not generated: approximations (RCP/RSQRT: each part has its own table, docs/sse.md),
 *  stores through [EDI] (MASKMOV*), the whole-state and MXCSR loads (the prologue's job),
 *  and the 0F 18 hint space. */
const SSE_SKIP = new Set(["rcpps", "rcpss", "rsqrtps", "rsqrtss", "maskmovq", "maskmovdqu", "fxsave", "fxrstor", "ldmxcsr"]);
export const SSE_ROWS: OpDef[] = OPCODES.filter((d) =>
  d.opcode >= 0x0f00 && d.opcode !== 0x0f18 && (d.feature === "mmx" || d.feature === "sse" || d.feature === "sse2" || d.feature === "sse3" || d.feature === "ssse3") &&
  !SSE_SKIP.has(d.mnemonic));

/** Memory operand size in bytes from an operand's size letters (opcode-table notation). */
export function simdBytes(o: string): number {
  const t = o.replace(/^Rd\/M/, "").slice(1);
  return ({ ps: 16, pd: 16, x: 16, ss: 4, d: 4, sd: 8, q: 8, y: 4, w: 2, b: 1 } as Record<string, number>)[t] ?? 16;
}

/** An interesting single-precision value: zeros, ones, infinities, NaNs, denormals, extremes, random. */
export function f32Bits(r: Rand): number {
  const s = r.int(2) === 0 ? 0x80000000 : 0;
  switch (r.int(12)) {
    case 0: return s;
    case 1: return s | 0x3f800000;
    case 2: return s | 0x7f800000;
    case 3: return s | 0x7fc00000 | (u32(r) & 0x3fffff);
    case 4: return s | 0x7f800000 | ((u32(r) & 0x3fffff) || 1);
    case 5: return s | (u32(r) & 0x7fffff);
    case 6: return s | (((1 + r.int(24)) << 23) | (u32(r) & 0x7fffff));
    case 7: return s | (((230 + r.int(25)) << 23) | (u32(r) & 0x7fffff));
    case 8: return s | 0x00800000 | (r.int(2) === 0 ? 0 : u32(r) & 0xff);
    default: return s | (((120 + r.int(16)) << 23) | (u32(r) & 0x7fffff));
  }
}

/** An interesting double as [low, high] dwords. */
export function f64Words(r: Rand): [number, number] {
  const s = r.int(2) === 0 ? 0x80000000 : 0;
  const lo = r.int(10) < 3 ? 0 : u32(r);
  const f = u32(r) & 0xfffff;
  switch (r.int(12)) {
    case 0: return [0, s];
    case 1: return [0, s | 0x3ff00000];
    case 2: return [0, s | 0x7ff00000];
    case 3: return [lo, s | 0x7ff80000 | (f & 0x7ffff)];
    case 4: return [lo || 1, s | 0x7ff00000 | (f & 0x7ffff)];
    case 5: return [lo, s | f];
    case 6: return [lo, s | ((1 + r.int(60)) << 20) | f];
    case 7: return [lo, s | ((1990 + r.int(57)) << 20) | f];
    case 8: return [lo, s | 0x36a00000 | f]; // near the smallest single
    default: return [lo, s | ((1010 + r.int(30)) << 20) | f];
  }
}


/** The opcode bytes of a row without its mandatory prefix (the generators place prefixes themselves). */
export function opcodeBytes(d: OpDef): number[] {
  const b = tableOpcodeBytes(d);
  return d.prefix ? b.slice(1) : b;
}
