// The WebAssembly experiment of docs/jit.md ("What comes next"): what a block costs when
// it is a WebAssembly function over guest state kept in linear memory, against the block
// compiler's generated JavaScript, and what compiling it costs.
//
// Not a compiler: each block here is written by hand for the workload below, to the same
// rules the real one follows (the same lazy-flag record per ALU instruction as
// `Cpu.setLazy`, the same segment, TLB and code-page checks before a memory access, the
// block leaving at its taken Jcc). Every run is checked against the machine model: the
// registers and the data it leaves must be what vmm86 left.

import { TLB_DIRTY, TLB_RAM, TLB_SUP_W, TLB_VALID } from "../src/hw/cpu/tlb-bits.js";
import { Code, moduleOf } from "../src/hw/cpu/jit/wasm-writer.js";

// The WebAssembly binary writer is the block compiler's own (src/hw/cpu/jit/wasm-writer.ts).

// ---- Guest state in linear memory -------------------------------------------------------

/** Byte offsets: the eight registers, the lazy-flag record (as Cpu.setLazy), EFLAGS, EIP, DS. */
const S = { R: 0, LOP: 64, LDST: 68, LSRC: 72, LRES: 76, LSIZE: 80, LMASK: 84, FLAGS: 88, EIP: 92, DS_BASE: 96, DS_RHI: 100, DS_WHI: 104 };
const TLB = 0x10000, CODE_PAGES = TLB + (4 << 20), RAM = CODE_PAGES + (1 << 20);
const RAM_BYTES = 8 << 20;
const PAGES = (RAM + RAM_BYTES) >>> 16;
const ADD = 0, DEC = 6, ARITH = 0x8d5, CF = 1;

/** The guest instructions the workloads use. */
export type GuestOp = { kind: "add"; d: number; s: number } | { kind: "load"; d: number } | { kind: "store"; d: number };

/**
 * A block: `body`, then dec ecx; jnz to its start. Returns 1 when the jump is taken (the
 * run loop enters it again), 0 when it falls through, and 2 + the instruction's index when
 * a memory operand leaves the fast path (a real compiler would call the slow path there).
 * `locals`: registers live in wasm locals inside the block, written back at its exits.
 * `liveFlags`: the lazy-flag record is written only where something can see it (here: by
 * the last ALU instruction before DEC, which reads CF), not after every ALU instruction.
 */
function blockCode(body: GuestOp[], start: number, next: number, locals: boolean, liveFlags: boolean): { code: Code; nLocals: number } {
  const A = 8, B = 9, RES = 10, LIN = 11, E = 12; // scratch locals after the 8 registers
  const c = new Code();
  // A register's value on the stack; a register set from the value on the stack.
  const get = (r: number): void => { if (locals) c.get(r); else c.const(0).load(S.R + 4 * r); };
  const setFrom = (r: number, tmp: number): void => { if (locals) c.get(tmp).set(r); else c.const(0).get(tmp).store(S.R + 4 * r); };
  const stConst = (off: number, v: number): void => { c.const(0).const(v).store(off); };
  const stLocal = (off: number, l: number): void => { c.const(0).get(l).store(off); };
  const leave = (code: number): void => {
    if (locals) for (let r = 0; r < 8; r++) c.const(0).get(r).store(S.R + 4 * r);
    c.const(code).return();
  };
  if (locals) for (let r = 0; r < 8; r++) c.const(0).load(S.R + 4 * r).set(r);
  const lastAlu = body.map((g) => g.kind === "add").lastIndexOf(true);
  body.forEach((g, k) => {
    if (g.kind === "add") {
      get(g.d); c.set(A); get(g.s); c.set(B);
      c.get(A).get(B).add().set(RES); setFrom(g.d, RES);
      if (!liveFlags || k === lastAlu) {
        stConst(S.LMASK, ARITH); stConst(S.LOP, ADD); stLocal(S.LDST, A); stLocal(S.LSRC, B); stLocal(S.LRES, RES); stConst(S.LSIZE, 4);
      }
      return;
    }
    // mov eax, [esi+d] / mov [esi+d], eax: the segment's limit, the TLB entry's rights, an
    // aligned dword, and for a store no decoded code on the page (the lowered fast path).
    const write = g.kind === "store";
    const need = write ? TLB_VALID | TLB_RAM | TLB_DIRTY | TLB_SUP_W : TLB_VALID | TLB_RAM;
    get(6); c.const(g.d).add().set(LIN);
    c.get(LIN).const(0).load(write ? S.DS_WHI : S.DS_RHI).const(3).sub().gtU().if(); leave(2 + k); c.end();
    c.get(LIN).const(0).load(S.DS_BASE).add().set(LIN);
    c.get(LIN).const(12).shrU().const(2).shl().load(TLB).tee(E);
    c.const(need).and().const(need).ne();
    c.get(LIN).const(3).and().or();
    if (write) c.get(E).const(12).shrU().load8u(CODE_PAGES).or();
    c.if(); leave(2 + k); c.end();
    c.get(E).const(-4096).and().get(LIN).const(0xfff).and().or();
    if (write) { get(0); c.store(RAM); } else { c.load(RAM).set(RES); setFrom(0, RES); }
  });
  // dec ecx: CF stays (fixed into EFLAGS from the lazy record first, as Cpu.setLazy does;
  // the record here is always an ADD's), then the DEC's own record.
  c.const(0).load(S.LMASK).const(CF).and().if()
    .const(0).const(0).load(S.FLAGS).const(~CF).and()
    .const(0).load(S.LRES).const(0).load(S.LDST).ltU().or()
    .store(S.FLAGS).end();
  get(1); c.tee(A).const(1).sub().set(RES); setFrom(1, RES);
  stConst(S.LMASK, ARITH & ~CF); stConst(S.LOP, DEC); stLocal(S.LDST, A); stConst(S.LSRC, 1); stLocal(S.LRES, RES); stConst(S.LSIZE, 4);
  // jnz: taken leaves the block at its start (as a tier-2 block leaves at a taken Jcc).
  c.get(RES).if(); stConst(S.EIP, start); leave(1); c.end();
  stConst(S.EIP, next); leave(0);
  return { code: c, nLocals: 13 };
}

/** Guest state for the workloads: flat DS, the first 8 MiB identity-mapped, RAM zeroed. */
export class WasmGuest {
  readonly memory = new WebAssembly.Memory({ initial: PAGES, maximum: PAGES });
  readonly i32 = new Int32Array(this.memory.buffer);
  constructor() {
    const w = (off: number, v: number): void => { this.i32[off >>> 2] = v; };
    w(S.DS_BASE, 0); w(S.DS_RHI, -1); w(S.DS_WHI, -1); w(S.FLAGS, 2);
    for (let p = 0; p < RAM_BYTES >>> 12; p++) this.i32[(TLB >>> 2) + p] = (p << 12) | TLB_VALID | TLB_RAM | TLB_DIRTY | TLB_SUP_W;
  }
  reg(r: number): number { return this.i32[(S.R >>> 2) + r]; }
  setReg(r: number, v: number): void { this.i32[(S.R >>> 2) + r] = v; }
  ram32(addr: number): number { return this.i32[(RAM + addr) >>> 2]; }
}

/** A compiled block: `emitNs` writing its bytes here, `compileNs` V8 compiling and instantiating them. */
export interface WasmBlock { run: () => number; instructions: number; emitNs: number; compileNs: number }

/** Compile one block (a module of its own, as a JIT compiling blocks one at a time would). */
export function compileBlock(g: WasmGuest, body: GuestOp[], start: number, next: number, locals: boolean, liveFlags: boolean): WasmBlock {
  const t0 = process.hrtime.bigint();
  const { code, nLocals } = blockCode(body, start, next, locals, liveFlags);
  const bytes = moduleOf(code, 0, nLocals, { pages: PAGES, shared: false });
  const t1 = process.hrtime.bigint();
  const mod = new WebAssembly.Module(bytes);
  const inst = new WebAssembly.Instance(mod, { e: { m: g.memory } });
  const run = inst.exports.f as () => number;
  return { run, instructions: body.length + 2, emitNs: Number(t1 - t0), compileNs: Number(process.hrtime.bigint() - t1) };
}

/**
 * Run blocks in order, each `iterations` times (ECX), as the run loop would: call the block,
 * count its instructions, look at a stop flag and the slice end, enter it again while its
 * jump is taken. Returns the instructions run (the MOV ECX before each block counted too).
 */
export function runBlocks(g: WasmGuest, blocks: WasmBlock[], iterations: number): number {
  let instructions = 0;
  const stop = new Int32Array(1);
  for (const b of blocks) {
    g.setReg(1, iterations); instructions++;
    for (;;) {
      const r = b.run();
      if (r >= 2) throw new Error(`wasm experiment: the slow path was needed at instruction ${r - 2}`);
      instructions += b.instructions;
      if (r === 0 || stop[0] !== 0 || instructions > 1e12) break;
    }
  }
  return instructions;
}

/** The x86 encoding of a body (for the machine model's run of the same workload). */
export function encode(body: GuestOp[]): number[] {
  const out: number[] = [];
  for (const g of body) {
    if (g.kind === "add") out.push(0x01, 0xc0 | (g.s << 3) | g.d);
    else out.push(g.kind === "load" ? 0x8b : 0x89, 0x46, g.d);
  }
  return out;
}
