// Shadow paging for hardware-assisted monitors (src/vmm/shadow/shadow-paging.ts; --mode svm
// --paging shadow): the interface a monitor without nested paging uses — the guest's paging
// state in, its #PFs and INVLPGs in, the root and the CR0/CR4 to run the guest with out —
// against hand-built guest page tables: hidden versus true faults, A and D bits, INVLPG,
// CR3 switches, guest paging off, and no monitor region in the guest's address space.

import { test } from "node:test";
import assert from "node:assert/strict";
import { PhysicalMemory } from "../../src/hw/mem/physical-memory.js";
import { ShadowPaging, PfOutcome } from "../../src/vmm/shadow/shadow-paging.js";
import { Counters } from "../../src/vmm/stats/counters.js";

const P = 1, W = 2, U = 4, A = 0x20, D = 0x40, PS = 0x80;
const PG = 0x8000_0000 | 0, WP = 0x10000, PE = 1, PSE = 0x10, PAE = 0x20;
/** #PF error code bits. */
const EC_P = 1, EC_W = 2, EC_U = 4;
const GUEST_RAM = 4 << 20;
const POOL_BASE = GUEST_RAM + 0x10000;

function setup(poolPages = 64) {
  const machine = new PhysicalMemory(POOL_BASE + poolPages * 4096);
  const guest = new PhysicalMemory(GUEST_RAM, { viewOf: machine });
  const counters = new Counters();
  const sp = new ShadowPaging(machine, guest, POOL_BASE, poolPages, counters);
  return { machine, guest, counters, sp };
}

/** Guest tables: PD at `pd` mapping 0x400000–0x7FFFFF through the PT at `pt`, and the top 4 MiB through `ptTop`. */
function guestTables(guest: PhysicalMemory, pd = 0x10000, pt = 0x11000, ptTop = 0x12000) {
  guest.write32(pd + 1 * 4, pt | P | W | U);
  guest.write32(pt + 0 * 4, 0x20000 | P | W | U);       // 0x400000 → 0x20000, user rw
  guest.write32(pt + 1 * 4, 0x21000 | P);               // 0x401000 → 0x21000, supervisor ro
  guest.write32(pt + 2 * 4, pt | P | W);                // 0x402000 → the PT itself, rw
  guest.write32(pd + 1023 * 4, ptTop | P | W);
  guest.write32(ptTop + 1023 * 4, 0x22000 | P | W);     // 0xFFFFF000 → 0x22000 (Linux's fixmap is up there)
  return { cr0: PE | PG | WP, cr3: pd, cr4: 0, pdpte: new Int32Array(8) };
}

/** The machine entry the shadow holds for linear `lin` (32-bit shape), or 0. */
function shadowPte(s: ReturnType<typeof setup>, lin: number): number {
  const pde = s.machine.read32(s.sp.root + (lin >>> 22) * 4);
  if ((pde & P) === 0) return 0;
  return s.machine.read32((pde & ~0xfff) + ((lin >>> 12) & 0x3ff) * 4);
}

test("hidden faults are filled; true faults (not present, rights) go to the guest; the top of the address space is the guest's", () => {
  const s = setup();
  const g = guestTables(s.guest);
  assert.equal(s.sp.update(g), true, "the first update builds a root");
  assert.notEqual(s.sp.root, 0);
  assert.equal(s.sp.pageFault(g, 0x400123, EC_U), PfOutcome.HIDDEN);
  assert.equal(shadowPte(s, 0x400123) & ~0xfff, 0x20000, "guest-linear → host-physical");
  assert.equal(s.sp.pageFault(g, 0x403000, 0), PfOutcome.TRUE, "not present in the guest's tables");
  assert.equal(s.sp.pageFault(g, 0x401000, EC_U), PfOutcome.TRUE, "a user read of a supervisor page");
  assert.equal(s.sp.pageFault(g, 0x401000, EC_W | EC_P), PfOutcome.TRUE, "a supervisor write to a read-only page with WP");
  assert.equal(s.sp.pageFault(g, 0xfffff000, 0), PfOutcome.HIDDEN, "no monitor region: the top 4 MiB are filled like any page");
  assert.equal(shadowPte(s, 0xfffff000) & ~0xfff, 0x22000);
  assert.deepEqual([s.counters.get("pf.hidden"), s.counters.get("pf.true")], [2, 3]);
});

test("A and D bits are set as the processor sets them: a read sets A and maps read-only, the first write sets D", () => {
  const s = setup();
  const g = guestTables(s.guest);
  s.sp.update(g);
  assert.equal(s.sp.pageFault(g, 0x400000, EC_U), PfOutcome.HIDDEN);
  assert.equal(s.guest.read32(0x11000) & (A | D), A, "A, no D");
  assert.equal(s.guest.read32(0x10004) & A, A, "the PDE's A");
  assert.equal(shadowPte(s, 0x400000) & W, 0, "read-only until the guest's D is set");
  // The write faults on the read-only shadow entry (P set): hidden again, and sets D.
  assert.equal(s.sp.pageFault(g, 0x400000, EC_U | EC_W | EC_P), PfOutcome.HIDDEN);
  assert.equal(s.guest.read32(0x11000) & D, D);
  assert.equal(shadowPte(s, 0x400000) & W, W);
});

test("a write to a guest page table is emulated; update() drops the shadow entries it changed", () => {
  const s = setup();
  const g = guestTables(s.guest);
  s.sp.update(g);
  assert.equal(s.sp.pageFault(g, 0x400000, EC_U), PfOutcome.HIDDEN);
  assert.equal(s.sp.pageFault(g, 0x402000, 0), PfOutcome.HIDDEN, "the PT through its own mapping, read");
  assert.equal(shadowPte(s, 0x402000) & W, 0, "read-only: it holds a guest table");
  assert.equal(s.sp.pageFault(g, 0x402000, EC_W | EC_P), PfOutcome.EMULATE, "a write to it is the monitor's to carry out");
  // The vCPU carries it out (here: a write through the guest's memory, which reports it).
  s.guest.write32(0x11000, 0x23000 | P | W | U);
  s.sp.update(g);
  assert.equal(shadowPte(s, 0x400000), 0, "the changed entry is gone");
  assert.equal(s.sp.pageFault(g, 0x400000, EC_U), PfOutcome.HIDDEN);
  assert.equal(shadowPte(s, 0x400000) & ~0xfff, 0x23000, "refilled from the new guest entry");
  assert.equal(s.sp.pageFault(g, 0x7ff000 + GUEST_RAM, 0), PfOutcome.TRUE);
});

test("INVLPG drops the entry: a guest that cleared A sees it set again by the next access, as after a TLB flush", () => {
  const s = setup();
  const g = guestTables(s.guest);
  s.sp.update(g);
  assert.equal(s.sp.pageFault(g, 0x400000, EC_U | EC_W), PfOutcome.HIDDEN);
  assert.equal(s.guest.read32(0x11000) & (A | D), A | D);
  // The guest clears A (an emulated write to its PT: a change of A alone keeps the shadow
  // entry, as the processor's TLB keeps its entry), then INVLPG.
  s.guest.write32(0x11000, 0x20000 | P | W | U | D);
  s.sp.update(g);
  assert.notEqual(shadowPte(s, 0x400000), 0);
  s.sp.invlpg(0x400000);
  assert.equal(shadowPte(s, 0x400000), 0);
  assert.equal(s.sp.pageFault(g, 0x400000, EC_U), PfOutcome.HIDDEN);
  assert.equal(s.guest.read32(0x11000) & (A | D), A | D, "A set again by the access");
  // Clearing D drops the entry at once (the next write must set D again).
  s.guest.write32(0x11000, 0x20000 | P | W | U | A);
  s.sp.update(g);
  assert.equal(shadowPte(s, 0x400000), 0);
  s.sp.invlpg(0x5ff000); // nothing there: nothing happens
  assert.equal(s.counters.get("shadow.invlpg-dropped"), 1);
});

test("CR3 switches pick the shadow root of the new tables, cached across switches back", () => {
  const s = setup();
  const g1 = guestTables(s.guest, 0x10000, 0x11000, 0x12000);
  const g2 = guestTables(s.guest, 0x30000, 0x31000, 0x32000);
  s.guest.write32(0x31000, 0x24000 | P | W | U);
  s.sp.update(g1);
  const r1 = s.sp.root;
  assert.equal(s.sp.pageFault(g1, 0x400000, EC_U), PfOutcome.HIDDEN);
  assert.equal(s.sp.update(g1), false, "the same CR3: the same root");
  assert.equal(s.sp.update(g2), true);
  const r2 = s.sp.root;
  assert.notEqual(r2, r1);
  assert.equal(shadowPte(s, 0x400000), 0, "the new root's own entries");
  assert.equal(s.sp.pageFault(g2, 0x400000, EC_U), PfOutcome.HIDDEN);
  assert.equal(shadowPte(s, 0x400000) & ~0xfff, 0x24000);
  s.sp.update(g1);
  assert.equal(s.sp.root, r1, "back to the first address space: its cached root");
  assert.equal(shadowPte(s, 0x400000) & ~0xfff, 0x20000, "with the entries it had");
  assert.equal(s.counters.get("shadow.root-cached"), 1);
});

test("guest paging off: an identity shadow; the guest runs with CR0.PG and WP set and CR4.PAE as the shadow's", () => {
  const s = setup();
  s.guest.addHole(0xa0000, 0x100000);
  s.guest.addMmio({ base: 0xb8000, size: 0x8000, device: { read8: () => 0, write8: () => {} } });
  const g = { cr0: PE, cr3: 0, cr4: PAE | PSE, pdpte: new Int32Array(8) };
  s.sp.update(g);
  assert.equal(s.sp.hostCr0(g.cr0) >>> 0, (PE | PG | WP) >>> 0);
  assert.equal(s.sp.hostCr4(g.cr4), PSE, "the identity shadow is 32-bit: PAE off while the guest's paging is");
  assert.equal(s.sp.pageFault(g, 0x123456, EC_W), PfOutcome.HIDDEN);
  assert.equal(shadowPte(s, 0x123000) & (~0xfff | W), 0x123000 | W);
  assert.equal(s.sp.pageFault(g, 0xb8000, 0), PfOutcome.EMULATE, "the VGA window is a device");
  assert.equal(s.sp.pageFault(g, GUEST_RAM + 0x1000, EC_W), PfOutcome.EMULATE, "a write above the guest's RAM is emulated");
  assert.equal(s.sp.pageFault(g, GUEST_RAM + 0x1000, 0), PfOutcome.HIDDEN, "a read there maps a page of 0xFF");
  assert.notEqual(shadowPte(s, GUEST_RAM + 0x1000) & ~0xfff, GUEST_RAM + 0x1000, "never the machine frame of that address");
  // Paging on: another root.
  const t = guestTables(s.guest);
  assert.equal(s.sp.update({ ...t, cr4: PSE }), true);
});

test("4 MiB guest pages are split; with the guest's CR0.WP clear a supervisor write to a read-only page is emulated", () => {
  const s = setup();
  const g = { cr0: PE | PG, cr3: 0x10000, cr4: PSE, pdpte: new Int32Array(8) };
  s.guest.write32(0x10000 + 2 * 4, 0x000000 | P | PS);  // 0x800000 → 0, 4 MiB, supervisor read-only
  s.sp.update(g);
  assert.equal(s.sp.pageFault(g, 0x805000, 0), PfOutcome.HIDDEN);
  assert.equal(shadowPte(s, 0x805000) & ~0xfff, 0x5000);
  assert.equal(s.guest.read32(0x10008) & A, A);
  assert.equal(s.sp.pageFault(g, 0x805000, EC_W | EC_P), PfOutcome.EMULATE, "allowed by WP=0, not by the shadow");
  assert.equal(s.sp.pageFault(g, 0x805000, EC_W | EC_P | EC_U), PfOutcome.TRUE, "a user write is refused anyway");
});

test("the shadow is resource-controlled: an entry changed behind the monitor is reported", () => {
  const s = setup();
  const g = guestTables(s.guest);
  s.sp.update(g);
  s.sp.pageFault(g, 0x400000, EC_U);
  assert.equal(s.sp.tampered(), 0);
  const pde = s.machine.read32(s.sp.root + 4);
  s.machine.write32((pde & ~0xfff) + 5 * 4, 0x3ff000 | P | W | U);
  assert.equal(s.sp.tampered(), 1);
});
