// Disassembler: Intel syntax from the opcode table and a decoded Instr (the same table the
// interpreter runs). Used by --trace, tests and error messages.

import type { Instr } from "./instr.js";
import { Rep } from "./instr.js";
import { SEG_NAMES } from "./segment.js";

const R32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
const R16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"];
const R8 = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"];
const EA16 = ["bx+si", "bx+di", "bp+si", "bp+di", "si", "di", "bp", "bx"];

function hex(v: number): string {
  return "0x" + (v >>> 0).toString(16);
}

/** The mnemonic for this instruction's operand size ("cbw/cwde" → one of them). */
export function mnemonicOf(i: Instr): string {
  const m = i.def.mnemonic;
  const slash = m.indexOf("/");
  if (slash < 0) return m;
  return i.opsize32 ? m.slice(slash + 1) : m.slice(0, slash);
}

function memOperand(i: Instr, sizeName: string): string {
  const parts: string[] = [];
  let disp = i.disp;
  if (i.adsize32) {
    if (i.eaBase >= 0) parts.push(R32[i.eaBase]);
    if (i.eaIndex >= 0) parts.push(R32[i.eaIndex] + (i.eaScale ? "*" + (1 << i.eaScale) : ""));
    disp |= 0;
  } else {
    if (i.eaBase >= 0) parts.push(EA16[i.rm]); // 16-bit forms are named by r/m
    disp = (disp << 16) >> 16;
  }
  let s = parts.filter((p) => p !== "").join("+");
  if (disp !== 0 || s === "") {
    if (s === "") s = hex(i.adsize32 ? disp : disp & 0xffff);
    else s += disp < 0 ? "-" + hex(-disp) : "+" + hex(disp);
  }
  const seg = i.segOverride >= 0 ? SEG_NAMES[i.segOverride] + ":" : "";
  return (sizeName ? sizeName + " ptr " : "") + seg + "[" + s + "]";
}

const FP_MEM: Record<string, string> = {
  m32fp: "dword", m64fp: "qword", m80fp: "tbyte", m16int: "word", m32int: "dword", m64int: "qword",
  m80bcd: "tbyte", m2byte: "word", "m14/28byte": "", "m94/108byte": "",
};

function operandText(i: Instr, o: string, next: number): string {
  const v = i.opsize32 ? R32 : R16;
  switch (o) {
    case "Eb": return i.hasMem ? memOperand(i, "byte") : R8[i.rm];
    case "Ew": return i.hasMem ? memOperand(i, "word") : R16[i.rm];
    case "Ed": return i.hasMem ? memOperand(i, "dword") : R32[i.rm];
    case "Ev": return i.hasMem ? memOperand(i, i.opsize32 ? "dword" : "word") : v[i.rm];
    case "Gb": return R8[i.reg];
    case "Gw": return R16[i.reg];
    case "Gv": return v[i.reg];
    case "Rd": return R32[i.rm];
    case "Cd": return "cr" + i.reg;
    case "Dd": return "dr" + i.reg;
    case "Sw": return SEG_NAMES[i.reg] ?? "?s";
    case "M": return memOperand(i, "");
    case "Ma": return memOperand(i, i.opsize32 ? "qword" : "dword");
    case "Mp": return memOperand(i, i.opsize32 ? "fword" : "dword");
    case "Ms": return memOperand(i, "fword");
    case "Mq": return memOperand(i, "qword");
    case "Ob": return memOperand(i, "byte");
    case "Ov": return memOperand(i, i.opsize32 ? "dword" : "word");
    case "Ib": return hex(i.immCount > 1 && next === 1 ? i.imm2 & 0xff : i.imm & 0xff);
    case "Iw": return hex(i.imm & 0xffff);
    case "Iz": return hex(i.opsize32 ? i.imm : i.imm & 0xffff);
    case "Ibs": return hex(i.opsize32 ? i.imm : i.imm & 0xffff);
    case "Jb": case "Jz": return hex(i.imm); // relative; callers add EIP (see disassemble)
    case "Ap": return hex(i.imm2 & 0xffff) + ":" + hex(i.imm);
    case "Zb": return R8[i.opcode & 7];
    case "Zv": return v[i.opcode & 7];
    case "AL": return "al";
    case "CL": return "cl";
    case "DX": return "dx";
    case "AX": return "ax";
    case "eAX": return v[0];
    case "1": return "1";
    case "ES": case "CS": case "SS": case "DS": case "FS": case "GS": return o.toLowerCase();
    case "ST": return "st(0)";
    case "STi": return "st(" + i.rm + ")";
    case "Xb": case "Xv": case "Yb": case "Yv": return "";
    default:
      if (o in FP_MEM) return memOperand(i, FP_MEM[o]);
      return o;
  }
}

/** Disassemble `i`, located at `eip` (so relative branches print their target). */
export function disassemble(i: Instr, eip: number): string {
  let m = mnemonicOf(i);
  if (i.rep !== Rep.None && i.def.rep !== undefined) {
    m = (i.def.rep === "c" ? (i.rep === Rep.RepE ? "repe " : "repne ") : "rep ") + m;
  }
  if (i.lock) m = "lock " + m;
  const ops: string[] = [];
  i.def.operands.forEach((o, k) => {
    let t = operandText(i, o, k);
    if (o === "Jb" || o === "Jz") {
      const target = eip + i.len + i.imm;
      t = hex(i.opsize32 ? target >>> 0 : target & 0xffff);
    }
    if (t !== "") ops.push(t);
  });
  return ops.length ? m + " " + ops.join(",") : m;
}
