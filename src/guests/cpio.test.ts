// Round-trips archives from writeCpio through the system's GNU cpio (skipped when it is
// not installed): extraction must reproduce files, modes, directories and symlinks, and
// the verbose listing must show device numbers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, lstatSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeCpio, type CpioEntry } from "./cpio.js";

const hasCpio = spawnSync("cpio", ["--version"]).status === 0;
const skip = hasCpio ? false : "the system cpio tool is not installed";

const payload = new Uint8Array(1001).map((_, i) => (i * 7 + 3) & 0xff);
const entries: CpioEntry[] = [
  { kind: "dir", path: "bin" },
  { kind: "file", path: "bin/tool", data: payload, mode: 0o755 },
  { kind: "symlink", path: "bin/sh", target: "tool" },
  { kind: "dir", path: "etc", mode: 0o700 },
  { kind: "file", path: "etc/empty", data: new Uint8Array(0) },
  { kind: "file", path: "etc/odd-name.txt", data: Buffer.from("abc\n") },
  { kind: "dir", path: "dev" },
  { kind: "char", path: "dev/console", major: 5, minor: 1 },
  { kind: "block", path: "dev/ram0", major: 1, minor: 0, mode: 0o660 },
];

test("newc layout: magic, 4-byte alignment, trailer", () => {
  const a = writeCpio(entries);
  assert.equal(Buffer.from(a.subarray(0, 6)).toString("ascii"), "070701");
  assert.equal(a.length % 4, 0);
  assert.ok(Buffer.from(a).includes("TRAILER!!!\0"));
  assert.deepEqual(writeCpio(entries), a, "deterministic");
});

test("rejects absolute and duplicate paths", () => {
  assert.throws(() => writeCpio([{ kind: "dir", path: "/bin" }]), /relative/);
  assert.throws(() => writeCpio([{ kind: "dir", path: "a" }, { kind: "dir", path: "a/" }]), /duplicate/);
});

test("extracts with the system cpio", { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "vmm86-cpio-"));
  try {
    const files = entries.filter((e) => e.kind !== "char" && e.kind !== "block");
    const r = spawnSync("cpio", ["-i", "-d", "--quiet", "--no-absolute-filenames"], { cwd: dir, input: writeCpio(files) });
    assert.equal(r.status, 0, r.stderr.toString());
    assert.deepEqual(new Uint8Array(readFileSync(join(dir, "bin/tool"))), payload);
    assert.equal(statSync(join(dir, "bin/tool")).mode & 0o777, 0o755);
    assert.equal(readlinkSync(join(dir, "bin/sh")), "tool");
    assert.ok(lstatSync(join(dir, "bin/sh")).isSymbolicLink());
    assert.equal(readFileSync(join(dir, "etc/empty")).length, 0);
    assert.equal(readFileSync(join(dir, "etc/odd-name.txt"), "utf8"), "abc\n");
    assert.ok(statSync(join(dir, "etc")).isDirectory());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("lists device nodes with their numbers", { skip }, () => {
  const r = spawnSync("cpio", ["-t", "-v", "--quiet"], { input: writeCpio(entries), env: { ...process.env, LC_ALL: "C", TZ: "UTC" } });
  assert.equal(r.status, 0, r.stderr.toString());
  const lines = r.stdout.toString().split("\n");
  const console = lines.find((l) => l.endsWith(" dev/console"));
  const ram = lines.find((l) => l.endsWith(" dev/ram0"));
  assert.match(console ?? "", /^crw-------\s.*\b5,\s*1\s/);
  assert.match(ram ?? "", /^brw-rw----\s.*\b1,\s*0\s/);
  assert.equal(lines.filter((l) => l.length > 0).length, entries.length);
});
