// The red pill under the hardware-assisted monitor: svm+NPT/barcelona is compared with the
// bare machine its guest sees (bare/barcelona = --cpu barcelona,-apic,-svm,-npt) and is
// `same` in every row; the classic columns keep bare/standard as their reference.

import { test } from "node:test";
import assert from "node:assert/strict";
import { redpillColumns, runRedpill, REDPILL_REFERENCE } from "./report.js";
import { loadRedpillImage } from "../../guests/images.js";
import { availableModes } from "../guest-runner.js";
import { HW_COLUMNS } from "../columns.js";
import { formatTable } from "./format.js";

test("columns: the classic modes against bare/standard, each hardware-assisted column against its own bare", () => {
  const cols = redpillColumns();
  assert.deepEqual(cols.map((c) => [c.name, c.compare]), [
    ["bare/standard", REDPILL_REFERENCE], ["bare/strict", REDPILL_REFERENCE],
    ["trap/standard", REDPILL_REFERENCE], ["trap/strict", REDPILL_REFERENCE],
    ["bt/standard", REDPILL_REFERENCE], ["bt/strict", REDPILL_REFERENCE],
    ["bare/barcelona", "bare/barcelona"], ["svm+NPT/barcelona", "bare/barcelona"],
  ]);
  assert.equal(cols.find((c) => c.name === "bare/barcelona")!.cpu, HW_COLUMNS[0].bareCpu);
});

test("svm+NPT/barcelona: the same as bare/barcelona in every row, monitor intact", { skip: availableModes().includes("svm") ? false : "no svm in this build" }, () => {
  const columns = redpillColumns([], []);
  const report = runRedpill(loadRedpillImage(), { columns });
  const svm = report.configs.find((c) => c.mode === "svm")!;
  assert.ok(svm.run?.log.ended, "every probe finished under svm");
  assert.deepEqual(svm.run.integrity, { monitorIntact: true, guestRanAtCpl0: false });
  const k = report.configs.indexOf(svm);
  for (const row of report.rows) {
    const cell = row.cells[k];
    assert.equal(cell.result?.verdict, "same", `${row.probe.label} CPL ${row.cpl}: ${JSON.stringify(cell.result?.differences)}`);
    assert.equal(row.cells[k - 1].reference, true);
  }
  const t = formatTable(report);
  assert.match(t, /svm\+NPT\/barcelona \(compared with bare\/barcelona\): powered off/);
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
