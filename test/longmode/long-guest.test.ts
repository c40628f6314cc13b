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
import { GuestUnsupported } from "../../src/vmm/monitor.js";
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

test("the classic monitor refuses a guest that turns on long mode", () => {
  const img = longModeGuest();
  for (const mode of ["bt", "trap"] as const) {
    assert.throws(() => runLabGuest(img, { mode, cpu: "core2", maxInstructions: 2e6 }),
      (e: unknown) => e instanceof GuestUnsupported && /long mode \(EFER\.LMA\)/.test(e.message));
  }
});

test("vmm86 run --kernel: the long-mode guest under bare prints from 64-bit mode; under bt it is E_MONITOR_UNSUPPORTED (exit 14)", () => {
  const dir = mkdtempSync(join(tmpdir(), "vmm86-long-"));
  try {
    const file = join(dir, "long.bin");
    writeFileSync(file, longModeGuest());
    let r = spawnSync(process.execPath, [BIN, "run", "--kernel", file, "--cpu", "core2"], { encoding: "utf8", timeout: 60_000 });
    assert.equal(r.stdout.trim(), LONG_GUEST_LINE);
    assert.equal(r.status, 1); // port 0xF4 status 0 → exit (0 << 1) | 1, as QEMU's isa-debug-exit
    r = spawnSync(process.execPath, [BIN, "run", "--kernel", file, "--cpu", "core2", "--mode", "bt"], { encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 14);
    assert.match(r.stderr, /^vmm86: E_MONITOR_UNSUPPORTED: the guest turned on long mode/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
