// A long suite (`npm run test:long`, not part of `npm test`): Debian amd64 to the shell under
// the hardware-assisted monitors with nested paging, each against the bare machine running the
// processor its guest sees — svm+NPT on barcelona (a long-mode host, 4-level nested tables)
// and vtx+EPT on nehalem (a 64-bit host, EPT under 4-level paging). About 0.6–0.8 G guest
// instructions per boot, two boots side by side per test.
// Needs the amd64 guest: `npx vmm86 fetch linux64` (fetched here if missing).

import { test } from "node:test";
import assert from "node:assert/strict";
import { statOf, sameAsBare } from "../support/cli-session.js";
import { cachedLinux, fetchLinux, LINUX_AMD64 } from "../../src/guests/fetch-linux.js";

const stat = statOf;

test("Linux amd64 under --mode svm --cpu barcelona (a long-mode host, 4-level nested tables): the bare machine's serial log, instruction count and state hash", { timeout: 1_800_000 }, async () => {
  const g = cachedLinux(undefined, LINUX_AMD64) ?? (await fetchLinux({ guest: LINUX_AMD64, log: () => {} }));
  const input = "uname -r\npoweroff -f\n";
  const { bare, run: svm } = await sameAsBare("linux64", input, "barcelona,-apic,-svm,-npt", ["--mode", "svm", "--cpu", "barcelona"]);
  assert.ok(bare.stdout.includes(g.release), "the shell ran uname -r");
  assert.equal(stat(svm, /host\.long-mode\s+(\d+)/), "1", "the host went to long mode once, for the guest's EFER.LME");
  assert.doesNotMatch(svm.stderr, /vmexit\.EXCP/);
});

test("Linux amd64 under --mode vtx --cpu nehalem (a 64-bit host, EPT under 4-level paging): the bare machine's serial log, instruction count and state hash", { timeout: 1_800_000 }, async () => {
  const g = cachedLinux(undefined, LINUX_AMD64) ?? (await fetchLinux({ guest: LINUX_AMD64, log: () => {} }));
  const input = "uname -r\npoweroff -f\n";
  const { bare, run: vtx } = await sameAsBare("linux64", input, "nehalem,-apic,-vmx,-ept,-vpid,-vmxPreemptionTimer", ["--mode", "vtx", "--cpu", "nehalem"]);
  assert.ok(bare.stdout.includes(g.release), "the shell ran uname -r");
  assert.doesNotMatch(vtx.stderr, /exit\.EXCEPTION_NMI|exit\.INVALID_GUEST_STATE/);
  assert.ok(Number(stat(vtx, /exit\.EPT_VIOLATION\s+(\d+)/)) > 0);
});

test("Linux amd64 under --mode vtx --cpu nehalem --paging shadow (4-level shadow tables, no EPT): the bare machine's serial log, instruction count and state hash", { timeout: 1_800_000 }, async () => {
  const g = cachedLinux(undefined, LINUX_AMD64) ?? (await fetchLinux({ guest: LINUX_AMD64, log: () => {} }));
  const input = "uname -r\npoweroff -f\n";
  const { bare, run: vtx } = await sameAsBare("linux64", input, "nehalem,-apic,-vmx,-ept,-vpid,-vmxPreemptionTimer", ["--mode", "vtx", "--cpu", "nehalem", "--paging", "shadow"]);
  assert.ok(bare.stdout.includes(g.release), "the shell ran uname -r");
  assert.doesNotMatch(vtx.stderr, /exit\.EPT_VIOLATION|exit\.INVALID_GUEST_STATE/);
  assert.ok(Number(stat(vtx, /pf\.hidden\s+(\d+)/)) > 1000, "the 4-level shadow was filled on hidden faults");
  assert.ok(Number(stat(vtx, /shadow\.pt-write\s+(\d+)/)) > 0, "writes to the guest's page tables were caught");
});

test("Linux amd64 under --mode svm --cpu athlon64-revf (shadow paging: 4-level shadow tables, a long-mode host): the bare machine's serial log, instruction count and state hash", { timeout: 1_800_000 }, async () => {
  const g = cachedLinux(undefined, LINUX_AMD64) ?? (await fetchLinux({ guest: LINUX_AMD64, log: () => {} }));
  const input = "uname -r\npoweroff -f\n";
  const { bare, run: svm } = await sameAsBare("linux64", input, "athlon64-revf,-apic,-svm", ["--mode", "svm", "--cpu", "athlon64-revf"]);
  assert.ok(bare.stdout.includes(g.release), "the shell ran uname -r");
  assert.equal(stat(svm, /host\.long-mode\s+(\d+)/), "1");
  assert.doesNotMatch(svm.stderr, /vmexit\.NPF/);
  assert.ok(Number(stat(svm, /pf\.hidden\s+(\d+)/)) > 1000, "the 4-level shadow was filled on hidden faults");
  assert.ok(Number(stat(svm, /shadow\.pt-write\s+(\d+)/)) > 0, "writes to the guest's page tables were caught");
});

test("Linux amd64 under --mode vtx --cpu core2 (Conroe's VT-x: no EPT, so 4-level shadow tables): the bare machine's serial log, instruction count and state hash", { timeout: 1_800_000 }, async () => {
  const g = cachedLinux(undefined, LINUX_AMD64) ?? (await fetchLinux({ guest: LINUX_AMD64, log: () => {} }));
  const input = "uname -r\npoweroff -f\n";
  const { bare, run: vtx } = await sameAsBare("linux64", input, "core2,-apic,-vmx", ["--mode", "vtx", "--cpu", "core2"]);
  assert.ok(bare.stdout.includes(g.release), "the shell ran uname -r");
  assert.doesNotMatch(vtx.stderr, /exit\.EPT_VIOLATION|exit\.INVALID_GUEST_STATE/);
  assert.ok(Number(stat(vtx, /pf\.hidden\s+(\d+)/)) > 1000, "the 4-level shadow was filled on hidden faults");
});
