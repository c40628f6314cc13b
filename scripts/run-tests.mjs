#!/usr/bin/env node
// Runs every compiled test file (dist/**/*.test.js), each in its own `node --test` process,
// two at a time (the browser test afterwards, alone), longest first so that both workers end
// together; then prints how long each file took.
//
//   node scripts/run-tests.mjs [SUBSTRING] [--jobs N] [--long] [--write-durations]
//
// --long runs the long suite (dist/test/long/*.long.js, `npm run test:long`) instead.
// The order comes from scripts/test-durations.json (seconds per file, measured on a 2-core
// machine); a file not in it counts as DEFAULT_SECONDS. `--write-durations` rewrites that
// file with this run's times (of the files that ran).
// Node 20's --test does not expand globs itself, so the files are listed here.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawn, spawnSync } from "node:child_process";
import { cpus } from "node:os";

// Each file runs with the Node options the vmm86 command runs with (one V8 pool thread,
// src/cli/relaunch.ts): with two files at a time on two cores, Node's default pool of four
// per process took the test's own thread (linux-modes alone: 31–38 s → 26–28 s).
const { NODE_FLAGS } = await import(new URL("../dist/src/cli/relaunch.js", import.meta.url).href);

const DURATIONS = join(dirname(fileURLToPath(import.meta.url)), "test-durations.json");
const DEFAULT_SECONDS = 10;

function find(dir, out, suffix) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out, suffix);
    else if (name.endsWith(suffix)) out.push(p);
  }
  return out;
}

const args = process.argv.slice(2);
let filter;
let jobs = 2;
let writeDurations = false;
let long = false;
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--jobs") jobs = Math.max(1, Number(args[++i]) || 1);
  else if (args[i] === "--write-durations") writeDurations = true;
  else if (args[i] === "--long") long = true;
  else if (args[i] === "--help" || args[i] === "-h") {
    console.log("usage: node scripts/run-tests.mjs [SUBSTRING] [--jobs N] [--long] [--write-durations]");
    process.exit(0);
  } else filter = args[i];
}
if (jobs > cpus().length) console.log(`(--jobs ${jobs} on ${cpus().length} CPUs)`);

const files = (long ? find(join("dist", "test", "long"), [], ".long.js") : find("dist", [], ".test.js")).sort();
const selected = filter ? files.filter((f) => f.includes(filter)) : files;
if (selected.length === 0) {
  console.error("no test files found (did the build run?)");
  process.exit(1);
}

let known = {};
try { known = JSON.parse(readFileSync(DURATIONS, "utf8")); } catch { /* no table: every file counts the same */ }
const estimate = (f) => known[f.split("\\").join("/")] ?? DEFAULT_SECONDS;

// The browser test compares the page's guest MIPS with the CLI's: it runs after the others,
// alone, so another test file on the second core does not decide the comparison.
const alone = selected.filter((f) => f.includes(join("test", "web", "web.test.js")));
const together = selected.filter((f) => !alone.includes(f)).sort((a, b) => estimate(b) - estimate(a) || a.localeCompare(b));

const started = Date.now();
const results = [];   // { file, seconds, cpu, status, tests, pass, fail, skipped }
// Each file runs under bash, whose `times` then reports the CPU time of the file's whole
// process tree (node --test, the test file and the vmm86 processes it starts): unlike the
// wall clock, that does not grow when other work shares the machine.
const BASH = spawnSync("bash", ["-c", "true"]).status === 0;
const parseTimes = (t) => {
  const m = /^(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/m.exec(t.split("\n")[1] ?? "");
  return m ? Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]) : NaN;
};
const secs = (ms) => (ms / 1000).toFixed(1);
const fmtCpu = (c) => (Number.isNaN(c) ? "?" : c.toFixed(1));
const clock = () => `${secs(Date.now() - started).padStart(6)} s`;

/** Run one test file; its output is printed whole when it ends (two files never interleave). */
function runFile(file) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    console.log(`[${clock()}] start ${file}`);
    const argv = [process.execPath, ...NODE_FLAGS, "--test", "--test-reporter=spec", file];
    const p = spawn(BASH ? "bash" : argv[0], BASH ? ["-c", '"$@"; s=$?; times >&3; exit $s', "run-tests", ...argv] : argv.slice(1), {
      stdio: ["ignore", "pipe", "pipe", "pipe"],
      env: process.stdout.isTTY ? { ...process.env, FORCE_COLOR: "1" } : process.env,
    });
    const chunks = [];
    p.stdout.on("data", (d) => chunks.push(d));
    p.stderr.on("data", (d) => chunks.push(d));
    let times = "";
    p.stdio[3].on("data", (d) => { times += d; });
    p.on("close", (code, signal) => {
      const out = Buffer.concat(chunks).toString("utf8");
      // The spec reporter's summary lines: "ℹ tests 5", "ℹ pass 5", ...
      const count = (what) => Number(new RegExp(`^\\S*\\s*${what} (\\d+)\\s*$`, "m").exec(out.replace(/\x1b\[[0-9;]*m/g, ""))?.[1] ?? 0);
      const r = {
        file, seconds: (Date.now() - t0) / 1000, cpu: parseTimes(times), status: code ?? (signal ? 1 : 0),
        tests: count("tests"), pass: count("pass"), fail: count("fail"), skipped: count("skipped"),
      };
      results.push(r);
      process.stdout.write(out.endsWith("\n") || out === "" ? out : `${out}\n`);
      console.log(`[${clock()}] ${r.status === 0 ? "ok  " : "FAIL"} ${file} (${r.seconds.toFixed(1)} s, ${fmtCpu(r.cpu)} s CPU)`);
      resolve(r);
    });
  });
}

async function pool(queue, n) {
  const q = [...queue];
  const worker = async () => { while (q.length > 0) await runFile(q.shift()); };
  await Promise.all(Array.from({ length: Math.min(n, q.length) }, worker));
}

await pool(together, jobs);
await pool(alone, 1);

const wall = (Date.now() - started) / 1000;
const failed = results.filter((r) => r.status !== 0);
const total = (k) => results.reduce((s, r) => s + r[k], 0);
console.log("\ntest files by time (seconds: wall clock, and CPU time of the file's processes):");
console.log("     wall      CPU");
for (const r of [...results].sort((a, b) => b.seconds - a.seconds)) {
  console.log(`  ${r.seconds.toFixed(1).padStart(7)}  ${fmtCpu(r.cpu).padStart(7)}  ${r.status === 0 ? "    " : "FAIL"}  ${r.file}`);
}
console.log(`\n${results.length} files, ${total("tests")} tests: ${total("pass")} passed, ${total("fail")} failed, ${total("skipped")} skipped; ` +
  `${wall.toFixed(1)} s wall clock (${total("seconds").toFixed(1)} s of file time, ${fmtCpu(total("cpu"))} s CPU, on ${jobs} workers)`);
if (failed.length > 0) console.log(`failed: ${failed.map((r) => r.file).join(" ")}`);

if (writeDurations) {
  const table = { ...known };
  for (const r of results) table[r.file.split("\\").join("/")] = Math.round(r.seconds * 10) / 10;
  const sorted = Object.fromEntries(Object.entries(table).sort(([a], [b]) => a.localeCompare(b)));
  writeFileSync(DURATIONS, `${JSON.stringify(sorted, null, 2)}\n`);
  console.log(`durations written to ${DURATIONS}`);
}
process.exit(failed.length > 0 ? 1 : 0);
