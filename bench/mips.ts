// npm run bench: guest MIPS of the interpreter on fixed workloads, with a reference measured
// in the same run (a minimal switch-dispatch bytecode loop in plain JS, the "simple ops/s"
// of DESIGN.md §6), so numbers from different machines can be compared as ratios.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Machine } from "../src/hw/machine.js";
import { attachDebugPorts } from "../src/hw/pc/debug-ports.js";
import { FlatMachine, CODE } from "../test/support/flat-machine.js";
import { TEST386_DIR } from "../test/support/paths.js";
import { CR0_PG } from "../src/hw/cpu/cpu.js";
import { JIT_DEFAULTS, type JitOptions } from "../src/hw/cpu/jit/block-compiler.js";
import { asm64 } from "../test/protection/harness.js";
import { ENTER_LONG_MODE, RSP0, longMachine, useLongTables } from "../test/support/long-machine.js";
import { WasmGuest, compileBlock, encode, runBlocks, type GuestOp } from "./wasm-block.js";

interface Sample { name: string; instructions: number; seconds: number; }
/** The compiler off, on (the default thresholds), or every block generated as JavaScript at once (tier 2). */
type Jit = boolean | JitOptions;

function time(fn: () => number): { instructions: number; seconds: number } {
  const t0 = process.hrtime.bigint();
  const n = fn();
  return { instructions: n, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

/** The reference: a switch interpreter over a 4-op bytecode, counting executed ops. */
function reference(): number {
  const code = new Uint8Array([0, 1, 2, 0, 1, 3]); // add, xor, load, add, xor, loop
  const mem = new Int32Array(256);
  let a = 1, b = 0, pc = 0, n = 0, count = 30_000_000;
  while (count > 0) {
    switch (code[pc]) {
      case 0: a = (a + b) | 0; pc++; break;
      case 1: b = (b ^ a) | 0; pc++; break;
      case 2: a = (a + mem[b & 255]) | 0; pc++; break;
      default: count--; pc = 0; break;
    }
    n++;
  }
  if (a === 42) console.log("");
  return n;
}

function test386(jit: Jit): number {
  const m = new Machine({ ramBytes: 16 << 20, jit });
  attachDebugPorts(m.io, {}, 0x190);
  m.loadBios(readFileSync(join(TEST386_DIR, "test386.bin")));
  m.run(Date.now() + 600_000);
  return m.cpu.instructions;
}

/** Identity-map the first 8 MiB with 4 KiB pages and turn paging on. */
function pagingOn(f: FlatMachine): void {
  const pd = 0x100000;
  for (let t = 0; t < 2; t++) {
    const pt = 0x101000 + t * 0x1000;
    f.mem.write32(pd + t * 4, pt | 7);
    for (let k = 0; k < 1024; k++) f.mem.write32(pt + k * 4, ((t * 1024 + k) << 12) | 7);
  }
  f.cpu.setCr3(pd);
  f.cpu.setCr0(f.cpu.cr0 | CR0_PG);
}

/** A 32-bit loop: sum an array, with calls, pushes and a Jcc per iteration; paging optional. */
function computeLoop(paging: boolean, jit: Jit): number {
  const f = new FlatMachine({ cpl: 0, ramBytes: 8 << 20, jit });
  if (paging) pagingOn(f);
  // mov ecx, 16384; outer: mov esi, 0x200000; mov edx, 256; xor eax, eax
  // inner: add eax, [esi]; add esi, 4; call f; dec edx; jnz inner; loop outer; hlt
  // f: push ebx; mov ebx, eax; xor ebx, 0x55; pop ebx; ret
  // Assembled with GNU as from the listing above (call f; jnz inner; loop outer; hlt; f: …).
  const code = [
    0xb9, 0x00, 0x40, 0x00, 0x00, 0xbe, 0x00, 0x00, 0x20, 0x00, 0xba, 0x00, 0x01, 0x00, 0x00, 0x31, 0xc0,
    0x03, 0x06, 0x83, 0xc6, 0x04, 0xe8, 0x06, 0x00, 0x00, 0x00, 0x4a, 0x75, 0xf3, 0xe2, 0xe5, 0xf4,
    0x53, 0x89, 0xc3, 0x83, 0xf3, 0x55, 0x5b, 0xc3,
  ];
  f.load(code, CODE);
  f.cpu.run(1e9);
  return f.cpu.instructions;
}

/** The same loop in 64-bit mode (core2, 4-level paging, 2 MiB pages), on 64-bit registers. */
function computeLoop64(jit: Jit): number {
  const f = longMachine("core2", jit);
  useLongTables(f);
  f.load(asm64(`${ENTER_LONG_MODE}
  .code64
  entry64:
    mov rsp, ${RSP0}
    mov ecx, 16384
  outer:
    mov rsi, 0x200000
    mov edx, 256
    xor eax, eax
  inner:
    add rax, [rsi]
    add rsi, 8
    call fn
    dec edx
    jnz inner
    loop outer
    hlt
  fn:
    push rbx
    mov rbx, rax
    xor rbx, 0x55
    pop rbx
    ret
  `, CODE));
  f.cpu.run(1e9);
  return f.cpu.instructions;
}

/**
 * One long block run over and over (docs/jit.md, "What an instruction costs"): `body` repeated
 * `n` times, then dec ecx; jnz back (rel32); hlt. Paging on, ESI at 0x200000.
 */
function longBlock(body: number[], n: number, iterations: number, jit: Jit): number {
  const f = new FlatMachine({ cpl: 0, ramBytes: 8 << 20, jit });
  pagingOn(f);
  const code: number[] = [0xbe, 0, 0, 0x20, 0];
  const top = code.length;
  for (let k = 0; k < n; k++) code.push(...body);
  code.push(0x49, 0x0f, 0x85);
  const rel = top - (code.length + 4);
  code.push(rel & 0xff, (rel >>> 8) & 0xff, (rel >>> 16) & 0xff, (rel >>> 24) & 0xff, 0xf4);
  f.load(code, CODE);
  f.cpu.regs[1] = iterations;
  f.cpu.run(2e9);
  return f.cpu.instructions;
}

function repMovs(jit: Jit): number {
  const f = new FlatMachine({ cpl: 0, ramBytes: 8 << 20, jit });
  // mov ebx, 200; again: mov esi, 0x200000; mov edi, 0x300000; mov ecx, 0x4000; rep movsd; dec ebx; jnz again; hlt
  f.load([0xbb, 200, 0, 0, 0, 0xbe, 0, 0, 0x20, 0, 0xbf, 0, 0, 0x30, 0, 0xb9, 0, 0x40, 0, 0, 0xf3, 0xa5, 0x4b, 0x75, 0xec, 0xf4], CODE);
  f.cpu.run(1e9);
  // Count each REP iteration as an instruction (the loop around it runs 200 times).
  return f.cpu.instructions + 200 * (0x4000 - 1);
}

// Each workload runs with the block compiler off (the interpreter alone) and on (the default),
// alternately, so machine load affects both alike.
const samples: { name: string; off: Sample; on: Sample; js: Sample; tier2: Sample }[] = [];
const ref = time(reference);
const refMops = ref.instructions / ref.seconds / 1e6;
for (const [name, fn] of [
  ["test386 (real + protected mode mix)", test386],
  ["32-bit loop, paging off", (jit: Jit) => computeLoop(false, jit)],
  ["32-bit loop, paging on", (jit: Jit) => computeLoop(true, jit)],
  ["64-bit loop (long mode, 4-level paging)", computeLoop64],
  ["rep movsd (each iteration counted)", repMovs],
  // add eax, ebx ×40 per block: what a register instruction costs at each tier.
  ["40 ADDs per block, paging on", (jit: Jit) => longBlock([0x01, 0xd8], 40, 1_000_000, jit)],
  // mov eax, [esi]; mov [esi+4], eax ×10 per block: the inline TLB fast paths.
  ["20 MOVs to/from memory per block", (jit: Jit) => longBlock([0x8b, 0x06, 0x89, 0x46, 0x04], 10, 1_000_000, jit)],
] as const) {
  computeLoop(false, false); // warm up V8 on the interpreter paths
  computeLoop(false, true);
  const off = { name, ...time(() => fn(false)) };
  const on = { name, ...time(() => fn(true)) };
  const js = { name, ...time(() => fn({ wasm: 0 })) };
  const tier2 = { name, ...time(() => fn({ generate: 1, wasm: 0 })) };
  samples.push({ name, off, on, js, tier2 });
}

const mipsOf = (s: Sample): number => s.instructions / s.seconds / 1e6;
console.log(`reference (JS switch loop, 4 ops): ${refMops.toFixed(0)} M ops/s`);
console.log("workload                                   instructions   MIPS jit off   MIPS jit on   jit js   all tier 2   on/off   js/off   tier 2/off   ratio to reference (off, on, js, tier 2)");
for (const { name, off, on, js, tier2 } of samples) {
  const a = mipsOf(off), b = mipsOf(on), j = mipsOf(js), c = mipsOf(tier2);
  console.log(`${name.padEnd(42)} ${String(on.instructions).padStart(12)} ${a.toFixed(1).padStart(14)} ${b.toFixed(1).padStart(13)} ${j.toFixed(1).padStart(8)} ${c.toFixed(1).padStart(12)} ` +
    `${(b / a).toFixed(2).padStart(8)} ${(j / a).toFixed(2).padStart(8)} ${(c / a).toFixed(2).padStart(12)}   ` +
    `${(a / refMops).toFixed(3)}, ${(b / refMops).toFixed(3)}, ${(j / refMops).toFixed(3)}, ${(c / refMops).toFixed(3)}`);
}
console.log(`jit on: blocks, and WebAssembly for those run ${JIT_DEFAULTS.wasm} times (docs/jit.md); jit js: without the WebAssembly tier;`);
console.log("all tier 2: every block generated as JavaScript the first time it runs (--jit js generates a block after 50,000 runs).");

// ---- The WebAssembly experiment (bench/wasm-block.ts, docs/jit.md) ----------------------

interface Outcome { instructions: number; seconds: number; regs: number[]; data: number[] }
const DATA = 0x200000;
/** Initial EAX, EDX, EBX, ESP, EDI (ECX counts, ESI points at the data). */
const START_REGS: [number, number][] = [[0, 1], [2, 3], [3, 5], [4, 0x8000], [7, 7]];

/** The machine model runs the blocks: each `mov ecx, n; L: body; dec ecx; jnz L`, then hlt. */
function machineBlocks(bodies: GuestOp[][], iterations: number, jit: Jit): Outcome {
  const f = new FlatMachine({ cpl: 0, ramBytes: 8 << 20, jit });
  pagingOn(f);
  const code: number[] = [];
  for (const body of bodies) {
    code.push(0xb9, iterations & 0xff, (iterations >>> 8) & 0xff, (iterations >>> 16) & 0xff, iterations >>> 24);
    const top = code.length;
    code.push(...encode(body), 0x49, 0x0f, 0x85);
    const rel = top - (code.length + 4);
    code.push(rel & 0xff, (rel >>> 8) & 0xff, (rel >>> 16) & 0xff, (rel >>> 24) & 0xff);
  }
  code.push(0xf4);
  f.load(code, CODE);
  for (const [r, v] of START_REGS) f.cpu.regs[r] = v;
  f.cpu.regs[6] = DATA;
  const t = time(() => { f.cpu.run(4e9); return f.cpu.instructions; });
  return { ...t, regs: [...f.cpu.regs.slice(0, 8)], data: Array.from({ length: 32 }, (_, k) => f.m.mem.read32(DATA + 4 * k) | 0) };
}

/** The same blocks as WebAssembly (compiled when first entered, as a JIT would), over state in linear memory. */
function wasmBlocks(bodies: GuestOp[][], iterations: number, locals: boolean, liveFlags: boolean): Outcome & { emitUs: number; compileUs: number } {
  const g = new WasmGuest();
  for (const [r, v] of START_REGS) g.setReg(r, v);
  g.setReg(6, DATA);
  let emitNs = 0, compileNs = 0;
  const t = time(() => {
    let n = 0;
    bodies.forEach((body) => {
      const b = compileBlock(g, body, 0, 0, locals, liveFlags);
      emitNs += b.emitNs;
      compileNs += b.compileNs;
      n += runBlocks(g, [b], iterations);
    });
    return n;
  });
  return { ...t, emitUs: emitNs / 1e3 / bodies.length, compileUs: compileNs / 1e3 / bodies.length, regs: Array.from({ length: 8 }, (_, r) => g.reg(r) | 0), data: Array.from({ length: 32 }, (_, k) => g.ram32(DATA + 4 * k) | 0) };
}

/** `n` distinct blocks of 20 instructions: ADDs among EAX, EDX, EBX, EDI, and loads and stores of EAX at ESI+d. */
function warmBodies(n: number): GuestOp[][] {
  const regs = [0, 2, 3, 7];
  return Array.from({ length: n }, (_, k) => Array.from({ length: 20 }, (_, i): GuestOp => {
    const d = ((k * 7 + i * 3) % 32) * 4;
    switch ((k + i) % 3) {
      case 0: return { kind: "add", d: regs[(k + i) & 3], s: regs[(k * 3 + i + 1) & 3] };
      case 1: return { kind: "load", d };
      default: return { kind: "store", d };
    }
  }));
}

console.log("");
console.log("WebAssembly experiment (bench/wasm-block.ts): the same blocks as hand-written WebAssembly over guest state in linear memory,");
console.log("checked against the machine model's registers and data. MIPS (the WebAssembly columns include writing and compiling each block);");
console.log("per block: microseconds to write its bytes here (emit), and for V8 to compile and instantiate the module (compile).");
console.log("workload                                   jit off   jit on   all tier 2   wasm (as tier 2)   wasm (locals, live flags)   emit   compile");
for (const [name, bodies, iterations] of [
  ["40 ADDs per block, 1 M runs", [Array.from({ length: 40 }, (): GuestOp => ({ kind: "add", d: 0, s: 3 }))], 1_000_000],
  ["20 MOVs to/from memory, 1 M runs", [Array.from({ length: 20 }, (_, i): GuestOp => (i & 1 ? { kind: "store", d: 4 } : { kind: "load", d: 0 }))], 1_000_000],
  ["400 warm blocks of 20, 5,000 runs each", warmBodies(400), 5_000],
  ["2,000 warm blocks of 20, 500 runs each", warmBodies(2_000), 500],
] as const) {
  const off = machineBlocks(bodies as GuestOp[][], iterations, false);
  const on = machineBlocks(bodies as GuestOp[][], iterations, true);
  const t2 = machineBlocks(bodies as GuestOp[][], iterations, { generate: 1, wasm: 0 });
  const w1 = wasmBlocks(bodies as GuestOp[][], iterations, false, false);
  const w2 = wasmBlocks(bodies as GuestOp[][], iterations, true, true);
  for (const [label, o] of [["jit on", on], ["all tier 2", t2], ["wasm", w1], ["wasm locals", w2]] as const) {
    if (o.regs.join() !== off.regs.join() || o.data.join() !== off.data.join()) {
      throw new Error(`wasm experiment: ${name}: ${label} left different state (registers ${o.regs.join()} against ${off.regs.join()})`);
    }
  }
  const m = (o: Outcome): string => (o.instructions / o.seconds / 1e6).toFixed(1);
  console.log(`${name.padEnd(42)} ${m(off).padStart(7)} ${m(on).padStart(8)} ${m(t2).padStart(12)} ${m(w1).padStart(18)} ${m(w2).padStart(27)} ${w2.emitUs.toFixed(0).padStart(6)} ${w2.compileUs.toFixed(0).padStart(6)} us`);
}
