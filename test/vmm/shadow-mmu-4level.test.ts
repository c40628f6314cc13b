// 4-level (IA-32e) shadow paging (SHAPE_4L in src/vmm/shadow/shadow-mmu.ts) against
// hand-built guest tables: fills of 4 KiB, 2 MiB and 1 GiB guest pages at low and canonical
// high addresses, write-protection of the guest's tables at all four levels, A/D bits equal
// to the hardware walk's, XD, and roots cached across CR3 reloads.

import { test } from "node:test";
import assert from "node:assert/strict";
import { PhysicalMemory } from "../../src/hw/mem/physical-memory.js";
import { walk, Translation, type PagingMode } from "../../src/hw/mmu/paging.js";
import { ShadowMmu, SHAPE_4L, shapeIndex, TRACE_PT, Miss } from "../../src/vmm/shadow/shadow-mmu.js";
import { Counters } from "../../src/vmm/stats/counters.js";

const P = 1, W = 2, U = 4, A = 0x20, D = 0x40, PS = 0x80;
const PG = 0x8000_0000 | 0, WP = 0x10000, PE = 1, PAE = 0x20;
const XD = 0x8000_0000 | 0;
const GUEST_RAM = 4 << 20;
const POOL_BASE = GUEST_RAM;
/** 0xffff_8000_0040_0000: PML4 index 256, the same PD and PT as 0x400000. */
const HIGH = -(2 ** 47) + 0x40_0000;

function setup(poolPages = 64) {
  const machine = new PhysicalMemory(GUEST_RAM + poolPages * 4096);
  const guest = new PhysicalMemory(GUEST_RAM, { viewOf: machine });
  const counters = new Counters();
  const mmu = new ShadowMmu(machine, guest, POOL_BASE, poolPages, null, counters);
  guest.onWatchedWrite = () => {};
  return { machine, guest, counters, mmu };
}

function put(mem: PhysicalMemory, addr: number, lo: number, hi = 0): void {
  mem.write32(addr, lo);
  mem.write32(addr + 4, hi);
}

/**
 * PML4 0x10000: [0] → PDPT 0x11000, [256] → PDPT 0x14000.
 * PDPT 0x11000: [0] → PD 0x12000, [1] a 1 GiB page at 0 (0x4000_0000 → 0).
 * PDPT 0x14000: [0] → PD 0x12000.
 * PD 0x12000: [2] → PT 0x13000 (0x400000), [3] a 2 MiB page at 0x200000 (0x600000).
 * PT 0x13000: [0] 0x20000 user rw, [1] 0x21000 user rw XD, [2] the PT itself, supervisor rw.
 */
function tables(guest: PhysicalMemory, nxe = true): PagingMode {
  put(guest, 0x10000, 0x11000 | P | W | U);
  put(guest, 0x10000 + 256 * 8, 0x14000 | P | W | U);
  put(guest, 0x11000, 0x12000 | P | W | U);
  put(guest, 0x11000 + 8, 0 | P | W | U | PS);
  put(guest, 0x14000, 0x12000 | P | W | U);
  put(guest, 0x12000 + 2 * 8, 0x13000 | P | W | U);
  put(guest, 0x12000 + 3 * 8, 0x200000 | P | W | U | PS);
  put(guest, 0x13000, 0x20000 | P | W | U);
  put(guest, 0x13000 + 8, 0x21000 | P | W | U, nxe ? XD : 0);
  put(guest, 0x13000 + 16, 0x13000 | P | W);
  return { cr0: PE | PG | WP, cr3: 0x10000, cr4: PAE, pdpte: new Int32Array(8), lma: true, nxe, page1gb: true, maxPhyAddr: 36 };
}

/** The shadow's leaf entry for `lin` as [lo, hi], or [0, 0]. */
function shadowLeaf(s: ReturnType<typeof setup>, lin: number): [number, number] {
  let table = s.mmu.rootFrame;
  for (let level = 0; level < 4; level++) {
    const at = table + shapeIndex(lin, SHAPE_4L, level) * 8;
    const lo = s.machine.read32(at), hi = s.machine.read32(at + 4);
    if ((lo & P) === 0) return [0, 0];
    if (level === 3) return [lo, hi];
    table = (lo >>> 12) << 12;
  }
  return [0, 0];
}

test("4-level: indexes of canonical addresses, low and high", () => {
  assert.deepEqual([0, 1, 2, 3].map((l) => shapeIndex(0x40_0000, SHAPE_4L, l)), [0, 0, 2, 0]);
  assert.deepEqual([0, 1, 2, 3].map((l) => shapeIndex(HIGH, SHAPE_4L, l)), [256, 0, 2, 0]);
  assert.deepEqual([0, 1, 2, 3].map((l) => shapeIndex(-4096, SHAPE_4L, l)), [511, 511, 511, 511]);
  assert.deepEqual([0, 1, 2, 3].map((l) => shapeIndex(0x1_4020_3000, SHAPE_4L, l)), [0, 5, 1, 3]);
});

test("4-level: hidden faults fill 4 KiB, 2 MiB and 1 GiB guest pages with 4 KiB shadow entries", () => {
  const s = setup();
  const m = tables(s.guest);
  s.mmu.rootFor(m);
  assert.equal(s.mmu.shape, SHAPE_4L);
  assert.equal(s.mmu.fill(m, 0x400123, false, true), true);
  assert.equal(shadowLeaf(s, 0x400123)[0] & ~0xfff, 0x20000, "4 KiB page");
  assert.equal(s.mmu.fill(m, 0x612345, false, true), true);
  assert.equal(shadowLeaf(s, 0x612345)[0] & ~0xfff, 0x212000, "inside a 2 MiB page");
  assert.equal(s.mmu.fill(m, 0x4012_3000, false, true), true);
  assert.equal(shadowLeaf(s, 0x4012_3000)[0] & ~0xfff, 0x123000, "inside a 1 GiB page");
  assert.equal(s.mmu.fill(m, HIGH + 0x10, false, true), true);
  assert.equal(shadowLeaf(s, HIGH)[0] & ~0xfff, 0x20000, "a canonical high address");
  assert.equal(s.mmu.fill(m, 0x8000_0000, false, true), false, "not present in the guest: a true fault");
  assert.equal(s.mmu.miss, Miss.GUEST);
  assert.equal(s.mmu.fill(m, 0x402000, false, true), false, "user access to a supervisor page: a true fault");
  assert.equal(s.mmu.tampered(), 0);
  // A shadow word changed behind the monitor's back (a leaf's frame, an empty root slot)
  // is found; the processor's A and D bits in a leaf are not a change.
  let leaf = s.mmu.rootFrame;
  for (let level = 0; level < 3; level++) leaf = (s.machine.read32(leaf + shapeIndex(0x400123, SHAPE_4L, level) * 8) >>> 12) << 12;
  const at = leaf + shapeIndex(0x400123, SHAPE_4L, 3) * 8, was = s.machine.read32(at);
  s.machine.write32(at, was | 0x60);
  assert.equal(s.mmu.tampered(), 0, "A and D set by a walk");
  s.machine.write32(at, was ^ 0x1000);
  s.machine.write32(s.mmu.rootFrame + 8 * 300, 0x5007);
  assert.equal(s.mmu.tampered(), 2);
});

test("4-level: A and D bits in the guest's entries are those the hardware walk sets", () => {
  const s = setup(), bare = new PhysicalMemory(GUEST_RAM);
  const m = tables(s.guest);
  tables(bare);
  s.mmu.rootFor(m);
  const tr = new Translation();
  const accesses: [number, boolean][] = [[0x400000, false], [0x400000, true], [0x612000, true], [0x4000_5000, false], [HIGH + 0x1000, false]];
  for (const [lin, write] of accesses) {
    assert.equal(walk(bare, m, lin, write, true, tr), true);
    assert.equal(s.mmu.fill(m, lin, write, true), true);
  }
  for (const base of [0x10000, 0x11000, 0x12000, 0x13000, 0x14000]) {
    for (let k = 0; k < 1024; k++) assert.equal(s.guest.read32(base + k * 4), bare.read32(base + k * 4), `word ${(base + k * 4).toString(16)}`);
  }
  assert.equal(s.guest.read32(0x13000) & (A | D), A | D);
  assert.equal(shadowLeaf(s, 0x400000)[0] & W, W, "writable once D is set");
  assert.equal(s.mmu.fill(m, 0x4000_6000, false, true), true);
  assert.equal(shadowLeaf(s, 0x4000_6000)[0] & W, 0, "a read of a large page without D maps read-only");
});

test("4-level: the guest's tables are write-protected at all four levels; rewriting an entry drops its shadow", () => {
  const s = setup();
  const m = tables(s.guest);
  s.mmu.rootFor(m);
  // [guest frame, entry address, linear address it leads to]
  const levels: [number, number, number][] = [[0x10, 0x10000, 0x400000], [0x11, 0x11000, 0x400000], [0x12, 0x12000 + 16, 0x400000], [0x13, 0x13000, 0x400000]];
  for (const [frame, entry, lin] of levels) {
    assert.equal(s.mmu.fill(m, lin, false, true), true);
    assert.notEqual(shadowLeaf(s, lin)[0], 0);
    assert.equal(s.mmu.traced[frame] & TRACE_PT, TRACE_PT, `frame ${frame.toString(16)} traced`);
    const was = s.counters.get("shadow.entry-dropped");
    const lo = s.guest.read32(entry);
    s.guest.write32(entry, lo & ~U);              // a rewrite the shadow must see
    s.mmu.tableWritten(frame);
    assert.equal(s.counters.get("shadow.entry-dropped"), was + 1, `an entry of frame ${frame.toString(16)} dropped`);
    assert.equal(shadowLeaf(s, lin)[0], 0);
    assert.equal(s.mmu.fill(m, lin, false, true), false, "the guest's new entry refuses user access");
    s.guest.write32(entry, lo);
    s.mmu.tableWritten(frame);
  }
  assert.equal(s.mmu.fill(m, 0x402000, true, false), false, "a write to the PT through its own mapping is emulated");
  assert.equal(s.mmu.miss, Miss.TRACED);
  const drops = s.counters.get("shadow.entry-dropped");
  s.guest.write32(0x10000, s.guest.read32(0x10000) | A);
  s.mmu.tableWritten(0x10);
  assert.equal(s.counters.get("shadow.entry-dropped"), drops, "setting A changes nothing");
  assert.equal(s.mmu.tampered(), 0);
});

test("4-level with EFER.NXE: a fetch from an XD page is the guest's fault; XD is copied into the shadow", () => {
  const s = setup();
  const m = tables(s.guest, true);
  s.mmu.rootFor(m);
  assert.equal(s.mmu.fill(m, 0x401000, false, true, true), false);
  assert.equal(s.mmu.miss, Miss.GUEST);
  assert.equal(s.mmu.fill(m, 0x401000, false, true), true, "a data read is fine");
  assert.equal(shadowLeaf(s, 0x401000)[1], XD);
  assert.equal(s.mmu.fill(m, 0x400000, false, true, true), true);
  assert.equal(shadowLeaf(s, 0x400000)[1], 0);
  const noNxe = tables(s.guest, false);
  assert.notEqual(s.mmu.rootFor(noNxe), s.mmu.rootFor(m), "shadows with and without NXE are not shared");
});

test("4-level: roots are cached across CR3 reloads, with their filled entries", () => {
  const s = setup();
  const a = tables(s.guest);
  // A second PML4 at 0x15000 sharing the PDPT.
  put(s.guest, 0x15000, 0x11000 | P | W | U);
  const b = { ...a, cr3: 0x15000 };
  const rootA = s.mmu.rootFor(a);
  s.mmu.fill(a, 0x400000, false, true);
  const rootB = s.mmu.rootFor(b);
  assert.notEqual(rootA, rootB);
  assert.equal(s.mmu.rootFor(a), rootA);
  assert.notDeepEqual(shadowLeaf(s, 0x400000), [0, 0], "A's entries survive the reload");
  assert.equal(s.counters.get("shadow.root-cached"), 1);
  assert.equal(s.counters.get("shadow.root-built"), 2);
  assert.equal(s.mmu.invalidatePage(0x400000), true, "INVLPG drops the 4 KiB entry");
  assert.deepEqual(shadowLeaf(s, 0x400000), [0, 0]);
  assert.equal(s.mmu.invalidatePage(HIGH), false, "nothing filled there");
});

// ---- The long-mode monitor's region in the 4-level shadow (docs/long-mode-monitor.md) ----

const REGION_PDE = 0x3ff000 | P | W;        // stands in for World64.regionPde
const REGION_PDE_USER = 0x3fe000 | P | W;   // and regionPdeUser (two-tables)
const TOP = -0x20_0000;                     // 0xFFFFFFFFFFE00000

function withRegion(poolPages = 64) {
  const machine = new PhysicalMemory(GUEST_RAM + poolPages * 4096);
  const guest = new PhysicalMemory(GUEST_RAM, { viewOf: machine });
  const counters = new Counters();
  const mmu = new ShadowMmu(machine, guest, POOL_BASE, poolPages, { legacy: [], pae: [], long: [REGION_PDE], longUser: [REGION_PDE_USER] }, counters);
  guest.onWatchedWrite = () => {};
  return { machine, guest, counters, mmu };
}

/** The shadow's entry at `level` on the way to `lin` as [lo, hi] (the upper levels must be present). */
function shadowAt(s: { machine: PhysicalMemory; mmu: ShadowMmu }, lin: number, level: number): [number, number] {
  let table = s.mmu.rootFrame;
  for (let l = 0; ; l++) {
    const at = table + shapeIndex(lin, SHAPE_4L, l) * 8;
    const lo = s.machine.read32(at), hi = s.machine.read32(at + 4);
    if (l === level) return [lo, hi];
    assert.ok((lo & P) !== 0, `level ${l} present on the way to ${lin}`);
    table = (lo >>> 12) * 4096;
  }
}

test("4-level shadow with the monitor region: PML4 511 → PDPT 511 → PD 511 always leads to the region's table, whatever the guest maps there", () => {
  const s = withRegion();
  const m = tables(s.guest);
  s.mmu.rootFor(m);
  // The guest has nothing at PML4 511: the shadow still has the path, writable, not XD.
  const [l0] = shadowAt(s, TOP, 0), [l1] = shadowAt(s, TOP, 1), [pde, pdeHi] = shadowAt(s, TOP, 2);
  assert.equal(l0 & (P | W), P | W);
  assert.equal(l1 & (P | W), P | W);
  assert.equal(pde, REGION_PDE);
  assert.equal(pdeHi, 0);
  assert.equal(s.mmu.fill(m, TOP + 0x1000, false, false), false, "the region is never filled from the guest's tables");
  // The guest maps PML4 511 → PDPT 0x15000 (XD, read-only), PDPT 510 → a 1 GiB page, PDPT
  // 511 → PD 0x16000, PD 0 → a 2 MiB page: its own pages there fill, the path stays.
  put(s.guest, 0x15000 + 510 * 8, 0 | P | W | PS);
  put(s.guest, 0x15000 + 511 * 8, 0x16000 | P | W);
  put(s.guest, 0x16000, 0x200000 | P | W | PS);
  put(s.guest, 0x10000 + 511 * 8, 0x15000 | P, XD);
  s.mmu.tableWritten(0x10);
  assert.equal(s.mmu.fill(m, -0x8000_0000 + 0x5000, false, false), true, "0xFFFFFFFF80005000 in the guest's 1 GiB page");
  assert.equal(s.mmu.fill(m, -0x4000_0000 + 0x1000, false, false), true, "0xFFFFFFFFC0001000 in the guest's 2 MiB page (under PDPT 511)");
  const [p0, p0hi] = shadowAt(s, TOP, 0);
  assert.equal(p0 & (P | W), P | W, "the guest's read-only PML4 511 stays writable on the path");
  assert.equal(p0hi, 0, "and not XD: the monitor's code is under it");
  assert.equal(shadowAt(s, TOP, 2)[0], REGION_PDE);
  // The guest drops PML4 511 again: the path is re-pointed, not dropped.
  put(s.guest, 0x10000 + 511 * 8, 0);
  s.mmu.tableWritten(0x10);
  assert.equal(shadowAt(s, TOP, 2)[0], REGION_PDE);
  assert.equal(s.mmu.fill(m, -0x8000_0000 + 0x5000, false, false), false, "the guest's mapping is gone");
  assert.equal(s.mmu.miss, Miss.GUEST);
});

test("4-level shadow views (two-tables): the kernel view makes guest pages U/S = 1, the user view holds only user pages and the user region table", () => {
  const s = withRegion();
  const m = tables(s.guest);
  s.mmu.view = "kernel";
  s.mmu.rootFor(m);
  assert.equal(shadowAt(s, TOP, 2)[0], REGION_PDE);
  // 0x402000 is the supervisor page-table page itself (PT entry 2): U/S = 1 in the kernel view.
  assert.equal(s.mmu.fill(m, 0x402000, false, false), true);
  assert.equal(shadowAt(s, 0x402000, 3)[0] & U, U);
  s.mmu.view = "user";
  s.mmu.rootFor(m);
  assert.equal(shadowAt(s, TOP, 2)[0], REGION_PDE_USER);
  assert.equal(s.mmu.fill(m, 0x402000, false, true), false, "guest user code cannot reach a supervisor page");
  assert.equal(s.mmu.miss, Miss.GUEST);
  assert.equal(s.mmu.fill(m, 0x400000, false, true), true, "a user page fills in the user view");
  assert.equal(shadowAt(s, 0x400000, 3)[0] & U, U);
});
