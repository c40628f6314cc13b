// `vmm86 run`: boot a guest on the PC and connect its first serial port to the terminal.
//
//   vmm86 run demo | linux | --kernel F [--initrd F] [--append S] | --bios ROM   [options]
//
// Guest output on COM1 goes to stdout; stdin goes to COM1's receiver. The run loop is
// synchronous; it yields to Node's event loop between short slices so input can arrive.

import { existsSync, openSync, closeSync, fstatSync, readSync, readFileSync, unlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ExitCode, UserError, usageError, imageError } from "./errors.js";
import { parseArgs, numberFlag, mibFlag, type FlagSpec } from "./args.js";
import { writeAll } from "./output.js";
import { installTracer } from "./trace.js";
import { HostInput } from "./host-input.js";
import { disassemble } from "../hw/cpu/disasm.js";
import { faultText } from "../hw/cpu/fault.js";
import type { ShutdownCause } from "../hw/cpu/cpu.js";
import { Pc } from "../hw/pc/pc.js";
import { applyEntryState, ramWriter, type BootTarget } from "../hw/pc/boot-entry.js";
import { GuestUnsupported, Monitor, MonitorPanic, ProtectUnsound, SHADOW_SYNCS, type ShadowSync } from "../vmm/monitor.js";
import { SvmMonitor } from "../vmm/svm/svm-monitor.js";
import { VtxMonitor } from "../vmm/vtx/vtx-monitor.js";
/** A hardware-assisted monitor. */
type Assisted = SvmMonitor | VtxMonitor;
import { formatCounters } from "../vmm/stats/counters.js";
import { writeFileSync } from "node:fs";
import type { RunEnd } from "../hw/pc/clocked-run.js";
import type { JitStats } from "../hw/cpu/jit/block-compiler.js";
import { cachedUnpacker } from "./unpack-cache.js";
import { BootError, loadLinux, loadLinux64, loadMultiboot, pcE820Map, x86_64Kernel, type EntryState } from "../boot/index.js";
import { cpuOption, longModeRefusal, LONG_MODE_MODEL, PROTECTIONS, protectRefusal } from "./cpus.js";
import type { Protection } from "../vmm/protection.js";
import { findModel, withFeatures, type CpuModel } from "../hw/cpu/models.js";
import { incompatibility, restorePc, savePc, type GuestState } from "../hw/pc/pc-state.js";
import { GdbSession } from "./gdb-server.js";
import { gdbCommands } from "./gdb-commands.js";
import { readSnapshot, stateHash, writeSnapshot, type Snapshot } from "./snapshot-file.js";
import { readReplay, type ReplayLog } from "./replay-file.js";
import { RecordReplay } from "./record-replay.js";
import { workerCompiler } from "./wasm-compiler.js";
import type { LineSink } from "./host-input.js";
import { resolve as resolvePath } from "node:path";
import {
  cachedLinux, damagedLinux, defaultCacheDir, DEFAULT_CMDLINE, LINUX_AMD64, LINUX_GUESTS, LINUX_I386, READY_MARKER, type LinuxGuest,
} from "../guests/fetch-linux.js";

export const RUN_FLAGS: Record<string, FlagSpec> = {
  bios: { value: true },
  kernel: { value: true, aliases: ["-kernel"] },
  initrd: { value: true, aliases: ["-initrd"] },
  append: { value: true, aliases: ["-append"] },
  entry: { value: true },
  mode: { value: true },
  paging: { value: true },
  "post-port": { value: true },
  debugcon: { value: true },
  cpu: { value: true },
  m: { value: true, aliases: ["-m"] },
  timeout: { value: true },
  "max-instructions": { value: true },
  clock: { value: true },
  jit: { value: true },
  "jit-thread": { value: true },
  protect: { value: true },
  "unsafe-protect": { value: false },
  "shadow-sync": { value: true },
  "no-reservetop": { value: false },
  trace: { value: false },
  stats: { value: false },
  "stats-json": { value: true },
  "save-at-event": { value: true },
  "save-at-file": { value: true },
  restore: { value: true },
  record: { value: true },
  replay: { value: true },
  gdb: { value: true },
  "wait-gdb": { value: false },
  help: { value: false, aliases: ["-h"] },
};

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const DEMO_IMAGE = join(REPO_ROOT, "guests", "demo", "demo.elf");

/** The largest image a run reads (a kernel, an initrd, a ROM): more cannot fit in guest RAM. */
export const MAX_IMAGE_BYTES = 1 << 30;

/**
 * Read an image, bounded: a regular file larger than MAX_IMAGE_BYTES is refused by its size,
 * and anything else (a device such as /dev/zero, a pipe) is read only up to that size.
 */
function readImage(path: string, what: string): Uint8Array {
  if (!existsSync(path)) throw imageError(`${what} '${path}' does not exist`);
  let fd: number;
  try { fd = openSync(path, "r"); } catch (e) { throw imageError(`cannot read ${what} '${path}' (${(e as NodeJS.ErrnoException).code ?? "error"})`); }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw imageError(`${what} '${path}' is a directory`);
    if (st.isFile() && st.size > MAX_IMAGE_BYTES) throw imageError(`${what} '${path}' is ${st.size} bytes; images larger than ${MAX_IMAGE_BYTES >> 20} MiB do not fit in guest RAM`);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(1 << 20);
      let n: number;
      try { n = readSync(fd, buf, 0, buf.length, null); } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "EAGAIN") continue;
        throw imageError(`cannot read ${what} '${path}' (${code ?? "error"})`);
      }
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total > MAX_IMAGE_BYTES) throw imageError(`${what} '${path}' is not a regular file and gave more than ${MAX_IMAGE_BYTES >> 20} MiB; an image must end`);
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

/** Is this a Linux bzImage (setup header magic "HdrS" at 0x202)? */
function isBzImage(img: Uint8Array): boolean {
  return img.length > 0x206 && img[0x202] === 0x48 && img[0x203] === 0x64 && img[0x204] === 0x72 && img[0x205] === 0x53;
}

/** What a loader writes into: the bare machine, or the monitor's vCPU and guest memory. */
interface LoadTarget extends BootTarget {
  /** Map a ROM image (bare machine only). */
  loadBios?(rom: Uint8Array): void;
}

interface GuestPlan {
  describe: string;
  /** Real-mode firmware: only the bare machine can run it. */
  needsBare?: boolean;
  load(t: LoadTarget): void;
  /**
   * Host input is held back until the guest prints this (the Linux guest's shell-ready
   * line): the kernel's serial driver empties the receive FIFO when the console opens, so
   * type-ahead sent earlier would be lost.
   */
  inputAfter?: string;
  /** Set if the kernel is 64-bit code: what in its header says so. */
  x86_64?: string;
  /**
   * A 32-bit multiboot kernel may turn long mode on itself (the 64-bit lab guests do): the
   * long-mode `--protect` choices are then the monitor's to check, when it happens.
   */
  mayGo64?: boolean;
}

/** reservetop= for Linux guests under the monitor: the monitor region's size. */
export const RESERVETOP = "0x400000";

/** The CPU model `run linux64` uses without --cpu: one with long mode (cpus.ts says why this one). */
export const LINUX64_DEFAULT_CPU = LONG_MODE_MODEL;

/** The `--cpu` a run uses: the flag, else core2 for `run linux64`, else the default model. */
function cpuFlag(p: ReturnType<typeof parseArgs>): string | true | undefined {
  const v = p.flags.get("cpu");
  if (v === undefined && p.positional[0] === LINUX_AMD64.name && !p.flags.has("kernel") && !p.flags.has("bios")) return LINUX64_DEFAULT_CPU;
  return v;
}

function planGuest(p: ReturnType<typeof parseArgs>, ramBytes: number, monitored: boolean): GuestPlan {
  const positional = p.positional;
  const bios = p.flags.get("bios");
  const kernel = p.flags.get("kernel");
  const chosen = [positional.length > 0, typeof bios === "string", typeof kernel === "string"].filter(Boolean).length;
  if (chosen === 0) throw usageError("run needs a guest: demo, linux, linux-pae, linux64, --kernel FILE or --bios ROM");
  if (chosen > 1 || positional.length > 1) throw usageError("run takes one guest: demo, linux, linux-pae, linux64, --kernel FILE or --bios ROM");
  const entry = p.flags.get("entry") ?? "direct";
  if (entry !== "direct" && entry !== "bzimage" && entry !== "bzimage64") throw usageError("--entry must be 'direct', 'bzimage' or 'bzimage64'");
  const e820 = pcE820Map(ramBytes);
  // Flags that only mean something for some guests are refused for the others, not ignored.
  const refuse = (flags: string[], guest: string): void => {
    for (const f of flags) if (p.flags.has(f)) throw usageError(`--${f} does not apply to ${guest}`);
  };

  const linuxPlan = (kernelPath: string, initrdPath: string | undefined, cmdline: string): GuestPlan => {
    const img = readImage(kernelPath, "kernel");
    const initrd = initrdPath !== undefined ? readImage(initrdPath, "initrd") : undefined;
    const x86_64 = x86_64Kernel(img) ?? undefined;
    if (entry === "bzimage64" && x86_64 === undefined) {
      throw usageError(`--entry bzimage64 is the 64-bit boot protocol, and ${kernelPath} is not an x86-64 kernel (use --entry direct or bzimage)`);
    }
    // An x86-64 kernel: direct entry unpacks vmlinux and enters its startup_64 in 64-bit mode;
    // bzimage64 enters the decompressor at +0x200 in 64-bit mode; bzimage runs the
    // decompressor from its 32-bit entry (it turns long mode on itself).
    const how = entry === "direct" ? (x86_64 ? "direct 64-bit entry" : "direct entry")
      : entry === "bzimage64" ? "bzImage decompressor, 64-bit entry" : "bzImage decompressor";
    return {
      x86_64,
      describe: `Linux ${kernelPath} (${how}), cmdline '${cmdline}'`,
      load: (t) => apply(t, () => x86_64 !== undefined && entry !== "bzimage"
        ? loadLinux64(ramWriter(t), img, { initrd, cmdline, e820, entry: entry === "direct" ? "direct" : "bzimage64", unpack: cachedUnpacker() })
        : loadLinux(ramWriter(t), img, { initrd, cmdline, e820, direct: entry === "direct", unpack: cachedUnpacker() })),
    };
  };

  if (typeof bios === "string") {
    refuse(["entry", "append", "initrd"], "a --bios ROM (it starts at the reset vector)");
    const rom = readImage(bios, "BIOS image");
    if (rom.length !== 0x10000 && rom.length !== 0x20000) {
      throw imageError(`BIOS image '${bios}' is ${rom.length} bytes; it must be 64 KiB or 128 KiB`);
    }
    return { describe: `ROM ${bios}`, needsBare: true, load: (t) => t.loadBios!(rom) };
  }
  if (typeof kernel === "string") {
    const img = readImage(kernel, "kernel");
    const append = p.flags.get("append");
    const cmdline = typeof append === "string" ? append : "";
    const initrd = p.flags.get("initrd");
    if (isBzImage(img)) return linuxPlan(kernel, typeof initrd === "string" ? initrd : undefined, cmdline || DEFAULT_CMDLINE);
    refuse(["entry"], "a multiboot kernel (it is for a Linux bzImage)");
    const modules = typeof initrd === "string" ? [{ data: readImage(initrd, "module"), cmdline: initrd }] : [];
    return {
      x86_64: x86_64Kernel(img) ?? undefined,
      mayGo64: x86_64Kernel(img) === null,
      describe: `multiboot kernel ${kernel}`,
      load: (t) => apply(t, () => loadMultiboot(ramWriter(t), img, { cmdline: [kernel, cmdline].join(" ").trim(), modules, e820 })),
    };
  }
  const name = positional[0];
  if (name === "demo") {
    refuse(["entry", "append", "initrd"], "the demo guest (use --kernel guests/demo/demo.elf to pass a command line)");
    const img = readImage(DEMO_IMAGE, "demo guest");
    return {
      describe: "the demo guest",
      load: (t) => apply(t, () => loadMultiboot(ramWriter(t), img, { cmdline: "demo", modules: [], e820 })),
    };
  }
  const guest: LinuxGuest | undefined = LINUX_GUESTS.find((g) => g.name === name);
  if (guest !== undefined) {
    refuse(["initrd"], `${guest.name} (it boots the fetched initramfs; use --kernel F --initrd F for your own)`);
    const what = guest === LINUX_I386 ? "the Linux guest" : guest === LINUX_AMD64 ? "the 64-bit Linux guest (amd64)" : "the PAE Linux guest (686-pae)";
    const cached = cachedLinux(undefined, guest);
    if (cached === null) {
      throw new UserError("E_NOT_FETCHED", ExitCode.IMAGE, `${what} is not fetched yet; run \`npx vmm86 fetch ${guest.name}\` first`);
    }
    const damage = damagedLinux(undefined, guest);
    if (damage !== null) {
      throw new UserError("E_IMAGE_DAMAGED", ExitCode.IMAGE,
        `${what} cached in ${defaultCacheDir(guest)} is damaged: ${damage}; run \`npx vmm86 fetch ${guest.name}\` to repair it`);
    }
    const append = p.flags.get("append");
    let cmdline = typeof append === "string" ? append : cached.cmdline;
    // Under the monitor, ask Linux to keep its fixmap below the monitor region (a hint:
    // without it the guest's accesses there are trapped and emulated).
    // (A 64-bit guest needs none: the long-mode region is the 2 MiB hole Linux amd64 leaves
    // unused at the top, docs/long-mode-monitor.md.)
    if (monitored && guest !== LINUX_AMD64 && !p.flags.has("no-reservetop") && !/\breservetop=/.test(cmdline)) cmdline += ` reservetop=${RESERVETOP}`;
    return { ...linuxPlan(cached.bzImage, cached.initramfs, cmdline), inputAfter: READY_MARKER };
  }
  throw usageError(`unknown guest '${name}' (demo, linux, linux-pae, linux64, --kernel FILE or --bios ROM)`);
}

function apply(t: BootTarget, load: () => EntryState): void {
  let e: EntryState;
  try {
    e = load();
    applyEntryState(t, e);
  } catch (err) {
    if (err instanceof BootError) throw imageError(err.message);
    throw err;
  }
}

/**
 * `--stats=json FILE` → `--stats-json FILE`; `--stats=table` → `--stats`; `--save-at EVENT
 * FILE` (or `--save-at=EVENT FILE`) → `--save-at-event EVENT --save-at-file FILE`.
 */
function normalizeStatsFlag(argv: string[]): string[] {
  const out: string[] = [];
  for (let k = 0; k < argv.length; k++) {
    if (argv[k] === "--save-at" || argv[k].startsWith("--save-at=")) {
      const event = argv[k] === "--save-at" ? argv[++k] : argv[k].slice("--save-at=".length);
      const file = argv[++k];
      if (event === undefined || file === undefined) throw usageError("--save-at needs an event and a file: --save-at 50000000 f.snap, --save-at 'serial:/ # ' f.snap");
      out.push("--save-at-event", event, "--save-at-file", file);
    } else if (argv[k] === "--stats=json") {
      if (argv[k + 1] === undefined) throw usageError("--stats=json needs a file name");
      out.push("--stats-json", argv[++k]);
    } else if (argv[k] === "--stats=table") out.push("--stats");
    else if (argv[k].startsWith("--stats=")) throw usageError(`unknown --stats format '${argv[k].slice(8)}' (table or json FILE)`);
    else out.push(argv[k]);
  }
  return out;
}

/** Flags about the host's side of a run only: not logged by --record, free to change under --replay. */
const HOST_ONLY_FLAGS = ["record", "replay", "stats", "stats-json", "timeout", "trace", "clock", "jit", "jit-thread", "debugcon", "post-port", "help"];

/** The recorded run's command line, less the host-only flags (--restore's file made absolute). */
function recordedArgs(p: ReturnType<typeof parseArgs>): string[] {
  const out = [...p.positional];
  for (const [k, v] of p.flags) {
    if (HOST_ONLY_FLAGS.includes(k)) continue;
    out.push(v === true ? `--${k}` : `--${k}=${k === "restore" ? resolvePath(v) : v}`);
  }
  return out;
}

/**
 * `--replay LOG`: the recorded run's command line, with the host-only flags of this one
 * (and --restore, for a snapshot that moved: its state hash is checked). Naming a guest or
 * any other option is refused: the log holds them.
 */
function replayCommand(p: ReturnType<typeof parseArgs>, log: ReplayLog): ReturnType<typeof parseArgs> {
  if (p.positional.length > 0) throw usageError(`--replay runs the recorded guest; do not name one ('${p.positional[0]}')`);
  const r = parseArgs(log.header.args, RUN_FLAGS);
  for (const [k, v] of p.flags) {
    if (k === "replay") continue;
    if (!HOST_ONLY_FLAGS.includes(k) && k !== "restore") throw usageError(`--${k} does not apply to --replay (the log holds the recorded run's options)`);
    if (k === "restore" && !r.flags.has("restore")) throw usageError("--restore with --replay: the recorded run did not continue a snapshot");
    r.flags.set(k, v);
  }
  return r;
}

/**
 * --paging shadow|nested (--mode svm): how guest memory is virtualized. The default is the
 * best the model offers: nested paging with NPT (barcelona), shadow paging without
 * (athlon64-revf).
 */
/**
 * --paging shadow|nested for the hardware-assisted modes: nested (EPT, NPT) where the model
 * has it, shadow page tables otherwise (what the first VT-x and AMD-V parts needed).
 */
function assistedPaging(p: ReturnType<typeof parseArgs>, mode: string, model: CpuModel): "nested" | "shadow" | undefined {
  const given = p.flags.get("paging");
  if (given !== undefined && mode !== "svm" && mode !== "vtx") throw usageError("--paging applies to --mode vtx and svm");
  if (given !== undefined && given !== "shadow" && given !== "nested") throw usageError(`--paging must be 'shadow' or 'nested' (got '${String(given)}')`);
  if (mode === "svm") {
    if (!model.features.svm) {
      throw usageError(`--mode svm needs a CPU model with SVM: --cpu athlon64-revf (shadow paging) or barcelona (nested paging) (${model.name} has no SVM)`);
    }
    if (given === "nested" && !model.features.npt) {
      throw usageError(`--paging nested needs a CPU model with nested paging: --cpu barcelona (${model.name} has SVM without nested paging; use --paging shadow)`);
    }
    return given ?? (model.features.npt ? "nested" : "shadow");
  }
  if (mode === "vtx") {
    if (!model.features.vmx) {
      throw usageError(`--mode vtx needs a CPU model with VMX: --cpu core-duo or core2 (shadow paging), nehalem or westmere (EPT) (${model.name} has no VMX)`);
    }
    if (given === "nested" && !model.features.ept) {
      throw usageError(`--paging nested needs a CPU model with EPT: --cpu nehalem or westmere (${model.name} has VMX without EPT; use --paging shadow)`);
    }
    return given ?? (model.features.ept ? "nested" : "shadow");
  }
  return undefined;
}

export async function runCommand(argvIn: string[], help: string): Promise<number> {
  const given = parseArgs(normalizeStatsFlag(argvIn), RUN_FLAGS);
  if (given.flags.has("help")) { process.stdout.write(help); return ExitCode.OK; }
  // --record LOG / --replay LOG (docs/replay.md).
  const recordPath = given.flags.get("record");
  const replayPath = given.flags.get("replay");
  if (recordPath !== undefined && replayPath !== undefined) throw usageError("--record and --replay do not go together");
  if (given.flags.has("save-at-event") && (recordPath !== undefined || replayPath !== undefined)) throw usageError("--save-at does not go with --record or --replay");
  const replay = typeof replayPath === "string" ? readReplay(replayPath) : null;
  if (replay !== null && replay.header.vmm86 !== VERSION) {
    throw new UserError("E_REPLAY_VERSION", ExitCode.REPLAY, `replay log '${String(replayPath)}' was recorded by vmm86 ${replay.header.vmm86}; this is ${VERSION}, ` +
      "whose machine may run the guest differently (replay it with that version)");
  }
  const p = replay !== null ? replayCommand(given, replay) : given;
  const mode = p.flags.get("mode") ?? "bare";
  if (mode !== "bare" && mode !== "trap" && mode !== "bt" && mode !== "vtx" && mode !== "svm") throw usageError(`--mode must be bare, trap, bt, vtx or svm (got '${String(mode)}')`);
  const assisted = mode === "svm" || mode === "vtx";
  const protect = (p.flags.get("protect") ?? "segments") as Protection;
  if (!PROTECTIONS.includes(protect)) throw usageError(`--protect must be ${PROTECTIONS.map((x) => `'${x}'`).join(", ")} (got '${String(protect)}')`);
  if ((mode === "bare" || assisted) && p.flags.has("protect")) throw usageError("--protect applies to --mode trap and bt (the monitor's protection)");
  const shadowSync = (p.flags.get("shadow-sync") ?? "unsync") as ShadowSync;
  if (!SHADOW_SYNCS.includes(shadowSync)) throw usageError(`--shadow-sync must be ${SHADOW_SYNCS.map((x) => `'${x}'`).join(" or ")} (got '${String(shadowSync)}')`);
  if ((mode === "bare" || assisted) && p.flags.has("shadow-sync")) throw usageError("--shadow-sync applies to --mode trap and bt (the classic monitor's shadow page tables)");
  if (p.flags.has("unsafe-protect") && (mode !== "bt" || protect !== "segments")) {
    throw usageError("--unsafe-protect forces --mode bt --protect segments on a model without EFER.LMSLE (for the escape suite)");
  }
  // --restore FILE: the snapshot names the guest, its RAM and (unless --cpu says) its processor.
  const restorePath = p.flags.get("restore");
  const snap = typeof restorePath === "string" ? readSnapshot(restorePath) : null;
  if (snap !== null && snap.meta.vmm86 !== VERSION) {
    // The state format may be the same, but the machine model that runs it is another one:
    // a continuation would not be the run never stopped.
    throw new UserError("E_SNAPSHOT_VERSION", ExitCode.SNAPSHOT, `snapshot '${String(restorePath)}' was written by vmm86 ${String(snap.meta.vmm86)}; ` +
      `this is ${VERSION} (take the snapshot again with this version)`);
  }
  if (snap !== null) {
    for (const f of ["bios", "kernel", "initrd", "append", "entry", "no-reservetop"]) {
      if (p.flags.has(f)) throw usageError(`--${f} does not apply to --restore (the snapshot holds the guest)`);
    }
    if (p.positional.length > 0) throw usageError(`--restore continues the snapshot's guest; do not name a guest ('${p.positional[0]}')`);
  }
  const model = snap !== null && !p.flags.has("cpu") ? snapshotModel(snap) : cpuOption(cpuFlag(p));
  const cpuSpec = snap !== null && !p.flags.has("cpu") ? snap.state.model.name : cpuFlag(p) ?? "standard";
  const saveAt = saveAtOption(p);
  const clock = p.flags.get("clock") ?? "virtual";
  if (clock !== "virtual" && clock !== "realtime") throw usageError("--clock must be 'virtual' or 'realtime'");
  const jit = p.flags.get("jit") ?? "on";
  if (jit !== "on" && jit !== "off" && jit !== "js") throw usageError("--jit must be 'on', 'js' or 'off'");
  const jitThread = p.flags.get("jit-thread") ?? "on";
  if (jitThread !== "on" && jitThread !== "off") throw usageError("--jit-thread must be 'on' or 'off'");
  const ramMiB = snap !== null ? restoredRam(p, snap) : mibFlag(p, "m", 2, 3072) ?? 128;
  const gdbSpec = p.flags.get("gdb");
  if (p.flags.has("wait-gdb") && typeof gdbSpec !== "string") throw usageError("--wait-gdb needs --gdb [HOST:]PORT");
  // Under gdb the run has no time limit unless one is given (the guest waits at breakpoints).
  const timeoutS = numberFlag(p, "timeout", 0.001, 1e7) ?? (typeof gdbSpec === "string" ? Infinity : 600);
  const maxInstr = numberFlag(p, "max-instructions", 1, Number.MAX_SAFE_INTEGER) ?? Infinity;
  const postPort = numberFlag(p, "post-port", 0, 0xffff) ?? null;
  const ramBytes = ramMiB * 1024 * 1024;
  const monitored = mode !== "bare";
  const paging = assistedPaging(p, mode, model);
  // Only the classic monitor lives in the guest's address space (reservetop=).
  const plan = snap !== null ? restorePlan(restorePath as string, snap) : planGuest(p, ramBytes, monitored && !assisted);
  if (snap !== null) {
    const guestModel = monitored ? withFeatures(model, { strict: false, apic: false, tscDeadline: false, ...(mode === "svm" ? { svm: false, npt: false } : {}),
      ...(mode === "vtx" ? { vmx: false, ept: false, vpid: false, unrestrictedGuest: false, vmxPreemptionTimer: false } : {}) }) : model;
    const why = incompatibility(snap.state, guestModel, ramBytes, snap.state.acpi, monitored ? false : model.features.apic);
    if (why !== null) {
      throw new UserError("E_SNAPSHOT_INCOMPATIBLE", ExitCode.SNAPSHOT, `snapshot '${String(restorePath)}' does not fit this machine: ${why}` +
        (p.flags.has("cpu") ? " (leave out --cpu to use the snapshot's)" : ""));
    }
  }
  if (saveAt !== null) checkSnapshotWritable(saveAt.file);
  if (plan.x86_64 !== undefined && !model.features.lm) throw longModeRefusal(plan.describe, plan.x86_64, model);
  if (mode === "bt" || (mode === "trap" && protect === "two-tables")) {
    const refused = protectRefusal(protect, plan.x86_64 !== undefined ? true : plan.mayGo64 === true ? "maybe" : false, model, p.flags.has("unsafe-protect"));
    if (refused !== null) throw refused;
  }
  if (monitored && plan.needsBare) throw usageError(`--mode ${mode} runs protected-mode kernels; a --bios ROM starts in real mode and needs --mode bare`);
  if (monitored && p.flags.has("trace")) throw usageError("--trace shows the bare machine's instructions; use it with --mode bare");

  // Output: guest serial to stdout, debugcon to its file, POST values and traces to stderr.
  // Everything is flushed after every run slice (at most ~20 ms of host time), so output
  // reaches the terminal as the guest writes it (a shell prompt has no newline).
  const statsJson = p.flags.get("stats-json");
  if (typeof statsJson === "string") checkWritable(statsJson);
  const serialBuf: number[] = [];
  // Recent output, to notice plan.inputAfter.
  let recent = snap?.meta.recent ?? "";
  let gateSeen = plan.inputAfter === undefined;
  let openLine = (): void => {};
  // --save-at serial:STRING: the tail of the output, and whether STRING has appeared.
  let saveTail = "";
  let saveDue = false;
  let requestSave = (): void => {};
  const watch = (b: number): void => {
    if (saveAt !== null && saveAt.serial !== null && !saveDue) {
      saveTail = (saveTail + String.fromCharCode(b)).slice(-saveAt.serial.length);
      if (saveTail === saveAt.serial) { saveDue = true; requestSave(); }
    }
    if (gateSeen) return;
    recent = (recent + String.fromCharCode(b)).slice(-256);
    if (recent.includes(plan.inputAfter!)) { gateSeen = true; openLine(); }
  };
  const flushSerial = (): void => {
    if (serialBuf.length) { writeAll(1, Uint8Array.from(serialBuf)); serialBuf.length = 0; }
  };
  // --debugcon [PORT:]FILE: bytes written to PORT (default 0xE9, Bochs and QEMU's debug
  // console; SeaBIOS and the Bochs BIOS print on 0x402/0x403) go to FILE, every one.
  let debugFd = -1;
  let debugPort = 0xe9;
  const debugcon = p.flags.get("debugcon");
  if (typeof debugcon === "string") {
    let file = debugcon;
    const m = /^(0x[0-9a-f]+|[0-9]+):(.+)$/i.exec(debugcon);
    if (m !== null) {
      debugPort = Number(m[1]);
      if (debugPort > 0xffff) throw usageError(`--debugcon port ${m[1]} is not an I/O port (0 to 0xffff)`);
      file = m[2];
    }
    try { debugFd = file === "stdout" ? 1 : openSync(file, "w"); }
    catch { throw usageError(`cannot open --debugcon file '${file}'`); }
  }
  const debugBuf: number[] = [];
  const flushDebug = (): void => {
    if (debugBuf.length && debugFd >= 0) writeAll(debugFd, Uint8Array.from(debugBuf));
    debugBuf.length = 0;
  };
  const debugByte = (b: number): void => {
    if (debugFd >= 0) { debugBuf.push(b); if (debugBuf.length >= 4096) flushDebug(); }
  };
  const reportPost = (v: number): void => {
    flushDebug();
    flushSerial();
    writeAll(2, `post: 0x${v.toString(16).padStart(2, "0")}\n`);
  };
  const pcOpts = {
    ramBytes,
    acpi: snap !== null ? snap.state.acpi : p.flags.get("bios") === undefined,
    model,
    // "js": the block compiler without its WebAssembly tier (docs/jit.md); "on" compiles the
    // WebAssembly on a worker thread unless --jit-thread off.
    jit: jit === "on" ? { compiler: jitThread === "on" ? workerCompiler() : null } : jit === "js" ? { wasm: 0 } : false,
    serialOut: (b: number) => { serialBuf.push(b); watch(b); if (serialBuf.length >= 4096) flushSerial(); },
    debugcon: (b: number) => { if (debugPort === 0xe9) debugByte(b); },
    post: postPort === 0x80 ? reportPost : undefined,
  };
  const mon = !monitored ? null : mode === "svm" ? new SvmMonitor({ ...pcOpts, paging }) : mode === "vtx" ? new VtxMonitor({ ...pcOpts, paging })
    : new Monitor({ ...pcOpts, mode, protect, unsafeProtect: p.flags.has("unsafe-protect"), shadowSync });
  const pc: Pc | Monitor | Assisted = mon ?? new Pc(pcOpts);
  const platform = mon !== null ? mon.platform : (pc as Pc).platform;
  const io = mon !== null ? mon.vcpu.io : (pc as Pc).machine.io;
  if (debugFd >= 0 && debugPort !== 0xe9) {
    if (debugPort === postPort) throw usageError("--debugcon and --post-port name the same port");
    io.register(debugPort, 1, { read8: () => 0xff, write8: (_p, v) => debugByte(v) });
  }
  if (postPort !== null && postPort !== 0x80) {
    let last = -1;
    io.register(postPort, 1, { read8: () => 0xff, write8: (_p, v) => { if (v !== last) reportPost(v); last = v; } });
  }
  if (snap !== null) {
    if (mon !== null) {
      try { mon.restoreFrom(snap.state); } catch (e) { throw monitorError(e); }
    } else {
      restorePc(pc as Pc, snap.state);
    }
  } else if (mon !== null) {
    plan.load(mon.bootTarget);
    try { mon.start(); } catch (e) { throw monitorError(e); }
  } else {
    const m = (pc as Pc).machine;
    plan.load({ cpu: m.cpu, mem: m.mem, loadBios: (rom) => m.loadBios(rom) });
  }
  // --save-at: when the event comes, the bare PC stops after the current instruction; the
  // monitor leaves the guest at once and keeps its state (Monitor.requestCapture).
  let saved: { bytes: number; state: GuestState } | null = null;
  requestSave = () => { if (mon !== null) mon.requestCapture(); else pc.cpu.yieldSlice(); };
  const saveReady = (): boolean => saveDue && (mon === null || mon.captured !== null);
  const doSave = (): void => {
    const state = mon !== null ? mon.captured! : savePc(pc as Pc);
    const meta = {
      vmm86: VERSION, mode, describe: plan.describe, instructions: state.cpu.instructions,
      cycles: state.cpu.instructions + state.cpu.idleCycles, inputAfter: gateSeen ? null : plan.inputAfter ?? null, recent,
    };
    saved = { bytes: writeSnapshot(saveAt!.file, { meta, state }), state };
  };

  const traceLines: string[] = [];
  const flushTrace = (): void => {
    if (traceLines.length) { writeAll(2, traceLines.join("\n") + "\n"); traceLines.length = 0; }
  };
  if (p.flags.has("trace")) installTracer(pc.cpu, (l) => { traceLines.push(l); if (traceLines.length >= 1024) flushTrace(); });

  // --gdb: the stub on a socket; it holds the guest between slices while gdb has it stopped.
  const gdb = typeof gdbSpec === "string"
    ? await GdbSession.open(gdbSpec, { cpu: mon !== null ? mon.vcpu : pc.cpu, monitor: mon, command: gdbCommands(pc, mon, mode, String(cpuSpec)) })
    : null;

  // Host input for COM1 (host-input.ts, paced-input.ts). The line opens when the guest is
  // ready for input: at once, or when it prints plan.inputAfter (at that guest time).
  const line = platform.line;
  const guestNs = (): number => platform.now();
  openLine = () => line.open(guestNs());
  if (gateSeen) openLine();

  // --record LOG / --replay LOG (docs/replay.md): host events pass through a gate that
  // applies them at guest times; the recorder logs them, the replayer queues the log's.
  const rr = recordOrReplay(recordPath, replay, replayPath, mon, pc, snap, typeof restorePath === "string" ? restorePath : "", p);
  const events = rr !== null ? rr.attach(line, platform.timed) : null;
  const stopReady = (): boolean => events?.stopped != null && (mon === null || mon.captured !== null);
  const recording = rr?.writer != null;
  const replaying = replay !== null;
  // Under --replay stdin is not the guest's: it is read and dropped (a terminal still has Ctrl-A x).
  const ignored: LineSink = { push: () => {}, end: () => {}, buffered: 0, setLive: () => {} };
  const input = new HostInput(process.stdin, replaying ? ignored : events?.hostSide(guestNs) ?? line, guestNs);
  if (replaying) {
    line.setLive(replay.header.terminal);
    writeAll(2, `vmm86: replaying ${String(replayPath)} (${replay.events.length} input events, ${replay.header.terminal ? "typed on a terminal" : "from a pipe or file"}); ` +
      "standard input is not read\n");
  }
  if (saveAt !== null && saveAt.key) {
    if (!input.tty) throw usageError("--save-at key needs a terminal on stdin (Ctrl-A s)");
    input.onSaveKey = () => { if (!saveDue) { saveDue = true; requestSave(); } };
  }

  // Signals end the run the way every other ending does: output, stats, the final line
  // (a signal during a --wait-gdb wait too).
  let signal: NodeJS.Signals | null = null;
  const onSignal = (s: NodeJS.Signals): void => { signal ??= s; input.notify(); };
  for (const s of SIGNALS) process.on(s, onSignal);
  if (gdb !== null && p.flags.has("wait-gdb")) await gdb.waitForClient(() => signal !== null);

  const start = Date.now();
  let finalDeadline = start + timeoutS * 1000;
  // Under --record a stop is an event like the others: the run goes on to its guest time.
  const stopRequested = (): boolean => !recording && (signal !== null || input.quit);
  // Scripted input holds the guest until the host has the next byte; a replay has it.
  const heldForHost = (): boolean => !replaying && line.waitingForHost(guestNs()) && !(events !== null && events.pending > 0);
  // An event posted by the loop itself: the monitor must come back to look at it.
  let kick = false;
  let end: Ending;
  try {
    for (;;) {
      if (gdb !== null && gdb.holding) {
        const held = Date.now();
        await gdb.waitRunnable(() => signal !== null);
        finalDeadline += Date.now() - held;
        if (gdb.killed) { end = { kind: "gdb-kill" }; break; }
        if (signal !== null) { end = { kind: "signal", signal }; break; }
        continue;
      }
      // --save-at N: run to exactly N instructions (the count --max-instructions uses).
      const saveCount = saveAt !== null && saveAt.count !== null && !saveDue ? saveAt.count : Infinity;
      const r = pc.run({
        deadline: Math.min(finalDeadline, Date.now() + SLICE_MS),
        maxInstructions: Math.min(maxInstr, saveCount),
        realtime: clock === "realtime",
        poll: () => { const a = input.takeArrived(), k = kick; kick = false; return a || k; },
        until: () => stopRequested() || heldForHost() || saveReady() || stopReady() || rr?.diverged != null,
      });
      end = r;
      flushTrace();
      flushSerial();
      flushDebug();
      if (!saveDue && pc.cpu.instructions >= saveCount && pc.cpu.instructions < maxInstr) { saveDue = true; requestSave(); }
      if (saveReady()) { doSave(); end = { kind: "saved", file: saveAt!.file, bytes: saved!.bytes }; break; }
      if (stopReady()) { end = { kind: "stopped", why: events!.stopped!, replaying }; break; }
      if (rr?.diverged != null) break;
      if (r.kind === "debug") {
        gdb?.debugStop();
        await new Promise((r) => setImmediate(r));
        continue;
      }
      const overTime = Date.now() >= finalDeadline;
      if (recording) {
        // Ctrl-A x, a signal or --timeout: the recorded run ends at the stop event's guest time.
        const why = signal ?? (input.quit ? "quit" : overTime ? "timeout" : null);
        if (why !== null && !events!.stopping) { events!.post({ kind: "stop", why }, guestNs()); kick = true; }
        if (events!.stopping && (r.kind === "timeout" || r.kind === "idle")) continue;
      } else {
        if (signal !== null) { end = { kind: "signal", signal }; break; }
        if (input.quit) { end = { kind: "quit" }; break; }
      }
      if (r.kind === "idle") {
        // HLT with nothing scheduled: only host input can wake the guest.
        if (line.inputEnded && (line.buffered === 0 || !line.opened)) break;
        if (replaying) break;
        if (overTime) { end = { kind: "timeout", instructions: pc.cpu.instructions }; break; }
        await input.wait(Math.min(50, finalDeadline - Date.now()));
        continue;
      }
      if (r.kind !== "timeout" || overTime || pc.cpu.instructions >= maxInstr) break;
      if (heldForHost()) {
        // Scripted input: hold the guest at the next byte's due time until the host has it.
        await input.wait(Math.min(HOST_PATIENCE_MS, finalDeadline - Date.now()));
        if (heldForHost() && !stopRequested()) {
          if (events !== null) { events.post({ kind: "starve" }, guestNs()); kick = true; } else line.starve();
        }
        continue;
      }
      await new Promise((r) => setImmediate(r));
    }
  } catch (e) {
    throw monitorError(e);
  } finally {
    if (gdb !== null) {
      if (end! !== undefined && end.kind === "poweroff") gdb.exited(end.status);
      gdb.close();
    }
    for (const s of SIGNALS) process.off(s, onSignal);
    input.close();
    flushTrace();
    flushSerial();
    flushDebug();
    if (debugFd > 2) closeSync(debugFd);
  }
  // The guest state's hash at the end (snapshot-file.ts), once: for --stats and the log.
  let hashMemo: string | null | undefined;
  const finalHash = (): string | null => {
    if (hashMemo !== undefined) return hashMemo;
    const kept = saved !== null ? (saved as { state: GuestState }).state : end.kind === "stopped" && mon !== null ? mon.captured : null;
    // Under the monitor only where the vCPU holds the guest's state (the run ended at an exit,
    // or was saved); between exits it is the machine's.
    const atExit = end.kind === "poweroff" || end.kind === "halt" || end.kind === "triple-fault" || end.kind === "idle";
    hashMemo = kept !== null ? stateHash(kept) : mon === null ? stateHash(savePc(pc as Pc)) : atExit ? stateHash(mon.guestState()) : null;
    return hashMemo;
  };
  const status = finish(pc, mon, end, `${plan.describe}, --mode ${mode}${monitored ? ` --cpu ${String(cpuSpec)}` : ""}`, start,
    p.flags.has("stats"), typeof statsJson === "string" ? statsJson : null, finalHash);
  if (saveAt !== null && saved === null) {
    const event = saveAt.key ? "key (Ctrl-A s)" : saveAt.count ?? `serial:${saveAt.serial}`;
    writeAll(2, `vmm86: E_SNAPSHOT_NOT_TAKEN: the run ended before --save-at ${event} happened; no snapshot was written\n`);
    return ExitCode.SNAPSHOT;
  }
  if (rr !== null) {
    const kept = end.kind === "stopped" && mon !== null ? mon.captured : null;
    const counts = kept !== null ? { instructions: kept.cpu.instructions, cycles: kept.cpu.instructions + kept.cpu.idleCycles }
      : mon !== null ? { instructions: mon.guestInstructions, cycles: mon.guestCycles } : { instructions: pc.cpu.instructions, cycles: pc.cpu.cycles };
    const endText = end.kind === "poweroff" ? `poweroff ${end.status}` : end.kind === "stopped" ? `stopped ${end.why}` : end.kind;
    return rr.finish(endText, finalHash, counts, status);
  }
  return status;
}

/** --record LOG or --replay LOG: the recorder or replayer for this run, once the guest is loaded. */
function recordOrReplay(recordPath: string | true | undefined, replay: ReplayLog | null, replayPath: string | true | undefined, mon: Monitor | Assisted | null,
  pc: Pc | Monitor | Assisted, snap: Snapshot | null, restorePath: string, p: ReturnType<typeof parseArgs>): RecordReplay | null {
  if (recordPath === undefined && replay === null) return null;
  const run = {
    guestState: (): GuestState => mon !== null ? mon.guestState() : savePc(pc as Pc),
    counts: () => mon !== null ? { instructions: mon.guestInstructions, cycles: mon.guestCycles } : { instructions: pc.cpu.instructions, cycles: pc.cpu.cycles },
    requestCapture: () => { if (mon !== null) mon.requestCapture(); },
  };
  const snapshot = snap !== null ? { file: resolvePath(restorePath), state: snap.state } : null;
  if (replay !== null) return RecordReplay.replay(run, replay, String(replayPath), snapshot);
  return RecordReplay.record(run, { path: String(recordPath), vmm86: VERSION, args: recordedArgs(p), snapshot, terminal: process.stdin.isTTY === true });
}

/** The package version, recorded in snapshots. */
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string }).version;

/** `--save-at EVENT FILE`: an instruction count, `serial:STRING`, or `key` (Ctrl-A s). */
function saveAtOption(p: ReturnType<typeof parseArgs>): { count: number | null; serial: string | null; key: boolean; file: string } | null {
  const event = p.flags.get("save-at-event"), file = p.flags.get("save-at-file");
  if (typeof event !== "string" || typeof file !== "string") return null;
  if (event === "key") return { count: null, serial: null, key: true, file };
  if (event.startsWith("serial:")) {
    const text = event.slice("serial:".length);
    if (text === "") throw usageError("--save-at serial:STRING needs a non-empty STRING");
    return { count: null, serial: text, key: false, file };
  }
  if (!/^(0x[0-9a-f]+|[0-9]+)$/i.test(event) || !(Number(event) >= 1 && Number(event) <= Number.MAX_SAFE_INTEGER)) {
    throw usageError(`--save-at wants an instruction count, serial:STRING or key, got '${event}'`);
  }
  return { count: Number(event), serial: null, key: false, file };
}

/** Fail early, before the guest runs, if the snapshot cannot be written where asked. */
function checkSnapshotWritable(path: string): void {
  const probe = `${path}.tmp-${process.pid}`;
  try { closeSync(openSync(probe, "w")); unlinkSync(probe); }
  catch (e) { throw new UserError("E_SNAPSHOT_WRITE", ExitCode.SNAPSHOT, `cannot write snapshot '${path}': ${(e as NodeJS.ErrnoException).code ?? "error"}`); }
}

/** The processor a snapshot was saved on (its model, with its features as saved). */
function snapshotModel(snap: Snapshot): CpuModel {
  const base = findModel(snap.state.model.name);
  if (base === undefined) {
    throw new UserError("E_SNAPSHOT_INCOMPATIBLE", ExitCode.SNAPSHOT, `the snapshot's processor '${snap.state.model.name}' is not one this vmm86 models`);
  }
  return withFeatures(base, snap.state.model.features);
}

/** -m with --restore must agree with the snapshot (whose RAM it holds); returns MiB. */
function restoredRam(p: ReturnType<typeof parseArgs>, snap: Snapshot): number {
  const mib = snap.state.memory.ramBytes / (1024 * 1024);
  const asked = mibFlag(p, "m", 2, 3072);
  if (asked !== undefined && asked !== mib) {
    throw new UserError("E_SNAPSHOT_INCOMPATIBLE", ExitCode.SNAPSHOT, `the snapshot's guest has ${mib} MiB of RAM; -m ${asked} cannot change it (leave out -m)`);
  }
  return mib;
}

/** A restored run: the snapshot stands for the guest. */
function restorePlan(path: string, snap: Snapshot): GuestPlan {
  return {
    describe: `snapshot ${path} (${snap.meta.describe})`,
    inputAfter: snap.meta.inputAfter ?? undefined,
    load: () => {},
  };
}

/** What the monitor's own errors mean to the user. */
function monitorError(e: unknown): unknown {
  if (e instanceof ProtectUnsound) return new UserError("E_PROTECT_UNSOUND", ExitCode.UNSUPPORTED, e.message);
  if (e instanceof GuestUnsupported) return new UserError("E_MONITOR_UNSUPPORTED", ExitCode.UNSUPPORTED, `${e.message}; run it with --mode bare`);
  if (e instanceof MonitorPanic) return new UserError("E_INTERNAL", ExitCode.INTERNAL, `monitor: ${e.message}`);
  return e;
}

/** The signals that end a run, and their exit statuses (128 + the signal number). */
const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
const SIGNAL_EXIT: Record<string, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };
/** Host time per run slice: output latency and the granularity of host-side checks. */
const SLICE_MS = 20;
/** How long scripted input may keep the guest waiting for its next byte (host ms). */
const HOST_PATIENCE_MS = 250;

/** How a run ended: the machine's reason, a signal, Ctrl-A x on the terminal, or --save-at. */
type Ending = RunEnd | { kind: "signal"; signal: NodeJS.Signals } | { kind: "quit" } | { kind: "gdb-kill" } | { kind: "saved"; file: string; bytes: number }
  /** --record/--replay: the recorded run's stop (Ctrl-A x, a signal, --timeout) took effect at its guest time. */
  | { kind: "stopped"; why: string; replaying: boolean };

/** Fail early, before the guest runs, if the stats file cannot be written. */
function checkWritable(path: string): void {
  try { closeSync(openSync(path, "a")); }
  catch (e) { throw new UserError("E_STATS_FILE", ExitCode.USAGE, `cannot write --stats=json file '${path}': ${(e as NodeJS.ErrnoException).code ?? "error"}`); }
}

/** `--stats`: what the block compiler did (docs/jit.md). */
function jitLine(s: JitStats | null, instructions: number): string {
  if (s === null) return "stats: jit off\n";
  const share = instructions > 0 ? (100 * s.instructions / instructions).toFixed(1) : "0.0";
  const avg = s.compiled > 0 ? (s.compiledInstructions / s.compiled).toFixed(1) : "0";
  const wasmShare = instructions > 0 ? (100 * s.wasmInstructions / instructions).toFixed(1) : "0.0";
  return `stats: jit on: ${s.compiled} blocks compiled (${avg} instructions each), ${s.generated} generated as JavaScript (${s.lowered} instructions lowered), ` +
    `${s.wasm} compiled to WebAssembly (${s.wasmCovered} instructions; entered ${s.wasmRuns} times from JavaScript, ${s.wasmChained} times from another block; ${s.wasmRegions} loops as regions of ${s.wasmRegionMembers} blocks; ${s.wasmModules} modules, ${s.wasmModulesOffThread} of them compiled on a worker thread, ${s.wasmDroppedCompiling} blocks dropped while compiling), ${s.invalidated} invalidated, ` +
    `${s.evicted} evicted, ${s.chained} entered by a chain link, ${s.resumed} resumed inside one, ${s.compileMs.toFixed(1)} ms compiling; ${share} % of instructions ran compiled, ${wasmShare} % in WebAssembly\n`;
}

/** The one place a run ends: stats, the integrity check, the final line, the exit status. */
function finish(pc: Pc | Monitor | Assisted, mon: Monitor | Assisted | null, end: Ending, describe: string, start: number, stats: boolean, statsJson: string | null,
  finalHash: () => string | null): number {
  const cpu = pc.cpu;
  const secs = (Date.now() - start) / 1000;
  const where = mon !== null ? mon.guestWhere() : `at ${cpu.segs[1].selector.toString(16).padStart(4, "0")}:${(cpu.eip >>> 0).toString(16).padStart(8, "0")}`;
  const counters: Record<string, number> = mon !== null ? mon.stats() : {};
  const hash = stats || statsJson !== null ? finalHash() : null;
  if (stats) {
    const n = cpu.instructions;
    writeAll(2, `stats: guest ${describe}\n`);
    if (mon !== null) {
      const g = mon.guestCycles;
      writeAll(2, `stats: machine ${n} instructions in ${secs.toFixed(3)} s (${(n / secs / 1e6).toFixed(1)} MIPS); ` +
        `guest virtual time ${(g / 1e8).toFixed(3)} s\n`);
      writeAll(2, "stats: monitor counters\n" + formatCounters(counters));
    } else {
      writeAll(2, `stats: ${n} instructions in ${secs.toFixed(3)} s (${(n / secs / 1e6).toFixed(1)} MIPS), ` +
        `virtual time ${(cpu.cycles / 1e8).toFixed(3)} s (${cpu.idleCycles} cycles halted)\n`);
    }
    writeAll(2, `stats: guest ${mon !== null ? `${mon.guestInstructions} instructions, ${mon.guestCycles} cycles; ` : ""}` +
      `state hash ${hash !== null ? `sha256:${hash}` : "n/a (the run stopped the guest between monitor exits)"}\n`);
    writeAll(2, jitLine(cpu.jit?.stats ?? null, n));
  }
  let statsFailed = false;
  if (statsJson !== null) {
    const doc = {
      describe, end: end.kind, hostSeconds: secs, instructions: cpu.instructions, cycles: cpu.cycles,
      guestCycles: mon !== null ? mon.guestCycles : cpu.cycles,
      guestInstructions: mon !== null ? mon.guestInstructions : cpu.instructions, stateHash: hash, counters,
      jit: cpu.jit === null ? null : { ...cpu.jit.stats },
    };
    try { writeFileSync(statsJson, JSON.stringify(doc, null, 2) + "\n"); }
    catch (e) {
      writeAll(2, `vmm86: E_STATS_FILE: could not write --stats=json file '${statsJson}': ${(e as NodeJS.ErrnoException).code ?? "error"}\n`);
      statsFailed = true;
    }
  }
  if (mon?.divergence) writeAll(2, mon.divergence.report());
  if (mon !== null) {
    const integ = mon.integrity();
    if (!integ.monitorIntact || integ.guestRanAtCpl0) {
      writeAll(2, `vmm86: E_MONITOR_BREACH: resource control failed: ${integ.detail}\n`);
      return ExitCode.BREACH;
    }
  }
  const status = finalLine(pc, end, where, secs);
  return statsFailed && status === ExitCode.OK ? ExitCode.USAGE : status;
}

/** `#GP(0x0) at 0008:c0100123 (rdmsr), then #DF(0x0), then #GP(0x42)`: how a shutdown came about. */
function shutdownText(c: ShutdownCause): string {
  const at = `${c.cs.toString(16).padStart(4, "0")}:${c.eip.toString(16).padStart(8, "0")}`;
  const instr = c.instr !== null ? ` (${disassemble(c.instr, c.eip)})` : "";
  const [first, ...rest] = c.faults;
  return `first ${faultText(first)} at ${at}${instr}` + rest.map((f) => `, then ${faultText(f)}`).join("");
}

/** Print the run's last line on stderr and return the exit status it stands for. */
function finalLine(pc: Pc | Monitor | Assisted, end: Ending, where: string, secs: number): number {
  switch (end.kind) {
    case "poweroff":
      if (pc.resetRequested) {
        writeAll(2, "vmm86: the guest reset the machine; there is no firmware to reboot into, so the run ends\n");
        return ExitCode.OK;
      }
      writeAll(2, `vmm86: guest powered off with status ${end.status}\n`);
      return end.status & 0xff;
    case "halt":
      writeAll(2, `vmm86: E_HALT: guest halted with interrupts disabled ${where}\n`);
      return ExitCode.HALT;
    case "idle":
      writeAll(2, `vmm86: E_IDLE: the guest is idle waiting for input (HLT, no timer armed) and the input has ended ${where}\n`);
      return ExitCode.IDLE;
    case "triple-fault": {
      const cause = (pc instanceof Monitor || pc instanceof SvmMonitor || pc instanceof VtxMonitor ? pc.vcpu.shutdown : null) ?? pc.cpu.shutdown;
      writeAll(2, `vmm86: E_TRIPLE_FAULT: guest triple-faulted (processor shutdown) ${where}${cause !== null ? `: ${shutdownText(cause)}` : ""}\n`);
      return ExitCode.TRIPLE_FAULT;
    }
    case "timeout":
      writeAll(2, `vmm86: E_TIMEOUT: stopped after ${end.instructions} instructions (${secs.toFixed(1)} s) ${where}\n`);
      return ExitCode.TIMEOUT;
    case "signal":
      writeAll(2, `\nvmm86: E_SIGNAL: stopped by ${end.signal} after ${pc.cpu.instructions} instructions (${secs.toFixed(1)} s) ${where}\n`);
      return SIGNAL_EXIT[end.signal] ?? ExitCode.USAGE;
    case "gdb-kill":
      writeAll(2, `vmm86: gdb killed the guest after ${pc.cpu.instructions} instructions ${where}\n`);
      return ExitCode.OK;
    case "debug":
      writeAll(2, `vmm86: stopped by the debug probe with no debugger attached ${where}\n`);
      return ExitCode.INTERNAL;
    case "quit":
      writeAll(2, `\nvmm86: run ended from the terminal (Ctrl-A x) after ${pc.cpu.instructions} instructions ${where}\n`);
      return ExitCode.OK;
    case "stopped":
      if (end.replaying) {
        writeAll(2, `vmm86: the replay reached the point where the recorded run was stopped (${end.why}) after ${pc.cpu.instructions} instructions ${where}\n`);
        return ExitCode.OK;
      }
      if (end.why === "quit") return finalLine(pc, { kind: "quit" }, where, secs);
      if (end.why === "timeout") return finalLine(pc, { kind: "timeout", instructions: pc.cpu.instructions }, where, secs);
      return finalLine(pc, { kind: "signal", signal: end.why as NodeJS.Signals }, where, secs);
    case "saved":
      writeAll(2, `vmm86: snapshot written to ${end.file} (${end.bytes} bytes) after ${pc.cpu.instructions} instructions ${where}; ` +
        `continue it with \`vmm86 run --restore ${end.file}\`\n`);
      return ExitCode.OK;
  }
}
