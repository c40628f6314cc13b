// `vmm86 run linux` on a pseudo-terminal, as a user at a terminal meets it (script(1) from
// util-linux provides the terminal): the shell's prompt shows before anything more is
// typed, a command answers, and both Ctrl-A x and SIGINT end the run with its final line
// (SIGINT on a small ROM guest: what matters there is the terminal, not the guest).
// Needs the Linux guest (fetched here if missing) and `script` (scripts/setup-tools.sh).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cachedLinux, fetchLinux, READY_MARKER } from "../../src/guests/fetch-linux.js";
import { REPO_ROOT } from "../support/paths.js";

const PROMPT = "/root # ";

interface Terminal {
  out(): string;
  type(s: string): void;
  waitFor(s: string, from: number, ms: number): Promise<number>;
  exited: Promise<number | null>;
  /** The pid of vmm86 itself (script's child). */
  pid(): number;
}

function terminal(args: string[]): Terminal {
  const dir = mkdtempSync(join(tmpdir(), "vmm86-pty-"));
  const pidFile = join(dir, "pid");
  const cmd = `echo $$ > ${pidFile}; exec ${process.execPath} ${join(REPO_ROOT, "bin", "vmm86.js")} ${args.join(" ")}`;
  // -q quiet, -f flush, -e exit with the child's status, -c the command; no typescript file.
  const p = spawn("script", ["-qfec", cmd, "/dev/null"], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  const waiters: (() => void)[] = [];
  p.stdout.setEncoding("latin1").on("data", (d: string) => { out += d; for (const w of waiters.splice(0)) w(); });
  p.stderr.setEncoding("latin1").on("data", (d: string) => { out += d; });
  return {
    out: () => out,
    type: (s) => { p.stdin.write(s); },
    waitFor: (s, from, ms) => new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`'${s}' did not appear within ${ms} ms; the terminal shows:\n${out.slice(-2000)}`)), ms);
      const check = (): void => {
        const k = out.indexOf(s, from);
        if (k >= 0) { clearTimeout(t); resolve(k + s.length); } else waiters.push(check);
      };
      check();
    }),
    exited: new Promise((resolve) => p.on("exit", (code) => resolve(code))),
    pid: () => Number(readFileSync(pidFile, "utf8")),
  };
}

async function bootToPrompt(t: Terminal): Promise<number> {
  // Nothing is typed until the prompt is on the screen: the prompt has no newline, so this
  // also shows that output is flushed as the guest writes it.
  const ready = await t.waitFor(READY_MARKER, 0, 600_000);
  return t.waitFor(PROMPT, ready, 120_000);
}

test("on a terminal: the prompt shows before more input, a command answers, Ctrl-A x ends the run with the final line",
  { timeout: 900_000 }, async () => {
    const g = cachedLinux() ?? await fetchLinux({ log: () => {} });
    const t = terminal(["run", "linux", "--timeout", "600"]);
    let at = await bootToPrompt(t);
    t.type("uname -r\r");
    at = await t.waitFor(g.release, at, 120_000);
    await t.waitFor(PROMPT, at, 120_000);
    t.type("\x01x");
    assert.equal(await t.exited, 0, t.out().slice(-2000));
    assert.match(t.out(), /vmm86: run ended from the terminal \(Ctrl-A x\) after \d+ instructions/);
  });

test("on a terminal: SIGINT to vmm86 ends the run with its output, stats, the final line and exit 130", { timeout: 120_000 }, async () => {
  // A ROM that prints a prompt without a newline and spins: mov dx,0x3f8; mov al,'$'; out dx,al; jmp $.
  const rom = new Uint8Array(0x10000).fill(0xf4);
  rom.set([0xba, 0xf8, 0x03, 0xb0, 0x24, 0xee, 0xeb, 0xfe], 0);
  rom.set([0xea, 0x00, 0x00, 0x00, 0xf0], 0xfff0);
  const file = join(mkdtempSync(join(tmpdir(), "vmm86-pty-")), "rom.bin");
  writeFileSync(file, rom);
  const t = terminal(["run", "--bios", file, "--timeout", "100", "--stats"]);
  await t.waitFor("$", 0, 60_000);
  process.kill(t.pid(), "SIGINT");
  assert.equal(await t.exited, 130, t.out().slice(-2000));
  assert.match(t.out(), /stats: \d+ instructions/);
  assert.match(t.out(), /vmm86: E_SIGNAL: stopped by SIGINT after \d+ instructions/);
});
