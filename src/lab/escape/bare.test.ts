// Every escape attempt under bare: the guest reaches a clean end (powers off with 33 after
// printing its line) and sees exactly what the SDM predicts (ATTEMPTS[].bare, written by
// hand). Also: the guest's own list of attempts is the catalog's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runLabGuest } from "../guest-runner.js";
import { ATTEMPTS, guestView, parseEscLines, parseListLines } from "./attempts.js";
import { attemptCmdline } from "./suite.js";
import { loadEscapeImage } from "../../guests/images.js";

const image = loadEscapeImage();

test("the guest's attempt=list names the same attempts as the catalog, in order", () => {
  const r = runLabGuest(image, { mode: "bare", cpu: "standard", cmdline: "escape attempt=list" });
  assert.deepEqual(r.end, { kind: "poweroff", status: 33 });
  assert.deepEqual(parseListLines(r.serial), ATTEMPTS.map((a) => a.name));
});

test("an unknown attempt name is reported and powers off with the failure value", () => {
  const r = runLabGuest(image, { mode: "bare", cpu: "standard", cmdline: "escape attempt=no-such-thing" });
  assert.deepEqual(r.end, { kind: "poweroff", status: 35 });
  assert.deepEqual(parseEscLines(r.serial), [{ name: "no-such-thing", outcome: "unknown-attempt", detail: "" }]);
});

for (const a of ATTEMPTS) {
  test(`bare: ${a.name} ends cleanly with '${a.bare}'`, () => {
    const r = runLabGuest(image, { mode: "bare", cpu: "standard", cmdline: attemptCmdline(a.name), maxInstructions: 1e8 });
    assert.deepEqual(r.end, { kind: "poweroff", status: 33 }, `run ended ${JSON.stringify(r.end)}; serial:\n${r.serial}`);
    const lines = parseEscLines(r.serial);
    assert.equal(lines.length, 1, `one ESC line expected:\n${r.serial}`);
    assert.equal(lines[0].name, a.name);
    assert.equal(guestView(lines[0]), a.bare, `${a.name}: ${a.why}`);
    assert.equal(r.integrity, null, "no monitor under bare");
  });
}

test("bare: attempt=all runs every attempt in one boot with the same outcomes", () => {
  const r = runLabGuest(image, { mode: "bare", cpu: "standard", cmdline: "escape attempt=all", maxInstructions: 2e8 });
  assert.deepEqual(r.end, { kind: "poweroff", status: 33 });
  assert.deepEqual(parseEscLines(r.serial).map((l) => [l.name, guestView(l)]), ATTEMPTS.map((a) => [a.name, a.bare]));
});
