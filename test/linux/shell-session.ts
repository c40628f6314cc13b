// A session on Debian 686's busybox shell over the serial console, and the answers a Linux
// shell gives: shared by the shell test (direct entry) and the long suite (the bzImage path).

import assert from "node:assert/strict";
import type { GuestConsole } from "./guest-console.js";
import { cachedLinux, fetchLinux, READY_MARKER } from "../../src/guests/fetch-linux.js";

export const PROMPT = " # ";

export async function guest(): Promise<{ bzImage: string; initramfs: string; release: string }> {
  return cachedLinux() ?? (await fetchLinux({ log: () => {} }));
}

export function session(c: GuestConsole, release: string): void {
  let at = c.expect(READY_MARKER, 0);
  at = c.expect(PROMPT, at);
  const run = (cmd: string, expectOut: RegExp): string => {
    const r = c.command(cmd, at, PROMPT);
    at = r.at;
    assert.match(r.out, expectOut, `${cmd} printed:\n${r.out}`);
    return r.out;
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
