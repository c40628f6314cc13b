// A growable output byte buffer shared by the XZ container and the LZMA2 decoder. The LZMA2
// decoder uses the buffer itself as its dictionary (the whole uncompressed block stays
// addressable), so there is no circular window to manage.

import { BootError } from "../errors.js";

export class OutBuffer {
  buf: Uint8Array;
  len = 0;
  constructor(initial: number, private readonly max: number) {
    this.buf = new Uint8Array(Math.max(1024, Math.min(initial, max)));
  }
  /** Make room for `extra` more bytes after `len`. */
  ensure(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    if (need > this.max) {
      throw new BootError("E_XZ_DATA", `uncompressed data exceeds the limit of ${this.max} bytes`);
    }
    const next = new Uint8Array(Math.min(this.max, Math.max(need, this.buf.length * 2)));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  /** The bytes written so far (a view, not a copy). */
  result(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}
