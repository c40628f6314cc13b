// The opcode table: one row per instruction form, as data (Intel SDM vol. 2 appendix A,
// "Opcode Map", tables for one- and two-byte opcodes, A-6 for group opcodes
// and A-7 … A-22 for x87 escapes). The decoder, the interpreter and the disassembler
// are all driven by it; a block compiler will be too.
//
// Operand notation follows appendix A.2: a letter for the addressing method (E, G, I, J, M,
// O, R, S, C, D, A, X, Y …) and a letter for the size (b, w, d, v = 16/32 by operand size,
// z = 16/32 immediate, p = far pointer, a = BOUND pair, s = pseudo-descriptor, q = 8 bytes).
// "Mw/Rv" is a 16-bit memory operand whose register form is sized by the operand size
// (MOV r/m,Sreg, SLDT, STR, SMSW, the LAR/LSL source).
// "Ibs" is an 8-bit immediate sign-extended to the operand size; fixed registers are named
// ("AL", "eAX", "DX", "CL", "1"); "Zv"/"Zb" name the register in the opcode's low bits.
// x87 operands: "ST" (ST(0)), "STi" (ST(rm)), and memory forms by size ("m32fp" …).

import type { Handler } from "./instr.js";
import * as alu from "./exec/alu.js";
import * as shift from "./exec/shift.js";
import * as bcd from "./exec/bcd.js";
import * as bit from "./exec/bit.js";
import * as data from "./exec/data.js";
import * as stack from "./exec/stack.js";
import * as str from "./exec/string.js";
import * as io from "./exec/io.js";
import * as ctl from "./exec/control.js";
import * as sys from "./exec/system.js";
import * as dsc from "./exec/descriptor.js";
import * as fpu from "./exec/fpu-escape.js";
import * as scall from "./exec/syscall.js";
import * as a64 from "./exec64/alu.js";
import * as sh64 from "./exec64/shift.js";
import * as d64 from "./exec64/data.js";
import * as b64 from "./exec64/bit.js";
import * as c64 from "./exec64/control.js";
import * as s64 from "./exec64/string.js";
import * as y64 from "./exec64/system.js";
import * as si from "./exec/simd-int.js";
import * as sf from "./exec/simd-fp.js";
import * as mv from "./exec/simd-move.js";
import * as fx from "./exec/fxsave.js";
import * as svmi from "./svm/instructions.js";
import * as vmx from "./exec/vmx.js";
import type { FeatureName } from "./models.js";

export type Operand = string;

/** The lowerable instruction kinds (OpDef.lower, docs/jit.md "Lowering"). */
/**
 * What an instruction is to the block compiler's lowerings (jit/lower.ts, jit/wasm-block.ts).
 * "call", "ret" and "jmp" (near, relative or from the stack) and "callind", "jmpind" (near,
 * through a register or memory: FF /2, FF /4) end a block; only the WebAssembly tier takes
 * them, and "nop", "imul" (0F AF, 69, 6B), "not", "neg", "bswap", "leave", the string steps, "cmpxchg", "xadd", "rdtsc", "loop" (LOOP, LOOPE, LOOPNE),
 * "jcxz", MOV's moffs forms, PUSH r/m, "pushf" (PUSHFD), "mul" (MUL r/m32), "cwd" (CDQ),
 * "cmpxchg8b", "bt" (BT, BTS, BTR, BTC of a dword), "in" and "out" (port I/O, at the
 * instruction's guest time), "xchg", "cli", "shd" (SHLD, SHRD), "div" (DIV r/m32), "popm"
 * (POP r/m32, 8F) and "invlpg".
 */
export type Lowering = "alu" | "test" | "mov" | "inc" | "dec" | "push" | "pop" | "lea" | "movzx" | "movsx" | "jcc" | "shift" | "setcc" | "cmovcc" |
  "call" | "ret" | "jmp" | "callind" | "jmpind" | "pushf" | "mul" | "cwd" | "nop" | "imul" | "not" | "neg" | "bswap" | "leave" | "lods" | "stos" | "movs" | "scas" | "cmps" | "cmpxchg" | "xadd" | "rdtsc" | "loop" | "jcxz" | "cmpxchg8b" | "bt" | "in" | "out" | "xchg" | "cli" | "shd" | "div" | "popm" | "invlpg";

export interface OpDef {
  /** 0x00–0xFF one-byte opcodes; 0x0F00–0x0FFF two-byte; 0x0F38xx and 0x0F3Axx three-byte; -1 for the "(bad)" row. */
  opcode: number;
  /** ModR/M.reg for group opcodes. */
  reg?: number;
  /** Exact ModR/M byte for register forms that name one instruction per byte (x87, 0F 01). */
  modrm?: number;
  /** true: memory form only; false: register form only; absent: both. */
  mem?: boolean;
  /** Lower-case mnemonic; "a/b" gives the 16-bit and 32-bit operand-size names. */
  mnemonic: string;
  operands: Operand[];
  handler: Handler;
  /** LOCK is allowed (with a memory destination). */
  lockable?: boolean;
  /** String instruction that takes REP (r) or REPE/REPNE (c). */
  rep?: "r" | "c";
  /** The ModR/M mod field is ignored: always a register operand (MOV CRn/DRn). */
  forceReg?: boolean;
  /**
   * The handler in 64-bit mode (exec64/, or the legacy one where it is exact there too).
   * Absent: #UD in 64-bit mode, because the instruction is invalid there ("i64" in appendix
   * A) or not modelled there yet (docs/long-mode.md lists which).
   */
  x64?: Handler;
  /** 64-bit operand size (appendix A superscripts): "d64" defaults to 64 (66h gives 16), "f64" is always 64. */
  os64?: "d64" | "f64";
  /** The row exists only in 64-bit mode (MOVSXD at 63, SWAPGS). */
  only64?: boolean;
  /**
   * The mandatory prefix of an SSE row (SDM vol. 2 §2.1.2, appendix A.3): the row applies
   * only with no prefix (0), 66h, F3h or F2h, which then do not act as operand-size or REP
   * prefixes. Rows without it ignore those prefixes as usual.
   */
  prefix?: 0 | 0x66 | 0xf3 | 0xf2;
  /** The CPUID feature without which the row is #UD (checked by its handler). */
  feature?: FeatureName;
  /** "NP" in the SDM's opcode column: a 66h, F2h or F3h prefix makes the instruction undefined. */
  np?: boolean;
  /**
   * Nothing instruction fetch depends on changes: no far transfer, no CS/CPL/paging/TLB/
   * EFLAGS.IF or TF change, no I/O, and execution goes on at the next instruction, or (Jcc)
   * at a target the block leaves for. A compiled block may continue after it (docs/jit.md).
   * Set for the table at the end of this file.
   */
  straight?: boolean;
  /**
   * It returns to code an interrupt or exception left (IRET): where it lands may be inside a
   * block, as where a slice's end left it. The run loop then runs the rest of that block
   * (cpu.ts runSlice) rather than counting a hit toward a block of its own there.
   */
  resumes?: boolean;
  /**
   * Its register form touches registers and flags only (no memory, device, FPU error
   * line or descriptor table): a compiled block need not look for interrupts, a stop or
   * rewritten code after it.
   */
  quiet?: boolean;
  /**
   * How the block compiler's tier 2 may lower the instruction (jit/lower.ts): inline code for
   * its operand access (registers, the effective address, immediates) around the same
   * semantic function the handler calls (`alu`, `incOp`, `push32`, `condition` …). Absent:
   * the block calls the handler. Set at the end of this file.
   */
  lower?: Lowering;
  /**
   * In VMX non-root operation (Intel SDM vol. 3C §26.1 "Instructions That Cause VM Exits",
   * §25.1 in newer editions): "always" — it exits unconditionally (§26.1.2); otherwise the
   * VM-execution control or VMCS setting under which it exits (§26.1.3), e.g. "HLT
   * exiting". Absent: the instruction itself never exits (a fault it raises may, through
   * the exception bitmap, and a task switch it starts always does). Set at the end of this
   * file.
   */
  vmx?: string;
  /**
   * Under SVM (AMD APM vol. 2 §15.9–15.13, the VMCB intercept names of appendix B table
   * B-1): the intercept that makes it exit, "always" for VMRUN (whose intercept must be
   * set, §15.5.1). Absent: no intercept catches the instruction itself. Set at the end.
   */
  svm?: string;
}

export const OPCODES: OpDef[] = [];

/** A row's bytes up to the ModR/M byte: its mandatory prefix, then the opcode (one to three bytes). */
export function opcodeBytes(d: OpDef): number[] {
  const pre = d.prefix ? [d.prefix] : [];
  if (d.opcode < 0x100) return [...pre, d.opcode];
  if (d.opcode <= 0xffff) return [...pre, 0x0f, d.opcode & 0xff];
  return [...pre, 0x0f, (d.opcode >> 8) & 0xff, d.opcode & 0xff];
}

function d(opcode: number, mnemonic: string, operands: string, handler: Handler, extra: Partial<OpDef> = {}): void {
  OPCODES.push({ opcode, mnemonic, operands: operands === "" ? [] : operands.split(","), handler, ...extra });
}
function g(opcode: number, reg: number, mnemonic: string, operands: string, handler: Handler, extra: Partial<OpDef> = {}): void {
  d(opcode, mnemonic, operands, handler, { reg, ...extra });
}

const ALU = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"];
const CC = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"];
const L = { lockable: true };

// ---- One-byte opcodes (SDM vol. 2 table A-2) ----
for (let k = 0; k < 8; k++) {
  const b = k << 3;
  const lk = k === 7 ? {} : L;
  d(b + 0, ALU[k], "Eb,Gb", alu.alu_Eb_Gb, lk);
  d(b + 1, ALU[k], "Ev,Gv", alu.alu_Ev_Gv, lk);
  d(b + 2, ALU[k], "Gb,Eb", alu.alu_Gb_Eb);
  d(b + 3, ALU[k], "Gv,Ev", alu.alu_Gv_Ev);
  d(b + 4, ALU[k], "AL,Ib", alu.alu_AL_Ib);
  d(b + 5, ALU[k], "eAX,Iz", alu.alu_eAX_Iz);
}
d(0x06, "push", "ES", stack.push_Sw); d(0x07, "pop", "ES", stack.pop_Sw);
d(0x0e, "push", "CS", stack.push_Sw);
d(0x16, "push", "SS", stack.push_Sw); d(0x17, "pop", "SS", stack.pop_Sw);
d(0x1e, "push", "DS", stack.push_Sw); d(0x1f, "pop", "DS", stack.pop_Sw);
d(0x27, "daa", "", bcd.daa); d(0x2f, "das", "", bcd.das);
d(0x37, "aaa", "", bcd.aaa); d(0x3f, "aas", "", bcd.aas);
for (let r = 0; r < 8; r++) {
  d(0x40 + r, "inc", "Zv", alu.inc_Zv);
  d(0x48 + r, "dec", "Zv", alu.dec_Zv);
  d(0x50 + r, "push", "Zv", stack.push_Zv);
  d(0x58 + r, "pop", "Zv", stack.pop_Zv);
}
d(0x60, "pusha/pushad", "", stack.pusha);
d(0x61, "popa/popad", "", stack.popa);
d(0x62, "bound", "Gv,Ma", ctl.bound, { mem: true });
d(0x63, "arpl", "Ew,Gw", dsc.arpl);
d(0x68, "push", "Iz", stack.push_I);
d(0x69, "imul", "Gv,Ev,Iz", alu.imul_Gv_Ev_I);
d(0x6a, "push", "Ibs", stack.push_I);
d(0x6b, "imul", "Gv,Ev,Ibs", alu.imul_Gv_Ev_I);
d(0x6c, "insb", "Yb,DX", str.ins, { rep: "r" });
d(0x6d, "insw/insd", "Yv,DX", str.ins, { rep: "r" });
d(0x6e, "outsb", "DX,Xb", str.outs, { rep: "r" });
d(0x6f, "outsw/outsd", "DX,Xv", str.outs, { rep: "r" });
for (let c = 0; c < 16; c++) d(0x70 + c, "j" + CC[c], "Jb", ctl.jcc_J);
for (let k = 0; k < 8; k++) {
  const lk = k === 7 ? {} : L;
  g(0x80, k, ALU[k], "Eb,Ib", alu.grp1_Eb_Ib, lk);
  g(0x81, k, ALU[k], "Ev,Iz", alu.grp1_Ev_I, lk);
  g(0x82, k, ALU[k], "Eb,Ib", alu.grp1_Eb_Ib, lk);
  g(0x83, k, ALU[k], "Ev,Ibs", alu.grp1_Ev_I, lk);
}
d(0x84, "test", "Eb,Gb", alu.test_Eb_Gb);
d(0x85, "test", "Ev,Gv", alu.test_Ev_Gv);
d(0x86, "xchg", "Eb,Gb", data.xchg_Eb_Gb, L);
d(0x87, "xchg", "Ev,Gv", data.xchg_Ev_Gv, L);
d(0x88, "mov", "Eb,Gb", data.mov_Eb_Gb);
d(0x89, "mov", "Ev,Gv", data.mov_Ev_Gv);
d(0x8a, "mov", "Gb,Eb", data.mov_Gb_Eb);
d(0x8b, "mov", "Gv,Ev", data.mov_Gv_Ev);
// MOV Sreg: only ES…GS exist (reg 6, 7: #UD); a register operand is sized by the operand size,
// memory is always 16 bits (SDM vol. 2 "MOV": "MOV r16/r32/m16, Sreg"). Loading CS is #UD.
for (let r = 0; r < 6; r++) g(0x8c, r, "mov", "Mw/Rv,Sw", data.mov_Ev_Sw);
d(0x8d, "lea", "Gv,M", data.lea_Gv_M, { mem: true });
for (const r of [0, 2, 3, 4, 5]) g(0x8e, r, "mov", "Sw,Mw/Rv", data.mov_Sw_Ew);
g(0x8f, 0, "pop", "Ev", stack.pop_Ev);
d(0x90, "nop", "", data.nop);
for (let r = 1; r < 8; r++) d(0x90 + r, "xchg", "Zv,eAX", data.xchg_eAX_Zv);
d(0x98, "cbw/cwde", "", data.cbw);
d(0x99, "cwd/cdq", "", data.cwd);
d(0x9a, "call", "Ap", ctl.call_Ap);
d(0x9b, "wait", "", fpu.fwait);
d(0x9c, "pushf/pushfd", "", stack.pushf);
d(0x9d, "popf/popfd", "", stack.popf);
d(0x9e, "sahf", "", data.sahf);
d(0x9f, "lahf", "", data.lahf);
d(0xa0, "mov", "AL,Ob", data.mov_AL_Ob);
d(0xa1, "mov", "eAX,Ov", data.mov_eAX_Ov);
d(0xa2, "mov", "Ob,AL", data.mov_Ob_AL);
d(0xa3, "mov", "Ov,eAX", data.mov_Ov_eAX);
d(0xa4, "movsb", "Yb,Xb", str.movs, { rep: "r" });
d(0xa5, "movsw/movsd", "Yv,Xv", str.movs, { rep: "r" });
d(0xa6, "cmpsb", "Xb,Yb", str.cmps, { rep: "c" });
d(0xa7, "cmpsw/cmpsd", "Xv,Yv", str.cmps, { rep: "c" });
d(0xa8, "test", "AL,Ib", alu.test_AL_Ib);
d(0xa9, "test", "eAX,Iz", alu.test_eAX_Iz);
d(0xaa, "stosb", "Yb,AL", str.stos, { rep: "r" });
d(0xab, "stosw/stosd", "Yv,eAX", str.stos, { rep: "r" });
d(0xac, "lodsb", "AL,Xb", str.lods, { rep: "r" });
d(0xad, "lodsw/lodsd", "eAX,Xv", str.lods, { rep: "r" });
d(0xae, "scasb", "AL,Yb", str.scas, { rep: "c" });
d(0xaf, "scasw/scasd", "eAX,Yv", str.scas, { rep: "c" });
for (let r = 0; r < 8; r++) {
  d(0xb0 + r, "mov", "Zb,Ib", data.mov_Zb_Ib);
  d(0xb8 + r, "mov", "Zv,Iz", data.mov_Zv_Iv);
}
const SHIFT = ["rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"];
for (let k = 0; k < 8; k++) {
  g(0xc0, k, SHIFT[k], "Eb,Ib", shift.grp2_Eb);
  g(0xc1, k, SHIFT[k], "Ev,Ib", shift.grp2_Ev);
  g(0xd0, k, SHIFT[k], "Eb,1", shift.grp2_Eb);
  g(0xd1, k, SHIFT[k], "Ev,1", shift.grp2_Ev);
  g(0xd2, k, SHIFT[k], "Eb,CL", shift.grp2_Eb);
  g(0xd3, k, SHIFT[k], "Ev,CL", shift.grp2_Ev);
}
d(0xc2, "ret", "Iw", ctl.ret);
d(0xc3, "ret", "", ctl.ret);
d(0xc4, "les", "Gv,Mp", data.lseg_Gv_Mp, { mem: true });
d(0xc5, "lds", "Gv,Mp", data.lseg_Gv_Mp, { mem: true });
g(0xc6, 0, "mov", "Eb,Ib", data.mov_Eb_Ib);
g(0xc7, 0, "mov", "Ev,Iz", data.mov_Ev_Iz);
d(0xc8, "enter", "Iw,Ib", stack.enter);
d(0xc9, "leave", "", stack.leave);
d(0xca, "retf", "Iw", ctl.retf);
d(0xcb, "retf", "", ctl.retf);
d(0xcc, "int3", "", ctl.int3);
d(0xcd, "int", "Ib", ctl.int_Ib);
d(0xce, "into", "", ctl.into);
d(0xcf, "iret/iretd", "", ctl.iret_);
d(0xd4, "aam", "Ib", bcd.aam);
d(0xd5, "aad", "Ib", bcd.aad);
d(0xd6, "salc", "", bcd.salc);
d(0xd7, "xlatb", "", data.xlat);
d(0xe0, "loopne", "Jb", ctl.loop);
d(0xe1, "loope", "Jb", ctl.loop);
d(0xe2, "loop", "Jb", ctl.loop);
d(0xe3, "jcxz/jecxz", "Jb", ctl.jcxz); // chosen by the address size
d(0xe4, "in", "AL,Ib", io.in_);
d(0xe5, "in", "eAX,Ib", io.in_);
d(0xe6, "out", "Ib,AL", io.out);
d(0xe7, "out", "Ib,eAX", io.out);
d(0xe8, "call", "Jz", ctl.call_J);
d(0xe9, "jmp", "Jz", ctl.jmp_J);
d(0xea, "jmp", "Ap", ctl.jmp_Ap);
d(0xeb, "jmp", "Jb", ctl.jmp_J);
d(0xec, "in", "AL,DX", io.in_);
d(0xed, "in", "eAX,DX", io.in_);
d(0xee, "out", "DX,AL", io.out);
d(0xef, "out", "DX,eAX", io.out);
d(0xf1, "int1", "", ctl.int1);
d(0xf4, "hlt", "", sys.hlt);
d(0xf5, "cmc", "", sys.cmc);
g(0xf6, 0, "test", "Eb,Ib", alu.test_Eb_Ib);
g(0xf6, 1, "test", "Eb,Ib", alu.test_Eb_Ib);
g(0xf6, 2, "not", "Eb", alu.not_Eb, L);
g(0xf6, 3, "neg", "Eb", alu.neg_Eb, L);
g(0xf6, 4, "mul", "Eb", alu.mul_Eb);
g(0xf6, 5, "imul", "Eb", alu.imul_Eb);
g(0xf6, 6, "div", "Eb", alu.div_Eb);
g(0xf6, 7, "idiv", "Eb", alu.idiv_Eb);
g(0xf7, 0, "test", "Ev,Iz", alu.test_Ev_Iz);
g(0xf7, 1, "test", "Ev,Iz", alu.test_Ev_Iz);
g(0xf7, 2, "not", "Ev", alu.not_Ev, L);
g(0xf7, 3, "neg", "Ev", alu.neg_Ev, L);
g(0xf7, 4, "mul", "Ev", alu.mul_Ev);
g(0xf7, 5, "imul", "Ev", alu.imul_Ev);
g(0xf7, 6, "div", "Ev", alu.div_Ev);
g(0xf7, 7, "idiv", "Ev", alu.idiv_Ev);
d(0xf8, "clc", "", sys.clc);
d(0xf9, "stc", "", sys.stc);
d(0xfa, "cli", "", sys.cli);
d(0xfb, "sti", "", sys.sti);
d(0xfc, "cld", "", sys.cld);
d(0xfd, "std", "", sys.std);
g(0xfe, 0, "inc", "Eb", alu.inc_Eb, L);
g(0xfe, 1, "dec", "Eb", alu.dec_Eb, L);
g(0xff, 0, "inc", "Ev", alu.inc_Ev, L);
g(0xff, 1, "dec", "Ev", alu.dec_Ev, L);
g(0xff, 2, "call", "Ev", ctl.call_Ev);
g(0xff, 3, "call", "Mp", ctl.call_Mp, { mem: true });
g(0xff, 4, "jmp", "Ev", ctl.jmp_Ev);
g(0xff, 5, "jmp", "Mp", ctl.jmp_Mp, { mem: true });
g(0xff, 6, "push", "Ev", stack.push_Ev);

// ---- Two-byte opcodes (SDM vol. 2 table A-3) ----
g(0x0f00, 0, "sldt", "Mw/Rv", dsc.sldt);
g(0x0f00, 1, "str", "Mw/Rv", dsc.str);
g(0x0f00, 2, "lldt", "Ew", dsc.lldt);
g(0x0f00, 3, "ltr", "Ew", dsc.ltr);
g(0x0f00, 4, "verr", "Ew", dsc.verr);
g(0x0f00, 5, "verw", "Ew", dsc.verw);
g(0x0f01, 0, "sgdt", "Ms", sys.sgdt, { mem: true });
g(0x0f01, 1, "sidt", "Ms", sys.sidt, { mem: true });
g(0x0f01, 2, "lgdt", "Ms", sys.lgdt, { mem: true });
g(0x0f01, 3, "lidt", "Ms", sys.lidt, { mem: true });
g(0x0f01, 4, "smsw", "Mw/Rv", sys.smsw);
g(0x0f01, 6, "lmsw", "Ew", sys.lmsw);
g(0x0f01, 7, "invlpg", "M", sys.invlpg, { mem: true });
d(0x0f02, "lar", "Gv,Mw/Rv", dsc.lar);
d(0x0f03, "lsl", "Gv,Mw/Rv", dsc.lsl);
d(0x0f06, "clts", "", sys.clts);
d(0x0f08, "invd", "", sys.invd);
d(0x0f09, "wbinvd", "", sys.invd);
d(0x0f0b, "ud2", "", sys.ud2);
// SYSCALL/SYSRET: 64-bit mode on every long-mode part, legacy mode on AMD's (exec/syscall.ts).
d(0x0f05, "syscall", "", scall.syscall, { x64: scall.syscall });
d(0x0f07, "sysret", "", scall.sysret, { x64: scall.sysret });
// 0F 19–0F 1E: hint NOPs that take a ModR/M (and any memory operand, never accessed) on
// every P6 and AMD64 processor (SDM vol. 2 appendix A, table A-3, "NOP Ev" rows); later
// parts give some prefixed forms a meaning that is still a NOP to older code, e.g. ENDBR32
// = F3 0F 1E FB and ENDBR64 = F3 0F 1E FA (CET), so Debian-built programs run.
for (let op = 0x0f19; op <= 0x0f1e; op++) d(op, "nop", "Ev", data.nop);
g(0x0f1f, 0, "nop", "Ev", data.nop);
// MOV CRn: CR1, CR5–CR7 do not exist (#UD, SDM vol. 2 "MOV—Move to/from Control Registers").
for (const r of [0, 2, 3, 4]) {
  g(0x0f20, r, "mov", "Rd,Cd", sys.mov_Rd_Cd, { forceReg: true });
  g(0x0f22, r, "mov", "Cd,Rd", sys.mov_Cd_Rd, { forceReg: true });
}
d(0x0f21, "mov", "Rd,Dd", sys.mov_Rd_Dd, { forceReg: true });
d(0x0f23, "mov", "Dd,Rd", sys.mov_Dd_Rd, { forceReg: true });
d(0x0f30, "wrmsr", "", sys.wrmsr);
d(0x0f31, "rdtsc", "", sys.rdtsc);
d(0x0f32, "rdmsr", "", sys.rdmsr);
d(0x0f33, "rdpmc", "", sys.rdpmc);
d(0x0f34, "sysenter", "", sys.sysenter);
d(0x0f35, "sysexit", "", sys.sysexit);
for (let c = 0; c < 16; c++) {
  d(0x0f40 + c, "cmov" + CC[c], "Gv,Ev", bit.cmovcc_Gv_Ev);
  d(0x0f80 + c, "j" + CC[c], "Jz", ctl.jcc_J);
  d(0x0f90 + c, "set" + CC[c], "Eb", bit.setcc_Eb);
}
d(0x0fa0, "push", "FS", stack.push_Sw);
d(0x0fa1, "pop", "FS", stack.pop_Sw);
d(0x0fa2, "cpuid", "", sys.cpuid);
d(0x0fa3, "bt", "Ev,Gv", bit.bt_Ev_Gv);
d(0x0fa4, "shld", "Ev,Gv,Ib", shift.shld_Ev_Gv);
d(0x0fa5, "shld", "Ev,Gv,CL", shift.shld_Ev_Gv);
d(0x0fa8, "push", "GS", stack.push_Sw);
// RSM outside system-management mode is #UD, which is all this machine has (no SMM).
d(0x0faa, "rsm", "", sys.undefinedOpcode);
d(0x0fa9, "pop", "GS", stack.pop_Sw);
d(0x0fab, "bts", "Ev,Gv", bit.bt_Ev_Gv, L);
d(0x0fac, "shrd", "Ev,Gv,Ib", shift.shrd_Ev_Gv);
d(0x0fad, "shrd", "Ev,Gv,CL", shift.shrd_Ev_Gv);
d(0x0faf, "imul", "Gv,Ev", alu.imul_Gv_Ev);
d(0x0fb0, "cmpxchg", "Eb,Gb", data.cmpxchg_Eb_Gb, L);
d(0x0fb1, "cmpxchg", "Ev,Gv", data.cmpxchg_Ev_Gv, L);
d(0x0fb2, "lss", "Gv,Mp", data.lseg_Gv_Mp, { mem: true });
d(0x0fb3, "btr", "Ev,Gv", bit.bt_Ev_Gv, L);
d(0x0fb4, "lfs", "Gv,Mp", data.lseg_Gv_Mp, { mem: true });
d(0x0fb5, "lgs", "Gv,Mp", data.lseg_Gv_Mp, { mem: true });
d(0x0fb6, "movzx", "Gv,Eb", data.movzx_Gv_Eb);
d(0x0fb7, "movzx", "Gv,Ew", data.movzx_Gv_Ew);
d(0x0fb9, "ud1", "Gv,Ev", sys.ud2);
g(0x0fba, 4, "bt", "Ev,Ib", bit.bt_Ev_Ib);
g(0x0fba, 5, "bts", "Ev,Ib", bit.bt_Ev_Ib, L);
g(0x0fba, 6, "btr", "Ev,Ib", bit.bt_Ev_Ib, L);
g(0x0fba, 7, "btc", "Ev,Ib", bit.bt_Ev_Ib, L);
d(0x0fbb, "btc", "Ev,Gv", bit.bt_Ev_Gv, L);
d(0x0fb8, "popcnt", "Gv,Ev", bit.popcnt_Gv_Ev, { prefix: 0xf3, feature: "popcnt", x64: b64.popcnt_G_E });
d(0x0fbc, "bsf", "Gv,Ev", bit.bsf_Gv_Ev);
d(0x0fbd, "bsr", "Gv,Ev", bit.bsr_Gv_Ev);
d(0x0fbe, "movsx", "Gv,Eb", data.movsx_Gv_Eb);
d(0x0fbf, "movsx", "Gv,Ew", data.movsx_Gv_Ew);
d(0x0fc0, "xadd", "Eb,Gb", data.xadd_Eb_Gb, L);
d(0x0fc1, "xadd", "Ev,Gv", data.xadd_Ev_Gv, L);
// UD0 takes a ModR/M byte on Intel processors (SDM vol. 2 "UD": "0F FF /r UD0 r32, r/m32").
d(0x0fff, "ud0", "Gv,Ev", sys.undefinedOpcode);
// 0F C7 is split by mandatory prefix for the VMX rows below; CMPXCHG8B ignores the prefix.
for (const prefix of [0, 0x66, 0xf3, 0xf2] as const) {
  g(0x0fc7, 1, "cmpxchg8b", "Mq", data.cmpxchg8b_Mq, { mem: true, lockable: true, prefix });
}
for (let r = 0; r < 8; r++) d(0x0fc8 + r, "bswap", "Zv", bit.bswap_Zd);

// ---- x87 escapes D8–DF (SDM vol. 2 tables A-7 … A-22) ----
const X = fpu.fpu_escape;
const FP_ARITH = ["fadd", "fmul", "fcom", "fcomp", "fsub", "fsubr", "fdiv", "fdivr"];
for (let k = 0; k < 8; k++) {
  g(0xd8, k, FP_ARITH[k], "m32fp", X, { mem: true });
  g(0xd8, k, FP_ARITH[k], k === 2 || k === 3 ? "STi" : "ST,STi", X, { mem: false });
  g(0xda, k, "fi" + FP_ARITH[k].slice(1), "m32int", X, { mem: true });
  g(0xdc, k, FP_ARITH[k], "m64fp", X, { mem: true });
  g(0xde, k, "fi" + FP_ARITH[k].slice(1), "m16int", X, { mem: true });
}
// DC register forms: the destination is ST(i); FSUB/FSUBR and FDIV/FDIVR swap (Intel naming).
for (const [k, m] of [[0, "fadd"], [1, "fmul"], [4, "fsubr"], [5, "fsub"], [6, "fdivr"], [7, "fdiv"]] as const) {
  g(0xdc, k, m, "STi,ST", X, { mem: false });
  g(0xde, k, m + "p", "STi,ST", X, { mem: false });
}
d(0xde, "fcompp", "", X, { modrm: 0xd9 });
g(0xd9, 0, "fld", "m32fp", X, { mem: true });
g(0xd9, 2, "fst", "m32fp", X, { mem: true });
g(0xd9, 3, "fstp", "m32fp", X, { mem: true });
g(0xd9, 4, "fldenv", "m14/28byte", X, { mem: true });
g(0xd9, 5, "fldcw", "m2byte", X, { mem: true });
g(0xd9, 6, "fnstenv", "m14/28byte", X, { mem: true });
g(0xd9, 7, "fnstcw", "m2byte", X, { mem: true });
g(0xd9, 0, "fld", "STi", X, { mem: false });
g(0xd9, 1, "fxch", "STi", X, { mem: false });
d(0xd9, "fnop", "", X, { modrm: 0xd0 });
const D9_REG: [number, string][] = [
  [0xe0, "fchs"], [0xe1, "fabs"], [0xe4, "ftst"], [0xe5, "fxam"], [0xe8, "fld1"], [0xe9, "fldl2t"], [0xea, "fldl2e"],
  [0xeb, "fldpi"], [0xec, "fldlg2"], [0xed, "fldln2"], [0xee, "fldz"], [0xf0, "f2xm1"], [0xf1, "fyl2x"], [0xf2, "fptan"],
  [0xf3, "fpatan"], [0xf4, "fxtract"], [0xf5, "fprem1"], [0xf6, "fdecstp"], [0xf7, "fincstp"], [0xf8, "fprem"],
  [0xf9, "fyl2xp1"], [0xfa, "fsqrt"], [0xfb, "fsincos"], [0xfc, "frndint"], [0xfd, "fscale"], [0xfe, "fsin"], [0xff, "fcos"],
];
for (const [m, n] of D9_REG) d(0xd9, n, "", X, { modrm: m });
const FCMOV = ["fcmovb", "fcmove", "fcmovbe", "fcmovu"];
for (let k = 0; k < 4; k++) g(0xda, k, FCMOV[k], "ST,STi", X, { mem: false });
d(0xda, "fucompp", "", X, { modrm: 0xe9 });
g(0xdb, 0, "fild", "m32int", X, { mem: true });
g(0xdb, 1, "fisttp", "m32int", fpu.fisttp, { mem: true, feature: "sse3" });
g(0xdd, 1, "fisttp", "m64int", fpu.fisttp, { mem: true, feature: "sse3" });
g(0xdf, 1, "fisttp", "m16int", fpu.fisttp, { mem: true, feature: "sse3" });
g(0xdb, 2, "fist", "m32int", X, { mem: true });
g(0xdb, 3, "fistp", "m32int", X, { mem: true });
g(0xdb, 5, "fld", "m80fp", X, { mem: true });
g(0xdb, 7, "fstp", "m80fp", X, { mem: true });
const FCMOVN = ["fcmovnb", "fcmovne", "fcmovnbe", "fcmovnu"];
for (let k = 0; k < 4; k++) g(0xdb, k, FCMOVN[k], "ST,STi", X, { mem: false });
d(0xdb, "fnclex", "", X, { modrm: 0xe2 });
d(0xdb, "fninit", "", X, { modrm: 0xe3 });
g(0xdb, 5, "fucomi", "ST,STi", X, { mem: false });
g(0xdb, 6, "fcomi", "ST,STi", X, { mem: false });
g(0xdd, 0, "fld", "m64fp", X, { mem: true });
g(0xdd, 2, "fst", "m64fp", X, { mem: true });
g(0xdd, 3, "fstp", "m64fp", X, { mem: true });
g(0xdd, 4, "frstor", "m94/108byte", X, { mem: true });
g(0xdd, 6, "fnsave", "m94/108byte", X, { mem: true });
g(0xdd, 7, "fnstsw", "m2byte", X, { mem: true });
g(0xdd, 0, "ffree", "STi", X, { mem: false });
g(0xdd, 2, "fst", "STi", X, { mem: false });
g(0xdd, 3, "fstp", "STi", X, { mem: false });
g(0xdd, 4, "fucom", "STi", X, { mem: false });
g(0xdd, 5, "fucomp", "STi", X, { mem: false });
g(0xdf, 0, "fild", "m16int", X, { mem: true });
g(0xdf, 2, "fist", "m16int", X, { mem: true });
g(0xdf, 3, "fistp", "m16int", X, { mem: true });
g(0xdf, 4, "fbld", "m80bcd", X, { mem: true });
g(0xdf, 5, "fild", "m64int", X, { mem: true });
g(0xdf, 6, "fbstp", "m80bcd", X, { mem: true });
g(0xdf, 7, "fistp", "m64int", X, { mem: true });
d(0xdf, "fnstsw", "AX", X, { modrm: 0xe0 });
g(0xdf, 5, "fucomip", "ST,STi", X, { mem: false });
g(0xdf, 6, "fcomip", "ST,STi", X, { mem: false });

// Undocumented x87 register-form aliases every x87 since the 387 executes (the decoder must
// know their length and name; they are not wired to the FPU yet, so they raise #UD):
// FSTP ST(i) at D9 D8+i ("FSTPNCE"), DF D0+i, DF D8+i; FCOM/FCOMP ST(i) at DC D0+i, DC D8+i,
// DE D0+i; FXCH ST(i) at DD C8+i, DF C8+i; FFREEP ST(i) at DF C0+i. And the 8087/287 control
// instructions FNENI, FNDISI (DB E0, E1) and FNSETPM (DB E4), which the 387 and later treat as
// FNOP.
const U = sys.undefinedOpcode;
g(0xd9, 3, "fstpnce", "STi", U, { mem: false });
g(0xdc, 2, "fcom", "STi", U, { mem: false });
g(0xdc, 3, "fcomp", "STi", U, { mem: false });
g(0xdd, 1, "fxch", "STi", U, { mem: false });
g(0xde, 2, "fcomp", "STi", U, { mem: false });
g(0xdf, 0, "ffreep", "STi", U, { mem: false });
g(0xdf, 1, "fxch", "STi", U, { mem: false });
g(0xdf, 2, "fstp", "STi", U, { mem: false });
g(0xdf, 3, "fstp", "STi", U, { mem: false });
d(0xdb, "fneni", "", U, { modrm: 0xe0 });
d(0xdb, "fndisi", "", U, { modrm: 0xe1 });
d(0xdb, "fnsetpm", "", U, { modrm: 0xe4 });

// ---- 64-bit mode (SDM vol. 2 appendix A: "i64" rows are invalid, "d64"/"f64" sizes) ----
// Each row below gets its 64-bit-mode handler; a row without one is #UD in 64-bit mode.

/** Give every row of `opcode` (with ModR/M.reg `reg`, if given) a 64-bit-mode handler. */
function x64(opcode: number, handler: Handler | "same", extra: { reg?: number; os64?: "d64" | "f64" } = {}): void {
  let found = false;
  for (const row of OPCODES) {
    if (row.opcode !== opcode || (extra.reg !== undefined && row.reg !== extra.reg)) continue;
    row.x64 = handler === "same" ? row.handler : handler;
    if (extra.os64 !== undefined) row.os64 = extra.os64;
    found = true;
  }
  if (!found) throw new Error(`opcode table: no row for ${opcode.toString(16)}`);
}
const D64 = { os64: "d64" } as const, F64 = { os64: "f64" } as const;

for (let k = 0; k < 8; k++) {
  const b = k << 3;
  x64(b + 0, a64.alu_E_G); x64(b + 1, a64.alu_E_G);
  x64(b + 2, a64.alu_G_E); x64(b + 3, a64.alu_G_E);
  x64(b + 4, a64.alu_A_I); x64(b + 5, a64.alu_A_I);
}
for (let r = 0; r < 8; r++) {
  x64(0x50 + r, c64.push_Z, D64); x64(0x58 + r, c64.pop_Z, D64);
  x64(0x90 + r, d64.xchg_A_Z);
  x64(0xb0 + r, d64.mov_Z_I); x64(0xb8 + r, d64.mov_Z_I);
  x64(0x0fc8 + r, d64.bswap_Z);
}
d(0x63, "movsxd", "Gv,Ed", d64.movsxd_G_E, { only64: true, x64: d64.movsxd_G_E });
x64(0x68, c64.push_I, D64); x64(0x6a, c64.push_I, D64);
x64(0x69, a64.imul_G_E_I); x64(0x6b, a64.imul_G_E_I);
x64(0x6c, s64.ins); x64(0x6d, s64.ins); x64(0x6e, s64.outs); x64(0x6f, s64.outs);
for (let c = 0; c < 16; c++) {
  x64(0x70 + c, c64.jcc, F64); x64(0x0f80 + c, c64.jcc, F64);
  x64(0x0f40 + c, b64.cmovcc_G_E); x64(0x0f90 + c, b64.setcc_E);
}
x64(0x80, a64.grp1_E_I); x64(0x81, a64.grp1_E_I); x64(0x83, a64.grp1_E_I);
x64(0x84, a64.test_E_G); x64(0x85, a64.test_E_G);
x64(0x86, d64.xchg_E_G); x64(0x87, d64.xchg_E_G);
for (const op of [0x88, 0x89]) x64(op, d64.mov_E_G);
for (const op of [0x8a, 0x8b]) x64(op, d64.mov_G_E);
x64(0x8c, d64.mov_E_Sw);
x64(0x8d, d64.lea_G_M);
x64(0x8e, "same");
x64(0x8f, c64.pop_E, D64);
x64(0x98, d64.cbw); x64(0x99, d64.cwd);
x64(0x9b, "same");
x64(0x9c, c64.pushf, D64); x64(0x9d, c64.popf, D64);
x64(0x9e, d64.lahfSahf); x64(0x9f, d64.lahfSahf);
for (const op of [0xa0, 0xa1, 0xa2, 0xa3]) x64(op, d64.mov_A_O);
x64(0xa4, s64.movs); x64(0xa5, s64.movs); x64(0xa6, s64.cmps); x64(0xa7, s64.cmps);
x64(0xa8, a64.test_A_I); x64(0xa9, a64.test_A_I);
x64(0xaa, s64.stos); x64(0xab, s64.stos); x64(0xac, s64.lods); x64(0xad, s64.lods);
x64(0xae, s64.scas); x64(0xaf, s64.scas);
for (const op of [0xc0, 0xc1, 0xd0, 0xd1, 0xd2, 0xd3]) x64(op, sh64.grp2_E);
x64(0xc2, c64.ret, F64); x64(0xc3, c64.ret, F64);
x64(0xc6, d64.mov_E_I); x64(0xc7, d64.mov_E_I, { reg: 0 });
x64(0xc8, c64.enter, D64); x64(0xc9, c64.leave, D64);
x64(0xcf, c64.iret);
x64(0xca, c64.retf); x64(0xcb, c64.retf);
x64(0xff, c64.call_far, { reg: 3 }); x64(0xff, c64.jmp_far, { reg: 5 });
for (const op of [0xcc, 0xcd, 0xf1, 0xf4, 0xf5, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd]) x64(op, "same");
for (let op = 0xd8; op <= 0xdf; op++) x64(op, "same"); // x87: memory operands through cpu.ea (64-bit aware)
x64(0xe0, c64.loop, F64); x64(0xe1, c64.loop, F64); x64(0xe2, c64.loop, F64); x64(0xe3, c64.jrcxz, F64);
for (const op of [0xe4, 0xe5, 0xe6, 0xe7, 0xec, 0xed, 0xee, 0xef]) x64(op, "same");
x64(0xe8, c64.call_J, F64); x64(0xe9, c64.jmp_J, F64); x64(0xeb, c64.jmp_J, F64);
for (const k of [0, 1]) { x64(0xf6, a64.test_E_I, { reg: k }); x64(0xf7, a64.test_E_I, { reg: k }); }
for (const op of [0xf6, 0xf7]) {
  x64(op, a64.not_E, { reg: 2 }); x64(op, a64.neg_E, { reg: 3 });
  x64(op, a64.mul_E, { reg: 4 }); x64(op, a64.mul_E, { reg: 5 });
  x64(op, a64.div_E, { reg: 6 }); x64(op, a64.div_E, { reg: 7 });
}
for (const k of [0, 1]) { x64(0xfe, a64.incdec_E, { reg: k }); x64(0xff, a64.incdec_E, { reg: k }); }
x64(0xff, c64.call_E, { reg: 2, os64: "f64" }); x64(0xff, c64.jmp_E, { reg: 4, os64: "f64" });
x64(0xff, c64.push_E, { reg: 6, os64: "d64" });

x64(0x0f00, "same");
x64(0x0f01, y64.sgdt, { reg: 0 }); x64(0x0f01, y64.sidt, { reg: 1 });
x64(0x0f01, y64.lgdt, { reg: 2 }); x64(0x0f01, y64.lidt, { reg: 3 });
x64(0x0f01, "same", { reg: 4 }); x64(0x0f01, "same", { reg: 6 }); x64(0x0f01, y64.invlpg, { reg: 7 });
d(0x0f01, "swapgs", "", y64.swapgs, { modrm: 0xf8, only64: true, x64: y64.swapgs });
// ---- VMX (SDM vol. 3C chapter 31; vol. 2 table A-6 groups 7 and 9, table A-4 for 66 0F 38 80/81) ----
{
  const V = (extra: Partial<OpDef> = {}): Partial<OpDef> => ({ feature: "vmx", ...extra });
  d(0x0f01, "vmcall", "", vmx.vmcall, V({ modrm: 0xc1, np: true, x64: vmx.vmcall }));
  d(0x0f01, "vmlaunch", "", vmx.vmlaunch, V({ modrm: 0xc2, np: true, x64: vmx.vmlaunch }));
  d(0x0f01, "vmresume", "", vmx.vmresume, V({ modrm: 0xc3, np: true, x64: vmx.vmresume }));
  d(0x0f01, "vmxoff", "", vmx.vmxoff, V({ modrm: 0xc4, np: true, x64: vmx.vmxoff }));
  // VMFUNC: #UD outside non-root operation and without "enable VM functions", which no model offers.
  d(0x0f01, "vmfunc", "", sys.undefinedOpcode, V({ modrm: 0xd4, np: true, x64: sys.undefinedOpcode }));
  g(0x0fc7, 6, "vmptrld", "Mq", vmx.vmptrld, V({ mem: true, prefix: 0, x64: vmx.vmptrld }));
  g(0x0fc7, 6, "vmclear", "Mq", vmx.vmclear, V({ mem: true, prefix: 0x66, x64: vmx.vmclear }));
  g(0x0fc7, 6, "vmxon", "Mq", vmx.vmxon, V({ mem: true, prefix: 0xf3, x64: vmx.vmxon }));
  g(0x0fc7, 7, "vmptrst", "Mq", vmx.vmptrst, V({ mem: true, prefix: 0, x64: vmx.vmptrst }));
  // 32-bit operands outside 64-bit mode, 64-bit in it whatever REX.W says ("f64"). With 66h,
  // F2h or F3h they are #UD (66 0F 78/79 are AMD's SSE4a EXTRQ/INSERTQ, not modelled).
  d(0x0f78, "vmread", "Ey,Gy", vmx.vmread, V({ prefix: 0, x64: vmx.vmread, os64: "f64" }));
  d(0x0f79, "vmwrite", "Gy,Ey", vmx.vmwrite, V({ prefix: 0, x64: vmx.vmwrite, os64: "f64" }));
  d(0x0f3880, "invept", "Gy,Mx", vmx.invept, V({ mem: true, prefix: 0x66, x64: vmx.invept, os64: "f64", feature: "ept" }));
  d(0x0f3881, "invvpid", "Gy,Mx", vmx.invvpid, V({ mem: true, prefix: 0x66, x64: vmx.invvpid, os64: "f64", feature: "vpid" }));
}
d(0x0f01, "rdtscp", "", scall.rdtscp, { modrm: 0xf9, x64: scall.rdtscp });
// SVM (AMD APM vol. 3): 0F 01 D8–DF, in every mode SVM allows (the handlers check).
for (const [m, name, h] of [
  [0xd8, "vmrun", svmi.vmrun], [0xd9, "vmmcall", svmi.vmmcall], [0xda, "vmload", svmi.vmload], [0xdb, "vmsave", svmi.vmsave],
  [0xdc, "stgi", svmi.stgi], [0xdd, "clgi", svmi.clgi], [0xde, "skinit", svmi.skinit], [0xdf, "invlpga", svmi.invlpga],
] as const) d(0x0f01, name, "", h, { modrm: m, x64: h, feature: "svm" });
for (const op of [0x0f02, 0x0f03, 0x0f06, 0x0f08, 0x0f09, 0x0f0b, 0x0f30, 0x0f31, 0x0f32, 0x0f33, 0x0fa2, 0x0faa, 0x0fb9, 0x0fff]) x64(op, "same");
for (let op = 0x0f19; op <= 0x0f1f; op++) x64(op, "same");
for (let r = 1; r < 8; r++) g(0x0f1f, r, "nop", "Ev", data.nop, { only64: true, x64: data.nop });
x64(0x0f20, y64.mov_R_C); x64(0x0f22, y64.mov_C_R); x64(0x0f21, y64.mov_R_D); x64(0x0f23, y64.mov_D_R);
x64(0x0fa0, c64.push_Sreg, D64); x64(0x0fa8, c64.push_Sreg, D64);
x64(0x0fa1, c64.pop_Sreg, D64); x64(0x0fa9, c64.pop_Sreg, D64);
for (const op of [0x0fa3, 0x0fab, 0x0fb3, 0x0fbb, 0x0fba]) x64(op, b64.bt_E);
for (const op of [0x0fa4, 0x0fa5, 0x0fac, 0x0fad]) x64(op, sh64.shxd_E_G);
x64(0x0faf, a64.imul_G_E);
x64(0x0fb0, d64.cmpxchg_E_G); x64(0x0fb1, d64.cmpxchg_E_G);
for (const op of [0x0fb6, 0x0fb7, 0x0fbe, 0x0fbf]) x64(op, d64.movx_G_E);
x64(0x0fbc, b64.bsx_G_E); x64(0x0fbd, b64.bsx_G_E);
x64(0x0fc0, d64.xadd_E_G); x64(0x0fc1, d64.xadd_E_G);
x64(0x0fc7, d64.cmpxchg8b_16b, { reg: 1 });
x64(0xd7, d64.xlat);
for (const op of [0x0fb2, 0x0fb4, 0x0fb5]) x64(op, d64.lseg);


// ---- MMX, SSE, SSE2, SSE3 (SDM vol. 2 table A-3; docs/sse.md) ----
// Operand letters (appendix A.2.1): V/U an XMM register by ModR/M.reg/.rm, W an XMM register
// or memory, P/N an MMX register by .reg/.rm, Q an MMX register or memory, y 32 bits (64 with
// REX.W); sizes ps/pd 16 bytes, ss 4, sd/q 8, x 16, d 4. Memory forms of 16 bytes are aligned
// except in the MOVU*, MOVDQU and LDDQU rows.

type Prefix = 0 | 0x66 | 0xf3 | 0xf2;
function s(opcode: number, prefix: Prefix, feature: FeatureName, mnemonic: string, operands: string, handler: Handler, extra: Partial<OpDef> = {}): void {
  d(opcode, mnemonic, operands, handler, { prefix, feature, x64: handler, ...extra });
}
/** An integer operation in its MMX form (no prefix) and its SSE2 form (66h). */
function pair(opcode: number, mnemonic: string, fn: si.VecFn, mmxFeature: FeatureName = "mmx", mmxSrc = 8, xmmFeature: FeatureName = "sse2", imm = ""): void {
  s(opcode, 0, mmxFeature, mnemonic, (mmxSrc === 4 ? "Pq,Qd" : "Pq,Qq") + imm, si.onMmx(fn, mmxSrc));
  s(opcode, 0x66, xmmFeature, mnemonic, "Vx,Wx" + imm, si.onXmm(fn));
}
/** A floating-point operation in its four forms: PS, PD (66h), SS (F3h), SD (F2h). */
function fourForms(opcode: number, name: string, make: (kind: sf.FKind) => Handler, imm = ""): void {
  s(opcode, 0, "sse", name + "ps", "Vps,Wps" + imm, make("ps"));
  s(opcode, 0x66, "sse2", name + "pd", "Vpd,Wpd" + imm, make("pd"));
  s(opcode, 0xf3, "sse", name + "ss", "Vss,Wss" + imm, make("ss"));
  s(opcode, 0xf2, "sse2", name + "sd", "Vsd,Wsd" + imm, make("sd"));
}

s(0x0f10, 0, "sse", "movups", "Vps,Wps", mv.loadX(false));
s(0x0f10, 0x66, "sse2", "movupd", "Vpd,Wpd", mv.loadX(false));
s(0x0f10, 0xf3, "sse", "movss", "Vss,Wss", mv.loadScalar(4));
s(0x0f10, 0xf2, "sse2", "movsd", "Vsd,Wsd", mv.loadScalar(8));
s(0x0f11, 0, "sse", "movups", "Wps,Vps", mv.storeX(false));
s(0x0f11, 0x66, "sse2", "movupd", "Wpd,Vpd", mv.storeX(false));
s(0x0f11, 0xf3, "sse", "movss", "Wss,Vss", mv.storeScalar(4));
s(0x0f11, 0xf2, "sse2", "movsd", "Wsd,Vsd", mv.storeScalar(8));
s(0x0f12, 0, "sse", "movlps", "Vq,Mq", mv.loadHalf(false), { mem: true });
s(0x0f12, 0, "sse", "movhlps", "Vq,Uq", mv.loadHalf(false), { mem: false });
s(0x0f12, 0x66, "sse2", "movlpd", "Vq,Mq", mv.loadHalf(false), { mem: true });
s(0x0f12, 0xf3, "sse3", "movsldup", "Vx,Wx", mv.dup("sl"));
s(0x0f12, 0xf2, "sse3", "movddup", "Vx,Wsd", mv.dup("dd"));
s(0x0f13, 0, "sse", "movlps", "Mq,Vq", mv.storeScalar(8), { mem: true });
s(0x0f13, 0x66, "sse2", "movlpd", "Mq,Vq", mv.storeScalar(8), { mem: true });
s(0x0f14, 0, "sse", "unpcklps", "Vx,Wx", si.onXmm(si.punpckldq));
s(0x0f14, 0x66, "sse2", "unpcklpd", "Vx,Wx", si.onXmm(si.punpcklqdq));
s(0x0f15, 0, "sse", "unpckhps", "Vx,Wx", si.onXmm(si.punpckhdq));
s(0x0f15, 0x66, "sse2", "unpckhpd", "Vx,Wx", si.onXmm(si.punpckhqdq));
s(0x0f16, 0, "sse", "movhps", "Vq,Mq", mv.loadHalf(true), { mem: true });
s(0x0f16, 0, "sse", "movlhps", "Vq,Uq", mv.loadHalf(true), { mem: false });
s(0x0f16, 0x66, "sse2", "movhpd", "Vq,Mq", mv.loadHalf(true), { mem: true });
s(0x0f16, 0xf3, "sse3", "movshdup", "Vx,Wx", mv.dup("sh"));
s(0x0f17, 0, "sse", "movhps", "Mq,Vq", mv.storeHigh, { mem: true });
s(0x0f17, 0x66, "sse2", "movhpd", "Mq,Vq", mv.storeHigh, { mem: true });
// 0F 18: PREFETCHh with memory /0–/3, hint NOPs otherwise (SDM vol. 2 table A-3). The SSE
// parts and every x86-64 part have them; the i686 `pentium2` keeps them undefined.
for (const [r, m] of ["prefetchnta", "prefetcht0", "prefetcht1", "prefetcht2"].entries()) {
  g(0x0f18, r, m, "Mb", mv.fence, { mem: true, feature: "sse", x64: mv.fence });
}
// 0F 0D: AMD's PREFETCH (/0) and PREFETCHW (/1), memory only; the rest of the space is
// reserved (APM vol. 3). In every mode on the AMD64 parts (a 32-bit Linux on an AMD64 part
// uses PREFETCHW: its kmem_cache_alloc died of #UD here when the rows were 64-bit only);
// #UD on the Intel models.
g(0x0f0d, 0, "prefetch", "Mb", mv.fence, { mem: true, feature: "prefetchw", x64: mv.fence });
g(0x0f0d, 1, "prefetchw", "Mb", mv.fence, { mem: true, feature: "prefetchw", x64: mv.fence });
// /3 is an alias of PREFETCHW and /4–/7 of PREFETCH (as iced-x86 decodes them); /2 is
// Intel's PREFETCHWT1 on the parts that have it, left undefined here.
g(0x0f0d, 3, "prefetchw", "Mb", mv.fence, { mem: true, feature: "prefetchw", x64: mv.fence });
for (let r = 4; r < 8; r++) g(0x0f0d, r, "prefetch", "Mb", mv.fence, { mem: true, feature: "prefetchw", x64: mv.fence });
for (let r = 0; r < 8; r++) g(0x0f18, r, "nop", "Ev", mv.fence, { ...(r < 4 ? { mem: false } : {}), feature: "sse", x64: mv.fence });
s(0x0f28, 0, "sse", "movaps", "Vps,Wps", mv.loadX(true));
s(0x0f28, 0x66, "sse2", "movapd", "Vpd,Wpd", mv.loadX(true));
s(0x0f29, 0, "sse", "movaps", "Wps,Vps", mv.storeX(true));
s(0x0f29, 0x66, "sse2", "movapd", "Wpd,Vpd", mv.storeX(true));
s(0x0f2a, 0, "sse", "cvtpi2ps", "Vps,Qq", sf.cvtPacked("pi", "ps"));
s(0x0f2a, 0x66, "sse2", "cvtpi2pd", "Vpd,Qq", sf.cvtPacked("pi", "pd"));
s(0x0f2a, 0xf3, "sse", "cvtsi2ss", "Vss,Ey", sf.cvtsi2s(false));
s(0x0f2a, 0xf2, "sse2", "cvtsi2sd", "Vsd,Ey", sf.cvtsi2s(true));
s(0x0f2b, 0, "sse", "movntps", "Mx,Vps", mv.storeX(true), { mem: true });
s(0x0f2b, 0x66, "sse2", "movntpd", "Mx,Vpd", mv.storeX(true), { mem: true });
for (const [op, t] of [[0x0f2c, "t"], [0x0f2d, ""]] as const) {
  s(op, 0, "sse", `cvt${t}ps2pi`, "Pq,Wq", sf.cvtPacked("ps", "pi", t === "t"));
  s(op, 0x66, "sse2", `cvt${t}pd2pi`, "Pq,Wpd", sf.cvtPacked("pd", "pi", t === "t"));
  s(op, 0xf3, "sse", `cvt${t}ss2si`, "Gy,Wss", sf.cvts2si(false, t === "t"));
  s(op, 0xf2, "sse2", `cvt${t}sd2si`, "Gy,Wsd", sf.cvts2si(true, t === "t"));
}
s(0x0f2e, 0, "sse", "ucomiss", "Vss,Wss", sf.comis(false, false));
s(0x0f2e, 0x66, "sse2", "ucomisd", "Vsd,Wsd", sf.comis(true, false));
s(0x0f2f, 0, "sse", "comiss", "Vss,Wss", sf.comis(false, true));
s(0x0f2f, 0x66, "sse2", "comisd", "Vsd,Wsd", sf.comis(true, true));
s(0x0f50, 0, "sse", "movmskps", "Gd,Ux", mv.movmsk(4, false), { mem: false });
s(0x0f50, 0x66, "sse2", "movmskpd", "Gd,Ux", mv.movmsk(8, false), { mem: false });
fourForms(0x0f51, "sqrt", (k) => sf.arith(sf.FOp.Sqrt, k));
s(0x0f52, 0, "sse", "rsqrtps", "Vps,Wps", sf.approx(true, true));
s(0x0f52, 0xf3, "sse", "rsqrtss", "Vss,Wss", sf.approx(true, false));
s(0x0f53, 0, "sse", "rcpps", "Vps,Wps", sf.approx(false, true));
s(0x0f53, 0xf3, "sse", "rcpss", "Vss,Wss", sf.approx(false, false));
for (const [op, name, fn] of [[0x0f54, "and", si.pand], [0x0f55, "andn", si.pandn], [0x0f56, "or", si.por], [0x0f57, "xor", si.pxor]] as const) {
  s(op, 0, "sse", name + "ps", "Vps,Wps", si.onXmm(fn));
  s(op, 0x66, "sse2", name + "pd", "Vpd,Wpd", si.onXmm(fn));
}
fourForms(0x0f58, "add", (k) => sf.arith(sf.FOp.Add, k));
fourForms(0x0f59, "mul", (k) => sf.arith(sf.FOp.Mul, k));
s(0x0f5a, 0, "sse2", "cvtps2pd", "Vpd,Wq", sf.cvtPacked("ps", "pd"));
s(0x0f5a, 0x66, "sse2", "cvtpd2ps", "Vps,Wpd", sf.cvtPacked("pd", "ps"));
s(0x0f5a, 0xf3, "sse2", "cvtss2sd", "Vsd,Wss", sf.cvtScalar(true));
s(0x0f5a, 0xf2, "sse2", "cvtsd2ss", "Vss,Wsd", sf.cvtScalar(false));
s(0x0f5b, 0, "sse2", "cvtdq2ps", "Vps,Wx", sf.cvtPacked("dq", "ps"));
s(0x0f5b, 0x66, "sse2", "cvtps2dq", "Vx,Wps", sf.cvtPacked("ps", "dq"));
s(0x0f5b, 0xf3, "sse2", "cvttps2dq", "Vx,Wps", sf.cvtPacked("ps", "dq", true));
fourForms(0x0f5c, "sub", (k) => sf.arith(sf.FOp.Sub, k));
fourForms(0x0f5d, "min", (k) => sf.arith(sf.FOp.Min, k));
fourForms(0x0f5e, "div", (k) => sf.arith(sf.FOp.Div, k));
fourForms(0x0f5f, "max", (k) => sf.arith(sf.FOp.Max, k));
pair(0x0f60, "punpcklbw", si.punpcklbw, "mmx", 4);
pair(0x0f61, "punpcklwd", si.punpcklwd, "mmx", 4);
pair(0x0f62, "punpckldq", si.punpckldq, "mmx", 4);
pair(0x0f63, "packsswb", si.packsswb);
pair(0x0f64, "pcmpgtb", si.pcmpgtb);
pair(0x0f65, "pcmpgtw", si.pcmpgtw);
pair(0x0f66, "pcmpgtd", si.pcmpgtd);
pair(0x0f67, "packuswb", si.packuswb);
pair(0x0f68, "punpckhbw", si.punpckhbw);
pair(0x0f69, "punpckhwd", si.punpckhwd);
pair(0x0f6a, "punpckhdq", si.punpckhdq);
pair(0x0f6b, "packssdw", si.packssdw);
s(0x0f6c, 0x66, "sse2", "punpcklqdq", "Vx,Wx", si.onXmm(si.punpcklqdq));
s(0x0f6d, 0x66, "sse2", "punpckhqdq", "Vx,Wx", si.onXmm(si.punpckhqdq));
s(0x0f6e, 0, "mmx", "movd", "Pq,Ey", mv.movdToVec(true));
s(0x0f6e, 0x66, "sse2", "movd", "Vx,Ey", mv.movdToVec(false));
s(0x0f6f, 0, "mmx", "movq", "Pq,Qq", mv.movqLoadMmx);
s(0x0f6f, 0x66, "sse2", "movdqa", "Vx,Wx", mv.loadX(true));
s(0x0f6f, 0xf3, "sse2", "movdqu", "Vx,Wx", mv.loadX(false));
s(0x0f70, 0, "sse", "pshufw", "Pq,Qq,Ib", si.onMmx(si.pshufw));
s(0x0f70, 0x66, "sse2", "pshufd", "Vx,Wx,Ib", si.onXmm(si.pshufd));
s(0x0f70, 0xf3, "sse2", "pshufhw", "Vx,Wx,Ib", si.onXmm(si.pshufhw));
s(0x0f70, 0xf2, "sse2", "pshuflw", "Vx,Wx,Ib", si.onXmm(si.pshuflw));
for (const [op, r, name, fn, mmx] of [
  [0x0f71, 2, "psrlw", si.psrlw, true], [0x0f71, 4, "psraw", si.psraw, true], [0x0f71, 6, "psllw", si.psllw, true],
  [0x0f72, 2, "psrld", si.psrld, true], [0x0f72, 4, "psrad", si.psrad, true], [0x0f72, 6, "pslld", si.pslld, true],
  [0x0f73, 2, "psrlq", si.psrlq, true], [0x0f73, 6, "psllq", si.psllq, true],
  [0x0f73, 3, "psrldq", si.psrldq, false], [0x0f73, 7, "pslldq", si.pslldq, false],
] as const) {
  if (mmx) s(op, 0, "mmx", name, "Nq,Ib", si.shiftImm(fn, false), { reg: r, mem: false });
  s(op, 0x66, "sse2", name, "Ux,Ib", si.shiftImm(fn, true), { reg: r, mem: false });
}
pair(0x0f74, "pcmpeqb", si.pcmpeqb);
pair(0x0f75, "pcmpeqw", si.pcmpeqw);
pair(0x0f76, "pcmpeqd", si.pcmpeqd);
s(0x0f77, 0, "mmx", "emms", "", mv.emms);
s(0x0f7c, 0x66, "sse3", "haddpd", "Vpd,Wpd", sf.horizontal(sf.FOp.Add, "pd"));
s(0x0f7c, 0xf2, "sse3", "haddps", "Vps,Wps", sf.horizontal(sf.FOp.Add, "ps"));
s(0x0f7d, 0x66, "sse3", "hsubpd", "Vpd,Wpd", sf.horizontal(sf.FOp.Sub, "pd"));
s(0x0f7d, 0xf2, "sse3", "hsubps", "Vps,Wps", sf.horizontal(sf.FOp.Sub, "ps"));
s(0x0f7e, 0, "mmx", "movd", "Ey,Pq", mv.movdFromVec(true));
s(0x0f7e, 0x66, "sse2", "movd", "Ey,Vx", mv.movdFromVec(false));
s(0x0f7e, 0xf3, "sse2", "movq", "Vx,Wq", mv.movqLoadXmm);
s(0x0f7f, 0, "mmx", "movq", "Qq,Pq", mv.movqStoreMmx);
s(0x0f7f, 0x66, "sse2", "movdqa", "Wx,Vx", mv.storeX(true));
s(0x0f7f, 0xf3, "sse2", "movdqu", "Wx,Vx", mv.storeX(false));
g(0x0fae, 0, "fxsave", "M512", fx.fxsave, { prefix: 0, mem: true, feature: "fxsr", x64: fx.fxsave });
g(0x0fae, 1, "fxrstor", "M512", fx.fxrstor, { prefix: 0, mem: true, feature: "fxsr", x64: fx.fxrstor });
g(0x0fae, 2, "ldmxcsr", "Md", fx.ldmxcsr, { prefix: 0, mem: true, feature: "sse", x64: fx.ldmxcsr });
g(0x0fae, 3, "stmxcsr", "Md", fx.stmxcsr, { prefix: 0, mem: true, feature: "sse", x64: fx.stmxcsr });
g(0x0fae, 5, "lfence", "", mv.fence, { prefix: 0, mem: false, feature: "sse2", x64: mv.fence });
g(0x0fae, 6, "mfence", "", mv.fence, { prefix: 0, mem: false, feature: "sse2", x64: mv.fence });
g(0x0fae, 7, "sfence", "", mv.fence, { prefix: 0, mem: false, feature: "sse", x64: mv.fence });
g(0x0fae, 7, "clflush", "Mb", mv.clflush, { prefix: 0, mem: true, feature: "sse2", x64: mv.clflush });
fourForms(0x0fc2, "cmp", (k) => sf.cmp(k), ",Ib");
s(0x0fc3, 0, "sse2", "movnti", "My,Gy", mv.movnti, { mem: true });
s(0x0fc4, 0, "sse", "pinsrw", "Pq,Rd/Mw,Ib", mv.pinsrw(true));
s(0x0fc4, 0x66, "sse2", "pinsrw", "Vx,Rd/Mw,Ib", mv.pinsrw(false));
s(0x0fc5, 0, "sse", "pextrw", "Gd,Nq,Ib", mv.pextrw(true), { mem: false });
s(0x0fc5, 0x66, "sse2", "pextrw", "Gd,Ux,Ib", mv.pextrw(false), { mem: false });
s(0x0fc6, 0, "sse", "shufps", "Vps,Wps,Ib", si.onXmm(mv.shufps));
s(0x0fc6, 0x66, "sse2", "shufpd", "Vpd,Wpd,Ib", si.onXmm(mv.shufpd));
s(0x0fd0, 0x66, "sse3", "addsubpd", "Vpd,Wpd", sf.addsub("pd"));
s(0x0fd0, 0xf2, "sse3", "addsubps", "Vps,Wps", sf.addsub("ps"));
pair(0x0fd1, "psrlw", si.psrlw);
pair(0x0fd2, "psrld", si.psrld);
pair(0x0fd3, "psrlq", si.psrlq);
pair(0x0fd4, "paddq", si.paddq, "sse2");
pair(0x0fd5, "pmullw", si.pmullw);
s(0x0fd6, 0x66, "sse2", "movq", "Wq,Vx", mv.movqStoreXmm);
s(0x0fd6, 0xf3, "sse2", "movq2dq", "Vx,Nq", mv.movq2dq, { mem: false });
s(0x0fd6, 0xf2, "sse2", "movdq2q", "Pq,Ux", mv.movdq2q, { mem: false });
s(0x0fd7, 0, "sse", "pmovmskb", "Gd,Nq", mv.movmsk(1, true), { mem: false });
s(0x0fd7, 0x66, "sse2", "pmovmskb", "Gd,Ux", mv.movmsk(1, false), { mem: false });
pair(0x0fd8, "psubusb", si.psubusb);
pair(0x0fd9, "psubusw", si.psubusw);
pair(0x0fda, "pminub", si.pminub, "sse");
pair(0x0fdb, "pand", si.pand);
pair(0x0fdc, "paddusb", si.paddusb);
pair(0x0fdd, "paddusw", si.paddusw);
pair(0x0fde, "pmaxub", si.pmaxub, "sse");
pair(0x0fdf, "pandn", si.pandn);
pair(0x0fe0, "pavgb", si.pavgb, "sse");
pair(0x0fe1, "psraw", si.psraw);
pair(0x0fe2, "psrad", si.psrad);
pair(0x0fe3, "pavgw", si.pavgw, "sse");
pair(0x0fe4, "pmulhuw", si.pmulhuw, "sse");
pair(0x0fe5, "pmulhw", si.pmulhw);
s(0x0fe6, 0x66, "sse2", "cvttpd2dq", "Vx,Wpd", sf.cvtPacked("pd", "dq", true));
s(0x0fe6, 0xf3, "sse2", "cvtdq2pd", "Vx,Wq", sf.cvtPacked("dq", "pd"));
s(0x0fe6, 0xf2, "sse2", "cvtpd2dq", "Vx,Wpd", sf.cvtPacked("pd", "dq"));
s(0x0fe7, 0, "sse", "movntq", "Mq,Pq", mv.movqStoreMmx, { mem: true });
s(0x0fe7, 0x66, "sse2", "movntdq", "Mx,Vx", mv.storeX(true), { mem: true });
pair(0x0fe8, "psubsb", si.psubsb);
pair(0x0fe9, "psubsw", si.psubsw);
pair(0x0fea, "pminsw", si.pminsw, "sse");
pair(0x0feb, "por", si.por);
pair(0x0fec, "paddsb", si.paddsb);
pair(0x0fed, "paddsw", si.paddsw);
pair(0x0fee, "pmaxsw", si.pmaxsw, "sse");
pair(0x0fef, "pxor", si.pxor);
s(0x0ff0, 0xf2, "sse3", "lddqu", "Vx,Mx", mv.loadX(false), { mem: true });
pair(0x0ff1, "psllw", si.psllw);
pair(0x0ff2, "pslld", si.pslld);
pair(0x0ff3, "psllq", si.psllq);
pair(0x0ff4, "pmuludq", si.pmuludq, "sse2");
pair(0x0ff5, "pmaddwd", si.pmaddwd);
pair(0x0ff6, "psadbw", si.psadbw, "sse");
s(0x0ff7, 0, "sse", "maskmovq", "Pq,Nq", mv.maskmov(true), { mem: false });
s(0x0ff7, 0x66, "sse2", "maskmovdqu", "Vx,Ux", mv.maskmov(false), { mem: false });
pair(0x0ff8, "psubb", si.psubb);
pair(0x0ff9, "psubw", si.psubw);
pair(0x0ffa, "psubd", si.psubd);
pair(0x0ffb, "psubq", si.psubq, "sse2");
pair(0x0ffc, "paddb", si.paddb);
pair(0x0ffd, "paddw", si.paddw);
pair(0x0ffe, "paddd", si.paddd);
// SSSE3: the 0F 38 map (and PALIGNR at 0F 3A 0F), each in an MMX and an XMM (66h) form.
for (const [op, name, fn] of [
  [0x00, "pshufb", si.pshufb], [0x01, "phaddw", si.phaddw], [0x02, "phaddd", si.phaddd], [0x03, "phaddsw", si.phaddsw],
  [0x04, "pmaddubsw", si.pmaddubsw], [0x05, "phsubw", si.phsubw], [0x06, "phsubd", si.phsubd], [0x07, "phsubsw", si.phsubsw],
  [0x08, "psignb", si.psignb], [0x09, "psignw", si.psignw], [0x0a, "psignd", si.psignd], [0x0b, "pmulhrsw", si.pmulhrsw],
  [0x1c, "pabsb", si.pabsb], [0x1d, "pabsw", si.pabsw], [0x1e, "pabsd", si.pabsd],
] as const) pair(0x0f3800 | op, name, fn, "ssse3", 8, "ssse3");
pair(0x0f3a0f, "palignr", si.palignr, "ssse3", 8, "ssse3", ",Ib");

// The undefined-opcode row: anything the table does not name decodes to this and raises #UD.
// It has no opcode of its own (-1): the decoder falls back to it.
d(-1, "(bad)", "", sys.undefinedOpcode);

// ---- Which rows a compiled block continues after (docs/jit.md, "What ends a block") ----
{
  const handlers = (...modules: object[]): Set<unknown> => new Set(modules.flatMap((m) => Object.values(m)));
  // Control transfers, system and descriptor instructions, I/O, SYSCALL/SYSENTER, and the
  // two that change EFLAGS.IF/TF (POPF) or do I/O through the string unit (INS/OUTS).
  const ends = handlers(ctl, sys, dsc, io, scall, c64, y64, svmi, vmx);
  for (const h of [stack.popf, str.ins, str.outs, s64.ins, s64.outs]) ends.add(h);
  for (const h of [c64.push_Z, c64.pop_Z, c64.push_I, c64.push_E, c64.pop_E, c64.push_Sreg, c64.pop_Sreg, c64.pushf, c64.leave, c64.enter]) ends.delete(h);
  // RDTSC changes nothing a fetch depends on; where it faults (CR4.TSD) or exits (RDTSC
  // exiting, its SVM intercept) it leaves the block as any faulting instruction does. It is
  // not quiet: it reads the instruction count, which tier 2 must have up to date before it.
  // (Ending blocks, it cut Linux's delay_tsc loop into six.)
  ends.delete(sys.rdtsc);
  // CLI only masks interrupts: none can be taken after it, so none is missed by going on
  // (STI ends a block: its shadow and the interrupt due after it are the run loop's).
  ends.delete(sys.cli);
  // A conditional jump continues the block on its fall-through path (the block leaves when
  // EIP is not the next instruction's: the jump was taken).
  ends.delete(ctl.jcc_J);
  ends.delete(c64.jcc);
  // Register-only work: integer and SIMD arithmetic, moves, bit operations. Not the FPU
  // (FERR# can raise IRQ 13), segment loads (the descriptor's accessed bit is a memory
  // write), the stack, or the string and moffs forms (they touch memory without ModR/M).
  const quiet = handlers(alu, shift, bcd, bit, data, a64, sh64, b64, d64);
  for (const h of [data.mov_Sw_Ew, data.lseg_Gv_Mp, data.xlat, data.mov_AL_Ob, data.mov_eAX_Ov, data.mov_Ob_AL, data.mov_Ov_eAX,
    d64.lseg, d64.xlat, d64.mov_A_O]) quiet.delete(h);
  const simd = (row: OpDef) => row.prefix !== undefined && row.handler !== fx.fxsave && row.handler !== fx.fxrstor;
  for (const row of OPCODES) {
    row.straight = !ends.has(row.handler) && (row.x64 === undefined || !ends.has(row.x64)) && row.opcode !== -1;
    row.quiet = row.straight && (simd(row) || (quiet.has(row.handler) && (row.x64 === undefined || quiet.has(row.x64))));
    row.resumes = row.handler === ctl.iret_;
  }
}

// ---- What tier 2 lowers to inline operand code (jit/lower.ts; docs/jit.md, "Lowering") ----
{
  const kinds = new Map<Handler, Lowering>([
    [alu.alu_Eb_Gb, "alu"], [alu.alu_Ev_Gv, "alu"], [alu.alu_Gb_Eb, "alu"], [alu.alu_Gv_Ev, "alu"],
    [alu.alu_AL_Ib, "alu"], [alu.alu_eAX_Iz, "alu"], [alu.grp1_Eb_Ib, "alu"], [alu.grp1_Ev_I, "alu"],
    [alu.test_Eb_Gb, "test"], [alu.test_Ev_Gv, "test"], [alu.test_AL_Ib, "test"], [alu.test_eAX_Iz, "test"],
    [alu.test_Eb_Ib, "test"], [alu.test_Ev_Iz, "test"],
    [data.mov_Eb_Gb, "mov"], [data.mov_Ev_Gv, "mov"], [data.mov_Gb_Eb, "mov"], [data.mov_Gv_Ev, "mov"],
    [data.mov_Eb_Ib, "mov"], [data.mov_Ev_Iz, "mov"], [data.mov_Zb_Ib, "mov"], [data.mov_Zv_Iv, "mov"],
    [alu.inc_Zv, "inc"], [alu.inc_Eb, "inc"], [alu.inc_Ev, "inc"],
    [alu.dec_Zv, "dec"], [alu.dec_Eb, "dec"], [alu.dec_Ev, "dec"],
    [stack.push_Zv, "push"], [stack.push_I, "push"], [stack.pop_Zv, "pop"],
    [data.lea_Gv_M, "lea"], [data.movzx_Gv_Eb, "movzx"], [data.movzx_Gv_Ew, "movzx"],
    [data.movsx_Gv_Eb, "movsx"], [data.movsx_Gv_Ew, "movsx"],
    [ctl.jcc_J, "jcc"], [ctl.call_J, "call"], [ctl.ret, "ret"], [ctl.jmp_J, "jmp"], [ctl.call_Ev, "callind"], [ctl.jmp_Ev, "jmpind"], [stack.pushf, "pushf"], [alu.mul_Ev, "mul"], [data.cwd, "cwd"], [data.nop, "nop"], [alu.imul_Gv_Ev, "imul"], [alu.not_Ev, "not"], [alu.neg_Ev, "neg"], [shift.grp2_Eb, "shift"], [shift.grp2_Ev, "shift"], [bit.setcc_Eb, "setcc"], [bit.cmovcc_Gv_Ev, "cmovcc"],
    [alu.imul_Gv_Ev_I, "imul"], [bit.bswap_Zd, "bswap"], [stack.leave, "leave"], [stack.push_Ev, "push"],
    [data.mov_AL_Ob, "mov"], [data.mov_eAX_Ov, "mov"], [data.mov_Ob_AL, "mov"], [data.mov_Ov_eAX, "mov"],
    [str.lods, "lods"], [str.stos, "stos"], [str.movs, "movs"], [str.scas, "scas"], [str.cmps, "cmps"],
    [sys.rdtsc, "rdtsc"], [ctl.loop, "loop"], [ctl.jcxz, "jcxz"], [data.cmpxchg_Eb_Gb, "cmpxchg"], [data.cmpxchg_Ev_Gv, "cmpxchg"], [data.xadd_Eb_Gb, "xadd"], [data.xadd_Ev_Gv, "xadd"],
    [data.cmpxchg8b_Mq, "cmpxchg8b"], [bit.bt_Ev_Gv, "bt"], [bit.bt_Ev_Ib, "bt"],
    // Port I/O: the WebAssembly tier calls the bus at the instruction's guest time (wasm-block.ts).
    [io.in_, "in"], [io.out, "out"],
    [data.xchg_Eb_Gb, "xchg"], [data.xchg_Ev_Gv, "xchg"], [data.xchg_eAX_Zv, "xchg"], [sys.cli, "cli"],
    [shift.shld_Ev_Gv, "shd"], [shift.shrd_Ev_Gv, "shd"], [alu.div_Ev, "div"], [stack.pop_Ev, "popm"], [sys.invlpg, "invlpg"],
  ]);
  for (const row of OPCODES) {
    const k = kinds.get(row.handler);
    if (k !== undefined) row.lower = k;
  }
}

// ---- What exits to a hardware-assisted monitor (vmx, svm above) ----
// Intel SDM vol. 3C §26.1.2 (unconditional) and §26.1.3 (conditional; §25.1 in newer
// editions); AMD APM vol. 2 §15.9 (CR/DR), §15.10 (IOIO), §15.11 (MSR), §15.13
// (miscellaneous intercepts, the INTERCEPT_MISC1/2 vectors of appendix B).
{
  const UD_SVM = "exception intercept 6 (#UD: not an AMD instruction)";
  const UD_VMX = "exception bitmap (#UD: not an Intel instruction)";
  const facts: [mnemonic: string, vmx: string | null, svm: string | null][] = [
    ["cpuid", "always", "CPUID intercept"],
    ["invd", "always", "INVD intercept"],
    ["wbinvd", "WBINVD exiting", "WBINVD intercept"],
    ["hlt", "HLT exiting", "HLT intercept"],
    ["invlpg", "INVLPG exiting", "INVLPG intercept"],
    ["rdtsc", "RDTSC exiting", "RDTSC intercept"],
    ["rdtscp", "RDTSC exiting (with enable RDTSCP)", "RDTSCP intercept"],
    ["rdpmc", "RDPMC exiting", "RDPMC intercept"],
    ["rdmsr", "use MSR bitmaps (every RDMSR exits without them)", "MSR_PROT + the MSR permission map"],
    ["wrmsr", "use MSR bitmaps (every WRMSR exits without them)", "MSR_PROT + the MSR permission map"],
    ["in", "unconditional I/O exiting, or use I/O bitmaps", "IOIO_PROT + the I/O permission map"],
    ["out", "unconditional I/O exiting, or use I/O bitmaps", "IOIO_PROT + the I/O permission map"],
    ["insb", "unconditional I/O exiting, or use I/O bitmaps", "IOIO_PROT + the I/O permission map"],
    ["insw/insd", "unconditional I/O exiting, or use I/O bitmaps", "IOIO_PROT + the I/O permission map"],
    ["outsb", "unconditional I/O exiting, or use I/O bitmaps", "IOIO_PROT + the I/O permission map"],
    ["outsw/outsd", "unconditional I/O exiting, or use I/O bitmaps", "IOIO_PROT + the I/O permission map"],
    ["sgdt", "descriptor-table exiting", "GDTR read intercept"],
    ["sidt", "descriptor-table exiting", "IDTR read intercept"],
    ["sldt", "descriptor-table exiting", "LDTR read intercept"],
    ["str", "descriptor-table exiting", "TR read intercept"],
    ["lgdt", "descriptor-table exiting", "GDTR write intercept"],
    ["lidt", "descriptor-table exiting", "IDTR write intercept"],
    ["lldt", "descriptor-table exiting", "LDTR write intercept"],
    ["ltr", "descriptor-table exiting", "TR write intercept"],
    // SMSW reads CR0 through the read shadow: it never exits (§26.3, "CR0 and CR4").
    ["smsw", null, "CR0 read intercept"],
    ["lmsw", "CR0 guest/host mask (a masked bit it would change)", "CR0 write intercept (or CR0 selective write)"],
    ["clts", "CR0 guest/host mask and read shadow (TS owned and shadowed 1)", "CR0 write intercept (or CR0 selective write)"],
    ["pushf/pushfd", null, "PUSHF intercept"],
    ["popf/popfd", null, "POPF intercept"],
    ["iret/iretd", "only with NT = 1 (a task switch always exits)", "IRET intercept"],
    ["int", null, "INTn intercept"],
    ["int3", "exception bitmap (#BP)", "exception intercept 3 (#BP)"],
    ["into", "exception bitmap (#OF, when it traps)", "exception intercept 4 (#OF)"],
    ["int1", "exception bitmap (#DB)", "ICEBP intercept"],
    ["rsm", "always (in SMM)", "RSM intercept"],
    // The other vendor's instructions raise #UD: only the exception intercept sees them.
    ["vmcall", "always", UD_SVM],
    ["vmlaunch", "always", UD_SVM], ["vmresume", "always", UD_SVM], ["vmxoff", "always", UD_SVM], ["vmxon", "always", UD_SVM],
    ["vmptrld", "always", UD_SVM], ["vmptrst", "always", UD_SVM], ["vmclear", "always", UD_SVM], ["vmread", "always (or VMCS shadowing)", UD_SVM],
    ["vmwrite", "always (or VMCS shadowing)", UD_SVM], ["invept", "always", UD_SVM], ["invvpid", "always", UD_SVM],
    ["vmrun", UD_VMX, "always (VMRUN intercept must be set)"], ["vmmcall", UD_VMX, "VMMCALL intercept"], ["vmload", UD_VMX, "VMLOAD intercept"],
    ["vmsave", UD_VMX, "VMSAVE intercept"], ["stgi", UD_VMX, "STGI intercept"], ["clgi", UD_VMX, "CLGI intercept"],
    ["skinit", UD_VMX, "SKINIT intercept"], ["invlpga", UD_VMX, "INVLPGA intercept"],
  ];
  for (const row of OPCODES) {
    const f = facts.find(([m]) => m === row.mnemonic);
    if (f !== undefined) {
      if (f[1] !== null) row.vmx = f[1];
      if (f[2] !== null) row.svm = f[2];
    }
    // MOV to/from control and debug registers: per register (ModR/M.reg).
    if (row.opcode === 0x0f22 || row.opcode === 0x0f20) {
      const cr = row.reg ?? 0, write = row.opcode === 0x0f22;
      row.svm = `CR${cr} ${write ? "write" : "read"} intercept${write && cr === 0 ? " (or CR0 selective write)" : ""}`;
      if (cr === 3) row.vmx = write ? "CR3-load exiting (unless the value is in the CR3-target list)" : "CR3-store exiting";
      else if (cr === 8) row.vmx = write ? "CR8-load exiting" : "CR8-store exiting";
      else if (write && (cr === 0 || cr === 4)) row.vmx = `CR${cr} guest/host mask (a masked bit it would change)`;
      // Reads of CR0 and CR4 come from the read shadows; CR2 is never intercepted by VMX.
    }
    // A far CALL or JMP through a call gate or to a code segment never exits; through a
    // task gate or to a TSS it starts a task switch, which always does under VMX (§26.2)
    // and under SVM's task-switch intercept.
    if ((row.mnemonic === "call" || row.mnemonic === "jmp") && (row.operands[0] === "Ap" || row.operands[0] === "Mp")) {
      row.vmx = "only when it switches tasks (a task switch always exits)";
      row.svm = "only when it switches tasks (task-switch intercept)";
    }
    if (row.opcode === 0x0f21 || row.opcode === 0x0f23) {
      row.vmx = "MOV-DR exiting";
      row.svm = `DRn ${row.opcode === 0x0f23 ? "write" : "read"} intercept`;
    }
  }
}
