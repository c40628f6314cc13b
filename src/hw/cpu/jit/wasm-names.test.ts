// The WebAssembly tier names its functions in each module's "name" section (appendix 7.4.2
// of the core specification): a CPU profile or `perf` shows `block@<physical address>`,
// `region@…` and the run loop's `dispatch` where it would show wasm-function[n].

import { test } from "node:test";
import assert from "node:assert/strict";
import { Code, moduleOfFunctions } from "./wasm-writer.js";
import { FlatMachine, CODE } from "../../../../test/support/flat-machine.js";
import { loadAsm } from "../../../../test/protection/harness.js";
import { WASM_SOON } from "../../../../test/support/flat-run.js";

/** The function names of a module's "name" section: function index → name. */
function functionNames(mod: WebAssembly.Module): Map<number, string> {
  const sections = WebAssembly.Module.customSections(mod, "name");
  assert.equal(sections.length, 1, "one name section");
  const b = new Uint8Array(sections[0]);
  let p = 0;
  const uleb = (): number => { let r = 0, s = 0, x; do { x = b[p++]; r |= (x & 0x7f) << s; s += 7; } while (x & 0x80); return r >>> 0; };
  const names = new Map<number, string>();
  while (p < b.length) {
    const id = b[p++], size = uleb(), end = p + size;
    if (id === 1) {
      for (let n = uleb(); n > 0; n--) {
        const index = uleb(), len = uleb();
        names.set(index, String.fromCharCode(...b.subarray(p, p + len)));
        p += len;
      }
    }
    p = end;
  }
  return names;
}

test("moduleOfFunctions names its functions after the two imported ones", () => {
  const body = (): Code => new Code().const(7);
  const bytes = moduleOfFunctions([{ code: body(), locals: 0, debugName: "block@1000" }, { code: body(), locals: 0, debugName: "region@2000" }], { pages: 1, shared: false });
  const mod = new WebAssembly.Module(bytes);
  assert.deepEqual([...functionNames(mod)], [[2, "block@1000"], [3, "region@2000"]]);
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1 });
  const exports = new WebAssembly.Instance(mod, { e: { m: memory, f: () => 0, io: () => 0 } }).exports;
  assert.equal((exports["1"] as (x: number) => number)(0), 7, "the names change nothing else");
});

test("the tier's modules name the run loop and each block by its physical address", () => {
  const seen: WebAssembly.Module[] = [];
  const Original = WebAssembly.Module;
  const Recording = function (bytes: BufferSource) { const m = new Original(bytes); seen.push(m); return m; } as unknown as typeof WebAssembly.Module;
  Object.assign(Recording, Original);
  WebAssembly.Module = Recording;
  try {
    const fm = new FlatMachine({ cpl: 0, jit: WASM_SOON });
    loadAsm(fm, "mov ecx, 5000\nxor eax, eax\nL:\nadd eax, ecx\ndec ecx\njnz L\nhlt");
    fm.cpu.run(1_000_000);
    assert.ok(fm.cpu.halted);
    const names = seen.flatMap((m) => [...functionNames(m).values()]);
    assert.ok(names.includes("dispatch"), `the run loop is named (${names.join(", ")})`);
    const loop = fm.cpu.cachedInstr(CODE + 7)?.block;
    assert.ok(loop !== undefined && loop !== null && loop.wasm >= 0, "the loop's block is WebAssembly");
    const phys = loop.instrs[0].phys.toString(16);
    assert.ok(names.includes(`block@${phys}`) || names.includes(`region@${phys}`), `the loop's function is named for ${phys} (${names.join(", ")})`);
  } finally {
    WebAssembly.Module = Original;
  }
});
