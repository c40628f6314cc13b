// The binary translator for 64-bit guest kernel code (docs/long-mode-monitor.md, "What the
// translator changes for 64-bit"). The rules of the 32-bit translator (translator.ts) hold:
// each guest instruction becomes exactly one machine instruction in the translation cache
// (TC), so every TC boundary is a guest boundary and guest time stays exact. What 64-bit
// code adds:
//
//   RIP-relative operand     copied with its disp32 re-pointed at the same target from the
//                            TC copy's address (the TC is in the top 2 MiB, within ±2 GiB
//                            of a kernel at 0xFFFFFFFF81000000); out of reach: a callout
//   CALL rel32               PUSH imm32, which pushes the sign-extended 64-bit return
//                            address: exact for callers in the top or bottom 2 GiB, else a
//                            callout
//   GS memory operand        a callout when the guest kernel runs at ring 1 (--protect
//                            segments): EFER.LMSLE never checks GS
//   SYSCALL, SYSRET, IRETQ   callouts that end the trace; SWAPGS, RDTSCP a callout that goes on
//
// Instructions are classified by their row in the one opcode table (`Instr.def`), the same
// rows the 32-bit translator's lists name (sensitive.ts), plus the rows only 64-bit code
// reaches.

import type { World64 } from "../world/world64.js";
import type { Cpu } from "../../hw/cpu/cpu.js";
import type { Handler, Instr } from "../../hw/cpu/instr.js";
import { SegReg } from "../../hw/cpu/segment.js";
import { decode64 } from "../../hw/cpu/decoder.js";
import { TRACE_CODE } from "../shadow/shadow-mmu.js";
import type { Counters } from "../stats/counters.js";
import * as L from "../layout.js";
import * as X from "./sensitive.js";
import * as Sc from "../../hw/cpu/exec/syscall.js";
import * as Y64 from "../../hw/cpu/exec64/system.js";

const SOFT_TRACE = 64;
const MAX_TRACE = 400;
const TRACE_ROOM = MAX_TRACE * 24 + 64;
const CALLOUT = [0xcd, L.VEC_CALLOUT];
const INT32_MIN = -0x8000_0000, INT32_MAX = 0x7fff_ffff;

/** What the translator does with one guest instruction. */
export type Treatment = "copy" | "rip-relative" | "jmp" | "jcc" | "call" | "callout" | "callout-end";

/** The shadow paging's code tracing (a translated frame is write-protected). */
export interface CodeTracer {
  trace(frame: number, why: number): void;
  untrace(frame: number, why: number): void;
}

export type CalloutKind64 = "emulate" | "continue";

interface Callout64 {
  kind: CalloutKind64;
  guest: number;
  patchAt: number;
  /** A near RET: bytes popped beyond the 8-byte return address; -1 otherwise. */
  retPop: number;
  why: "stub" | "limit" | "fetch" | "invalidated" | "";
}

interface Trace64 {
  entries: number[];
  entryGuest: number[];
  live: boolean;
}

/**
 * Where the disp32 of a RIP-relative instruction sits in its bytes: after the prefixes
 * (legacy and REX), the opcode (one to three bytes) and the ModR/M byte (SDM vol. 2
 * §2.2.1.6: RIP-relative addressing has no SIB byte).
 */
export function ripRelDispOffset(bytes: ArrayLike<number>): number {
  let k = 0;
  for (;;) {
    const b = bytes[k];
    if ((b & 0xf0) === 0x40 || [0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65].includes(b)) { k++; continue; }
    break;
  }
  if (bytes[k] === 0x0f) {
    k++;
    if (bytes[k] === 0x38 || bytes[k] === 0x3a) k++;
  }
  return k + 2; // the last opcode byte, then ModR/M
}

/**
 * The bytes of a RIP-relative instruction at guest `rip`, re-pointed to reach the same
 * target when they run at `tc`; null if the target is out of a disp32's reach from there.
 */
export function repointRipRelative(bytes: number[], rip: number, tc: number): number[] | null {
  const at = ripRelDispOffset(bytes);
  const disp = bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24);
  const target = rip + bytes.length + disp;
  const moved = target - (tc + bytes.length);
  if (moved < INT32_MIN || moved > INT32_MAX) return null;
  const out = bytes.slice();
  for (let k = 0; k < 4; k++) out[at + k] = (moved >>> (8 * k)) & 0xff;
  return out;
}

const END_ROWS = new Set<Handler>(X.CALLOUT_END);
const GO_ON_ROWS = new Set<Handler>(X.CALLOUT);

/** Rows only 64-bit code reaches (the 32-bit monitor's guests never see them). */
const END64 = new Set<Handler>([Sc.syscall, Sc.sysret]);
const GO_ON64 = new Set<Handler>([Y64.swapgs, Sc.rdtscp]);

/**
 * How the translator treats `ins` (decoded in 64-bit mode), by its opcode-table row.
 * `gsCallout`: the guest kernel runs at ring 1 with LMSLE, which never checks GS.
 */
export function treatment64(ins: Instr, gsCallout: boolean): Treatment {
  const row = ins.def.handler;
  if (END64.has(row)) return "callout-end";
  if (GO_ON64.has(row)) return "callout";
  if (END_ROWS.has(row)) return "callout-end";
  if (GO_ON_ROWS.has(row)) return "callout";
  if (row === X.jmpRel) return "jmp";
  if (row === X.jccRel) return "jcc";
  if (row === X.callRel) return "call";
  // Any GS override (string instructions have no ModR/M but take one too).
  if (gsCallout && ins.segOverride === SegReg.GS) return "callout";
  if (ins.hasMem && ins.eaBase === -2) return ins.adsize64 ? "rip-relative" : "callout";
  return "copy";
}

export class Translator64 {
  private used = 0;
  private readonly entries = new Map<number, number>();
  private readonly boundary = new Map<number, number>();
  private readonly callouts = new Map<number, Callout64>();
  private readonly byFrame = new Map<number, Trace64[]>();
  private readonly tcBase: number;

  constructor(
    private readonly world: World64,
    private readonly vcpu: Cpu,
    private readonly tracer: CodeTracer,
    private readonly counters: Counters,
    private readonly gsCallout: boolean,
  ) {
    this.tcBase = world.lin(L.TC64_OFF);
  }

  /** The TC address (canonical) at which to run guest kernel code at `rip`; -1: cannot be fetched. */
  enter(rip: number): number | null {
    const have = this.entries.get(rip);
    if (have !== undefined) return have;
    return this.translate(rip);
  }

  /** The guest RIP for a TC address at an instruction boundary. */
  guestRip(tc: number): number {
    const g = this.boundary.get(tc);
    if (g === undefined) throw new Error(`bt64: TC address ${tc} is not an instruction boundary`);
    return g;
  }

  /** The callout just before `tcAfter`, without acting on it (the monitor's fast paths). */
  peek(tcAfter: number): { readonly kind: CalloutKind64; readonly guest: number; readonly retPop: number } | undefined {
    return this.callouts.get(tcAfter);
  }

  /** The translation of guest `rip`, if there is one (nothing is translated). */
  lookup(rip: number): number | undefined {
    return this.entries.get(rip);
  }

  /** A callout arrived with RIP `tcAfter` (just past its INT): what to do, and chaining. */
  callout(tcAfter: number): { kind: CalloutKind64; guest: number } {
    const c = this.callouts.get(tcAfter);
    if (c === undefined) throw new Error(`bt64: no callout at ${tcAfter}`);
    if (c.kind === "continue") this.counters.inc(`bt.continue.${c.why}`);
    if (c.patchAt >= 0) {
      const target = this.enter(c.guest);
      if (target !== null && this.callouts.get(tcAfter) === c) {
        this.world.put32(L.TC64_OFF + c.patchAt, (target - (this.tcBase + c.patchAt + 4)) | 0);
        c.patchAt = -1;
        this.counters.inc("bt.chain");
      }
    }
    return c;
  }

  /** A traced guest code frame was written: its translations become "translate again" callouts. */
  codeWritten(frame: number): void {
    const list = this.byFrame.get(frame);
    if (list === undefined) return;
    this.byFrame.delete(frame);
    this.tracer.untrace(frame, TRACE_CODE);
    for (const t of list) {
      if (!t.live) continue;
      t.live = false;
      this.counters.inc("bt.invalidate");
      for (let k = 0; k < t.entries.length; k++) {
        const at = t.entries[k], g = t.entryGuest[k];
        if (this.entries.get(g) === at) this.entries.delete(g);
        this.world.put8(at - this.tcBase + L.TC64_OFF, CALLOUT[0]);
        this.world.put8(at - this.tcBase + L.TC64_OFF + 1, CALLOUT[1]);
        this.callouts.set(at + 2, { kind: "continue", guest: g, patchAt: -1, retPop: -1, why: "invalidated" });
        this.boundary.set(at, g);
      }
    }
  }

  flush(): void {
    this.counters.inc("bt.flush");
    this.used = 0;
    this.entries.clear();
    this.boundary.clear();
    this.callouts.clear();
    for (const f of this.byFrame.keys()) this.tracer.untrace(f, TRACE_CODE);
    this.byFrame.clear();
  }

  stats(): Record<string, number> {
    return { "bt.cache-bytes": this.used, "bt.entry-points": this.entries.size };
  }

  private translate(start: number): number | null {
    if (this.used + TRACE_ROOM > L.TC64_BYTES) this.flush();
    const vc = this.vcpu;
    const base = this.tcBase + this.used;
    const out: number[] = [];
    const bounds: [number, number][] = [];
    const callouts: [number, Callout64][] = [];
    const jumps: { at: number; target: number }[] = [];
    const local = new Map<number, number>();
    const trace: Trace64 = { entries: [], entryGuest: [], live: true };
    const frames = new Set<number>();
    const continues = new Set<number>();
    const callout = (kind: CalloutKind64, guest: number, patchAt = -1, retPop = -1, why: Callout64["why"] = ""): void => {
      if (kind === "continue") continues.add(out.length);
      out.push(...CALLOUT);
      callouts.push([out.length, { kind, guest, patchAt, retPop, why }]);
    };
    let g = start;
    for (let n = 0; ; n++) {
      if (n >= MAX_TRACE) { bounds.push([out.length, g]); callout("continue", g, -1, -1, "limit"); break; }
      let ins: Instr;
      const bytes: number[] = [];
      try {
        ins = decode64(vc, g);
        frames.add(Math.floor(vc.translateRead(g, false) / 4096));
        frames.add(Math.floor(vc.translateRead(g + ins.len - 1, false) / 4096));
        for (let k = 0; k < ins.len; k++) bytes.push(vc.readLin8(g + k, false));
      } catch (e) {
        if (e !== vc.fault) throw e;
        if (n === 0) return null;
        bounds.push([out.length, g]);
        callout("continue", g, -1, -1, "fetch");
        break;
      }
      if (!local.has(g)) local.set(g, out.length);
      bounds.push([out.length, g]);
      const next = g + ins.len;
      let how = treatment64(ins, this.gsCallout);
      if (how === "jmp" && ins.osz === 8) {
        out.push(0xe9, 0, 0, 0, 0);
        jumps.push({ at: out.length - 4, target: next + ins.imm });
        break;
      }
      if (how === "jcc" && ins.osz === 8) {
        out.push(0x0f, 0x80 | (ins.opcode & 0xf), 0, 0, 0, 0);
        jumps.push({ at: out.length - 4, target: next + ins.imm });
        g = next;
        continue;
      }
      if (how === "call" && ins.osz === 8 && next >= INT32_MIN && next <= INT32_MAX) {
        // PUSH imm32 pushes the sign-extended value: the 64-bit return address.
        out.push(0x68, next & 0xff, (next >>> 8) & 0xff, (next >>> 16) & 0xff, (next >>> 24) & 0xff);
        g = next + ins.imm;
        this.counters.inc("bt.call-inlined");
        continue;
      }
      if (how === "rip-relative") {
        const moved = repointRipRelative(bytes, g, base + out.length);
        if (moved !== null) { out.push(...moved); g = next; continue; }
        how = "callout";
      }
      if (how === "jmp" || how === "jcc" || how === "call") how = "callout-end";
      if (n >= SOFT_TRACE && how === "callout") { callout("emulate", g); this.counters.inc("bt.callout-site"); break; }
      if (how === "callout" || how === "callout-end") {
        const retPop = ins.def.handler === X.retNear ? (ins.opcode === 0xc2 ? ins.imm & 0xffff : 0) : -1;
        callout("emulate", g, -1, retPop);
        this.counters.inc("bt.callout-site");
        if (how === "callout") {
          trace.entries.push(out.length);
          trace.entryGuest.push(next);
          g = next;
          continue;
        }
        break;
      }
      out.push(...bytes);
      g = next;
    }
    for (const j of jumps) {
      const dest = local.get(j.target);
      let destAddr = dest !== undefined ? base + dest : this.entries.get(j.target);
      if (destAddr === undefined) {
        bounds.push([out.length, j.target]);
        const stubAt = out.length;
        callout("continue", j.target, this.used + j.at, -1, "stub");
        destAddr = base + stubAt;
      }
      const rel = (destAddr - (base + j.at + 4)) | 0;
      for (let k = 0; k < 4; k++) out[j.at + k] = (rel >>> (8 * k)) & 0xff;
    }
    this.world.putBytes(L.TC64_OFF + this.used, out);
    this.used += out.length;
    for (const [off, guest] of bounds) this.boundary.set(base + off, guest);
    for (const [off, c] of callouts) this.callouts.set(base + off, c);
    const keep = trace.entries.map((o, k) => [o, trace.entryGuest[k]] as const).filter(([o]) => !continues.has(o));
    trace.entries = [base, ...keep.map(([o]) => base + o)];
    trace.entryGuest = [start, ...keep.map(([, gg]) => gg)];
    for (let k = 0; k < trace.entries.length; k++) {
      if (!this.entries.has(trace.entryGuest[k])) this.entries.set(trace.entryGuest[k], trace.entries[k]);
    }
    for (const f of frames) {
      const list = this.byFrame.get(f);
      if (list) list.push(trace); else this.byFrame.set(f, [trace]);
      this.tracer.trace(f, TRACE_CODE);
    }
    this.counters.inc("bt.translate");
    this.counters.inc("bt.guest-instructions-translated", bounds.length);
    return base;
  }
}
