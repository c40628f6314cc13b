// The three output formats on a synthetic report: bare runs plus a made-up trap run that
// leaks, misbehaves and faults, and unavailable bt columns.

import { test } from "node:test";
import assert from "node:assert/strict";
import { buildReport, type ConfigRun } from "./report.js";
import { parseRedpill } from "./parse.js";
import { formatJson, formatMarkdown, formatTable } from "./format.js";
import { PROBES } from "./probes.js";
import { redpillCommand } from "../../cli/redpill.js";
import { UserError } from "../../cli/errors.js";

const BARE = [
  "RP-BEGIN vmm86 redpill guest 1",
  "RP sgdt cpl=0 limit=0x003f base=0x00180000",
  "RP popf cpl=0 if_set=1 iopl_set=3 if_clear=0 iopl_clear=0",
  "RP ret_far cpl=0 reached=1",
  "RP mov_from_sreg cpl=0 cs=0x0008 ss=0x0010 ds=0x0010 es=0x0010 fs=0x003b gs=0x0007",
  "RP sgdt cpl=3 limit=0x003f base=0x00180000",
  "RP-END",
].join("\n");
const TRAP = [
  "RP-BEGIN vmm86 redpill guest 1",
  "RP sgdt cpl=0 limit=0x00ff base=0xffc00000",
  "RP popf cpl=0 if_set=1 iopl_set=0 if_clear=1 iopl_clear=0",
  "RP ret_far cpl=0 fault=13 err=0x0008",
  "RP mov_from_sreg cpl=0 cs=0x0008 ss=0x0010 ds=0x0010 es=0x0010 fs=0x003b gs=0x0007",
  "RP sgdt cpl=3 limit=0x00ff base=0xffc00000",
  "RP-ABORT unexpected exception vector=14",
].join("\n");

function config(mode: "bare" | "trap" | "bt", cpu: "standard" | "strict", serial: string | null): ConfigRun {
  return {
    mode, cpu, name: `${mode}/${cpu}`, available: serial !== null,
    run: serial === null ? null : {
      end: { kind: "poweroff", status: 33 }, instructions: 1000, hostMs: 1, integrity: null, log: parseRedpill(serial),
    },
  };
}

const report = buildReport([
  config("bare", "standard", BARE), config("bare", "strict", BARE),
  config("trap", "standard", TRAP), config("trap", "strict", BARE),
  config("bt", "standard", null), config("bt", "strict", null),
]);

function cell(probe: string, cpl: 0 | 3, configName: string) {
  const row = report.rows.find((r) => r.probe.name === probe && r.cpl === cpl);
  assert.ok(row);
  return row.cells.find((c) => c.config === configName)?.result?.verdict ?? "n/a";
}

test("buildReport: one row per probe and level, verdicts per configuration", () => {
  assert.equal(report.rows.length, PROBES.length * 2);
  assert.equal(cell("sgdt", 0, "trap/standard"), "leaks");
  assert.equal(cell("popf", 0, "trap/standard"), "misbehaves");
  assert.equal(cell("ret_far", 0, "trap/standard"), "faults");
  assert.equal(cell("mov_from_sreg", 0, "trap/standard"), "same");
  assert.equal(cell("sgdt", 0, "bt/standard"), "n/a");
  assert.equal(cell("smsw", 0, "trap/standard"), "missing");
});

test("table: aligned columns, n/a for unavailable modes, a differences section", () => {
  const text = formatTable(report);
  const lines = text.split("\n");
  const head = lines.findIndex((l) => l.startsWith("instruction"));
  assert.ok(head > 0);
  for (const col of ["bare/standard", "bare/strict", "trap/standard", "trap/strict", "bt/standard", "bt/strict"]) {
    assert.ok(lines[head].includes(col), col);
  }
  const sgdt = lines.find((l) => l.startsWith("SGDT"));
  assert.ok(sgdt);
  assert.deepEqual(sgdt.split(/\s{2,}/), ["SGDT", "0", "ok", "same", "leaks", "same", "n/a", "n/a"]);
  // Every column starts at the same offset as its header.
  const at = lines[head].indexOf("trap/standard");
  assert.equal(sgdt.indexOf("leaks"), at);
  assert.match(text, /trap\/standard {2}SGDT CPL 0: leaks: limit 0x003f → 0x00ff \(not the limit the guest set\); base 0x00180000 → 0xffc00000 \(0xffc00000 lies in the monitor region\)/);
  assert.match(text, /trap\/standard: powered off \(status 33\), guest aborted: unexpected exception vector=14/);
  assert.match(text, /bt\/strict: not available in this build/);
  assert.match(lines.find((l) => l.startsWith("RET far")) ?? "", /faults #GP/);
});

test("markdown: a well-formed pipe table (same column count on every row)", () => {
  const md = formatMarkdown(report);
  const rows = md.split("\n").filter((l) => l.startsWith("|"));
  assert.equal(rows.length, 2 + PROBES.length * 2 + 5);
  const columns = (l: string) => l.replace(/\\\|/g, "").split("|").length;
  for (const r of rows) assert.equal(columns(r), columns(rows[0]), r);
  assert.match(rows[1], /^\|---\|---\|(:---:\|){6}$/);
  assert.ok(rows.some((r) => r.startsWith("| SGDT | 0 | ok | same | leaks |")));
});

test("json: parses, names every configuration, and carries values and differences", () => {
  const j = JSON.parse(formatJson(report)) as {
    reference: string;
    configs: Array<{ name: string; available: boolean }>;
    rows: Array<{ probe: string; cpl: number; robinIrvine: boolean; reference: { values: Record<string, string> } | null;
      results: Record<string, { verdict: string; differences: Array<{ key: string; leak: string | null }> } | null> }>;
  };
  assert.equal(j.reference, "bare/standard");
  assert.deepEqual(j.configs.map((c) => [c.name, c.available]), [
    ["bare/standard", true], ["bare/strict", true], ["trap/standard", true], ["trap/strict", true], ["bt/standard", false], ["bt/strict", false],
  ]);
  const sgdt = j.rows.find((r) => r.probe === "sgdt" && r.cpl === 0);
  assert.ok(sgdt);
  assert.equal(sgdt.robinIrvine, true);
  assert.deepEqual(sgdt.reference?.values, { limit: "0x003f", base: "0x00180000" });
  assert.equal(sgdt.results["bare/standard"]?.verdict, "reference");
  assert.equal(sgdt.results["trap/standard"]?.verdict, "leaks");
  assert.deepEqual(sgdt.results["trap/standard"]?.differences.map((d) => d.key), ["limit", "base"]);
  assert.equal(sgdt.results["bt/standard"], null);
  assert.equal(j.rows.filter((r) => !r.robinIrvine).length, 6);
});

test("redpillCommand rejects a bad --format and stray arguments with a usage error", async () => {
  await assert.rejects(redpillCommand(["--format", "html"]), (e: unknown) => e instanceof UserError && e.code === "E_USAGE");
  await assert.rejects(redpillCommand(["demo"]), (e: unknown) => e instanceof UserError && e.code === "E_USAGE");
});
