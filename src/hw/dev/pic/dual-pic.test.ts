// The 8259A pair against the Intel 8259A datasheet: "Interrupt Sequence" (IRR → ISR on INTA),
// "Fully Nested Mode" and "Automatic Rotation"/"Specific Rotation" (OCW2, table 1),
// "Special Mask Mode" and "Poll Command" (OCW3), "Edge and Level Triggered Modes" (the default
// IR7 on a vanished request), and "Cascading" (the slave on IR2).

import { test } from "node:test";
import assert from "node:assert/strict";
import { DualPic } from "./dual-pic.js";
import { I8259 } from "./i8259.js";

/** Linux's init_8259A(): edge, cascade, vectors 0x30/0x38, 8086 mode, all masks open. */
function setup(level = false): DualPic {
  const p = new DualPic();
  const icw1 = 0x11 | (level ? 0x08 : 0);
  p.master.write(0, icw1); p.master.write(1, 0x30); p.master.write(1, 0x04); p.master.write(1, 0x01);
  p.slave.write(0, icw1); p.slave.write(1, 0x38); p.slave.write(1, 0x02); p.slave.write(1, 0x01);
  p.master.write(1, 0x00); p.slave.write(1, 0x00);
  return p;
}
const EOI = 0x20;

test("ICW sequence sets the vector base; IMR reads back through OCW1", () => {
  const p = setup();
  p.master.write(1, 0xfb);
  assert.equal(p.master.read(1), 0xfb);
  p.master.write(1, 0x00);
  p.setIrq(1, true);
  assert.equal(p.hasInterrupt(), true);
  assert.equal(p.acknowledge(), 0x31);
});

test("fixed priority: IR0 beats IR5; a lower request waits until EOI (fully nested)", () => {
  const p = setup();
  p.setIrq(5, true);
  p.setIrq(0, true);
  assert.equal(p.acknowledge(), 0x30);
  assert.equal(p.master.isr, 0x01);
  assert.equal(p.hasInterrupt(), false, "IR5 is lower than IR0 in service");
  p.master.write(0, EOI);
  assert.equal(p.hasInterrupt(), true);
  assert.equal(p.acknowledge(), 0x35);
  // A higher request may interrupt the lower service routine.
  p.setIrq(3, true);
  assert.equal(p.hasInterrupt(), true);
  assert.equal(p.acknowledge(), 0x33);
  assert.equal(p.master.isr, 0x28);
  p.master.write(0, EOI); // non-specific EOI clears the highest ISR bit (IR3)
  assert.equal(p.master.isr, 0x20);
});

test("specific EOI clears the named ISR bit only", () => {
  const p = setup();
  p.setIrq(6, true); p.acknowledge();
  p.setIrq(4, true); p.acknowledge();
  assert.equal(p.master.isr, 0x50);
  p.master.write(0, 0x60 | 6);
  assert.equal(p.master.isr, 0x10);
});

test("reading IRR and ISR selected by OCW3 RR/RIS", () => {
  const p = setup();
  p.master.write(1, 0xff);
  p.setIrq(3, true);
  assert.equal(p.master.read(0), 0x08, "IRR is the default after ICW1");
  p.master.write(1, 0x00);
  p.acknowledge();
  p.master.write(0, 0x0b);
  assert.equal(p.master.read(0), 0x08, "ISR");
  p.master.write(0, 0x0a);
  assert.equal(p.master.read(0), 0x00, "IRR cleared by INTA (edge)");
});

test("rotate on non-specific EOI makes the serviced IR the lowest priority", () => {
  const p = setup();
  p.setIrq(1, true);
  assert.equal(p.acknowledge(), 0x31);
  p.master.write(0, 0xa0); // rotate on non-specific EOI
  p.setIrq(0, true);
  p.setIrq(2 + 3, true); // IR5
  // Priority now 2 > 3 > … > 7 > 0 > 1: IR5 beats IR0.
  assert.equal(p.acknowledge(), 0x35);
});

test("set priority command (OCW2 110) and rotate on specific EOI", () => {
  const p = setup();
  p.master.write(0, 0xc0 | 4); // IR4 lowest: 5 is highest
  p.setIrq(3, true); p.setIrq(6, true);
  assert.equal(p.acknowledge(), 0x36);
  p.master.write(0, 0xe0 | 6); // rotate on specific EOI: IR6 lowest, IR7 highest
  p.setIrq(7, true);
  assert.equal(p.acknowledge(), 0x37);
});

test("automatic EOI: no ISR bit is set; rotate-in-AEOI rotates", () => {
  const p = new DualPic();
  p.master.write(0, 0x13); p.master.write(1, 0x08); p.master.write(1, 0x03); // single, AEOI
  p.setIrq(0, true);
  assert.equal(p.acknowledge(), 0x08);
  assert.equal(p.master.isr, 0);
  p.master.write(0, 0x80); // rotate in AEOI mode (set)
  p.setIrq(2, true);
  assert.equal(p.acknowledge(), 0x0a);
  p.setIrq(0, false); p.setIrq(0, true); p.setIrq(1, true);
  // IR2 is now lowest; 3 > … > 7 > 0 > 1 > 2.
  assert.equal(p.acknowledge(), 0x08);
});

test("special mask mode: masking the IR in service lets lower-priority requests in", () => {
  const p = setup();
  p.setIrq(3, true);
  assert.equal(p.acknowledge(), 0x33);
  p.setIrq(6, true);
  assert.equal(p.hasInterrupt(), false);
  p.master.write(1, 0x08); // mask IR3
  assert.equal(p.hasInterrupt(), false, "masking alone does not help");
  p.master.write(0, 0x68); // OCW3: ESMM SMM
  assert.equal(p.hasInterrupt(), true);
  assert.equal(p.acknowledge(), 0x36);
  p.master.write(0, 0x48); // reset special mask
  p.master.write(0, 0x60 | 6);
  p.setIrq(5, true);
  assert.equal(p.hasInterrupt(), false, "IR3 still in service blocks IR5 again");
});

test("poll command: the next read returns 0x80 | level and acts as INTA", () => {
  const p = setup();
  p.master.write(0, 0x0c);
  assert.equal(p.master.read(0), 0x00, "nothing pending");
  p.setIrq(4, true);
  p.master.write(0, 0x0c);
  assert.equal(p.master.read(0), 0x84);
  assert.equal(p.master.isr, 0x10);
  assert.equal(p.master.read(1), 0x00, "poll is one read only; next read is IMR");
});

test("spurious IRQ 7: request masked between INTR and INTA gives vector base+7, no ISR", () => {
  const p = setup();
  p.setIrq(1, true);
  assert.equal(p.hasInterrupt(), true);
  p.master.write(1, 0x02);
  assert.equal(p.acknowledge(), 0x37);
  assert.equal(p.master.isr, 0);
});

test("spurious IRQ 7: level-triggered input dropping before INTA", () => {
  const p = setup(true);
  p.setIrq(5, true);
  assert.equal(p.hasInterrupt(), true);
  p.setIrq(5, false);
  assert.equal(p.acknowledge(), 0x37);
  assert.equal(p.master.isr, 0);
});

test("edge vs level: edge needs a new rising edge; level re-requests while high", () => {
  const e = setup(false);
  e.setIrq(3, true); e.acknowledge(); e.master.write(0, EOI);
  assert.equal(e.hasInterrupt(), false, "edge: the line is still high but no new edge");
  e.setIrq(3, true);
  assert.equal(e.hasInterrupt(), false, "raising an already-high line is not an edge");
  e.setIrq(3, false); e.setIrq(3, true);
  assert.equal(e.hasInterrupt(), true);
  // The latched edge request survives the line falling again (see i8259.ts header).
  const e2 = setup(false);
  e2.setIrq(4, true); e2.setIrq(4, false);
  assert.equal(e2.acknowledge(), 0x34);

  const l = setup(true);
  l.setIrq(3, true); l.acknowledge(); l.master.write(0, EOI);
  assert.equal(l.hasInterrupt(), true, "level: still high after EOI, requests again");
  l.setIrq(3, false);
  assert.equal(l.hasInterrupt(), false);
});

test("cascade: IRQ 12 arrives through master IR2 with the slave's vector", () => {
  const p = setup();
  p.setIrq(12, true);
  assert.equal(p.hasInterrupt(), true);
  assert.equal(p.acknowledge(), 0x3c);
  assert.equal(p.master.isr, 0x04);
  assert.equal(p.slave.isr, 0x10);
  // While IR2 is in service, a further slave request (higher on the slave) waits...
  p.setIrq(8, true);
  assert.equal(p.slave.int, true);
  assert.equal(p.hasInterrupt(), false);
  // ...but master IR0/IR1 still get through.
  p.setIrq(1, true);
  assert.equal(p.acknowledge(), 0x31);
  p.master.write(0, EOI); // IR1
  p.slave.write(0, EOI);  // IRQ 12 done
  p.master.write(0, EOI); // IR2
  assert.equal(p.hasInterrupt(), true, "IRQ 8 still pending on the slave");
  assert.equal(p.acknowledge(), 0x38);
});

test("cascade: slave masks, and a spurious IRQ 15 leaves master IR2 in service", () => {
  const p = setup();
  p.slave.write(1, 0x01);
  p.setIrq(8, true);
  assert.equal(p.hasInterrupt(), false);
  p.slave.write(1, 0x00);
  assert.equal(p.hasInterrupt(), true);
  p.slave.write(1, 0x01); // vanish between INTR and INTA
  // The master had already latched IR2 (edge) — the slave answers with its IR7.
  assert.equal(p.acknowledge(), 0x3f);
  assert.equal(p.slave.isr, 0);
  assert.equal(p.master.isr, 0x04);
});

test("special fully nested mode lets a higher slave request through while IR2 is in service", () => {
  const p = new DualPic();
  p.master.write(0, 0x11); p.master.write(1, 0x30); p.master.write(1, 0x04); p.master.write(1, 0x11);
  p.slave.write(0, 0x11); p.slave.write(1, 0x38); p.slave.write(1, 0x02); p.slave.write(1, 0x01);
  p.setIrq(12, true);
  assert.equal(p.acknowledge(), 0x3c);
  p.setIrq(9, true);
  assert.equal(p.hasInterrupt(), true);
  assert.equal(p.acknowledge(), 0x39);
});

test("ICW1 resets IMR, ISR and the edge sense; save/restore round-trips", () => {
  const c = new I8259();
  c.write(0, 0x13); c.write(1, 0x20); c.write(1, 0x01);
  c.write(1, 0xf0);
  c.setIrq(0, true);
  c.acknowledgeIrq();
  const copy = new I8259();
  copy.restore(c.save());
  assert.deepEqual(copy.save(), c.save());
  c.write(0, 0x13);
  assert.equal(c.imr, 0);
  assert.equal(c.isr, 0);
  assert.equal(c.irr, 0);
  assert.equal(copy.isr, 1);
});
