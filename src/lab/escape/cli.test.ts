// `vmm86 escape` as a process: flags, formats and the exit status, on a few attempts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { availableModes } from "../guest-runner.js";
import { ESCAPE_EXIT } from "./verdict.js";

const ESCAPE_JS = new URL("../../cli/escape.js", import.meta.url).href;

function escape(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const script = `import { escapeCommand } from ${JSON.stringify(ESCAPE_JS)};
try { process.exitCode = await escapeCommand(${JSON.stringify(args)}); }
catch (e) { process.stderr.write(e.code + ": " + e.message + "\\n"); process.exitCode = e.exitCode ?? 70; }`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const monitorModes = ["trap", "bt"].every((m) => availableModes().includes(m as "trap" | "bt"));

test("the exit status follows the verdict: 12 while trap/bt are missing from the build", () => {
  const r = escape("--attempt", "write-ds,rep-stos-region");
  if (monitorModes) {
    assert.ok(r.status === ESCAPE_EXIT.OK || r.status === ESCAPE_EXIT.ESCAPED || r.status === ESCAPE_EXIT.UNDETECTED, `status ${r.status}`);
  } else {
    assert.equal(r.status, ESCAPE_EXIT.NOT_RUN, r.stderr);
    assert.match(r.stdout, /write-ds\s+wrote\s+n\/a\s+n\/a\s+n\/a/);
  }
  assert.match(r.stdout, /^result: .*\(exit \d+\)$/m);
});

test("--format json prints one parseable document with the bare guest view", () => {
  const r = escape("--format", "json", "--attempt", "write-cs");
  assert.ok(r.stdout.length > 0, `no output (status ${r.status}): ${r.stderr}`);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.attempts.length, 1);
  assert.deepEqual(doc.attempts[0].runs.bare.guest, { outcome: "fault=13", detail: "err=0x0000" });
  assert.equal(doc.summary.exitCode, r.status);
});

test("--format markdown prints a pipe table", () => {
  const r = escape("--format=markdown", "--attempt", "call-gate-user");
  assert.match(r.stdout, /^\| `call-gate-user` \| ran cs=0x0038 \|/m);
});

test("--list, --help, and bad flags", () => {
  const list = escape("--list");
  assert.equal(list.status, 0);
  assert.match(list.stdout, /^sysenter-user\s+/m);
  const help = escape("--help");
  assert.equal(help.status, 0);
  assert.match(help.stdout, /paging-only/);
  for (const args of [["--format", "xml"], ["--attempt", "nope"], ["extra"], ["--bogus"]]) {
    const r = escape(...args);
    assert.equal(r.status, 2, args.join(" "));
    assert.match(r.stderr, /^E_USAGE: /);
  }
});
