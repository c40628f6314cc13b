// REP STOS runs of a page at once (string.ts, stosRun) against what one element at a time
// leaves (SDM vol. 2 "REP/REPE/REPZ/REPNE/REPNZ": a fault mid-way leaves ECX and EDI
// describing the elements done; the A and D bits of each page written are set): values
// worked out by hand here, because the differential fuzzer's two sides share the handler.

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine, CODE } from "../../../../test/support/flat-machine.js";
import { Vector } from "../fault.js";

const PD = 0x100000, PT = 0x101000, DATA = 0x200000;
const PTE_A = 0x20, PTE_D = 0x40;

function machine(): FlatMachine {
  const f = new FlatMachine({ cpl: 0 });
  f.pageLow4MiB(PD, PT);
  return f;
}
const le = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];

test("REP STOSD across pages into one not present: #PF at its first byte, ECX and EDI at the element, the pages before written, dirty and accessed", () => {
  const f = machine();
  f.mem.write32(PT + 4 * 0x203, 0); // 0x203000 not present
  f.mem.write32(DATA + 0x7fc, 0x11111111);
  // mov edi, DATA+0x800; mov ecx, 3000; mov eax, 0xa5a5a5a5; cld; rep stosd; hlt
  f.load([0xbf, ...le(DATA + 0x800), 0xb9, ...le(3000), 0xb8, ...le(0xa5a5a5a5), 0xfc, 0xf3, 0xab, 0xf4]);
  assert.equal(f.runToHalt(), Vector.PF);
  const cpu = f.cpu;
  assert.equal(cpu.cr2 >>> 0, 0x203000);
  assert.equal(cpu.regs[7] >>> 0, 0x203000, "EDI at the element that faulted");
  assert.equal(cpu.regs[1], 3000 - 0x2800 / 4, "ECX counts the elements left");
  assert.equal(f.mem.read32(DATA + 0x7fc), 0x11111111, "nothing before EDI");
  for (const a of [DATA + 0x800, DATA + 0xffc, DATA + 0x1000, DATA + 0x2ffc]) assert.equal(f.mem.read32(a) >>> 0, 0xa5a5a5a5);
  for (const page of [0x200, 0x201, 0x202]) assert.equal(f.mem.read32(PT + 4 * page) & (PTE_A | PTE_D), PTE_A | PTE_D, `page ${page.toString(16)}: A and D`);
  // Restarted with the page present, it finishes: one instruction for each chunk of 4,096.
  f.mem.write32(PT + 4 * 0x203, 0x203003);
  cpu.eip = CODE + 16;
  cpu.halted = false;
  const before = cpu.instructions;
  assert.equal(f.runToHalt(), -1);
  assert.equal(cpu.instructions - before, 2, "rep stosd and hlt");
  assert.equal(cpu.regs[1], 0);
  assert.equal(cpu.regs[7] >>> 0, DATA + 0x800 + 3000 * 4);
  assert.equal(f.mem.read32(DATA + 0x800 + 2999 * 4) >>> 0, 0xa5a5a5a5);
  assert.equal(f.mem.read32(DATA + 0x800 + 3000 * 4), 0);
});

test("REP STOSB of 5,000 bytes: two chunks (two instructions), DF set steps down one byte at a time", () => {
  const f = machine();
  // mov edi, DATA+0x100; mov ecx, 5000; mov al, 0x5a; rep stosb; std; mov ecx, 3; mov edi, DATA+0x40; rep stosb; cld; hlt
  f.load([0xbf, ...le(DATA + 0x100), 0xb9, ...le(5000), 0xb0, 0x5a, 0xf3, 0xaa, 0xfd, 0xb9, ...le(3), 0xbf, ...le(DATA + 0x40), 0xf3, 0xaa, 0xfc, 0xf4]);
  assert.equal(f.runToHalt(), -1);
  const cpu = f.cpu;
  assert.equal(cpu.instructions, 3 + 2 + 1 + 2 + 1 + 1 + 1, "each REP STOS of up to 4,096 elements retires as one");
  assert.equal(f.mem.read8(DATA + 0xff), 0);
  assert.equal(f.mem.read8(DATA + 0x100), 0x5a);
  assert.equal(f.mem.read8(DATA + 0x100 + 4999), 0x5a);
  assert.equal(f.mem.read8(DATA + 0x100 + 5000), 0);
  assert.deepEqual([0x3d, 0x3e, 0x3f, 0x40].map((o) => f.mem.read8(DATA + o)), [0, 0x5a, 0x5a, 0x5a]);
  assert.equal(cpu.regs[7] >>> 0, DATA + 0x3d);
});

test("REP STOSB over the instructions after it: they are fetched anew (the page holds decoded code)", () => {
  const f = machine();
  // mov edi, CODE+14; mov ecx, 5; mov al, 0x90; rep stosb; (CODE+14:) mov ebx, 1; hlt
  f.load([0xbf, ...le(CODE + 14), 0xb9, ...le(5), 0xb0, 0x90, 0xf3, 0xaa, 0xbb, ...le(1), 0xf4]);
  f.cpu.regs[3] = 0;
  assert.equal(f.runToHalt(), -1);
  assert.equal(f.cpu.regs[3], 0, "MOV EBX, 1 became five NOPs");
});

test("REP MOVSD across pages into one not present: #PF at its first byte, ECX, ESI and EDI at the element, the dwords before copied; restarted, it finishes", () => {
  const f = machine();
  const SRC = DATA + 0x10000;
  for (let k = 0; k < 3000; k++) f.mem.write32(SRC + 0x400 + 4 * k, (0x1000 + k * 7) | 0);
  f.mem.write32(PT + 4 * 0x203, 0); // 0x203000 not present
  // mov esi, SRC+0x400; mov edi, DATA+0x800; mov ecx, 3000; cld; rep movsd; hlt
  f.load([0xbe, ...le(SRC + 0x400), 0xbf, ...le(DATA + 0x800), 0xb9, ...le(3000), 0xfc, 0xf3, 0xa5, 0xf4]);
  assert.equal(f.runToHalt(), Vector.PF);
  const cpu = f.cpu;
  const done = 0x2800 / 4;
  assert.equal(cpu.cr2 >>> 0, 0x203000);
  assert.equal(cpu.regs[7] >>> 0, 0x203000, "EDI at the element that faulted");
  assert.equal(cpu.regs[6] >>> 0, SRC + 0x400 + 4 * done, "ESI with it");
  assert.equal(cpu.regs[1], 3000 - done, "ECX counts the elements left");
  for (const k of [0, 0x1ff, 0x200, done - 1]) assert.equal(f.mem.read32(DATA + 0x800 + 4 * k), (0x1000 + k * 7) | 0, `dword ${k}`);
  for (const page of [0x200, 0x201, 0x202]) assert.equal(f.mem.read32(PT + 4 * page) & (PTE_A | PTE_D), PTE_A | PTE_D, `page ${page.toString(16)}: A and D`);
  f.mem.write32(PT + 4 * 0x203, 0x203003);
  cpu.eip = CODE + 16;
  cpu.halted = false;
  const before = cpu.instructions;
  assert.equal(f.runToHalt(), -1);
  assert.equal(cpu.instructions - before, 2, "rep movsd and hlt");
  assert.equal(cpu.regs[1], 0);
  assert.equal(f.mem.read32(DATA + 0x800 + 4 * 2999), (0x1000 + 2999 * 7) | 0);
  assert.equal(f.mem.read32(DATA + 0x800 + 4 * 3000), 0);
});

test("REP MOVS over itself: a destination inside the source repeats what it has just written (byte and dword); one below the source moves the whole", () => {
  const f = machine();
  const pattern = Array.from({ length: 64 }, (_, k) => (k * 37 + 11) & 0xff);
  pattern.forEach((b, k) => { f.mem.write8(DATA + k, b); f.mem.write8(DATA + 0x100 + k, b); f.mem.write8(DATA + 0x200 + k, b); });
  // esi = DATA, edi = DATA+1, ecx = 40: rep movsb      (each byte the one before it: DATA[0] 41 times)
  // esi = DATA+0x100, edi = DATA+0x104, ecx = 10: rep movsd   (the first dword 11 times)
  // esi = DATA+0x208, edi = DATA+0x200, ecx = 12: rep movsd   (a move down by two dwords)
  f.load([
    0xbe, ...le(DATA), 0xbf, ...le(DATA + 1), 0xb9, ...le(40), 0xfc, 0xf3, 0xa4,
    0xbe, ...le(DATA + 0x100), 0xbf, ...le(DATA + 0x104), 0xb9, ...le(10), 0xf3, 0xa5,
    0xbe, ...le(DATA + 0x208), 0xbf, ...le(DATA + 0x200), 0xb9, ...le(12), 0xf3, 0xa5,
    0xf4,
  ]);
  assert.equal(f.runToHalt(), -1);
  for (let k = 0; k <= 40; k++) assert.equal(f.mem.read8(DATA + k), pattern[0], `byte ${k}`);
  assert.equal(f.mem.read8(DATA + 41), pattern[41]);
  const first = f.mem.read32(DATA + 0x100);
  for (let k = 0; k <= 10; k++) assert.equal(f.mem.read32(DATA + 0x100 + 4 * k), first, `dword ${k}`);
  assert.equal(f.mem.read8(DATA + 0x100 + 44), pattern[44]);
  for (let k = 0; k < 48; k++) assert.equal(f.mem.read8(DATA + 0x200 + k), pattern[k + 8], `moved byte ${k}`);
  for (let k = 48; k < 56; k++) assert.equal(f.mem.read8(DATA + 0x200 + k), pattern[k], `byte ${k} past the move`);
  assert.equal(f.cpu.regs[6] >>> 0, DATA + 0x208 + 48);
  assert.equal(f.cpu.regs[7] >>> 0, DATA + 0x200 + 48);
});

// Paging off, linear is physical and the runs go straight to RAM (Cpu.directAddress) where
// PhysicalMemory would do no more than store: the results must be the element-by-element ones.

test("paging off: REP MOVSD of 3,000 dwords across pages copies them all, one instruction a chunk, ECX, ESI and EDI at the end", () => {
  const f = new FlatMachine({ cpl: 0 });
  const SRC = 0x300400, DST = 0x280800;
  for (let k = 0; k < 3000; k++) f.mem.write32(SRC + 4 * k, (0x2000 + k * 13) | 0);
  // mov esi, SRC; mov edi, DST; mov ecx, 3000; cld; rep movsd; hlt
  f.load([0xbe, ...le(SRC), 0xbf, ...le(DST), 0xb9, ...le(3000), 0xfc, 0xf3, 0xa5, 0xf4]);
  assert.equal(f.runToHalt(), -1);
  const cpu = f.cpu;
  assert.equal(cpu.instructions, 3 + 1 + 1 + 1, "one REP MOVSD of fewer than 4,096 elements retires as one");
  assert.equal(cpu.regs[1], 0);
  assert.equal(cpu.regs[6] >>> 0, SRC + 12000);
  assert.equal(cpu.regs[7] >>> 0, DST + 12000);
  for (const k of [0, 0x1ff, 0x200, 0x3ff, 2999]) assert.equal(f.mem.read32(DST + 4 * k), (0x2000 + k * 13) | 0, `dword ${k}`);
  assert.equal(f.mem.read32(DST - 4), 0);
  assert.equal(f.mem.read32(DST + 12000), 0);
});

test("paging off: REP STOSD over instructions already decoded: they are fetched anew (a page of decoded code takes the one-by-one path)", () => {
  const f = new FlatMachine({ cpl: 0 });
  // First pass with ECX = 0 (MOV EBX, 1 is decoded and run), the second stores eight NOPs over it:
  //   mov ecx, 0; L: mov edi, CODE+17; mov eax, 0x90909090; rep stosd; (CODE+17:) mov ebx, 1;
  //   nop x3; inc edx; cmp edx, 2; je END; mov ecx, 2; xor ebx, ebx; jmp L; END: hlt
  f.load([
    0xb9, ...le(0), 0xbf, ...le(CODE + 17), 0xb8, ...le(0x90909090), 0xf3, 0xab,
    0xbb, ...le(1), 0x90, 0x90, 0x90, 0x42, 0x83, 0xfa, 0x02, 0x74, 12,
    0xb9, ...le(2), 0x31, 0xdb, 0xe9, ...le(5 - 43), 0xf4,
  ]);
  f.cpu.regs[2] = 0;
  assert.equal(f.runToHalt(), -1);
  assert.equal(f.cpu.regs[2], 2, "two passes");
  assert.equal(f.cpu.regs[3], 0, "MOV EBX, 1 became NOPs");
});

test("paging off with A20 masked: REP STOSD at 1 MiB + x writes x (bit 20 of every address cleared), not 1 MiB + x", () => {
  const f = new FlatMachine({ cpl: 0 });
  f.cpu.a20 = false;
  // mov edi, 0x140000; mov ecx, 1024; mov eax, 0x5a5a5a5a; rep stosd; hlt
  f.load([0xbf, ...le(0x140000), 0xb9, ...le(1024), 0xb8, ...le(0x5a5a5a5a), 0xf3, 0xab, 0xf4]);
  assert.equal(f.runToHalt(), -1);
  assert.equal(f.mem.read32(0x040000) >>> 0, 0x5a5a5a5a);
  assert.equal(f.mem.read32(0x040ffc) >>> 0, 0x5a5a5a5a);
  assert.equal(f.mem.read32(0x140000), 0, "nothing at 1 MiB + x");
});

// DF set: the runs go down to the start of the page (movsRun, stosRun), element by element's
// results again.

test("REP MOVSD with DF set across pages: the bzImage's move of itself up, over its own source (a memmove from the top)", () => {
  const f = machine();
  const SRC = DATA + 0x400, DST = DATA + 0x1400, N = 2000; // DST is SRC + 4 KiB: each dword lands above the source
  for (let k = 0; k < N; k++) f.mem.write32(SRC + 4 * k, (0x3000 + k * 11) | 0);
  // mov esi, SRC+4(N-1); mov edi, DST+4(N-1); mov ecx, N; std; rep movsd; cld; hlt
  f.load([0xbe, ...le(SRC + 4 * (N - 1)), 0xbf, ...le(DST + 4 * (N - 1)), 0xb9, ...le(N), 0xfd, 0xf3, 0xa5, 0xfc, 0xf4]);
  assert.equal(f.runToHalt(), -1);
  const cpu = f.cpu;
  assert.equal(cpu.instructions, 3 + 1 + 1 + 1 + 1);
  assert.equal(cpu.regs[1], 0);
  assert.equal(cpu.regs[6] >>> 0, SRC - 4, "ESI below the first element");
  assert.equal(cpu.regs[7] >>> 0, DST - 4);
  for (const k of [0, 1, 0x2ff, 0x300, 0x3ff, 0x400, N - 1]) assert.equal(f.mem.read32(DST + 4 * k), (0x3000 + k * 11) | 0, `dword ${k}`);
  assert.equal(f.mem.read32(DST - 4), (0x3000 + (0x1000 - 4) / 4 * 11) | 0, "below the destination: the source's dword there, untouched");
});

test("REP MOVSB with DF set, the destination below the source inside it: each byte is one just written (byte by byte)", () => {
  const f = machine();
  const pattern = Array.from({ length: 64 }, (_, k) => (k * 29 + 5) & 0xff);
  pattern.forEach((b, k) => f.mem.write8(DATA + 0x800 + k, b));
  // esi = DATA+0x800+40, edi = DATA+0x800+39 (one below), ecx = 30, std: rep movsb
  f.load([0xbe, ...le(DATA + 0x800 + 40), 0xbf, ...le(DATA + 0x800 + 39), 0xb9, ...le(30), 0xfd, 0xf3, 0xa4, 0xfc, 0xf4]);
  assert.equal(f.runToHalt(), -1);
  // Going down, [39] = [40], [38] = [39] (just written: [40]) … every byte from 10 to 39 is pattern[40].
  for (let k = 10; k <= 40; k++) assert.equal(f.mem.read8(DATA + 0x800 + k), pattern[40], `byte ${k}`);
  assert.equal(f.mem.read8(DATA + 0x800 + 9), pattern[9]);
  assert.equal(f.cpu.regs[7] >>> 0, DATA + 0x800 + 9);
});

test("REP STOSD with DF set down into a page not present: #PF at the element, EDI and ECX there, the elements above written", () => {
  const f = machine();
  f.mem.write32(PT + 4 * 0x201, 0); // 0x201000 not present
  // mov edi, 0x202ffc; mov ecx, 2000; mov eax, 0x77777777; std; rep stosd; hlt
  f.load([0xbf, ...le(0x202ffc), 0xb9, ...le(2000), 0xb8, ...le(0x77777777), 0xfd, 0xf3, 0xab, 0xf4]);
  assert.equal(f.runToHalt(), Vector.PF);
  const cpu = f.cpu;
  assert.equal(cpu.cr2 >>> 0, 0x201ffc, "the first element below 0x202000");
  assert.equal(cpu.regs[7] >>> 0, 0x201ffc);
  assert.equal(cpu.regs[1], 2000 - 1024, "a page of dwords done");
  assert.equal(f.mem.read32(0x202000) >>> 0, 0x77777777);
  assert.equal(f.mem.read32(0x202ffc) >>> 0, 0x77777777);
});
