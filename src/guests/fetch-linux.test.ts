// Tests of the Linux guest fetcher that need no network: the initramfs it builds, the
// cache check (per guest: linux and linux64), and the error when the archive cannot be
// reached (apt pointed at a closed local port; skipped where apt-get is not installed).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import {
  FetchError, LINUX_AMD64, LINUX_I386, LINUX_PAE, buildInitramfs, cachedLinux, damagedLinux, defaultCacheDir, fetchLinux, initScript, isElfFor,
  kvmExtras, kvmProbePath,
} from "./fetch-linux.js";

const hasCpio = spawnSync("cpio", ["--version"]).status === 0;
const hasApt = spawnSync("apt-get", ["--version"]).status === 0;

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "vmm86-fetch-"));
}

test("the initramfs holds busybox, /init, /dev/console", { skip: hasCpio ? false : "no cpio tool" }, () => {
  const fakeBusybox = Buffer.from("\x7fELF not really busybox");
  const archive = gunzipSync(buildInitramfs(fakeBusybox));
  const list = spawnSync("cpio", ["-t", "-v", "--quiet"], { input: archive, env: { ...process.env, LC_ALL: "C" } });
  assert.equal(list.status, 0, list.stderr.toString());
  const lines = list.stdout.toString().split("\n");
  const entry = (name: string) => lines.find((l) => l.endsWith(" " + name) || l.includes(" " + name + " -> ")) ?? "";
  assert.match(entry("init"), /^-rwxr-xr-x/);
  assert.match(entry("bin/busybox"), /^-rwxr-xr-x/);
  assert.match(entry("bin/sh"), /^lrwxrwxrwx.* bin\/sh -> busybox$/);
  assert.match(entry("dev/console"), /^crw-------.*\b5,\s*1\s/);
  for (const d of ["proc", "sys", "dev", "tmp", "root"]) assert.match(entry(d), /^d/);

  const dir = tempDir();
  try {
    const r = spawnSync("cpio", ["-i", "-d", "--quiet", "init", "bin/busybox"], { cwd: dir, input: archive });
    assert.equal(r.status, 0, r.stderr.toString());
    assert.equal(spawnSync("cat", [join(dir, "init")]).stdout.toString(), initScript());
    assert.deepEqual(spawnSync("cat", [join(dir, "bin/busybox")]).stdout, fakeBusybox);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the init script mounts proc, sysfs, devtmpfs and powers off after the shell", () => {
  const s = initScript();
  assert.ok(s.startsWith("#!/bin/sh\n"));
  for (const fs of ["proc", "sysfs", "devtmpfs"]) assert.ok(s.includes(`mount -t ${fs} `), fs);
  assert.match(s, /setsid cttyhack sh/);
  assert.match(s, /\npoweroff -f\n$/);
});

test("cachedLinux: null without a complete cache, the files with one", () => {
  const dir = tempDir();
  try {
    assert.equal(cachedLinux(dir), null);
    writeFileSync(join(dir, "bzImage"), Buffer.alloc(100));
    writeFileSync(join(dir, "initramfs.cpio.gz"), Buffer.alloc(50));
    const manifest = {
      format: 1, release: "6.1.0-99-686", cmdline: "console=ttyS0",
      kernel: { package: "linux-image-6.1.0-99-686", version: "1" }, busybox: { package: "busybox-static", version: "1" },
      init: { sha256: "" }, fetchedAt: "",
      files: { bzImage: { name: "bzImage", size: 100, sha256: "" }, initramfs: { name: "initramfs.cpio.gz", size: 50, sha256: "" } },
    };
    writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));
    assert.deepEqual(cachedLinux(dir), {
      bzImage: join(dir, "bzImage"), initramfs: join(dir, "initramfs.cpio.gz"), release: "6.1.0-99-686", cmdline: "console=ttyS0 cryptomgr.notests",
    });
    // The recorded SHA-256 ("") does not match: complete, but damaged.
    assert.match(damagedLinux(dir) ?? "", /bzImage does not match the SHA-256/);
    writeFileSync(join(dir, "bzImage"), Buffer.alloc(99));  // truncated download
    assert.equal(cachedLinux(dir), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an unreachable archive gives E_FETCH with a clear message", { skip: hasApt ? false : "no apt-get" }, async () => {
  const dir = tempDir();
  const lines: string[] = [];
  try {
    await assert.rejects(
      fetchLinux({
        cacheDir: dir,
        log: (l) => lines.push(l),
        aptOptions: ["Acquire::http::Proxy=http://127.0.0.1:9", "Acquire::https::Proxy=http://127.0.0.1:9", "Acquire::Retries=0"],
      }),
      (e: unknown) => e instanceof FetchError && e.code === "E_FETCH" && /cannot reach the Debian package archive/.test(e.message),
    );
    assert.ok(lines.some((l) => l.includes("updating the i386 package lists")));
    assert.equal(cachedLinux(dir), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("linux, linux-pae and linux64: separate caches, each manifest read only as its own guest", () => {
  const saved = process.env.VMM86_CACHE;
  process.env.VMM86_CACHE = "/somewhere";
  try {
    assert.equal(defaultCacheDir(), "/somewhere/linux");
    assert.equal(defaultCacheDir(LINUX_I386), "/somewhere/linux");
    assert.equal(defaultCacheDir(LINUX_AMD64), "/somewhere/linux64");
    assert.equal(defaultCacheDir(LINUX_PAE), "/somewhere/linux-pae");
  } finally {
    if (saved === undefined) delete process.env.VMM86_CACHE; else process.env.VMM86_CACHE = saved;
  }
  const dir = tempDir();
  try {
    writeFileSync(join(dir, "bzImage"), Buffer.alloc(10));
    writeFileSync(join(dir, "initramfs.cpio.gz"), Buffer.alloc(5));
    // linux64 carries KVM in the guest: its manifest records the probe it was built with.
    const probe = createHash("sha256").update(readFileSync(kvmProbePath(LINUX_AMD64.kvmProbe!))).digest("hex");
    const kvm = { modules: [], probe: { name: LINUX_AMD64.kvmProbe, sha256: probe } };
    const manifest = (arch?: string, guest?: string) => JSON.stringify({
      format: 1, ...(arch ? { arch } : {}), ...(guest ? { guest } : {}), ...(arch === "amd64" ? { kvm } : {}),
      release: "6.1.0-99-amd64", cmdline: "console=ttyS0",
      kernel: { package: "linux-image-6.1.0-99-amd64", version: "1" }, busybox: { package: "busybox-static", version: "1" },
      init: { sha256: "" }, fetchedAt: "",
      files: { bzImage: { name: "bzImage", size: 10, sha256: "" }, initramfs: { name: "initramfs.cpio.gz", size: 5, sha256: "" } },
    });
    writeFileSync(join(dir, "manifest.json"), manifest("amd64"));
    assert.equal(cachedLinux(dir, LINUX_I386), null);
    assert.equal(cachedLinux(dir, LINUX_AMD64)?.cmdline, "console=ttyS0 cryptomgr.notests earlyprintk=ttyS0");
    // A linux64 cache built before the initramfs carried KVM (or with another probe) is out of date.
    writeFileSync(join(dir, "manifest.json"), manifest("amd64").replace(probe, "0".repeat(64)));
    assert.equal(cachedLinux(dir, LINUX_AMD64), null);
    // A manifest without `arch` (written before linux64 existed) is an i386 one.
    writeFileSync(join(dir, "manifest.json"), manifest());
    assert.equal(cachedLinux(dir, LINUX_AMD64), null);
    assert.equal(cachedLinux(dir, LINUX_I386)?.release, "6.1.0-99-amd64");
    assert.equal(cachedLinux(dir, LINUX_PAE), null, "an i386 manifest without a guest name is linux's, not linux-pae's");
    writeFileSync(join(dir, "manifest.json"), manifest("i386", "linux-pae"));
    assert.equal(cachedLinux(dir, LINUX_PAE)?.cmdline, "console=ttyS0 cryptomgr.notests");
    assert.equal(cachedLinux(dir, LINUX_I386), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("KVM in the guest: the modules with the closure of their depends=, a depmod-style modules.dep, the probe; all in the initramfs", { skip: hasCpio ? false : "no cpio tool" }, () => {
  const dir = tempDir();
  try {
    // A fake kernel package: .modinfo strings as modinfo reads them.
    const mod = (rel: string, depends: string) => {
      const p = join(dir, "lib/modules/6.1.0-99-amd64", rel);
      mkdirSync(join(p, ".."), { recursive: true });
      writeFileSync(p, Buffer.from(`\x7fELF\0license=GPL\0depends=${depends}\0name=x\0`, "latin1"));
    };
    mod("kernel/arch/x86/kvm/kvm.ko", "irqbypass");
    mod("kernel/arch/x86/kvm/kvm-amd.ko", "kvm,ccp");
    mod("kernel/arch/x86/kvm/kvm-intel.ko", "kvm");
    mod("kernel/virt/lib/irqbypass.ko", "");
    mod("kernel/drivers/crypto/ccp/ccp.ko", "");
    mod("kernel/fs/unrelated.ko", "");
    const x = kvmExtras(dir, "6.1.0-99-amd64", LINUX_AMD64);
    assert.deepEqual(x.modules.map((m) => m.path.replace("lib/modules/6.1.0-99-amd64/kernel/", "")).sort(),
      ["arch/x86/kvm/kvm-amd.ko", "arch/x86/kvm/kvm-intel.ko", "arch/x86/kvm/kvm.ko", "drivers/crypto/ccp/ccp.ko", "virt/lib/irqbypass.ko"]);
    assert.equal(x.modulesDep.path, "lib/modules/6.1.0-99-amd64/modules.dep");
    assert.match(x.modulesDep.text, /^kernel\/arch\/x86\/kvm\/kvm-amd\.ko: kernel\/arch\/x86\/kvm\/kvm\.ko kernel\/virt\/lib\/irqbypass\.ko kernel\/drivers\/crypto\/ccp\/ccp\.ko$/m);
    assert.match(x.modulesDep.text, /^kernel\/virt\/lib\/irqbypass\.ko:$/m);
    assert.ok(isElfFor(x.probe, LINUX_AMD64), "the x86-64 probe");
    const list = spawnSync("cpio", ["-t", "--quiet"], { input: gunzipSync(buildInitramfs(Buffer.from("\x7fELF"), x)) }).stdout.toString().split("\n");
    for (const p of ["lib", "lib/modules/6.1.0-99-amd64/kernel/arch/x86/kvm", "lib/modules/6.1.0-99-amd64/kernel/arch/x86/kvm/kvm.ko",
      "lib/modules/6.1.0-99-amd64/modules.dep", "bin/kvm-probe"]) assert.ok(list.includes(p), p);
    assert.ok(list.indexOf("lib/modules/6.1.0-99-amd64/kernel/arch/x86/kvm") < list.indexOf("lib/modules/6.1.0-99-amd64/kernel/arch/x86/kvm/kvm.ko"), "directories first");
    // A compressed module is refused: busybox insmod loads plain .ko files.
    rmSync(join(dir, "lib/modules/6.1.0-99-amd64/kernel/drivers/crypto/ccp/ccp.ko"));
    writeFileSync(join(dir, "lib/modules/6.1.0-99-amd64/kernel/drivers/crypto/ccp/ccp.ko.xz"), "");
    assert.throws(() => kvmExtras(dir, "6.1.0-99-amd64", LINUX_AMD64), /ccp\.ko\.xz is compressed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("isElfFor: busybox must be an ELF of the guest's class and machine", () => {
  const elf = (cls: number, machine: number): Uint8Array => {
    const b = new Uint8Array(64);
    b.set([0x7f, 0x45, 0x4c, 0x46, cls, 1, 1]);
    b[18] = machine;
    return b;
  };
  assert.ok(isElfFor(elf(1, 3), LINUX_I386));
  assert.ok(!isElfFor(elf(1, 3), LINUX_AMD64));
  assert.ok(isElfFor(elf(2, 62), LINUX_AMD64));
  assert.ok(!isElfFor(elf(2, 62), LINUX_I386));
  assert.ok(!isElfFor(elf(1, 62), LINUX_AMD64));
  assert.ok(!isElfFor(new Uint8Array(10), LINUX_AMD64));
});

test("linux64: an unreachable archive gives E_FETCH naming `vmm86 fetch linux64`", { skip: hasApt ? false : "no apt-get" }, async () => {
  const dir = tempDir();
  const lines: string[] = [];
  try {
    await assert.rejects(
      fetchLinux({
        guest: LINUX_AMD64,
        cacheDir: dir,
        log: (l) => lines.push(l),
        aptOptions: ["Acquire::http::Proxy=http://127.0.0.1:9", "Acquire::https::Proxy=http://127.0.0.1:9", "Acquire::Retries=0"],
      }),
      (e: unknown) => e instanceof FetchError && e.code === "E_FETCH" && /cannot reach the Debian package archive.*`vmm86 fetch linux64`/.test(e.message),
    );
    assert.ok(lines.some((l) => l.includes("updating the amd64 package lists")));
    assert.equal(cachedLinux(dir, LINUX_AMD64), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
