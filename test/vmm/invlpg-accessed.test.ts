// INVLPG under the classic monitor (docs/monitor.md, "Coherence"): a guest kernel that
// clears a PTE's accessed bit and INVLPGs the page sees the bit set again by its next access,
// as on the bare machine, where INVLPG drops the TLB entry and the access walks the tables
// again. The shadow keeps an entry whose guest entry only lost its A bit (as a TLB keeps its
// entry), so it is INVLPG that must drop it: under trap (its quick path, or the vCPU when
// the INVLPG is emulated ahead) and under bt (the translator's helper).

import { test } from "node:test";
import assert from "node:assert/strict";
import { asm } from "../protection/harness.js";
import { CODE, exit, le32, runCode, type CodeRun } from "./guest-code.js";

const PD = 0x200000, PT = 0x201000, PAGE = 0x300000, PTE = PT + (PAGE >>> 12) * 4;
const A = 0x20;
/** What the guest saw: its PTE after clearing A, and after INVLPG and an access. */
const CLEARED = 0x80000, AGAIN = 0x80004;

/** The low 4 MiB identity-mapped, read/write, supervisor. */
const tables: [number, number[]][] = [
  [PD, le32(PT | 3)],
  [PT, Array.from({ length: 1024 }, (_, p) => le32((p << 12) | 3)).flat()],
];

function run(mode: "bare" | "trap" | "bt", variant: "standard" | "strict", between: string): CodeRun {
  const code = [...asm(`
    mov eax, ${PD}
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    mov eax, [${PAGE}]
    and dword ptr [${PTE}], ${~A}
    mov ebx, [${PTE}]
    ${between}
    mov eax, [${PAGE}]
    mov ecx, [${PTE}]
    mov [${CLEARED}], ebx
    mov [${AGAIN}], ecx
  `, CODE), ...exit(0x10)];
  const r = runCode(code, mode, variant, tables);
  assert.equal(r.end.kind, "poweroff", `${mode} ${variant}: the guest powers off`);
  return r;
}

const MODES = [["bare", "standard"], ["trap", "standard"], ["trap", "strict"], ["bt", "standard"]] as const;

test("INVLPG after clearing a PTE's A bit: the next access sets it again, under trap and bt as on the bare machine", () => {
  for (const [mode, variant] of MODES) {
    const r = run(mode, variant, `invlpg [${PAGE}]`);
    assert.equal(r.read32(CLEARED) & A, 0, `${mode} ${variant}: A clear after the guest cleared it`);
    assert.equal(r.read32(AGAIN) & A, A, `${mode} ${variant}: A set again by the access after INVLPG`);
  }
});

test("INVLPG after clearing A, with the INVLPG apart from the page-table write (trap's quick path)", () => {
  // Enough instructions between the write and the INVLPG that trap does not emulate the
  // INVLPG ahead: its own #GP exit takes it.
  const apart = `${"nop\n".repeat(40)} invlpg [${PAGE}]`;
  for (const [mode, variant] of MODES) {
    const r = run(mode, variant, apart);
    assert.equal(r.read32(AGAIN) & A, A, `${mode} ${variant}: A set again by the access after INVLPG`);
  }
});

test("without INVLPG the cleared A bit stays clear (the TLB, and the shadow, keep the entry)", () => {
  for (const [mode, variant] of MODES) {
    const r = run(mode, variant, "nop");
    assert.equal(r.read32(AGAIN) & A, 0, `${mode} ${variant}: A still clear`);
  }
});
