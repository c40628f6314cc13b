// The binary translator (src/vmm/bt): what each kind of guest instruction becomes in the
// translation cache, chaining, self-modifying code, and that translated code keeps guest
// time and results exactly as on the bare machine. Guest code is hand-assembled.

import { test } from "node:test";
import assert from "node:assert/strict";
import { runCode, print, exit, le32, CODE, type CodeRun } from "./guest-code.js";
import * as L from "../../src/vmm/layout.js";
import { TargetHeader } from "../../src/hw/mem/native-targets.js";

const CALLOUT = [0xcd, L.VEC_CALLOUT];

/** The bytes of the translation that starts at guest `eip`. */
function tcBytes(run: ReturnType<typeof runCode>, eip: number, n: number): number[] {
  const mon = run.mon!;
  const at = mon.bt!.lookup(eip);
  assert.ok(at !== undefined, `guest 0x${eip.toString(16)} has a translation`);
  const phys = mon.world.phys(at - L.REGION_BASE);
  return [...Array(n)].map((_, k) => mon.machine.mem.read8(phys + k));
}

test("translation: ordinary instructions are copied, sensitive ones become callouts, jumps and calls are rewritten", () => {
  const code = [
    0x90,                         // nop                 IDENT
    0x89, 0xd8,                   // mov eax, ebx         IDENT
    0x9c,                         // pushf               callout
    0x9d,                         // popf                callout
    0x0f, 0xa2,                   // cpuid               callout
    0x8c, 0xc8,                   // mov eax, cs         callout
    0x0f, 0x01, 0x05, ...le32(0x80000), // sgdt [0x80000] callout
    0x85, 0xc0,                   // test eax, eax       IDENT
    0x74, 0x00,                   // je +0               jcc rel32
    0xe8, ...le32(0),             // call +0             push imm32, callee inline
    0x58,                         // pop eax             IDENT
    ...exit(0x10),
  ];
  const r = runCode(code, "bt");
  assert.equal(r.end.kind, "poweroff");
  const tc = tcBytes(r, CODE, 40);
  let k = 0;
  const expect = (bytes: number[], what: string): void => {
    assert.deepEqual(tc.slice(k, k + bytes.length), bytes, what);
    k += bytes.length;
  };
  expect([0x90], "nop copied");
  expect([0x89, 0xd8], "mov copied");
  expect(CALLOUT, "pushf → callout");
  expect(CALLOUT, "popf → callout");
  expect(CALLOUT, "cpuid → callout");
  expect(CALLOUT, "mov from CS → callout");
  expect(CALLOUT, "sgdt → callout");
  expect([0x85, 0xc0], "test copied");
  assert.deepEqual(tc.slice(k, k + 2), [0x0f, 0x84], "je → je rel32");
  k += 6;
  const ret = CODE + code.indexOf(0x58);
  expect([0x68, ...le32(ret)], "call → push of the guest's return address");
  expect([0x58], "the callee, inline");
});

test("translated code gives the guest its own view: PUSHF shows the virtual IF, SGDT the guest's GDT, CS its RPL 0", () => {
  const code = [
    0xfa,                         // cli (virtual IF = 0)
    0x9c, 0x58,                   // pushf; pop eax
    0xa3, ...le32(0x80010),       // mov [0x80010], eax
    0x0f, 0x01, 0x05, ...le32(0x80000), // sgdt [0x80000]
    0x8c, 0xc8,                   // mov eax, cs
    0xa3, ...le32(0x80020),       // mov [0x80020], eax
    ...exit(0x10),
  ];
  for (const mode of ["bare", "bt", "trap"] as const) {
    const r = runCode(code, mode, mode === "trap" ? "strict" : "standard");
    assert.equal(r.end.kind, "poweroff", mode);
    assert.equal(r.read32(0x80010) & 0x200, 0, `${mode}: PUSHF shows IF=0`);
    assert.equal(r.read32(0x80002), 0x800, `${mode}: SGDT shows the boot GDT at 0x800`);
    assert.equal(r.read32(0x80020) & 0xffff, 0x10, `${mode}: CS reads 0x10`);
  }
  // The same code on the standard CPU in trap mode sees the machine instead.
  const t = runCode(code, "trap", "standard");
  assert.equal(t.read32(0x80010) & 0x200, 0x200, "trap, standard CPU: PUSHF shows the real IF=1");
  assert.equal(t.read32(0x80002) >>> 0, L.REGION_BASE, "trap, standard CPU: SGDT shows the monitor's GDT");
  assert.equal(t.read32(0x80020) & 3, 1, "trap, standard CPU: CS shows RPL 1");
});

test("chaining: a loop runs in the cache without leaving it, in exactly the bare machine's cycles", () => {
  const code = [
    0xb9, ...le32(5000),          // mov ecx, 5000
    0x31, 0xc0,                   // xor eax, eax
    0x40,                         // L: inc eax
    0x49,                         // dec ecx
    0x75, 0xfc,                   // jnz L
    0xeb, 0x00,                   // jmp next (chained)
    ...print("ok"),
    ...exit(0x10),
  ];
  const bare = runCode(code, "bare");
  const bt = runCode(code, "bt");
  assert.equal(bt.serial, "ok");
  assert.equal(bt.cycles, bare.cycles, "guest time identical to bare");
  const c = bt.mon!.stats();
  assert.ok((c["bt.translate"] ?? 0) <= 4, `few translations (${c["bt.translate"]})`);
  assert.ok((c["exit.bt-continue"] ?? 0) <= 4, "the loop does not exit to the monitor");
});

test("self-modifying code: writing translated code invalidates it and the new code runs", () => {
  // f: mov eax, 1; ret  at 0x100100. Call it, patch the immediate to 2, call it again.
  const f = 0x100100;
  const code = [
    0xe8, ...le32(f - (CODE + 5)),                  // call f
    0x89, 0xc3,                                     // mov ebx, eax
    0xc6, 0x05, ...le32(f + 1), 0x02,               // mov byte [f+1], 2
    0xe8, ...le32(f - (CODE + 19)),                 // call f
    0x01, 0xd8,                                     // add eax, ebx   (1 + 2)
    0x04, 0x30,                                     // add al, '0'
    0x66, 0xba, 0xf8, 0x03, 0xee,                   // mov dx, 0x3f8; out dx, al
    ...exit(0x10),
  ];
  const data: [number, number[]][] = [[f, [0xb8, ...le32(1), 0xc3]]];
  const bare = runCode(code, "bare", "standard", data);
  const bt = runCode(code, "bt", "standard", data);
  assert.equal(bare.serial, "3");
  assert.equal(bt.serial, "3", "the patched function returned 2");
  assert.ok((bt.mon!.stats()["bt.invalidate"] ?? 0) >= 1, "the write invalidated a translation");
  assert.equal(bt.cycles, bare.cycles);
});

test("self-modifying code: a frame translated while the machine's TLB lets it be written loses that right (the next store invalidates)", () => {
  // f (on a page of its own): mov eax, 0; mov byte [f+1], 2; ret. A store into f's page after
  // the CPUID's exit leaves the machine's TLB a writable entry for it. CALL r/m has no
  // translated target, so it is emulated, and the monitor translates f as it resumes the
  // guest there: from then on f's frame is traced, and f's own store must fault on the
  // machine (not go through that TLB entry) and invalidate f's translation, so the second
  // call runs the patched f. (Linux's ftrace patches each function's first five bytes this
  // way during boot, shortly after a translation that took that page in: docs/bt.md.)
  const f = 0x101000;
  const code = [
    0xc6, 0x05, ...le32(f + 0x800), 0x01,           // store into f's page (its shadow entry filled)
    0x0f, 0xa2,                                     // cpuid (an exit)
    0xc6, 0x05, ...le32(f + 1), 0x01,               // mov byte [f+1], 1 (the machine's TLB: writable)
    0xb8, ...le32(f), 0xff, 0xd0,                   // mov eax, f; call eax (eax = 1, f patched to 2)
    0x89, 0xc3,                                     // mov ebx, eax
    0xb8, ...le32(f), 0xff, 0xd0,                   // mov eax, f; call eax (eax = 2)
    0x01, 0xd8,                                     // add eax, ebx   (1 + 2)
    0x04, 0x30,                                     // add al, '0'
    0x66, 0xba, 0xf8, 0x03, 0xee,                   // mov dx, 0x3f8; out dx, al
    ...exit(0x10),
  ];
  const data: [number, number[]][] = [[f, [0xb8, ...le32(0), 0xc6, 0x05, ...le32(f + 1), 0x02, 0xc3]]];
  const bare = runCode(code, "bare", "standard", data);
  assert.equal(bare.serial, "3");
  for (const jit of [false, true]) {
    const bt = runCode(code, "bt", "standard", data, jit);
    assert.equal(bt.serial, "3", `jit ${jit}: the second call ran the patched f`);
    assert.ok((bt.mon!.stats()["bt.invalidate"] ?? 0) >= 2, `jit ${jit}: f's store invalidated its translation`);
    assert.equal(bt.cycles, bare.cycles, `jit ${jit}: guest time`);
  }
});

test("self-modifying code: a write beside translated code in its frame drops no translation; past 32 such writes the frame's translations all go", () => {
  // f (mov eax, 1; ret) at the start of a frame, with a dword of data in the same frame. Each
  // program calls f, stores to `at` `writes` times, calls f again and prints what it returned;
  // `elsewhere` is a frame with no code in it, to compare with.
  const f = 0x102000, beside = f + 0x800, elsewhere = 0x104800;
  const program = (at: number, writes: number): number[] => [
    0xe8, ...le32(f - (CODE + 5)),                                        // call f
    0xb9, ...le32(writes),                                                // mov ecx, writes
    0xc7, 0x05, ...le32(at), ...le32(7), 0xe2, 0xf4,                      // again: mov dword [at], 7; loop again
    0xe8, ...le32(f - (CODE + 27)),                                       // call f
    0x04, 0x30,                                                           // add al, '0'
    0x66, 0xba, 0xf8, 0x03, 0xee,                                         // mov dx, 0x3f8; out dx, al
    ...exit(0x10),
  ];
  const fn: [number, number[]][] = [[f, [0xb8, ...le32(1), 0xc3]]];
  const stats = (at: number, writes: number): Record<string, number> => {
    const bare = runCode(program(at, writes), "bare", "standard", fn);
    const bt = runCode(program(at, writes), "bt", "standard", fn);
    assert.equal(bare.serial, "1");
    assert.equal(bt.serial, "1", `${writes} writes at 0x${at.toString(16)}`);
    assert.equal(bt.cycles, bare.cycles, `${writes} writes at 0x${at.toString(16)}: guest time`);
    assert.equal(bt.read32(at), 7);
    return bt.mon!.stats();
  };
  const apart = stats(elsewhere, 1), one = stats(beside, 1), many = stats(beside, 40);
  // The store faulted into the monitor (f's frame is traced) and touched no trace's bytes.
  assert.ok((one["trap.pf-true-or-emulated"] ?? 0) > (apart["trap.pf-true-or-emulated"] ?? 0), "the store beside f was a traced write");
  assert.equal(one["bt.invalidate"] ?? 0, apart["bt.invalidate"] ?? 0, "a write beside f dropped nothing");
  assert.equal(one["bt.translate"], apart["bt.translate"]);
  // Past FRAME_MISSES such writes the frame is data: its translations go, and f is made again.
  assert.ok((many["bt.invalidate"] ?? 0) > (apart["bt.invalidate"] ?? 0), "the frame's translations went");
  assert.ok(many["bt.translate"] > apart["bt.translate"], "f was translated again");
});

test("every sensitive instruction of the red-pill set is emulated, never run directly, at guest ring 0", () => {
  const code = [
    0x9c, 0x9d,                   // pushf; popf
    0x0e, 0x58,                   // push cs; pop eax
    0x16, 0x58,                   // push ss; pop eax
    0x1e, 0x1f,                   // push ds; pop ds
    0x0f, 0x00, 0xc0,             // sldt eax
    0x0f, 0x00, 0xc8,             // str eax
    0x0f, 0x01, 0xe0,             // smsw eax
    0x66, 0xb8, 0x10, 0x00,       // mov ax, 0x10
    0x0f, 0x02, 0xc0,             // lar eax, eax
    0x0f, 0x03, 0xc0,             // lsl eax, eax
    0x66, 0xb8, 0x18, 0x00,       // mov ax, 0x18
    0x0f, 0x00, 0xe0,             // verr ax
    0x0f, 0x00, 0xe8,             // verw ax
    ...exit(0x10),
  ];
  const r = runCode(code, "bt");
  assert.equal(r.end.kind, "poweroff");
  const c = r.mon!.stats();
  for (const name of ["pushfd", "popfd", "push", "pop", "sldt", "str", "smsw", "lar", "lsl", "verr", "verw"]) {
    // PUSHF and PUSH Sreg have native helpers in the cache (docs/bt.md): emulated there.
    const native = name === "pushfd" ? c["bt.pushf-native"] : name === "push" ? c["bt.push-sreg-native"] : 0;
    const n = (c[`emulate.${name}`] ?? 0) + (native ?? 0);
    assert.ok(n >= 1, `${name} was emulated (${JSON.stringify(c)})`);
  }
});

/** `code` (with `data` loaded) run on the bare machine and under bt, each to its power-off. */
function bareAndBt(code: number[], data: [number, number[]][] = []): { bare: CodeRun; bt: CodeRun } {
  const bare = runCode(code, "bare", "standard", data);
  const bt = runCode(code, "bt", "standard", data);
  assert.equal(bare.end.kind, "poweroff");
  assert.equal(bt.end.kind, "poweroff");
  return { bare, bt };
}

/** Assemble `parts` (bytes, or [label] / [label, "rel32"] / [label, "rel8"] / [label, "abs32"]) at CODE. */
function assemble(parts: (number | [string] | [string, "rel32" | "rel8" | "abs32"])[], labels: Record<string, number> = {}): number[] {
  const sizes = { rel32: 4, rel8: 1, abs32: 4 } as const;
  const at: Record<string, number> = { ...labels };
  let pc = CODE;
  for (const p of parts) if (typeof p === "number") pc++; else if (p.length === 1) at[p[0]] = pc; else pc += sizes[p[1]];
  const out: number[] = [];
  pc = CODE;
  for (const p of parts) {
    if (typeof p === "number") { out.push(p); pc++; continue; }
    if (p.length === 1) continue;
    const [name, kind] = p;
    const v = kind === "abs32" ? at[name] : at[name] - (pc + sizes[kind]);
    if (kind === "rel8") out.push(v & 0xff); else out.push(...le32(v));
    pc += sizes[kind];
  }
  return out;
}

test("near RET: a native helper over its callout pops the return address and goes on in the cache; RET imm16 too; a target not yet translated takes the callout", () => {
  // f: inc ebx; ret      g: add ebx, [esp+4]; ret 4
  const f = 0x100300, g = 0x100310;
  const data: [number, number[]][] = [[f, [0x43, 0xc3]], [g, [0x03, 0x5c, 0x24, 0x04, 0xc2, 0x04, 0x00]]];
  const code = assemble([
    0xb9, ...le32(1000),                  // mov ecx, 1000
    0x31, 0xdb,                           // xor ebx, ebx
    ["loop"],
    0xe8, ["f", "rel32"],                 // call f
    0x6a, 0x07,                           // push 7
    0xe8, ["g", "rel32"],                 // call g
    0x49,                                 // dec ecx
    0x75, ["loop", "rel8"],               // jnz loop
    0x68, ["after", "abs32"],             // push after
    0xc3,                                 // ret      (to code not translated yet)
    ["after"],
    0x89, 0x1d, ...le32(0x80000),         // mov [0x80000], ebx
    0x89, 0x25, ...le32(0x80004),         // mov [0x80004], esp
    ...exit(0x10),
  ], { f, g });
  const { bare, bt } = bareAndBt(code, data);
  assert.equal(bt.read32(0x80000), 8000, "ebx: 1000 × (1 + 7)");
  assert.equal(bt.read32(0x80004), bare.read32(0x80004), "the stack pointer, RET imm16's pops included");
  assert.equal(bt.cycles, bare.cycles, "guest time identical to bare");
  const c = bt.mon!.stats();
  assert.ok((c["bt.ret-native"] ?? 0) >= 1990, `nearly every RET ran natively (${c["bt.ret-native"]})`);
  assert.ok((c["exit.callout"] ?? 0) <= 10, `few callouts (${c["exit.callout"]})`);
  // Under the helper the cache still holds the RET's callout: what runs where the helper is not.
  // The first trace: mov ecx (5 bytes), xor (2), the call's push (5), f inline: inc ebx (1), its RET.
  assert.deepEqual(tcBytes(bt, CODE, 15).slice(13), CALLOUT, "f's RET: a callout INT under the helper");
});

test("near RET: a fault reading the return address is the guest RET's own (#SS past the stack limit, no IDT: a triple fault at the same instruction as bare)", () => {
  const code = [
    0xe8, ...le32(0),                     // call +0 (a RET that works first)
    0x58,                                 // pop eax
    0xc7, 0x05, ...le32(0x81c), ...le32(0x00489300), // GDT[3].hi: limit 0x8FFFF bytes (G=0)
    0x66, 0xb8, 0x18, 0x00,               // mov ax, 0x18
    0x8e, 0xd0,                           // mov ss, ax
    0xbc, ...le32(0x8fffe),               // mov esp, 0x8FFFE
    0xc3,                                 // ret: a dword at 0x8FFFE crosses the limit: #SS(0)
    ...exit(0x10),
  ];
  const bare = runCode(code, "bare");
  const bt = runCode(code, "bt");
  assert.equal(bare.end.kind, "triple-fault");
  assert.equal(bt.end.kind, "triple-fault");
  assert.equal(bt.cycles, bare.cycles, "the RET faulted at the same guest instruction");
});

test("CALL rel32: the first call of a function translates it inline; a call to a function already translated is a native helper that pushes the guest's return address and goes on at its translation", () => {
  // f: inc ebx; ret
  const f = 0x100300;
  const data: [number, number[]][] = [[f, [0x43, 0xc3]]];
  const code = assemble([
    0xe8, ["f", "rel32"],                 // call f   (f not translated yet: inline)
    0xb9, ...le32(1000),                  // mov ecx, 1000
    ["loop"],
    0xe8, ["f", "rel32"],                 // call f   (the helper)
    0x49,                                 // dec ecx
    0x75, ["loop", "rel8"],               // jnz loop
    0x89, 0x1d, ...le32(0x80000),         // mov [0x80000], ebx
    0x89, 0x25, ...le32(0x80004),         // mov [0x80004], esp
    ...exit(0x10),
  ], { f });
  const { bare, bt } = bareAndBt(code, data);
  assert.equal(bt.read32(0x80000), 1001, "ebx: f ran 1 + 1000 times");
  assert.equal(bt.read32(0x80004), bare.read32(0x80004), "the stack pointer");
  assert.equal(bt.cycles, bare.cycles, "guest time identical to bare");
  const c = bt.mon!.stats();
  assert.ok((c["bt.call-native"] ?? 0) >= 990, `the loop's CALLs ran natively (${c["bt.call-native"]})`);
  assert.ok((c["bt.ret-native"] ?? 0) >= 990, `and f's RETs (${c["bt.ret-native"]})`);
  assert.ok((c["exit.callout"] ?? 0) <= 10, `few callouts (${c["exit.callout"]})`);
  assert.equal(c["bt.call-inlined"], 1, "f was translated inline once, at the first call");
});

/**
 * `code` (with `data`) run on bare, under bt with the JavaScript tiers only, and under bt
 * with the WebAssembly tier compiling each block at once: each powers off, and the guest
 * dwords at `addrs` and the guest time are bare's in both bt runs.
 */
function bareJsWasm(code: number[], data: [number, number[]][], addrs: number[]): { bare: CodeRun; js: CodeRun; wasm: CodeRun } {
  const bare = runCode(code, "bare", "standard", data);
  const js = runCode(code, "bt", "standard", data, { wasm: -1 });
  const wasm = runCode(code, "bt", "standard", data, { wasm: 1, wasmBatch: 1 });
  for (const r of [bare, js, wasm]) assert.equal(r.end.kind, "poweroff");
  for (const at of addrs) {
    assert.equal(wasm.read32(at), bare.read32(at), `guest dword 0x${at.toString(16)}, WebAssembly tier against bare`);
    assert.equal(js.read32(at), bare.read32(at), `guest dword 0x${at.toString(16)}, JavaScript tiers against bare`);
  }
  assert.equal(wasm.cycles, bare.cycles, "guest time identical to bare");
  assert.equal(js.cycles, bare.cycles);
  return { bare, js, wasm };
}

test("RET and CALL helpers in compiled code: the WebAssembly tier makes their look-ups in the machine's table (native-targets.ts), with the results, flags and guest time of the helpers in JavaScript and of bare", () => {
  // f: inc ebx; ret      g: add ebx, [esp+4]; ret 4      (the loop's carry crosses both)
  const f = 0x100300, g = 0x100310;
  const data: [number, number[]][] = [[f, [0x43, 0xc3]], [g, [0x03, 0x5c, 0x24, 0x04, 0xc2, 0x04, 0x00]]];
  const code = assemble([
    0xe8, ["f", "rel32"],                 // call f   (translated inline, once)
    0x6a, 0x01,                           // push 1
    0xe8, ["g", "rel32"],                 // call g   (likewise)
    0xb9, ...le32(6000),                  // mov ecx, 6000
    0x31, 0xf6,                           // xor esi, esi
    ["loop"],
    0x83, 0xc6, 0xff,                     // add esi, -1       (CF set but at the last)
    0xe8, ["f", "rel32"],                 // call f            (the CALL helper)
    0x6a, 0x07,                           // push 7
    0xe8, ["g", "rel32"],                 // call g
    0x83, 0xd7, 0x00,                     // adc edi, 0        (CF of g's ADD)
    0x49,                                 // dec ecx
    0x75, ["loop", "rel8"],               // jnz loop
    0x89, 0x1d, ...le32(0x80000),         // mov [0x80000], ebx
    0x89, 0x25, ...le32(0x80004),         // mov [0x80004], esp
    0x89, 0x3d, ...le32(0x80008),         // mov [0x80008], edi
    0x89, 0x35, ...le32(0x8000c),         // mov [0x8000c], esi
    ...exit(0x10),
  ], { f, g });
  const { js, wasm } = bareJsWasm(code, data, [0x80000, 0x80004, 0x80008, 0x8000c]);
  assert.equal(wasm.read32(0x80000), 2 + 6000 * 8, "ebx");
  const targets = wasm.mon!.machine.mem.nativeTargets.header;
  assert.ok(targets[TargetHeader.RET_COUNT] > 10_000, `RETs made in compiled code (${targets[TargetHeader.RET_COUNT]})`);
  assert.ok(targets[TargetHeader.CALL_COUNT] > 10_000, `CALLs made in compiled code (${targets[TargetHeader.CALL_COUNT]})`);
  assert.equal(js.mon!.machine.mem.nativeTargets.header[TargetHeader.RET_COUNT], 0, "none without the tier");
  // The counters add both: every RET and CALL of the loop ran natively, in either tier.
  const cw = wasm.mon!.stats(), cj = js.mon!.stats();
  assert.equal(cw["bt.ret-native"], cj["bt.ret-native"]);
  assert.equal(cw["bt.call-native"], cj["bt.call-native"]);
  assert.ok(cw["bt.ret-native"] >= 12_000, `RETs native (${cw["bt.ret-native"]})`);
});

test("PUSHF and CLI helpers in compiled code: the WebAssembly tier pushes the guest's virtual flags and clears its virtual IF (native-targets.ts), as the helpers in JavaScript and bare do", () => {
  const code = assemble([
    0xb9, ...le32(6000),                  // mov ecx, 6000
    0x31, 0xf6,                           // xor esi, esi
    0x31, 0xff,                           // xor edi, edi
    0x31, 0xdb,                           // xor ebx, ebx
    0x31, 0xed,                           // xor ebp, ebp
    ["loop"],
    0xfb,                                 // sti             (IF = 1: the STI helper)
    0x83, 0xc6, 0xff,                     // add esi, -1     (CF set but at the last)
    0x9c,                                 // pushfd          (the PUSHF helper: IF and the arithmetic flags)
    0x58,                                 // pop eax
    0x89, 0xc2,                           // mov edx, eax
    0x25, ...le32(0x200),                 // and eax, IF
    0x01, 0xc7,                           // add edi, eax    (edi: the first PUSHF's IFs)
    0x81, 0xe2, ...le32(0xd5),            // and edx, OF SF ZF AF PF CF
    0x01, 0xd5,                           // add ebp, edx
    0xfa,                                 // cli             (the CLI helper)
    0x83, 0xc6, 0x00,                     // add esi, 0      (CF clear, ZF from ESI)
    0xeb, 0x00,                           // jmp $+2
    0x89, 0xc0,                           // mov eax, eax    (the PUSHF's block: its flags come from before it)
    0x9c,                                 // pushfd          (IF now clear)
    0x5a,                                 // pop edx
    0x89, 0xd0,                           // mov eax, edx
    0x81, 0xe2, ...le32(0x200),           // and edx, IF
    0x01, 0xd3,                           // add ebx, edx    (ebx: the second PUSHF's IFs)
    0x25, ...le32(0xd5),                  // and eax, OF SF ZF AF PF CF
    0x01, 0xc5,                           // add ebp, eax
    0x49,                                 // dec ecx
    0x75, ["loop", "rel8"],               // jnz loop
    0x89, 0x1d, ...le32(0x80000),         // mov [0x80000], ebx
    0x89, 0x3d, ...le32(0x80004),         // mov [0x80004], edi
    0x89, 0x25, ...le32(0x80008),         // mov [0x80008], esp
    0x89, 0x2d, ...le32(0x8000c),         // mov [0x8000c], ebp
    ...exit(0x10),
  ]);
  const { bare, js, wasm } = bareJsWasm(code, [], [0x80000, 0x80004, 0x80008, 0x8000c]);
  assert.equal(bare.read32(0x80004), 6000 * 0x200, "edi: IF was set at every first PUSHF");
  assert.equal(bare.read32(0x80000), 0, "ebx: IF was clear at every second PUSHF");
  const h = wasm.mon!.machine.mem.nativeTargets.header;
  assert.ok(h[TargetHeader.PUSHF_COUNT] > 10_000, `PUSHFs made in compiled code (${h[TargetHeader.PUSHF_COUNT]})`);
  assert.ok(h[TargetHeader.CLI_COUNT] > 5_000, `CLIs made in compiled code (${h[TargetHeader.CLI_COUNT]})`);
  assert.equal(js.mon!.machine.mem.nativeTargets.header[TargetHeader.PUSHF_COUNT], 0, "none without the tier");
  const cw = wasm.mon!.stats(), cj = js.mon!.stats();
  assert.equal(cw["bt.pushf-native"], cj["bt.pushf-native"]);
  assert.equal(cw["bt.cli-native"], cj["bt.cli-native"]);
  assert.ok(cw["bt.pushf-native"] >= 12_000, `PUSHFs native (${cw["bt.pushf-native"]})`);
});

test("IN and OUT helpers in compiled code: the WebAssembly tier asks the monitor for the access (native-targets.ts, the \"io\" form), a block may start at one and go on past it, and an interrupt the access raises is taken where bare takes it", () => {
  // The loop starts at its IN (a block at a helper) and goes on past each access; the UART's
  // transmitter-empty interrupt (IRQ 4) follows each byte written while IF is set.
  const code = assemble([
    ...irq4Setup(),
    0x66, 0xba, 0xf9, 0x03, 0xb0, 0x02, 0xee, // UART IER: transmitter empty
    0xb9, ...le32(6000),                  // mov ecx, 6000
    ["loop"],
    0xe4, 0x61,                           // in al, 0x61     (port B: the PIT's clock in bit 4)
    0xe6, 0x80,                           // out 0x80, al    (the I/O delay)
    0x0f, 0xb6, 0xd8,                     // movzx ebx, al
    0x01, 0x1d, ...le32(0x80008),         // add [0x80008], ebx
    0x66, 0xba, 0xf8, 0x03,               // mov dx, 0x3F8
    0xf6, 0xc1, 0xff,                     // test cl, 0xff
    0x75, ["quiet", "rel8"],              // jnz quiet       (one byte written in 256 loops)
    0xfb,                                 // sti
    0xb0, 0x78, 0xee,                     // mov al, 'x'; out dx, al   (the THR: an interrupt follows)
    0x90,                                 // nop             (taken here, as on bare)
    0xfa,                                 // cli
    ["quiet"],
    0xec,                                 // in al, dx       (the RBR, through DX)
    0x49,                                 // dec ecx
    0x75, ["loop", "rel8"],               // jnz loop
    ...exit(0x10),
    ...irq4Handler([]),
  ]);
  const { bare, js, wasm } = bareJsWasm(code, [], [0x80000, 0x80004, 0x80008]);
  assert.ok(bare.read32(0x80000) >= 20, `bare took the interrupts (${bare.read32(0x80000)})`);
  assert.equal(wasm.serial, bare.serial);
  const cw = wasm.mon!.stats(), cj = js.mon!.stats();
  assert.equal(cw["bt.io-native"], cj["bt.io-native"], "the same accesses done in place");
  assert.ok(cw["bt.io-native"] >= 18_000, `IN and OUT native (${cw["bt.io-native"]})`);
  // Compiled, the loop stays in WebAssembly between the interrupts: without the form each of
  // its accesses went back to JavaScript for the helper.
  const runs = wasm.mon!.machine.cpu.jit!.stats.wasmRuns;
  assert.ok(runs < 3_000, `entries into WebAssembly from JavaScript (${runs}) far fewer than the loop's 18,000 accesses`);
});

test("INVLPG helpers in compiled code: the WebAssembly tier asks the monitor for the shadow's part and goes on, as the helper in JavaScript and bare do", () => {
  const code = assemble([
    0xbe, ...le32(0x5000),                // mov esi, 0x5000
    0xb9, ...le32(6000),                  // mov ecx, 6000
    0x31, 0xdb,                           // xor ebx, ebx
    ["loop"],
    0x0f, 0x01, 0x3e,                     // invlpg [esi]
    0x0f, 0x01, 0x7c, 0x8e, 0x10,         // invlpg [esi + ecx*4 + 0x10]
    0x01, 0x0d, ...le32(0x80004),         // add [0x80004], ecx
    0x49,                                 // dec ecx
    0x75, ["loop", "rel8"],               // jnz loop
    0x03, 0x1e,                           // add ebx, [esi]   (through a page dropped)
    0x89, 0x1d, ...le32(0x80000),         // mov [0x80000], ebx
    ...exit(0x10),
  ]);
  const { js, wasm } = bareJsWasm(code, [], [0x80000, 0x80004]);
  const cw = wasm.mon!.stats(), cj = js.mon!.stats();
  assert.equal(cw["bt.invlpg-native"], cj["bt.invlpg-native"]);
  assert.ok(cw["bt.invlpg-native"] >= 12_000, `INVLPGs native (${cw["bt.invlpg-native"]})`);
  // Compiled, the loop stays in WebAssembly: without the form each INVLPG went back to JavaScript.
  const runs = wasm.mon!.machine.cpu.jit!.stats.wasmRuns;
  assert.ok(runs < 1_000, `entries into WebAssembly from JavaScript (${runs})`);
});

test("placement: a trace longer than a page of the cache is placed so that no instruction of it straddles a page, and its loop runs in WebAssembly without leaving", () => {
  // A loop of 900 instructions of 5 and 6 bytes (about 4.7 KB translated): one trace, across
  // at least one page of the cache, with page boundaries that fall inside an instruction
  // at most offsets.
  const body: number[] = [];
  for (let k = 0; k < 900; k++) {
    if (k % 3 === 0) body.push(0x81, 0xc3, ...le32(k));   // add ebx, k
    else body.push(0xb8, ...le32(k));                     // mov eax, k
  }
  const code = assemble([
    0x31, 0xdb,                           // xor ebx, ebx
    0xb9, ...le32(300),                   // mov ecx, 300
    ["loop"],
    ...body,
    0x49,                                 // dec ecx
    0x0f, 0x85, ["loop", "rel32"],        // jnz loop
    0x89, 0x1d, ...le32(0x80000),         // mov [0x80000], ebx
    ...exit(0x10),
  ]);
  const { wasm } = bareJsWasm(code, [], [0x80000]);
  // Each pass through a straddling instruction ran it in the interpreter and began the next
  // block from JavaScript: 300 passes or more. Placed, the loop stays in WebAssembly.
  const runs = wasm.mon!.machine.cpu.jit!.stats.wasmRuns;
  assert.ok(runs < 100, `entries into WebAssembly from JavaScript (${runs})`);
});

test("CALL r/m32 and PUSH Sreg helpers in compiled code: the WebAssembly tier reads the target (a register, or a dword through the operand's segment) and calls its translation, and pushes the guest's selectors, as the helpers in JavaScript and bare do", () => {
  // f: add ebx, 3; ret      g: add ebx, [esp+4]; ret 4      table: f, g
  const f = 0x100300, g = 0x100310, table = 0x80040;
  const data: [number, number[]][] = [[f, [0x83, 0xc3, 0x03, 0xc3]], [g, [0x03, 0x5c, 0x24, 0x04, 0xc2, 0x04, 0x00]], [table, [...le32(f), ...le32(g)]]];
  const code = assemble([
    0xe8, ["f", "rel32"],                 // call f           (translates f)
    0x6a, 0x01,                           // push 1
    0xe8, ["g", "rel32"],                 // call g           (and g)
    0xb8, ...le32(f),                     // mov eax, f
    0xbe, ...le32(table),                 // mov esi, table
    0xb9, ...le32(6000),                  // mov ecx, 6000
    0x31, 0xff,                           // xor edi, edi
    ["loop"],
    0xff, 0xd0,                           // call eax                  (a register)
    0xff, 0x15, ...le32(table),           // call [table]              (an absolute address)
    0x6a, 0x05,                           // push 5
    0xbf, ...le32(1),                     // mov edi, 1
    0xff, 0x14, 0xbe,                     // call [esi + edi*4]        (base, index, scale: g)
    0x50,                                 // push eax                  (f)
    0x89, 0xe5,                           // mov ebp, esp
    0xff, 0x55, 0x00,                     // call [ebp]                (through SS: f)
    0x83, 0xc4, 0x04,                     // add esp, 4
    0x0e, 0x16, 0x1e, 0x06, 0x0f, 0xa0, 0x0f, 0xa8, // push cs, ss, ds, es, fs, gs
    0x5a, 0x01, 0xd7, 0x5a, 0x01, 0xd7,   // pop edx; add edi, edx (twice: gs, fs)
    0x5a, 0x01, 0xd7, 0x5a, 0x01, 0xd7,   // (es, ds)
    0x5a, 0x01, 0xd7, 0x5a, 0x01, 0xd7,   // (ss, cs: the guest's RPL 0, not the machine's)
    0x01, 0x3d, ...le32(0x80008),         // add [0x80008], edi
    0x49,                                 // dec ecx
    0x75, ["loop", "rel8"],               // jnz loop
    0x89, 0x1d, ...le32(0x80000),         // mov [0x80000], ebx
    0x89, 0x25, ...le32(0x80004),         // mov [0x80004], esp
    ...exit(0x10),
  ], { f, g });
  const { js, wasm } = bareJsWasm(code, data, [0x80000, 0x80004, 0x80008]);
  const h = wasm.mon!.machine.mem.nativeTargets.header;
  assert.ok(h[TargetHeader.CALLIND_COUNT] > 20_000, `CALL r/m32 made in compiled code (${h[TargetHeader.CALLIND_COUNT]})`);
  assert.ok(h[TargetHeader.PUSHSREG_COUNT] > 30_000, `PUSH Sreg made in compiled code (${h[TargetHeader.PUSHSREG_COUNT]})`);
  assert.equal(cjPushes(js), cjPushes(wasm), "PUSH Sregs native, in either tier");
  assert.equal(js.mon!.machine.mem.nativeTargets.header[TargetHeader.CALLIND_COUNT], 0, "none without the tier");
  const cw = wasm.mon!.stats(), cj = js.mon!.stats();
  assert.equal(cw["bt.call-indirect-native"], cj["bt.call-indirect-native"]);
  assert.ok(cw["bt.call-indirect-native"] >= 4 * 5990, `CALL r/m32 native (${cw["bt.call-indirect-native"]})`);
});

/** A bt run's PUSH Sreg helpers done natively (in JavaScript and in compiled code). */
function cjPushes(r: ReturnType<typeof runCode>): number {
  return r.mon!.stats()["bt.push-sreg-native"] ?? 0;
}

test("CALL rel32: a fault pushing the return address is the guest CALL's own (#SS past the stack limit, no IDT: a triple fault at the same instruction as bare)", () => {
  const f = 0x100300;
  const data: [number, number[]][] = [[f, [0xc3]]];
  const code = assemble([
    0xe8, ["f", "rel32"],                 // call f   (translates f)
    0xc7, 0x05, ...le32(0x81c), ...le32(0x00489300), // GDT[3].hi: limit 0x8FFFF bytes (G=0)
    0x66, 0xb8, 0x18, 0x00,               // mov ax, 0x18
    0x8e, 0xd0,                           // mov ss, ax
    0xbc, ...le32(0x90002),               // mov esp, 0x90002
    0xe8, ["f", "rel32"],                 // call f: a dword at 0x8FFFE crosses the limit: #SS(0)
    ...exit(0x10),
  ], { f });
  const bare = runCode(code, "bare", "standard", data);
  const bt = runCode(code, "bt", "standard", data);
  assert.equal(bare.end.kind, "triple-fault");
  assert.equal(bt.end.kind, "triple-fault");
  assert.equal(bt.cycles, bare.cycles, "the CALL faulted at the same guest instruction");
  assert.equal(bt.mon!.stats()["bt.call-native"] ?? 0, 0, "no CALL completed natively");
});

type Part = number | [string] | [string, "rel32" | "rel8" | "abs32"];

/**
 * Guest code that takes IRQ 4 (COM1) at vector 0x24: the IDT gate to label `handler`, LIDT
 * from label `idtr` (IDT at 0x70000), the PICs at vectors 0x20/0x28 with IRQ 4 alone
 * unmasked, and the UART's OUT2 (its IRQ line) on. (Another `vector` and master PIC mask
 * take another IRQ instead: IRQ 0, the PIT, at 0x20 with 0xfe.)
 */
function irq4Setup(vector = 0x24, masterMask = 0xef): Part[] {
  return [
    0xbb, ["handler", "abs32"],           // mov ebx, handler
    0xbf, ...le32(0x70000 + vector * 8),  // mov edi, gate
    0x66, 0x89, 0x1f,                     // mov [edi], bx
    0x66, 0x8c, 0xc8,                     // mov ax, cs
    0x66, 0x89, 0x47, 0x02,               // mov [edi+2], ax
    0x66, 0xc7, 0x47, 0x04, 0x00, 0x8e,   // mov word [edi+4], 0x8E00 (32-bit interrupt gate)
    0xc1, 0xeb, 0x10,                     // shr ebx, 16
    0x66, 0x89, 0x5f, 0x06,               // mov [edi+6], bx
    0x0f, 0x01, 0x1d, ["idtr", "abs32"],  // lidt [idtr]
    0xb0, 0x11, 0xe6, 0x20, 0xe6, 0xa0,   // PIC ICW1 (master, slave)
    0xb0, 0x20, 0xe6, 0x21,               // ICW2: master at vector 0x20
    0xb0, 0x28, 0xe6, 0xa1,               // ICW2: slave at 0x28
    0xb0, 0x04, 0xe6, 0x21,               // ICW3
    0xb0, 0x02, 0xe6, 0xa1,
    0xb0, 0x01, 0xe6, 0x21, 0xe6, 0xa1,   // ICW4: 8086 mode
    0xb0, masterMask, 0xe6, 0x21,         // mask all but IRQ 4
    0xb0, 0xff, 0xe6, 0xa1,
    0x66, 0xba, 0xfc, 0x03, 0xb0, 0x08, 0xee, // UART MCR: OUT2 (the IRQ line)
  ];
}

/**
 * The COM1 handler for irq4Setup (label `handler`, then the IDTR at label `idtr`): it reads
 * the UART's IIR (ending the interrupt), counts it at 0x80000, adds ECX (where it struck) at
 * 0x80004, runs `more`, and sends the PIC its EOI.
 */
function irq4Handler(more: Part[]): Part[] {
  return [
    ["handler"],
    0x50, 0x52,                           // push eax; push edx
    0x66, 0xba, 0xfa, 0x03, 0xec,         // mov dx, 0x3FA; in al, dx (IIR: ends the interrupt)
    0xff, 0x05, ...le32(0x80000),         // inc dword [0x80000]
    0x01, 0x0d, ...le32(0x80004),         // add [0x80004], ecx
    ...more,
    0xb0, 0x20, 0xe6, 0x20,               // EOI
    0x5a, 0x58,                           // pop edx; pop eax
    0xcf,                                 // iretd
    ["idtr"],
    0xff, 0x07, ...le32(0x70000),         // the IDT at 0x70000, as irq4Setup's gate
  ];
}

test("IN and OUT: bt's native helper and trap's quick path do the guest's port I/O in place, and an interrupt the access raises is taken at the same instruction as on bare", () => {
  // The UART's transmitter-empty interrupt (IRQ 4, vector 0x24) follows each byte written;
  // the handler counts it and sums ECX (where it struck). Port 0x61 reads the PIT's clock.
  const code = assemble([
    ...irq4Setup(),
    0x66, 0xba, 0xf9, 0x03, 0xb0, 0x02, 0xee, // UART IER: transmitter empty
    0xfb,                                 // sti
    0xb9, ...le32(300),                   // mov ecx, 300
    ["loop"],
    0x66, 0xba, 0xf8, 0x03,               // mov dx, 0x3F8
    0xb0, 0x78, 0xee,                     // mov al, 'x'; out dx, al
    0xe4, 0x61,                           // in al, 0x61
    0x0f, 0xb6, 0xd8,                     // movzx ebx, al
    0x01, 0x1d, ...le32(0x80008),         // add [0x80008], ebx
    0xe6, 0x80,                           // out 0x80, al
    0x49,                                 // dec ecx
    0x75, ["loop", "rel8"],               // jnz loop
    0xfa,                                 // cli
    ...exit(0x10),
    ...irq4Handler([]),
  ]);
  const bare = runCode(code, "bare");
  assert.equal(bare.end.kind, "poweroff");
  assert.ok(bare.read32(0x80000) >= 300, `bare took the interrupts (${bare.read32(0x80000)})`);
  // Under trap the same accesses trap (#GP at ring 1) and are done by the monitor's quick path.
  // (trap runs the accesses right after one ahead on its vCPU: fewer go the quick path.)
  for (const [mode, variant, counter, least] of [["bt", "standard", "bt.io-native", 1200], ["trap", "strict", "trap.io-quick", 300]] as const) {
    const r = runCode(code, mode, variant);
    assert.equal(r.end.kind, "poweroff", mode);
    assert.equal(r.serial, bare.serial, mode);
    for (const at of [0x80000, 0x80004, 0x80008]) assert.equal(r.read32(at), bare.read32(at), `${mode}: dword at 0x${at.toString(16)}`);
    assert.equal(r.cycles, bare.cycles, `${mode}: guest time identical to bare`);
    const c = r.mon!.stats();
    assert.ok((c[counter] ?? 0) >= least, `${mode}: the loop's and handler's IN and OUT done in place (${c[counter]})`);
    if (mode === "bt") assert.equal(c["emulate.out"] ?? 0, 1, "bt: only the power-off port's OUT was emulated");
  }
});

test("trap's quick #GP path: PUSHF, CLI and STI in place (a PUSHF whose stack page is not yet written takes the exit), with interrupts taken at the same instructions as on bare", () => {
  // The UART's transmitter-empty interrupt (IRQ 4) is raised by each byte written while IF
  // is clear, and taken right after the STI's shadow, a PUSH. The handler counts it and sums
  // ECX and ESP (where it struck). Every fourth pass moves the stack to a page the guest has
  // not written yet: that PUSHF's store goes the ordinary exit. (Each of STI, PUSHF and CLI
  // has no other trapping instruction in the three after it: the quick path leaves those to
  // the ordinary exit, which runs them too.)
  const code = assemble([
    ...irq4Setup(),
    0x66, 0xba, 0xf9, 0x03, 0xb0, 0x02, 0xee, // UART IER: transmitter empty
    0xbc, ...le32(0x600000),              // mov esp, 0x600000
    0xb9, ...le32(300),                   // mov ecx, 300
    0x31, 0xff,                           // xor edi, edi
    0x31, 0xed,                           // xor ebp, ebp
    0x31, 0xf6,                           // xor esi, esi
    ["loop"],
    0xfb,                                 // sti
    0x50,                                 // push eax       (in STI's shadow)
    0x90, 0x90,                           // nop; nop
    0x58,                                 // pop eax
    0xf6, 0xc1, 0x03,                     // test cl, 3
    0x75, 0x06,                           // jnz +6
    0x81, 0xec, ...le32(0x1000),          // sub esp, 0x1000 (a page not written yet)
    0x9c,                                 // pushfd         (IF set)
    0x58,                                 // pop eax
    0x89, 0xc3,                           // mov ebx, eax
    0x81, 0xe3, ...le32(0x200),           // and ebx, IF
    0x01, 0xde,                           // add esi, ebx   (esi: the first PUSHF's IFs)
    0x25, ...le32(0x2d5),                 // and eax, IF OF SF ZF AF PF CF
    0x01, 0xc7,                           // add edi, eax
    0xfa,                                 // cli
    0x90, 0x90, 0x90,                     // nop; nop; nop
    0x66, 0xba, 0xf8, 0x03,               // mov dx, 0x3F8
    0xb0, 0x79, 0xee,                     // mov al, 'y'; out dx, al (its interrupt waits for STI)
    0x9c,                                 // pushfd         (IF clear)
    0x5a,                                 // pop edx
    0x81, 0xe2, ...le32(0x2d5),           // and edx, IF OF SF ZF AF PF CF
    0x01, 0xd5,                           // add ebp, edx
    0x49,                                 // dec ecx
    0x75, ["loop", "rel8"],               // jnz loop
    0x89, 0x3d, ...le32(0x8000c),         // mov [0x8000c], edi
    0x89, 0x2d, ...le32(0x80010),         // mov [0x80010], ebp
    0x89, 0x25, ...le32(0x80014),         // mov [0x80014], esp
    0x89, 0x35, ...le32(0x80018),         // mov [0x80018], esi
    ...exit(0x10),
    ...irq4Handler([0x01, 0x25, ...le32(0x80008)]), // add [0x80008], esp (after the shadow's PUSH: 4 less)
  ]);
  const bare = runCode(code, "bare");
  assert.equal(bare.end.kind, "poweroff");
  assert.ok(bare.read32(0x80000) >= 290, `bare took the interrupts (${bare.read32(0x80000)})`);
  assert.equal(bare.read32(0x80018), 300 * 0x200, "esi: IF was set at every first PUSHF");
  const r = runCode(code, "trap", "strict");
  assert.equal(r.end.kind, "poweroff");
  assert.equal(r.serial, bare.serial);
  for (const at of [0x80000, 0x80004, 0x80008, 0x8000c, 0x80010, 0x80014, 0x80018]) assert.equal(r.read32(at), bare.read32(at), `dword at 0x${at.toString(16)}`);
  assert.equal(r.cycles, bare.cycles, "guest time identical to bare");
  const c = r.mon!.stats();
  assert.ok((c["trap.sti-quick"] ?? 0) >= 290, `STIs in place (${c["trap.sti-quick"]})`);
  assert.ok((c["trap.cli-quick"] ?? 0) >= 290, `CLIs in place (${c["trap.cli-quick"]})`);
  assert.ok((c["trap.pushf-quick"] ?? 0) >= 400, `PUSHFs in place (${c["trap.pushf-quick"]})`);
  assert.ok((c["emulate.pushfd"] ?? 0) >= 70, `PUSHFs onto a page not yet written took the exit (${c["emulate.pushfd"]})`);
});

test("trap's quick #GP path: Linux's interrupt-state save (pushfd; pop; cli) carried out whole at the PUSHF's trap, unless an interrupt may come between its instructions", () => {
  // The PIT's IRQ 0 every 97 of its clocks (about 8,100 guest cycles) strikes the loop
  // wherever it is, as on bare (the handler sums ECX and ESP where it struck): between the
  // save's instructions too, where IF is still set; a save it could strike inside takes the
  // ordinary exit.
  const code = assemble([
    ...irq4Setup(0x20, 0xfe),
    0xb0, 0x34, 0xe6, 0x43,               // PIT channel 0: mode 2, lobyte/hibyte
    0xb0, 97, 0xe6, 0x40, 0xb0, 0x00, 0xe6, 0x40, // divisor 97
    0xb9, ...le32(20000),                 // mov ecx, 20000
    0x31, 0xff,                           // xor edi, edi
    0xfb,                                 // sti
    ["loop"],
    0x9c,                                 // pushfd
    0x58,                                 // pop eax
    0xfa,                                 // cli
    0x25, ...le32(0x2d5),                 // and eax, IF OF SF ZF AF PF CF
    0x01, 0xc7,                           // add edi, eax
    0xfb,                                 // sti
    0x90,                                 // nop
    0x49,                                 // dec ecx
    0x75, ["loop", "rel8"],               // jnz loop
    0xfa,                                 // cli
    0x89, 0x3d, ...le32(0x8000c),         // mov [0x8000c], edi
    0x89, 0x25, ...le32(0x80010),         // mov [0x80010], esp
    ...exit(0x10),
    ...irq4Handler([0x01, 0x25, ...le32(0x80008)]), // add [0x80008], esp
  ]);
  const bare = runCode(code, "bare");
  assert.equal(bare.end.kind, "poweroff");
  assert.ok(bare.read32(0x80000) >= 15, `bare took the interrupts (${bare.read32(0x80000)})`);
  const r = runCode(code, "trap", "strict");
  assert.equal(r.end.kind, "poweroff");
  for (const at of [0x80000, 0x80004, 0x80008, 0x8000c, 0x80010]) assert.equal(r.read32(at), bare.read32(at), `dword at 0x${at.toString(16)}`);
  assert.equal(r.cycles, bare.cycles, "guest time identical to bare");
  const c = r.mon!.stats();
  assert.ok((c["trap.irq-save-quick"] ?? 0) >= 19_000, `saves carried out whole (${c["trap.irq-save-quick"]})`);
  assert.ok((c["emulate.pushfd"] ?? 0) >= 1, `a save an interrupt could strike took the ordinary exit (${c["emulate.pushfd"]})`);
});

test("CALL r/m32, INVLPG and PUSH Sreg: native helpers give the guest what bare gives it", () => {
  // f: add ebx, 3; ret
  const f = 0x100300, ptr = 0x80010;
  const data: [number, number[]][] = [[f, [0x83, 0xc3, 0x03, 0xc3]], [ptr, le32(f)]];
  const code = assemble([
    0xe8, ["f", "rel32"],                 // call f        (translates f)
    0xb8, ...le32(f),                     // mov eax, f
    0xb9, ...le32(500),                   // mov ecx, 500
    ["loop"],
    0xff, 0xd0,                           // call eax
    0xff, 0x15, ...le32(ptr),             // call [ptr]
    0x0f, 0x01, 0x3d, ...le32(0x5000),    // invlpg [0x5000]
    0x0e, 0x16, 0x1e, 0x06, 0x0f, 0xa0, 0x0f, 0xa8, // push cs, ss, ds, es, fs, gs
    0x83, 0xc4, 0x14,                     // add esp, 20
    0x5a,                                 // pop edx       (the CS push)
    0x49,                                 // dec ecx
    0x75, ["loop", "rel8"],               // jnz loop
    0x0e, 0x16, 0x1e, 0x06, 0x0f, 0xa0, 0x0f, 0xa8, // push cs, ss, ds, es, fs, gs
    0x8f, 0x05, ...le32(0x80020),         // pop dword [0x80020]  (gs)
    0x8f, 0x05, ...le32(0x80024),         // pop dword [0x80024]  (fs)
    0x8f, 0x05, ...le32(0x80028),         // pop dword [0x80028]  (es)
    0x8f, 0x05, ...le32(0x8002c),         // pop dword [0x8002c]  (ds)
    0x8f, 0x05, ...le32(0x80030),         // pop dword [0x80030]  (ss)
    0x8f, 0x05, ...le32(0x80034),         // pop dword [0x80034]  (cs)
    0x89, 0x1d, ...le32(0x80000),         // mov [0x80000], ebx
    0x89, 0x15, ...le32(0x80004),         // mov [0x80004], edx
    0x89, 0x25, ...le32(0x80008),         // mov [0x80008], esp
    ...exit(0x10),
  ], { f });
  const { bare, bt } = bareAndBt(code, data);
  assert.equal(bt.read32(0x80000), 3 * 1001, "ebx: f ran 1 + 2 × 500 times");
  for (let at = 0x80000; at <= 0x80034; at += 4) assert.equal(bt.read32(at), bare.read32(at), `dword at 0x${at.toString(16)}`);
  assert.equal(bt.cycles, bare.cycles, "guest time identical to bare");
  const c = bt.mon!.stats();
  assert.ok((c["bt.call-indirect-native"] ?? 0) >= 990, `indirect CALLs (${c["bt.call-indirect-native"]})`);
  assert.ok((c["bt.invlpg-native"] ?? 0) >= 495, `INVLPGs (${c["bt.invlpg-native"]})`);
  assert.ok((c["bt.push-sreg-native"] ?? 0) >= 6 * 495, `PUSH Sregs (${c["bt.push-sreg-native"]})`);
  assert.ok((c["exit.callout"] ?? 0) <= 40, `few callouts (${c["exit.callout"]})`);
});

test("STI: a native helper sets the virtual IF; an interrupt pending takes effect after the next instruction, as on bare", () => {
  // The UART's transmitter-empty interrupt (IRQ 4, vector 0x24) is raised while IF = 0;
  // each STI lets it in after one more instruction. The handler sums EBX (where it struck).
  const idt = 0x70000;
  const code = assemble([
    ...irq4Setup(),
    0xb9, ...le32(200),                   // mov ecx, 200
    ["loop"],
    0xfa,                                 // cli
    0x66, 0xba, 0xf9, 0x03, 0xb0, 0x02, 0xee, // IER: transmitter empty (the interrupt is pending)
    0x31, 0xdb,                           // xor ebx, ebx
    0xfb,                                 // sti
    0x43,                                 // inc ebx  (in STI's shadow)
    0x43,                                 // inc ebx
    0x43,                                 // inc ebx
    0x49,                                 // dec ecx
    0x75, ["loop", "rel8"],               // jnz loop
    0xfa,
    ...exit(0x10),
    ["handler"],
    0x50, 0x52,                           // push eax; push edx
    0x66, 0xba, 0xf9, 0x03, 0x30, 0xc0, 0xee, // IER: 0 (the interrupt goes)
    0xff, 0x05, ...le32(0x80000),         // inc dword [0x80000]
    0x01, 0x1d, ...le32(0x80004),         // add [0x80004], ebx
    0xb0, 0x20, 0xe6, 0x20,               // EOI
    0x5a, 0x58, 0xcf,                     // pop edx; pop eax; iretd
    ["idtr"],
    0xff, 0x07, ...le32(idt),
  ]);
  const { bare, bt } = bareAndBt(code);
  assert.equal(bare.read32(0x80000), 200, "bare: one interrupt per STI");
  assert.equal(bare.read32(0x80004), 200, "bare: each after the instruction in STI's shadow");
  assert.equal(bt.read32(0x80000), bare.read32(0x80000));
  assert.equal(bt.read32(0x80004), bare.read32(0x80004));
  assert.equal(bt.cycles, bare.cycles, "guest time identical to bare");
  assert.ok((bt.mon!.stats()["bt.sti-native"] ?? 0) >= 190, `STIs ran natively (${bt.mon!.stats()["bt.sti-native"]})`);
});

// The guest's TLB flush after each PTE store: INVLPG of the page, or a reload of CR3 with
// the same value (which the monitor does not turn into a new shadow root: the shadow's
// entries stay, so under --shadow-sync traced only the store's own comparison with the
// guest table drops the stale one, and out of sync only the comparison at the flush).
const FLUSHES: [string, number[]][] = [
  ["invlpg", [0x0f, 0x01, 0x3d, ...le32(0x300000)]],     // invlpg [0x300000]
  ["mov cr3, cr3", [0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8]], // mov eax, cr3; mov cr3, eax
];

for (const [flushName, flush] of FLUSHES) test(`page-table stores: a MOV into a guest page table, traced (the monitor's quick path) or let out of sync until the flush, under bt and trap, with what bare leaves (${flushName} after each)`, () => {
  const pd = 0x10000, pt = 0x11000, pte = pt + 0x300 * 4;
  const code = assemble([
    0xbf, ...le32(pt),                    // mov edi, pt
    0xb8, ...le32(0x3),                   // mov eax, P | W
    0xb9, ...le32(1024),                  // mov ecx, 1024
    ["fill"],
    0x89, 0x07,                           // mov [edi], eax
    0x05, ...le32(0x1000),                // add eax, 0x1000
    0x83, 0xc7, 0x04,                     // add edi, 4
    0xe2, ["fill", "rel8"],               // loop fill     (0–4 MiB mapped 1:1)
    0xc7, 0x05, ...le32(pd), ...le32(pt | 3), // mov dword [pd], pt | P | W
    0xb8, ...le32(pd), 0x0f, 0x22, 0xd8,  // mov eax, pd; mov cr3, eax
    0x0f, 0x20, 0xc0, 0x0d, ...le32(0x8000_0000), 0x0f, 0x22, 0xc0, // paging on
    0xb9, ...le32(300),                   // mov ecx, 300
    0x31, 0xdb,                           // xor ebx, ebx
    ["loop"],
    0xc7, 0x05, ...le32(pte), ...le32(0x200003), // mov dword [pte], 0x200003  (0x300000 → 0x200000)
    ...flush,
    0x03, 0x1d, ...le32(0x300000),        // add ebx, [0x300000]
    0xb8, ...le32(0x201003),              // mov eax, 0x201003
    0x89, 0x05, ...le32(pte),             // mov [pte], eax            (0x300000 → 0x201000)
    ...flush,
    0x03, 0x1d, ...le32(0x300000),        // add ebx, [0x300000]
    0x49,                                 // dec ecx
    0x75, ["loop", "rel8"],               // jnz loop
    0x89, 0x1d, ...le32(0x80000),         // mov [0x80000], ebx
    0xa1, ...le32(pte), 0xa3, ...le32(0x80004), // the PTE as the guest leaves it (A and D)
    0xa1, ...le32(pd), 0xa3, ...le32(0x80008),  // and the PDE
    ...exit(0x10),
  ]);
  const data: [number, number[]][] = [[0x200000, le32(5)], [0x201000, le32(7)]];
  const bare = runCode(code, "bare", "standard", data);
  assert.equal(bare.end.kind, "poweroff");
  assert.equal(bare.read32(0x80000), 300 * 12, "bare: each read saw the frame the PTE had just named");
  for (const [mode, variant] of [["bt", "standard"], ["trap", "strict"]] as const) {
    for (const sync of ["traced", "unsync"] as const) {
      const r = runCode(code, mode, variant, data, undefined, sync);
      const what = `${mode} --shadow-sync ${sync}`;
      assert.equal(r.end.kind, "poweroff", what);
      for (const at of [0x80000, 0x80004, 0x80008]) assert.equal(r.read32(at) >>> 0, bare.read32(at) >>> 0, `${what}: dword at 0x${at.toString(16)}`);
      assert.equal(r.cycles, bare.cycles, `${what}: guest time identical to bare`);
      const c = r.mon!.stats(), quick = c["trap.pf-table-store-quick"] ?? 0, unsync = c["shadow.unsync"] ?? 0, resync = c["shadow.resync"] ?? 0;
      if (sync === "traced") {
        assert.ok(quick >= 2 * 300 - 2, `${what}: the PTE stores went the quick path (${quick})`);
        assert.equal(unsync, 0, what);
      } else if (flushName === "invlpg") {
        // Written without a fault after the first: INVLPG drops the one shadow entry.
        assert.ok(quick === 0 && unsync >= 1 && unsync <= 2, `${what}: the table went out of sync once (${unsync}), no store exited (${quick})`);
      } else {
        // Each CR3 reload compares the table and traces it again; the next store lets it go.
        assert.ok(quick === 0 && resync >= 2 * 300 - 2 && unsync >= resync, `${what}: out of sync after each store (${unsync}), in sync at each flush (${resync})`);
      }
    }
  }
});

test("PUSHF and CLI: native helpers over their callouts push the guest's virtual IF and clear it, as on bare", () => {
  const code = assemble([
    0xfb,                                 // sti            (a callout)
    0xb9, ...le32(500),                   // mov ecx, 500
    ["loop"],
    0x9c, 0x58,                           // pushf; pop eax (IF = 1)
    0xfa,                                 // cli
    0x9c, 0x5a,                           // pushf; pop edx (IF = 0)
    0x50, 0x9d,                           // push eax; popf (a callout: IF = 1 again)
    0x49,                                 // dec ecx
    0x75, ["loop", "rel8"],               // jnz loop
    0xa3, ...le32(0x80000),               // mov [0x80000], eax
    0x89, 0x15, ...le32(0x80004),         // mov [0x80004], edx
    ...exit(0x10),
  ]);
  const bare = runCode(code, "bare");
  const bt = runCode(code, "bt");
  assert.equal(bt.end.kind, "poweroff");
  assert.equal(bare.read32(0x80000) & 0x200, 0x200, "bare: IF set in the first image");
  assert.equal(bt.read32(0x80000), bare.read32(0x80000), "PUSHF's image with IF set");
  assert.equal(bt.read32(0x80004), bare.read32(0x80004), "PUSHF's image after CLI");
  assert.equal(bt.cycles, bare.cycles, "guest time identical to bare");
  const c = bt.mon!.stats();
  assert.ok((c["bt.pushf-native"] ?? 0) >= 990, `PUSHF ran natively (${c["bt.pushf-native"]})`);
  assert.ok((c["bt.cli-native"] ?? 0) >= 495, `CLI ran natively (${c["bt.cli-native"]})`);
});
