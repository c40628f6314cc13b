// The instruction forms under test: every row of the model's opcode table
// (src/hw/cpu/opcode-table.ts), each given a canonical 32-bit encoding — a register form
// and, where the row allows one, a memory form — and a row name for the result table.
//
// Canonical operands (the same for every row, so no row is tuned to give an answer):
//   ModR/M reg = ECX for G operands (or the row's /digit); r/m = EAX (register form) or
//   [disp32] = the data window (memory form); ST(1) for x87 STi;
//   Ib = 0x80 (INT 0x80, port 0x80), Iw = 0x10, Iz = 0x23; Jb, Jz = 0 (the next instruction);
//   Ap = the environment's value : 0x10100; moffs = the data window.

import "../../hw/cpu/cpu.js"; // evaluate the CPU before the opcode table (their modules import each other)
import { OPCODES, opcodeBytes, type OpDef } from "../../hw/cpu/opcode-table.js";
import { DATA, CODE } from "./world.js";

/** One executable encoding of a table row. */
export interface Encoding {
  /** "reg" or "mem" (which ModR/M form), or "" when the row has no ModR/M r/m choice. */
  kind: "reg" | "mem" | "";
  /** The bytes, given the environment's value (only Ap immediates use it). */
  bytes(value: number): Uint8Array;
}

export interface Form {
  /** Index in OPCODES. */
  index: number;
  def: OpDef;
  /** Opcode and operands as the table writes them, e.g. "0F 01 /0 sgdt Ms". */
  label: string;
  /** The row of the result table this form belongs to (the seed's names where it has one). */
  row: string;
  encodings: Encoding[];
}

const MODRM_OPERANDS = /^(E[bwdv]|G[bwdv]|M[apsq]?|Mw\/Rv|Rd|Sw|Cd|Dd|STi?|m.+)$/;
const MEMORY_OPERAND = /^(E[bwdv]|M[apsq]?|Mw\/Rv|m.+)$/;
const SEGMENT_NAMES = new Set(["ES", "CS", "SS", "DS", "FS", "GS"]);
const FAR_TARGET = CODE + 0x100;

function hex2(n: number): string { return n.toString(16).toUpperCase().padStart(2, "0"); }

function labelOf(d: OpDef): string {
  const op = opcodeBytes(d).map(hex2).join(" ");
  const ext = d.modrm !== undefined ? ` ${hex2(d.modrm)}` : d.reg !== undefined ? ` /${d.reg}` : "";
  const form = d.mem === true ? " (mem)" : d.mem === false ? " (reg)" : "";
  return `${op}${ext}${form} ${d.mnemonic}${d.operands.length ? " " + d.operands.join(",") : ""}`;
}

/**
 * The result-table row of a form: the seed's row names for the instructions it lists
 * (SDM vol. 2 page names otherwise, upper case).
 */
export function rowOf(d: OpDef): string {
  const m = d.mnemonic.split("/")[0];
  const ops = d.operands;
  if ((m === "push" || m === "pop") && ops.length === 1 && SEGMENT_NAMES.has(ops[0])) return m === "push" ? "PUSH Sreg" : "POP Sreg";
  if (m === "mov" && ops.includes("Sw")) return "MOV Sreg";
  if ((m === "call" || m === "jmp") && (ops[0] === "Ap" || ops[0] === "Mp")) return m === "call" ? "CALL far" : "JMP far";
  if (m === "retf") return "RET far";
  // One SDM page, "INT n/INTO/INT3/INT1—Call to Interrupt Procedure": the seed's "INT".
  if (m === "int" || m === "int3" || m === "into" || m === "int1") return "INT";
  if (m === "mov" && (ops.includes("Cd") || ops.includes("Dd"))) return ops.includes("Cd") ? "MOV CRn" : "MOV DRn";
  return m.toUpperCase();
}

function immediateBytes(o: string, value: number): number[] {
  const le = (v: number, n: number): number[] => Array.from({ length: n }, (_, k) => (v >>> (8 * k)) & 0xff);
  switch (o) {
    case "Ib": case "Ibs": return [0x80];
    case "Jb": return [0];
    case "Iw": return le(0x10, 2);
    case "Iz": return le(0x23, 4);
    case "Jz": return le(0, 4);
    case "Ob": case "Ov": return le(DATA, 4);
    case "Ap": return [...le(FAR_TARGET, 4), ...le(value, 2)];
    default: return [];
  }
}

function encodingsOf(d: OpDef): Encoding[] {
  const opBytes = opcodeBytes(d);
  const imm = (value: number): number[] => d.operands.flatMap((o) => immediateBytes(o, value));
  const hasModrm = d.reg !== undefined || d.modrm !== undefined || d.operands.some((o) => MODRM_OPERANDS.test(o));
  if (!hasModrm) return [{ kind: "", bytes: (v) => Uint8Array.from([...opBytes, ...imm(v)]) }];
  if (d.modrm !== undefined) return [{ kind: "reg", bytes: (v) => Uint8Array.from([...opBytes, d.modrm!, ...imm(v)]) }];
  const reg = d.reg ?? 1;
  const out: Encoding[] = [];
  const x87Register = d.operands.some((o) => o === "STi");
  if (d.mem !== true) {
    const rm = x87Register ? 1 : 0;
    out.push({ kind: "reg", bytes: (v) => Uint8Array.from([...opBytes, 0xc0 | (reg << 3) | rm, ...imm(v)]) });
  }
  const memoryAllowed = d.mem === true || (d.mem === undefined && d.forceReg !== true && d.operands.some((o) => MEMORY_OPERAND.test(o)));
  if (memoryAllowed) {
    const disp = [DATA & 0xff, (DATA >>> 8) & 0xff, (DATA >>> 16) & 0xff, DATA >>> 24];
    out.push({ kind: "mem", bytes: (v) => Uint8Array.from([...opBytes, (reg << 3) | 5, ...disp, ...imm(v)]) });
  }
  return out;
}

/** Every row of the opcode table except the undefined-opcode fallback. */
export function allForms(): Form[] {
  const forms: Form[] = [];
  OPCODES.forEach((def, index) => {
    if (def.opcode < 0) return;
    forms.push({ index, def, label: labelOf(def), row: rowOf(def), encodings: encodingsOf(def) });
  });
  return forms;
}
