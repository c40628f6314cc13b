// A long suite (`npm run test:long`, not part of `npm test`: two amd64 boots of about 1.3 G
// guest instructions each). A real hypervisor written elsewhere runs on the bare model (issue
// 15; docs/kvm-in-guest.md):
// Debian's amd64 kernel, booted bare, loads the kernel package's own kvm_amd (on `barcelona`,
// SVM with nested paging) and kvm_intel (on `westmere`, VMX with EPT and unrestricted guest),
// and guests/kvm-probe, a static program of ours, opens /dev/kvm, runs a few real-mode
// instructions in a VM and sees exactly the exits it expects: KVM_EXIT_IO out 'K', KVM_EXIT_IO
// out 'L', KVM_EXIT_HLT, then the guest's RIP, RAX and a byte it stored. The two boots run at
// once, one per worker thread.
// Needs the amd64 guest as `vmm86 fetch linux64` builds it now (with the KVM modules and the
// probe in its initramfs); the test fetches it if missing or older.

import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { inWorker } from "../linux/in-worker.js";
import { cachedLinux, fetchLinux, LINUX_AMD64, type LinuxImage } from "../../src/guests/fetch-linux.js";
import type { KvmSession } from "../linux/kvm-session.js";

const SESSION = fileURLToPath(new URL("../linux/kvm-session.js", import.meta.url));

test("Debian's kvm_amd (barcelona) and kvm_intel (westmere) load in a bare Linux guest, and a KVM user sees OUT, OUT, HLT", { timeout: 1_800_000 }, async () => {
  const guest: LinuxImage = cachedLinux(undefined, LINUX_AMD64) ?? (await fetchLinux({ guest: LINUX_AMD64, log: () => {} }));
  const sessions: KvmSession[] = [
    { guest, cpu: "barcelona", module: "kvm_amd" },
    { guest, cpu: "westmere", module: "kvm_intel" },
  ];
  const logs = await Promise.all(sessions.map((s) => inWorker<string>(SESSION, { kvmSession: s })));
  for (const [k, log] of logs.entries()) {
    const exits = [...log.matchAll(/kvm-probe: (exit \d+: .*?)\r\n/g)].map((m) => m[1]);
    assert.deepEqual(exits, [
      "exit 1: KVM_EXIT_IO out port 0x10 size 1 data 0x4b 'K'",
      "exit 2: KVM_EXIT_IO out port 0x10 size 1 data 0x4c 'L'",
      "exit 3: KVM_EXIT_HLT",
    ], `${sessions[k].cpu}: the exits`);
    assert.match(log, /kvm-probe: guest rip 0x100c rax 0x4c, byte at 0x500 0x4c\r\n/);
  }
  assert.match(logs[0], /SVM: kvm: Nested Paging enabled/);
});
