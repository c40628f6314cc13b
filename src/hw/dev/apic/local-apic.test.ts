// The local APIC on its own, against Intel SDM vol. 3 chapter 10: register reset values, the
// timer's one-shot, periodic and TSC-deadline modes with the divide configuration, priority
// (TPR, PPR, nested ISR) and EOI, the spurious vector, LVT masks, self-IPIs and the ExtINT
// virtual wire. Time is driven by hand through the host.

import { test } from "node:test";
import assert from "node:assert/strict";
import { LocalApic, ApicReg, APIC_BASE_DEFAULT, APIC_BASE_ENABLE, APIC_BASE_BSP } from "./local-apic.js";
import { NS_PER_CYCLE } from "../device.js";
import type { InterruptSource } from "../../cpu/cpu.js";

function setup(): { apic: LocalApic; clock: { cycles: number }; line: { level: boolean; nmi: number } } {
  const clock = { cycles: 0 }, line = { level: false, nmi: 0 };
  const apic = new LocalApic({
    now: () => clock.cycles * NS_PER_CYCLE,
    tsc: () => clock.cycles,
    setIntr: (l) => { line.level = l; },
    nmi: () => { line.nmi++; },
    moved: () => {},
  });
  return { apic, clock, line };
}
const at = (a: LocalApic, clock: { cycles: number }, c: number): void => { clock.cycles = c; a.advance(c * NS_PER_CYCLE); };

test("reset: base 0xFEE00000 with BSP and enable, version 0x50014, SVR 0xFF (software-disabled), every LVT masked", () => {
  const { apic } = setup();
  assert.equal(apic.baseMsr, APIC_BASE_DEFAULT | APIC_BASE_BSP | APIC_BASE_ENABLE);
  assert.equal(apic.readReg(ApicReg.VERSION), 0x0005_0014);
  assert.equal(apic.readReg(ApicReg.SVR), 0xff);
  for (const r of [ApicReg.LVT_TIMER, ApicReg.LVT_LINT0, ApicReg.LVT_LINT1, ApicReg.LVT_ERROR]) assert.equal(apic.readReg(r), 1 << 16);
  assert.equal(apic.active, false);
  // Software-disabled: LVT writes keep the mask bit.
  apic.writeReg(ApicReg.LVT_TIMER, 0x40);
  assert.equal(apic.readReg(ApicReg.LVT_TIMER), (1 << 16) | 0x40);
});

test("one-shot timer: counts down at cycles / divide, fires once at zero", () => {
  const { apic, clock, line } = setup();
  apic.writeReg(ApicReg.SVR, 0x1ff);
  apic.writeReg(ApicReg.TIMER_DIVIDE, 0x1); // divide by 4
  apic.writeReg(ApicReg.LVT_TIMER, 0x40);
  apic.writeReg(ApicReg.TIMER_INITIAL, 100);
  at(apic, clock, 40);
  assert.equal(apic.readReg(ApicReg.TIMER_CURRENT), 90);
  assert.equal(apic.nextEvent(40 * NS_PER_CYCLE), 400 * NS_PER_CYCLE);
  at(apic, clock, 399);
  assert.equal(line.level, false);
  at(apic, clock, 400);
  assert.equal(line.level, true);
  assert.equal(apic.readReg(ApicReg.TIMER_CURRENT), 0);
  assert.equal(apic.acknowledge(), 0x40);
  apic.writeReg(ApicReg.EOI, 0);
  at(apic, clock, 2000);
  assert.equal(line.level, false, "one-shot: no second interrupt");
});

test("periodic timer reloads; divide value 1011b is divide by 1; a masked LVT counts but does not interrupt", () => {
  const { apic, clock, line } = setup();
  apic.writeReg(ApicReg.SVR, 0x1ff);
  apic.writeReg(ApicReg.TIMER_DIVIDE, 0xb);
  apic.writeReg(ApicReg.LVT_TIMER, (1 << 17) | 0x41);
  apic.writeReg(ApicReg.TIMER_INITIAL, 50);
  let fired = 0;
  for (let c = 1; c <= 500; c++) {
    at(apic, clock, c);
    if (line.level) { assert.equal(apic.acknowledge(), 0x41); apic.writeReg(ApicReg.EOI, 0); fired++; }
  }
  assert.equal(fired, 10);
  assert.equal(apic.readReg(ApicReg.TIMER_CURRENT), 50);
  apic.writeReg(ApicReg.LVT_TIMER, (1 << 17) | (1 << 16) | 0x41);
  at(apic, clock, 1000);
  assert.equal(line.level, false);
});

test("TSC-deadline mode: IA32_TSC_DEADLINE arms, 0 disarms, the initial count is ignored", () => {
  const { apic, clock, line } = setup();
  apic.writeReg(ApicReg.SVR, 0x1ff);
  apic.tscDeadlineMsr = 500; // not in TSC-deadline mode yet: ignored
  assert.equal(apic.tscDeadlineMsr, 0);
  apic.writeReg(ApicReg.LVT_TIMER, (2 << 17) | 0x42);
  apic.writeReg(ApicReg.TIMER_INITIAL, 10);
  assert.equal(apic.readReg(ApicReg.TIMER_INITIAL), 0);
  apic.tscDeadlineMsr = 500;
  assert.equal(apic.nextEvent(0), 500 * NS_PER_CYCLE);
  at(apic, clock, 499);
  assert.equal(line.level, false);
  at(apic, clock, 500);
  assert.equal(line.level, true);
  assert.equal(apic.tscDeadlineMsr, 0, "fired: disarmed");
  assert.equal(apic.acknowledge(), 0x42);
  apic.tscDeadlineMsr = 900;
  apic.tscDeadlineMsr = 0;
  at(apic, clock, 1000);
  assert.equal(line.level, false);
});

test("priority: TPR blocks its class and below; a higher class nests; EOI clears the highest ISR bit; PPR follows", () => {
  const { apic, line } = setup();
  apic.writeReg(ApicReg.SVR, 0x1ff);
  apic.writeReg(ApicReg.TPR, 0x50);
  apic.acceptInterrupt(0x55);
  assert.equal(line.level, false, "class 5 is not above TPR class 5");
  apic.writeReg(ApicReg.TPR, 0x40);
  assert.equal(line.level, true);
  assert.equal(apic.acknowledge(), 0x55);
  assert.equal(apic.readReg(ApicReg.PPR), 0x50, "PPR = ISR class 5 above TPR 0x40");
  apic.acceptInterrupt(0x52);
  assert.equal(line.level, false, "same class as the one in service");
  apic.acceptInterrupt(0x61);
  assert.equal(apic.acknowledge(), 0x61, "a higher class nests");
  assert.equal(apic.readReg(ApicReg.ISR + 0x30), (1 << 1), "ISR bit 0x61");
  apic.writeReg(ApicReg.EOI, 0);
  assert.equal(apic.readReg(ApicReg.ISR + 0x30), 0);
  apic.writeReg(ApicReg.EOI, 0);
  assert.equal(apic.acknowledge(), 0x52);
});

test("the spurious vector when nothing is deliverable at INTA; vectors below 16 are illegal (ESR)", () => {
  const { apic } = setup();
  apic.writeReg(ApicReg.SVR, 0x1ef);
  assert.equal(apic.acknowledge(), 0xef);
  apic.acceptInterrupt(5);
  assert.equal(apic.readReg(ApicReg.IRR), 0);
  assert.equal(apic.readReg(ApicReg.ESR), 0, "errors show only after a write to the ESR");
  apic.writeReg(ApicReg.ESR, 0);
  assert.equal(apic.readReg(ApicReg.ESR), 1 << 6, "received illegal vector");
  apic.writeReg(ApicReg.ESR, 0);
  assert.equal(apic.readReg(ApicReg.ESR), 0);
});

test("self-IPI through the ICR (fixed and NMI), physical ID 0 and the self shorthand", () => {
  const { apic, line } = setup();
  apic.writeReg(ApicReg.SVR, 0x1ff);
  apic.writeReg(ApicReg.ICR_HI, 0);
  apic.writeReg(ApicReg.ICR_LO, 0x0004_0070); // shorthand self, fixed, vector 0x70
  assert.equal(line.level, true);
  assert.equal(apic.acknowledge(), 0x70);
  apic.writeReg(ApicReg.ICR_LO, 0x0000_0400); // NMI to physical ID 0
  assert.equal(line.nmi, 1);
  apic.writeReg(ApicReg.ICR_HI, 0x0100_0000);
  apic.writeReg(ApicReg.ICR_LO, 0x71);        // to APIC ID 1: nobody
  assert.equal(apic.readReg(ApicReg.IRR + 0x30), 0);
});

test("LINT0 in ExtINT mode passes the 8259's INTR through; INTA goes to the PIC", () => {
  const { apic, line } = setup();
  let pending = true;
  const pic: InterruptSource = { hasInterrupt: () => pending, acknowledge: () => { pending = false; return 0x20; } };
  apic.extint = pic;
  apic.writeReg(ApicReg.SVR, 0x1ff);
  assert.equal(line.level, false, "LINT0 masked");
  apic.writeReg(ApicReg.LVT_LINT0, 0x700);
  assert.equal(line.level, true);
  assert.equal(apic.acknowledge(), 0x20);
  assert.equal(line.level, false);
  assert.equal(apic.readReg(ApicReg.ISR + 0x10), 0, "ExtINT never enters the ISR");
});

test("software disable masks the LVT; clearing the global enable resets the APIC", () => {
  const { apic } = setup();
  apic.writeReg(ApicReg.SVR, 0x1ff);
  apic.writeReg(ApicReg.LVT_LINT0, 0x700);
  apic.writeReg(ApicReg.SVR, 0xff);
  assert.equal(apic.readReg(ApicReg.LVT_LINT0), 0x1_0700);
  apic.writeReg(ApicReg.SVR, 0x1ff);
  apic.writeReg(ApicReg.TPR, 0x20);
  apic.setBaseMsr(APIC_BASE_DEFAULT);
  assert.equal(apic.readReg(ApicReg.TPR), 0);
  assert.equal(apic.readReg(ApicReg.SVR), 0xff);
  assert.equal(apic.active, false);
});
