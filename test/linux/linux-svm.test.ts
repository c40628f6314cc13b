// Equivalence under hardware assist (issue 15, docs/svm.md): Debian's 686 kernel boots to the
// busybox shell under `--mode svm --cpu barcelona` (AMD-V with nested paging), runs a
// command and powers off, and its serial log, guest instruction count and final state hash
// are the bare machine's running the processor the guest sees (barcelona without SVM, nested
// paging or a local APIC). Both boots from scratch, side by side, through the command line.
// (athlon64-revf, first-generation AMD-V without nested paging, where the monitor shadows the
// guest's page tables: test/long/hw-assist-shadow.long.ts.)
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
