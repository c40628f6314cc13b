// The block compiler (docs/jit.md): straight runs of decoded instructions become one
// generated JavaScript function that calls each instruction's handler in turn: the same
// handlers the interpreter calls, so an instruction has one definition. What compiling
// removes is the interpreter's per-instruction work: the fetch, the decoded-instruction
// cache lookup and the megamorphic `ins.handler(cpu, ins)` dispatch. In a generated block
// every call site has exactly one target, which V8 inlines once the block is hot.
//
// A block starts at an instruction the interpreter found hot, lies in one page, and ends
// after the first instruction that is not `straight` in the opcode table (one that can
// branch, change CS, CPL, paging, the TLB, EFLAGS.IF/TF, or do I/O), at the page end, or
// at MAX_INSTRUCTIONS. Between instructions it performs exactly the interpreter's checks.

import type { Cpu } from "../cpu.js";
import { decode, decode64 } from "../decoder.js";
import { PageBytes, PAGE_END } from "../page-bytes.js";
import type { Instr } from "../instr.js";
import type { OpDef } from "../opcode-table.js";
import { alu, decOp, incOp } from "../exec/alu.js";
import { shiftOp } from "../exec/shift.js";
import { sx16, sx8 } from "../exec/data.js";
import { jumpNear } from "../exec/control.js";
import { aluOp, incdecOp } from "../exec64/alu.js";
import { lower, prologue } from "./lower.js";
import { NATIVE_RING1 } from "../../mem/physical-memory.js";
import { formGoesOn } from "../../mem/native-targets.js";
import { SegReg } from "../segment.js";
import type { CpuSlot } from "../../mem/physical-memory.js";
import { ioDirect, WasmTier } from "./wasm-block.js";
import type { ModuleCompiler } from "./module-compiler.js";
import { DOUBLE_FIELD } from "../../double-field.js";

/**
 * A block: its instructions in order, what the run loop needs to run them without fetching
 * (tier 1, cpu.ts `runBlock`), and, once it is hot, the generated function (tier 2).
 */
export class CompiledBlock {
  /** Tier 2: runs the block from the current EIP (its first instruction); null until hot. */
  fn: ((cpu: Cpu) => void) | null = null;
  /** The index of the WebAssembly tier's function for it (wasm-block.ts) in the tier's table, or -1: run through `BlockCompiler.wasm`. */
  wasm = -1;
  /** Times tier 1 ran it. */
  runs = 0;
  /**
   * Of those runs (from its first instruction), the ones that left it at a jump taken before
   * its last instruction, and the latest instruction such a jump was (-1: none): a loop's
   * back edge inside the block, which a WebAssembly function covering only the part before
   * an instruction it cannot compile still finishes in (wasm-block.ts, MIN_PARTIAL).
   */
  leftEarly = 0;
  leftAt = -1;
  /**
   * Chaining (docs/jit.md, "Chaining"): the blocks entered right after this one, at most two
   * (a block can leave at a taken Jcc and at its end), each valid while the CPU's
   * `codeEpoch`, EIP, CS base and CPL are what they were when it was linked.
   */
  // EIPs and CS bases are doubles from the start (double-field.ts).
  next0: CompiledBlock | null = null;
  next0Eip = DOUBLE_FIELD;
  next0Base = DOUBLE_FIELD;
  next0Cpl = 0;
  next0Epoch = -1;
  next1: CompiledBlock | null = null;
  next1Eip = DOUBLE_FIELD;
  next1Base = DOUBLE_FIELD;
  next1Cpl = 0;
  next1Epoch = -1;
  /** The first instruction is 32-bit code (CS.D = 1), not 64-bit: chained only while CS.D says so. */
  readonly code32: boolean;
  /** 64-bit code (IA-32e mode, CS.L = 1): chained only in 64-bit mode, and without a CS limit. */
  readonly code64: boolean;
  /** Guest instructions in the block: it is entered only if the slice has room for all. */
  readonly count: number;
  /** Bytes from the first instruction to the end of the last (the CS limit check). */
  readonly bytes: number;
  /** The first instruction's offset in its page (tier 1's EIPs: Instr.pageEnd). */
  readonly pageStart: number;
  /** It ends in an instruction that returns to interrupted code (IRET: OpDef.resumes), where no chain link leads. */
  readonly resumes: boolean;
  constructor(
    /** Its instructions, each with its Check and page offset set (Instr.check, Instr.pageEnd). */
    readonly instrs: Instr[],
    /** The cache generation it belongs to (a flush of the whole cache bumps it). */
    readonly generation: number,
  ) {
    this.pageStart = instrs[0].phys & 0xfff;
    this.code32 = instrs[0].code32 && !instrs[0].code64;
    this.code64 = instrs[0].code64;
    // Fields, not getters: the run loop reads both before entering every block, and a getter
    // through the arrays was a quarter of its own time (dependent loads of cold objects).
    this.count = instrs.length;
    this.bytes = this.end(instrs.length - 1);
    const last = instrs[instrs.length - 1];
    // (A native entry has no opcode row; nor has an Instr made outside the decoder.)
    this.resumes = !last.native && (last.def as OpDef | undefined)?.resumes === true;
  }

  /** Offset from the first instruction's start to the start of instruction k. */
  start(k: number): number {
    return this.end(k) - this.instrs[k].len;
  }

  /** Offset from the first instruction's start to the end of instruction k (a block lies in one page). */
  end(k: number): number {
    return this.instrs[k].pageEnd - this.pageStart;
  }
}

/** What tier 1 (cpu.ts `runBlock`) does around an instruction of a block. */
export const enum Check {
  /** Quiet: nothing after it (it changes only registers and flags). */
  NONE = 0,
  /** The run loop's between-instruction checks after it. */
  AFTER = 1,
}

/** The counters `--stats` prints under `jit.` (docs/jit.md). */
export interface JitStats {
  compiled: number;
  /** Blocks hot enough to become generated JavaScript (tier 2). */
  generated: number;
  invalidated: number;
  evicted: number;
  /** Host milliseconds spent generating code. */
  compileMs: number;
  /** Guest instructions retired inside compiled blocks. */
  instructions: number;
  /** Instructions a compiled block contains, summed over blocks compiled. */
  compiledInstructions: number;
  /** Blocks entered straight from the block before them (a chain link), without a fetch. */
  chained: number;
  /** Runs resumed inside a block (after a slice's end, an IRET, an exit) that ran the rest of the block holding the instruction (cpu.ts runSlice). */
  resumed: number;
  /** Instructions tier 2 lowered to inline operand code (lower.ts), summed over generated blocks. */
  lowered: number;
  /** Blocks compiled to WebAssembly (wasm-block.ts), and the instructions those functions cover. */
  wasm: number;
  wasmCovered: number;
  /** Guest instructions retired inside WebAssembly functions. */
  wasmInstructions: number;
  /** Runs of the WebAssembly tier's run loop, and the blocks they entered after their first (without leaving WebAssembly). */
  wasmRuns: number;
  wasmChained: number;
  /** Region functions (a loop's blocks in one function), and the blocks they hold. */
  wasmRegions: number;
  wasmRegionMembers: number;
  /** WebAssembly modules made (a batch of blocks each), and those compiled on another thread (JitOptions.compiler). */
  wasmModules: number;
  wasmModulesOffThread: number;
  /** Blocks whose module was compiled on another thread but that a code write or an eviction dropped first (not installed). */
  wasmDroppedCompiling: number;
}

/** When blocks are made and how many are kept (docs/jit.md; the defaults are measured there). */
export interface JitOptions {
  /** Interpreted executions of an instruction before a block is built from it (tier 1). */
  hot?: number;
  /** Tier-1 runs of a block before it becomes generated JavaScript (tier 2). */
  generate?: number;
  /**
   * Tier-1 runs of a block before it is compiled to WebAssembly (0: never). A block the
   * WebAssembly tier does not take stays at tier 1 until `generate`.
   */
  wasm?: number;
  /** Blocks the WebAssembly tier compiles together, in one module (1: each at once). */
  wasmBatch?: number;
  /** Live blocks before the whole cache is dropped (bounded memory). */
  cacheBlocks?: number;
  /**
   * Where the WebAssembly tier's modules are compiled: by default at once, on the thread
   * that runs the guest; a host with threads may pass one that compiles them on another
   * (module-compiler.ts; the CLI's worker).
   */
  compiler?: ModuleCompiler | null;
}

/**
 * `wasm`: 300 runs (1,000 until the twelfth session). Measured by the host instructions of
 * the Linux boot under cachegrind, which the machine's load does not move (docs/jit.md,
 * "Where it stands", twelfth session): against 1,000, bare -8 % at 250 and -10 % at 120,
 * trap -3.5 % at 300 and -2 % at 120, bt -0.7 % at 300 but +3 % at 120.
 */
export const JIT_DEFAULTS: Required<JitOptions> = { hot: 24, generate: 50_000, wasm: 300, wasmBatch: 16, cacheBlocks: 32_768, compiler: null };
/** The longest block, in instructions. */
const MAX_INSTRUCTIONS = 48;

/** The semantic functions lowered code calls (lower.ts), by the names it uses. */
const HELPER_NAMES = ["alu", "incOp", "decOp", "jumpNear", "shiftOp", "sx8", "sx16", "aluOp", "incdecOp"] as const;
const HELPERS: unknown[] = [alu, incOp, decOp, jumpNear, shiftOp, sx8, sx16, aluOp, incdecOp];

export class BlockCompiler {
  readonly stats: JitStats = {
    compiled: 0, generated: 0, invalidated: 0, evicted: 0, compileMs: DOUBLE_FIELD, instructions: DOUBLE_FIELD, compiledInstructions: 0, chained: 0, resumed: 0, lowered: 0,
    wasm: 0, wasmCovered: 0, wasmInstructions: DOUBLE_FIELD, wasmRuns: 0, wasmChained: 0, wasmRegions: 0, wasmRegionMembers: 0,
    wasmModules: 0, wasmModulesOffThread: 0, wasmDroppedCompiling: 0,
  };
  /** Blocks compiled from each physical page: what a write into the page may drop. */
  private readonly perPage = new Map<number, CompiledBlock[]>();
  private live = 0;
  generation = 0;
  private readonly bytes = new PageBytes();

  /** JitOptions, resolved (the run loop reads `hot` and `generateAt` for every block). */
  readonly hot: number;
  readonly generateAt: number;
  /** Tier-1 runs before the WebAssembly tier compiles a block (-1: never; no CPU area), and before it compiles a batch not yet full. */
  readonly wasmAt: number;
  readonly wasmFlushAt: number;
  readonly cacheBlocks: number;
  /** The WebAssembly tier, if this CPU has an area in a WebAssembly memory. */
  readonly wasm: WasmTier | null;

  constructor(cpu: Cpu, opts: JitOptions = {}, slot: CpuSlot | null = null) {
    this.bytes.cpu = cpu;
    // Counters declared as doubles (double-field.ts: a long run passes 2^31) start at 0.
    this.stats.compileMs = 0; this.stats.instructions = 0; this.stats.wasmInstructions = 0;
    this.hot = Math.max(1, opts.hot ?? JIT_DEFAULTS.hot);
    this.generateAt = Math.max(1, opts.generate ?? JIT_DEFAULTS.generate);
    const wasm = opts.wasm ?? JIT_DEFAULTS.wasm;
    this.wasmAt = slot === null || wasm <= 0 ? -1 : wasm;
    this.wasmFlushAt = this.wasmAt < 0 ? -1 : this.wasmAt + (this.wasmAt >> 2);
    this.wasm = this.wasmAt > 0 ? new WasmTier(slot!, this.stats, Math.max(1, opts.wasmBatch ?? JIT_DEFAULTS.wasmBatch), (b) => this.holds(b),
      cpu.mem, () => cpu.paging, () => cpu.segs, () => ioDirect(cpu), opts.compiler ?? null) : null;
    this.cacheBlocks = Math.max(1, opts.cacheBlocks ?? JIT_DEFAULTS.cacheBlocks);
  }

  /** A code page was written or dropped: its blocks go with its decoded instructions. */
  pageInvalidated(page: number): void {
    const list = this.perPage.get(page);
    if (list === undefined) return;
    this.perPage.delete(page);
    // Not held any more (holds): a block queued for the WebAssembly tier, or being compiled
    // there, is not installed after its page's code is gone.
    for (const b of list) if (b.instrs[0].block === b) b.instrs[0].block = null;
    if (this.wasm !== null) for (const b of list) this.wasm.dropped(b);
    this.stats.invalidated += list.length;
    this.live -= list.length;
  }

  /**
   * Bytes [off, end) of `page` were written and its code there dropped: so are the blocks
   * made from them (the Instr that starts one forgets it and may compile it again).
   */
  rangeWritten(page: number, off: number, end: number): void {
    const list = this.perPage.get(page);
    if (list === undefined) return;
    let kept = 0;
    for (let k = 0; k < list.length; k++) {
      const b = list[k], first = b.instrs[0], start = first.phys & 0xfff;
      if (start < end && start + b.bytes > off) {
        if (first.block === b) { first.block = null; first.hits = 0; }
        this.wasm?.dropped(b);
        continue;
      }
      list[kept++] = b;
    }
    const dropped = list.length - kept;
    list.length = kept;
    this.stats.invalidated += dropped;
    this.live -= dropped;
  }

  /**
   * Compile the block starting with `first` (decoded at EIP `eip`, cached at `first.phys`).
   * Returns null for code the compiler leaves to the interpreter (16-bit code, a native
   * entry without a form). A block may start at a native entry with a form, which the
   * WebAssembly tier runs (a translator's helper: Linux's boot under bt enters WebAssembly
   * from JavaScript 1.39 M times instead of 2.03 M with them, 73.4 G host instructions
   * instead of 76.0 G, cachegrind, 2026-12-07; the day before, blocks of one such entry
   * alone, with no form for port I/O, had measured 12.1 → 15.4 s by wall clock).
   */
  compile(first: Instr, eip: number): CompiledBlock | null {
    if ((!first.code32 && !first.code64) || (first.native && first.nativeForm === null)) return null;
    const t0 = performance.now();
    if (this.live >= this.cacheBlocks) this.evictAll();
    const instrs = this.collect(first, eip);
    const block = this.build(instrs);
    // A write to any of its bytes drops it (with its page): instructions decoded here,
    // not through the cache, are covered too.
    this.bytes.cpu.markCode(first.phys, block.bytes);
    const page = first.phys >>> 12;
    const list = this.perPage.get(page);
    if (list === undefined) this.perPage.set(page, [block]);
    else list.push(block);
    this.live++;
    this.stats.compiled++;
    this.stats.compiledInstructions += instrs.length;
    this.stats.compileMs += performance.now() - t0;
    return block;
  }

  /** Drop every block: bumping the generation makes the run loop ignore them. */
  evictAll(): void {
    this.stats.evicted += this.live;
    this.live = 0;
    this.perPage.clear();
    this.generation++;
    this.wasm?.clear();
  }

  /** The block's instructions: `first`, then straight-line successors inside the page. */
  private collect(first: Instr, eip: number): Instr[] {
    const out = [first];
    const src = this.bytes;
    src.pageBase = first.phys & ~0xfff;
    src.eip0 = eip;
    src.pageOff = first.phys & 0xfff;
    let off = first.len;
    let last = first;
    const mem = src.cpu.mem;
    while (out.length < MAX_INSTRUCTIONS && this.continuesAfter(last) && src.pageOff + off < 4096) {
      // A CPL-1 native entry (a translator's helper) runs the helper, not the bytes under it,
      // as a fetch at CPL 1 would. One that may transfer control ends the block; one whose
      // form goes on after it when done (PUSHF, CLI, port I/O: formGoesOn) does not, as
      // these follow each other in translated code (Linux's I/O delay after an IN or OUT;
      // PUSHF, then CLI). Compiled at another CPL, the block ends before it.
      if ((mem.nativePages[first.phys >>> 12] & NATIVE_RING1) !== 0 && mem.nativeRing1At(first.phys + off) !== undefined) {
        const native = src.cpu.cpl === 1 ? src.cpu.ring1Native((src.cpu.segs[SegReg.CS].base + eip + off) | 0, first.phys + off) : undefined;
        if (native === undefined) break;
        out.push(native);
        off += native.len;
        last = native;
        continue;
      }
      // The interpreter has usually decoded the instruction already (it ran it on the way
      // to the block's start getting hot): share that Instr rather than decode a copy.
      let ins = src.cpu.cachedInstr(first.phys + off);
      if (ins === undefined || ins.code32 !== first.code32 || ins.code64 !== first.code64) {
        try {
          ins = first.code64 ? decode64(src, eip + off) : decode(src, eip + off, first.code32);
        } catch (e) {
          if (e === PAGE_END) break;
          throw e;
        }
        ins.phys = first.phys + off;
      }
      out.push(ins);
      off += ins.len;
      last = ins;
    }
    return out;
  }

  /** Whether a block may go on after `ins` (docs/jit.md, "What ends a block"). */
  private continuesAfter(ins: Instr): boolean {
    // A REP string instruction stops part-way at interrupts and the slice end (EIP rewound);
    // after a Jcc the block goes on along the fall-through path.
    if (ins.native) return formGoesOn(ins.nativeForm);
    return ins.def.straight === true && ins.rep === 0;
  }

  /** Tier 1: the block as arrays the run loop walks. */
  private build(instrs: Instr[]): CompiledBlock {
    const n = instrs.length;
    for (let k = 0; k < n; k++) {
      const ins = instrs[k];
      // A register-only instruction changes nothing the loop looks at between instructions;
      // a memory access can reach a device (an interrupt, a shorter slice, a stop) or
      // rewrite this block's own code.
      // (A translator's native helper, which only ends a block, has no opcode-table entry.)
      // (The same for every block holding the Instr: a function of the Instr alone.)
      if (ins.pageEnd === 0) {
        ins.check = ins.native || ins.hasMem || ins.def.quiet !== true ? Check.AFTER : Check.NONE;
        ins.pageEnd = (ins.phys & 0xfff) + ins.len;
      }
    }
    const block = new CompiledBlock(instrs, this.generation);
    for (let k = 1; k < n; k++) {
      const ins = instrs[k], o = ins.owner;
      if (o === null || !this.holds(o)) { ins.owner = block; ins.ownerIndex = k; }
    }
    return block;
  }

  /** Whether `blk` is still in the cache (not evicted with its generation, not dropped by a code write). */
  holds(blk: CompiledBlock): boolean {
    return blk.generation === this.generation && blk.instrs[0].block === blk;
  }

  /**
   * Tier 2: one generated function for a hot block (docs/jit.md, "Tier 2" and "Lowering").
   * An instruction the opcode table lowers becomes inline operand code around its semantic
   * function (lower.ts); any other calls its handler, whose call site has one target that
   * V8 can inline. The bookkeeping is the interpreter's where anything can observe it:
   * before an instruction that can fault or reach a device, `instrEip`, `eip` and the
   * instruction count are what the interpreter has there; register-only lowered
   * instructions are counted in batches, and the checks are the ones tier 1 makes.
   */
  generate(block: CompiledBlock): void {
    if (block.runs === this.wasmAt && this.generateWasm(block)) return;
    // A block queued for WebAssembly that keeps running before its batch fills (a hot loop of
    // few blocks): compile what is queued now.
    if (block.runs === this.wasmFlushAt) this.wasm?.flush();
    if (block.runs !== this.generateAt) return;
    const t0 = performance.now();
    const params: string[] = [...HELPER_NAMES];
    const args: unknown[] = [...HELPERS];
    const body: string[] = [];
    const n = block.count;
    const checks = "cpu.codeEpoch !== ep || cpu.stopReason !== 0 || cpu.instructions >= cpu.sliceEnd || " +
      "((cpu.intrLine || cpu.nmiPending) && !cpu.inhibitIrq && (cpu.nmiPending || (cpu.flags & cpu.irqEnableMask) !== 0 || cpu.guest !== null))";
    // Instructions run since `cpu.instructions` was last brought up to date.
    let pending = 0;
    const flush = (): void => {
      if (pending !== 0) body.push(`cpu.instructions += ${pending};`);
      pending = 0;
    };
    // Whether the last instruction was a handler call (which may set inhibitIrq, e.g. MOV SS).
    let afterCall = false;
    let lowered = 0;
    for (let k = 0; k < n; k++) {
      const ins = block.instrs[k];
      const at = k === 0 ? "e0" : `e0 + ${block.end(k - 1)}`;
      const next = `e0 + ${block.end(k)}`;
      const last = k === n - 1;
      const low = ins.native ? null : lower(ins, `i${k}`);
      // A 64-bit memory operand falls back to the instruction's handler (lower64.ts).
      if (low !== null && (low.code.includes(`i${k}.`) || low.taken !== undefined)) { params.push(`i${k}`); args.push(ins); }
      if (low === null) {
        flush();
        params.push(`h${k}`, `i${k}`);
        args.push(ins.handler, ins);
        body.push(`cpu.instrEip = ${at}; cpu.eip = ${next}; cpu.inhibitIrq = false; h${k}(cpu, i${k}); if (cpu.faultSignalled) return; cpu.instructions++;`);
        if (!last && ins.check !== Check.NONE) body.push(`if (cpu.eip !== ${next} || ${checks}) return;`);
        afterCall = true;
        continue;
      }
      lowered++;
      if (afterCall) body.push("cpu.inhibitIrq = false;");
      afterCall = false;
      if (low.branch) {
        // Taken: as the interpreter, with EIP at the next instruction and the Jcc counted after.
        flush();
        body.push(`if (${low.code}) { cpu.instrEip = ${at}; cpu.eip = ${next}; ${low.taken ?? `jumpNear(cpu, ${next} + ${low.disp}, ${low.opsize32});`} cpu.instructions++; return; }`);
        pending = 1;
        if (last) { flush(); body.push(`cpu.eip = ${next};`); }
        continue;
      }
      if (low.mem) {
        flush();
        body.push(`cpu.instrEip = ${at}; cpu.eip = ${next}; ${low.code} cpu.instructions++;`);
        if (!last) body.push(`if (${checks}) return;`);
      } else {
        body.push(low.code);
        pending++;
        if (last) { flush(); body.push(`cpu.eip = ${next};`); }
      }
    }
    flush();
    const code = body.join("\n");
    const src = `return function block(cpu) {\nconst e0 = cpu.eip, ep = cpu.codeEpoch, r = cpu.regs; ${prologue(code)}\n${code}\n};`;
    const make = new Function(...params, src) as (...a: unknown[]) => (cpu: Cpu) => void;
    block.fn = make(...args);
    this.stats.generated++;
    this.stats.lowered += lowered;
    this.stats.compileMs += performance.now() - t0;
  }

  /** The WebAssembly tier (wasm-block.ts): true if the block is queued to be compiled there. */
  private generateWasm(block: CompiledBlock): boolean {
    const t0 = performance.now();
    const queued = this.wasm!.enqueue(block);
    this.stats.compileMs += performance.now() - t0;
    return queued;
  }
}
