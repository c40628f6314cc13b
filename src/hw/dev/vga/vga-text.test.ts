// VGA text console pieces against the IBM VGA Technical Reference: text memory at 0xB8000
// (character/attribute pairs), CRTC index/data (cursor location 0x0E/0x0F, start address
// 0x0C/0x0D, register 0x11 bit 7 protecting registers 0–7), input status 1 (0x3DA) bits 0/3
// over a 70 Hz frame of 449 lines.

import { test } from "node:test";
import assert from "node:assert/strict";
import { VgaText, LINE_NS, LINES_PER_FRAME } from "./vga-text.js";

const CRTC_I = 0x14, CRTC_D = 0x15, STATUS = 0x1a;

test("text memory: character/attribute pairs appear in screenText()", () => {
  const v = new VgaText();
  assert.equal(v.read8(1), 0x07, "blank screen is spaces, attribute 7");
  const msg = "Linux version";
  for (let i = 0; i < msg.length; i++) { v.write8((80 + i) * 2, msg.charCodeAt(i)); v.write8((80 + i) * 2 + 1, 0x1f); }
  v.write8(80 * 2 * 24, 0x01);
  const s = v.screenText();
  assert.equal(s.length, 25);
  assert.equal(s[0], "");
  assert.equal(s[1], "Linux version");
  assert.equal(s[24], ".");
  assert.equal(v.read8((80 + 1) * 2 + 1), 0x1f);
});

test("CRTC: cursor location and start address through 0x3D4/0x3D5", () => {
  const v = new VgaText();
  v.write(CRTC_I, 0x0e); v.write(CRTC_D, 0x01);
  v.write(CRTC_I, 0x0f); v.write(CRTC_D, 0x40);
  assert.equal(v.cursor, 320);
  v.write(CRTC_I, 0x0f);
  assert.equal(v.read(CRTC_D, 0), 0x40);
  assert.equal(v.read(CRTC_I, 0), 0x0f);
  v.write(CRTC_I, 0x0a); v.write(CRTC_D, 0x20);
  assert.equal(v.cursorHidden, true);
  v.write8(80 * 2, 0x41);
  v.write(CRTC_I, 0x0d); v.write(CRTC_D, 80);
  assert.equal(v.screenText()[0], "A", "start address scrolls the screen");
});

test("CRTC register 0x11 bit 7 write-protects registers 0–7", () => {
  const v = new VgaText();
  v.write(CRTC_I, 0x01); v.write(CRTC_D, 0x27);
  v.write(CRTC_I, 0x01);
  assert.equal(v.read(CRTC_D, 0), 0x4f);
  v.write(CRTC_I, 0x11); v.write(CRTC_D, 0x0e);
  v.write(CRTC_I, 0x01); v.write(CRTC_D, 0x27);
  assert.equal(v.read(CRTC_D, 0), 0x27);
});

test("input status 1: vertical retrace once per 70 Hz frame, blanking bit 0", () => {
  const v = new VgaText();
  const frame = LINE_NS * LINES_PER_FRAME;
  assert.ok(Math.abs(1e9 / frame - 70.087) < 0.01);
  assert.equal(v.read(STATUS, 0), 0x00, "active display");
  assert.equal(v.read(STATUS, 730 * LINE_NS / 900), 0x01, "horizontal blanking");
  assert.equal(v.read(STATUS, 412 * LINE_NS + 10), 0x09, "vertical retrace");
  assert.equal(v.read(STATUS, 405 * LINE_NS), 0x01, "vertical blanking, no retrace");
  let toggles = 0, last = 0;
  for (let t = 0; t < 10 * frame; t += 10_000) {
    const r = v.read(STATUS, t) & 8;
    if (r && !last) toggles++;
    last = r;
  }
  assert.equal(toggles, 10);
  assert.equal(v.read(0x05, 0), 0xff, "unmodelled ports read 0xFF");
});

test("save/restore", () => {
  const v = new VgaText();
  v.write8(0, 0x48);
  v.write(CRTC_I, 0x0f); v.write(CRTC_D, 5);
  const w = new VgaText();
  w.restore(JSON.parse(JSON.stringify(v.save())));
  assert.equal(w.screenText()[0], "H");
  assert.equal(w.cursor, 5);
});
