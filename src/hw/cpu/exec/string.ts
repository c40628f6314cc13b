// String instructions: MOVS CMPS STOS LODS SCAS INS OUTS with REP/REPE/REPNE
// (Intel SDM vol. 2, their pages; vol. 1 §7.3.9). The address size picks SI/DI/CX or
// ESI/EDI/ECX; DF picks the direction; only the source segment can be overridden.
//
// A repeated instruction runs in chunks: when the count reaches a multiple of CHUNK it leaves
// EIP on itself so interrupts and the run budget are honoured, exactly as the processor
// allows between iterations. A fault mid-way leaves the registers describing the progress
// made. Chunks are aligned to the count, not to where execution (re)started, so a restart
// after a page fault finishes the same chunk: each chunk retires as one instruction however
// often it was interrupted — virtual time does not depend on faults a monitor hides.

import { Reg, type Cpu } from "../cpu.js";
import * as F from "../eflags.js";
import { SegReg, type SegmentCache } from "../segment.js";
import { Rep, type Instr } from "../instr.js";
import { alu } from "./alu.js";
import { checkIoAccess } from "./io.js";

const CHUNK = 4096;

/** Element size in bytes: byte forms are the even opcodes. */
function elemSize(i: Instr): number {
  return (i.opcode & 1) === 0 ? 1 : i.opsize32 ? 4 : 2;
}

function readSized(cpu: Cpu, seg: number, off: number, size: number): number {
  return size === 1 ? cpu.read8(seg, off) : size === 2 ? cpu.read16(seg, off) : cpu.read32(seg, off);
}
function writeSized(cpu: Cpu, seg: number, off: number, size: number, v: number): void {
  if (size === 1) cpu.write8(seg, off, v); else if (size === 2) cpu.write16(seg, off, v); else cpu.write32(seg, off, v);
}

/** One iteration of a string instruction (module-level, so a call allocates no closure). */
type Body = (cpu: Cpu, i: Instr, size: number) => void;

/**
 * Up to `max` iterations at once, or none (0): what `max` calls of the body would do, where a
 * shortcut is exact (a REP STOS run inside one page, `stosRun`).
 */
type Run = (cpu: Cpu, i: Instr, size: number, max: number) => number;

/** Run `body` once, or ECX/CX times under REP, handling chunking. `cmp` = REPE/REPNE test ZF. */
function repeat(cpu: Cpu, i: Instr, cmp: boolean, body: Body, size: number, run?: Run): void {
  if (i.rep === Rep.None) { body(cpu, i, size); return; }
  const a32 = i.adsize32;
  for (;;) {
    const count = a32 ? cpu.regs[Reg.ECX] >>> 0 : cpu.regs[Reg.ECX] & 0xffff;
    if (count === 0) return;
    // The iterations left in this chunk (it ends where the count is a multiple of CHUNK).
    const done = run === undefined ? 0 : run(cpu, i, size, count % CHUNK || CHUNK);
    if (done !== 0) {
      cpu.regs[Reg.ECX] = count - done;
      if (count - done === 0) return;
      if ((count - done) % CHUNK === 0) break;
      continue;
    }
    body(cpu, i, size);
    if (a32) cpu.regs[Reg.ECX] = count - 1; else cpu.set16(Reg.ECX, count - 1);
    if (cmp) {
      const zf = cpu.getZF();
      if (i.rep === Rep.RepE ? !zf : zf) return;
    }
    if (count - 1 === 0) return;
    if ((count - 1) % CHUNK === 0) break;
  }
  cpu.eip = cpu.instrEip; // more to do: run this instruction again
}

function step(cpu: Cpu, i: Instr, size: number): number {
  return (cpu.flags & F.DF) !== 0 ? -size : size;
}
function advance(cpu: Cpu, i: Instr, reg: number, delta: number): void {
  if (i.adsize32) cpu.regs[reg] = cpu.regs[reg] + delta;
  else cpu.set16(reg, cpu.regs[reg] + delta);
}
/** ESI/EDI as an offset: 32-bit ones stay signed (read8…write32 take the offset modulo 2^32). */
function index(cpu: Cpu, i: Instr, reg: number): number {
  return i.adsize32 ? cpu.regs[reg] : cpu.regs[reg] & 0xffff;
}

function movsOnce(cpu: Cpu, i: Instr, size: number): void {
  const v = readSized(cpu, i.seg, index(cpu, i, Reg.ESI), size);
  writeSized(cpu, SegReg.ES, index(cpu, i, Reg.EDI), size, v);
  const d = step(cpu, i, size);
  advance(cpu, i, Reg.ESI, d);
  advance(cpu, i, Reg.EDI, d);
}
export function movs(cpu: Cpu, i: Instr): void { repeat(cpu, i, false, movsOnce, elemSize(i), movsRun); }

/**
 * REP MOVSB/MOVSD with 32-bit addresses (paging on or off): the elements up to the end of
 * ESI's and EDI's pages in the direction DF gives (at most `max`) copied at once, when every
 * one of them would take movsOnce's fast paths (inside both segments' limits, dwords aligned,
 * both TLB entries there: Cpu.fastReadAddress, Cpu.fastWriteAddress) and the destination
 * does not lie ahead of the source inside it (where element-by-element copying repeats what
 * it has just written, and a copy as a whole would not: above it going up, below it going
 * down). Otherwise none. Linux's memcpy is a REP MOVSD; the bzImage's first move of itself
 * is a REP MOVSD with DF set.
 */
function movsRun(cpu: Cpu, i: Instr, size: number, max: number): number {
  if (!runs(cpu, i, size)) return 0;
  const src = cpu.segs[i.seg], es = cpu.segs[SegReg.ES];
  const offS = cpu.regs[Reg.ESI] >>> 0, offD = cpu.regs[Reg.EDI] >>> 0;
  const linS = (src.base + offS) >>> 0, linD = (es.base + offD) >>> 0;
  if (((linS | linD) & (size - 1)) !== 0) return 0;
  const down = (cpu.flags & F.DF) !== 0;
  const n = Math.min(max, elementsInPage(linS, offS, size, down), elementsInPage(linD, offD, size, down));
  if (n < 2) return 0;
  // The run's lowest elements: the first going up, the last going down.
  const bytes = n * size, back = down ? bytes - size : 0;
  const pS = runAddress(cpu, src, offS - back, linS - back, bytes, false), pD = runAddress(cpu, es, offD - back, linD - back, bytes, true);
  if (pS === -1 || pD === -1 || (down ? pD < pS && pS < pD + bytes : pS < pD && pD < pS + bytes)) return 0;
  cpu.mem.ram.copyWithin(pD, pS, pS + bytes);
  cpu.regs[Reg.ESI] = down ? offS - bytes : offS + bytes;
  cpu.regs[Reg.EDI] = down ? offD - bytes : offD + bytes;
  return n;
}

/**
 * The elements from the one at linear `lin` (offset `off`, aligned to `size`) to the end of
 * its page in the direction DF gives; going down, also no further than offset 0.
 */
function elementsInPage(lin: number, off: number, size: number, down: boolean): number {
  return down ? Math.min((lin & 0xfff) / size + 1, Math.floor(off / size) + 1) : (0x1000 - (lin & 0xfff)) / size;
}

/** A run at once (stosRun, movsRun) is for bytes and dwords, 32-bit addresses, outside IA-32e mode. */
function runs(cpu: Cpu, i: Instr, size: number): boolean {
  return size !== 2 && i.adsize32 && !cpu.lma;
}

/**
 * The RAM address of the `bytes` at offset `off` of segment `s` (linear `lin`, all inside one
 * page) when every access to them would take the fast path: inside the segment's limit
 * (expand-up from 0) and the TLB entry there (Cpu.fastReadAddress, Cpu.fastWriteAddress);
 * otherwise -1.
 */
function runAddress(cpu: Cpu, s: SegmentCache, off: number, lin: number, bytes: number, write: boolean): number {
  const user = cpu.cpl === 3;
  if (write) return s.writeLo !== 0 || off + bytes - 1 > s.writeHi ? -1 : cpu.fastWriteAddress(lin, user);
  return s.readLo !== 0 || off + bytes - 1 > s.readHi ? -1 : cpu.fastReadAddress(lin, user);
}

function cmpsOnce(cpu: Cpu, i: Instr, size: number): void {
  const a = readSized(cpu, i.seg, index(cpu, i, Reg.ESI), size);
  const b = readSized(cpu, SegReg.ES, index(cpu, i, Reg.EDI), size);
  alu(cpu, 7, a, b, size);
  const d = step(cpu, i, size);
  advance(cpu, i, Reg.ESI, d);
  advance(cpu, i, Reg.EDI, d);
}
export function cmps(cpu: Cpu, i: Instr): void { repeat(cpu, i, true, cmpsOnce, elemSize(i)); }

function stosOnce(cpu: Cpu, i: Instr, size: number): void {
  writeSized(cpu, SegReg.ES, index(cpu, i, Reg.EDI), size, cpu.regs[Reg.EAX]);
  advance(cpu, i, Reg.EDI, step(cpu, i, size));
}
export function stos(cpu: Cpu, i: Instr): void { repeat(cpu, i, false, stosOnce, elemSize(i), stosRun); }

/**
 * REP STOSB/STOSD with 32-bit addresses (paging on or off): the elements up to the end of
 * EDI's page in the direction DF gives (at most `max`) written at once, when every one of them
 * would take stosOnce's fast path (inside ES's limit, aligned, Cpu.fastWriteAddress).
 * Otherwise none (the one-by-one path raises whatever fault, sets whatever bit, the first
 * element needs). A page of zeroes is Linux's most common string instruction.
 */
function stosRun(cpu: Cpu, i: Instr, size: number, max: number): number {
  if (!runs(cpu, i, size)) return 0;
  const es = cpu.segs[SegReg.ES];
  const off = cpu.regs[Reg.EDI] >>> 0;
  const lin = (es.base + off) >>> 0;
  if ((lin & (size - 1)) !== 0) return 0;
  const down = (cpu.flags & F.DF) !== 0;
  const n = Math.min(max, elementsInPage(lin, off, size, down));
  if (n < 2) return 0;
  const bytes = n * size, back = down ? bytes - size : 0;
  const p = runAddress(cpu, es, off - back, lin - back, bytes, true);
  if (p === -1) return 0;
  const v = cpu.regs[Reg.EAX];
  if (size === 1) cpu.mem.ram.fill(v & 0xff, p, p + n);
  else if (cpu.ram32 !== null) cpu.ram32.fill(v, p >>> 2, (p >>> 2) + n);
  else return 0;
  cpu.regs[Reg.EDI] = down ? off - bytes : off + bytes;
  return n;
}

function lodsOnce(cpu: Cpu, i: Instr, size: number): void {
  const v = readSized(cpu, i.seg, index(cpu, i, Reg.ESI), size);
  if (size === 1) cpu.set8(Reg.EAX, v); else if (size === 2) cpu.set16(Reg.EAX, v); else cpu.regs[Reg.EAX] = v;
  advance(cpu, i, Reg.ESI, step(cpu, i, size));
}
export function lods(cpu: Cpu, i: Instr): void { repeat(cpu, i, false, lodsOnce, elemSize(i)); }

function scasOnce(cpu: Cpu, i: Instr, size: number): void {
  const b = readSized(cpu, SegReg.ES, index(cpu, i, Reg.EDI), size);
  // The lazy flags read operands modulo 2^(8*size): a 32-bit one may stay signed (a small
  // integer to V8, not a boxed number).
  alu(cpu, 7, size === 1 ? cpu.regs[Reg.EAX] & 0xff : size === 2 ? cpu.regs[Reg.EAX] & 0xffff : cpu.regs[Reg.EAX], b, size);
  advance(cpu, i, Reg.EDI, step(cpu, i, size));
}
export function scas(cpu: Cpu, i: Instr): void { repeat(cpu, i, true, scasOnce, elemSize(i)); }

export function ins(cpu: Cpu, i: Instr): void {
  const size = elemSize(i);
  const port = cpu.regs[Reg.EDX] & 0xffff;
  checkIoAccess(cpu, i, port, size, true, true);
  repeat(cpu, i, false, () => {
    const off = index(cpu, i, Reg.EDI);
    cpu.checkWrite(SegReg.ES, off, size);
    const v = size === 1 ? cpu.io.in8(port) : size === 2 ? cpu.io.in16(port) : cpu.io.in32(port);
    writeSized(cpu, SegReg.ES, off, size, v);
    advance(cpu, i, Reg.EDI, step(cpu, i, size));
  }, size);
}

export function outs(cpu: Cpu, i: Instr): void {
  const size = elemSize(i);
  const port = cpu.regs[Reg.EDX] & 0xffff;
  checkIoAccess(cpu, i, port, size, false, true);
  repeat(cpu, i, false, () => {
    const v = readSized(cpu, i.seg, index(cpu, i, Reg.ESI), size);
    if (size === 1) cpu.io.out8(port, v); else if (size === 2) cpu.io.out16(port, v); else cpu.io.out32(port, v >>> 0);
    advance(cpu, i, Reg.ESI, step(cpu, i, size));
  }, size);
}
