// IN and OUT inside WebAssembly (wasm-block.ts, "in"/"out"; docs/jit.md, "Port I/O in
// WebAssembly"): where they need no check and no exit (host code, CPL <= IOPL), a block's
// function calls the bus at the instruction's exact guest time, and the run goes on in
// WebAssembly unless the access asked the run loop to look (here: an interrupt raised by an
// OUT, taken right after it). A polling loop (Linux's PIT calibration, `in 0x61` and the I/O
// delay's `out 0x80`) then never leaves WebAssembly. Where the TSS bitmap decides (CPL >
// IOPL), the function leaves before the IN, and tier 1 makes the check.

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine, SEL, TSS, gateDescriptor, segDescriptor } from "../../../../test/support/flat-machine.js";
import { loadAsm, setGdt, setIdt } from "../../../../test/protection/harness.js";
import { Descriptor } from "../segment.js";
import type { JitOptions } from "./block-compiler.js";

const JIT: JitOptions = { hot: 2, generate: 1e9, wasm: 3, wasmBatch: 1 };
const ITERATIONS = 3000;

// A loop of reads whose value is the guest time at the access (port 0x90: a byte, DX = 0x94:
// a dword) and a write (0x91) that raises an interrupt every fifth time; the handler counts
// its runs and sums ECX (where the loop was when it struck). When the dword at 0x200200 is
// not 0, its hundredth run clears IOPL in the interrupted code's EFLAGS.
const LOOP = `mov ecx, ${ITERATIONS}\nxor ebx, ebx\nmov edx, 0x94\nL:\nin al, 0x90\nadd ebx, eax\nout 0x91, al\nin eax, dx\nadd ebx, eax\n` +
  "mov [0x200000], ebx\ndec ecx\njnz L\nmov [0x200008], ebx\nhlt";
const HANDLER = "inc dword ptr [0x200100]\nadd [0x200104], ecx\ncmp dword ptr [0x200200], 0\nje 1f\n" +
  "cmp dword ptr [0x200100], 100\njne 1f\nand dword ptr [esp+8], ~0x3000\n1:\niretd";

/**
 * Run LOOP at `cpl` with IOPL 3. `dropIopl`: with the TSS's I/O bitmap inside its limit,
 * allowing every port, until the thousandth write to 0x91 denies that port (the next OUT's
 * #GP halts in its stub); the handler's hundredth run clears IOPL.
 */
function run(jit: false | JitOptions, cpl: 0 | 3, dropIopl: boolean): { fm: FlatMachine; state: string; stub: number } {
  const fm = new FlatMachine({ cpl, jit });
  const cpu = fm.cpu;
  loadAsm(fm, HANDLER, 0x11000);
  setIdt(fm, 0x30, gateDescriptor(SEL.CODE0, 0x11000, 0xe, 0));
  loadAsm(fm, LOOP);
  if (dropIopl) {
    fm.mem.write32(0x200200, 1);
    setGdt(fm, SEL.TSS >> 3, segDescriptor(TSS, 0x88, 0x89, 0));
    const d = new Descriptor();
    cpu.readDescriptor(SEL.TSS, d);
    cpu.tr.loadDescriptor(SEL.TSS, d);
  }
  cpu.flags |= (3 << 12) | 0x200; // IOPL 3, IF
  const log: string[] = [];
  let writes = 0;
  cpu.intr = { hasInterrupt: () => cpu.intrLine, acknowledge: () => { cpu.intrLine = false; return 0x30; } };
  fm.m.io.register(0x90, 8, {
    read8: (port) => { log.push(`in ${port.toString(16)} @${cpu.instructions}`); return (cpu.instructions * 7) & 0xff; },
    read32: (port) => { log.push(`in32 ${port.toString(16)} @${cpu.instructions}`); return cpu.instructions * 3; },
    write8: (port, v) => {
      log.push(`out ${port.toString(16)} ${v} @${cpu.instructions}`);
      if (++writes % 5 === 0) cpu.intrLine = true;
      if (writes === 1000) fm.mem.write8(TSS + 0x68 + (0x91 >> 3), 1 << (0x91 & 7));
    },
  });
  const stub = fm.runToHalt(1_000_000);
  const words = [0x200000, 0x200008, 0x200100, 0x200104].map((a) => fm.mem.read32(a));
  return { fm, stub, state: `${cpu.instructions} ${cpu.eip.toString(16)} ${[...cpu.regs.slice(0, 8)].join(",")} ${cpu.getEflags()} ${words.join(",")}\n${log.join("\n")}` };
}

for (const cpl of [0, 3] as const) {
  test(`IN and OUT at CPL ${cpl} <= IOPL run in WebAssembly at the interpreter's guest times, and an interrupt an OUT raises is taken right after it`, () => {
    const want = run(false, cpl, false).state;
    const { fm, state } = run(JIT, cpl, false);
    assert.equal(state, want);
    assert.equal(fm.mem.read32(0x200100), ITERATIONS / 5, "one interrupt per five OUTs");
    const s = fm.cpu.jit!.stats;
    assert.ok(s.wasmInstructions > 0.9 * fm.cpu.instructions, `${s.wasmInstructions} of ${fm.cpu.instructions} instructions in WebAssembly`);
    // Entered from JavaScript after each interrupt's IRET and in its handler, not at each IN or OUT.
    assert.ok(s.wasmRuns < ITERATIONS, `${s.wasmRuns} entries into WebAssembly from JavaScript for ${ITERATIONS} turns`);
  });
}

test("IN and OUT compiled at CPL 3 <= IOPL, run after IOPL drops to 0: the TSS bitmap decides (tier 1), and an OUT it denies raises #GP", () => {
  const want = run(false, 3, true);
  const got = run(JIT, 3, true);
  assert.equal(want.stub, 13, "the interpreter's OUT after the thousandth raises #GP");
  assert.equal(got.stub, 13);
  assert.equal(got.state, want.state);
  assert.ok(got.fm.cpu.jit!.stats.wasm > 0, "the loop was compiled to WebAssembly");
});
