// A guest that turns on PAE paging (Debian's mainstream i386 kernel, 686-pae, does) runs the
// same under the classic monitor as on the bare machine: its shadow MMU shadows PAE's three
// levels of 8-byte entries (SDM vol. 3 §4.4) on the machine's own PAE paging. The guest
// exercises what differs from 32-bit paging: 2 MiB pages (its page tables themselves sit in
// one), a PTE rewritten and INVLPG'd, the D bit, a PDPTE that is not present (a true fault)
// and becomes present only once CR3 is reloaded (the PDPTE registers), and on a part with NX
// (core-duo) an instruction fetch from an XD page (a true fault with I/D in the error code).
// Serial logs must be byte-identical under bare, bt and trap --cpu strict.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runLabGuest } from "../../src/lab/guest-runner.js";
import { REPO_ROOT } from "../support/paths.js";

import { paeGuest, EXPECT } from "./pae-guest-image.js";

for (const cpu of ["pentium2", "core-duo"]) {
  test(`a PAE guest (${cpu}) runs under bt and trap --cpu strict as on bare: shadowed PAE tables, byte-identical serial`, () => {
    const img = paeGuest();
    const bare = runLabGuest(img, { mode: "bare", cpu, maxInstructions: 2e6 });
    assert.deepEqual(bare.end, { kind: "poweroff", status: 1 });
    assert.equal(bare.serial, EXPECT[cpu]);
    for (const [mode, spec] of [["bt", cpu], ["trap", `${cpu},+strict`]] as const) {
      const r = runLabGuest(img, { mode, cpu: spec, maxInstructions: 2e6 });
      assert.equal(r.serial, bare.serial, `${mode}: the same serial log as bare`);
      assert.deepEqual(r.end, bare.end, mode);
      assert.deepEqual(r.integrity, { monitorIntact: true, guestRanAtCpl0: false }, mode);
      assert.ok(r.counters["pf.hidden"] > 10, `${mode}: the shadow was filled on hidden faults`);
      assert.ok((r.counters["shadow.pt-write"] ?? 0) + (r.counters["shadow.unsync"] ?? 0) >= 1, `${mode}: the PTE write was traced, or let its table out of sync`);
      assert.ok((r.counters["shadow.fill-write"] ?? 0) >= 1, mode);
    }
  });
}

test("vmm86 run --kernel: the PAE guest under bt powers off with its output, --stats showing the shadow's counters", () => {
  const dir = mkdtempSync(join(tmpdir(), "vmm86-pae-"));
  try {
    const file = join(dir, "pae.bin");
    writeFileSync(file, paeGuest());
    const r = spawnSync(process.execPath, [join(REPO_ROOT, "bin", "vmm86.js"), "run", "--kernel", file, "--mode", "bt", "--stats"], { encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);   // isa-debug-exit with 0: (0 << 1) | 1
    assert.equal(r.stdout, EXPECT.pentium2);
    assert.match(r.stderr, /pf\.hidden\s+\d+/);
    assert.match(r.stderr, /shadow\.fill-read\s+\d+/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
