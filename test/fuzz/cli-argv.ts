// The command-line fuzzer: random argument vectors to `vmm86`, each a real process. Whatever
// the arguments, vmm86 must end with a documented status, one line saying why, and never
// a stack trace or E_INTERNAL (70).

import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "../support/paths.js";
import { Rng } from "./rng.js";

const BIN = join(REPO_ROOT, "bin", "vmm86.js");
const DOCUMENTED = new Set([0, 2, 3, 4, 5, 6, 7, 8, 9, 14, 33, 129, 130, 143]);

const COMMANDS = ["run", "run", "run", "run", "cpus", "fetch", "classify", "redpill", "microbench", "escape", "help", "--help", "", "rnu", "-m"];
const FLAGS = ["--bios", "--kernel", "-kernel", "--initrd", "--append", "--entry", "--mode", "--post-port", "--debugcon", "--cpu", "-m",
  "--timeout", "--max-instructions", "--clock", "--protect", "--no-reservetop", "--trace", "--stats", "--stats=json", "--stats=table",
  "--stats=xml", "--format", "--bench", "--repeat", "--attempt", "--list", "--cache", "--check", "--umip", "-h", "--nope", "-", "--"];
const VALUES = ["demo", "linux", "0", "-1", "1e9", "0x", "0xfffff", "2.5", "1G", "128M", "bare", "bt", "trap", "strict", "core2,+lm",
  "pentium2,-nosuch", "zen3,+strict", "json", "table", "/dev/null", "/dev/zero", "/nonexistent", ".", "guests/demo/demo.elf",
  "virtual", "realtime", "segments", "paging-only", "direct", "bzimage", "0x402:/dev/null", "stdout", "", " ", "é", "--mode"];

/** One random argument vector. Commands that run for minutes get a bad flag, so they end at parsing. */
export function randomArgv(rng: Rng): string[] {
  const cmd = rng.pick(COMMANDS);
  const argv = cmd === "" ? [] : [cmd];
  const n = rng.int(6);
  for (let k = 0; k < n; k++) {
    if (rng.int(3) === 0) argv.push(rng.pick(VALUES));
    else {
      argv.push(rng.pick(FLAGS));
      if (rng.int(4) !== 0) argv.push(rng.pick(VALUES));
    }
  }
  if (["classify", "redpill", "microbench", "escape"].includes(cmd)) argv.push("--no-such-flag");
  if (cmd === "fetch") argv.push("--check");
  if (cmd === "run") argv.push("--max-instructions", "200000", "--timeout", "5");
  return argv;
}

export interface ArgvFinding { seed: number; argv: string[]; status: number | null; stderr: string }

export function fuzzArgv(seed: number, count: number): ArgvFinding[] {
  const found: ArgvFinding[] = [];
  for (let k = 0; k < count; k++) {
    const s = (seed + k) >>> 0;
    const argv = randomArgv(new Rng(s));
    const r = spawnSync(process.execPath, [BIN, ...argv], { encoding: "utf8", timeout: 60_000, input: "", cwd: REPO_ROOT });
    const bad = r.status === null || !DOCUMENTED.has(r.status) || /\n\s+at (?:.*\(|file:|node:)/.test(r.stderr) || /vmm86: E_INTERNAL/.test(r.stderr) ||
      (r.status !== 0 && !/^vmm86: /m.test(r.stderr));
    if (bad) found.push({ seed: s, argv, status: r.status, stderr: r.stderr.slice(-500) });
  }
  return found;
}
