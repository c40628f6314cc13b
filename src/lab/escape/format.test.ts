// The three report formats on a synthetic suite: a table with aligned columns, a Markdown
// table with one row per attempt, JSON that parses and carries every run.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { LabRunOptions, LabRunResult } from "../guest-runner.js";
import { ATTEMPTS } from "./attempts.js";
import { runEscapeSuite } from "./suite.js";
import { formatJson, formatMarkdown, formatTable } from "./format.js";

const attempts = ATTEMPTS.slice(0, 5);

function run(_i: Uint8Array, o: LabRunOptions): LabRunResult {
  const name = /attempt=(\S+)/.exec(o.cmdline ?? "")![1];
  const escaped = o.protect === "paging-only" && name === attempts[0].name;
  // On bare the last attempt sees something other than its expectation.
  const seen = escaped ? "wrote-lost" : o.mode === "bare" && name === attempts[4].name ? "fault=14 err=0x0002" : "wrote";
  return {
    serial: `vmm86 escape guest\nESC ${name} ${seen}\nescape: done\n`,
    end: { kind: "poweroff", status: 33 }, instructions: 1, cycles: 1, hostMs: 0, counters: {},
    integrity: o.mode === "bare" ? null : { monitorIntact: !escaped, guestRanAtCpl0: false },
  };
}
const report = runEscapeSuite(new Uint8Array(0), { attempts, run, modes: () => ["bare", "bt"] });

test("table: header, one aligned line per attempt, verdicts, n/a for missing modes, the result line", () => {
  const t = formatTable(report);
  const lines = t.split("\n");
  const head = lines.findIndex((l) => l.startsWith("attempt"));
  assert.ok(head > 0);
  const rows = lines.slice(head + 2, head + 2 + attempts.length);
  assert.deepEqual(rows.map((r) => r.split(/\s+/)[0]), attempts.map((a) => a.name));
  const col = lines[head].indexOf("bt --protect paging-only");
  assert.ok(col > 0);
  for (const r of rows) assert.ok(r.slice(col).startsWith("ESCAPED") || r.slice(col).startsWith("CONTAINED"), r);
  assert.match(rows[0], /ESCAPED wrote-lost\*/);
  assert.match(rows[1], /n\/a/, "trap is not available");
  // bare shows an unexpected guest view next to the expectation; bt's differing view is starred
  assert.match(rows[4], new RegExp(`fault=14 err=0x0002 \\(expected ${attempts[4].bare}\\)`));
  assert.match(rows[4], /CONTAINED wrote\*/);
  assert.doesNotMatch(rows[2], /expected|\*/);
  assert.match(lines.at(-2)!, /^result: .*\(exit 12\)$/);
});

test("markdown: a well-formed pipe table with one row per attempt", () => {
  const md = formatMarkdown(report);
  const rows = md.split("\n").filter((l) => l.startsWith("|"));
  assert.equal(rows.length, 2 + attempts.length);
  const cols = (l: string) => l.replace(/\\\|/g, "").split("|").length;
  for (const r of rows) assert.equal(cols(r), cols(rows[0]), r);
  assert.match(rows[1], /^\|(---\|)+$/);
  assert.match(md, /\*\*Result:\*\*/);
});

test("json: parses, names every configuration and run, carries the summary", () => {
  const doc = JSON.parse(formatJson(report));
  assert.deepEqual(doc.configs.map((c: { id: string }) => c.id), ["bare", "bt", "trap-strict", "bt-paging-only", "vtx-shadow", "vtx-ept", "svm-shadow", "svm-npt"]);
  assert.equal(doc.attempts.length, attempts.length);
  const first = doc.attempts[0];
  assert.equal(first.name, attempts[0].name);
  assert.equal(first.expectedBare, attempts[0].bare);
  assert.equal(first.runs["bt-paging-only"].verdict, "ESCAPED");
  assert.deepEqual(first.runs["bt-paging-only"].guest, { outcome: "wrote-lost", detail: "" });
  assert.equal(first.runs["trap-strict"].verdict, "n/a");
  assert.equal(doc.summary.exitCode, 12);
});
