// The 64-bit escape guest (guests/escape64): on the bare machine (nehalem) every attempt
// shows the outcome attempts64.ts worked out from the SDM (or, where noted, the model's);
// under vtx+EPT and svm+NPT a sample of attempts from every group is CONTAINED by the
// monitor's own integrity check; a configuration the CLI refuses is `refused`, never judged.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { runLabGuest } from "../guest-runner.js";
import { ATTEMPTS_64, findAttempt64 } from "./attempts64.js";
import { guestView, parseEscLines, parseListLines } from "./attempts.js";
import { runEscapeSuite } from "./suite.js";
import { CONFIGS_64, summarize } from "./verdict.js";
import { ESCAPE64_IMAGE } from "../../guests/images.js";
import { cliRefusalProbe } from "../../cli/lab-try.js";

const image = new Uint8Array(readFileSync(ESCAPE64_IMAGE));

test("escape64 lists exactly the attempts of attempts64.ts, in order", () => {
  const r = runLabGuest(image, { mode: "bare", cpu: "nehalem", cmdline: "escape attempt=list" });
  assert.deepEqual(parseListLines(r.serial), ATTEMPTS_64.map((a) => a.name));
});

test("escape64 on bare nehalem: every attempt's outcome as the SDM (or the noted model difference) says", () => {
  const r = runLabGuest(image, { mode: "bare", cpu: "nehalem", cmdline: "escape attempt=all", maxInstructions: 100_000_000 });
  assert.deepEqual(r.end, { kind: "poweroff", status: 33 }, r.serial.slice(-400));
  const lines = parseEscLines(r.serial);
  assert.equal(lines.length, ATTEMPTS_64.length);
  for (const line of lines) {
    const a = findAttempt64(line.name)!;
    assert.equal(guestView(line), a.model?.outcome ?? a.bare, `${line.name}: ${a.why}`);
  }
});

test("escape64 under vtx+EPT, svm+NPT, bt --protect segments (LMSLE) and two-tables: contained by the integrity check; core2 segments refused", () => {
  const sample = ["write-rip-relative", "sysret-noncanon", "pml4-self-map", "hv-zero-sweep", "tss-in-region"]
    .map((n) => findAttempt64(n)!);
  const ids = ["vtx-ept", "svm-npt", "bt-segments", "bt-two-tables"];
  const configs = CONFIGS_64.filter((c) => c.mode === "bare" || ids.includes(c.id) || c.id === "bt-segments-core2");
  const report = runEscapeSuite(image, {
    attempts: sample, configs,
    // The CLI's own answer, asked as a user would (vmm86 run --kernel … --mode bt --cpu core2).
    refusal: cliRefusalProbe(ESCAPE64_IMAGE),
  });
  for (const a of sample) {
    for (const id of ids) {
      const run = report.rows.get(a.name)!.get(id)!;
      assert.equal(run.verdict, "CONTAINED", `${a.name}@${id}: ${run.reason}`);
      assert.deepEqual(run.integrity, { monitorIntact: true, guestRanAtCpl0: false });
    }
    assert.equal(report.rows.get(a.name)!.get("bt-segments-core2")!.verdict, "refused");
  }
  assert.equal(report.summary.exitCode, 0, report.summary.conclusion);
  assert.deepEqual(report.summary.refused, ["bt-segments-core2"]);
});

test("escape64 under the weakened bt configurations: paging-only and segments forced on athlon64-revc escape, seen by the integrity check", () => {
  const sample = ["rep-stos-region", "write-rip-relative"].map((n) => findAttempt64(n)!);
  const configs = CONFIGS_64.filter((c) => c.id === "bt-paging-only" || c.id === "bt-segments-unsafe");
  const report = runEscapeSuite(image, { attempts: sample, configs });
  for (const id of ["bt-paging-only", "bt-segments-unsafe"]) {
    const escaped = sample.filter((a) => report.rows.get(a.name)!.get(id)!.verdict === "ESCAPED");
    assert.ok(escaped.length > 0, `${id}: no attempt escaped`);
    for (const a of escaped) assert.equal(report.rows.get(a.name)!.get(id)!.integrity?.monitorIntact, false);
  }
});

test("the verdict is the integrity check's: a breach under a 64-bit configuration is ESCAPED whatever the guest printed", () => {
  const cfg = CONFIGS_64.find((c) => c.id === "vtx-ept")!;
  const report = runEscapeSuite(image, {
    attempts: [findAttempt64("write-moffs")!], configs: [cfg],
    run: () => ({ serial: "ESC write-moffs wrote\n", end: { kind: "poweroff", status: 33 }, instructions: 1, cycles: 1, hostMs: 0, counters: {},
      integrity: { monitorIntact: false, guestRanAtCpl0: false } }),
  });
  assert.equal(report.rows.get("write-moffs")!.get("vtx-ept")!.verdict, "ESCAPED");
  assert.equal(summarize([cfg], report.rows).exitCode, 10);
});
