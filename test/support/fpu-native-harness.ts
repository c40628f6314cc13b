// Test support: run x87 instruction sequences on the host CPU (assembled with GNU as --32,
// linked with ld -m elf_i386, run as a static i386 Linux program) and on the model, so
// their results can be compared byte for byte. Not part of the machine.
//
// Each case occupies a 256-byte block at DATA_BASE + 256·i:
//   +0 control word   +4 EFLAGS in   +16 up to four m80 values pushed in order
//   +64 16-byte memory operand   +80 EFLAGS out   +84 FNSTSW   +96 FNSAVE image (108 bytes)

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Fpu } from "../../src/hw/fpu/fpu.js";
import { FpuHost, FpuInstr } from "../../src/hw/fpu/fpu-host.js";

export const DATA_BASE = 0x0a000000;
export const BLOCK = 256;
export const OFF_CW = 0;
export const OFF_IN = 16;
export const OFF_MEM = 64;
export const OFF_EFL = 80;
export const OFF_SW = 84;
export const OFF_SAVE = 96;

export interface NativeCase {
  cw: number;
  /** Values pushed with FLD m80 before the instruction, as 10-byte little-endian images. */
  inputs: Uint8Array[];
  /** Initial contents of the memory operand. */
  mem?: Uint8Array;
  /** EFLAGS loaded (POPF) before the instruction, for FCMOVcc. */
  eflags?: number;
  /** Escape opcode and ModR/M; a memory ModR/M (mod 00, r/m 101) addresses the +64 operand. */
  opcode: number;
  modrm: number;
  /** Register-form x87 instructions ([escape opcode, ModR/M]) run after the inputs are loaded and before EFLAGS and the instruction. */
  pre?: Array<[number, number]>;
}

function bytesOf(c: NativeCase, i: number): number[] {
  const base = DATA_BASE + BLOCK * i;
  const out: number[] = [];
  const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
  out.push(0xdb, 0xe3); // fninit
  out.push(0xd9, 0x2d, ...le32(base + OFF_CW)); // fldcw
  for (let j = 0; j < c.inputs.length; j++) out.push(0xdb, 0x2d, ...le32(base + OFF_IN + 10 * j)); // fld m80
  for (const [op, m] of c.pre ?? []) out.push(op, m);
  if (c.eflags !== undefined) out.push(0x68, ...le32(c.eflags), 0x9d); // push imm32; popf
  out.push(c.opcode, c.modrm);
  if (c.modrm < 0xc0) out.push(...le32(base + OFF_MEM));
  out.push(0xdd, 0x3d, ...le32(base + OFF_SW)); // fnstsw m16
  out.push(0x9c, 0x8f, 0x05, ...le32(base + OFF_EFL)); // pushf; pop m32
  out.push(0xdd, 0x35, ...le32(base + OFF_SAVE)); // fnsave
  return out;
}

function initialData(cases: NativeCase[]): Uint8Array {
  const d = new Uint8Array(cases.length * BLOCK);
  cases.forEach((c, i) => {
    const b = i * BLOCK;
    d[b + OFF_CW] = c.cw & 0xff;
    d[b + OFF_CW + 1] = c.cw >> 8;
    c.inputs.forEach((v, j) => d.set(v, b + OFF_IN + 10 * j));
    if (c.mem) d.set(c.mem, b + OFF_MEM);
  });
  return d;
}

/** True when as/ld for i386 are present and i386 binaries run here. */
export function nativeAvailable(): boolean {
  try {
    runNative([{ cw: 0x37f, inputs: [], opcode: 0xd9, modrm: 0xe8 }]);
    return true;
  } catch {
    return false;
  }
}

/** Run the cases on the host CPU; returns the data area after execution. */
export function runNative(cases: NativeCase[]): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), "fpu-native-"));
  try {
    const data = initialData(cases);
    const lines: string[] = [".globl _start", ".text", "_start:"];
    cases.forEach((c, i) => lines.push(".byte " + bytesOf(c, i).join(",")));
    lines.push(
      "mov $4, %eax",
      "mov $1, %ebx",
      `mov $${DATA_BASE}, %ecx`,
      `mov $${data.length}, %edx`,
      "int $0x80",
      "mov $1, %eax",
      "xor %ebx, %ebx",
      "int $0x80",
      ".data",
    );
    for (let o = 0; o < data.length; o += 64) lines.push(".byte " + Array.from(data.subarray(o, o + 64)).join(","));
    writeFileSync(join(dir, "t.s"), lines.join("\n") + "\n");
    execFileSync("as", ["--32", "-o", join(dir, "t.o"), join(dir, "t.s")]);
    execFileSync("ld", ["-m", "elf_i386", "-Tdata", "0x" + DATA_BASE.toString(16), "-o", join(dir, "t"), join(dir, "t.o")]);
    const out = execFileSync(join(dir, "t"), { maxBuffer: 64 << 20 });
    if (out.length !== data.length) throw new Error("short native output");
    void readFileSync;
    return new Uint8Array(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A flat-memory host for the model. */
export class FlatHost implements FpuHost {
  eflags = 0x202;
  ax = 0;
  constructor(
    readonly mem: Uint8Array,
    readonly base: number,
  ) {}
  private a(off: number): number {
    return off - this.base;
  }
  read8(_s: number, off: number): number {
    return this.mem[this.a(off)];
  }
  read16(_s: number, off: number): number {
    const i = this.a(off);
    return this.mem[i] | (this.mem[i + 1] << 8);
  }
  read32(_s: number, off: number): number {
    const i = this.a(off);
    return (this.mem[i] | (this.mem[i + 1] << 8) | (this.mem[i + 2] << 16) | (this.mem[i + 3] << 24)) >>> 0;
  }
  write8(_s: number, off: number, v: number): void {
    this.mem[this.a(off)] = v & 0xff;
  }
  write16(_s: number, off: number, v: number): void {
    const i = this.a(off);
    this.mem[i] = v & 0xff;
    this.mem[i + 1] = (v >> 8) & 0xff;
  }
  write32(_s: number, off: number, v: number): void {
    const i = this.a(off);
    for (let k = 0; k < 4; k++) this.mem[i + k] = (v >>> (8 * k)) & 0xff;
  }
  checkWrite(): void {}
  getEflags(): number {
    return this.eflags;
  }
  setComparisonFlags(zf: boolean, pf: boolean, cf: boolean): void {
    this.eflags = (this.eflags & ~0x8d5) | (zf ? 0x40 : 0) | (pf ? 4 : 0) | (cf ? 1 : 0);
  }
  setAX(v: number): void {
    this.ax = v;
  }
}

/** Run the same cases on the model (one Fpu for all, like the native program). */
export function runModel(cases: NativeCase[], fpu = new Fpu()): Uint8Array {
  const data = initialData(cases);
  const host = new FlatHost(data, DATA_BASE);
  const instr: FpuInstr = {
    opcode: 0,
    modrm: 0,
    seg: 3,
    offset: 0,
    operandSize32: true,
    protectedMode: true,
    cs: 0x23,
    eip: 0,
    operandSelector: 0x2b,
  };
  const exec = (opcode: number, modrm: number, offset: number): void => {
    instr.opcode = opcode;
    instr.modrm = modrm;
    instr.offset = offset;
    if (!fpu.execute(instr, host)) throw new Error(`#UD ${opcode.toString(16)} ${modrm.toString(16)}`);
  };
  cases.forEach((c, i) => {
    const base = DATA_BASE + BLOCK * i;
    exec(0xdb, 0xe3, 0);
    exec(0xd9, 0x2d, base + OFF_CW);
    for (let j = 0; j < c.inputs.length; j++) exec(0xdb, 0x2d, base + OFF_IN + 10 * j);
    for (const [op, m] of c.pre ?? []) exec(op, m, base + OFF_MEM);
    if (c.eflags !== undefined) host.eflags = c.eflags;
    exec(c.opcode, c.modrm, base + OFF_MEM);
    host.write16(3, base + OFF_SW, fpu.statusWord());
    host.write32(3, base + OFF_EFL, host.eflags);
    exec(0xdd, 0x35, base + OFF_SAVE);
  });
  return data;
}
