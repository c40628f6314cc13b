// The three output formats on a made-up report: bare measured, trap measured with one
// failure, bt not in the build, svm+NPT measured.

import { test } from "node:test";
import assert from "node:assert/strict";
import { formatJson, formatMarkdown, formatTable, fmtNumber, fmtNs, fmtRatio } from "./format.js";
import { CONFIGS } from "./benchmarks.js";
import type { MicrobenchReport } from "./measure.js";

function report(): MicrobenchReport {
  return {
    repeat: 2,
    benches: ["syscall", "in", "pgfault"],
    configs: [
      {
        config: CONFIGS[0], status: "ok", baseline: { instructions: 11000, hostMs: 2, counters: {} },
        results: [
          { name: "syscall", iters: 20000, cycles: 940000, cyclesPerOp: 47, hostMs: 80, hostNsPerOp: 4000, counters: {}, exits: 0, exitsPerOp: 0 },
          { name: "in", iters: 100000, cycles: 300000, cyclesPerOp: 3, hostMs: 15, hostNsPerOp: 150, counters: {}, exits: 0, exitsPerOp: 0 },
          { name: "pgfault", iters: 20000, cycles: 1000000, cyclesPerOp: 50, hostMs: 100, hostNsPerOp: 5000, counters: {}, exits: 0, exitsPerOp: 0 },
        ],
      },
      {
        config: CONFIGS[1], status: "ok", baseline: { instructions: 11000, hostMs: 9, counters: { "trap.gp": 40 } },
        results: [
          { name: "syscall", iters: 20000, cycles: 1880000, cyclesPerOp: 94, hostMs: 320, hostNsPerOp: 16000, counters: { "trap.int": 20001, "trap.iret": 20001, "emulate.iret": 20001, "x.small": 3, "x.tiny": 1 }, exits: 40002, exitsPerOp: 2.0001 },
          { name: "in", iters: 100000, cycles: 3000000, cyclesPerOp: 30, hostMs: 150, hostNsPerOp: 1500, counters: { "trap.io": 100000 }, exits: 100000, exitsPerOp: 1 },
          { name: "pgfault", error: "guest ended with triple-fault after 123 instructions" },
        ],
      },
      { config: CONFIGS[2], status: "n/a", note: "mode bt is not in this build yet", results: [] },
      {
        config: CONFIGS.find((c) => c.label === "svm+NPT")!, status: "ok", baseline: { instructions: 11000, hostMs: 30, counters: {} },
        results: [
          { name: "syscall", iters: 20000, cycles: 940000, cyclesPerOp: 47, hostMs: 80, hostNsPerOp: 4000, counters: {}, exits: 0, exitsPerOp: 0 },
          { name: "in", iters: 100000, cycles: 300000, cyclesPerOp: 3, hostMs: 300, hostNsPerOp: 3000, counters: { "vmexit.IOIO": 100000, "emulate.in": 100000 }, exits: 100000, exitsPerOp: 1 },
          { name: "pgfault", iters: 20000, cycles: 1000000, cyclesPerOp: 50, hostMs: 100, hostNsPerOp: 5000, counters: {}, exits: 0, exitsPerOp: 0 },
        ],
      },
    ],
  };
}

test("numbers keep three or four significant digits; ratios carry a ×", () => {
  assert.deepEqual([0.5, 3, 47, 384.25, 1234.5].map(fmtNumber), ["0.50", "3.00", "47.0", "384.3", "1235"]);
  assert.deepEqual([4.25, 150, 4000.4].map(fmtNs), ["4.3", "150", "4000"]);
  assert.deepEqual([2, 10.04, 123.6, NaN].map(fmtRatio), ["×2.0", "×10.0", "×124", "×?"]);
});

test("table: a row per benchmark, ratios to bare, n/a and error cells, counters per op", () => {
  const t = formatTable(report());
  const rows = t.split("\n");
  const syscall = rows.find((l) => l.startsWith("syscall "))!;
  assert.match(syscall, /^syscall\s+20000\s+47\.0\s+4000\s+94\.0 \(×2\.0\)\s+16000 \(×4\.0\)\s+2\.00\s+n\/a\s+n\/a\s+n\/a\s+47\.0 \(×1\.0\)\s+4000 \(×1\.0\)\s+0\.00$/);
  const pg = rows.find((l) => l.startsWith("pgfault "))!;
  assert.match(pg, /50\.0\s+5000\s+error\s+error\s+error\s+n\/a\s+n\/a\s+n\/a\s+50\.0 \(×1\.0\)\s+5000 \(×1\.0\)\s+0\.00$/);
  assert.match(rows.find((l) => l.startsWith("in "))!, /3000 \(×20\.0\)\s+1\.00$/);
  // The configuration labels line up over their columns' right edge.
  const header = rows.find((l) => l.includes("trap --cpu strict"))!;
  const sub = rows[rows.indexOf(header) + 1];
  assert.equal(header.length, sub.length);
  assert.equal(header.indexOf("trap --cpu strict") + "trap --cpu strict".length, sub.indexOf("exits/op") + "exits/op".length);
  assert.equal(header.indexOf("svm+NPT") + "svm+NPT".length, sub.length);
  // Top four counters of a run, biggest first, per operation.
  assert.match(t, /syscall\s+emulate\.iret 1\.00\/op, trap\.int 1\.00\/op, trap\.iret 1\.00\/op, x\.small 3 in all\n/);
  assert.doesNotMatch(t, /x\.tiny/);
  assert.match(t, /pgfault\s+error: guest ended with triple-fault/);
  assert.match(t, /bare: no monitor counters \(bare has no monitor\)/);
  assert.match(t, /bt: n\/a \(mode bt is not in this build yet\)/);
});

test("markdown: one table row per benchmark, every row as wide as the header", () => {
  const md = formatMarkdown(report());
  const table = md.split("\n").filter((l) => l.startsWith("|"));
  assert.equal(table.length, 2 + 3);
  const cols = (l: string): number => l.split(" | ").length;
  for (const l of table.slice(2)) assert.equal(cols(l), cols(table[0]), l);
  assert.match(table[0], /^\| benchmark \| iters \| bare cyc\/op \| bare ns\/op \| trap --cpu strict cyc\/op \|/);
  assert.equal(table[3], "| in | 100000 | 3.00 | 150 | 30.0 (×10.0) | 1500 (×10.0) | 1.00 | n/a | n/a | n/a | 3.00 (×1.0) | 3000 (×20.0) | 1.00 |");
  assert.match(md, /^ {2}- in: trap\.io 1\.00\/op$/m);
});

test("json: well formed, everything measured plus the ratios", () => {
  const j = JSON.parse(formatJson(report()));
  assert.equal(j.repeat, 2);
  assert.deepEqual(j.benchmarks.map((b: { name: string }) => b.name), ["syscall", "in", "pgfault"]);
  assert.equal(j.benchmarks[1].ring, 0);
  assert.deepEqual(j.configs.map((c: { label: string; status: string }) => [c.label, c.status]),
    [["bare", "ok"], ["trap --cpu strict", "ok"], ["bt", "n/a"], ["svm+NPT", "ok"]]);
  assert.equal(j.configs[3].results[1].exitsPerOp, 1);
  const trapSys = j.configs[1].results[0];
  assert.deepEqual(trapSys.ratioToBare, { cycles: 2, host: 4 });
  assert.equal(trapSys.counters["trap.int"], 20001);
  assert.equal(j.configs[0].results[0].ratioToBare, null);
  assert.equal(j.configs[1].results[2].error, "guest ended with triple-fault after 123 instructions");
  assert.equal(j.configs[2].note, "mode bt is not in this build yet");
});
