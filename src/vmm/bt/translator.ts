// The binary translator (`--mode bt`; DESIGN.md §3 "Binary translation", docs/bt.md).
//
// Guest ring-0 code is translated, a trace at a time, into the translation cache (TC) in
// the monitor region and runs there at machine ring 1 with a flat, execute-only code
// segment; guest ring-3 code is never translated. Each guest instruction becomes exactly
// one machine instruction, so every boundary in the TC is a guest instruction boundary
// (faults and interrupts map back exactly) and guest time stays exact:
//
//   ordinary instruction            copied as it is (IDENT)
//   JMP rel                         JMP rel32 to the target's translation (chained)
//   Jcc rel                         Jcc rel32 to the target's translation; the fall-through
//                                   is translated inline after it
//   CALL rel                        PUSH imm32 (the guest's return address); the callee is
//                                   translated inline after it
//   RET, indirect JMP/CALL, far     INT 0xF1: a callout; the monitor runs the guest
//   transfers, INT n, IRET, the 18    instruction on the vCPU and continues at the
//   sensitive instructions, CPUID,    translation of wherever it went
//   privileged and I/O instructions
//
// A jump to code not yet translated goes to a stub (a callout) that translates the target
// and patches the jump (chaining). Translated guest pages are write-protected through the
// shadow page tables; a write to one invalidates the translations made from it, by turning
// their entry points into callouts (self-modifying code works). A full cache is flushed.

import type { World } from "../world/world.js";
import type { Cpu } from "../../hw/cpu/cpu.js";
import { keepInstr, scratchInstr, type Handler, type Instr } from "../../hw/cpu/instr.js";
import type { SegmentCache } from "../../hw/cpu/segment.js";
import { decode } from "../../hw/cpu/decoder.js";
import { TRACE_CODE, type ShadowMmu } from "../shadow/shadow-mmu.js";
import type { Cell, Counters } from "../stats/counters.js";
import { IntKind } from "../../hw/cpu/interrupt.js";
import { Reg } from "../../hw/cpu/cpu.js";
import { SegReg } from "../../hw/cpu/segment.js";
import * as F from "../../hw/cpu/eflags.js";
import * as L from "../layout.js";
import * as X from "./sensitive.js";
import { segOfPushPop } from "../../hw/cpu/exec/stack.js";
import { ioIsOut, ioSize } from "../../hw/cpu/exec/io.js";
import { inPlacePort } from "../emulate/in-place-io.js";
import { TargetHeader, targetSlot, type FormAddress, type NativeForm, type NativeTargets } from "../../hw/mem/native-targets.js";
import { Int32Map } from "./int32-map.js";

/**
 * Trace length: past SOFT_TRACE guest instructions a trace ends at the next direct JMP (which
 * chains) or callout; MAX_TRACE is the hard cap, where it ends with a "continue" callout.
 */
const SOFT_TRACE = 64;
const MAX_TRACE = 4096;
/** TC bytes reserved at the end so a trace in progress never overflows. */
const TRACE_ROOM = MAX_TRACE * 24 + 64;
const TC_BASE = (L.REGION_BASE + L.TC_OFF) >>> 0;
const CALLOUT = [0xcd, L.VEC_CALLOUT];

export type CalloutKind = "emulate" | "continue";

interface Callout {
  kind: CalloutKind;
  /** Guest instruction to emulate, or where to continue. */
  guest: number;
  /** Stub of a jump: TC offset of the rel32 to patch once the target is translated. */
  patchAt: number;
  /** A near RET (32-bit): the bytes it pops beyond the return address; -1 otherwise. */
  retPop: number;
  /** Why a "continue" callout exists: a jump stub, a trace limit, a fetch fault, an invalidated entry. */
  why: "stub" | "limit" | "fetch" | "invalidated" | "";
  /** For a stub: the trace whose jump it patches. */
  owner: Trace | null;
}

interface Trace {
  /**
   * TC addresses where execution may enter, with their guest EIPs: first the start and the
   * points after callouts (`hard` of them: an invalidated trace turns these into callouts),
   * then every other instruction boundary the trace registered (docs/bt.md, "Entries").
   */
  entries: number[];
  entryGuest: number[];
  hard: number;
  /** The guest bytes it was made from: per frame, the first and the byte past the last (frame, first, end). */
  spans: number[];
  live: boolean;
}

/**
 * Writes into a frame of translated code that touch none of its traces' bytes (data beside
 * code), after which the frame's traces all go and it is no longer traced (its writes then
 * cost no exit until its code is translated again).
 */
const FRAME_MISSES = 32;

/**
 * A map keyed by 32-bit addresses, stored under their int32 bits: kernel and monitor
 * addresses (0xC0000000 and up) are then small integers to V8, not heap numbers, which
 * makes every callout's look-ups several times cheaper.
 */
class AddressMap<V> {
  private readonly map = new Map<number, V>();
  get(addr: number): V | undefined { return this.map.get(addr | 0); }
  has(addr: number): boolean { return this.map.has(addr | 0); }
  set(addr: number, v: V): void { this.map.set(addr | 0, v); }
  delete(addr: number): void { this.map.delete(addr | 0); }
  clear(): void { this.map.clear(); }
  get size(): number { return this.map.size; }
}

/**
 * Guest EIP → the TC address of its translation: an Int32Map with a direct-mapped cache
 * in front. The RET and CALL helpers look up ten million targets on a Linux boot, in a map
 * of a quarter of a million entries; the cache answers most of them from two typed arrays,
 * the machine's NativeTargets table, which compiled code reads too (docs/bt.md, "Returns").
 * A slot holds a key's current TC address or nothing, never a stale one. Addresses are kept
 * as their int32 bits (no TC address is 0).
 */
class EntryMap {
  private readonly map = new Int32Map(16);
  private readonly keys: Int32Array;
  /** The TC address (int32 bits), 0 for an empty slot. */
  private readonly vals: Int32Array;
  constructor(table: NativeTargets) {
    this.keys = table.keys;
    this.vals = table.vals;
    this.vals.fill(0);
  }
  get(addr: number): number | undefined {
    const t = this.bits(addr);
    return t !== 0 ? t >>> 0 : undefined;
  }
  /**
   * The TC address's int32 bits, 0 for none: what the helpers use, since an address above
   * 2 GiB returned as a number is a heap number per call (10 M of them on a Linux boot).
   */
  bits(addr: number): number {
    const k = addr | 0, i = targetSlot(k);
    if (this.keys[i] === k && this.vals[i] !== 0) return this.vals[i];
    const v = this.map.get(k);
    if (v !== 0) { this.keys[i] = k; this.vals[i] = v; }
    return v;
  }
  has(addr: number): boolean { return this.map.has(addr | 0); }
  set(addr: number, v: number): void {
    const k = addr | 0, i = targetSlot(k);
    this.map.set(k, v | 0);
    if (this.keys[i] === k) this.vals[i] = v | 0;
  }
  delete(addr: number): void {
    const k = addr | 0, i = targetSlot(k);
    this.map.delete(k);
    if (this.keys[i] === k) this.vals[i] = 0;
  }
  clear(): void { this.map.clear(); this.vals.fill(0); }
  get size(): number { return this.map.size; }
}

/**
 * TC address → the guest EIP of the instruction whose translation starts there: a flat table
 * with an entry per TC byte (every translated instruction sets one, so a Map would grow by
 * a million entries on a Linux boot).
 */
class BoundaryTable {
  private readonly guest = new Int32Array(L.TC_BYTES);
  private readonly valid = new Uint8Array(L.TC_BYTES);
  private offset(tc: number): number {
    const o = ((tc | 0) - (TC_BASE | 0)) | 0;
    return o >= 0 && o < L.TC_BYTES ? o : -1;
  }
  get(tc: number): number | undefined {
    const o = this.offset(tc);
    return o >= 0 && this.valid[o] !== 0 ? this.guest[o] >>> 0 : undefined;
  }
  set(tc: number, g: number): void {
    const o = this.offset(tc);
    if (o < 0) throw new Error(`bt: 0x${(tc >>> 0).toString(16)} is outside the translation cache`);
    this.guest[o] = g;
    this.valid[o] = 1;
  }
  clear(): void { this.valid.fill(0); }
}

/**
 * What translate() builds a trace in, kept from one trace to the next (a Linux boot makes
 * sixteen thousand traces; arrays, pairs and maps made per trace were a third of what bt
 * allocated): the trace's bytes, and its instruction boundaries (offset in `out`, guest EIP,
 * whether an instruction was translated there or a stub or callout stands there).
 */
class TraceScratch {
  readonly out = new Uint8Array(TRACE_ROOM);
  n = 0;
  readonly boundAt = new Int32Array(2 * MAX_TRACE + 8);
  readonly boundGuest = new Int32Array(2 * MAX_TRACE + 8);
  readonly boundInstr = new Uint8Array(2 * MAX_TRACE + 8);
  bounds = 0;
  /** Guest EIP → 1 + the offset of its first translation in this trace. */
  private readonly firstAt = new Int32Map(10);

  reset(): void {
    for (let k = 0; k < this.bounds; k++) if (this.boundInstr[k] !== 0) this.firstAt.delete(this.boundGuest[k]);
    this.n = 0;
    this.bounds = 0;
  }
  /** Whether an instruction of the trace starts at offset `off` (the boundaries are in order). */
  boundaryAt(off: number): boolean {
    let lo = 0, hi = this.bounds - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1, at = this.boundAt[mid];
      if (at === off) return true;
      if (at < off) lo = mid + 1; else hi = mid - 1;
    }
    return false;
  }

  /** A boundary at the current offset: guest EIP `g`, an instruction translated there or not. */
  bound(g: number, instr: boolean): void {
    const k = this.bounds++;
    this.boundAt[k] = this.n;
    this.boundGuest[k] = g;
    this.boundInstr[k] = instr ? 1 : 0;
    if (instr && !this.firstAt.has(g | 0)) this.firstAt.set(g | 0, this.n + 1);
  }
  /** The offset where guest EIP `g` was first translated in this trace, -1 if it was not. */
  first(g: number): number { return this.firstAt.get(g | 0) - 1; }
  put32(at: number, v: number): void {
    const o = this.out;
    o[at] = v; o[at + 1] = v >>> 8; o[at + 2] = v >>> 16; o[at + 3] = v >>> 24;
  }
}

/** The native helpers over callouts (helperKind; the near CALL's is made apart, callHelper). */
const enum HelperKind { Ret, Pushf, Cli, Sti, Io, CallIndirect, Invlpg, PushSreg }

/** What the translator's helpers ask of the monitor (docs/bt.md, "Port I/O", "More helpers"). */
export interface TranslatorHost {
  /**
   * An IN or OUT of translated code done in place, on the guest's device at the guest's
   * time; false for a port the monitor leaves to the callout.
   */
  portIo(cpu: Cpu, ins: Instr): boolean;
  /**
   * The same access for compiled code's "io" form (native-targets.ts): `port`, `size` bytes,
   * an OUT of `value` when `out`, made at the time the machine's instruction count says;
   * the value an IN reads. Only for a port `inPlacePort` names.
   */
  portIoValue(port: number, size: number, out: boolean, value: number): number;
  /** STI of translated code: the vCPU's IF and interrupt shadow set, a pending interrupt's exit armed. */
  sti(): void;
  /** INVLPG m of translated code (`cpu` holds the guest's registers): the page's shadow entry dropped. */
  invlpg(cpu: Cpu, ins: Instr): void;
  /**
   * The same for compiled code's "invlpg" form, of offset `ea` in the guest's segment
   * register `seg`: the linear address whose machine TLB entry must go too, or -1.
   */
  shadowInvlpg(seg: number, ea: number): number;
}

export class Translator {
  private used = 0;
  /** Guest EIP → TC address of an entry point. */
  private readonly entries: EntryMap;
  /** TC address of each instruction boundary → guest EIP. */
  private readonly boundary = new BoundaryTable();
  private readonly scratch = new TraceScratch();
  /** TC address just after each callout INT (the frame's EIP) → what it asks. */
  private readonly callouts = new AddressMap<Callout>();
  /** Per traced frame: its writes since it was traced that touched no trace (FRAME_MISSES). */
  private readonly frameMisses = new Map<number, number>();
  /** Guest frame → traces made from it. */
  private readonly byFrame = new Map<number, Trace[]>();
  private readonly instrs = new Map<Handler, "callout" | "callout-end">();
  /** Entry TC address → the chained jumps into it: [TC offset of the rel32, the trace it is in]. */
  private readonly incoming = new AddressMap<[number, Trace][]>();

  /** TC offsets of the native helpers registered (makeHelper, callHelper), dropped with the cache. */
  private helpers: number[] = [];
  private readonly retNative: Cell;
  private readonly callNative: Cell;
  private readonly pushfNative: Cell;
  private readonly cliNative: Cell;
  private readonly ioNative: Cell;
  private readonly callIndirectNative: Cell;
  private readonly invlpgNative: Cell;
  private readonly pushSregNative: Cell;
  private readonly stiNative: Cell;

  constructor(
    private readonly world: World,
    private readonly vcpu: Cpu,
    private readonly shadow: ShadowMmu,
    private readonly counters: Counters,
    /** What the helpers ask of the monitor. */
    private readonly host: TranslatorHost,
  ) {
    // The RET and CALL helpers' look-ups, which compiled code may make in their place
    // (native-targets.ts): allowed while the vCPU's debug probe is not armed, for CALL targets
    // inside the guest's CS limit; done there, they are counted in the table's header.
    const targets = world.nativeTargets;
    this.entries = new EntryMap(targets);
    const h = targets.header;
    // So may the PUSHF and CLI helpers', on the guest's virtual flags (the vCPU's, handed to
    // the run in the header and taken back after it).
    h[TargetHeader.RET_COUNT] = 0;
    h[TargetHeader.CALL_COUNT] = 0;
    h[TargetHeader.PUSHF_COUNT] = 0;
    h[TargetHeader.CLI_COUNT] = 0;
    h[TargetHeader.CALLIND_COUNT] = 0;
    h[TargetHeader.PUSHSREG_COUNT] = 0;
    h[TargetHeader.VFLAGS_MASK] = L.VIRTUAL_FLAGS;
    // So may the PUSH Sreg helper's, with the guest's selectors (which change only in a callout).
    targets.refresh = () => {
      const segs = this.vcpu.segs;
      h[TargetHeader.ENABLED] = this.vcpu.debug.armed ? 0 : 1;
      h[TargetHeader.CALL_LIMIT] = segs[SegReg.CS].limit | 0;
      h[TargetHeader.VFLAGS] = this.vcpu.flags & L.VIRTUAL_FLAGS;
      for (let s = 0; s < 6; s++) h[TargetHeader.SELECTORS + s] = segs[s].selector;
    };
    const settle = (targets.settle = () => {
      if ((h[TargetHeader.VFLAGS] & F.IF) === 0) this.vcpu.flags &= ~F.IF;
    });
    // And the port I/O helper's, on the ports the monitor does in place (counted here). The
    // monitor looks at the guest's IF after the access, which a CLI form before it in the
    // same run cleared in the header only: taken back first, as the CLI helper would have.
    targets.invlpg = (seg, ea) => {
      this.invlpgNative.n++;
      return this.host.shadowInvlpg(seg, ea);
    };
    targets.io = {
      accepts: inPlacePort,
      transfer: (port, size, out, value) => {
        settle();
        this.ioNative.n++;
        return this.host.portIoValue(port, size, out, value);
      },
    };
    counters.source("bt.ret-native", () => h[TargetHeader.RET_COUNT]);
    counters.source("bt.call-native", () => h[TargetHeader.CALL_COUNT]);
    counters.source("bt.pushf-native", () => h[TargetHeader.PUSHF_COUNT]);
    counters.source("bt.cli-native", () => h[TargetHeader.CLI_COUNT]);
    counters.source("bt.call-indirect-native", () => h[TargetHeader.CALLIND_COUNT]);
    counters.source("bt.push-sreg-native", () => h[TargetHeader.PUSHSREG_COUNT]);
    for (const h of X.CALLOUT_END) this.instrs.set(h, "callout-end");
    for (const h of X.CALLOUT) this.instrs.set(h, "callout");
    this.retNative = counters.cell("bt.ret-native");
    this.callNative = counters.cell("bt.call-native");
    this.pushfNative = counters.cell("bt.pushf-native");
    this.cliNative = counters.cell("bt.cli-native");
    this.ioNative = counters.cell("bt.io-native");
    this.callIndirectNative = counters.cell("bt.call-indirect-native");
    this.invlpgNative = counters.cell("bt.invlpg-native");
    this.pushSregNative = counters.cell("bt.push-sreg-native");
    this.stiNative = counters.cell("bt.sti-native");
  }

  /**
   * A translated near RET (docs/bt.md, "Returns"): native code the machine runs at CPL 1
   * where the RET's callout INT sits, as one instruction, the guest's RET. It pops the
   * return address from the guest's stack through the machine's SS (a #SS or #PF is the
   * RET's own, at its TC address, which maps back to the guest RET) and goes on at that
   * address's translation. With no translation there yet, it does what the bytes under it
   * say: INT 0xF1, the callout (which translates). So it does, as the other helpers do,
   * while the vCPU's debug probe is armed (a debugger's breakpoint, step or stop request):
   * the monitor must see the instruction before it runs (docs/gdb.md).
   */
  private tcReturn(cpu: Cpu, slot: number, retPop: number): void {
    if (this.mayRun(cpu, true)) {
      const esp = cpu.regs[Reg.ESP];
      const target = cpu.read32(SegReg.SS, esp);
      const tc = this.entries.bits(target);
      if (tc !== 0) {
        cpu.regs[Reg.ESP] = (esp + 4 + retPop) | 0;
        cpu.eip = tc >>> 0;
        this.retNative.n++;
        return;
      }
    }
    this.calloutInt(cpu, slot);
  }

  /**
   * A CALL rel32 whose callee already has a translation (docs/bt.md, "Calls"): native at
   * CPL 1 as RET's helper, one instruction, the guest's CALL. It pushes the guest's return
   * address on the guest's stack through the machine's SS (a fault is the CALL's own) and
   * goes on at the callee's translation. A callee past the guest's CS limit, or no longer
   * translated: the callout, which runs the CALL on the vCPU.
   */
  private tcCall(cpu: Cpu, slot: number, ret: number, target: number): void {
    if (this.mayRun(cpu, true) && this.callTranslated(cpu, ret, target)) { this.callNative.n++; return; }
    this.calloutInt(cpu, slot);
  }

  /**
   * PUSHF (32-bit operand size) in translated code, native at CPL 1 as RET's helper: the
   * machine's flags with the guest's virtual ones (IF, IOPL: the vCPU's), pushed on the
   * guest's stack (a fault is the PUSHF's own). Linux's interrupt-state saves run through it.
   */
  private tcPushf(cpu: Cpu, slot: number): void {
    if (this.mayRun(cpu, true)) {
      const f = ((cpu.getEflags() & ~L.VIRTUAL_FLAGS) | (this.vcpu.flags & L.VIRTUAL_FLAGS)) & ~(F.VM | F.RF);
      const esp = (cpu.regs[Reg.ESP] - 4) | 0;
      cpu.write32(SegReg.SS, esp, f);
      cpu.regs[Reg.ESP] = esp;
      cpu.eip = (slot + 2) >>> 0;
      this.pushfNative.n++;
      return;
    }
    this.calloutInt(cpu, slot);
  }

  /**
   * CALL r/m32 in translated code (docs/bt.md, "More helpers"): the target read as the
   * guest's CALL reads it (a fault there is the CALL's own), then as tcCall when the target
   * has a translation.
   */
  private tcCallIndirect(cpu: Cpu, slot: number, ins: Instr, next: number): void {
    if (this.mayRun(cpu, true) && this.callTranslated(cpu, next, cpu.readE32(ins) >>> 0)) { this.callIndirectNative.n++; return; }
    this.calloutInt(cpu, slot);
  }

  /**
   * INVLPG m in translated code: the monitor drops the shadow entry of the page, as the
   * processor drops its TLB entry, so the next access walks the guest's tables again and
   * sets their A bit (docs/monitor.md, "Coherence"); the machine's registers are the
   * guest's here.
   */
  private tcInvlpg(cpu: Cpu, slot: number, ins: Instr): void {
    if (this.mayRun(cpu, false)) {
      this.host.invlpg(cpu, ins);
      cpu.eip = (slot + 2) >>> 0;
      this.invlpgNative.n++;
      return;
    }
    this.calloutInt(cpu, slot);
  }

  /**
   * PUSH Sreg (32-bit operand size) in translated code: the guest's selector (the vCPU's:
   * the machine runs the guest with its own), stored as the interpreter stores it (16 bits
   * written, 4 bytes checked; a fault is the PUSH's own).
   */
  private tcPushSreg(cpu: Cpu, slot: number, seg: number): void {
    if (this.mayRun(cpu, true)) {
      const esp = (cpu.regs[Reg.ESP] - 4) | 0;
      cpu.write16(SegReg.SS, esp >>> 0, this.vcpu.segs[seg].selector);
      cpu.checkWrite(SegReg.SS, esp >>> 0, 4);
      cpu.regs[Reg.ESP] = esp;
      cpu.eip = (slot + 2) >>> 0;
      this.pushSregNative.n++;
      return;
    }
    this.calloutInt(cpu, slot);
  }

  /** STI in translated code: the monitor sets the guest's virtual IF (and its interrupt shadow) in place. */
  private tcSti(cpu: Cpu, slot: number): void {
    if (this.mayRun(cpu, false)) {
      cpu.eip = (slot + 2) >>> 0;
      this.host.sti();
      this.stiNative.n++;
      return;
    }
    this.calloutInt(cpu, slot);
  }

  /** IN or OUT (not INS/OUTS) in translated code, native at CPL 1 on the ports the monitor does in place. */
  private tcIo(cpu: Cpu, slot: number, ins: Instr): void {
    if (this.mayRun(cpu, false)) {
      cpu.eip = (slot + 2) >>> 0;
      if (this.host.portIo(cpu, ins)) { this.ioNative.n++; return; }
    }
    this.calloutInt(cpu, slot);
  }

  /** CLI in translated code, native at CPL 1: the guest's virtual IF (the vCPU's) cleared. */
  private tcCli(cpu: Cpu, slot: number): void {
    if (this.mayRun(cpu, false)) {
      this.vcpu.flags &= ~F.IF;
      cpu.eip = (slot + 2) >>> 0;
      this.cliNative.n++;
      return;
    }
    this.calloutInt(cpu, slot);
  }

  /**
   * Which native helper goes over the callout of `ins`, if any (a near RET: `retPop` ≥ 0).
   * Only the decision: translate() asks it of every instruction it translates (half a million
   * on a Linux boot), and a function holding a closure that captures its variables allocates
   * their context on every call; `makeHelper` makes the helper when one is placed.
   */
  private helperKind(ins: Instr, retPop: number): HelperKind | null {
    const h = ins.handler;
    if (retPop >= 0) return HelperKind.Ret;
    if (h === X.pushf && ins.opsize32) return HelperKind.Pushf;
    if (h === X.cli) return HelperKind.Cli;
    if (h === X.portInOut[0] || h === X.portInOut[1]) return HelperKind.Io;
    if (h === X.callIndirect && ins.opsize32 && ins.seg !== SegReg.CS) return HelperKind.CallIndirect;
    if (h === X.invlpg && ins.hasMem) return HelperKind.Invlpg;
    if (h === X.pushSreg && ins.opsize32) return HelperKind.PushSreg;
    if (h === X.sti) return HelperKind.Sti;
    return null;
  }

  /** The helper of `kind` for `ins` (the next instruction at `next`), made for its TC address. */
  private makeHelper(kind: HelperKind, ins: Instr, next: number, retPop: number): (slot: number) => (cpu: Cpu) => void {
    switch (kind) {
      case HelperKind.Ret: return (slot) => (cpu) => this.tcReturn(cpu, slot, retPop);
      case HelperKind.Pushf: return (slot) => (cpu) => this.tcPushf(cpu, slot);
      case HelperKind.Cli: return (slot) => (cpu) => this.tcCli(cpu, slot);
      case HelperKind.Sti: return (slot) => (cpu) => this.tcSti(cpu, slot);
      case HelperKind.Io: return (slot) => (cpu) => this.tcIo(cpu, slot, ins);
      case HelperKind.CallIndirect: return (slot) => (cpu) => this.tcCallIndirect(cpu, slot, ins, next);
      case HelperKind.Invlpg: return (slot) => (cpu) => this.tcInvlpg(cpu, slot, ins);
      case HelperKind.PushSreg: {
        const seg = segOfPushPop(ins.opcode);
        return (slot) => (cpu) => this.tcPushSreg(cpu, slot, seg);
      }
    }
  }

  /** The near CALL's helper (`next`: the return address), made apart from translate's loop for the same reason. */
  private callHelper(next: number, target: number): (slot: number) => (cpu: Cpu) => void {
    return (slot) => (cpu) => this.tcCall(cpu, slot, next, target);
  }

  /**
   * Whether a helper may do its instruction's work itself: at CPL 1 (in the cache), with a
   * 32-bit stack when it uses one, and while no debugger or guest breakpoint needs the
   * monitor to see each instruction first (docs/gdb.md). Otherwise it takes the callout.
   */
  // (The helpers pass stack offsets to the Cpu's accessors as int32 bits, which they take
  // modulo 2^32: a kernel stack above 2 GiB passed as `esp >>> 0` was a heap number per call.)
  private mayRun(cpu: Cpu, usesStack: boolean): boolean {
    return cpu.cpl === 1 && (!usesStack || cpu.segs[SegReg.SS].big) && !this.vcpu.debug.armed;
  }

  /**
   * The CALL helpers' common part: push the guest's return address `ret` through the
   * machine's SS (a fault is the CALL's own) and go on at `target`'s translation. False,
   * with nothing done, when `target` has none or lies past the guest's CS limit.
   */
  private callTranslated(cpu: Cpu, ret: number, target: number): boolean {
    const tc = target <= this.vcpu.segs[SegReg.CS].limit ? this.entries.bits(target) : 0;
    if (tc === 0) return false;
    const esp = (cpu.regs[Reg.ESP] - 4) | 0;
    cpu.write32(SegReg.SS, esp, ret);
    cpu.regs[Reg.ESP] = esp;
    cpu.eip = tc >>> 0;
    return true;
  }

  /** What the bytes under a helper say: INT 0xF1, the callout (on the strict CPU, its #GP). */
  private calloutInt(cpu: Cpu, slot: number): void {
    if (cpu.strictRefuses()) return;
    cpu.eip = (slot + 2) >>> 0;
    cpu.deliver(L.VEC_CALLOUT, IntKind.Software, 0, false);
  }

  /**
   * The TC address at which to run guest kernel code at `eip`, translating it if needed.
   * -1: the first instruction cannot be fetched (the vCPU must take the fault);
   * -2: code this translator does not handle (a CS base other than 0, 16-bit code).
   */
  enter(eip: number, cs: SegmentCache): number {
    if (cs.base !== 0 || !cs.big) { this.counters.inc("bt.untranslatable"); return -2; }
    const have = this.entries.get(eip >>> 0);
    if (have !== undefined) return have;
    return this.translate(eip >>> 0);
  }

  /** The guest EIP for a machine EIP in the TC at an instruction boundary. */
  guestEip(tc: number): number {
    const g = this.boundary.get(tc >>> 0);
    if (g === undefined) throw new Error(`bt: TC address 0x${(tc >>> 0).toString(16)} is not an instruction boundary`);
    return g;
  }

  /**
   * A callout arrived with the frame's EIP `tcAfter` (just past its INT). Returns what to do
   * and the guest EIP it concerns; a jump stub is resolved and patched here.
   */
  callout(tcAfter: number): { kind: CalloutKind; guest: number } {
    const c = this.callouts.get(tcAfter >>> 0);
    if (c === undefined) throw new Error(`bt: no callout at 0x${(tcAfter >>> 0).toString(16)}`);
    if (c.kind === "continue") this.counters.inc(`bt.continue.${c.why}`);
    if (c.patchAt >= 0) {
      const target = this.enter(c.guest, this.vcpu.segs[1]);
      if (target >= 0 && this.callouts.get(tcAfter >>> 0) === c) {
        // Chain: the jump now goes straight to the target's translation.
        const rel = (target - (TC_BASE + c.patchAt + 4)) | 0;
        this.world.put32(L.TC_OFF + c.patchAt, rel);
        if (c.owner !== null) this.addIncoming(target, c.patchAt, c.owner);
        c.patchAt = -1;
        this.counters.inc("bt.chain");
      }
    }
    return c;
  }

  /** The callout whose INT ends just before `tcAfter`, if any (no side effects). */
  peek(tcAfter: number): Callout | undefined {
    return this.callouts.get(tcAfter);
  }

  /** The translation of guest `eip`, if there is one (no translating). */
  lookup(eip: number): number | undefined {
    return this.entries.get(eip);
  }

  /**
   * Guest code frame `frame` was written, bytes [first, end) of it: the traces made from
   * those bytes are invalid (docs/bt.md, "Self-modifying code"). The frame stays traced while
   * traces from it remain, until FRAME_MISSES writes have touched none of them: then they
   * all go, as a frame that has become data.
   */
  codeWritten(frame: number, first: number, end: number): void {
    const list = this.byFrame.get(frame);
    if (list === undefined) return;
    const misses = this.frameMisses.get(frame) ?? 0, all = misses + 1 >= FRAME_MISSES;
    let hit = false;
    for (const t of list) {
      if (t.live && (all || touches(t, frame, first, end))) { this.invalidate(t); hit = true; }
    }
    const left = list.filter((t) => t.live);
    if (left.length === 0) {
      this.byFrame.delete(frame);
      this.frameMisses.delete(frame);
      this.shadow.untrace(frame, TRACE_CODE);
      return;
    }
    this.byFrame.set(frame, left);
    if (!hit) this.frameMisses.set(frame, misses + 1);
  }

  /** Trace `t` goes: its entries, the helpers at its start, the jumps chained into it. */
  private invalidate(t: Trace): void {
    t.live = false;
    this.counters.inc("bt.invalidate");
    for (let k = 0; k < t.entries.length; k++) {
      const at = t.entries[k], g = t.entryGuest[k];
      if (this.entries.get(g) === at) this.entries.delete(g);
      if (k < t.hard) {
        // A trace that starts with a RET: its helper goes with the entry.
        this.world.unregisterHelper(at - L.REGION_BASE);
        // Anything still jumping here asks the monitor to translate again.
        this.world.put8(at - L.REGION_BASE, CALLOUT[0]);
        this.world.put8(at + 1 - L.REGION_BASE, CALLOUT[1]);
        this.callouts.set(at + 2, { kind: "continue", guest: g, patchAt: -1, retPop: -1, why: "invalidated", owner: null });
        this.boundary.set(at, g);
      }
      // Jumps chained here from live traces go back to a stub, to be chained anew.
      const into = this.incoming.get(at);
      this.incoming.delete(at);
      for (const [site, owner] of into ?? []) {
        if (!owner.live || this.used + 2 > L.TC_BYTES) continue;
        const stub = (TC_BASE + this.used) >>> 0;
        this.world.put8(L.TC_OFF + this.used, CALLOUT[0]);
        this.world.put8(L.TC_OFF + this.used + 1, CALLOUT[1]);
        this.used += 2;
        this.callouts.set(stub + 2, { kind: "continue", guest: g, patchAt: site, retPop: -1, why: "stub", owner });
        this.boundary.set(stub, g);
        this.world.put32(L.TC_OFF + site, (stub - (TC_BASE + site + 4)) | 0);
        this.counters.inc("bt.unchain");
      }
    }
  }

  private addIncoming(entry: number, site: number, owner: Trace): void {
    const list = this.incoming.get(entry);
    if (list) list.push([site, owner]); else this.incoming.set(entry, [[site, owner]]);
  }

  /** Drop every translation (the cache is full). */
  flush(): void {
    this.counters.inc("bt.flush");
    for (const off of this.helpers) this.world.unregisterHelper(L.TC_OFF + off);
    this.helpers = [];
    this.used = 0;
    this.entries.clear();
    this.boundary.clear();
    this.callouts.clear();
    this.incoming.clear();
    for (const f of this.byFrame.keys()) this.shadow.untrace(f, TRACE_CODE);
    this.byFrame.clear();
    this.frameMisses.clear();
  }

  stats(): Record<string, number> {
    return { "bt.cache-bytes": this.used, "bt.entry-points": this.entries.size };
  }

  // ===================================================================================

  /**
   * How many bytes (0–15) to leave before the trace in the scratch, so that no instruction of
   * it straddles a page of the cache: every page boundary inside it falls on an instruction
   * boundary. (The block compiler ends a block before an instruction that crosses its page,
   * so every run through one left compiled code for the interpreter: 65 k times on Linux's
   * boot at its three busiest.) The bytes skipped are never run. 0 if no such offset exists.
   */
  private placement(): number {
    const sc = this.scratch, n = sc.n;
    for (let p = 0; p < 16; p++) {
      const start = this.used + p;
      if (start + TRACE_ROOM > L.TC_BYTES) return 0;
      let fits = true;
      for (let b = (start & ~0xfff) + 0x1000; b < start + n && fits; b += 0x1000) fits = sc.boundaryAt(b - start);
      if (fits) return p;
    }
    return 0;
  }

  private translate(start: number): number {
    if (this.used + TRACE_ROOM > L.TC_BYTES) this.flush();
    const vc = this.vcpu;
    const sc = this.scratch;
    sc.reset();
    const out = sc.out;
    const callouts: [number, Callout][] = [];
    const jumps: { at: number; target: number }[] = [];
    const trace: Trace = { entries: [], entryGuest: [], hard: 0, spans: [], live: true };
    // The trace's bytes in guest frame `frame`: its span there widened to take [first, end).
    const spans = trace.spans;
    const span = (frame: number, first: number, end: number): void => {
      for (let k = 0; k < spans.length; k += 3) {
        if (spans[k] !== frame) continue;
        if (first < spans[k + 1]) spans[k + 1] = first;
        if (end > spans[k + 2]) spans[k + 2] = end;
        return;
      }
      spans.push(frame, first, end);
    };
    const continues = new Set<number>();
    /** Callouts a native helper goes over (near RET, PUSHF, CLI): [offset in `out`, the helper for its TC address]. */
    const helpers: [number, (slot: number) => (cpu: Cpu) => void, NativeForm?][] = [];
    const callout = (kind: CalloutKind, guest: number, patchAt = -1, retPop = -1, why: Callout["why"] = ""): void => {
      if (kind === "continue") continues.add(sc.n);
      out[sc.n++] = CALLOUT[0];
      out[sc.n++] = CALLOUT[1];
      callouts.push([sc.n, { kind, guest, patchAt, retPop, why, owner: patchAt >= 0 ? trace : null }]);
    };
    let g = start;
    for (let n = 0; ; n++) {
      if (n >= MAX_TRACE) { sc.bound(g, false); callout("continue", g, -1, -1, "limit"); break; }
      let ins: Instr;
      try {
        ins = decode(vc, g, true, scratchInstr);
        const first = vc.translateRead(g, false), last = vc.translateRead(g + ins.len - 1, false);
        if (first >>> 12 === last >>> 12) span(first >>> 12, first & 0xfff, (last & 0xfff) + 1);
        else { span(first >>> 12, first & 0xfff, 4096); span(last >>> 12, 0, (last & 0xfff) + 1); }
      } catch (e) {
        if (e !== vc.fault) throw e;
        if (n === 0) return -1;
        sc.bound(g, false);
        callout("continue", g, -1, -1, "fetch");
        break;
      }
      sc.bound(g, true);
      const next = (g + ins.len) >>> 0;
      const kind = this.instrs.get(ins.handler);
      if (ins.handler === X.jmpRel && ins.opsize32) {
        out[sc.n] = 0xe9;
        sc.n += 5;
        jumps.push({ at: sc.n - 4, target: (next + ins.imm) >>> 0 });
        break;
      }
      if (ins.handler === X.jccRel && ins.opsize32) {
        out[sc.n] = 0x0f; out[sc.n + 1] = 0x80 | (ins.opcode & 0xf);
        sc.n += 6;
        jumps.push({ at: sc.n - 4, target: (next + ins.imm) >>> 0 });
        g = next;
        continue;
      }
      if (ins.handler === X.callRel && ins.opsize32 && this.entries.has((next + ins.imm) >>> 0)) {
        // The callee is translated already: a callout with a native helper over it that
        // calls there; the translation goes on at the return address (an entry the callee's
        // RET finds).
        const target = (next + ins.imm) >>> 0;
        helpers.push([sc.n, this.callHelper(next, target), { kind: "call", ret: next, target }]);
        callout("emulate", g);
        this.counters.inc("bt.callout-site");
        trace.entries.push(sc.n);
        trace.entryGuest.push(next);
        g = next;
        continue;
      }
      if (ins.handler === X.callRel && ins.opsize32) {
        out[sc.n] = 0x68; sc.put32(sc.n + 1, next);
        sc.n += 5;
        g = (next + ins.imm) >>> 0;
        this.counters.inc("bt.call-inlined");
        continue;
      }
      const retPop = ins.handler === X.retNear && ins.opsize32 ? (ins.opcode === 0xc2 ? ins.imm & 0xffff : 0) : -1;
      const helper = this.helperKind(ins, retPop);
      if (n >= SOFT_TRACE && kind === "callout" && helper === null) {
        // Long enough: end here, at a callout that continues with a fresh trace. (Not at a
        // helper's: it goes on at the bytes after it.)
        callout("emulate", g);
        this.counters.inc("bt.callout-site");
        break;
      }
      if (kind !== undefined || X.CONTROL_FLOW.has(ins.handler)) {
        // Run on the vCPU; after an instruction that does not transfer control, go on
        // with the translation that follows it.
        if (helper !== null) helpers.push([sc.n, this.makeHelper(helper, keepInstr(ins), next, retPop), helperForm(helper, ins, retPop, next)]);
        callout("emulate", g, -1, retPop);
        this.counters.inc("bt.callout-site");
        if (kind === "callout") {
          trace.entries.push(sc.n);
          trace.entryGuest.push(next);
          g = next;
          continue;
        }
        break;
      }
      for (let k = 0; k < ins.len; k++) out[sc.n++] = vc.readLin8((g + k) | 0, false);
      g = next;
    }
    // Where it goes: a few bytes on, if that keeps every instruction of it inside a page of
    // the cache (placement).
    this.used += this.placement();
    // Jumps: to this trace, to an existing translation, or to a stub that translates.
    const chained: [number, number][] = [];
    for (const j of jumps) {
      let dest = sc.first(j.target);
      let destAddr = dest >= 0 ? TC_BASE + this.used + dest : this.entries.get(j.target);
      if (dest < 0 && destAddr !== undefined) chained.push([destAddr, this.used + j.at]);
      if (destAddr === undefined) {
        dest = sc.n;
        sc.bound(j.target, false);
        callout("continue", j.target, this.used + j.at, -1, "stub");
        destAddr = TC_BASE + this.used + dest;
      }
      sc.put32(j.at, destAddr - (TC_BASE + this.used + j.at + 4));
    }
    // Commit.
    const base = this.used;
    this.world.putBytes(L.TC_OFF + base, out.subarray(0, sc.n));
    this.used += sc.n;
    const at = (TC_BASE + base) >>> 0;
    for (let k = 0; k < sc.bounds; k++) this.boundary.set((at + sc.boundAt[k]) >>> 0, sc.boundGuest[k]);
    for (const [off, c] of callouts) this.callouts.set((at + off) >>> 0, c);
    for (const [off, helper, form] of helpers) {
      this.world.registerHelper(L.TC_OFF + base + off, helper((at + off) | 0), form);
      this.helpers.push(base + off);
    }
    for (const [dest, site] of chained) this.addIncoming(dest, site, trace);
    // An entry point where the trace only says "continue there" would send the monitor in
    // a circle: such points are not entries.
    const keep = trace.entries.map((o, k) => [o, trace.entryGuest[k]] as const).filter(([o]) => !continues.has(o));
    trace.entries = [at, ...keep.map(([o]) => (at + o) >>> 0)];
    trace.entryGuest = [start, ...keep.map(([, g]) => g)];
    trace.hard = trace.entries.length;
    for (let k = 0; k < trace.entries.length; k++) {
      if (!this.entries.has(trace.entryGuest[k])) this.entries.set(trace.entryGuest[k], trace.entries[k]);
    }
    // Every other instruction translated here is an entry too, for guest code that has none
    // yet: a jump into the middle of this trace chains to it rather than translating the
    // rest again (one machine instruction per guest instruction makes any boundary a place
    // where machine and guest state agree). An instruction translated twice (an inlined
    // callee called twice) enters at its first translation.
    for (let k = 0; k < sc.bounds; k++) {
      if (sc.boundInstr[k] === 0) continue;
      const g = sc.boundGuest[k] >>> 0;
      if (this.entries.has(g)) continue;
      const tc = (at + sc.boundAt[k]) >>> 0;
      this.entries.set(g, tc);
      trace.entries.push(tc);
      trace.entryGuest.push(g);
    }
    for (let k = 0; k < spans.length; k += 3) {
      const f = spans[k];
      const list = this.byFrame.get(f);
      if (list) list.push(trace); else this.byFrame.set(f, [trace]);
      this.shadow.trace(f, TRACE_CODE);
    }
    this.counters.inc("bt.translate");
    this.counters.inc("bt.guest-instructions-translated", sc.bounds);
    return at;
  }
}

/** Whether trace `t` was made from bytes [first, end) of guest frame `frame` (its span there overlaps them). */
function touches(t: Trace, frame: number, first: number, end: number): boolean {
  const s = t.spans;
  for (let k = 0; k < s.length; k += 3) if (s[k] === frame && s[k + 1] < end && first < s[k + 2]) return true;
  return false;
}

/**
 * The form (native-targets.ts) of the helper of `kind` makeHelper makes for `ins`, which compiled
 * code may run in its place: every kind but STI's.
 */
function helperForm(kind: HelperKind, ins: Instr, retPop: number, next: number): NativeForm | undefined {
  const at = (): FormAddress => ({ seg: ins.seg, base: ins.eaBase, index: ins.eaIndex, scale: ins.eaScale, disp: ins.disp });
  switch (kind) {
    case HelperKind.Ret: return { kind: "ret", pop: retPop };
    case HelperKind.Pushf: return { kind: "pushf" };
    case HelperKind.Cli: return { kind: "cli" };
    case HelperKind.Io: return { kind: "io", port: (ins.opcode & 0x08) !== 0 ? -1 : ins.imm & 0xff, size: ioSize(ins) as 1 | 2 | 4, out: ioIsOut(ins) };
    case HelperKind.CallIndirect: return { kind: "callind", ret: next, reg: ins.hasMem ? -1 : ins.rm, ...at() };
    case HelperKind.Invlpg: return { kind: "invlpg", ...at() };
    case HelperKind.PushSreg: return { kind: "pushsreg", seg: segOfPushPop(ins.opcode) };
    case HelperKind.Sti: return undefined;
  }
}
