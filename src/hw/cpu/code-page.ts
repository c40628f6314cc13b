// A page of the decoded-instruction cache (cpu.ts): the instructions decoded from one
// physical page, by their offset in it, and the bookkeeping of writes to it.

import type { Instr } from "./instr.js";

/**
 * A physical page of the decoded-instruction cache (Cpu.cacheInstr, Cpu.fetchInstr): the
 * instructions decoded from it by offset, and what code writes know of it (Cpu.codeWritten).
 */
export class CodePage {
  /**
   * 1 for each byte a decoded instruction or a compiled block was made from since the page
   * was first cached (bytes of instructions dropped since stay marked: the page is dropped
   * whole after a few such writes).
   */
  readonly cover = new Uint8Array(4096);
  /**
   * The instruction decoded at each offset: 1 + its place in `list`, 0 for none. A typed
   * index and a short list rather than an array of 4,096 slots per page: those arrays (44 MB
   * on the Linux boot) were most of what the garbage collector's scavenges copied, twice
   * each, and a page of memory first touched is dear on the hosts vmm86 is measured on
   * (docs/jit.md, "Where it stands", fifteenth session).
   */
  readonly index = new Uint16Array(4096);
  /** The instructions in the order they were decoded (those dropped stay until `reset` or `compact`). */
  list: Instr[] = [];
  /** Writes that touched no code. */
  kept = 0;
  /** Writes that dropped some of its code. */
  partial = 0;

  /** The instruction decoded at `off`, if the page holds one there. */
  at(off: number): Instr | undefined {
    const k = this.index[off];
    return k === 0 ? undefined : this.list[k - 1];
  }
  put(off: number, ins: Instr): void {
    if (this.list.length === 0xffff) this.compact();
    this.list.push(ins);
    this.index[off] = this.list.length;
  }
  drop(off: number): void {
    this.index[off] = 0;
  }
  /** Empty, for another page. */
  reset(): void {
    this.cover.fill(0);
    this.index.fill(0);
    this.list.length = 0;
    this.kept = 0;
    this.partial = 0;
  }
  /** Keep only the instructions the index names (a page decoded again and again). */
  private compact(): void {
    const list: Instr[] = [];
    for (let off = 0; off < 4096; off++) {
      const k = this.index[off];
      if (k !== 0) { list.push(this.list[k - 1]); this.index[off] = list.length; }
    }
    this.list = list;
  }
}
