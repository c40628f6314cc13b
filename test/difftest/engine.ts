// Difftest: generate cases, run them natively and in the model, compare, and explain the
// first failure. The comparison covers the fault vector (and EIP at a fault), the eight
// registers, EFLAGS (minus what the SDM leaves undefined, see flags.ts) and the 512-byte data
// image (stack included). x87 cases end with FNSAVE into the data image; there the CS and DS
// selectors (0x23/0x2B under Linux, 0x1B/0x23 in the FlatMachine) and undefined condition
// codes are masked, and after a transcendental the registers are compared within 2 ulps.
// A failing case is bisected: its body is re-run with instructions k… replaced by NOPs, and
// the first k that differs names the first differing instruction.

import { decode } from "../../src/hw/cpu/decoder.js";
import { disassemble } from "../../src/hw/cpu/disasm.js";
import * as Fl from "./flags.js";
import { generate, layout, undefinedAfter, type Case, type Group } from "./generator.js";
import { CODE_VA, FSAVE_OFF, FXSAVE_OFF, LOW_VA, R32 } from "./layout.js";
import { ModelRunner, type ModelOutput } from "./model.js";
import { nativeEpilogue, runNative, type NativeInput, type NativeOutput } from "./native.js";

export interface CaseResult {
  c: Case;
  status: "pass" | "fail" | "skip";
  diffs: string[];
}

function hex(v: number, w = 8): string {
  return (v >>> 0).toString(16).padStart(w, "0");
}

function toInput(c: Case, keep?: number): { input: NativeInput; bodyLen: number } {
  const { code } = layout(c, keep);
  const bodyLen = code.length;
  return {
    input: { dataVa: c.dataVa, regs: c.regs, eflags: c.eflags, code: Uint8Array.from([...code, ...nativeEpilogue()]), data: c.data },
    bodyLen,
  };
}

/**
 * FXSAVE bytes not compared in SSE cases: FOP, FIP, FCS, FDP, FDS (6–23) describe the last x87
 * instruction, which natively is the runner's FNINIT; MXCSR_MASK (28–31) is the host's (an AMD
 * part here, the model is a Core Duo); 288–511 are XMM8–15 and reserved space, not saved
 * outside 64-bit mode.
 */
function fxsaveIgnored(o: number): boolean {
  return (o >= 6 && o < 24) || (o >= 28 && o < 32) || o >= 288;
}

/** FNSAVE bytes not compared: FCS (16–17) and FDS (24–25) hold different selectors by construction. */
const FSAVE_SELECTORS = new Set([16, 17, 24, 25]);

function f80Close(a: Uint8Array, b: Uint8Array, ulps: bigint): boolean {
  // Distance in units in the last place, across exponent boundaries: the ordinal of a finite
  // value is exponent·2^63 + fraction (the explicit integer bit dropped).
  const ord = (x: Uint8Array) => {
    let m = 0n;
    for (let k = 7; k >= 0; k--) m = (m << 8n) | BigInt(x[k]);
    const se = x[8] | (x[9] << 8);
    return { sign: se >> 15, v: (BigInt(se & 0x7fff) << 63n) | (m & ((1n << 63n) - 1n)) };
  };
  const oa = ord(a), ob = ord(b);
  if (oa.sign !== ob.sign) return false;
  const d = oa.v > ob.v ? oa.v - ob.v : ob.v - oa.v;
  return d <= ulps;
}

/** Decode the FNSAVE images side by side (for reports). */
function fsaveDiff(a: Uint8Array, b: Uint8Array): string[] {
  const w = (x: Uint8Array, o: number) => x[FSAVE_OFF + o] | (x[FSAVE_OFF + o + 1] << 8);
  const reg = (x: Uint8Array, r: number) => {
    const at = FSAVE_OFF + 28 + 10 * r;
    return Array.from(x.subarray(at, at + 10)).reverse().map((v) => v.toString(16).padStart(2, "0")).join("");
  };
  const out = [`  fnsave native: cw=${hex(w(a, 0), 4)} sw=${hex(w(a, 4), 4)} tw=${hex(w(a, 8), 4)} fip=${hex(w(a, 12) | (w(a, 14) << 16))} fop=${hex(w(a, 18), 4)} fdp=${hex(w(a, 20) | (w(a, 22) << 16))}`,
    `  fnsave model:  cw=${hex(w(b, 0), 4)} sw=${hex(w(b, 4), 4)} tw=${hex(w(b, 8), 4)} fip=${hex(w(b, 12) | (w(b, 14) << 16))} fop=${hex(w(b, 18), 4)} fdp=${hex(w(b, 20) | (w(b, 22) << 16))}`];
  for (let r = 0; r < 8; r++) if (reg(a, r) !== reg(b, r)) out.push(`  st(${r}) native ${reg(a, r)} model ${reg(b, r)}`);
  return out;
}

/** Compare one native result with one model result; returns human-readable differences. */
export function compare(c: Case, keep: number, n: NativeOutput, m: ModelOutput): string[] {
  const out: string[] = [];
  if (m.crash) return [`model threw: ${m.crash.split("\n").slice(0, 4).join(" | ")}`];
  if (m.timeout) out.push("model did not reach the end (step budget)");
  if (n.vector !== m.vector) out.push(`fault: native ${n.vector < 0 ? "none" : "#" + n.vector} model ${m.vector < 0 ? "none" : "#" + m.vector}`);
  else if (n.vector >= 0 && n.eip !== m.eip) out.push(`fault EIP: native ${hex(n.eip)} model ${hex(m.eip)}`);
  // At a fault the state is the one before the faulting instruction (or after a trap such as
  // INT3/INTO): mask what was undefined at that point, not at the end.
  let upTo = keep;
  if (n.vector >= 0) {
    const { starts } = layout(c);
    const at = starts.findIndex((s, k) => CODE_VA + s === n.eip && k < keep);
    if (at >= 0) upTo = at;
  }
  const und = undefinedAfter(c, upTo);
  for (let r = 0; r < 8; r++) {
    if (und.regs & (1 << r)) continue;
    if (n.regs[r] !== m.regs[r]) out.push(`${R32[r]}: native ${hex(n.regs[r])} model ${hex(m.regs[r])}`);
  }
  const fmask = Fl.COMPARED & ~und.flags;
  if ((n.eflags & fmask) !== (m.eflags & fmask)) {
    const x = (n.eflags ^ m.eflags) & fmask;
    const names = ["CF", "", "PF", "", "AF", "", "ZF", "SF", "TF", "IF", "DF", "OF", "IOPL", "IOPL", "NT", "", "RF", "VM", "AC", "", "", "ID"];
    const which = names.map((nm, k) => ((x >> k) & 1 && nm ? nm : "")).filter((s) => s).join(",");
    out.push(`eflags: native ${hex(n.eflags)} model ${hex(m.eflags)} (differ: ${which}; masked undefined: ${hex(und.flags, 3)})`);
  }
  const approx = c.x87 && c.body.slice(0, keep).some((i) => i.approx);
  const bytes: number[] = [];
  for (let k = 0; k < n.data.length; k++) {
    if (n.data[k] === m.data[k]) continue;
    if (c.sse && k >= FXSAVE_OFF && k < FXSAVE_OFF + 512 && fxsaveIgnored(k - FXSAVE_OFF)) continue;
    if (c.x87 && n.vector < 0 && k >= FSAVE_OFF && k < FSAVE_OFF + 108) {
      const o = k - FSAVE_OFF;
      if (FSAVE_SELECTORS.has(o)) continue;
      if (o === 4 || o === 5) {
        const ccMask = und.cc | (approx ? Fl.C1 | 0x20 : 0); // C1 (round-up) and PE after transcendentals
        const sw = (a: Uint8Array) => (a[FSAVE_OFF + 4] | (a[FSAVE_OFF + 5] << 8)) & ~ccMask;
        if (sw(n.data) === sw(m.data)) continue;
      }
      if (o >= 28) {
        const r = Math.floor((o - 28) / 10);
        const at = FSAVE_OFF + 28 + 10 * r;
        if (approx && f80Close(n.data.subarray(at, at + 10), m.data.subarray(at, at + 10), 2n)) continue;
      }
    }
    bytes.push(k);
  }
  if (bytes.length) {
    if (c.x87 && bytes.some((k) => k >= FSAVE_OFF && k < FSAVE_OFF + 108)) out.push(...fsaveDiff(n.data, m.data));
    const shown = bytes.slice(0, 12).map((k) => `+${k.toString(16)}: ${n.data[k].toString(16).padStart(2, "0")}/${m.data[k].toString(16).padStart(2, "0")}`);
    out.push(`memory (${bytes.length} bytes differ, native/model at data+offset${c.x87 ? `; FNSAVE at +${FSAVE_OFF.toString(16)}` : ""}): ${shown.join(" ")}`);
  }
  return out;
}

/** Disassemble the case's code, one line per instruction, marking body instruction `mark`. */
export function listing(c: Case, mark = -1): string[] {
  const { code, starts } = layout(c);
  const buf = Uint8Array.from(code);
  const src = {
    fetchCodeByte: (off: number) => buf[off - CODE_VA] ?? 0,
    gp: (): never => { throw new Error("too long"); },
    ud: (): never => { throw new Error("ud"); },
  };
  const lines: string[] = [];
  let pc = 0;
  const bodyIndex = new Map(starts.map((s, k) => [s, k]));
  while (pc < code.length) {
    let text: string, len: number;
    try {
      const ins = decode(src, CODE_VA + pc, true);
      text = disassemble(ins, CODE_VA + pc);
      len = ins.len;
    } catch {
      text = "(undecodable)";
      len = 1;
    }
    const k = bodyIndex.get(pc);
    const tag = k === undefined ? (pc < (starts[0] ?? 0) ? "pro" : "epi") : String(k);
    const setup = k !== undefined && c.body[k].setup ? " (setup)" : "";
    const arrow = k === mark ? " <== first difference" : "";
    lines.push(`  ${tag.padStart(3)} ${hex(CODE_VA + pc)}  ${code.slice(pc, pc + len).map((x) => x.toString(16).padStart(2, "0")).join(" ").padEnd(30)} ${text}${setup}${arrow}`);
    pc += len;
  }
  return lines;
}

export class Engine {
  readonly model = new ModelRunner();

  /** Run cases natively and in the model. `lowOk` false: cases in the low data page are skipped. */
  runCases(cases: Case[]): CaseResult[] {
    const inputs = cases.map((c) => toInput(c));
    const nb = runNative(inputs.map((x) => x.input));
    return cases.map((c, k) => {
      if (c.dataVa === LOW_VA && !nb.lowOk) return { c, status: "skip", diffs: ["low data page not mappable natively (vm.mmap_min_addr)"] };
      const m = this.model.run(inputs[k].input, inputs[k].bodyLen);
      const diffs = compare(c, c.body.length, nb.outputs[k], m);
      return { c, status: diffs.length ? "fail" : "pass", diffs };
    });
  }

  /** Explain a failing case: find the shortest failing prefix and print state before and after. */
  explain(c: Case): string {
    const n = c.body.length;
    const variants = Array.from({ length: n + 1 }, (_, k) => toInput(c, k));
    const nb = runNative(variants.map((v) => v.input));
    let first = -1;
    let diffs: string[] = [];
    for (let k = 0; k <= n; k++) {
      const m = this.model.run(variants[k].input, variants[k].bodyLen);
      const d = compare(c, k, nb.outputs[k], m);
      if (d.length) { first = k - 1; diffs = d; break; }
    }
    const lines: string[] = [];
    lines.push(`case ${c.index} of seed ${c.seed} (group ${c.group}); reproduce: npm run difftest -- --seed ${c.seed} --case ${c.index}`);
    lines.push(`initial: ${R32.map((r, k) => `${r}=${hex(c.regs[k])}`).join(" ")} eflags=${hex(c.eflags)} data at ${hex(c.dataVa)}`);
    lines.push(...listing(c, first));
    if (first === -1 && diffs.length) lines.push("  (the prologue alone already differs)");
    if (!diffs.length) lines.push("  (no prefix differs on its own: the difference needs the whole sequence)");
    else {
      if (c.sse && first >= 0) {
        // The SIMD state the differing instruction started from (the native FXSAVE of the prefix before it).
        const img = nb.outputs[first].data.subarray(FXSAVE_OFF);
        const q = (o: number): string => Array.from(img.subarray(o, o + 8)).reverse().map((x) => x.toString(16).padStart(2, "0")).join("");
        lines.push(`before instruction ${first}: mxcsr=${q(24).slice(8)} ` + Array.from({ length: 8 }, (_, k) => `xmm${k}=${q(168 + 16 * k)}_${q(160 + 16 * k)}`).join(" "));
        lines.push("  " + Array.from({ length: 8 }, (_, k) => `mm${k}=${q(32 + 16 * k)}`).join(" "));
      }
      lines.push(`after ${first < 0 ? "the prologue" : "instruction " + first}:`);
      for (const d of diffs) lines.push("  " + d);
    }
    return lines.join("\n");
  }
}

export { generate, type Group };
