// `--protect` for 64-bit guests under --mode bt (docs/long-mode-monitor.md): segments only
// where the CPU model has AMD's long-mode segment limits (EFER.LMSLE), two-tables on every
// long-mode model, paging-only always (the escape suite's weak configuration); the unsound
// choice refused before the guest runs with E_PROTECT_UNSOUND, as VMware refused it, unless
// --unsafe-protect forces it.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../support/paths.js";
import { CPU_MODELS, parseCpuSpec } from "../../src/hw/cpu/models.js";
import { lmsleModels, protectRefusal, PROTECTIONS } from "../../src/cli/cpus.js";

const BIN = join(REPO_ROOT, "bin", "vmm86.js");

function vmm86(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The first bytes of an ELF64 x86-64 executable: enough for the CLI to know a 64-bit kernel. */
function elf64File(): string {
  const img = new Uint8Array(0x2000);
  img.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  img[16] = 2; img[18] = 62; // ET_EXEC, EM_X86_64
  const p = join(mkdtempSync(join(tmpdir(), "vmm86-protect-")), "kernel64.elf");
  writeFileSync(p, img);
  return p;
}

test("protectRefusal: segments for a 64-bit guest only on the models with EFER.LMSLE; two-tables and paging-only on every long-mode model", () => {
  assert.deepEqual(lmsleModels(), ["athlon64-reve", "athlon64-revf", "barcelona"]);
  for (const m of CPU_MODELS.filter((x) => x.features.lm)) {
    const seg = protectRefusal("segments", true, m, false);
    if (m.features.lmsle) assert.equal(seg, null, m.name);
    else {
      assert.equal(seg?.code, "E_PROTECT_UNSOUND", m.name);
      assert.equal(seg?.exitCode, 14, m.name);
    }
    assert.equal(protectRefusal("segments", true, m, true), null, `${m.name} --unsafe-protect`);
    assert.equal(protectRefusal("two-tables", true, m, false), null, m.name);
    assert.equal(protectRefusal("paging-only", true, m, false), null, m.name);
  }
  // The three the issue names, each refused for its own reason.
  assert.match(protectRefusal("segments", true, parseCpuSpec("athlon64-revc"), false)!.message, /athlon64-revc: it has no EFER\.LMSLE \(AMD added it in K8 revision D\)/);
  assert.match(protectRefusal("segments", true, parseCpuSpec("core2"), false)!.message, /core2: Intel 64 never limit-checks segments in 64-bit mode/);
  assert.match(protectRefusal("segments", true, parseCpuSpec("zen3"), false)!.message, /zen3: it dropped EFER\.LMSLE \(CPUID 8000_0008h:EBX\[20\]/);
  // A 32-bit guest keeps segments everywhere; two-tables is the long-mode design only.
  for (const name of ["pentium2", "athlon64-revc", "zen3"]) {
    assert.equal(protectRefusal("segments", false, parseCpuSpec(name), false), null, name);
    assert.equal(protectRefusal("two-tables", false, parseCpuSpec(name), false)?.code, "E_USAGE", name);
  }
  // An athlon64-revc with LMSLE added by hand is sound; an athlon64-reve without it is not.
  assert.equal(protectRefusal("segments", true, parseCpuSpec("athlon64-revc,+lmsle"), false), null);
  assert.equal(protectRefusal("segments", true, parseCpuSpec("athlon64-reve,-lmsle"), false)?.code, "E_PROTECT_UNSOUND");
  assert.deepEqual([...PROTECTIONS], ["segments", "two-tables", "paging-only"]);
});

test("vmm86 run: a 64-bit kernel under bt with --protect segments is refused on athlon64-revc, core2 and zen3 before it runs, naming what works", () => {
  const k = elf64File();
  for (const cpu of ["athlon64-revc", "core2", "zen3"]) {
    for (const protect of [[], ["--protect", "segments"]]) {
      const r = vmm86("run", "--kernel", k, "--mode", "bt", "--cpu", cpu, ...protect);
      assert.equal(r.status, 14, `${cpu} ${protect.join(" ")}: ${r.stderr}`);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, new RegExp(`^vmm86: E_PROTECT_UNSOUND: --protect segments cannot protect the monitor from a 64-bit guest on ${cpu}: `, "m"));
      assert.match(r.stderr, /Use --protect two-tables \(any model with long mode\), or --cpu athlon64-reve \(models with EFER\.LMSLE: athlon64-reve, athlon64-revf, barcelona\); --unsafe-protect runs it unprotected/);
    }
    // The sound choices and the forced one get past the check (to the loader).
    for (const flags of [["--protect", "two-tables"], ["--protect", "paging-only"], ["--unsafe-protect"]]) {
      const r = vmm86("run", "--kernel", k, "--mode", "bt", "--cpu", cpu, ...flags, "--timeout", "5");
      assert.doesNotMatch(r.stderr, /E_PROTECT_UNSOUND|E_USAGE/, `${cpu} ${flags.join(" ")}`);
    }
  }
  assert.doesNotMatch(vmm86("run", "--kernel", k, "--mode", "bt", "--cpu", "athlon64-reve", "--timeout", "5").stderr, /E_PROTECT_UNSOUND/);
});

test("vmm86 run: --protect two-tables is for 64-bit guests, --unsafe-protect only forces bt with segments, --protect names its choices", () => {
  let r = vmm86("run", "demo", "--mode", "bt", "--protect", "two-tables");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /E_USAGE: --protect two-tables is the long-mode design .* it applies to 64-bit guests/);
  for (const flags of [["--mode", "trap"], ["--mode", "bt", "--protect", "two-tables"], ["--mode", "bt", "--protect", "paging-only"], []]) {
    r = vmm86("run", "--kernel", elf64File(), "--cpu", "core2", "--unsafe-protect", ...flags);
    assert.equal(r.status, 2, flags.join(" "));
    assert.match(r.stderr, /E_USAGE: --unsafe-protect forces --mode bt --protect segments/);
  }
  // vmm86 cpus says which models make --protect segments sound for a 64-bit guest.
  assert.match(vmm86("cpus").stdout, /A 64-bit guest under --mode bt: --protect segments needs lmsle \(athlon64-reve, athlon64-revf, barcelona\); --protect two-tables works on every model with lm\./);
  r = vmm86("run", "demo", "--mode", "bt", "--protect", "limits");
  assert.match(r.stderr, /E_USAGE: --protect must be 'segments', 'two-tables', 'paging-only' \(got 'limits'\)/);
  // The 32-bit demo under bt on an LMSLE-less long-mode model keeps its segments: it runs.
  r = vmm86("run", "demo", "--mode", "bt", "--cpu", "core2", "--max-instructions", "200000");
  assert.doesNotMatch(r.stderr, /E_PROTECT_UNSOUND|E_USAGE/);
});
