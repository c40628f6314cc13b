// The 64-bit difftest's comparison (docs/difftest.md, "64-bit mode"): run a batch natively
// and in the model, compare the sixteen registers, the six arithmetic flags and DF (minus the
// flags still undefined), the data image, and whether the case faulted.

import { runNative64, type Case64Output } from "./native64.js";
import { Model64, type ModelOutcome } from "./model64.js";
import { FXSAVE_AT, fxsaveIgnored, type Case64 } from "./generator64.js";

export const REG_NAMES = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];
const FLAGS = 0x8d5n | 0x400n; // CF PF AF ZF SF OF, DF

export interface Result64 { c: Case64; status: "pass" | "fail" | "skip"; diffs: string[]; }

const hex = (v: bigint): string => "0x" + v.toString(16);

export function compare(c: Case64, n: Case64Output, m: ModelOutcome): string[] {
  const diffs: string[] = [];
  const nFault = n.signal !== 0, mFault = m.vector >= 0;
  if (nFault !== mFault || m.vector === -2) diffs.push(`fault: host signal ${n.signal}, model vector ${m.vector}`);
  if (nFault || mFault) return diffs;
  for (let r = 0; r < 16; r++) if (n.regs[r] !== m.regs[r]) diffs.push(`${REG_NAMES[r]}: host ${hex(n.regs[r])} model ${hex(m.regs[r])}`);
  const mask = FLAGS & ~BigInt(c.undefinedFlags);
  if ((n.rflags & mask) !== (m.rflags & mask)) diffs.push(`rflags: host ${hex(n.rflags & mask)} model ${hex(m.rflags & mask)}`);
  for (let k = 0; k < n.data.length; k++) {
    if ((c.group === "sse" || c.group === "x87") && k >= FXSAVE_AT && k < FXSAVE_AT + 512 && fxsaveIgnored(k - FXSAVE_AT, c.group)) continue;
    if (n.data[k] !== m.data[k]) { diffs.push(`data[0x${k.toString(16)}]: host 0x${n.data[k].toString(16)} model 0x${m.data[k].toString(16)}`); break; }
  }
  return diffs;
}

export class Engine64 {
  private readonly model = new Model64();

  /** Run cases; every one is skipped when the host cannot run x86-64 code. */
  run(cases: Case64[]): Result64[] {
    const native = runNative64(cases.map((c) => c.input));
    if (native === null) return cases.map((c) => ({ c, status: "skip", diffs: ["this host cannot run the x86-64 runner"] }));
    return cases.map((c, k) => {
      const diffs = compare(c, native[k], this.model.run(c.input, c.codeLen));
      return { c, status: diffs.length ? "fail" : "pass", diffs };
    });
  }

  /** The case's instructions, each with the difference after it (later ones replaced by NOPs). */
  explain(c: Case64): string {
    const lines = [`case ${c.index} (${c.group}), undefined flags at the end 0x${c.undefinedFlags.toString(16)}:`];
    let at = 0;
    for (const l of c.listing) {
      at += l.split(" ").length;
      const code = c.input.code.slice();
      code.fill(0x90, at, c.codeLen);
      const cut = { ...c, input: { ...c.input, code }, undefinedFlags: 0x8d5 };
      const n = runNative64([cut.input]);
      const d = n === null ? ["?"] : compare(cut, n[0], this.model.run(cut.input, c.codeLen));
      lines.push(`  ${l.padEnd(40)} ${d.length ? d.join("; ") : "same"}`);
    }
    return lines.join("\n");
  }
}
