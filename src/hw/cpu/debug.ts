// The debug facilities of one processor: the architectural debug registers DR0–DR3, DR6,
// DR7 as the guest programs them (SDM vol. 3 ch. 18 "Debug, Branch Profile, TSC, and
// Intel Resource Director Technology Features", §18.2 and §18.3), and a host-side probe —
// breakpoints, watchpoints, single-step and stop requests from a debugger outside the
// machine (gdb), which the software on the machine cannot see, as an in-circuit emulator's
// probe mode is invisible to it.
//
// Nothing here costs anything while nothing is armed: the CPU runs its ordinary loop (and
// compiled blocks) and looks here only when `armed` is set (Cpu.runDebug). Data accesses are
// seen through the TLB: a linear page holding a watched address is never cached, so every
// access to it misses and is checked (Cpu.tlbMiss), and accesses to other pages cost nothing.
//
//   DR7:  31..30 29..28 27..26 25..24 23..22 21..20 19..18 17..16  13  9  8  7 6 5 4 3 2 1 0
//          LEN3   R/W3   LEN2   R/W2   LEN1   R/W1   LEN0   R/W0   GD GE LE G3L3G2L2G1L1G0L0
//   R/W: 00 instruction execution, 01 data writes, 10 I/O (CR4.DE; not modelled), 11 data
//   reads and writes. LEN: 00 1 byte, 01 2, 11 4, 10 8 (SDM vol. 3 §18.2.5).
//   DR6:  B0–B3 (bits 0–3) which breakpoint conditions were met, BD (13) a MOV DR with
//   DR7.GD, BS (14) single-step, BT (15) task switch. The processor never clears them.

export const DR6_BD = 1 << 13;
export const DR6_BS = 1 << 14;
export const DR7_GD = 1 << 13;

/** What a host-side watchpoint fires on (gdb's Z2, Z3, Z4). */
export type WatchKind = "write" | "read" | "access";

export interface HostWatch { lin: number; len: number; kind: WatchKind }

/** Why the host probe stopped the processor (StopReason.Debug). */
export type ProbeHit =
  | { kind: "break"; lin: number }
  | { kind: "watch"; lin: number; watch: HostWatch }
  | { kind: "step" }
  | { kind: "stop" };

/** A guest data breakpoint, decoded from DR0–DR3 and DR7. */
interface GuestWatch { lo: number; hi: number; write: boolean; bit: number }

export class DebugUnit {
  /** Something needs the checking loop: a guest breakpoint enabled, or the host probe set. */
  armed = false;
  /** A data breakpoint (guest or host) exists: watched pages bypass the TLB. */
  watching = false;

  // ---- The guest's debug registers, decoded (recomputed on every MOV to DR0–DR3/DR7) ----
  /** Enabled instruction breakpoints: linear address → DR6 bit. */
  private readonly guestExec = new Map<number, number>();
  private guestData: GuestWatch[] = [];
  /** DR6 bits of the guest data breakpoints the current instruction met. */
  guestHits = 0;

  // ---- The host probe ----
  readonly hostBreaks = new Set<number>();
  hostWatches: HostWatch[] = [];
  /** Stop after the next instruction. */
  step = false;
  /** Stop before the next instruction. */
  stopRequested = false;
  /** A host breakpoint at this linear address is passed once (resuming from it). */
  skipLin = -1;
  /** The host watchpoint the current instruction met. */
  hostHit: HostWatch | null = null;
  hostHitLin = 0;
  /** Why the processor last stopped for the probe. */
  hit: ProbeHit | null = null;

  /** Linear page numbers holding any watched byte. */
  private readonly pages = new Set<number>();

  /** Decode DR0–DR3 and DR7 after a write to one of them. */
  guestChanged(dr: Int32Array): void {
    this.guestExec.clear();
    this.guestData = [];
    const dr7 = dr[7];
    for (let n = 0; n < 4; n++) {
      if (((dr7 >>> (n * 2)) & 3) === 0) continue; // neither Ln nor Gn
      const rw = (dr7 >>> (16 + n * 4)) & 3;
      const lenBits = (dr7 >>> (18 + n * 4)) & 3;
      const len = lenBits === 0 ? 1 : lenBits === 1 ? 2 : lenBits === 3 ? 4 : 8;
      if (rw === 0) {
        // An instruction breakpoint matches the instruction's first byte (LEN must be 00).
        const lin = dr[n] >>> 0;
        this.guestExec.set(lin, (this.guestExec.get(lin) ?? 0) | (1 << n));
      } else if (rw === 1 || rw === 3) {
        // The address is aligned down to the length (SDM §18.2.5: low bits are ignored).
        const lo = (dr[n] & ~(len - 1)) >>> 0;
        this.guestData.push({ lo, hi: lo + len - 1, write: rw === 1, bit: 1 << n });
      }
      // rw === 2: I/O breakpoints (CR4.DE) are not modelled.
    }
    this.update();
  }

  /** The guest instruction breakpoints at `lin`, as DR6 bits (0: none). */
  guestExecAt(lin: number): number {
    return this.guestExec.size === 0 ? 0 : this.guestExec.get(lin >>> 0) ?? 0;
  }

  /** Recompute what is armed after any change. */
  update(): void {
    this.pages.clear();
    for (const w of this.guestData) this.addPages(w.lo, w.hi);
    for (const w of this.hostWatches) this.addPages(w.lin, w.lin + w.len - 1);
    this.watching = this.pages.size > 0;
    this.armed = this.watching || this.guestExec.size > 0 || this.hostBreaks.size > 0 || this.step || this.stopRequested;
  }

  private addPages(lo: number, hi: number): void {
    for (let p = lo >>> 12; p <= hi >>> 12; p++) this.pages.add(p);
  }

  /** Is linear page `page` watched (so the TLB must not cache it)? */
  watchedPage(page: number): boolean {
    return this.pages.has(page);
  }

  /** A data access of `size` bytes at `lin` (on a watched page): note the breakpoints it meets. */
  access(lin: number, size: number, write: boolean): void {
    if (size === 0) return; // an instruction fetch
    lin >>>= 0;
    const end = lin + size - 1;
    for (const w of this.guestData) {
      if ((write || !w.write) && lin <= w.hi && end >= w.lo) this.guestHits |= w.bit;
    }
    if (this.hostHit === null) {
      for (const w of this.hostWatches) {
        const fires = w.kind === "access" || (w.kind === "write") === write;
        if (fires && lin <= w.lin + w.len - 1 && end >= w.lin) { this.hostHit = w; this.hostHitLin = w.lin; break; }
      }
    }
  }
}
