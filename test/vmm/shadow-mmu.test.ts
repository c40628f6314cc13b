// Shadow paging (src/vmm/shadow/shadow-mmu.ts) against hand-built guest page tables:
// hidden versus true faults, A/D bits as the guest expects them, write-protected page-table
// frames, entries dropped when the guest rewrites its tables, directories cached across CR3
// switches, and a bounded pool that evicts.

import { test } from "node:test";
import assert from "node:assert/strict";
import { PhysicalMemory } from "../../src/hw/mem/physical-memory.js";
import { ShadowMmu, TRACE_PT } from "../../src/vmm/shadow/shadow-mmu.js";
import { Counters } from "../../src/vmm/stats/counters.js";

const P = 1, W = 2, U = 4, A = 0x20, D = 0x40, PS = 0x80;
const PG = 0x8000_0000 | 0, WP = 0x10000, PE = 1, PSE = 0x10;
const GUEST_RAM = 4 << 20;
const POOL_BASE = GUEST_RAM + (4 << 20);

function setup(poolPages = 64) {
  const machine = new PhysicalMemory(GUEST_RAM + (4 << 20) + poolPages * 4096);
  const guest = new PhysicalMemory(GUEST_RAM, { viewOf: machine });
  const counters = new Counters();
  const regionPde = (GUEST_RAM + 0x3ff000) | P | W;
  const region = { legacy: [regionPde], pae: [(GUEST_RAM + 0x3fd000) | P | W, (GUEST_RAM + 0x3fe000) | P | W] };
  const mmu = new ShadowMmu(machine, guest, POOL_BASE, poolPages, region, counters);
  const written: number[] = [];
  guest.onWatchedWrite = (page) => written.push(page);
  return { machine, guest, counters, mmu, written };
}

/** Guest tables: PD at 0x10000 mapping 0x400000–0x7FFFFF through the PT at 0x11000. */
function guestTables(guest: PhysicalMemory, pd = 0x10000, pt = 0x11000) {
  guest.write32(pd + 1 * 4, pt | P | W | U);
  guest.write32(pt + 0 * 4, 0x20000 | P | W | U);       // 0x400000 → 0x20000, user rw
  guest.write32(pt + 1 * 4, 0x21000 | P);               // 0x401000 → 0x21000, supervisor ro
  guest.write32(pt + 2 * 4, pt | P | W);                // 0x402000 → the PT itself, rw
  return { cr0: PE | PG | WP, cr3: pd, cr4: 0, pdpte: new Int32Array(8) };
}

/** The machine entry the shadow holds for linear `lin`, or 0. */
function shadowPte(s: ReturnType<typeof setup>, lin: number): number {
  const pde = s.machine.read32(s.mmu.rootFrame + (lin >>> 22) * 4);
  if ((pde & P) === 0) return 0;
  return s.machine.read32((pde & ~0xfff) + ((lin >>> 12) & 0x3ff) * 4);
}

test("a hidden fault fills the shadow; a true fault (not present, or rights) is left to the guest", () => {
  const s = setup();
  const m = guestTables(s.guest);
  s.mmu.rootFor(m);
  assert.equal(s.mmu.fill(m, 0x400123, false, true), true, "present in the guest's tables: hidden");
  assert.equal(shadowPte(s, 0x400123) & ~0xfff, 0x20000);
  assert.equal(s.mmu.fill(m, 0x403000, false, false), false, "not present in the guest's tables: true fault");
  assert.equal(s.mmu.fill(m, 0x401000, false, true), false, "user access to a supervisor page: true fault");
  assert.equal(s.mmu.fill(m, 0x401000, true, false), false, "supervisor write to a read-only page with WP: true fault");
  assert.equal(s.mmu.fill(m, 0xffc00000, false, false), false, "the monitor region is never filled");
});

test("A and D bits: a read sets A and maps read-only; the first write sets D and maps writable", () => {
  const s = setup();
  const m = guestTables(s.guest);
  s.mmu.rootFor(m);
  assert.equal(s.mmu.fill(m, 0x400000, false, true), true);
  const gpte = s.guest.read32(0x11000);
  assert.equal(gpte & A, A, "the guest's A bit is set");
  assert.equal(gpte & D, 0, "no D bit for a read");
  assert.equal(shadowPte(s, 0x400000) & W, 0, "mapped read-only until the guest's D bit is set");
  assert.equal(s.mmu.fill(m, 0x400000, true, true), true);
  assert.equal(s.guest.read32(0x11000) & D, D, "the write set D");
  assert.equal(shadowPte(s, 0x400000) & W, W, "now writable");
  assert.equal(s.guest.read32(0x10000 + 4) & A, A, "the PDE's A bit too");
});

test("ROM and holes: a read maps a read-only copy in monitor RAM (kept across evictions); a write, and device memory, are emulated", () => {
  const s = setup();
  const rom = new Uint8Array(4096).map((_, k) => (k * 7) & 0xff);
  s.guest.addRom(0x30000, rom);
  s.guest.addHole(0x31000, 0x32000);
  s.guest.addMmio({ base: 0x32000, size: 0x1000, device: { read8: () => 0x5a, write8: () => {} } });
  const m = guestTables(s.guest);
  s.guest.write32(0x11000 + 4 * 4, 0x30000 | P | W);   // 0x404000 → the ROM
  s.guest.write32(0x11000 + 5 * 4, 0x31000 | P | W);   // 0x405000 → the hole
  s.guest.write32(0x11000 + 6 * 4, 0x32000 | P | W);   // 0x406000 → a device
  s.mmu.rootFor(m);
  assert.equal(s.mmu.fill(m, 0x404010, false, false), true, "a read of ROM is hidden");
  const romPte = shadowPte(s, 0x404000);
  assert.equal(romPte & W, 0, "read-only");
  const copy = romPte & ~0xfff;
  assert.ok(copy >= POOL_BASE, "a frame of monitor RAM");
  assert.deepEqual([...Array(4096)].map((_, k) => s.machine.read8(copy + k)), [...rom], "holding the ROM's bytes");
  assert.equal(s.mmu.fill(m, 0x405000, false, false), true, "a read of a hole is hidden");
  const hole = shadowPte(s, 0x405000) & ~0xfff;
  assert.equal(s.machine.read32(hole + 0x800) >>> 0, 0xffff_ffff, "reading 0xFF");
  assert.equal(s.mmu.fill(m, 0x404010, true, false), false, "a write to ROM is emulated (and dropped)");
  assert.equal(s.mmu.fill(m, 0x406000, false, false), false, "device memory is emulated");
  assert.equal(s.counters.get("shadow.rom-copy"), 2);
  s.mmu.evictAll();
  s.mmu.rootFor(m);
  assert.equal(s.mmu.fill(m, 0x404010, false, false), true);
  assert.equal(shadowPte(s, 0x404000) & ~0xfff, copy, "the same copy after an eviction");
  assert.equal(s.counters.get("shadow.rom-copy"), 2, "not made again");
});

test("page-table frames are write-protected; a write to one is emulated and drops what it changed", () => {
  const s = setup();
  const m = guestTables(s.guest);
  s.mmu.rootFor(m);
  assert.equal(s.mmu.traced[0x10] & TRACE_PT, TRACE_PT, "the guest PD frame is traced once shadowed");
  assert.equal(s.mmu.fill(m, 0x402000, false, false), true, "reading the PT through its own mapping");
  assert.equal(s.mmu.traced[0x11] & TRACE_PT, TRACE_PT, "the guest PT frame is traced once shadowed");
  assert.equal(shadowPte(s, 0x402000) & W, 0, "mapped read-only even though the guest says rw");
  assert.equal(s.mmu.fill(m, 0x402000, true, false), false, "a write must be emulated");
  // The guest (emulated) remaps 0x400000 to another frame.
  assert.equal(s.mmu.fill(m, 0x400000, true, true), true);
  s.written.length = 0;
  s.guest.write32(0x11000, 0x30000 | P | W | U);
  assert.deepEqual(s.written, [0x11], "the monitor hears of the write");
  s.mmu.tableWritten(0x11);
  assert.equal(shadowPte(s, 0x400000), 0, "the stale shadow entry is gone");
  assert.equal(s.mmu.fill(m, 0x400000, false, true), true);
  assert.equal(shadowPte(s, 0x400000) & ~0xfff, 0x30000, "refilled from the new guest entry");
});

test("a frame that becomes a page table loses its writable mappings", () => {
  const s = setup();
  const m = guestTables(s.guest);
  s.mmu.rootFor(m);
  s.guest.write32(0x11000 + 3 * 4, 0x40000 | P | W | D);  // 0x403000 → frame 0x40000, dirty
  assert.equal(s.mmu.fill(m, 0x403000, true, false), true);
  assert.equal(shadowPte(s, 0x403000) & W, W);
  // The guest now uses frame 0x40000 as the page table for 0x800000.
  s.guest.write32(0x10000 + 2 * 4, 0x40000 | P | W);
  s.mmu.tableWritten(0x10);
  s.guest.write32(0x40000, 0x50000 | P | W);
  assert.equal(s.mmu.fill(m, 0x800000, false, false), true);
  assert.equal(shadowPte(s, 0x403000) & W, 0, "its old writable mapping is now read-only");
  assert.equal(s.mmu.needFlush, true, "and the machine TLB must be flushed");
});

test("shadow directories are cached across CR3 switches", () => {
  const s = setup();
  const a = guestTables(s.guest, 0x10000, 0x11000);
  const b = guestTables(s.guest, 0x12000, 0x13000);
  const rootA = s.mmu.rootFor(a);
  s.mmu.fill(a, 0x400000, false, true);
  const rootB = s.mmu.rootFor(b);
  assert.notEqual(rootA, rootB);
  assert.equal(s.mmu.rootFor(a), rootA, "switching back finds A's shadow");
  assert.notEqual(shadowPte(s, 0x400000), 0, "with its entries still filled: no hidden faults again");
  assert.equal(s.counters.get("shadow.root-cached"), 1);
  assert.equal(s.counters.get("shadow.root-built"), 2);
});

test("4 MiB guest pages are shadowed with 4 KiB entries; the monitor region is in every directory", () => {
  const s = setup();
  s.guest.write32(0x10000 + 1 * 4, 0x000000 | P | W | PS | D | A);  // 0x400000 → 0 (4 MiB)
  const m = { cr0: PE | PG | WP, cr3: 0x10000, cr4: PSE, pdpte: new Int32Array(8) };
  const root = s.mmu.rootFor(m);
  assert.equal(s.machine.read32(root + 1023 * 4), (GUEST_RAM + 0x3ff000) | P | W, "region PDE");
  assert.equal(s.mmu.fill(m, 0x523000, true, false), true);
  assert.equal(shadowPte(s, 0x523000) & ~0xfff, 0x123000);
  assert.equal(shadowPte(s, 0x523000) & W, W);
});

test("frames above the guest's RAM are never mapped: reads see a page of 0xFF, writes are emulated", () => {
  const s = setup();
  const m = guestTables(s.guest);
  s.guest.write32(0x11000 + 4 * 4, (GUEST_RAM + 0x1000) | P | W | D);  // the monitor's RAM
  s.mmu.rootFor(m);
  assert.equal(s.mmu.fill(m, 0x404000, true, false), false, "a write: left to emulation, which sees no RAM there");
  assert.equal(s.mmu.fill(m, 0x404000, false, false), true, "a read is hidden");
  const pte = shadowPte(s, 0x404000);
  assert.notEqual(pte & ~0xfff, GUEST_RAM + 0x1000, "not the frame the guest named");
  assert.equal(pte & W, 0, "read-only");
  assert.equal(s.machine.read32((pte & ~0xfff) + 0x10) >>> 0, 0xffff_ffff, "a page that reads 0xFF, as the guest's memory does there");
});

test("the pool is bounded: when it runs out every shadow page is dropped and rebuilt", () => {
  const s = setup(4);
  const m = guestTables(s.guest);
  s.mmu.rootFor(m);
  for (let k = 0; k < 8; k++) {
    const pt = 0x100000 + k * 0x1000;
    s.guest.write32(0x10000 + (8 + k) * 4, pt | P | W);
    s.guest.write32(pt, 0x200000 | P | W);
  }
  let evicted = 0;
  for (let k = 0; k < 8; k++) {
    const ok = s.mmu.fill(m, (8 + k) << 22, false, false);
    if (s.mmu.evicted) { evicted++; s.mmu.evicted = false; s.mmu.rootFor(m); if (!ok) assert.equal(s.mmu.fill(m, (8 + k) << 22, false, false), true); }
  }
  assert.ok(evicted >= 1, "the pool ran out at least once");
  assert.ok(s.mmu.poolUsed <= 4);
  assert.ok(s.counters.get("shadow.evict-all") >= 1);
});

// ---- PAE (SDM vol. 3 §4.4): the same shadow, three levels of 8-byte entries ----

const PAE = 0x20;

/**
 * Guest PAE tables: PDPT at 0x10000 with [0] → PD 0x11000 (entry 2 → PT 0x12000; entry 3 a
 * 2 MiB page → 0x200000). PDPTE registers as a CR3 load would have loaded them.
 */
function paeTables(guest: PhysicalMemory, nxe = false) {
  guest.write32(0x10000, 0x11000 | P);
  guest.write32(0x11000 + 2 * 8, 0x12000 | P | W | U);
  guest.write32(0x11000 + 3 * 8, 0x200000 | P | W | PS | A | D);
  guest.write32(0x12000 + 0 * 8, 0x20000 | P | W | U);         // 0x400000 → 0x20000
  guest.write32(0x12000 + 1 * 8, 0x21000 | P | W | U);         // 0x401000 → 0x21000, XD
  guest.write32(0x12000 + 1 * 8 + 4, 0x8000_0000 | 0);
  const pdpte = new Int32Array(8);
  for (let k = 0; k < 8; k++) pdpte[k] = guest.read32(0x10000 + k * 4);
  return { cr0: PE | PG | WP, cr3: 0x10000, cr4: PAE, pdpte, nxe };
}

/** The machine's 8-byte entry for `lin` in the PAE shadow, as [lo, hi], or [0, 0]. */
function shadowPae(s: ReturnType<typeof setup>, lin: number): [number, number] {
  let table = s.mmu.rootFrame;
  for (const [shift, mask] of [[30, 3], [21, 511], [12, 511]]) {
    const at = table + ((lin >>> shift) & mask) * 8;
    const lo = s.machine.read32(at), hi = s.machine.read32(at + 4);
    if (shift === 12 || (lo & P) === 0) return (lo & P) === 0 ? [0, 0] : [lo, hi];
    table = lo & ~0xfff;
  }
  return [0, 0];
}

test("PAE: the shadow PDPT follows the PDPTE registers; the monitor region is in the top directory even without a guest PDPTE 3", () => {
  const s = setup();
  const m = paeTables(s.guest);
  const root = s.mmu.rootFor(m);
  assert.equal(s.machine.read32(root) & P, P, "PDPTE 0 present");
  assert.equal(s.machine.read32(root) & 0x1e6, 0, "PDPTEs carry no R/W, U/S or A (reserved there)");
  assert.equal(s.machine.read32(root + 8) & P, 0, "PDPTE 1 absent, as the guest's");
  const top = s.machine.read32(root + 24);
  assert.equal(top & P, P, "PDPTE 3 leads to a directory holding the region");
  assert.equal(s.machine.read32((top & ~0xfff) + 510 * 8), (GUEST_RAM + 0x3fd000) | P | W);
  assert.equal(s.machine.read32((top & ~0xfff) + 511 * 8), (GUEST_RAM + 0x3fe000) | P | W);
  assert.equal(s.mmu.traced[0x10], 0, "the guest PDPT is not traced: its writes count only at the next CR3 load");
  assert.equal(s.mmu.traced[0x11] & TRACE_PT, TRACE_PT, "the guest PD is");
  assert.equal(s.mmu.fill(m, 0xc0000000, false, false), false, "a PDPTE that is not present: true fault");
});

test("PAE: hidden faults fill 4 KiB and 2 MiB mappings; 8-byte entries; a PTE write drops the entry", () => {
  const s = setup();
  const m = paeTables(s.guest);
  s.mmu.rootFor(m);
  assert.equal(s.mmu.fill(m, 0x400010, false, true), true);
  assert.equal(shadowPae(s, 0x400010)[0] & ~0xfff, 0x20000);
  assert.equal(shadowPae(s, 0x400010)[0] & W, 0, "read-only until the guest's D bit is set");
  assert.equal(s.mmu.fill(m, 0x400010, true, true), true);
  assert.equal(shadowPae(s, 0x400010)[0] & W, W);
  assert.equal(s.guest.read32(0x12000) & D, D, "the guest's D bit, set by the walk");
  assert.equal(s.mmu.fill(m, 0x7ff000, true, false), true, "inside the 2 MiB page");
  assert.equal(shadowPae(s, 0x7ff000)[0] & ~0xfff, 0x3ff000);
  s.guest.write32(0x12000 + 4, 0x8000_0000 | 0);  // the guest sets XD in the PTE's high half
  s.mmu.tableWritten(0x12);
  assert.deepEqual(shadowPae(s, 0x400010), [0, 0], "a change in the high half drops the entry too");
});

test("PAE with EFER.NXE: XD is copied into the shadow; a fetch from an XD page is a true fault, a read is hidden", () => {
  const s = setup();
  const m = paeTables(s.guest, true);
  s.mmu.rootFor(m);
  assert.equal(s.mmu.fill(m, 0x401000, false, true, true), false, "instruction fetch from an XD page: the guest's #PF");
  assert.equal(s.mmu.fill(m, 0x401000, false, true), true, "a data read of it is fine");
  assert.equal(shadowPae(s, 0x401000)[1], 0x8000_0000 | 0, "with XD in the shadow entry");
  assert.equal(shadowPae(s, 0x400000)[1], 0);
  const noNxe = paeTables(s.guest, false);
  assert.notEqual(s.mmu.rootFor(noNxe), s.mmu.rootFor(m), "shadows built with and without NXE are not shared");
});

test("PAE: roots and directories are cached across CR3 switches, keyed by the PDPT's address", () => {
  const s = setup();
  const a = paeTables(s.guest);
  const b = { ...a, cr3: 0x10020 };        // a second PDPT in the same page (Linux allocates them 32 bytes apart)
  s.guest.write32(0x10020, 0x11000 | P);
  const rootA = s.mmu.rootFor(a);
  s.mmu.fill(a, 0x400000, false, true);
  const rootB = s.mmu.rootFor(b);
  assert.notEqual(rootA, rootB);
  assert.notDeepEqual(shadowPae(s, 0x400000), [0, 0], "B shares A's shadow directory, entries filled");
  assert.equal(s.mmu.rootFor(a), rootA);
  assert.equal(s.counters.get("shadow.root-cached"), 1);
  assert.equal(s.counters.get("shadow.root-built"), 2);
});

test("a directory entry the machine has walked (A set in it) is the same entry: filling through it again asks for no TLB flush", () => {
  const s = setup();
  const m = guestTables(s.guest);
  s.mmu.rootFor(m);
  assert.equal(s.mmu.fill(m, 0x400000, false, true), true);
  s.mmu.needFlush = false;
  // The machine's walk sets A in the shadow PDE it used, as a processor does.
  const pde = s.mmu.rootFrame + (0x400000 >>> 22) * 4;
  s.machine.write32(pde, s.machine.read32(pde) | A);
  assert.equal(s.mmu.fill(m, 0x401000, false, false), true, "another page under the same PDE");
  assert.equal(s.mmu.needFlush, false, "no flush: only A differed");
  assert.equal(s.machine.read32(pde) & A, A, "the entry is left as the machine left it");
});
