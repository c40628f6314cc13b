// A small WebAssembly binary writer (the core specification's encodings, §5): what the
// block compiler's WebAssembly tier (wasm-block.ts) and the bench's experiment emit with.
// Only i32 values, one function per module, the memory imported as `e.m`.

/** The value type i32, and the empty block type. */
const I32 = 0x7f, VOID = 0x40;

/** A function body being written: each method appends one instruction's bytes. */
export class Code {
  readonly b: number[] = [];
  uleb(v: number): this { do { let x = v & 0x7f; v >>>= 7; if (v !== 0) x |= 0x80; this.b.push(x); } while (v !== 0); return this; }
  sleb(v: number): this {
    v |= 0;
    for (;;) {
      const x = v & 0x7f; v >>= 7;
      if ((v === 0 && (x & 0x40) === 0) || (v === -1 && (x & 0x40) !== 0)) { this.b.push(x); return this; }
      this.b.push(x | 0x80);
    }
  }
  const(v: number): this { this.b.push(0x41); return this.sleb(v); }
  get(l: number): this { this.b.push(0x20); return this.uleb(l); }
  set(l: number): this { this.b.push(0x21); return this.uleb(l); }
  tee(l: number): this { this.b.push(0x22); return this.uleb(l); }
  // Memory: alignment hint, then the offset added to the address on the stack.
  load(off: number): this { this.b.push(0x28, 2); return this.uleb(off); }
  load8u(off: number): this { this.b.push(0x2d, 0); return this.uleb(off); }
  load8s(off: number): this { this.b.push(0x2c, 0); return this.uleb(off); }
  load16u(off: number): this { this.b.push(0x2f, 1); return this.uleb(off); }
  load16s(off: number): this { this.b.push(0x2e, 1); return this.uleb(off); }
  store(off: number): this { this.b.push(0x36, 2); return this.uleb(off); }
  store8(off: number): this { this.b.push(0x3a, 0); return this.uleb(off); }
  store16(off: number): this { this.b.push(0x3b, 1); return this.uleb(off); }
  eqz(): this { this.b.push(0x45); return this; }
  eq(): this { this.b.push(0x46); return this; }
  ne(): this { this.b.push(0x47); return this; }
  ltU(): this { this.b.push(0x49); return this; }
  gtU(): this { this.b.push(0x4b); return this; }
  popcnt(): this { this.b.push(0x69); return this; }
  add(): this { this.b.push(0x6a); return this; }
  sub(): this { this.b.push(0x6b); return this; }
  and(): this { this.b.push(0x71); return this; }
  or(): this { this.b.push(0x72); return this; }
  xor(): this { this.b.push(0x73); return this; }
  shl(): this { this.b.push(0x74); return this; }
  shrU(): this { this.b.push(0x76); return this; }
  shrS(): this { this.b.push(0x75); return this; }
  // i64, for a product's high half.
  i64ExtendS(): this { this.b.push(0xac); return this; }
  i64Mul(): this { this.b.push(0x7e); return this; }
  i64Const(v: number): this { this.b.push(0x42); return this.sleb(v); }
  i64ShrS(): this { this.b.push(0x87); return this; }
  i32Wrap(): this { this.b.push(0xa7); return this; }
  /** The value below the top two if the top is non-zero, else the one below it. */
  select(): this { this.b.push(0x1b); return this; }
  drop(): this { this.b.push(0x1a); return this; }
  mul(): this { this.b.push(0x6c); return this; }
  leU(): this { this.b.push(0x4d); return this; }
  if(): this { this.b.push(0x04, VOID); return this; }
  loop(): this { this.b.push(0x03, VOID); return this; }
  /** Branch to the enclosing block or loop `depth` levels out (0: the innermost). */
  br(depth: number): this { this.b.push(0x0c); return this.uleb(depth); }
  brIf(depth: number): this { this.b.push(0x0d); return this.uleb(depth); }
  /** Call entry (top of stack) of table 0 as a function of type `type`. */
  callIndirect(type: number): this { this.b.push(0x11); this.uleb(type); this.b.push(0); return this; }
  else(): this { this.b.push(0x05); return this; }
  end(): this { this.b.push(0x0b); return this; }
  return(): this { this.b.push(0x0f); return this; }
}

const uleb = (v: number): number[] => new Code().uleb(v).b;
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];

/** One function of a module: its type (an index into `types`), its code, its i32 locals beyond the parameters, its export name. */
interface ModuleFunction { type: number; code: Code; locals: number; name: string }

/**
 * A module (§5.5): function types of i32 parameters (each given by its count) and one i32
 * result; the imports `e.t` (a table of functions, if `table`) and `e.m` (a memory of
 * exactly `pages` 64 KiB pages); and `fns`, each exported under its name.
 */
function module(types: readonly number[], table: boolean, pages: number, fns: readonly ModuleFunction[]): Uint8Array<ArrayBuffer> {
  const typeSection = [...uleb(types.length)];
  for (const n of types) typeSection.push(0x60, ...uleb(n), ...Array<number>(n).fill(I32), 1, I32);
  const imports = [table ? 2 : 1, ...(table ? [...name("e"), ...name("t"), 1, 0x70, 0, 0] : []),
    ...name("e"), ...name("m"), 2, 1, ...uleb(pages), ...uleb(pages)];
  const exports = [...uleb(fns.length)];
  fns.forEach((f, k) => exports.push(...name(f.name), 0, ...uleb(k)));
  const bodies = [...uleb(fns.length)];
  for (const f of fns) {
    const head = f.locals > 0 ? [1, ...uleb(f.locals), I32] : [0];
    bodies.push(...uleb(head.length + f.code.b.length + 1), ...head);
    for (const x of f.code.b) bodies.push(x);
    bodies.push(0x0b);
  }
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, typeSection),
    ...section(2, imports),
    ...section(3, [...uleb(fns.length), ...fns.flatMap((f) => uleb(f.type))]),
    ...section(7, exports),
    ...section(10, bodies),
  ]);
}

/**
 * A module of one exported function `f` taking `params` i32s and returning an i32, with
 * `locals` more i32 locals, importing a memory of `pages` 64 KiB pages as `e.m`.
 */
export function moduleOf(code: Code, params: number, locals: number, pages: number): Uint8Array<ArrayBuffer> {
  return module([params], false, pages, [{ type: 0, code, locals, name: "f" }]);
}

/**
 * A module of functions `(i32) -> i32`, each with its own count of more i32 locals, exported
 * as "0", "1", …, importing a memory of `pages` 64 KiB pages as `e.m`: one compile for many
 * blocks (V8's cost per module is most of a small block's).
 */
export function moduleOfFunctions(fns: readonly { code: Code; locals: number }[], pages: number): Uint8Array<ArrayBuffer> {
  return module([1], false, pages, fns.map((f, k) => ({ type: 0, code: f.code, locals: f.locals, name: String(k) })));
}

/**
 * A module whose function `f(index, arg) -> i32` (locals as `moduleOf`) may call entries of
 * the imported table `e.t` as functions `(i32) -> i32` (Code.callIndirect(1)), over the
 * imported memory `e.m`: the WebAssembly tier's run loop (wasm-block.ts). One call site in
 * JavaScript then reaches every block: a JavaScript call site reaching thousands of
 * different WebAssembly functions takes V8's generic, slow path into WebAssembly.
 */
export function dispatcherModule(code: Code, locals: number, pages: number): Uint8Array<ArrayBuffer> {
  return module([2, 1], true, pages, [{ type: 0, code, locals, name: "f" }]);
}
