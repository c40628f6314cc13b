// One KVM-in-the-guest session (kvm-in-guest.test.ts, docs/kvm-in-guest.md): Debian's amd64
// kernel boots bare on a CPU model with SVM or VMX, loads its own kvm_amd or kvm_intel with
// busybox modprobe, and runs /bin/kvm-probe (guests/kvm-probe), a KVM user that runs five
// real-mode instructions in a VM of its own. Runs in a worker thread (the test runs the AMD and
// the Intel session at once, one per core) and returns the whole serial log.

import assert from "node:assert/strict";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { GuestConsole } from "./guest-console.js";
import { READY_MARKER, type LinuxImage } from "../../src/guests/fetch-linux.js";

const PROMPT = " # ";

export interface KvmSession { guest: LinuxImage; cpu: string; module: "kvm_amd" | "kvm_intel" }

export function kvmSession({ guest, cpu, module }: KvmSession): string {
  const c = new GuestConsole({ ...guest, direct: true, amd64: true, cpu });
  let at = c.expect(READY_MARKER, 0, 8e9);
  at = c.expect(PROMPT, at);
  const run = (cmd: string, expectOut: RegExp, max = 4e8): string => {
    const r = c.command(cmd, at, PROMPT, max);
    at = r.at;
    assert.match(r.out, expectOut, `${cmd} printed:\n${r.out}\n--- the whole log:\n${c.output}`);
    return r.out;
  };
  // The kernel prints KVM's messages on the console between the command and its output.
  run(`modprobe ${module} && echo loaded`, /(^|\n)loaded\r\n/, 1.5e9);
  run("ls /dev/kvm", /(^|\n)\/dev\/kvm\r\n/);
  run("kvm-probe", /kvm-probe: PASS\r\n/, 1e9);
  c.type("poweroff -f");
  assert.equal(c.runToEnd(), "powered off, status 0");
  return c.output;
}

if (!isMainThread && (workerData as { kvmSession?: KvmSession } | null)?.kvmSession) {
  parentPort!.postMessage(kvmSession((workerData as { kvmSession: KvmSession }).kvmSession));
}
