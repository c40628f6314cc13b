// Equivalence under hardware assist (issue 15, docs/vmx.md): Debian's 686 kernel boots to the
// busybox shell under `--mode vtx --cpu nehalem` (VT-x with EPT), runs a command and powers
// off, and its serial log, guest instruction count and final state hash are the bare
// machine's running the processor the guest sees (nehalem without VMX, EPT or a local APIC);
// the boot from scratch, side by side, through the command line. (core-duo, the first VT-x,
// with shadow paging: test/long/hw-assist-shadow.long.ts.)
// Needs the Linux guest: `npx vmm86 fetch linux` (the test fetches it if missing).

import { test } from "node:test";
import assert from "node:assert/strict";
import { statOf, sameAsBare } from "../support/cli-session.js";
import { cachedLinux, fetchLinux } from "../../src/guests/fetch-linux.js";

const stat = statOf;

test("Linux under --mode vtx --cpu nehalem: the bare machine's serial log, instruction count and state hash", { timeout: 1_800_000 }, async () => {
  const g = cachedLinux() ?? (await fetchLinux({ log: () => {} }));
  const input = "uname -r\npoweroff -f\n";
  const { bare, run: vtx } = await sameAsBare("linux", input, "nehalem,-apic,-vmx,-ept,-vpid,-vmxPreemptionTimer", ["--mode", "vtx", "--cpu", "nehalem"]);
  assert.ok(bare.stdout.includes(g.release), "the shell ran uname -r");
  // EPT: the guest's page faults never reach the monitor; its exits are I/O, device memory,
  // the timer, CPUID, and the CR0 write that turns paging on (the identity directory ends).
  assert.doesNotMatch(vtx.stderr, /pf\.hidden|exit\.EXCEPTION_NMI|exit\.INVALID_GUEST_STATE/);
  assert.ok(Number(stat(vtx, /exit\.IO_INSTRUCTION\s+(\d+)/)) > 1000);
  assert.ok(Number(stat(vtx, /exit\.EPT_VIOLATION\s+(\d+)/)) > 0);
  assert.ok(Number(stat(vtx, /exit\.CPUID\s+(\d+)/)) > 0);
  assert.ok(Number(stat(vtx, /exit\.CR_ACCESS\s+(\d+)/)) > 0);
});

