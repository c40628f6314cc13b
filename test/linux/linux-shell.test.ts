// Debian's 686 kernel boots to the busybox shell on vmm86's PC — entered directly and
// through the bzImage's own decompressor — and a session over the serial console gets the
// answers a Linux shell gives; two boots produce byte-identical serial logs.
// Needs the Linux guest: `npx vmm86 fetch linux` (the test fetches it if missing).

import { test } from "node:test";
import assert from "node:assert/strict";
import { GuestConsole } from "./guest-console.js";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { cachedLinux, fetchLinux, DEFAULT_CMDLINE, READY_MARKER } from "../../src/guests/fetch-linux.js";
import { REPO_ROOT } from "../support/paths.js";

/**
 * The kernel command line: console=ttyS0 (DEFAULT_CMDLINE, all the platform needs) plus
 * cryptomgr.notests, which skips the boot-time crypto self-tests: 3 G guest instructions
 * (minutes in the interpreter) that test the kernel, not the machine. The CLI test below
 * boots with the default command line alone, self-tests included.
 */
export const TEST_CMDLINE = DEFAULT_CMDLINE + " cryptomgr.notests";
const PROMPT = " # ";

async function guest(): Promise<{ bzImage: string; initramfs: string; release: string }> {
  return cachedLinux() ?? (await fetchLinux({ log: () => {} }));
}

function session(c: GuestConsole, release: string): void {
  let at = c.expect(READY_MARKER, 0);
  at = c.expect(PROMPT, at);
  const run = (cmd: string, expectOut: RegExp): string => {
    c.type(cmd);
    const start = c.expect(cmd + "\r\n", at, 2e8);
    at = c.expect(PROMPT, start, 2e8);
    const out = c.output.slice(start, at - PROMPT.length);
    assert.match(out, expectOut, `${cmd} printed:\n${out}`);
    return out;
  };
  run("uname -r", new RegExp("^" + release.replace(/\./g, "\\.") + "\\r\\n"));
  run("cat /proc/cpuinfo", /vendor_id\s+: GenuineIntel[\s\S]*cpu family\s+: 6[\s\S]*model\s+: 3[\s\S]*flags\s+: fpu[^\n]*\btsc\b[^\n]*\bcx8\b[^\n]*\bsep\b[^\n]*\bpge\b[^\n]*\bcmov\b/);
  run("ls /proc", /^(?=[\s\S]*\bcpuinfo\b)(?=[\s\S]*\bmeminfo\b)(?=[\s\S]*\buptime\b)(?=[\s\S]*\b1\b)/);
  // Under 80 columns with the prompt, so the line editor's echo does not wrap.
  run("i=0;s=0;while [ $i -lt 10 ];do s=$((s+i*i));i=$((i+1));done;echo sum=$s", /sum=285\r\n/);
  run("mount", /^(?=[\s\S]*proc on \/proc type proc)(?=[\s\S]*sysfs on \/sys type sysfs)(?=[\s\S]*devtmpfs on \/dev type devtmpfs)/);
  run("dmesg | tail -n 3", /\[\s*\d+\.\d+\] /);
  c.type("poweroff -f");
  assert.equal(c.runToEnd(), "powered off, status 0");
  assert.match(c.output, /reboot: Power down/);
}

test("Linux (direct entry) boots to the shell and answers over ttyS0; a second boot is byte-identical", { timeout: 900_000 }, async () => {
  const g = await guest();
  const a = new GuestConsole({ ...g, cmdline: TEST_CMDLINE, direct: true });
  session(a, g.release);
  const b = new GuestConsole({ ...g, cmdline: TEST_CMDLINE, direct: true });
  session(b, g.release);
  assert.equal(b.output, a.output, "two boots with the same input give the same serial log");
});

test("Linux (bzImage decompressing itself) boots to the shell and answers over ttyS0", { timeout: 1_800_000 }, async () => {
  const g = await guest();
  const c = new GuestConsole({ ...g, cmdline: TEST_CMDLINE + " nokaslr", direct: false });
  session(c, g.release);
});

test("printf 'uname -r\\npoweroff -f\\n' | vmm86 run linux prints the kernel release and exits 0", { timeout: 1_800_000 }, async () => {
  const g = await guest();
  const r = spawnSync(process.execPath, [join(REPO_ROOT, "bin", "vmm86.js"), "run", "linux"], {
    input: "uname -r\npoweroff -f\n", encoding: "utf8", timeout: 1_700_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp("uname -r\\r\\n" + g.release.replace(/\./g, "\\.") + "\\r\\n"));
  assert.match(r.stderr, /guest powered off with status 0/);
});
