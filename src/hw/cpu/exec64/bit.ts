// Bit instructions in 64-bit mode (SDM vol. 2): SETcc, CMOVcc, BT/BTS/BTR/BTC, BSF/BSR,
// POPCNT, every operand size.

import type { Cpu } from "../cpu.js";
import type { Instr } from "../instr.js";
import * as F from "../eflags.js";
import { popcount32 } from "../exec/bit.js";
import { setReg, readE, readRmwE, writeE, writeRmwE, readG, writeG, ea64 } from "./operands.js";
import { TWO32 } from "./alu.js";

// ---- Bits ----

/** 0F 90–9F: SETcc E8. */
export function setcc_E(cpu: Cpu, i: Instr): void {
  writeE(cpu, i, 1, cpu.condition(i.opcode & 0xf) ? 1 : 0, 0);
}
/** 0F 40–4F: CMOVcc G, E (the source is read, and a 32-bit destination zero-extended, either way). */
export function cmovcc_G_E(cpu: Cpu, i: Instr): void {
  const n = i.osz;
  const v = readE(cpu, i, n), vh = cpu.hi;
  if (cpu.condition(i.opcode & 0xf)) writeG(cpu, i, n, v, vh);
  else if (n === 4) setReg(cpu, i.reg, 4, cpu.regs[i.reg], 0, i.rex);
}

/** BT BTS BTR BTC with a register or an immediate bit offset (0F A3/AB/B3/BB, 0F BA /4–7). */
export function bt_E(cpu: Cpu, i: Instr): void {
  const n = i.osz, bits = n * 8;
  const imm = i.opcode === 0x0fba;
  const kind = imm ? i.modrm >> 3 & 3 : ((i.opcode >> 3) & 3); // 0 BT, 1 BTS, 2 BTR, 3 BTC
  let offLo: number, offHi: number;
  if (imm) { offLo = i.imm & (bits - 1); offHi = 0; } else { offLo = readG(cpu, i, n); offHi = cpu.hi; }
  if (!i.hasMem || imm) {
    const b = offLo & (bits - 1);
    const v = kind === 0 ? readE(cpu, i, n) : readRmwE(cpu, i, n), vh = cpu.hi;
    const word = b >= 32 ? vh : v, sh = b & 31;
    cpu.setFlag(F.CF, ((word >>> sh) & 1) !== 0);
    if (kind === 0) return;
    const m = 1 << sh;
    const nw = kind === 1 ? word | m : kind === 2 ? word & ~m : word ^ m;
    writeRmwE(cpu, i, n, b >= 32 ? v : nw, b >= 32 ? nw : vh);
    return;
  }
  // A register bit offset addresses memory beyond the operand: signed, in bytes offset >> 3.
  let byteLo: number, byteHi: number;
  if (n === 8) { byteLo = (offLo >>> 3) | (offHi << 29); byteHi = offHi >> 3; }
  else if (n === 4) { byteLo = offLo >> 3; byteHi = offLo >> 31; }
  else { const o = (offLo << 16) >> 16; byteLo = o >> 3; byteHi = o >> 31; }
  const base = ea64(cpu, i);
  const lin = base + (byteHi * TWO32 + (byteLo >>> 0));
  const bit = offLo & 7;
  const v = kind === 0 ? cpu.read8(i.seg, lin) : (cpu.checkWrite(i.seg, lin, 1), cpu.read8(i.seg, lin));
  cpu.setFlag(F.CF, ((v >>> bit) & 1) !== 0);
  if (kind === 0) return;
  const m = 1 << bit;
  cpu.write8(i.seg, lin, kind === 1 ? v | m : kind === 2 ? v & ~m : v ^ m);
}

/** 0F BC/BD: BSF/BSR (a zero source sets ZF and leaves the destination unchanged). */
export function bsx_G_E(cpu: Cpu, i: Instr): void {
  const n = i.osz;
  const v = readE(cpu, i, n), vh = cpu.hi;
  const lo = n === 2 ? v & 0xffff : v;
  if ((lo | (n === 8 ? vh : 0)) === 0) { cpu.setFlag(F.ZF, true); return; }
  let r: number;
  if ((i.opcode & 0xff) === 0xbc) r = lo !== 0 ? 31 - Math.clz32(lo & -lo) : 63 - Math.clz32(vh & -vh);
  else r = n === 8 && vh !== 0 ? 63 - Math.clz32(vh) : 31 - Math.clz32(lo);
  writeG(cpu, i, n, r, 0);
  cpu.setArith(false, false, false, 1, 4); // ZF clear; CF, OF, SF, AF, PF undefined
}
/** F3 0F B8: POPCNT (features.popcnt). */
export function popcnt_G_E(cpu: Cpu, i: Instr): void {
  if (!cpu.features.popcnt) cpu.ud();
  const n = i.osz;
  const v = readE(cpu, i, n), vh = cpu.hi;
  const c = popcount32(n === 2 ? v & 0xffff : v) + (n === 8 ? popcount32(vh) : 0);
  writeG(cpu, i, n, c, 0);
  cpu.setFlagsMasked(c === 0 ? F.ZF : 0, F.ARITH);
}
