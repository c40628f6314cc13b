// Host input delivered at a chosen virtual time: bytes for a UART's receiver, each batch due
// at a time in ns. As a timed device it bounds the run loop's slices like any other, so
// the guest receives the bytes at the same guest instruction however the machine is run
// (bare, or under the monitor, whose virtual devices keep guest time): scripted sessions
// (tests) stay deterministic across modes.

import type { TimedDevice } from "../dev/device.js";

export interface ByteSink {
  receive(bytes: Uint8Array, now: number): void;
}

export class ScheduledInput implements TimedDevice {
  private readonly queue: { at: number; bytes: Uint8Array }[] = [];

  constructor(private readonly sink: ByteSink) {}

  /** Deliver `bytes` at virtual time `at` (ns), after anything already queued. */
  schedule(bytes: Uint8Array, at: number): void {
    const last = this.queue.length ? this.queue[this.queue.length - 1].at : 0;
    this.queue.push({ at: Math.max(at, last), bytes });
  }

  get pending(): boolean { return this.queue.length > 0; }

  advance(now: number): void {
    while (this.queue.length && this.queue[0].at <= now) this.sink.receive(this.queue.shift()!.bytes, now);
  }

  nextEvent(): number {
    return this.queue.length ? this.queue[0].at : Infinity;
  }

  /** The bytes not yet delivered, with their due times (ns). */
  save(): { at: number; bytes: number[] }[] {
    return this.queue.map((q) => ({ at: q.at, bytes: Array.from(q.bytes) }));
  }

  restore(s: { at: number; bytes: number[] }[]): void {
    this.queue.length = 0;
    for (const q of s) this.queue.push({ at: q.at, bytes: Uint8Array.from(q.bytes) });
  }
}
