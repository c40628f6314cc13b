// Debian's 686 kernel boots to the busybox shell on vmm86's PC, entered directly (the path
// through the bzImage's own decompressor is in the long suite: test/long/linux-bzimage.long.ts),
// and a session over the serial console gets the
// answers a Linux shell gives; two boots produce byte-identical serial logs.
// Needs the Linux guest: `npx vmm86 fetch linux` (the test fetches it if missing).

import { test } from "node:test";
import assert from "node:assert/strict";
import { GuestConsole } from "./guest-console.js";
import { shellAtPrompt } from "./shell-snapshot.js";
import { guest, session, PROMPT } from "./shell-session.js";
import { LINUX_CMDLINE } from "../../src/guests/fetch-linux.js";
import { vmm86Session } from "../support/cli-session.js";

/**
 * The kernel command line: LINUX_CMDLINE, console=ttyS0 (all the platform needs) plus
 * cryptomgr.notests, which skips the boot-time crypto self-tests: 3 G guest instructions
 * (minutes in the interpreter) that test the kernel, not the machine. `vmm86 run linux`
 * passes the same by default.
 */
export const TEST_CMDLINE = LINUX_CMDLINE;


test("Linux (direct entry) boots to the shell and answers over ttyS0; a second boot is byte-identical", { timeout: 900_000 }, async () => {
  const g = await guest();
  const a = new GuestConsole({ ...g, cmdline: TEST_CMDLINE, direct: true });
  session(a, g.release);
  // The second boot is the one cached at the prompt (shell-snapshot.ts, booted by this code,
  // now or in an earlier run), continued from its snapshot: the boot and the session after
  // a save and restore both match the first.
  const b = new GuestConsole({ ...g, cmdline: TEST_CMDLINE, direct: true, from: shellAtPrompt(g, TEST_CMDLINE, PROMPT).saved });
  session(b, g.release);
  assert.equal(b.output, a.output, "two boots with the same input give the same serial log");
});


// `printf 'uname -r\n…poweroff -f\n' | vmm86 run linux` under bare, and under bt with the
// input a byte every 40 ms: the same bytes. In test/snapshot/cli-snapshot.test.ts, whose boot
// never stopped is that bare run.

test("Linux on --cpu pentium3 (a local APIC): the I/O APIC routes the ISA IRQs and the local APIC timer ticks", { timeout: 900_000 }, async () => {
  await guest();
  const r = await vmm86Session("cat /proc/interrupts\npoweroff -f\n", "run", "linux", "--cpu", "pentium3");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /IOAPIC\[0\]: apic_id 1, version 17, address 0xfec00000, GSI 0-23/);
  assert.match(r.stdout, /\n\s+0:\s+\d+\s+IO-APIC\s+2-edge\s+timer/, "IRQ 0 through the I/O APIC's input 2 (the MADT's override)");
  assert.match(r.stdout, /\n\s+4:\s+\d+\s+IO-APIC\s+4-edge\s+ttyS0/);
  const loc = /\nLOC:\s+(\d+)/.exec(r.stdout);
  assert.ok(loc !== null && Number(loc[1]) > 100, `local timer interrupts: ${loc?.[1]}`);
});
