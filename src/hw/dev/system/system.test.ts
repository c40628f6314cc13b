// Port 0x92 (PS/2 system control port A: bit 1 fast A20, bit 0 fast reset on a 0→1 write),
// the A20 OR gate, and port 0x80 (POST code latch). Port 0x61 is tested with the PIT.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Port92 } from "./port92.js";
import { Port80 } from "./port80.js";
import { A20Gate, A20_KBC, A20_PORT92 } from "./a20-gate.js";

test("port 0x92: bit 1 drives A20, bit 0 rising resets, value reads back", () => {
  const ev: string[] = [];
  const p = new Port92({ onA20: (e) => ev.push(`a20 ${e}`), onReset: () => ev.push("reset") });
  p.write(0, 0x02);
  assert.equal(p.read(), 0x02);
  assert.equal(p.a20, true);
  p.write(0, 0x02); // no change, no event
  p.write(0, 0x03);
  p.write(0, 0x03); // bit 0 already set: no second reset
  p.write(0, 0x00);
  assert.deepEqual(ev, ["a20 true", "reset", "a20 false"]);
});

test("A20 gate is the OR of the i8042 and port 0x92 inputs", () => {
  const ev: boolean[] = [];
  const g = new A20Gate((e) => ev.push(e));
  g.set(A20_KBC, true);
  g.set(A20_PORT92, true);
  g.set(A20_KBC, false);
  assert.equal(g.enabled, true);
  g.set(A20_PORT92, false);
  assert.deepEqual(ev, [true, false]);
});

test("port 0x80: latches and reports POST codes", () => {
  const codes: number[] = [];
  const p = new Port80((v) => codes.push(v));
  assert.equal(p.read(), 0xff);
  p.write(0, 0x1234);
  assert.equal(p.read(), 0x34);
  const q = new Port80();
  q.restore(p.save());
  assert.equal(q.read(), 0x34);
  assert.deepEqual(codes, [0x34]);
});
