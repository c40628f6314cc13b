// The snapshot file (docs/snapshot.md): a machine's guest state (src/hw/pc/pc-state.ts) as
// bytes on disk, and back, with every way a file can be wrong reported as a UserError with a
// stable code. The machine model hands over plain objects and Uint8Arrays; compression,
// checksums and files are the host's business and live here.
//
//   offset  size  field
//   0       8     magic "VMM86SNP"
//   8       4     file format version (u32 LE), FILE_VERSION
//   12      4     guest-state version (u32 LE), GUEST_STATE_VERSION
//   16      8     payload length in bytes (u64 LE)
//   24      32    SHA-256 of the payload
//   56      …     payload: gzip of
//                   u32 LE length of the JSON text, the JSON text (UTF-8),
//                   the non-zero RAM pages (memory.pages × 4096 bytes),
//                   each ROM image, in memory.roms order
//
// The JSON text is the guest state with the memory's byte arrays taken out (replaced by
// their lengths), plus `meta`: the vmm86 version, the mode and run that saved it, and the
// state of the serial console's input gate. Numbers in the state are all integers or
// booleans (exact in JSON).

import { createHash } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import { readFileSync, writeFileSync, renameSync, unlinkSync } from "node:fs";
import { GUEST_STATE_VERSION, type GuestState } from "../hw/pc/pc-state.js";
import { ExitCode, UserError } from "./errors.js";

export const MAGIC = "VMM86SNP";
export const FILE_VERSION = 1;
const HEADER = 56;
const PAGE = 4096;
/** More than any guest this project runs (3 GiB of RAM plus ROMs and state). */
const MAX_PAYLOAD = 4 * 1024 * 1024 * 1024;

/** How the snapshot came about, and what the run that continues it needs to know. */
export interface SnapshotMeta {
  /** The package version that wrote it. */
  vmm86: string;
  /** `--mode` of the run that saved it. */
  mode: string;
  /** What ran (`the demo guest`, `Linux … cmdline …`). */
  describe: string;
  /** Guest instructions and virtual time (cycles) when it was saved. */
  instructions: number;
  cycles: number;
  /** The serial-console text that opens the host's input line, if it was not seen yet. */
  inputAfter: string | null;
  /** The tail of the console output (to notice inputAfter across the cut). */
  recent: string;
}

export interface Snapshot {
  meta: SnapshotMeta;
  state: GuestState;
}

function snapshotError(code: string, message: string): UserError {
  return new UserError(code, ExitCode.SNAPSHOT, message);
}

/** The bytes of a snapshot file. */
export function encodeSnapshot(snap: Snapshot): Uint8Array {
  const mem = snap.state.memory;
  const json = JSON.stringify({
    meta: snap.meta,
    state: {
      ...snap.state,
      memory: { ramBytes: mem.ramBytes, pages: Array.from(mem.pages), data: mem.data.length, roms: mem.roms.map((r) => ({ base: r.base, data: r.data.length })) },
    },
  });
  const text = Buffer.from(json, "utf8");
  const len = Buffer.alloc(4);
  len.writeUInt32LE(text.length);
  const payload = gzipSync(Buffer.concat([len, text, mem.data, ...mem.roms.map((r) => r.data)]), { level: 1 });
  const head = Buffer.alloc(HEADER);
  head.write(MAGIC, 0, "latin1");
  head.writeUInt32LE(FILE_VERSION, 8);
  head.writeUInt32LE(GUEST_STATE_VERSION, 12);
  head.writeBigUInt64LE(BigInt(payload.length), 16);
  createHash("sha256").update(payload).digest().copy(head, 24);
  return Buffer.concat([head, payload]);
}

/** Read back a snapshot; a wrong file of any kind is a UserError (exit 15) saying which. */
export function decodeSnapshot(bytes: Uint8Array, name: string): Snapshot {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 8 || buf.toString("latin1", 0, 8) !== MAGIC) {
    if (buf.length < 8 && MAGIC.startsWith(buf.toString("latin1"))) throw snapshotError("E_SNAPSHOT_TRUNCATED", `snapshot '${name}' is truncated (${buf.length} bytes)`);
    throw snapshotError("E_SNAPSHOT_FOREIGN", `'${name}' is not a vmm86 snapshot (no ${MAGIC} magic at its start)`);
  }
  if (buf.length < HEADER) throw snapshotError("E_SNAPSHOT_TRUNCATED", `snapshot '${name}' is truncated: ${buf.length} bytes, not even its ${HEADER}-byte header`);
  const fileVersion = buf.readUInt32LE(8), stateVersion = buf.readUInt32LE(12);
  if (fileVersion !== FILE_VERSION || stateVersion !== GUEST_STATE_VERSION) {
    throw snapshotError("E_SNAPSHOT_VERSION", `snapshot '${name}' has format ${fileVersion}.${stateVersion}; this vmm86 reads ${FILE_VERSION}.${GUEST_STATE_VERSION} ` +
      "(take the snapshot again with this version)");
  }
  const size = Number(buf.readBigUInt64LE(16));
  if (buf.length - HEADER < size) throw snapshotError("E_SNAPSHOT_TRUNCATED", `snapshot '${name}' is truncated: ${buf.length - HEADER} of ${size} payload bytes`);
  if (buf.length - HEADER > size || size > MAX_PAYLOAD) throw snapshotError("E_SNAPSHOT_CORRUPT", `snapshot '${name}' is corrupt: its length does not match its header`);
  const payload = buf.subarray(HEADER);
  if (!createHash("sha256").update(payload).digest().equals(buf.subarray(24, 56))) {
    throw snapshotError("E_SNAPSHOT_CORRUPT", `snapshot '${name}' is corrupt: its checksum does not match its contents`);
  }
  const corrupt = (why: string): UserError => snapshotError("E_SNAPSHOT_CORRUPT", `snapshot '${name}' is corrupt: ${why}`);
  let raw: Buffer;
  try { raw = gunzipSync(payload, { maxOutputLength: MAX_PAYLOAD }); } catch { throw corrupt("its payload does not decompress"); }
  if (raw.length < 4 || raw.readUInt32LE(0) > raw.length - 4) throw corrupt("its state is cut short");
  const jsonLen = raw.readUInt32LE(0);
  let doc: { meta: SnapshotMeta; state: Omit<GuestState, "memory"> & { memory: { ramBytes: number; pages: number[]; data: number; roms: { base: number; data: number }[] } } };
  try { doc = JSON.parse(raw.toString("utf8", 4, 4 + jsonLen)); } catch { throw corrupt("its state is not readable"); }
  const m = doc?.state?.memory;
  if (typeof doc?.meta !== "object" || typeof doc.state?.cpu !== "object" || typeof doc.state?.platform !== "object" ||
      typeof m !== "object" || !Array.isArray(m.pages) || !Array.isArray(m.roms) || m.data !== m.pages.length * PAGE) {
    throw corrupt("its state lacks parts");
  }
  let at = 4 + jsonLen;
  const take = (n: number): Uint8Array => {
    if (!Number.isInteger(n) || n < 0 || at + n > raw.length) throw corrupt("its memory is cut short");
    const out = new Uint8Array(raw.buffer, raw.byteOffset + at, n);
    at += n;
    return out;
  };
  const data = take(m.data);
  const roms = m.roms.map((r) => ({ base: r.base, data: take(r.data) }));
  if (at !== raw.length) throw corrupt("it has bytes after its memory");
  return { meta: doc.meta, state: { ...doc.state, memory: { ramBytes: m.ramBytes, pages: Uint32Array.from(m.pages), data, roms } } };
}

/** Write a snapshot file (through a temporary file, so a failed write leaves no half file). */
export function writeSnapshot(path: string, snap: Snapshot): number {
  const bytes = encodeSnapshot(snap);
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* not created */ }
    throw new UserError("E_SNAPSHOT_WRITE", ExitCode.SNAPSHOT, `cannot write snapshot '${path}': ${(e as NodeJS.ErrnoException).code ?? "error"}`);
  }
  return bytes.length;
}

/** Read and check a snapshot file. */
export function readSnapshot(path: string): Snapshot {
  let bytes: Buffer;
  try { bytes = readFileSync(path); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError("E_SNAPSHOT_READ", ExitCode.SNAPSHOT, code === "ENOENT" ? `snapshot '${path}' does not exist` : `cannot read snapshot '${path}': ${code ?? "error"}`);
  }
  return decodeSnapshot(bytes, path);
}

/**
 * A hash of the machine's guest state (for --stats, and later record/replay): SHA-256 of the
 * same encoding the file uses, before compression, so equal states hash equal.
 */
export function stateHash(state: GuestState): string {
  const mem = state.memory;
  const h = createHash("sha256");
  h.update(JSON.stringify({ ...state, memory: { ramBytes: mem.ramBytes, pages: Array.from(mem.pages), roms: mem.roms.map((r) => r.base) } }));
  h.update(mem.data);
  for (const r of mem.roms) h.update(r.data);
  return h.digest("hex");
}
