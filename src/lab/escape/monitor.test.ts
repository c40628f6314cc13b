// The escape suite against the monitor: every attempt contained under bt, under
// trap --cpu strict and under the hardware-assisted monitors (svm+NPT), at least one escape
// under bt --protect paging-only, and under bt and svm+NPT the guest sees what it sees on
// bare (the hv-* attempts: nothing of the VMCB, nested tables, maps or host code). Each test runs when this build offers its mode
// (availableModes()) and is skipped with the reason otherwise.
import { test } from "node:test";
import assert from "node:assert/strict";
import { availableModes } from "../guest-runner.js";
import { ATTEMPTS, guestView } from "./attempts.js";
import { runAttempt } from "./suite.js";
import { loadEscapeImage } from "../../guests/images.js";
import { CONFIGS } from "./verdict.js";

const image = loadEscapeImage();
const modes = availableModes();

// Under bt each attempt runs once for both checks: contained, and the guest sees what bare
// shows (the ESC line's outcome).
for (const config of CONFIGS.filter((c) => c.role === "protected")) {
  const skip = modes.includes(config.mode) ? false : `mode ${config.mode} is not in this build (availableModes: ${modes.join(", ")})`;
  for (const a of ATTEMPTS) {
    const title = config.id === "bt" ? `${config.label}: ${a.name} is contained and shows the guest what bare shows ('${a.bare}')` : `${config.label}: ${a.name} is contained`;
    test(title, { skip }, () => {
      const r = runAttempt(image, a, config);
      assert.equal(r.verdict, "CONTAINED", `${a.name} under ${config.label}: ${r.verdict} (${r.reason}); end ${r.end}; guest ${r.guest ? guestView(r.guest) : "printed no line"}`);
      // A hardware-assisted monitor runs the guest on the processor: its view is bare's.
      if (config.paging !== undefined) assert.equal(r.guest ? guestView(r.guest) : "no line", a.bare, `${a.name}: the guest's view under ${config.label}`);
      if (config.id === "bt") {
        assert.ok(r.guest, `no ESC line under bt (end ${r.end})`);
        assert.equal(guestView(r.guest), a.bare, `${a.name}: the guest's view under bt`);
      }
    });
  }
}

const weak = CONFIGS.find((c) => c.role === "weakened")!;
// One attempt is enough to show the suite can see an escape, and this one must get through:
// a write over the whole region under a ring-1 guest with no segment truncation. (Running
// the other attempts too decided nothing: the test asked that this one be among those
// that escaped.)
test(`${weak.label}: rep-stos-region escapes (the suite can see an escape)`, { skip: modes.includes(weak.mode) ? false : `mode ${weak.mode} is not in this build` }, () => {
  const a = ATTEMPTS.find((x) => x.name === "rep-stos-region")!;
  const r = runAttempt(image, a, weak);
  assert.equal(r.verdict, "ESCAPED", `rep-stos-region under ${weak.label}: ${r.verdict} (${r.reason}); end ${r.end}`);
});
