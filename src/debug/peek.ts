// A debugger's look at the page tables: the walk the processor makes (hw/mmu/paging.ts), as
// a supervisor read, but leaving the Accessed and Dirty bits alone — looking must not change
// the guest.

import type { Cpu } from "../hw/cpu/cpu.js";
import type { PhysicalMemory } from "../hw/mem/physical-memory.js";
import { walk, Translation, type PageTableMemory } from "../hw/mmu/paging.js";

/** Page tables in `mem`, read as they are: a walk through this sets no A or D bit. */
export class ReadOnlyTables implements PageTableMemory {
  constructor(readonly mem: PhysicalMemory) {}
  read32(addr: number): number { return this.mem.read32(addr); }
  write32(): void { /* looking changes nothing */ }
}

/**
 * The physical address linear `lin` maps to in `cpu`'s current page tables (read through
 * `tables`), or -1 if nowhere; the walk's result is left in `t`. Allocates nothing (the
 * monitor asks on every exit: monitor.ts trapSoon).
 */
export function peekPhysical(cpu: Cpu, lin: number, tables: ReadOnlyTables, t: Translation): number {
  if (!cpu.paging) { t.writable = true; t.user = true; return lin >>> 0; }
  if (!walk(tables, cpu, lin, false, false, t)) return -1;
  return (t.frame | (lin & 0xfff)) >>> 0;
}

/** Where linear `lin` maps in `cpu`'s current page tables (in `mem`), or null if nowhere. */
export function peekLinear(cpu: Cpu, lin: number, mem: PhysicalMemory = cpu.mem): { pa: number; t: Translation } | null {
  const t = new Translation();
  const pa = peekPhysical(cpu, lin, new ReadOnlyTables(mem), t);
  return pa < 0 ? null : { pa, t };
}
