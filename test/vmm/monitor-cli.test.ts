// The monitor from the command line: the demo under bt and trap --cpu strict prints what it
// prints on the bare machine; --stats and --stats=json show the counters; trap mode on the
// standard CPU reports its divergences; a guest that writes the monitor (possible only with
// --protect paging-only) fails the run with E_MONITOR_BREACH.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { REPO_ROOT } from "../support/paths.js";

function vmm86(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, "bin", "vmm86.js"), ...args], { encoding: "latin1", timeout: 120_000, input: "" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const bare = vmm86("run", "demo");

test("the demo under --mode bt and --mode trap --cpu strict: the bare machine's output, status 33", () => {
  assert.equal(bare.status, 33);
  for (const args of [["--mode", "bt"], ["--mode", "trap", "--cpu", "strict"]]) {
    const r = vmm86("run", "demo", ...args);
    assert.equal(r.status, 33, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stdout, bare.stdout, `${args.join(" ")}: byte-identical serial output`);
  }
});

test("--stats prints the monitor's counters; --stats=json FILE writes them", () => {
  const dir = mkdtempSync(join(tmpdir(), "vmm86-stats-"));
  const file = join(dir, "stats.json");
  const r = vmm86("run", "demo", "--mode", "bt", "--stats", "--stats=json", file);
  assert.equal(r.status, 33, r.stderr);
  assert.match(r.stderr, /stats: monitor counters/);
  assert.match(r.stderr, /exit\.callout\s+\d+/);
  assert.match(r.stderr, /bt\.translate\s+\d+/);
  assert.match(r.stderr, /pf\.hidden\s+\d+/);
  const doc = JSON.parse(readFileSync(file, "utf8")) as { counters: Record<string, number>; guestCycles: number };
  assert.ok(doc.counters["bt.translate"] > 0);
  assert.ok(doc.counters["irq.injected"] > 0);
  assert.equal(doc.guestCycles, doc.counters["time.guest-cycles"]);
});

test("trap mode on the standard CPU prints its divergence report", () => {
  const r = vmm86("run", "demo", "--mode", "trap", "--max-instructions", "4000000");
  assert.match(r.stderr, /divergence: the guest kernel ran \d+ sensitive instructions that do not trap at ring 1/);
  assert.match(r.stderr, /iretd\s+0x[0-9a-f]+\s+its frame's IF=1 not loaded/);
});

test("resource control: a guest that writes the monitor's region under --protect paging-only ends with E_MONITOR_BREACH", () => {
  const escape = join(REPO_ROOT, "guests", "escape", "escape.elf");
  const r = vmm86("run", "--kernel", escape, "--append", "attempt=write-ds", "--mode", "bt", "--protect", "paging-only");
  assert.equal(r.status, 9, r.stderr);
  assert.match(r.stderr, /E_MONITOR_BREACH: resource control failed: monitor memory changed/);
  const ok = vmm86("run", "--kernel", escape, "--append", "attempt=write-ds", "--mode", "bt");
  assert.notEqual(ok.status, 9, "with segment truncation the same attempt is contained");
  assert.doesNotMatch(ok.stderr, /E_MONITOR_BREACH/);
});

test("--shadow-sync: traced and unsync give the demo the bare machine's output under trap --cpu strict and bt; a bad value, or a mode without the classic monitor's shadow, is E_USAGE", () => {
  for (const sync of ["traced", "unsync"]) {
    for (const args of [["--mode", "bt"], ["--mode", "trap", "--cpu", "strict"]]) {
      const r = vmm86("run", "demo", ...args, "--shadow-sync", sync);
      assert.equal(r.status, 33, `${args.join(" ")} --shadow-sync ${sync}: ${r.stderr}`);
      assert.equal(r.stdout, bare.stdout, `${args.join(" ")} --shadow-sync ${sync}: byte-identical serial output`);
    }
  }
  const bad = vmm86("run", "demo", "--mode", "trap", "--shadow-sync", "lazy");
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /E_USAGE: --shadow-sync must be 'unsync' or 'traced' \(got 'lazy'\)/);
  const bareMode = vmm86("run", "demo", "--shadow-sync", "traced");
  assert.equal(bareMode.status, 2);
  assert.match(bareMode.stderr, /E_USAGE: --shadow-sync applies to --mode trap and bt/);
});
