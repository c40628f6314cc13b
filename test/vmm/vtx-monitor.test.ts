// The VT-x monitor (`--mode vtx`, docs/vmx.md) from the command line: the demo under it prints
// what it prints on the bare machine, with the same guest instruction count and the same
// final state hash, on the models with EPT (nehalem; westmere with unrestricted guest)
// against the bare machine running the processor the guest sees (the model without VMX or a
// local APIC). --stats shows the exits by the SDM's names; a model without VMX is refused
// before anything runs.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../support/paths.js";
import { realModeGuest, REAL_MODE_SERIAL } from "./real-mode-guest.js";
import { paeGuest, EXPECT } from "./pae-guest-image.js";

function vmm86(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, "bin", "vmm86.js"), ...args], { encoding: "latin1", timeout: 120_000, input: "" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The processor a --mode vtx guest sees: the model less VMX and what goes with it, and the local APIC. */
const guestCpu = (model: string): string => `${model},-apic,-vmx,-ept,-vpid,-unrestrictedGuest,-vmxPreemptionTimer`;

function summary(stderr: string): { instructions: string; hash: string } {
  const ins = /stats: (?:guest )?(\d+) instructions/.exec(stderr.replace(/stats: guest [^\n]*--mode[^\n]*\n/, ""));
  const hash = /state hash (sha256:[0-9a-f]+)/.exec(stderr);
  assert.ok(ins !== null && hash !== null, stderr);
  return { instructions: ins[1], hash: hash[1] };
}

for (const model of ["nehalem", "westmere"]) {
  test(`the demo under --mode vtx --cpu ${model}: the bare machine's serial bytes, instruction count and state hash`, () => {
    const bare = vmm86("run", "demo", "--cpu", guestCpu(model), "--stats");
    assert.equal(bare.status, 33, bare.stderr);
    for (const jit of ["on", "off"]) {
      const vtx = vmm86("run", "demo", "--mode", "vtx", "--cpu", model, "--stats", "--jit", jit);
      assert.equal(vtx.status, 33, vtx.stderr);
      assert.equal(vtx.stdout, bare.stdout, `--jit ${jit}: byte-identical serial output`);
      assert.deepEqual(summary(vtx.stderr), summary(bare.stderr), `--jit ${jit}: same guest instructions and state`);
      // Under EPT the guest's page faults are its own: the exits are I/O, the deadline
      // timer, and the CR0 write that turns paging on (the masks own CR0.PG on nehalem).
      assert.match(vtx.stderr, /exit\.IO_INSTRUCTION\s+\d+/);
      assert.match(vtx.stderr, /exit\.EXTERNAL_INTERRUPT\s+\d+/);
      assert.match(vtx.stderr, /irq\.injected\s+\d+/);
      assert.doesNotMatch(vtx.stderr, /exit\.EXCEPTION_NMI|exit\.INVALID_GUEST_STATE|pf\.hidden|E_MONITOR_BREACH/);
    }
  });
}

test("--mode vtx refuses a model without VMX, and EPT on a model without it, naming the ones to use", () => {
  for (const cpu of [[], ["--cpu", "barcelona"]]) {
    const r = vmm86("run", "demo", "--mode", "vtx", ...cpu);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /E_USAGE: --mode vtx needs a CPU model with VMX: --cpu core-duo or core2 \(shadow paging\), nehalem or westmere \(EPT\) \((pentium2|barcelona) has no VMX\)/);
  }
  const r = vmm86("run", "demo", "--mode", "vtx", "--cpu", "core-duo", "--paging", "nested");
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /E_USAGE: --paging nested needs a CPU model with EPT: --cpu nehalem or westmere \(core-duo has VMX without EPT; use --paging shadow\)/);
  assert.match(vmm86("run", "demo", "--mode", "vtx", "--cpu", "nehalem", "--protect", "segments").stderr, /--protect applies to --mode trap and bt/);
  assert.match(vmm86("run", "demo", "--mode", "bt", "--paging", "shadow").stderr, /--paging applies to --mode vtx and svm/);
});

test("the demo under --mode vtx with shadow paging (core-duo, and nehalem --paging shadow): the bare machine's run; #PF, CR3 and INVLPG exits", () => {
  for (const [model, extra] of [["core-duo", []], ["nehalem", ["--paging", "shadow"]]] as [string, string[]][]) {
    const bare = vmm86("run", "demo", "--cpu", guestCpu(model), "--stats");
    assert.equal(bare.status, 33, bare.stderr);
    const vtx = vmm86("run", "demo", "--mode", "vtx", "--cpu", model, ...extra, "--stats");
    assert.equal(vtx.status, 33, vtx.stderr);
    assert.equal(vtx.stdout, bare.stdout, model);
    assert.deepEqual(summary(vtx.stderr), summary(bare.stderr), model);
    assert.ok(Number(/pf\.hidden\s+(\d+)/.exec(vtx.stderr)?.[1]) > 0, `${model}: hidden faults filled the shadow`);
    assert.match(vtx.stderr, /pf\.true\s+1\n/, `${model}: the demo's one true #PF (pid 2's write to its read-only page) reached the guest`);
    assert.match(vtx.stderr, /exit\.EXCEPTION_NMI\s+\d+/);
    assert.match(vtx.stderr, /exit\.CR_ACCESS\s+\d+/);
    assert.doesNotMatch(vtx.stderr, /exit\.EPT_VIOLATION|E_MONITOR_BREACH/);
  }
});

/**
 * Run an image with --kernel under each of `argSets`, from one file (the multiboot command
 * line names it, and it is in the guest's memory: the state hashes compare only then).
 */
function runKernel(image: Uint8Array, ...argSets: string[][]): { status: number | null; stdout: string; stderr: string }[] {
  const dir = mkdtempSync(join(tmpdir(), "vmm86-vtx-"));
  try {
    const file = join(dir, "guest.bin");
    writeFileSync(file, image);
    return argSets.map((args) => vmm86("run", "--kernel", file, "--stats", ...args));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("real mode: interpreted on nehalem (no unrestricted guest), in guest mode on westmere; the bare machine's bytes and state either way", () => {
  const img = realModeGuest();
  for (const model of ["nehalem", "westmere"]) {
    const [bare, vtx] = runKernel(img, ["--cpu", guestCpu(model)], ["--mode", "vtx", "--cpu", model]);
    assert.equal(bare.status, 1, bare.stderr);
    assert.equal(bare.stdout, REAL_MODE_SERIAL);
    assert.equal(vtx.status, 1, vtx.stderr);
    assert.equal(vtx.stdout, REAL_MODE_SERIAL);
    assert.deepEqual(summary(vtx.stderr), summary(bare.stderr), model);
    if (model === "nehalem") {
      assert.ok(Number(/emulate\.real-mode\s+(\d+)/.exec(vtx.stderr)?.[1]) > 1000, "real mode ran on the vCPU");
      assert.match(vtx.stderr, /exit\.CR_ACCESS\s+1\n/, "the CR0 write that leaves protected mode exits (the mask owns PE)");
    } else {
      assert.doesNotMatch(vtx.stderr, /emulate\.real-mode|exit\.CR_ACCESS/, "unrestricted guest: PE is the guest's own");
    }
  }
});

test("a PAE guest under vtx --cpu nehalem: EPT under the guest's PAE tables (PDPTEs from the VMCS), the bare machine's bytes and state", () => {
  const img = paeGuest();
  const [bare, vtx] = runKernel(img, ["--cpu", guestCpu("nehalem")], ["--mode", "vtx", "--cpu", "nehalem"]);
  assert.equal(bare.status, 1, bare.stderr);
  assert.equal(vtx.status, 1, vtx.stderr);
  assert.equal(vtx.stdout, bare.stdout);
  assert.equal(vtx.stdout, EXPECT["core-duo"], "nehalem has NX: the XD fault is taken");
  assert.deepEqual(summary(vtx.stderr), summary(bare.stderr));
  assert.doesNotMatch(vtx.stderr, /exit\.EXCEPTION_NMI/, "the guest's page faults are its own");
});

test("snapshots cross the boundary: the demo saved under bare continues under vtx, and saved under vtx (shadow paging) continues under bare, byte for byte", () => {
  const golden = readFileSync(join(REPO_ROOT, "guests", "demo", "expected-serial.txt"), "latin1");
  const dir = mkdtempSync(join(tmpdir(), "vmm86-vtx-snap-"));
  try {
    for (const [model, first, second] of [["nehalem", [], ["--mode", "vtx"]], ["core-duo", ["--mode", "vtx"], []]] as [string, string[], string[]][]) {
      const file = join(dir, `${model}.snap`);
      const cpu = first.length === 0 ? guestCpu(model) : model;
      const a = vmm86("run", "demo", "--cpu", cpu, ...first, "--save-at", "1500000", file);
      assert.equal(a.status, 0, a.stderr);
      const b = vmm86("run", "--restore", file, ...(second.length === 0 ? [] : [...second, "--cpu", model]), "--stats");
      assert.equal(b.status, 33, b.stderr);
      assert.equal(a.stdout + b.stdout, golden, `${model}: ${first.join(" ") || "bare"} then ${second.join(" ") || "bare"}`);
      assert.match(b.stderr, /3224921 instructions/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
