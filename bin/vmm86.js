#!/usr/bin/env node
// The vmm86 command: a thin launcher for the compiled CLI in dist/.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const entry = join(root, "dist", "src", "cli", "main.js");
if (!existsSync(entry)) {
  process.stderr.write("vmm86: not built yet (E_NOT_BUILT); run `npm install` (or `npm run build`) in " + root + "\n");
  process.exit(64);
}
// Node's options for vmm86 (src/cli/relaunch.ts): this process starts another with them.
const launch = await import(join(root, "dist", "src", "cli", "relaunch.js"));
if (launch.wantsRelaunch()) await launch.relaunch(fileURLToPath(import.meta.url), process.argv.slice(2));
launch.watchLauncher();
const { main } = await import(entry);
process.exitCode = await main(process.argv.slice(2));
