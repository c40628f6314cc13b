// The block compiler's WebAssembly tier (docs/jit.md, "The WebAssembly tier"): a block of
// 32-bit protected-mode code with paging on becomes one WebAssembly function over the guest
// state in the memory's WebAssembly.Memory (PhysicalMemory.wasm): the registers and the TLB
// in the CPU's area, RAM at offset 0, codePages after it.
//
// The function runs the block's instructions from the start for as long as each one can be
// done here without help: a lowered form (the opcode table's `lower`, as jit/lower.ts) whose
// memory access is RAM through a TLB entry with the rights it needs, inside one page
// (aligned, or misaligned where no #AC can follow), and for a write to a page holding no
// decoded code. For the first instruction that cannot, it returns its
// index before changing anything, and tier 1 (Cpu.runBlock) runs the rest of the block from
// there, so every fault, device access, code write and check between instructions happens
// exactly as the interpreter makes it. Nothing inside can raise an interrupt, reach a device
// or change what a fetch returns, so no check is needed between the instructions it runs;
// but for port I/O, always a block's last instruction, done through an import at its exact
// guest time (WasmTier.portIo), after which the run leaves if the access asks the run loop to
// look (docs/jit.md, "Port I/O in WebAssembly").
//
// One definition: the flags a condition, ADC or SBB reads come from flag-semantics.ts, the
// expressions the interpreter's lazy flags are generated from, with the producing operation
// and size known here. The block leaves its last lazy records in the context area and the
// run loop replays them through Cpu.setLazy, so the lazy-flag state after it is the
// interpreter's. What each instruction does to its operands is the lowering's, read from the
// same opcode-table facts.

import type { Cpu } from "../cpu.js";
import type { Instr } from "../instr.js";
import type { CpuSlot } from "../../mem/physical-memory.js";
import { CPU_SLOT, NATIVE_RING0 } from "../../mem/physical-memory.js";
import { formGoesOn, NATIVE_TARGET_SLOTS, TARGET_HEADER, TARGET_VALS, TargetHeader, type NativeForm } from "../../mem/native-targets.js";
import { CONDITION_OF_FLAGS, FLAG_BIT, FLAG_OF_RECORD, LAZY_OPS, type Expr, type Flag, type Leaf } from "../flag-semantics.js";
import * as F from "../eflags.js";
import { Rep } from "../instr.js";
import { TLB_DIRTY, TLB_NOEXEC, TLB_RAM, TLB_SUP_W, TLB_USER, TLB_USER_W, TLB_VALID } from "../tlb-bits.js";
import { SegReg } from "../segment.js";
import { CR4_TSD } from "../control-regs.js";
import type { CompiledBlock, JitStats } from "./block-compiler.js";
import type { Lowering } from "../opcode-table.js";
import { Code, dispatcherModule, memoryImport, moduleOfFunctions, type Body } from "./wasm-writer.js";
import type { ModuleCompiler } from "./module-compiler.js";
import { ioPrivileged, ioSize, portAccess } from "../exec/io.js";
import { StopReason } from "../fault.js";

/** The context area (Int32Array indices in CpuSlot.ctx): what the run loop passes and gets back. */
const enum Ctx {
  /** TLB bits a read and a write need at the CPL (as lower.ts `needR`, `needW`). */
  NEED_R = 0, NEED_W = 1,
  /** Segment bases, ES…GS (SegReg order). */
  SEG_BASE = 2,
  /** EIP after a block that ran to its end or a taken Jcc. */
  EIP = 8,
  /**
   * Segments expand-up from 0 for reads (bit s) and writes (bit 8 + s), with their upper
   * bounds below (the lower bound of a data segment's limit check is then 0); SS.B
   * (FLAT_STACK); the mode.
   */
  FLAT = 9,
  /** TLB bits an instruction fetch needs at the CPL. */
  NEED_X = 10,
  /** Instructions the run may retire (the slice's room), and those it retired. */
  BUDGET = 11, TOTAL = 12,
  /** The block the run ended in: its table index and the EIP it was entered at. */
  CUR = 13, E0 = 14,
  /** Which lazy records the run left: 0 none, 1 REC1, 2 REC0 then REC1 (replayed in that order). */
  REPLAY = 15,
  /** Blocks the run loop entered after the first. */
  CHAINED = 7,
  /** Two lazy records (op, d, s, r, cin, size): the carrier of CF under an INC/DEC, and the last. */
  REC0 = 16, REC1 = 24,
  /** Each segment's highest offset a read, a write may touch (SegmentCache.readHi, writeHi); CS's limit. */
  READ_HI = 32, WRITE_HI = 38, CS_LIMIT = 44,
  /** The six arithmetic flags in their EFLAGS bits, when the run left them so (REPLAY_EAGER). */
  EAGER = 45,
  /** The flags when the run began: Cpu.flags, Cpu.lazyMask, and the lazy record (op, d, s, r, cin, size). */
  ENTRY_FLAGS = 46, ENTRY_MASK = 47, ENTRY_REC = 48,
  /** The time-stamp counter when the run began (a little-endian 64-bit integer): Cpu.readTsc(). */
  TSC = 54,
  /** Set by the `io` import after a bus cycle when the run must leave after the instruction (WasmTier.portIo). */
  IO = 56,
  /** Set by a block's INVLPG: WasmTier.run does the rest of Cpu.invalidatePage after the run (Cpu.translationDropped). */
  TLB_DROPPED = 57,
  /**
   * The links' generation (the dispatcher's links are valid in it): changed by a run that
   * begins with another code epoch (dropped code changes it too), CS base or limit, fetch
   * rights or paging mode than the run before it, and by the cache cleared (its table
   * indexes are reused).
   */
  LINK_GEN = 30,
}
/**
 * What the run changed in the flags (Ctx.REPLAY), replayed in this order: the six flags
 * (EAGER), a record (REC0), a record (REC1: under an INC/DEC, CF comes from what is before it).
 */
const REPLAY_REC1 = 1, REPLAY_REC0 = 2, REPLAY_EAGER = 4;
const FLAT_STACK = 1 << 16;
/**
 * PUSHF pushes EFLAGS without a check or an exit: no strict CPU's #GP above CPL 0, no
 * hardware-assisted guest (an SVM intercept). (V86 mode's IOPL check does not arise: the
 * tier runs 32-bit code only.)
 */
const FLAT_PUSHF = 1 << 17;
/**
 * How linear addresses become physical: through the 32-bit TLB (paging on), or directly
 * (paging off, A20 on, not IA-32e mode, no nested paging), with writes allowed directly while
 * no page is watched. A block is compiled for one of the two; Ctx.FLAT says which holds.
 */
const FLAT_PAGED = 1 << 18, FLAT_DIRECT = 1 << 19, FLAT_DIRECT_W = 1 << 20;
/** EFLAGS.DF is clear (string instructions step up). */
const FLAT_UP = 1 << 21;
/** RDTSC reads the TSC with no check and no exit (CR4.TSD allows it, no monitor intercepts it). */
const FLAT_TSC = 1 << 22;
/**
 * IN and OUT go to the bus without a check or an exit: I/O allowed at the CPL without the
 * TSS bitmap (ioPermitted's first two cases), no monitor or hypervisor to intercept them.
 */
const FLAT_IO = 1 << 14;
/** CPL 1, with the native entries' look-up table brought up to date (native-targets.ts). */
const FLAT_CPL1 = 1 << 23;
/** INVLPG needs no check and no exit: CPL 0, no monitor or hypervisor to intercept it. */
const FLAT_INVLPG = 1 << 15;
/**
 * Segment s is flat (bit 24 + s): base 0, reads and writes allowed from offset 0 up to one
 * limit. A function compiled for it adds no base and compares with its limit as a constant
 * (the limit itself is checked at the function's start); at 4 GiB it compares nothing, as an
 * aligned access cannot wrap.
 */
const FLAT_SEG = 24;
/**
 * A misaligned access inside one page takes the fast path: no #AC can follow from it (CPL
 * below 3, or CR0.AM or EFLAGS.AC clear: Cpu.alignmentChecked). 156 k of the Linux boot's
 * stops mid-block were a misaligned MOV on the kernel's stack or its data.
 */
const FLAT_UNALIGNED = 1 << 30;
/**
 * IN and OUT need no check and no exit (FLAT_IO): ioPermitted asks no bitmap (real mode, or
 * CPL <= IOPL outside V86 mode) and no monitor or hypervisor may intercept them.
 */
export function ioDirect(cpu: Cpu): boolean {
  return cpu.guest === null && !cpu.nonRoot && ioPrivileged(cpu);
}
/** The segment registers' state a block is compiled for. */
type SegState = readonly { base: number; readLo: number; readHi: number; writeLo: number; writeHi: number }[];
/** The FLAT_SEG bits of the segments `segs` (SegReg order). */
export function flatBits(segs: SegState): number {
  let bits = 0;
  for (let s = 0; s < 6; s++) {
    const sc = segs[s];
    if (sc.base === 0 && sc.readLo === 0 && sc.writeLo === 0 && sc.readHi === sc.writeHi) bits |= 1 << (FLAT_SEG + s);
  }
  return bits;
}
/**
 * A block function's result: instructions done (bits 0–7), whether the run may go on from its
 * EIP in the context, and (a region) the member it left from (bits 10–15).
 */
const CONTINUE = 0x200, MEMBER_SHIFT = 10;
/**
 * The most blocks one region holds (docs/jit.md, "Regions"): measured on the bzImage path's
 * first 1 G instructions (the XZ decoder), six alternating runs each, 4 was faster than 8 in
 * every pair (about 8 %), with the run loop's hops almost the same (33.8 M against 32.7 M);
 * 16 was slower still (27.3 M hops, 15 % slower than 8). A bigger function costs more than
 * the hops it saves.
 */
const REGION_MEMBERS = 4;
/**
 * The block map (CpuSlot.blocks): 2^18 slots (physical address + 1, table index | instructions
 * << 20, bytes, 0), direct-mapped: a block compiled later into a slot takes it, and the one it
 * held is reached from JavaScript only. At 2^16 slots, hot blocks that shared a slot sent the
 * run loop back to JavaScript 135 k times on the Linux boot (11 % of its returns).
 */
const MAP_BITS = 18;
/** The fewest instructions a function that does not cover its whole block must cover (measured: docs/jit.md). */
const MIN_PARTIAL = 8;
/** The memory address of context entry k (Ctx) of the CPU owning `slot`. */
const ctxAddress = (slot: CpuSlot, k: number): number => slot.base + CPU_SLOT.CTX + 4 * k;
const mapSlot = (phys: number): number => Math.imul(phys, 0x9e3779b1 | 0) >>> (32 - MAP_BITS);
/** The dispatcher's links (CPU_SLOT.LINKS): 2^14 slots (EIP, generation, the map's second and third dwords, by a hash of the EIP). */
const LINK_BITS = 14;
const LAZY_ADD = 0, LAZY_SUB = 2, LAZY_ADC = 1, LAZY_SBB = 3, LAZY_INC = 5, LAZY_DEC = 6, LAZY_NEG = 7, LAZY_SHL = 8, LAZY_SHR = 9, LAZY_SAR = 10, LAZY_IMUL = 11;
/** LazyOp of each ALU operation (the /digit: ADD OR ADC SBB AND SUB XOR CMP). */
const LAZY_OF_ALU = [0, 4, 1, 3, 4, 2, 4, 2];
const MASK = [0, 0xff, 0xffff, 0, -1];
const FLAGS: readonly Flag[] = ["CF", "PF", "AF", "ZF", "SF", "OF"];
const isIncDec = (op: number): boolean => op === LAZY_INC || op === LAZY_DEC;

/** A block module's imported functions: the run loop module's `flags`, and WasmTier.portIo. */
const FLAGS_IMPORT = 0, IO_IMPORT = 1;
/** In the `io` import's first argument (port | size << 16): an OUT; through the native entries' owner (an "io" form). */
const IO_OUT = 1 << 20, IO_OWNER = 1 << 21;
/** With IO_OWNER: an "invlpg" form's call (the segment register in the low bits, the offset as the value). */
const IO_INVLPG = 1 << 22;
/** Ctx.IO after an "io" form's call of the import: the owner did nothing (its callout is left to run). */
const IO_REFUSED = 2;

// Locals: 0 is the parameter e0.
const NEED_R = 1, NEED_W = 2, A = 3, LIN = 4, E = 5, X = 6, V = 7, FIRST_FREE = 8;

/** A lazy record kept in locals while the block runs. */
interface Rec { op: number; size: number; d: number; s: number; r: number; cin: number }

/** An operand as this tier reads it. */
type Operand = { kind: "reg"; n: number; size: number } | { kind: "imm"; v: number; size: number } | { kind: "mem"; size: number };

function operandOf(i: Instr, spec: string): Operand | null {
  const v = i.opsize32 ? 4 : 2;
  switch (spec) {
    case "Eb": return i.hasMem ? { kind: "mem", size: 1 } : { kind: "reg", n: i.rm, size: 1 };
    case "Ew": return i.hasMem ? { kind: "mem", size: 2 } : { kind: "reg", n: i.rm, size: 2 };
    case "Ev": return i.hasMem ? { kind: "mem", size: v } : { kind: "reg", n: i.rm, size: v };
    case "Ob": return { kind: "mem", size: 1 };
    case "Ov": return { kind: "mem", size: v };
    case "Gb": return { kind: "reg", n: i.reg, size: 1 };
    case "Gv": return { kind: "reg", n: i.reg, size: v };
    case "AL": return { kind: "reg", n: 0, size: 1 };
    case "eAX": return { kind: "reg", n: 0, size: v };
    case "Zb": return { kind: "reg", n: i.opcode & 7, size: 1 };
    case "Zv": return { kind: "reg", n: i.opcode & 7, size: v };
    case "Ib": return { kind: "imm", v: i.imm & 0xff, size: 1 };
    // As the handlers mask them: a dword immediate signed, a word one masked.
    case "Iz": case "Ibs": return { kind: "imm", v: v === 4 ? i.imm | 0 : i.imm & 0xffff, size: v };
    default: return null;
  }
}

/** What a compiled block needs of the segments at entry (bit per SegReg). */
interface SegUse { read: number; write: number; stack: boolean; up: boolean; tsc: boolean; pushf: boolean; flat: number }

/** A block in a region: its offset from the region's first block (same page), its table index. */
interface Member { readonly block: CompiledBlock; readonly delta: number; readonly index: number }

/** The function's code for one block, and what its entry needs. */
class Emitter {
  locals = FIRST_FREE;
  rec: Rec | null = null;
  /** Under an INC/DEC record: where CF comes from (null: from before the block). */
  carrier: Rec | null = null;
  /**
   * The six flags in a local (EFLAGS bits): what they are when `rec` is null, and CF under an
   * INC/DEC record without a carrier. `eagerStored`: loaded from the context (Ctx.REPLAY
   * describes them already), not made here.
   */
  eager: number | null = null;
  eagerStored = false;
  readonly use: SegUse = { read: 0, write: 0, stack: false, up: false, tsc: false, pushf: false, flat: 0 };
  /** The Ctx.FLAT bits the code assumes (checked at its start). */
  get flatNeeded(): number {
    const u = this.use;
    const mode = this.direct ? FLAT_DIRECT | (u.write !== 0 ? FLAT_DIRECT_W : 0) : FLAT_PAGED;
    return (u.read & ~u.write) | (u.write << 8) | (u.stack ? FLAT_STACK : 0) | (u.up ? FLAT_UP : 0) | (u.tsc ? FLAT_TSC : 0) | (u.pushf ? FLAT_PUSHF : 0) | mode | u.flat;
  }
  /**
   * The segments' limits when the block is compiled, for those flat then (-1 for the others):
   * their accesses take the short path, and the function's start checks the limit is the same.
   */
  flatLimit: number[] = [-1, -1, -1, -1, -1, -1];
  /** The flat segments the code uses (bit s; every member of a region). */
  flatUsed = 0;
  /** A region's members (null: one block), the one being emitted, the local saying which one runs (the loop head's br_table). */
  region: readonly Member[] | null = null;
  member = 0;
  current = -1;
  /** 1 when every member may be entered in this run (set by the prologue: docs/jit.md, "Regions"). */
  enterable = -1;
  constructor(
    private readonly slot: CpuSlot,
    /** The block being emitted (a region's: each member in turn). */
    private block: CompiledBlock,
    /** Compiled for paging off (FLAT_DIRECT), with RAM's size and `notRam`'s offset. */
    private readonly direct: boolean,
    private readonly ramSize: number,
    private readonly notRam: number,
    /**
     * IN and OUT go to the bus (ioDirect when compiled): else the function stops before one,
     * as before any instruction it does not take (under a monitor they always trap).
     */
    readonly io: boolean,
    /** Where the function's code is written (emptied first: WasmTier's, one for every block). */
    readonly c: Code,
  ) {
    c.reset();
  }

  /** The memory address of context entry k. */
  ctx(k: number): number { return ctxAddress(this.slot, k); }
  /** The 32-bit TLB's address (Cpu.tlb). */
  get tlb(): number { return this.slot.base + CPU_SLOT.TLB; }
  private local(): number { return this.locals++; }

  // ---- Registers: each one the block uses lives in a local, loaded at its start and stored
  // back (those it writes) on the way out, at every exit (the epilogue). ----

  /** The function's result, set by every exit before it branches to the epilogue. */
  readonly result = this.local();
  /** The local of each general register (-1: not used). */
  readonly regLocal: number[] = Array<number>(8).fill(-1);
  /** Registers written (bit n). */
  written = 0;
  private reg(n: number): number {
    if (this.regLocal[n] < 0) this.regLocal[n] = this.local();
    return this.regLocal[n];
  }
  /** Push register n's value at `size` (byte registers AH…BH are byte 1 of EAX…EBX). */
  regGet(n: number, size: number, signed = false): void {
    const c = this.c;
    if (size === 4) { c.get(this.reg(n)); return; }
    if (size === 2) {
      c.get(this.reg(n));
      if (signed) c.const(16).shl().const(16).shrS(); else c.const(0xffff).and();
      return;
    }
    c.get(this.reg(n & 3));
    if (signed) c.const(n < 4 ? 24 : 16).shl().const(24).shrS();
    else { if (n >= 4) c.const(8).shrU(); c.const(0xff).and(); }
  }
  /** Store local `l` into register n at `size`. */
  regSet(n: number, size: number, l: number): void {
    const c = this.c;
    if (size === 4) { c.get(l).set(this.reg(n)); this.written |= 1 << n; return; }
    const r = size === 2 ? n : n & 3, at = this.reg(r);
    this.written |= 1 << r;
    const keep = size === 2 ? 0xffff0000 | 0 : n < 4 ? ~0xff : ~0xff00;
    c.get(at).const(keep).and().get(l);
    if (size === 2) c.const(0xffff).and();
    else { c.const(0xff).and(); if (n >= 4) c.const(8).shl(); }
    c.or().set(at);
  }

  /**
   * Leave before instruction k (nothing of it done); or after it, `taken` (EIP already in the
   * context) or at the block's natural end (`end`), from which the run may go on.
   */
  exit(k: number, taken = false, end = false, rel?: number): void {
    const c = this.c;
    const store = (at: number, r: Rec): void => {
      c.const(0).const(r.op).store(this.ctx(at));
      c.const(0).get(r.d).store(this.ctx(at + 1));
      c.const(0).get(r.s).store(this.ctx(at + 2));
      c.const(0).get(r.r).store(this.ctx(at + 3));
      c.const(0).get(r.cin).store(this.ctx(at + 4));
      c.const(0).const(r.size).store(this.ctx(at + 5));
    };
    // The flags this block made; without any, what the blocks before it left stays.
    const rec = this.rec, replay = (v: number): void => { c.const(0).const(v).store(this.ctx(Ctx.REPLAY)); };
    if (rec !== null) {
      if (!isIncDec(rec.op)) replay(REPLAY_REC1);
      else if (this.carrier !== null) { store(Ctx.REC0, this.carrier); replay(REPLAY_REC0 | REPLAY_REC1); }
      else if (this.eager !== null) { c.const(0).get(this.eager).store(this.ctx(Ctx.EAGER)); replay(REPLAY_EAGER | REPLAY_REC1); }
      else this.appendCarried();
      store(Ctx.REC1, rec);
    } else if (this.eager !== null && !this.eagerStored) {
      c.const(0).get(this.eager).store(this.ctx(Ctx.EAGER));
      replay(REPLAY_EAGER);
    }
    // Where the run goes on, when it is known here: to another block of the region, if the
    // run loop would enter it now.
    const to = end ? this.block.end(k - 1) : rel;
    if (to !== undefined && this.region !== null) this.transition(k, to);
    if (end) c.const(0).get(0).const(this.block.end(k - 1)).add().store(this.ctx(Ctx.EIP));
    c.const(k | (taken || end ? CONTINUE : 0) | (this.member << MEMBER_SHIFT)).set(this.result).br(c.open - 1);
  }

  /**
   * After `done` instructions of this member, the run goes on at `rel` from its EIP: if that
   * is a member's start and the run loop would enter that block now (every member may be
   * entered in this run, and the slice has room for all of it), count these instructions and
   * go there; else fall through to the exit. (A member the block map dropped drops the
   * region: WasmTier.dropped.)
   */
  private transition(done: number, rel: number): void {
    const region = this.region!, from = region[this.member];
    const t = region.findIndex((m) => m.delta === from.delta + rel);
    if (t < 0) return;
    const to = region[t], c = this.c, total = this.ctx(Ctx.TOTAL);
    c.get(this.enterable);
    c.const(0).load(total).const(done + to.block.count).add().const(0).load(this.ctx(Ctx.BUDGET)).leU().and();
    c.if();
    c.const(0).const(0).load(total).const(done).add().store(total);
    if (to.delta !== from.delta) c.get(0).const(to.delta - from.delta).add().set(0);
    // A later member's code follows the end of its own block, which encloses this one's: a
    // branch there goes straight to it. An earlier one (or this one again) is behind the
    // loop's head, whose br_table picks it by `current`.
    if (t > this.member) { c.br(c.open - 2 - region.length + t); } else { c.const(t).set(this.current); c.br(c.open - 2); }
    c.end();
  }

  /** Begin emitting region member t: its block, nothing known of the flags, its own needs. */
  beginMember(t: number): void {
    this.member = t;
    this.block = this.region![t].block;
    this.rec = null;
    this.carrier = null;
    this.eager = null;
    this.eagerStored = false;
    const u = this.use;
    u.read = 0; u.write = 0; u.stack = false; u.up = false; u.tsc = false; u.pushf = false; u.flat = 0;
  }

  /**
   * Before an INC/DEC record whose CF comes from before this block goes into REC1: what the
   * blocks before it in this run left is kept as its carrier. A full record in REC1 moves to
   * REC0 (replay both); an INC/DEC in REC1 keeps what is before it (REC0 or EAGER); without
   * a record, CF comes from EAGER if it is there, else from the state before the run.
   */
  private appendCarried(): void {
    const c = this.c, replay = this.ctx(Ctx.REPLAY), op1 = this.ctx(Ctx.REC1);
    c.const(0).load(replay).const(REPLAY_REC1).and();
    c.const(0).load(op1).const(LAZY_INC).ne().and();
    c.const(0).load(op1).const(LAZY_DEC).ne().and();
    c.if();
    for (let k = 0; k < 6; k++) c.const(0).const(0).load(this.ctx(Ctx.REC1 + k)).store(this.ctx(Ctx.REC0 + k));
    c.const(0).const(REPLAY_REC0 | REPLAY_REC1).store(replay);
    c.else();
    c.const(0).load(replay).const(REPLAY_REC1).and().eqz().if().const(0).const(0).load(replay).const(REPLAY_REC1).or().store(replay).end();
    c.end();
  }

  /** A taken jump at k: EIP = the next instruction's + disp, if inside CS's limit (else leave at k: the handler raises #GP). */
  jump(k: number, disp: number): void {
    const c = this.c;
    const rel = (this.block.end(k) + disp) | 0;
    c.get(0).const(rel).add().set(V);
    this.checkTarget(k, V);
    this.transfer(k, V, rel);
  }
  /** Leave before instruction k if local `l` (its target) is past CS's limit (its handler raises #GP). */
  checkTarget(k: number, l: number): void {
    const c = this.c;
    c.get(l).const(0).load(this.ctx(Ctx.CS_LIMIT)).gtU().if(); this.exit(k); c.end();
  }
  /** EIP = local `l` (`rel` from this block's EIP, when known here); leave after instruction k, where the run may go on. */
  transfer(k: number, l: number, rel?: number): void {
    this.c.const(0).get(l).store(this.ctx(Ctx.EIP));
    this.exit(k + 1, true, false, rel);
  }
  /** The offset from the block's EIP to the end of instruction k. */
  end(k: number): number { return this.block.end(k); }

  /**
   * The fast path of a memory operand of instruction k (`seg`, the effective address of
   * `i`): leaves at k unless the access is RAM through the TLB with the rights needed,
   * inside one page (FLAT_UNALIGNED), and (a write) on a page without decoded code. Then X
   * holds the physical address.
   */
  memory(i: Instr | null, k: number, seg: number, size: number, write: boolean, addr?: () => void): void {
    const c = this.c;
    if (addr !== undefined) addr();
    else this.effectiveAddress(i!);
    const hi = this.flatLimit[seg];
    if (hi !== -1) {
      // Flat (checked at entry, with this limit): the offset is the linear address. At 4 GiB
      // an aligned access (checked below) lies inside the limit.
      c.tee(A).set(LIN);
      if (hi !== 0xffff_ffff) { c.get(A).const((hi - (size - 1)) | 0).gtU().if(); this.exit(k); c.end(); }
      this.use.flat |= 1 << (FLAT_SEG + seg);
      this.flatUsed |= 1 << seg;
    } else {
      // The limit check (expand-up from 0, checked at entry): offset <= high - (size - 1).
      c.tee(A).const(0).load(this.ctx((write ? Ctx.WRITE_HI : Ctx.READ_HI) + seg)).const(size - 1).sub().gtU().if(); this.exit(k); c.end();
      c.get(A).const(0).load(this.ctx(Ctx.SEG_BASE + seg)).add().set(LIN);
      if (write) this.use.write |= 1 << seg; else this.use.read |= 1 << seg;
    }
    if (this.direct) {
      // Paging off: the linear address is the physical one, which must be RAM (and for a
      // write hold no decoded code), as lower.ts's direct path.
      c.get(LIN).const(this.ramSize).ltU().eqz();
      c.get(LIN).const(12).shrU().tee(E).load8u(this.notRam).or();
      if (write) c.get(E).load8u(this.slot.codePages).or();
      if (size > 1) { this.misaligned(size); c.or(); }
      c.if(); this.exit(k); c.end();
      c.get(LIN).set(X);
      return;
    }
    const need = write ? NEED_W : NEED_R;
    c.get(LIN).const(12).shrU().const(2).shl().load(this.tlb).tee(E);
    c.get(need).and().get(need).ne();
    if (size > 1) { this.misaligned(size); c.or(); }
    if (write) c.get(E).const(12).shrU().load8u(this.slot.codePages).or();
    c.if(); this.exit(k); c.end();
    c.get(E).const(-4096).and().get(LIN).const(0xfff).and().or().set(X);
  }
  /**
   * REP STOS or REP MOVS (instruction k, 32-bit addresses, DF clear) as string.ts's `repeat`
   * runs it when ECX is at most one chunk (4,096 elements: the whole instruction, retired as
   * one): nothing for ECX = 0; else every element at once, when the whole run of each operand
   * lies inside one page and its segment's limit and its first element takes the fast path
   * (Emitter.memory: then every element would), element by element in ascending order, as
   * the processor does (a destination a little past the source repeats what it has just
   * written). Otherwise leave before it: tier 1 runs it. Linux's memset and memcpy (274 k of
   * the boot's stops mid-block).
   */
  repeated(i: Instr, k: number, movs: boolean, size: number): void {
    const c = this.c;
    const n = this.local(), bytes = this.local(), j = this.local(), src = this.local(), v = this.local();
    this.regGet(1, 4); c.tee(n).const(4096).gtU().if(); this.exit(k); c.end();
    c.get(n).if();
    c.get(n).const(31 - Math.clz32(size)).shl().set(bytes);
    if (movs) {
      this.elementRun(i, k, i.seg, false, 6, size, bytes);
      c.get(X).set(src);
      this.elementRun(i, k, SegReg.ES, true, 7, size, bytes);
    } else {
      this.elementRun(i, k, SegReg.ES, true, 7, size, bytes);
      this.regGet(0, size); c.set(v);
    }
    // Element by element, ascending (as the processor stores them).
    c.const(0).set(j);
    c.block(); c.loop();
    c.get(j).get(bytes).ltU().eqz().if(); c.br(2); c.end(); // out of the loop
    c.get(X).get(j).add();
    if (movs) { c.get(src).get(j).add(); this.load(size); } else c.get(v);
    this.store(size);
    c.get(j).const(size).add().set(j);
    c.br(0); // the next element
    c.end(); c.end();
    if (movs) { this.regGet(6, 4); c.get(bytes).add().set(v); this.regSet(6, 4, v); }
    this.regGet(7, 4); c.get(bytes).add().set(v); this.regSet(7, 4, v);
    c.const(0).set(v); this.regSet(1, 4, v);
    c.end();
  }
  /**
   * The run of local `bytes` bytes of instruction k's elements from the offset in register
   * `reg` through `seg` (DF clear): the first element through the fast path (X its
   * address), the whole run inside its page and the segment's limit; else leave before k.
   */
  private elementRun(i: Instr, k: number, seg: number, write: boolean, reg: number, size: number, bytes: number): void {
    const c = this.c;
    this.memory(i, k, seg, size, write, () => { this.regGet(reg, 4); });
    c.get(LIN).const(0xfff).and().get(bytes).add().const(0x1000).gtU();
    c.get(bytes).const(1).sub();
    const hi = this.flatLimit[seg];
    if (hi !== -1) c.const(hi | 0); else c.const(0).load(this.ctx((write ? Ctx.WRITE_HI : Ctx.READ_HI) + seg));
    c.get(A).sub().gtU().or();
    c.if(); this.exit(k); c.end();
  }
  /**
   * REPE/REPNE CMPS or SCAS (instruction k, 32-bit addresses, DF clear) as string.ts's
   * `repeat` runs its chunk (the iterations until ECX is a multiple of 4,096, retired as one
   * instruction): element by element, ascending, until the comparison ends it (REPE: the
   * elements differ; REPNE: they are equal) or the count runs out, while each operand's next
   * element lies in the page and inside the segment's limit of its first one, which takes
   * the fast path (Emitter.memory). The flags are the last comparison's (a SUB record: CMPS
   * [ESI] - [EDI], SCAS AL/AX/EAX - [EDI]). Only reads happen before the end is known, so
   * when the run would go on past a page, a limit or the chunk (the processor's next chunk
   * is the instruction run again), the function leaves before it with nothing done, and
   * tier 1 runs it; so it does for ECX = 0, which leaves the flags as they were. Linux's
   * memcmp is a REPE CMPSB (199 k runs of its block went through JavaScript on the boot),
   * its strlen a REPNE SCASB with ECX = -1.
   */
  repeatedCompare(i: Instr, k: number, cmps: boolean, size: number): void {
    const c = this.c, sh = 31 - Math.clz32(size);
    const n = this.local(), lim = this.local(), j = this.local(), src = this.local(), a = this.local(), b = this.local(), stop = this.local();
    this.regGet(1, 4); c.tee(n).eqz().if(); this.exit(k); c.end();
    // The chunk's bytes, then no further than the page and the limit of each operand.
    c.get(n).const(1).sub().const(4095).and().const(1).add().const(sh).shl().set(lim);
    const within = (seg: number): void => {
      const room = (): void => { c.tee(V).get(lim).get(V).get(lim).ltU().select().set(lim); };
      c.const(0x1000).get(LIN).const(0xfff).and().sub(); room();
      const hi = this.flatLimit[seg];
      if (hi !== -1) c.const(hi | 0); else c.const(0).load(this.ctx(Ctx.READ_HI + seg));
      c.get(A).sub().const(1).add(); room();
    };
    if (cmps) {
      this.memory(i, k, i.seg, size, false, () => { this.regGet(6, 4); });
      within(i.seg);
      c.get(X).set(src);
    } else {
      this.regGet(0, size); c.set(a);
    }
    this.memory(i, k, SegReg.ES, size, false, () => { this.regGet(7, 4); });
    within(SegReg.ES);
    c.get(lim).const(-size).and().set(lim);
    c.const(0).set(j);
    c.const(0).set(stop);
    c.block(); c.loop();
    c.get(j).get(lim).ltU().eqz().brIf(1); // no further element in reach
    if (cmps) { c.get(src).get(j).add(); this.load(size); c.set(a); }
    c.get(X).get(j).add(); this.load(size); c.set(b);
    c.get(j).const(size).add().set(j);
    c.get(a).get(b);
    if (i.rep === Rep.RepE) c.ne(); else c.eq();
    c.tee(stop).brIf(1); // the comparison ends it
    c.br(0);
    c.end(); c.end();
    // Not ended by a comparison, with elements of the count left: nothing done, tier 1 runs it.
    c.get(stop).eqz().get(j).const(sh).shrU().get(n).ltU().and().if(); this.exit(k); c.end();
    const r = this.produce(LAZY_SUB, size, null);
    c.get(a).set(r.d);
    c.get(b).set(r.s);
    c.get(a).get(b).sub().set(r.r);
    if (cmps) { this.regGet(6, 4); c.get(j).add().set(a); this.regSet(6, 4, a); }
    this.regGet(7, 4); c.get(j).add().set(b); this.regSet(7, 4, b);
    c.get(n).get(j).const(sh).shrU().sub().set(a); this.regSet(1, 4, a);
  }
  /**
   * 1 on the stack if the access of `size` bytes at LIN crosses into the next page (only a
   * misaligned one can). A misaligned one inside the page takes the fast path: the function
   * assumes no #AC can follow (FLAT_UNALIGNED, checked at its entry, not at every access).
   */
  private misaligned(size: number): void {
    this.use.flat |= FLAT_UNALIGNED;
    this.c.get(LIN).const(0xfff).and().const(0x1000 - size).gtU();
  }
  /** Local `l` pushed as a dword through SS (SS.B = 1): ESP - 4 through the stack's fast path, then ESP = it (PUSH, PUSHFD). */
  push32(k: number, l: number): void {
    const c = this.c;
    this.use.stack = true;
    this.memory(null, k, SegReg.SS, 4, true, () => { this.regGet(4, 4); c.const(4).sub(); });
    this.memStore(4, l);
    this.regSet(4, 4, A);
  }
  /** A dword popped from SS:[register `from`] (SS.B = 1) into register `to`, ESP = from + 4 (POP, LEAVE). */
  pop(k: number, from: number, to: number): void {
    this.use.stack = true;
    this.memory(null, k, SegReg.SS, 4, false, () => { this.regGet(from, 4); });
    this.memLoad(4); this.c.set(V);
    this.c.get(A).const(4).add().set(A);
    this.regSet(4, 4, A);
    this.regSet(to, 4, V);
  }
  /**
   * Instruction k, a CPL-1 native entry with a form (native-targets.ts): what its function
   * does (a RET's or CALL's look-up, a PUSHF of the owner's flags, a CLI of them), done here
   * when the CPU is at CPL 1 and the table's owner allows it, the stack access takes the
   * fast path and (RET, CALL) the table's cache holds the target; otherwise leave before it,
   * nothing done, and its function runs (tier 1).
   */
  native(form: NativeForm, k: number): void {
    const c = this.c, t = this.slot.targets;
    const header = (w: TargetHeader): number => t + TARGET_HEADER + 4 * w;
    c.const(0).load(this.ctx(Ctx.FLAT)).const(FLAT_CPL1).and().eqz();
    c.const(0).load(header(TargetHeader.ENABLED)).eqz().or().if(); this.exit(k); c.end();
    const count = (w: TargetHeader): void => { c.const(0).const(0).load(header(w)).const(1).add().store(header(w)); };
    if (form.kind === "pushf") {
      // As the PUSHF helper: the machine's flags (as the lowered PUSHF makes them) with the
      // owner's in VFLAGS_MASK, VM and RF clear, pushed through SS; the run goes on after it.
      this.prepare(ALL_FLAGS);
      this.allFlags();
      c.const(0).load(this.ctx(Ctx.ENTRY_FLAGS)).const(~F.ARITH).and().or();
      c.const(0).load(header(TargetHeader.VFLAGS_MASK)).const(-1).xor().and();
      c.const(0).load(header(TargetHeader.VFLAGS)).const(0).load(header(TargetHeader.VFLAGS_MASK)).and().or();
      c.const(~(F.VM | F.RF)).and().set(V);
      this.push32(k, V);
      count(TargetHeader.PUSHF_COUNT);
      return;
    }
    if (form.kind === "cli") {
      // As the CLI helper: IF cleared in the owner's flags; the run goes on after it.
      c.const(0).const(0).load(header(TargetHeader.VFLAGS)).const(~F.IF).and().store(header(TargetHeader.VFLAGS));
      count(TargetHeader.CLI_COUNT);
      return;
    }
    if (form.kind === "pushsreg") {
      // As the PUSH Sreg helper: the owner's selector stored (16 bits) where a dword is pushed through SS.
      this.use.stack = true;
      this.memory(null, k, SegReg.SS, 4, true, () => { this.regGet(4, 4); c.const(4).sub(); });
      c.get(X).const(0).load(header(TargetHeader.SELECTORS + form.seg)).store16(0);
      this.regSet(4, 4, A);
      count(TargetHeader.PUSHSREG_COUNT);
      return;
    }
    if (form.kind === "invlpg") {
      // As the INVLPG helper: the owner's part through the `io` import (IO_OWNER | IO_INVLPG,
      // the address's segment register; its offset), then, if the owner names a page, its
      // TLB entry dropped as a compiled INVLPG drops it (dropTlbEntry).
      c.const(IO_OWNER | IO_INVLPG | form.seg);
      this.address(form.disp, form.base, form.index, form.scale);
      c.const(0).load(this.ctx(Ctx.TOTAL)).const(k).add();
      c.call(IO_IMPORT).set(V);
      c.const(0).load(this.ctx(Ctx.IO)).const(IO_REFUSED).eq().if(); this.exit(k); c.end();
      c.get(V).if(); c.get(V); this.dropTlbEntry(); c.end();
      c.const(0).load(this.ctx(Ctx.IO)).if(); this.exit(k + 1); c.end();
      return;
    }
    if (form.kind === "io") {
      // As the port I/O helper: the owner's access through the `io` import (IO_OWNER), at the
      // instruction's time as an IN or OUT compiled for the bus; a port it leaves to the
      // callout (Ctx.IO = IO_REFUSED) leaves before the entry, nothing done. Then as after a
      // compiled IN or OUT: the run leaves after it if the access asked the run loop to look.
      if (form.port < 0) this.regGet(2, 2); else c.const(form.port);
      c.const((form.size << 16) | (form.out ? IO_OUT : 0) | IO_OWNER).or();
      if (form.out) this.regGet(0, form.size); else c.const(0);
      c.const(0).load(this.ctx(Ctx.TOTAL)).const(k).add();
      c.call(IO_IMPORT).set(V);
      c.const(0).load(this.ctx(Ctx.IO)).const(IO_REFUSED).eq().if(); this.exit(k); c.end();
      if (!form.out) this.regSet(0, form.size, V);
      c.const(0).load(this.ctx(Ctx.IO)).if(); this.exit(k + 1); c.end();
      return;
    }
    this.use.stack = true;
    const target = this.local(), key = this.local();
    // The target of `key`: the slot's value when the slot holds that key (0: none).
    const lookUp = (): void => {
      c.get(key).get(key).const(16).shrU().xor().const(NATIVE_TARGET_SLOTS - 1).and().const(2).shl().tee(target);
      c.load(t).get(key).ne().if(); this.exit(k); c.end();
      c.get(target).load(t + TARGET_VALS).tee(target).eqz().if(); this.exit(k); c.end();
    };
    if (form.kind === "ret") {
      // As the RET helper: the return address popped through SS, ESP += 4 + pop.
      this.memory(null, k, SegReg.SS, 4, false, () => { this.regGet(4, 4); });
      this.memLoad(4); c.set(key);
      lookUp();
      c.get(A).const(4 + form.pop).add().set(A);
      this.regSet(4, 4, A);
      count(TargetHeader.RET_COUNT);
    } else {
      // As the CALL helper: a target past the owner's limit is left to it; the return address
      // pushed through SS. CALL r/m32 reads its target first, as the guest's CALL reads it
      // (a fault there, or an access off the fast path, leaves before the helper: its own).
      if (form.kind === "callind") {
        if (form.reg >= 0) this.regGet(form.reg, 4);
        else {
          this.memory(null, k, form.seg, 4, false, () => { this.address(form.disp, form.base, form.index, form.scale); });
          this.memLoad(4);
        }
        c.set(key);
      } else c.const(form.target | 0).set(key);
      c.get(key).const(0).load(header(TargetHeader.CALL_LIMIT)).gtU().if(); this.exit(k); c.end();
      lookUp();
      this.memory(null, k, SegReg.SS, 4, true, () => { this.regGet(4, 4); c.const(4).sub(); });
      c.get(X).const(form.ret | 0).store(0);
      this.regSet(4, 4, A);
      count(form.kind === "callind" ? TargetHeader.CALLIND_COUNT : TargetHeader.CALL_COUNT);
    }
    this.transfer(k, target);
  }

  /** The effective address (Cpu.ea, 32-bit) on the stack. */
  effectiveAddress(i: Instr): void {
    this.address(i.disp, i.eaBase, i.eaIndex, i.eaScale);
  }
  /** `disp` + register `base` + register `index` << `scale` (-1: no such register) on the stack. */
  address(disp: number, base: number, index: number, scale: number): void {
    const c = this.c.const(disp | 0);
    if (base >= 0) { this.regGet(base, 4); c.add(); }
    if (index >= 0) { this.regGet(index, 4); c.const(scale).shl().add(); }
  }
  /**
   * INVLPG's part in the block (the linear address on the stack): the page's entry in the
   * 32-bit TLB dropped, and with it every link of the run loop (they skip the TLB:
   * Ctx.LINK_GEN, read again at each hop) and, in a region, every transition after it (they
   * assume the page's translation); WasmTier.run does the rest of Cpu.invalidatePage after
   * the run (Ctx.TLB_DROPPED).
   */
  dropTlbEntry(): void {
    const c = this.c;
    c.const(12).shrU().const(2).shl().const(0).store(this.tlb);
    // (The next generation as WasmTier.newLinkGen makes it: never 0.)
    c.const(0).const(0).load(this.ctx(Ctx.LINK_GEN)).const(1).add().tee(V).get(V).eqz().or().store(this.ctx(Ctx.LINK_GEN));
    c.const(0).const(1).store(this.ctx(Ctx.TLB_DROPPED));
    if (this.region !== null) c.const(0).set(this.enterable);
  }
  memLoad(size: number, signed = false): void {
    this.c.get(X);
    this.load(size, signed);
  }
  memStore(size: number, l: number): void {
    this.c.get(X).get(l);
    this.store(size);
  }
  /** A load of `size` bytes from the address on the stack. */
  load(size: number, signed = false): void {
    const c = this.c;
    if (size === 4) c.load(0);
    else if (size === 2) { if (signed) c.load16s(0); else c.load16u(0); }
    else if (signed) c.load8s(0); else c.load8u(0);
  }
  /** A store of `size` bytes of the value on the stack to the address under it. */
  store(size: number): void {
    const c = this.c;
    if (size === 4) c.store(0); else if (size === 2) c.store16(0); else c.store8(0);
  }

  // ---- Flags ----

  /**
   * The record flag `f` is read from here, or null: from `eager` (made by `prepare` first),
   * the flags as this block found them or as a rotate left them.
   */
  private source(f: Flag): Rec | null {
    const r = this.rec;
    if (r !== null && !(f === "CF" && isIncDec(r.op))) return r;
    if (r !== null && this.carrier !== null) return this.carrier;
    return null;
  }
  /**
   * Before an instruction that reads the flags of `e`: if one comes from before this block,
   * load them all (`flags`, the run loop's module: what the context says they are now).
   */
  prepare(e: Expr): void {
    if (this.eager !== null || !this.reads(e)) return;
    this.eager = this.local();
    this.eagerStored = true;
    this.c.call(FLAGS_IMPORT).set(this.eager);
  }
  /** Whether `e` reads a flag from before this block (or a rotate). */
  private reads(e: Expr): boolean {
    if (typeof e === "number") return false;
    if (typeof e === "string") return isFlag(e) && this.source(e) === null;
    if (e[0] === "parity") return this.reads(e[1]);
    if (e[0] === "sel") return this.reads(e[1]) || this.reads(e[2]) || this.reads(e[3]);
    return this.reads(e[1]) || this.reads(e[2]);
  }
  /** Emit `e` (flags from their records or `eager`, record fields from `rec`). */
  expr(e: Expr, rec: Rec | null): void {
    const c = this.c;
    emitExpr(c, e, (leaf) => {
      switch (leaf) {
        case "d": c.get(rec!.d); return;
        case "s": c.get(rec!.s); return;
        case "r": c.get(rec!.r); return;
        case "cin": c.get(rec!.cin); return;
        case "mask": c.const(MASK[rec!.size]); return;
        case "sh": c.const(rec!.size * 8 - 1); return;
        case "bits": c.const(rec!.size * 8); return;
      }
    }, (f) => {
      const r = this.source(f);
      if (r !== null) this.expr(FLAG_OF_RECORD[f][r.op], r);
      else c.get(this.eager!).const(31 - Math.clz32(FLAG_BIT[f])).shrU().const(1).and();
    });
  }
  /** Condition cc (0/1) on the stack (`prepare` first). */
  condition(cc: number): void {
    this.expr(CONDITION_OF_FLAGS[cc >> 1], null);
    if (cc & 1) this.c.const(1).xor();
  }
  /** All six flags in their EFLAGS bits on the stack (`prepare(ALL_FLAGS)` first). */
  allFlags(): void {
    if (this.rec === null) { this.c.get(this.eager!); return; }
    FLAGS.forEach((f, k) => {
      this.expr(f, null);
      this.c.const(31 - Math.clz32(FLAG_BIT[f])).shl();
      if (k > 0) this.c.or();
    });
  }
  /** The flags are now local `l` (EFLAGS bits): a rotate's. */
  setEager(l: number): void {
    this.rec = null;
    this.carrier = null;
    this.eager = l;
    this.eagerStored = false;
  }
  /** A new record of `op` at `size`; d, s, r (and cin) are filled by the caller. */
  produce(op: number, size: number, cin: number | null): Rec {
    const r: Rec = { op, size, d: this.local(), s: this.local(), r: this.local(), cin: cin ?? this.local() };
    if (cin === null) this.c.const(0).set(r.cin);
    if (isIncDec(op)) {
      // CF: from the record before (kept as the carrier), or from `eager`, or from before the block.
      const prev = this.rec;
      if (prev === null) this.carrier = null;
      else if (!isIncDec(prev.op)) this.carrier = prev;
    } else {
      this.carrier = null;
      this.eager = null;
      this.eagerStored = false;
    }
    this.rec = r;
    return r;
  }
}

/** An expression that reads every flag (a rotate keeps four of them). */
const ALL_FLAGS: Expr = ["or", ["or", ["or", "CF", "PF"], ["or", "AF", "ZF"]], ["or", "SF", "OF"]];

/** Emit `e` into `c`: its leaves by `leaf`, its flags by `flag` (the one emitter of flag-semantics.ts expressions). */
function emitExpr(c: Code, e: Expr, leaf: (l: Leaf) => void, flag: (f: Flag) => void): void {
  if (typeof e === "number") { c.const(e); return; }
  if (typeof e === "string") { if (isFlag(e)) flag(e); else leaf(e); return; }
  const sub = (x: Expr): void => emitExpr(c, x, leaf, flag);
  if (e[0] === "parity") { sub(e[1]); c.const(0xff).and().popcnt().const(1).and().const(1).xor(); return; }
  if (e[0] === "sel") { sub(e[2]); sub(e[3]); sub(e[1]); c.select(); return; }
  sub(e[1]); sub(e[2]);
  switch (e[0]) {
    case "sub": c.sub(); return;
    case "shl": c.shl(); return;
    case "shrs": c.shrS(); return;
    case "and": c.and(); return;
    case "or": c.or(); return;
    case "xor": c.xor(); return;
    case "shru": c.shrU(); return;
    case "ltu": c.ltU(); return;
    case "eq": c.eq(); return;
    case "ne": c.ne(); return;
  }
}

const isFlag = (s: string): s is Flag => s === "CF" || s === "PF" || s === "AF" || s === "ZF" || s === "SF" || s === "OF";

/** The condition's flag expression of a Jcc/SETcc/CMOVcc, CF for ADC/SBB, ZF for LOOPE/LOOPNE. */
function flagsRead(i: Instr): Expr | null {
  const kind = i.def.lower;
  if (kind === "loop") return i.opcode === 0xe2 ? null : "ZF";
  if (kind === "pushf" || kind === "cmpxchg8b" || kind === "bt") return ALL_FLAGS;
  if (kind === "jcc" || kind === "setcc" || kind === "cmovcc") return CONDITION_OF_FLAGS[(i.opcode & 0xf) >> 1];
  if (kind === "alu") {
    const op = i.opcode >= 0x80 ? i.reg : (i.opcode >> 3) & 7;
    if (op === 2 || op === 3) return "CF";
  }
  return null;
}

/**
 * The physical addresses where block `b`'s own code may send the run on, known when it is
 * compiled: the targets of its relative jumps, branches and calls (JMP, Jcc, LOOP, JECXZ,
 * CALL rel), and its end when the last instruction may fall through.
 */
function successors(b: CompiledBlock): number[] {
  const p0 = b.instrs[0].phys, out: number[] = [];
  for (let k = 0; k < b.count; k++) {
    const i = b.instrs[k];
    if (i.native) {
      // (One that goes on after it is straight code; the others transfer control.)
      if (!formGoesOn(i.nativeForm)) return out;
      if (k === b.count - 1) out.push(p0 + b.end(k));
      continue;
    }
    const kind = i.def.lower;
    if (kind === "jcc" || kind === "jmp" || kind === "loop" || kind === "jcxz" || kind === "call") out.push(p0 + b.end(k) + (i.imm | 0));
    if (k === b.count - 1 && kind !== "jmp" && kind !== "call" && kind !== "ret" && kind !== "callind" && kind !== "jmpind") out.push(p0 + b.end(k));
  }
  return out;
}

/** The kinds this tier takes with a 32-bit operand size only. */
const DWORD_ONLY: ReadonlySet<Lowering> = new Set<Lowering>(["jcc", "call", "jmp", "ret", "callind", "jmpind", "pushf", "mul", "cwd", "bt"]);

/** Whether this tier takes instruction `i` at all (its form; the flags are checked as it goes). */
function takes(i: Instr): boolean {
  // A translator's native helper (docs/bt.md) has no opcode-table row.
  if (i.native) return false;
  const kind = i.def.lower;
  // (A LOCK prefix the row does not allow has replaced the handler by #UD's; one it allows
  // changes nothing a single CPU does.)
  if (kind === undefined || i.code64 || !i.code32 || i.handler !== i.def.handler) return false;
  if (i.hasMem && !i.adsize32) return false;
  // One string step (no REP prefix), 32-bit addresses; byte, word and dword elements; and
  // REP STOS and REP MOVS (Emitter.repeated), REPE/REPNE CMPS and SCAS (repeatedCompare).
  if (kind === "lods") return i.rep === Rep.None && i.adsize32;
  if (kind === "stos" || kind === "movs" || kind === "cmps" || kind === "scas") return i.adsize32;
  if (kind === "bswap" || kind === "leave") return i.opsize32;
  if (kind === "rdtsc" || kind === "in" || kind === "out" || kind === "cli") return true;
  if (kind === "invlpg") return i.hasMem;
  const specs = i.def.operands;
  // SHLD, SHRD (dword) by CL (a masked count of 0 is left to tier 1) or an immediate whose
  // masked count is not 0; DIV of a dword.
  if (kind === "shd") return i.opsize32 && operandOf(i, specs[0]) !== null && (specs[2] === "CL" || (i.imm & 31) !== 0);
  if (kind === "div") return i.opsize32 && operandOf(i, specs[0]) !== null;
  // 16-bit operands: the forms whose lazy record or store has a size (MOV, the ALU group, TEST, INC/DEC, NOT, NEG, the shifts and rotates).
  const word = kind === "mov" || kind === "xchg" || kind === "alu" || kind === "test" || kind === "inc" || kind === "dec" || kind === "not" || kind === "neg" || kind === "shift";
  if (specs.some((s) => s.endsWith("v") || s === "eAX" || s === "Iz") && !i.opsize32 && !word) return false;
  if (DWORD_ONLY.has(kind)) return i.opsize32;
  if (kind === "loop" || kind === "jcxz") return i.opsize32 && i.adsize32;
  if (kind === "push") return specs[0] === "Zv" || specs[0] === "Iz" || specs[0] === "Ibs" || specs[0] === "Ev";
  if (kind === "pop") return specs[0] === "Zv";
  // POP r/m32 (8F) to a register, or to memory whose address does not use ESP (the SDM
  // computes it after the pop: not taken).
  if (kind === "popm") return i.opsize32 && (!i.hasMem || (i.eaBase !== 4 && i.eaIndex !== 4));
  if (kind === "lea") return i.hasMem;
  if (kind === "nop") return true;
  if (kind === "cmpxchg8b") return i.hasMem;
  if (kind === "imul") return i.opsize32 && operandOf(i, specs[1]) !== null;
  // SHL/SAL, SHR, SAR (a lazy record, flag-semantics.ts) and ROL/ROR (CF and OF changed in
  // the six flags) by 1 or an immediate whose masked count is not 0; SHL/SHR/SAR by CL too
  // (a count of 0 is left to tier 1). Not RCL/RCR.
  if (kind === "shift") {
    if (operandOf(i, specs[0]) === null || i.reg === 2 || i.reg === 3) return false;
    if (specs[1] === "CL") return i.reg >= 4;
    return specs[1] === "1" || (specs[1] === "Ib" && (i.imm & 31) !== 0);
  }
  return specs.every((s) => operandOf(i, s) !== null);
}

/** Emit instruction k; false if it was not emitted (the block leaves before it). */
function emit(em: Emitter, i: Instr, k: number): boolean {
  if (!takes(i)) return false;
  const needs = flagsRead(i);
  if (needs !== null) em.prepare(needs);
  const c = em.c, specs = i.def.operands, kind = i.def.lower!;
  const rd = (o: Operand, signed = false): void => {
    if (o.kind === "reg") em.regGet(o.n, o.size, signed);
    else if (o.kind === "imm") c.const(o.v);
    else em.memLoad(o.size, signed);
  };
  // Store local `l` to a register or memory operand (memory: at the address its fast path left in X).
  const wr = (o: Operand, l: number): void => {
    if (o.kind === "mem") em.memStore(o.size, l);
    else if (o.kind === "reg") em.regSet(o.n, o.size, l);
  };
  switch (kind) {
    case "alu": case "test": {
      const dst = operandOf(i, specs[0])!, src = operandOf(i, specs[1])!;
      const size = dst.size;
      const op = kind === "test" ? 4 : i.opcode >= 0x80 ? i.reg : (i.opcode >> 3) & 7;
      const store = kind !== "test" && op !== 7;
      if (dst.kind === "mem") em.memory(i, k, i.seg, size, store);
      if (src.kind === "mem") em.memory(i, k, i.seg, size, false);
      let cin: number | null = null;
      if (op === 2 || op === 3) { cin = em.locals++; em.condition(2 /* CF: cc 2 is B */); c.set(cin); }
      const r = em.produce(LAZY_OF_ALU[op], size, cin);
      rd(dst); c.set(r.d);
      rd(src); c.set(r.s);
      c.get(r.d).get(r.s);
      switch (op) {
        case 0: c.add(); break;
        case 1: c.or(); break;
        case 2: c.add().get(r.cin).add(); break;
        case 3: c.sub().get(r.cin).sub(); break;
        case 4: c.and(); break;
        case 6: c.xor(); break;
        default: c.sub(); break;
      }
      c.set(r.r);
      if (store) wr(dst, r.r);
      return true;
    }
    case "mov": {
      const dst = operandOf(i, specs[0])!, src = operandOf(i, specs[1])!;
      if (dst.kind === "mem") em.memory(i, k, i.seg, dst.size, true);
      if (src.kind === "mem") em.memory(i, k, i.seg, src.size, false);
      if (src.kind === "imm") c.const(dst.size === 4 ? i.imm | 0 : dst.size === 2 ? i.imm & 0xffff : i.imm & 0xff); else rd(src);
      c.set(V);
      wr(dst, V);
      return true;
    }
    case "inc": case "dec": {
      const dst = operandOf(i, specs[0])!;
      if (dst.kind === "mem") em.memory(i, k, i.seg, dst.size, true);
      const r = em.produce(kind === "inc" ? LAZY_INC : LAZY_DEC, dst.size, null);
      rd(dst); c.set(r.d);
      c.const(1).set(r.s);
      c.get(r.d).const(1);
      if (kind === "inc") c.add(); else c.sub();
      c.set(r.r);
      wr(dst, r.r);
      return true;
    }
    case "push": {
      // As Cpu.push32 with SS.B = 1 (checked at entry): the value first (PUSH ESP pushes the old ESP).
      const src = operandOf(i, specs[0])!;
      if (src.kind === "mem") em.memory(i, k, i.seg, 4, false);
      if (src.kind === "imm") c.const(i.imm | 0); else rd(src);
      c.set(V);
      em.push32(k, V);
      return true;
    }
    case "pushf": {
      // As pushf (32-bit operand) where it neither faults nor exits (FLAT_PUSHF): EFLAGS as
      // getEflags gives it, the six flags as they are now and the others as the run began
      // (no instruction of this tier changes them), VM and RF clear in the image.
      em.use.pushf = true;
      em.allFlags();
      c.const(0).load(em.ctx(Ctx.ENTRY_FLAGS)).const(~(F.ARITH | F.VM | F.RF)).and().or().set(V);
      em.push32(k, V);
      return true;
    }
    case "bt": {
      // As bt_Ev_Gv / bt_Ev_Ib (dword): CF the bit (its offset mod 32; through memory, a
      // register offset also moves the dword, by (offset >> 5) * 4), the other flags kept;
      // BTS, BTR, BTC write the operand with the bit set, cleared, flipped.
      const op = i.opcode === 0x0fba ? i.reg - 4 : ((i.opcode & 0xff) >> 3) & 3;
      const dst = operandOf(i, specs[0])!, byReg = specs[1] === "Gv";
      const bit = em.locals++, val = em.locals++, f = em.locals++;
      if (byReg) em.regGet(i.reg, 4); else c.const(i.imm);
      c.set(bit);
      if (dst.kind === "mem") {
        if (byReg) em.memory(i, k, i.seg, 4, op !== 0, () => { em.effectiveAddress(i); c.get(bit).const(5).shrS().const(2).shl().add(); });
        else em.memory(i, k, i.seg, 4, op !== 0);
        em.memLoad(4);
      } else rd(dst);
      c.set(val);
      c.get(bit).const(31).and().set(bit);
      em.allFlags();
      c.const(~F.CF).and().get(val).get(bit).shrU().const(1).and().or().set(f);
      if (op !== 0) {
        c.get(val).const(1).get(bit).shl();
        if (op === 1) c.or(); else if (op === 2) c.const(-1).xor().and(); else c.xor();
        c.set(val);
        wr(dst, val);
      }
      em.setEager(f);
      return true;
    }
    case "cmpxchg8b": {
      // As cmpxchg8b_Mq: EDX:EAX against the quadword; equal, ECX:EBX stored and ZF set; else
      // the quadword into EDX:EAX and ZF clear (its store of the same value changes nothing
      // here: the fast path is RAM without decoded code). The other five flags stay.
      em.memory(i, k, i.seg, 8, true);
      const lo = em.locals++, hi = em.locals++, eq = em.locals++, f = em.locals++;
      c.get(X).load(0).set(lo);
      c.get(X).load(4).set(hi);
      c.get(lo); em.regGet(0, 4); c.eq();
      c.get(hi); em.regGet(2, 4); c.eq();
      c.and().set(eq);
      em.allFlags();
      c.const(~F.ZF).and().get(eq).const(31 - Math.clz32(F.ZF)).shl().or().set(f);
      c.get(eq).if();
      c.get(X); em.regGet(3, 4); c.store(0);
      c.get(X); em.regGet(1, 4); c.store(4);
      c.else();
      em.regSet(0, 4, lo);
      em.regSet(2, 4, hi);
      c.end();
      em.setEager(f);
      return true;
    }
    case "mul": {
      // As mul_Ev (dword): EDX:EAX = EAX × r/m, unsigned; the flags as setMulFlags leaves them
      // (eager: CF = OF = a high dword not 0, AF clear, ZF, SF and PF of the low dword).
      const src = operandOf(i, specs[0])!;
      if (src.kind === "mem") em.memory(i, k, i.seg, 4, false);
      const lo = em.locals++, hi = em.locals++, f = em.locals++;
      rd(src); c.set(V);
      em.regGet(0, 4); c.i64ExtendU().get(V).i64ExtendU().i64Mul().i64Const(32).i64ShrU().i32Wrap().set(hi);
      em.regGet(0, 4); c.get(V).mul().set(lo);
      c.get(hi).eqz().eqz().const(F.CF | F.OF).mul();
      c.get(lo).eqz().const(31 - Math.clz32(F.ZF)).shl().or();
      c.get(lo).const(31).shrU().const(31 - Math.clz32(F.SF)).shl().or();
      c.get(lo).const(0xff).and().popcnt().const(1).and().eqz().const(31 - Math.clz32(F.PF)).shl().or();
      c.set(f);
      em.regSet(0, 4, lo);
      em.regSet(2, 4, hi);
      em.setEager(f);
      return true;
    }
    case "cwd":
      // As cwd (CDQ): EDX = EAX's sign.
      em.regGet(0, 4); c.const(31).shrS().set(V);
      em.regSet(2, 4, V);
      return true;
    case "pop": case "popm": {
      // As Cpu.pop32, then the store: POP ESP leaves the popped value in ESP.
      if (kind === "pop" || !i.hasMem) { em.pop(k, 4, kind === "pop" ? i.opcode & 7 : i.rm); return true; }
      // As pop_Ev to memory: the stack's dword read and the destination's store both known to
      // take the fast path before either changes anything; then the store, then ESP.
      const val = em.locals++, esp = em.locals++;
      em.use.stack = true;
      em.memory(null, k, SegReg.SS, 4, false, () => { em.regGet(4, 4); });
      em.memLoad(4); c.set(val);
      c.get(A).const(4).add().set(esp);
      em.memory(i, k, i.seg, 4, true);
      em.memStore(4, val);
      em.regSet(4, 4, esp);
      return true;
    }
    case "lea":
      em.effectiveAddress(i); c.set(V);
      em.regSet(i.reg, 4, V);
      return true;
    case "movzx": case "movsx": {
      const src = operandOf(i, specs[1])!;
      if (src.kind === "mem") em.memory(i, k, i.seg, src.size, false);
      rd(src, kind === "movsx"); c.set(V);
      em.regSet(i.reg, 4, V);
      return true;
    }
    case "setcc": {
      const dst = operandOf(i, specs[0])!;
      if (dst.kind === "mem") em.memory(i, k, i.seg, 1, true);
      em.condition(i.opcode & 0xf); c.set(V);
      wr(dst, V);
      return true;
    }
    case "cmovcc": {
      // The source is read (and may fault) whether or not the move happens.
      const src = operandOf(i, specs[1])!;
      if (src.kind === "mem") em.memory(i, k, i.seg, 4, false);
      rd(src); c.set(V);
      em.condition(i.opcode & 0xf);
      c.if(); em.regSet(i.reg, 4, V); c.end();
      return true;
    }
    case "nop":
      return true;
    case "not": case "neg": {
      // As not_Ev (no flags) and neg_Ev (the NEG record: 0 - s).
      const dst = operandOf(i, specs[0])!;
      if (dst.kind === "mem") em.memory(i, k, i.seg, dst.size, true);
      if (kind === "not") { rd(dst); c.const(-1).xor().set(V); }
      else {
        const r = em.produce(LAZY_NEG, dst.size, null);
        c.const(0).set(r.d);
        rd(dst); c.set(r.s);
        c.const(0).get(r.s).sub().set(r.r);
        c.get(r.r).set(V);
      }
      wr(dst, V);
      return true;
    }
    case "imul": {
      // As imulTrunc (dword): the signed 64-bit product's low dword kept, its high dword in the
      // record. IMUL r, r/m (the register times r/m) or IMUL r, r/m, imm (r/m times imm).
      const src = operandOf(i, specs[1])!;
      if (src.kind === "mem") em.memory(i, k, i.seg, 4, false);
      const r = em.produce(LAZY_IMUL, 4, null);
      if (specs.length === 3) { rd(src); c.set(r.r); c.const(i.imm | 0).set(r.s); }
      else { em.regGet(i.reg, 4); c.set(r.r); rd(src); c.set(r.s); }
      c.get(r.r).i64ExtendS().get(r.s).i64ExtendS().i64Mul().i64Const(32).i64ShrS().i32Wrap().set(r.d);
      c.get(r.r).get(r.s).mul().set(r.r);
      c.const(0).set(r.s);
      em.regSet(i.reg, 4, r.r);
      return true;
    }
    case "shift": {
      // As shiftOp: the operand masked to its size, the result, the flags.
      const dst = operandOf(i, specs[0])!, size = dst.size, bits = size * 8;
      const byCl = specs[1] === "CL";
      const count = specs[1] === "1" ? 1 : i.imm & 31;
      const n = em.locals++;
      // SHL, SHR, SAR of a register by CL: a masked count of 0 changes nothing, flags
      // included, so the flags after it are those before it or the shift's, by the count at
      // run time; both are made here into one local (as a rotate's). Of a memory operand:
      // tier 1 runs it (the bzImage decompressor's SHL EDX, CL by 0 left WebAssembly 628 k
      // times in its first 1.5 G instructions).
      const either = byCl && dst.kind === "reg";
      if (byCl) {
        em.regGet(1, 1); c.const(31).and().tee(n);
        if (either) {
          c.eqz().if();
          em.prepare(ALL_FLAGS); em.allFlags(); c.set(n);
          c.else();
        } else { c.eqz().if(); em.exit(k); c.end(); }
      }
      const rotate = i.reg === 0 || i.reg === 1;
      if (rotate) em.prepare(ALL_FLAGS);
      if (dst.kind === "mem") em.memory(i, k, i.seg, size, true);
      if (rotate) {
        // ROL, ROR: CF and OF from the result; the other four flags stay.
        const c1 = count % bits, rol = i.reg === 0;
        rd(dst); c.set(V);
        if (c1 !== 0) {
          if (size === 4) c.get(V).const(c1)[rol ? "rotl" : "rotr"]().set(V);
          else {
            c.get(V).const(rol ? c1 : bits - c1).shl().get(V).const(rol ? bits - c1 : c1).shrU().or().const(MASK[size]).and().set(V);
          }
        }
        const msb = (): void => { c.get(V).const(bits - 1).shrU().const(1).and(); };
        em.allFlags(); c.const(~(F.CF | F.OF)).and();
        if (rol) { c.get(V).const(1).and().or(); msb(); c.get(V).const(1).and().xor(); }
        else { msb(); c.or(); msb(); c.get(V).const(bits - 2).shrU().const(1).and().xor(); }
        c.const(11).shl().or().set(n);
        em.setEager(n);
        wr(dst, V);
        return true;
      }
      const r = em.produce(i.reg === 5 ? LAZY_SHR : i.reg === 7 ? LAZY_SAR : LAZY_SHL, size, null);
      rd(dst); c.set(r.d);
      if (byCl) c.get(n); else c.const(count);
      c.set(r.s);
      if (i.reg === 7) {
        c.get(r.d);
        if (bits < 32) c.const(32 - bits).shl().const(32 - bits).shrS();
        if (byCl) c.get(r.s).const(bits - 1).get(r.s).const(bits - 1).ltU().select(); else c.const(Math.min(count, bits - 1));
        c.shrS().const(MASK[size]).and();
      } else if (byCl) {
        // A count past the size (bytes, words) shifts everything out.
        c.get(r.d).get(r.s);
        if (i.reg === 5) c.shrU(); else c.shl().const(MASK[size]).and();
        c.const(0).get(r.s).const(bits).ltU().select();
      } else if (count >= bits) c.const(0);
      else if (i.reg === 5) c.get(r.d).const(count).shrU();
      else c.get(r.d).const(count).shl().const(MASK[size]).and();
      c.set(r.r);
      wr(dst, r.r);
      if (either) {
        em.allFlags(); c.set(n);
        c.end();
        em.setEager(n);
      }
      return true;
    }
    case "rdtsc": {
      // As rdtsc: the TSC is the run's at its start plus the instructions retired since
      // (the blocks before, in Ctx.TOTAL, and the k before it in this one).
      em.use.tsc = true;
      const tsc = (): void => { c.const(0).load(em.ctx(Ctx.TOTAL)).const(k).add().i64ExtendU().const(0).i64Load(em.ctx(Ctx.TSC)).i64Add(); };
      tsc(); c.i32Wrap().set(V); em.regSet(0, 4, V);
      tsc(); c.i64Const(32).i64ShrU().i32Wrap().set(V); em.regSet(2, 4, V);
      return true;
    }
    case "cli":
      // As cli where IOPL allows it (FLAT_IO, as IN and OUT): IF cleared in the context's
      // copy of EFLAGS, which a PUSHF after it reads and the run loop takes back (WasmTier.run).
      if (!em.io) return false;
      c.const(0).load(em.ctx(Ctx.FLAT)).const(FLAT_IO).and().eqz().if(); em.exit(k); c.end();
      c.const(0).const(0).load(em.ctx(Ctx.ENTRY_FLAGS)).const(~F.IF).and().store(em.ctx(Ctx.ENTRY_FLAGS));
      return true;
    case "invlpg": {
      // As invlpg at CPL 0 with no monitor or hypervisor to intercept it (FLAT_INVLPG):
      // Emitter.dropTlbEntry. INVLPG ends its block: the run goes on through the run loop,
      // which looks the next block up through the TLB.
      c.const(0).load(em.ctx(Ctx.FLAT)).const(FLAT_INVLPG).and().eqz().if(); em.exit(k); c.end();
      em.effectiveAddress(i); c.const(0).load(em.ctx(Ctx.SEG_BASE + i.seg)).add();
      em.dropTlbEntry();
      return true;
    }
    case "shd": {
      // As shld_Ev_Gv and shrd_Ev_Gv (dword, count 1–31) and doubleShift's flags: CF the last
      // bit out, OF whether the sign changed, SF ZF PF of the result, AF clear.
      const dst = operandOf(i, specs[0])!;
      const left = i.opcode === 0x0fa4 || i.opcode === 0x0fa5;
      const n = em.locals++, d = em.locals++, s = em.locals++, r = em.locals++, f = em.locals++;
      if (specs[2] === "CL") { em.regGet(1, 1); c.const(31).and().tee(n).eqz().if(); em.exit(k); c.end(); }
      else c.const(i.imm & 31).set(n);
      if (dst.kind === "mem") em.memory(i, k, i.seg, 4, true);
      rd(dst); c.set(d);
      em.regGet(i.reg, 4); c.set(s);
      const inv = (): void => { c.const(32).get(n).sub(); };
      if (left) {
        c.get(d).get(n).shl().get(s); inv(); c.shrU().or().set(r);
        c.get(d); inv(); c.shrU().const(1).and();
      } else {
        c.get(d).get(n).shrU().get(s); inv(); c.shl().or().set(r);
        c.get(d).get(n).const(1).sub().shrU().const(1).and();
      }
      c.get(r).const(0xff).and().popcnt().const(1).and().const(1).xor().const(2).shl().or();
      c.get(r).eqz().const(6).shl().or();
      c.get(r).const(31).shrU().const(7).shl().or();
      c.get(r).get(d).xor().const(31).shrU().const(11).shl().or().set(f);
      em.setEager(f);
      wr(dst, r);
      return true;
    }
    case "div": {
      // As div_Ev (dword): a divisor of 0 or a quotient past 32 bits leaves before it (tier 1
      // raises the #DE); EAX the quotient of EDX:EAX, EDX the remainder; the flags as they were.
      const src = operandOf(i, specs[0])!;
      const d = em.locals++, hi = em.locals++, lo = em.locals++;
      if (src.kind === "mem") em.memory(i, k, i.seg, 4, false);
      rd(src); c.set(d);
      em.regGet(2, 4); c.set(hi);
      c.get(d).eqz().get(hi).get(d).ltU().eqz().or().if(); em.exit(k); c.end();
      em.regGet(0, 4); c.set(lo);
      c.get(hi).i64ExtendU().i64Const(32).i64Shl().get(lo).i64ExtendU().i64Or().get(d).i64ExtendU().i64DivU().i32Wrap().set(V);
      c.get(lo).get(V).get(d).mul().sub().set(hi);
      em.regSet(0, 4, V);
      em.regSet(2, 4, hi);
      return true;
    }
    case "xchg": {
      // As xchg_Eb_Gb, xchg_Ev_Gv and xchg_eAX_Zv: the destination (a read-modify-write) gets
      // the source register, the register what the destination held.
      const dst = operandOf(i, specs[0])!, src = operandOf(i, specs[1])!, size = dst.size;
      if (dst.kind === "mem") em.memory(i, k, i.seg, size, true);
      const old = em.locals++, val = em.locals++;
      rd(dst); c.set(old);
      rd(src); c.set(val);
      wr(dst, val);
      wr(src, old);
      return true;
    }
    case "in": case "out": {
      if (!em.io) return false;
      // As in_ and out where they would need no check (FLAT_IO): the bus cycle through the
      // import `io` at the instruction's guest time (the run's count at its start, plus
      // Ctx.TOTAL, plus the k before it here); then the run leaves after it if the access
      // asked the run loop to look (a device's new deadline, an interrupt it may take, a stop,
      // changed code: Ctx.IO). Port I/O is never straight: this is the block's last instruction.
      c.const(0).load(em.ctx(Ctx.FLAT)).const(FLAT_IO).and().eqz().if(); em.exit(k); c.end();
      const size = ioSize(i), out = kind === "out";
      if ((i.opcode & 0x08) !== 0) em.regGet(2, 2); else c.const(i.imm & 0xff);
      c.const((size << 16) | (out ? IO_OUT : 0)).or();
      if (out) em.regGet(0, size); else c.const(0);
      c.const(0).load(em.ctx(Ctx.TOTAL)).const(k).add();
      c.call(IO_IMPORT);
      if (out) c.drop(); else { c.set(V); em.regSet(0, size, V); }
      c.const(0).load(em.ctx(Ctx.IO)).if(); em.exit(k + 1); c.end();
      return true;
    }
    case "bswap": {
      const n = i.opcode & 7;
      em.regGet(n, 4); c.set(V);
      c.get(V).const(24).shl();
      c.get(V).const(0xff00).and().const(8).shl().or();
      c.get(V).const(8).shrU().const(0xff00).and().or();
      c.get(V).const(24).shrU().or().set(V);
      em.regSet(n, 4, V);
      return true;
    }
    case "leave":
      // As leave with SS.B = 1: a pop from EBP (ESP = EBP + 4, EBP = the dword).
      em.pop(k, 5, 5);
      return true;
    case "lods": case "stos": case "movs": case "scas": case "cmps": {
      // One step of the string instruction with DF clear (checked at entry): as lodsOnce,
      // stosOnce, movsOnce, scasOnce and cmpsOnce, each index advanced by the element's size.
      const size = (i.opcode & 1) === 0 ? 1 : i.opsize32 ? 4 : 2;
      em.use.up = true;
      if (i.rep !== Rep.None) {
        if (kind === "scas" || kind === "cmps") em.repeatedCompare(i, k, kind === "cmps", size);
        else em.repeated(i, k, kind === "movs", size);
        return true;
      }
      const step = (reg: number, from: number): void => { c.get(from).const(size).add().set(V); em.regSet(reg, 4, V); };
      if (kind === "lods") {
        em.memory(i, k, i.seg, size, false, () => { em.regGet(6, 4); });
        em.memLoad(size); c.set(V); em.regSet(0, size, V);
        step(6, A);
      } else if (kind === "stos") {
        const v = em.locals++;
        em.regGet(0, size); c.set(v);
        em.memory(i, k, SegReg.ES, size, true, () => { em.regGet(7, 4); });
        em.memStore(size, v);
        step(7, A);
      } else if (kind === "movs") {
        const v = em.locals++, from = em.locals++;
        em.memory(i, k, i.seg, size, false, () => { em.regGet(6, 4); });
        em.memLoad(size); c.set(v);
        c.get(A).set(from);
        em.memory(i, k, SegReg.ES, size, true, () => { em.regGet(7, 4); });
        em.memStore(size, v);
        step(6, from);
        step(7, A);
      } else if (kind === "scas") {
        em.memory(i, k, SegReg.ES, size, false, () => { em.regGet(7, 4); });
        const r = em.produce(LAZY_SUB, size, null);
        em.regGet(0, size); c.set(r.d);
        em.memLoad(size); c.set(r.s);
        c.get(r.d).get(r.s).sub().set(r.r);
        step(7, A);
      } else {
        const v = em.locals++, from = em.locals++;
        em.memory(i, k, i.seg, size, false, () => { em.regGet(6, 4); });
        em.memLoad(size); c.set(v);
        c.get(A).set(from);
        em.memory(i, k, SegReg.ES, size, false, () => { em.regGet(7, 4); });
        const r = em.produce(LAZY_SUB, size, null);
        c.get(v).set(r.d);
        em.memLoad(size); c.set(r.s);
        c.get(r.d).get(r.s).sub().set(r.r);
        step(6, from);
        step(7, A);
      }
      return true;
    }
    case "cmpxchg": case "xadd": {
      // As cmpxchg_Ev_Gv / xadd_Ev_Gv (dword, byte): the destination is always written.
      const dst = operandOf(i, specs[0])!, size = dst.size;
      if (dst.kind === "mem") em.memory(i, k, i.seg, size, true);
      if (kind === "xadd") {
        const r = em.produce(LAZY_ADD, size, null);
        rd(dst); c.set(r.d);
        em.regGet(i.reg, size); c.set(r.s);
        c.get(r.d).get(r.s).add().set(r.r);
        wr(dst, r.r);
        if (dst.kind === "mem" || (dst as { n: number }).n !== i.reg) em.regSet(i.reg, size, r.d);
        return true;
      }
      const r = em.produce(LAZY_SUB, size, null);
      em.regGet(0, size); c.set(r.d);
      rd(dst); c.set(r.s);
      c.get(r.d).get(r.s).sub().set(r.r);
      em.regGet(i.reg, size); c.set(V);
      c.get(r.d).get(r.s).eq().if();
      wr(dst, V);
      c.else();
      wr(dst, r.s);
      em.regSet(0, size, r.s);
      c.end();
      return true;
    }
    case "jmp":
      // As jmp_J: EIP = the next instruction's + disp.
      em.jump(k, i.imm | 0);
      return true;
    case "call": {
      // As call_J: the target inside CS's limit (else the handler raises #GP), the return
      // address pushed (the stack's fast path), then EIP = target.
      const ret = em.locals++;
      c.get(0).const((em.end(k) + (i.imm | 0)) | 0).add().set(V);
      em.checkTarget(k, V);
      c.get(0).const(em.end(k)).add().set(ret);
      em.push32(k, ret);
      em.transfer(k, V, (em.end(k) + (i.imm | 0)) | 0);
      return true;
    }
    case "callind": case "jmpind": {
      // As call_Ev / jmp_Ev (32-bit operand): the target read from the register or memory
      // operand (a fault there is the instruction's), inside CS's limit (else the handler
      // raises #GP), for CALL the return address pushed (the stack's fast path), EIP = target.
      const t = em.locals++;
      if (i.hasMem) { em.memory(i, k, i.seg, 4, false); em.memLoad(4); c.set(t); } else { em.regGet(i.rm, 4); c.set(t); }
      em.checkTarget(k, t);
      if (kind === "callind") { c.get(0).const(em.end(k)).add().set(V); em.push32(k, V); }
      em.transfer(k, t);
      return true;
    }
    case "ret": {
      // As ret: EIP popped (inside CS's limit, else the handler raises #GP), ESP += 4 (+ imm16 for C2).
      em.use.stack = true;
      em.memory(i, k, SegReg.SS, 4, false, () => { em.regGet(4, 4); });
      em.memLoad(4); c.set(V);
      em.checkTarget(k, V);
      c.get(A).const(4 + (i.opcode === 0xc2 ? i.imm & 0xffff : 0)).add().set(A);
      em.regSet(4, 4, A);
      em.transfer(k, V);
      return true;
    }
    case "loop": case "jcxz": {
      // As loop / jcxz (32-bit address and operand size): LOOP decrements ECX first, and
      // jumps while it is not 0 (LOOPE: and ZF, LOOPNE: and not ZF); JECXZ jumps if ECX is 0.
      // A target past CS's limit leaves before anything is done: the handler raises the #GP.
      const cnt = em.locals++;
      em.regGet(1, 4);
      if (kind === "loop") c.const(1).sub();
      c.set(cnt);
      c.get(cnt);
      if (kind === "jcxz") c.eqz();
      else if (i.opcode !== 0xe2) { c.const(0).ne(); em.expr("ZF", null); if (i.opcode === 0xe0) c.eqz(); c.and(); }
      c.if();
      c.get(0).const((em.end(k) + (i.imm | 0)) | 0).add().set(V);
      em.checkTarget(k, V);
      if (kind === "loop") em.regSet(1, 4, cnt);
      em.transfer(k, V, (em.end(k) + (i.imm | 0)) | 0);
      c.end();
      if (kind === "loop") em.regSet(1, 4, cnt);
      return true;
    }
    case "jcc": {
      em.condition(i.opcode & 0xf);
      c.if();
      em.jump(k, i.imm | 0);
      c.end();
      return true;
    }
  }
  return false;
}

const NEED_R_USER = TLB_VALID | TLB_RAM | TLB_USER, NEED_R_SUP = TLB_VALID | TLB_RAM;
const NEED_W_USER = TLB_VALID | TLB_RAM | TLB_DIRTY | TLB_USER_W, NEED_W_SUP = TLB_VALID | TLB_RAM | TLB_DIRTY | TLB_SUP_W;

/** A block whose function a batch's module holds: export `fn`, table index `index`, its region (null: none). */
interface Made { block: CompiledBlock; covered: number; index: number; region: readonly Member[] | null; fn: number }

/**
 * The WebAssembly tier of one CPU: its block functions in one table, the block map by
 * physical address, and a run loop in WebAssembly (`dispatch`) that goes from block to block
 * while the next one is compiled here, can be reached through the TLB as a fetch would reach
 * it, and fits in the slice. What it cannot do, the run loop in JavaScript does.
 */
export class WasmTier {
  private readonly table = new WebAssembly.Table({ element: "anyfunc", initial: 1024 });
  private readonly blocks: (CompiledBlock | null)[] = [];
  /** A region function's members (by table index; docs/jit.md, "Regions"). */
  private readonly members: (readonly Member[] | undefined)[] = [];
  /** The region functions (table indexes) each block is a member of, besides its own. */
  private readonly inRegions = new Map<CompiledBlock, number[]>();
  private readonly dispatch: (index: number, e0: number) => number;
  /** The run loop module's `flags` (flagsNow), imported by every block module. */
  private readonly flags: WebAssembly.ExportValue;
  private next = 0;
  private readonly ctx: Int32Array;
  private readonly map: Int32Array;
  /**
   * Where each function is written (Emitter.c), its prologue, then the batch's functions one
   * after another: kept from batch to batch (two buffers allocated for each block, 7 k on the
   * Linux boot, cost 2-6 µs each and memory touched for the first time: about 45 ms of the
   * boot's profile).
   */
  private readonly body = new Code(4096);
  private readonly prologue = new Code(4096);
  private readonly bodies = new Code(1 << 16);
  /** Blocks waiting to be compiled (enqueue). */
  private readonly pending: CompiledBlock[] = [];
  /** Batches handed to `compiler` (oldest first), with the cache's clear count then. */
  private readonly waiting: { ticket: number; made: readonly Made[]; clears: number }[] = [];
  /** Times the cache was cleared: a module compiled before the last clear is not installed. */
  private clears = 0;
  /**
   * The blocks of `waiting`'s batches by physical address: a later batch's regions take them
   * as members as they would take them installed (a region holds its members' code; the
   * Linux boot's XZ loop made 55 region members instead of 77 without this, and took half as
   * many hops again through the run loop).
   */
  private readonly inFlight = new Map<number, { block: CompiledBlock; index: number }>();
  constructor(
    private readonly slot: CpuSlot,
    private readonly stats: Pick<JitStats, "wasm" | "wasmCovered" | "wasmInstructions" | "wasmRuns" | "wasmChained" | "wasmRegions" | "wasmRegionMembers" | "wasmModules" | "wasmModulesOffThread" | "wasmDroppedCompiling">,
    /** Blocks compiled together (JitOptions.wasmBatch). */
    private readonly batch: number,
    /** Whether a block is still one the run loop may enter (not dropped or evicted). */
    private readonly live: (b: CompiledBlock) => boolean,
    /** The CPU's memory: its RAM's size, and where its `notRam` is (-1: paging-off code is not compiled). */
    private readonly mem: { ramSize: number; notRamAt: number },
    /** Whether the CPU translates linear addresses now (the mode a block is compiled for). */
    private readonly paging: () => boolean,
    /** The segment registers now (a block is compiled for their flat segments). */
    private readonly segments: () => SegState,
    /** Whether the CPU's IN and OUT need no check and no exit now (ioDirect). */
    private readonly io: () => boolean,
    /** Compiles the modules on another thread (JitOptions.compiler), or null: at once, here. */
    private readonly compiler: ModuleCompiler | null = null,
  ) {
    this.ctx = slot.ctx;
    this.map = slot.blocks;
    const bytes = dispatcherModule(dispatcher(slot), DISPATCH_LOCALS, memoryImport(slot.memory), [
      { params: 0, code: flagsNow(slot), locals: 4, name: "flags" },
      { params: 1, code: recordFlags(), locals: 10, name: "record" },
    ]);
    const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), { e: { t: this.table, m: slot.memory } }).exports;
    this.dispatch = exports.f as (i: number, e0: number) => number;
    this.flags = exports.flags;
    this.ctx[Ctx.LINK_GEN] = 1;
  }

  /** The CPU whose run is in progress (WasmTier.run), for the `io` import. */
  private running: Cpu | null = null;
  /**
   * The `io` import: the bus cycle of an IN or OUT a block carries out (`code`: the port,
   * the size << 16, IO_OUT for an OUT; IO_OWNER for an "io" form, whose access the native
   * entries' owner makes on its guest's device, or refuses), `retired` instructions into the
   * run, with the instruction count the interpreter would have then (devices read the time
   * from it). Ctx.IO
   * says whether the run must leave after the instruction for the run loop's checks
   * (Cpu.runBlock's): a device moved the slice's end (yieldSlice), stopped the machine, raised
   * an interrupt the CPU may take, or changed what a fetch returns (A20, code written).
   */
  private readonly portIo = (code: number, value: number, retired: number): number => {
    const cpu = this.running!;
    const before = cpu.instructions, end = cpu.sliceEnd, epoch = cpu.codeEpoch, a20 = cpu.a20;
    const port = code & 0xffff, size = (code >>> 16) & 7, out = (code & IO_OUT) !== 0;
    // An "invlpg" or "io" form the native entries' owner leaves to the entry's function.
    const targets = cpu.mem.nativeTargets, owned = (code & IO_OWNER) !== 0, invlpg = (code & IO_INVLPG) !== 0;
    if (owned && (invlpg ? targets.invlpg === null : targets.io === null || !targets.io.accepts(port, size, out))) {
      this.ctx[Ctx.IO] = IO_REFUSED;
      return 0;
    }
    cpu.instructions = before + retired;
    let v: number;
    if (!owned) v = portAccess(cpu.io, out, port, size, value);
    else if (!invlpg) v = targets.io!.transfer(port, size, out, value);
    else {
      // The owner's part of INVLPG: the page's linear address with bit 0 set, or 0 (nothing more).
      const lin = targets.invlpg!(code & 7, value);
      v = lin === -1 ? 0 : (lin & ~0xfff) | 1;
    }
    cpu.instructions = before;
    // (IF as the run leaves it: a CLI before this in the run cleared it in the context.)
    const irq = (cpu.intrLine || cpu.nmiPending) && (cpu.nmiPending || (this.ctx[Ctx.ENTRY_FLAGS] & cpu.irqEnableMask) !== 0);
    this.ctx[Ctx.IO] = cpu.sliceEnd !== end || cpu.stopReason !== StopReason.None || irq || cpu.codeEpoch !== epoch || cpu.a20 !== a20 ? 1 : 0;
    return v;
  };

  /** What the run loop's links assume (Ctx.LINK_GEN), as the last run began: the code epoch, CS's base and limit, the fetch rights, the mode. */
  private linkEpoch = -1;
  private linkCsBase = 0;
  private linkCsLimit = 0;
  private linkNeedX = 0;
  private linkMode = 0;
  /** Every link made so far is void (the cache cleared, another run's conditions). */
  private newLinkGen(): void {
    this.ctx[Ctx.LINK_GEN] = ((this.ctx[Ctx.LINK_GEN] + 1) | 0) || 1;
  }

  /** Every block was dropped (BlockCompiler.evictAll): the map empties, table entries are reused. */
  clear(): void {
    this.newLinkGen();
    this.clears++;
    this.inFlight.clear();
    this.next = 0;
    this.pending.length = 0;
    this.map.fill(0);
    this.blocks.length = 0;
    this.members.length = 0;
    this.inRegions.clear();
  }

  /** `block` was dropped: the run loop must not find it. */
  dropped(block: CompiledBlock): void {
    // (The run loop's links go with the code epoch that changes with every drop: Cpu.codeWritten.)
    // The regions holding a copy of it go too: their first blocks run at tier 1 and are
    // compiled again after as many runs as the first time (under bt, the translator's
    // writes into the cache drop blocks all through the boot).
    const regions = this.inRegions.get(block);
    if (regions !== undefined) {
      this.inRegions.delete(block);
      for (const r of regions) {
        const root = this.blocks[r];
        if (root !== null && root !== undefined && root.wasm === r) { this.unmap(root); root.wasm = -1; root.runs = 0; }
      }
    }
    if (block.wasm >= 0) this.unmap(block);
  }
  private unmap(block: CompiledBlock): void {
    const phys = block.instrs[0].phys, at = 4 * mapSlot(phys);
    if (this.map[at] === ((phys + 1) | 0) && (this.map[at + 1] & 0xfffff) === block.wasm) this.map[at] = 0;
  }

  /**
   * Queue `block` for compiling; false if its first instruction is not one this tier takes
   * (the block stays at tier 1, and may become generated JavaScript). Queued blocks are
   * compiled `batch` at a time, in one module, and run at tier 1 until then.
   */
  enqueue(block: CompiledBlock): boolean {
    const first = block.instrs[0];
    if (!block.code32 || !(takes(first) || (first.native && first.nativeForm !== null))) return false;
    this.pending.push(block);
    if (this.pending.length >= this.batch) this.flush();
    return true;
  }

  /** Compile the queued blocks still live (`live`) as one module. */
  flush(): void {
    const blocks = this.pending.filter((b) => this.live(b));
    this.pending.length = 0;
    this.bodies.reset();
    // Table indexes first: a region names its members by theirs (one that fails to compile
    // keeps its index unused, and no region enters it: the block map never holds it).
    const first = this.next;
    this.next += blocks.length;
    while (this.next > this.table.length) this.table.grow(this.table.length);
    const batch = new Map<number, { block: CompiledBlock; index: number }>();
    blocks.forEach((block, k) => batch.set(block.instrs[0].phys, { block, index: first + k }));
    const fns: { code: Body; locals: number; debugName: string }[] = [];
    const made: Made[] = [];
    blocks.forEach((block, k) => {
      const region = this.region(block, batch);
      const f = this.function(block, region);
      if (f === null) return;
      // Named in CPU profiles by the physical address of the block (a region: of its first).
      fns.push({ ...f, debugName: `${region !== null ? "region" : "block"}@${block.instrs[0].phys.toString(16)}` });
      made.push({ block, covered: f.covered, index: first + k, region, fn: made.length });
    });
    if (fns.length === 0) return;
    const bytes = moduleOfFunctions(fns, memoryImport(this.slot.memory));
    this.stats.wasmModules++;
    if (this.compiler === null) this.instantiate(new WebAssembly.Module(bytes), made);
    else {
      this.stats.wasmModulesOffThread++;
      this.waiting.push({ ticket: this.compiler.compile(bytes), made, clears: this.clears });
      for (const m of made) this.inFlight.set(m.block.instrs[0].phys, m);
    }
  }

  /** Whether batches are being compiled on another thread (Cpu.run installs them: `install`). */
  get compiling(): boolean {
    return this.waiting.length !== 0;
  }

  /**
   * Install the modules `compiler` has finished, oldest first, without waiting for any. Each
   * block is installed only if still held (a code write or an eviction since the batch was
   * made drops it), and a region only if all its members are; a region not installed is
   * made again after as many runs of its first block as the first time (as `dropped` does).
   */
  install(): void {
    while (this.waiting.length > 0) {
      const w = this.waiting[0];
      const module = this.compiler!.take(w.ticket);
      if (module === undefined) return;
      this.waiting.shift();
      for (const m of w.made) if (this.inFlight.get(m.block.instrs[0].phys) === m) this.inFlight.delete(m.block.instrs[0].phys);
      if (module instanceof Error) throw module;
      if (w.clears !== this.clears) { this.stats.wasmDroppedCompiling += w.made.length; continue; }
      this.instantiate(module, w.made.filter(({ block, region }) => {
        const held = this.live(block) && (region === null || region.every((m) => this.live(m.block)));
        if (!held && region !== null && this.live(block)) block.runs = 0;
        if (!held) this.stats.wasmDroppedCompiling++;
        return held;
      }));
    }
  }

  /** Instantiate a batch's module and enter its functions (`made`) in the table and the block map. */
  private instantiate(module: WebAssembly.Module, made: readonly Made[]): void {
    const exports = new WebAssembly.Instance(module, { e: { m: this.slot.memory, f: this.flags, io: this.portIo } }).exports;
    made.forEach(({ block, covered, index, region, fn }) => {
      this.table.set(index, exports[String(fn)]);
      this.members[index] = region ?? undefined;
      for (const m of region?.slice(1) ?? []) {
        const list = this.inRegions.get(m.block);
        if (list === undefined) this.inRegions.set(m.block, [index]); else list.push(index);
      }
      if (region !== null) { this.stats.wasmRegions++; this.stats.wasmRegionMembers += region.length; }
      this.blocks[index] = block;
      const phys = block.instrs[0].phys, key = (phys + 1) | 0, at = mapSlot(phys);
      this.map[4 * at] = key;
      this.map[4 * at + 1] = index | (block.count << 20);
      this.map[4 * at + 2] = block.bytes;
      block.wasm = index;
      this.stats.wasm++;
      this.stats.wasmCovered += covered;
    });
  }

  /**
   * The region `root` heads (docs/jit.md, "Regions"), or null: the blocks of its page, compiled
   * or in this batch (`batch`: physical address → table index), that lie on a cycle through
   * it by the jumps, branches and fall-throughs whose targets a block knows (a loop), root
   * first. Only the batch block at the lowest address of such a cycle heads it (one copy of
   * each loop); a block alone that jumps back to itself is a region of one.
   */
  private region(root: CompiledBlock, batch: Map<number, { block: CompiledBlock; index: number }>): readonly Member[] | null {
    const page = root.instrs[0].phys & ~0xfff;
    const at = (phys: number): { block: CompiledBlock; index: number } | null => {
      const b = batch.get(phys);
      if (b !== undefined) return b;
      const f = this.inFlight.get(phys);
      if (f !== undefined && this.live(f.block)) return f;
      const slot = 4 * mapSlot(phys);
      if (this.map[slot] !== ((phys + 1) | 0)) return null;
      const index = this.map[slot + 1] & 0xfffff, block = this.blocks[index];
      return block !== null && block !== undefined && this.live(block) && block.instrs[0].phys === phys ? { block, index } : null;
    };
    // Forward from the root (breadth first, at most a page's worth), then back to it.
    const found = new Map<number, { block: CompiledBlock; index: number; next: number[] }>();
    const queue = [root.instrs[0].phys];
    while (queue.length > 0 && found.size < 32) {
      const phys = queue.shift()!;
      if (found.has(phys)) continue;
      const m = at(phys);
      if (m === null || m.block.code32 !== root.code32 || !takes(m.block.instrs[0])) continue;
      const next = successors(m.block).filter((p) => (p & ~0xfff) === page);
      found.set(phys, { ...m, next });
      queue.push(...next);
    }
    const reaches = new Set<number>([root.instrs[0].phys]);
    for (let grew = true; grew;) {
      grew = false;
      for (const [phys, m] of found) if (!reaches.has(phys) && m.next.some((p) => reaches.has(p))) { reaches.add(phys); grew = true; }
    }
    const rootPhys = root.instrs[0].phys;
    if (!found.get(rootPhys)?.next.some((p) => reaches.has(p))) return null;
    const cycle = [...reaches].filter((p) => found.has(p));
    if (cycle.some((p) => p < rootPhys && batch.has(p))) return null;
    cycle.sort((a, b) => (a === rootPhys ? -1 : b === rootPhys ? 1 : a - b));
    return cycle.slice(0, REGION_MEMBERS).map((p) => ({ block: found.get(p)!.block, delta: p - rootPhys, index: found.get(p)!.index }));
  }

  /** The function of one block (with the rest of its region), or null if it covers no instruction. */
  private function(block: CompiledBlock, region: readonly Member[] | null): { code: Body; locals: number; covered: number } | null {
    const direct = !this.paging();
    if (direct && this.mem.notRamAt < 0) return null;
    const em = new Emitter(this.slot, block, direct, this.mem.ramSize, this.mem.notRamAt, this.io(), this.body);
    // ES, SS and DS only: FS and GS are what a flat-model system gives a base (per-CPU data,
    // thread-local storage), and code compiled while one is flat would be refused at every
    // entry after (measured: Linux's FS is flat during early boot, then its per-CPU area).
    const segs = this.segments(), bits = flatBits(segs);
    for (const s of [SegReg.ES, SegReg.SS, SegReg.DS]) if ((bits & (1 << (FLAT_SEG + s))) !== 0 && segs[s].readHi >>> 0 >= 3) em.flatLimit[s] = segs[s].readHi >>> 0;
    const c = em.c;
    // Every exit branches out of this block to the epilogue.
    c.block();
    // A region: a loop over its members, each one's code after the end of its own block.
    if (region !== null) {
      em.region = region;
      em.current = em.locals++;
      em.enterable = em.locals++;
      c.loop();
      for (let t = 0; t < region.length; t++) c.block();
      c.get(em.current).brTable(region.map((_, t) => t), 0);
    }
    const needs: number[] = [];
    let covered = 0;
    for (let t = 0; t < (region?.length ?? 1); t++) {
      if (region !== null) { c.end(); em.beginMember(t); }
      const b = region?.[t].block ?? block;
      let k = 0;
      const n = b.count;
      // (A native entry inside the block is one whose form goes on after it: BlockCompiler.collect.)
      for (; k < n; k++) {
        const ins = b.instrs[k];
        if (ins.native && k < n - 1 && ins.nativeForm !== null) em.native(ins.nativeForm, k);
        else if (!emit(em, ins, k)) break;
      }
      const form = k === n - 1 ? b.instrs[k].nativeForm : null;
      if (form !== null) em.native(form, k++);
      // A function that stops before the block's end costs an entry from JavaScript and a
      // return to tier 1 every time: worth it only for a long enough run of instructions, or
      // when what stops it is a native helper that ends the block anyway (under bt, most
      // short blocks end in the RET or CALL helper, which leaves to JavaScript in any case),
      // or a UD2 that ends it, which the code before it jumps over on every run but the one
      // that fails (Linux's BUG() and WARN() sites: 87 k runs of such blocks went through
      // JavaScript on its boot).
      // So is a block that nearly always leaves before k, at a jump it covers: a loop whose
      // back edge is inside the block, the instruction after it (an IN, an OUT) run once
      // (tier 1 left it that way in 7 of 8 of the runs before this one, or more;
      // bench:modes' compute loop under bare: tier 2 at about 50 MIPS before, 20 M
      // instructions in 0.39 → 0.03 s).
      const last = k === n - 1 ? b.instrs[k] : null;
      const loops = b.leftAt >= 0 && b.leftAt < k && b.leftEarly * 8 >= (b.runs - 1) * 7;
      if (t === 0 && (k === 0 || (k < n && k < MIN_PARTIAL && !loops && !(last !== null && (last.native || last.def.mnemonic === "ud2"))))) return null;
      if (t === 0) covered = k;
      em.exit(k, false, k === n);
      needs.push(em.flatNeeded);
    }
    if (region !== null) c.end();
    c.end();
    // The epilogue: the registers written go back to memory.
    const regs = this.slot.base + CPU_SLOT.REGS;
    em.regLocal.forEach((l, r) => { if ((em.written >> r) & 1) c.const(0).get(l).store(regs + 4 * r); });
    c.get(em.result);
    // The prologue, now that the segments and registers the code uses are known.
    const pro = this.prologue.reset();
    pro.const(0).load(em.ctx(Ctx.FLAT)).const(needs[0]).and().const(needs[0]).ne().if().const(0).return().end();
    pro.const(0).load(em.ctx(Ctx.NEED_R)).set(NEED_R);
    pro.const(0).load(em.ctx(Ctx.NEED_W)).set(NEED_W);
    // The flat segments' limits are the ones the code compares with.
    for (let s = 0; s < 6; s++) {
      if (((em.flatUsed >> s) & 1) !== 0) pro.const(0).load(em.ctx(Ctx.READ_HI + s)).const(em.flatLimit[s] | 0).ne().if().const(0).return().end();
    }
    em.regLocal.forEach((l, r) => { if (l >= 0) pro.const(0).load(regs + 4 * r).set(l); });
    if (region !== null) {
      // Every member may be entered in this run: the context's FLAT bits they all need, and
      // all of the page inside CS's limit (the checks the run loop makes before a block).
      const all = needs.reduce((a, b) => a | b, 0);
      const last = Math.max(...region.map((m) => m.delta + m.block.bytes - 1));
      pro.const(0).load(em.ctx(Ctx.FLAT)).const(all).and().const(all).eq();
      pro.get(0).const(last).add().get(0).ltU().eqz().and();
      pro.get(0).const(last).add().const(0).load(em.ctx(Ctx.CS_LIMIT)).leU().and();
      pro.set(em.enterable);
    }
    pro.append(c);
    const at = this.bodies.length;
    this.bodies.append(pro);
    return { code: { length: pro.length, view: this.bodies.bytes.subarray(at, this.bodies.length) }, locals: em.locals - 1, covered };
  }


  /**
   * Run `block` from the current EIP, and the blocks after it while the WebAssembly run loop
   * finds them; the rest of the block it stops in runs at tier 1. Returns that block (the
   * JavaScript run loop chains on from it).
   */
  run(cpu: Cpu, block: CompiledBlock): CompiledBlock {
    const e0 = cpu.eip;
    // Paging through the 32-bit TLB, or linear = physical (as lower.ts's `flat`).
    const mode = cpu.lma ? 0 : cpu.paging ? FLAT_PAGED : cpu.a20 && cpu.nested === null ? FLAT_DIRECT | (cpu.mem.anyWatched ? 0 : FLAT_DIRECT_W) : 0;
    if (mode === 0) { cpu.runBlock(block, 0, e0); return block; }
    const segs = cpu.segs, ctx = this.ctx;
    let flat = mode | (segs[SegReg.SS].big ? FLAT_STACK : 0);
    ctx[Ctx.CS_LIMIT] = segs[SegReg.CS].limit;
    for (let s = 0; s < 6; s++) {
      const sc = segs[s];
      ctx[Ctx.SEG_BASE + s] = sc.base;
      ctx[Ctx.READ_HI + s] = sc.readHi;
      ctx[Ctx.WRITE_HI + s] = sc.writeHi;
      if (sc.readLo === 0 && sc.readHi >= 3) flat |= 1 << s;
      if (sc.writeLo === 0 && sc.writeHi >= 3) flat |= 256 << s;
    }
    flat |= flatBits(segs);
    if ((cpu.flags & F.DF) === 0) flat |= FLAT_UP;
    if (!cpu.alignmentChecked()) flat |= FLAT_UNALIGNED;
    // The native entries' forms: at CPL 1, with the table's header brought up to date.
    if (cpu.cpl === 1) {
      const refresh = cpu.mem.nativeTargets.refresh;
      if (refresh !== null) { refresh(); flat |= FLAT_CPL1; }
    }
    // PUSHF and RDTSC without a hardware-assisted guest's intercept or exit; PUSHF without the
    // strict CPU's #GP above CPL 0, RDTSC (Cpu.readTsc()) without CR4.TSD's.
    const host = cpu.guest === null && !cpu.nonRoot;
    if (host && !(cpu.features.strict && cpu.cpl > 0)) flat |= FLAT_PUSHF;
    if (ioDirect(cpu)) flat |= FLAT_IO;
    if (host && cpu.cpl === 0) flat |= FLAT_INVLPG;
    if (host && ((cpu.cr4 & CR4_TSD) === 0 || cpu.cpl === 0)) {
      flat |= FLAT_TSC;
      const tsc = cpu.readTsc(), hi = Math.floor(tsc / 0x1_0000_0000);
      ctx[Ctx.TSC] = tsc - hi * 0x1_0000_0000;
      ctx[Ctx.TSC + 1] = hi;
    }
    ctx[Ctx.FLAT] = flat;
    ctx[Ctx.ENTRY_FLAGS] = cpu.flags;
    ctx[Ctx.ENTRY_MASK] = cpu.lazyMask;
    ctx[Ctx.ENTRY_REC] = cpu.lOp;
    ctx[Ctx.ENTRY_REC + 1] = cpu.lDst;
    ctx[Ctx.ENTRY_REC + 2] = cpu.lSrc;
    ctx[Ctx.ENTRY_REC + 3] = cpu.lRes;
    ctx[Ctx.ENTRY_REC + 4] = cpu.lCin;
    ctx[Ctx.ENTRY_REC + 5] = cpu.lSize;
    const user = cpu.cpl === 3;
    ctx[Ctx.NEED_R] = user ? NEED_R_USER : NEED_R_SUP;
    ctx[Ctx.NEED_W] = user ? NEED_W_USER : NEED_W_SUP;
    ctx[Ctx.NEED_X] = user ? TLB_VALID | TLB_USER : TLB_VALID;
    ctx[Ctx.BUDGET] = Math.min(cpu.sliceEnd - cpu.instructions, 0x7fff_ffff);
    // The links hold while nothing a fetch depends on changed since they were made.
    const cs = segs[SegReg.CS], csBase = cs.base | 0, csLimit = cs.limit | 0, needX = ctx[Ctx.NEED_X], direct = mode & FLAT_DIRECT;
    if (cpu.codeEpoch !== this.linkEpoch || csBase !== this.linkCsBase || csLimit !== this.linkCsLimit || needX !== this.linkNeedX || direct !== this.linkMode) {
      this.linkEpoch = cpu.codeEpoch; this.linkCsBase = csBase; this.linkCsLimit = csLimit; this.linkNeedX = needX; this.linkMode = direct;
      this.newLinkGen();
    }
    ctx[Ctx.REPLAY] = 0;
    ctx[Ctx.TLB_DROPPED] = 0;
    ctx[Ctx.CHAINED] = 0;
    // EIP as the int32 the function takes: a kernel's EIP above 2^31 passed as a number is a
    // heap number allocated at every entry; as int32 bits it is a small integer.
    this.running = cpu;
    const res = this.dispatch(block.wasm, e0 | 0);
    if ((flat & FLAT_CPL1) !== 0) cpu.mem.nativeTargets.settle?.();
    const total = ctx[Ctx.TOTAL];
    cpu.instructions += total;
    if (ctx[Ctx.TLB_DROPPED] !== 0) cpu.translationDropped();
    // A CLI in the run cleared IF in the context's EFLAGS (nothing there sets it).
    if ((ctx[Ctx.ENTRY_FLAGS] & F.IF) === 0) cpu.flags &= ~F.IF;
    this.stats.wasmInstructions += total;
    const replay = ctx[Ctx.REPLAY];
    if (replay !== 0) {
      if (replay & REPLAY_EAGER) { cpu.flags = (cpu.flags & ~F.ARITH) | (ctx[Ctx.EAGER] & F.ARITH); cpu.lazyMask = 0; }
      if (replay & REPLAY_REC0) replayRecord(cpu, ctx, Ctx.REC0);
      if (replay & REPLAY_REC1) replayRecord(cpu, ctx, Ctx.REC1);
    }
    // The block it stopped in: a region's member (bits 10–15), entered at its offset from the first.
    const fn = ctx[Ctx.CUR], member = (res >>> MEMBER_SHIFT) & 63;
    const cur = member === 0 ? this.blocks[fn]! : this.members[fn]![member].block;
    // The context holds EIP as an int32: the offset is its unsigned value (a negative EIP
    // would pass every CS-limit check after it: eip-high.test.ts).
    const curE0 = (member === 0 ? ctx[Ctx.E0] : ctx[Ctx.E0] + this.members[fn]![member].delta) >>> 0;
    this.stats.wasmRuns++;
    this.stats.wasmChained += ctx[Ctx.CHAINED];
    const done = res & 0xff;
    if (done === 0) { cpu.eip = curE0; cpu.runBlock(cur, 0, curE0); return cur; }
    cpu.instrEip = done === 1 ? curE0 : curE0 + cur.end(done - 2);
    if ((res & CONTINUE) !== 0) { cpu.eip = ctx[Ctx.EIP] >>> 0; return cur; }
    cpu.eip = curE0 + cur.end(done - 1);
    cpu.runBlock(cur, done, curE0);
    return cur;
  }
}

// The run loop's locals (after its parameters, the table index and e0).
const D_RES = 2, D_TOTAL = 3, D_LIN = 4, D_E = 5, D_H = 6, D_V = 7, D_CHAINED = 8, D_CS = 9, D_NEED_X = 10, D_BUDGET = 11, D_DIRECT = 12, D_CSLIMIT = 13, D_NEXT = 14;
const D_GEN = 15, D_A = 16, D_B = 17;
const DISPATCH_LOCALS = 16;

/**
 * The WebAssembly run loop of the CPU owning `slot`: call block `index` at EIP `e0`; while it
 * ends where the run may go on, look up the next block as a fetch would find it (CS base +
 * EIP through the TLB with the fetch's rights and not execute-disabled, or directly with
 * paging off; no native monitor code on the page; the block map by physical address) and, if it fits in the budget, call it.
 * Returns the last block's result, with the total, its index and entry EIP in the context.
 */
function dispatcher(slot: CpuSlot): Code {
  const c = new Code();
  const ctx = (k: number): number => ctxAddress(slot, k);
  c.const(0).load(ctx(Ctx.SEG_BASE + SegReg.CS)).set(D_CS);
  c.const(0).load(ctx(Ctx.NEED_X)).set(D_NEED_X);
  c.const(0).load(ctx(Ctx.BUDGET)).set(D_BUDGET);
  c.const(0).load(ctx(Ctx.FLAT)).const(FLAT_DIRECT).and().set(D_DIRECT);
  c.const(0).load(ctx(Ctx.CS_LIMIT)).set(D_CSLIMIT);
  c.loop();
  // The instructions retired before this block (what a block's RDTSC adds to Ctx.TSC).
  c.const(0).get(D_TOTAL).store(ctx(Ctx.TOTAL));
  c.get(1).get(0).callIndirect(1).tee(D_RES);
  // (A region adds to Ctx.TOTAL the instructions of the members it went on from.)
  c.const(0xff).and().const(0).load(ctx(Ctx.TOTAL)).add().set(D_TOTAL);
  const leave = (): void => {
    c.const(0).get(D_TOTAL).store(ctx(Ctx.TOTAL));
    c.const(0).get(D_CHAINED).store(ctx(Ctx.CHAINED));
    c.const(0).get(0).store(ctx(Ctx.CUR));
    c.const(0).get(1).store(ctx(Ctx.E0));
    c.get(D_RES).return();
  };
  c.get(D_RES).const(CONTINUE).and().eqz().if(); leave(); c.end();
  // (Read at each hop: a block's INVLPG makes every link void.)
  c.const(0).load(ctx(Ctx.LINK_GEN)).set(D_GEN);
  // The link for the next EIP, if it was made in this generation: the block found there
  // last time, without the look-ups below (the TLB, native pages and the map cannot have
  // changed for it: Ctx.LINK_GEN).
  const links = slot.base + CPU_SLOT.LINKS;
  c.const(0).load(ctx(Ctx.EIP)).tee(D_NEXT).const(0x9e3779b1 | 0).mul().const(32 - LINK_BITS).shrU().const(4).shl().tee(D_A);
  c.load(links).get(D_NEXT).eq().get(D_A).load(links + 4).get(D_GEN).eq().and();
  c.if();
  c.get(D_A).load(links + 8).set(D_V);
  c.get(D_A).load(links + 12).set(D_B);
  c.else();
  // The next block: its linear address, the TLB entry a fetch would use, its physical address.
  c.get(D_NEXT).get(D_CS).add().set(D_LIN);
  c.get(D_DIRECT).eqz().if();
  c.get(D_LIN).const(12).shrU().const(2).shl().load(slot.base + CPU_SLOT.TLB).tee(D_E);
  c.get(D_NEED_X).const(TLB_NOEXEC).or().and().get(D_NEED_X).ne().if(); leave(); c.end();
  c.get(D_E).const(-4096).and().get(D_LIN).const(0xfff).and().or().set(D_LIN);
  c.end();
  // A page of native code entered at CPL 0 holds no blocks. A page of CPL-1 entries (a binary
  // translator's helpers) is ordinary code with those entries overlaid: a block starts at one
  // only if its form goes on after it (formGoesOn; the tier refuses the others, so the map
  // has none), and ends at the first that does not.
  c.get(D_LIN).const(12).shrU().load8u(slot.nativePages).const(NATIVE_RING0).and().if(); leave(); c.end();
  c.get(D_LIN);
  // The map: the key (physical address + 1) at the slot its hash picks.
  c.const(0x9e3779b1 | 0).mul().const(32 - MAP_BITS).shrU().const(4).shl().tee(D_H);
  c.load(slot.base + CPU_SLOT.BLOCKS).get(D_LIN).const(1).add().ne().if(); leave(); c.end();
  c.get(D_H).load(slot.base + CPU_SLOT.BLOCKS + 4).set(D_V);
  c.get(D_H).load(slot.base + CPU_SLOT.BLOCKS + 8).set(D_B);
  c.get(D_A).get(D_NEXT).store(links);
  c.get(D_A).get(D_GEN).store(links + 4);
  c.get(D_A).get(D_V).store(links + 8);
  c.get(D_A).get(D_B).store(links + 12);
  c.end();
  // Room in the slice for the whole block (as the JavaScript run loop asks), and the whole
  // block inside CS's limit (EIP <= limit and limit - EIP >= bytes - 1, without wrapping).
  c.get(D_V).const(20).shrU().get(D_TOTAL).add().get(D_BUDGET).gtU();
  c.get(D_NEXT).get(D_CSLIMIT).gtU().or();
  c.get(D_CSLIMIT).get(D_NEXT).sub().get(D_B).const(1).sub().ltU().or();
  c.if(); leave(); c.end();
  c.get(D_V).const(0xfffff).and().set(0);
  c.get(D_NEXT).set(1);
  c.get(D_CHAINED).const(1).add().set(D_CHAINED);
  c.br(0);
  c.end();
  leave();
  return c;
}

/** Leave lazy record `at` in the CPU's flags as the instruction that made it would have. */
function replayRecord(cpu: Cpu, ctx: Int32Array, at: number): void {
  const op = ctx[at];
  if (op === LAZY_ADC || op === LAZY_SBB) cpu.lCin = ctx[at + 4];
  cpu.setLazy(op, ctx[at + 1], ctx[at + 2], ctx[at + 3], ctx[at + 5]);
}

/**
 * The run loop module's `flags() -> i32`: the six arithmetic flags (EFLAGS bits) as the
 * context says they are now: the state the run began with (Ctx.ENTRY_*), then what the
 * blocks before left (Ctx.REPLAY, in its order). A block calls it (its import, function 0)
 * before an instruction that reads a flag it did not make.
 */
function flagsNow(slot: CpuSlot): Code {
  const c = new Code();
  const ctx = (k: number): number => ctxAddress(slot, k);
  const RECORD = 2; // the module's function `record`
  const f = 0, m = 1, r = 2, v = 3;
  c.const(0).load(ctx(Ctx.ENTRY_FLAGS)).set(f);
  c.const(0).load(ctx(Ctx.ENTRY_MASK)).tee(m).if();
  c.get(f).get(m).const(-1).xor().and().const(ctx(Ctx.ENTRY_REC)).call(RECORD).get(m).and().or().set(f);
  c.end();
  c.const(0).load(ctx(Ctx.REPLAY)).set(r);
  c.get(r).const(REPLAY_EAGER).and().if().const(0).load(ctx(Ctx.EAGER)).set(f).end();
  c.get(r).const(REPLAY_REC0).and().if().const(ctx(Ctx.REC0)).call(RECORD).set(f).end();
  c.get(r).const(REPLAY_REC1).and().if();
  c.const(ctx(Ctx.REC1)).call(RECORD).set(v);
  // Under an INC/DEC, CF stays what it was.
  c.get(v).const(~F.CF).and().get(f).const(F.CF).and().or().get(v);
  c.const(0).load(ctx(Ctx.REC1)).const(LAZY_INC).eq().const(0).load(ctx(Ctx.REC1)).const(LAZY_DEC).eq().or().select().set(f);
  c.end();
  c.get(f).const(F.ARITH).and();
  return c;
}

/**
 * The run loop module's `record(at) -> i32`: the six flags (EFLAGS bits) of the lazy record
 * at byte address `at` (op, d, s, r, cin, size), from flag-semantics.ts by operation.
 */
function recordFlags(): Code {
  const c = new Code();
  const at = 0, op = 1, d = 2, s = 3, r = 4, cin = 5, size = 6, mask = 7, bits = 8, sh = 9, out = 10;
  [op, d, s, r, cin, size].forEach((l, k) => { c.get(at).load(4 * k).set(l); });
  c.const(-1).const(0xffff).const(0xff).get(size).const(2).eq().select().get(size).const(4).eq().select().set(mask);
  c.get(size).const(3).shl().tee(bits).const(1).sub().set(sh);
  // One case per operation: block k's end is followed by operation k's code.
  c.block();
  for (let k = 0; k < LAZY_OPS; k++) c.block();
  c.get(op).brTable(Array.from({ length: LAZY_OPS }, (_, k) => k), LAZY_OPS);
  const leaves: Record<Leaf, number> = { d, s, r, cin, mask, sh, bits };
  for (let k = 0; k < LAZY_OPS; k++) {
    c.end();
    FLAGS.forEach((flag, n) => {
      emitExpr(c, FLAG_OF_RECORD[flag][k], (leaf) => { c.get(leaves[leaf]); }, () => { throw new Error("a flag in a record's expression"); });
      c.const(31 - Math.clz32(FLAG_BIT[flag])).shl();
      if (n > 0) c.or();
    });
    c.set(out).br(LAZY_OPS - 1 - k);
  }
  c.end();
  c.get(out);
  return c;
}
