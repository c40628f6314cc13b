// Run the vmm86 command with input piped to the guest's console, asynchronously (so two
// sessions can run side by side), and read `--stats` values from what it printed.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "./paths.js";

export interface CliRun { status: number | null; stdout: string; stderr: string }

/** `vmm86 ARGS…` with `input` on stdin. */
export function vmm86Session(input: string, ...args: string[]): Promise<CliRun> {
  return vmm86Typed(args, input);
}

/**
 * `vmm86 ARGS…` with `input` written to its stdin and then closed: at once (`gapMs` 0), or
 * one character every `gapMs` milliseconds, as a user types.
 */
export function vmm86Typed(args: string[], input: string, gapMs = 0): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(REPO_ROOT, "bin", "vmm86.js"), ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    p.stdout.setEncoding("latin1").on("data", (d: string) => { stdout += d; });
    p.stderr.setEncoding("latin1").on("data", (d: string) => { stderr += d; });
    p.stdin.on("error", () => {}); // the guest may end before it has read everything
    p.on("error", reject);
    p.on("close", (status) => resolve({ status, stdout, stderr }));
    if (gapMs === 0) { p.stdin.end(input); return; }
    let k = 0;
    const t = setInterval(() => {
      if (k < input.length) p.stdin.write(input[k++]);
      else { clearInterval(t); p.stdin.end(); }
    }, gapMs);
  });
}

/** The first group of `re` in the run's stderr (a --stats line); fails the test when absent. */
export function statOf(r: CliRun, re: RegExp): string {
  const m = re.exec(r.stderr);
  assert.ok(m !== null, `${re} in ${r.stderr}`);
  return m[1];
}

/**
 * The same shell session (`input`) on `guest` under a monitor (`monitorArgs`) and on the
 * bare machine running `bareCpu` (the processor the monitor's guest sees), side by side.
 * Both must power off with status 0 and agree on the serial log, the guest instruction count
 * and the final state hash.
 */
/**
 * `sameHash: false` for a monitor whose guest user code runs natively and may read
 * something of the host the bare machine does not show (CPUID at CPL 3 on a part without
 * CPUID faulting: docs/long-mode-monitor.md): the serial log and instruction count must
 * still be the bare machine's.
 */
export async function sameAsBare(guest: string, input: string, bareCpu: string, monitorArgs: string[], opts: { sameHash?: boolean } = {}): Promise<{ bare: CliRun; run: CliRun }> {
  const [bare, run] = await Promise.all([
    vmm86Session(input, "run", guest, "--cpu", bareCpu, "--stats", "--timeout", "1500"),
    vmm86Session(input, "run", guest, ...monitorArgs, "--stats", "--timeout", "1500"),
  ]);
  assert.equal(bare.status, 0, bare.stderr);
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, bare.stdout, "the same serial log");
  assert.equal(statOf(run, /stats: guest (\d+) instructions/), statOf(bare, /stats: (\d+) instructions in/));
  if (opts.sameHash !== false) assert.equal(statOf(run, /state hash (sha256:[0-9a-f]+)/), statOf(bare, /state hash (sha256:[0-9a-f]+)/));
  return { bare, run };
}
