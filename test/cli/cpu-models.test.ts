// --cpu MODEL[,+FEATURE][,-FEATURE] and `vmm86 cpus` as a user meets them: the table, the
// errors that list the valid names, the guest seeing the model's CPUID, and a 64-bit kernel
// refused on a model without long mode.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../support/paths.js";
import { CPU_MODELS, FEATURE_NAMES, NOT_YET_MODELLED, featureList } from "../../src/hw/cpu/models.js";

const BIN = join(REPO_ROOT, "bin", "vmm86.js");

function vmm86(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempFile(name: string, data: Uint8Array): string {
  const p = join(mkdtempSync(join(tmpdir(), "vmm86-cpu-")), name);
  writeFileSync(p, data);
  return p;
}

/** Real-mode code: print EAX's four bytes to debugcon (port E9h), lowest first. */
function printEax(): number[] {
  const out: number[] = [];
  for (let k = 0; k < 4; k++) out.push(0xe6, 0xe9, 0x66, 0xc1, 0xe8, 0x08); // out 0xe9,al; shr eax,8
  return out;
}

/**
 * A 64 KiB ROM that runs CPUID leaf `leaf` and prints EBX, EDX, ECX (leaf 0: the vendor
 * string) to debugcon, then powers off through isa-debug-exit (status 1).
 */
function cpuidRom(leaf: number): string {
  const code = [
    0x66, 0xb8, leaf & 0xff, (leaf >> 8) & 0xff, (leaf >> 16) & 0xff, leaf >>> 24, // mov eax, leaf
    0x0f, 0xa2,                                                                    // cpuid
    0x66, 0x89, 0xd8, ...printEax(),                                               // EBX
    0x66, 0x89, 0xd0, ...printEax(),                                               // EDX
    0x66, 0x89, 0xc8, ...printEax(),                                               // ECX
    0xb0, 0x00, 0xe6, 0xf4,                                                        // exit(0)
  ];
  const img = new Uint8Array(0x10000).fill(0xf4);
  img.set(code, 0);
  img.set([0xea, 0x00, 0x00, 0x00, 0xf0], 0xfff0); // jmp f000:0000
  return tempFile("cpuid.bin", img);
}

test("vmm86 cpus: one row per model with vendor, signature and features; the real part under it", () => {
  const r = vmm86("cpus");
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.split("\n");
  assert.match(lines[0], /^MODEL\s+VENDOR\s+SIGNATURE\s+FEATURES$/);
  for (const m of CPU_MODELS) {
    const k = lines.findIndex((l) => l.startsWith(m.name + " "));
    assert.ok(k > 0, `${m.name} has a row`);
    const row = lines[k].split(/\s{2,}/);
    assert.equal(row[1], m.vendor === "intel" ? "Intel" : "AMD");
    // Features the machine does not model yet carry a '*' (CPUID reports them clear).
    assert.deepEqual(row[3].split(" "), featureList(m.features).map((f) => (NOT_YET_MODELLED.has(f) ? f + "*" : f)), `${m.name} features`);
    assert.equal(lines[k + 1].trim(), m.stands_for);
  }
  assert.match(r.stdout, /core2 +Intel +06_0Fh s6 /);
  assert.match(r.stdout, /zen3 +AMD +19_21h s0 /);
  assert.match(r.stdout, /athlon64-reve +AMD +0F_2Fh s0 /);
  assert.match(r.stdout, /Short forms: standard = pentium2, strict = pentium2,\+strict/);
  assert.doesNotMatch(r.stdout, /\w\*/, "every feature of every model is modelled: none marked");
  assert.match(r.stdout, /pentium3 .* mmx fxsr sse apic\n/);
  assert.match(r.stdout, /core2 .* sse3 ssse3 apic/);
  for (const n of FEATURE_NAMES) assert.ok(r.stdout.includes(n));
  assert.equal(vmm86("cpus", "--help").status, 0);
  assert.equal(vmm86("cpus", "extra").status, 2);
  assert.match(vmm86("--help").stdout, /vmm86 cpus/);
});

test("--cpu: an unknown model or feature is E_USAGE naming the valid ones, for run and classify", () => {
  const rom = cpuidRom(0);
  for (const [args, re] of [
    [["run", "--bios", rom, "--cpu", "pentium4"], new RegExp(`E_USAGE: --cpu: unknown CPU model 'pentium4' \\(models: ${CPU_MODELS.map((m) => m.name).join(", ")}; short forms: standard, strict\\)`)],
    [["run", "--bios", rom, "--cpu", "core2,+avx"], /E_USAGE: --cpu: unknown CPU feature '\+avx' \(features: mmx, fxsr, .*strict\)/],
    [["run", "--bios", rom, "--cpu"], /E_USAGE: option --cpu needs a value/],
    [["classify", "--cpu", "486"], /E_USAGE: --cpu: unknown CPU model '486'/],
    [["classify", "--cpu", "pentium2,-nosuch"], /E_USAGE: --cpu: unknown CPU feature '-nosuch'/],
  ] as [string[], RegExp][]) {
    const r = vmm86(...args);
    assert.equal(r.status, 2, args.join(" "));
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  }
});

test("--cpu MODEL: the guest's CPUID is the model's; the short forms still work", () => {
  const vendor = cpuidRom(0);
  for (const [cpu, want] of [
    [undefined, "GenuineIntel"], ["standard", "GenuineIntel"], ["strict", "GenuineIntel"], ["core2", "GenuineIntel"],
    ["athlon64-revc", "AuthenticAMD"], ["zen3,-sse3,+strict", "AuthenticAMD"],
  ] as [string | undefined, string][]) {
    const r = vmm86("run", "--bios", vendor, "--debugcon", "stdout", ...(cpu === undefined ? [] : ["--cpu", cpu]));
    assert.equal(r.status, 1, `${cpu}: ${r.stderr}`);
    assert.equal(r.stdout, want, `--cpu ${cpu}`);
  }
  // Leaf 8000_0002h: the first 12 bytes of the brand string (EBX EDX ECX of 16).
  const brand = vmm86("run", "--bios", cpuidRom(0x8000_0002), "--debugcon", "stdout", "--cpu", "athlon64-revc");
  assert.equal(brand.stdout, "Athlm) 6on(t");
});

/** A minimal bzImage setup header: protocol 2.12+, with or without XLF_KERNEL_64. */
function bzImage(kernel64: boolean): Uint8Array {
  const img = new Uint8Array(0x4000);
  const v = new DataView(img.buffer);
  img[0x1f1] = 4;                          // setup_sects
  v.setUint16(0x1fe, 0xaa55, true);        // boot_flag
  v.setUint32(0x202, 0x53726448, true);    // "HdrS"
  v.setUint16(0x206, 0x020f, true);        // protocol 2.15
  img[0x211] = 1;                          // LOADED_HIGH
  v.setUint16(0x236, kernel64 ? 0x3 : 0, true); // xloadflags
  return img;
}

/** The first bytes of an ELF64 x86-64 executable. */
function elf64(): Uint8Array {
  const img = new Uint8Array(0x2000);
  img.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  img[16] = 2; img[18] = 62;               // ET_EXEC, EM_X86_64
  return img;
}

test("a 64-bit kernel on a model without long mode is refused before it runs, naming --cpu athlon64-revc", () => {
  for (const [file, why] of [[tempFile("bzImage64", bzImage(true)), /XLF_KERNEL_64/], [tempFile("kernel64.elf", elf64()), /ELF64 x86-64/]] as [string, RegExp][]) {
    for (const cpu of [[], ["--cpu", "core-duo"], ["--cpu", "core2,-lm"], ["--entry", "bzimage"]]) {
      if (cpu[0] === "--entry" && !file.includes("bzImage")) continue;
      const r = vmm86("run", "--kernel", file, ...cpu);
      assert.equal(r.status, 6, `${cpu.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^vmm86: E_NO_LONG_MODE: .* is a 64-bit \(x86-64\) kernel/m);
      assert.match(r.stderr, why);
      assert.match(r.stderr, new RegExp(`has no long mode \\(lm\\): run it with --cpu athlon64-revc \\(models with lm: ${CPU_MODELS.filter((m) => m.features.lm).map((m) => m.name).join(", ")}\\)`));
    }
    // With long mode the check passes; what happens next is the loader's business.
    assert.doesNotMatch(vmm86("run", "--kernel", file, "--cpu", "core2", "--timeout", "1").stderr, /E_NO_LONG_MODE/);
  }
  // A 32-bit bzImage is not refused on pentium2.
  assert.doesNotMatch(vmm86("run", "--kernel", tempFile("bzImage32", bzImage(false)), "--timeout", "1").stderr, /E_NO_LONG_MODE/);
});
