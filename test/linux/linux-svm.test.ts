// Equivalence under hardware assist (issue 15, docs/svm.md): Debian's 686 kernel boots to the
// busybox shell under `--mode svm --cpu barcelona` (AMD-V with nested paging), runs a
// command and powers off, and its serial log, guest instruction count and final state hash
// are the bare machine's running the processor the guest sees (barcelona without SVM, nested
// paging or a local APIC). Both boots from scratch, side by side, through the command line.
// The same under `--mode svm --cpu athlon64-revf`, first-generation AMD-V without nested
// paging: the monitor shadows the guest's page tables (--paging shadow), against bare
// athlon64-revf without SVM or a local APIC.
// Needs the Linux guest: `npx vmm86 fetch linux` (the test fetches it if missing).

import { test } from "node:test";
import assert from "node:assert/strict";
import { statOf, sameAsBare } from "../support/cli-session.js";
import { cachedLinux, fetchLinux } from "../../src/guests/fetch-linux.js";

const stat = statOf;

test("Linux under --mode svm --cpu barcelona: the bare machine's serial log, instruction count and state hash", { timeout: 1_800_000 }, async () => {
  const g = cachedLinux() ?? (await fetchLinux({ log: () => {} }));
  const input = "uname -r\npoweroff -f\n";
  const { bare, run: svm } = await sameAsBare("linux", input, "barcelona,-apic,-svm,-npt", ["--mode", "svm", "--cpu", "barcelona"]);
  assert.ok(bare.stdout.includes(g.release), "the shell ran uname -r");
  // Nested paging: the guest's page faults never reach the monitor; its exits are I/O,
  // device memory, the timer and CPUID.
  assert.doesNotMatch(svm.stderr, /pf\.hidden|vmexit\.EXCP/);
  assert.ok(Number(stat(svm, /vmexit\.IOIO\s+(\d+)/)) > 1000);
  assert.ok(Number(stat(svm, /vmexit\.NPF\s+(\d+)/)) > 0);
  assert.ok(Number(stat(svm, /vmexit\.CPUID\s+(\d+)/)) > 0);
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
