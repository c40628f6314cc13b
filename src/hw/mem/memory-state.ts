// Guest-physical memory as plain data for snapshots (docs/snapshot.md): the RAM's non-zero
// 4 KiB pages, and the ROM images mapped into the address space. A page of zeros costs
// nothing but its absence from the list, so a 128 MiB guest that touched 20 MiB saves 20 MiB
// before compression. Device memory (VGA text) belongs to its device's state.

import type { PhysicalMemory } from "./physical-memory.js";

const PAGE = 4096;

export interface MemoryState {
  /** RAM size in bytes. */
  ramBytes: number;
  /** Numbers of the pages that are not all zero, ascending. */
  pages: Uint32Array;
  /** Those pages' bytes, one after the other. */
  data: Uint8Array;
  /** ROM images: base address and bytes. */
  roms: { base: number; data: Uint8Array }[];
}

function zeroPage(ram: Uint8Array, off: number): boolean {
  // Four bytes at a time, through a view of the same buffer.
  const words = new Int32Array(ram.buffer, ram.byteOffset + off, PAGE / 4);
  for (let k = 0; k < words.length; k++) if (words[k] !== 0) return false;
  return true;
}

/** The contents of `mem`'s RAM and ROMs (the bytes are copied). */
export function saveMemory(mem: PhysicalMemory): MemoryState {
  const ram = mem.ram;
  const count = mem.ramSize / PAGE;
  const list: number[] = [];
  for (let p = 0; p < count; p++) if (!zeroPage(ram, p * PAGE)) list.push(p);
  const data = new Uint8Array(list.length * PAGE);
  list.forEach((p, k) => data.set(ram.subarray(p * PAGE, (p + 1) * PAGE), k * PAGE));
  return {
    ramBytes: mem.ramSize,
    pages: Uint32Array.from(list),
    data,
    roms: mem.romRegions.map((r) => ({ base: r.base, data: r.data.slice() })),
  };
}

/** Is `s` a well-formed memory state for RAM of `ramBytes` bytes? (Returns a reason if not.) */
export function checkMemory(s: MemoryState, ramBytes: number): string | null {
  if (s.ramBytes !== ramBytes) return `RAM is ${s.ramBytes} bytes, not ${ramBytes}`;
  if (s.data.length !== s.pages.length * PAGE) return "page data does not match the page list";
  let last = -1;
  for (const p of s.pages) {
    if (p <= last || p >= ramBytes / PAGE) return `page ${p} is out of order or outside RAM`;
    last = p;
  }
  return null;
}

/**
 * Replace `mem`'s RAM with `s` (checked by checkMemory) and map the ROMs it lacks. Written
 * straight into the RAM array: the decoded-instruction caches are flushed by the CPU's restore.
 */
export function restoreMemory(mem: PhysicalMemory, s: MemoryState): void {
  const ram = mem.ram;
  ram.fill(0);
  s.pages.forEach((p, k) => ram.set(s.data.subarray(k * PAGE, (k + 1) * PAGE), p * PAGE));
  for (const r of s.roms) {
    const have = mem.romRegions.find((x) => x.base === r.base && x.data.length === r.data.length);
    if (have !== undefined) have.data.set(r.data);
    else mem.addRom(r.base, r.data.slice());
  }
}
