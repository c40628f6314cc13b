// The I/O APIC against the 82093AA datasheet: register reset values and read-only bits,
// edge-triggered delivery on rising edges, level-triggered delivery with remote IRR until the
// local APIC's EOI, masking, and IOREGSEL/IOWIN access.

import { test } from "node:test";
import assert from "node:assert/strict";
import { IoApic } from "./io-apic.js";

function setup(): { io: IoApic; got: number[]; levels: boolean[]; nmis: { n: number } } {
  const got: number[] = [], levels: boolean[] = [], nmis = { n: 0 };
  const io = new IoApic({ acceptInterrupt: (v, l) => { got.push(v); levels.push(l); }, nmi: () => { nmis.n++; } });
  return { io, got, levels, nmis };
}

test("reset: version 0x170011 (24 entries), every redirection entry masked; IOREGSEL/IOWIN", () => {
  const { io } = setup();
  io.write32(0, 1);
  assert.equal(io.read32(0x10), 0x0017_0011);
  for (let pin = 0; pin < 24; pin++) assert.equal(io.readReg(0x10 + 2 * pin), 1 << 16);
  io.write32(0, 0);
  io.write32(0x10, 0x0300_0000);
  assert.equal(io.readReg(0), 0x0300_0000, "ID bits 27:24");
});

test("edge-triggered: one delivery per rising edge, none while masked", () => {
  const { io, got } = setup();
  io.setIrq(2, true); io.setIrq(2, false);
  assert.deepEqual(got, [], "masked");
  io.writeReg(0x10 + 4, 0x30);
  io.setIrq(2, true);
  io.setIrq(2, true); // no edge
  io.setIrq(2, false);
  io.setIrq(2, true);
  assert.deepEqual(got, [0x30, 0x30]);
});

test("level-triggered: remote IRR holds further deliveries until EOI; the line still high then delivers again", () => {
  const { io, got, levels } = setup();
  io.writeReg(0x10 + 18, 0x8000 | 0x41); // pin 9, level, vector 0x41
  io.setIrq(9, true);
  assert.deepEqual(got, [0x41]);
  assert.equal(levels[0], true);
  assert.equal((io.readReg(0x10 + 18) >> 14) & 1, 1, "remote IRR");
  io.setIrq(9, true);
  assert.deepEqual(got, [0x41]);
  io.eoi(0x41);
  assert.deepEqual(got, [0x41, 0x41], "still asserted: delivered again");
  io.setIrq(9, false);
  io.eoi(0x41);
  assert.deepEqual(got, [0x41, 0x41]);
  io.writeReg(0x10 + 18, 0x8000 | 0x41 | (1 << 14));
  assert.equal((io.readReg(0x10 + 18) >> 14) & 1, 0, "remote IRR is read-only");
});

test("NMI delivery mode raises NMI", () => {
  const { io, nmis } = setup();
  io.writeReg(0x10 + 2, 0x400);
  io.setIrq(1, true);
  assert.equal(nmis.n, 1);
});
