// The classifier's laboratory: one small protected-mode machine, put again and again into
// states that differ only in privileged state, executing exactly one instruction from each.
//
// What counts as privileged state follows Popek and Goldberg's "processor mode and
// relocation/resource registers" mapped onto the i686 (Intel SDM vol. 3 §2.1, §2.4, §2.5,
// §3.2, §5.5): CPL, the descriptor-table registers GDTR, IDTR, LDTR, TR, the control
// registers CR0, CR3 (CR2, CR4 and the debug registers and MSRs are watched for changes),
// and the system flags IF and IOPL (VM, VIF, VIP watched). Everything else — general
// registers, EIP, the arithmetic and control flags, segment registers, x87 data state and
// ordinary memory — is what a program can see.
//
// Physical memory (identity-mapped by paging; "S" pages are supervisor-only):
//
//   0x01000 GDT A  (S)      0x02000 GDT B, a copy   (S)    0x03000 IDT A (S)
//   0x03800 IDT B, a copy   0x04000 TSS A, 4100 TSS B (copy), 4200 TSS C, 4300 LDT (S)
//   0x05000 interrupt/call-gate handler (S)  0x06000 page directory A, 7000 B (copy),
//   0x08000 page table (S)  0x09000–0x0A000 ring-0 stack (S), TSS.ESP0 = 0x0A000
//   0x10000 the instruction under test       0x20000 data window (operands, strings)
//   0x30000 the stack page; ESP = 0x30800 at every CPL (SS differs: 0x10 or 0x23)

import { Machine } from "../../hw/machine.js";
import { Cpu, CR0_ET, CR0_MP, CR0_NE, CR0_PE, CR0_PG, CR0_TS, CR4_UMIP } from "../../hw/cpu/cpu.js";
import type { CpuModel } from "../../hw/cpu/models.js";
import { decode } from "../../hw/cpu/decoder.js";
import { Descriptor, SEG_NAMES, SegReg } from "../../hw/cpu/segment.js";
import { StopReason } from "../../hw/cpu/fault.js";
import { IntKind } from "../../hw/cpu/interrupt.js";
import * as F from "../../hw/cpu/eflags.js";

export const RAM_BYTES = 0x80000;
export const GDT_A = 0x1000, GDT_B = 0x2000, IDT_A = 0x3000, IDT_B = 0x3800;
export const TSS_A = 0x4000, TSS_B = 0x4100, TSS_C = 0x4200, LDT = 0x4300;
export const HANDLER = 0x5000, PD_A = 0x6000, PD_B = 0x7000, PT = 0x8000;
export const STACK0_TOP = 0xa000, CODE = 0x10000, DATA = 0x20000, USTACK = 0x30800;

/** GDT selectors (every code/data descriptor has its accessed bit preset, so loads never write the table). */
export const SEL = {
  NULL: 0x00, CODE0: 0x08, DATA0: 0x10, CODE3: 0x1b, DATA3: 0x23, TSS_A: 0x28, TSS_B: 0x30,
  TSS_C: 0x38, LDT: 0x40, CONFORMING0: 0x48, CALL_GATE3: 0x53,
} as const;
const GDT_ENTRIES = 11;
const GDT_LIMIT = GDT_ENTRIES * 8 - 1;
/** Vectors whose IDT gates have DPL 3 (as a typical kernel sets them: #BP, #OF, the system call). */
export const USER_VECTORS = [3, 4, 0x80];

/** Memory a program may observe: where the instruction's operands, strings and stacks live. */
export const WINDOWS: readonly [number, number][] = [
  [DATA, DATA + 0x400],
  [USTACK - 0x100, USTACK + 0x80],
  [STACK0_TOP - 0x100, STACK0_TOP],
];
/** Memory the classifier writes before each run (the rest of RAM must stay as built). */
const SCRATCH: readonly [number, number][] = [...WINDOWS, [CODE, CODE + 0x20]];
/** System tables an instruction may legitimately write (busy bits, task-switch saves): rebuilt before each run. */
const TABLES: readonly [number, number][] = [[GDT_A, GDT_A + 0x100], [GDT_B, GDT_B + 0x100], [TSS_A, LDT + 0x100]];

function segDesc(base: number, limit: number, access: number, flags = 0xc): [number, number] {
  const lo = ((base & 0xffff) << 16) | (limit & 0xffff);
  const hi = ((base >>> 16) & 0xff) | (access << 8) | (limit & 0xf0000) | (flags << 20) | (base & 0xff000000);
  return [lo | 0, hi | 0];
}
function gateDesc(selector: number, offset: number, type: number, dpl: number): [number, number] {
  return [((selector << 16) | (offset & 0xffff)) | 0, ((offset & 0xffff0000) | 0x8000 | (dpl << 13) | (type << 8)) | 0];
}

const GDT: [number, number][] = [
  [0, 0],
  segDesc(0, 0xfffff, 0x9b),        // 0x08 code, DPL 0
  segDesc(0, 0xfffff, 0x93),        // 0x10 data, DPL 0
  segDesc(0, 0xfffff, 0xfb),        // 0x18 code, DPL 3
  segDesc(0, 0xfffff, 0xf3),        // 0x20 data, DPL 3
  segDesc(TSS_A, 0x67, 0x8b, 0),    // 0x28 32-bit TSS, busy (TR)
  segDesc(TSS_B, 0x67, 0x8b, 0),    // 0x30 32-bit TSS, busy (TR in the "TR" variant)
  segDesc(TSS_C, 0x67, 0x89, 0),    // 0x38 32-bit TSS, available (for LTR)
  segDesc(LDT, 0x17, 0x82, 0),      // 0x40 LDT
  segDesc(0, 0xfffff, 0x9f),        // 0x48 conforming readable code, DPL 0
  gateDesc(SEL.CODE0, HANDLER, 0xc, 3), // 0x50 32-bit call gate, DPL 3 → ring 0
];

function descriptor([lo, hi]: [number, number]): Descriptor {
  const d = new Descriptor();
  d.lo = lo; d.hi = hi;
  return d;
}

/** One machine state, described by its privileged components (everything else is fixed per environment). */
export interface PrivState {
  cpl: 0 | 3;
  gdt: "A" | "B";
  idt: "A" | "B";
  ldtr: "null" | "loaded";
  tr: "A" | "B";
  cr0ts: boolean;
  cr3: "A" | "B";
  iopl: 0 | 3;
  intf: 0 | 1;
  /** CR4.UMIP: part of the configuration under test, the same in every state. */
  umip: boolean;
}

/** The monitor's configuration of the real machine at a given CPL. */
export function baseState(cpl: 0 | 3, umip: boolean): PrivState {
  return { cpl, gdt: "A", idt: "A", ldtr: "null", tr: "A", cr0ts: false, cr3: "A", iopl: 0, intf: 1, umip };
}

/** The privileged components varied one at a time (the CPL pair is the base at CPL 0 and CPL 3). */
export interface Component { name: string; what: string; vary(s: PrivState): PrivState }
export const COMPONENTS: readonly Component[] = [
  { name: "GDTR", what: "GDT moved to another address (same contents)", vary: (s) => ({ ...s, gdt: "B" }) },
  { name: "IDTR", what: "IDT moved to another address (same contents)", vary: (s) => ({ ...s, idt: "B" }) },
  { name: "LDTR", what: "LDTR null vs. an LDT loaded", vary: (s) => ({ ...s, ldtr: "loaded" }) },
  { name: "TR", what: "TR selects another TSS (same contents)", vary: (s) => ({ ...s, tr: "B" }) },
  { name: "CR0", what: "CR0.TS clear vs. set", vary: (s) => ({ ...s, cr0ts: true }) },
  { name: "CR3", what: "CR3 names another page directory (same mappings)", vary: (s) => ({ ...s, cr3: "B" }) },
  { name: "IOPL", what: "EFLAGS.IOPL 0 vs. 3", vary: (s) => ({ ...s, iopl: 3 }) },
  { name: "IF", what: "EFLAGS.IF 1 vs. 0", vary: (s) => ({ ...s, intf: 0 }) },
];

/**
 * An operand environment: the non-privileged inputs of the instruction, the same in every
 * state. `value` fills EAX, ECX, EDX, EBX, every dword of the data window and of the stack
 * above ESP, and far-pointer immediates' selector, so selector-taking instructions see it.
 */
export interface Environment { value: number; arithFlags: boolean }

export const ENVIRONMENTS: readonly Environment[] = [
  SEL.NULL, SEL.CODE0, SEL.DATA0, SEL.CODE3, SEL.DATA3, SEL.TSS_A, SEL.TSS_C, SEL.LDT, SEL.CONFORMING0,
  SEL.CALL_GATE3, 0x174, // 0x174: IA32_SYSENTER_CS, a model-specific register RDMSR/WRMSR accept
].map((value, k) => ({ value, arithFlags: k % 2 === 1 }));

/** A fault raised by the instruction (it does not complete). */
export interface Fault { vector: number; errorCode: number }

/** What one execution produced. */
export interface Outcome {
  fault: Fault | null;
  /** Program-visible result: registers, flags other than the system flags, segment changes, memory, x87 data. */
  visible: string;
  /** Privileged state the instruction changed, as "name=new value" (empty if none). */
  privChanges: string[];
}

const ARITH_ALL = F.ARITH;
const SYSTEM_FLAGS = F.IF | F.IOPL | F.VM | F.VIF | F.VIP;

/** The laboratory: one Machine reused for every run. */
export class Lab {
  readonly machine: Machine;
  readonly cpu: Cpu;
  private readonly pristine: Uint8Array;
  private readonly desc = new Map<number, Descriptor>();
  private readonly tssA = descriptor(GDT[5]);
  private readonly tssB = descriptor(GDT[6]);
  private readonly ldtDesc = descriptor(GDT[8]);
  runs = 0;

  constructor(model: CpuModel) {
    this.machine = new Machine({ ramBytes: RAM_BYTES, model });
    this.cpu = this.machine.cpu;
    const mem = this.machine.mem;
    for (const base of [GDT_A, GDT_B]) GDT.forEach(([lo, hi], k) => { mem.write32(base + k * 8, lo); mem.write32(base + k * 8 + 4, hi); });
    for (const base of [IDT_A, IDT_B]) {
      for (let v = 0; v < 256; v++) {
        const [lo, hi] = gateDesc(SEL.CODE0, HANDLER, 0xe, USER_VECTORS.includes(v) ? 3 : 0);
        mem.write32(base + v * 8, lo); mem.write32(base + v * 8 + 4, hi);
      }
    }
    for (const base of [TSS_A, TSS_B, TSS_C]) {
      mem.write32(base + 4, STACK0_TOP); mem.write32(base + 8, SEL.DATA0);
      mem.write16(base + 0x66, 0x68); // I/O map base beyond the limit: no bitmap, every port denied at CPL > IOPL
    }
    // The LDT holds one DPL-3 data segment (selector 0x07).
    const [llo, lhi] = segDesc(0, 0xfffff, 0xf3);
    mem.write32(LDT, llo); mem.write32(LDT + 4, lhi);
    mem.write8(HANDLER, 0xf4);
    // Paging: identity map of RAM, accessed and dirty preset so walks never write the tables.
    for (let p = 0; p < RAM_BYTES >>> 12; p++) {
      const a = p << 12;
      const supervisor = (a >= GDT_A && a < STACK0_TOP);
      mem.write32(PT + p * 4, a | 0x63 | (supervisor ? 0 : 4));
    }
    for (const pd of [PD_A, PD_B]) mem.write32(pd, PT | 0x27);
    GDT.forEach((d, k) => this.desc.set(k * 8, descriptor(d)));
    this.pristine = mem.ram.slice();
    // An exception the instruction delivers itself (INT1's #DB) is a trap like any fault:
    // end the run with it. Software interrupts (INT n, INT3, INTO) complete as instructions.
    const cpu = this.cpu, deliver = cpu.deliver.bind(cpu);
    cpu.deliver = (vector, kind, errorCode, hasErrorCode) => {
      if (kind === IntKind.Exception) throw cpu.fault.set(vector, errorCode, hasErrorCode);
      deliver(vector, kind, errorCode, hasErrorCode);
    };
    const ram = mem.ram;
    this.ramWindows = WINDOWS.map(([lo, hi]) => ram.subarray(lo, hi));
    this.ramTables = TABLES.map(([lo, hi]) => ram.subarray(lo, hi));
    this.pristineTables = TABLES.map(([lo, hi]) => this.pristine.subarray(lo, hi));
    this.ramCode = ram.subarray(CODE, CODE + 0x20);
  }

  /** Put the machine into state `s` with environment `env` and `code` at CS:EIP. */
  prepare(s: PrivState, env: Environment, code: Uint8Array): void {
    const cpu = this.cpu;
    for (let k = 0; k < TABLES.length; k++) this.ramTables[k].set(this.pristineTables[k]);
    const init = this.initialWindows(env.value);
    for (let k = 0; k < WINDOWS.length; k++) this.ramWindows[k].set(init[k]);
    this.ramCode.fill(0);
    this.ramCode.set(code);
    const v = env.value;

    const r = cpu.regs;
    r[0] = v; r[1] = v; r[2] = v; r[3] = v;
    r[4] = USTACK; r[5] = DATA + 0x300; r[6] = DATA + 0x100; r[7] = DATA + 0x200;
    cpu.eip = CODE; cpu.instrEip = CODE;
    cpu.gdtrBase = s.gdt === "A" ? GDT_A : GDT_B; cpu.gdtrLimit = GDT_LIMIT;
    cpu.idtrBase = s.idt === "A" ? IDT_A : IDT_B; cpu.idtrLimit = 256 * 8 - 1;
    cpu.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_PG | (s.cr0ts ? CR0_TS : 0);
    cpu.paging = true;
    cpu.cr2 = 0;
    cpu.cr3 = s.cr3 === "A" ? PD_A : PD_B;
    cpu.cr4 = s.umip ? CR4_UMIP : 0;
    cpu.cpl = s.cpl;
    const load = (seg: number, sel: number): void => { cpu.segs[seg].loadDescriptor(sel, this.desc.get(sel & 0xfff8)!); };
    load(SegReg.CS, s.cpl === 0 ? SEL.CODE0 : SEL.CODE3);
    load(SegReg.SS, s.cpl === 0 ? SEL.DATA0 : SEL.DATA3);
    for (const seg of [SegReg.DS, SegReg.ES, SegReg.FS, SegReg.GS]) load(seg, SEL.DATA3);
    if (s.ldtr === "loaded") cpu.ldtr.loadDescriptor(SEL.LDT, this.ldtDesc);
    else { cpu.ldtr.selector = 0; cpu.ldtr.base = 0; cpu.ldtr.limit = 0; cpu.ldtr.access = 0x82; cpu.ldtr.valid = true; }
    cpu.tr.loadDescriptor(s.tr === "A" ? SEL.TSS_A : SEL.TSS_B, s.tr === "A" ? this.tssA : this.tssB);
    cpu.setEflags(F.FIXED_ONE | (s.intf ? F.IF : 0) | (s.iopl << F.IOPL_SHIFT) | (env.arithFlags ? ARITH_ALL : 0));
    cpu.dr.fill(0); cpu.dr[6] = 0xffff0ff0 | 0; cpu.dr[7] = 0x400;
    cpu.sysenterCs = SEL.CODE0; cpu.sysenterEsp = STACK0_TOP - 0x80; cpu.sysenterEip = HANDLER;
    cpu.plainMsrs.clear();
    cpu.instructions = 1000; cpu.idleCycles = 0; cpu.tscOffset = 0;
    cpu.halted = false; cpu.inhibitIrq = false; cpu.nmiPending = false; cpu.intrLine = false; cpu.intr = null;
    cpu.stopReason = StopReason.None; cpu.a20 = true;
    cpu.fpu.reset();
    cpu.flushTlb(true);
  }

  /** Execute the one instruction at CS:EIP, as the CPU's instruction loop does, without delivering a fault. */
  step(): Fault | null {
    const cpu = this.cpu;
    this.runs++;
    cpu.instrEip = cpu.eip;
    try {
      const ins = decode(cpu, cpu.eip, cpu.segs[SegReg.CS].big);
      const next = cpu.eip + ins.len;
      cpu.eip = ins.code32 ? next >>> 0 : next & 0xffff;
      ins.handler(cpu, ins);
      if (cpu.faultSignalled) { // a privilege check's #GP (Cpu.signalGp)
        cpu.faultSignalled = false;
        return { vector: cpu.fault.vector, errorCode: cpu.fault.errorCode };
      }
      cpu.instructions++;
      return null;
    } catch (e) {
      if (e !== cpu.fault) throw e;
      return { vector: cpu.fault.vector, errorCode: cpu.fault.errorCode };
    }
  }

  /** Run `code` once in state `s` with environment `env` and report what happened. */
  run(s: PrivState, env: Environment, code: Uint8Array): Outcome {
    this.prepare(s, env, code);
    const cpu = this.cpu;
    const before = this.privBefore, after = this.privAfter;
    this.privileged(before, false);
    segFields(cpu, this.segsBefore);
    const fault = this.step();
    if (fault !== null) return { fault, visible: `fault ${fault.vector}(${fault.errorCode})`, privChanges: [] };
    this.privileged(after, true);
    const privChanges: string[] = [];
    for (let k = 0; k < PRIV_NAMES.length; k++) if (before[k] !== after[k]) privChanges.push(`${PRIV_NAMES[k]}=${after[k].toString(16)}`);
    const parts: string[] = [];
    parts.push(cpu.regs.join(), `eip=${cpu.eip}`, `fl=${cpu.getEflags() & ~SYSTEM_FLAGS}`);
    segFields(cpu, this.segsAfter);
    for (let k = 0; k < 6; k++) {
      let same = true;
      for (let f = 0; f < SEG_FIELDS; f++) if (this.segsAfter[k * SEG_FIELDS + f] !== this.segsBefore[k * SEG_FIELDS + f]) same = false;
      if (!same) parts.push(`${SEG_NAMES[k]}=${segKey(cpu.segs[k])}`);
    }
    const init = this.initialWindows(env.value);
    for (let k = 0; k < WINDOWS.length; k++) {
      const now = this.ramWindows[k], was = init[k];
      if (!sameBytes(now, was)) {
        for (let a = 0; a < now.length; a++) if (now[a] !== was[a]) parts.push(`m${(WINDOWS[k][0] + a).toString(16)}=${now[a]}`);
      }
    }
    const f = cpu.fpu;
    parts.push(`fpu=${f.statusWord()}/${f.controlWord()}/${f.tagWord()}`);
    if (f.tagWord() !== 0xffff) parts.push(JSON.stringify(f.save().regs));
    return { fault: null, visible: parts.join(" "), privChanges };
  }

  /** Check that nothing outside the scratch areas and system tables was written; then rebuild RAM. */
  checkAndRestore(): string | null {
    const ram = this.machine.mem.ram;
    const skip = [...SCRATCH, ...TABLES].sort((a, b) => a[0] - b[0]);
    let problem: string | null = null;
    let from = 0;
    for (const [lo, hi] of [...skip, [RAM_BYTES, RAM_BYTES] as [number, number]]) {
      if (lo > from && !sameBytes(ram.subarray(from, lo), this.pristine.subarray(from, lo))) {
        for (let a = from; a < lo; a++) {
          if (ram[a] !== this.pristine[a]) { problem = `memory at 0x${a.toString(16)} was written outside the observed windows`; break; }
        }
        break;
      }
      from = Math.max(from, hi);
    }
    ram.set(this.pristine);
    return problem;
  }

  private readonly privBefore = new Float64Array(PRIV_NAMES.length);
  private readonly privAfter = new Float64Array(PRIV_NAMES.length);
  private readonly segsBefore = new Float64Array(6 * SEG_FIELDS);
  private readonly segsAfter = new Float64Array(6 * SEG_FIELDS);
  private readonly ramWindows: Uint8Array[];
  private readonly ramTables: Uint8Array[];
  private readonly pristineTables: Uint8Array[];
  private readonly ramCode: Uint8Array;
  private readonly windowsByValue = new Map<number, Uint8Array[]>();

  /** The windows' contents before a run in environment `value`: its dwords, then the (empty) ring-0 stack. */
  private initialWindows(value: number): Uint8Array[] {
    let w = this.windowsByValue.get(value);
    if (w === undefined) {
      w = WINDOWS.map(([lo, hi], k) => {
        const b = new Uint8Array(hi - lo);
        if (k < 2) new DataView(b.buffer).setUint32(0, value, true);
        if (k < 2) for (let a = 4; a < b.length; a++) b[a] = b[a & 3];
        return b;
      });
      this.windowsByValue.set(value, w);
    }
    return w;
  }

  /** The privileged state, in PRIV_NAMES order. */
  private privileged(out: Float64Array, checkTables: boolean): void {
    const c = this.cpu, fl = c.getEflags();
    let k = 0;
    out[k++] = c.cpl; out[k++] = (fl & F.IF) !== 0 ? 1 : 0; out[k++] = c.iopl; out[k++] = fl & (F.VM | F.VIF | F.VIP);
    out[k++] = c.gdtrBase >>> 0; out[k++] = c.gdtrLimit; out[k++] = c.idtrBase >>> 0; out[k++] = c.idtrLimit;
    out[k++] = c.ldtr.selector; out[k++] = c.ldtr.base >>> 0; out[k++] = c.tr.selector; out[k++] = c.tr.base >>> 0;
    out[k++] = c.cr0 >>> 0; out[k++] = c.cr2 >>> 0; out[k++] = c.cr3 >>> 0; out[k++] = c.cr4 >>> 0;
    for (let d = 0; d < 8; d++) out[k++] = c.dr[d] >>> 0;
    out[k++] = c.sysenterCs; out[k++] = c.sysenterEsp >>> 0; out[k++] = c.sysenterEip >>> 0; out[k++] = c.tscOffset; out[k++] = c.plainMsrs.size;
    out[k++] = c.halted ? 1 : 0;
    let changed = 0;
    if (checkTables) for (let t = 0; t < TABLES.length; t++) if (!sameBytes(this.ramTables[t], this.pristineTables[t])) changed = 1;
    out[k++] = changed;
  }
}

/** Names of the privileged state a run compares before and after (see Lab.privileged). */
const PRIV_NAMES = [
  "CPL", "IF", "IOPL", "VM/VIF/VIP", "GDTR.base", "GDTR.limit", "IDTR.base", "IDTR.limit", "LDTR", "LDTR.base", "TR", "TR.base",
  "CR0", "CR2", "CR3", "CR4", "DR0", "DR1", "DR2", "DR3", "DR4", "DR5", "DR6", "DR7",
  "SYSENTER_CS", "SYSENTER_ESP", "SYSENTER_EIP", "TSC", "MSRs", "halt", "system tables",
];

const SEG_FIELDS = 6;
function segFields(cpu: Cpu, out: Float64Array): void {
  for (let k = 0; k < 6; k++) {
    const s = cpu.segs[k], o = k * SEG_FIELDS;
    out[o] = s.selector; out[o + 1] = s.base; out[o + 2] = s.limit; out[o + 3] = s.access; out[o + 4] = s.big ? 1 : 0; out[o + 5] = s.valid ? 1 : 0;
  }
}

function segKey(s: { selector: number; base: number; limit: number; access: number; big: boolean; valid: boolean }): string {
  return `${s.selector.toString(16)}:${(s.base >>> 0).toString(16)}:${(s.limit >>> 0).toString(16)}:${s.access.toString(16)}:${s.big ? 1 : 0}${s.valid ? "" : "!"}`;
}

/** Do two byte ranges hold the same bytes? */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
