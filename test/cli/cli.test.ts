// The command line as a user meets it: exit codes, one-line messages, --help.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT, TEST386_DIR } from "../support/paths.js";

const BIN = join(REPO_ROOT, "bin", "vmm86.js");

function vmm86(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A 64 KiB ROM whose reset vector runs `code` at F000:0000. */
function rom(code: number[]): string {
  const img = new Uint8Array(0x10000).fill(0xf4);
  img.set(code, 0);
  img.set([0xea, 0x00, 0x00, 0x00, 0xf0], 0xfff0); // jmp f000:0000
  const dir = mkdtempSync(join(tmpdir(), "vmm86-cli-"));
  const p = join(dir, "rom.bin");
  writeFileSync(p, img);
  return p;
}

test("--help documents run and the exit codes", () => {
  const r = vmm86("--help");
  assert.equal(r.status, 0);
  for (const s of ["run", "--bios", "--post-port", "--debugcon", "--timeout", "--trace", "E_TRIPLE_FAULT", "E_HALT"]) assert.match(r.stdout, new RegExp(s));
});

test("bad flags and commands exit 2 with E_USAGE", () => {
  for (const args of [["frobnicate"], ["run", "--no-such-flag"], ["run"], ["run", "--bios"], ["run", "--bios", "x", "--timeout", "soon"]]) {
    const r = vmm86(...args);
    assert.equal(r.status, 2, args.join(" "));
    assert.match(r.stderr, /^vmm86: E_USAGE: /m);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  }
});

test("a missing or malformed image exits 6 with E_IMAGE", () => {
  assert.equal(vmm86("run", "--bios", "/nonexistent/rom.bin").status, 6);
  const dir = mkdtempSync(join(tmpdir(), "vmm86-cli-"));
  writeFileSync(join(dir, "short.bin"), new Uint8Array(1000));
  const r = vmm86("run", "--bios", join(dir, "short.bin"));
  assert.equal(r.status, 6);
  assert.match(r.stderr, /E_IMAGE: .*64 KiB or 128 KiB/);
});

test("halt with interrupts disabled exits 3 (E_HALT)", () => {
  const r = vmm86("run", "--bios", rom([0xfa, 0xf4])); // cli; hlt
  assert.equal(r.status, 3);
  assert.match(r.stderr, /E_HALT: guest halted with interrupts disabled at f000:00000002/);
});

test("a triple fault exits 5 (E_TRIPLE_FAULT)", () => {
  // lidt with limit 0, then int3: #GP delivering it, #DF delivering that, then shutdown.
  const r = vmm86("run", "--bios", rom([0x2e, 0x0f, 0x01, 0x1e, 0x10, 0x00, 0xcc, 0xf4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
  assert.equal(r.status, 5);
  assert.match(r.stderr, /E_TRIPLE_FAULT/);
});

test("a guest that runs forever is stopped by --timeout with exit 4", () => {
  const r = vmm86("run", "--bios", rom([0xeb, 0xfe]), "--timeout", "0.5"); // jmp $
  assert.equal(r.status, 4);
  assert.match(r.stderr, /E_TIMEOUT: stopped after \d+ instructions/);
});

test("isa-debug-exit powers off with status (V << 1) | 1; debugcon and POST reach the user", () => {
  // mov al,'H'; out 0xe9,al; mov al,0x42; out 0x80,al; mov al,0; out 0xf4,al
  const r = vmm86("run", "--bios", rom([0xb0, 0x48, 0xe6, 0xe9, 0xb0, 0x42, 0xe6, 0x80, 0xb0, 0x00, 0xe6, 0xf4]), "--debugcon", "stdout", "--post-port", "0x80");
  assert.equal(r.stdout, "H");
  assert.match(r.stderr, /post: 0x42/);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /guest powered off with status 1/);
});

test("--trace prints each instruction disassembled with registers", () => {
  const r = vmm86("run", "--bios", rom([0xb8, 0x34, 0x12, 0xfa, 0xf4]), "--trace");
  assert.match(r.stderr, /f000:0000fff0 jmp 0xf000:0x0/);
  assert.match(r.stderr, /f000:00000000 mov ax,0x1234 .*eax=00000000/);
  assert.match(r.stderr, /f000:00000003 cli .*eax=00001234/);
});

test("the CLI runs test386 to POST 0xFF", () => {
  const r = vmm86("run", "--bios", join(TEST386_DIR, "test386.bin"), "--post-port", "0x190");
  assert.match(r.stderr, /post: 0xff\n/);
  assert.equal(r.status, 3);
});

test("run demo: the demo guest passes, and two runs print byte-identical serial logs", () => {
  const a = vmm86("run", "demo");
  const b = vmm86("run", "demo");
  assert.equal(a.status, 0x21, a.stderr);
  assert.match(a.stdout, /demo: PASS, powering off/);
  assert.equal(a.stdout, b.stdout);
  const golden = readFileSync(join(REPO_ROOT, "guests", "demo", "expected-serial.txt"), "utf8");
  assert.equal(a.stdout, golden);
});

test("run linux before fetching says which command fetches it", () => {
  const cache = mkdtempSync(join(tmpdir(), "vmm86-empty-cache-"));
  const r = spawnSync(process.execPath, [BIN, "run", "linux"], { encoding: "utf8", env: { ...process.env, VMM86_CACHE: cache } });
  assert.equal(r.status, 6);
  assert.match(r.stderr, /E_NOT_FETCHED: .*vmm86 fetch linux/);
});

test("an unknown --mode or --protect is refused clearly", () => {
  const r = vmm86("run", "demo", "--mode", "kvm");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /E_USAGE: --mode must be bare, trap, bt, vtx or svm \(got 'kvm'\)/);
  const p = vmm86("run", "demo", "--mode", "bt", "--protect", "none");
  assert.equal(p.status, 2);
  assert.match(p.stderr, /E_USAGE: --protect must be/);
  const b = vmm86("run", "--bios", "x.bin", "--mode", "trap");
  assert.ok(b.status === 2 || b.status === 6, b.stderr);
});

test("--jit on|js|off: the demo's output is the same each way, --stats says what the compiler did, a bad value is E_USAGE", () => {
  const on = vmm86("run", "demo", "--stats");
  const js = vmm86("run", "demo", "--jit", "js", "--stats");
  const off = vmm86("run", "demo", "--jit", "off", "--stats");
  assert.equal(on.status, 33, on.stderr); // the demo ends through isa-debug-exit: (16 << 1) | 1
  assert.equal(js.status, 33, js.stderr);
  assert.equal(off.status, 33, off.stderr);
  assert.equal(on.stdout, off.stdout);
  assert.equal(js.stdout, off.stdout);
  const count = (s: string): string => /stats: (\d+) instructions/.exec(s)![1];
  assert.equal(count(on.stderr), count(off.stderr));
  assert.equal(count(js.stderr), count(off.stderr));
  assert.match(on.stderr, /stats: jit on: [1-9]\d* blocks compiled .* % of instructions ran compiled, [\d.]+ % in WebAssembly/);
  assert.match(js.stderr, /stats: jit on: .* 0 compiled to WebAssembly .* 0\.0 % in WebAssembly/);
  assert.match(off.stderr, /stats: jit off/);
  const bad = vmm86("run", "demo", "--jit", "fast");
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /E_USAGE: --jit must be 'on', 'js' or 'off'/);
});
