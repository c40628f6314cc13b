#!/usr/bin/env node
// npm start: boot the embedded demo guest and say what happened. The demo reports PASS by
// writing 0x10 to isa-debug-exit (port 0xF4), which vmm86 turns into exit status 0x21.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const r = spawnSync(process.execPath, [join(root, "bin", "vmm86.js"), "run", "demo", "--stats"], { stdio: ["ignore", "inherit", "inherit"] });
if (r.status === 0x21) {
  console.log("npm start: the demo guest passed (isa-debug-exit status 0x21)");
  process.exit(0);
}
console.log(`npm start: the demo guest did not pass (vmm86 exit status ${r.status})`);
process.exit(1);
