// --trace: one line per executed instruction, disassembled, with the registers it ran on.

import type { Cpu } from "../hw/cpu/cpu.js";
import type { Instr } from "../hw/cpu/instr.js";
import { disassemble } from "../hw/cpu/disasm.js";

const h8 = (v: number): string => (v >>> 0).toString(16).padStart(8, "0");
const h4 = (v: number): string => (v & 0xffff).toString(16).padStart(4, "0");

const NAMES64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];
const h16 = (hi: number, lo: number): string => h8(hi) + h8(lo);
/** RIP as 16 hex digits (a canonical address held as a possibly negative number). */
const rip = (v: number): string => BigInt.asUintN(64, BigInt(v)).toString(16).padStart(16, "0");

export function traceLine(cpu: Cpu, i: Instr): string {
  const r = cpu.regs;
  if (i.code64) {
    // 64-bit mode: the sixteen registers whole.
    return `${h4(cpu.segs[1].selector)}:${rip(cpu.eip)} ${disassemble(i, cpu.eip).padEnd(36)} ` +
      NAMES64.map((n, k) => `${n}=${h16(cpu.regsHi[k], r[k])}`).join(" ") + ` fl=${h8(cpu.getEflags())} cpl=${cpu.cpl}`;
  }
  const cs = cpu.segs[1].selector;
  return (
    `${h4(cs)}:${h8(cpu.eip)} ${disassemble(i, cpu.eip).padEnd(36)} ` +
    `eax=${h8(r[0])} ecx=${h8(r[1])} edx=${h8(r[2])} ebx=${h8(r[3])} esp=${h8(r[4])} ebp=${h8(r[5])} ` +
    `esi=${h8(r[6])} edi=${h8(r[7])} fl=${h8(cpu.getEflags())} cpl=${cpu.cpl}`
  );
}

/** Install a tracer writing to `write` (buffered by the caller). */
export function installTracer(cpu: Cpu, write: (line: string) => void): void {
  cpu.tracer = (c, i) => write(traceLine(c, i));
}
