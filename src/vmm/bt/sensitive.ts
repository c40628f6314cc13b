// How the translator treats each instruction, by the interpreter handler the decoder picks
// (one opcode table drives decoder, interpreter and translator). Everything not named here
// is copied unchanged (IDENT).

import type { Handler } from "../../hw/cpu/instr.js";
import * as C from "../../hw/cpu/exec/control.js";
import * as S from "../../hw/cpu/exec/system.js";
import * as St from "../../hw/cpu/exec/stack.js";
import * as D from "../../hw/cpu/exec/data.js";
import * as Ds from "../../hw/cpu/exec/descriptor.js";
import * as Io from "../../hw/cpu/exec/io.js";
import * as Str from "../../hw/cpu/exec/string.js";
import * as Str64 from "../../hw/cpu/exec64/string.js";

/** Direct jumps and calls the translator rewrites inline (32-bit operand size). */
export const jmpRel: Handler = C.jmp_J;
export const jccRel: Handler = C.jcc_J;
export const callRel: Handler = C.call_J;
/** Near RET: a callout with a native helper over it (docs/bt.md, "Returns"). */
export const retNear: Handler = C.ret;
/** PUSHF and CLI: callouts with native helpers over them (docs/bt.md, "Returns"). */
export const pushf: Handler = St.pushf;
export const cli: Handler = S.cli;
/** IN and OUT (not the string forms): callouts with a native helper for the ports the monitor does in place. */
export const portInOut: readonly Handler[] = [Io.in_, Io.out];
/** CALL r/m (near, indirect), INVLPG, PUSH Sreg, STI: callouts with native helpers (docs/bt.md, "More helpers"). */
export const callIndirect: Handler = C.call_Ev;
export const invlpg: Handler = S.invlpg;
export const pushSreg: Handler = St.push_Sw;
export const sti: Handler = S.sti;

/**
 * Sensitive or privileged instructions that do not transfer control: a callout runs each
 * on the vCPU, then the translated code goes on. Robin & Irvine's store and selector
 * instructions, PUSHF/POPF, segment-register moves, CLI/STI, I/O, control and debug
 * registers, descriptor-table loads, CPUID, MSRs, cache and TLB control.
 */
export const CALLOUT: Handler[] = [
  St.pushf, St.popf, St.push_Sw, St.pop_Sw, D.mov_Ev_Sw, D.mov_Sw_Ew, D.lseg_Gv_Mp,
  Ds.lar, Ds.lsl, Ds.verr, Ds.verw, Ds.sldt, Ds.str, Ds.lldt, Ds.ltr,
  S.sgdt, S.sidt, S.smsw, S.lmsw, S.lgdt, S.lidt, S.clts, S.cli, S.sti,
  S.mov_Rd_Cd, S.mov_Cd_Rd, S.mov_Rd_Dd, S.mov_Dd_Rd, S.invlpg, S.invd, S.cpuid, S.rdmsr, S.wrmsr, S.rdpmc,
  Io.in_, Io.out, Str.ins, Str.outs,
];

/** Control transfers the monitor carries out on the vCPU; the trace ends there. */
export const CALLOUT_END: Handler[] = [
  C.ret, C.jmp_Ev, C.call_Ev, C.jmp_Ap, C.jmp_Mp, C.call_Ap, C.call_Mp, C.retf, C.iret_,
  C.loop, C.jcxz, C.int_Ib, C.int3, C.into, C.int1, C.bound, S.sysenter, S.sysexit, S.hlt, S.ud2, S.undefinedOpcode,
];

/** Direct transfers handled inline only at 32-bit operand size; otherwise a callout. */
export const CONTROL_FLOW = new Set<Handler>([C.jmp_J, C.jcc_J, C.call_J]);

/** Port I/O (IN, OUT, INS, OUTS, in every width and mode): a device may owe the guest an interrupt at once. */
export const PORT_IO = new Set<Handler>([Io.in_, Io.out, Str.ins, Str.outs, Str64.ins, Str64.outs]);
