// A long suite (`npm run test:long`, not part of `npm test`): Debian amd64 to the shell under
// the hardware-assisted monitors with nested paging, each against the bare machine running the
// processor its guest sees — svm+NPT on barcelona (a long-mode host, 4-level nested tables)
// and vtx+EPT on nehalem (a 64-bit host, EPT under 4-level paging). About 0.6–0.8 G guest
// instructions per boot, two boots side by side per test.
// Needs the amd64 guest: `npx vmm86 fetch linux64` (fetched here if missing).

import { test } from "node:test";
import assert from "node:assert/strict";
import { vmm86Session, statOf } from "../support/cli-session.js";
import { cachedLinux, fetchLinux, LINUX_AMD64 } from "../../src/guests/fetch-linux.js";

const vmm86 = vmm86Session;
const stat = statOf;

test("Linux amd64 under --mode svm --cpu barcelona (a long-mode host, 4-level nested tables): the bare machine's serial log, instruction count and state hash", { timeout: 1_800_000 }, async () => {
  const g = cachedLinux(undefined, LINUX_AMD64) ?? (await fetchLinux({ guest: LINUX_AMD64, log: () => {} }));
  const input = "uname -r\npoweroff -f\n";
  const [bare, svm] = await Promise.all([
    vmm86(input, "run", "linux64", "--cpu", "barcelona,-apic,-svm,-npt", "--stats", "--timeout", "1500"),
    vmm86(input, "run", "linux64", "--mode", "svm", "--cpu", "barcelona", "--stats", "--timeout", "1500"),
  ]);
  assert.equal(bare.status, 0, bare.stderr);
  assert.equal(svm.status, 0, svm.stderr);
  assert.ok(bare.stdout.includes(g.release), "the shell ran uname -r");
  assert.equal(svm.stdout, bare.stdout, "the same serial log");
  assert.equal(stat(svm, /stats: guest (\d+) instructions/), stat(bare, /stats: (\d+) instructions in/));
  assert.equal(stat(svm, /state hash (sha256:[0-9a-f]+)/), stat(bare, /state hash (sha256:[0-9a-f]+)/));
  assert.equal(stat(svm, /host\.long-mode\s+(\d+)/), "1", "the host went to long mode once, for the guest's EFER.LME");
  assert.doesNotMatch(svm.stderr, /vmexit\.EXCP/);
});

test("Linux amd64 under --mode vtx --cpu nehalem (a 64-bit host, EPT under 4-level paging): the bare machine's serial log, instruction count and state hash", { timeout: 1_800_000 }, async () => {
  const g = cachedLinux(undefined, LINUX_AMD64) ?? (await fetchLinux({ guest: LINUX_AMD64, log: () => {} }));
  const input = "uname -r\npoweroff -f\n";
  const [bare, vtx] = await Promise.all([
    vmm86(input, "run", "linux64", "--cpu", "nehalem,-apic,-vmx,-ept,-vpid,-vmxPreemptionTimer", "--stats", "--timeout", "1500"),
    vmm86(input, "run", "linux64", "--mode", "vtx", "--cpu", "nehalem", "--stats", "--timeout", "1500"),
  ]);
  assert.equal(bare.status, 0, bare.stderr);
  assert.equal(vtx.status, 0, vtx.stderr);
  assert.ok(bare.stdout.includes(g.release), "the shell ran uname -r");
  assert.equal(vtx.stdout, bare.stdout, "the same serial log");
  assert.equal(stat(vtx, /stats: guest (\d+) instructions/), stat(bare, /stats: (\d+) instructions in/));
  assert.equal(stat(vtx, /state hash (sha256:[0-9a-f]+)/), stat(bare, /state hash (sha256:[0-9a-f]+)/));
  assert.doesNotMatch(vtx.stderr, /exit\.EXCEPTION_NMI|exit\.INVALID_GUEST_STATE/);
  assert.ok(Number(stat(vtx, /exit\.EPT_VIOLATION\s+(\d+)/)) > 0);
});
