// Errors a user can meet, as data: a stable code, an exit status and a message that says
// what to do. Every way `vmm86` ends goes through one of these (or exit 0).

export const ExitCode = {
  OK: 0,
  /** Bad flag, missing argument, unknown command. */
  USAGE: 2,
  /** The guest executed HLT with interrupts disabled: nothing can wake it. */
  HALT: 3,
  /** The run exceeded --timeout. */
  TIMEOUT: 4,
  /** A fault while delivering a double fault: the processor shut down. */
  TRIPLE_FAULT: 5,
  /** An image is missing, unreadable or malformed. */
  IMAGE: 6,
  /** `vmm86 fetch` could not get or build a guest (archive unreachable, tools missing). */
  FETCH: 7,
  /** The guest waits for input (HLT, IF=1, no timer armed) and stdin has ended. */
  IDLE: 8,
  /**
   * Resource control failed after a monitored run (trap/bt): the monitor's protected memory
   * changed, or a guest instruction ran at machine CPL 0 — the guest escaped.
   */
  BREACH: 9,
  /** --mode trap/bt: the guest entered a mode the monitor does not run (real or virtual-8086 mode). */
  UNSUPPORTED: 14,
  /**
   * A snapshot file is missing, unreadable, not a vmm86 snapshot, of another format version,
   * truncated, corrupt, or for another machine (--restore); or cannot be written (--save-at).
   */
  SNAPSHOT: 15,
  /**
   * A replay log is missing, not a log, of another format or vmm86 version, truncated or
   * corrupt, for another guest or start state; or the replay did not end as the recording did
   * (--replay); or the log cannot be written (--record).
   */
  REPLAY: 16,
  /** --gdb: the port cannot be listened on (in use, not allowed). */
  GDB: 17,
  /** A bug in vmm86 itself (an unexpected host exception). */
  INTERNAL: 70,
} as const;

export class UserError extends Error {
  constructor(readonly code: string, readonly exitCode: number, message: string) {
    super(message);
  }
}

export function usageError(message: string): UserError {
  return new UserError("E_USAGE", ExitCode.USAGE, message + " (see `vmm86 --help`)");
}

export function imageError(message: string): UserError {
  return new UserError("E_IMAGE", ExitCode.IMAGE, message);
}
