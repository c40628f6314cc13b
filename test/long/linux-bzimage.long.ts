// A long suite (`npm run test:long`, not part of `npm test`): Debian's 686 bzImage boots to
// the shell through its own decompressor, entered at the 32-bit protected-mode entry as a
// boot loader would (about 2.3 G guest instructions of XZ decompression before the kernel's
// first line: minutes in the interpreter), and the shell session of linux-shell.test.ts
// gets the same answers. `npm test` boots the same kernel by direct entry.
// Needs the Linux guest: `npx vmm86 fetch linux` (fetched here if missing).

import { test } from "node:test";
import { GuestConsole } from "../linux/guest-console.js";
import { guest, session } from "../linux/shell-session.js";
import { LINUX_CMDLINE } from "../../src/guests/fetch-linux.js";

test("Linux (bzImage decompressing itself) boots to the shell and answers over ttyS0", { timeout: 3_600_000 }, async () => {
  const g = await guest();
  const c = new GuestConsole({ ...g, cmdline: LINUX_CMDLINE + " nokaslr", direct: false });
  session(c, g.release);
});
