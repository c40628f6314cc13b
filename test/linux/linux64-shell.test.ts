// Debian's amd64 kernel boots to the busybox shell on vmm86's PC in 64-bit mode (the 64-bit
// boot protocol's direct entry), a session over ttyS0 gets a 64-bit Linux's answers
// (`uname -m` says x86_64), `poweroff -f` ends the run with status 0, and two boots print
// byte-identical serial logs. The two boots run at once, one per worker thread.
// Needs the amd64 guest: `npx vmm86 fetch linux64` (the test fetches it if missing).

import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { inWorker } from "./in-worker.js";
import { cachedLinux, fetchLinux, LINUX_AMD64, type LinuxImage } from "../../src/guests/fetch-linux.js";
import { LINUX64_DEFAULT_CPU } from "../../src/cli/run.js";
import type { Session64 } from "./linux64-session.js";

const SESSION = fileURLToPath(new URL("./linux64-session.js", import.meta.url));


test(`Linux amd64 (direct 64-bit entry, --cpu ${LINUX64_DEFAULT_CPU}) boots to the shell; uname -m says x86_64; two boots are byte-identical`, { timeout: 1_800_000 }, async () => {
  const guest: LinuxImage = cachedLinux(undefined, LINUX_AMD64) ?? (await fetchLinux({ guest: LINUX_AMD64, log: () => {} }));
  const s: Session64 = { guest, cpu: LINUX64_DEFAULT_CPU };
  const [a, b] = await Promise.all([inWorker<string>(SESSION, { session64: s }), inWorker<string>(SESSION, { session64: s })]);
  assert.match(a, /Linux version [^\n]*amd64/);
  assert.equal(b, a, "two boots with the same input give the same serial log");
});
