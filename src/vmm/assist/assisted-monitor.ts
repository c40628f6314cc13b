// What every hardware-assisted monitor shares (`--mode vtx`, docs/vmx.md; `--mode svm`,
// docs/svm.md): the guest's virtual platform and vCPU, guest time, the host's idle loop and
// deadline timer, interrupt delivery, and the integrity check. A technique adds how it
// enters the guest and what it does on each exit.
//
// The guest runs in the processor's guest mode (VMX non-root operation, or SVM guest mode)
// until something the monitor asked for exits. Then native monitor code runs at host CPL 0:
// it brings the guest's state into the vCPU (the instruction-level emulator the classic
// monitor uses, which holds the guest's devices), carries out what the guest did, delivers
// interrupts from the virtual devices through the guest's IDT, and enters the guest again.
//
// Host memory (machine-physical, just above the guest's RAM) starts with what every
// technique has; each adds its own structures from HOST_PRIVATE on:
//   +0x0000 host GDT   +0x1000 host IDT   +0x2000 native entries   +0x3000 host stack (to +0x4000)
//
// Time (docs/monitor.md): guest time = machine cycles − overhead, where the overhead counts
// each native entry the host ran. The host's local APIC timer, in TSC-deadline mode, is armed
// at the guest's next virtual-device event plus the overhead and brings an exit at exactly
// that guest instruction. An interrupt the guest cannot take yet (IF = 0 or an interrupt
// shadow) is left to the hardware's interrupt window. A halted guest idles the machine: the
// host runs STI; HLT until the deadline timer's interrupt arrives through its own IDT.

import { Machine } from "../../hw/machine.js";
import { Cpu, Reg, CR0_PE, CR0_ET } from "../../hw/cpu/cpu.js";
import type { CpuModel } from "../../hw/cpu/models.js";
import { Descriptor, SegReg } from "../../hw/cpu/segment.js";
import { StopReason } from "../../hw/cpu/fault.js";
import * as F from "../../hw/cpu/eflags.js";
import type { Instr } from "../../hw/cpu/instr.js";
import { PhysicalMemory } from "../../hw/mem/physical-memory.js";
import { IoBus } from "../../hw/io/io-bus.js";
import { PcPlatform, type PcOptions, type PcRunOptions } from "../../hw/pc/pc.js";
import type { RunEnd } from "../../hw/pc/clocked-run.js";
import type { BootTarget } from "../../hw/pc/boot-entry.js";
import { LocalApic, ApicReg, APIC_TIMER_TSC_DEADLINE } from "../../hw/dev/apic/local-apic.js";
import { NS_PER_CYCLE } from "../../hw/dev/device.js";
import { Counters } from "../stats/counters.js";
import { MonitorPanic, hex, emulateCounter, guestStateOf, runMonitored, guestWhereOf, timeCounters } from "../monitor.js";
import { restoreCpu } from "../../hw/cpu/cpu-state.js";
import { restoreMemory } from "../../hw/mem/memory-state.js";
import { restorePlatform, type GuestState } from "../../hw/pc/pc-state.js";

export const HOST_GDT = 0x0000, HOST_IDT = 0x1000, NATIVE = 0x2000, STACK_TOP = 0x4000;
/** Where a technique's own host structures start. */
export const HOST_PRIVATE = 0x4000;
/** Native entries (offsets in NATIVE): host interrupt vectors 0–255 at 4 bytes each, the idle loop, the technique's. */
const N_VECTOR = 0x000, N_IDLE = 0x810;
export const N_ENTER = 0x800, N_EXIT = 0x801;
export const SEL_CS = 0x08, SEL_DS = 0x10, SEL_TSS = 0x18;
const VEC_TIMER = 0xf0;

export abstract class AssistedMonitor {
  abstract readonly mode: "svm" | "vtx";
  readonly machine: Machine;
  readonly vcpu: Cpu;
  readonly guestMem: PhysicalMemory;
  readonly platform: PcPlatform;
  readonly counters = new Counters();
  /** Trap mode's divergence log has no counterpart here. */
  readonly divergence = null;
  protected readonly apic: LocalApic;
  /** Machine-physical address of the host area (just above the guest's RAM). */
  protected readonly base: number;
  /** Everything the monitor wrote into its own memory, for the integrity check: [address, bytes]. */
  private readonly written = new Map<number, Uint8Array>();
  private armedCycle = 0;
  /** Machine cycles the host spent (native entries): guest time is machine time less this. */
  protected overhead = 0;
  private guestDeadline = 0;
  protected inMonitor = false;
  private idling = false;
  private guestIdle = 0;
  private haltedAt = 0;
  protected lastIns: Instr | null = null;
  /** An interrupt is pending that the guest cannot take yet: ask the hardware for the window. */
  protected wantIrqWindow = false;
  /** leave() counted an entry the machine has not run yet. */
  private entryPending = false;
  private captureWanted = false;
  captured: GuestState | null = null;

  /**
   * `guestModel`: the processor the guest sees (the machine's, less what the hypervisor
   * keeps to itself or does not virtualize); `hostBytes`: the size of the host area.
   */
  constructor(opts: PcOptions, guestModel: CpuModel, hostBytes: number) {
    const model = opts.model!;
    const guestRam = opts.ramBytes;
    this.base = guestRam;
    const machine = (this.machine = new Machine({ ramBytes: guestRam + hostBytes, model, jit: opts.jit }));
    const m = machine.cpu;
    const guestMem = (this.guestMem = new PhysicalMemory(guestRam, { viewOf: machine.mem }));
    if (guestRam > 0xa0000) guestMem.addHole(0xa0000, Math.min(guestRam, 0x100000));
    const io = new IoBus();
    const vc = (this.vcpu = new Cpu(guestMem, io, { model: guestModel, fpu: m.fpu, simd: m.simd, jit: false }));
    vc.tracer = (_c, ins) => { this.lastIns = ins; };
    this.platform = new PcPlatform({
      io,
      mem: guestMem,
      now: () => this.guestCycles * NS_PER_CYCLE,
      setIntr: (level) => { vc.intrLine = level; },
      setA20: (on) => { vc.a20 = on; vc.flushTlb(true); },
      powerOff: (status) => machine.powerOff(status),
    }, opts);
    vc.intr = this.platform.pic;

    // The host's local APIC: its timer in TSC-deadline mode on the host's TSC.
    const apic = (this.apic = new LocalApic({
      now: () => m.cycles * NS_PER_CYCLE,
      tsc: () => m.cycles + m.tscOffset,
      setIntr: (level) => { m.intrLine = level || m.virq; },
      nmi: () => { m.nmiPending = true; },
      moved: () => {},
    }));
    apic.write32(ApicReg.SVR, 0x100 | 0xff);
    apic.write32(ApicReg.LVT_TIMER, VEC_TIMER | APIC_TIMER_TSC_DEADLINE);
    m.intr = apic;
    m.watchRing0 = true;
  }

  get cpu(): Cpu { return this.machine.cpu; }
  get com1() { return this.platform.com1; }
  get bootTarget(): BootTarget { return { cpu: this.vcpu, mem: this.guestMem }; }
  get resetRequested(): boolean { return this.platform.resetRequested; }
  /**
   * Guest time: the vCPU's inside an exit; between exits, machine cycles less overhead —
   * where the overhead already counts the entry about to run (leave() arms the timer past it).
   */
  get guestCycles(): number {
    return this.inMonitor ? this.vcpu.cycles : this.machine.cpu.cycles - this.overhead + (this.entryPending ? 1 : 0);
  }
  get guestInstructions(): number {
    const g = this.guestCycles;
    return g - this.guestIdle - (this.idling && this.vcpu.halted ? g - this.haltedAt : 0);
  }

  // ===================================================================================
  // The host: protected mode, flat; interrupt gates to native entries
  // ===================================================================================

  protected phys(off: number): number { return this.base + off; }

  /** Write the monitor's own memory, remembered for the integrity check. */
  protected put32(off: number, v: number): void {
    this.machine.mem.write32(this.phys(off), v);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, v | 0, true);
    this.written.set(this.phys(off), b);
  }

  /**
   * The host's GDT (null, flat code 08h, flat data 10h, and a TSS at 18h when `tss` is
   * given), its IDT (interrupt gates to native entries) and the native entries `enter`
   * (the instruction that enters the guest) and `exit` (where the host resumes after an exit).
   */
  protected buildCommonHost(enter: () => void, exit: () => void, tss?: number, long = false): void {
    const m = this.machine.cpu, mem = this.machine.mem;
    // A 64-bit host (IA-32e mode) has a 64-bit code segment, a 16-byte TSS descriptor and
    // 16-byte interrupt gates (SDM vol. 3 §3.5.2, §6.14.1); the caller turns long mode on.
    this.put32(HOST_GDT + SEL_CS, 0x0000_ffff); this.put32(HOST_GDT + SEL_CS + 4, long ? 0x00af_9b00 : 0x00cf_9b00);
    this.put32(HOST_GDT + SEL_DS, 0x0000_ffff); this.put32(HOST_GDT + SEL_DS + 4, 0x00cf_9300);
    if (tss !== undefined) {
      const b = this.phys(tss);
      this.put32(HOST_GDT + SEL_TSS, ((b & 0xffff) << 16) | 0x67);
      this.put32(HOST_GDT + SEL_TSS + 4, (b & 0xff00_0000) | 0x8b00 | ((b >>> 16) & 0xff));
    }
    const gate = long ? 16 : 8;
    for (let v = 0; v < 256; v++) {
      const at = this.phys(NATIVE + N_VECTOR + v * 4);
      this.put32(HOST_IDT + v * gate, (SEL_CS << 16) | (at & 0xffff));
      this.put32(HOST_IDT + v * gate + 4, (at & 0xffff_0000) | 0x8e00);
      mem.registerNative(at, () => this.interruptEntry(v));
    }
    mem.registerNative(this.phys(NATIVE + N_ENTER), enter);
    mem.registerNative(this.phys(NATIVE + N_EXIT), exit);
    mem.registerNative(this.phys(NATIVE + N_IDLE), () => this.idleEntry());

    const d = new Descriptor();
    m.gdtrBase = this.phys(HOST_GDT); m.gdtrLimit = tss === undefined ? 0x17 : long ? 0x27 : 0x1f;
    m.idtrBase = this.phys(HOST_IDT); m.idtrLimit = 256 * gate - 1;
    m.setCr0(CR0_PE | CR0_ET);
    d.lo = 0x0000_ffff; d.hi = long ? 0x00af_9b00 : 0x00cf_9b00;
    m.segs[SegReg.CS].loadDescriptor(SEL_CS, d);
    d.hi = 0x00cf_9300;
    for (const s of [SegReg.SS, SegReg.DS, SegReg.ES, SegReg.FS, SegReg.GS]) m.segs[s].loadDescriptor(SEL_DS, d);
    m.cpl = 0;
    m.setEflags(F.IF | F.FIXED_ONE);
    m.regs[Reg.ESP] = this.phys(STACK_TOP);
    m.tscOffset = 0;
  }

  // ===================================================================================
  // Start, snapshots, running
  // ===================================================================================

  /** Hand the machine to the guest the loader put into the vCPU. */
  start(): void {
    const vc = this.vcpu;
    vc.instructions = 0;
    vc.idleCycles = 0;
    this.inMonitor = true;
    this.devicesAndInterrupts();
    this.leave();
  }

  requestCapture(): void {
    this.captured = null;
    this.captureWanted = true;
    this.armAt(Math.max(1, this.machine.cpu.cycles));
    this.machine.cpu.yieldSlice();
  }

  guestState(): GuestState {
    return guestStateOf(this.vcpu, this.machine.cpu, this.guestMem, this.platform, this.guestCycles, this.guestIdle);
  }

  restoreFrom(s: GuestState): void {
    const m = this.machine.cpu, vc = this.vcpu;
    restoreMemory(this.guestMem, s.memory);
    restorePlatform(this.platform, s.platform);
    restoreCpu(vc, s.cpu);
    m.simd.xmm.set(s.cpu.xmm);
    m.simd.mxcsr = s.cpu.mxcsr;
    const g = vc.instructions + vc.idleCycles;
    this.guestIdle = vc.idleCycles;
    vc.instructions = g;
    vc.idleCycles = 0;
    m.instructions = g;
    m.idleCycles = 0;
    this.overhead = 0;
    this.inMonitor = true;
    this.restored();
    this.devicesAndInterrupts();
    this.leave();
  }

  /** A snapshot was restored into the vCPU: drop what was derived from the old guest (shadows). */
  protected restored(): void {}

  run(opts: PcRunOptions): RunEnd {
    return runMonitored(this.machine, this.apic, opts, (cycle) => this.armAt(cycle));
  }

  // ===================================================================================
  // A debugger (docs/gdb.md): as under trap and bt, it sees the guest through the vCPU.
  // While anything is armed (gdb's breakpoints, watchpoints or a step, or the guest's own
  // DR7), the monitor interprets the guest on the vCPU, whose debug unit checks every
  // instruction at guest addresses, instead of entering guest mode: the hardware's own
  // debug registers belong to the guest (they are in the VMCS and the VMCB).
  // ===================================================================================

  /** Stop the guest at its next instruction boundary: come out of guest mode at once (the deadline timer). */
  requestDebugStop(): void {
    this.vcpu.debug.stopRequested = true;
    this.debugProbeChanged();
  }

  /** The vCPU's probe changed (breakpoints, steps): come out of guest mode to look at it. */
  debugProbeChanged(): void {
    this.vcpu.debugProbeChanged();
    this.armAt(Math.max(1, this.machine.cpu.cycles));
    this.machine.cpu.yieldSlice();
  }

  /**
   * A debugger wrote guest memory. Nothing to catch up: the write went through the guest's
   * memory, which tells the shadow tables (a traced page) and the machine's code caches.
   */
  debugMemoryWritten(): void {}

  /**
   * Leaving an exit with a debugger or the guest's DR7 armed: a stop asked for while the
   * guest halts stops here; otherwise interpret the guest on the vCPU until its probe stops
   * it, nothing is armed any more, it halts, or a device event is due. Returns true when the
   * machine was sent to the idle loop to come straight back and interpret more.
   */
  private debugging(): boolean {
    const m = this.machine.cpu, vc = this.vcpu, dbg = vc.debug;
    if (vc.halted) {
      if (dbg.stopRequested) {
        dbg.stopRequested = false;
        dbg.hit = { kind: "stop" };
        dbg.update();
        m.stop(StopReason.Debug);
      }
      return false;
    }
    if (!dbg.armed) return false;
    if (m.stopReason === StopReason.None) {
      this.interpret(256, "emulate.debug", () => !dbg.armed);
      if (vc.stopReason === StopReason.Debug) m.stop(StopReason.Debug);
      if (vc.halted || !dbg.armed || (m.stopReason !== StopReason.None && m.stopReason !== StopReason.Debug)) return false;
    }
    // Come straight back (the idle loop and the deadline timer) to interpret more.
    this.idling = true;
    this.enterIdleLoop();
    this.inMonitor = false;
    this.armAt(m.cycles + 1);
    m.yieldSlice();
    return true;
  }

  // ===================================================================================
  // Exits: the technique's handler calls enterMonitor() first and leaveMonitor() last
  // ===================================================================================

  /** The native instruction that enters the guest ran: its cycle was counted by leave(). */
  protected entering(): void {
    this.entryPending = false;
  }

  /**
   * An exit handler starts: one more host instruction; the vCPU's guest time is machine
   * cycles less the overhead before this exit.
   */
  protected enterMonitor(): void {
    this.overhead += 1;
    this.inMonitor = true;
    const vc = this.vcpu;
    vc.instructions = this.machine.cpu.cycles - (this.overhead - 1);
    vc.idleCycles = 0;
  }

  /** The exit is handled: a snapshot if one is wanted, the devices, then back to the guest. */
  protected leaveMonitor(): void {
    if (this.captureWanted) { this.captureWanted = false; this.captured = this.guestState(); this.machine.cpu.yieldSlice(); }
    this.devicesAndInterrupts();
    this.leave();
  }

  /** Take the host's deadline-timer interrupt that the exit acknowledged: end it at the APIC. */
  protected endTimerInterrupt(): void {
    if (this.apic.hasInterrupt()) this.apic.acknowledge();
    this.apic.write32(ApicReg.EOI, 0);
  }

  /** The host's interrupt vectors: the deadline timer while the guest idles. */
  private interruptEntry(v: number): void {
    const m = this.machine.cpu;
    this.overhead += 1;
    if (v !== VEC_TIMER || !this.idling) throw new MonitorPanic(`host interrupt vector ${v} outside the idle loop`);
    this.apic.write32(ApicReg.EOI, 0);
    m.flags &= ~F.IF;
    this.hostInterruptsOff();
    this.idling = false;
    this.counters.inc("exit.timer-idle");
    this.inMonitor = true;
    this.vcpu.instructions = m.cycles - (this.overhead - 1);
    if (this.vcpu.halted) {
      this.guestIdle += this.vcpu.instructions - this.haltedAt;
      this.haltedAt = this.vcpu.instructions;
    }
    this.leaveMonitor();
  }

  /** The idle loop (STI; HLT): only reached again if the halt is resumed. */
  private idleEntry(): void {
    const m = this.machine.cpu;
    this.overhead += 1;
    m.eip = this.phys(NATIVE + N_IDLE);
    m.halted = true;
  }

  /** SVM holds interrupts with GIF; VMX with RFLAGS.IF alone. */
  protected hostInterruptsOff(): void {}
  protected hostInterruptsOn(): void {}

  // ===================================================================================
  // The guest's instructions, devices and interrupts
  // ===================================================================================

  /** Run the exiting instruction on the vCPU (or deliver the fault it raises to the guest). */
  protected emulateOne(): void {
    const vc = this.vcpu;
    const before = vc.instructions;
    this.lastIns = null;
    vc.flushTlb(true);
    vc.run(1);
    this.overhead -= vc.instructions - before;
    if (this.lastIns !== null) this.counters.inc(emulateCounter(this.lastIns));
    if (vc.stopReason === StopReason.TripleFault) this.machine.cpu.stop(StopReason.TripleFault);
  }

  /**
   * Run the guest on the vCPU, as early hypervisors did for what guest mode could not run
   * (real mode without unrestricted guest), one instruction at a time until `enterable`
   * holds again, the guest halts or the machine stops, up to `limit` instructions or the
   * next device event; counted under `counter`.
   */
  protected interpret(limit: number, counter: string, enterable: () => boolean): void {
    const vc = this.vcpu, m = this.machine.cpu;
    const before = vc.instructions;
    const end = this.guestDeadline > 0 ? Math.max(1, Math.min(limit, this.guestDeadline - vc.cycles)) : limit;
    vc.flushTlb(true);
    for (let k = 0; k < end; k++) {
      vc.run(1);
      if (vc.halted || vc.stopReason !== StopReason.None || m.stopReason !== StopReason.None || enterable()) break;
    }
    const ran = vc.instructions - before;
    this.overhead -= ran;
    this.counters.inc(counter, ran);
    if (vc.stopReason === StopReason.TripleFault) m.stop(StopReason.TripleFault);
  }

  /** Virtual devices up to guest time; an interrupt the guest can take now goes through its IDT. */
  protected devicesAndInterrupts(): void {
    const vc = this.vcpu;
    const next = this.platform.advance(vc.cycles * NS_PER_CYCLE);
    this.guestDeadline = next === Infinity ? 0 : Math.ceil(next / NS_PER_CYCLE);
    this.wantIrqWindow = false;
    if (!vc.intrLine) return;
    if ((vc.flags & F.IF) !== 0 && !vc.inhibitIrq) {
      const before = vc.instructions;
      vc.stopReason = StopReason.None;
      if (vc.checkInterrupts()) this.counters.inc("irq.injected");
      if ((vc.stopReason as StopReason) === StopReason.TripleFault) this.machine.cpu.stop(StopReason.TripleFault);
      this.overhead -= vc.instructions - before;
    } else {
      this.wantIrqWindow = true;
    }
  }

  /**
   * Whether guest mode can run the vCPU's state. When it cannot, the technique interprets
   * some of it on the vCPU and returns false; leave() then asks again.
   */
  protected abstract enterable(): boolean;

  /** The vCPU's state into the hardware's structures, for the entry that comes next. */
  protected abstract prepareEntry(): void;

  /** Back to the guest (the native entry instruction comes next), or idle while it halts. */
  private leave(): void {
    const m = this.machine.cpu, vc = this.vcpu;
    for (;;) {
      // Powered off or shut down: the vCPU holds the guest's final state; nothing runs again.
      // (A debugger's stop is not an end: the guest goes on when gdb continues it.)
      if (m.stopReason !== StopReason.None && m.stopReason !== StopReason.Debug) return;
      if (this.debugging()) return;
      if (vc.halted) {
        if ((vc.flags & F.IF) === 0) {
          m.flags &= ~F.IF;
          m.halted = true;
        } else {
          this.counters.inc("exit.idle");
          const line = this.platform.line;
          line.halted(this.guestCycles * NS_PER_CYCLE);
          const t = line.nextEvent();
          if (t !== Infinity) {
            const c = Math.ceil(t / NS_PER_CYCLE);
            if (this.guestDeadline === 0 || c < this.guestDeadline) this.guestDeadline = c;
          }
          this.idling = true;
          this.haltedAt = vc.cycles;
          this.enterIdleLoop();
        }
        break;
      }
      if (this.enterable()) {
        this.overhead += 1; // the entry instruction that comes next (the guest's TSC offset counts it)
        this.entryPending = true;
        this.prepareEntry();
        m.eip = this.phys(NATIVE + N_ENTER);
        m.halted = false;
        break;
      }
      // Not enterable: some of it was interpreted; devices, then try again.
      this.devicesAndInterrupts();
    }
    this.inMonitor = false;
    this.armTimer();
  }

  /** The host's idle loop (STI; HLT, with the host's interrupts on) on its own stack, until the deadline timer. */
  private enterIdleLoop(): void {
    const m = this.machine.cpu;
    m.eip = this.phys(NATIVE + N_IDLE);
    m.regs[Reg.ESP] = this.phys(STACK_TOP);
    m.regsHi[Reg.ESP] = 0; // the guest's RSP may have had upper bits
    m.flags |= F.IF;
    this.hostInterruptsOn();
    m.halted = true;
  }

  private armAt(cycle: number): void {
    this.armedCycle = cycle > 0 ? cycle : 0;
    const m = this.machine.cpu;
    this.apic.tscDeadlineMsr = cycle > 0 ? Math.max(1, cycle + m.tscOffset) : 0;
  }

  private armTimer(): void {
    const was = this.apic.tscDeadlineMsr === 0 ? 0 : this.armedCycle;
    const at = this.guestDeadline > 0 ? this.guestDeadline + this.overhead : 0;
    this.armAt(at);
    if (at !== 0 && (was === 0 || at < was)) this.machine.cpu.yieldSlice();
  }

  // ===================================================================================
  // Reporting
  // ===================================================================================

  /** What the technique checks beyond its written memory (the VMCS cache, say): a list of problems. */
  protected extraIntegrity(): string[] { return []; }

  /** Resource control: the monitor's memory as it wrote it, and no CPL-0 code but its own outside guest mode. */
  integrity(): { monitorIntact: boolean; guestRanAtCpl0: boolean; detail: string } {
    const mem = this.machine.mem;
    const bad: number[] = [];
    for (const [at, bytes] of this.written) {
      for (let k = 0; k < 4; k++) if (mem.read8(at + k) !== bytes[k]) { bad.push(at); break; }
    }
    const extra = this.extraIntegrity();
    const ring0 = this.machine.cpu.ring0Foreign;
    const parts: string[] = [];
    if (bad.length) parts.push(`monitor memory changed at ${bad.slice(0, 4).map(hex).join(", ")}${bad.length > 4 ? ", …" : ""}`);
    parts.push(...extra);
    if (ring0) parts.push(`${ring0} instructions ran at machine CPL 0 outside guest mode`);
    return { monitorIntact: bad.length === 0 && extra.length === 0, guestRanAtCpl0: ring0 > 0, detail: parts.join("; ") };
  }

  guestWhere(): string { return guestWhereOf(this.vcpu); }

  stats(): Record<string, number> {
    const c = timeCounters(this.counters, this.guestCycles, this.guestInstructions, this.machine.cpu.cycles, this.overhead);
    this.extraStats(c);
    return c;
  }

  /** Gauges a technique adds to --stats (the shadow pool's use). */
  protected extraStats(_c: Record<string, number>): void {}
}
