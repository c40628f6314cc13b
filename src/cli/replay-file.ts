// The record/replay log (docs/replay.md): a run's input from outside the guest, each event
// with the guest time it took effect at, as JSON lines, written while the run goes and
// closed by a trailer with the run's end, its final state hash and a SHA-256 of every line
// before it. Reading it back checks it whole; every way a log can be wrong is a UserError
// with a stable code (exit 16).
//
//   line 1      {"format":"vmm86-replay","version":1,"vmm86":…,"args":[…],"start":"sha256:…",
//                "snapshot":null | {"file":…,"hash":"sha256:…"},"terminal":…}
//   line 2…n    {"t":NS,"i":INSTRUCTIONS,"c":CYCLES, one of "bytes":HEX | "eof":true |
//                "starve":true | "stop":WHY}
//   last line   {"end":KIND,"instructions":N,"cycles":C,"hash":"sha256:…","events":K,
//                "sha256":HEX of the bytes of lines 1…n}

import { createHash, type Hash } from "node:crypto";
import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { ExitCode, UserError } from "./errors.js";
import type { HostEvent, TimedHostEvent } from "./host-events.js";

export const REPLAY_FORMAT = "vmm86-replay";
export const REPLAY_VERSION = 1;
/** A log larger than this is not one vmm86 wrote for any run it can replay. */
const MAX_LOG = 1 << 30;

export interface ReplayHeader {
  format: string;
  version: number;
  /** The package version that recorded it: a replay needs the same machine model. */
  vmm86: string;
  /** The recorded run's command line (less the host-only flags: --record, --stats, --timeout, --trace). */
  args: string[];
  /** The guest state's hash when the run started (after boot or --restore). */
  start: string;
  /** The snapshot the run continued, by file and state hash. */
  snapshot: { file: string; hash: string } | null;
  /** Input came from a terminal (live) rather than a pipe or file (scripted). */
  terminal: boolean;
}

/** An event as logged: when it took effect, and at which guest instruction count. */
export interface LoggedEvent extends TimedHostEvent {
  instructions: number;
  cycles: number;
}

export interface ReplayTrailer {
  /** How the recorded run ended (poweroff, halt, stop …), its guest counts and state hash. */
  end: string;
  instructions: number;
  cycles: number;
  hash: string | null;
  events: number;
}

export interface ReplayLog {
  header: ReplayHeader;
  events: LoggedEvent[];
  trailer: ReplayTrailer;
}

function replayError(code: string, message: string): UserError {
  return new UserError(code, ExitCode.REPLAY, message);
}

function eventLine(e: LoggedEvent): string {
  const ev = e.event;
  const what = ev.kind === "bytes" ? { bytes: Buffer.from(ev.bytes).toString("hex") }
    : ev.kind === "stop" ? { stop: ev.why } : { [ev.kind]: true };
  return JSON.stringify({ t: e.at, i: e.instructions, c: e.cycles, ...what });
}

/** Writes a log as the run goes: the header at once, each event as it takes effect, the trailer last. */
export class ReplayWriter {
  private readonly fd: number;
  private readonly sum: Hash = createHash("sha256");
  private count = 0;

  constructor(readonly path: string, header: Omit<ReplayHeader, "format" | "version">) {
    try { this.fd = openSync(path, "w"); }
    catch (e) { throw replayError("E_REPLAY_WRITE", `cannot write the --record log '${path}': ${(e as NodeJS.ErrnoException).code ?? "error"}`); }
    this.line(JSON.stringify({ format: REPLAY_FORMAT, version: REPLAY_VERSION, ...header }));
  }

  private line(text: string): void {
    const b = Buffer.from(text + "\n", "utf8");
    this.sum.update(b);
    writeSync(this.fd, b);
  }

  event(e: LoggedEvent): void {
    this.count++;
    this.line(eventLine(e));
  }

  /** The last line; the log is complete (and checkable) only with it. */
  close(t: Omit<ReplayTrailer, "events">): void {
    const trailer = { ...t, events: this.count, sha256: this.sum.digest("hex") };
    writeSync(this.fd, JSON.stringify(trailer) + "\n");
    closeSync(this.fd);
  }
}

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isHash = (v: unknown): v is string => typeof v === "string" && /^sha256:[0-9a-f]{64}$/.test(v);

/** Read and check a log; a wrong file of any kind is a UserError (exit 16) saying which. */
export function decodeReplay(bytes: Uint8Array, name: string): ReplayLog {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  const lines = text.split("\n");
  const corrupt = (why: string): UserError => replayError("E_REPLAY_CORRUPT", `replay log '${name}' is corrupt: ${why}`);
  let header: ReplayHeader;
  try { header = JSON.parse(lines[0]) as ReplayHeader; } catch { header = null as unknown as ReplayHeader; }
  if (header === null || typeof header !== "object" || header.format !== REPLAY_FORMAT) {
    // A file cut inside its first line still starts like one.
    if (lines.length === 1 && `{"format":"${REPLAY_FORMAT}"`.startsWith(lines[0].slice(0, 25)) && lines[0].startsWith("{\"")) {
      throw replayError("E_REPLAY_TRUNCATED", `replay log '${name}' is truncated (${bytes.length} bytes, not even its header)`);
    }
    throw replayError("E_REPLAY_FOREIGN", `'${name}' is not a vmm86 replay log (its first line is not a ${REPLAY_FORMAT} header)`);
  }
  if (header.version !== REPLAY_VERSION) {
    throw replayError("E_REPLAY_VERSION", `replay log '${name}' has format version ${String(header.version)}; this vmm86 reads version ${REPLAY_VERSION}`);
  }
  if (!Array.isArray(header.args) || !header.args.every((a) => typeof a === "string") || !isHash(header.start) || typeof header.vmm86 !== "string" ||
      typeof header.terminal !== "boolean" || (header.snapshot !== null && (typeof header.snapshot?.file !== "string" || !isHash(header.snapshot.hash)))) {
    throw corrupt("its header lacks parts");
  }
  // The last line is the trailer (the text ends with a newline, so lines ends with "").
  if (lines[lines.length - 1] !== "" || lines.length < 3) {
    throw replayError("E_REPLAY_TRUNCATED", `replay log '${name}' is truncated: it does not end with its trailer (was the recording killed?)`);
  }
  let trailer: ReplayTrailer & { sha256: string };
  try { trailer = JSON.parse(lines[lines.length - 2]) as ReplayTrailer & { sha256: string }; } catch { trailer = null as unknown as ReplayTrailer & { sha256: string }; }
  if (trailer === null || typeof trailer !== "object" || typeof trailer.end !== "string") {
    throw replayError("E_REPLAY_TRUNCATED", `replay log '${name}' is truncated: it does not end with its trailer (was the recording killed?)`);
  }
  const body = lines.slice(0, -2);
  const sum = createHash("sha256");
  for (const l of body) sum.update(l + "\n", "utf8");
  if (sum.digest("hex") !== trailer.sha256) throw corrupt("its checksum does not match its contents");
  if (!isInt(trailer.instructions) || !isInt(trailer.cycles) || !isInt(trailer.events) || (trailer.hash !== null && !isHash(trailer.hash))) {
    throw corrupt("its trailer lacks parts");
  }
  if (trailer.events !== body.length - 1) throw corrupt(`its trailer counts ${trailer.events} events, and it holds ${body.length - 1}`);
  const events: LoggedEvent[] = [];
  let last = 0;
  for (let k = 1; k < body.length; k++) {
    let o: Record<string, unknown>;
    try { o = JSON.parse(body[k]) as Record<string, unknown>; } catch { throw corrupt(`line ${k + 1} is not readable`); }
    if (!isInt(o.t) || !isInt(o.i) || !isInt(o.c) || o.t < last) throw corrupt(`line ${k + 1} has no guest time, or one before the line above`);
    last = o.t;
    let event: HostEvent;
    if (typeof o.bytes === "string" && /^([0-9a-f]{2})+$/.test(o.bytes)) event = { kind: "bytes", bytes: Uint8Array.from(Buffer.from(o.bytes, "hex")) };
    else if (o.eof === true) event = { kind: "eof" };
    else if (o.starve === true) event = { kind: "starve" };
    else if (typeof o.stop === "string") event = { kind: "stop", why: o.stop };
    else throw corrupt(`line ${k + 1} is no event this vmm86 knows`);
    events.push({ at: o.t, instructions: o.i, cycles: o.c, event });
  }
  return { header, events, trailer };
}

/** Read and check a log file. */
export function readReplay(path: string): ReplayLog {
  let bytes: Buffer;
  try { bytes = readFileSync(path); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw replayError("E_REPLAY_READ", code === "ENOENT" ? `replay log '${path}' does not exist` : `cannot read replay log '${path}': ${code ?? "error"}`);
  }
  if (bytes.length > MAX_LOG) throw replayError("E_REPLAY_FOREIGN", `'${path}' is ${bytes.length} bytes: not a vmm86 replay log`);
  return decodeReplay(bytes, path);
}
