// Shadow descriptors (DESIGN.md §3 "Segment truncation"): the machine's GDT and LDT are
// copies of the guest's with
//   - DPL 0 raised to 1 (ring compression: guest ring 0 runs at machine ring 1),
//   - limits cut so no guest segment reaches the monitor region,
//   - system descriptors and gates (LDT, TSS, call/task/interrupt gates) left out, so any
//     use of them faults into the monitor, which carries it out against the guest's own
//     tables.
// A segment that cannot be cut (an expand-down segment whose valid range reaches the region,
// or one that starts inside it) becomes an expand-down data segment with no valid offsets:
// loading it works, every access through it faults and is emulated.

import { GUEST_LIMIT_TOP } from "../layout.js";

const P = 0x8000, S = 0x1000, G = 0x0080_0000, DB = 0x0040_0000;
const TYPE_CODE = 0x800, TYPE_EXPAND_DOWN = 0x400;

/**
 * [lo, hi] of the shadow of guest descriptor (lo, hi). `top`: the last reachable byte.
 * `ring`: the machine ring guest ring 0 runs at — 1, or 3 under --protect two-tables (a
 * 64-bit guest: docs/long-mode-monitor.md). A 64-bit code segment keeps its L bit; with
 * EFER.LMSLE the cut data limits are what keeps the guest kernel below the region.
 */
export function shadowDescriptor(lo: number, hi: number, top = GUEST_LIMIT_TOP, ring: 1 | 3 = 1): [number, number] {
  if ((hi & S) === 0) return [0, 0]; // system descriptor or gate: the monitor handles its use
  if ((hi & P) === 0) return [lo, hi]; // not present: loading it faults (#NP) either way
  // Ring compression: DPL 0 → the guest kernel's machine ring.
  if (((hi >>> 13) & 3) === 0) hi |= ring << 13;
  if (top >= 0xffff_ffff) return [lo | 0, hi | 0];
  const base = ((lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff00_0000)) >>> 0;
  const raw = (lo & 0xffff) | (hi & 0x000f_0000);
  const limit = (hi & G) !== 0 ? ((raw * 4096) + 0xfff) : raw;
  const expandDown = (hi & TYPE_CODE) === 0 && (hi & TYPE_EXPAND_DOWN) !== 0;
  if (expandDown) {
    // Valid offsets (limit, upper]; their top is fixed, so only a range wholly below the
    // region can stay.
    const upper = (hi & DB) !== 0 ? 0xffff_ffff : 0xffff;
    if (base + upper <= top) return [lo | 0, hi | 0];
    return emptyExpandDown(lo, hi);
  }
  if (base + limit <= top) return [lo | 0, hi | 0];
  if (base > top) {
    if ((hi & TYPE_CODE) !== 0) return [lo & 0xffff_0000, (hi & ~0x000f_0000 & ~G & ~P) | 0];
    return emptyExpandDown(lo, hi);
  }
  let newLimit = top - base;
  let gran = false;
  if (newLimit > 0xf_ffff) {
    gran = true;
    newLimit = Math.floor((newLimit + 1) / 4096) - 1;
  }
  const lo2 = ((lo & 0xffff_0000) | (newLimit & 0xffff)) | 0;
  const hi2 = ((hi & ~0x000f_0000 & ~G) | (newLimit & 0x000f_0000) | (gran ? G : 0)) | 0;
  return [lo2, hi2];
}

/** An expand-down data segment with no valid offsets (same base, DPL and D/B). */
function emptyExpandDown(lo: number, hi: number): [number, number] {
  const writable = 0x200;
  const h = (hi & ~0x0f00 & ~0x000f_0000) | 0x0200 | TYPE_EXPAND_DOWN | 0x000f_0000 | G | writable;
  return [(lo | 0xffff) | 0, h | 0];
}
