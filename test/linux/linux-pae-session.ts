// One session with Debian's 686-pae guest over ttyS0 (linux-pae.test.ts): boot in a mode
// (bare, bt, trap on a CPU spec), answer at the prompt, power off. Runs in the test's thread
// or in a worker thread (the test boots two modes at once, one per core), and returns the
// serial log with the monitor's integrity verdict and counters.

import assert from "node:assert/strict";
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { GuestConsole } from "./guest-console.js";
import { READY_MARKER, type LinuxImage } from "../../src/guests/fetch-linux.js";
import { Monitor } from "../../src/vmm/monitor.js";

const PROMPT = " # ";

export interface SessionPae { guest: LinuxImage; cmdline: string; mode: "bare" | "bt" | "trap"; cpu: string }

export interface SessionPaeResult {
  output: string;
  /** Under the monitor: its resource-control verdict and its counters. */
  integrity: { monitorIntact: boolean; guestRanAtCpl0: boolean; detail: string } | null;
  counters: Record<string, number>;
}

export function sessionPae({ guest, cmdline, mode, cpu }: SessionPae): SessionPaeResult {
  const c = new GuestConsole({ ...guest, cmdline, direct: true, mode, cpu });
  let at = c.expect(READY_MARKER, 0);
  at = c.expect(PROMPT, at);
  const run = (cmd: string, expectOut: RegExp): void => {
    const r = c.command(cmd, at, PROMPT, 4e8);
    at = r.at;
    assert.match(r.out, expectOut, `${mode}: ${cmd} printed:\n${r.out}`);
  };
  run("uname -r", new RegExp("^" + guest.release.replace(/\./g, "\\.") + "\\r\\n"));
  run("grep -o -w pae /proc/cpuinfo", /^pae\r\n/);
  // Processes: each subshell is a fork, a new address space (a new PDPT), an exit.
  run("for i in 1 2 3 4 5 6 7 8; do (echo $((i*i))); done | tr '\\n' ' '", /^1 4 9 16 25 36 49 64 /);
  run("cat /proc/meminfo | head -n 1", /MemTotal:/);
  c.type("poweroff -f");
  assert.equal(c.runToEnd(), "powered off, status 0", mode);
  const mon = c.pc instanceof Monitor ? c.pc : null;
  return { output: c.output, integrity: mon?.integrity() ?? null, counters: mon?.stats() ?? {} };
}

if (!isMainThread && (workerData as { sessionPae?: SessionPae } | null)?.sessionPae) {
  parentPort!.postMessage(sessionPae((workerData as { sessionPae: SessionPae }).sessionPae));
}
