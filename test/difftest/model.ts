// Difftest: run a case in the machine model from the same registers and memory as natively.
// A FlatMachine at CPL 3 (flat segments, like a Linux user process) with CR0.NE set (as
// Linux sets it, so unmasked x87 exceptions raise #MF); the code is loaded at CODE_VA with
// an INT3 where the native epilogue would be, and the CPU is stepped one instruction at a
// time until EIP reaches that INT3 or an exception is delivered to a stub. At a fault the
// user-mode registers come from the ring-0 interrupt frame, as the kernel's signal context
// gives them natively.

import { FlatMachine, STACK0, STUBS } from "../support/flat-machine.js";
import { CR0_MP, CR0_NE, CR4_OSFXSR, CR4_OSXMMEXCPT } from "../../src/hw/cpu/cpu.js";
import { CODE_VA, DATA_SIZE, DATA_VA, LOW_VA } from "./layout.js";
import type { NativeInput, NativeOutput } from "./native.js";

export interface ModelOutput extends NativeOutput {
  /** The step budget ran out (a runaway REP or a loop). */
  timeout: boolean;
  /** A JavaScript exception escaped the model (its message). */
  crash?: string;
}

const MAX_STEPS = 20_000;
/**
 * The model CPU: Core 2 has every instruction set the generator emits (up to SSSE3) and
 * nothing the integer groups would notice in 32-bit mode. CR4.OSFXSR and OSXMMEXCPT are set,
 * as Linux sets them.
 */
const MODEL_CPU = "core2";
/** Blocks from the first execution, generated as JavaScript at once: every case runs compiled code. */
export const DIFFTEST_JIT = { hot: 1, generate: 1 };
const flatMachine = (): FlatMachine => new FlatMachine({ cpl: 3, cpu: MODEL_CPU, jit: DIFFTEST_JIT });

export class ModelRunner {
  private fm = flatMachine();

  /** Run one case. `bodyLen` is the code length without the native epilogue. */
  run(c: NativeInput, bodyLen: number): ModelOutput {
    try {
      return this.runOnce(c, bodyLen);
    } catch (e) {
      // A model crash must not stop the run: report it and start from a fresh machine.
      this.fm = flatMachine();
      return {
        vector: -2, eip: 0, regs: new Int32Array(8), eflags: 0, data: new Uint8Array(DATA_SIZE), timeout: false,
        crash: e instanceof Error ? (e.stack ?? e.message) : String(e),
      };
    }
  }

  private runOnce(c: NativeInput, bodyLen: number): ModelOutput {
    const fm = this.fm;
    const cpu = fm.cpu;
    cpu.setCr0(cpu.cr0 | CR0_NE | CR0_MP);
    cpu.setCr4(cpu.cr4 | CR4_OSFXSR | CR4_OSXMMEXCPT);
    fm.enterRing(3);
    // Unused data pages are cleared so a stray access reads what the native runner sees (zeros).
    const zero = new Uint8Array(0x1000);
    fm.mem.load(c.dataVa === LOW_VA ? LOW_VA : DATA_VA, zero);
    fm.mem.load(c.dataVa, c.data.subarray(0, DATA_SIZE));
    const code = new Uint8Array(bodyLen + 1);
    code.set(c.code.subarray(0, bodyLen));
    code[bodyLen] = 0xf4; // HLT at CPL 3: #GP(0) with the frame's EIP at the end marks "ran to the end"
    fm.mem.load(CODE_VA, code);
    for (let r = 0; r < 8; r++) cpu.regs[r] = c.regs[r];
    cpu.setEflags(c.eflags);
    cpu.eip = CODE_VA;
    cpu.halted = false;
    const end = CODE_VA + bodyLen;
    // One run, as a kernel runs user code (the block compiler sees whole cases), until the
    // stub that the first exception reaches halts.
    cpu.run(MAX_STEPS);
    const stubEip = (cpu.eip >>> 0) - 1;
    const halted = cpu.halted && cpu.cpl === 0 && stubEip >= STUBS && stubEip < STUBS + 256 * 16;
    let vector = halted ? (stubEip - STUBS) >> 4 : -1;
    const timeout = !halted;
    if (vector === 13 && fm.mem.read32(STACK0 - 20) >>> 0 === end && fm.mem.read32(STACK0 - 24) === 0) vector = -1;
    const regs = new Int32Array(cpu.regs);
    let eflags = cpu.getEflags();
    let eip = cpu.eip >>> 0;
    if (halted) {
      regs[4] = fm.mem.read32(STACK0 - 8);
      eflags = fm.mem.read32(STACK0 - 12) >>> 0;
      eip = fm.mem.read32(STACK0 - 20) >>> 0;
    }
    const data = new Uint8Array(DATA_SIZE);
    for (let k = 0; k < DATA_SIZE; k++) data[k] = fm.mem.read8(c.dataVa + k);
    return { vector, eip, regs, eflags, data, timeout };
  }
}
