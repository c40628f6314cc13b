// The CPU's TLB: translations are cached and stay stale until software flushes them, and the
// flushes do what Intel SDM vol. 3 §4.10.4 says: INVLPG drops one page (global or not), a
// MOV to CR3 drops all but global pages (with CR4.PGE), and changing CR4.PGE, CR4.PSE,
// CR4.PAE or CR0.PG drops everything (§4.10.4.1, "Operations that invalidate TLBs").

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine } from "../../../test/support/flat-machine.js";
import { loadAsm } from "../../../test/protection/harness.js";
import { CR0_PG } from "./cpu.js";
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
