// Run the vmm86 command with input piped to the guest's console, asynchronously (so two
// sessions can run side by side), and read `--stats` values from what it printed.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "./paths.js";

export interface CliRun { status: number | null; stdout: string; stderr: string }

/** `vmm86 ARGS…` with `input` on stdin. */
export function vmm86Session(input: string, ...args: string[]): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(REPO_ROOT, "bin", "vmm86.js"), ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    p.stdout.setEncoding("latin1").on("data", (d: string) => { stdout += d; });
    p.stderr.setEncoding("latin1").on("data", (d: string) => { stderr += d; });
    p.on("error", reject);
    p.on("close", (status) => resolve({ status, stdout, stderr }));
    p.stdin.end(input);
  });
}

/** The first group of `re` in the run's stderr (a --stats line); fails the test when absent. */
export function statOf(r: CliRun, re: RegExp): string {
  const m = re.exec(r.stderr);
  assert.ok(m !== null, `${re} in ${r.stderr}`);
  return m[1];
}
