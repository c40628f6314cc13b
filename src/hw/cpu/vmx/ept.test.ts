// EPT (SDM vol. 3C §28.2): the walk on its own (translations, violations with the rights the
// qualification reports, misconfigurations, accessed and dirty flags), then guests under EPT
// on `nehalem` with the EPT-violation exit's qualification (table 27-7), and unrestricted
// guest on `westmere` (a real-mode guest in non-root operation, §26.3.1.1).

import { test } from "node:test";
import assert from "node:assert/strict";
import { eptWalk, EptResult, EPT_READ, EPT_WRITE, EPT_FETCH, type EptMode } from "./ept.js";
import { runHypervisor } from "../../../../test/support/vmx-hypervisor.js";
import type { FlatMachine } from "../../../../test/support/flat-machine.js";
import { Vmcs, ExitReason } from "./vmcs-fields.js";

/** A sparse physical memory of 32-bit words. */
class Words {
  readonly m = new Map<number, number>();
  read32(a: number): number { return this.m.get(a) ?? 0; }
  write32(a: number, v: number): void { this.m.set(a, v | 0); }
}

const PML4 = 0x1000, PDPT = 0x2000, PD = 0x3000, PT = 0x4000;
const WB = 6 << 3;
const mode = (ad = false): EptMode => ({ pml4: PML4, ad, maxPhyAddr: 36, executeOnly: true, page1gb: false });

/** PML4[0] → PDPT[0] → PD; PD[0] → PT (4-KiB pages), PD[1] a 2-MiB page at 0x40_0000. */
function tables(): Words {
  const w = new Words();
  w.write32(PML4, PDPT | 7); w.write32(PDPT, PD | 7);
  w.write32(PD, PT | 7);
  w.write32(PD + 8, 0x40_0000 | 0x80 | WB | 7);
  w.write32(PT + 8 * 5, 0x9000 | WB | 7);   // gpa 5000h → 9000h, RWX
  w.write32(PT + 8 * 6, 0xa000 | WB | 1);   // gpa 6000h read-only
  w.write32(PT + 8 * 7, 0xb000 | WB | 4);   // gpa 7000h execute-only
  return w;
}

test("EPT walk: 4-KiB and 2-MiB translations", () => {
  const out = new EptResult();
  assert.equal(eptWalk(tables(), mode(), 0x5123, EPT_WRITE, out), 0);
  assert.equal(out.phys, 0x9123);
  assert.equal(out.rights, 7);
  assert.equal(eptWalk(tables(), mode(), 0x23_4567, EPT_READ, out), 0);
  assert.equal(out.phys, 0x43_4567, "2-MiB page: the low 21 bits pass through");
});

test("EPT walk: violations report the rights of the translation (qualification bits 5:3)", () => {
  const out = new EptResult();
  assert.equal(eptWalk(tables(), mode(), 0x6000, EPT_WRITE, out), 1);
  assert.equal(out.rights, EPT_READ, "read-only page");
  assert.equal(eptWalk(tables(), mode(), 0x6000, EPT_READ, out), 0);
  assert.equal(eptWalk(tables(), mode(), 0x7000, EPT_READ, out), 1);
  assert.equal(out.rights, EPT_FETCH, "execute-only");
  assert.equal(eptWalk(tables(), mode(), 0x7000, EPT_FETCH, out), 0);
  assert.equal(eptWalk(tables(), mode(), 0x8000, EPT_READ, out), 1);
  assert.equal(out.rights, 0, "not present");
  assert.equal(eptWalk(tables(), mode(), 0x80_0000_0000, EPT_READ, out), 1, "PML4 entry 1 not present");
});

test("EPT walk: misconfigurations (§28.2.3.1): write without read, reserved memory type, reserved bits, PS in a PML4E, execute-only unsupported", () => {
  const out = new EptResult();
  const mis = (change: (w: Words) => void, m = mode()) => { const w = tables(); change(w); return eptWalk(w, m, 0x5000, EPT_READ, out); };
  assert.equal(mis((w) => w.write32(PT + 40, 0x9000 | WB | 2)), 2, "W without R");
  assert.equal(mis((w) => w.write32(PT + 40, 0x9000 | (2 << 3) | 7)), 2, "memory type 2");
  assert.equal(mis((w) => w.write32(PD, PT | 0x08 | 7)), 2, "bits 6:3 of a non-leaf entry");
  assert.equal(mis((w) => w.write32(PT + 44, 0x10)), 2, "address bit 40 beyond MAXPHYADDR 36");
  assert.equal(mis((w) => w.write32(PML4, PDPT | 0x80 | 7)), 2, "PS in a PML4E");
  assert.equal(mis((w) => w.write32(PDPT, 0x4000_0000 | 0x80 | WB | 7)), 2, "1-GiB page where EPT_VPID_CAP[17] is 0");
  assert.equal(mis((w) => w.write32(PT + 40, 0x9000 | WB | 4), { ...mode(), executeOnly: false }), 2, "execute-only where unsupported");
});

test("EPT walk: accessed and dirty flags only with EPTP bit 6", () => {
  const out = new EptResult();
  const w = tables();
  eptWalk(w, mode(false), 0x5000, EPT_WRITE, out);
  assert.equal(w.read32(PT + 40) & 0x300, 0);
  eptWalk(w, mode(true), 0x5000, EPT_READ, out);
  assert.equal(w.read32(PT + 40) & 0x300, 0x100, "read: accessed");
  assert.equal(w.read32(PML4) & 0x100, 0x100, "every level's accessed flag");
  eptWalk(w, mode(true), 0x5000, EPT_WRITE, out);
  assert.equal(w.read32(PT + 40) & 0x300, 0x300, "write: dirty");
});

// ---- Guests under EPT ----

const E_PML4 = 0x40000, E_PDPT = 0x41000, E_PD = 0x42000, E_PT = 0x43000;
const EPTP = E_PML4 | (3 << 3) | 6;

/** Identity EPT for 0–4 MiB: 2-MiB pages, but 2–4 MiB in 4-KiB pages with 210000h read-only and 211000h absent. */
function identityEpt(fm: FlatMachine): void {
  const w = (a: number, v: number) => fm.mem.write32(a, v);
  w(E_PML4, E_PDPT | 7); w(E_PDPT, E_PD | 7);
  w(E_PD, 0 | 0x80 | WB | 7);
  w(E_PD + 8, E_PT | 7);
  for (let k = 0; k < 512; k++) w(E_PT + 8 * k, (0x20_0000 + k * 0x1000) | WB | 7);
  w(E_PT + 8 * 0x10, 0x21_0000 | WB | 1);
  w(E_PT + 8 * 0x11, 0);
}

function eptFields(secondary: number) {
  return (fm: FlatMachine, f: Map<number, number>) => {
    identityEpt(fm);
    f.set(Vmcs.CPU_BASED_VM_EXEC_CONTROL, (0x0400_6172 | (1 << 31)) | 0);
    f.set(Vmcs.SECONDARY_VM_EXEC_CONTROL, secondary);
    f.set(Vmcs.EPT_POINTER, EPTP);
  };
}

test("a guest under EPT (nehalem): reads go through, a write to a read-only page is an EPT violation (table 27-7)", () => {
  const r = runHypervisor("nehalem", "mov eax, [0x210000]\n cpuid\n mov dword ptr [0x210004], 1", eptFields(2));
  assert.deepEqual(r.exits.map((e) => e.reason), [ExitReason.CPUID, ExitReason.EPT_VIOLATION]);
  const v = r.exits[1];
  assert.equal(v.qual, EPT_WRITE | (EPT_READ << 3) | (1 << 7) | (1 << 8), "data write; readable; linear address valid; the translation's access");
  const vmx = r.fm.cpu.vmx!;
  assert.equal(vmx.get(Vmcs.GUEST_PHYSICAL_ADDRESS), 0x21_0004);
  assert.equal(vmx.get(Vmcs.GUEST_LINEAR_ADDRESS), 0x21_0004);
  assert.equal(v.rip, r.exits[0].rip + 2, "the faulting instruction's RIP");
});

test("a guest under EPT: a read of a page EPT does not map; a guest page table in such a page is a paging-structure access (bit 8 = 0)", () => {
  const r = runHypervisor("nehalem", "mov eax, [0x211008]", eptFields(2));
  assert.equal(r.exits[0].reason, ExitReason.EPT_VIOLATION);
  assert.equal(r.exits[0].qual, EPT_READ | (1 << 7) | (1 << 8));
  assert.equal(r.fm.cpu.vmx!.get(Vmcs.GUEST_PHYSICAL_ADDRESS), 0x21_1008);
  // The guest's page directory moved into the unmapped page: the walk's own read violates.
  const pt = runHypervisor("nehalem", "mov eax, [0x5000]", (fm, f) => {
    eptFields(2)(fm, f);
    for (let k = 0; k < 1024; k++) fm.mem.write32(0x21_1000 + 4 * k, fm.mem.read32(0x20000 + 4 * k));
    f.set(Vmcs.GUEST_CR3, 0x21_1000);
  });
  assert.equal(pt.exits[0].reason, ExitReason.EPT_VIOLATION);
  assert.equal(pt.exits[0].qual, EPT_READ | (1 << 7), "bit 8 clear: an access to a guest paging structure");
  assert.equal(pt.fm.cpu.vmx!.get(Vmcs.GUEST_PHYSICAL_ADDRESS), 0x21_1000, "the PDE for linear 5000h");
});

test("an EPT misconfiguration exits with reason 49 and the guest-physical address", () => {
  const r = runHypervisor("nehalem", "mov eax, [0x212000]", (fm, f) => {
    eptFields(2)(fm, f);
    fm.mem.write32(E_PT + 8 * 0x12, 0x21_2000 | WB | 2); // write-only
  });
  assert.equal(r.exits[0].reason, ExitReason.EPT_MISCONFIG);
  assert.equal(r.fm.cpu.vmx!.get(Vmcs.GUEST_PHYSICAL_ADDRESS), 0x21_2000);
});

/** A real-mode guest: CS = 3000h (base 30000h, the guest code), flat 64-KiB data segments, no paging. */
function realModeGuest(secondary: number) {
  return (fm: FlatMachine, f: Map<number, number>) => {
    eptFields(secondary)(fm, f);
    f.set(Vmcs.GUEST_CR0, 0x30); f.set(Vmcs.GUEST_CR4, 0x2000); f.set(Vmcs.GUEST_CR3, 0);
    for (let k = 0; k < 6; k++) {
      const cs = k === 1;
      f.set(Vmcs.GUEST_ES_SELECTOR + 2 * k, cs ? 0x3000 : 0);
      f.set(Vmcs.GUEST_ES_BASE + 2 * k, cs ? 0x30000 : 0);
      f.set(Vmcs.GUEST_ES_LIMIT + 2 * k, 0xffff);
      f.set(Vmcs.GUEST_ES_AR_BYTES + 2 * k, cs ? 0x9b : 0x93);
    }
    f.set(Vmcs.GUEST_TR_SELECTOR, 0); f.set(Vmcs.GUEST_TR_BASE, 0); f.set(Vmcs.GUEST_TR_LIMIT, 0xffff);
    f.set(Vmcs.GUEST_IDTR_BASE, 0); f.set(Vmcs.GUEST_IDTR_LIMIT, 0x3ff);
    f.set(Vmcs.GUEST_RIP, 0); f.set(Vmcs.GUEST_RSP, 0x7000);
  };
}
const REAL_GUEST = ".code16\n mov ax, 0x1234\n mov [0x600], ax\n cpuid\n hlt";

test("unrestricted guest (westmere): a real-mode guest runs in non-root operation under EPT", () => {
  const r = runHypervisor("westmere", REAL_GUEST, realModeGuest(0x82));
  assert.deepEqual(r.exits.map((e) => [e.reason, e.rip, e.len]), [[ExitReason.CPUID, 6, 2]]);
  assert.equal(r.fm.mem.read16(0x600), 0x1234, "the real-mode store went through EPT to 600h");
  assert.equal(r.fm.cpu.vmx!.get(Vmcs.GUEST_CR0) & 1, 0, "CR0.PE = 0 in the guest");
  assert.equal(r.fm.cpu.nonRoot, true, "resumed: the guest halted in non-root operation");
});

test("without unrestricted guest the same real-mode guest cannot be entered (guest-state failure)", () => {
  const r = runHypervisor("westmere", REAL_GUEST, realModeGuest(0x2));
  assert.equal(r.exits[0].reason, (ExitReason.INVALID_GUEST_STATE | 0x8000_0000) >>> 0);
  // On nehalem the control itself does not exist: VMfailValid(7).
  const n = runHypervisor("nehalem", REAL_GUEST, realModeGuest(0x82));
  assert.equal(n.failError, 7);
});
