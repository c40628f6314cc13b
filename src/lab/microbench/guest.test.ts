// The micro-benchmark guest on the bare machine. Every benchmark must report its
// iterations, and its cycles per operation must be what its code costs: one cycle per
// instruction, counted here from guests/microbench/*.S. Running each benchmark at two
// iteration counts cancels the fixed costs around the loop, so for the loops written
// wholly in assembly the cost per operation is exact; where a C handler is on the path
// (gcc decides its length) the bound is the assembly count plus a range for the C part.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runLabGuest, type LabRunResult } from "../guest-runner.js";
import { BENCHMARKS } from "./benchmarks.js";
import { MICROBENCH_IMAGE } from "../../guests/images.js";
import { parseGuestOutput, type BenchLine } from "./guest-output.js";

const image = readFileSync(MICROBENCH_IMAGE);
const EXPECTED_SERIAL = join(MICROBENCH_IMAGE, "..", "expected-serial-bare.txt");
const PASS = (0x10 << 1) | 1, FAIL = (0x11 << 1) | 1;

function run(cmdline: string): LabRunResult {
  return runLabGuest(image, { mode: "bare", cpu: "standard", cmdline, maxInstructions: 30e6 });
}

function lines(r: LabRunResult): Map<string, BenchLine> {
  return new Map(parseGuestOutput(r.serial).results.map((l) => [l.name, l]));
}

// Instructions per operation, counted from the sources.
const TRAP_COMMON = 10 + 8;         // boot.S trap_common: in (pushal … call trap), out (add … iret)
const ASM_PER_OP: Record<string, { asm: number; c: [number, number] }> = {
  in: { asm: 3, c: [0, 0] },        // kbench.S k_in: inb, dec, jnz
  cr3: { asm: 2, c: [0, 0] },       // k_cr3: two mov-to-CR3, dec, jnz per two operations
  callret: { asm: 4, c: [0, 0] },   // k_callret: call, ret, dec, jnz
  ptemod: { asm: 6, c: [0, 0] },    // k_ptemod: mov, invlpg, add, xchg, dec, jnz
  // user.S u_syscall (mov, int, dec, jnz) + STUB_NOERR (push, push, jmp) + trap_common
  syscall: { asm: 4 + 3 + TRAP_COMMON, c: [5, 40] },
  // u_sysenter (mov, mov, mov, sysenter, dec, jnz) + sysenter_entry (4 push, call, add,
  // 2 pop, sysexit) + sysenter_call in C
  sysenter: { asm: 6 + 9, c: [3, 30] },
  // u_pgfault (mov, dec, jnz) + STUB_ERR (push, jmp) + trap_common
  pgfault: { asm: 3 + 2 + TRAP_COMMON, c: [5, 40] },
  // u_divzero (mov, xor, div, dec, jnz) + STUB_NOERR + trap_common
  divzero: { asm: 5 + 3 + TRAP_COMMON, c: [5, 40] },
  // u_child (2 + 16 × 4 + jmp) + u_exit (3) + enter_user (18) + the exit call's
  // STUB_NOERR and trap_common entry (13) + leave_user (13); kernel.c forkwait_once
  // stores at least 3 words per page, 2 PDEs twice and loads CR3 twice, at most
  // 20 instructions per page and 80 besides (trap → syscall → leave_user included).
  forkwait: { asm: 67 + 3 + 18 + 13 + 13, c: [16 * 3 + 4 + 2, 16 * 20 + 80] },
};

test("bench=all in bare: every benchmark runs its default iterations and passes its own checks", () => {
  const r = run("bench=all");
  assert.deepEqual(r.end, { kind: "poweroff", status: PASS });
  const out = parseGuestOutput(r.serial);
  assert.equal(out.ready, true);
  assert.equal(out.end, "ok");
  assert.deepEqual(out.failures, []);
  assert.deepEqual(out.results.map((l) => [l.name, l.iters]), BENCHMARKS.map((b) => [b.name, b.defaultIters]));
  // Each benchmark costs 0.2-2 M instructions on bare hardware; the guest < 20 M in all.
  for (const l of out.results) assert.ok(l.cycles >= 0.2e6 && l.cycles <= 2e6, `${l.name}: ${l.cycles} cycles`);
  assert.ok(r.instructions < 20e6);
  // On bare hardware the cycle count is the instruction count: the guest is deterministic.
  assert.equal(r.serial, readFileSync(EXPECTED_SERIAL, "latin1"));
});

test("bare cycles per operation are what the benchmark code costs", () => {
  const n1 = 1000, n2 = 3000;
  const a = lines(run(`bench=all iters=${n1}`)), b = lines(run(`bench=all iters=${n2}`));
  for (const bench of BENCHMARKS) {
    const want = ASM_PER_OP[bench.name];
    assert.ok(want !== undefined, `no expected cost for ${bench.name}`);
    const x = a.get(bench.name), y = b.get(bench.name);
    assert.ok(x && y, `${bench.name} missing`);
    assert.equal(x.iters, n1);
    assert.equal(y.iters, n2);
    const perOp = (y.cycles - x.cycles) / (n2 - n1);
    assert.equal(perOp, Math.round(perOp), `${bench.name}: every operation costs the same`);
    const [lo, hi] = [want.asm + want.c[0], want.asm + want.c[1]];
    assert.ok(perOp >= lo && perOp <= hi, `${bench.name}: ${perOp} cycles/op, expected ${lo}..${hi}`);
    // What is left is the fixed cost around the loop (call, entering ring 3 and leaving it):
    const fixed = x.cycles - perOp * n1;
    assert.ok(fixed >= 0 && fixed <= 200, `${bench.name}: ${fixed} cycles outside the loop`);
  }
});

test("the default run's cycles agree with the costs per operation", () => {
  const out = lines(run("bench=all"));
  const small = lines(run("bench=all iters=1000"));
  for (const bench of BENCHMARKS) {
    const x = small.get(bench.name)!, y = out.get(bench.name)!;
    const perOp = (y.cycles - x.cycles) / (y.iters - x.iters);
    // The ring-0 loops in assembly: the whole benchmark is its loop.
    if (ASM_PER_OP[bench.name].c[1] === 0) assert.equal(perOp, ASM_PER_OP[bench.name].asm, bench.name);
    assert.ok(Math.abs(y.cycles / y.iters - perOp) < 0.01 * perOp, `${bench.name}: fixed costs are negligible at the default count`);
  }
});

test("bench=none sets everything up and measures nothing; a list picks benchmarks in the guest's order", () => {
  const none = run("bench=none");
  assert.deepEqual(none.end, { kind: "poweroff", status: PASS });
  const out = parseGuestOutput(none.serial);
  assert.equal(out.ready, true);
  assert.deepEqual(out.results, []);
  assert.ok(none.instructions < 50_000, `set-up takes ${none.instructions} instructions`);
  const two = parseGuestOutput(run("bench=ptemod,in iters=10").serial);
  assert.deepEqual(two.results.map((l) => l.name), ["in", "ptemod"]);
});

test("a bad command line or an impossible count fails loudly", () => {
  for (const cmd of ["bench=bogus", "bench=in iters=x", "bench=in iters=0"]) {
    const r = run(cmd);
    assert.deepEqual(r.end, { kind: "poweroff", status: FAIL }, cmd);
    assert.match(r.serial, /MB-FAIL command line/);
    assert.equal(parseGuestOutput(r.serial).end, "fail");
  }
  const odd = run("bench=cr3 iters=3");
  assert.deepEqual(odd.end, { kind: "poweroff", status: FAIL });
  assert.deepEqual(parseGuestOutput(odd.serial).failures, ["cr3: iters must be even (CR3 loads come in pairs)"]);
});
