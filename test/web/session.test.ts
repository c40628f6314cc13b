// The browser's Session, run in Node: stepped a little at a time or in long steps, the
// guest prints the same bytes as `vmm86 run` (guests/demo/expected-serial.txt), and its
// output leaves as events.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Session, type SessionEvent } from "../../src/web/session.js";
import { DEMO_IMAGE } from "../../src/guests/images.js";
import { REPO_ROOT } from "../support/paths.js";

const golden = readFileSync(join(REPO_ROOT, "guests", "demo", "expected-serial.txt"));
const image = readFileSync(DEMO_IMAGE);

function runDemo(mode: "bare" | "bt", stepMs: number): { serial: Buffer; events: SessionEvent[]; steps: number } {
  const events: SessionEvent[] = [];
  const s = new Session(image, { mode, cpu: "standard", ramBytes: 128 << 20, cmdline: "demo", maxInstructions: Number.MAX_SAFE_INTEGER }, (e) => events.push(e));
  let steps = 0;
  for (;;) {
    steps++;
    const r = s.runFor(stepMs);
    if (steps % 4 === 0) s.sample();
    if (r !== null) break;
  }
  const serial = Buffer.concat(events.flatMap((e) => (e.type === "serial" ? [e.bytes] : [])));
  return { serial, events, steps };
}

test("the demo through Session equals the golden log, whatever the step length", () => {
  for (const mode of ["bare", "bt"] as const) {
    const long = runDemo(mode, 10_000);
    const short = runDemo(mode, 0);
    assert.ok(long.serial.equals(golden), `${mode}: long steps`);
    assert.ok(short.serial.equals(golden), `${mode}: short steps`);
    assert.ok(short.steps > long.steps, `${mode}: ${short.steps} steps of 0 ms vs ${long.steps}`);
    const end = short.events.find((e) => e.type === "end");
    assert.ok(end !== undefined && end.type === "end" && end.end.kind === "poweroff" && end.end.status === 33);
    assert.equal(end.instructions, 3224921);
    if (mode === "bt") {
      const samples = short.events.flatMap((e) => (e.type === "sample" ? [e.sample] : []));
      assert.ok(samples.some((x) => x.perVirtualMs.trap > 0), "trap counters sampled");
      assert.ok(samples.some((x) => x.monitorRatio > 0), "monitor time sampled");
    }
  }
});

test("typed bytes reach the echo guest and come back as serial events", () => {
  const events: SessionEvent[] = [];
  const echo = readFileSync(join(REPO_ROOT, "guests", "echo", "echo.elf"));
  const s = new Session(echo, { mode: "bt", cpu: "standard", ramBytes: 32 << 20, cmdline: "echo", maxInstructions: Number.MAX_SAFE_INTEGER }, (e) => events.push(e));
  const text = (): string => Buffer.concat(events.flatMap((e) => (e.type === "serial" ? [e.bytes] : []))).toString("latin1");
  for (let k = 0; k < 50 && !text().includes("echo> "); k++) s.runFor(5);
  s.type(new TextEncoder().encode("ping\r"));
  for (let k = 0; k < 200 && !/ping\r\necho> $/.test(text()); k++) s.runFor(5);
  assert.match(text(), /echo> ping\r\necho> $/);
});
