// The unpacked kernel, kept on disk (docs/guests.md, "The unpacked kernel"). Direct entry needs the vmlinux
// inside a bzImage, and decoding its XZ payload takes about a second of host time: every
// `vmm86 run linux` paid it, and the test suites boot Linux dozens of times. The first boot
// of an image writes the result to `<cache root>/unpacked/<sha256 of the bzImage>.vmlinux`;
// later boots read it back. A cache that cannot be read or written only costs the decode.

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { payloadBytes, unpackedSize, unpackPayload, type SetupHeader } from "../boot/linux.js";
import { cacheDirNamed } from "../guests/fetch-linux.js";

/** The unpacker LinuxOptions.unpack takes, through the cache in `dir`. */
export function cachedUnpacker(dir = cacheDirNamed("unpacked")): (kernel: Uint8Array, h: SetupHeader) => Uint8Array {
  return (kernel, h) => {
    // XZ (the build's size_append) and gzip (ISIZE) both end with the unpacked size: a file
    // of another length is not this kernel's (a write cut short, or a different build).
    const size = unpackedSize(payloadBytes(kernel, h));
    const file = join(dir, `${createHash("sha256").update(kernel).digest("hex")}.vmlinux`);
    try {
      const cached = readFileSync(file);
      if (size > 0 && cached.length === size) return new Uint8Array(cached.buffer, cached.byteOffset, cached.length);
    } catch { /* not cached yet */ }
    const { vmlinux } = unpackPayload(kernel, h);
    if (vmlinux.length === size) {
      // Another run may write the same file at the same time: each writes its own, then renames.
      const tmp = `${file}.${process.pid}.tmp`;
      try {
        mkdirSync(dir, { recursive: true });
        writeFileSync(tmp, vmlinux);
        renameSync(tmp, file);
      } catch {
        try { unlinkSync(tmp); } catch { /* never written */ }
      }
    }
    return vmlinux;
  };
}
