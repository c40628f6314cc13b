// `vmm86 microbench` as a user runs it (in a child process, through microbenchCommand,
// the way src/cli/main.ts dispatches commands): JSON output, usage errors, --help.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { availableModes } from "../guest-runner.js";

const DIST_SRC = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const SCRIPT = `
import { microbenchCommand } from ${JSON.stringify(join(DIST_SRC, "cli", "microbench.js"))};
import { UserError } from ${JSON.stringify(join(DIST_SRC, "cli", "errors.js"))};
try { process.exitCode = await microbenchCommand(process.argv.slice(1)); }
catch (e) { if (!(e instanceof UserError)) throw e; process.stderr.write("vmm86: " + e.code + ": " + e.message + "\\n"); process.exitCode = e.exitCode; }
`;

function microbench(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", SCRIPT, "--", ...args], { encoding: "utf8", timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("--format json: bare measured, modes this build lacks n/a", () => {
  const r = microbench("--format", "json", "--bench", "cr3,in", "--repeat", "1");
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(j.configs.map((c: { label: string }) => c.label), ["bare", "trap --cpu strict", "bt", "vtx-shadow", "vtx+EPT", "svm-shadow", "svm+NPT"]);
  const bare = j.configs[0];
  assert.equal(bare.status, "ok");
  assert.deepEqual(bare.results.map((x: { name: string; iters: number }) => [x.name, x.iters]), [["in", 100000], ["cr3", 200000]]);
  // k_in and k_cr3 cost 3 and 2 instructions per operation plus a few around the loop.
  assert.ok(bare.results[0].cyclesPerOp >= 3 && bare.results[0].cyclesPerOp < 3.001);
  assert.ok(bare.results[1].cyclesPerOp >= 2 && bare.results[1].cyclesPerOp < 2.001);
  assert.ok(bare.results[0].hostNsPerOp >= 0);
  for (const c of j.configs.slice(1)) {
    if (availableModes().includes(c.mode)) assert.notEqual(c.status, "n/a");
    else assert.deepEqual([c.status, c.results], ["n/a", []]);
  }
  // Exits per operation from the monitors' counters: under svm with nested paging IN exits
  // once (IOIO) and a CR3 load never; bt calls out for a CR3 load and does the IN in place
  // (its port I/O helper, docs/bt.md).
  const exits = (label: string, bench: string): number =>
    j.configs.find((c: { label: string }) => c.label === label).results.find((x: { name: string }) => x.name === bench).exitsPerOp;
  if (availableModes().includes("svm")) {
    assert.ok(Math.abs(exits("svm+NPT", "in") - 1) < 0.001, String(exits("svm+NPT", "in")));
    assert.ok(exits("svm+NPT", "cr3") < 0.001, String(exits("svm+NPT", "cr3")));
  }
  if (availableModes().includes("bt")) {
    assert.ok(exits("bt", "in") < 0.001 && exits("bt", "cr3") >= 1, `${exits("bt", "in")} ${exits("bt", "cr3")}`);
  }
});

test("the table names every configuration; markdown is a table", () => {
  const t = microbench("--bench", "callret", "--repeat", "1");
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /bare\s+trap --cpu strict\s+bt\s+vtx-shadow\s+vtx\+EPT\s+svm-shadow\s+svm\+NPT\n/);
  assert.match(t.stdout, /^callret\s+200000\s+4\.00\s/m);
  const md = microbench("--bench", "callret", "--repeat", "1", "--format", "markdown");
  assert.match(md.stdout, /^\| callret \| 200000 \| 4\.00 \| /m);
});

test("usage errors exit 2 with E_USAGE; --help lists the benchmarks", () => {
  for (const args of [["--format", "xml"], ["--bench", "nosuch"], ["--repeat", "0"], ["--repeat", "1.5"], ["extra"], ["--frob"]]) {
    const r = microbench(...args);
    assert.equal(r.status, 2, args.join(" "));
    assert.match(r.stderr, /^vmm86: E_USAGE: /);
  }
  const h = microbench("--help");
  assert.equal(h.status, 0);
  for (const b of ["syscall", "sysenter", "in", "cr3", "callret", "pgfault", "divzero", "ptemod", "forkwait"]) assert.match(h.stdout, new RegExp(`^  ${b} `, "m"));
  for (const f of ["--format", "--bench", "--repeat"]) assert.ok(h.stdout.includes(f), f);
});
