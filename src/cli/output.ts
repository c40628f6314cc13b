// Blocking writes to a file descriptor that survive non-blocking pipes (EAGAIN) and a
// reader that went away (EPIPE: the rest is dropped, the run goes on).

import { writeSync } from "node:fs";

export function writeAll(fd: number, data: string | Uint8Array): void {
  let buf = typeof data === "string" ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  while (buf.length > 0) {
    try {
      const n = writeSync(fd, buf);
      buf = buf.subarray(n);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") continue;
      if (code === "EPIPE") return;
      throw e;
    }
  }
}
