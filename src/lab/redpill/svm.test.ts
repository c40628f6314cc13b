// The red pill under the hardware-assisted monitors: each column (vtx-shadow/core-duo,
// vtx+EPT/nehalem, svm-shadow/athlon64-revf, svm+NPT/barcelona) is compared with the bare
// machine its guest sees (columns.ts: the model less the extension and the local APIC) and
// is `same` in every row; the classic columns keep bare/standard as their reference.

import { test } from "node:test";
import assert from "node:assert/strict";
import { redpillColumns, runRedpill, REDPILL_REFERENCE } from "./report.js";
import { loadRedpillImage } from "../../guests/images.js";
import { HW_COLUMNS } from "../columns.js";
import { formatTable } from "./format.js";

test("columns: the classic modes against bare/standard, each hardware-assisted column against its own bare", () => {
  const cols = redpillColumns();
  assert.deepEqual(cols.map((c) => [c.name, c.compare]), [
    ["bare/standard", REDPILL_REFERENCE], ["bare/strict", REDPILL_REFERENCE],
    ["trap/standard", REDPILL_REFERENCE], ["trap/strict", REDPILL_REFERENCE],
    ["bt/standard", REDPILL_REFERENCE], ["bt/strict", REDPILL_REFERENCE],
    ...HW_COLUMNS.flatMap((h) => [[`bare/${h.bareLabel}`, `bare/${h.bareLabel}`], [`${h.label}/${h.bareLabel}`, `bare/${h.bareLabel}`]]),
  ]);
  for (const h of HW_COLUMNS) assert.equal(cols.find((c) => c.name === `bare/${h.bareLabel}`)!.cpu, h.bareCpu);
});

test("every hardware-assisted column (vtx-shadow, vtx+EPT, svm-shadow, svm+NPT): the same as its bare machine in every row, monitor intact", () => {
  const columns = redpillColumns([], []);
  const report = runRedpill(loadRedpillImage(), { columns });
  const t = formatTable(report);
  for (const h of HW_COLUMNS) {
    const name = `${h.label}/${h.bareLabel}`;
    const k = report.configs.findIndex((c) => c.name === name);
    const cfg = report.configs[k];
    assert.ok(cfg.run?.log.ended, `every probe finished under ${name}`);
    assert.deepEqual(cfg.run.integrity, { monitorIntact: true, guestRanAtCpl0: false }, name);
    for (const row of report.rows) {
      const cell = row.cells[k];
      assert.equal(cell.result?.verdict, "same", `${name}: ${row.probe.label} CPL ${row.cpl}: ${JSON.stringify(cell.result?.differences)}`);
      assert.equal(row.cells[k - 1].reference, true);
    }
    assert.match(t, new RegExp(`${name.replace("+", "\\+")} \\(compared with bare/${h.bareLabel}\\): powered off`));
  }
  assert.match(t, /No differences from the reference columns\./);
});

test("a configuration whose run throws is an error column, not a crash", () => {
  const columns = [{ mode: "bare" as const, cpu: "standard", name: "bare/standard", compare: REDPILL_REFERENCE },
    { mode: "svm" as const, cpu: "standard", name: "svm/standard", compare: REDPILL_REFERENCE }];
  const report = runRedpill(new Uint8Array(0), {
    columns, available: ["bare", "svm"],
    runner: (_img, o) => { if (o.mode === "svm") throw new Error("--mode svm needs a CPU model with SVM"); throw new Error("no guest"); },
  });
  assert.equal(report.configs[1].error, "--mode svm needs a CPU model with SVM");
  const t = formatTable(report);
  assert.match(t, /svm\/standard: error: --mode svm needs a CPU model with SVM/);
  assert.match(t, /^SGDT\s+0\s+error\s+error$/m);
});
