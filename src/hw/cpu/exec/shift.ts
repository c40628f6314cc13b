// Shifts and rotates: ROL ROR RCL RCR SHL SAL SHR SAR (group 2), SHLD, SHRD
// (Intel SDM vol. 2 "RCL/RCR/ROL/ROR", "SAL/SAR/SHL/SHR", "SHLD", "SHRD").
// The count is masked to 5 bits; a masked count of zero changes nothing, flags included.

import { LazyOp, type Cpu } from "../cpu.js";
import * as F from "../eflags.js";
import type { Instr } from "../instr.js";

const MASK = [0, 0xff, 0xffff, 0, 0xffff_ffff];

/** The top bit of a `bits`-wide value (a module function: a closure would be allocated per call). */
function msb(x: number, bits: number): number { return (x >>> (bits - 1)) & 1; }

/** Group-2 operation `op` on `v` (`size` bytes) by `count`; returns the result and sets flags. */
export function shiftOp(cpu: Cpu, op: number, v: number, count: number, size: number): number {
  count &= 31;
  if (count === 0) return v;
  const bits = size * 8;
  const mask = MASK[size];
  v = (v & mask) >>> 0;
  let r: number, cf: number, of: number;
  switch (op) {
    case 0: { // ROL
      const c = count % bits;
      r = c === 0 ? v : ((v << c) | (v >>> (bits - c))) & mask;
      cf = r & 1;
      of = msb(r, bits) ^ cf;
      setCfOf(cpu, cf, of);
      return r >>> 0;
    }
    case 1: { // ROR
      const c = count % bits;
      r = c === 0 ? v : ((v >>> c) | (v << (bits - c))) & mask;
      cf = msb(r, bits);
      of = msb(r, bits) ^ ((r >>> (bits - 2)) & 1);
      setCfOf(cpu, cf, of);
      return r >>> 0;
    }
    case 2: { // RCL: rotate through CF, a (bits+1)-bit rotation
      const c = size === 4 ? count : count % (bits + 1);
      let x = v, carry = cpu.getCF() ? 1 : 0;
      for (let k = 0; k < c; k++) {
        const out = msb(x, bits);
        x = ((x << 1) | carry) & mask;
        carry = out;
      }
      r = x >>> 0;
      setCfOf(cpu, carry, msb(r, bits) ^ carry);
      return r;
    }
    case 3: { // RCR
      const c = size === 4 ? count : count % (bits + 1);
      let x = v, carry = cpu.getCF() ? 1 : 0;
      for (let k = 0; k < c; k++) {
        const out = x & 1;
        x = ((x >>> 1) | (carry << (bits - 1))) & mask;
        carry = out;
      }
      r = x >>> 0;
      // OF is defined for count 1 as MSB(dest) XOR CF before the rotate; P6 computes it from
      // the two top bits of the result for every count (the same value when count is 1).
      setCfOf(cpu, carry, msb(r, bits) ^ ((r >>> (bits - 2)) & 1));
      return r;
    }
    case 4: case 6: // SHL/SAL
      r = count >= bits ? 0 : (v << count) & mask;
      break;
    case 5: // SHR
      r = count >= bits ? 0 : v >>> count;
      break;
    default: { // SAR
      const sv = (v << (32 - bits)) >> (32 - bits);
      r = (sv >> (count >= bits ? bits - 1 : count)) & mask;
      break;
    }
  }
  // SHL/SHR/SAR: the flags are those of a lazy record (flag-semantics.ts, which computes CF and
  // OF as above; SF, ZF, PF from the result; AF undefined, P6 leaves it clear).
  cpu.setLazy(op === 5 ? LazyOp.SHR : op === 7 ? LazyOp.SAR : LazyOp.SHL, v, count, r, size);
  return r >>> 0;
}

function setCfOf(cpu: Cpu, cf: number, of: number): void {
  const f = cpu.getEflags() & ~(F.CF | F.OF);
  cpu.flags = f | (cf ? F.CF : 0) | (of ? F.OF : 0);
}

function count(cpu: Cpu, i: Instr): number {
  const o = i.def.operands[1];
  if (o === "1") return 1;
  if (o === "CL") return cpu.regs[1] & 0xff;
  return i.imm & 0xff;
}

export function grp2_Eb(cpu: Cpu, i: Instr): void {
  const c = count(cpu, i);
  if ((c & 31) === 0) { cpu.readE8(i); return; }
  cpu.writeE8(i, shiftOp(cpu, i.reg, cpu.readRmw8(i), c, 1));
}
export function grp2_Ev(cpu: Cpu, i: Instr): void {
  const c = count(cpu, i);
  if (i.opsize32) {
    if ((c & 31) === 0) { cpu.readE32(i); return; }
    cpu.writeE32(i, shiftOp(cpu, i.reg, cpu.readRmw32(i), c, 4));
  } else {
    if ((c & 31) === 0) { cpu.readE16(i); return; }
    cpu.writeE16(i, shiftOp(cpu, i.reg, cpu.readRmw16(i), c, 2));
  }
}

/** SHLD/SHRD: shift `dst` by `count`, filling from `src`. */
export function doubleShift(cpu: Cpu, left: boolean, dst: number, src: number, count: number, size: number): number {
  const bits = size * 8;
  dst >>>= 0; src >>>= 0;
  let r: number, cf: number;
  if (size === 4) {
    if (left) { r = ((dst << count) | (src >>> (32 - count))) >>> 0; cf = (dst >>> (32 - count)) & 1; }
    else { r = ((dst >>> count) | (src << (32 - count))) >>> 0; cf = (dst >>> (count - 1)) & 1; }
  } else {
    // 16-bit: counts above 16 give undefined results, which P6 produces by shifting
    // through a 48-bit dst:src:dst value (SHLD), or dst:src:dst from the low end (SHRD).
    if (left) {
      const w = (dst & 0xffff) * 0x1_0000_0000 + (src & 0xffff) * 0x1_0000 + (dst & 0xffff);
      r = Math.floor(w / 2 ** (32 - count)) % 0x1_0000;
      cf = Math.floor(w / 2 ** (48 - count)) & 1;
    } else {
      const w = (dst & 0xffff) + (src & 0xffff) * 0x1_0000 + (dst & 0xffff) * 0x1_0000_0000;
      r = Math.floor(w / 2 ** count) % 0x1_0000;
      cf = Math.floor(w / 2 ** (count - 1)) & 1;
    }
  }
  cpu.setArith(cf !== 0, (msb(r, bits) ^ msb(dst, bits)) !== 0, false, r, size);
  return r;
}

function shdCount(cpu: Cpu, i: Instr): number {
  return (i.def.operands[2] === "CL" ? cpu.regs[1] : i.imm) & 31;
}
export function shld_Ev_Gv(cpu: Cpu, i: Instr): void {
  const c = shdCount(cpu, i);
  if (c === 0) { if (i.opsize32) cpu.readE32(i); else cpu.readE16(i); return; }
  if (i.opsize32) cpu.writeE32(i, doubleShift(cpu, true, cpu.readRmw32(i), cpu.regs[i.reg], c, 4));
  else cpu.writeE16(i, doubleShift(cpu, true, cpu.readRmw16(i), cpu.get16(i.reg), c, 2));
}
export function shrd_Ev_Gv(cpu: Cpu, i: Instr): void {
  const c = shdCount(cpu, i);
  if (c === 0) { if (i.opsize32) cpu.readE32(i); else cpu.readE16(i); return; }
  if (i.opsize32) cpu.writeE32(i, doubleShift(cpu, false, cpu.readRmw32(i), cpu.regs[i.reg], c, 4));
  else cpu.writeE16(i, doubleShift(cpu, false, cpu.readRmw16(i), cpu.get16(i.reg), c, 2));
}
