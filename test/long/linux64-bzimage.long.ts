// A long suite (`npm run test:long`, not part of `npm test`): Debian's amd64 bzImage boots to
// the shell through its own decompressor, entered at its 64-bit entry point (load address +
// 0x200, `--entry bzimage64`): about 4.5 G guest instructions of XZ decompression in 64-bit
// mode before the kernel's first line, several minutes in the interpreter.
// Needs the amd64 guest: `npx vmm86 fetch linux64` (fetched here if missing).

import { test } from "node:test";
import assert from "node:assert/strict";
import { GuestConsole } from "../linux/guest-console.js";
import { cachedLinux, fetchLinux, LINUX_AMD64, READY_MARKER } from "../../src/guests/fetch-linux.js";
import { LINUX64_DEFAULT_CPU } from "../../src/cli/run.js";

test("Linux amd64 through the bzImage's own decompressor (--entry bzimage64) boots to the shell; uname -m says x86_64", { timeout: 3_600_000 }, async () => {
  const g = cachedLinux(undefined, LINUX_AMD64) ?? (await fetchLinux({ guest: LINUX_AMD64, log: () => {} }));
  const c = new GuestConsole({ ...g, cmdline: g.cmdline + " nokaslr", direct: false, amd64: true, cpu: LINUX64_DEFAULT_CPU });
  let at = c.expect(READY_MARKER, 0, 2e10);
  at = c.expect(" # ", at);
  assert.match(c.command("uname -m", at, " # ", 4e8).out, /^x86_64\r\n/);
  c.type("poweroff -f");
  assert.equal(c.runToEnd(), "powered off, status 0");
});
