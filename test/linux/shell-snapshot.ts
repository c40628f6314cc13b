// Linux at its shell prompt, booted once and then restored (issue 12, docs/snapshot.md):
// tests that need a shell, not a boot, start from a snapshot cached on disk. The cache is
// keyed by everything the boot depends on — the kernel, the initramfs, the command line, the
// guest-state format and the compiled machine model and loaders (dist/src/hw, dist/src/boot)
// — so a change to any of them boots again rather than hide a regression behind an old
// snapshot. Tests that are about booting still boot from scratch (one per mode).

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { GuestConsole, type SavedConsole } from "./guest-console.js";
import { defaultCacheDir, LINUX_I386, READY_MARKER } from "../../src/guests/fetch-linux.js";
import { decodeSnapshot, encodeSnapshot } from "../../src/cli/snapshot-file.js";
import { GUEST_STATE_VERSION } from "../../src/hw/pc/pc-state.js";

const DIST_SRC = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "src");

function hashTree(h: ReturnType<typeof createHash>, dir: string): void {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) hashTree(h, p);
    else if (name.endsWith(".js") && !name.endsWith(".test.js")) h.update(name).update(readFileSync(p));
  }
}

/** The cache key of a bare boot of `g` with `cmdline` to its first prompt. */
function key(g: { bzImage: string; initramfs: string }, cmdline: string, prompt: string): string {
  const h = createHash("sha256");
  h.update(readFileSync(g.bzImage)).update(readFileSync(g.initramfs)).update(cmdline).update(prompt).update(String(GUEST_STATE_VERSION));
  hashTree(h, join(DIST_SRC, "hw"));
  hashTree(h, join(DIST_SRC, "boot"));
  return h.digest("hex").slice(0, 24);
}

/**
 * A bare boot of the i386 guest to its first `prompt` after READY_MARKER, saved: from the
 * cache, or booted now and cached. Returns the saved console and whether it was cached.
 */
export function shellAtPrompt(g: { bzImage: string; initramfs: string }, cmdline: string, prompt: string): { saved: SavedConsole; cached: boolean } {
  // Beside the guest's cache, not in it (`vmm86 fetch --check` looks at that directory).
  const dir = join(dirname(defaultCacheDir(LINUX_I386)), "test-snapshots");
  const file = join(dir, `shell-${key(g, cmdline, prompt)}.snap`);
  if (existsSync(file)) {
    try {
      const snap = decodeSnapshot(readFileSync(file), file);
      const extra = JSON.parse(snap.meta.recent) as { output: string; lastOutputNs: number };
      return { saved: { state: snap.state, output: extra.output, lastOutputNs: extra.lastOutputNs }, cached: true };
    } catch { /* a damaged cache entry: boot again and replace it */ }
  }
  const c = new GuestConsole({ ...g, cmdline, direct: true });
  c.expect(prompt, c.expect(READY_MARKER, 0));
  const saved = c.save();
  mkdirSync(dir, { recursive: true });
  const meta = {
    vmm86: "test", mode: "bare", describe: `Linux ${g.bzImage} to its prompt, cmdline '${cmdline}'`, instructions: saved.state.cpu.instructions,
    cycles: saved.state.cpu.instructions + saved.state.cpu.idleCycles, inputAfter: null,
    recent: JSON.stringify({ output: saved.output, lastOutputNs: saved.lastOutputNs }),
  };
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, encodeSnapshot({ meta, state: saved.state }));
  renameSync(tmp, file);
  return { saved, cached: false };
}
