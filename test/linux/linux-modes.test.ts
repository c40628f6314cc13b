// Equivalence (DESIGN.md §2): the Linux shell session of linux-shell.test.ts under the
// classic monitor — binary translation on the standard CPU, and trap-and-emulate on the
// strict CPU — gives a serial log byte-identical to the bare machine's, with the loader's
// reservetop= hint and (for bt) without it. The monitor's resource control holds after
// each run.
//
// Boots from scratch here: trap (with reservetop=) and bt (without it); linux-shell.test.ts
// boots bare. The other sessions continue a bare boot to the shell prompt, saved once and
// cached (shell-snapshot.ts, docs/snapshot.md): the same bytes as a boot, without its minute.
// Needs the Linux guest: `npx vmm86 fetch linux` (the test fetches it if missing).

import { test } from "node:test";
import assert from "node:assert/strict";
import { GuestConsole } from "./guest-console.js";
import { cachedLinux, fetchLinux, LINUX_CMDLINE, READY_MARKER } from "../../src/guests/fetch-linux.js";
import { RESERVETOP } from "../../src/cli/run.js";
import { Monitor } from "../../src/vmm/monitor.js";
import { shellAtPrompt } from "./shell-snapshot.js";

const PROMPT = " # ";
/** As in linux-shell.test.ts: the default command line without the crypto self-tests. */
const TEST_CMDLINE = LINUX_CMDLINE;

async function guest(): Promise<{ bzImage: string; initramfs: string; release: string }> {
  return cachedLinux() ?? (await fetchLinux({ log: () => {} }));
}

/** A shorter session than linux-shell's: enough to exercise the kernel, the shell and poweroff. */
function session(c: GuestConsole, release: string): void {
  let at = c.expect(READY_MARKER, 0);
  at = c.expect(PROMPT, at);
  const run = (cmd: string, expectOut: RegExp): void => {
    const r = c.command(cmd, at, PROMPT);
    at = r.at;
    assert.match(r.out, expectOut, cmd);
  };
  run("uname -r", new RegExp("^" + release.replace(/\./g, "\\.") + "\\r\\n"));
  run("i=0;s=0;while [ $i -lt 10 ];do s=$((s+i*i));i=$((i+1));done;echo sum=$s", /sum=285\r\n/);
  run("ls /proc | head -n 3; cat /proc/meminfo | head -n 1", /MemTotal:/);
  run("dmesg | tail -n 2", /\[\s*\d+\.\d+\] /);
  c.type("poweroff -f");
  assert.equal(c.runToEnd(), "powered off, status 0");
}

function integrityHolds(c: GuestConsole): void {
  const mon = c.pc as Monitor;
  const i = mon.integrity();
  assert.equal(i.monitorIntact, true, i.detail);
  assert.equal(i.guestRanAtCpl0, false, i.detail);
}

test("Linux under bt and under trap --cpu strict: serial logs byte-identical to bare (with reservetop=)", { timeout: 1_800_000 }, async () => {
  const g = await guest();
  const cmdline = `${TEST_CMDLINE} reservetop=${RESERVETOP}`;
  const { saved } = shellAtPrompt(g, cmdline, PROMPT);
  const bare = new GuestConsole({ ...g, cmdline, direct: true, from: saved });
  session(bare, g.release);
  // bt continues the bare boot's snapshot: the monitor's state is built from the guest's.
  const bt = new GuestConsole({ ...g, cmdline, direct: true, mode: "bt", from: saved });
  session(bt, g.release);
  assert.equal(bt.output, bare.output, "bt: the same serial log as bare");
  integrityHolds(bt);
  const counters = (bt.pc as Monitor).stats();
  assert.ok(counters["bt.translate"] > 1000, "the kernel ran translated");
  const trap = new GuestConsole({ ...g, cmdline, direct: true, mode: "trap", cpu: "strict" });
  session(trap, g.release);
  assert.equal(trap.output, bare.output, "trap --cpu strict: the same serial log as bare");
  integrityHolds(trap);
});

test("Linux under bt without reservetop= (fixmap accesses in the monitor region are emulated): identical to bare", { timeout: 1_800_000 }, async () => {
  const g = await guest();
  const bare = new GuestConsole({ ...g, cmdline: TEST_CMDLINE, direct: true, from: shellAtPrompt(g, TEST_CMDLINE, PROMPT).saved });
  session(bare, g.release);
  const bt = new GuestConsole({ ...g, cmdline: TEST_CMDLINE, direct: true, mode: "bt" });
  session(bt, g.release);
  assert.equal(bt.output, bare.output);
  integrityHolds(bt);
});
