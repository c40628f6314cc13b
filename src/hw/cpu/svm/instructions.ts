// The SVM instructions (AMD APM vol. 3, "VMRUN", "VMMCALL", "VMLOAD", "VMSAVE", "STGI",
// "CLGI", "SKINIT", "INVLPGA"): 0F 01 D8–DF. On models without SVM they are #UD (the
// opcode table's `feature`); the work is the processor's SVM unit's (svm.ts).

import type { Cpu } from "../cpu.js";
import type { Instr } from "../instr.js";
import type { Svm } from "./svm.js";

function unit(cpu: Cpu): Svm {
  if (cpu.svm === null) return cpu.ud();
  return cpu.svm;
}

export function vmrun(cpu: Cpu, i: Instr): void { unit(cpu).vmrun(i); }
export function vmmcall(cpu: Cpu, i: Instr): void { unit(cpu).vmmcall(i); }
export function vmload(cpu: Cpu, i: Instr): void { unit(cpu).vmload(i); }
export function vmsave(cpu: Cpu, i: Instr): void { unit(cpu).vmsave(i); }
export function stgi(cpu: Cpu, i: Instr): void { unit(cpu).stgi(i); }
export function clgi(cpu: Cpu, i: Instr): void { unit(cpu).clgi(i); }
export function invlpga(cpu: Cpu, i: Instr): void { unit(cpu).invlpga(i); }
/** SKINIT: the modelled parts do not report it (CPUID 8000_0001h:ECX bit 12 clear). */
export function skinit(cpu: Cpu, _i: Instr): void { cpu.ud(); }
