// The Node options the vmm86 command runs with, and the relaunch that applies them
// (docs/jit.md, "The host's threads").
//
// V8 keeps a pool of background threads for its optimising compiler, WebAssembly tier-up and
// the garbage collector's concurrent work; Node makes it 4 threads whatever the machine. On
// a 2-core host, next to the guest's thread and the block compiler's worker, those threads
// took the guest's core from it: the Linux boot to the shell ran 4–9 % slower than with one
// pool thread, on five of six alternating pairs (direct entry) and all three of three
// (the bzImage path). The pool's size is fixed when the process starts, so the command starts
// Node once more with it, unless the user gave a size of their own.

import { spawn } from "node:child_process";

/** What `vmm86` adds to Node's own options (a user's --v8-pool-size wins). */
export const NODE_FLAGS: readonly string[] = ["--v8-pool-size=1"];

/** Set in the relaunched process's environment. */
const RELAUNCHED = "VMM86_RELAUNCHED";

/** Signals the launcher passes on; the CLI ends a run on each (run.ts, E_SIGNAL). */
const FORWARDED: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/** Whether this process should start Node again with NODE_FLAGS before doing anything. */
export function wantsRelaunch(): boolean {
  if (process.env[RELAUNCHED] === "1") return false;
  return !process.execArgv.some((a) => a.startsWith("--v8-pool-size"));
}

/**
 * Run `script` with `args` in a new Node process with NODE_FLAGS (and this one's options),
 * sharing the terminal, and end as it ends: its exit status, or the signal that ended it.
 * Signals sent to this process go on to it. A terminal's Ctrl-C reaches both (one process
 * group); the CLI takes a repeated signal as the first. If this process is killed outright,
 * the other sees its IPC channel close and ends as on SIGTERM (`watchLauncher`).
 */
export function relaunch(script: string, args: string[]): Promise<never> {
  const child = spawn(process.execPath, [...NODE_FLAGS, ...process.execArgv, script, ...args], {
    stdio: ["inherit", "inherit", "inherit", "ipc"],
    env: { ...process.env, [RELAUNCHED]: "1" },
  });
  const forward = (s: NodeJS.Signals): void => { child.kill(s); };
  for (const s of FORWARDED) process.on(s, forward);
  return new Promise<never>(() => {
    child.on("error", (e) => {
      process.stderr.write(`vmm86: cannot start Node (${e.message}) (E_INTERNAL)\n`);
      process.exit(70);
    });
    child.on("exit", (code, signal) => {
      for (const s of FORWARDED) process.off(s, forward);
      if (signal !== null) process.kill(process.pid, signal);
      process.exit(code ?? 1);
    });
  });
}

/**
 * In the relaunched process: end as on SIGTERM when the launcher goes away. (The mark is
 * taken out of the environment, so a `vmm86` this process starts, as the lab's commands do,
 * is relaunched in its turn.)
 */
export function watchLauncher(): void {
  const relaunched = process.env[RELAUNCHED] === "1";
  delete process.env[RELAUNCHED];
  if (!relaunched || process.channel === undefined) return;
  process.channel.unref();
  process.on("disconnect", () => { process.kill(process.pid, "SIGTERM"); });
}
