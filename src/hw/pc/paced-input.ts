// The host's end of the first serial line: bytes typed or piped by the user, sent to the
// UART one character time apart, with flow control (a byte waits while the UART already
// holds one it has no FIFO room for), at guest times that do not depend on the host.
//
// Two ways bytes arrive (docs/run-loop.md):
// - scripted (a pipe or a file): every byte k has a due time fixed in guest time, `opened +
//   (k + 1) · step`, pushed back only by the guest's own flow control. While the host has
//   not yet read byte k, the run holds the guest at its due time (`waitingForHost`) until
//   the byte or the end of input arrives; so the same input gives the same guest run in
//   every mode, on every machine. If the host stays silent past the run loop's patience,
//   `starve()` lets the guest go on, and later bytes are sent as they come.
// - live (a terminal): a byte is due when it arrives, in guest time.
// Scripted lines are typed the way a person at a terminal would: each line (and the first
// one) waits until the guest has halted waiting for something (HLT with interrupts on: a
// shell idle at its prompt), or IDLE_WAIT of guest time for a guest that never halts. So
// a shell's echo is not mixed with the previous command's output, and a guest polling its
// UART still gets every line.
// Nothing is sent before `open()`: the Linux guest's console empties its receive FIFO when
// it starts, so type-ahead waits for its shell-ready line.

import type { TimedDevice } from "../dev/device.js";

/** The UART side: take bytes, and say how many it holds beyond its receive FIFO. */
export interface SerialSink {
  receive(bytes: ArrayLike<number>, now: number): void;
  readonly backlog: number;
  characterTime(): number;
}

const ONE = new Uint8Array(1);
/** The longest a scripted line waits for the guest to halt (ns of guest time). */
export const IDLE_WAIT = 100_000_000;

export interface PacedInputState { open: boolean; due: number; step: number; awaitingIdle: boolean; idleDeadline: number; sent: number }

export class PacedInput implements TimedDevice {
  private queue: Uint8Array[] = [];
  private head = 0;
  private bytes = 0;
  private ended = false;
  private live = false;
  private starved = false;
  private isOpen = false;
  /** Guest time (ns) at which the next byte is due; meaningful once open. */
  private due = 0;
  private step = 0;
  /** A scripted line waits for the guest to halt, or for the time `idleDeadline`. */
  private awaitingIdle = false;
  private idleDeadline = 0;
  /** Bytes sent to the UART so far. */
  sent = 0;

  constructor(private readonly sink: SerialSink) {}

  /** Live input (a terminal): each byte is due when the host receives it. */
  setLive(live: boolean): void { this.live = live; }

  /** Start sending at guest time `now`, one character time of the line as programmed now apart. */
  open(now: number): void {
    if (this.isOpen) return;
    this.isOpen = true;
    this.step = Math.max(1, Math.round(this.sink.characterTime()));
    this.due = now + this.step;
    this.waitForIdle(now);
  }

  private waitForIdle(now: number): void {
    if (this.live) return;
    this.awaitingIdle = true;
    this.idleDeadline = now + IDLE_WAIT;
  }

  /** The processor halted waiting for an interrupt (HLT with IF=1) at guest time `now`. */
  halted(now: number): void {
    if (!this.awaitingIdle) return;
    this.awaitingIdle = false;
    if (this.due < now + this.step) this.due = now + this.step;
  }

  get opened(): boolean { return this.isOpen; }

  /** Bytes received from the host and not yet sent. */
  get buffered(): number { return this.bytes; }

  /** Host bytes, received at guest time `now`. */
  push(data: Uint8Array, now: number): void {
    if (data.length === 0) return;
    if ((this.live || this.starved) && this.bytes === 0 && this.due < now) this.due = now;
    this.starved = false;
    this.queue.push(data);
    this.bytes += data.length;
  }

  /** The host's input has ended (EOF): nothing more will come. */
  end(): void { this.ended = true; }

  get inputEnded(): boolean { return this.ended; }

  /** The host did not send the next byte in time: let the guest run on without it. */
  starve(): void { this.starved = true; }

  /**
   * Is the guest at the due time of a byte the host has not read yet (scripted input, not
   * ended)? The run loop then waits for the host before running the guest further.
   */
  waitingForHost(now: number): boolean {
    return this.isOpen && !this.live && !this.ended && !this.starved && !this.awaitingIdle && this.bytes === 0 && now >= this.due;
  }

  advance(now: number): void {
    if (!this.isOpen) return;
    if (this.awaitingIdle) {
      if (now < this.idleDeadline) return;
      // The guest did not halt: type the line anyway.
      this.awaitingIdle = false;
      if (this.due < this.idleDeadline) this.due = this.idleDeadline;
    }
    while (this.bytes > 0 && this.due <= now) {
      if (this.sink.backlog > 0) {
        // Flow control: the UART has a byte it cannot take into its FIFO yet.
        this.due = now + 16 * this.step;
        return;
      }
      const chunk = this.queue[0];
      ONE[0] = chunk[this.head++];
      if (this.head === chunk.length) { this.queue.shift(); this.head = 0; }
      this.bytes--;
      this.sent++;
      this.sink.receive(ONE, now);
      this.due += this.step;
      if (ONE[0] === 0x0a || ONE[0] === 0x0d) {
        // End of a line: the next one waits for the guest to be idle again.
        this.waitForIdle(now);
        return;
      }
    }
  }

  /**
   * The line's guest-side timing (open, the next byte's due time, the wait for an idle
   * guest). Host-side state — bytes read from the host but not yet sent, end of input,
   * live or scripted — belongs to the run that continues and is not part of it.
   */
  save(): PacedInputState {
    return { open: this.isOpen, due: this.due, step: this.step, awaitingIdle: this.awaitingIdle, idleDeadline: this.idleDeadline, sent: this.sent };
  }

  restore(s: PacedInputState): void {
    this.isOpen = s.open; this.due = s.due; this.step = s.step; this.awaitingIdle = s.awaitingIdle;
    this.idleDeadline = s.idleDeadline; this.sent = s.sent;
  }

  nextEvent(): number {
    if (!this.isOpen) return Infinity;
    if (this.awaitingIdle) return this.bytes > 0 || (!this.live && !this.ended && !this.starved) ? this.idleDeadline : Infinity;
    if (this.bytes > 0) return this.due;
    // Scripted input not yet read from the host: stop the guest at the byte's due time.
    return !this.live && !this.ended && !this.starved ? this.due : Infinity;
  }
}
