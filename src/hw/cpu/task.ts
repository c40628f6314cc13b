// Hardware task switching (Intel SDM vol. 3 chapter 7, §7.3 "Task switching", §7.4 "Task
// linking"; table 7-1 for the exception conditions).
//
// 32-bit TSS (figure 7-2)                     16-bit TSS (figure 7-11)
//   0 link      4 ESP0    8 SS0                 0 link  2 SP0  4 SS0  6 SP1  8 SS1
//  12 ESP1     16 SS1    20 ESP2   24 SS2      10 SP2  12 SS2 14 IP  16 FLAGS
//  28 CR3      32 EIP    36 EFLAGS             18 AX 20 CX 22 DX 24 BX 26 SP 28 BP 30 SI 32 DI
//  40 EAX..68 EDI (8 dwords)                   34 ES 36 CS 38 SS 40 DS 42 LDT
//  72 ES 76 CS 80 SS 84 DS 88 FS 92 GS
//  96 LDT     100 T (bit 0)  102 I/O map base

import { type Cpu } from "./cpu.js";
import { CR0_TS } from "./control-regs.js";
import * as F from "./eflags.js";
import { Vector } from "./fault.js";
import { Descriptor, SegReg, SysType } from "./segment.js";

export const enum TaskSource { Jump = 0, Call = 1, Iret = 2, Interrupt = 3 }

const scratch = new WeakMap<Cpu, { tss: Descriptor; seg: Descriptor }>();
function descs(cpu: Cpu): { tss: Descriptor; seg: Descriptor } {
  let s = scratch.get(cpu);
  if (!s) { s = { tss: new Descriptor(), seg: new Descriptor() }; scratch.set(cpu, s); }
  return s;
}

/**
 * Switch to the task whose TSS selector is `sel`. `ext` is the EXT bit for error codes.
 * Faults before the switch commits are raised in the old task; faults while loading the new
 * task's segments are raised in the new task's context, as on real hardware.
 */
export function taskSwitch(cpu: Cpu, sel: number, source: TaskSource, ext: number): void {
  // In VMX non-root operation every task switch exits (SDM vol. 3C §25.4.2); qualification
  // bits 15:0 the selector, 31:30 the source: 0 CALL, 1 IRET, 2 JMP, 3 a task gate in the IDT.
  if (cpu.nonRoot) cpu.vmx!.taskSwitch(sel, source === TaskSource.Call ? 0 : source === TaskSource.Iret ? 1 : source === TaskSource.Jump ? 2 : 3);
  // An SVM guest's task switch exits if intercepted, before any of its checks (APM vol. 2 §15.14.1).
  if (cpu.svm !== null && cpu.svm.inGuest) cpu.svm.taskSwitch(sel, source === TaskSource.Iret, source === TaskSource.Jump);
  const { tss: nd, seg: sd } = descs(cpu);
  // The TSS selector must refer to the GDT.
  if ((sel & 4) !== 0) cpu.raise(source === TaskSource.Iret ? Vector.TS : Vector.GP, (sel & 0xfffc) + ext);
  if (!cpu.readDescriptor(sel, nd)) cpu.raise(source === TaskSource.Iret ? Vector.TS : Vector.GP, (sel & 0xfffc) + ext);
  const type = nd.type;
  const isTss = !nd.s && (type === SysType.TSS16_AVAIL || type === SysType.TSS16_BUSY || type === SysType.TSS32_AVAIL || type === SysType.TSS32_BUSY);
  if (!isTss) cpu.raise(source === TaskSource.Iret ? Vector.TS : Vector.GP, (sel & 0xfffc) + ext);
  const busy = (type & 2) !== 0;
  if (source === TaskSource.Iret ? !busy : busy) cpu.raise(source === TaskSource.Iret ? Vector.TS : Vector.GP, (sel & 0xfffc) + ext);
  if (!nd.present) cpu.raise(Vector.NP, (sel & 0xfffc) + ext);
  const new32 = (type & 8) !== 0;
  if (nd.limit < (new32 ? 0x67 : 0x2b)) cpu.raise(Vector.TS, (sel & 0xfffc) + ext);

  // Save the outgoing task's state into its TSS.
  const tr = cpu.tr;
  const old32 = (tr.access & 8) !== 0;
  const ob = tr.base;
  let eflags = cpu.getEflags();
  if (source === TaskSource.Iret) eflags &= ~F.NT;
  const r = cpu.regs;
  // Probe the new TSS (reads) before writing the old one, so a #PF leaves the old state intact.
  cpu.readSys8(nd.base); cpu.readSys8(nd.base + nd.limit);
  if (old32) {
    cpu.writeSys32(ob + 32, cpu.eip);
    cpu.writeSys32(ob + 36, eflags);
    for (let k = 0; k < 8; k++) cpu.writeSys32(ob + 40 + k * 4, r[k]);
    for (let s = 0; s < 6; s++) cpu.writeSys16(ob + 72 + s * 4, cpu.segs[s].selector);
  } else {
    cpu.writeSys16(ob + 14, cpu.eip);
    cpu.writeSys16(ob + 16, eflags);
    for (let k = 0; k < 8; k++) cpu.writeSys16(ob + 18 + k * 2, r[k]);
    for (let s = 0; s < 4; s++) cpu.writeSys16(ob + 34 + s * 2, cpu.segs[s].selector);
  }
  // Old TSS stops being busy on JMP and IRET.
  if (source === TaskSource.Jump || source === TaskSource.Iret) {
    const a = cpu.descriptorAddress(tr.selector) + 5;
    cpu.writeSys8(a, cpu.readSys8(a) & ~0x02);
  }

  // Read the incoming task's state.
  const nb = nd.base;
  let nEip: number, nFlags: number, nCr3 = 0, nLdt: number;
  const nRegs = new Int32Array(8);
  const nSel = [0, 0, 0, 0, 0, 0];
  if (new32) {
    nCr3 = cpu.readSys32(nb + 28);
    nEip = cpu.readSys32(nb + 32);
    nFlags = cpu.readSys32(nb + 36);
    for (let k = 0; k < 8; k++) nRegs[k] = cpu.readSys32(nb + 40 + k * 4);
    for (let s = 0; s < 6; s++) nSel[s] = cpu.readSys16(nb + 72 + s * 4);
    nLdt = cpu.readSys16(nb + 96);
  } else {
    nEip = cpu.readSys16(nb + 14);
    nFlags = cpu.readSys16(nb + 16);
    for (let k = 0; k < 8; k++) nRegs[k] = cpu.readSys16(nb + 18 + k * 2) | 0xffff_0000;
    for (let s = 0; s < 4; s++) nSel[s] = cpu.readSys16(nb + 34 + s * 2);
    nLdt = cpu.readSys16(nb + 42);
  }

  if (source === TaskSource.Call || source === TaskSource.Interrupt) {
    cpu.writeSys16(nb, tr.selector);
    nFlags |= F.NT;
  }
  if (source !== TaskSource.Iret) {
    const a = cpu.descriptorAddress(sel) + 5;
    cpu.writeSys8(a, cpu.readSys8(a) | 0x02);
    nd.hi |= 0x200;
  }

  // Commit: the switch has happened; from here faults belong to the new task.
  tr.loadDescriptor(sel, nd);
  cpu.cr0 |= CR0_TS;
  if (new32 && cpu.paging) cpu.setCr3(nCr3);
  cpu.eip = new32 ? nEip >>> 0 : nEip & 0xffff;
  cpu.instrEip = cpu.eip; // faults from here on are the new task's
  if (new32) cpu.setEflags(nFlags); else cpu.setEflags((eflags & 0xffff_0000 & ~F.VM) | (nFlags & 0xffff));
  // From a 16-bit TSS the upper halves of the general registers read as ones
  // (test386 test 0x22 pins this 80386 behaviour).
  for (let k = 0; k < 8; k++) r[k] = nRegs[k];
  // Load selectors first (so a fault reports the new task), then descriptors.
  const v86 = (cpu.flags & F.VM) !== 0;
  for (let s = 0; s < 6; s++) {
    if (!new32 && s >= 4) { cpu.segs[s].loadNull(0); continue; }
    cpu.segs[s].selector = nSel[s];
  }
  cpu.ldtr.selector = nLdt;
  cpu.ldtr.valid = false;
  // LDT.
  if ((nLdt & 0xfffc) !== 0) {
    if ((nLdt & 4) !== 0 || !cpu.readDescriptor(nLdt, sd) || sd.s || sd.type !== SysType.LDT) cpu.raise(Vector.TS, (nLdt & 0xfffc) + ext);
    if (!sd.present) cpu.raise(Vector.TS, (nLdt & 0xfffc) + ext);
    cpu.ldtr.loadDescriptor(nLdt, sd);
  }
  if (v86) {
    cpu.cpl = 3;
    for (let s = 0; s < 6; s++) cpu.segs[s].loadV86(nSel[s]);
    return;
  }
  // CS determines the new CPL.
  const csSel = nSel[SegReg.CS];
  if ((csSel & 0xfffc) === 0 || !cpu.readDescriptor(csSel, sd) || !sd.isCode) cpu.raise(Vector.TS, (csSel & 0xfffc) + ext);
  const cpl = csSel & 3;
  if ((sd.type & 4) !== 0 ? sd.dpl > cpl : sd.dpl !== cpl) cpu.raise(Vector.TS, (csSel & 0xfffc) + ext);
  if (!sd.present) cpu.raise(Vector.NP, (csSel & 0xfffc) + ext);
  cpu.loadCsDescriptor(csSel, sd, cpl);
  // SS.
  const ssSel = nSel[SegReg.SS];
  if ((ssSel & 0xfffc) === 0 || !cpu.readDescriptor(ssSel, sd)) cpu.raise(Vector.TS, (ssSel & 0xfffc) + ext);
  if ((ssSel & 3) !== cpl || !sd.isData || (sd.type & 2) === 0 || sd.dpl !== cpl) cpu.raise(Vector.TS, (ssSel & 0xfffc) + ext);
  if (!sd.present) cpu.raise(Vector.SS, (ssSel & 0xfffc) + ext);
  cpu.setAccessed(ssSel, sd);
  cpu.segs[SegReg.SS].loadDescriptor(ssSel, sd);
  // Data segments.
  for (const s of [SegReg.ES, SegReg.DS, SegReg.FS, SegReg.GS]) {
    const ds = cpu.segs[s].selector;
    if ((ds & 0xfffc) === 0) { cpu.segs[s].loadNull(ds); continue; }
    if (!cpu.readDescriptor(ds, sd) || !sd.s || (sd.isCode && (sd.type & 2) === 0)) cpu.raise(Vector.TS, (ds & 0xfffc) + ext);
    const conformingCode = sd.isCode && (sd.type & 4) !== 0;
    if (!conformingCode && ((ds & 3) > sd.dpl || cpl > sd.dpl)) cpu.raise(Vector.TS, (ds & 0xfffc) + ext);
    if (!sd.present) cpu.raise(Vector.NP, (ds & 0xfffc) + ext);
    cpu.setAccessed(ds, sd);
    cpu.segs[s].loadDescriptor(ds, sd);
  }
  if (cpu.eip > cpu.segs[SegReg.CS].limit) cpu.gp(0);
}
