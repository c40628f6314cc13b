// The non-compression filters of a .xz block, decoded in place over a block's whole output:
// the x86 BCJ filter (ID 0x04), which turns the absolute targets the encoder wrote into
// E8/E9 (CALL/JMP rel32) instructions back into relative ones, and the delta filter (0x03).
// The x86 BCJ rule set (the "previous mask" that skips E8/E9 bytes likely to be inside
// another instruction, and the 0x00/0xFF most-significant-byte test) follows the format's
// definition so the result is bit-exact with xz's encoder.

// For each 3-bit mask of recent E8/E9 positions: may the current one be converted, and which
// byte of the operand to test again.
const MASK_ALLOWED = [true, true, true, false, true, false, false, false];
const MASK_BIT_NUM = [0, 1, 2, 2, 3, 3, 3, 3];

function msbyteOk(b: number): boolean {
  return b === 0x00 || b === 0xff;
}

/** Undo the x86 BCJ filter over buf[start, end); `startOffset` is the filter's property. */
export function bcjX86Decode(buf: Uint8Array, start: number, end: number, startOffset = 0): void {
  const size = end - start;
  if (size < 5) return;
  let prevMask = 0;
  let prevPos = -1; // relative index of the last E8/E9 seen
  const limit = size - 5;
  for (let i = 0; i <= limit; i++) {
    const op = buf[start + i];
    if ((op & 0xfe) !== 0xe8) continue;
    const gap = i - prevPos;
    if (gap > 3) {
      prevMask = 0;
    } else {
      prevMask = (prevMask << (gap - 1)) & 7;
      if (prevMask !== 0) {
        const b = buf[start + i + 4 - MASK_BIT_NUM[prevMask]];
        if (!MASK_ALLOWED[prevMask] || msbyteOk(b)) {
          prevPos = i;
          prevMask = (prevMask << 1) | 1;
          continue;
        }
      }
    }
    prevPos = i;
    const p = start + i + 1;
    if (msbyteOk(buf[p + 3])) {
      let src = (buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16) | (buf[p + 3] << 24)) >>> 0;
      let dest: number;
      for (;;) {
        dest = (src - (startOffset + i + 5)) >>> 0;
        if (prevMask === 0) break;
        const j = MASK_BIT_NUM[prevMask] * 8;
        if (!msbyteOk((dest >>> (24 - j)) & 0xff)) break;
        src = (dest ^ (2 ** (32 - j) - 1)) >>> 0;
      }
      dest &= 0x01ffffff;
      if (dest & 0x01000000) dest |= 0xff000000;
      buf[p] = dest & 0xff;
      buf[p + 1] = (dest >>> 8) & 0xff;
      buf[p + 2] = (dest >>> 16) & 0xff;
      buf[p + 3] = (dest >>> 24) & 0xff;
      i += 4;
    } else {
      prevMask = (prevMask << 1) | 1;
    }
  }
}

/** Undo the delta filter (distance 1..256) over buf[start, end). */
export function deltaDecode(buf: Uint8Array, start: number, end: number, distance: number): void {
  for (let i = start + distance; i < end; i++) buf[i] = (buf[i] + buf[i - distance]) & 0xff;
}
