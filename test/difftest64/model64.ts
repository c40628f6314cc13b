// The 64-bit difftest's model side: one long-mode machine (test/support/long-machine.ts,
// entered the architectural way once), then for each case the same registers, RFLAGS (IF
// clear: the model runs the case at CPL 0 with nothing to interrupt it), code and data image
// as on the host. The case's closing `jmp [RET_SLOT]` becomes HLT here. A fault ends at an
// IDT stub; its vector is reported.

import { asm64 } from "../protection/harness.js";
import { CR4_OSFXSR, CR4_OSXMMEXCPT } from "../../src/hw/cpu/cpu.js";
import { CODE, STUBS, type FlatMachine } from "../support/flat-machine.js";
import { ENTER_LONG_MODE, longMachine, useLongTables } from "../support/long-machine.js";
import { DIFFTEST_JIT } from "../difftest/model.js";
import { CODE_VA, DATA_SIZE, DATA_VA, type Case64Input, type State64 } from "./native64.js";

export interface ModelOutcome extends State64 { vector: number; }

export class Model64 {
  private readonly f: FlatMachine;

  constructor(cpu = "core2") {
    this.f = longMachine(cpu, DIFFTEST_JIT);
    useLongTables(this.f);
    this.f.load(asm64(`${ENTER_LONG_MODE}\n.code64\nentry64:\n hlt\n`, CODE));
    if (this.f.runToHalt() !== -1 || !this.f.cpu.mode64) throw new Error("difftest64: the model did not reach 64-bit mode");
    // As Linux runs user code: SSE enabled, SIMD exceptions delivered as #XM.
    this.f.cpu.setCr4(this.f.cpu.cr4 | CR4_OSFXSR | CR4_OSXMMEXCPT);
  }

  run(c: Case64Input, codeLen: number): ModelOutcome {
    const cpu = this.f.cpu, mem = this.f.mem;
    mem.load(CODE_VA, c.code.subarray(0, codeLen));
    mem.write8(CODE_VA + codeLen, 0xf4); // hlt where the host returns to the runner
    mem.load(DATA_VA, c.data);
    c.regs.forEach((v, r) => { cpu.regs[r] = Number(v & 0xffff_ffffn) | 0; cpu.regsHi[r] = Number(v >> 32n) | 0; });
    cpu.setEflags(Number(c.rflags) & ~0x200);
    cpu.eip = CODE_VA;
    cpu.halted = false;
    cpu.run(100_000);
    const rip = cpu.eip - 1;
    const vector = rip >= STUBS && rip < STUBS + 256 * 16 ? (rip - STUBS) / 16 : rip === CODE_VA + codeLen ? -1 : -2;
    return {
      vector,
      regs: Array.from({ length: 16 }, (_, r) => (BigInt(cpu.regsHi[r] >>> 0) << 32n) | BigInt(cpu.regs[r] >>> 0)),
      rflags: BigInt(cpu.getEflags() >>> 0),
      data: mem.ram.slice(DATA_VA, DATA_VA + DATA_SIZE),
    };
  }
}
