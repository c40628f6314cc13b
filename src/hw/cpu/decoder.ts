// Instruction decoder (Intel SDM vol. 2 chapter 2, "Instruction Format"; appendix A,
// "Opcode Map"). Driven entirely by the opcode table: the table says which opcodes take a
// ModR/M byte and which immediates follow; the decoder reads prefixes, the opcode, ModR/M,
// SIB, displacement and immediates into an Instr.

import { newInstr, Rep, type Instr } from "./instr.js";
import { OPCODES, type OpDef, type Operand } from "./opcode-table.js";
import { SegReg } from "./segment.js";

/** Where a decoder reads bytes from: the CPU (through CS, paging) or a plain buffer. */
export interface ByteSource {
  fetchCodeByte(offset: number): number;
}

/** Raised when an instruction exceeds 15 bytes (#GP(0)) or an opcode is undefined (#UD). */
export interface DecodeFaults {
  gp(code?: number): never;
  ud(): never;
}

/** Per opcode (0x000–0x3FF: one-byte, 0F xx, 0F 38 xx, 0F 3A xx): how to find the OpDef. */
interface OpcodeSlot {
  hasModrm: boolean;
  /** Non-group opcodes: the one definition. */
  single?: OpDef;
  /** Group opcodes: by ModR/M.reg; separate lists for memory and register forms. */
  memByReg?: (OpDef | undefined)[];
  regByReg?: (OpDef | undefined)[];
  /** Register forms selected by the whole ModR/M byte (x87 D9 E0 …). */
  byModrm?: Map<number, OpDef>;
  /** SSE opcodes: the slot for no prefix, 66h, F3h and F2h (the mandatory prefix). */
  byPrefix?: OpcodeSlot[];
}

/** Operands that come from a ModR/M byte: E G M R V W U P Q N, segment, control, debug and x87 ones. */
const MODRM_OPERANDS = /^([EGMRVWUPQN][a-z0-9]|M$|Sw$|Cd$|Dd$|STi?$|m.+)/;
const PREFIX_INDEX = { 0: 0, 0x66: 1, 0xf3: 2, 0xf2: 3 } as const;

function slotIndex(opcode: number): number {
  if (opcode < 0x100) return opcode;
  const map = opcode >> 8; // 0x0F, 0x0F38 or 0x0F3A
  return (map === 0x0f ? 0x100 : map === 0x0f38 ? 0x200 : 0x300) | (opcode & 0xff);
}

/** The slots of legacy code (`long` false) or of 64-bit mode (only rows with an x64 handler). */
function buildSlots(long: boolean): OpcodeSlot[] {
  const slots: OpcodeSlot[] = [];
  for (let k = 0; k < 0x400; k++) slots.push({ hasModrm: false });
  for (const d of OPCODES) {
    if (d.opcode < 0) continue; // the "(bad)" row
    if (long ? d.x64 === undefined : d.only64 === true) continue;
    const top = slots[slotIndex(d.opcode)];
    const needsModrm = d.reg !== undefined || d.modrm !== undefined || d.operands.some((o) => MODRM_OPERANDS.test(o));
    if (needsModrm) top.hasModrm = true;
    let s = top;
    if (d.prefix !== undefined) {
      const sub = (top.byPrefix ??= [0, 1, 2, 3].map(() => ({ hasModrm: false })));
      s = sub[PREFIX_INDEX[d.prefix]];
    }
    if (d.modrm !== undefined) {
      (s.byModrm ??= new Map()).set(d.modrm, d);
    } else if (d.reg !== undefined) {
      if (d.mem !== false) (s.memByReg ??= new Array(8))[d.reg] = d;
      if (d.mem !== true) (s.regByReg ??= new Array(8))[d.reg] = d;
    } else if (d.mem === true) {
      (s.memByReg ??= new Array(8)).fill(d);
    } else if (d.mem === false) {
      (s.regByReg ??= new Array(8)).fill(d);
    } else {
      s.single = d;
    }
  }
  // Whether a ModR/M follows is the opcode's, whatever the prefix (an undefined prefixed form
  // still consumes it): the sub-slots inherit it, so decoding just switches slots.
  for (const s of slots) for (const sub of s.byPrefix ?? []) sub.hasModrm = s.hasModrm;
  return slots;
}

const SLOTS = buildSlots(false);
const SLOTS64 = buildSlots(true);

/** The opcode table's definition for the undefined-opcode case. */
let UNDEFINED: OpDef | undefined;
function undefinedDef(): OpDef {
  return (UNDEFINED ??= OPCODES.find((d) => d.mnemonic === "(bad)")!);
}

// 16-bit addressing forms (SDM vol. 2 table 2-1): base, index for r/m 0–7.
const EA16_BASE = [3, 3, 5, 5, 6, 7, 5, 3]; // BX+SI, BX+DI, BP+SI, BP+DI, SI, DI, BP, BX
const EA16_INDEX = [6, 7, 6, 7, -1, -1, -1, -1];

/**
 * Decode the instruction at offset `eip` of `src`. `code32` is the code segment's D flag.
 * Throws through `faults` for over-long instructions. Undefined opcodes decode to the
 * "(bad)" definition whose handler raises #UD, so decoding itself never needs #UD. `make`
 * gives the Instr to fill (newInstr; a decode not kept passes instr.ts `scratchInstr`).
 */
type Src = ByteSource & DecodeFaults;

// The bytes of an instruction are read through these, with the Instr's length so far as the
// cursor (no closure: one was allocated per decode, and four more per operand).

/** The next byte of `i`, decoded from `start`: #GP past 15 bytes (SDM vol. 2 §2.3.11). */
function next(src: Src, i: Instr, start: number): number {
  if (i.len >= 15) src.gp(0);
  return src.fetchCodeByte(start + i.len++);
}
function imm16(src: Src, i: Instr, start: number): number {
  return next(src, i, start) | (next(src, i, start) << 8);
}
function imm32(src: Src, i: Instr, start: number): number {
  return next(src, i, start) | (next(src, i, start) << 8) | (next(src, i, start) << 16) | (next(src, i, start) << 24);
}
/** The instruction's next immediate: the first into `imm`, the second into `imm2`. */
function setImm(i: Instr, v: number): void {
  if (i.immCount === 0) i.imm = v; else i.imm2 = v;
  i.immCount++;
}

export function decode(src: Src, eip: number, code32: boolean, make: () => Instr = newInstr): Instr {
  const i = make();
  i.code32 = code32;
  let opsize32 = code32, adsize32 = code32;
  let has66 = false;
  let segOverride = -1;
  let rep = Rep.None;
  let lock = false;
  let b: number;
  for (;;) {
    b = next(src, i, eip);
    switch (b) {
      case 0x66: opsize32 = !code32; has66 = true; continue;
      case 0x67: adsize32 = !code32; continue;
      case 0xf0: lock = true; continue;
      case 0xf2: rep = Rep.RepNE; continue;
      case 0xf3: rep = Rep.RepE; continue;
      case 0x26: segOverride = SegReg.ES; continue;
      case 0x2e: segOverride = SegReg.CS; continue;
      case 0x36: segOverride = SegReg.SS; continue;
      case 0x3e: segOverride = SegReg.DS; continue;
      case 0x64: segOverride = SegReg.FS; continue;
      case 0x65: segOverride = SegReg.GS; continue;
    }
    break;
  }
  let opcode = b;
  if (b === 0x0f) opcode = 0x0f00 | next(src, i, eip);
  // The three-byte maps 0F 38 and 0F 3A (SDM vol. 2 tables ).
  if (opcode === 0x0f38 || opcode === 0x0f3a) opcode = (opcode << 8) | next(src, i, eip);
  i.opcode = opcode;
  i.opsize32 = opsize32;
  i.adsize32 = adsize32;
  i.rep = rep;
  i.lock = lock;
  i.segOverride = segOverride;
  i.seg = segOverride >= 0 ? segOverride : SegReg.DS;

  let slot = SLOTS[slotIndex(opcode)];
  if (slot.byPrefix !== undefined) {
    // The mandatory prefix: F2h or F3h (the last one) before 66h; it is not a REP or
    // operand-size prefix then (SDM vol. 2 §2.1.2).
    const k = rep === Rep.RepE ? 2 : rep === Rep.RepNE ? 3 : has66 ? 1 : 0;
    slot = slot.byPrefix[k];
    if (k >= 2) i.rep = Rep.None;
    else if (k === 1) i.opsize32 = code32;
  }
  let def: OpDef | undefined = slot.single;
  if (slot.hasModrm) {
    const modrm = next(src, i, eip);
    i.modrm = modrm;
    i.mod = modrm >> 6;
    i.reg = (modrm >> 3) & 7;
    i.rm = modrm & 7;
    if (i.mod === 3) {
      def = slot.byModrm?.get(modrm) ?? slot.regByReg?.[i.reg] ?? slot.single;
    } else {
      def = slot.memByReg?.[i.reg] ?? slot.single;
      // A register-only definition without a memory form is undefined with mod != 3.
      if (def !== undefined && def.mem === false) def = undefined;
    }
    if (i.mod !== 3 && def !== undefined && def.mem !== false && def.forceReg !== true) {
      i.hasMem = true;
      if (adsize32) decodeEa32(i, src, eip);
      else decodeEa16(i, src, eip);
      if (segOverride < 0) i.seg = defaultSegment(i);
    }
  }
  // "NP" rows (SDM vol. 2 §3.1.1.1): with 66h, F2h or F3h the instruction is undefined.
  if (def !== undefined && def.np === true && (has66 || rep !== Rep.None)) def = undefined;
  if (def === undefined) def = undefinedDef();
  i.def = def;
  i.handler = def.handler;
  // LOCK is only valid on the lockable read-modify-write forms with a memory destination.
  if (lock && !(def.lockable === true && i.hasMem)) i.handler = undefinedDef().handler;

  for (const o of def.operands) readImmediate(i, o, src, eip);
  if (i.len > 15) src.gp(0);
  return i;
}

function defaultSegment(i: Instr): number {
  return i.eaBase === 4 || i.eaBase === 5 ? SegReg.SS : SegReg.DS;
}

function decodeEa16(i: Instr, src: Src, eip: number): void {
  if (i.mod === 0 && i.rm === 6) {
    i.eaBase = -1; i.eaIndex = -1;
    i.disp = next(src, i, eip) | (next(src, i, eip) << 8);
    return;
  }
  i.eaBase = EA16_BASE[i.rm];
  i.eaIndex = EA16_INDEX[i.rm];
  i.eaScale = 0;
  if (i.mod === 1) i.disp = (next(src, i, eip) << 24) >> 24;
  else if (i.mod === 2) i.disp = next(src, i, eip) | (next(src, i, eip) << 8);
}

function decodeEa32(i: Instr, src: Src, eip: number): void {
  i.eaIndex = -1;
  i.eaScale = 0;
  if (i.rm === 4) {
    const sib = next(src, i, eip);
    const base = sib & 7, index = (sib >> 3) & 7;
    i.eaScale = sib >> 6;
    i.eaIndex = index === 4 ? -1 : index;
    if (base === 5 && i.mod === 0) {
      i.eaBase = -1;
      i.disp = next(src, i, eip) | (next(src, i, eip) << 8) | (next(src, i, eip) << 16) | (next(src, i, eip) << 24);
      return;
    }
    i.eaBase = base;
  } else if (i.rm === 5 && i.mod === 0) {
    i.eaBase = -1;
    i.disp = next(src, i, eip) | (next(src, i, eip) << 8) | (next(src, i, eip) << 16) | (next(src, i, eip) << 24);
    return;
  } else {
    i.eaBase = i.rm;
  }
  if (i.mod === 1) i.disp = (next(src, i, eip) << 24) >> 24;
  else if (i.mod === 2) i.disp = next(src, i, eip) | (next(src, i, eip) << 8) | (next(src, i, eip) << 16) | (next(src, i, eip) << 24);
}

function readImmediate(i: Instr, o: Operand, src: Src, eip: number): void {
  switch (o) {
    case "Ib": setImm(i, next(src, i, eip)); break;
    case "Ibs": setImm(i, (next(src, i, eip) << 24) >> 24); break;
    case "Jb": setImm(i, (next(src, i, eip) << 24) >> 24); break;
    case "Iw": setImm(i, imm16(src, i, eip)); break;
    case "Iz": setImm(i, i.opsize32 ? imm32(src, i, eip) : imm16(src, i, eip)); break;
    case "Jz": setImm(i, i.opsize32 ? imm32(src, i, eip) : (imm16(src, i, eip) << 16) >> 16); break;
    case "Ob": case "Ov": i.disp = i.adsize32 ? imm32(src, i, eip) : imm16(src, i, eip); i.hasMem = true; i.eaBase = -1; i.eaIndex = -1; break;
    case "Ap": i.imm = i.opsize32 ? imm32(src, i, eip) : imm16(src, i, eip); i.imm2 = imm16(src, i, eip); i.immCount = 2; break;
    default: break;
  }
}

// ---- 64-bit mode (SDM vol. 2 §2.2.1 "REX prefixes", §2.2.1.6 "RIP-relative addressing") ----

/** The first operand names a byte (the instruction's operand size is 1). */
const BYTE_OPERANDS = new Set(["Eb", "Gb", "AL", "Zb", "Ob", "Xb", "Yb"]);
function isByteForm(d: OpDef): boolean {
  const [a, b] = d.operands;
  return BYTE_OPERANDS.has(a) || ((a === "Ib" || a === "DX") && b === "AL");
}
const BYTE_FORM = new Map<OpDef, boolean>();
for (const d of OPCODES) BYTE_FORM.set(d, isByteForm(d));

/**
 * Decode the instruction at RIP `rip` (a canonical number) in 64-bit mode. REX must be the
 * last prefix (an earlier one is ignored); CS, DS, ES and SS overrides are ignored for
 * addressing; operand size is 8 with REX.W, else 2 with 66h (except for "f64" rows), else
 * 8 for "d64"/"f64" rows and 4 for the rest. Rows without an x64 handler are #UD here.
 */
export function decode64(src: Src, rip: number): Instr {
  const i = newInstr();
  i.code64 = true;
  let o16 = false, a32 = false, rex = 0;
  let segOverride = -1;
  let rep = Rep.None;
  let lock = false;
  let b: number;
  for (;;) {
    b = next(src, i, rip);
    if ((b & 0xf0) === 0x40) { rex = b; continue; }
    let prefix = true;
    switch (b) {
      case 0x66: o16 = true; break;
      case 0x67: a32 = true; break;
      case 0xf0: lock = true; break;
      case 0xf2: rep = Rep.RepNE; break;
      case 0xf3: rep = Rep.RepE; break;
      case 0x26: case 0x2e: case 0x36: case 0x3e: break; // null prefixes in 64-bit mode
      case 0x64: segOverride = SegReg.FS; break;
      case 0x65: segOverride = SegReg.GS; break;
      default: prefix = false;
    }
    if (!prefix) break;
    rex = 0; // a REX followed by another prefix is ignored
  }
  let opcode = b;
  if (b === 0x0f) opcode = 0x0f00 | next(src, i, rip);
  // The three-byte maps 0F 38 and 0F 3A (SDM vol. 2 tables ).
  if (opcode === 0x0f38 || opcode === 0x0f3a) opcode = (opcode << 8) | next(src, i, rip);
  i.opcode = opcode;
  i.rex = rex;
  i.rep = rep;
  i.lock = lock;
  i.segOverride = segOverride;
  i.seg = segOverride >= 0 ? segOverride : SegReg.DS;
  i.adsize64 = !a32;
  i.adsize32 = true;
  const rexR = (rex & 4) << 1, rexX = (rex & 2) << 2, rexB = (rex & 1) << 3;

  let slot = SLOTS64[slotIndex(opcode)];
  let mandatory66 = false;
  if (slot.byPrefix !== undefined) {
    const k = rep === Rep.RepE ? 2 : rep === Rep.RepNE ? 3 : o16 ? 1 : 0;
    slot = slot.byPrefix[k];
    if (k >= 2) i.rep = Rep.None;
    else if (k === 1) mandatory66 = true;
  }
  let def: OpDef | undefined = slot.single;
  if (slot.hasModrm) {
    const modrm = next(src, i, rip);
    i.modrm = modrm;
    i.mod = modrm >> 6;
    const reg = (modrm >> 3) & 7, rm = modrm & 7;
    i.reg = reg | rexR;
    i.rm = rm | rexB;
    if (i.mod === 3) {
      def = slot.byModrm?.get(modrm) ?? slot.regByReg?.[reg] ?? slot.single;
    } else {
      def = slot.memByReg?.[reg] ?? slot.single;
      if (def !== undefined && def.mem === false) def = undefined;
    }
    if (i.mod !== 3 && def !== undefined && def.mem !== false && def.forceReg !== true) {
      i.hasMem = true;
      decodeEa64(i, rm, rexX, rexB, src, rip);
    }
  } else {
    i.rm = (opcode & 7) | rexB; // the register in the opcode's low bits (Zv, Zb)
  }
  // MOV to or from DR8–DR15 does not exist: REX.R is #UD there (SDM vol. 2 "MOV—Move to/from Debug Registers").
  if ((opcode === 0x0f21 || opcode === 0x0f23) && rexR !== 0) def = undefined;
  // Of CR8–CR15 only CR8 (the TPR) exists (SDM vol. 2 "MOV—Move to/from Control Registers").
  if ((opcode === 0x0f20 || opcode === 0x0f22) && rexR !== 0 && ((i.modrm >> 3) & 7) !== 0) def = undefined;
  if (def !== undefined && def.np === true && (o16 || rep !== Rep.None)) def = undefined;
  if (def === undefined) def = undefinedDef();
  i.def = def;
  i.handler = def.x64 ?? def.handler;
  if (lock && !(def.lockable === true && i.hasMem)) i.handler = undefinedDef().handler;

  const osz = BYTE_FORM.get(def) === true ? 1
    : (rex & 8) !== 0 ? 8
      : def.os64 === "f64" ? 8
        : o16 && !mandatory66 ? 2
          : def.os64 === "d64" ? 8 : 4;
  i.osz = osz;
  i.opsize32 = osz !== 2;
  for (const o of def.operands) readImmediate64(i, o, osz, src, rip);
  if (i.len > 15) src.gp(0);
  return i;
}

function decodeEa64(i: Instr, rm: number, rexX: number, rexB: number, src: Src, rip: number): void {
  i.eaIndex = -1;
  i.eaScale = 0;
  let disp32 = false;
  if (rm === 4) {
    const sib = next(src, i, rip);
    const base = sib & 7, index = ((sib >> 3) & 7) | rexX;
    i.eaScale = sib >> 6;
    i.eaIndex = index === 4 ? -1 : index; // RSP cannot index; R12 can
    if (base === 5 && i.mod === 0) { i.eaBase = -1; disp32 = true; }
    else i.eaBase = base | rexB;
  } else if (rm === 5 && i.mod === 0) {
    i.eaBase = -2; // RIP-relative
    disp32 = true;
  } else {
    i.eaBase = rm | rexB;
  }
  if (disp32 || i.mod === 2) i.disp = next(src, i, rip) | (next(src, i, rip) << 8) | (next(src, i, rip) << 16) | (next(src, i, rip) << 24);
  else if (i.mod === 1) i.disp = (next(src, i, rip) << 24) >> 24;
  i.dispHi = i.disp >> 31;
}

function readImmediate64(i: Instr, o: Operand, osz: number, src: Src, rip: number): void {
  switch (o) {
    case "Ib": setImm(i, next(src, i, rip)); break;
    case "Ibs": case "Jb": setImm(i, (next(src, i, rip) << 24) >> 24); break;
    case "Iw": setImm(i, imm16(src, i, rip)); break;
    case "Iz": setImm(i, osz === 2 ? imm16(src, i, rip) : imm32(src, i, rip)); break;
    case "Jz": setImm(i, imm32(src, i, rip)); break;
    case "Ob": case "Ov":
      // moffs: 8 bytes (4 with 67h), no ModR/M.
      i.hasMem = true; i.eaBase = -1; i.eaIndex = -1;
      i.disp = imm32(src, i, rip);
      i.dispHi = i.adsize64 ? imm32(src, i, rip) : 0;
      break;
    default: break;
  }
  // MOV r64, imm64 (B8+r with REX.W): the immediate is 8 bytes.
  if (o === "Iz" && osz === 8 && (i.opcode & 0xf8) === 0xb8) {
    i.imm2 = imm32(src, i, rip);
    i.imm64 = true;
    i.immCount = 2;
  }
}
