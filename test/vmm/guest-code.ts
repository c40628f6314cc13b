// Runs a few bytes of hand-assembled 32-bit code as a guest kernel (flat protected mode,
// paging off, ring 0, as a boot loader leaves it) on the bare machine or under the monitor.
// The code ends by writing AL to isa-debug-exit (port 0xF4); COM1 output is collected.

import { Pc } from "../../src/hw/pc/pc.js";
import { applyEntryState } from "../../src/hw/pc/boot-entry.js";
import type { RunEnd } from "../../src/hw/pc/clocked-run.js";
import { Monitor, type MonitorMode, type ShadowSync } from "../../src/vmm/monitor.js";
import { parseCpuSpec } from "../../src/hw/cpu/models.js";
import type { JitOptions } from "../../src/hw/cpu/jit/block-compiler.js";

export const CODE = 0x100000;
export const STACK_TOP = 0x90000;
const RAM = 8 << 20;

export interface CodeRun {
  serial: string;
  end: RunEnd;
  cycles: number;
  mon: Monitor | null;
  /** Read a guest dword after the run. */
  read32(addr: number): number;
}

export function runCode(code: number[], mode: "bare" | MonitorMode, variant: "standard" | "strict" = "standard",
  data: [number, number[]][] = [], jit?: boolean | JitOptions, shadowSync?: ShadowSync): CodeRun {
  let serial = "";
  const opts = { ramBytes: RAM, acpi: false, model: parseCpuSpec(variant), jit, serialOut: (b: number) => { serial += String.fromCharCode(b); } };
  const entry = { eip: CODE, regs: { esp: STACK_TOP }, mode: "protected32" as const };
  if (mode === "bare") {
    const pc = new Pc(opts);
    pc.mem.load(CODE, Uint8Array.from(code));
    for (const [at, bytes] of data) pc.mem.load(at, Uint8Array.from(bytes));
    applyEntryState(pc.machine, entry);
    const end = pc.run({ deadline: Date.now() + 30_000, maxInstructions: 5e6 });
    return { serial, end, cycles: pc.cpu.cycles, mon: null, read32: (a) => pc.mem.read32(a) };
  }
  const mon = new Monitor({ ...opts, mode, shadowSync });
  mon.guestMem.load(CODE, Uint8Array.from(code));
  for (const [at, bytes] of data) mon.guestMem.load(at, Uint8Array.from(bytes));
  applyEntryState(mon.bootTarget, entry);
  mon.start();
  const end = mon.run({ deadline: Date.now() + 30_000, maxInstructions: 5e6 });
  return { serial, end, cycles: mon.guestCycles, mon, read32: (a) => mon.guestMem.read32(a) };
}

/** mov dx, 0x3F8; mov al, c; out dx, al — for each character. */
export function print(text: string): number[] {
  const out: number[] = [0x66, 0xba, 0xf8, 0x03];
  for (const ch of text) out.push(0xb0, ch.charCodeAt(0), 0xee);
  return out;
}

/** mov al, v; out 0xF4, al: power off with status (v << 1) | 1. */
export function exit(v: number): number[] {
  return [0xb0, v, 0xe6, 0xf4];
}

/** Little-endian bytes of a dword. */
export function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
