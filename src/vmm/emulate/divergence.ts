// Trap mode on the standard CPU: the sensitive instructions that do not fault at ring 1 run
// directly and give the guest the machine's view instead of its own (Robin & Irvine 2000;
// ../shared/seeds). The monitor cannot intercept them — that is the point — but it can
// report them: this log watches the machine's instruction stream at ring 1 (as a hardware
// instruction tracer would) and records each sensitive instruction the guest kernel ran,
// where, and what it saw against what it should have seen.

import type { Cpu } from "../../hw/cpu/cpu.js";
import type { Instr, Handler } from "../../hw/cpu/instr.js";
import { Reg } from "../../hw/cpu/cpu.js";
import { SegReg } from "../../hw/cpu/segment.js";
import * as F from "../../hw/cpu/eflags.js";
import { pushf, popf, push_Sw, pop_Sw } from "../../hw/cpu/exec/stack.js";
import { mov_Ev_Sw } from "../../hw/cpu/exec/data.js";
import { sldt, str, lar, lsl, verr, verw } from "../../hw/cpu/exec/descriptor.js";
import { sgdt, sidt, smsw } from "../../hw/cpu/exec/system.js";
import { iret_ } from "../../hw/cpu/exec/control.js";

export interface Divergence {
  instruction: string;
  eip: number;
  saw: string;
}

const h = (n: number): string => "0x" + (n >>> 0).toString(16);

export class DivergenceLog {
  private readonly byName = new Map<string, number>();
  /** The first occurrence at each address, up to a bound. */
  readonly first: Divergence[] = [];
  private readonly seen = new Set<string>();

  constructor(machine: Cpu, vcpu: Cpu) {
    const checks = new Map<Handler, (m: Cpu, i: Instr) => string | null>([
      [pushf, (m) => `EFLAGS with IF=${(m.flags >>> 9) & 1} IOPL=${m.iopl}; the guest's IF=${(vcpu.flags >>> 9) & 1} IOPL=${vcpu.iopl}`],
      [popf, (m) => {
        const v = m.readLin32((m.segs[SegReg.SS].base + m.regs[Reg.ESP]) | 0, false);
        return ((v ^ vcpu.flags) & F.IF) !== 0 ? `its change of IF to ${(v >>> 9) & 1} ignored (ring 1, IOPL 0)` : null;
      }],
      [iret_, (m) => {
        const v = m.readLin32((m.segs[SegReg.SS].base + m.regs[Reg.ESP] + 8) | 0, false);
        return ((v ^ vcpu.flags) & F.IF) !== 0 ? `its frame's IF=${(v >>> 9) & 1} not loaded (ring 1, IOPL 0)` : null;
      }],
      [sgdt, (m) => `GDTR base ${h(m.gdtrBase)} limit ${h(m.gdtrLimit)} (the monitor's); the guest's is ${h(vcpu.gdtrBase)}/${h(vcpu.gdtrLimit)}`],
      [sidt, (m) => `IDTR base ${h(m.idtrBase)} limit ${h(m.idtrLimit)} (the monitor's); the guest's is ${h(vcpu.idtrBase)}/${h(vcpu.idtrLimit)}`],
      [sldt, (m) => `LDTR ${h(m.ldtr.selector)}; the guest's is ${h(vcpu.ldtr.selector)}`],
      [str, (m) => `TR ${h(m.tr.selector)} (the monitor's TSS); the guest's is ${h(vcpu.tr.selector)}`],
      [smsw, (m) => ((m.cr0 ^ vcpu.cr0) & 0xffff) !== 0 ? `MSW ${h(m.cr0 & 0xffff)}; the guest's is ${h(vcpu.cr0 & 0xffff)}` : null],
      [mov_Ev_Sw, (m, i) => (i.reg === SegReg.CS || i.reg === SegReg.SS) ? `selector ${h(m.segs[i.reg].selector)} with RPL 1; the guest runs at CPL 0` : null],
      [push_Sw, (m, i) => {
        const s = sregOfPush(i);
        return s === SegReg.CS || s === SegReg.SS ? `selector ${h(m.segs[s].selector)} with RPL 1; the guest runs at CPL 0` : null;
      }],
      [pop_Sw, () => null],
      [lar, () => "access rights of the shadow descriptor (DPL 0 shown as 1)"],
      [lsl, () => "the truncated limit of the shadow descriptor"],
      [verr, () => "readability judged at ring 1 against the shadow descriptor"],
      [verw, () => "writability judged at ring 1 against the shadow descriptor"],
    ]);
    machine.tracer = (m, i) => {
      if (m.cpl !== 1) return;
      const check = checks.get(i.handler);
      if (check === undefined) return;
      const saw = check(m, i);
      if (saw === null) return;
      const name = i.def.mnemonic.split("/").pop()!;
      this.byName.set(name, (this.byName.get(name) ?? 0) + 1);
      const key = `${name}@${m.instrEip}`;
      if (this.first.length < 40 && !this.seen.has(key)) {
        this.seen.add(key);
        this.first.push({ instruction: name, eip: m.instrEip >>> 0, saw });
      }
    };
  }

  counts(): Record<string, number> {
    return Object.fromEntries([...this.byName].sort());
  }

  get total(): number {
    let n = 0;
    for (const v of this.byName.values()) n += v;
    return n;
  }

  /** The report printed at the end of a trap-mode run on the standard CPU. */
  report(): string {
    if (this.total === 0) return "divergence: none detected (no sensitive instruction ran at guest ring 0)\n";
    const lines = [`divergence: the guest kernel ran ${this.total} sensitive instructions that do not trap at ring 1:`];
    for (const [k, v] of Object.entries(this.counts())) lines.push(`  ${k.padEnd(8)} ${String(v).padStart(10)}`);
    lines.push("first occurrences (instruction, guest eip, what the guest saw):");
    for (const d of this.first) lines.push(`  ${d.instruction.padEnd(8)} ${h(d.eip).padStart(10)}  ${d.saw}`);
    return lines.join("\n") + "\n";
  }
}

function sregOfPush(i: Instr): number {
  switch (i.opcode) {
    case 0x06: return SegReg.ES;
    case 0x0e: return SegReg.CS;
    case 0x16: return SegReg.SS;
    case 0x1e: return SegReg.DS;
    case 0x0fa0: return SegReg.FS;
    default: return SegReg.GS;
  }
}
