// The real oracle: thousands of x87 instructions run on the host CPU and on the model, with
// results (registers, status word, tag word, stored memory, EFLAGS) compared byte for byte.
// Transcendentals are compared to within 1 ulp (hardware is not correctly rounded there).
// Skipped when i386 binaries cannot be assembled or run on this machine.

import { test } from "node:test";
import assert from "node:assert/strict";
import { BLOCK, NativeCase, OFF_EFL, OFF_MEM, OFF_SAVE, OFF_SW, nativeAvailable, runModel, runNative } from "../../../test/support/fpu-native-harness.js";

const available = nativeAvailable();

// Deterministic PRNG (xorshift32).
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

function f80(sign: number, exp: number, hi: number, lo: number): Uint8Array {
  const b = new Uint8Array(10);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, lo >>> 0, true);
  dv.setUint32(4, hi >>> 0, true);
  dv.setUint16(8, ((sign << 15) | exp) & 0xffff, true);
  return b;
}

/** A random operand from an interesting class. */
function value(r: () => number, near?: number): Uint8Array {
  const sign = r() & 1;
  const pick = r() % 100;
  const hi = (r() | 0x80000000) >>> 0;
  const lo = r();
  if (pick < 55) {
    const exp = near !== undefined ? near + ((r() % 140) - 70) : 16383 + ((r() % 200) - 100);
    return f80(sign, Math.max(1, Math.min(0x7ffe, exp)), hi, lo);
  }
  if (pick < 62) return f80(sign, 0x7ffe - (r() % 3), hi, lo); // near overflow
  if (pick < 69) return f80(sign, 1 + (r() % 70), hi, lo); // near underflow
  if (pick < 73) return f80(sign, 0, hi & 0x7fffffff, lo); // denormal
  if (pick < 76) return f80(sign, 0, 0, 0);
  if (pick < 79) return f80(sign, 0x7fff, 0x80000000, 0);
  if (pick < 82) return f80(sign, 0x7fff, (hi | 0x40000000) >>> 0, lo); // QNaN
  if (pick < 84) return f80(sign, 0x7fff, (hi & ~0x40000000) | 1, lo); // SNaN
  if (pick < 85) return f80(sign, 16383 + (r() % 10), hi & 0x7fffffff, lo); // unnormal
  // short significands: small integers and simple fractions, exact-result territory
  const bits = 1 + (r() % 24);
  const m = (r() >>> (32 - bits)) | 1;
  const n = Math.clz32(m);
  return f80(sign, 16383 + 31 - n - (r() % 8), (m << n) >>> 0, 0);
}

function expOf(v: Uint8Array): number {
  return (v[8] | (v[9] << 8)) & 0x7fff;
}

function randomCw(r: () => number): number {
  const rc = r() & 3;
  const pc = [0, 2, 3, 3][r() & 3];
  // Mostly all masked; sometimes unmask one exception.
  let masks = 0x3f;
  if (r() % 5 === 0) masks &= ~(1 << r() % 6);
  return 0x1040 | (rc << 10) | (pc << 8) | masks;
}

interface OpSpec {
  name: string;
  opcode: number;
  modrm: number;
  stack: number;
  /** memory operand kind */
  mem?: "m32" | "m64" | "m80" | "i16" | "i32" | "i64" | "bcd";
  approx?: boolean;
  /** condition codes compared (default all) */
  ccMask?: number;
  eflags?: boolean;
}

const ARITH = [0, 1, 4, 5, 6, 7];
const OPS: OpSpec[] = [];
for (const r of ARITH) {
  OPS.push({ name: `D8 reg/${r}`, opcode: 0xd8, modrm: 0xc1 | (r << 3), stack: 2, ccMask: 0x200 });
  OPS.push({ name: `DC reg/${r}`, opcode: 0xdc, modrm: 0xc1 | (r << 3), stack: 2, ccMask: 0x200 });
  OPS.push({ name: `DE reg/${r}`, opcode: 0xde, modrm: 0xc1 | (r << 3), stack: 2, ccMask: 0x200 });
  OPS.push({ name: `D8 m32/${r}`, opcode: 0xd8, modrm: 0x05 | (r << 3), stack: 1, mem: "m32", ccMask: 0x200 });
  OPS.push({ name: `DC m64/${r}`, opcode: 0xdc, modrm: 0x05 | (r << 3), stack: 1, mem: "m64", ccMask: 0x200 });
  OPS.push({ name: `DA i32/${r}`, opcode: 0xda, modrm: 0x05 | (r << 3), stack: 1, mem: "i32", ccMask: 0x200 });
  OPS.push({ name: `DE i16/${r}`, opcode: 0xde, modrm: 0x05 | (r << 3), stack: 1, mem: "i16", ccMask: 0x200 });
}
OPS.push(
  { name: "FCOM", opcode: 0xd8, modrm: 0xd1, stack: 2 },
  { name: "FCOMP m64", opcode: 0xdc, modrm: 0x1d, stack: 1, mem: "m64" },
  { name: "FICOM m16", opcode: 0xde, modrm: 0x15, stack: 1, mem: "i16" },
  { name: "FUCOM", opcode: 0xdd, modrm: 0xe1, stack: 2 },
  { name: "FCOMPP", opcode: 0xde, modrm: 0xd9, stack: 2 },
  { name: "FUCOMPP", opcode: 0xda, modrm: 0xe9, stack: 2 },
  { name: "FCOMI", opcode: 0xdb, modrm: 0xf1, stack: 2, eflags: true },
  { name: "FUCOMIP", opcode: 0xdf, modrm: 0xe9, stack: 2, eflags: true },
  { name: "FTST", opcode: 0xd9, modrm: 0xe4, stack: 1 },
  { name: "FXAM", opcode: 0xd9, modrm: 0xe5, stack: 1 },
  { name: "FSQRT", opcode: 0xd9, modrm: 0xfa, stack: 1, ccMask: 0x200 },
  { name: "FRNDINT", opcode: 0xd9, modrm: 0xfc, stack: 1, ccMask: 0x200 },
  { name: "FSCALE", opcode: 0xd9, modrm: 0xfd, stack: 2, ccMask: 0x200 },
  { name: "FXTRACT", opcode: 0xd9, modrm: 0xf4, stack: 1, ccMask: 0x200 },
  { name: "FPREM", opcode: 0xd9, modrm: 0xf8, stack: 2 },
  { name: "FPREM1", opcode: 0xd9, modrm: 0xf5, stack: 2 },
  { name: "FCHS", opcode: 0xd9, modrm: 0xe0, stack: 1, ccMask: 0x200 },
  { name: "FABS", opcode: 0xd9, modrm: 0xe1, stack: 1, ccMask: 0x200 },
  { name: "FST m32", opcode: 0xd9, modrm: 0x15, stack: 1, mem: "m32", ccMask: 0x200 },
  { name: "FSTP m64", opcode: 0xdd, modrm: 0x1d, stack: 1, mem: "m64", ccMask: 0x200 },
  { name: "FSTP m80", opcode: 0xdb, modrm: 0x3d, stack: 1, mem: "m80", ccMask: 0x200 },
  { name: "FIST m16", opcode: 0xdf, modrm: 0x15, stack: 1, mem: "i16", ccMask: 0x200 },
  { name: "FISTP m32", opcode: 0xdb, modrm: 0x1d, stack: 1, mem: "i32", ccMask: 0x200 },
  { name: "FISTP m64", opcode: 0xdf, modrm: 0x3d, stack: 1, mem: "i64", ccMask: 0x200 },
  { name: "FBSTP", opcode: 0xdf, modrm: 0x35, stack: 1, mem: "bcd", ccMask: 0x200 },
  { name: "FLD m32", opcode: 0xd9, modrm: 0x05, stack: 1, mem: "m32", ccMask: 0x200 },
  { name: "FLD m64", opcode: 0xdd, modrm: 0x05, stack: 1, mem: "m64", ccMask: 0x200 },
  { name: "FILD m64", opcode: 0xdf, modrm: 0x2d, stack: 1, mem: "i64", ccMask: 0x200 },
  { name: "FBLD", opcode: 0xdf, modrm: 0x25, stack: 1, mem: "bcd", ccMask: 0x200 },
  { name: "FXCH", opcode: 0xd9, modrm: 0xc9, stack: 2, ccMask: 0x200 },
  { name: "FLD ST(1)", opcode: 0xd9, modrm: 0xc1, stack: 2, ccMask: 0x200 },
  { name: "FCMOVB", opcode: 0xda, modrm: 0xc1, stack: 2, ccMask: 0x200, eflags: true },
  { name: "FCMOVNBE", opcode: 0xdb, modrm: 0xd1, stack: 2, ccMask: 0x200, eflags: true },
  { name: "F2XM1", opcode: 0xd9, modrm: 0xf0, stack: 1, approx: true, ccMask: 0 },
  { name: "FYL2X", opcode: 0xd9, modrm: 0xf1, stack: 2, approx: true, ccMask: 0 },
  { name: "FYL2XP1", opcode: 0xd9, modrm: 0xf9, stack: 2, approx: true, ccMask: 0 },
  { name: "FPTAN", opcode: 0xd9, modrm: 0xf2, stack: 1, approx: true, ccMask: 0x400 },
  { name: "FPATAN", opcode: 0xd9, modrm: 0xf3, stack: 2, approx: true, ccMask: 0 },
  { name: "FSIN", opcode: 0xd9, modrm: 0xfe, stack: 1, approx: true, ccMask: 0x400 },
  { name: "FCOS", opcode: 0xd9, modrm: 0xff, stack: 1, approx: true, ccMask: 0x400 },
  { name: "FSINCOS", opcode: 0xd9, modrm: 0xfb, stack: 1, approx: true, ccMask: 0x400 },
);
for (let k = 0; k < 7; k++) OPS.push({ name: `FLDconst ${k}`, opcode: 0xd9, modrm: 0xe8 + k, stack: 0, ccMask: 0x200 });

function memFor(r: () => number, kind: string, near?: number): Uint8Array {
  const m = new Uint8Array(16);
  const dv = new DataView(m.buffer);
  switch (kind) {
    case "m32": {
      const v = value(r, near);
      // convert a random-class value's pattern into m32 by picking fields
      const cls = r() % 10;
      const s = r() & 1;
      const e = cls < 6 ? 127 + ((r() % 60) - 30) : cls < 7 ? 0 : cls < 8 ? 255 : 1 + (r() % 253);
      dv.setUint32(0, ((s << 31) | (e << 23) | (r() & 0x7fffff)) >>> 0, true);
      void v;
      break;
    }
    case "m64": {
      const cls = r() % 10;
      const s = r() & 1;
      const e = cls < 6 ? 1023 + ((r() % 120) - 60) : cls < 7 ? 0 : cls < 8 ? 2047 : 1 + (r() % 2045);
      dv.setUint32(4, ((s << 31) | (e << 20) | (r() & 0xfffff)) >>> 0, true);
      dv.setUint32(0, r(), true);
      break;
    }
    case "i16":
      dv.setUint16(0, r() % 3 === 0 ? r() & 0xffff : (r() % 200) - 100, true);
      break;
    case "i32":
      dv.setUint32(0, r() % 3 === 0 ? r() : ((r() % 2000) - 1000) >>> 0, true);
      break;
    case "i64":
      dv.setUint32(0, r(), true);
      dv.setUint32(4, r() % 2 ? r() : r() % 2 ? 0 : 0xffffffff, true);
      break;
    case "bcd":
      for (let i = 0; i < 9; i++) m[i] = ((r() % 10) << 4) | r() % 10;
      m[9] = r() & 0x80;
      break;
    case "m80":
      m.set(value(r, near));
      break;
  }
  return m;
}

/** Inputs for a case; conversions get values in their interesting ranges. */
function inputsFor(r: () => number, op: OpSpec): Uint8Array[] {
  const ins: Uint8Array[] = [];
  const first = value(r);
  for (let j = 0; j < op.stack; j++) {
    let v = j === 0 ? first : value(r, r() % 2 ? expOf(first) : undefined);
    if (op.mem === "i16" || op.mem === "i32" || op.mem === "i64" || op.mem === "bcd") {
      if (r() % 2) v = value(r, 16383 + (r() % 66));
    }
    if (op.name.startsWith("FS") || op.name.startsWith("FCOS") || op.name === "FPTAN") {
      if (r() % 3) v = value(r, 16383 + ((r() % 40) - 10));
    }
    // Keep F2XM1 (|x| ≤ 1) and FYL2XP1 (|x| < 1 − √2/2) inside their architectural domains.
    if (op.name === "F2XM1" && expOf(v) >= 16383 && expOf(v) !== 0x7fff) v = value(r, 16383 - 40);
    if (op.name === "F2XM1" && expOf(v) >= 16383 && expOf(v) !== 0x7fff) v = f80(r() & 1, 16382, r() | 0x80000000, r());
    if (op.name === "FYL2XP1" && j === op.stack - 1 && expOf(v) >= 16381 && expOf(v) !== 0x7fff) {
      v = f80(r() & 1, 16381 - (r() % 80), r() | 0x80000000, r());
    }
    if (op.name === "FSCALE" && j === 0 && r() % 3) v = f80(r() & 1, 16383 + (r() % 15), (r() | 0x80000000) >>> 0, 0);
    ins.push(v);
  }
  return ins;
}

function ulpDistance(a: Uint8Array, b: Uint8Array): number {
  // Treat sign|exp|significand as an ordered integer (same sign only).
  if ((a[9] & 0x80) !== (b[9] & 0x80)) return Infinity;
  const big = (v: Uint8Array): bigint => {
    let x = 0n;
    for (let i = 9; i >= 0; i--) x = (x << 8n) | BigInt(i === 9 ? v[i] & 0x7f : v[i]);
    // Drop the explicit J bit so that consecutive binades are adjacent.
    const j = 1n << 63n;
    return ((x >> 64n) << 63n) | (x & (j - 1n));
  };
  const d = big(a) - big(b);
  return Number(d < 0n ? -d : d);
}

interface Mismatch {
  op: string;
  detail: string;
}

function compareCase(op: OpSpec, c: NativeCase, nat: Uint8Array, mod: Uint8Array, base: number): Mismatch | null {
  const ccMask = op.ccMask ?? 0x4700;
  const swMask = 0xb8ff | ccMask; // B, TOP, ES, SF, flags + selected condition codes
  const nsw = nat[base + OFF_SW] | (nat[base + OFF_SW + 1] << 8);
  const msw = mod[base + OFF_SW] | (mod[base + OFF_SW + 1] << 8);
  const details: string[] = [];
  let approxOk = true;
  const flagMask = op.approx ? 0xfcff & ~0x20 : 0xffff; // PE/C1 not compared for approximate ops
  if ((nsw & swMask & flagMask) !== (msw & swMask & flagMask)) details.push(`sw native ${nsw.toString(16)} model ${msw.toString(16)}`);
  const s = base + OFF_SAVE;
  const ntw = nat[s + 8] | (nat[s + 9] << 8);
  const mtw = mod[s + 8] | (mod[s + 9] << 8);
  if (ntw !== mtw) details.push(`tw native ${ntw.toString(16)} model ${mtw.toString(16)}`);
  const top = (nsw >> 11) & 7;
  for (let i = 0; i < 8; i++) {
    const tag = (ntw >> (2 * ((top + i) & 7))) & 3;
    if (tag === 3) continue;
    const a = nat.subarray(s + 28 + 10 * i, s + 38 + 10 * i);
    const b = mod.subarray(s + 28 + 10 * i, s + 38 + 10 * i);
    if (a.some((x, k) => x !== b[k])) {
      if (op.approx && ulpDistance(a, b) <= 1) continue;
      approxOk = false;
      details.push(`ST(${i}) native ${hex(a)} model ${hex(b)}`);
    }
  }
  const nm = nat.subarray(base + OFF_MEM, base + OFF_MEM + 16);
  const mm = mod.subarray(base + OFF_MEM, base + OFF_MEM + 16);
  if (nm.some((x, k) => x !== mm[k])) details.push(`mem native ${hex(nm)} model ${hex(mm)}`);
  if (op.eflags && op.name.startsWith("FU") !== undefined && op.name.includes("COMI")) {
    const ne = nat[base + OFF_EFL] & 0x45;
    const me = mod[base + OFF_EFL] & 0x45;
    if (ne !== me) details.push(`eflags native ${ne.toString(16)} model ${me.toString(16)}`);
  }
  void approxOk;
  if (!details.length) return null;
  const ins = c.inputs.map(hex).join(" ");
  return { op: op.name, detail: `cw=${c.cw.toString(16)} in=[${ins}] mem=${c.mem ? hex(c.mem) : "-"}: ${details.join("; ")}` };
}

function hex(a: Uint8Array): string {
  return Array.from(a)
    .reverse()
    .map((x) => x.toString(16).padStart(2, "0"))
    .join("");
}

function runModelTimed(): void {}

test("model matches the host x87 on random operands", { skip: !available && "no i386 toolchain" }, (t) => {
  const r = rng(0x1234567);
  const cases: NativeCase[] = [];
  const specs: OpSpec[] = [];
  const PER_OP = Number(process.env.FPU_NATIVE_PER_OP ?? 200);
  const only = process.env.FPU_NATIVE_ONLY;
  for (const op of OPS) {
    if (only && !op.name.startsWith(only)) continue;
    for (let k = 0; k < PER_OP; k++) {
      const c: NativeCase = { cw: randomCw(r), inputs: inputsFor(r, op), opcode: op.opcode, modrm: op.modrm };
      if (op.mem) c.mem = memFor(r, op.mem);
      if (op.eflags) c.eflags = 0x202 | (r() & 0x45);
      cases.push(c);
      specs.push(op);
    }
  }
  const nat = runNative(cases);
  const mod = runModel(cases);
  void runModelTimed;
  const bad: Mismatch[] = [];
  cases.forEach((c, i) => {
    const m = compareCase(specs[i], c, nat, mod, i * BLOCK);
    if (m) bad.push(m);
  });
  const byOp = new Map<string, number>();
  for (const m of bad) byOp.set(m.op, (byOp.get(m.op) ?? 0) + 1);
  t.diagnostic(`${cases.length} cases, ${bad.length} mismatches`);
  for (const [k, v] of byOp) t.diagnostic(`${k}: ${v}`);
  for (const m of bad.slice(0, Number(process.env.FPU_NATIVE_SHOW ?? 30))) t.diagnostic(`${m.op}: ${m.detail}`);
  assert.equal(bad.length, 0);
});
