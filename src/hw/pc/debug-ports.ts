// Debug ports with QEMU's semantics, so harnesses written for QEMU run unchanged:
//   0xE9  debugcon: each byte written is console output (reads return 0xE9, its signature);
//   0xF4  isa-debug-exit: writing V ends the run with exit status (V << 1) | 1;
//   POST  a diagnostic port (0x80 on PCs; test386 uses 0x190) whose values are reported.

import type { IoBus } from "../io/io-bus.js";

export interface DebugPortEvents {
  debugconByte?: (byte: number) => void;
  post?: (value: number) => void;
  exit?: (status: number) => void;
}

export function attachDebugPorts(io: IoBus, events: DebugPortEvents, postPort: number | null): void {
  io.register(0xe9, 1, {
    read8: () => 0xe9,
    write8: (_p, v) => events.debugconByte?.(v),
  });
  io.register(0xf4, 1, {
    read8: () => 0xff,
    write8: (_p, v) => events.exit?.((v << 1) | 1),
    write16: (_p, v) => events.exit?.(((v & 0xffff) << 1) | 1),
    write32: (_p, v) => events.exit?.(((v >>> 0) * 2 + 1) % 0x1_0000_0000),
  });
  if (postPort !== null) {
    let last = -1;
    io.register(postPort, 1, {
      read8: () => (last < 0 ? 0xff : last),
      write8: (_p, v) => {
        if (v !== last) events.post?.(v);
        last = v;
      },
    });
  }
}
