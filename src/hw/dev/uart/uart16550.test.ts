// The 16550A against the PC16550D datasheet: table 2 (register map, DLAB), table 4 (interrupt
// control functions: priorities and reset conditions of IIR sources), §8.6 FCR (trigger
// levels, FIFO enable bits 7–6 of IIR), §8.4 LSR (DR, OE, THRE, TEMT), §8.7 MCR loopback
// (MSR bits fed from DTR/RTS/OUT1/OUT2), §8.8 MSR delta bits, §8.10 SCR — and what Linux's
// 8250 driver probes (scratch, IER bits 7–4 reading 0, IIR 0xC0 with FIFOs).

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Uart16550, IIR_NONE, IIR_THRI, IIR_RDI, IIR_CTI, IIR_RLSI, IIR_MSI, LSR_DR, LSR_OE, LSR_THRE, LSR_TEMT,
  MCR_OUT2, MCR_LOOP, MCR_DTR, MCR_RTS,
} from "./uart16550.js";

const RBR = 0, THR = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;

function uart(): { u: Uart16550; out: number[]; irq: boolean[] } {
  const out: number[] = [], irq: boolean[] = [];
  const u = new Uart16550((l) => irq.push(l), (b) => out.push(b));
  return { u, out, irq };
}

test("divisor latch via DLAB; scratch register; IER bits 7–4 read as zero", () => {
  const { u } = uart();
  u.write(LCR, 0x83, 0);
  u.write(0, 0x01, 0); u.write(1, 0x00, 0); // 115200 baud
  assert.equal(u.read(0, 0), 0x01);
  u.write(LCR, 0x03, 0);
  assert.equal(u.baud, 115200);
  u.write(SCR, 0x5a, 0);
  assert.equal(u.read(SCR, 0), 0x5a);
  u.write(IER, 0xff, 0);
  assert.equal(u.read(IER, 0), 0x0f);
  // 8N1 at 115200: 10 bits = 86.8 µs.
  assert.ok(Math.abs(u.characterTime() - 86_805.6) < 1);
});

test("transmit: THR bytes leave immediately; LSR THRE and TEMT stay set", () => {
  const { u, out } = uart();
  u.write(THR, 0x41, 0); u.write(THR, 0x42, 0);
  assert.deepEqual(out, [0x41, 0x42]);
  assert.equal(u.read(LSR, 0) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
});

test("IIR without FIFOs: bits 7–6 are 0; with FIFOs they are 11 (0xC1 when idle)", () => {
  const { u } = uart();
  assert.equal(u.read(IIR, 0), IIR_NONE);
  u.write(FCR, 0x01, 0);
  assert.equal(u.read(IIR, 0), 0xc1);
  u.write(FCR, 0x00, 0);
  assert.equal(u.read(IIR, 0), 0x01);
});

test("THRE interrupt: raised by enabling ETBEI, cleared by reading IIR, re-raised by THR write", () => {
  const { u, irq } = uart();
  u.write(MCR, MCR_OUT2, 0);
  u.write(IER, 0x02, 0);
  assert.deepEqual(irq, [true]);
  assert.equal(u.read(IIR, 0), IIR_THRI);
  assert.deepEqual(irq, [true, false]);
  assert.equal(u.read(IIR, 0), IIR_NONE, "the IIR read cleared it");
  u.write(THR, 0x21, 0);
  assert.equal(u.read(IIR, 0), IIR_THRI);
  // Disabling and re-enabling ETBEI with THR empty raises it again.
  u.write(IER, 0x00, 0); u.write(IER, 0x02, 0);
  assert.equal(u.read(IIR, 0), IIR_THRI);
});

test("OUT2 gates the IRQ line (PC wiring); the chip's INTR is independent of it", () => {
  const { u, irq } = uart();
  u.write(IER, 0x02, 0);
  assert.equal(u.interruptPending(0), true);
  assert.deepEqual(irq, []);
  u.write(MCR, MCR_OUT2, 0);
  assert.deepEqual(irq, [true]);
  u.write(MCR, 0, 0);
  assert.deepEqual(irq, [true, false]);
});

test("receive without FIFO: DR, data available interrupt, cleared by reading RBR", () => {
  const { u, irq } = uart();
  u.write(MCR, MCR_OUT2, 0);
  u.write(IER, 0x01, 0);
  u.receive([0x31, 0x32], 0);
  assert.deepEqual(irq, [true]);
  assert.equal(u.read(LSR, 0) & LSR_DR, LSR_DR);
  assert.equal(u.read(IIR, 0), IIR_RDI);
  assert.equal(u.read(RBR, 0), 0x31);
  // The queued host byte follows at once (the host never overruns the guest).
  assert.equal(u.read(IIR, 0), IIR_RDI);
  assert.equal(u.read(RBR, 0), 0x32);
  assert.equal(u.read(LSR, 0) & LSR_DR, 0);
  assert.equal(u.read(IIR, 0), IIR_NONE);
  assert.deepEqual(irq, [true, false]);
});

test("FIFO trigger levels 1, 4, 8, 14 (FCR bits 7–6)", () => {
  for (const [fcr, level] of [[0x01, 1], [0x41, 4], [0x81, 8], [0xc1, 14]]) {
    const { u } = uart();
    u.write(FCR, fcr, 0);
    u.write(IER, 0x01, 0);
    u.receive(new Array(level - 1).fill(0x61), 0);
    assert.equal(u.read(IIR, 0) & 0x0f, IIR_NONE, `below trigger ${level}`);
    u.receive([0x62], 0);
    assert.equal(u.read(IIR, 0), 0xc0 | IIR_RDI, `at trigger ${level}`);
    u.read(RBR, 0);
    assert.equal(u.read(IIR, 0) & 0x0f, IIR_NONE, "below again after a read");
  }
});

test("character timeout: data below the trigger level interrupts after 4 character times", () => {
  const { u, irq } = uart();
  u.write(LCR, 0x83, 0); u.write(0, 1, 0); u.write(1, 0, 0); u.write(LCR, 0x03, 0);
  u.write(FCR, 0x81, 0); // trigger 8
  u.write(MCR, MCR_OUT2, 0);
  u.write(IER, 0x01, 0);
  const t0 = 1_000_000;
  u.receive([0x41, 0x42], t0);
  assert.equal(u.read(IIR, t0 + 300_000), 0xc1, "3.5 character times: nothing yet");
  const due = u.nextEvent(t0 + 300_000);
  assert.ok(Math.abs(due - (t0 + 4 * 86_805.6)) < 2);
  u.advance(due);
  assert.deepEqual(irq, [true]);
  assert.equal(u.read(IIR, due), 0xc0 | IIR_CTI);
  assert.equal(u.read(RBR, due), 0x41);
  assert.equal(u.read(IIR, due), 0xc1, "reading RBR restarts the timer");
  assert.equal(u.read(IIR, due + 350_000), 0xc0 | IIR_CTI);
});

test("interrupt priority: line status > data > THRE > modem status", () => {
  const { u } = uart();
  u.write(MCR, MCR_LOOP, 0);
  u.write(IER, 0x0f, 0);
  u.write(MCR, MCR_LOOP | MCR_RTS, 0); // MSR delta CTS
  u.write(THR, 1, 0); u.write(THR, 2, 0); // overrun without FIFO
  assert.equal(u.read(IIR, 0), IIR_RLSI);
  assert.equal(u.read(LSR, 0) & (LSR_OE | LSR_DR), LSR_OE | LSR_DR);
  assert.equal(u.read(IIR, 0), IIR_RDI);
  assert.equal(u.read(RBR, 0), 2, "without FIFO the overrunning byte replaces RBR");
  assert.equal(u.read(IIR, 0), IIR_THRI);
  assert.equal(u.read(IIR, 0), IIR_MSI);
  assert.equal(u.read(MSR, 0) & 0x0f, 0x0b);
  assert.equal(u.read(IIR, 0), IIR_NONE);
});

test("loopback: MSR reflects DTR/RTS/OUT1/OUT2 with delta bits; TX feeds RX; FIFO overrun", () => {
  const { u, out } = uart();
  u.write(MCR, MCR_LOOP, 0);
  assert.equal(u.read(MSR, 0), 0x0b, "CTS, DSR, DCD fell: deltas set, lines low");
  u.write(MCR, MCR_LOOP | 0x0f, 0);
  assert.equal(u.read(MSR, 0), 0xf0 | 0x0b);
  u.write(MCR, MCR_LOOP | 0x0b, 0); // OUT1 (RI) falls: TERI
  assert.equal(u.read(MSR, 0), 0xb0 | 0x04);
  u.write(MCR, MCR_LOOP | MCR_DTR | MCR_RTS, 0);
  assert.equal(u.read(MSR, 0) & 0xf0, 0x30);
  u.write(FCR, 0x07, 0);
  for (let i = 0; i < 17; i++) u.write(THR, i, 0);
  assert.deepEqual(out, [], "loopback output does not leave the chip");
  assert.equal(u.read(LSR, 0) & (LSR_OE | LSR_DR), LSR_OE | LSR_DR);
  assert.equal(u.read(LSR, 0) & LSR_OE, 0, "OE cleared by reading LSR");
  const got: number[] = [];
  while (u.read(LSR, 0) & LSR_DR) got.push(u.read(RBR, 0));
  assert.deepEqual(got, [...Array(16).keys()], "the 17th byte was lost");
});

test("loopback disconnects the serial input; queued bytes arrive after it ends", () => {
  const { u } = uart();
  u.write(MCR, MCR_LOOP, 0);
  u.receive([0x55], 0);
  assert.equal(u.read(LSR, 0) & LSR_DR, 0);
  u.write(MCR, 0, 0);
  assert.equal(u.read(RBR, 0), 0x55);
});

test("FCR: clearing the receive FIFO; save/restore", () => {
  const { u } = uart();
  u.write(FCR, 0x01, 0);
  u.receive([1, 2, 3], 0);
  const copy = new Uart16550(() => {}, () => {});
  copy.restore(JSON.parse(JSON.stringify(u.save())));
  u.write(FCR, 0x03, 0);
  assert.equal(u.read(LSR, 0) & LSR_DR, 0);
  assert.equal(copy.read(RBR, 0), 1);
  assert.equal(copy.read(IIR, 0), 0xc1);
});
