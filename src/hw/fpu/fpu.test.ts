// Unit tests of the x87 model against values fixed by the SDM and IEEE 754.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Fpu } from "./fpu.js";
import { FlatHost } from "../../../test/support/fpu-native-harness.js";
import { FpuInstr } from "./fpu-host.js";

const BASE = 0x1000;

class Rig {
  fpu = new Fpu();
  mem = new Uint8Array(512);
  host = new FlatHost(this.mem, BASE);
  instr: FpuInstr = { opcode: 0, modrm: 0, seg: 3, offset: 0, operandSize32: true, protectedMode: true, cs: 0x1b, eip: 0x4000, operandSelector: 0x23 };

  /** Execute opcode/modrm with the memory operand at BASE + off. */
  x(opcode: number, modrm: number, off = 0): boolean {
    this.instr.opcode = opcode;
    this.instr.modrm = modrm;
    this.instr.offset = BASE + off;
    return this.fpu.execute(this.instr, this.host);
  }
  cw(v: number): void {
    this.mem[0x1f0] = v & 0xff;
    this.mem[0x1f1] = v >> 8;
    this.x(0xd9, 0x2d, 0x1f0);
  }
  ld32i(v: number): void {
    new DataView(this.mem.buffer).setInt32(0x1e0, v, true);
    this.x(0xdb, 0x05, 0x1e0);
  }
  /** FSTP m80 of ST(0) → hex "SEEE MMMMMMMMMMMMMMMM". */
  pop80(): string {
    this.x(0xdb, 0x3d, 0x1d0);
    return this.hex80(0x1d0);
  }
  hex80(off: number): string {
    const dv = new DataView(this.mem.buffer);
    const se = dv.getUint16(off + 8, true).toString(16).padStart(4, "0");
    const hi = dv.getUint32(off + 4, true).toString(16).padStart(8, "0");
    const lo = dv.getUint32(off, true).toString(16).padStart(8, "0");
    return `${se} ${hi}${lo}`;
  }
  get sw(): number {
    return this.fpu.statusWord();
  }
}

const RC = ["nearest", "down", "up", "chop"];

test("1/3 in every precision and rounding mode (IEEE 754)", () => {
  const expect: Record<string, string[]> = {
    // PC=24: 0.AAAAAA|AA… → nearest/chop/down AAAAAA, up AAAAAB
    "24": ["3ffd aaaaab0000000000", "3ffd aaaaaa0000000000", "3ffd aaaaab0000000000", "3ffd aaaaaa0000000000"],
    "53": ["3ffd aaaaaaaaaaaaa800", "3ffd aaaaaaaaaaaaa800", "3ffd aaaaaaaaaaaab000", "3ffd aaaaaaaaaaaaa800"],
    "64": ["3ffd aaaaaaaaaaaaaaab", "3ffd aaaaaaaaaaaaaaaa", "3ffd aaaaaaaaaaaaaaab", "3ffd aaaaaaaaaaaaaaaa"],
  };
  for (const [prec, pc] of [["24", 0], ["53", 2], ["64", 3]] as const) {
    for (let rc = 0; rc < 4; rc++) {
      const r = new Rig();
      r.x(0xdb, 0xe3);
      r.cw(0x107f & ~0xf00 | (rc << 10) | (pc << 8));
      r.ld32i(1);
      r.ld32i(3);
      r.x(0xde, 0xf9); // FDIVP ST(1), ST(0): ST(1) = ST(1) / ST(0)
      assert.equal(r.pop80(), expect[prec][rc], `PC ${prec} RC ${RC[rc]}`);
      assert.ok(r.fpu.statusWord() & 0x20, "PE");
      // C1 tells whether the result was rounded up.
    }
  }
});

test("0/0 gives the QNaN indefinite with IE; 1/0 gives +inf with ZE", () => {
  const r = new Rig();
  r.x(0xdb, 0xe3);
  r.x(0xd9, 0xee);
  r.x(0xd9, 0xee);
  r.x(0xde, 0xf9);
  assert.equal(r.pop80(), "ffff c000000000000000");
  assert.equal(r.sw & 0x3f, 0x01);
  r.x(0xdb, 0xe2); // FNCLEX
  r.x(0xd9, 0xe8);
  r.x(0xd9, 0xee);
  r.x(0xde, 0xf9);
  assert.equal(r.pop80(), "7fff 8000000000000000");
  assert.equal(r.sw & 0x3f, 0x04);
});

test("unmasked ZE leaves the destination unchanged and sets ES/B", () => {
  const r = new Rig();
  r.x(0xdb, 0xe3);
  r.cw(0x037b); // ZM = 0
  r.x(0xd9, 0xe8);
  r.x(0xd9, 0xee);
  r.x(0xd8, 0xf9); // FDIVR ST(0), ST(1): ST(0) = ST(1)/ST(0) = 1/0
  assert.ok(r.fpu.pendingUnmaskedException());
  assert.equal(r.sw & 0x8084, 0x8084);
  assert.equal(r.fpu.tagWord() >> 12, 0b0001); // R7 = 1.0 valid, R6 = ST(0) = 0 (zero)
});

test("overflow: masked gives inf or max per RC with OE PE; unmasked wraps the exponent by 24576", () => {
  const big = (r: Rig): void => {
    const dv = new DataView(r.mem.buffer);
    dv.setUint32(0x100, 0, true);
    dv.setUint32(0x104, 0xffffffff, true);
    dv.setUint16(0x108, 0x7ffe, true);
    r.x(0xdb, 0x2d, 0x100);
    r.x(0xd9, 0xc0); // FLD ST(0)
    r.x(0xde, 0xc9); // FMULP
  };
  let r = new Rig();
  r.x(0xdb, 0xe3);
  big(r);
  assert.equal(r.pop80(), "7fff 8000000000000000");
  assert.equal(r.sw & 0x3f, 0x28);
  r = new Rig();
  r.x(0xdb, 0xe3);
  r.cw(0x0f7f); // chop
  big(r);
  assert.equal(r.pop80(), "7ffe ffffffffffffffff");
  r = new Rig();
  r.x(0xdb, 0xe3);
  r.cw(0x0377); // OM = 0
  big(r);
  // (2^16383·(1−2^-32))² = 2^32767·(…) → exponent 0x7FFE + 0x3FFF + 1 − 24576
  assert.equal(r.pop80().slice(0, 4), (0x7ffe + 0x7ffe - 16383 + 1 - 24576).toString(16).padStart(4, "0"));
  assert.ok(r.fpu.pendingUnmaskedException());
});

test("denormal results: tiny and inexact sets UE and PE; exact denormals set nothing", () => {
  const r = new Rig();
  r.x(0xdb, 0xe3);
  const dv = new DataView(r.mem.buffer);
  // 2^-16382 (smallest normal) / 2 = exact denormal 0000 4000000000000000
  dv.setUint32(0x100, 0, true);
  dv.setUint32(0x104, 0x80000000, true);
  dv.setUint16(0x108, 1, true);
  r.x(0xdb, 0x2d, 0x100);
  r.ld32i(2);
  r.x(0xde, 0xf9);
  assert.equal(r.pop80(), "0000 4000000000000000");
  assert.equal(r.sw & 0x3f, 0);
  r.x(0xdb, 0x2d, 0x100);
  r.ld32i(3);
  r.x(0xde, 0xf9);
  assert.equal(r.sw & 0x3f, 0x30);
  assert.ok(r.sw & 0x200, "C1: rounded up");
  assert.equal(r.pop80(), "0000 2aaaaaaaaaaaaaab");
});

test("FXAM classes (SDM vol. 2 FXAM table)", () => {
  const cases: [number, number, number, number, string][] = [
    // sign|exp, hi, lo, expected C3 C2 C0 bits (C3=0x4000, C2=0x400, C0=0x100), name
    [0x3fff, 0x80000000, 0, 0x0400, "normal"],
    [0x0000, 0, 0, 0x4000, "zero"],
    [0x0000, 0x40000000, 0, 0x4400, "denormal"],
    [0x7fff, 0x80000000, 0, 0x0500, "infinity"],
    [0x7fff, 0xc0000000, 0, 0x0100, "NaN"],
    [0x3fff, 0x40000000, 0, 0x0000, "unsupported (unnormal)"],
  ];
  for (const [se, hi, lo, cc, name] of cases) {
    for (const sign of [0, 1]) {
      const r = new Rig();
      r.x(0xdb, 0xe3);
      const dv = new DataView(r.mem.buffer);
      dv.setUint32(0x100, lo, true);
      dv.setUint32(0x104, hi, true);
      dv.setUint16(0x108, se | (sign << 15), true);
      r.x(0xdb, 0x2d, 0x100);
      r.x(0xd9, 0xe5);
      assert.equal(r.sw & 0x4500, cc, name);
      assert.equal((r.sw >> 9) & 1, sign, `${name} C1 = sign`);
    }
  }
  const r = new Rig();
  r.x(0xdb, 0xe3);
  r.x(0xd9, 0xe5);
  assert.equal(r.sw & 0x4500, 0x4100, "empty");
});

test("FBSTP of known numbers, rounding, and the BCD indefinite", () => {
  const bcd = (v: number, cw = 0x037f): string => {
    const r = new Rig();
    r.x(0xdb, 0xe3);
    r.cw(cw);
    r.ld32i(v);
    r.ld32i(10);
    r.x(0xde, 0xf9); // v / 10
    r.x(0xdf, 0x35, 0x100);
    return Array.from(r.mem.subarray(0x100, 0x10a)).reverse().map((b) => b.toString(16).padStart(2, "0")).join("");
  };
  assert.equal(bcd(12345670), "00000000000001234567");
  assert.equal(bcd(-12345670), "80000000000001234567");
  assert.equal(bcd(125), "00000000000000000012"); // 12.5 → 12 (ties to even)
  assert.equal(bcd(135), "00000000000000000014");
  assert.equal(bcd(125, 0x0b7f), "00000000000000000013"); // round up
  const r = new Rig();
  r.x(0xdb, 0xe3);
  r.x(0xd9, 0xe8);
  r.x(0xd9, 0xee);
  r.x(0xde, 0xf9); // +inf
  r.x(0xdf, 0x35, 0x100);
  assert.equal(Array.from(r.mem.subarray(0x100, 0x10a)).reverse().map((b) => b.toString(16).padStart(2, "0")).join(""), "ffffc000000000000000");
});

test("integer stores: rounding, PE, and the integer indefinite", () => {
  const r = new Rig();
  r.x(0xdb, 0xe3);
  r.ld32i(100000);
  r.x(0xdf, 0x15, 0x100); // FIST m16: out of range
  assert.equal(new DataView(r.mem.buffer).getUint16(0x100, true), 0x8000);
  assert.equal(r.sw & 1, 1);
  r.x(0xdb, 0xe2);
  r.ld32i(7);
  r.ld32i(2);
  r.x(0xde, 0xf9); // 3.5
  r.x(0xdb, 0x15, 0x104); // FIST m32 → 4 (nearest even)
  assert.equal(new DataView(r.mem.buffer).getInt32(0x104, true), 4);
  assert.equal(r.sw & 0x20, 0x20);
});

test("load constants follow RC in their last bit (FLDPI, FLDL2E, FLDL2T, FLDLG2, FLDLN2)", () => {
  const want: Record<number, string[]> = {
    0xeb: ["4000 c90fdaa22168c235", "4000 c90fdaa22168c234", "4000 c90fdaa22168c235", "4000 c90fdaa22168c234"],
    0xea: ["3fff b8aa3b295c17f0bc", "3fff b8aa3b295c17f0bb", "3fff b8aa3b295c17f0bc", "3fff b8aa3b295c17f0bb"],
    0xe9: ["4000 d49a784bcd1b8afe", "4000 d49a784bcd1b8afe", "4000 d49a784bcd1b8aff", "4000 d49a784bcd1b8afe"],
    0xec: ["3ffd 9a209a84fbcff799", "3ffd 9a209a84fbcff798", "3ffd 9a209a84fbcff799", "3ffd 9a209a84fbcff798"],
    0xed: ["3ffe b17217f7d1cf79ac", "3ffe b17217f7d1cf79ab", "3ffe b17217f7d1cf79ac", "3ffe b17217f7d1cf79ab"],
  };
  for (const [m, vals] of Object.entries(want)) {
    for (let rc = 0; rc < 4; rc++) {
      const r = new Rig();
      r.x(0xdb, 0xe3);
      r.cw(0x037f | (rc << 10));
      r.x(0xd9, Number(m));
      assert.equal(r.pop80(), vals[rc], `D9 ${Number(m).toString(16)} RC ${RC[rc]}`);
      assert.equal(r.sw & 0x3f, 0, "constants raise no PE");
    }
  }
});

test("stack overflow and underflow: IE|SF, C1, masked indefinite", () => {
  const r = new Rig();
  r.x(0xdb, 0xe3);
  for (let i = 0; i < 8; i++) r.x(0xd9, 0xe8);
  r.x(0xd9, 0xe8); // ninth push
  assert.equal(r.sw & 0x2c1, 0x241, "IE SF C1=1");
  assert.equal(r.pop80(), "ffff c000000000000000");
  r.x(0xdb, 0xe3);
  r.x(0xd9, 0xe1); // FABS on empty
  assert.equal(r.sw & 0x2c1, 0x041, "IE SF C1=0");
});

test("FSIN out of range: C2 = 1 and operand unchanged; in range C2 = 0", () => {
  const r = new Rig();
  r.x(0xdb, 0xe3);
  const dv = new DataView(r.mem.buffer);
  dv.setUint32(0x100, 0, true);
  dv.setUint32(0x104, 0x80000000, true);
  dv.setUint16(0x108, 16383 + 63, true); // 2^63
  r.x(0xdb, 0x2d, 0x100);
  r.x(0xd9, 0xfe);
  assert.equal(r.sw & 0x400, 0x400);
  assert.equal(r.pop80(), "403e 8000000000000000");
  r.x(0xd9, 0xe8);
  r.x(0xd9, 0xfe);
  assert.equal(r.sw & 0x400, 0);
  assert.equal(r.pop80(), "3ffe d76aa47848677021"); // sin(1) correctly rounded
});

test("FPREM: complete remainder sets C2 = 0 and quotient bits; huge ratio is partial (C2 = 1)", () => {
  const r = new Rig();
  r.x(0xdb, 0xe3);
  r.ld32i(3);
  r.ld32i(23); // 23 mod 3 = 2, q = 7 → C0 = 1, C3 = 1, C1 = 1
  r.x(0xd9, 0xf8);
  assert.equal(r.sw & 0x4700, 0x4300);
  assert.equal(r.pop80(), "4000 8000000000000000");
  r.x(0xdb, 0xe3);
  r.ld32i(3);
  const dv = new DataView(r.mem.buffer);
  dv.setUint32(0x100, 0, true);
  dv.setUint32(0x104, 0x80000000, true);
  dv.setUint16(0x108, 16383 + 200, true);
  r.x(0xdb, 0x2d, 0x100);
  let passes = 0;
  do {
    r.x(0xd9, 0xf8);
    passes++;
  } while (r.sw & 0x400);
  assert.ok(passes > 1);
  assert.equal(r.pop80(), "3fff 8000000000000000"); // 2^200 mod 3 = 1
});

test("FSAVE 32-bit protected layout byte by byte, then FNINIT state; FRSTOR round trip", () => {
  const r = new Rig();
  r.x(0xdb, 0xe3);
  r.x(0xd9, 0xe8); // FLD1 at eip 0x4000
  r.x(0xd9, 0xee); // FLDZ
  r.instr.eip = 0x4010;
  r.x(0xdd, 0x05, 0x80); // FLD m64 (zeros) → records FDP
  r.instr.eip = 0x4020;
  r.x(0xdd, 0x35, 0x100); // FNSAVE
  const m = r.mem;
  const dw = (o: number): number => new DataView(m.buffer).getUint32(0x100 + o, true);
  assert.equal(dw(0), 0xffff037f);
  const u = (v: number): number => v >>> 0;
  assert.equal(dw(4), u(0xffff0000 | (5 << 11)));
  // R7 = 1.0 valid (00), R6 = 0 (01), R5 = 0 (01), others empty (11)
  assert.equal(dw(8), u(0xffff0000 | 0x03ff | (0b000101 << 10)));
  assert.equal(dw(12), 0x4010);
  assert.equal(dw(16), (0x505 << 16) | 0x1b);
  assert.equal(dw(20), BASE + 0x80);
  assert.equal(dw(24), u(0xffff0023));
  assert.equal(r.hex80(0x100 + 28 + 20), "3fff 8000000000000000"); // ST(2)
  assert.equal(r.fpu.controlWord(), 0x037f);
  assert.equal(r.fpu.statusWord(), 0);
  assert.equal(r.fpu.tagWord(), 0xffff);
  r.x(0xdd, 0x25, 0x100); // FRSTOR
  assert.equal(r.fpu.statusWord(), 5 << 11);
  assert.equal(r.pop80(), "0000 0000000000000000");
  assert.equal(r.pop80(), "0000 0000000000000000");
  assert.equal(r.pop80(), "3fff 8000000000000000");
});

test("FSTENV 16-bit real-mode layout", () => {
  const r = new Rig();
  r.instr.operandSize32 = false;
  r.instr.protectedMode = false;
  r.instr.cs = 0x1234;
  r.instr.eip = 0x5678;
  r.instr.operandSelector = 0x2000;
  r.x(0xdb, 0xe3);
  r.x(0xd9, 0x05, 0x80); // FLD m32 at ds:BASE+0x80
  r.x(0xd9, 0x35, 0x100); // FNSTENV
  const w = (o: number): number => new DataView(r.mem.buffer).getUint16(0x100 + o, true);
  const ip = 0x12340 + 0x5678;
  const dp = 0x20000 + BASE + 0x80;
  assert.deepEqual([w(0), w(2), w(4), w(6), w(8), w(10), w(12)], [
    0x037f, 7 << 11, 0x7fff, ip & 0xffff, ((ip >>> 16) << 12) | 0x105, dp & 0xffff, (dp >>> 16) << 12,
  ]);
  assert.equal(r.fpu.controlWord(), 0x037f, "FSTENV masks all exceptions");
});

test("FCOMI sets ZF/PF/CF; FUCOMI on QNaN is quiet, FCOMI is not", () => {
  const r = new Rig();
  r.x(0xdb, 0xe3);
  r.ld32i(1);
  r.ld32i(2);
  r.x(0xdb, 0xf1); // FCOMI ST(0)=2, ST(1)=1 → greater
  assert.equal(r.host.eflags & 0x45, 0);
  r.x(0xd9, 0xc9);
  r.x(0xdb, 0xf1); // 1 vs 2 → CF
  assert.equal(r.host.eflags & 0x45, 1);
  r.x(0xd9, 0xee);
  r.x(0xd9, 0xee);
  r.x(0xde, 0xf9); // NaN indefinite, IE
  r.x(0xdb, 0xe2);
  r.x(0xdb, 0xe9); // FUCOMI
  assert.equal(r.host.eflags & 0x45, 0x45);
  assert.equal(r.sw & 1, 0);
  r.x(0xdb, 0xf1); // FCOMI
  assert.equal(r.sw & 1, 1);
});

test("two FPUs are independent; save/restore round-trips", () => {
  const a = new Rig();
  const b = new Rig();
  a.x(0xdb, 0xe3);
  b.x(0xdb, 0xe3);
  a.x(0xd9, 0xeb);
  assert.equal(b.fpu.tagWord(), 0xffff);
  const s = JSON.parse(JSON.stringify(a.fpu.save()));
  b.fpu.restore(s);
  assert.equal(b.pop80(), "4000 c90fdaa22168c235");
  assert.equal(a.fpu.tagWord(), 0x3fff);
});

test("FISTTP (SSE3) stores ST(0) rounded toward zero whatever FCW.RC says, and pops", () => {
  const r = new Rig();
  r.cw(0x037f | (1 << 10)); // RC = down
  const dv = new DataView(r.mem.buffer);
  for (const [op, modrm, read] of [
    [0xdb, 0x0d, () => dv.getInt32(0x100, true)], // FISTTP m32int
    [0xdf, 0x0d, () => dv.getInt16(0x100, true)], // FISTTP m16int
    [0xdd, 0x0d, () => Number(dv.getBigInt64(0x100, true))], // FISTTP m64int
  ] as const) {
    r.ld32i(-7);
    r.ld32i(2);
    r.x(0xde, 0xf9); // FDIVP: -7 / 2 = -3.5
    assert.equal(r.x(op, modrm, 0x100), true);
    assert.equal(read(), -3, `${op.toString(16)} /1`);
    assert.equal((r.sw >> 11) & 7, 0, "popped");
  }
});

test("undefined encodings report #UD", () => {
  const r = new Rig();
  assert.equal(r.x(0xd9, 0xd1), false);
  assert.equal(r.x(0xd9, 0x08), false); // D9 /1 m
  assert.equal(r.x(0xdb, 0x20), false); // DB /4 m is reserved
  assert.equal(r.x(0xde, 0xd8), false);
  assert.equal(r.x(0xdf, 0xe1), false);
});
