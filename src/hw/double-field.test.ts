// The fields declared as doubles from the start (double-field.ts) keep their object's map
// when a guest stores into them what a small integer cannot hold. A field that started as a
// small integer is widened instead, its object gets a new map, and V8 throws away every
// optimised function that had seen the old one: under the Linux boot that was the whole
// model's code, several times in its first few million instructions. V8's own map
// comparison (`%HaveSameMap`, enabled here for this file's process) says whether a store
// changed the map.

import { test } from "node:test";
import assert from "node:assert/strict";
import v8 from "node:v8";
import { Machine } from "./machine.js";
import { CpuFault } from "./cpu/fault.js";
import { CompiledBlock } from "./cpu/jit/block-compiler.js";
import { PageBytes } from "./cpu/page-bytes.js";
import { newInstr } from "./cpu/instr.js";
import { Translation } from "./mmu/paging.js";
import { Monitor } from "../vmm/monitor.js";

v8.setFlagsFromString("--allow-natives-syntax");
const sameMap = new Function("a", "b", "return %HaveSameMap(a, b);") as (a: object, b: object) => boolean;

/** Store `value` into each field of `a` in turn; after each, `a` must still have `b`'s map. */
function widen(what: string, a: object, b: object, fields: string[], value = 0xc100_0000): void {
  assert.ok(sameMap(a, b), `${what}: two fresh objects share a map`);
  for (const f of fields) {
    assert.equal(typeof (a as Record<string, unknown>)[f], "number", `${what}.${f} is a number field`);
    (a as Record<string, number>)[f] = value;
    assert.ok(sameMap(a, b), `${what}.${f}: storing ${value} changed the object's map (declare it with DOUBLE_FIELD)`);
  }
}

test("the CPU's addresses and counters hold values of 2^31 and more without a new map", () => {
  const a = new Machine({ ramBytes: 1 << 20 }).cpu, b = new Machine({ ramBytes: 1 << 20 }).cpu;
  widen("Cpu", a, b, ["eip", "instrEip", "gdtrBase", "gdtrLimit", "idtrBase", "idtrLimit", "cr2", "cr3", "sysenterEsp",
    "sysenterEip", "tscOffset", "guestTscOffset", "kernelGsBase", "instructions", "idleCycles", "sliceEnd", "blockStart", "rmwLin"]);
  widen("Cpu", a, b, ["eip", "kernelGsBase", "instructions"], -0x7fff_8000_0000);
  widen("SegmentCache", a.segs[3], b.segs[3], ["base", "limit", "readLo", "readHi", "writeLo", "writeHi"], 0xffff_ffff);
  widen("CpuFault", a.fault, new CpuFault(), ["cr2"]);
  widen("the x87 instruction context", a.fpuInstr, b.fpuInstr, ["eip", "offset"]);
  widen("JitStats", a.jit!.stats, b.jit!.stats, ["compileMs", "instructions", "wasmInstructions"], 2 ** 31 + 0.5);
});

test("their first values are +0 where the model starts at zero", () => {
  const cpu = new Machine({ ramBytes: 1 << 20 }).cpu;
  // -0 is only the declaration's: what the model reads at power-on is the reset value.
  for (const f of ["instrEip", "gdtrBase", "idtrBase", "cr2", "cr3", "instructions", "idleCycles"] as const) assert.ok(Object.is(cpu[f], 0), f);
  assert.ok(Object.is(cpu.segs[3].base, 0) && Object.is(new CpuFault().cr2, 0));
  assert.ok(Object.is(cpu.jit!.stats.instructions, 0));
});

test("the block compiler's links, a page walk's frame and the monitor's cycle counts hold values of 2^31 and more without a new map", () => {
  const mk = (): CompiledBlock => new CompiledBlock([newInstr()], 0);
  widen("CompiledBlock", mk(), mk(), ["next0Eip", "next0Base", "next1Eip", "next1Base"]);
  widen("PageBytes", new PageBytes(), new PageBytes(), ["eip0"]);
  widen("Translation", new Translation(), new Translation(), ["frame"], 0xfee0_0000);
  const mon = (): Monitor => new Monitor({ ramBytes: 4 << 20, acpi: false, mode: "trap" });
  widen("Monitor", mon(), mon(), ["armedCycle", "overhead", "guestDeadline", "lastCr3", "guestIdle", "haltedAt", "calloutEip", "resumedGuest"]);
});
