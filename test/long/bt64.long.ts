// A long suite (`npm run test:long`, not part of `npm test`): Debian amd64 to the shell under
// the long-mode classic monitor (docs/long-mode-monitor.md), each against the bare machine
// running the processor its guest sees (the classic monitor gives its guest no local APIC):
// --protect segments on athlon64-reve (EFER.LMSLE) and --protect two-tables on core2 (no
// segment limits in 64-bit mode: the Xen/x86-64 design). About 0.67 G guest instructions per
// boot; the monitor's side is the slow one (every guest kernel RET, GS-relative access and
// privileged instruction is a callout). The state hashes differ in one way, by design: guest
// user code runs natively, and CPUID at CPL 3 cannot be intercepted on these parts (no CPUID
// faulting), so the C library in each user process records the host's CPUID.1:EDX, whose
// APIC bit the bare machine without an APIC does not have (three words of RAM, one per
// process). The serial log and the guest instruction count are the bare machine's.
// Needs the amd64 guest: `npx vmm86 fetch linux64` (fetched here if missing).

import { test } from "node:test";
import assert from "node:assert/strict";
import { statOf, sameAsBare } from "../support/cli-session.js";
import { cachedLinux, fetchLinux, LINUX_AMD64 } from "../../src/guests/fetch-linux.js";

const stat = (r: Parameters<typeof statOf>[0], re: RegExp): number => Number(statOf(r, re));

test("Linux amd64 under --mode bt --protect segments --cpu athlon64-reve (LMSLE): the bare machine's serial log and instruction count", { timeout: 3_600_000 }, async () => {
  const g = cachedLinux(undefined, LINUX_AMD64) ?? (await fetchLinux({ guest: LINUX_AMD64, log: () => {} }));
  const { bare, run } = await sameAsBare("linux64", "uname -r\npoweroff -f\n", "athlon64-reve,-apic", ["--mode", "bt", "--cpu", "athlon64-reve", "--protect", "segments"], { sameHash: false });
  assert.ok(bare.stdout.includes(g.release), "the shell ran uname -r");
  assert.equal(stat(run, /world\.to-long-mode\s+(\d+)/), 1);
  assert.ok(stat(run, /bt\.ret-fast\s+(\d+)/) > 1_000_000, "guest kernel RETs returned on the fast path");
  assert.ok(stat(run, /emulate\.mov\s+(\d+)/) > 100_000, "GS-relative accesses were callouts (LMSLE never checks GS)");
});

test("Linux amd64 under --mode bt --protect two-tables --cpu core2 (guest kernel and user at ring 3, two shadow sets): the bare machine's serial log and instruction count", { timeout: 3_600_000 }, async () => {
  const g = cachedLinux(undefined, LINUX_AMD64) ?? (await fetchLinux({ guest: LINUX_AMD64, log: () => {} }));
  const { bare, run } = await sameAsBare("linux64", "uname -r\npoweroff -f\n", "core2,-apic", ["--mode", "bt", "--cpu", "core2", "--protect", "two-tables"], { sameHash: false });
  assert.ok(bare.stdout.includes(g.release), "the shell ran uname -r");
  const toUser = stat(run, /shadow\.to-user-set\s+(\d+)/), toKernel = stat(run, /shadow\.to-kernel-set\s+(\d+)/);
  assert.ok(toUser > 100, "the machine went to the user set for guest user code");
  assert.ok(Math.abs(toKernel - toUser) <= 1, "every switch to one set is followed by one back");
});
