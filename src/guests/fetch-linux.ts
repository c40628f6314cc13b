// `vmm86 fetch linux`, `fetch linux-pae` and `fetch linux64`: gets Debian's current kernel
// (the dependency of the `linux-image-686` metapackage for i386, of `linux-image-686-pae`
// for i386 with PAE paging, of `linux-image-amd64` for amd64) and `busybox-static` of the
// same architecture, and turns them into the two files `vmm86 run linux` / `run linux-pae` /
// `run linux64` boot: `bzImage` and `initramfs.cpio.gz` (newc, gzip).
// One code path, parameterized by the guest (LINUX_GUESTS); each guest has its own cache
// directory, so both can be fetched side by side. linux64's initramfs also carries the kernel
// package's KVM modules and guests/kvm-probe (docs/kvm-in-guest.md).
//
// The packages come through the machine's own Debian tools, configured as the machine
// configures them (sources, proxies, keys), but with a private state and cache directory
// and the architecture forced to the guest's, so the system's apt state is never touched:
//
//   apt-get update      -> <cache>/apt/state/lists (that architecture's indexes only)
//   apt-cache show      -> which linux-image-<release>-<flavour> is current, and versions
//   apt-get download    -> <cache>/debs (verified against the signed indexes by apt)
//   dpkg-deb -x         -> boot/vmlinuz-<release>, bin/busybox
//
// Everything is cached outside the repository (see defaultCacheDir). A run whose
// resolved versions match the manifest does no download and no rebuild. The manifest
// is written last, so an interrupted run leaves no half-valid cache.

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync,
} from "node:fs";
import { homedir, hostname, userInfo } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { writeCpio, type CpioEntry } from "./cpio.js";

/** A Debian Linux guest `vmm86 fetch` can build: which packages, for which architecture. */
export interface LinuxGuest {
  /** The fetch/run target: `linux`, `linux-pae` or `linux64`. */
  name: "linux" | "linux-pae" | "linux64";
  /** Debian architecture (apt's APT::Architecture). */
  arch: "i386" | "amd64";
  /** The kernel metapackage whose linux-image-<release> dependency is fetched. */
  kernelMetapackage: string;
  /** bin/busybox must be an ELF of this class (1: ELFCLASS32, 2: ELFCLASS64) and e_machine. */
  elfClass: 1 | 2;
  elfMachine: number;
  /** The cache directory's name under the cache root. */
  cacheName: string;
  /** The kernel command line `vmm86 run <name>` passes (LinuxImage.cmdline). */
  cmdline: string;
  /**
   * KVM in the guest (docs/kvm-in-guest.md): the initramfs also carries the kernel package's
   * own kvm, kvm_amd and kvm_intel modules (with what they depend on and a modules.dep for
   * busybox modprobe) and this program of guests/kvm-probe as /bin/kvm-probe.
   */
  kvmProbe?: string;
}

/** The files `vmm86 run linux` (or `run linux64`) needs. */
export interface LinuxImage {
  bzImage: string;
  initramfs: string;
  /** The kernel release, as `uname -r` prints it (e.g. 6.1.0-50-686). */
  release: string;
  /** A kernel command line that suits this initramfs on vmm86's PC. */
  cmdline: string;
}

export interface FetchLinuxOptions {
  /** Which guest (default: the i386 one, `linux`). */
  guest?: LinuxGuest;
  cacheDir?: string;
  log: (line: string) => void;
  /** Extra `-o Name=value` settings for apt (tests use them to simulate an outage). */
  aptOptions?: string[];
}

/** A failure the user can act on; `code` is stable. */
export class FetchError extends Error {
  constructor(readonly code: "E_FETCH" | "E_FETCH_TOOLS", message: string) {
    super(message);
  }
}

/** The i386 guest's kernel metapackage. */
export const KERNEL_METAPACKAGE = "linux-image-686";
export const BUSYBOX_PACKAGE = "busybox-static";
/**
 * The kernel command line the platform needs: the console on COM1. Nothing else: the CPU
 * reports no APIC, and the ACPI tables describe no I/O APIC, so the kernel stays in 8259 PIC
 * mode by itself (`noapic nolapic` are accepted but change nothing).
 */
export const DEFAULT_CMDLINE = "console=ttyS0";
/**
 * What `vmm86 run linux` passes: the console, and `cryptomgr.notests`, which skips the
 * kernel's boot-time crypto self-tests (about 3 G guest instructions, minutes of host time,
 * of checks of the kernel's own crypto code; the shell is ready in ~4 s of guest time
 * instead of ~41 s). `--append` replaces it.
 */
export const LINUX_CMDLINE = DEFAULT_CMDLINE + " cryptomgr.notests";
/**
 * What `vmm86 run linux64` passes: LINUX_CMDLINE and `earlyprintk=ttyS0`, so what the
 * kernel prints before its serial console driver is up (an early exception, a CPU it
 * cannot use) reaches COM1 too; once the console registers, the boot console is dropped
 * without repeating a line.
 */
export const LINUX64_CMDLINE = LINUX_CMDLINE + " earlyprintk=ttyS0";
/** Debian i386: linux-image-686 and busybox-static:i386 (`vmm86 fetch linux`). */
export const LINUX_I386: LinuxGuest = {
  name: "linux", arch: "i386", kernelMetapackage: KERNEL_METAPACKAGE, elfClass: 1, elfMachine: 3, cacheName: "linux",
  cmdline: LINUX_CMDLINE,
};
/** Debian amd64: linux-image-amd64 and busybox-static:amd64 (`vmm86 fetch linux64`). */
export const LINUX_AMD64: LinuxGuest = {
  name: "linux64", arch: "amd64", kernelMetapackage: "linux-image-amd64", elfClass: 2, elfMachine: 62, cacheName: "linux64",
  cmdline: LINUX64_CMDLINE, kvmProbe: "kvm-probe-x86_64",
};
/**
 * Debian i386 with PAE paging: linux-image-686-pae (Debian's mainstream i386 kernel: 3-level
 * page tables of 64-bit entries, NX where the CPU has it) and busybox-static:i386
 * (`vmm86 fetch linux-pae`).
 */
export const LINUX_PAE: LinuxGuest = {
  name: "linux-pae", arch: "i386", kernelMetapackage: "linux-image-686-pae", elfClass: 1, elfMachine: 3, cacheName: "linux-pae",
  cmdline: LINUX_CMDLINE,
};
export const LINUX_GUESTS: readonly LinuxGuest[] = [LINUX_I386, LINUX_PAE, LINUX_AMD64];

/** Printed by the guest once its shell owns ttyS0: input sent after it is not lost. */
export const READY_MARKER = "vmm86-linux: shell ready";

/** Bump when the layout of the cache or of the initramfs changes. */
const FORMAT = 1;
const MANIFEST = "manifest.json";

interface Manifest {
  format: number;
  /** The Debian architecture (absent in i386 caches written before linux64 existed). */
  arch?: string;
  /** The guest's name (absent in caches written before linux-pae existed: then linux or linux64, by arch). */
  guest?: string;
  release: string;
  cmdline: string;
  kernel: { package: string; version: string };
  busybox: { package: string; version: string };
  init: { sha256: string };
  /** What the initramfs carries for KVM in the guest (guests with kvmProbe only). */
  kvm?: { modules: string[]; probe: { name: string; sha256: string } };
  files: { bzImage: FileRecord; initramfs: FileRecord };
  fetchedAt: string;
}

interface FileRecord {
  name: string;
  size: number;
  sha256: string;
}

/** `$VMM86_CACHE/<name>` if VMM86_CACHE is set, else `$XDG_CACHE_HOME/vmm86/<name>`, else
 * `~/.cache/vmm86/<name>`, where the name is `linux` (i386) or `linux64` (amd64). */
export function defaultCacheDir(guest: LinuxGuest = LINUX_I386): string {
  return cacheDirNamed(guest.cacheName);
}

/** `name` under the cache root: `$VMM86_CACHE`, else `$XDG_CACHE_HOME/vmm86`, else `~/.cache/vmm86`. */
export function cacheDirNamed(name: string): string {
  const root = process.env.VMM86_CACHE;
  if (root) return join(root, name);
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg ? xdg : join(homedir(), ".cache"), "vmm86", name);
}

/** The /init the initramfs runs (busybox sh). It mounts proc, sysfs and devtmpfs, gives
 * the shell ttyS0 as its controlling terminal, prints READY_MARKER from inside that
 * shell's session, and powers off (`poweroff -f`) when the shell exits, so init never
 * dies. */
export function initScript(): string {
  return `#!/bin/sh
# /init of the vmm86 Linux guest, written by \`vmm86 fetch linux\` (or linux64).
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root TERM=vt100 PS1='\\w # '
cd /root
echo "vmm86-linux: init up, kernel $(uname -r)"
setsid cttyhack sh -c 'echo "${READY_MARKER} on $(tty)"; exec sh'
echo "vmm86-linux: shell exited, powering off"
poweroff -f
`;
}

/** Kernel modules and a program for KVM in the guest (LinuxGuest.kvmProbe), as buildInitramfs takes them. */
export interface KvmExtras {
  /** The modules, each at its path in the initramfs (lib/modules/<release>/kernel/…). */
  modules: { path: string; data: Uint8Array }[];
  /** lib/modules/<release>/modules.dep's path and text. */
  modulesDep: { path: string; text: string };
  /** /bin/kvm-probe. */
  probe: Uint8Array;
}

/** Returns the gzip-compressed newc archive around `busybox` (a static binary of the guest's
 * architecture), with the KVM modules and probe if `kvm` is given. */
export function buildInitramfs(busybox: Uint8Array, kvm?: KvmExtras): Uint8Array {
  const dirs = ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root", "run"];
  if (kvm) {
    // The kernel's initramfs unpacker creates no parent directories: list each one.
    for (const f of [...kvm.modules.map((m) => m.path), kvm.modulesDep.path]) {
      const parts = f.split("/");
      for (let k = 1; k < parts.length; k++) {
        const d = parts.slice(0, k).join("/");
        if (!dirs.includes(d)) dirs.push(d);
      }
    }
  }
  const entries: CpioEntry[] = dirs.map((path) => ({ kind: "dir", path, mode: path === "tmp" ? 0o1777 : 0o755 }));
  entries.push(
    { kind: "file", path: "bin/busybox", data: busybox, mode: 0o755 },
    { kind: "symlink", path: "bin/sh", target: "busybox" },
    // The kernel opens /dev/console for init before any filesystem is mounted.
    { kind: "char", path: "dev/console", major: 5, minor: 1, mode: 0o600 },
    { kind: "char", path: "dev/null", major: 1, minor: 3, mode: 0o666 },
    { kind: "file", path: "init", data: Buffer.from(initScript(), "utf8"), mode: 0o755 },
  );
  if (kvm) {
    for (const m of kvm.modules) entries.push({ kind: "file", path: m.path, data: m.data, mode: 0o644 });
    entries.push(
      { kind: "file", path: kvm.modulesDep.path, data: Buffer.from(kvm.modulesDep.text, "utf8"), mode: 0o644 },
      { kind: "file", path: "bin/kvm-probe", data: kvm.probe, mode: 0o755 },
    );
  }
  return gzipSync(writeCpio(entries), { level: 9 });
}

/** The cached image if a complete one is there (manifest of this format, files of the
 * recorded sizes), else null. Does not touch the network. */
export function cachedLinux(cacheDir?: string, guest: LinuxGuest = LINUX_I386): LinuxImage | null {
  cacheDir ??= defaultCacheDir(guest);
  const m = readManifest(cacheDir, guest);
  if (!m) return null;
  // A cache built before this guest carried KVM (or with another probe) is not this version's image.
  if (guest.kvmProbe !== undefined && m.kvm?.probe.sha256 !== kvmProbeHash(guest)) return null;
  const bzImage = join(cacheDir, m.files.bzImage.name);
  const initramfs = join(cacheDir, m.files.initramfs.name);
  if (sizeOf(bzImage) !== m.files.bzImage.size || sizeOf(initramfs) !== m.files.initramfs.size) return null;
  return { bzImage, initramfs, release: m.release, cmdline: guest.cmdline };
}

/** Brings the cache up to date with the archive and returns the image. Throws
 * FetchError when the tools are missing, the archive cannot be reached, or a package
 * is not what was expected. */
export async function fetchLinux(opts: FetchLinuxOptions): Promise<LinuxImage> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir(opts.guest);
  // One fetch at a time per cache (test files run in parallel and may all find it empty):
  // the others wait for it and then use what it built.
  try { makeDirs(cacheDir); } catch (e) {
    throw new FetchError("E_FETCH", `cannot use the cache directory '${cacheDir}' (${errCode(e)}); set VMM86_CACHE to a writable directory`);
  }
  const lock = join(cacheDir, ".fetch.lock");
  await takeLock(lock, opts.log);
  try {
    return await fetchLinuxLocked(opts, cacheDir);
  } finally {
    rmSync(lock, { force: true });
  }
}

/**
 * `mkdir -p`, one level at a time. (Node's recursive mkdirSync spins forever on some paths,
 * such as a directory under /proc.)
 */
function makeDirs(dir: string): void {
  try {
    if (statSync(dir).isDirectory()) return;
    throw Object.assign(new Error(`${dir} is not a directory`), { code: "ENOTDIR" });
  } catch (e) {
    if (errCode(e) !== "ENOENT") throw e;
  }
  const parent = dirname(dir);
  if (parent !== dir) makeDirs(parent);
  mkdirSync(dir);
}

function errCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String(e);
}

/**
 * The cache's fetch lock: a file created exclusively, holding the owner's pid and host. A
 * lock whose owner (on this host) is no longer running, or older than 20 minutes, is stale
 * and taken over; any other error (a read-only or foreign directory) is an E_FETCH.
 */
async function takeLock(lock: string, log: (line: string) => void): Promise<void> {
  let told = false;
  for (;;) {
    try {
      writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname() }) + "\n", { flag: "wx" });
      return;
    } catch (e) {
      if (errCode(e) !== "EEXIST") throw new FetchError("E_FETCH", `cannot create the fetch lock '${lock}' (${errCode(e)}); set VMM86_CACHE to a writable directory`);
    }
    let owner: { pid?: number; host?: string } = {};
    try { owner = JSON.parse(readFileSync(lock, "utf8")) as typeof owner; } catch { /* empty or old-style lock */ }
    let stale = false;
    try { stale = Date.now() - statSync(lock).mtimeMs > 20 * 60_000; } catch { continue; /* just released */ }
    if (!stale && typeof owner.pid === "number" && owner.host === hostname()) {
      try { process.kill(owner.pid, 0); } catch (e) { stale = errCode(e) === "ESRCH"; }
    } else if (!stale && owner.pid === undefined) {
      // A lock without an owner was left by an older vmm86, or is being written right now.
      try { stale = Date.now() - statSync(lock).mtimeMs > 5_000; } catch { continue; }
    }
    if (stale) {
      log(`taking over a stale fetch lock (${owner.pid !== undefined ? `pid ${owner.pid} is gone` : "no owner"})`);
      rmSync(lock, { force: true });
      continue;
    }
    if (!told) { log(`waiting for another fetch (pid ${owner.pid ?? "?"}) to finish with this cache`); told = true; }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Why the cached image cannot be used although it is there (a file whose SHA-256 is not
 * the one recorded when it was built), or null if it checks out or there is none.
 */
export function damagedLinux(cacheDir?: string, guest: LinuxGuest = LINUX_I386): string | null {
  cacheDir ??= defaultCacheDir(guest);
  const m = readManifest(cacheDir, guest);
  if (!m) return null;
  for (const f of [m.files.bzImage, m.files.initramfs]) {
    let data: Buffer;
    try { data = readFileSync(join(cacheDir, f.name)); } catch (e) { return `${f.name} cannot be read (${errCode(e)})`; }
    if (data.length !== f.size) return `${f.name} is ${data.length} bytes, not the ${f.size} recorded`;
    if (sha256(data) !== f.sha256) return `${f.name} does not match the SHA-256 recorded when it was built`;
  }
  return null;
}

async function fetchLinuxLocked(opts: FetchLinuxOptions, cacheDir: string): Promise<LinuxImage> {
  const log = opts.log;
  const guest = opts.guest ?? LINUX_I386;
  const started = Date.now();
  await requireTools(guest);
  const apt = new Apt(cacheDir, guest, opts.aptOptions ?? [], log);

  log(`cache: ${cacheDir}`);
  log(`[1/4] updating the ${guest.arch} package lists`);
  await apt.update();

  log("[2/4] resolving packages");
  const meta = await apt.show(guest.kernelMetapackage);
  const kernelPackage = kernelDependency(meta, guest);
  const kernel = await apt.show(kernelPackage);
  const busybox = await apt.show(BUSYBOX_PACKAGE);
  log(`  ${guest.kernelMetapackage} ${field(meta, "Version")} -> ${kernelPackage} ${field(kernel, "Version")}`);
  log(`  ${BUSYBOX_PACKAGE}:${guest.arch} ${field(busybox, "Version")}`);

  const initHash = sha256(Buffer.from(initScript(), "utf8"));
  const old = readManifest(cacheDir, guest);
  const cached = cachedLinux(cacheDir, guest);
  const damage = cached ? damagedLinux(cacheDir, guest) : null;
  if (damage !== null) log(`the cached image is damaged (${damage}): fetching it again`);
  if (cached && damage === null && old && old.kernel.package === kernelPackage && old.kernel.version === field(kernel, "Version") &&
      old.busybox.version === field(busybox, "Version") && old.init.sha256 === initHash) {
    log(`up to date: Linux ${cached.release} (nothing downloaded) in ${seconds(started)}`);
    return cached;
  }

  const debs = join(cacheDir, "debs");
  rmSync(debs, { recursive: true, force: true });
  mkdirSync(debs, { recursive: true });
  const total = Number(field(kernel, "Size")) + Number(field(busybox, "Size"));
  log(`[3/4] downloading ${kernelPackage} and ${BUSYBOX_PACKAGE} (${mib(total)})`);
  await apt.download(debs, [`${kernelPackage}=${field(kernel, "Version")}`, `${BUSYBOX_PACKAGE}=${field(busybox, "Version")}`], total);

  log("[4/4] extracting the kernel and building the initramfs");
  const work = mkdtempSync(join(cacheDir, "extract-"));
  try {
    const debFiles = readdirSync(debs).filter((f) => f.endsWith(".deb"));
    const kernelDeb = debFiles.find((f) => f.startsWith(kernelPackage + "_"));
    const busyboxDeb = debFiles.find((f) => f.startsWith(BUSYBOX_PACKAGE + "_"));
    if (!kernelDeb || !busyboxDeb) throw new FetchError("E_FETCH", `apt-get download left no .deb for ${!kernelDeb ? kernelPackage : BUSYBOX_PACKAGE} in ${debs}`);
    await run("dpkg-deb", ["-x", join(debs, kernelDeb), join(work, "kernel")]);
    await run("dpkg-deb", ["-x", join(debs, busyboxDeb), join(work, "busybox")]);

    const boot = join(work, "kernel", "boot");
    const images = existsSync(boot) ? readdirSync(boot).filter((f) => f.startsWith("vmlinuz-")) : [];
    if (images.length !== 1) throw new FetchError("E_FETCH", `${kernelDeb} holds ${images.length} boot/vmlinuz-* files, expected one`);
    const release = images[0].slice("vmlinuz-".length);
    const bzImage = readFileSync(join(boot, images[0]));
    if (bzImage.length < 0x300 || bzImage.toString("latin1", 0x202, 0x206) !== "HdrS") {
      throw new FetchError("E_FETCH", `${images[0]} is not a bzImage (no "HdrS" at 0x202)`);
    }
    const bb = readFileSync(join(work, "busybox", "bin", "busybox"));
    if (!isElfFor(bb, guest)) throw new FetchError("E_FETCH", `${busyboxDeb}: bin/busybox is not an ${guest.arch} ELF`);
    const kvm = guest.kvmProbe !== undefined ? kvmExtras(join(work, "kernel"), release, guest) : undefined;
    if (kvm) log(`  KVM in the guest: ${kvm.modules.map((m) => m.path.split("/").pop()).join(", ")}, /bin/kvm-probe`);
    const initramfs = buildInitramfs(bb, kvm);

    rmSync(join(cacheDir, MANIFEST), { force: true });
    writeAtomic(join(cacheDir, "bzImage"), bzImage);
    writeAtomic(join(cacheDir, "initramfs.cpio.gz"), initramfs);
    writeAtomic(join(cacheDir, "kernel-release.txt"), Buffer.from(release + "\n"));
    const manifest: Manifest = {
      format: FORMAT,
      arch: guest.arch,
      guest: guest.name,
      release,
      cmdline: DEFAULT_CMDLINE,
      kernel: { package: kernelPackage, version: field(kernel, "Version") },
      busybox: { package: BUSYBOX_PACKAGE, version: field(busybox, "Version") },
      init: { sha256: initHash },
      ...(kvm && guest.kvmProbe !== undefined ? {
        kvm: { modules: kvm.modules.map((m) => m.path), probe: { name: guest.kvmProbe, sha256: sha256(kvm.probe) } },
      } : {}),
      files: {
        bzImage: { name: "bzImage", size: bzImage.length, sha256: sha256(bzImage) },
        initramfs: { name: "initramfs.cpio.gz", size: initramfs.length, sha256: sha256(initramfs) },
      },
      fetchedAt: new Date().toISOString(),
    };
    writeAtomic(join(cacheDir, MANIFEST), Buffer.from(JSON.stringify(manifest, null, 2) + "\n"));
    log(`  bzImage ${mib(bzImage.length)}, initramfs.cpio.gz ${mib(initramfs.length)}`);
    log(`done: Linux ${release} in ${seconds(started)}`);
    return { bzImage: join(cacheDir, "bzImage"), initramfs: join(cacheDir, "initramfs.cpio.gz"), release, cmdline: guest.cmdline };
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(debs, { recursive: true, force: true });
  }
}

// ---- KVM in the guest (docs/kvm-in-guest.md) -------------------------------------------

/** The modules KVM in the guest loads; what they depend on comes along (modinfo `depends`). */
export const KVM_MODULES = ["kvm_amd", "kvm_intel"];

/** guests/kvm-probe/<name> in the checkout (this file runs as dist/src/guests/fetch-linux.js). */
export function kvmProbePath(name: string): string {
  return fileURLToPath(new URL(`../../../guests/kvm-probe/${name}`, import.meta.url));
}

function kvmProbeHash(guest: LinuxGuest): string | undefined {
  try { return sha256(readFileSync(kvmProbePath(guest.kvmProbe ?? ""))); } catch { return undefined; }
}

/**
 * The KVM modules of the extracted kernel package under `root` (lib/modules/<release>/…),
 * with the closure of their `depends=` (the .modinfo strings modinfo prints), a modules.dep
 * in depmod's format (a module, then what it needs, so a loader works from the end of the
 * line), and the probe. Throws FetchError if a module is missing or compressed.
 */
export function kvmExtras(root: string, release: string, guest: LinuxGuest): KvmExtras {
  const modRoot = join("lib", "modules", release);
  const byName = new Map<string, string>();
  const scan = (rel: string): void => {
    for (const e of readdirSync(join(root, modRoot, rel), { withFileTypes: true })) {
      const p = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) scan(p);
      else if (/\.ko(\.xz|\.zst|\.gz)?$/.test(e.name)) byName.set(e.name.replace(/\.ko.*$/, "").replace(/-/g, "_"), p);
    }
  };
  try { scan(""); } catch (e) {
    throw new FetchError("E_FETCH", `the kernel package has no ${modRoot} (${errCode(e)}): KVM in the guest needs its modules`);
  }
  const data = new Map<string, Buffer>();
  const deps = new Map<string, string[]>();
  const visit = (name: string): void => {
    if (data.has(name)) return;
    const rel = byName.get(name);
    if (rel === undefined) throw new FetchError("E_FETCH", `the kernel package has no module ${name} (KVM in the guest needs it)`);
    if (!rel.endsWith(".ko")) throw new FetchError("E_FETCH", `${rel} is compressed; busybox insmod loads only plain .ko files`);
    const bytes = readFileSync(join(root, modRoot, rel));
    data.set(name, bytes);
    const m = /\0depends=([^\0]*)\0/.exec(bytes.toString("latin1"));
    const d = m && m[1] !== "" ? m[1].split(",").map((n) => n.replace(/-/g, "_")) : [];
    deps.set(name, d);
    for (const n of d) visit(n);
  };
  for (const n of KVM_MODULES) visit(n);
  // Each module's line lists everything below it, nearest first (depmod's order).
  const closure = (name: string, out: string[]): string[] => {
    for (const n of deps.get(name) ?? []) if (!out.includes(n)) { out.push(n); closure(n, out); }
    return out;
  };
  const path = (n: string): string => `kernel/${byName.get(n)!.replace(/^kernel\//, "")}`;
  const dep = [...data.keys()].map((n) => `${path(n)}: ${closure(n, []).map(path).join(" ")}`.trimEnd() + "\n").join("");
  let probe: Buffer;
  try { probe = readFileSync(kvmProbePath(guest.kvmProbe ?? "")); } catch (e) {
    throw new FetchError("E_FETCH", `cannot read ${kvmProbePath(guest.kvmProbe ?? "")} (${errCode(e)}); build it with guests/kvm-probe/build.sh`);
  }
  if (!isElfFor(probe, guest)) throw new FetchError("E_FETCH", `${guest.kvmProbe} is not an ${guest.arch} ELF`);
  return {
    modules: [...data.entries()].map(([n, d]) => ({ path: `${modRoot}/${path(n)}`, data: d })),
    modulesDep: { path: `${modRoot}/modules.dep`, text: dep },
    probe,
  };
}

// ---- apt, with private state ----------------------------------------------------------

class Apt {
  private readonly options: string[];

  constructor(private readonly cacheDir: string, private readonly guest: LinuxGuest, extra: string[], private readonly log: (line: string) => void) {
    const root = join(cacheDir, "apt");
    for (const d of ["state/lists/partial", "cache/archives/partial"]) mkdirSync(join(root, d), { recursive: true });
    const status = join(root, "status");
    if (!existsSync(status)) writeFileSync(status, "");
    const settings = [
      `APT::Architecture=${guest.arch}`,
      `APT::Architectures=${guest.arch}`,
      `Dir::State=${join(root, "state")}`,
      `Dir::State::status=${status}`,
      `Dir::Cache=${join(root, "cache")}`,
      "Acquire::Languages=none",
      "Acquire::Retries=2",
      // As root apt would download as the `_apt` user, which cannot write this cache.
      ...(process.getuid?.() === 0 ? [`APT::Sandbox::User=${userInfo().username}`] : []),
      ...extra,
    ];
    this.options = settings.flatMap((s) => ["-o", s]);
  }

  /** apt-get update. Fails if no index could be fetched; warns if only some failed. */
  async update(): Promise<void> {
    const ok = new Set<string>();
    const failed = new Set<string>();
    const errors: string[] = [];
    let reasonFor = -1;  // the error whose reason (the next indented line) is pending
    const r = await run("apt-get", [...this.options, "-q", "update"], {
      onLine: (line) => {
        const m = /^(Hit|Get|Ign|Err):(\d+)\s+(.*)$/.exec(line);
        if (m) {
          reasonFor = -1;
          if (m[1] === "Hit" || m[1] === "Get") ok.add(m[2]);
          if (m[1] === "Err") { failed.add(m[2]); reasonFor = errors.push(m[3]) - 1; }
          if (m[1] !== "Ign") this.log(`  ${line}`);
        } else if (reasonFor >= 0 && /^\s+\S/.test(line)) {
          errors[reasonFor] += `: ${line.trim()}`;
          reasonFor = -1;
        }
      },
      check: false,
    });
    for (const n of failed) ok.delete(n);
    const stderrErrors = r.stderr.split("\n").filter((l) => /^[EW]: /.test(l));
    if (ok.size === 0) {
      throw new FetchError("E_FETCH", "cannot reach the Debian package archive: " +
        (errors[0] ?? stderrErrors[0] ?? `apt-get update exited with ${r.status}`) +
        `. Check the network (or the proxy in the apt configuration) and run \`vmm86 fetch ${this.guest.name}\` again.` +
        (cachedLinux(this.cacheDir, this.guest) ? " The previously fetched kernel is still in the cache." : ""));
    }
    if (failed.size > 0 || r.status !== 0) {
      this.log(`  warning: ${Math.max(failed.size, 1)} index file(s) could not be fetched; using the others`);
      for (const e of errors) this.log(`    ${e}`);
    }
  }

  /** The newest candidate's control fields (apt-cache show). */
  async show(pkg: string): Promise<Map<string, string>> {
    const r = await run("apt-cache", [...this.options, "show", "--no-all-versions", pkg], { check: false });
    if (r.status !== 0 || r.stdout.trim() === "") {
      throw new FetchError("E_FETCH", `package ${pkg} (${this.guest.arch}) is not in the package lists: ` +
        (r.stderr.split("\n").find((l) => l.startsWith("E:")) ?? `apt-cache exited with ${r.status}`));
    }
    return parseStanza(r.stdout);
  }

  /** apt-get download into `dir`, logging progress against `total` bytes. */
  async download(dir: string, specs: string[], total: number): Promise<void> {
    let lastTenth = -1;
    const timer = setInterval(() => {
      const tenth = Math.min(9, Math.floor((10 * dirSize(dir)) / total));
      if (tenth > lastTenth && tenth > 0) {
        lastTenth = tenth;
        this.log(`  ${tenth * 10}% of ${mib(total)}`);
      }
    }, 1000);
    try {
      const r = await run("apt-get", [...this.options, "-q", "download", ...specs], {
        cwd: dir,
        onLine: (line) => { if (/^(Get|Err):/.test(line)) this.log(`  ${line}`); },
        check: false,
      });
      if (r.status !== 0) {
        throw new FetchError("E_FETCH", "apt-get download failed: " +
          (r.stderr.split("\n").find((l) => l.startsWith("E:")) ?? `exit status ${r.status}`) +
          `. Check the network and run \`vmm86 fetch ${this.guest.name}\` again.`);
      }
    } finally {
      clearInterval(timer);
    }
  }
}

/** The `linux-image-<release>` package the metapackage depends on. */
function kernelDependency(meta: Map<string, string>, guest: LinuxGuest): string {
  const depends = meta.get("Depends") ?? "";
  for (const alt of depends.split(/[,|]/)) {
    const name = alt.trim().split(/[\s(]/)[0];
    if (/^linux-image-\d/.test(name)) return name;
  }
  throw new FetchError("E_FETCH", `${guest.kernelMetapackage} does not depend on a linux-image-<release> package (Depends: ${depends})`);
}

/** Is `bin` an ELF executable of the guest's class, little-endian, for its machine? */
export function isElfFor(bin: Uint8Array, guest: LinuxGuest): boolean {
  return bin.length >= 20 && bin[0] === 0x7f && bin[1] === 0x45 && bin[2] === 0x4c && bin[3] === 0x46 &&
    bin[4] === guest.elfClass && bin[5] === 1 && (bin[18] | (bin[19] << 8)) === guest.elfMachine;
}

/** The fields of the first deb822 stanza in `text` (continuation lines joined). */
function parseStanza(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  let key = "";
  for (const line of text.split("\n")) {
    if (line === "") { if (fields.size > 0) break; continue; }
    if (/^\s/.test(line) && key) { fields.set(key, fields.get(key) + "\n" + line.trim()); continue; }
    const i = line.indexOf(":");
    if (i > 0) { key = line.slice(0, i); fields.set(key, line.slice(i + 1).trim()); }
  }
  return fields;
}

function field(fields: Map<string, string>, name: string): string {
  const v = fields.get(name);
  if (v === undefined) throw new FetchError("E_FETCH", `the package index entry of ${fields.get("Package") ?? "?"} has no ${name} field`);
  return v;
}

// ---- processes and files --------------------------------------------------------------

interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a tool with LC_ALL=C; by default throws FetchError on a non-zero exit. */
function run(cmd: string, args: string[], opts: { cwd?: string; onLine?: (line: string) => void; check?: boolean } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, LC_ALL: "C", DEBIAN_FRONTEND: "noninteractive" }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let pending = "";
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (s: string) => {
      stdout += s;
      if (!opts.onLine) return;
      pending += s;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const l of lines) opts.onLine(l);
    });
    child.stderr.on("data", (s: string) => { stderr += s; });
    child.on("error", (e: NodeJS.ErrnoException) => {
      reject(e.code === "ENOENT" ? missingTools(cmd) : new FetchError("E_FETCH", `${cmd}: ${e.message}`));
    });
    child.on("close", (code) => {
      if (opts.onLine && pending) opts.onLine(pending);
      const status = code ?? 1;
      if (status !== 0 && opts.check !== false) {
        reject(new FetchError("E_FETCH", `${cmd} ${args.filter((a) => a !== "-o" && !a.includes("::")).join(" ")} failed (exit ${status}): ${stderr.trim().split("\n").pop() ?? ""}`));
      } else {
        resolve({ status, stdout, stderr });
      }
    });
  });
}

function missingTools(cmd: string, guest: LinuxGuest = LINUX_I386): FetchError {
  return new FetchError("E_FETCH_TOOLS", `${cmd} not found: \`vmm86 fetch ${guest.name}\` uses Debian's package tools (apt-get, apt-cache, dpkg-deb); run it on Debian or Ubuntu`);
}

async function requireTools(guest: LinuxGuest): Promise<void> {
  for (const tool of ["apt-get", "apt-cache", "dpkg-deb"]) {
    try {
      await run(tool, ["--version"]);
    } catch (e) {
      if (e instanceof FetchError && e.code === "E_FETCH_TOOLS") throw missingTools(tool, guest);
      throw e;
    }
  }
}

/** The cache's manifest, if it is of this format and holds the guest's architecture. */
function readManifest(cacheDir: string, guest: LinuxGuest): Manifest | null {
  try {
    const m = JSON.parse(readFileSync(join(cacheDir, MANIFEST), "utf8")) as Manifest;
    return m.format === FORMAT && typeof m.release === "string" && m.files?.bzImage && m.files?.initramfs &&
      (m.arch ?? "i386") === guest.arch && (m.guest ?? (guest.arch === "amd64" ? LINUX_AMD64.name : LINUX_I386.name)) === guest.name ? m : null;
  } catch {
    return null;
  }
}

function writeAtomic(path: string, data: Uint8Array): void {
  writeFileSync(path + ".tmp", data);
  renameSync(path + ".tmp", path);
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
}

function dirSize(dir: string): number {
  let total = 0;
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      total += e.isDirectory() ? dirSize(p) : sizeOf(p);
    }
  } catch {
    // the directory may vanish while apt works
  }
  return total;
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

function mib(bytes: number): string {
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}

function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}
