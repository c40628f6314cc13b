// Physical address space of the machine: RAM, ROM images and unassigned holes.
//
// RAM is one Uint8Array. ROM regions (e.g. a BIOS image aliased below 1 MiB and below
// 4 GiB) are read-only overlays. Unassigned physical addresses read as all ones and ignore
// writes, as an ISA bus with nothing answering does.
//
// Code tracking: the CPU caches decoded instructions per physical page. A page that holds
// cached code is marked in `codePages`; a write to such a page calls `onCodeWrite(addr, len)`
// so the cache can drop what the write touched (self-modifying code, DMA, loaders).

import { NATIVE_TARGETS_BYTES, NativeTargets, type NativeForm } from "./native-targets.js";

/**
 * Told of a write of `len` bytes at offset `off` of a page marked in codePages; returns
 * whether it still holds decoded code from that page.
 */
export type CodeListener = (page: number, off: number, len: number) => boolean;

export interface RomRegion {
  base: number;
  data: Uint8Array;
}

/** A memory-mapped device region (e.g. VGA text memory): byte access by offset. */
export interface MmioRegion {
  base: number;
  size: number;
  device: {
    read8(offset: number): number;
    write8(offset: number, value: number): void;
    /** Aligned 32-bit accesses in one piece (registers that are only defined as dwords, e.g. the APIC's). */
    read32?(offset: number): number;
    write32?(offset: number, value: number): void;
  };
}

/**
 * Native monitor code (DESIGN.md §1): the one non-architectural facility. When the CPU
 * begins an instruction at CPL 0 at a registered physical address, it calls `run` instead
 * of decoding bytes; the call counts as one retired instruction.
 */
export type NativeEntry = (cpu: unknown) => void;
/** nativePages bits: the page holds native entries entered at CPL 0, at CPL 1. */
export const NATIVE_RING0 = 1, NATIVE_RING1 = 2;
/** The bytes a CPL-1 native entry stands for (its instruction's length as the CPU caches it). */
export const NATIVE_RING1_BYTES = 2;

export interface PhysicalMemoryOptions {
  /**
   * Share the RAM bytes, decoded-code bookkeeping and native pages of `parent`, seeing only
   * its first `ramSize` bytes: a view of guest-physical memory inside a larger machine
   * (the monitor keeps its own RAM above the guest's).
   */
  viewOf?: PhysicalMemory;
  /**
   * Make the WebAssembly memory shared between threads (a SharedArrayBuffer), so that a
   * helper thread can touch its pages before the guest does (ModuleCompiler.prefault).
   */
  shared?: boolean;
}

/**
 * One linear memory for what the block compiler's WebAssembly tier reads (docs/jit.md, "The
 * WebAssembly tier"): RAM at offset 0 (so a physical address is its offset), `codePages`
 * after it, then CPU_SLOTS areas a CPU may claim for its registers, its TLB and a compiled
 * block's context (CpuSlot). The JavaScript side keeps typed-array views on the same bytes.
 */
export interface WasmState {
  readonly memory: WebAssembly.Memory;
  /** Byte offsets of `codePages`, `nativePages` and `notRam`. */
  readonly codePages: number;
  readonly nativePages: number;
  readonly notRam: number;
  /** Byte offset of the native entries' look-up table (NativeTargets). */
  readonly targets: number;
  /** Byte offsets of the CPU areas not claimed yet. */
  readonly free: number[];
}

/** A CPU's area in the WebAssembly memory (offsets from `base`, in bytes). */
export const CPU_SLOT = {
  /** RAX…R15, low halves (Cpu.regs). */
  REGS: 0,
  /** RAX…R15, high halves (Cpu.regsHi). */
  REGS_HI: 64,
  /** What a compiled block reads and leaves (jit/wasm-block.ts, Ctx): 64 dwords. */
  CTX: 128,
  /** The TLB, 2^20 dwords (Cpu.tlb). */
  TLB: 4096,
  /** The WebAssembly tier's blocks by physical address (wasm-block.ts): 2^18 slots of four dwords. */
  BLOCKS: 4096 + (4 << 20),
  /** The run loop's links: the block it found last at an EIP (wasm-block.ts `dispatcher`): 2^14 slots of four dwords. */
  LINKS: 4096 + (8 << 20),
  BYTES: 4096 + (8 << 20) + (1 << 18),
} as const;
/** CPU areas per memory: the machine's CPU and a monitor's vCPU, with room to spare. */
const CPU_SLOTS = 4;
const WASM_PAGE = 65536;

/** A CPU's claimed area: its views, and the memory a compiled block imports. */
export interface CpuSlot {
  readonly memory: WebAssembly.Memory;
  /** Byte offset of the area. */
  readonly base: number;
  readonly codePages: number;
  readonly nativePages: number;
  /** Byte offset of the native entries' look-up table (NativeTargets). */
  readonly targets: number;
  readonly regs: Int32Array;
  readonly regsHi: Int32Array;
  readonly ctx: Int32Array;
  readonly tlb: Int32Array;
  readonly blocks: Int32Array;
}

/** RAM, codePages and the CPU areas in one WebAssembly.Memory, or null where the host cannot make it. */
function wasmState(ramSize: number, shared: boolean): { state: WasmState; ram: Uint8Array; codePages: Uint8Array; nativePages: Uint8Array; notRam: Uint8Array } | null {
  if (typeof WebAssembly !== "object" || typeof WebAssembly.Memory !== "function") return null;
  const codePages = ramSize, nativePages = codePages + (1 << 20), notRam = nativePages + (1 << 20);
  const targets = notRam + Math.ceil(ramSize / (1 << 24)) * 4096;
  const slots = targets + NATIVE_TARGETS_BYTES;
  const pages = Math.ceil((slots + CPU_SLOTS * CPU_SLOT.BYTES) / WASM_PAGE);
  if (pages > 65536) return null;
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared });
  } catch {
    return null; // the host's address space for such memories is used up: plain arrays
  }
  const free: number[] = [];
  for (let k = CPU_SLOTS - 1; k >= 0; k--) free.push(slots + k * CPU_SLOT.BYTES);
  return {
    state: { memory, codePages, nativePages, notRam, targets, free },
    ram: new Uint8Array(memory.buffer, 0, ramSize),
    codePages: new Uint8Array(memory.buffer, codePages, 1 << 20),
    nativePages: new Uint8Array(memory.buffer, nativePages, 1 << 20),
    notRam: new Uint8Array(memory.buffer, notRam, ramSize >>> 12),
  };
}

/** What a physical page is to reads (PhysicalMemory.pageKind). */
export const enum PageKind { Ram, Mmio, Rom, Hole }

export class PhysicalMemory {
  readonly ram: Uint8Array;
  /** The WebAssembly memory holding `ram` and `codePages` (shared with a view's parent), or null. */
  readonly wasm: WasmState | null;
  /** Bytes of RAM; addresses at or above this are not RAM. */
  readonly ramSize: number;
  /** Per 4 KiB page: 1 if some CPU holds decoded instructions from it. */
  readonly codePages: Uint8Array;
  /** CPUs holding decoded instructions, told when a code page is written. */
  private readonly codeListeners: CodeListener[];
  /** Per 4 KiB page: 1 if native entry points are registered in it. */
  readonly nativePages: Uint8Array;
  private readonly nativeEntries: Map<number, NativeEntry>;
  /** CPL-1 entries: per page holding any, the entry at each offset (a translation cache
   * holds a million instructions and a few hundred thousand entries; every instruction
   * decoded there asks). */
  private readonly nativeRing1: Map<number, (NativeEntry | undefined)[]>;
  /** The forms of CPL-1 entries registered with one, by address. */
  private readonly nativeForms: Map<number, NativeForm>;
  /** The table the CPL-1 entries' forms look up (NativeTargets). */
  readonly nativeTargets: NativeTargets;
  private readonly roms: RomRegion[] = [];
  private readonly mmio: MmioRegion[] = [];
  /** Pages [lo, hi) of RAM that are not RAM (a hole, e.g. VGA/ROM area), or ROM-covered. */
  /** 1 for each page below `ramSize` that is not RAM (ROM, a device, a hole); read by the block compiler's direct path too. */
  readonly notRam: Uint8Array;
  /** Byte offset of `notRam` in the WebAssembly memory; -1 for a view (its own array) or without one. */
  readonly notRamAt: number;

  constructor(ramSize: number, opts: PhysicalMemoryOptions = {}) {
    if (ramSize <= 0 || ramSize % 4096 !== 0) throw new RangeError("RAM size must be a positive multiple of 4 KiB");
    const parent = opts.viewOf;
    if (parent !== undefined && ramSize > parent.ramSize) throw new RangeError("a view cannot be larger than its parent");
    const wasm = parent === undefined ? wasmState(ramSize, opts.shared === true) : null;
    this.wasm = parent !== undefined ? parent.wasm : wasm?.state ?? null;
    this.ram = parent !== undefined ? parent.ram.subarray(0, ramSize) : wasm?.ram ?? new Uint8Array(ramSize);
    this.ramSize = ramSize;
    this.codePages = parent?.codePages ?? wasm?.codePages ?? new Uint8Array(1 << 20);
    this.codeListeners = parent?.codeListeners ?? [];
    this.nativePages = parent?.nativePages ?? wasm?.nativePages ?? new Uint8Array(1 << 20);
    this.nativeEntries = parent?.nativeEntries ?? new Map();
    this.nativeRing1 = parent?.nativeRing1 ?? new Map();
    this.nativeForms = parent?.nativeForms ?? new Map();
    this.nativeTargets = parent?.nativeTargets ?? new NativeTargets(wasm?.state.memory ?? null, wasm?.state.targets ?? -1);
    this.notRam = wasm?.notRam ?? new Uint8Array(ramSize >>> 12);
    this.notRamAt = wasm !== null ? wasm.state.notRam : -1;
  }

  /**
   * A CPU's area in the WebAssembly memory (registers, TLB, block context), or null when
   * there is none (no WebAssembly memory, or every area taken): that CPU keeps its state in
   * arrays of its own and runs no WebAssembly blocks.
   */
  claimCpuSlot(): CpuSlot | null {
    const w = this.wasm;
    const base = w?.free.pop();
    if (w === null || base === undefined) return null;
    const buf = w.memory.buffer;
    return {
      memory: w.memory, base, codePages: w.codePages, nativePages: w.nativePages, targets: w.targets,
      regs: new Int32Array(buf, base + CPU_SLOT.REGS, 16),
      regsHi: new Int32Array(buf, base + CPU_SLOT.REGS_HI, 16),
      ctx: new Int32Array(buf, base + CPU_SLOT.CTX, 64),
      tlb: new Int32Array(buf, base + CPU_SLOT.TLB, 1 << 20),
      blocks: new Int32Array(buf, base + CPU_SLOT.BLOCKS, (CPU_SLOT.LINKS - CPU_SLOT.BLOCKS) >> 2),
    };
  }

  /** Pages whose writes are reported to onWatchedWrite, with the bytes written (a monitor tracing its emulated writes). */
  private watched: Uint8Array | null = null;
  onWatchedWrite: (page: number, off: number, len: number) => void = () => {};

  /**
   * CPUs reading and writing through this memory, told when a page becomes watched: a TLB
   * entry filled before may let writes go straight to `ram` (Cpu.writeLin8/16/32), past
   * onWatchedWrite, and must lose that right. Per object, not shared with a parent: a CPU on
   * the parent does not see this view's watches.
   */
  private readonly watchListeners: ((page: number) => void)[] = [];

  addWatchListener(fn: (page: number) => void): void {
    this.watchListeners.push(fn);
  }

  watch(page: number): void {
    if (this.watched === null) this.watched = new Uint8Array(this.ramSize >>> 12);
    if (page < this.watched.length && this.watched[page] === 0) {
      this.watched[page] = 1;
      for (const fn of this.watchListeners) fn(page);
    }
  }

  /** Whether any page has ever been watched (the block compiler's paging-off writes then take the full path). */
  get anyWatched(): boolean { return this.watched !== null; }

  /** Is the page holding `addr` watched? (Such pages never take the CPU's direct RAM path.) */
  isWatched(addr: number): boolean {
    return this.watched !== null && this.watched[addr >>> 12] === 1;
  }

  unwatch(page: number): void {
    if (this.watched !== null && page < this.watched.length) this.watched[page] = 0;
  }

  /** A CPU that caches decoded instructions registers here to hear of writes to them. */
  addCodeListener(fn: CodeListener): void {
    this.codeListeners.push(fn);
  }

  /**
   * A write of `len` bytes at `addr` (inside one page) hit a page some CPU decoded
   * instructions from. The page stays marked while any listener still holds code from it.
   */
  onCodeWrite(addr: number, len: number): void {
    const page = addr >>> 12;
    let keep = false;
    for (const fn of this.codeListeners) if (fn(page, addr & 0xfff, len)) keep = true;
    this.codePages[page] = keep ? 1 : 0;
  }

  /**
   * Register native monitor code at physical address `addr` (see NativeEntry), entered at
   * CPL 0; with `ring1`, entered at CPL 1 instead: a binary translator's helper inside its
   * translation cache (docs/bt.md, "Returns"). A page of CPL-0 entries holds no decoded
   * code (nativePages bit 0); a page of CPL-1 entries is ordinary translated code with
   * these few addresses overlaid (bit 1), each standing for NATIVE_RING1_BYTES bytes there,
   * and CPUs cache them with its decoded instructions. `form`: what the entry does, as a
   * look-up in `nativeTargets` compiled code may make in its place (native-targets.ts).
   */
  registerNative(addr: number, run: NativeEntry, ring1 = false, form?: NativeForm): void {
    if (ring1) {
      if (form !== undefined) this.nativeForms.set(addr >>> 0, form); else this.nativeForms.delete(addr >>> 0);
      let entries = this.nativeRing1.get(addr >>> 12);
      if (entries === undefined) { entries = new Array<NativeEntry | undefined>(4096).fill(undefined); this.nativeRing1.set(addr >>> 12, entries); }
      entries[addr & 0xfff] = run;
      this.nativePages[addr >>> 12] |= NATIVE_RING1;
      // CPUs drop what they decoded there, and fetch the entry next time (Cpu.fetchInstr).
      if (this.codePages[addr >>> 12] !== 0) this.onCodeWrite(addr >>> 0, NATIVE_RING1_BYTES);
    } else {
      this.nativeEntries.set(addr >>> 0, run);
      this.nativePages[addr >>> 12] |= NATIVE_RING0;
      // As over CPL-1 entries: what CPUs decoded and compiled there goes (a fetch at CPL 0
      // finds the entry; blocks, their links and the WebAssembly run loop's links do not).
      if (this.codePages[addr >>> 12] !== 0) this.onCodeWrite(addr >>> 0, 1);
    }
  }

  /** Remove a CPL-1 native entry (its translation cache was flushed). */
  unregisterRing1Native(addr: number): void {
    const entries = this.nativeRing1.get(addr >>> 12);
    if (entries === undefined || entries[addr & 0xfff] === undefined) return;
    entries[addr & 0xfff] = undefined;
    this.nativeForms.delete(addr >>> 0);
    // CPUs keep the entry in their decoded-instruction caches: it goes like written code.
    if (this.codePages[addr >>> 12] !== 0) this.onCodeWrite(addr >>> 0, NATIVE_RING1_BYTES);
  }

  /** The native entry at `addr`, if any. */
  nativeAt(addr: number): NativeEntry | undefined {
    return this.nativeEntries.get(addr >>> 0);
  }

  /** The form of the CPL-1 native entry at `addr` (what compiled code may do in its place), if it has one. */
  nativeFormAt(addr: number): NativeForm | undefined {
    return this.nativeForms.get(addr >>> 0);
  }

  /** The CPL-1 native entry at `addr`, if any. */
  nativeRing1At(addr: number): NativeEntry | undefined {
    return this.nativeRing1.get(addr >>> 12)?.[addr & 0xfff];
  }

  /** The ROM images mapped so far, in the order they were added. */
  get romRegions(): readonly RomRegion[] { return this.roms; }

  /** Map a read-only image at `base`. Pages it covers stop being RAM. */
  addRom(base: number, data: Uint8Array): void {
    if (base % 4096 !== 0 || data.length % 4096 !== 0) throw new RangeError("ROM must be page aligned");
    this.roms.push({ base: base >>> 0, data });
    for (let p = base >>> 12; p < (base + data.length) >>> 12 || (base + data.length === 0x1_0000_0000 && p < 0x100000); p++) {
      if (p < this.notRam.length) this.notRam[p] = 1;
    }
  }

  /** Map a device at [base, base + size); those pages stop being RAM. */
  addMmio(region: MmioRegion): void {
    this.mmio.push(region);
    this.addHole(region.base, region.base + region.size);
  }

  /** Mark pages [lo, hi) (physical addresses) as not RAM: reads 0xFF unless a ROM covers them. */
  addHole(lo: number, hi: number): void {
    for (let p = lo >>> 12; p < hi >>> 12 && p < this.notRam.length; p++) this.notRam[p] = 1;
  }

  /**
   * True if instructions decoded from this address may be cached: RAM (writes are tracked
   * through codePages) or ROM (never written).
   */
  isCacheable(addr: number): boolean {
    if (this.isRam(addr)) return true;
    for (const rom of this.roms) if (((addr - rom.base) >>> 0) < rom.data.length) return true;
    return false;
  }

  /**
   * What the page at `addr` is to reads: RAM; device memory (an MMIO region covers some of
   * it); ROM (a ROM covers some of it, the rest reads 0xFF); or a hole (it all reads 0xFF).
   * ROM and holes never change, and writes there are dropped.
   */
  pageKind(addr: number): PageKind {
    const base = ((addr >>> 12) << 12) >>> 0;
    if (this.isRam(base)) return PageKind.Ram;
    for (const m of this.mmio) if (base < m.base + m.size && m.base < base + 4096) return PageKind.Mmio;
    for (const r of this.roms) if (base < r.base + r.data.length && r.base < base + 4096) return PageKind.Rom;
    return PageKind.Hole;
  }

  /** The bytes a ROM page or a hole reads as (pageKind Rom or Hole). */
  fixedPage(addr: number): Uint8Array {
    const base = ((addr >>> 12) << 12) >>> 0;
    const page = new Uint8Array(4096).fill(0xff);
    for (const rom of this.roms) {
      const lo = Math.max(base, rom.base), hi = Math.min(base + 4096, rom.base + rom.data.length);
      if (lo < hi) page.set(rom.data.subarray(lo - rom.base, hi - rom.base), lo - base);
    }
    return page;
  }

  /** True if a 4-byte access at `addr` can go straight to `ram`. */
  isRam(addr: number): boolean {
    return addr < this.ramSize && this.notRam[addr >>> 12] === 0;
  }

  read8(addr: number): number {
    addr >>>= 0;
    if (addr < this.ramSize && this.notRam[addr >>> 12] === 0) return this.ram[addr];
    return this.readSlow(addr);
  }

  read16(addr: number): number {
    addr >>>= 0;
    if ((addr & 0xfff) !== 0xfff && addr < this.ramSize && this.notRam[addr >>> 12] === 0) {
      return this.ram[addr] | (this.ram[addr + 1] << 8);
    }
    return this.read8(addr) | (this.read8(addr + 1) << 8);
  }

  /** Returns a signed 32-bit value (use >>> 0 for unsigned). */
  read32(addr: number): number {
    addr >>>= 0;
    if ((addr & 0xfff) <= 0xffc && addr < this.ramSize && this.notRam[addr >>> 12] === 0) {
      const r = this.ram;
      return r[addr] | (r[addr + 1] << 8) | (r[addr + 2] << 16) | (r[addr + 3] << 24);
    }
    if ((addr & 3) === 0) {
      for (const m of this.mmio) {
        const off = (addr - m.base) >>> 0;
        if (off < m.size && m.device.read32 !== undefined) return m.device.read32(off);
      }
    }
    return this.read8(addr) | (this.read8(addr + 1) << 8) | (this.read8(addr + 2) << 16) | (this.read8(addr + 3) << 24);
  }

  write8(addr: number, value: number): void {
    addr >>>= 0;
    if (addr < this.ramSize && this.notRam[addr >>> 12] === 0) {
      if (this.codePages[addr >>> 12] !== 0) this.onCodeWrite(addr, 1);
      if (this.watched !== null && this.watched[addr >>> 12] !== 0) this.onWatchedWrite(addr >>> 12, addr & 0xfff, 1);
      this.ram[addr] = value;
      return;
    }
    for (const m of this.mmio) {
      const off = (addr - m.base) >>> 0;
      if (off < m.size) { m.device.write8(off, value & 0xff); return; }
    }
  }

  write16(addr: number, value: number): void {
    this.write8(addr, value);
    this.write8(addr + 1, value >>> 8);
  }

  write32(addr: number, value: number): void {
    addr >>>= 0;
    if ((addr & 0xfff) <= 0xffc && addr < this.ramSize && this.notRam[addr >>> 12] === 0) {
      if (this.codePages[addr >>> 12] !== 0) this.onCodeWrite(addr, 4);
      if (this.watched !== null && this.watched[addr >>> 12] !== 0) this.onWatchedWrite(addr >>> 12, addr & 0xfff, 4);
      const r = this.ram;
      r[addr] = value;
      r[addr + 1] = value >>> 8;
      r[addr + 2] = value >>> 16;
      r[addr + 3] = value >>> 24;
      return;
    }
    if ((addr & 3) === 0) {
      for (const m of this.mmio) {
        const off = (addr - m.base) >>> 0;
        if (off < m.size && m.device.write32 !== undefined) { m.device.write32(off, value); return; }
      }
    }
    this.write8(addr, value);
    this.write8(addr + 1, value >>> 8);
    this.write8(addr + 2, value >>> 16);
    this.write8(addr + 3, value >>> 24);
  }

  /**
   * Write `bytes` at `addr` as that many write8s would, with one code-write report and one
   * watched-page report per page of RAM instead of one per byte (the binary translator
   * appending a trace to a page of its cache that holds running code).
   */
  writeBytes(addr: number, bytes: ArrayLike<number>): void {
    addr >>>= 0;
    let i = 0;
    while (i < bytes.length) {
      const a = (addr + i) >>> 0, page = a >>> 12;
      const n = Math.min(bytes.length - i, 0x1000 - (a & 0xfff));
      if (a + n > this.ramSize || this.notRam[page] !== 0) {
        for (let k = 0; k < n; k++) this.write8(a + k, bytes[i + k]);
      } else {
        if (this.codePages[page] !== 0) this.onCodeWrite(a, n);
        if (this.watched !== null && this.watched[page] !== 0) this.onWatchedWrite(page, a & 0xfff, n);
        const r = this.ram;
        if (bytes instanceof Uint8Array) r.set(bytes.subarray(i, i + n), a);
        else for (let k = 0; k < n; k++) r[a + k] = bytes[i + k];
      }
      i += n;
    }
  }

  /** Copy bytes into RAM (loaders). Bypasses ROM protection only for RAM pages. */
  load(addr: number, bytes: Uint8Array): void {
    this.writeBytes(addr, bytes);
  }

  private readSlow(addr: number): number {
    for (const m of this.mmio) {
      const off = (addr - m.base) >>> 0;
      if (off < m.size) return m.device.read8(off) & 0xff;
    }
    for (const rom of this.roms) {
      const off = (addr - rom.base) >>> 0;
      if (off < rom.data.length) return rom.data[off];
    }
    return 0xff;
  }
}
