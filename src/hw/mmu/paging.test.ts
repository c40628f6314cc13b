// The page walk on its own (walk() in paging.ts): page-fault error codes, access rights,
// accessed/dirty flags, 4 MiB pages and PAE. Expected values follow Intel SDM vol. 3
// chapter 4: §4.3 (32-bit paging, tables 4-4 to 4-6), §4.4 (PAE, tables 4-8 to 4-11),
// §4.6 (access rights), §4.7 (page-fault error code, figure 4-12), §4.8 (A/D flags).

import { test } from "node:test";
import assert from "node:assert/strict";
import { PhysicalMemory } from "../mem/physical-memory.js";
import {
  walk, Translation, type PagingMode, PTE_P, PTE_W, PTE_U, PTE_A, PTE_D, PTE_PS, PTE_G,
  PFEC_P, PFEC_W, PFEC_U, PFEC_RSVD, CR0_WP, CR4_PSE, CR4_PAE,
} from "./paging.js";


const PD = 0x1000, PT = 0x2000;
const LIN = 0x0040_3123; // PDE 1, PTE 3, offset 0x123
const PDE_ADDR = PD + 1 * 4, PTE_ADDR = PT + 3 * 4;

/** 32-bit paging: PD at 0x1000, LIN mapped through PT at 0x2000 to frame 0x55000. */
function setup32(pde: number, pte: number, cr0 = 0, cr4 = 0): { mem: PhysicalMemory; m: PagingMode } {
  const mem = new PhysicalMemory(1 << 20);
  mem.write32(PDE_ADDR, pde);
  mem.write32(PTE_ADDR, pte);
  return { mem, m: { cr0, cr3: PD, cr4, pdpte: new Int32Array(8) } };
}
const PDE_OK = PT | PTE_P | PTE_W | PTE_U;
const FRAME = 0x55000;

/** Walk and return the error code, or -1 if the translation succeeded. */
function ec(mem: PhysicalMemory, m: PagingMode, lin: number, write: boolean, user: boolean): number {
  const t = new Translation();
  return walk(mem, m, lin, write, user, t) ? -1 : t.errorCode;
}

test("32-bit: a present user/writable mapping translates to frame + offset", () => {
  const { mem, m } = setup32(PDE_OK, FRAME | PTE_P | PTE_W | PTE_U);
  const t = new Translation();
  assert.equal(walk(mem, m, LIN, true, true, t), true);
  assert.equal(t.frame, FRAME);
  assert.equal(t.user, true);
  assert.equal(t.writable, true);
});

test("32-bit: not-present PDE or PTE: P=0, W and U/S describe the access (fig. 4-12)", () => {
  for (const [pde, pte] of [[PT, FRAME | PTE_P | PTE_W | PTE_U], [PDE_OK, FRAME | PTE_W | PTE_U]]) {
    const { mem, m } = setup32(pde, pte);
    assert.equal(ec(mem, m, LIN, false, false), 0);
    assert.equal(ec(mem, m, LIN, true, false), PFEC_W);
    assert.equal(ec(mem, m, LIN, false, true), PFEC_U);
    assert.equal(ec(mem, m, LIN, true, true), PFEC_W | PFEC_U);
  }
});

test("32-bit: user access to a supervisor page is a protection fault (P=1, U=1)", () => {
  const { mem, m } = setup32(PDE_OK, FRAME | PTE_P | PTE_W);
  assert.equal(ec(mem, m, LIN, false, true), PFEC_P | PFEC_U);
  assert.equal(ec(mem, m, LIN, true, true), PFEC_P | PFEC_W | PFEC_U);
  assert.equal(ec(mem, m, LIN, true, false), -1, "supervisor may write it");
});

test("32-bit: U/S and R/W are the AND of PDE and PTE (§4.6)", () => {
  // PDE supervisor, PTE user: user access denied.
  let s = setup32(PT | PTE_P | PTE_W, FRAME | PTE_P | PTE_W | PTE_U);
  assert.equal(ec(s.mem, s.m, LIN, false, true), PFEC_P | PFEC_U);
  // PDE read-only, PTE writable: user write denied, user read allowed.
  s = setup32(PT | PTE_P | PTE_U, FRAME | PTE_P | PTE_W | PTE_U);
  assert.equal(ec(s.mem, s.m, LIN, false, true), -1);
  assert.equal(ec(s.mem, s.m, LIN, true, true), PFEC_P | PFEC_W | PFEC_U);
});

test("32-bit: CR0.WP decides whether the supervisor may write read-only pages (§4.6.1)", () => {
  for (const pte of [FRAME | PTE_P | PTE_U, FRAME | PTE_P]) {
    let s = setup32(PDE_OK, pte, 0);
    assert.equal(ec(s.mem, s.m, LIN, true, false), -1, "WP=0: supervisor write allowed");
    s = setup32(PDE_OK, pte, CR0_WP);
    assert.equal(ec(s.mem, s.m, LIN, true, false), PFEC_P | PFEC_W, "WP=1: supervisor write faults");
    assert.equal(ec(s.mem, s.m, LIN, false, false), -1, "WP=1: supervisor read still allowed");
  }
});

test("32-bit: a read sets A in PDE and PTE but not D; a write sets D in the PTE only (§4.8)", () => {
  const { mem, m } = setup32(PDE_OK, FRAME | PTE_P | PTE_W | PTE_U);
  const t = new Translation();
  walk(mem, m, LIN, false, false, t);
  assert.equal(mem.read32(PDE_ADDR) & (PTE_A | PTE_D), PTE_A);
  assert.equal(mem.read32(PTE_ADDR) & (PTE_A | PTE_D), PTE_A);
  assert.equal(t.dirty, false);
  walk(mem, m, LIN, true, false, t);
  assert.equal(mem.read32(PTE_ADDR) & (PTE_A | PTE_D), PTE_A | PTE_D);
  assert.equal(mem.read32(PDE_ADDR) & PTE_D, 0, "no dirty flag in a PDE that references a page table");
  assert.equal(t.dirty, true);
});

test("32-bit: a write that faults does not set D", () => {
  const { mem, m } = setup32(PDE_OK, FRAME | PTE_P | PTE_U);
  assert.equal(ec(mem, m, LIN, true, true), PFEC_P | PFEC_W | PFEC_U);
  assert.equal(mem.read32(PTE_ADDR) & PTE_D, 0);
});

test("32-bit: the walk reports G from the leaf entry", () => {
  const { mem, m } = setup32(PDE_OK, FRAME | PTE_P | PTE_G);
  const t = new Translation();
  walk(mem, m, LIN, false, false, t);
  assert.equal(t.global, true);
  const s = setup32(PDE_OK | PTE_G, FRAME | PTE_P);
  walk(s.mem, s.m, LIN, false, false, t);
  assert.equal(t.global, false, "G in a PDE that references a page table is ignored");
});

test("4 MiB pages (CR4.PSE): frame from PDE[31:22], A and D set in the PDE (table 4-4)", () => {
  const big = 0x0080_0000 | PTE_P | PTE_W | PTE_U | PTE_PS;
  const { mem, m } = setup32(big, 0, 0, CR4_PSE);
  const t = new Translation();
  assert.equal(walk(mem, m, LIN, false, false, t), true);
  assert.equal(t.frame, 0x0080_0000 + (LIN & 0x003f_f000));
  assert.equal(mem.read32(PDE_ADDR) & (PTE_A | PTE_D), PTE_A);
  walk(mem, m, LIN, true, false, t);
  assert.equal(mem.read32(PDE_ADDR) & (PTE_A | PTE_D), PTE_A | PTE_D);
});

test("4 MiB pages: user/WP rights apply to the PDE itself", () => {
  const { mem, m } = setup32(0x0080_0000 | PTE_P | PTE_PS, 0, CR0_WP, CR4_PSE);
  assert.equal(ec(mem, m, LIN, false, true), PFEC_P | PFEC_U);
  assert.equal(ec(mem, m, LIN, true, false), PFEC_P | PFEC_W);
});

test("PS is ignored without CR4.PSE: the PDE references a page table", () => {
  const { mem, m } = setup32(PDE_OK | PTE_PS, FRAME | PTE_P);
  const t = new Translation();
  assert.equal(walk(mem, m, LIN, false, false, t), true);
  assert.equal(t.frame, FRAME);
});

// ---- PAE (§4.4): PDPTEs come from the registers, entries are 64-bit ----

const PAE_PD = 0x3000, PAE_PT = 0x4000;
const PAE_LIN = 0x4060_5123; // PDPTE 1, PDE 3, PTE 5
const PAE_PDE = PAE_PD + 3 * 8, PAE_PTE = PAE_PT + 5 * 8;

function setupPae(pde: [number, number], pte: [number, number], cr0 = 0): { mem: PhysicalMemory; m: PagingMode } {
  const mem = new PhysicalMemory(1 << 20);
  mem.write32(PAE_PDE, pde[0]); mem.write32(PAE_PDE + 4, pde[1]);
  mem.write32(PAE_PTE, pte[0]); mem.write32(PAE_PTE + 4, pte[1]);
  const pdpte = new Int32Array(8);
  pdpte[2] = PAE_PD | PTE_P;
  return { mem, m: { cr0, cr3: 0x5000, cr4: CR4_PAE, pdpte } };
}
const PAE_PDE_OK: [number, number] = [PAE_PT | PTE_P | PTE_W | PTE_U, 0];

test("PAE: 4 KiB translation, A/D flags, and not-present at each level", () => {
  const { mem, m } = setupPae(PAE_PDE_OK, [FRAME | PTE_P | PTE_W | PTE_U, 0]);
  const t = new Translation();
  assert.equal(walk(mem, m, PAE_LIN, true, true, t), true);
  assert.equal(t.frame, FRAME);
  assert.equal(mem.read32(PAE_PDE) & PTE_A, PTE_A);
  assert.equal(mem.read32(PAE_PTE) & (PTE_A | PTE_D), PTE_A | PTE_D);
  assert.equal(ec(mem, m, 0x0000_1000, true, true), PFEC_W | PFEC_U, "PDPTE 0 not present");
  const s = setupPae(PAE_PDE_OK, [FRAME | PTE_W, 0]);
  assert.equal(ec(s.mem, s.m, PAE_LIN, false, true), PFEC_U, "PTE not present");
});

test("PAE: reserved bits 63:36 set in a PDE or PTE give RSVD|P (§4.7)", () => {
  let s = setupPae([PAE_PT | PTE_P | PTE_W | PTE_U, 0x100], [FRAME | PTE_P | PTE_W | PTE_U, 0]);
  assert.equal(ec(s.mem, s.m, PAE_LIN, false, false), PFEC_RSVD | PFEC_P);
  s = setupPae(PAE_PDE_OK, [FRAME | PTE_P | PTE_W | PTE_U, 0x8000_0000 | 0]); // XD without EFER.NXE
  assert.equal(ec(s.mem, s.m, PAE_LIN, true, true), PFEC_RSVD | PFEC_P | PFEC_W | PFEC_U);
  s = setupPae(PAE_PDE_OK, [FRAME | PTE_P | PTE_W | PTE_U, 0xf]); // bits 35:32 are address bits
  assert.equal(ec(s.mem, s.m, PAE_LIN, false, false), -1);
});

test("PAE: reserved bits are not checked in a not-present entry", () => {
  const s = setupPae(PAE_PDE_OK, [FRAME | PTE_W, 0x100]);
  assert.equal(ec(s.mem, s.m, PAE_LIN, false, false), 0);
});

test("PAE: 2 MiB pages; bits 20:13 of the PDE are reserved", () => {
  let s = setupPae([0x0060_0000 | PTE_P | PTE_W | PTE_U | PTE_PS, 0], [0, 0]);
  const t = new Translation();
  assert.equal(walk(s.mem, s.m, PAE_LIN, false, false, t), true);
  assert.equal(t.frame, 0x0060_0000 + (PAE_LIN & 0x001f_f000));
  walk(s.mem, s.m, PAE_LIN, true, false, t);
  assert.equal(s.mem.read32(PAE_PDE) & (PTE_A | PTE_D), PTE_A | PTE_D);
  s = setupPae([0x0060_0000 | 0x2000 | PTE_P | PTE_W | PTE_U | PTE_PS, 0], [0, 0]);
  assert.equal(ec(s.mem, s.m, PAE_LIN, false, false), PFEC_RSVD | PFEC_P);
});

test("PAE: U/S, R/W and WP as in 32-bit paging", () => {
  const s = setupPae([PAE_PT | PTE_P | PTE_U, 0], [FRAME | PTE_P | PTE_W | PTE_U, 0], CR0_WP);
  assert.equal(ec(s.mem, s.m, PAE_LIN, true, true), PFEC_P | PFEC_W | PFEC_U);
  assert.equal(ec(s.mem, s.m, PAE_LIN, true, false), PFEC_P | PFEC_W);
});

// ---- 4-level paging (SDM vol. 3 §4.5, tables 4-14 to 4-20) ----

const PML4 = 0x10000, PDPT = 0x11000, PD4 = 0x12000, PT4 = 0x13000;
/** 0xFFFF8000_40203123: PML4E 256, PDPTE 1, PDE 1, PTE 3, offset 0x123 (canonical, negative). */
const LIN4 = -0x8000_0000_0000 + 0x4020_3123;

function setup4(entries: [number, number][], m: Partial<PagingMode> = {}): { mem: PhysicalMemory; m: PagingMode } {
  const mem = new PhysicalMemory(1 << 20);
  const addrs = [PML4 + 256 * 8, PDPT + 1 * 8, PD4 + 1 * 8, PT4 + 3 * 8];
  entries.forEach(([lo, hi], k) => { mem.write32(addrs[k], lo); mem.write32(addrs[k] + 4, hi); });
  return { mem, m: { cr0: 0, cr3: PML4, cr4: CR4_PAE, pdpte: new Int32Array(8), lma: true, nxe: false, cr3Hi: 0, maxPhyAddr: 40, page1gb: false, ...m } };
}
const DIR4 = PTE_P | PTE_W | PTE_U;

test("4-level: a 4 KiB page through all four levels; A bits set on the way, D on a write", () => {
  const s = setup4([[PDPT | DIR4, 0], [PD4 | DIR4, 0], [PT4 | DIR4, 0], [FRAME | DIR4, 0]]);
  const t = new Translation();
  assert.equal(walk(s.mem, s.m, LIN4, true, true, t), true);
  assert.equal(t.frame, FRAME);
  for (const a of [PML4 + 256 * 8, PDPT + 8, PD4 + 8]) assert.equal(s.mem.read32(a) & PTE_A, PTE_A);
  assert.equal(s.mem.read32(PT4 + 24) & (PTE_A | PTE_D), PTE_A | PTE_D);
  // Index bits come from the right places: the same address without bit 47's sign maps elsewhere.
  assert.equal(walk(s.mem, s.m, 0x4020_3123, false, false, t), false);
});

test("4-level: rights are the AND of every level's U/S and R/W", () => {
  let s = setup4([[PDPT | PTE_P | PTE_W, 0], [PD4 | DIR4, 0], [PT4 | DIR4, 0], [FRAME | DIR4, 0]]);
  assert.equal(ec(s.mem, s.m, LIN4, false, true), PFEC_P | PFEC_U);
  s = setup4([[PDPT | DIR4, 0], [PD4 | PTE_P | PTE_U, 0], [PT4 | DIR4, 0], [FRAME | DIR4, 0]], { cr0: CR0_WP });
  assert.equal(ec(s.mem, s.m, LIN4, true, false), PFEC_P | PFEC_W);
  assert.equal(ec(s.mem, s.m, LIN4, false, true), -1);
});

test("4-level: 2 MiB pages, and 1 GiB pages only where the part has them (PS reserved otherwise)", () => {
  const t = new Translation();
  let s = setup4([[PDPT | DIR4, 0], [PD4 | DIR4, 0], [0x0060_0000 | DIR4 | PTE_PS, 0]]);
  assert.equal(walk(s.mem, s.m, LIN4, false, false, t), true);
  assert.equal(t.frame, 0x0060_0000 + 0x3000);
  s = setup4([[PDPT | DIR4, 0], [0x4000_0000 | DIR4 | PTE_PS, 0]], { page1gb: true });
  assert.equal(walk(s.mem, s.m, LIN4, false, false, t), true);
  assert.equal(t.frame, 0x4000_0000 + 0x0020_3000);
  s = setup4([[PDPT | DIR4, 0], [0x4000_0000 | DIR4 | PTE_PS, 0]], { page1gb: false });
  assert.equal(ec(s.mem, s.m, LIN4, false, false), PFEC_P | PFEC_RSVD);
  s = setup4([[PDPT | DIR4 | PTE_PS, 0]], { page1gb: true }); // PS in a PML4E
  assert.equal(ec(s.mem, s.m, LIN4, false, false), PFEC_P | PFEC_RSVD);
  s = setup4([[PDPT | DIR4, 0], [0x4000_0000 | 0x2000 | DIR4 | PTE_PS, 0]], { page1gb: true }); // bits 29:13
  assert.equal(ec(s.mem, s.m, LIN4, false, false), PFEC_P | PFEC_RSVD);
});

test("4-level: XD is reserved without EFER.NXE; with it the page is no-execute", () => {
  const e = (hi: number): [number, number][] => [[PDPT | DIR4, 0], [PD4 | DIR4, hi], [PT4 | DIR4, 0], [FRAME | DIR4, 0]];
  let s = setup4(e(0x8000_0000 | 0));
  assert.equal(ec(s.mem, s.m, LIN4, false, false), PFEC_P | PFEC_RSVD);
  s = setup4(e(0x8000_0000 | 0), { nxe: true });
  const t = new Translation();
  assert.equal(walk(s.mem, s.m, LIN4, false, false, t), true);
  assert.equal(t.noExec, true);
  s = setup4(e(0), { nxe: true });
  walk(s.mem, s.m, LIN4, false, false, t);
  assert.equal(t.noExec, false);
});

test("4-level: address bits at and above MAXPHYADDR are reserved", () => {
  const e = (hi: number): [number, number][] => [[PDPT | DIR4, 0], [PD4 | DIR4, 0], [PT4 | DIR4, 0], [FRAME | DIR4, hi]];
  let s = setup4(e(0x100), { maxPhyAddr: 40 }); // bit 40
  assert.equal(ec(s.mem, s.m, LIN4, false, false), PFEC_P | PFEC_RSVD);
  s = setup4(e(0x100), { maxPhyAddr: 48 });
  assert.equal(ec(s.mem, s.m, LIN4, false, false), -1);
  const n = setup4(e(0x10_0000 | 0x7ff0_0000), { maxPhyAddr: 36 }); // bits 62:52 are ignored
  assert.equal(ec(n.mem, n.m, LIN4, false, false), -1);
});

test("PAE with EFER.NXE: XD (bit 63) is defined in a PDE or PTE and makes the page no-execute", () => {
  let s = setupPae(PAE_PDE_OK, [FRAME | PTE_P | PTE_W | PTE_U, 0x8000_0000 | 0]);
  const t = new Translation();
  assert.equal(walk(s.mem, { ...s.m, nxe: true }, PAE_LIN, false, false, t), true);
  assert.equal(t.noExec, true);
  s = setupPae([PAE_PT | PTE_P | PTE_W | PTE_U, 0x8000_0000 | 0], [FRAME | PTE_P | PTE_W | PTE_U, 0]);
  assert.equal(walk(s.mem, { ...s.m, nxe: true }, PAE_LIN, false, false, t), true);
  assert.equal(t.noExec, true, "XD in the PDE covers the PTE's page");
  s = setupPae(PAE_PDE_OK, [FRAME | PTE_P | PTE_W | PTE_U, 0]);
  assert.equal(walk(s.mem, { ...s.m, nxe: true }, PAE_LIN, false, false, t), true);
  assert.equal(t.noExec, false);
  s = setupPae(PAE_PDE_OK, [FRAME | PTE_P | PTE_W | PTE_U, 0x8000_0000 | 0x100]);
  assert.equal(ec(s.mem, { ...s.m, nxe: true }, PAE_LIN, false, false), PFEC_RSVD | PFEC_P, "bits 62:36 stay reserved");
});
