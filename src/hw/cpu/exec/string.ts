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
import { SegReg } from "../segment.js";
import { Rep, type Instr } from "../instr.js";
import { alu } from "./alu.js";
import { checkIoPermission } from "./io.js";

const CHUNK = 4096;

/** Element size in bytes: byte forms are the even opcodes. */
function elemSize(i: Instr): number {
  return (i.opcode & 1) === 0 ? 1 : i.opsize32 ? 4 : 2;
}

function readSized(cpu: Cpu, seg: number, off: number, size: number): number {
  return size === 1 ? cpu.read8(seg, off) : size === 2 ? cpu.read16(seg, off) : cpu.read32(seg, off) >>> 0;
}
function writeSized(cpu: Cpu, seg: number, off: number, size: number, v: number): void {
  if (size === 1) cpu.write8(seg, off, v); else if (size === 2) cpu.write16(seg, off, v); else cpu.write32(seg, off, v);
}

/** Run `body` once, or ECX/CX times under REP, handling chunking. `cmp` = REPE/REPNE test ZF. */
function repeat(cpu: Cpu, i: Instr, cmp: boolean, body: () => void): void {
  if (i.rep === Rep.None) { body(); return; }
  const a32 = i.adsize32;
  for (;;) {
    const count = a32 ? cpu.regs[Reg.ECX] >>> 0 : cpu.regs[Reg.ECX] & 0xffff;
    if (count === 0) return;
    body();
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
function index(cpu: Cpu, i: Instr, reg: number): number {
  return i.adsize32 ? cpu.regs[reg] >>> 0 : cpu.regs[reg] & 0xffff;
}

export function movs(cpu: Cpu, i: Instr): void {
  const size = elemSize(i);
  repeat(cpu, i, false, () => {
    const v = readSized(cpu, i.seg, index(cpu, i, Reg.ESI), size);
    writeSized(cpu, SegReg.ES, index(cpu, i, Reg.EDI), size, v);
    const d = step(cpu, i, size);
    advance(cpu, i, Reg.ESI, d);
    advance(cpu, i, Reg.EDI, d);
  });
}

export function cmps(cpu: Cpu, i: Instr): void {
  const size = elemSize(i);
  repeat(cpu, i, true, () => {
    const a = readSized(cpu, i.seg, index(cpu, i, Reg.ESI), size);
    const b = readSized(cpu, SegReg.ES, index(cpu, i, Reg.EDI), size);
    alu(cpu, 7, a, b, size);
    const d = step(cpu, i, size);
    advance(cpu, i, Reg.ESI, d);
    advance(cpu, i, Reg.EDI, d);
  });
}

export function stos(cpu: Cpu, i: Instr): void {
  const size = elemSize(i);
  repeat(cpu, i, false, () => {
    writeSized(cpu, SegReg.ES, index(cpu, i, Reg.EDI), size, cpu.regs[Reg.EAX]);
    advance(cpu, i, Reg.EDI, step(cpu, i, size));
  });
}

export function lods(cpu: Cpu, i: Instr): void {
  const size = elemSize(i);
  repeat(cpu, i, false, () => {
    const v = readSized(cpu, i.seg, index(cpu, i, Reg.ESI), size);
    if (size === 1) cpu.set8(Reg.EAX, v); else if (size === 2) cpu.set16(Reg.EAX, v); else cpu.regs[Reg.EAX] = v;
    advance(cpu, i, Reg.ESI, step(cpu, i, size));
  });
}

export function scas(cpu: Cpu, i: Instr): void {
  const size = elemSize(i);
  const mask = size === 1 ? 0xff : size === 2 ? 0xffff : 0xffff_ffff;
  repeat(cpu, i, true, () => {
    const b = readSized(cpu, SegReg.ES, index(cpu, i, Reg.EDI), size);
    alu(cpu, 7, (cpu.regs[Reg.EAX] & mask) >>> 0, b, size);
    advance(cpu, i, Reg.EDI, step(cpu, i, size));
  });
}

export function ins(cpu: Cpu, i: Instr): void {
  const size = elemSize(i);
  const port = cpu.regs[Reg.EDX] & 0xffff;
  checkIoPermission(cpu, port, size);
  cpu.guest?.io(port, size, true, i);
  repeat(cpu, i, false, () => {
    const off = index(cpu, i, Reg.EDI);
    cpu.checkWrite(SegReg.ES, off, size);
    const v = size === 1 ? cpu.io.in8(port) : size === 2 ? cpu.io.in16(port) : cpu.io.in32(port);
    writeSized(cpu, SegReg.ES, off, size, v);
    advance(cpu, i, Reg.EDI, step(cpu, i, size));
  });
}

export function outs(cpu: Cpu, i: Instr): void {
  const size = elemSize(i);
  const port = cpu.regs[Reg.EDX] & 0xffff;
  checkIoPermission(cpu, port, size);
  cpu.guest?.io(port, size, false, i);
  repeat(cpu, i, false, () => {
    const v = readSized(cpu, i.seg, index(cpu, i, Reg.ESI), size);
    if (size === 1) cpu.io.out8(port, v); else if (size === 2) cpu.io.out16(port, v); else cpu.io.out32(port, v);
    advance(cpu, i, Reg.ESI, step(cpu, i, size));
  });
}
