// A small WebAssembly binary writer (the core specification's encodings, §5): what the
// block compiler's WebAssembly tier (wasm-block.ts) and the bench's experiment emit with.
// Only i32 values, one function per module, the memory imported as `e.m`.

/** The value type i32, and the empty block type. */
const I32 = 0x7f, VOID = 0x40;

/** A function body being written: each method appends one instruction's bytes. */
export class Code {
  /** The bytes so far: `bytes.subarray(0, length)` (a buffer that grows by doubling). */
  bytes: Uint8Array<ArrayBuffer>;
  length = 0;
  /**
   * `capacity`: the bytes expected, when known (each doubling is an allocation and a copy:
   * 60 ms of the Linux boot's compiling started at 256 bytes).
   */
  constructor(capacity = 256) {
    this.bytes = new Uint8Array(Math.max(16, capacity));
  }
  /** Blocks, loops and ifs open (a `br` to the outermost is `br(open - 1)`). */
  open = 0;
  /** Empty again, keeping its buffer (a body written into the same Code each time). */
  reset(): this {
    this.length = 0;
    this.open = 0;
    return this;
  }
  /** Append one byte. */
  byte(x: number): this {
    if (this.length === this.bytes.length) this.grow(1);
    this.bytes[this.length++] = x;
    return this;
  }
  /** Append another body's bytes. */
  append(c: Body): this {
    if (this.length + c.length > this.bytes.length) this.grow(c.length);
    this.bytes.set(c.view, this.length);
    this.length += c.length;
    return this;
  }
  private grow(more: number): void {
    let size = this.bytes.length * 2;
    while (size < this.length + more) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.view);
    this.bytes = grown;
  }
  /** The bytes written, as a view. */
  get view(): Uint8Array { return this.bytes.subarray(0, this.length); }
  uleb(v: number): this { do { let x = v & 0x7f; v >>>= 7; if (v !== 0) x |= 0x80; this.byte(x); } while (v !== 0); return this; }
  sleb(v: number): this {
    v |= 0;
    for (;;) {
      const x = v & 0x7f; v >>= 7;
      if ((v === 0 && (x & 0x40) === 0) || (v === -1 && (x & 0x40) !== 0)) return this.byte(x);
      this.byte(x | 0x80);
    }
  }
  const(v: number): this { this.byte(0x41); return this.sleb(v); }
  /** An i32.const of five bytes whatever its value, to be set later by `patch`; returns where. */
  constLater(): number {
    this.byte(0x41);
    const at = this.length;
    for (let k = 0; k < 5; k++) this.byte(0);
    return at;
  }
  /** Set the constant `constLater` left at `at` (a signed LEB128 padded to five bytes). */
  patch(at: number, v: number): void {
    v |= 0;
    for (let k = 0; k < 4; k++) this.bytes[at + k] = ((v >> (7 * k)) & 0x7f) | 0x80;
    this.bytes[at + 4] = (v >> 28) & 0x7f;
  }
  get(l: number): this { this.byte(0x20); return this.uleb(l); }
  set(l: number): this { this.byte(0x21); return this.uleb(l); }
  tee(l: number): this { this.byte(0x22); return this.uleb(l); }
  // Memory: alignment hint, then the offset added to the address on the stack.
  load(off: number): this { this.byte(0x28).byte(2); return this.uleb(off); }
  load8u(off: number): this { this.byte(0x2d).byte(0); return this.uleb(off); }
  load8s(off: number): this { this.byte(0x2c).byte(0); return this.uleb(off); }
  load16u(off: number): this { this.byte(0x2f).byte(1); return this.uleb(off); }
  load16s(off: number): this { this.byte(0x2e).byte(1); return this.uleb(off); }
  store(off: number): this { this.byte(0x36).byte(2); return this.uleb(off); }
  store8(off: number): this { this.byte(0x3a).byte(0); return this.uleb(off); }
  store16(off: number): this { this.byte(0x3b).byte(1); return this.uleb(off); }
  eqz(): this { this.byte(0x45); return this; }
  eq(): this { this.byte(0x46); return this; }
  ne(): this { this.byte(0x47); return this; }
  ltU(): this { this.byte(0x49); return this; }
  gtU(): this { this.byte(0x4b); return this; }
  popcnt(): this { this.byte(0x69); return this; }
  add(): this { this.byte(0x6a); return this; }
  sub(): this { this.byte(0x6b); return this; }
  and(): this { this.byte(0x71); return this; }
  or(): this { this.byte(0x72); return this; }
  xor(): this { this.byte(0x73); return this; }
  shl(): this { this.byte(0x74); return this; }
  shrU(): this { this.byte(0x76); return this; }
  shrS(): this { this.byte(0x75); return this; }
  // i64, for a product's high half.
  i64ExtendS(): this { this.byte(0xac); return this; }
  i64Mul(): this { this.byte(0x7e); return this; }
  i64Const(v: number): this { this.byte(0x42); return this.sleb(v); }
  i64ShrS(): this { this.byte(0x87); return this; }
  i64ShrU(): this { return this.byte(0x88); }
  i64Add(): this { return this.byte(0x7c); }
  i64ExtendU(): this { return this.byte(0xad); }
  i64Load(off: number): this { return this.byte(0x29).byte(3).uleb(off); }
  i64Shl(): this { return this.byte(0x86); }
  i64Or(): this { return this.byte(0x84); }
  i64DivU(): this { return this.byte(0x80); }
  i32Wrap(): this { this.byte(0xa7); return this; }
  /** The value below the top two if the top is non-zero, else the one below it. */
  select(): this { this.byte(0x1b); return this; }
  drop(): this { this.byte(0x1a); return this; }
  mul(): this { this.byte(0x6c); return this; }
  leU(): this { this.byte(0x4d); return this; }
  rotl(): this { return this.byte(0x77); }
  rotr(): this { return this.byte(0x78); }
  if(): this { this.open++; return this.byte(0x04).byte(VOID); }
  block(): this { this.open++; return this.byte(0x02).byte(VOID); }
  /** Branch to label `targets[top of stack]`, or `other` when it is past their end. */
  brTable(targets: readonly number[], other: number): this {
    this.byte(0x0e).uleb(targets.length);
    for (const t of targets) this.uleb(t);
    return this.uleb(other);
  }
  /** Call function `index` (imports first). */
  call(index: number): this { return this.byte(0x10).uleb(index); }
  loop(): this { this.open++; return this.byte(0x03).byte(VOID); }
  /** Branch to the enclosing block or loop `depth` levels out (0: the innermost). */
  br(depth: number): this { this.byte(0x0c); return this.uleb(depth); }
  brIf(depth: number): this { this.byte(0x0d); return this.uleb(depth); }
  /** Call entry (top of stack) of table 0 as a function of type `type`. */
  callIndirect(type: number): this { return this.byte(0x11).uleb(type).byte(0); }
  else(): this { this.byte(0x05); return this; }
  end(): this { this.open--; return this.byte(0x0b); }
  return(): this { this.byte(0x0f); return this; }
}

/** A function body's bytes: a Code, or a part of one (the WebAssembly tier's batch of bodies, wasm-block.ts). */
export interface Body { readonly length: number; readonly view: Uint8Array }

/** A module function: its type (an index into the module's types), its code, its i32 locals beyond the parameters, its export name. */
interface ModuleFunction { type: number; code: Body; locals: number; name: string; debugName?: string }

/** Append a section: its id, its body's length, its body. */
/** Append a name: its length, its (ASCII) characters. */
function name(out: Code, s: string): Code {
  out.uleb(s.length);
  for (let k = 0; k < s.length; k++) out.byte(s.charCodeAt(k));
  return out;
}

/** The bytes of `v`'s unsigned LEB128 encoding. */
function ulebLength(v: number): number {
  let n = 1;
  for (v >>>= 7; v !== 0; v >>>= 7) n++;
  return n;
}

/** The memory a module imports: exactly `pages` 64 KiB pages, shared between threads or not. */
export interface MemoryImport {
  pages: number;
  shared: boolean;
}

/** What a module importing `memory` must declare (a shared memory only matches a shared import). */
export function memoryImport(memory: WebAssembly.Memory): MemoryImport {
  const buffer = memory.buffer;
  return { pages: buffer.byteLength >>> 16, shared: typeof SharedArrayBuffer === "function" && buffer instanceof SharedArrayBuffer };
}

/**
 * A module (§5.5): function types of i32 parameters (each given by its count) and one i32
 * result; the imports `e.t` (a table of functions, if `table`), `e.m` (`memory`) and the
 * functions `fnImports` (`e.<name>` of type index `type`: functions 0, 1, …, the module's
 * own after them); and `fns`, each exported under its name.
 */
function module(types: readonly number[], table: boolean, fnImports: readonly { name: string; type: number }[], memory: MemoryImport, fns: readonly ModuleFunction[]): Uint8Array<ArrayBuffer> {
  // Two buffers a module: `out`, and `part` for each small section in turn (an ArrayBuffer
  // costs 2-6 µs to allocate on the hosts vmm86 is measured on; a module had nine).
  const out = new Code(fns.reduce((n, f) => n + f.code.length + 40, 256)), part = new Code(512);
  const section = (id: number): void => {
    out.byte(id).uleb(part.length).append(part);
    part.length = 0;
  };
  for (const x of [0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0]) out.byte(x);
  part.uleb(types.length);
  for (const n of types) {
    part.byte(0x60).uleb(n);
    for (let k = 0; k < n; k++) part.byte(I32);
    part.byte(1).byte(I32);
  }
  section(1);
  part.uleb(1 + (table ? 1 : 0) + fnImports.length);
  if (table) name(name(part, "e"), "t").byte(1).byte(0x70).byte(0).byte(0);
  // Limits with a maximum (1), and shared (2: the threads proposal's flag).
  name(name(part, "e"), "m").byte(2).byte(memory.shared ? 3 : 1).uleb(memory.pages).uleb(memory.pages);
  for (const f of fnImports) name(name(part, "e"), f.name).byte(0).uleb(f.type);
  const first = fnImports.length;
  section(2);
  part.uleb(fns.length);
  for (const f of fns) part.uleb(f.type);
  section(3);
  part.uleb(fns.length);
  fns.forEach((f, k) => name(part, f.name).byte(0).uleb(first + k));
  section(7);
  // The code section, written in place: each body is the locals' declaration (one entry of
  // `locals` i32s, or none), the code and `end`, after its size.
  const head = (f: ModuleFunction): number => (f.locals > 0 ? 2 + ulebLength(f.locals) : 1);
  const size = (f: ModuleFunction): number => head(f) + f.code.length + 1;
  out.byte(10).uleb(fns.reduce((n, f) => n + ulebLength(size(f)) + size(f), ulebLength(fns.length)));
  out.uleb(fns.length);
  for (const f of fns) {
    out.uleb(size(f));
    if (f.locals > 0) out.byte(1).uleb(f.locals).byte(I32); else out.byte(0);
    out.append(f.code).byte(0x0b);
  }
  // The custom "name" section's function names (appendix 7.4.2): what a CPU profile shows
  // for each function in place of wasm-function[n].
  const named = fns.filter((f) => f.debugName !== undefined);
  if (named.length > 0) {
    part.uleb(named.length);
    fns.forEach((f, k) => { if (f.debugName !== undefined) name(part.uleb(first + k), f.debugName); });
    const subsection = part.length;
    out.byte(0).uleb(ulebLength(4) + 4 + 1 + ulebLength(subsection) + subsection);
    name(out, "name").byte(1).uleb(subsection).append(part);
  }
  return out.bytes.subarray(0, out.length);
}

/**
 * A module of one exported function `f` taking `params` i32s and returning an i32, with
 * `locals` more i32 locals, importing `memory` as `e.m`.
 */
export function moduleOf(code: Code, params: number, locals: number, memory: MemoryImport): Uint8Array<ArrayBuffer> {
  return module([params], false, [], memory, [{ type: 0, code, locals, name: "f" }]);
}

/**
 * A module of functions `(i32) -> i32`, each with its own count of more i32 locals, exported
 * as "0", "1", …, importing `memory` as `e.m`, a function `() -> i32`
 * as `e.f` (function 0: Code.call(0)) and a function `(i32, i32, i32) -> i32` as `e.io`
 * (function 1): one compile for many blocks (V8's cost per module is most of a small block's).
 */
export function moduleOfFunctions(fns: readonly { code: Body; locals: number; debugName?: string }[], memory: MemoryImport): Uint8Array<ArrayBuffer> {
  return module([1, 0, 3], false, [{ name: "f", type: 1 }, { name: "io", type: 2 }], memory,
    fns.map((f, k) => ({ type: 0, code: f.code, locals: f.locals, name: String(k), debugName: f.debugName })));
}

/**
 * A module whose function `f(index, arg) -> i32` (locals as `moduleOf`) may call entries of
 * the imported table `e.t` as functions `(i32) -> i32` (Code.callIndirect(1)), over the
 * imported memory `e.m`: the WebAssembly tier's run loop (wasm-block.ts). One call site in
 * JavaScript then reaches every block: a JavaScript call site reaching thousands of
 * different WebAssembly functions takes V8's generic, slow path into WebAssembly. `more`:
 * further functions, exported under their names, each with its number of parameters
 * (function 1, 2, … of the module: Code.call).
 */
export function dispatcherModule(code: Code, locals: number, memory: MemoryImport,
  more: readonly { params: number; code: Code; locals: number; name: string }[] = []): Uint8Array<ArrayBuffer> {
  const types = [2, 1, 0];
  const fns = more.map((f) => {
    if (!types.includes(f.params)) types.push(f.params);
    return { type: types.indexOf(f.params), code: f.code, locals: f.locals, name: f.name };
  });
  return module(types, true, [], memory, [{ type: 0, code, locals, name: "f", debugName: "dispatch" }, ...fns.map((f) => ({ ...f, debugName: f.name }))]);
}
