// The branch targets a monitor's native entries look up (DESIGN.md §1, native monitor code;
// docs/bt.md, "Returns" and "Calls").
//
// A binary translator's RET and CALL helpers are native entries entered at CPL 1: the CPU
// calls a function where their bytes are. Each of them is a stand-in for the inline look-up
// sequence a real translator emits (pop the return address, find its translation in a
// table, jump there), and this is that table, in memory the block compiler's WebAssembly
// tier reads: a direct-mapped cache of key → target, 2^16 slots. An entry registered with
// a *form* (NativeForm) says which of those sequences it is, so the tier can run it inside
// compiled code (jit/wasm-block.ts) instead of leaving to JavaScript for it. The function
// stays the definition: the tier does the form only when every check below passes, and
// otherwise leaves before the entry, which then runs as always.
//
// The table's owner (the translator) keeps it a cache of its own map: a slot holds a key's
// target or nothing, never a stale one. Before a run at CPL 1 the CPU asks the owner to
// bring the header up to date (`refresh`): whether the forms may run now (a debugger may
// need to see each instruction first), the highest target a CALL form may reach, and the
// flags the owner keeps for its guest (VFLAGS, the bits VFLAGS_MASK names: IF, IOPL and
// the other flags a deprivileged guest does not own). A PUSHF form pushes those in place of
// the machine's; a CLI form clears IF there; a PUSH Sreg form pushes the owner's selector
// (SELECTORS). After such a run the CPU tells the owner
// (`settle`), which takes VFLAGS back into its guest state. An IO form asks the owner to do
// the port access itself (`io`), on its guest's device at the instruction's time.

/** What a native entry at CPL 1 does, when it is one of the table's forms. */
export type NativeForm =
  /** A near RET: pop the return address from SS:ESP (32-bit stack), ESP += 4 + `pop`, go on at its target. */
  | { readonly kind: "ret"; readonly pop: number }
  /** A near CALL of `target`: push `ret` on SS:ESP (32-bit stack), go on at `target`'s target. */
  | { readonly kind: "call"; readonly ret: number; readonly target: number }
  /**
   * A near CALL r/m32: its target register `reg`, or (`reg` -1) the dword at the effective
   * address `disp` + `base` + `index` << `scale` (-1: no such register) through segment
   * register `seg`; then as "call".
   */
  | ({ readonly kind: "callind"; readonly ret: number; readonly reg: number } & FormAddress)
  /** PUSHF (32-bit operand size, 32-bit stack): the machine's flags with VFLAGS's bits in VFLAGS_MASK, VM and RF clear, pushed on SS:ESP. */
  | { readonly kind: "pushf" }
  /** CLI: IF cleared in VFLAGS. */
  | { readonly kind: "cli" }
  /** PUSH Sreg (32-bit operand size, 32-bit stack): the owner's selector of segment register `seg` (SELECTORS), 16 bits stored, 4 bytes pushed. */
  | { readonly kind: "pushsreg"; readonly seg: number }
  /**
   * IN or OUT (not the string forms) of `size` bytes at port `port` (-1: DX's), AL/AX/EAX,
   * done by the owner (`NativeTargets.io`) on its guest's device at the instruction's time.
   */
  | { readonly kind: "io"; readonly port: number; readonly size: 1 | 2 | 4; readonly out: boolean }
  /**
   * INVLPG m, its address `disp` + `base` + `index` << `scale` (-1: no such register) in
   * segment register `seg`: the owner's part first (`NativeTargets.invlpg`), then, if it says
   * so, the entry in the CPU's TLB of the page it names dropped as INVLPG drops it.
   */
  | ({ readonly kind: "invlpg" } & FormAddress);

/** A form's memory operand as the instruction's ModR/M and SIB name it: `disp` + `base` + `index` << `scale` (-1: no such register) in segment register `seg`. */
export interface FormAddress { readonly seg: number; readonly base: number; readonly index: number; readonly scale: number; readonly disp: number }

/**
 * The owner's port I/O for the "io" form: whether it does an access in place now (otherwise
 * the compiled code leaves before the entry, whose function then runs), and the access itself,
 * made while the CPU's instruction count is the instruction's time: the value an IN reads.
 */
export interface NativeIo {
  accepts(port: number, size: number, out: boolean): boolean;
  transfer(port: number, size: number, out: boolean, value: number): number;
}

/**
 * Whether an entry of this form, done, goes on at the bytes after its own (PUSHF, CLI, port
 * I/O, PUSH Sreg, INVLPG): a block may go on past it. RET and CALL transfer control and end a block.
 */
export function formGoesOn(form: NativeForm | null): boolean {
  return form !== null && (form.kind === "pushf" || form.kind === "cli" || form.kind === "io" || form.kind === "pushsreg" || form.kind === "invlpg");
}

/** The table's slots: keys, then values (0: empty), then the header. */
export const NATIVE_TARGET_SLOTS = 1 << 16;
/** Header words (int32 indexes into `header`). */
export const enum TargetHeader {
  /** 1 when the forms may run (the owner's `refresh` says). */
  ENABLED = 0,
  /** The highest key a CALL form's target may be (unsigned). */
  CALL_LIMIT = 1,
  /** The RET and CALL forms run in compiled code (the owner adds them to its counters). */
  RET_COUNT = 2,
  CALL_COUNT = 3,
  /** The guest's flags as the owner keeps them (the bits in VFLAGS_MASK), read by PUSHF forms, written by CLI forms. */
  VFLAGS = 4,
  VFLAGS_MASK = 5,
  /** The PUSHF and CLI forms run in compiled code. */
  PUSHF_COUNT = 6,
  CLI_COUNT = 7,
  /** The CALL r/m32 forms run in compiled code. */
  CALLIND_COUNT = 8,
  /** The selectors of ES, CS, SS, DS, FS, GS as the owner's guest has them (6 words), pushed by PUSH Sreg forms. */
  SELECTORS = 9,
  /** The PUSH Sreg forms run in compiled code. */
  PUSHSREG_COUNT = 15,
}
/** Byte offsets in the table of its values and of its header (keys at 0). */
export const TARGET_VALS = 4 * NATIVE_TARGET_SLOTS, TARGET_HEADER = 8 * NATIVE_TARGET_SLOTS;
/** Bytes of the table in the WebAssembly memory (a whole number of pages of 4 KiB). */
export const NATIVE_TARGETS_BYTES = TARGET_HEADER + 4096;

/** The slot of key `k` (both the owner and the compiled code hash this way). */
export function targetSlot(k: number): number {
  return (k ^ (k >>> 16)) & (NATIVE_TARGET_SLOTS - 1);
}

export class NativeTargets {
  readonly keys: Int32Array;
  /** The target (int32 bits) of the key in the same slot; 0 for an empty slot. */
  readonly vals: Int32Array;
  readonly header: Int32Array;
  /** Called before a run at CPL 1 that may use the forms: the owner writes ENABLED, CALL_LIMIT, VFLAGS and VFLAGS_MASK. */
  refresh: (() => void) | null = null;
  /** Called after a run that `refresh` began, before anything else: the owner takes VFLAGS back. */
  settle: (() => void) | null = null;
  /** The owner's port I/O, for "io" forms (null: they leave before the entry). */
  io: NativeIo | null = null;
  /**
   * The owner's part of an "invlpg" form (`ea` in its guest's segment register `seg`): the
   * linear address whose entry in the CPU's TLB must go too, or -1 (null: the forms leave
   * before the entry).
   */
  invlpg: ((seg: number, ea: number) => number) | null = null;

  /**
   * In `memory` at byte offset `at` (where the WebAssembly tier reads it), or in arrays of
   * its own (`memory` null: no tier to read it).
   */
  constructor(memory: WebAssembly.Memory | null, at: number) {
    const buf = memory?.buffer ?? new ArrayBuffer(NATIVE_TARGETS_BYTES);
    const base = memory !== null ? at : 0;
    this.keys = new Int32Array(buf, base, NATIVE_TARGET_SLOTS);
    this.vals = new Int32Array(buf, base + TARGET_VALS, NATIVE_TARGET_SLOTS);
    this.header = new Int32Array(buf, base + TARGET_HEADER, 16);
  }
}
