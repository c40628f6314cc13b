// The MC146818A against its datasheet: "Update Cycle" and figure 16 (UIP 244 µs before the
// 1984 µs update cycle, UF at its end), table 5 (periodic interrupt rates for a 32.768 kHz
// time base), "Alarm" (don't-care codes 11xxxxxx), register B (SET, DM, 24/12), register C
// (read clears IRQF/PF/AF/UF), register D (VRT), DV reset ("the first update cycle begins
// 500 ms later") and the PC/AT CMOS memory-size bytes.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Mc146818, RTC_DEFAULT_START } from "./mc146818.js";

function rtc(opts = {}): { r: Mc146818; irq: boolean[]; get: (i: number, now: number) => number; set: (i: number, v: number, now: number) => void } {
  const irq: boolean[] = [];
  const r = new Mc146818((l) => irq.push(l), opts);
  const get = (i: number, now: number): number => { r.write(0, i, now); return r.read(1, now); };
  const set = (i: number, v: number, now: number): void => { r.write(0, i, now); r.write(1, v, now); };
  return { r, irq, get, set };
}
const S = 1e9, MS = 1e6;

test("start time: 2026-01-01 00:00:00 (Thursday) in BCD, 24-hour; century 0x20", () => {
  const { get } = rtc();
  assert.equal(RTC_DEFAULT_START, 1767225600000);
  assert.deepEqual([0, 2, 4, 6, 7, 8, 9, 0x32].map((i) => get(i, 0)), [0, 0, 0, 5, 1, 1, 0x26, 0x20]);
  assert.equal(get(0x0a, 0), 0x26);
  assert.equal(get(0x0b, 0), 0x02);
  assert.equal(get(0x0d, 0), 0x80, "VRT");
});

test("a constructor start time (ms since the Unix epoch) sets the clock", () => {
  const { get } = rtc({ startTime: Date.UTC(1999, 11, 31, 23, 59, 58) });
  assert.deepEqual([0, 2, 4, 7, 8, 9, 0x32].map((i) => get(i, 0)), [0x58, 0x59, 0x23, 0x31, 0x12, 0x99, 0x19]);
  assert.deepEqual([0, 2, 4, 6, 7, 8, 9, 0x32].map((i) => get(i, 2 * S)), [0, 0, 0, 7, 1, 1, 0, 0x20]);
});

test("update cycle: UIP is high for the 2228 µs before the seconds change", () => {
  const { get } = rtc();
  const uip = (t: number): number => get(0x0a, t) & 0x80;
  assert.equal(uip(0.5 * S), 0);
  assert.equal(uip(S - 2229e3), 0, "more than 244 + 1984 µs before");
  assert.equal(uip(S - 2226e3), 0x80);
  assert.equal(get(0, S - 1), 0x00, "old seconds throughout the window");
  assert.equal(uip(S - 1), 0x80);
  assert.equal(uip(S), 0);
  assert.equal(get(0, S), 0x01);
  assert.equal(uip(2 * S - 1000), 0x80);
});

test("update-ended interrupt at each second; register C read clears it", () => {
  const { r, irq, get, set } = rtc();
  set(0x0b, 0x12, 0); // UIE, 24h, BCD
  const at = r.nextEvent(0.2 * S);
  assert.equal(at, S);
  r.advance(at - 1);
  assert.deepEqual(irq, []);
  r.advance(at);
  assert.deepEqual(irq, [true]);
  assert.equal(get(0x0c, at) & 0xb0, 0x90, "IRQF and UF (PF is set too, at RS = 0110)");
  assert.deepEqual(irq, [true, false]);
  assert.equal(get(0x0c, at) & 0xb0, 0x00);
  assert.equal(r.nextEvent(at), 2 * S);
  // UF is set even with UIE clear, without IRQF.
  set(0x0b, 0x02, 2.5 * S);
  assert.equal(get(0x0c, 3 * S) & 0xb0, 0x10);
});

test("periodic interrupt rates from register A RS (table 5)", () => {
  const cases: [number, number][] = [[1, 3_906_250], [2, 7_812_500], [3, 122_070.3125], [6, 976_562.5], [15, 500_000_000]];
  for (const [rs, period] of cases) {
    const { r, irq, get, set } = rtc();
    set(0x0a, 0x20 | rs, 0);
    set(0x0b, 0x42, 0); // PIE
    let now = 0;
    for (let k = 1; k <= 3; k++) {
      now = r.nextEvent(now);
      assert.equal(now, Math.ceil(k * period), `RS=${rs} edge ${k}`);
      r.advance(now);
      assert.equal(irq.at(-1), true);
      assert.equal(get(0x0c, now) & 0xc0, 0xc0);
    }
  }
});

test("PF is set without PIE; enabling PIE then raises IRQF at once", () => {
  const { r, irq, set } = rtc();
  r.advance(10 * MS);
  assert.deepEqual(irq, []);
  set(0x0b, 0x42, 10 * MS);
  assert.deepEqual(irq, [true]);
});

test("alarm: exact match at hh:mm:ss, and don't-care codes every second", () => {
  const { r, irq, get, set } = rtc();
  set(1, 0x05, 0); set(3, 0x00, 0); set(5, 0x00, 0);
  set(0x0b, 0x22, 0); // AIE
  r.advance(4 * S);
  assert.deepEqual(irq, []);
  assert.equal(get(0x0c, 4 * S) & 0x20, 0);
  r.advance(5 * S);
  assert.deepEqual(irq, [true]);
  assert.equal(get(0x0c, 5 * S) & 0xb0, 0xb0, "IRQF, AF and UF");
  set(1, 0xc0, 5 * S); set(3, 0xff, 5 * S); set(5, 0xc0, 5 * S);
  assert.equal(r.nextEvent(5 * S), 6 * S);
  r.advance(6 * S);
  assert.equal(get(0x0c, 6 * S) & 0xa0, 0xa0);
});

test("binary and 12-hour formats (DM, 24/12): 11:59:59 PM Feb 28 2024 rolls to 12:00:00 AM Feb 29", () => {
  const { get, set } = rtc();
  set(0x0b, 0x84, 0); // SET, binary, 12-hour
  set(0, 59, 0); set(2, 59, 0); set(4, 0x80 | 11, 0); set(7, 28, 0); set(8, 2, 0); set(9, 24, 0); set(6, 4, 0);
  set(0x0b, 0x04, 0.1 * S);
  assert.equal(get(0, 0.9 * S), 59);
  assert.deepEqual([0, 2, 4, 6, 7, 8, 9].map((i) => get(i, S)), [0, 0, 12, 5, 29, 2, 24]);
  set(0x0b, 0x84, S);
  set(4, 0x80 | 12, S); set(2, 59, S); set(0, 59, S); // 12:59:59 PM
  set(0x0b, 0x04, S);
  assert.equal(get(4, 2 * S), 0x81, "1 PM");
});

test("SET inhibits updates and clears UIE; clearing it resumes counting", () => {
  const { get, set } = rtc();
  set(0x0b, 0x92, 0.5 * S);
  assert.equal(get(0x0b, 0.5 * S), 0x82, "UIE cleared by SET");
  assert.equal(get(0x0a, S - 1000) & 0x80, 0, "no UIP while SET");
  assert.equal(get(0, 3.5 * S), 0);
  set(0x0b, 0x02, 3.5 * S);
  assert.equal(get(0, 3.9 * S), 0);
  assert.equal(get(0, 4 * S), 1);
});

test("divider reset (DV = 110): the first update comes 500 ms after release", () => {
  const { get, set } = rtc();
  set(0x0a, 0x66, 0.25 * S);
  assert.equal(get(0, 3 * S), 0);
  set(0x0a, 0x26, 3.1 * S);
  assert.equal(get(0, 3.6 * S - 1), 0);
  assert.equal(get(0, 3.6 * S + 30_518), 1, "within one 32.768 kHz tick");
  assert.equal(get(0, 4.6 * S + 30_518), 2);
});

test("CMOS memory size bytes and checksum from the RAM size (PC/AT layout)", () => {
  const { get } = rtc({ ramBytes: 64 * 1024 * 1024 });
  assert.equal(get(0x15, 0) | (get(0x16, 0) << 8), 640);
  assert.equal(get(0x17, 0) | (get(0x18, 0) << 8), 63 * 1024);
  assert.equal(get(0x30, 0) | (get(0x31, 0) << 8), 63 * 1024);
  assert.equal(get(0x34, 0) | (get(0x35, 0) << 8), 48 * 16);
  let sum = 0;
  for (let i = 0x10; i <= 0x2d; i++) sum += get(i, 0);
  assert.equal((get(0x2e, 0) << 8) | get(0x2f, 0), sum);
  const big = rtc({ ramBytes: 256 * 1024 * 1024 });
  assert.equal(big.get(0x17, 0) | (big.get(0x18, 0) << 8), 0xffff, "clamped");
});

test("port 0x70 bit 7 masks NMI; CMOS RAM bytes are read/write; save/restore", () => {
  const masks: boolean[] = [];
  const { r, get, set } = rtc({ onNmiMask: (d: boolean) => masks.push(d) });
  r.write(0, 0x8f, 0);
  assert.equal(r.nmiDisabled, true);
  assert.equal(r.selected, 0x0f);
  r.write(0, 0x0f, 0);
  assert.deepEqual(masks, [true, false]);
  set(0x40, 0xa5, 0);
  assert.equal(get(0x40, 0), 0xa5);
  assert.equal(r.read(0, 0), 0xff, "the index port is write-only");
  const q = new Mc146818(() => {});
  q.restore(JSON.parse(JSON.stringify(r.save())));
  q.write(0, 0x40, 0);
  assert.equal(q.read(1, 0), 0xa5);
  q.write(0, 0, 0);
  assert.equal(q.read(1, 7.2 * S), 0x07);
});
