// The 8254 against the Intel 8254 datasheet (231164): "Mode Definitions" and figures 11–16
// (OUT waveforms of modes 0–5, counts written between CLK pulses), "Read Operations"
// (counter latch command, figure 8; read-back command, figures 9–10 and table 4) and the GATE
// table (table 3). Times are CLK pulses converted with pitTickTime().

import { test } from "node:test";
import assert from "node:assert/strict";
import { I8254, pitTick, pitTickTime, PIT_HZ } from "./i8254.js";
import { Port61 } from "../system/port61.js";

const T = pitTickTime;
const W = 1000; // the pulse before which counts are written

/** A PIT whose IRQ 0 line changes are recorded as [pulse, level]. */
function pit(): { p: I8254; edges: [number, boolean][]; clock: { now: number } } {
  const edges: [number, boolean][] = [];
  const clock = { now: 0 };
  const p = new I8254((l) => edges.push([pitTick(clock.now), l]));
  return { p, edges, clock };
}

/** Program counter c: control word then count N (LSB, MSB) at pulse W. */
function program(p: I8254, c: number, mode: number, n: number, at = W): void {
  p.write(3, (c << 6) | 0x30 | (mode << 1), T(at));
  p.write(c, n & 0xff, T(at));
  p.write(c, (n >> 8) & 0xff, T(at));
}

/** OUT of counter c at pulses [from, to). */
function wave(p: I8254, c: number, from: number, to: number): string {
  let s = "";
  for (let t = from; t < to; t++) s += p.out(c, T(t)) ? "1" : "0";
  return s;
}

test("clock conversion: 1.193182 MHz, exact and monotonic", () => {
  assert.equal(pitTick(1e9), PIT_HZ);
  assert.equal(pitTick(838), 0);
  assert.equal(pitTick(839), 1); // 1 / 1.193182 MHz = 838.095 ns
  for (const t of [0, 1, 5, PIT_HZ - 1, PIT_HZ, 123_456_789]) {
    assert.equal(pitTick(T(t)), t);
    if (t > 0) assert.equal(pitTick(T(t) - 1), t - 1);
  }
});

test("mode 0: OUT low after the control word, high N+1 pulses after the count is written", () => {
  const { p } = pit();
  p.write(3, 0x30, T(W)); // counter 0, LSB/MSB, mode 0
  assert.equal(p.out(0, T(W)), false);
  p.write(0, 4, T(W)); p.write(0, 0, T(W));
  assert.equal(wave(p, 0, W, W + 8), "00000111");
});

test("mode 0: GATE low pauses counting (table 3), on counter 2 via port 0x61", () => {
  const p = new I8254(() => {});
  const p61 = new Port61(p);
  p61.write(0, 0x01, T(0));
  program(p, 2, 0, 3);
  p61.write(0, 0x00, T(W + 2)); // after two pulses of counting
  assert.equal(p61.read(0, T(W + 10)) & 0x20, 0);
  p61.write(0, 0x01, T(W + 10));
  assert.equal(p61.read(0, T(W + 11)) & 0x20, 0);
  assert.equal(p61.read(0, T(W + 12)) & 0x20, 0x20);
});

test("mode 0: writing the first byte of a new count sets OUT low and stops counting", () => {
  const { p } = pit();
  program(p, 0, 0, 2);
  assert.equal(p.out(0, T(W + 5)), true);
  p.write(0, 5, T(W + 5));
  assert.equal(p.out(0, T(W + 6)), false);
  assert.equal(p.out(0, T(W + 100)), false);
  p.write(0, 0, T(W + 100));
  assert.equal(wave(p, 0, W + 100, W + 108), "00000011");
});

test("mode 1: retriggerable one-shot starts on a GATE rising edge", () => {
  const { p } = pit();
  program(p, 1, 1, 3);
  assert.equal(wave(p, 1, W, W + 4), "1111", "no trigger yet (gate 1 is tied high)");
  p.setGate(1, false, T(W + 4));
  p.setGate(1, true, T(W + 5));
  assert.equal(wave(p, 1, W + 5, W + 11), "100011");
  // Retrigger during the pulse restarts it.
  p.setGate(1, false, T(W + 19)); p.setGate(1, true, T(W + 19));
  assert.equal(wave(p, 1, W + 19, W + 22), "100");
  p.setGate(1, false, T(W + 22)); p.setGate(1, true, T(W + 22));
  assert.equal(wave(p, 1, W + 22, W + 28), "000011");
});

test("mode 2: rate generator, OUT low for one pulse every N; IRQ 0 edges delivered", () => {
  const { p, clock } = pit();
  clock.now = T(W);
  program(p, 0, 2, 4);
  assert.equal(wave(p, 0, W, W + 10), "1111011101");
  const q = pit();
  q.clock.now = T(W);
  program(q.p, 0, 2, 4);
  // The machine drives time through nextEvent()/advance().
  let now = T(W);
  for (let i = 0; i < 4; i++) {
    now = q.p.nextEvent(now);
    q.clock.now = now;
    q.p.advance(now);
  }
  assert.deepEqual(q.edges, [[W + 4, false], [W + 5, true], [W + 8, false], [W + 9, true]]);
});

test("mode 2: a late advance() still delivers a rising edge for a missed low pulse", () => {
  const { p, edges, clock } = pit();
  clock.now = T(W);
  program(p, 0, 2, 100);
  clock.now = T(W + 150);
  p.advance(clock.now);
  assert.deepEqual(edges, [[W + 150, false], [W + 150, true]]);
});

test("mode 2: a new count takes effect at the end of the current period", () => {
  const { p } = pit();
  program(p, 0, 2, 4);
  p.write(0, 2, T(W + 2)); p.write(0, 0, T(W + 2));
  assert.equal(wave(p, 0, W + 1, W + 11), "1110101010");
});

test("mode 3: square wave, even N half and half, odd N high (N+1)/2, low (N-1)/2", () => {
  const { p } = pit();
  program(p, 0, 3, 4);
  assert.equal(wave(p, 0, W + 1, W + 13), "110011001100");
  program(p, 0, 3, 5, W + 20);
  assert.equal(wave(p, 0, W + 21, W + 31), "1110011100");
});

test("mode 3: GATE low forces OUT high; rising GATE reloads (counter 2 speaker)", () => {
  const p = new I8254(() => {});
  program(p, 2, 3, 4);
  p.setGate(2, false, T(W + 3));
  assert.equal(wave(p, 2, W + 3, W + 9), "111111");
  p.setGate(2, true, T(W + 9));
  assert.equal(wave(p, 2, W + 10, W + 18), "11001100");
});

test("mode 4: software-triggered strobe, one low pulse N+1 pulses after the write", () => {
  const { p } = pit();
  program(p, 0, 4, 3);
  assert.equal(wave(p, 0, W, W + 8), "11110111");
});

test("mode 5: hardware-triggered strobe", () => {
  const { p } = pit();
  program(p, 1, 5, 2);
  p.setGate(1, false, T(W + 1)); p.setGate(1, true, T(W + 2));
  assert.equal(wave(p, 1, W + 2, W + 8), "111011");
});

test("reading the count: LSB/MSB flip-flop and the counter latch command", () => {
  const { p } = pit();
  program(p, 0, 0, 0x1234);
  // CE = N at pulse W+1, then decrements once per pulse.
  const read = (t: number): number => p.read(0, T(t)) | (p.read(0, T(t)) << 8);
  assert.equal(read(W + 1), 0x1234);
  assert.equal(read(W + 0x35), 0x1200);
  p.write(3, 0x00, T(W + 0x100)); // latch counter 0
  p.write(3, 0x00, T(W + 0x200)); // ignored: already latched
  assert.equal(p.read(0, T(W + 0x300)), 0x35);
  assert.equal(p.read(0, T(W + 0x300)), 0x11);
  assert.equal(read(W + 0x301), 0x1234 - 0x300);
});

test("RW = LSB only / MSB only; count 0 is 65536 (binary) or 10000 (BCD)", () => {
  let p = new I8254(() => {});
  p.write(3, 0x50, T(W)); // counter 1, LSB only, mode 0
  p.write(1, 0x80, T(W));
  assert.equal(p.read(1, T(W + 1)), 0x80);
  assert.equal(p.read(1, T(W + 0x11)), 0x70);
  p = new I8254(() => {});
  p.write(3, 0x60, T(W)); // MSB only
  p.write(1, 0x02, T(W));
  assert.equal(p.read(1, T(W + 1)), 0x02);
  assert.equal(p.read(1, T(W + 2)), 0x01); // 0x01FF
  p = new I8254(() => {});
  program(p, 0, 0, 0, W);
  assert.equal(p.out(0, T(W + 65536)), false);
  assert.equal(p.out(0, T(W + 65537)), true);
  p = new I8254(() => {});
  p.write(3, 0x31, T(W)); p.write(0, 0, T(W)); p.write(0, 0, T(W)); // BCD, count 0 = 10000
  assert.equal(p.out(0, T(W + 10000)), false);
  assert.equal(p.out(0, T(W + 10001)), true);
  p = new I8254(() => {});
  p.write(3, 0x31, T(W)); p.write(0, 0x00, T(W)); p.write(0, 0x10, T(W)); // BCD 1000
  p.write(3, 0x00, T(W + 2));
  assert.equal(p.read(0, T(W + 2)), 0x99);
  assert.equal(p.read(0, T(W + 2)), 0x09);
});

test("read-back: status byte (OUT, NULL COUNT, RW, mode, BCD), then count", () => {
  const { p } = pit();
  p.write(3, 0xb4, T(W)); // counter 2, LSB/MSB, mode 2
  p.write(3, 0xe8, T(W)); // read-back status of counter 2 (COUNT bit = 1: no count)
  assert.equal(p.read(2, T(W)), 0x40 | 0x80 | 0x34, "null count set by the control word");
  p.write(2, 0x10, T(W)); p.write(2, 0x00, T(W));
  p.write(3, 0xe8, T(W));
  assert.equal(p.read(2, T(W)) & 0x40, 0x40, "count not yet loaded into CE");
  p.write(3, 0xc8, T(W + 3)); // latch count and status of counter 2
  assert.equal(p.read(2, T(W + 9)), 0x80 | 0x34, "status first: OUT high, count loaded");
  assert.equal(p.read(2, T(W + 9)), 0x0e);
  assert.equal(p.read(2, T(W + 9)), 0x00);
  p.write(3, 0x30, T(W + 20)); // counter 0 mode 0: OUT low
  p.write(3, 0xe2, T(W + 20));
  assert.equal(p.read(0, T(W + 20)), 0x70);
});

test("Linux PIT calibration: gate counter 2 via 0x61, mode 0, poll OUT in bit 5", () => {
  const p = new I8254(() => {});
  const p61 = new Port61(p);
  let now = 5_000_000;
  p61.write(0, (p61.read(0, now) & ~0x02) | 0x01, now);
  p.write(3, 0xb0, now);
  const latch = Math.floor(PIT_HZ / 20); // CAL_LATCH for 50 ms
  p.write(2, latch & 0xff, now); p.write(2, latch >> 8, now);
  const startNs = now;
  while ((p61.read(0, now) & 0x20) === 0) now += 1000;
  const ms = (now - startNs) / 1e6;
  assert.ok(ms >= 50 && ms < 50.01, `OUT rose after ${ms} ms`);
  // Quick calibration reads the MSB of the free-running count.
  p.write(3, 0xb0, now); p.write(2, 0xff, now); p.write(2, 0xff, now);
  now += 1_000_000; // 1 ms = 1193 pulses
  p.read(2, now);
  assert.equal(p.read(2, now), (0xffff - 1193 - 1) >> 8);
});

test("port 0x61: written bits read back, refresh toggle follows virtual time", () => {
  const p61 = new Port61(new I8254(() => {}));
  p61.write(0, 0x03, 0);
  assert.equal(p61.read(0, 0) & 0x0f, 0x03);
  assert.equal(p61.speakerEnabled, true);
  assert.equal(p61.read(0, 0) & 0x10, 0);
  assert.equal(p61.read(0, 15_085) & 0x10, 0x10);
  assert.equal(p61.read(0, 30_170) & 0x10, 0);
});

test("save/restore reproduces counting state", () => {
  const { p } = pit();
  program(p, 0, 2, 7);
  p.write(3, 0x00, T(W + 3));
  const q = new I8254(() => {});
  q.restore(JSON.parse(JSON.stringify(p.save())));
  assert.equal(wave(q, 0, W + 1, W + 15), wave(p, 0, W + 1, W + 15));
  assert.equal(q.read(0, T(W + 30)), p.read(0, T(W + 30)));
});
