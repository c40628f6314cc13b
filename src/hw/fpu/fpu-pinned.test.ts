// Pinned cases from the native differential test (test/difftest): exact inputs that once
// differed between the model and the host CPU, with the expected status word and registers
// as the silicon (AMD EPYC, Zen 4) produced them. Values are 80-bit images written as
// "SEEE:HHHHHHHH:LLLLLLLL" (sign/exponent word, significand high and low dwords).

import { test } from "node:test";
import assert from "node:assert/strict";
import { Fpu } from "./fpu.js";
import { FlatHost } from "../../../test/support/fpu-native-harness.js";
import { FpuInstr } from "./fpu-host.js";

const BASE = 0x1000;

interface Pinned {
  cw: number;
  /** Pushed in order with FLD m80 (the last one ends up in ST(0)). */
  inputs: string[];
  /** Register-form instructions [escape, ModR/M] run before the one under test. */
  pre?: Array<[number, number]>;
  eflags?: number;
  /** Bytes of the memory operand (at BASE + 0x40) of the instruction under test. */
  mem?: number[];
  op: [number, number];
  sw: number;
  st0?: string;
  /** EFLAGS & (ZF|PF|CF) after the instruction, for FCOMI. */
  zpc?: number;
}

function run(p: Pinned): { sw: number; st0: string; eflags: number } {
  const fpu = new Fpu();
  const mem = new Uint8Array(256);
  const host = new FlatHost(mem, BASE);
  const instr: FpuInstr = { opcode: 0, modrm: 0, seg: 3, offset: BASE, operandSize32: true, protectedMode: true, cs: 0x1b, eip: 0x4000, operandSelector: 0x23 };
  const dv = new DataView(mem.buffer);
  const x = (op: number, modrm: number): void => {
    instr.opcode = op;
    instr.modrm = modrm;
    assert.ok(fpu.execute(instr, host));
  };
  x(0xdb, 0xe3); // FNINIT
  dv.setUint16(0, p.cw, true);
  x(0xd9, 0x2d); // FLDCW [BASE]
  for (const v of p.inputs) {
    const [se, hi, lo] = v.split(":").map((s) => parseInt(s, 16));
    dv.setUint32(0, lo >>> 0, true);
    dv.setUint32(4, hi >>> 0, true);
    dv.setUint16(8, se, true);
    x(0xdb, 0x2d); // FLD m80 [BASE]
  }
  for (const [op, m] of p.pre ?? []) x(op, m);
  if (p.eflags !== undefined) host.eflags = p.eflags;
  mem.set(p.mem ?? [], 0x40);
  instr.offset = BASE + 0x40;
  x(p.op[0], p.op[1]);
  instr.offset = BASE;
  const sw = fpu.statusWord();
  x(0xdb, 0x3d); // FSTP m80 [BASE]
  const st0 = [dv.getUint16(8, true), dv.getUint32(4, true), dv.getUint32(0, true)].map((v, i) => v.toString(16).padStart(i ? 8 : 4, "0")).join(":");
  return { sw, st0, eflags: host.eflags };
}

function check(name: string, p: Pinned): void {
  const r = run(p);
  assert.equal(r.sw.toString(16), p.sw.toString(16), `${name}: status word`);
  if (p.st0 !== undefined) assert.equal(r.st0, p.st0, `${name}: ST(0)`);
  if (p.zpc !== undefined) assert.equal((r.eflags & 0x45).toString(16), p.zpc.toString(16), `${name}: ZF/PF/CF`);
}

const FPREM = [0xd9, 0xf8] as [number, number];
const FPREM1 = [0xd9, 0xf5] as [number, number];
const FUCOMP_ST1 = [0xdd, 0xe9] as [number, number];
const FXAM = [0xd9, 0xe5] as [number, number];

test("FPREM/FPREM1 partial remainder (C2 = 1) clears C0, C3 and C1", () => {
  // difftest seed 7 case 460 family: FUCOMP left C0 = 1 (and C3 = 1 for unordered); the
  // partial FPREM1 reports SW 3400 natively, not 3500/7400 (old C0/C3 kept).
  check("fprem1 d=136", {
    cw: 0x37f,
    inputs: ["3ff4:b1343a3e:780781e7", "407c:fb7908ab:17e4f63d", "fffe:80000000:00000000"],
    pre: [FUCOMP_ST1],
    op: FPREM1,
    sw: 0x3400,
    st0: "4053:e8475b18:a0a93608",
  });
  check("fprem unordered before", {
    cw: 0x37f,
    inputs: ["3ff4:b1343a3e:780781e7", "407c:fb7908ab:17e4f63d", "7fff:c0000000:00000000"],
    pre: [FUCOMP_ST1],
    op: FPREM,
    sw: 0x3400,
  });
});

test("FPREM with a NaN result keeps C0 and C3 and clears C2 and C1", () => {
  // 1 rem 0 is invalid (masked): QNaN indefinite, SW 7101 natively after FUCOMP set
  // C3 = C2 = C0 = 1 (FINDINGS §4: "native SW 0x7101 vs model 0x3001").
  check("1 rem 0", {
    cw: 0x37f,
    inputs: ["0000:00000000:00000000", "3fff:80000000:00000000", "7fff:c0000000:00000000"],
    pre: [FUCOMP_ST1],
    op: FPREM,
    sw: 0x7101,
    st0: "ffff:c0000000:00000000",
  });
  // Unmasked IE (SNaN divisor): ST(0) unchanged, C2 cleared, C0 and C3 from FXAM (-7:
  // normal, C2 = 1, C1 = 1) — C1 = 0, C2 = 0.
  check("-7 rem SNaN, IE unmasked", {
    cw: 0x37e,
    inputs: ["ffff:80000000:00000007", "c001:e0000000:00000000"],
    pre: [FXAM],
    op: FPREM,
    sw: 0xb081,
    st0: "c001:e0000000:00000000",
  });
});

test("FPREM1 of a denormal by infinity goes through the rounder (unmasked UE wraps)", () => {
  check("den rem inf, UE unmasked", {
    cw: 0x36f,
    inputs: ["7fff:80000000:00000000", "0000:00001234:00000000"],
    op: FPREM1,
    sw: 0xb092,
    st0: "5fee:91a00000:00000000",
  });
});

test("FCMOVcc and FCOMI/FCOMIP/FUCOMI/FUCOMIP keep C1 unless a stack fault occurs", () => {
  // FXAM of -3 sets C1 = 1 (and C2 = 1: normal). difftest seed 2 cases 508 (fcmovb after an
  // FDIVR that set C1: native SW 2220, model was 2020) and 2496 (fucomi after FIST).
  const base = { cw: 0x37f, inputs: ["3fff:80000000:00000000", "c000:c0000000:00000000"], pre: [FXAM] };
  check("fcmovb st0,st1 taken", { ...base, eflags: 0x247, op: [0xda, 0xc1], sw: 0x3600, st0: "3fff:80000000:00000000" });
  check("fcmovnu st0,st1 taken", { ...base, eflags: 0x202, op: [0xdb, 0xd9], sw: 0x3600, st0: "3fff:80000000:00000000" });
  check("fucomi st0,st1", { ...base, eflags: 0x202, op: [0xdb, 0xe9], sw: 0x3600, zpc: 0x01 });
  // Unmasked IE (SNaN): no pop, unordered flags, C1 (and C2 from FXAM) kept.
  check("fcomip SNaN, IE unmasked", {
    cw: 0x37e,
    inputs: ["7fff:80000000:00000001", "c000:c0000000:00000000"],
    pre: [FXAM],
    eflags: 0x202,
    op: [0xdf, 0xf1],
    sw: 0xb681,
    st0: "c000:c0000000:00000000",
    zpc: 0x45,
  });
  // Stack underflow (ST(1) freed): C1 = 0, IE|SF.
  check("fcomi empty st1", { ...base, pre: [FXAM, [0xdd, 0xc1]], eflags: 0x202, op: [0xdb, 0xf1], sw: 0x3441, zpc: 0x45 });
});

const FINCSTP = [0xd9, 0xf7] as [number, number];
const FDECSTP = [0xd9, 0xf6] as [number, number];

test("FFREE and FFREEP clear C1 and keep C0, C2, C3", () => {
  // SDM: C0–C3 undefined; silicon: C1 = 0 (difftest seed 7 case 37162, an FCMOVcc after
  // FFREE showed the FFREE's C1). FXAM of -0 sets C3 = 1, C1 = 1.
  check("ffree st1", { cw: 0x37f, inputs: ["3fff:80000000:00000000", "8000:00000000:00000000"], pre: [FXAM], op: [0xdd, 0xc1], sw: 0x7000 });
  check("ffreep st1", { cw: 0x37f, inputs: ["3fff:80000000:00000000", "8000:00000000:00000000"], pre: [FXAM], op: [0xdf, 0xc1], sw: 0x7800 });
});

test("FLD with stack overflow: no DE from a denormal source; an empty ST(i) source reports underflow", () => {
  // difftest seed 7 cases 5262, 51525 (FLD m64 denormal, DE unmasked: native IE|SF and the
  // indefinite, no DE) and 68670 (FLD ST(0) with ST(0) empty and ST(7) full: C1 = 0).
  const four = ["3fff:80000000:00000000", "3fff:80000000:00000000", "3fff:80000000:00000000", "3fff:80000000:00000000"];
  const full = { inputs: four, pre: [FDECSTP, FDECSTP, FDECSTP, FDECSTP] };
  check("fld m64 denormal", { cw: 0x37f, ...full, mem: [5, 0, 0, 0, 0, 0, 0, 0], op: [0xdd, 0x05], sw: 0x3a41, st0: "ffff:c0000000:00000000" });
  check("fld m32 denormal, DE unmasked", { cw: 0x37d, ...full, mem: [5, 0, 0, 0], op: [0xd9, 0x05], sw: 0x3a41, st0: "ffff:c0000000:00000000" });
  check("fld m64 denormal, IE unmasked", { cw: 0x37e, ...full, mem: [5, 0, 0, 0, 0, 0, 0, 0], op: [0xdd, 0x05], sw: 0x82c1 });
  const m3 = ["c000:c0000000:00000000"];
  check("fld st(0) empty, st(7) full", { cw: 0x37f, inputs: m3, pre: [FINCSTP], op: [0xd9, 0xc0], sw: 0x3841, st0: "ffff:c0000000:00000000" });
  check("fld st(7) full, overflow", { cw: 0x37f, inputs: m3, pre: [FINCSTP], op: [0xd9, 0xc7], sw: 0x3a41, st0: "ffff:c0000000:00000000" });
});

test("FSCALE massive overflow/underflow with OE/UE unmasked stores ±∞ / ±0 (SDM vol. 1 §8.5.3, §8.5.4)", () => {
  // difftest seed 7 cases 753 (native -inf, SW a2a8; the model stored a wrapped exponent)
  // and 41184 (native +0, SW a0b0). -1.5 · 2^41000 and 1.5 · 2^-41000.
  check("overflow", { cw: 0x377, inputs: ["400e:a0280000:00000000", "bfff:c0000000:00000000"], op: [0xd9, 0xfd], sw: 0xb2a8, st0: "ffff:80000000:00000000" });
  check("underflow", { cw: 0x36f, inputs: ["c00e:a0280000:00000000", "3fff:c0000000:00000000"], op: [0xd9, 0xfd], sw: 0xb0b0, st0: "0000:00000000:00000000" });
  // Within reach of the 24576 bias adjustment the wrapped result is stored: 1.5 · 2^28672.
  check("wrapped", { cw: 0x377, inputs: ["400d:e0000000:00000000", "3fff:c0000000:00000000"], op: [0xd9, 0xfd], sw: 0xb088, st0: "4fff:c0000000:00000000" });
});

test("FYL2XP1 outside its domain reports an exact power-of-two result as inexact", () => {
  // difftest seed 7 case 6706: y = denormal, x = 1 (outside |x| < 1 − √2/2, "undefined"):
  // the value is y · log2 2 = y, but the silicon reports DE|UE|PE (SW 3832).
  check("y=den x=1", { cw: 0x127f, inputs: ["0000:73a8e4f8:ae9482fd", "3fff:80000000:00000000"], op: [0xd9, 0xf9], sw: 0x3832, st0: "0000:73a8e4f8:ae9482fd" });
  // x = -1/2, y = 1: -1 exactly, PE unmasked → ES|B (native SW b8a0).
  check("y=1 x=-0.5", { cw: 0x135f, inputs: ["3fff:80000000:00000000", "bffe:80000000:00000000"], op: [0xd9, 0xf9], sw: 0xb8a0, st0: "bfff:80000000:00000000" });
});
