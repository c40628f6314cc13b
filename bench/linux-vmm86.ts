// bench:linux child: boots the Linux guest on vmm86's PC (bare machine) to the shell-ready
// line, the way `vmm86 run linux` does, and reports host time and guest instructions.
// The clock starts before the images are read, so the loader's work is part of the time. For
// direct entry that is reading the unpacked kernel through vmm86's cache, as every `vmm86 run
// linux` after an image's first does (the parent fills the cache before the first boot).

import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { Pc } from "../src/hw/pc/pc.js";
import { applyEntryState, ramWriter } from "../src/hw/pc/boot-entry.js";
import { loadLinux, pcE820Map } from "../src/boot/index.js";
import { cachedUnpacker } from "../src/cli/unpack-cache.js";
import { workerCompiler } from "../src/cli/wasm-compiler.js";
import { childRequest, reply, SerialWatch, type BootResult, type PhaseMark } from "./linux-common.js";

function boot(): BootResult {
  const req = childRequest();
  const t0 = performance.now();
  const ramBytes = req.ramMiB * 1024 * 1024;
  const phases: PhaseMark[] = [];
  const watch = new SerialWatch(() => phases.push({ seconds: (performance.now() - t0) / 1000, instructions: pc.cpu.instructions }));
  let readyAt = 0, readyInstructions = 0;
  const pc = new Pc({
    ramBytes,
    acpi: true,
    // As `vmm86 run` does (--jit-thread on).
    jit: { compiler: workerCompiler() },
    serialOut: (b) => {
      if (watch.feed(b)) { readyAt = performance.now(); readyInstructions = pc.cpu.instructions; }
    },
  });
  const kernel = readFileSync(req.bzImage);
  const initrd = readFileSync(req.initrd);
  const entry = loadLinux(ramWriter(pc.machine), kernel, {
    initrd, cmdline: req.cmdline, e820: pcE820Map(ramBytes), direct: req.entry !== "bzimage", unpack: cachedUnpacker(),
  });
  applyEntryState(pc.machine, entry);
  const loadSeconds = (performance.now() - t0) / 1000;

  const finalDeadline = Date.now() + req.timeoutS * 1000;
  try {
    // Short slices: the ready time is taken in the serial callback, the slice only bounds
    // how long the loop runs on after it.
    while (!watch.ready) {
      const end = pc.run({ deadline: Math.min(finalDeadline, Date.now() + 25) });
      if (watch.ready) break;
      if (end.kind !== "timeout") {
        return { ok: false, reason: `guest stopped (${end.kind}) before the shell; last output: ${watch.lastLine()}` };
      }
      if (Date.now() >= finalDeadline) {
        return { ok: false, reason: `timeout after ${req.timeoutS} s, ${pc.cpu.instructions} instructions; last output: ${watch.lastLine()}` };
      }
    }
  } finally {
    watch.save(req.log);
  }
  return {
    ok: true,
    seconds: (readyAt - t0) / 1000,
    instructions: readyInstructions,
    phases,
    note: `loader ${loadSeconds.toFixed(2)} s`,
  };
}

let result: BootResult;
try {
  result = boot();
} catch (err) {
  result = { ok: false, reason: `error: ${err instanceof Error ? err.message : String(err)}` };
}
reply(result);
