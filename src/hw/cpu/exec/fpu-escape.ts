// The CPU side of x87 instructions (Intel SDM vol. 1 §8.3, vol. 3 §2.5 CR0.EM/TS/MP/NE,
// §9.2 and §6.15 "#MF"): availability checks, pending-exception reporting, then the FPU.

import { type Cpu } from "../cpu.js";
import { CR0_EM, CR0_MP, CR0_NE, CR0_TS } from "../control-regs.js";
import { Vector } from "../fault.js";
import type { Instr } from "../instr.js";

/**
 * Non-waiting forms (FNINIT, FNCLEX, FNSTENV, FNSAVE, FNSTSW, FNSTCW) do not check for
 * pending exceptions: DB E2/E3, D9 /6 /7 (mem), DD /6 /7 (mem), DF E0.
 */
function isNoWait(i: Instr): boolean {
  const op = i.opcode;
  if (op === 0xdb && (i.modrm === 0xe2 || i.modrm === 0xe3)) return true;
  if (op === 0xdf && i.modrm === 0xe0) return true;
  if ((op === 0xd9 || op === 0xdd) && i.hasMem && (i.reg === 6 || i.reg === 7)) return true;
  return false;
}

/** Report a pending unmasked x87 exception: #MF with CR0.NE, else the FERR# line. */
export function fpuPendingCheck(cpu: Cpu): void {
  if (!cpu.fpu.pendingUnmaskedException()) return;
  if ((cpu.cr0 & CR0_NE) !== 0) cpu.raiseNoCode(Vector.MF);
  cpu.ferr?.();
}

export function fpu_escape(cpu: Cpu, i: Instr): void {
  if ((cpu.cr0 & (CR0_EM | CR0_TS)) !== 0) cpu.raiseNoCode(Vector.NM);
  if (!isNoWait(i)) fpuPendingCheck(cpu);
  const ctx = cpu.fpuInstr;
  ctx.opcode = i.opcode;
  ctx.modrm = i.modrm;
  ctx.seg = i.seg;
  ctx.offset = i.hasMem ? cpu.ea(i) : 0;
  ctx.operandSize32 = i.opsize32;
  ctx.protectedMode = cpu.protectedMode && !cpu.v86;
  ctx.cs = cpu.segs[1].selector;
  ctx.eip = cpu.instrEip;
  ctx.operandSelector = cpu.segs[i.seg].selector;
  if (!cpu.fpu.execute(ctx, cpu.fpuHost)) cpu.ud();
}

/** WAIT/FWAIT: #NM if CR0.MP and CR0.TS; then report pending exceptions. */
export function fwait(cpu: Cpu, _i: Instr): void {
  if ((cpu.cr0 & (CR0_MP | CR0_TS)) === (CR0_MP | CR0_TS)) cpu.raiseNoCode(Vector.NM);
  fpuPendingCheck(cpu);
}

/** SSE3 FISTTP: #UD on a model without SSE3, then an x87 store like FISTP. */
export function fisttp(cpu: Cpu, i: Instr): void {
  if (!cpu.features.sse3) cpu.ud();
  fpu_escape(cpu, i);
}
