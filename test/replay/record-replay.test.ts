// `vmm86 run --record LOG` and `--replay LOG` (issue 12, docs/replay.md): a session typed on
// a terminal at moments the host's timing decides is replayed to the same serial output and
// the same final state hash; a log that is damaged, cut short, foreign, of another version,
// or replayed against another start state is refused with its E_REPLAY_* code (exit 16),
// and a log whose input was changed (checksum made good again) does not replay to the
// recorded end: E_REPLAY_DIVERGED.
// Needs the Linux guest (fetched if missing) and `script` (scripts/setup-tools.sh).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../support/paths.js";
import { cachedLinux, fetchLinux, LINUX_CMDLINE } from "../../src/guests/fetch-linux.js";
import { encodeSnapshot } from "../../src/cli/snapshot-file.js";
import { shellAtPrompt } from "../linux/shell-snapshot.js";

const BIN = join(REPO_ROOT, "bin", "vmm86.js");
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string }).version;
const dir = mkdtempSync(join(tmpdir(), "vmm86-replay-"));

interface Result { status: number | null; stdout: string; stderr: string }

function vmm86(args: string[], input = ""): Result {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "latin1", input, maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const hashOf = (r: Result): string => /state hash (sha256:[0-9a-f]{64})/.exec(r.stderr)?.[1] ?? "none";
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * `vmm86 args` with a terminal on stdin (script(1)) and stdout/stderr in files, so the
 * guest's bytes are compared raw. `session` types into the terminal.
 */
async function onTerminal(args: string[], name: string, session: (type: (s: string) => void, out: () => string) => Promise<void>): Promise<Result> {
  const out = join(dir, `${name}.out`), err = join(dir, `${name}.err`);
  writeFileSync(out, "");
  const cmd = `exec ${[process.execPath, BIN, ...args].map((a) => `'${a}'`).join(" ")} >'${out}' 2>'${err}'`;
  const p = spawn("script", ["-qfec", cmd, "/dev/null"], { stdio: ["pipe", "ignore", "ignore"] });
  const exited = new Promise<number | null>((resolve) => p.on("exit", (code) => resolve(code)));
  const kill = setTimeout(() => p.kill(), 300_000);
  await session((s) => p.stdin.write(s), () => readFileSync(out, "latin1"));
  const status = await exited;
  clearTimeout(kill);
  return { status, stdout: readFileSync(out, "latin1"), stderr: existsSync(err) ? readFileSync(err, "latin1") : "" };
}

/** Wait until `s` appears in `out()` after `from`; returns the index after it. */
async function waitFor(out: () => string, s: string, from: number, ms = 120_000): Promise<number> {
  const until = Date.now() + ms;
  for (;;) {
    const k = out().indexOf(s, from);
    if (k >= 0) return k + s.length;
    if (Date.now() > until) throw new Error(`'${s}' did not appear; the output ends:\n${out().slice(-1000)}`);
    await sleep(50);
  }
}

test("Linux at its shell: a session typed on a terminal, recorded under bare and under bt, replays to the same output and state hash", { timeout: 1_200_000 }, async () => {
  const g = cachedLinux() ?? await fetchLinux({ log: () => {} });
  // The cached shell (shell-snapshot.ts), as a snapshot file the command line restores.
  const { saved } = shellAtPrompt(g, LINUX_CMDLINE, " # ");
  const snap = join(dir, "shell.snap");
  const meta = { vmm86: VERSION, mode: "bare", describe: "Linux at its prompt (test)", instructions: saved.state.cpu.instructions,
    cycles: saved.state.cpu.instructions + saved.state.cpu.idleCycles, inputAfter: null, recent: "" };
  writeFileSync(snap, encodeSnapshot({ meta, state: saved.state }));

  // Keys come when this process gets to them: their guest times depend on the host.
  const typeSlowly = async (type: (s: string) => void, s: string): Promise<void> => {
    for (const ch of s) { type(ch); await sleep(5 + Math.floor(Math.random() * 40)); }
  };
  const logBare = join(dir, "bare.log");
  const rec = await onTerminal(["run", "--restore", snap, "--record", logBare, "--stats"], "rec-bare", async (type, out) => {
    type("echo one\r");
    const at = await waitFor(out, "one\r\n", 0);
    await sleep(Math.random() * 300);
    await typeSlowly(type, "uname -r; echo $((6*7))\r");
    await waitFor(out, "42\r\n", at);
    await sleep(Math.random() * 300);
    type("poweroff -f\r");
  });
  assert.equal(rec.status, 0, rec.stderr);
  assert.match(rec.stdout, new RegExp(g.release.replace(/\./g, "\\.")));
  assert.match(rec.stderr, /vmm86: recorded \d+ input events to /);
  const log = readFileSync(logBare, "utf8");
  assert.ok(log.split("\n").length > 12, "keys are events of their own");
  assert.notEqual(hashOf(rec), "none");
  // The replay reads no stdin: what is piped to it changes nothing.
  const rep = vmm86(["run", "--replay", logBare, "--stats"], "echo this is ignored\n");
  assert.equal(rep.status, 0, rep.stderr);
  assert.match(rep.stderr, /standard input is not read/);
  assert.match(rep.stderr, /vmm86: replay of .* matches the recording/);
  assert.equal(rep.stdout, rec.stdout, "the same serial output");
  assert.equal(hashOf(rep), hashOf(rec), "the same final state");
  // The typed command changed in the log (and its checksum made good): the guest prints
  // something else, and the replay says it did not end as recorded.
  const changed = log.replace(/"bytes":"((?:[0-9a-f]{2})*?)37/, (_m, before: string) => `"bytes":"${before}38`);
  assert.notEqual(changed, log, "the log has the key '7' as an event");
  const tampered = join(dir, "tampered.log");
  writeFileSync(tampered, resum(changed));
  const tr = vmm86(["run", "--replay", tampered]);
  assert.equal(tr.status, 16, tr.stderr);
  assert.match(tr.stderr, /vmm86: E_REPLAY_DIVERGED: .* the replay ended poweroff 0 after \d+ guest instructions, \d+ cycles, state sha256:\w+; the recording ended poweroff 0/);
  assert.match(tr.stdout, /\r\n48\r\n/, "6*8");

  // Under bt, ended by Ctrl-A x at a moment of the host's choosing: the replay stops where the
  // recording did, in the same state.
  const logBt = join(dir, "bt.log");
  const recBt = await onTerminal(["run", "--restore", snap, "--mode", "bt", "--record", logBt, "--stats"], "rec-bt", async (type, out) => {
    await typeSlowly(type, "i=0; while [ $i -lt 200 ]; do i=$((i+1)); done; echo done $i\r");
    await waitFor(out, "done 200\r\n", 0);
    await typeSlowly(type, "cat /proc/uptime\r");
    await sleep(200 + Math.random() * 300);
    type("\x01x");
  });
  assert.equal(recBt.status, 0, recBt.stderr);
  assert.match(recBt.stderr, /run ended from the terminal \(Ctrl-A x\)/);
  assert.notEqual(hashOf(recBt), "none", "the stop takes effect at an exit: the monitor holds the guest's state");
  const repBt = vmm86(["run", "--replay", logBt, "--stats"]);
  assert.equal(repBt.status, 0, repBt.stderr);
  assert.match(repBt.stderr, /the replay reached the point where the recorded run was stopped \(quit\)/);
  assert.equal(repBt.stdout, recBt.stdout);
  assert.equal(hashOf(repBt), hashOf(recBt));

  // The log names the snapshot by its state: another snapshot under the same name is refused.
  const other = join(dir, "other.snap");
  writeFileSync(other, encodeSnapshot({ meta, state: { ...saved.state, cpu: { ...saved.state.cpu, regs: saved.state.cpu.regs.map((r, k) => (k === 0 ? r ^ 1 : r)) } } }));
  const wrong = vmm86(["run", "--replay", logBare, "--restore", other]);
  assert.equal(wrong.status, 16, wrong.stderr);
  assert.match(wrong.stderr, /vmm86: E_REPLAY_MISMATCH: replay log .* continues the snapshot/);
});

test("replay logs that are foreign, cut short, damaged, of another version or start state, or tampered with: E_REPLAY_*, exit 16", () => {
  const good = join(dir, "demo.log");
  // When the piped bytes arrive is up to the host: on a loaded machine the demo (32 ms of
  // guest time) may end before it has read them. Record until the log holds them.
  let rec = vmm86(["run", "demo", "--record", good, "--stats"], "some input\n");
  for (let k = 0; k < 5 && !readFileSync(good, "utf8").includes('"bytes":"73'); k++) rec = vmm86(["run", "demo", "--record", good, "--stats"], "some input\n");
  assert.equal(rec.status, 33, rec.stderr);
  assert.match(readFileSync(good, "utf8"), /"bytes":"736f6d6520696e7075740a"/, "the input was read and logged");
  const ok = vmm86(["run", "--replay", good, "--stats"]);
  assert.equal(ok.status, 33, ok.stderr);
  assert.equal(hashOf(ok), hashOf(rec));
  const text = readFileSync(good, "utf8");
  const bad = (name: string, content: string | Uint8Array, code: string, ...extra: string[]): Result => {
    const f = join(dir, name);
    writeFileSync(f, content);
    const r = vmm86(["run", "--replay", f, ...extra]);
    assert.equal(r.status, 16, `${name}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`vmm86: ${code}: `), name);
    assert.doesNotMatch(r.stderr, /^\s+at .*\.js:\d+/m, "no stack trace");
    return r;
  };
  bad("foreign.log", readFileSync(join(REPO_ROOT, "guests", "demo", "demo.elf")), "E_REPLAY_FOREIGN");
  bad("empty.log", "", "E_REPLAY_FOREIGN");
  bad("head.log", text.slice(0, 20), "E_REPLAY_TRUNCATED");
  const lines = text.split("\n");
  bad("cut.log", lines.slice(0, -2).join("\n") + "\n", "E_REPLAY_TRUNCATED");
  bad("half-line.log", text.slice(0, text.length - 30), "E_REPLAY_TRUNCATED");
  bad("flipped.log", text.replace('"bytes":"73', '"bytes":"74'), "E_REPLAY_CORRUPT");
  bad("version.log", text.replace('"version":1', '"version":2'), "E_REPLAY_VERSION");
  bad("vmm86.log", resum(text.replace(`"vmm86":"${VERSION}"`, '"vmm86":"0.0.1"')), "E_REPLAY_VERSION");
  // Another guest under the recorded command line: the start state differs.
  bad("other-guest.log", resum(text.replace('"args":["demo"]', '"args":["demo","-m","64"]')), "E_REPLAY_MISMATCH");
  // The checksum made good again after changing where an event took effect, or when it is
  // due (the demo never reads its serial line, so changing the bytes themselves changes no
  // state here: the Linux test above does that).
  const count = text.replace(/"i":(\d+)/, (_m, i: string) => `"i":${Number(i) + 1}`);
  bad("count.log", resum(count), "E_REPLAY_DIVERGED");
  // An event moved to another guest time: it takes effect at another instruction.
  const moved = text.replace(/\{"t":(\d+),"i":(\d+),"c":(\d+),"bytes"/, (_m, t: string, i: string, c: string) => `{"t":${Number(t) + 1000},"i":${i},"c":${c},"bytes"`);
  assert.notEqual(moved, text);
  const m = bad("moved.log", resum(moved), "E_REPLAY_DIVERGED");
  assert.match(m.stderr, /input event 1 \(bytes\) took effect at guest instruction \d+/);
  assert.equal(vmm86(["run", "--replay", join(dir, "none.log")]).status, 16);
  assert.equal(vmm86(["run", "demo", "--replay", good]).status, 2, "a guest named with --replay");
  assert.equal(vmm86(["run", "--replay", good, "--mode", "bt"]).status, 2, "guest options come from the log");
  assert.equal(vmm86(["run", "demo", "--record", join(dir, "no-dir", "x.log")]).status, 16, "E_REPLAY_WRITE");
});

/** The log with its trailer's checksum recomputed (a tamperer who knows the format). */
function resum(text: string): string {
  const lines = text.split("\n");
  const trailer = JSON.parse(lines[lines.length - 2]) as Record<string, unknown>;
  const body = lines.slice(0, -2).map((l) => l + "\n").join("");
  trailer.sha256 = createHash("sha256").update(body, "utf8").digest("hex");
  return body + JSON.stringify(trailer) + "\n";
}
