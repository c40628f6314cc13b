// The part of a VGA that a text console uses (IBM VGA Technical Reference; FreeVGA register
// descriptions): the 32 KiB colour text window at 0xB8000 (character, attribute pairs; 80×25
// at start address 0), the CRT controller's index/data ports 0x3D4/0x3D5 (cursor start/end
// 0x0A/0x0B, start address 0x0C/0x0D, cursor location 0x0E/0x0F, write protect of registers
// 0–7 by register 0x11 bit 7), the miscellaneous output register (write 0x3C2, read 0x3CC)
// and input status 1 at 0x3DA (bit 0 display disabled, bit 3 vertical retrace), whose
// retrace timing follows the 70 Hz 720×400 text mode in virtual time.
//
// Port offsets are relative to 0x3C0 (so 0x3D4 is offset 0x14). Not modelled: the
// sequencer, graphics and attribute controllers (reads 0xFF), fonts, graphics modes, planes.

import type { MemoryDevice, PortDevice, Snapshot } from "../device.js";

export const VGA_TEXT_BASE = 0xb8000;
export const VGA_TEXT_SIZE = 0x8000;
export const VGA_PORT_BASE = 0x3c0;

/** 28.322 MHz dot clock, 900 dots per line, 449 lines per frame (70.087 Hz). */
export const LINE_NS = 31_778;
export const LINES_PER_FRAME = 449;
const ACTIVE_LINES = 400, VRETRACE_FIRST = 412, VRETRACE_LINES = 2, ACTIVE_DOT_NS = (LINE_NS * 720) / 900;

export interface VgaTextState { mem: number[]; crtc: number[]; crtcIndex: number; misc: number }

export class VgaText implements MemoryDevice, PortDevice, Snapshot<VgaTextState> {
  private mem = new Uint8Array(VGA_TEXT_SIZE);
  private crtc = new Uint8Array(0x19);
  private crtcIndex = 0;
  private misc = 0x67; // colour I/O at 0x3Dx, 28 MHz clock (mode 3)

  constructor() {
    // Mode 3 values the BIOS would leave (cursor scan lines 13–14, start at 0).
    this.crtc.set([0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e,
      0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff]);
    for (let i = 0; i < VGA_TEXT_SIZE; i += 2) this.mem[i + 1] = 0x07;
    for (let i = 0; i < VGA_TEXT_SIZE; i += 2) this.mem[i] = 0x20;
  }

  read8(offset: number): number {
    return this.mem[offset & (VGA_TEXT_SIZE - 1)];
  }

  write8(offset: number, value: number): void {
    this.mem[offset & (VGA_TEXT_SIZE - 1)] = value;
  }

  read(offset: number, now: number): number {
    switch (offset) {
      case 0x14: return this.crtcIndex;
      case 0x15: return this.crtcIndex < this.crtc.length ? this.crtc[this.crtcIndex] : 0xff;
      case 0x0c: return this.misc;
      case 0x1a: return this.inputStatus1(now);
      default: return 0xff;
    }
  }

  write(offset: number, value: number): void {
    value &= 0xff;
    switch (offset) {
      case 0x14: this.crtcIndex = value & 0x3f; break;
      case 0x15:
        if (this.crtcIndex >= this.crtc.length) break;
        if (this.crtcIndex < 8 && this.crtc[0x11] & 0x80) {
          if (this.crtcIndex === 7) this.crtc[7] = (this.crtc[7] & ~0x10) | (value & 0x10); // LC bit 8 stays writable
          break;
        }
        this.crtc[this.crtcIndex] = value;
        break;
      case 0x02: this.misc = value; break;
      default: break;
    }
  }

  /** Input status 1: bit 3 vertical retrace, bit 0 display disabled (h or v blanking). */
  private inputStatus1(now: number): number {
    const inFrame = now % (LINE_NS * LINES_PER_FRAME);
    const line = Math.floor(inFrame / LINE_NS), dot = inFrame - line * LINE_NS;
    const vr = line >= VRETRACE_FIRST && line < VRETRACE_FIRST + VRETRACE_LINES;
    const blank = line >= ACTIVE_LINES || dot >= ACTIVE_DOT_NS;
    return (vr ? 0x08 : 0) | (blank ? 0x01 : 0);
  }

  /** Cursor location (character offset from the start of the window), CRTC 0x0E/0x0F. */
  get cursor(): number {
    return (this.crtc[0x0e] << 8) | this.crtc[0x0f];
  }

  /** Cursor hidden by cursor start register bit 5. */
  get cursorHidden(): boolean {
    return (this.crtc[0x0a] & 0x20) !== 0;
  }

  /** Start address (characters), CRTC 0x0C/0x0D. */
  get startAddress(): number {
    return (this.crtc[0x0c] << 8) | this.crtc[0x0d];
  }

  /** The visible 80×25 screen as 25 lines of text (code points < 0x20 and ≥ 0x7F shown as
   * '.', except NUL as a space), trailing spaces removed. */
  screenText(): string[] {
    const rows: string[] = [];
    for (let r = 0; r < 25; r++) {
      let s = "";
      for (let c = 0; c < 80; c++) {
        const ch = this.mem[((this.startAddress + r * 80 + c) * 2) & (VGA_TEXT_SIZE - 1)];
        s += ch === 0 ? " " : ch >= 0x20 && ch < 0x7f ? String.fromCharCode(ch) : ".";
      }
      rows.push(s.trimEnd());
    }
    return rows;
  }

  save(): VgaTextState {
    return { mem: [...this.mem], crtc: [...this.crtc], crtcIndex: this.crtcIndex, misc: this.misc };
  }

  restore(s: VgaTextState): void {
    this.mem = Uint8Array.from(s.mem);
    this.crtc = Uint8Array.from(s.crtc);
    this.crtcIndex = s.crtcIndex;
    this.misc = s.misc;
  }
}
