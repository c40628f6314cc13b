// Instructions on selectors and descriptors: SLDT STR LLDT LTR (0F 00 /0–/3), VERR VERW
// (0F 00 /4 /5), LAR (0F 02), LSL (0F 03), ARPL (63). Intel SDM vol. 2, their pages;
// vol. 3 §5.10.
//
// LAR, LSL, VERR, VERW and ARPL are unprivileged and report on descriptors without
// faulting: they answer through ZF. That makes them sensitive (they reveal descriptor
// privilege levels) without being privileged — part of Robin & Irvine's list.

import type { Cpu } from "../cpu.js";
import * as F from "../eflags.js";
import { Vector } from "../fault.js";
import type { Instr } from "../instr.js";
import { Descriptor, SysType } from "../segment.js";
import { Intercept } from "../guest-mode.js";


/** 0F 00 and ARPL are not recognised in real and V86 mode (#UD). */
function requireProtected(cpu: Cpu): void {
  if (!cpu.protectedMode || cpu.v86) cpu.ud();
}

/** SLDT/STR: store the selector; to a register with 32-bit operand size, zero-extended. */
function storeSelector(cpu: Cpu, i: Instr, sel: number): void {
  requireProtected(cpu);
  cpu.umipCheck();
  if (i.hasMem) cpu.write16(i.seg, cpu.ea(i), sel);
  else if (i.opsize32) cpu.regs[i.rm] = sel;
  else cpu.set16(i.rm, sel);
}
export function sldt(cpu: Cpu, i: Instr): void {
  cpu.guest?.instruction(Intercept.SLDT, i);
  storeSelector(cpu, i, cpu.ldtr.selector);
}
export function str(cpu: Cpu, i: Instr): void {
  cpu.guest?.instruction(Intercept.STR, i);
  storeSelector(cpu, i, cpu.tr.selector);
}

export function lldt(cpu: Cpu, i: Instr): void {
  requireProtected(cpu);
  const desc = new Descriptor();
  if (cpu.cpl !== 0) cpu.gp(0);
  cpu.guest?.instruction(Intercept.LLDT, i);
  const sel = cpu.readE16(i);
  if ((sel & 0xfffc) === 0) {
    cpu.ldtr.selector = sel;
    cpu.ldtr.valid = false;
    return;
  }
  if (sel & 4) cpu.gp(sel & 0xfffc);
  cpu.fetchDescriptor(sel, desc);
  if (desc.s || desc.type !== SysType.LDT) cpu.gp(sel & 0xfffc);
  if (!desc.present) cpu.raise(Vector.NP, sel & 0xfffc);
  const base = cpu.lma ? systemBase64(cpu, sel, desc) : desc.base;
  cpu.ldtr.loadDescriptor(sel, desc);
  cpu.ldtr.base = base;
}

/**
 * In IA-32e mode LDT and TSS descriptors are 16 bytes (SDM vol. 3 §7.2.3, figure 7-4): the
 * second 8 bytes hold base 63:32, and their type field must be 0. Returns the whole base,
 * #GP(selector) if the entry passes the GDT limit, the type field is not 0 or the base is
 * not canonical.
 */
function systemBase64(cpu: Cpu, sel: number, d: Descriptor): number {
  if ((sel & 0xfff8) + 15 > cpu.gdtrLimit) cpu.gp(sel & 0xfffc);
  const at = cpu.descriptorAddress(sel);
  const hi = cpu.readSys32(at + 8), top = cpu.readSys32(at + 12);
  if (((top >>> 8) & 0x1f) !== 0 || ((hi << 16) >> 16) !== hi) cpu.gp(sel & 0xfffc);
  return hi * 0x1_0000_0000 + d.base;
}

export function ltr(cpu: Cpu, i: Instr): void {
  requireProtected(cpu);
  const desc = new Descriptor();
  if (cpu.cpl !== 0) cpu.gp(0);
  cpu.guest?.instruction(Intercept.LTR, i);
  const sel = cpu.readE16(i);
  if ((sel & 0xfffc) === 0) cpu.gp(0);
  if (sel & 4) cpu.gp(sel & 0xfffc);
  cpu.fetchDescriptor(sel, desc);
  // In IA-32e mode type 9 is the 64-bit TSS and 16-bit TSSs do not exist.
  if (desc.s || (desc.type !== SysType.TSS32_AVAIL && (cpu.lma || desc.type !== SysType.TSS16_AVAIL))) cpu.gp(sel & 0xfffc);
  if (!desc.present) cpu.raise(Vector.NP, sel & 0xfffc);
  const base = cpu.lma ? systemBase64(cpu, sel, desc) : desc.base;
  // Mark the TSS busy.
  desc.hi |= 0x200;
  cpu.writeSys32(cpu.descriptorAddress(sel) + 4, desc.hi);
  cpu.tr.loadDescriptor(sel, desc);
  cpu.tr.base = base;
}

/** True if a descriptor is visible at the current CPL and the selector's RPL (non-conforming). */
function visible(cpu: Cpu, sel: number, d: Descriptor): boolean {
  const conformingCode = d.isCode && (d.type & 4) !== 0;
  return conformingCode || (d.dpl >= cpu.cpl && d.dpl >= (sel & 3));
}

export function verr(cpu: Cpu, i: Instr): void {
  requireProtected(cpu);
  const desc = new Descriptor();
  if (cpu.strictRefuses()) return;
  const sel = cpu.readE16(i);
  let ok = false;
  if ((sel & 0xfffc) !== 0 && cpu.readDescriptor(sel, desc) && desc.s) {
    const readable = !desc.isCode || (desc.type & 2) !== 0;
    ok = readable && visible(cpu, sel, desc);
  }
  cpu.setFlag(F.ZF, ok);
}
export function verw(cpu: Cpu, i: Instr): void {
  requireProtected(cpu);
  const desc = new Descriptor();
  if (cpu.strictRefuses()) return;
  const sel = cpu.readE16(i);
  let ok = false;
  if ((sel & 0xfffc) !== 0 && cpu.readDescriptor(sel, desc) && desc.s) {
    ok = desc.isData && (desc.type & 2) !== 0 && visible(cpu, sel, desc);
  }
  cpu.setFlag(F.ZF, ok);
}

/** System descriptor types LAR accepts (SDM "LAR" table); LSL accepts those with a limit. */
const LAR_TYPES = new Set([1, 2, 3, 4, 5, 9, 11, 12]);
const LSL_TYPES = new Set([1, 2, 3, 9, 11]);

/**
 * LAR/LSL: load `field(descriptor)` into Gv and set ZF if the selector names a descriptor of
 * an accepted type that is visible at CPL and RPL; otherwise clear ZF and leave Gv alone.
 */
function loadDescriptorField(cpu: Cpu, i: Instr, systemTypes: Set<number>, field: (d: Descriptor) => number): void {
  requireProtected(cpu);
  if (cpu.strictRefuses()) return;
  const desc = new Descriptor();
  const sel = cpu.readE16(i);
  if ((sel & 0xfffc) === 0 || !cpu.readDescriptor(sel, desc) || (!desc.s && !systemTypes.has(desc.type)) || !visible(cpu, sel, desc)) {
    cpu.setFlag(F.ZF, false);
    return;
  }
  const v = field(desc);
  if (i.opsize32) cpu.regs[i.reg] = v; else cpu.set16(i.reg, v);
  cpu.setFlag(F.ZF, true);
}

/** LAR: access rights, bits 8–23 of the high dword masked with 0x00F0FF00. */
export function lar(cpu: Cpu, i: Instr): void { loadDescriptorField(cpu, i, LAR_TYPES, (d) => d.hi & 0x00f0_ff00); }
/** LSL: the byte-granular limit. */
export function lsl(cpu: Cpu, i: Instr): void { loadDescriptorField(cpu, i, LSL_TYPES, (d) => d.limit); }

/**
 * ARPL Ew,Gw: raise the destination selector's RPL to the source's. The destination is
 * read, and written only when it changes (real hardware does not write — nor check
 * writability — otherwise; test386 test 0x17 pins this).
 */
export function arpl(cpu: Cpu, i: Instr): void {
  requireProtected(cpu);
  const d = cpu.readE16(i);
  const s = cpu.get16(i.reg);
  if ((d & 3) < (s & 3)) {
    cpu.writeE16(i, (d & ~3) | (s & 3));
    cpu.setFlag(F.ZF, true);
  } else {
    cpu.setFlag(F.ZF, false);
  }
}
