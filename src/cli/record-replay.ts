// `vmm86 run --record LOG` and `--replay LOG` (docs/replay.md): the run's side of the log.
// The recorder checks nothing and writes everything: the command line, the start state's
// hash (and the snapshot's, after --restore), every host event with the guest instruction
// count it took effect at, and the end. The replayer checks everything: the same start
// state, every event at the same guest instruction, the same end and final state hash.

import { writeAll } from "./output.js";
import { ExitCode, UserError } from "./errors.js";
import { HostEvents, type TimedHostEvent } from "./host-events.js";
import { ReplayWriter, type ReplayLog } from "./replay-file.js";
import { stateHash } from "./snapshot-file.js";
import type { TimedDevice } from "../hw/dev/device.js";
import type { PacedInput } from "../hw/pc/paced-input.js";
import type { GuestState } from "../hw/pc/pc-state.js";

/** What the recorder and the replayer need from the run. */
export interface RecordedRun {
  /** The guest's state now (at the start: after boot or restore, before the first instruction). */
  guestState(): GuestState;
  /** Guest instructions retired and guest time in cycles. */
  counts(): { instructions: number; cycles: number };
  /** Leave the guest at its next exit and keep its state (the monitor); nothing on the bare PC. */
  requestCapture(): void;
}

export interface RecordOptions {
  path: string;
  vmm86: string;
  args: string[];
  snapshot: { file: string; state: GuestState } | null;
  terminal: boolean;
}

function mismatch(message: string): UserError {
  return new UserError("E_REPLAY_MISMATCH", ExitCode.REPLAY, message);
}

export class RecordReplay {
  /** Set when a replayed event took effect at another guest instruction than recorded. */
  diverged: string | null = null;
  readonly writer: ReplayWriter | null;
  private applied = 0;

  private constructor(private readonly run: RecordedRun, private readonly log: ReplayLog | null, private readonly logPath: string, rec: RecordOptions | null) {
    const start = `sha256:${stateHash(run.guestState())}`;
    if (log !== null) {
      const snap = rec?.snapshot ?? null;
      const want = log.header.snapshot;
      if (want !== null && snap !== null) {
        const have = `sha256:${stateHash(snap.state)}`;
        if (have !== want.hash) {
          throw mismatch(`replay log '${logPath}' continues the snapshot ${want.file} (state ${want.hash.slice(0, 19)}…); '${snap.file}' holds another state (${have.slice(0, 19)}…)`);
        }
      }
      if (start !== log.header.start) {
        throw mismatch(`replay log '${logPath}' was recorded from another start state (${log.header.start.slice(0, 19)}…, this run starts at ${start.slice(0, 19)}…): ` +
          "the guest's image or the snapshot has changed since");
      }
      this.writer = null;
    } else {
      const r = rec!;
      this.writer = new ReplayWriter(r.path, {
        vmm86: r.vmm86, args: r.args, start,
        snapshot: r.snapshot !== null ? { file: r.snapshot.file, hash: `sha256:${stateHash(r.snapshot.state)}` } : null,
        terminal: r.terminal,
      });
    }
  }

  static record(run: RecordedRun, opts: RecordOptions): RecordReplay {
    return new RecordReplay(run, null, opts.path, opts);
  }

  /** `snapshot`: the one this replay continues (--restore), checked against the log's. */
  static replay(run: RecordedRun, log: ReplayLog, path: string, snapshot: { file: string; state: GuestState } | null): RecordReplay {
    return new RecordReplay(run, log, path, snapshot !== null ? { path, vmm86: "", args: [], snapshot, terminal: false } : null);
  }

  /** Put the event gate on the platform, before the line it feeds; a replay queues the log. */
  attach(line: PacedInput, timed: TimedDevice[]): HostEvents {
    const gate = new HostEvents(line, (e, now) => this.onApplied(e, now));
    timed.splice(timed.indexOf(line), 0, gate);
    if (this.log !== null) for (const e of this.log.events) gate.schedule({ at: e.at, event: e.event });
    return gate;
  }

  private onApplied(e: TimedHostEvent, _now: number): void {
    const { instructions, cycles } = this.run.counts();
    if (this.writer !== null) this.writer.event({ ...e, instructions, cycles });
    else {
      const want = this.log!.events[this.applied];
      if (this.diverged === null && (want.instructions !== instructions || want.cycles !== cycles)) {
        this.diverged = `input event ${this.applied + 1} (${e.event.kind}) took effect at guest instruction ${instructions}, cycle ${cycles}; ` +
          `the recording had it at ${want.instructions}, cycle ${want.cycles}`;
      }
    }
    this.applied++;
    if (e.event.kind === "stop") this.run.requestCapture();
  }

  /**
   * The run has ended (`end`: poweroff 0, halt, stopped quit …). Recording: close the log.
   * Replay: compare with the recording; a difference is E_REPLAY_DIVERGED (exit 16).
   */
  finish(end: string, finalHash: () => string | null, counts: { instructions: number; cycles: number }, status: number): number {
    const hash = finalHash();
    if (this.writer !== null) {
      this.writer.close({ end, ...counts, hash: hash !== null ? `sha256:${hash}` : null });
      writeAll(2, `vmm86: recorded ${this.applied} input events to ${this.writer.path}; replay it with \`vmm86 run --replay ${this.writer.path}\`\n`);
      return status;
    }
    const t = this.log!.trailer;
    if (this.diverged !== null) {
      writeAll(2, `vmm86: E_REPLAY_DIVERGED: the replay of ${this.logPath} did not reproduce the recorded run: ${this.diverged}\n`);
      return ExitCode.REPLAY;
    }
    // Stopped from this host (a signal, Ctrl-A x, --timeout) before the recording's end: no verdict.
    if ((end === "signal" || end === "quit" || end === "timeout") && end !== t.end) {
      writeAll(2, `vmm86: the replay of ${this.logPath} was interrupted before the recording's end\n`);
      return status;
    }
    const got = `${end} after ${counts.instructions} guest instructions, ${counts.cycles} cycles, state ${hash !== null ? `sha256:${hash}` : "n/a"}`;
    const want = `${t.end} after ${t.instructions} guest instructions, ${t.cycles} cycles, state ${t.hash ?? "n/a"}`;
    const why = (this.applied < this.log!.events.length ? `only ${this.applied} of the log's ${this.log!.events.length} input events took effect` : null) ??
      (got !== want ? `the replay ended ${got}; the recording ended ${want}` : null);
    if (why !== null) {
      writeAll(2, `vmm86: E_REPLAY_DIVERGED: the replay of ${this.logPath} did not reproduce the recorded run: ${why}\n`);
      return ExitCode.REPLAY;
    }
    writeAll(2, `vmm86: replay of ${this.logPath} matches the recording: ${this.applied} input events at their guest instructions, ended ${got}\n`);
    return status;
  }
}
