// The block compiler against the interpreter in 64-bit mode: random programs (jit-diff64.ts)
// with the compiler off, at tier 1, at tier 2, and with a cache so small it evicts all the
// time; and pinned: the long-mode TLB evicting the entries fetches use (chain links must not
// skip a translation a fetch would make differently), a fault mid-block at a high-half RIP,
// a RIP-relative store into the next instruction above 4 GiB, and an FS/GS operand's segment
// base (a bug in lower64.ts this fuzzer found).

import { test } from "node:test";
import assert from "node:assert/strict";
import { CODE, DATA, FOUR_G, HIGH, PT_A, STACK, TLB_ALIAS, jitDiff64, machine64, state } from "./jit-diff64.js";
import { CONFIGS, lockstep } from "./lockstep.js";
import { STUBS, type FlatMachine } from "../support/flat-machine.js";
import { mem64, reg64 } from "../support/long-machine.js";
import type { JitOptions } from "../../src/hw/cpu/jit/block-compiler.js";
import { SegReg } from "../../src/hw/cpu/segment.js";


test("jit differential fuzzer, 64-bit: 200 random programs, all state equal after every slice", { timeout: 300_000 }, () => {
  let instructions = 0, compiled = 0, generated = 0, lowered = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const r = jitDiff64(seed);
    assert.equal(r.mismatch, undefined, `seed ${seed}: ${r.mismatch}`);
    instructions += r.instructions; compiled += r.compiled; generated += r.generated; lowered += r.lowered;
  }
  // The programs must really exercise the compiler (a fuzzer that compiles nothing proves nothing).
  assert.ok(compiled > 4000 && generated > 2500 && lowered > 8000, `blocks compiled ${compiled}, generated ${generated}, lowered ${lowered}`);
  assert.ok(instructions > 40_000, `instructions ${instructions}`);
});

/** A long-mode machine (jit-diff64.ts) with `code` at physical `at`, run through linear `alias + at`. */
function loadAt(jit: boolean | JitOptions, code: number[], at: number, alias: number): FlatMachine {
  const f = machine64(jit);
  f.mem.load(at, Uint8Array.from(code));
  f.cpu.regs[4] = STACK + 0xf00; f.cpu.regsHi[4] = 0;
  f.cpu.eip = alias + at;
  return f;
}

const TIERS = [false, { hot: 1, generate: 1e9, wasm: 0 }, { hot: 1, generate: 1, wasm: 0 }, { hot: 1, generate: 1e9, wasm: 1, wasmBatch: 1 }] as const;

test("the long-mode TLB: data accesses in a code page's set evict what fetches use; a PTE changed without INVLPG is seen exactly when the interpreter sees it", () => {
  // The loop's first block fills page A up to its end, so the block on page B follows it by a
  // chain link, and B's JNZ leads back by another. Each iteration flips B's PTE between two
  // frames whose copies of B differ only in an immediate (XOR of the PTE, no INVLPG), and, on
  // some iterations, loads through TLB_ALIAS + 4 KiB (B's set) or TLB_ALIAS (A's set): the
  // entry B's fetch used goes, the next fetch walks and finds the other frame. So which copy
  // of B runs depends on exactly when the TLB lost the entry; R8 counts the runs of each.
  const A = CODE, B = CODE + 0x1000, B2 = CODE + 0x2000;
  const body = [
    0x49, 0x81, 0x36, ...le(0x3000),   // xor qword [r14], 0x3000: B's frame, CODE+0x1000 <-> CODE+0x2000
    0x48, 0x89, 0xda,                  // mov rdx, rbx
    0x41, 0xf6, 0xc7, 0x06,            // test r15b, 6
    0x49, 0x0f, 0x44, 0xd5,            // cmovz rdx, r13 (B's set)
    0x48, 0x8b, 0x0a,                  // mov rcx, [rdx]
    0x48, 0x89, 0xda,                  // mov rdx, rbx
    0x41, 0xf6, 0xc7, 0x05,            // test r15b, 5
    0x49, 0x0f, 0x44, 0xd4,            // cmovz rdx, r12 (A's set)
    0x48, 0x8b, 0x0a,                  // mov rcx, [rdx]
    0x49, 0x01, 0xc9,                  // add r9, rcx
  ];
  const loop = B - body.length;
  const tail = (imm: number): number[] => [
    0xb8, ...le(imm),                  // mov eax, imm (1 in one frame, 0x10000 in the other)
    0x49, 0x01, 0xc0,                  // add r8, rax
    0x49, 0xff, 0xcf,                  // dec r15
    0x0f, 0x85, ...le(loop - (B + 17)), // jnz loop (to page A)
    0xf4,                              // hlt
  ];
  const make = (jit: boolean | JitOptions): FlatMachine => {
    const f = loadAt(jit, body, loop, 0);
    f.mem.load(B, Uint8Array.from(tail(1)));
    f.mem.load(B2, Uint8Array.from(tail(0x10000)));
    f.mem.write32(DATA, 0x1234);
    const c = f.cpu;
    const set = (x: number, v: number): void => { c.regs[x] = v; c.regsHi[x] = 0; };
    set(3, DATA); set(12, TLB_ALIAS); set(13, TLB_ALIAS + 0x1000); set(14, PT_A + ((B - 0x200000) >> 12) * 8); set(15, 200);
    set(8, 0); set(9, 0);
    return f;
  };
  assert.equal(A & 0xfff, 0);
  const ms = CONFIGS.map(make);
  const { mismatch } = lockstep(ms, 7, 10_000, state);
  assert.equal(mismatch, undefined, mismatch);
  const c = ms[0].cpu;
  assert.ok(c.halted && c.eip === B + 18, `the loop ran to its HLT (rip ${c.eip.toString(16)})`);
  // Both copies of page B ran, and not simply alternately (then a stale entry would never matter).
  const ones = c.regs[8] & 0xffff, others = c.regs[8] >>> 16;
  assert.ok(ones > 0 && others > 0 && ones !== others, `runs of the two frames: ${ones}, ${others}`);
  for (const k of [1, 2]) assert.ok(ms[k].cpu.jit!.stats.chained > 0, `config ${k} entered blocks by chain links`);
});

test("a non-canonical #GP mid-block at a high-half RIP: the frame, RIP, count and registers are the interpreter's", () => {
  // mov rax, 0x8000000000000000 ; mov ecx, 7 ; mov rdx, [rax] (#GP(0)) ; mov ecx, 9 ; hlt
  const at = CODE + 0x100;
  const code = [0x48, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0x80, 0xb9, 7, 0, 0, 0, 0x48, 0x8b, 0x10, 0xb9, 9, 0, 0, 0, 0xf4];
  for (const jit of TIERS) {
    const f = loadAt(jit, code, at, HIGH);
    const before = f.cpu.instructions;
    f.cpu.run(100);
    assert.equal(f.cpu.eip, STUBS + 13 * 16 + 1, `${JSON.stringify(jit)}: halted in the #GP stub`);
    assert.equal(f.cpu.instructions - before, 3, JSON.stringify(jit)); // two MOVs, the stub's HLT
    assert.equal(f.cpu.regs[1], 7, JSON.stringify(jit));
    // The frame (error code, RIP, CS, RFLAGS, RSP, SS) below the 16-aligned stack top.
    const frame = STACK + 0xf00 - 48;
    assert.equal(mem64(f, frame), 0n);
    assert.equal(mem64(f, frame + 8), 0xffff_ffff_8000_0000n + BigInt(at + 15), `${JSON.stringify(jit)}: RIP of the MOV`);
    assert.equal(reg64(f, 0), 0x8000_0000_0000_0000n);
  }
});

test("a RIP-relative store into the next instruction above 4 GiB: the block stops, the new bytes run", () => {
  // mov dword [rip + 1], 0x11111111 ; mov eax, 0x22222222 ; hlt — the store rewrites the
  // second MOV's immediate; the code runs at linear 4 GiB + CODE.
  const code = [0xc7, 0x05, 1, 0, 0, 0, 0x11, 0x11, 0x11, 0x11, 0xb8, 0x22, 0x22, 0x22, 0x22, 0xf4];
  for (const jit of TIERS) {
    const f = loadAt(jit, code, CODE + 0x200, FOUR_G);
    f.cpu.regsHi[0] = -1;
    const before = f.cpu.instructions, invalidated = f.cpu.jit?.stats.invalidated ?? 0;
    f.cpu.run(100);
    assert.equal(reg64(f, 0), 0x11111111n, `${JSON.stringify(jit)}: the new immediate ran (and zeroed RAX's high half)`);
    assert.equal(f.cpu.instructions - before, 3);
    assert.equal(f.cpu.eip, FOUR_G + CODE + 0x200 + code.length);
    if (jit !== false) assert.equal(f.cpu.jit!.stats.invalidated - invalidated, 1, "the block holding the store went");
  }
});

// Found by this fuzzer (seeds 13, 269, 270 with the 64-bit lowering of caa2ca3):
// lower64.ts `address()` added `fsgs` to the effective address before the exactness
// condition assigned it, so an FS/GS operand used 0 (the first in a block, every one in a
// specialised handler) or the previous FS/GS operand's base, and when the TLB held that wrong
// page the inline path read or wrote it. Fixed by loading the base inside the sum.
test("an FS/GS-relative operand adds its segment's base, at both tiers", () => {
  // mov rax, [rbx] (the data page into the TLB) ; mov rcx, gs:[DATA + 0x10] ; hlt — with GS
  // base STACK - DATA, the operand is STACK + 0x10; without its base, DATA + 0x10.
  const code = [0x48, 0x8b, 0x03, 0x65, 0x48, 0x8b, 0x0c, 0x25, ...le(DATA + 0x10), 0xf4];
  for (const jit of TIERS) {
    const f = loadAt(jit, code, CODE + 0x300, 0);
    f.cpu.regs[3] = DATA; f.cpu.regsHi[3] = 0;
    f.cpu.segs[SegReg.GS].base = STACK - DATA;
    f.mem.write32(DATA + 0x10, 0x1111); f.mem.write32(STACK + 0x10, 0x2222);
    f.cpu.run(100);
    assert.equal(f.cpu.regs[1], 0x2222, `${JSON.stringify(jit)}: RCX from gs:[DATA + 0x10] = STACK + 0x10`);
  }
});

function le(v: number): number[] { return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]; }
