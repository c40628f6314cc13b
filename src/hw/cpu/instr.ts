// A decoded instruction: everything the interpreter (and later a block compiler) needs,
// computed once by the decoder and cached by physical address.

import type { Cpu } from "./cpu.js";
import type { OpDef } from "./opcode-table.js";
import type { CompiledBlock } from "./jit/block-compiler.js";
import type { NativeForm } from "../mem/native-targets.js";

export type Handler = (cpu: Cpu, i: Instr) => void;

/** REP prefix kinds. */
export const enum Rep { None = 0, RepE = 1, RepNE = 2 }

export interface Instr {
  def: OpDef;
  handler: Handler;
  /**
   * Tier 1 (cpu.ts `runBlock`): what the run loop does after it (block-compiler.ts `Check`),
   * and where it ends in its page ((phys & 0xfff) + len, never 0: the EIPs a block stores are
   * its entry EIP plus these offsets). Set when a block first holds it; here rather than in
   * arrays of the block, whose loads were most of a cold block's cost (a CPU profile's line
   * ticks).
   */
  check: number;
  pageEnd: number;
  /** Length in bytes, prefixes included. */
  len: number;
  /** Decoded with a 32-bit default (CS.D): part of the cache key. */
  code32: boolean;
  /** Decoded in 64-bit mode (decode64): part of the cache key too. */
  code64: boolean;
  /** 64-bit mode: the REX prefix byte (0x40–0x4F), 0 without one. */
  rex: number;
  /** 64-bit mode: the operand size in bytes (1, 2, 4, 8), byte forms included. */
  osz: number;
  /** 64-bit mode: 64-bit addressing (false with 67h). */
  adsize64: boolean;
  /** 64-bit mode: the displacement's high half (sign of disp32, or bits 63:32 of a moffs64). */
  dispHi: number;
  /** 64-bit mode: imm (low) and imm2 (high) hold MOV r64, imm64's 64-bit immediate. */
  imm64: boolean;
  opsize32: boolean;
  adsize32: boolean;
  /** Segment register for the memory operand: default from base register, or the override. */
  seg: number;
  /** Segment override prefix present (-1 if none). */
  segOverride: number;
  rep: Rep;
  lock: boolean;
  /** Main opcode (0x00–0xFF one-byte, 0x0F00–0x0FFF two-byte, 0x0F3800–0x0F38FF and 0x0F3A00–0x0F3AFF three-byte). */
  opcode: number;
  modrm: number;
  mod: number;
  reg: number;
  rm: number;
  /** True if the ModR/M names memory (mod != 3). */
  hasMem: boolean;
  /** Effective address parts: base and index register (-1 for none), scale shift, displacement. */
  eaBase: number;
  eaIndex: number;
  eaScale: number;
  disp: number;
  /** First and second immediates (far pointer: imm = offset, imm2 = selector; ENTER: Iw, Ib). */
  imm: number;
  imm2: number;
  /** How many of imm/imm2 the decoder filled. */
  immCount: number;
  /** Physical address the instruction was decoded from (for cache invalidation). */
  phys: number;
  /** Native monitor code (PhysicalMemory.registerNative), not decoded bytes. */
  native: boolean;
  /** A CPL-1 native entry's form (what compiled code may do in its place; native-targets.ts). */
  nativeForm: NativeForm | null;
  /** Held by the decoded-instruction cache (whole inside one page of RAM or ROM). */
  cached: boolean;
  /** Times the interpreter ran it (it becomes a block's start at HOT_THRESHOLD). */
  hits: number;
  /** The compiled block that starts here (block-compiler.ts), if any. */
  block: CompiledBlock | null;
  /**
   * The first block that holds it past its start, and its index there: where the run loop
   * resumes mid-block (after a slice's end, an interrupt's return, an exit), it runs that
   * block's tail at tier 1 rather than counting a hit toward a block of its own here.
   */
  owner: CompiledBlock | null;
  ownerIndex: number;
}

/**
 * A new Instr, every field at its start value, made by one object literal: V8 tracks where a
 * literal's objects are allocated and, once most of them outlive the young generation (the
 * decoded-instruction cache keeps them), allocates the next ones there in the old generation
 * (allocation-site pretenuring). As a class's `new`, each one was copied twice by the
 * scavenger first: on the direct Linux boot 284 MB copied → 109 MB, its pauses 506 → 275 ms
 * (docs/jit.md, "Where it stands", fourteenth session). Every Instr comes from here, so all
 * have one hidden class.
 */
export function newInstr(): Instr {
  return {
    def: undefined!,
    handler: undefined!,
    check: 0,
    pageEnd: 0,
    len: 0,
    code32: false,
    code64: false,
    rex: 0,
    osz: 4,
    adsize64: false,
    dispHi: 0,
    imm64: false,
    opsize32: false,
    adsize32: false,
    seg: 3,
    segOverride: -1,
    rep: Rep.None,
    lock: false,
    opcode: 0,
    modrm: 0,
    mod: 0,
    reg: 0,
    rm: 0,
    hasMem: false,
    eaBase: -1,
    eaIndex: -1,
    eaScale: 0,
    disp: 0,
    imm: 0,
    imm2: 0,
    immCount: 0,
    phys: 0,
    native: false,
    nativeForm: null,
    cached: false,
    hits: 0,
    block: null,
    owner: null,
    ownerIndex: 0,
  };
}

/** newInstr's start values, for scratchInstr. */
const START = newInstr();

/**
 * A new Instr for a decode that is not kept (the binary translator's: decoder.ts `decode`'s
 * `make`), allocated at a site of its own. V8 pretenures newInstr's objects because most of
 * them outlive the young generation (the decoded-instruction cache keeps them); under bt the
 * translator's half a million decodes, garbage at once, came from the same literal, and V8
 * decided the opposite early in the boot, for good: the cache's Instrs were then copied by
 * every scavenge and promoted (175–177 MB on the Linux boot; 55–56 MB with this and cpu.ts's
 * PARTIAL_DROPS at 4,096: docs/jit.md, "Where it stands", seventeenth session). Its hidden
 * class is another one.
 */
export function scratchInstr(): Instr {
  return { ...START };
}

/** A copy of scratch Instr `i` to keep, with newInstr's hidden class. */
export function keepInstr(i: Instr): Instr {
  return Object.assign(newInstr(), i);
}
