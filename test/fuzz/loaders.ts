// The loader fuzzer: random bytes and mutated real images (the demo's multiboot ELF, a
// multiboot a.out kernel, a ROM, a bzImage header, an x86-64 bzImage header for the 64-bit
// protocol, an initrd) through the loaders and a short run on the PC. Every outcome must be one the CLI documents: a BootError (E_IMAGE)
// or a run ending (power-off, halt, triple fault, timeout, idle); never a host exception.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../support/paths.js";
import { Rng } from "./rng.js";
import { Pc } from "../../src/hw/pc/pc.js";
import { applyEntryState, ramWriter } from "../../src/hw/pc/boot-entry.js";
import { BootError, loadLinux, loadLinux64, loadMultiboot, pcE820Map } from "../../src/boot/index.js";
import { parseCpuSpec } from "../../src/hw/cpu/models.js";

const RAM = 16 << 20;

function seedImages(): { name: string; bytes: Uint8Array }[] {
  const demo = new Uint8Array(readFileSync(join(REPO_ROOT, "guests", "demo", "demo.elf")));
  const aout = new Uint8Array(0x60);
  const dv = new DataView(aout.buffer);
  [0x1badb002, 0x00010000, (-(0x1badb002 + 0x00010000)) >>> 0, 0x100000, 0x100000, 0, 0, 0x100020].forEach((v, k) => dv.setUint32(k * 4, v, true));
  const rom = new Uint8Array(0x10000).fill(0x90);
  rom.set([0xea, 0, 0, 0, 0xf0], 0xfff0);
  // A bzImage header (boot protocol 2.15) with a tiny XZ-less payload.
  const bz = new Uint8Array(0x1000);
  const bv = new DataView(bz.buffer);
  bz[0x1f1] = 1; bv.setUint16(0x1fe, 0xaa55, true); bz.set([0x48, 0x64, 0x72, 0x53], 0x202);
  bv.setUint16(0x206, 0x20f, true); bz[0x211] = 1; bv.setUint32(0x248, 0x100, true); bv.setUint32(0x24c, 0x200, true);
  // The same with XLF_KERNEL_64, relocatable, pref_address 4 MiB, kernel_alignment 2 MiB,
  // init_size 1 MiB, cmdline_size 2047, and code at the 64-bit entry (+0x200): xor eax, eax; hlt.
  const bz64 = bz.slice();
  const b6 = new DataView(bz64.buffer);
  b6.setUint16(0x236, 1, true); bz64[0x234] = 1; b6.setUint32(0x230, 0x200000, true);
  b6.setUint32(0x258, 0x400000, true); b6.setUint32(0x260, 0x100000, true); b6.setUint32(0x22c, 0x7fffffff, true);
  b6.setUint32(0x238, 0x7ff, true); // cmdline_size
  bz64.set([0x31, 0xc0, 0xf4], 0x400 + 0x200);
  return [{ name: "demo.elf", bytes: demo }, { name: "aout", bytes: aout }, { name: "rom", bytes: rom }, { name: "bzimage", bytes: bz },
    { name: "bzimage64", bytes: bz64 }];
}

function mutate(rng: Rng, img: Uint8Array): Uint8Array {
  const out = img.slice();
  const n = 1 + rng.int(16);
  for (let k = 0; k < n; k++) {
    // Mostly the headers, where loaders make their decisions.
    const at = rng.int(4) === 0 ? rng.int(out.length) : rng.int(Math.min(out.length, 0x400));
    out[at] = rng.next() & 0xff;
  }
  return rng.int(8) === 0 ? out.subarray(0, rng.int(out.length + 1)) : out;
}

export interface LoaderFinding { seed: number; kind: string; error: string }

/** Load and briefly run one image as `kind`; returns a finding's text, or null if the outcome is documented. */
function tryImage(kind: string, img: Uint8Array, initrd: Uint8Array | undefined): string | null {
  const pc = new Pc({ ramBytes: RAM, acpi: kind !== "rom", model: parseCpuSpec(kind === "linux64" ? "athlon64-revc" : "pentium2") });
  try {
    if (kind === "rom") {
      if (img.length !== 0x10000 && img.length !== 0x20000) return null; // E_IMAGE in the CLI
      pc.machine.loadBios(img);
    } else {
      const e820 = pcE820Map(RAM);
      const w = ramWriter(pc.machine);
      const entry = kind === "linux"
        ? loadLinux(w, img, { cmdline: "console=ttyS0", e820, initrd, direct: initrd !== undefined })
        : kind === "linux64"
          ? loadLinux64(w, img, { cmdline: "console=ttyS0", e820, initrd, entry: initrd !== undefined ? "direct" : "bzimage64" })
          : loadMultiboot(w, img, { cmdline: "fuzz", modules: initrd ? [{ data: initrd, cmdline: "m" }] : [], e820 });
      applyEntryState(pc.machine, entry);
    }
  } catch (e) {
    return e instanceof BootError ? null : `load: ${(e as Error).stack ?? String(e)}`;
  }
  try {
    pc.run({ deadline: Date.now() + 5000, maxInstructions: 50_000 });
    return null;
  } catch (e) {
    return `run: ${(e as Error).stack ?? String(e)}`;
  }
}

export function fuzzLoaders(seed: number, count: number): LoaderFinding[] {
  const seeds = seedImages();
  const found: LoaderFinding[] = [];
  for (let k = 0; k < count; k++) {
    const s = (seed + k) >>> 0;
    const rng = new Rng(s);
    const base = rng.pick(seeds);
    const img = rng.int(5) === 0 ? rng.bytes(rng.int(0x3000)) : mutate(rng, base.bytes);
    const kind = base.name === "rom" ? "rom" : base.name === "bzimage" ? "linux" : base.name === "bzimage64" ? "linux64" : "multiboot";
    const initrd = rng.int(3) === 0 ? rng.bytes(rng.int(0x2000)) : undefined;
    const err = tryImage(kind, img, initrd);
    if (err !== null) found.push({ seed: s, kind: `${kind} (from ${base.name})`, error: err.slice(0, 600) });
  }
  return found;
}
