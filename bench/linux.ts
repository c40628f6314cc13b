// npm run bench:linux: boots the same Debian i386 kernel and initramfs to the guest's
// shell-ready line on vmm86 (direct entry and the bzImage's own decompressor), on v86
// (its npm package, SeaBIOS from Debian's `seabios`) and on QEMU's TCG (Debian's
// `qemu-system-x86`, `-M isapc -cpu pentium3`), one after another on this machine, and
// prints host seconds, guest instructions where the emulator counts them, and each time
// as a ratio to vmm86 direct entry. See docs/bench.md.
//
//   node dist/bench/linux.js [--only vmm86,v86,qemu] [--timeout SECONDS] [--runs N]
//
// One emulator failing (not installed, no shell in time) is reported in its row and the
// others still run; the exit status is non-zero only when a vmm86 boot fails.

import { execFileSync, fork, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { cachedLinux, fetchLinux, type LinuxImage } from "../src/guests/fetch-linux.js";
import { cachedUnpacker } from "../src/cli/unpack-cache.js";
import { NODE_FLAGS } from "../src/cli/relaunch.js";
import { parseSetupHeader } from "../src/boot/linux.js";
import { BENCH_CMDLINE, BENCH_RAM_MIB, PHASES, SerialWatch, type BootRequest, type BootResult } from "./linux-common.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const SEABIOS_DIR = "/usr/share/seabios";
const EMULATORS = ["vmm86", "vmm86-direct", "vmm86-bzimage", "v86", "qemu"] as const;

interface Row {
  name: string;
  path: string;
  result: BootResult;
  vmm86: boolean;
}

const USAGE = `usage: node dist/bench/linux.js [--only vmm86,v86,qemu] [--timeout SECONDS] [--runs N]
  --only     a comma-separated subset of: ${EMULATORS.join(", ")} (default: all)
  --timeout  host seconds each boot may take before it counts as failed (default 600)
  --runs     boot each N times and keep the fastest (default 1)
`;

function parse(argv: string[]): { only: Set<string>; timeoutS: number; runs: number } {
  let only = new Set<string>(["vmm86", "v86", "qemu"]);
  let timeoutS = 600, runs = 1;
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k];
    const [flag, inline] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++k];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === "--help" || flag === "-h") { process.stdout.write(USAGE); process.exit(0); }
    else if (flag === "--only") {
      only = new Set(value().split(",").map((s) => s.trim()).filter((s) => s !== ""));
      for (const s of only) {
        if (!(EMULATORS as readonly string[]).includes(s)) throw new Error(`--only: unknown emulator '${s}' (${EMULATORS.join(", ")})`);
      }
    } else if (flag === "--timeout") {
      timeoutS = Number(value());
      if (!(timeoutS > 0)) throw new Error("--timeout must be a positive number of seconds");
    } else if (flag === "--runs") {
      runs = Number(value());
      if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs must be a positive integer");
    } else throw new Error(`unknown argument '${a}'`);
  }
  if (only.has("vmm86")) { only.add("vmm86-direct"); only.add("vmm86-bzimage"); }
  return { only, timeoutS, runs };
}

/**
 * Runs a bench child (a compiled bench/linux-*.js) with Node options `execArgv` added to this
 * process's, and waits for its one result.
 */
function runChild(script: string, req: BootRequest, execArgv: readonly string[] = []): Promise<BootResult> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: BootResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      resolve(r);
    };
    const child = fork(join(HERE, script), [JSON.stringify(req)], { execArgv: [...execArgv, ...process.execArgv], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    // The child keeps its own time limit; this one catches a child that hangs outside it.
    const guard = setTimeout(() => {
      child.kill("SIGKILL");
      done({ ok: false, reason: `killed after ${req.timeoutS + 30} s without a result` });
    }, (req.timeoutS + 30) * 1000);
    child.on("message", (m) => done(m as BootResult));
    child.on("error", (err) => done({ ok: false, reason: `could not start: ${err.message}` }));
    child.on("exit", (code, signal) => done({ ok: false, reason: `child exited (${signal ?? `status ${code}`}) without a result` }));
  });
}

/** Boots on QEMU's TCG; time from spawning the process to the ready line. */
function runQemu(req: BootRequest): Promise<BootResult> {
  const args = [
    "-M", "isapc", "-cpu", "pentium3", "-accel", "tcg", "-m", String(req.ramMiB),
    "-nographic", "-no-reboot", "-display", "none", "-monitor", "none", "-serial", "stdio",
    "-kernel", req.bzImage, "-initrd", req.initrd, "-append", req.cmdline,
  ];
  return new Promise((resolve) => {
    const watch = new SerialWatch();
    let settled = false;
    const t0 = performance.now();
    const child = spawn("qemu-system-i386", args, { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    const done = (r: BootResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      watch.save(req.log);
      resolve(r);
    };
    const timer = setTimeout(() => {
      done({ ok: false, reason: `timeout after ${req.timeoutS} s; last output: ${watch.lastLine()}` });
    }, req.timeoutS * 1000);
    child.stdout.on("data", (d: Buffer) => {
      for (const b of d) {
        if (watch.feed(b)) { done({ ok: true, seconds: (performance.now() - t0) / 1000, instructions: null }); return; }
      }
    });
    child.stderr.on("data", (d: Buffer) => { stderr = (stderr + d.toString()).slice(-400); });
    child.on("error", (err) => {
      const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
      done({ ok: false, reason: missing ? "qemu-system-i386 is not installed (run scripts/bench-linux-setup.sh)" : `could not start: ${err.message}` });
    });
    child.on("exit", (code, signal) => {
      const why = stderr.trim().split("\n").pop() ?? "";
      done({ ok: false, reason: `qemu exited (${signal ?? `status ${code}`}) before the shell${why ? `: ${why}` : ""}` });
    });
  });
}

/** The first line a command prints, or null when it cannot run. */
function firstLine(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).split("\n")[0].trim() || null;
  } catch {
    return null;
  }
}

function hostCpu(): string {
  const list = cpus();
  const model = list[0]?.model.trim() || "unknown CPU";
  return `${model}, ${list.length} logical CPUs`;
}

function v86Version(): string {
  try {
    return (createRequire(import.meta.url)("v86/package.json") as { version: string }).version;
  } catch {
    return "not installed";
  }
}

async function linuxImage(): Promise<LinuxImage> {
  // The cache when it is complete (no network); otherwise fetch, as `vmm86 fetch linux` does.
  return cachedLinux() ?? fetchLinux({ log: (l) => process.stderr.write(`fetch linux: ${l}\n`) });
}

function fmtRatio(r: Row, ref: Row | undefined): string {
  if (!r.result.ok) return "—";
  if (ref === undefined || !ref.result.ok) return "n/a";
  if (r === ref) return "1.00";
  return (r.result.seconds / ref.result.seconds).toFixed(2);
}

/**
 * The table, in Markdown. Time ratios are to vmm86 direct entry (the reference the README
 * quotes) and to vmm86's bzImage path, which boots the way v86 and QEMU do (the kernel's own
 * decompressor runs in the guest).
 */
function table(rows: Row[]): string {
  const direct = rows.find((r) => r.name === "vmm86" && r.path === "direct entry");
  const bz = rows.find((r) => r.name === "vmm86" && r.path === "bzImage decompressor");
  const head = ["emulator", "boot path", "seconds to shell", "guest instructions", "guest MIPS", "time ÷ vmm86 direct", "time ÷ vmm86 bzImage"];
  const body = rows.map((r) => {
    const res = r.result;
    if (!res.ok) return [r.name, r.path, `did not reach the shell (${res.reason})`, "", "", "—", "—"];
    return [
      r.name, r.path, res.seconds.toFixed(2),
      res.instructions === null ? "unknown" : res.instructions.toLocaleString("en-US"),
      res.instructions === null ? "unknown" : (res.instructions / res.seconds / 1e6).toFixed(0),
      fmtRatio(r, direct), fmtRatio(r, bz),
    ];
  });
  const line = (cells: string[]): string => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...body.map(line)].join("\n") + "\n";
}

/** Guest MIPS in each phase of the boot (PHASES, then user space to the shell), for the emulators that count instructions. */
function phaseTable(rows: Row[]): string {
  const names = [...PHASES.map((p) => p.name), "user space"];
  const head = ["emulator", "boot path", ...names.map((n) => `${n}: s, M instructions, MIPS`)];
  const body: string[][] = [];
  for (const r of rows) {
    const res = r.result;
    if (!res.ok || res.instructions === null || res.phases === undefined || res.phases.length !== PHASES.length) continue;
    const marks = [{ seconds: 0, instructions: 0 }, ...res.phases, { seconds: res.seconds, instructions: res.instructions }];
    const cells = names.map((_, k) => {
      const s = marks[k + 1].seconds - marks[k].seconds, n = marks[k + 1].instructions - marks[k].instructions;
      return `${s.toFixed(2)}, ${(n / 1e6).toFixed(0)}, ${s > 0 ? (n / s / 1e6).toFixed(0) : "—"}`;
    });
    body.push([r.name, r.path, ...cells]);
  }
  if (body.length === 0) return "";
  const line = (cells: string[]): string => `| ${cells.join(" | ")} |`;
  return "\nPhases (each ends at a serial line: the kernel's banner when the console starts, \"Run /init as init process\", the shell):\n" +
    [line(head), line(head.map(() => "---")), ...body.map(line)].join("\n") + "\n";
}

async function main(): Promise<number> {
  let opts: ReturnType<typeof parse>;
  try {
    opts = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench:linux: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const image = await linuxImage();
  // Direct entry reads the unpacked kernel through vmm86's cache, as `vmm86 run linux` does
  // after an image's first boot: fill it now, outside every clock.
  const kernel = readFileSync(image.bzImage);
  cachedUnpacker()(kernel, parseSetupHeader(kernel));
  const logDir = join(tmpdir(), "vmm86-bench-linux");
  mkdirSync(logDir, { recursive: true });
  const base = { bzImage: image.bzImage, initrd: image.initramfs, cmdline: BENCH_CMDLINE, ramMiB: BENCH_RAM_MIB, timeoutS: opts.timeoutS };
  const bios = join(SEABIOS_DIR, "bios.bin");
  const vgaBios = join(SEABIOS_DIR, "vgabios-stdvga.bin");
  const qemuVersion = firstLine("qemu-system-i386", ["--version"]);
  const seabiosVersion = firstLine("dpkg-query", ["-W", "-f", "${Version}", "seabios"]);

  const out = process.stdout;
  out.write(`bench:linux: Linux ${image.release}, ${BENCH_RAM_MIB} MiB RAM, cmdline '${BENCH_CMDLINE}'\n`);
  out.write(`host: ${hostCpu()}; Node ${process.version}\n`);
  out.write(`v86 ${v86Version()}, SeaBIOS ${seabiosVersion ?? "not installed"}; ${qemuVersion ?? "QEMU not installed"}\n`);
  out.write(`serial logs: ${logDir}\n\n`);

  const plan: { key: string; name: string; path: string; run: () => Promise<BootResult> }[] = [
    { key: "vmm86-direct", name: "vmm86", path: "direct entry",
      run: () => runChild("linux-vmm86.js", { ...base, entry: "direct", log: join(logDir, "vmm86-direct.log") }, NODE_FLAGS) },
    { key: "vmm86-bzimage", name: "vmm86", path: "bzImage decompressor",
      run: () => runChild("linux-vmm86.js", { ...base, entry: "bzimage", log: join(logDir, "vmm86-bzimage.log") }, NODE_FLAGS) },
    { key: "v86", name: `v86 ${v86Version()}`, path: "SeaBIOS, bzImage",
      run: () => {
        if (!existsSync(bios)) return Promise.resolve({ ok: false, reason: `no SeaBIOS at ${bios} (run scripts/bench-linux-setup.sh)` });
        return runChild("linux-v86.js", { ...base, bios, vgaBios: existsSync(vgaBios) ? vgaBios : undefined, log: join(logDir, "v86.log") });
      } },
    { key: "qemu", name: "QEMU TCG", path: "-kernel (SeaBIOS, bzImage)",
      run: () => runQemu({ ...base, log: join(logDir, "qemu.log") }) },
  ];
  const rows: Row[] = [];
  for (const p of plan) {
    if (!opts.only.has(p.key)) continue;
    let result: BootResult | undefined;
    for (let run = 1; run <= opts.runs; run++) {
      out.write(`${p.name} (${p.path})${opts.runs > 1 ? ` run ${run}/${opts.runs}` : ""}: booting...`);
      const r = await p.run();
      out.write(r.ok
        ? ` ${r.seconds.toFixed(2)} s${r.instructions !== null ? `, ${r.instructions} instructions` : ""}${r.note ? ` (${r.note})` : ""}\n`
        : ` failed: ${r.reason}\n`);
      // The fastest successful run counts; a failure counts only when no run succeeds.
      if (result === undefined || (r.ok && (!result.ok || r.seconds < result.seconds))) result = r;
    }
    if (result === undefined) continue;
    rows.push({ name: p.name, path: p.path, result, vmm86: p.key.startsWith("vmm86") });
  }
  out.write("\n" + table(rows));
  out.write(phaseTable(rows));
  if (opts.runs > 1) out.write(`The fastest of ${opts.runs} runs each.\n`);
  out.write("Seconds: host time from loading the images (QEMU: starting its process) to the guest's shell-ready line.\n");
  out.write("Ratios: that time divided by vmm86's (reference: direct entry; v86 and QEMU boot like vmm86's bzImage path).\n");
  return rows.some((r) => r.vmm86 && !r.result.ok) ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (err: unknown) => {
  process.stderr.write(`bench:linux: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
