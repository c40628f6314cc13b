// The 8042 against the IBM PC/AT Technical Reference ("Keyboard Controller": status
// register, command byte, commands 0x20/0x60/0xAA/0xAB/0xAD/0xAE/0xC0/0xD0/0xD1/0xFx) and the
// PS/2 reference (0xA7–0xA9, 0xD2–0xD4), plus the keyboard commands Linux's atkbd sends
// (0xFF reset → FA AA, 0xF2 identify → FA AB 41 under translation, 0xF4, 0xED, 0xF0).

import { test } from "node:test";
import assert from "node:assert/strict";
import { I8042 } from "./i8042.js";

const DATA = 0, CMD = 4;

function kbc(): { k: I8042; ev: string[] } {
  const ev: string[] = [];
  const k = new I8042({
    irq1: (l) => ev.push(`irq1 ${l}`), irq12: (l) => ev.push(`irq12 ${l}`),
    onA20: (e) => ev.push(`a20 ${e}`), onReset: () => ev.push("reset"),
  });
  return { k, ev };
}

/** Read every byte the controller has for us. */
function drain(k: I8042): number[] {
  const out: number[] = [];
  while (k.read(CMD, 0) & 1) out.push(k.read(DATA, 0));
  return out;
}

test("self test 0xAA → 0x55 and SYS set; interface tests → 0x00", () => {
  const { k } = kbc();
  k.write(CMD, 0xaa, 0);
  assert.equal(k.read(CMD, 0) & 0x0d, 0x0d, "OBF, SYS, A2 (last write was a command)");
  assert.equal(k.read(DATA, 0), 0x55);
  assert.equal(k.read(CMD, 0) & 1, 0);
  k.write(CMD, 0xab, 0);
  k.write(CMD, 0xa9, 0);
  assert.deepEqual(drain(k), [0x00, 0x00]);
});

test("command byte: read 0x20, write 0x60; status SYS follows bit 2", () => {
  const { k } = kbc();
  k.write(CMD, 0x20, 0);
  assert.deepEqual(drain(k), [0x45]);
  k.write(CMD, 0x60, 0);
  k.write(DATA, 0x61, 0);
  assert.equal(k.read(CMD, 0) & 0x0c, 0, "SYS from command byte bit 2 = 0; A2 clear after data");
  k.write(CMD, 0x20, 0);
  assert.deepEqual(drain(k), [0x61]);
  k.write(CMD, 0xad, 0); k.write(CMD, 0xa7, 0);
  k.write(CMD, 0x20, 0);
  assert.deepEqual(drain(k), [0x71]);
});

test("A20 through the output port (0xD1) and 0xDD/0xDF; 0xD0 reads it back", () => {
  const { k, ev } = kbc();
  assert.equal(k.a20, true);
  k.write(CMD, 0xd1, 0); k.write(DATA, 0xcd, 0);
  assert.equal(k.a20, false);
  k.write(CMD, 0xd0, 0);
  assert.deepEqual(drain(k), [0xcd]);
  k.write(CMD, 0xdf, 0);
  assert.equal(k.a20, true);
  assert.deepEqual(ev.filter((e) => e.startsWith("a20")), ["a20 false", "a20 true"]);
});

test("reset: pulse 0xFE and output port bit 0 written low; 0xFF does nothing", () => {
  const { k, ev } = kbc();
  k.write(CMD, 0xff, 0);
  assert.deepEqual(ev, []);
  k.write(CMD, 0xfe, 0);
  assert.deepEqual(ev, ["reset"]);
  k.write(CMD, 0xd1, 0); k.write(DATA, 0xce, 0);
  assert.deepEqual(ev, ["reset", "reset"]);
});

test("keyboard: reset FA AA, identify FA AB 41 (translated) or 83, enable, LEDs, echo", () => {
  const { k } = kbc();
  k.write(DATA, 0xff, 0);
  assert.deepEqual(drain(k), [0xfa, 0xaa]);
  k.write(DATA, 0xf2, 0);
  assert.deepEqual(drain(k), [0xfa, 0xab, 0x41]);
  k.write(CMD, 0x60, 0); k.write(DATA, 0x05, 0); // no XLATE
  k.write(DATA, 0xf2, 0);
  assert.deepEqual(drain(k), [0xfa, 0xab, 0x83]);
  k.write(DATA, 0xed, 0); k.write(DATA, 0x07, 0);
  k.write(DATA, 0xf4, 0);
  k.write(DATA, 0xee, 0);
  k.write(DATA, 0xf0, 0); k.write(DATA, 0x00, 0);
  k.write(DATA, 0x12, 0);
  assert.deepEqual(drain(k), [0xfa, 0xfa, 0xfa, 0xee, 0xfa, 0xfa, 0x02, 0xfe]);
});

test("IRQ 1: each byte in the output buffer is a new edge; command byte bit 0 gates it", () => {
  const { k, ev } = kbc();
  k.keyboardInput([0x1e, 0x9e]);
  assert.deepEqual(ev, ["irq1 true"]);
  k.read(DATA, 0);
  assert.deepEqual(ev, ["irq1 true", "irq1 false", "irq1 true"]);
  k.read(DATA, 0);
  assert.deepEqual(ev.length, 4);
  k.write(CMD, 0x60, 0); k.write(DATA, 0x44, 0); // IRQ 1 off
  ev.length = 0;
  k.keyboardInput([0x1e]);
  assert.deepEqual(ev, []);
  assert.equal(k.read(CMD, 0) & 1, 1);
});

test("keyboard disabled (0xAD) holds keyboard bytes; controller replies still arrive", () => {
  const { k } = kbc();
  k.write(CMD, 0xad, 0);
  k.keyboardInput([0x1c]);
  k.write(CMD, 0xaa, 0);
  assert.deepEqual(drain(k), [0x55]);
  k.write(CMD, 0xae, 0);
  assert.deepEqual(drain(k), [0x1c]);
});

test("aux port: 0xD3 loops a byte back as aux data (AUXB, IRQ 12); 0xD4 times out", () => {
  const { k, ev } = kbc();
  k.write(CMD, 0x60, 0); k.write(DATA, 0x47, 0); // IRQ 1 + IRQ 12
  k.write(CMD, 0xa8, 0);
  k.write(CMD, 0xd3, 0); k.write(DATA, 0x5a, 0);
  assert.equal(k.read(CMD, 0) & 0x21, 0x21);
  assert.equal(k.read(DATA, 0), 0x5a);
  assert.deepEqual(ev, ["irq12 true", "irq12 false"]);
  k.write(CMD, 0xd4, 0); k.write(DATA, 0xf2, 0);
  assert.equal(k.read(CMD, 0) & 0x61, 0x61, "OBF, AUXB, timeout");
  assert.equal(k.read(DATA, 0), 0xfe);
});

test("save/restore keeps queued bytes", () => {
  const { k } = kbc();
  k.keyboardInput([1, 2]);
  const q = new I8042({ irq1: () => {} });
  q.restore(JSON.parse(JSON.stringify(k.save())));
  assert.deepEqual(drain(q), [1, 2]);
});
