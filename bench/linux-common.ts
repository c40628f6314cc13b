// What `npm run bench:linux` and its per-emulator child processes share: the guest
// settings every emulator gets, the request a child receives and the result it sends back.
//
// Each boot runs in a child process (a fresh Node, so a fresh JIT, and one that can be
// killed when it overruns); the child gets a BootRequest as JSON in argv[2] and answers
// with one BootResult over the IPC channel of child_process.fork.

import { writeFileSync } from "node:fs";
import { READY_MARKER } from "../src/guests/fetch-linux.js";

/** The kernel command line, the same string for every emulator. */
export const BENCH_CMDLINE = "console=ttyS0 noapic nolapic cryptomgr.notests";
export const BENCH_RAM_MIB = 128;

export interface BootRequest {
  bzImage: string;
  initrd: string;
  cmdline: string;
  ramMiB: number;
  /** Give up after this many seconds of host time. */
  timeoutS: number;
  /** Where to write the guest's serial output. */
  log: string;
  /** vmm86 only: enter the unpacked kernel (direct) or run the bzImage's decompressor. */
  entry?: "direct" | "bzimage";
  /** v86 only: the SeaBIOS image and the VGA BIOS. */
  bios?: string;
  vgaBios?: string;
}

/**
 * The boot's phases, each ending at a serial line (PHASES): until the serial console starts
 * (its first line is the kernel's banner, printed from the log buffer when the console
 * registers: on the bzImage path the firmware and the kernel's own XZ decompression come
 * first), the rest of kernel initialisation up to starting /init, and user space up to the
 * shell.
 */
export const PHASES = [
  { name: "until the console (bzImage: XZ first)", endsAt: "Linux version" },
  { name: "kernel init", endsAt: "Run /init as init process" },
] as const;

/** Where a phase ended: host seconds since the start, guest instructions retired. */
export interface PhaseMark { seconds: number; instructions: number; }

export type BootResult =
  | {
    ok: true;
    /** Host seconds from the start of loading to the ready line. */
    seconds: number;
    /** Guest instructions retired by then, when the emulator counts them. */
    instructions: number | null;
    /** Where each of PHASES ended (emulators that count instructions). */
    phases?: PhaseMark[];
    note?: string;
  }
  | { ok: false; reason: string };

/**
 * Watches a guest's serial bytes for the shell-ready line and keeps them for the log.
 * `feed` returns true on the byte that completes READY_MARKER (once).
 */
export class SerialWatch {
  private tail = "";
  private readonly bytes: number[] = [];
  ready = false;
  /** How many of PHASES have ended. */
  phase = 0;
  private readonly keep = Math.max(READY_MARKER.length, ...PHASES.map((p) => p.endsAt.length));

  /** `onPhase(k)` is called on the byte that completes PHASES[k]'s line. */
  constructor(private readonly onPhase: (k: number) => void = () => {}) {}

  feed(byte: number): boolean {
    this.bytes.push(byte);
    if (this.ready) return false;
    this.tail = (this.tail + String.fromCharCode(byte)).slice(-this.keep);
    if (this.phase < PHASES.length && this.tail.endsWith(PHASES[this.phase].endsAt)) this.onPhase(this.phase++);
    if (this.tail.endsWith(READY_MARKER)) this.ready = true;
    return this.ready;
  }

  /** The last non-empty line of output (for failure reasons). */
  lastLine(): string {
    const lines = Buffer.from(this.bytes).toString("latin1").split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== "");
    return lines.length ? lines[lines.length - 1].slice(0, 120) : "(no serial output)";
  }

  save(path: string): void {
    try { writeFileSync(path, Uint8Array.from(this.bytes)); } catch { /* a missing log is not a failed boot */ }
  }
}

/** Parses the request a child was started with. */
export function childRequest(): BootRequest {
  return JSON.parse(process.argv[2] ?? "{}") as BootRequest;
}

/** Sends the result to the parent and ends the child (the emulator may still hold timers). */
export function reply(result: BootResult): void {
  if (process.send) process.send(result, () => process.exit(0));
  else { process.stdout.write(JSON.stringify(result) + "\n"); process.exit(0); }
}
