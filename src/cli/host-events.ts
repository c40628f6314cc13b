// Input from outside the guest, applied at guest times a replay can reproduce
// (docs/replay.md).
//
// Without `--record`/`--replay`, host bytes reach COM1's line (PacedInput) between run
// slices, at whatever guest instruction the host's timing gives. To make a run repeatable,
// every host event goes through this gate instead: it takes effect one guest cycle after
// the guest time at which the host delivered it, as the event of a timed device. The run
// loop stops every machine — the bare PC, and the monitor through its deadline timer — at
// the first instruction boundary at or after a device event, so the event lands at a point
// that depends on the guest alone. Recording logs each event with that time; replaying
// queues the logged events in the same gate, which applies them at the same points.
//
// Events: bytes for the line, the end of the input (EOF), the run loop's patience with a
// silent pipe running out (`starve`, docs/run-loop.md), and the end of the run (Ctrl-A x, a
// signal, --timeout), which under --record also waits for its guest time, so the recorded
// run and its replay stop in the same state.

import { NS_PER_CYCLE, type TimedDevice } from "../hw/dev/device.js";
import type { PacedInput } from "../hw/pc/paced-input.js";
import type { LineSink } from "./host-input.js";

export type HostEvent =
  | { kind: "bytes"; bytes: Uint8Array }
  | { kind: "eof" }
  | { kind: "starve" }
  /** The run ends here; `why` is what ended the recorded run (quit, SIGINT, timeout …). */
  | { kind: "stop"; why: string };

export interface TimedHostEvent {
  /** Guest time (ns) at which it takes effect. */
  at: number;
  event: HostEvent;
}

export class HostEvents implements TimedDevice {
  private readonly queue: TimedHostEvent[] = [];
  private queuedBytes = 0;
  /** Set when a stop event has taken effect: why the run ends. */
  stopped: string | null = null;

  /**
   * `applied` is told of every event as it takes effect, at guest time `now` (the recorder
   * logs it, the replayer checks it against the log).
   */
  constructor(private readonly line: PacedInput, private readonly applied: (e: TimedHostEvent, now: number) => void) {}

  /** A host event that happened at guest time `now`: it takes effect one cycle later. */
  post(event: HostEvent, now: number): void {
    const last = this.queue.length > 0 ? this.queue[this.queue.length - 1].at : 0;
    this.schedule({ at: Math.max(now + NS_PER_CYCLE, last), event });
  }

  /** Queue an event at its own time (a replay's logged events, in order). */
  schedule(e: TimedHostEvent): void {
    this.queue.push(e);
    if (e.event.kind === "bytes") this.queuedBytes += e.event.bytes.length;
  }

  /** Events not yet applied. */
  get pending(): number { return this.queue.length; }

  /**
   * The host's end of the line as HostInput sees it under --record: bytes and EOF become
   * events, posted at the guest's time `now()`; after a stop nothing more is taken.
   */
  hostSide(now: () => number): LineSink {
    const buffered = (): number => this.buffered;
    return {
      push: (data) => { if (this.stopped === null && !this.stopping) this.post({ kind: "bytes", bytes: data }, now()); },
      end: () => { if (!this.stopping) this.post({ kind: "eof" }, now()); },
      get buffered(): number { return buffered(); },
      setLive: (live) => this.line.setLive(live),
    };
  }

  /** Bytes waiting here or in the line (HostInput's bound on what stdin may queue). */
  get buffered(): number { return this.queuedBytes + this.line.buffered; }

  /** A stop was posted (it takes effect at its time). */
  get stopping(): boolean { return this.queue.some((e) => e.event.kind === "stop") || this.stopped !== null; }

  advance(now: number): void {
    while (this.queue.length > 0 && this.queue[0].at <= now && this.stopped === null) {
      const e = this.queue.shift()!;
      const ev = e.event;
      switch (ev.kind) {
        case "bytes": this.queuedBytes -= ev.bytes.length; this.line.push(ev.bytes, now); break;
        case "eof": this.line.end(); break;
        case "starve": this.line.starve(); break;
        case "stop": this.stopped = ev.why; break;
      }
      this.applied(e, now);
    }
  }

  nextEvent(now: number): number {
    // Once stopped, the run ends after one more instruction, in the recording and its replay
    // alike (a slice of exactly one instruction: the loop stops at an event that is due).
    if (this.stopped !== null) return now;
    return this.queue.length > 0 ? this.queue[0].at : Infinity;
  }
}
