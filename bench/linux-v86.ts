// bench:linux child: boots the Linux guest on v86 (its npm package, the wasm build with
// its JIT) with SeaBIOS, to the shell-ready line. v86 boots a bzImage the way a PC does:
// SeaBIOS runs, then the kernel's real-mode setup and its own decompressor, so its time
// and instruction count compare with vmm86's bzImage path. The clock starts when the
// emulator is constructed (wasm instantiation and BIOS included).

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import { V86 } from "v86";
import { childRequest, reply, SerialWatch, type BootRequest, type BootResult, type PhaseMark } from "./linux-common.js";

function buffer(path: string): { buffer: ArrayBuffer } {
  const b = readFileSync(path);
  return { buffer: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer };
}

function boot(req: BootRequest): Promise<BootResult> {
  if (req.bios === undefined) return Promise.resolve({ ok: false, reason: "no SeaBIOS image given" });
  const wasm = createRequire(import.meta.url).resolve("v86/build/v86.wasm");
  const images = {
    bios: buffer(req.bios),
    vga_bios: req.vgaBios !== undefined ? buffer(req.vgaBios) : undefined,
    bzimage: buffer(req.bzImage),
    initrd: buffer(req.initrd),
  };
  return new Promise((resolve) => {
    const t0 = performance.now();
    const emulator = new V86({
      wasm_path: wasm,
      ...images,
      cmdline: req.cmdline,
      memory_size: req.ramMiB * 1024 * 1024,
      autostart: true,
      disable_speaker: true,
      disable_keyboard: true,
      disable_mouse: true,
    });
    // v86's counter is 32 bits wide: sample it often and add up the differences.
    let total = 0, last = 0;
    const sample = (): void => {
      const now = emulator.get_instruction_counter();
      total += (now - last) >>> 0;
      last = now;
    };
    const sampler = setInterval(sample, 20);
    const phases: PhaseMark[] = [];
    const watch = new SerialWatch(() => { sample(); phases.push({ seconds: (performance.now() - t0) / 1000, instructions: total }); });
    const finish = (r: BootResult): void => {
      clearInterval(sampler);
      clearTimeout(timer);
      watch.save(req.log);
      resolve(r);
    };
    const timer = setTimeout(() => {
      sample();
      finish({ ok: false, reason: `timeout after ${req.timeoutS} s, ${total} instructions; last output: ${watch.lastLine()}` });
    }, req.timeoutS * 1000);
    emulator.add_listener("serial0-output-byte", (b) => {
      if (!watch.feed(b)) return;
      const seconds = (performance.now() - t0) / 1000;
      sample();
      finish({ ok: true, seconds, instructions: total, phases });
    });
  });
}

boot(childRequest()).then(reply, (err: unknown) => {
  reply({ ok: false, reason: `error: ${err instanceof Error ? err.message : String(err)}` });
});
