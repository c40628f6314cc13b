// A long suite (`npm run test:long`, not part of `npm test`): Debian's 686 kernel under the
// first generation of each hardware assist, which had no second-level translation, so the
// monitor shadows the guest's page tables: `--mode vtx --cpu core-duo` (VT-x without EPT) and
// `--mode svm --cpu athlon64-revf` (AMD-V without nested paging). Each boots from scratch to
// the shell, runs a command and powers off; its serial log, guest instruction count and
// final state hash must be the bare machine's running the processor the guest sees. `npm
// test` boots the EPT and nested-paging parts from scratch (linux-vtx, linux-svm) and tests
// the shadow paths on the project's own guests (test/vmm).
// Needs the Linux guest: `npx vmm86 fetch linux` (fetched here if missing).

import { test } from "node:test";
import assert from "node:assert/strict";
import { statOf as stat, sameAsBare } from "../support/cli-session.js";
import { cachedLinux, fetchLinux } from "../../src/guests/fetch-linux.js";

test("Linux under --mode vtx --cpu core-duo (VT-x without EPT: shadow paging): the bare machine's serial log, instruction count and state hash", { timeout: 1_800_000 }, async () => {
  const g = cachedLinux() ?? (await fetchLinux({ log: () => {} }));
  const input = "uname -r\npoweroff -f\n";
  const { bare, run: vtx } = await sameAsBare("linux", input, "core-duo,-apic,-vmx", ["--mode", "vtx", "--cpu", "core-duo"]);
  assert.ok(bare.stdout.includes(g.release), "the shell ran uname -r");
  // The first VT-x generation's cost: every guest page fault, CR3 load and INVLPG exits.
  assert.ok(Number(stat(vtx, /pf\.hidden\s+(\d+)/)) > 1000);
  assert.ok(Number(stat(vtx, /exit\.EXCEPTION_NMI\s+(\d+)/)) > 1000);
  assert.ok(Number(stat(vtx, /exit\.CR_ACCESS\s+(\d+)/)) > 100);
  assert.doesNotMatch(vtx.stderr, /exit\.EPT_VIOLATION/);
});

test("Linux under --mode svm --cpu athlon64-revf (shadow paging): the bare machine's serial log, instruction count and state hash", { timeout: 1_800_000 }, async () => {
  const g = cachedLinux() ?? (await fetchLinux({ log: () => {} }));
  const input = "uname -r\npoweroff -f\n";
  const { bare, run: svm } = await sameAsBare("linux", input, "athlon64-revf,-apic,-svm", ["--mode", "svm", "--cpu", "athlon64-revf"]);
  assert.ok(bare.stdout.includes(g.release), "the shell ran uname -r");
  // Shadow paging: the guest's page faults, CR3 loads and INVLPGs reach the monitor; most
  // faults are hidden ones or page-table writes, a few are the guest's own.
  assert.doesNotMatch(svm.stderr, /vmexit\.NPF/);
  for (const name of ["vmexit\\.EXCP14", "vmexit\\.CR3_WRITE", "vmexit\\.INVLPG", "pf\\.hidden", "pf\\.true", "shadow\\.pt-write"]) {
    assert.ok(Number(stat(svm, new RegExp(`${name}\\s+(\\d+)`))) > 0, name);
  }
});
