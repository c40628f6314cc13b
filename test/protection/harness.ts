// Helpers for the protection tests (src/hw/cpu/*.test.ts, src/hw/mmu/*.test.ts): assemble
// test code with GNU as, edit the flat machine's GDT/IDT/TSS, and read exception frames back
// from the handler's stack.
//
// Test code is written in Intel syntax and assembled with `as --32` at test time (about
// 25 ms per snippet, cached in memory and in a directory under the OS temp dir keyed by a
// hash of the source), so every test shows the instructions it runs.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlatMachine, GDT, IDT, STUBS, TSS } from "../support/flat-machine.js";
import { SegReg } from "../../src/hw/cpu/segment.js";

const cache = new Map<string, Uint8Array>();
const diskCache = join(tmpdir(), "vmm86-asm-cache");

/**
 * Assemble 32-bit Intel-syntax code (`.code16` inside is allowed) into flat binary.
 * `org` is the address the code will run at (for jumps to absolute labels).
 */
export function asm(source: string, org = 0x10000): Uint8Array {
  return assemble(source, org, false);
}

/**
 * Assemble with `as --64`: the code starts in `.code32` and switches with `.code64` (the
 * long-mode tests enter 64-bit mode from protected mode).
 */
export function asm64(source: string, org = 0x10000): Uint8Array {
  return assemble(source, org, true);
}

function assemble(source: string, org: number, x64: boolean): Uint8Array {
  const key = `${x64 ? "64" : ""}${org}\n${source}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const cached = join(diskCache, `${createHash("sha1").update(key).digest("hex")}.bin`);
  if (existsSync(cached)) {
    const bytes = new Uint8Array(readFileSync(cached));
    cache.set(key, bytes);
    return bytes;
  }
  const dir = mkdtempSync(join(tmpdir(), "vmm86-asm-"));
  try {
    writeFileSync(join(dir, "t.s"), `.intel_syntax noprefix\n.code32\n.text\n${source}\n`);
    execFileSync("as", [x64 ? "--64" : "--32", "-o", join(dir, "t.o"), join(dir, "t.s")]);
    execFileSync("ld", ["-m", x64 ? "elf_x86_64" : "elf_i386", "-Ttext", `0x${org.toString(16)}`, "--oformat", "binary", "-e", "0",
      "-o", join(dir, "t.bin"), join(dir, "t.o")]);
    const bytes = new Uint8Array(readFileSync(join(dir, "t.bin")));
    cache.set(key, bytes);
    // Write then rename, so a concurrent test process never reads half a file.
    mkdirSync(diskCache, { recursive: true });
    writeFileSync(join(dir, "out.bin"), bytes);
    renameSync(join(dir, "out.bin"), cached);
    return bytes;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Assemble `source` and load it at `at` (default CODE), pointing EIP there. */
export function loadAsm(fm: FlatMachine, source: string, at = 0x10000): void {
  fm.load(asm(source, at), at);
}

/** Write GDT entry `index` (selector index * 8) and extend GDTR.limit to cover it. */
export function setGdt(fm: FlatMachine, index: number, [lo, hi]: [number, number]): number {
  fm.mem.write32(GDT + index * 8, lo);
  fm.mem.write32(GDT + index * 8 + 4, hi);
  const cpu = fm.cpu;
  if (cpu.gdtrLimit < index * 8 + 7) cpu.gdtrLimit = index * 8 + 7;
  return index * 8;
}

/** Write IDT entry `vector`. */
export function setIdt(fm: FlatMachine, vector: number, [lo, hi]: [number, number]): void {
  fm.mem.write32(IDT + vector * 8, lo);
  fm.mem.write32(IDT + vector * 8 + 4, hi);
}

/** The high dword of GDT entry `index` (to read accessed/busy bits). */
export function gdtHigh(fm: FlatMachine, index: number): number {
  return fm.mem.read32(GDT + index * 8 + 4);
}

/** `n` dwords at SS:ESP, lowest address first (the last thing pushed first). */
export function stackDwords(fm: FlatMachine, n: number): number[] {
  const cpu = fm.cpu;
  const base = cpu.segs[SegReg.SS].base + (cpu.regs[4] >>> 0);
  const out: number[] = [];
  for (let k = 0; k < n; k++) out.push(fm.mem.read32(base + k * 4) >>> 0);
  return out;
}

/** `n` words at SS:SP (for 16-bit frames). */
export function stackWords(fm: FlatMachine, n: number): number[] {
  const cpu = fm.cpu;
  const base = cpu.segs[SegReg.SS].base + (cpu.regs[4] >>> 0);
  const out: number[] = [];
  for (let k = 0; k < n; k++) out.push(fm.mem.read16(base + k * 2));
  return out;
}

/** Address of the HLT stub for `vector` (where the flat IDT's gate points). */
export function stub(vector: number): number {
  return STUBS + vector * 16;
}

/** Set the TSS limit (GDT entry 5) so the I/O bitmap, which starts at TSS+0x68, is inside it. */
export function setTssLimit(fm: FlatMachine, limit: number): void {
  const hi = fm.mem.read32(GDT + 5 * 8 + 4);
  fm.mem.write16(GDT + 5 * 8, limit & 0xffff);
  fm.mem.write32(GDT + 5 * 8 + 4, (hi & ~0x000f_0000) | (limit & 0x000f_0000));
  fm.cpu.tr.limit = limit;
  fm.cpu.tr.refresh();
}

export { TSS };
