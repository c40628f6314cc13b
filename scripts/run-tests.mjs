#!/usr/bin/env node
// Runs every compiled test file (dist/**/*.test.js) with node's test runner, two at a time
// (the browser test afterwards, alone).
// Node 20's --test does not expand globs itself, so the files are listed here.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

function find(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith(".test.js")) out.push(p);
  }
  return out;
}

const files = find("dist", []).sort();
const filter = process.argv[2];
const selected = filter ? files.filter((f) => f.includes(filter)) : files;
if (selected.length === 0) {
  console.error("no test files found (did the build run?)");
  process.exit(1);
}
// The browser test compares the page's guest MIPS with the CLI's: it runs after the others,
// alone, so another test file on the second core does not decide the comparison.
const alone = selected.filter((f) => f.includes(join("test", "web", "web.test.js")));
const together = selected.filter((f) => !alone.includes(f));
let status = 0;
for (const batch of [together, alone]) {
  if (batch.length === 0) continue;
  const r = spawnSync(process.execPath, ["--test", "--test-concurrency=2", ...batch], { stdio: "inherit" });
  if (r.status !== 0) status = r.status ?? 1;
}
process.exit(status);
