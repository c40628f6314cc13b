// Decoder oracle in 64-bit mode: decode64 (src/hw/cpu/decoder.ts) against iced-x86 (bitness
// 64), used only as a test oracle, on a seeded random corpus of prefixed, REX-carrying code.
// Compared for every instruction the model decodes in 64-bit mode: that iced finds it valid,
// the length, the mnemonic, the ModR/M memory operand (base, index, scale, displacement, and
// for RIP-relative forms the target address) and the register operands' numbers.
//
// Instructions iced decodes that the model leaves #UD in 64-bit mode must be either outside
// the integer, x87, MMX, SSE, SSE2, SSE3 and SSSE3 sets (SSE4 and later extensions, which no
// model decodes yet) or in NOT_YET_64 below, the list docs/long-mode.md gives of what is not modelled there yet.

import { test } from "node:test";
import assert from "node:assert/strict";
import { CpuidFeature, Decoder, DecoderOptions, Mnemonic, OpKind, Register, type Instruction } from "iced-x86";
import { decode64, type ByteSource, type DecodeFaults } from "../../src/hw/cpu/decoder.js";
import { mnemonicOf } from "../../src/hw/cpu/disasm.js";
import type { Instr } from "../../src/hw/cpu/instr.js";
import { Rng } from "../fuzz/rng.js";

const ICED_OPTIONS = DecoderOptions.NoMPFX_0FBC | DecoderOptions.NoMPFX_0FBD | DecoderOptions.NoPause | DecoderOptions.NoWbnoinvd;
const RIP = 0x7fff_1234_5000;

/** Integer and x87 instructions of x86-64 that the model does not run in 64-bit mode yet. */
const NOT_YET_64 = new Set([
  "sysenter", "sysexit", "sysexitq", "jmpe",
]);

/** CPUID features of the integer and x87 set of the first x86-64 parts. */
const BASE = new Set<CpuidFeature>([
  CpuidFeature.INTEL8086, CpuidFeature.INTEL186, CpuidFeature.INTEL286, CpuidFeature.INTEL386, CpuidFeature.INTEL486,
  CpuidFeature.FPU, CpuidFeature.FPU287, CpuidFeature.FPU387, CpuidFeature.CMOV, CpuidFeature.CX8, CpuidFeature.TSC,
  CpuidFeature.MSR, CpuidFeature.SEP, CpuidFeature.CPUID, CpuidFeature.RDPMC, CpuidFeature.X64, CpuidFeature.MULTIBYTENOP,
  CpuidFeature.INTEL8086_ONLY, CpuidFeature.SYSCALL,
  CpuidFeature.PREFETCHW, CpuidFeature.POPCNT, CpuidFeature.SSSE3, CpuidFeature.MMX, CpuidFeature.SSE, CpuidFeature.SSE2, CpuidFeature.SSE3, CpuidFeature.FXSR, CpuidFeature.CLFSH,
  // AMD-V (0F 01 D8–DF): decoded on every model, #UD without the svm feature.
  CpuidFeature.SVM, CpuidFeature.SKINIT_or_SVM,
]);
const isBase = (ins: Instruction): boolean => ins.cpuidFeatures().every((f: CpuidFeature) => BASE.has(f));

class Buf implements ByteSource, DecodeFaults {
  constructor(readonly bytes: Uint8Array, readonly origin: number) {}
  fetchCodeByte(off: number): number {
    const k = off - this.origin;
    if (k >= this.bytes.length) throw new Error("read past the end");
    return this.bytes[k];
  }
  gp(): never { throw TOO_LONG; }
  ud(): never { throw new Error("the decoder never raises #UD itself"); }
}
const TOO_LONG = { what: "#GP" };

function ours(bytes: Uint8Array): Instr | null {
  try {
    const i = decode64(new Buf(bytes, RIP), RIP);
    if (i.def.mnemonic === "(bad)") return null;
    if (i.lock && !(i.def.lockable === true && i.hasMem)) return null;
    return i;
  } catch (e) {
    if (e === TOO_LONG) return null;
    throw e;
  }
}

/** iced register → the model's register number (0–15), -2 for RIP, -1 for none. */
function regNum(r: Register): number {
  if (r === Register.None) return -1;
  if (r === Register.RIP || r === Register.EIP) return -2;
  const name = Register[r].toLowerCase();
  const gp64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"];
  const gp32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
  let k = gp64.indexOf(name);
  if (k < 0) k = gp32.indexOf(name);
  if (k >= 0) return k;
  const simd = /^x?mm(\d+)$/.exec(name);
  if (simd) return Number(simd[1]);
  const m = /^r(\d+)[dwl]?$/.exec(name);
  if (m) return Number(m[1]);
  const small = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh", "ax", "cx", "dx", "bx", "sp", "bp", "si", "di", "spl", "bpl", "sil", "dil"];
  k = small.indexOf(name);
  if (k >= 16) return k - 12;
  return k >= 8 ? k - 8 : k;
}

/** The opcode after the prefixes (0x0Fxx for two-byte ones). */
function opcodeOf(bytes: Uint8Array): number {
  let k = 0;
  while ([0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65].includes(bytes[k]) || (bytes[k] & 0xf0) === 0x40) k++;
  return bytes[k] === 0x0f ? 0x0f00 | bytes[k + 1] : bytes[k];
}

/** A corpus entry: legacy prefixes, maybe a REX, an opcode (one byte or 0F xx), random bytes. */
function sample(rng: Rng): Uint8Array {
  const b: number[] = [];
  const pre = [0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x2e, 0x3e, 0x64, 0x65, 0x26];
  for (let n = rng.int(4) === 0 ? rng.int(3) : 0; n > 0; n--) b.push(rng.pick(pre));
  if (rng.int(2) === 0) b.push(0x40 + rng.int(16));
  if (rng.int(4) === 0) b.push(0x0f);
  for (let k = 0; k < 15; k++) b.push(rng.int(256));
  return Uint8Array.from(b);
}

test("decode64 agrees with iced-x86 on 200 000 random 64-bit instructions: length, mnemonic, operands", () => {
  const rng = new Rng(20261204);
  const problems: string[] = [];
  let compared = 0, notModelled = 0;
  for (let n = 0; n < 200_000 && problems.length < 10; n++) {
    const bytes = sample(rng);
    const hex = Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join(" ");
    const dec = new Decoder(64, bytes, ICED_OPTIONS);
    dec.ip = BigInt(RIP);
    const ins = dec.decode();
    const o = ours(bytes);
    const icedValid = ins.mnemonic !== Mnemonic.INVALID && ins.length <= 15;
    if (o === null) {
      // 0F 0D: AMD's PREFETCH/PREFETCHW space; only /0 and /1 with memory are modelled.
      const prefetchSpace = opcodeOf(bytes) === 0x0f0d;
      if (icedValid && isBase(ins) && !prefetchSpace && !NOT_YET_64.has(Mnemonic[ins.mnemonic].toLowerCase())) {
        problems.push(`${hex}: iced ${ins.toString()}, the model #UD`);
      } else if (icedValid) notModelled++;
      ins.free(); dec.free();
      continue;
    }
    // Hint NOPs the model runs as NOP where later parts defined an instruction (PREFETCHIT0 …).
    if (icedValid && !isBase(ins) && mnemonicOf(o) === "nop") { ins.free(); dec.free(); continue; }
    compared++;
    if (!icedValid) { problems.push(`${hex}: the model decodes ${mnemonicOf(o)} (${o.len} bytes), iced: invalid`); ins.free(); dec.free(); continue; }
    // iced calls the hint NOPs 0F 19–0F 1E "reservednop"; the SDM calls them NOP.
    const im = Mnemonic[ins.mnemonic].toLowerCase().replace(/^reservednop$/, "nop");
    if (o.len !== ins.length || mnemonicOf(o) !== im) {
      problems.push(`${hex}: iced ${ins.toString()} (${ins.length}), the model ${mnemonicOf(o)} (${o.len})`);
    } else {
      // The ModR/M register operands (G, and E in register form) name the same registers.
      const icedRegs = new Set<number>();
      for (let k = 0; k < ins.opCount; k++) if (ins.opKind(k) === OpKind.Register) icedRegs.add(regNum(ins.opRegister(k)));
      for (const od of o.def.operands) {
        // MMX registers ignore REX: their numbers are reg and rm modulo 8.
        const mmx = /^[PNQ]/.test(od);
        const r = /^(G[bwdvy]|[VP])/.test(od) ? o.reg : /^(E[bwdvy]|[UNWQ])/.test(od) && !o.hasMem ? o.rm : -1;
        if (mmx && r >= 0) { if (!icedRegs.has(r & 7)) problems.push(`${hex}: ${ins.toString()}: the model's ${od} is mm${r & 7}`); continue; }
        if (r >= 0 && !icedRegs.has(r)) problems.push(`${hex}: ${ins.toString()}: the model's ${od} is register ${r}`);
      }
      for (let k = 0; k < ins.opCount; k++) {
        const kind = ins.opKind(k);
        if (kind === OpKind.Memory && o.hasMem) {
          const base = regNum(ins.memoryBase), index = regNum(ins.memoryIndex);
          const scale = index === -1 ? 0 : Math.log2(ins.memoryIndexScale);
          let want = `base ${base} index ${index} scale ${scale}`;
          let got = `base ${o.eaBase} index ${o.eaIndex} scale ${o.eaIndex < 0 ? 0 : o.eaScale}`;
          // With 67h the address is 32 bits: iced gives displacements and targets modulo 2^32.
          const width = o.adsize64 ? 64 : 32;
          if (base === -2) {
            // RIP-relative: iced gives the target; ours is next RIP + disp.
            want += ` target ${BigInt.asUintN(width, ins.memoryDisplacement)}`;
            got += ` target ${BigInt.asUintN(width, BigInt(RIP + o.len + o.disp))}`;
          } else {
            want += ` disp ${BigInt.asUintN(width, ins.memoryDisplacement)}`;
            got += ` disp ${BigInt.asUintN(width, (BigInt(o.dispHi) << 32n) | BigInt(o.disp >>> 0))}`;
          }
          if (want !== got) problems.push(`${hex}: ${ins.toString()}: iced ${want}, the model ${got}`);
        }
      }
    }
    ins.free(); dec.free();
  }
  assert.deepEqual(problems, [], `${problems.length} differences (${compared} compared)`);
  assert.ok(compared > 60_000, `only ${compared} instructions compared`);
  assert.ok(notModelled < compared, `${notModelled} instructions not modelled`);
});
