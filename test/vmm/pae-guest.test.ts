// A guest that turns on PAE paging (Debian's mainstream i386 kernel, 686-pae, does): the bare
// machine runs it; the classic monitor, whose shadow MMU shadows 2-level 32-bit tables only,
// refuses it clearly (E_MONITOR_UNSUPPORTED, exit 14) instead of spinning in hidden faults.
// PAE shadowing is issue 11's first step.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { asm } from "../protection/harness.js";
import { runLabGuest } from "../../src/lab/guest-runner.js";
import { GuestUnsupported } from "../../src/vmm/monitor.js";
import { REPO_ROOT } from "../support/paths.js";

const BASE = 0x100000;

/** Multiboot kernel: PDPT 0x200000 → PD 0x201000 mapping 1 GiB with 2 MiB pages; CR4.PAE, CR0.PG; prints, powers off. */
function paeGuest(): Uint8Array {
  return asm(`
  .long 0x1BADB002, 0x00010000, -(0x1BADB002 + 0x00010000)
  .long ${BASE}, ${BASE}, 0, 0, start
start:
  mov esp, 0x17f000
  mov edi, 0x200000
  mov ecx, 0x2000 / 4
  xor eax, eax
  rep stosd
  mov dword ptr [0x200000], 0x201001
  xor ecx, ecx
1:
  mov eax, ecx
  shl eax, 21
  or eax, 0x83
  mov [0x201000 + ecx * 8], eax
  inc ecx
  cmp ecx, 512
  jne 1b
  mov eax, cr4
  or eax, 0x20
  mov cr4, eax
  mov eax, 0x200000
  mov cr3, eax
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax
  lea esi, [msg]
2:
  lodsb
  test al, al
  jz 3f
  mov dx, 0x3f8
  out dx, al
  jmp 2b
3:
  xor eax, eax
  out 0xf4, al
  hlt
msg: .asciz "PAE paging on\\n"
`, BASE);
}

test("a PAE guest runs on the bare machine and is refused by the classic monitor under bt and trap", () => {
  const img = paeGuest();
  const r = runLabGuest(img, { mode: "bare", cpu: "pentium2", maxInstructions: 2e6 });
  assert.deepEqual(r.end, { kind: "poweroff", status: 1 });
  assert.equal(r.serial.trim(), "PAE paging on");
  for (const mode of ["bt", "trap"] as const) {
    assert.throws(() => runLabGuest(img, { mode, cpu: "pentium2", maxInstructions: 2e6 }),
      (e: unknown) => e instanceof GuestUnsupported && /PAE paging \(CR4\.PAE\)/.test(e.message), mode);
  }
});

test("vmm86 run --kernel: the PAE guest under bt is E_MONITOR_UNSUPPORTED (exit 14), naming --mode bare", () => {
  const dir = mkdtempSync(join(tmpdir(), "vmm86-pae-"));
  try {
    const file = join(dir, "pae.bin");
    writeFileSync(file, paeGuest());
    const r = spawnSync(process.execPath, [join(REPO_ROOT, "bin", "vmm86.js"), "run", "--kernel", file, "--mode", "bt"], { encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 14, r.stderr);
    assert.match(r.stderr, /^vmm86: E_MONITOR_UNSUPPORTED: the guest turned on PAE paging .*--mode bare/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
