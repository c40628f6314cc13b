// The lab's guest runner: which monitors it can build (MONITORS), and that a
// hardware-assisted monitor is refused with a clear message where run.ts refuses it.

import { test } from "node:test";
import assert from "node:assert/strict";
import { availableModes, runLabGuest } from "./guest-runner.js";
import { HW_COLUMNS } from "./columns.js";
import { loadRedpillImage } from "../guests/images.js";

test("the modes: bare, the classic monitors, vtx and svm; every hardware-assisted column's mode is built", () => {
  assert.deepEqual(availableModes(), ["bare", "trap", "bt", "vtx", "svm"]);
  for (const h of HW_COLUMNS) assert.ok(availableModes().includes(h.mode), h.label);
});

test("vtx and svm need a model with the extension, and nested paging needs a model with it", () => {
  const image = loadRedpillImage();
  assert.throws(() => runLabGuest(image, { mode: "svm", cpu: "standard" }), /--mode svm needs a CPU model with SVM/);
  assert.throws(() => runLabGuest(image, { mode: "svm", cpu: "athlon64-revf", paging: "nested" }), /nested paging needs a CPU model with NPT/);
  assert.throws(() => runLabGuest(image, { mode: "vtx", cpu: "standard" }), /--mode vtx needs a CPU model with VMX/);
  assert.throws(() => runLabGuest(image, { mode: "vtx", cpu: "core-duo", paging: "nested" }), /EPT needs --cpu nehalem or westmere/);
});

test("svm runs a lab guest to its end with the monitor's integrity verdict and vmexit counters", () => {
  const r = runLabGuest(loadRedpillImage(), { mode: "svm", cpu: "barcelona", maxInstructions: 20_000_000 });
  assert.deepEqual(r.end, { kind: "poweroff", status: 33 });
  assert.deepEqual(r.integrity, { monitorIntact: true, guestRanAtCpl0: false });
  assert.ok((r.counters["vmexit.IOIO"] ?? 0) > 0);
});
