// Builds test386 from its sources in ../shared with the ASCII output port set to 0xE9
// (the shipped images are assembled with every output port disabled), for the EE
// comparison. Third-party code is built at test time into a cache, never committed.

import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { TEST386_DIR } from "../support/paths.js";

function hashTree(dir: string, h = createHash("sha256")): ReturnType<typeof createHash> {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) hashTree(p, h);
    else h.update(name).update(readFileSync(p));
  }
  return h;
}

/** Returns the path of a test386 image whose output port is 0xE9 (64 KiB, or 128 KiB with ROM128). */
export function buildTest386(rom128: boolean): string {
  const src = join(TEST386_DIR, "src");
  const key = hashTree(src).update(rom128 ? "128" : "64").digest("hex").slice(0, 16);
  const dir = join(tmpdir(), "vmm86-test386", key);
  const out = join(dir, rom128 ? "test386-128k-e9.bin" : "test386-e9.bin");
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  cpSync(src, join(dir, "src"), { recursive: true });
  const cfg = join(dir, "src", "configuration.asm");
  chmodSync(cfg, 0o644);
  let text = readFileSync(cfg, "utf8");
  text = text.replace(/^OUT_PORT equ .*$/m, "OUT_PORT equ 0xE9");
  if (rom128) text = text.replace(/^ROM128 equ .*$/m, "ROM128 equ 1");
  writeFileSync(cfg, text);
  execFileSync("nasm", ["-i" + join(dir, "src") + "/", "-f", "bin", join(dir, "src", "test386.asm"), "-w-all", "-o", out], { stdio: "pipe" });
  return out;
}
