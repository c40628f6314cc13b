// Shadow descriptors for a 64-bit guest (src/vmm/segments/descriptor-shadow.ts with the
// long-mode layout; docs/long-mode-monitor.md): the guest's GDT copied into the long-mode
// world's GDT with DPL 0 moved to the guest kernel's machine ring (1, or 3 under
// two-tables), 64-bit code segments keeping their L bit, data limits ending below the region
// at 0xFFFFFFFFFFE00000 (what EFER.LMSLE checks), 16-byte system descriptors left out; and
// the selectors the machine loads for the guest's registers.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Machine } from "../../src/hw/machine.js";
import { Cpu } from "../../src/hw/cpu/cpu.js";
import { parseCpuSpec } from "../../src/hw/cpu/models.js";
import { Descriptor, SegReg } from "../../src/hw/cpu/segment.js";
import { IoBus } from "../../src/hw/io/io-bus.js";
import { World64 } from "../../src/vmm/world/world64.js";
import { DescriptorShadow, longLayout } from "../../src/vmm/segments/descriptor-shadow.js";
import { shadowDescriptor } from "../../src/vmm/segments/descriptors.js";
import { Counters } from "../../src/vmm/stats/counters.js";
import * as L from "../../src/vmm/layout.js";

const BASE = 0x40_0000, GDT = 0x1000;
const PML4 = 0x10000, PDPT = 0x11000, PD = 0x12000, PDPT_HI = 0x13000, PD_HI = 0x14000;

/** A Linux-like 64-bit GDT: kernel code64 0x10, kernel data 0x18, user code32 0x23, user data 0x2b, user code64 0x33, TSS 0x40 (16 bytes). */
const GUEST_GDT: [number, number][] = [
  [0, 0], [0, 0], [0x0000ffff, 0x00af9b00], [0x0000ffff, 0x00cf9300], [0x0000ffff, 0x00cffb00], [0x0000ffff, 0x00cff300],
  [0x0000ffff, 0x00affb00], [0, 0], [0x30000067, 0x00008b00], [0xffffffff, 0],
];

function setup(ring: 1 | 3): { m: Machine; vc: Cpu; world: World64; ds: DescriptorShadow; counters: Counters } {
  const m = new Machine({ ramBytes: 8 << 20, model: parseCpuSpec("athlon64-reve"), jit: false });
  const mem = m.mem;
  const put64 = (a: number, lo: number, hi = 0): void => { mem.write32(a, lo); mem.write32(a + 4, hi); };
  GUEST_GDT.forEach(([lo, hi], k) => put64(GDT + k * 8, lo, hi));
  const world = new World64(mem, BASE, ring);
  world.build(() => {}, () => {});
  put64(PML4, PDPT | 7); put64(PDPT, PD | 7); put64(PD, 0x87);
  put64(PML4 + 511 * 8, PDPT_HI | 7); put64(PDPT_HI + 511 * 8, PD_HI | 7); put64(PD_HI + 511 * 8, world.regionPde);
  const vc = new Cpu(mem, new IoBus(), { model: parseCpuSpec("athlon64-reve"), jit: false });
  for (const c of [m.cpu, vc]) { c.setCr4(0x20); c.setEfer(0x100); c.setCr3(PML4); c.setCr0(0x8000_0011); }
  world.enter(m.cpu);
  vc.gdtrBase = GDT; vc.gdtrLimit = GUEST_GDT.length * 8 - 1;
  const counters = new Counters();
  const traced: number[] = [];
  const ds = new DescriptorShadow(world, vc, m.cpu, { trace: (f) => { traced.push(f); }, untrace: () => {} }, counters, longLayout(L.GUEST_LIMIT64, ring));
  ds.sync(true);
  assert.deepEqual(traced, [1], "the guest GDT's page is traced");
  return { m, vc, world, ds, counters };
}

function machineDescriptor(m: Machine, sel: number): Descriptor {
  const d = new Descriptor();
  assert.ok(m.cpu.readDescriptor(sel, d), `selector ${sel.toString(16)}`);
  return d;
}

for (const ring of [1, 3] as const) {
  test(`a 64-bit guest's GDT in the long-mode world (guest kernel at ring ${ring}): DPL 0 → ${ring}, L kept, data cut below the region, the TSS left out`, () => {
    const { m, world } = setup(ring);
    const kcode = machineDescriptor(m, 0x10);
    assert.equal(kcode.dpl, ring);
    assert.ok(kcode.isCode && (kcode.hi & 0x0020_0000) !== 0 && !kcode.db, "64-bit code (L = 1, D = 0)");
    const kdata = machineDescriptor(m, 0x18);
    assert.equal(kdata.dpl, ring);
    assert.equal(kdata.limit, L.GUEST_LIMIT64, "ends at 0xFFDFFFFF: with LMSLE, below 0xFFFFFFFFFFE00000");
    const ucode64 = machineDescriptor(m, 0x33);
    assert.equal(ucode64.dpl, 3);
    assert.ok((ucode64.hi & 0x0020_0000) !== 0);
    assert.equal(machineDescriptor(m, 0x2b).limit, L.GUEST_LIMIT64);
    assert.equal(machineDescriptor(m, 0x23).limit, L.GUEST_LIMIT64, "compatibility-mode code is limit-checked: cut too");
    for (const sel of [0x40, 0x48]) {
      const d = new Descriptor();
      m.cpu.readDescriptor(sel, d);
      assert.equal(d.lo | d.hi, 0, "the TSS's two halves are the monitor's business");
    }
    // The machine can load them at the guest kernel's ring, and the monitor's own entries stayed.
    m.cpu.loadSegment(SegReg.DS, 0x18 | ring);
    assert.equal(m.cpu.segs[SegReg.DS].limit, L.GUEST_LIMIT64);
    assert.deepEqual(world.tampered(), []);
  });
}

test("machineSelector (long-mode layout): the guest's CS and SS at CPL 0 run with RPL = the guest kernel's ring; a stale cache goes to a monitor slot that keeps L", () => {
  for (const ring of [1, 3] as const) {
    const { vc, ds, m, counters } = setup(ring);
    const d = new Descriptor();
    vc.readDescriptor(0x10, d); vc.segs[SegReg.CS].loadDescriptor(0x10, d);
    vc.readDescriptor(0x18, d); vc.segs[SegReg.SS].loadDescriptor(0x18, d);
    assert.equal(ds.machineSelector(SegReg.CS, vc.segs[SegReg.CS], 0), 0x10 | ring);
    assert.equal(ds.machineSelector(SegReg.SS, vc.segs[SegReg.SS], 0), 0x18 | ring);
    assert.equal(counters.snapshot()["desc.cached-segment"], undefined);
    // The guest rewrites its GDT entry 0x10 to a 32-bit segment after loading CS: the
    // register keeps the 64-bit descriptor, and so must the machine.
    m.mem.write32(GDT + 0x10 + 4, 0x00cf9b00);
    ds.written(); ds.sync(false);
    const sel = ds.machineSelector(SegReg.CS, vc.segs[SegReg.CS], 0);
    assert.equal(sel, (L.SEL64_CACHED_BASE + SegReg.CS * 8) | ring);
    assert.ok((machineDescriptor(m, sel & ~3).hi & 0x0020_0000) !== 0, "the cached copy is 64-bit code");
  }
});

test("shadowDescriptor with ring 3 (two-tables): DPL 0 → 3; DPL 3 stays", () => {
  const d = new Descriptor();
  [d.lo, d.hi] = shadowDescriptor(0x0000ffff, 0x00af9b00, L.GUEST_LIMIT64, 3);
  assert.equal(d.dpl, 3);
  [d.lo, d.hi] = shadowDescriptor(0x0000ffff, 0x00cff300, L.GUEST_LIMIT64, 3);
  assert.equal(d.dpl, 3);
  assert.equal(d.limit, L.GUEST_LIMIT64);
});
