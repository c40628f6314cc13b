// Segment truncation (src/vmm/segments/descriptors.ts): DPL 0 → 1, limits cut below the
// monitor region for expand-up and expand-down segments, system descriptors and gates
// left to the monitor. Expected values worked out from the descriptor format (SDM vol. 3
// §3.4.5) by hand.

import { test } from "node:test";
import assert from "node:assert/strict";
import { shadowDescriptor } from "../../src/vmm/segments/descriptors.js";
import { Descriptor } from "../../src/hw/cpu/segment.js";

function desc(lo: number, hi: number): Descriptor {
  const d = new Descriptor();
  d.lo = lo; d.hi = hi;
  return d;
}
const shadow = (lo: number, hi: number, top?: number): Descriptor => desc(...shadowDescriptor(lo, hi, top));

test("a flat 4 GiB ring-0 code segment runs at ring 1 and stops below 0xFFC00000", () => {
  const s = shadow(0x0000ffff, 0x00cf9a00);
  assert.equal(s.dpl, 1);
  assert.equal(s.base, 0);
  assert.equal(s.limit, 0xffbf_ffff);
  assert.ok(s.isCode && s.present && s.db);
});

test("a flat ring-3 data segment keeps DPL 3 and is cut too", () => {
  const s = shadow(0x0000ffff, 0x00cff200);
  assert.equal(s.dpl, 3);
  assert.equal(s.limit, 0xffbf_ffff);
});

test("a segment wholly below the region is unchanged but for the DPL", () => {
  const s = shadow(0x1000ffff, 0x00409200); // base 0x1000, limit 0xFFFF, byte granular
  assert.equal(s.base, 0x1000);
  assert.equal(s.limit, 0xffff);
  assert.equal(s.dpl, 1);
});

test("a based segment whose top wraps past 4 GiB is cut at the region", () => {
  // base 0x00400000, limit 4 GiB: would reach the region (and wrap); cut to 0xFFBFFFFF - base.
  const s = shadow(0x0000ffff, 0x00cf9240);
  assert.equal(s.base, 0x0040_0000);
  assert.ok(s.base + s.limit <= 0xffbf_ffff, `top 0x${(s.base + s.limit).toString(16)}`);
  assert.ok(s.base + s.limit >= 0xffbf_f000, "cut no further than one page below the region");
});

test("an expand-down segment whose valid range reaches the region has no valid offsets", () => {
  // Expand-down, D=1, limit 0x00000FFF (byte): valid offsets 0x1000..0xFFFFFFFF.
  const s = shadow(0x00000fff, 0x00409600);
  assert.equal(s.type & 4, 4, "still expand-down");
  assert.equal(s.limit, 0xffff_ffff, "lower bound at the top: nothing is valid");
  assert.equal(s.dpl, 1);
});

test("a 16-bit expand-down segment below the region is kept", () => {
  // base 0x10000, expand-down, B=0: valid offsets (limit, 0xFFFF].
  const s = shadow(0x0000_0100, 0x00009601 | 0);
  assert.equal(s.base, 0x10000);
  assert.equal(s.limit, 0x100);
  assert.equal(s.type & 4, 4);
});

test("a data segment based inside the region becomes an empty expand-down segment", () => {
  const s = shadow(0x0000ffff, 0xffcf92c0 | 0); // base 0xFFC00000
  assert.equal(s.type & 4, 4);
  assert.equal(s.limit, 0xffff_ffff);
});

test("gates, TSS and LDT descriptors are not shadowed: their use faults into the monitor", () => {
  assert.deepEqual(shadowDescriptor(0x00080000, 0x0000ec00), [0, 0], "call gate, DPL 3");
  assert.deepEqual(shadowDescriptor(0x00000067, 0x00008900), [0, 0], "available TSS");
  assert.deepEqual(shadowDescriptor(0x0000ffff, 0x00008200), [0, 0], "LDT");
  assert.deepEqual(shadowDescriptor(0x00280000, 0x00008500), [0, 0], "task gate");
});

test("a not-present descriptor stays not present", () => {
  const s = shadow(0x0000ffff, 0x00cf1a00);
  assert.equal(s.present, false);
});

test("paging-only protection (top 4 GiB) keeps limits and only compresses rings", () => {
  const s = shadow(0x0000ffff, 0x00cf9a00, 0xffff_ffff);
  assert.equal(s.limit, 0xffff_ffff);
  assert.equal(s.dpl, 1);
});
