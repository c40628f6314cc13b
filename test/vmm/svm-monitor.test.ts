// The SVM monitor (`--mode svm`, docs/svm.md) from the command line: the demo under it prints
// what it prints on the bare machine, with the same guest instruction count and the same
// final state hash, on the model it needs (barcelona: SVM with nested paging) against the
// bare machine running the processor the guest sees (barcelona without SVM, nested paging or
// a local APIC). --stats shows the exits by the APM's names. On athlon64-revf (SVM without
// nested paging) the monitor shadows the guest's page tables (--paging shadow, the default
// there) and the demo again matches bare athlon64-revf. A model without SVM, or nested
// paging asked of a model without it, is refused before anything runs.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../support/paths.js";
import { realModeGuest, REAL_MODE_SERIAL } from "./real-mode-guest.js";

function vmm86(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, "bin", "vmm86.js"), ...args], { encoding: "latin1", timeout: 120_000, input: "" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const GUEST_CPU = "barcelona,-apic,-svm,-npt";

function summary(stderr: string): { instructions: string; hash: string } {
  const ins = /stats: (?:guest )?(\d+) instructions/.exec(stderr.replace(/stats: guest [^\n]*--mode[^\n]*\n/, ""));
  const hash = /state hash (sha256:[0-9a-f]+)/.exec(stderr);
  assert.ok(ins !== null && hash !== null, stderr);
  return { instructions: ins[1], hash: hash[1] };
}

test("the demo under --mode svm --cpu barcelona: the bare machine's serial bytes, instruction count and state hash", () => {
  const bare = vmm86("run", "demo", "--cpu", GUEST_CPU, "--stats");
  assert.equal(bare.status, 33, bare.stderr);
  for (const jit of ["on", "off"]) {
    const svm = vmm86("run", "demo", "--mode", "svm", "--cpu", "barcelona", "--stats", "--jit", jit);
    assert.equal(svm.status, 33, svm.stderr);
    assert.equal(svm.stdout, bare.stdout, `--jit ${jit}: byte-identical serial output`);
    assert.deepEqual(summary(svm.stderr), summary(bare.stderr), `--jit ${jit}: same guest instructions and state`);
    // The exits a guest under nested paging takes: I/O and the deadline timer, no page faults.
    assert.match(svm.stderr, /vmexit\.IOIO\s+\d+/);
    assert.match(svm.stderr, /vmexit\.INTR\s+\d+/);
    assert.match(svm.stderr, /irq\.injected\s+\d+/);
    assert.doesNotMatch(svm.stderr, /vmexit\.NPF|pf\.hidden|E_MONITOR_BREACH/);
  }
});

test("shadow paging: the demo under --mode svm --cpu athlon64-revf (and barcelona --paging shadow) matches bare", () => {
  for (const [cpu, guestCpu] of [["athlon64-revf", "athlon64-revf,-apic,-svm"], ["barcelona", GUEST_CPU]]) {
    const bare = vmm86("run", "demo", "--cpu", guestCpu, "--stats");
    assert.equal(bare.status, 33, bare.stderr);
    for (const jit of ["on", "off"]) {
      const svm = vmm86("run", "demo", "--mode", "svm", "--cpu", cpu, "--paging", "shadow", "--stats", "--jit", jit);
      assert.equal(svm.status, 33, svm.stderr);
      assert.equal(svm.stdout, bare.stdout, `${cpu} --jit ${jit}: byte-identical serial output`);
      assert.deepEqual(summary(svm.stderr), summary(bare.stderr), `${cpu} --jit ${jit}: same guest instructions and state`);
      // The guest's page faults and CR3 loads now reach the monitor; the shadow fills.
      assert.match(svm.stderr, /vmexit\.EXCP14\s+\d+/);
      assert.match(svm.stderr, /vmexit\.CR3_WRITE\s+\d+/);
      assert.match(svm.stderr, /pf\.hidden\s+\d+/);
      assert.match(svm.stderr, /shadow\.fill-read\s+\d+/);
      assert.doesNotMatch(svm.stderr, /vmexit\.NPF|E_MONITOR_BREACH/);
    }
  }
});

test("--mode svm refuses a model without SVM, and nested paging on a model without it, naming the one to use", () => {
  for (const [cpu, why] of [[[], /pentium2 has no SVM/], [["--cpu", "core2"], /core2 has no SVM/]] as [string[], RegExp][]) {
    const r = vmm86("run", "demo", "--mode", "svm", ...cpu);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /E_USAGE: --mode svm needs a CPU model with SVM: --cpu athlon64-revf \(shadow paging\) or barcelona \(nested paging\)/);
    assert.match(r.stderr, why);
  }
  const r = vmm86("run", "demo", "--mode", "svm", "--cpu", "athlon64-revf", "--paging", "nested");
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /E_USAGE: --paging nested needs a CPU model with nested paging: --cpu barcelona \(athlon64-revf has SVM without nested paging; use --paging shadow\)/);
  assert.match(vmm86("run", "demo", "--mode", "svm", "--paging", "sideways", "--cpu", "barcelona").stderr, /E_USAGE: --paging must be 'shadow' or 'nested'/);
  assert.match(vmm86("run", "demo", "--mode", "bt", "--paging", "shadow").stderr, /E_USAGE: --paging applies to --mode vtx and svm/);
  assert.match(vmm86("run", "demo", "--mode", "svm", "--cpu", "barcelona", "--protect", "segments").stderr, /--protect applies to --mode trap and bt/);
});

test("real mode runs in SVM guest mode under nested paging (the seed's point): the bare machine's bytes, count and state", () => {
  const dir = mkdtempSync(join(tmpdir(), "vmm86-svm-rm-"));
  try {
    const file = join(dir, "guest.bin");
    writeFileSync(file, realModeGuest());
    const bare = vmm86("run", "--kernel", file, "--cpu", GUEST_CPU, "--stats");
    const svm = vmm86("run", "--kernel", file, "--mode", "svm", "--cpu", "barcelona", "--stats");
    assert.equal(bare.status, 1, bare.stderr);
    assert.equal(svm.status, 1, svm.stderr);
    assert.equal(svm.stdout, REAL_MODE_SERIAL);
    assert.deepEqual(summary(svm.stderr), summary(bare.stderr));
    assert.doesNotMatch(svm.stderr, /emulate\.real-mode/, "nothing interpreted: the guest ran real mode in guest mode");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
