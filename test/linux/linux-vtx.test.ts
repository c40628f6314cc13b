// Equivalence under hardware assist (issue 15, docs/vmx.md): Debian's 686 kernel boots to the
// busybox shell under `--mode vtx --cpu nehalem` (VT-x with EPT), runs a command and powers
// off, and its serial log, guest instruction count and final state hash are the bare
// machine's running the processor the guest sees (nehalem without VMX, EPT or a local APIC);
// the same on core-duo, the first VT-x, with shadow paging. Both boots from scratch, side by
// side, through the command line.
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
