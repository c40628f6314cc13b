// The vmm86 command line: `vmm86 run …`, `vmm86 --help`.

import { readFileSync, openSync, closeSync } from "node:fs";
import { writeAll } from "./output.js";
import { ExitCode, UserError, usageError, imageError } from "./errors.js";
import { parseArgs, numberFlag, type FlagSpec } from "./args.js";
import { Machine } from "../hw/machine.js";
import { attachDebugPorts } from "../hw/pc/debug-ports.js";
import { installTracer } from "./trace.js";

export const HELP = `vmm86 — an x86 virtual machine monitor in TypeScript

Usage:
  vmm86 run --bios ROM [options]     run a ROM image from the reset vector
  vmm86 --help                       this text

Options for run:
  --bios ROM            64 or 128 KiB image, mapped at the top of the first MiB and
                        aliased below 4 GiB (F000:FFF0 is the first instruction)
  --post-port PORT      report each new value written to PORT as 'post: 0xNN' on stderr
  --debugcon FILE       bytes written to port 0xE9 go to FILE ('stdout' for the terminal)
  --cpu standard|strict the CPU variant: strict makes every sensitive instruction fault
                        with #GP at CPL > 0 (default: standard)
  -m MiB                guest RAM (default 16)
  --timeout S           stop after S seconds of host time (default 600)
  --max-instructions N  stop after N guest instructions
  --trace               print every executed instruction with registers on stderr
  --stats               print instruction count and time at exit

Exit status (each ending also prints one line on stderr saying what happened):
  0  the guest powered off (isa-debug-exit port 0xF4 writes V: status (V << 1) | 1)
  2  E_USAGE        bad command line
  3  E_HALT         the guest halted with interrupts disabled
  4  E_TIMEOUT      --timeout or --max-instructions reached
  5  E_TRIPLE_FAULT the guest triple-faulted (processor shutdown)
  6  E_IMAGE        an image is missing or malformed
 70  E_INTERNAL     a bug in vmm86

Example:
  npx vmm86 run --bios ../shared/conformance/test386/test386.bin --post-port 0x190 --debugcon stdout
`;

const RUN_FLAGS: Record<string, FlagSpec> = {
  bios: { value: true },
  "post-port": { value: true },
  debugcon: { value: true },
  cpu: { value: true },
  m: { value: true, aliases: ["-m"] },
  timeout: { value: true },
  "max-instructions": { value: true },
  trace: { value: false },
  stats: { value: false },
  help: { value: false, aliases: ["-h"] },
};

export async function main(argv: string[]): Promise<number> {
  try {
    if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
      process.stdout.write(HELP);
      return argv.length === 0 ? ExitCode.USAGE : ExitCode.OK;
    }
    const [command, ...rest] = argv;
    switch (command) {
      case "run": return runCommand(rest);
      default: throw usageError(`unknown command '${command}'`);
    }
  } catch (e) {
    if (e instanceof UserError) {
      process.stderr.write(`vmm86: ${e.code}: ${e.message}\n`);
      return e.exitCode;
    }
    const msg = e instanceof Error ? e.stack ?? e.message : String(e);
    process.stderr.write(`vmm86: E_INTERNAL: unexpected error (a bug in vmm86): ${msg}\n`);
    return ExitCode.INTERNAL;
  }
}

function runCommand(argv: string[]): number {
  const p = parseArgs(argv, RUN_FLAGS);
  if (p.flags.has("help")) { process.stdout.write(HELP); return ExitCode.OK; }
  if (p.positional.length > 0) throw usageError(`unexpected argument '${p.positional[0]}'`);
  const bios = p.flags.get("bios");
  if (typeof bios !== "string") throw usageError("run needs --bios ROM");
  const cpuVariant = p.flags.get("cpu") ?? "standard";
  if (cpuVariant !== "standard" && cpuVariant !== "strict") throw usageError(`--cpu must be 'standard' or 'strict'`);
  const ramMiB = numberFlag(p, "m", 1, 3072) ?? 16;
  const timeoutS = numberFlag(p, "timeout", 0.001, 1e7) ?? 600;
  const maxInstr = numberFlag(p, "max-instructions", 1, Number.MAX_SAFE_INTEGER) ?? Infinity;
  const postPort = numberFlag(p, "post-port", 0, 0xffff) ?? null;

  let rom: Uint8Array;
  try {
    rom = readFileSync(bios);
  } catch {
    throw imageError(`cannot read BIOS image '${bios}'`);
  }
  if (rom.length !== 0x10000 && rom.length !== 0x20000) {
    throw imageError(`BIOS image '${bios}' is ${rom.length} bytes; it must be 64 KiB or 128 KiB`);
  }

  const machine = new Machine({ ramBytes: Math.floor(ramMiB) * 1024 * 1024, variant: cpuVariant });
  let debugFd = -1;
  const debugcon = p.flags.get("debugcon");
  const debugBuf: number[] = [];
  const flushDebug = (): void => {
    if (debugBuf.length === 0) return;
    const b = Buffer.from(debugBuf);
    debugBuf.length = 0;
    if (debugFd >= 0) writeAll(debugFd, b);
  };
  if (typeof debugcon === "string") {
    try {
      debugFd = debugcon === "stdout" ? 1 : openSync(debugcon, "w");
    } catch {
      throw usageError(`cannot open --debugcon file '${debugcon}'`);
    }
  }
  attachDebugPorts(machine.io, {
    debugconByte: (b) => { if (debugFd >= 0) { debugBuf.push(b); if (debugBuf.length >= 4096) flushDebug(); } },
    post: (v) => { flushDebug(); process.stderr.write(`post: 0x${v.toString(16).padStart(2, "0")}\n`); },
    exit: (status) => machine.powerOff(status),
  }, postPort);
  machine.loadBios(rom);

  const traceLines: string[] = [];
  const flushTrace = (): void => {
    if (traceLines.length) { writeAll(2, traceLines.join("\n") + "\n"); traceLines.length = 0; }
  };
  if (p.flags.has("trace")) installTracer(machine.cpu, (l) => { traceLines.push(l); if (traceLines.length >= 1024) flushTrace(); });

  const start = Date.now();
  const end = machine.run(start + timeoutS * 1000, maxInstr, p.flags.has("trace") ? 4096 : 1 << 20);
  flushTrace();
  flushDebug();
  if (debugFd > 2) closeSync(debugFd);
  const secs = (Date.now() - start) / 1000;
  const where = `at ${machine.cpu.segs[1].selector.toString(16).padStart(4, "0")}:${(machine.cpu.eip >>> 0).toString(16).padStart(8, "0")}`;
  if (p.flags.has("stats")) {
    const n = machine.cpu.instructions;
    process.stderr.write(`stats: ${n} instructions in ${secs.toFixed(3)} s (${(n / secs / 1e6).toFixed(1)} MIPS)\n`);
  }
  switch (end.kind) {
    case "poweroff":
      process.stderr.write(`vmm86: guest powered off with status ${end.status}\n`);
      return end.status === 0 ? ExitCode.OK : end.status & 0xff;
    case "halt":
      process.stderr.write(`vmm86: E_HALT: guest halted with interrupts disabled ${where}\n`);
      return ExitCode.HALT;
    case "triple-fault":
      process.stderr.write(`vmm86: E_TRIPLE_FAULT: guest triple-faulted (processor shutdown) ${where}\n`);
      return ExitCode.TRIPLE_FAULT;
    case "timeout":
      process.stderr.write(`vmm86: E_TIMEOUT: stopped after ${end.instructions} instructions (${secs.toFixed(1)} s) ${where}\n`);
      return ExitCode.TIMEOUT;
  }
}
