// Equivalence under hardware assist (issue 15, docs/vmx.md): Debian's 686 kernel boots to the
// busybox shell under `--mode vtx --cpu nehalem` (VT-x with EPT), runs a command and powers
// off, and its serial log, guest instruction count and final state hash are the bare
// machine's running the processor the guest sees (nehalem without VMX, EPT or a local APIC);
// the same on core-duo, the first VT-x, with shadow paging. Both boots from scratch, side by
// side, through the command line.
// Needs the Linux guest: `npx vmm86 fetch linux` (the test fetches it if missing).

import { test } from "node:test";
import assert from "node:assert/strict";
import { vmm86Session, statOf } from "../support/cli-session.js";
import { cachedLinux, fetchLinux } from "../../src/guests/fetch-linux.js";

const vmm86 = vmm86Session;
const stat = statOf;

test("Linux under --mode vtx --cpu nehalem: the bare machine's serial log, instruction count and state hash", { timeout: 1_800_000 }, async () => {
  const g = cachedLinux() ?? (await fetchLinux({ log: () => {} }));
  const input = "uname -r\npoweroff -f\n";
  const [bare, vtx] = await Promise.all([
    vmm86(input, "run", "linux", "--cpu", "nehalem,-apic,-vmx,-ept,-vpid,-vmxPreemptionTimer", "--stats", "--timeout", "1500"),
    vmm86(input, "run", "linux", "--mode", "vtx", "--cpu", "nehalem", "--stats", "--timeout", "1500"),
  ]);
  assert.equal(bare.status, 0, bare.stderr);
  assert.equal(vtx.status, 0, vtx.stderr);
  assert.ok(bare.stdout.includes(g.release), "the shell ran uname -r");
  assert.equal(vtx.stdout, bare.stdout, "the same serial log");
  assert.equal(stat(vtx, /stats: guest (\d+) instructions/), stat(bare, /stats: (\d+) instructions in/));
  assert.equal(stat(vtx, /state hash (sha256:[0-9a-f]+)/), stat(bare, /state hash (sha256:[0-9a-f]+)/));
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
  const [bare, vtx] = await Promise.all([
    vmm86(input, "run", "linux", "--cpu", "core-duo,-apic,-vmx", "--stats", "--timeout", "1500"),
    vmm86(input, "run", "linux", "--mode", "vtx", "--cpu", "core-duo", "--stats", "--timeout", "1500"),
  ]);
  assert.equal(bare.status, 0, bare.stderr);
  assert.equal(vtx.status, 0, vtx.stderr);
  assert.ok(bare.stdout.includes(g.release), "the shell ran uname -r");
  assert.equal(vtx.stdout, bare.stdout, "the same serial log");
  assert.equal(stat(vtx, /stats: guest (\d+) instructions/), stat(bare, /stats: (\d+) instructions in/));
  assert.equal(stat(vtx, /state hash (sha256:[0-9a-f]+)/), stat(bare, /state hash (sha256:[0-9a-f]+)/));
  // The first VT-x generation's cost: every guest page fault, CR3 load and INVLPG exits.
  assert.ok(Number(stat(vtx, /pf\.hidden\s+(\d+)/)) > 1000);
  assert.ok(Number(stat(vtx, /exit\.EXCEPTION_NMI\s+(\d+)/)) > 1000);
  assert.ok(Number(stat(vtx, /exit\.CR_ACCESS\s+(\d+)/)) > 100);
  assert.doesNotMatch(vtx.stderr, /exit\.EPT_VIOLATION/);
});
