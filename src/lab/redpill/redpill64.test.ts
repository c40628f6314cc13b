// The 64-bit red-pill guest (guests/redpill64): on the bare machine its lines are the
// values worked out from the SDM and redpill64.h; under the hardware-assisted monitors
// that run 64-bit guests (vtx+EPT, svm+NPT) every row is the same as on the bare machine
// the guest sees; a configuration the CLI refuses is a refused column with the CLI's code.
//
//   GDT at 0x180000, 11 descriptors → SGDT limit 0x57, 64-bit base. IDT: 256 16-byte gates
//   → limit 0xFFF. LDTR 0x40, TR 0x30 (16-byte system descriptors, two slots each).
//   LAR of the 64-bit code segments: flags nibble G|L = 0xA → 0x00a09b00 / 0x00a0fb00;
//   the busy 64-bit TSS is type 0xB. PUSH CS (0x0E) is #UD in 64-bit mode; SWAPGS at CPL 3
//   is #GP(0). SYSCALL enters with CS = STAR[47:32] = 0x08, SS = 0x10 and IF masked by
//   FMASK; SYSRETQ returns with CS = STAR[63:48] + 16 | 3 = 0x2b, SS = + 8 | 3 = 0x23.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { runLabGuest } from "../guest-runner.js";
import { parseRedpill, observationKey } from "./parse.js";
import { REDPILL64_REFERENCE, redpillColumns64, runRedpill } from "./report.js";
import { PROBES_64 } from "./probes64.js";
import { REDPILL64_IMAGE } from "../../guests/images.js";
import { cliRefusalProbe } from "../../cli/lab-try.js";
import { formatTable } from "./format.js";

const image = new Uint8Array(readFileSync(REDPILL64_IMAGE));

test("redpill64 on bare core2: the values the SDM and the guest's own tables give", () => {
  const r = runLabGuest(image, { mode: "bare", cpu: "core2", maxInstructions: 20_000_000 });
  const log = parseRedpill(r.serial);
  assert.ok(log.ended, r.serial.slice(-300));
  assert.equal(log.observations.size, PROBES_64.length * 2);
  const v = (name: string, cpl: 0 | 3) => log.observations.get(observationKey(name, cpl))!;
  for (const cpl of [0, 3] as const) {
    assert.deepEqual(v("sgdt", cpl).values, { limit: "0x0057", base: "0x0000000000180000" });
    assert.deepEqual(v("sidt", cpl).values, { limit: "0x0fff", base: "0x0000000000181000" });
    assert.deepEqual(v("sldt", cpl).values, { sel: "0x0040" });
    assert.deepEqual(v("str", cpl).values, { sel: "0x0030" });
    assert.deepEqual(v("push_cs", cpl).fault, { vector: 6, errorCode: 0 });
    assert.deepEqual(v("push_sreg", cpl).values, { fs: "0x0053", gs: "0x0007" });
  }
  assert.equal(v("lar", 0).values.s08, "0x00a09b00");
  assert.equal(v("lar", 0).values.s2b, "0x00a0fb00");
  assert.equal(v("lar", 0).values.s30, "0x00008b00");
  assert.equal(v("lar", 3).values.s08, "-");
  assert.equal(v("lsl", 0).values.s53, "0x00012345");
  assert.deepEqual(v("popf", 3).values, { if_set: "1", iopl_set: "0", if_clear: "1", iopl_clear: "0" });
  assert.deepEqual(v("int", 3).values, { handled: "1", frame_cs: "0x002b", frame_ss: "0x0023" });
  assert.deepEqual(v("syscall", 3).values, { entered: "1", cs: "0x0008", ss: "0x0010", if: "0", r11_if: "1", ret_cs: "0x002b", ret_ss: "0x0023" });
  assert.deepEqual(v("swapgs", 0).values, { gs: "0x0007" });
  assert.deepEqual(v("swapgs", 3).fault, { vector: 13, errorCode: 0 });
});

test("redpill64 under vtx+EPT and svm+NPT: the same as the bare machine the guest sees in every row", () => {
  const columns = redpillColumns64().filter((c) => c.mode === "bare" || c.paging === "nested");
  const report = runRedpill(image, { bits: 64, columns });
  for (const name of ["vtx+EPT/nehalem", "svm+NPT/barcelona"]) {
    const k = report.configs.findIndex((c) => c.name === name);
    assert.ok(k > 0, name);
    assert.ok(report.configs[k].run?.log.ended, name);
    assert.deepEqual(report.configs[k].run?.integrity, { monitorIntact: true, guestRanAtCpl0: false }, name);
    for (const row of report.rows) assert.equal(row.cells[k].result?.verdict, "same", `${name} ${row.probe.label} CPL ${row.cpl}`);
  }
  assert.equal(report.reference, REDPILL64_REFERENCE);
  assert.match(formatTable(report), /No differences from the reference columns\./);
});

test("a configuration the CLI refuses is a refused column with the CLI's own code, found by running it", () => {
  const probe = cliRefusalProbe(REDPILL64_IMAGE);
  const columns = redpillColumns64().filter((c) => c.name === "bare/core2" || c.name === "bt/segments-core2/core2" || c.name === "bt/two-tables/core2");
  const report = runRedpill(image, { bits: 64, columns, refusal: probe });
  // core2 has no EFER.LMSLE: the monitor refuses --protect segments when the guest turns
  // long mode on (the CLI cannot tell a 32-bit multiboot image will), as VMware refused it.
  const bt = report.configs.find((c) => c.name === "bt/segments-core2/core2")!;
  assert.equal(bt.run, null);
  assert.equal(bt.refused?.code, "E_PROTECT_UNSOUND");
  assert.equal(bt.refused?.exitCode, 14);
  assert.match(bt.refused?.message ?? "", /EFER\.LMSLE/);
  // Two tables work on every long-mode part: the guest runs to its end.
  const two = report.configs.find((c) => c.name === "bt/two-tables/core2")!;
  assert.equal(two.refused, undefined);
  assert.ok(two.run?.log.ended, "two-tables runs the guest to its end");
  assert.match(formatTable(report), /bt\/segments-core2\/core2: refused by `vmm86 run`: E_PROTECT_UNSOUND \(exit 14\)/);
  assert.deepEqual(probe({ mode: "svm", cpu: "barcelona", paging: "nested" }), null);
});
