// One session with Debian's amd64 guest over ttyS0 (linux64-shell.test.ts): boot on the given
// CPU model, answer at the prompt, power off. Runs in the test's thread or in a worker thread
// (the test boots twice at once, one boot per core), and returns the whole serial log.

import assert from "node:assert/strict";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { GuestConsole } from "./guest-console.js";
import { READY_MARKER, type LinuxImage } from "../../src/guests/fetch-linux.js";

const PROMPT = " # ";

export interface Session64 { guest: LinuxImage; cpu: string }

export function session64({ guest, cpu }: Session64): string {
  const c = new GuestConsole({ ...guest, direct: true, amd64: true, cpu });
  let at = c.expect(READY_MARKER, 0, 8e9);
  at = c.expect(PROMPT, at);
  const run = (cmd: string, expectOut: RegExp): void => {
    const r = c.command(cmd, at, PROMPT, 4e8);
    at = r.at;
    assert.match(r.out, expectOut, `${cmd} printed:\n${r.out}`);
  };
  run("uname -m", /^x86_64\r\n/);
  run("uname -r", new RegExp("^" + guest.release.replace(/\./g, "\\.") + "\\r\\n"));
  run("cat /proc/cpuinfo", /flags\s+: fpu[^\n]*\blm\b/);
  run("grep -c sse2 /proc/cpuinfo", /^1\r\n/);
  run("i=0;s=0;while [ $i -lt 10 ];do s=$((s+i*i));i=$((i+1));done;echo sum=$s", /sum=285\r\n/);
  c.type("poweroff -f");
  assert.equal(c.runToEnd(), "powered off, status 0");
  assert.match(c.output, /reboot: Power down/);
  return c.output;
}

if (!isMainThread && (workerData as { session64?: Session64 } | null)?.session64) {
  parentPort!.postMessage(session64((workerData as { session64: Session64 }).session64));
}
