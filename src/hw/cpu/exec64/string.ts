// String instructions in 64-bit mode: MOVS CMPS STOS LODS SCAS INS OUTS with REP/REPE/REPNE
// on RSI/RDI/RCX (ESI/EDI/ECX with 67h, zero-extended when written). Elements of 1, 2, 4 or
// 8 bytes. Repeats run in chunks exactly as the legacy ones do (exec/string.ts).

import { Reg, type Cpu } from "../cpu.js";
import * as F from "../eflags.js";
import { SegReg } from "../segment.js";
import { Rep, type Instr } from "../instr.js";
import { checkIoPermission } from "../exec/io.js";
import { readMem, writeMem, getReg, setReg, segLinear } from "./operands.js";
import { aluOp } from "./alu.js";

const CHUNK = 4096;

/** The element size: byte forms are the even opcodes. */
const elem = (i: Instr): number => ((i.opcode & 1) === 0 ? 1 : i.osz);

/** Linear address of index register `r` through segment `seg` (ES for RDI: base 0). */
function addr(cpu: Cpu, i: Instr, seg: number, r: number): number {
  return segLinear(cpu, seg, cpu.regs[r], i.adsize64 ? cpu.regsHi[r] : 0);
}
function advance(cpu: Cpu, i: Instr, r: number, size: number): void {
  const d = (cpu.flags & F.DF) !== 0 ? -size : size;
  const lo = (cpu.regs[r] >>> 0) + d;
  if (i.adsize64) {
    cpu.regsHi[r] = (cpu.regsHi[r] + Math.floor(lo / 0x1_0000_0000)) | 0;
    cpu.regs[r] = lo | 0;
  } else {
    setReg(cpu, r, 4, lo | 0, 0, 0);
  }
}

function repeat(cpu: Cpu, i: Instr, cmp: boolean, body: () => void): void {
  if (i.rep === Rep.None) { body(); return; }
  for (;;) {
    const lo = cpu.regs[Reg.ECX], hi = i.adsize64 ? cpu.regsHi[Reg.ECX] : 0;
    if ((lo | hi) === 0) return;
    body();
    const nl = (lo - 1) | 0, nh = (hi - (lo === 0 ? 1 : 0)) | 0;
    if (i.adsize64) { cpu.regs[Reg.ECX] = nl; cpu.regsHi[Reg.ECX] = nh; } else setReg(cpu, Reg.ECX, 4, nl, 0, 0);
    if (cmp) {
      const zf = cpu.getZF();
      if (i.rep === Rep.RepE ? !zf : zf) return;
    }
    if ((nl | nh) === 0) return;
    if ((nl & (CHUNK - 1)) === 0) break;
  }
  cpu.eip = cpu.instrEip;
}

export function movs(cpu: Cpu, i: Instr): void {
  const n = elem(i);
  repeat(cpu, i, false, () => {
    const v = readMem(cpu, i.seg, addr(cpu, i, i.seg, Reg.ESI), n);
    writeMem(cpu, SegReg.ES, addr(cpu, i, SegReg.ES, Reg.EDI), n, v, cpu.hi);
    advance(cpu, i, Reg.ESI, n);
    advance(cpu, i, Reg.EDI, n);
  });
}
export function cmps(cpu: Cpu, i: Instr): void {
  const n = elem(i);
  repeat(cpu, i, true, () => {
    const a = readMem(cpu, i.seg, addr(cpu, i, i.seg, Reg.ESI), n), ah = cpu.hi;
    const b = readMem(cpu, SegReg.ES, addr(cpu, i, SegReg.ES, Reg.EDI), n);
    aluOp(cpu, 7, a, ah, b, cpu.hi, n);
    advance(cpu, i, Reg.ESI, n);
    advance(cpu, i, Reg.EDI, n);
  });
}
export function stos(cpu: Cpu, i: Instr): void {
  const n = elem(i);
  repeat(cpu, i, false, () => {
    const v = getReg(cpu, Reg.EAX, n, 0);
    writeMem(cpu, SegReg.ES, addr(cpu, i, SegReg.ES, Reg.EDI), n, v, cpu.hi);
    advance(cpu, i, Reg.EDI, n);
  });
}
export function lods(cpu: Cpu, i: Instr): void {
  const n = elem(i);
  repeat(cpu, i, false, () => {
    const v = readMem(cpu, i.seg, addr(cpu, i, i.seg, Reg.ESI), n);
    setReg(cpu, Reg.EAX, n, v, cpu.hi, 0);
    advance(cpu, i, Reg.ESI, n);
  });
}
export function scas(cpu: Cpu, i: Instr): void {
  const n = elem(i);
  repeat(cpu, i, true, () => {
    const b = readMem(cpu, SegReg.ES, addr(cpu, i, SegReg.ES, Reg.EDI), n), bh = cpu.hi;
    const a = getReg(cpu, Reg.EAX, n, 0);
    aluOp(cpu, 7, a, cpu.hi, b, bh, n);
    advance(cpu, i, Reg.EDI, n);
  });
}
export function ins(cpu: Cpu, i: Instr): void {
  const n = Math.min(elem(i), 4);
  const port = cpu.regs[Reg.EDX] & 0xffff;
  checkIoPermission(cpu, port, n);
  cpu.guest?.io(port, n, true, i);
  repeat(cpu, i, false, () => {
    const a = addr(cpu, i, SegReg.ES, Reg.EDI);
    cpu.checkWrite(SegReg.ES, a, n);
    const v = n === 1 ? cpu.io.in8(port) : n === 2 ? cpu.io.in16(port) : cpu.io.in32(port);
    writeMem(cpu, SegReg.ES, a, n, v, 0);
    advance(cpu, i, Reg.EDI, n);
  });
}
export function outs(cpu: Cpu, i: Instr): void {
  const n = Math.min(elem(i), 4);
  const port = cpu.regs[Reg.EDX] & 0xffff;
  checkIoPermission(cpu, port, n);
  cpu.guest?.io(port, n, false, i);
  repeat(cpu, i, false, () => {
    const v = readMem(cpu, i.seg, addr(cpu, i, i.seg, Reg.ESI), n);
    if (n === 1) cpu.io.out8(port, v); else if (n === 2) cpu.io.out16(port, v); else cpu.io.out32(port, v);
    advance(cpu, i, Reg.ESI, n);
  });
}
