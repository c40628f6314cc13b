// Debian's amd64 kernel on vmm86: `vmm86 fetch linux64` builds its own cache beside the i386
// guest's, the 64-bit boot protocol enters the unpacked kernel in 64-bit mode, and the real
// kernel reads what the loader gave it (it prints the E820 map, the command line and the
// initrd's place from boot_params); a model without long mode is refused before the run.
// Needs the amd64 guest: `npx vmm86 fetch linux64` (the test fetches it if missing, as the
// i386 Linux tests do).
//
// The shell session is test/linux/linux64-shell.test.ts.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { gunzipSync } from "node:zlib";
import { REPO_ROOT } from "../support/paths.js";
import {
  LINUX64_CMDLINE, LINUX_AMD64, LINUX_I386, cachedLinux, defaultCacheDir, fetchLinux, isElfFor, type LinuxImage,
} from "../../src/guests/fetch-linux.js";
import { BootError, loadLinux64, parseSetupHeader, pcE820Map, x86_64Kernel } from "../../src/boot/index.js";
import { Pc } from "../../src/hw/pc/pc.js";
import { applyEntryState, ramWriter } from "../../src/hw/pc/boot-entry.js";
import { CR0_PE, CR0_PG, CR4_PAE, EFER_LMA, EFER_LME, Reg } from "../../src/hw/cpu/cpu.js";
import { SegReg } from "../../src/hw/cpu/segment.js";
import { parseCpuSpec } from "../../src/hw/cpu/models.js";

const BIN = join(REPO_ROOT, "bin", "vmm86.js");
const hasCpio = spawnSync("cpio", ["--version"]).status === 0;

async function guest64(): Promise<LinuxImage> {
  return cachedLinux(undefined, LINUX_AMD64) ?? (await fetchLinux({ guest: LINUX_AMD64, log: () => {} }));
}

function vmm86(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 300_000, input: "" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("fetch linux64: an x86-64 bzImage and an initramfs around amd64 busybox, in a cache of its own", { timeout: 900_000 }, async () => {
  const g = await guest64();
  assert.match(g.release, /-amd64$/);
  assert.equal(g.cmdline, LINUX64_CMDLINE);
  assert.equal(dirname(g.bzImage), defaultCacheDir(LINUX_AMD64));
  assert.equal(basename(defaultCacheDir(LINUX_AMD64)), "linux64");
  assert.notEqual(defaultCacheDir(LINUX_AMD64), defaultCacheDir(LINUX_I386), "both guests can be cached side by side");
  // The amd64 cache is not taken for the i386 guest (the manifest records the architecture).
  assert.equal(cachedLinux(defaultCacheDir(LINUX_AMD64), LINUX_I386), null);
  const manifest = JSON.parse(readFileSync(join(dirname(g.bzImage), "manifest.json"), "utf8")) as { arch: string; kernel: { package: string } };
  assert.equal(manifest.arch, "amd64");
  assert.match(manifest.kernel.package, /^linux-image-\d.*-amd64$/);

  const img = new Uint8Array(readFileSync(g.bzImage));
  assert.equal(x86_64Kernel(img), "a bzImage whose xloadflags has XLF_KERNEL_64");
  const h = parseSetupHeader(img);
  assert.ok(h.relocatable && h.prefAddress === 0x1000000 && h.kernelAlignment === 0x200000, JSON.stringify(h));

  if (hasCpio) {
    const dir = mkdtempSync(join(tmpdir(), "vmm86-l64-"));
    try {
      const r = spawnSync("cpio", ["-i", "-d", "--quiet", "bin/busybox", "init"], { cwd: dir, input: gunzipSync(readFileSync(g.initramfs)) });
      assert.equal(r.status, 0, r.stderr.toString());
      assert.ok(isElfFor(readFileSync(join(dir, "bin", "busybox")), LINUX_AMD64), "bin/busybox is an x86-64 ELF");
      assert.match(readFileSync(join(dir, "init"), "utf8"), /^#!\/bin\/sh\n/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  // The CLI reports it without the network.
  const check = vmm86("fetch", "linux64", "--check");
  assert.equal(check.status, 0, check.stderr);
  assert.equal(check.stdout, `linux64 ${g.release}: ${g.bzImage} ${g.initramfs}\n`);
});

test("direct 64-bit entry on athlon64-revc: the CPU in 64-bit mode at startup_64, and the kernel reads boot_params", { timeout: 900_000 }, async () => {
  const g = await guest64();
  const ram = 128 << 20;
  let out = "";
  const pc = new Pc({ ramBytes: ram, acpi: true, model: parseCpuSpec("athlon64-revc"), serialOut: (b) => { out += String.fromCharCode(b); } });
  const t = pc.bootTarget;
  const entry = loadLinux64(ramWriter(t), readFileSync(g.bzImage), {
    cmdline: g.cmdline, e820: pcE820Map(ram), initrd: readFileSync(g.initramfs), entry: "direct",
  });
  applyEntryState(t, entry);
  const c = pc.cpu;
  // boot.rst "64-bit BOOT PROTOCOL": long mode on, paging on the loader's tables, CS a 64-bit
  // code segment (__BOOT_CS 0x10), DS/ES/SS __BOOT_DS (0x18), interrupts off, RSI = boot_params.
  assert.ok(c.lma);
  assert.equal(c.efer & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA);
  assert.equal(c.cr0 & (CR0_PE | CR0_PG), CR0_PE | CR0_PG);
  assert.equal(c.cr4 & CR4_PAE, CR4_PAE);
  assert.equal(c.cr3, entry.cr3);
  assert.equal(c.segs[SegReg.CS].selector, 0x10);
  assert.ok(c.segs[SegReg.CS].l && !c.segs[SegReg.CS].big, "CS.L = 1, CS.D = 0");
  for (const s of [SegReg.DS, SegReg.ES, SegReg.SS]) assert.equal(c.segs[s].selector, 0x18);
  assert.equal(c.getEflags() & 0x200, 0, "IF = 0");
  assert.equal(c.regs[Reg.ESI], 0x10000);
  assert.equal(c.regsHi[Reg.ESI], 0);
  assert.equal(c.eip, 0x1000000, "phys_startup_64 of Debian's kernel (LOAD_PHYSICAL_ADDR)");

  // Run until the kernel has printed the initrd's place (earlyprintk, before its serial
  // driver): it found the boot_params the loader built, in 64-bit mode.
  const want = "RAMDISK: [mem ";
  while (!out.includes(want) && c.instructions < 200e6) {
    const r = pc.run({ deadline: Date.now() + 60_000, maxInstructions: c.instructions + 2e6 });
    if (r.kind !== "timeout") assert.fail(`the guest stopped (${r.kind}) before printing '${want}':\n${out}`);
  }
  assert.match(out, new RegExp(`Linux version ${g.release.replace(/\./g, "\\.")} `));
  assert.match(out, new RegExp(`Command line: ${LINUX64_CMDLINE}\\r?\\n`));
  assert.match(out, /BIOS-e820: \[mem 0x0000000000000000-0x000000000009fbff\] usable/);
  assert.match(out, /BIOS-e820: \[mem 0x0000000000100000-0x0000000007ffffff\] usable/);
  const rd = /RAMDISK: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\]/.exec(out);
  assert.ok(rd !== null, out);
  const initrdSize = readFileSync(g.initramfs).length;
  assert.equal(parseInt(rd[1], 16), Math.floor((ram - initrdSize) / 4096) * 4096, "the initrd where the loader put it");
});

test("a 64-bit entry state on a model without long mode is E_NO_LONG_MODE, not a half-made machine", async () => {
  const g = await guest64();
  const pc = new Pc({ ramBytes: 128 << 20, acpi: true, model: parseCpuSpec("pentium2") });
  const entry = loadLinux64(ramWriter(pc.bootTarget), readFileSync(g.bzImage), { cmdline: "", e820: pcE820Map(128 << 20), entry: "bzimage64" });
  assert.throws(() => applyEntryState(pc.bootTarget, entry), (e: unknown) => e instanceof BootError && e.code === "E_NO_LONG_MODE");
  assert.ok(!pc.cpu.lma);
});

test("run linux64 on a model without long mode is refused before it runs, naming the flag that works", async () => {
  await guest64();
  for (const cpu of ["pentium2", "core-duo", "athlon64-revc,-lm"]) {
    const r = vmm86("run", "linux64", "--cpu", cpu);
    assert.equal(r.status, 6, r.stderr);
    assert.equal(r.stdout, "", "nothing ran");
    assert.match(r.stderr, /^vmm86: E_NO_LONG_MODE: Linux .*linux64\/bzImage .* is a 64-bit \(x86-64\) kernel \(a bzImage whose xloadflags has XLF_KERNEL_64\)/m);
    assert.match(r.stderr, /has no long mode \(lm\): run it with --cpu athlon64-revc/);
  }
  for (const entry of ["bzimage", "bzimage64"]) {
    assert.equal(vmm86("run", "linux64", "--cpu", "pentium2", "--entry", entry).status, 6);
  }
  // Under bt the default --protect segments cannot protect the monitor on athlon64-revc (no
  // EFER.LMSLE): refused before the guest runs. --mode trap runs 32-bit guests only: the
  // long-mode monitor translates 64-bit kernel code (docs/long-mode-monitor.md).
  const bt = vmm86("run", "linux64", "--mode", "bt");
  assert.equal(bt.status, 14, bt.stderr);
  assert.match(bt.stderr, /E_PROTECT_UNSOUND: --protect segments cannot protect the monitor from a 64-bit guest on athlon64-revc/);
  const trap = vmm86("run", "linux64", "--mode", "trap");
  assert.equal(trap.status, 14, trap.stderr);
  assert.match(trap.stderr, /E_MONITOR_UNSUPPORTED: the guest is in long mode \(EFER\.LMA\) at guest 0010:01000000; --mode trap runs 32-bit guests only: 64-bit guest kernel code runs translated \(--mode bt/);
  // --entry bzimage64 is for x86-64 kernels; linux64 takes no --initrd.
  assert.match(vmm86("run", "--kernel", join(REPO_ROOT, "guests", "demo", "demo.elf"), "--entry", "bzimage64").stderr, /E_USAGE/);
  assert.match(vmm86("run", "linux64", "--initrd", "x").stderr, /E_USAGE: --initrd does not apply to linux64/);
});

test("run linux64 (default --cpu athlon64-revc): the kernel boots in 64-bit mode and prints over ttyS0", { timeout: 900_000 }, async () => {
  await guest64();
  const r = vmm86("run", "linux64", "--max-instructions", "30000000", "--stats");
  assert.equal(r.status, 4, r.stderr);
  assert.match(r.stdout, /Linux version \S+-amd64 /);
  assert.match(r.stderr, /stats: guest Linux .*linux64\/bzImage \(direct 64-bit entry\), cmdline 'console=ttyS0 cryptomgr\.notests earlyprintk=ttyS0'/);
  assert.match(r.stderr, /E_TIMEOUT: stopped after 30000000 instructions/);
});
