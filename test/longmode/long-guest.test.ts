// A guest that switches itself to long mode (long-guest.ts), run as users run guests: through
// the lab runner and through `vmm86 run --kernel`. On the long-mode models it prints from
// 64-bit mode; on the 32-bit ones it finds no long mode in CPUID; the classic monitor
// refuses it clearly (E_MONITOR_UNSUPPORTED) instead of running it wrong.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LONG_GUEST_LINE, longModeGuest } from "./long-guest.js";
import { runLabGuest } from "../../src/lab/guest-runner.js";
import { GuestUnsupported, ProtectUnsound } from "../../src/vmm/monitor.js";
import { REPO_ROOT } from "../support/paths.js";

const BIN = join(REPO_ROOT, "bin", "vmm86.js");

test("the long-mode guest reaches 64-bit mode on core2, athlon64-revc and zen3, and finds no long mode on pentium2 and core-duo", () => {
  const img = longModeGuest();
  for (const cpu of ["core2", "athlon64-revc", "athlon64-reve", "zen3"]) {
    const r = runLabGuest(img, { mode: "bare", cpu, maxInstructions: 2e6 });
    assert.deepEqual(r.end, { kind: "poweroff", status: 1 }, cpu);
    assert.equal(r.serial.trim(), LONG_GUEST_LINE, cpu);
  }
  for (const cpu of ["pentium2", "core-duo"]) {
    const r = runLabGuest(img, { mode: "bare", cpu, maxInstructions: 2e6 });
    assert.deepEqual(r.end, { kind: "poweroff", status: 3 }, cpu);
    assert.match(r.serial, /this CPU has no long mode/);
  }
});

test("the classic monitor: under bt a guest that turns long mode on runs on the long-mode world as on bare; trap and unsound segments refuse it", () => {
  const img = longModeGuest();
  const bare = runLabGuest(img, { mode: "bare", cpu: "core2,-apic", maxInstructions: 2e6 });
  for (const protect of ["two-tables", "paging-only"] as const) {
    const r = runLabGuest(img, { mode: "bt", cpu: "core2", protect, maxInstructions: 2e6 });
    assert.equal(r.serial, bare.serial, protect);
    assert.deepEqual(r.end, bare.end, protect);
    assert.equal(r.instructions, bare.instructions, protect);
    assert.equal(r.counters["world.to-long-mode"], 1, protect);
    assert.deepEqual(r.integrity, { monitorIntact: true, guestRanAtCpl0: false }, protect);
  }
  // core2 has no EFER.LMSLE: --protect segments is refused when the guest turns long mode on.
  assert.throws(() => runLabGuest(img, { mode: "bt", cpu: "core2", protect: "segments", maxInstructions: 2e6 }),
    (e: unknown) => e instanceof ProtectUnsound && /core2: it has no EFER\.LMSLE/.test(e.message));
  assert.throws(() => runLabGuest(img, { mode: "trap", cpu: "core2", maxInstructions: 2e6 }),
    (e: unknown) => e instanceof GuestUnsupported && /long mode \(EFER\.LMA\).*--mode trap runs 32-bit guests only/.test(e.message));
});

test("vmm86 run --kernel: the long-mode guest under bare and bt --protect two-tables prints from 64-bit mode; bt with segments on core2 is E_PROTECT_UNSOUND (exit 14)", () => {
  const dir = mkdtempSync(join(tmpdir(), "vmm86-long-"));
  try {
    const file = join(dir, "long.bin");
    writeFileSync(file, longModeGuest());
    let r = spawnSync(process.execPath, [BIN, "run", "--kernel", file, "--cpu", "core2"], { encoding: "utf8", timeout: 60_000 });
    assert.equal(r.stdout.trim(), LONG_GUEST_LINE);
    assert.equal(r.status, 1); // port 0xF4 status 0 → exit (0 << 1) | 1, as QEMU's isa-debug-exit
    r = spawnSync(process.execPath, [BIN, "run", "--kernel", file, "--cpu", "core2", "--mode", "bt", "--protect", "two-tables"], { encoding: "utf8", timeout: 60_000 });
    assert.equal(r.stdout.trim(), LONG_GUEST_LINE);
    assert.equal(r.status, 1, r.stderr);
    r = spawnSync(process.execPath, [BIN, "run", "--kernel", file, "--cpu", "core2", "--mode", "bt"], { encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 14);
    assert.match(r.stderr, /^vmm86: E_PROTECT_UNSOUND: --protect segments cannot protect the monitor from a 64-bit guest on core2/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
