// Equivalence for a PAE guest (DESIGN.md §2, issue 11): Debian's linux-image-686-pae (3-level
// page tables of 8-byte entries, page-table isolation on, a CR3 load at every kernel entry
// and exit) boots to the busybox shell under bare, under bt, and under trap --cpu strict, and
// the three serial logs are byte-identical. The monitor's resource control holds, and its
// shadow MMU did the work (hidden faults, fills, cached roots).
// Needs the PAE guest: `npx vmm86 fetch linux-pae` (the test fetches it if missing; a failed
// fetch fails the test). The three boots run in worker threads, two at a time.

import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { inWorker } from "./in-worker.js";
import { cachedLinux, fetchLinux, LINUX_CMDLINE, LINUX_PAE, type LinuxImage } from "../../src/guests/fetch-linux.js";
import { RESERVETOP } from "../../src/cli/run.js";
import type { SessionPae, SessionPaeResult } from "./linux-pae-session.js";

const SESSION = fileURLToPath(new URL("./linux-pae-session.js", import.meta.url));

const boot = (s: SessionPae): Promise<SessionPaeResult> => inWorker(SESSION, { sessionPae: s });

test("Linux 686-pae under bare, bt and trap --cpu strict: byte-identical serial logs; the monitor intact", { timeout: 1_800_000 }, async () => {
  const guest: LinuxImage = cachedLinux(undefined, LINUX_PAE) ?? (await fetchLinux({ guest: LINUX_PAE, log: () => {} }));
  assert.match(guest.release, /-686-pae$/);
  const cmdline = `${LINUX_CMDLINE} reservetop=${RESERVETOP}`;
  // The two slower boots first, side by side; bare once one of them is done (two cores).
  const bt = boot({ guest, cmdline, mode: "bt", cpu: "standard" });
  const trap = boot({ guest, cmdline, mode: "trap", cpu: "strict" });
  const bare = Promise.race([bt, trap]).then(() => boot({ guest, cmdline, mode: "bare", cpu: "standard" }));
  const [b, t, r] = await Promise.all([bare, bt, trap]);
  assert.match(b.output, /Linux version [^\n]*686-pae/);
  assert.match(b.output, /Kernel\/User page tables isolation: enabled/);
  for (const [mode, run] of [["bt", t], ["trap --cpu strict", r]] as const) {
    assert.equal(run.output, b.output, `${mode}: the same serial log as bare`);
    assert.equal(run.integrity?.monitorIntact, true, `${mode}: ${run.integrity?.detail}`);
    assert.equal(run.integrity?.guestRanAtCpl0, false, mode);
    assert.ok(run.counters["pf.hidden"] > 1000, `${mode}: hidden faults filled the PAE shadow`);
    assert.ok(run.counters["shadow.root-cached"] > 1000, `${mode}: shadow roots found cached across CR3 loads`);
  }
  assert.ok(t.counters["bt.translate"] > 1000, "bt: the kernel ran translated");
});
