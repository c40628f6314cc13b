// The CPU's TLB: translations are cached and stay stale until software flushes them, and the
// flushes do what Intel SDM vol. 3 §4.10.4 says: INVLPG drops one page (global or not), a
// MOV to CR3 drops all but global pages (with CR4.PGE), and changing CR4.PGE, CR4.PSE,
// CR4.PAE or CR0.PG drops everything (§4.10.4.1, "Operations that invalidate TLBs").

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine } from "../../../test/support/flat-machine.js";
import { loadAsm } from "../../../test/protection/harness.js";
import { Cpu, CR0_PG } from "./cpu.js";
import { IoBus } from "../io/io-bus.js";
import { PhysicalMemory } from "../mem/physical-memory.js";
import { CR4_PGE } from "../mmu/paging.js";

const PD = 0x20000, PT = 0x21000;
const PAGE = 0x300000, FRAME_A = 0x200000, FRAME_B = 0x201000;

/** Identity-map the low 4 MiB; PAGE maps to FRAME_A; FRAME_A holds 0xAAAA, FRAME_B 0xBBBB. */
function pagedMachine(pteFlags = 3): FlatMachine {
  const fm = new FlatMachine();
  fm.mem.write32(PD, PT | 7);
  for (let p = 0; p < 1024; p++) fm.mem.write32(PT + p * 4, (p << 12) | 7);
  fm.mem.write32(PT + (PAGE >>> 12) * 4, FRAME_A | pteFlags);
  fm.mem.write32(FRAME_A, 0xaaaa);
  fm.mem.write32(FRAME_B, 0xbbbb);
  fm.cpu.setCr3(PD);
  fm.cpu.setCr0(fm.cpu.cr0 | CR0_PG);
  return fm;
}
/** Repoint PAGE at FRAME_B in memory only (no flush). */
function remap(fm: FlatMachine, flags = 3): void {
  fm.mem.write32(PT + (PAGE >>> 12) * 4, FRAME_B | flags);
}
/** Run code and return EBX. */
function run(fm: FlatMachine, source: string): number {
  loadAsm(fm, `${source}\n hlt`);
  assert.equal(fm.runToHalt(), -1, "no exception");
  return fm.cpu.regs[3] >>> 0;
}

test("a changed PTE is not seen until INVLPG of that page", () => {
  const fm = pagedMachine();
  assert.equal(run(fm, "mov ebx, [0x300000]"), 0xaaaa);
  remap(fm);
  assert.equal(run(fm, "mov ebx, [0x300000]"), 0xaaaa, "stale translation still used");
  assert.equal(run(fm, "invlpg [0x301000]\n mov ebx, [0x300000]"), 0xaaaa, "INVLPG of another page keeps it");
  assert.equal(run(fm, "invlpg [0x300800]\n mov ebx, [0x300000]"), 0xbbbb);
});

test("MOV to CR3 flushes non-global translations", () => {
  const fm = pagedMachine();
  run(fm, "mov ebx, [0x300000]");
  remap(fm);
  assert.equal(run(fm, "mov eax, cr3\n mov cr3, eax\n mov ebx, [0x300000]"), 0xbbbb);
});

test("global pages survive a CR3 reload with CR4.PGE; INVLPG still drops them", () => {
  const fm = pagedMachine(0x103);
  fm.cpu.setCr4(fm.cpu.cr4 | CR4_PGE);
  run(fm, "mov ebx, [0x300000]");
  remap(fm, 0x103);
  assert.equal(run(fm, "mov eax, cr3\n mov cr3, eax\n mov ebx, [0x300000]"), 0xaaaa, "global entry kept");
  assert.equal(run(fm, "invlpg [0x300000]\n mov ebx, [0x300000]"), 0xbbbb);
});

test("without CR4.PGE the G bit does not protect a translation from a CR3 reload", () => {
  const fm = pagedMachine(0x103);
  run(fm, "mov ebx, [0x300000]");
  remap(fm, 0x103);
  assert.equal(run(fm, "mov eax, cr3\n mov cr3, eax\n mov ebx, [0x300000]"), 0xbbbb);
});

test("toggling CR4.PGE flushes global translations too", () => {
  const fm = pagedMachine(0x103);
  fm.cpu.setCr4(fm.cpu.cr4 | CR4_PGE);
  run(fm, "mov ebx, [0x300000]");
  remap(fm, 0x103);
  assert.equal(run(fm, "mov eax, cr4\n and eax, ~0x80\n mov cr4, eax\n or eax, 0x80\n mov cr4, eax\n mov ebx, [0x300000]"), 0xbbbb);
});

test("clearing and setting CR0.PG flushes global translations", () => {
  const fm = pagedMachine(0x103);
  fm.cpu.setCr4(fm.cpu.cr4 | CR4_PGE);
  run(fm, "mov ebx, [0x300000]");
  remap(fm, 0x103);
  assert.equal(run(fm, "mov eax, cr0\n and eax, 0x7fffffff\n mov cr0, eax\n or eax, 0x80000000\n mov cr0, eax\n mov ebx, [0x300000]"), 0xbbbb);
});

test("a write through a translation cached by a read walks again and sets D (§4.8)", () => {
  const fm = pagedMachine();
  run(fm, "mov ebx, [0x300000]");
  const pte = PT + (PAGE >>> 12) * 4;
  assert.equal(fm.mem.read32(pte) & 0x60, 0x20, "A set, D clear after the read");
  run(fm, "mov dword ptr [0x300000], 1");
  assert.equal(fm.mem.read32(pte) & 0x60, 0x60, "D set by the write");
});

test("a user access through a translation cached by a supervisor access still checks U/S", () => {
  const fm = pagedMachine(3); // supervisor-only
  run(fm, "mov ebx, [0x300000]");
  fm.enterRing(3);
  loadAsm(fm, "mov ebx, [0x300000]\n hlt");
  assert.equal(fm.runToHalt(), 14);
});

test("many INVLPGs between flushes do not make a later CR3 reload miss pages", () => {
  const fm = pagedMachine();
  const cpu = fm.cpu;
  // INVLPG then touch the same page more times than the TLB has entries.
  for (let k = 0; k < (1 << 20) + 16; k++) {
    cpu.invalidatePage(0x100000);
    cpu.translateRead(0x100000, false);
  }
  run(fm, "mov ebx, [0x300000]");
  remap(fm);
  assert.equal(run(fm, "mov eax, cr3\n mov cr3, eax\n mov ebx, [0x300000]"), 0xbbbb);
});

// PhysicalMemory.watch (a monitor tracing the guest's page tables and descriptor tables):
// every write to a watched frame must reach onWatchedWrite, including writes through a
// translation the TLB filled before the frame became watched. The TLB's write fast paths
// store straight into RAM; they must stop doing so for that frame.
test("a frame watched after its translation was cached still reports 8-, 16- and 32-bit writes", () => {
  const fm = pagedMachine();
  // Fill the TLB entry for PAGE with write rights and D set.
  run(fm, "mov dword ptr [0x300000], 1\n mov ebx, [0x300000]");
  let seen = 0;
  fm.mem.onWatchedWrite = (page) => { if (page === FRAME_A >>> 12) seen++; };
  fm.mem.watch(FRAME_A >>> 12);
  for (const store of ["mov byte ptr [0x300010], 0x11", "mov word ptr [0x300020], 0x2222", "mov dword ptr [0x300030], 0x33333333"]) {
    const before = seen;
    run(fm, store);
    assert.ok(seen > before, `${store}: reported`);
  }
  assert.equal(fm.mem.read32(FRAME_A + 0x30), 0x33333333, "and still written");
  assert.equal(run(fm, "mov ebx, [0x300010]"), 0x11, "reads through the same translation still work");
  // Unwatched again: writes are no longer reported.
  fm.mem.unwatch(FRAME_A >>> 12);
  const before = seen;
  run(fm, "mov dword ptr [0x300040], 4");
  assert.equal(seen, before, "not reported once unwatched");
});

test("a watch reaches every CPU on the memory, and a view's watch only the CPUs on the view", () => {
  const mem = new PhysicalMemory(4 * 1024 * 1024);
  const view = new PhysicalMemory(4 * 1024 * 1024, { viewOf: mem });
  const cpus = [new Cpu(view, new IoBus()), new Cpu(view, new IoBus()), new Cpu(mem, new IoBus())];
  mem.write32(PD, PT | 7);
  for (let p = 0; p < 1024; p++) mem.write32(PT + p * 4, (p << 12) | 7);
  for (const c of cpus) {
    c.setCr3(PD);
    c.setCr0(c.cr0 | 1 | CR0_PG);
    c.writeLin32(FRAME_B, 1, false); // fills the TLB: writable, dirty, RAM
  }
  const seen: string[] = [];
  view.onWatchedWrite = (page) => seen.push(`view ${page.toString(16)}`);
  mem.onWatchedWrite = (page) => seen.push(`machine ${page.toString(16)}`);
  view.watch(FRAME_B >>> 12);
  cpus[0].writeLin8(FRAME_B + 1, 2, false);
  assert.deepEqual(seen, ["view 201"], "the first CPU on the view reports");
  cpus[1].writeLin16(FRAME_B + 2, 3, false);
  assert.ok(seen.length > 1 && seen.every((s) => s === "view 201"), "the second CPU on the view reports");
  const n = seen.length;
  cpus[2].writeLin32(FRAME_B + 4, 4, false);
  assert.equal(seen.length, n, "the CPU on the machine memory does not see the view's watch");
  assert.equal(mem.read32(FRAME_B), 0x00030201);
  assert.equal(mem.read32(FRAME_B + 4), 4);
});
