// Standard input as the far end of the guest's first serial line (docs/run-loop.md).
//
// Bytes go to the platform's PacedInput, which sends them to COM1 at the line's speed with
// flow control. Reading stops while more than HIGH_WATER bytes wait to be sent, so endless
// input (`yes | vmm86 run …`) to a guest that never reads costs a bounded amount of memory.
// On a terminal, keys are live and Ctrl-A x ends the run (as in QEMU); from a pipe or file,
// bytes are scripted: PacedInput gives them guest times that do not depend on the host.

import type { PacedInput } from "../hw/pc/paced-input.js";

/**
 * Where host bytes go: the line itself (PacedInput), or under `--record` the host-event gate
 * that hands them to the line at a guest time it logs (host-events.ts).
 */
export type LineSink = Pick<PacedInput, "push" | "end" | "buffered" | "setLive">;

const HIGH_WATER = 64 * 1024;
const LOW_WATER = 16 * 1024;

export class HostInput {
  private paused = false;
  private ctrlA = false;
  private arrived = false;
  private wake: (() => void) | null = null;
  /** Ctrl-A x was typed on the terminal. */
  quit = false;
  /** Ctrl-A s on the terminal calls this (`--save-at key FILE`); without it the keys go to the guest. */
  onSaveKey: (() => void) | null = null;
  readonly tty: boolean;

  private readonly onData = (d: Buffer): void => {
    let bytes: Uint8Array = d;
    if (this.tty) bytes = this.filterTerminal(d);
    if (bytes.length) {
      this.line.push(Uint8Array.from(bytes), this.now());
      this.arrived = true;
    }
    if (this.line.buffered > HIGH_WATER && !this.paused) {
      this.paused = true;
      this.stream.pause();
    }
    this.notify();
  };

  private readonly onEnd = (): void => {
    this.line.end();
    this.arrived = true;
    this.notify();
  };

  constructor(
    private readonly stream: NodeJS.ReadStream,
    private readonly line: LineSink,
    /** The guest's time (ns) now. */
    private readonly now: () => number,
  ) {
    this.tty = stream.isTTY === true;
    line.setLive(this.tty);
    stream.on("data", this.onData);
    stream.on("end", this.onEnd);
    stream.on("error", this.onEnd);
    if (this.tty) stream.setRawMode(true);
    stream.resume();
  }

  /**
   * Ctrl-A x ends the run; Ctrl-A s asks for a snapshot (with onSaveKey); Ctrl-A Ctrl-A sends
   * one Ctrl-A; other keys go to the guest.
   */
  private filterTerminal(d: Uint8Array): Uint8Array {
    const out: number[] = [];
    for (const b of d) {
      if (this.ctrlA) {
        this.ctrlA = false;
        if (b === 0x78 || b === 0x58) { this.quit = true; break; }
        if ((b === 0x73 || b === 0x53) && this.onSaveKey !== null) { this.onSaveKey(); continue; }
        out.push(b);
      } else if (b === 0x01) this.ctrlA = true;
      else out.push(b);
    }
    return Uint8Array.from(out);
  }

  /** Did input (or its end) arrive since the last call? Resumes reading once drained. */
  takeArrived(): boolean {
    if (this.paused && this.line.buffered < LOW_WATER) {
      this.paused = false;
      this.stream.resume();
    }
    const a = this.arrived;
    this.arrived = false;
    return a;
  }

  /** Something happened the run loop may be waiting for (input, its end, a signal). */
  notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Wait up to `ms` for input, its end, or `notify()`. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.wake = null; resolve(); }, Math.max(0, ms));
      this.wake = () => { clearTimeout(t); resolve(); };
    });
  }

  close(): void {
    this.stream.off("data", this.onData);
    this.stream.off("end", this.onEnd);
    this.stream.off("error", this.onEnd);
    if (this.tty) this.stream.setRawMode(false);
    this.stream.pause();
    this.notify();
  }
}
