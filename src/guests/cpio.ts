// A writer for the "newc" cpio format (SVR4 without CRC), the format the Linux kernel
// unpacks as an initramfs (Documentation/driver-api/early-userspace/buffer-format.rst).
//
// Each member is a 110-byte ASCII header, the NUL-terminated path padded to a multiple
// of 4 bytes (counting the header), then the contents padded to a multiple of 4:
//
//   magic "070701" | ino | mode | uid | gid | nlink | mtime | filesize |
//   devmajor | devminor | rdevmajor | rdevminor | namesize | check
//   (each field after the magic: 8 hexadecimal digits)
//
// The archive ends with a member named "TRAILER!!!". Output is a pure function of the
// entries (inode numbers are assigned in order, times default to 0), so the same inputs
// always give the same bytes.

export type CpioEntry =
  | { kind: "dir"; path: string; mode?: number }
  | { kind: "file"; path: string; data: Uint8Array; mode?: number }
  | { kind: "symlink"; path: string; target: string }
  | { kind: "char" | "block"; path: string; major: number; minor: number; mode?: number };

// File type bits of st_mode (POSIX <sys/stat.h>).
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

const MAGIC = "070701";
const HEADER_SIZE = 110;
const TRAILER = "TRAILER!!!";

export interface CpioOptions {
  /** Modification time of every member, in seconds since the epoch (default 0). */
  mtime?: number;
}

/** Returns the archive holding `entries` in the given order (parents should come before
 * their children). Throws on an empty, absolute or duplicate path, or a field that does
 * not fit in 32 bits. */
export function writeCpio(entries: readonly CpioEntry[], options: CpioOptions = {}): Uint8Array {
  const mtime = options.mtime ?? 0;
  const chunks: Uint8Array[] = [];
  let size = 0;
  const seen = new Set<string>();
  const push = (b: Uint8Array) => {
    chunks.push(b);
    size += b.length;
  };
  const member = (ino: number, mode: number, nlink: number, name: string, data: Uint8Array,
                  rdevMajor = 0, rdevMinor = 0) => {
    const nameBytes = Buffer.from(name + "\0", "utf8");
    const fields = [ino, mode, 0, 0, nlink, mtime, data.length, 0, 0, rdevMajor, rdevMinor, nameBytes.length, 0];
    let header = MAGIC;
    for (const f of fields) {
      if (!Number.isInteger(f) || f < 0 || f > 0xffffffff) throw new RangeError(`cpio: field ${f} of ${name} out of range`);
      header += f.toString(16).padStart(8, "0");
    }
    push(Buffer.from(header, "ascii"));
    push(nameBytes);
    push(new Uint8Array(pad4(HEADER_SIZE + nameBytes.length)));
    push(data);
    push(new Uint8Array(pad4(data.length)));
  };

  let ino = 1;
  for (const e of entries) {
    const path = e.path.replace(/\/+$/, "");
    if (path === "" || path.startsWith("/")) throw new Error(`cpio: path must be relative and non-empty: '${e.path}'`);
    if (seen.has(path)) throw new Error(`cpio: duplicate path '${path}'`);
    seen.add(path);
    switch (e.kind) {
      case "dir":
        member(ino++, S_IFDIR | (e.mode ?? 0o755), 2, path, new Uint8Array(0));
        break;
      case "file":
        member(ino++, S_IFREG | (e.mode ?? 0o644), 1, path, e.data);
        break;
      case "symlink":
        member(ino++, S_IFLNK | 0o777, 1, path, Buffer.from(e.target, "utf8"));
        break;
      case "char":
      case "block":
        member(ino++, (e.kind === "char" ? S_IFCHR : S_IFBLK) | (e.mode ?? 0o600), 1, path, new Uint8Array(0),
               e.major, e.minor);
        break;
    }
  }
  member(0, 0, 1, TRAILER, new Uint8Array(0));

  const out = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Bytes of padding that bring `n` to a multiple of 4. */
function pad4(n: number): number {
  return (4 - (n & 3)) & 3;
}
