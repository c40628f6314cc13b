// A debugger's look at the page tables: the walk the processor makes (hw/mmu/paging.ts), as
// a supervisor read, but leaving the Accessed and Dirty bits alone — looking must not change
// the guest.

import type { Cpu } from "../hw/cpu/cpu.js";
import type { PhysicalMemory } from "../hw/mem/physical-memory.js";
import { walk, Translation } from "../hw/mmu/paging.js";

/** Where linear `lin` maps in `cpu`'s current page tables (in `mem`), or null if nowhere. */
export function peekLinear(cpu: Cpu, lin: number, mem: PhysicalMemory = cpu.mem): { pa: number; t: Translation } | null {
  const t = new Translation();
  if (!cpu.paging) { t.writable = true; t.user = true; return { pa: lin >>> 0, t }; }
  const ro = Object.create(mem) as PhysicalMemory;
  ro.write32 = () => {};
  if (!walk(ro, cpu, lin, false, false, t)) return null;
  return { pa: (t.frame | (lin & 0xfff)) >>> 0, t };
}
