// The classic monitor (DESIGN.md §3, docs/monitor.md): modes `trap` and `bt`.
//
// The machine (src/hw) runs the guest deprivileged: guest ring 0 at machine ring 1, guest
// ring 3 at ring 3, on shadow descriptor tables and shadow page tables, with the monitor's
// GDT, IDT and TSS at the top of every address space. Everything the guest does that the
// machine cannot do for it — privileged and I/O instructions, loads of its own descriptors,
// interrupts through its own IDT, accesses to the monitor region, true page faults — faults
// through the monitor's IDT into native monitor code (this file's `entry`), which carries it
// out on the vCPU: an instruction-level emulator holding the guest's virtual privileged
// state (its CR0–CR4, GDTR/IDTR/LDTR/TR, IF and IOPL, CPL, MSRs) over the guest's view of
// physical memory and the guest's virtual devices. The vCPU is an instance of the same
// instruction interpreter as the machine's CPU, as VirtualBox's raw mode used its IEM.
//
// Time: the guest's virtual time is the machine's cycle count minus the monitor's overhead
// (native entries and callouts), plus the instructions the vCPU emulates; the machine's TSC
// is offset to match, and a TSC-deadline timer brings the monitor back exactly at the next
// virtual-device event. Guest interrupts therefore arrive at the same guest instruction as on
// the bare machine, and serial logs can be compared byte for byte.

import { DR6_BS } from "../hw/cpu/debug.js";
import { Machine } from "../hw/machine.js";
import { Cpu, Reg, CR4_PSE, CR4_PAE, EFER_NXE } from "../hw/cpu/cpu.js";
import { DEFAULT_MODEL, withFeatures } from "../hw/cpu/models.js";
import { SegReg, Descriptor } from "../hw/cpu/segment.js";
import { StopReason } from "../hw/cpu/fault.js";
import * as F from "../hw/cpu/eflags.js";
import { iret } from "../hw/cpu/transfer.js";
import { iret_ } from "../hw/cpu/exec/control.js";
import { cli, invlpg as invlpgM, sti } from "../hw/cpu/exec/system.js";
import { pop_Zv as popZv, pushf } from "../hw/cpu/exec/stack.js";
import { iret64 } from "../hw/cpu/interrupt64.js";
import { EFER_LME, EFER_LMA, EFER_LMSLE } from "../hw/cpu/control-regs.js";
import type { Handler, Instr } from "../hw/cpu/instr.js";
import { PhysicalMemory } from "../hw/mem/physical-memory.js";
import { IoBus } from "../hw/io/io-bus.js";
import { PcPlatform, type PcOptions, type PcRunOptions } from "../hw/pc/pc.js";
import { clockedRun, type RunEnd } from "../hw/pc/clocked-run.js";
import type { BootTarget } from "../hw/pc/boot-entry.js";
import { LocalApic, ApicReg, APIC_TIMER_TSC_DEADLINE } from "../hw/dev/apic/local-apic.js";
import { NS_PER_CYCLE } from "../hw/dev/device.js";
import * as L from "./layout.js";
import { World } from "./world/world.js";
import { World64 } from "./world/world64.js";
import { TwoTables } from "./world/two-tables.js";
import { Translator64 } from "./bt/translator64.js";
import { CALLOUT, PORT_IO } from "./bt/sensitive.js";
import { decode } from "../hw/cpu/decoder.js";
import { PageBytes, PAGE_END } from "../hw/cpu/page-bytes.js";
import { peekPhysical, ReadOnlyTables } from "../debug/peek.js";
import { Translation } from "../hw/mmu/paging.js";
import { ShadowMmu, Miss, TRACE_PT, TRACE_DESC, TRACE_CODE } from "./shadow/shadow-mmu.js";
import { mov_Ev_Gv as movEvGv, mov_Ev_Iz as movEvIz } from "../hw/cpu/exec/data.js";
import { DescriptorShadow, longLayout } from "./segments/descriptor-shadow.js";
import { Counters, type Cell } from "./stats/counters.js";
import { DivergenceLog } from "./emulate/divergence.js";
import { inPlacePort } from "./emulate/in-place-io.js";
import { ioIsOut, ioPort, ioSize, ioTransfer, portAccess, in_ as ioIn, out as ioOut } from "../hw/cpu/exec/io.js";
import { Translator } from "./bt/translator.js";
import { restoreCpu, saveCpu } from "../hw/cpu/cpu-state.js";
import { restoreMemory, saveMemory } from "../hw/mem/memory-state.js";
import { GUEST_STATE_VERSION, modelOf, restorePlatform, savePlatform, type GuestState } from "../hw/pc/pc-state.js";

/** Trap mode: the instructions worth running on the vCPU right after an exit (see emulateAhead). */
const TRAP_PRONE = new Set<Handler>([...CALLOUT, iret_]);
/** How far ahead it looks for one, and how many it runs per exit at most. */
const LOOK_AHEAD = 3;
/** What trap's quick #GP path carries out: IN and OUT (not the string forms), INVLPG m, PUSHF, CLI, STI. */
const QUICK_GP: ReadonlySet<Handler> = new Set([ioIn, ioOut, invlpgM, pushf, cli, sti]);
/** What the quick page-table store carries out: MOV r/m, reg and MOV r/m, imm. */
const QUICK_STORES: ReadonlySet<Handler> = new Set([movEvGv, movEvIz]);
const EMULATE_AHEAD = 16;
/** trapSoon's note of an instruction: its length in the low byte, and these. */
const HINT_PRONE = 0x100, HINT_STRAIGHT = 0x200;

export type MonitorMode = "trap" | "bt";
import type { Protection } from "./protection.js";
import { DOUBLE_FIELD } from "../hw/double-field.js";

export interface MonitorOptions extends PcOptions {
  mode: MonitorMode;
  protect?: Protection;
  /** Shadow page-table pool size in pages (default 2048). */
  poolPages?: number;
  /** --unsafe-protect: --protect segments on a 64-bit guest even without EFER.LMSLE (the escape suite's hole). */
  unsafeProtect?: boolean;
  /**
   * --shadow-sync: how the shadow page tables follow the guest's (docs/monitor.md,
   * "Tables out of sync"): "unsync" (default) lets a written page table out of sync until
   * the guest flushes its TLB; "traced" makes every write to a shadowed table fault.
   */
  shadowSync?: ShadowSync;
}

/** The shadow's coherence with the guest's page tables (MonitorOptions.shadowSync). */
export type ShadowSync = "traced" | "unsync";
export const SHADOW_SYNCS: readonly ShadowSync[] = ["unsync", "traced"];

/** The counters the exits' quick paths keep (Monitor.count). */
const enum QuickCounter { PfHidden, InvlpgQuick, IoQuick, TableStoreQuick, EmulateAhead, PushfQuick, CliQuick, StiQuick, IrqSaveQuick }
const QUICK_COUNTER_NAMES = ["pf.hidden", "trap.invlpg-quick", "trap.io-quick", "trap.pf-table-store-quick", "emulate.ahead", "trap.pushf-quick", "trap.cli-quick", "trap.sti-quick", "trap.irq-save-quick"];
/** What follows a PUSHF in the interrupt-state save the quick #GP path carries out whole (irqSaveInPlace). */
const QUICK_POP: ReadonlySet<Handler> = new Set([popZv]);
const QUICK_CLI: ReadonlySet<Handler> = new Set([cli]);

/** A fault in the monitor itself: a bug, reported as E_INTERNAL. */
export class MonitorPanic extends Error {}

/**
 * The guest did something this monitor does not run (the classic monitor's limits, not a
 * bug): real mode or virtual-8086 mode. The run ends with E_MONITOR_UNSUPPORTED; `--mode
 * bare` runs such a guest.
 */
export class GuestUnsupported extends Error {}

/**
 * A 32-bit guest turned long mode on under --protect segments on a model without EFER.LMSLE
 * (without --unsafe-protect): nothing would keep its kernel out of the region. The CLI
 * refuses a known 64-bit kernel before it runs; this is the same refusal, found later.
 */
export class ProtectUnsound extends GuestUnsupported {}

const CR0_PG = 0x8000_0000 | 0, CR0_PE = 1, CR0_WP = 1 << 16, CR0_NE = 1 << 5, CR0_ET = 1 << 4;
const CR0_GUEST_BITS = 0x2 | 0x4 | 0x8 | CR0_NE; // MP, EM, TS, NE follow the guest
const DATA_SEGS = [SegReg.ES, SegReg.DS, SegReg.FS, SegReg.GS];
const TWO32 = 0x1_0000_0000;
/** What quickState() records, by index: a change sends a callout down the general path (named in --stats). */
const QUICK_FIELDS = ["es", "cs", "ss", "ds", "fs", "gs", "fs-base", "gs-base", "cpl", "flags", "cr0", "cr3", "cr4", "efer"] as const;


/** A guest run under the monitor: the machine, the vCPU, the guest's virtual platform. */
export class Monitor {
  readonly machine: Machine;
  /** The emulator holding the guest's virtual CPU state. */
  readonly vcpu: Cpu;
  readonly guestMem: PhysicalMemory;
  readonly platform: PcPlatform;
  readonly counters = new Counters();
  /**
   * The counters of the exits' quick paths, each made at its first use (so that a run
   * without them lists none): an increment by name is a Map look-up, about 25 ns of a 1.5 µs
   * I/O exit.
   */
  private readonly quickCells: (Cell | null)[] = [null, null, null, null, null];
  private count(k: QuickCounter): void {
    (this.quickCells[k] ??= this.counters.cell(QUICK_COUNTER_NAMES[k])).n++;
  }
  readonly world: World;
  readonly shadow: ShadowMmu;
  desc: DescriptorShadow;
  readonly mode: MonitorMode;
  readonly protect: Protection;
  private readonly unsafeProtect: boolean;
  readonly divergence: DivergenceLog | null;
  bt: Translator | null;
  /**
   * A 64-bit guest (docs/long-mode-monitor.md): the long-mode world in Linux amd64's unused
   * top 2 MiB, replacing the 32-bit one when the guest is (or turns) IA-32e; the 64-bit
   * translator (bt); the two shadow sets of --protect two-tables.
   */
  world64: World64 | null = null;
  bt64: Translator64 | null = null;
  private tables: TwoTables | null = null;
  /** The machine runs with EFER.LMSLE (--protect segments on a model that has it). */
  private lmsle = false;
  /**
   * The machine's local APIC, its timer in TSC-deadline mode (SDM vol. 3 §10.5.4.1): the
   * monitor arms it through IA32_TSC_DEADLINE, as any OS would, to regain control at the
   * guest's next virtual-device event, and EOIs each of its interrupts.
   */
  private readonly apic: LocalApic;
  /** The machine cycle the timer is armed for (0: disarmed); the MSR holds it in TSC units. */
  private armedCycle = DOUBLE_FIELD;
  private readonly monitorBase: number;
  /** Machine cycles that were monitor overhead, not guest time. */
  private overhead = DOUBLE_FIELD;
  /** The next virtual-device event in guest cycles (0: none). */
  private guestDeadline = DOUBLE_FIELD;
  private inMonitor = false;
  private idling = false;
  /** Machine selectors as the monitor last loaded them (a change means the guest loaded one). */
  private readonly machineSel = new Int32Array(6);
  /** The descriptor shadow's stamp when resume last loaded each machine segment register. */
  private readonly segStamp = new Float64Array(6).fill(-1);
  /**
   * Traced guest frames written by the vCPU during the current step: the frame, then the
   * first byte and the byte past the last one written there (writes to the frame written
   * just before widen its range: a REP STOS makes one entry a frame). At most 64 entries.
   */
  private readonly written: number[] = [];
  private noteWritten(page: number, off: number, len: number): void {
    const w = this.written, n = w.length;
    if (n !== 0 && w[n - 3] === page) {
      if (off < w[n - 2]) w[n - 2] = off;
      if (off + len > w[n - 1]) w[n - 1] = off + len;
    } else if (n < 3 * 64) w.push(page, off, off + len);
  }
  /** Empty `written` (a length write, which V8 makes a call, only when it holds something). */
  private clearWritten(): void {
    if (this.written.length !== 0) this.written.length = 0;
  }
  private lastIns: Instr | null = null;
  private lastCr3 = DOUBLE_FIELD;
  private lastCr0 = -1;
  private lastPe = 0;
  private lastCr4 = -1;
  /** The vCPU's count of TLB flushes when the tables out of sync were last compared. */
  private seenFlushes = 0;
  /** PAE: the vCPU's PDPTE registers when the shadow root was last built from them. */
  private readonly lastPdpte = new Int32Array(8);
  /** Guest cycles spent halted (HLT waiting for an interrupt), and when the current halt began. */
  private guestIdle = DOUBLE_FIELD;
  private haltedAt = DOUBLE_FIELD;
  /** A snapshot of the guest was asked for: taken at the next full exit (requestCapture). */
  private captureWanted = false;
  /**
   * The current exit took the guest's state: it runs no guest instruction after it (trap
   * mode's emulating ahead would put output past the snapshot into the saving run's).
   */
  private capturedInExit = false;
  /** The guest's state, taken at the exit after requestCapture(). */
  captured: GuestState | null = null;

  constructor(opts: MonitorOptions) {
    // The first values of the fields declared as doubles (cycle counts, guest addresses:
    // src/hw/double-field.ts).
    this.armedCycle = 0; this.overhead = 0; this.guestDeadline = 0; this.lastCr3 = -1;
    this.guestIdle = 0; this.haltedAt = 0; this.calloutEip = 0; this.resumedGuest = 0;
    this.mode = opts.mode;
    this.protect = opts.protect ?? "segments";
    this.unsafeProtect = opts.unsafeProtect === true;
    const guestRam = opts.ramBytes;
    const poolPages = opts.poolPages ?? L.DEFAULT_POOL_PAGES;
    const monitorBase = (this.monitorBase = guestRam);
    const machine = (this.machine = new Machine({ ramBytes: guestRam + L.REGION_SIZE + poolPages * 4096, model: opts.model, jit: opts.jit }));
    const m = machine.cpu;
    const guestMem = (this.guestMem = new PhysicalMemory(guestRam, { viewOf: machine.mem }));
    if (guestRam > 0xa0000) guestMem.addHole(0xa0000, Math.min(guestRam, 0x100000));
    const io = new IoBus();
    // The guest sees the machine's model without `strict` (by default a standard pentium2):
    // strict only changes what faults into the monitor. Nor does it see a local APIC: the
    // classic monitor gives its guest a PC with 8259s only (it does not virtualize an APIC),
    // so CPUID says so and IA32_APIC_BASE is #GP, as on a part without one.
    const model = opts.model ?? DEFAULT_MODEL;
    const guestModel = model.features.strict || model.features.apic || model.features.tscDeadline
      ? withFeatures(model, { strict: false, apic: false, tscDeadline: false }) : model;
    const vc = (this.vcpu = new Cpu(guestMem, io, { model: guestModel, fpu: m.fpu, simd: m.simd, jit: false }));
    vc.tracer = (_c, ins) => { this.lastIns = ins; };
    this.platform = new PcPlatform({
      io,
      mem: guestMem,
      now: () => this.guestNowNs(),
      setIntr: (level) => { vc.intrLine = level; },
      setA20: (on) => { vc.a20 = on; vc.flushTlb(true); },
      powerOff: (status) => machine.powerOff(status),
    }, opts);
    vc.intr = this.platform.pic;
    guestMem.onWatchedWrite = (page, off, len) => this.noteWritten(page, off, len);

    this.world = new World(machine.mem, monitorBase);
    this.world.build((v) => this.entry(v), () => this.idleEntry(), this.mode === "bt" ? 1 : 0);
    this.shadow = new ShadowMmu(machine.mem, guestMem, monitorBase + L.REGION_SIZE, poolPages, this.world.regionEntries, this.counters);
    this.shadow.unsyncLeaves = (opts.shadowSync ?? "unsync") === "unsync";
    this.desc = new DescriptorShadow(this.world, vc, m, this.shadow, this.counters, this.protect === "paging-only" ? 0xffff_ffff : L.GUEST_LIMIT_TOP);
    this.divergence = this.mode === "trap" && !m.features.strict ? new DivergenceLog(m, vc) : null;
    this.bt = this.mode === "bt" ? new Translator(this.world, vc, this.shadow, this.counters, { portIo: (cpu, ins) => this.portIo(cpu, ins), portIoValue: (p, s, o, v) => this.portIoValue(p, s, o, v), sti: () => this.stiInPlace(), invlpg: (cpu, ins) => this.guestInvlpg(cpu, ins), shadowInvlpg: (seg, ea) => this.shadowInvlpg(seg, ea) }) : null;

    // The host part's local APIC: not the guest's (the guest's vCPU has none), nor in CPUID
    // (the guest runs CPUID natively at ring 1 under trap); the monitor reaches its registers
    // as native code and programs the timer once: enabled (SVR), LVT timer in TSC-deadline mode.
    const apic = (this.apic = new LocalApic({
      now: () => this.machine.cpu.cycles * NS_PER_CYCLE,
      tsc: () => this.machine.cpu.readTsc(),
      setIntr: (level) => { m.intrLine = level; },
      nmi: () => { m.nmiPending = true; },
      moved: () => {},
    }));
    apic.write32(ApicReg.SVR, 0x100 | 0xff);
    apic.write32(ApicReg.LVT_TIMER, L.VEC_TIMER | APIC_TIMER_TSC_DEADLINE);
    m.intr = apic;
    m.watchRing0 = true;
    m.sysenterCs = 0; // a guest SYSENTER faults into the monitor
  }

  get cpu(): Cpu { return this.machine.cpu; }
  get com1() { return this.platform.com1; }
  /** Where a loader puts the guest: the vCPU and the guest's view of memory. */
  get bootTarget(): BootTarget { return { cpu: this.vcpu, mem: this.guestMem }; }
  get resetRequested(): boolean { return this.platform.resetRequested; }

  /** Guest time in cycles. */
  get guestCycles(): number { return this.inMonitor ? this.vcpu.cycles : this.machine.cpu.cycles - this.overhead; }

  private guestNowNs(): number { return this.guestCycles * NS_PER_CYCLE; }

  /** Hand the machine to the guest: call once the loader has set up the vCPU. */
  start(): void {
    const vc = this.vcpu;
    if (!vc.protectedMode || vc.v86) throw new GuestUnsupported("the monitor runs protected-mode guests only (the loader enters them in 32-bit protected mode)");
    if (vc.lma) this.toLongWorld();
    vc.instructions = 0;
    vc.idleCycles = 0;
    this.enterGuest();
  }

  /** Why a 64-bit guest stops under --mode trap: its long-mode monitor is the translator's. */
  private longModeNotYet(): string {
    return "--mode trap runs 32-bit guests only: 64-bit guest kernel code runs translated (--mode bt, docs/long-mode-monitor.md), " +
      "or under hardware assist (--mode vtx --cpu nehalem, --mode svm --cpu barcelona)";
  }

  /**
   * The guest is in IA-32e mode: replace the 32-bit world with the long-mode one (the same
   * monitor RAM), its descriptor shadow and translator; the shadows start again with the
   * region's 4-level path. The machine enters long mode in enterLongMachine().
   */
  private toLongWorld(): void {
    if (this.mode !== "bt") throw new GuestUnsupported(`the guest is in long mode (EFER.LMA) ${guestWhereOf(this.vcpu)}; ${this.longModeNotYet()}`);
    const m = this.machine.cpu, vc = this.vcpu;
    const ring = this.protect === "two-tables" ? 3 : 1;
    this.lmsle = this.protect === "segments" && m.features.lmsle;
    if (this.protect === "segments" && !this.lmsle && !this.unsafeProtect) {
      throw new ProtectUnsound(`--protect segments cannot protect the monitor from a 64-bit guest on ${m.model.name}: it has no EFER.LMSLE, ` +
        `and the guest turned long mode on ${guestWhereOf(vc)}. Use --protect two-tables, or a model with EFER.LMSLE (--cpu athlon64-reve); ` +
        "--unsafe-protect runs it unprotected (docs/long-mode-monitor.md)");
    }
    const limit = this.lmsle ? L.GUEST_LIMIT64 : 0xffff_ffff;
    const w = (this.world64 = new World64(this.machine.mem, this.monitorBase, ring, limit));
    w.build((v) => this.entry64(v), () => this.idleEntry());
    this.bt?.flush();
    this.bt = null;
    this.shadow.useRegion({ legacy: [], pae: [], long: [w.regionPde], longUser: [w.regionPdeUser] });
    this.desc = new DescriptorShadow(w, vc, m, this.shadow, this.counters, longLayout(limit, ring));
    this.bt64 = new Translator64(w, vc, this.shadow, this.counters, this.protect === "segments");
    this.tables = ring === 3 ? new TwoTables(this.counters) : null;
    for (let s = 0; s < 6; s++) this.machineSel[s] = -1;
    this.lastCr3 = -1;
    this.counters.inc("world.to-long-mode");
  }

  /**
   * Put the machine in IA-32e mode on the long-mode world: paging off, CR4.PAE, EFER.LME
   * (with NXE as the guest has it, and LMSLE for --protect segments; SCE stays clear, so a
   * guest SYSCALL is #UD into the monitor), CR3 the shadow root, paging on, then the
   * monitor's GDT, IDT, TSS and 64-bit code segment.
   */
  private enterLongMachine(): void {
    const m = this.machine.cpu, vc = this.vcpu;
    if ((m.cr0 & CR0_PG) !== 0) m.setCr0(m.cr0 & ~CR0_PG);
    m.setCr4(CR4_PAE);
    m.setEfer(EFER_LME | (vc.nxe ? EFER_NXE : 0) | (this.lmsle ? EFER_LMSLE : 0));
    if (this.tables !== null) this.shadow.view = vc.cpl < 3 ? "kernel" : "user";
    this.shadow.evicted = false;
    m.setCr3(this.shadow.rootFor(vc));
    m.setCr0(CR0_PE | CR0_ET | CR0_WP | CR0_PG | (vc.cr0 & CR0_GUEST_BITS));
    this.world64!.enter(m);
    this.lastCr3 = -1;
  }

  /** Take the machine over for the guest the vCPU holds: shadows from scratch, then run it. */
  private enterGuest(): void {
    const m = this.machine.cpu, vc = this.vcpu;
    if (this.world64 !== null) {
      this.enterLongMachine();
    } else {
      m.setCr4(0);
      m.setCr0(CR0_PE | CR0_ET | CR0_WP | CR0_PG | (vc.cr0 & CR0_GUEST_BITS));
      this.loadRoot();
      this.world.enter(m);
    }
    this.inMonitor = true;
    this.resumedGuest = vc.cycles;
    this.afterGuestChange(true);
    this.devicesAndInterrupts();
    this.leave();
  }

  // ===================================================================================
  // Snapshots (docs/snapshot.md): the guest's state is the vCPU, guest memory and the
  // virtual platform; shadows, the translation cache and the machine's own state are
  // rebuilt from it, so a snapshot continues under any mode.
  // ===================================================================================

  /**
   * Take the guest's state at the next full exit: come out of the guest at once (the
   * deadline timer, as for host input) and keep it in `captured`. The guest does not
   * notice: a timer exit changes no guest state.
   */
  requestCapture(): void {
    this.captured = null;
    this.captureWanted = true;
    this.armAt(Math.max(1, this.machine.cpu.cycles));
    this.machine.cpu.yieldSlice();
  }

  /** Inside an exit, after the shadows caught up: keep the guest's state and end the slice. */
  private capture(): void {
    this.captureWanted = false;
    this.capturedInExit = true;
    this.captured = this.guestState();
    this.machine.cpu.yieldSlice();
  }

  /**
   * The guest's state as the bare PC would save it, from the vCPU: current inside an exit,
   * and after a run that ended with one (power-off, HLT, a triple fault); between exits the
   * guest's registers are the machine's (use requestCapture()).
   */
  guestState(): GuestState {
    return guestStateOf(this.vcpu, this.machine.cpu, this.guestMem, this.platform, this.guestCycles, this.guestIdle);
  }

  /**
   * Continue a guest from a snapshot (instead of start()): a freshly built monitor of the
   * snapshot's model and RAM (the caller checked compatibility). The machine's cycle count
   * starts at the guest's, with no overhead yet.
   */
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
    if (!vc.protectedMode || vc.v86) throw new GuestUnsupported(`the snapshot's guest is in ${vc.v86 ? "virtual-8086" : "real"} mode; --mode trap and bt run protected-mode guests only`);
    if (vc.lma) this.toLongWorld();
    this.enterGuest();
  }

  // ===================================================================================
  // A debugger (docs/gdb.md): it sees the guest through the vCPU, which holds the guest's
  // exact state whenever the machine stopped for the vCPU's debug probe.
  // ===================================================================================

  /**
   * Stop the guest at its next instruction boundary: come out of the guest at once (the
   * deadline timer) and let the vCPU's probe stop before the next guest instruction.
   */
  requestDebugStop(): void {
    this.vcpu.debug.stopRequested = true;
    this.debugProbeChanged();
  }

  /** The vCPU's probe changed (breakpoints, steps): come out of the guest to look at it. */
  debugProbeChanged(): void {
    this.vcpu.debugProbeChanged();
    this.armAt(Math.max(1, this.machine.cpu.cycles));
    this.machine.cpu.yieldSlice();
  }

  /** A debugger wrote guest memory: shadows and translations catch up as after a guest write. */
  debugMemoryWritten(): void {
    this.afterGuestChange(false);
  }

  /** Guest instructions retired: guest time less the cycles it spent halted. */
  get guestInstructions(): number {
    const g = this.guestCycles;
    return g - this.guestIdle - (this.idling && this.vcpu.halted ? g - this.haltedAt : 0);
  }

  run(opts: PcRunOptions): RunEnd {
    return runMonitored(this.machine, this.apic, opts, (cycle) => this.armAt(cycle));
  }

  // ===================================================================================
  // Entry: every exception and interrupt the machine takes lands here
  // ===================================================================================

  private entry(v: number): void {
    const m = this.machine.cpu;
    const hasErr = v === 8 || (v >= 10 && v <= 14) || v === 17;
    // The frame's address as an int32 (the same bits): passed on as a double above 2 GiB,
    // where the monitor's stack is, it would cost a heap number per call.
    const sp = m.regs[Reg.ESP];
    const err = hasErr ? m.readLin32(sp, false) : 0;
    const f = hasErr ? (sp + 4) | 0 : sp;
    const eip = m.readLin32(f, false) >>> 0;
    const cs = m.readLin32((f + 4) | 0, false) & 0xffff;
    const efl = m.readLin32((f + 8) | 0, false);
    this.overhead += 1; // this native instruction
    this.capturedInExit = false;
    // The deadline timer's interrupt: end it at the APIC (a native write of its EOI register).
    if (v === L.VEC_TIMER) this.apic.write32(ApicReg.EOI, 0);
    if ((cs & 3) === 0) {
      this.monitorInterrupted(v, err, eip);
      return;
    }
    if (v === 14 && (this.hiddenFault(err, (cs & 3) === 3, 4) || ((cs & 3) !== 3 && this.quickTableStore(eip, efl, cs)))) return;
    if (v === 13 && err === 0 && (cs & 3) === 1 && this.bt === null && this.quickGp(eip, efl, cs, f)) return;
    // (A near RET in translated code is the translator's native helper, not a callout:
    // docs/bt.md, "Returns"; it comes here only when its target has no translation yet.)
    if (v === L.VEC_CALLOUT) this.overhead += 1; // the translated code's INT
    this.inMonitor = true;
    const esp = m.readLin32((f + 12) | 0, false), ss = m.readLin32((f + 16) | 0, false) & 0xffff;
    this.syncIn(v, eip, cs, efl, esp, ss);
    switch (v) {
      case L.VEC_TIMER:
        this.counters.inc("exit.timer");
        break;
      case L.VEC_CALLOUT:
        this.callout();
        break;
      case 1:
        // A single-step trap the guest asked for (its TF): deliver it through its IDT.
        this.counters.inc("trap.db");
        this.vcpu.dr[6] |= DR6_BS;
        this.vcpu.raiseTrapNow(1);
        break;
      case 2: case 8: case 18:
        throw new MonitorPanic(`unexpected machine exception ${v} from the guest at ${hex(eip)}`);
      default:
        this.counters.inc(TRAP_NAMES[v] ?? `trap.vector-${v}`);
        this.emulateOne();
        break;
    }
    this.afterGuestChange(false);
    if (this.captureWanted) this.capture();
    this.devicesAndInterrupts();
    this.leave(true);
  }

  /**
   * A machine #PF with error code `err` (its frame's error-code slot `errBytes` wide): if
   * the guest's tables allow the access (a hidden fault), the shadow now has the entry and
   * the instruction restarts; false when the guest must see it or it must be emulated.
   */
  private hiddenFault(err: number, user: boolean, errBytes: 4 | 8): boolean {
    const m = this.machine.cpu, cr2 = m.cr2;
    this.clearWritten();
    const filled = this.shadow.fill(this.vcpu, cr2, (err & 2) !== 0, user, (err & 0x10) !== 0);
    this.clearWritten();
    if (!filled) return false;
    this.count(QuickCounter.PfHidden);
    this.flushMachineTlb(cr2);
    m.regs[Reg.ESP] = (m.regs[Reg.ESP] + errBytes) | 0; // pop the error code
    this.backToGuest();
    return true;
  }

  /**
   * Return to the guest without syncing (a fast path: the machine's state is the guest's),
   * the TSC offset and the deadline timer brought in line with the overhead so far.
   */
  private backToGuest(): void {
    this.iretToGuest(false);
    this.machine.cpu.tscOffset = this.vcpu.tscOffset - this.overhead;
    this.armTimer();
  }

  /** An entry from the monitor itself: only the idle loop is ever interrupted there. */
  private monitorInterrupted(v: number, err: number, eip: number): void {
    const m = this.machine.cpu;
    if (v === L.VEC_TIMER && this.idling) {
      this.idling = false;
      this.counters.inc("exit.timer-idle");
      this.inMonitor = true;
      this.vcpu.instructions = m.cycles - (this.overhead - 1);
      if (this.vcpu.halted) {
        this.guestIdle += this.vcpu.instructions - this.haltedAt;
        this.haltedAt = this.vcpu.instructions;
      }
      if (this.captureWanted) this.capture();
      this.devicesAndInterrupts();
      this.leave();
      return;
    }
    throw new MonitorPanic(`vector ${v} (error ${hex(err)}) raised inside the monitor at ${hex(eip)}`);
  }

  // ----- The long-mode world's entry (64-bit frames: SS, RSP, RFLAGS, CS, RIP) -----

  private entry64(v: number): void {
    const m = this.machine.cpu, w = this.world64!;
    const hasErr = v === 8 || (v >= 10 && v <= 14) || v === 17;
    const sp = m.regsHi[Reg.ESP] * TWO32 + (m.regs[Reg.ESP] >>> 0);
    const lo = (k: number): number => m.readLin32(sp + 8 * k, false);
    const q = (k: number): number => m.readLin32(sp + 8 * k + 4, false) * TWO32 + (m.readLin32(sp + 8 * k, false) >>> 0);
    const err = hasErr ? lo(0) : 0, f = hasErr ? 1 : 0;
    const rip = q(f), cs = lo(f + 1) & 0xffff, efl = lo(f + 2);
    this.overhead += 1; // this native instruction
    if (v === L.VEC_TIMER) this.apic.write32(ApicReg.EOI, 0);
    if ((cs & 3) === 0) {
      this.monitorInterrupted(v, err, rip);
      return;
    }
    const tcCs = L.SEL64_TC_CS | w.guestRing;
    // The guest's privilege, not the machine's: under two-tables its kernel runs at ring 3.
    if (v === 14 && this.hiddenFault(err, this.tables !== null ? !this.tables.kernelSet : (cs & 3) === 3, 8)) return;
    // A callout only from translated code (and, with two tables, on the kernel set): guest
    // user code may reach the ring-3 callout gate with its own INT 0xF1, which the vCPU
    // then runs as the guest's.
    let callout = false, at = rip;
    if (v === L.VEC_CALLOUT) {
      if (cs === tcCs && (this.tables === null || this.tables.calloutAllowed(cs))) {
        callout = true;
        this.overhead += 1; // the translated code's INT
        if (this.fastReturn64(sp, rip, q(3))) return;
      } else {
        at = rip - 2;
      }
    }
    this.inMonitor = true;
    this.syncIn64(callout, at, cs, efl, q(f + 3), lo(f + 4) & 0xffff, tcCs);
    if (callout) {
      const c = this.bt64!.callout(rip);
      this.vcpu.eip = c.guest;
      if (c.kind === "emulate") {
        this.counters.inc("exit.callout");
        this.noteQuick();
        this.emulateOne();
        if (this.quickReturn64(sp)) return;
      } else {
        this.counters.inc("exit.bt-continue");
      }
    } else if (v === L.VEC_TIMER) {
      this.counters.inc("exit.timer");
    } else if (v === 1) {
      this.counters.inc("trap.db");
      this.vcpu.dr[6] |= DR6_BS;
      this.vcpu.raiseTrapNow(1);
    } else if (v === 2 || v === 8 || v === 18) {
      throw new MonitorPanic(`unexpected machine exception ${v} from the guest at ${hex(rip)}`);
    } else {
      this.counters.inc(v === L.VEC_CALLOUT ? "trap.int-f1" : TRAP_NAMES[v] ?? `trap.vector-${v}`);
      this.emulateOne();
    }
    this.afterGuestChange(false);
    if (this.captureWanted) this.capture();
    this.devicesAndInterrupts();
    this.leave();
  }

  /**
   * BT, 64-bit: a callout for a near RET whose return address already has a translation is
   * done here without the vCPU (32-bit code has a native helper instead: docs/bt.md,
   * "Returns"): the guest's return address read through the shadow, the frame pointed at
   * its translation. A stack in the region,
   * a fault, or a target not yet translated takes the general path.
   */
  private fastReturn64(sp: number, tcAfter: number, rsp: number): boolean {
    const m = this.machine.cpu, bt = this.bt64!;
    const c = bt.peek(tcAfter);
    if (c === undefined || c.retPop < 0 || this.vcpu.debug.armed) return false;
    if (rsp >= L.REGION64_BASE - 16 && rsp < 0) return false;
    let target: number;
    try {
      target = m.readLin32(rsp + 4, false) * TWO32 + (m.readLin32(rsp, false) >>> 0);
    } catch (e) {
      if (e !== m.fault) throw e;
      return false;
    }
    const tc = bt.lookup(target);
    if (tc === undefined) return false;
    // The RET retires as a guest instruction: its INT and this entry were overhead.
    this.overhead -= 1;
    const after = rsp + 8 + c.retPop;
    m.writeLin32(sp, tc | 0, false);
    m.writeLin32(sp + 4, Math.floor(tc / TWO32) | 0, false);
    m.writeLin32(sp + 24, after | 0, false);
    m.writeLin32(sp + 28, Math.floor(after / TWO32) | 0, false);
    this.counters.inc("bt.ret-fast");
    this.backToGuest();
    return true;
  }

  /** The vCPU state a quick return (quickReturn64) needs unchanged (QUICK_FIELDS). */
  private readonly quick = new Float64Array(QUICK_FIELDS.length);

  private quickState(out: Float64Array): void {
    const vc = this.vcpu;
    for (let s = 0; s < 6; s++) out[s] = vc.segs[s].selector;
    out[6] = vc.segs[SegReg.FS].base;
    out[7] = vc.segs[SegReg.GS].base;
    out[8] = vc.cpl;
    out[9] = vc.getEflags() & (L.VIRTUAL_FLAGS | F.TF | F.AC);
    out[10] = vc.cr0;
    out[11] = vc.cr3;
    out[12] = vc.cr4;
    out[13] = vc.efer;
  }

  private noteQuick(): void { this.quickState(this.quick); }

  private readonly quickNow = new Float64Array(QUICK_FIELDS.length);

  /**
   * After a callout's emulation: if the instruction changed only registers, arithmetic flags
   * and unwatched memory (a GS-relative access, an indirect branch …) and the guest kernel
   * goes on at translated code, return straight to it, as the hidden page fault does:
   * nothing the monitor shadows changed, and the devices' next event is already armed.
   * I/O, a fault delivered with a stack switch, IF, segment or control-register changes,
   * writes to traced frames, and interrupts waiting all take the general path.
   */
  private quickReturn64(sp: number): boolean {
    const m = this.machine.cpu, vc = this.vcpu;
    const C = this.counters;
    if (this.written.length !== 0) { C.inc("bt.callout-general.traced-write"); return false; }
    if (vc.halted || vc.inhibitIrq || vc.debug.armed || this.captureWanted) { C.inc("bt.callout-general.halt-shadow-debug"); return false; }
    if (m.stopReason !== StopReason.None || vc.stopReason !== StopReason.None) { C.inc("bt.callout-general.stop"); return false; }
    // An interrupt the guest can take now is injected on the general path.
    if (vc.intrLine && (vc.flags & F.IF) !== 0) { C.inc("bt.callout-general.irq"); return false; }
    const ins = this.lastIns;
    if (ins === null || PORT_IO.has(ins.def.handler)) { C.inc("bt.callout-general.io"); return false; }
    this.quickState(this.quickNow);
    for (let k = 0; k < QUICK_FIELDS.length; k++) {
      if (this.quickNow[k] !== this.quick[k]) { C.inc(`bt.callout-general.${QUICK_FIELDS[k]}`); return false; }
    }
    const tc = this.bt64!.lookup(vc.eip);
    if (tc === undefined) { C.inc("bt.callout-general.untranslated"); return false; }
    m.regs.set(vc.regs);
    m.regsHi.set(vc.regsHi);
    const rsp = vc.regsHi[Reg.ESP] * TWO32 + (vc.regs[Reg.ESP] >>> 0);
    const efl = (vc.getEflags() & ~(L.VIRTUAL_FLAGS | F.RF)) | F.IF | F.FIXED_ONE;
    m.writeLin32(sp, tc | 0, false);
    m.writeLin32(sp + 4, Math.floor(tc / TWO32) | 0, false);
    m.writeLin32(sp + 16, efl, false);
    m.writeLin32(sp + 24, rsp | 0, false);
    m.writeLin32(sp + 28, Math.floor(rsp / TWO32) | 0, false);
    m.regs[Reg.ESP] = sp | 0;
    m.regsHi[Reg.ESP] = Math.floor(sp / TWO32) | 0;
    m.halted = false;
    this.counters.inc("bt.callout-quick");
    this.inMonitor = false;
    this.resumedGuest = vc.cycles;
    this.backToGuest();
    return true;
  }

  /** Machine state into the vCPU, from a 64-bit entry. The guest's CPL is the vCPU's: only the monitor changes it. */
  private syncIn64(callout: boolean, rip: number, cs: number, efl: number, rsp: number, ss: number, tcCs: number): void {
    const m = this.machine.cpu, vc = this.vcpu;
    const T = m.cycles - (this.overhead - 1);
    if (T > this.resumedGuest) vc.inhibitIrq = false;
    vc.instructions = T;
    vc.idleCycles = 0;
    vc.regs.set(m.regs);
    vc.regsHi.set(m.regsHi);
    vc.regs[Reg.ESP] = rsp | 0;
    vc.regsHi[Reg.ESP] = Math.floor(rsp / TWO32) | 0;
    vc.setEflags((efl & ~L.VIRTUAL_FLAGS) | (vc.getEflags() & L.VIRTUAL_FLAGS));
    for (const s of DATA_SEGS) {
      const sel = m.segs[s].selector;
      if (sel !== this.machineSel[s]) this.loadVcpuSeg(s, sel);
    }
    if (cs === tcCs) {
      if (!callout) vc.eip = this.bt64!.guestRip(rip);
    } else {
      vc.eip = rip;
      if (cs !== this.machineSel[SegReg.CS]) this.loadVcpuSeg(SegReg.CS, cs);
    }
    if (ss !== this.machineSel[SegReg.SS]) this.loadVcpuSeg(SegReg.SS, ss);
  }

  /** Load the 64-bit guest's state into the machine and IRETQ to it: kernel code through its translation. */
  private resume64(): void {
    const m = this.machine.cpu, vc = this.vcpu, w = this.world64!;
    if (!vc.lma) throw new GuestUnsupported(`the guest left long mode ${guestWhereOf(vc)}; the long-mode monitor runs 64-bit guests in IA-32e mode only (--mode bare runs it)`);
    this.selectSet();
    m.regs.set(vc.regs);
    m.regsHi.set(vc.regsHi);
    const cpl = vc.cpl, kernel = cpl < 3, standIn = L.SEL64_GUEST_DS | w.guestRing;
    for (const s of DATA_SEGS) {
      const g = vc.segs[s];
      const nul = !g.valid || (g.selector & 0xfffc) === 0;
      try {
        // A null selector at the guest kernel's ring: the flat stand-in (LMSLE leaves a null
        // one undefined), whose limit ends below the region.
        if (nul && kernel) m.loadSegment(s, standIn);
        else if (nul) m.segs[s].loadNull(g.selector);
        else m.loadSegment(s, this.desc.machineSelector(s, g, cpl));
      } catch (e) {
        if (e !== m.fault) throw e;
        m.segs[s].loadNull(0);
        this.counters.inc("desc.unloadable");
      }
      if (s === SegReg.FS || s === SegReg.GS) m.segs[s].base = g.base;
    }
    let rip: number, cs: number;
    if (kernel) {
      rip = this.bt64!.enter(vc.eip)!; // leave() interpreted until there is a translation
      cs = L.SEL64_TC_CS | w.guestRing;
      this.flushMachineTlb(-1); // as resume(): the frames it traced may be writable in the TLB
    } else {
      rip = vc.eip;
      cs = this.desc.machineSelector(SegReg.CS, vc.segs[SegReg.CS], cpl);
    }
    const sg = vc.segs[SegReg.SS];
    const ss = kernel && (!sg.valid || (sg.selector & 0xfffc) === 0) ? standIn : this.desc.machineSelector(SegReg.SS, sg, cpl);
    const efl = (vc.getEflags() & ~(L.VIRTUAL_FLAGS | F.RF)) | F.IF | F.FIXED_ONE;
    const rsp = vc.regsHi[Reg.ESP] * TWO32 + (vc.regs[Reg.ESP] >>> 0);
    const frame = w.lin(L.STACK_TOP) - 40;
    const slots = [rip, cs, efl >>> 0, rsp, ss];
    for (let k = 0; k < 5; k++) {
      m.writeLin32(frame + 8 * k, slots[k] | 0, false);
      m.writeLin32(frame + 8 * k + 4, Math.floor(slots[k] / TWO32) | 0, false);
    }
    m.regs[Reg.ESP] = frame | 0;
    m.regsHi[Reg.ESP] = Math.floor(frame / TWO32) | 0;
    m.halted = false;
    this.iretToGuest(true);
  }

  /** --protect two-tables: the machine on the set of the guest's mode (a CR3 load when it changes). */
  private selectSet(): void {
    const t = this.tables;
    if (t === null) return;
    const kernel = this.vcpu.cpl < 3;
    if (t.kernelSet === kernel && this.shadow.view === (kernel ? "kernel" : "user")) return;
    t.select(this.machine.cpu, this.vcpu.cpl, (view) => {
      this.shadow.view = view;
      this.shadow.evicted = false;
      return this.shadow.rootFor(this.vcpu);
    });
  }

  /** Where the idle loop is: the native page's, in the current world. */
  private get idleAddress(): number {
    return this.world64 !== null ? this.world64.lin(L.NATIVE_OFF + L.NATIVE_IDLE) : (L.REGION_BASE + L.NATIVE_OFF + L.NATIVE_IDLE) | 0;
  }

  /** The idle loop's own entry: only reached if the halt is resumed; halt again. */
  private idleEntry(): void {
    const m = this.machine.cpu;
    this.overhead += 1;
    m.eip = this.idleAddress;
    m.halted = true;
  }

  /** BT: the translated code asks the monitor to run one guest instruction or to go on. */
  private callout(): void {
    const c = this.bt!.callout(this.calloutEip);
    this.vcpu.eip = c.guest;
    if (c.kind === "emulate") {
      this.counters.inc("exit.callout");
      this.emulateOne();
    } else {
      this.counters.inc("exit.bt-continue");
    }
  }

  private calloutEip = DOUBLE_FIELD;
  /** Guest time when the guest last resumed from the monitor. */
  private resumedGuest = DOUBLE_FIELD;

  // ===================================================================================
  // Machine state ⇄ vCPU
  // ===================================================================================

  private syncIn(v: number, eip: number, cs: number, efl: number, esp: number, ss: number): void {
    const m = this.machine.cpu, vc = this.vcpu;
    // Guest time: machine cycles less every overhead cycle before this entry (the native
    // instruction now running is already in `overhead` and not yet in `cycles`).
    const T = m.cycles - (this.overhead - 1);
    // An interrupt shadow (after an emulated STI or MOV SS) ends once the guest has run an
    // instruction (a callout's INT is not one).
    if (T > this.resumedGuest) vc.inhibitIrq = false;
    vc.instructions = T;
    vc.idleCycles = 0;
    vc.regs.set(m.regs);
    vc.regs[Reg.ESP] = esp;
    const cpl = (cs & 3) === 3 ? 3 : 0;
    vc.setEflags((efl & ~L.VIRTUAL_FLAGS) | (vc.getEflags() & L.VIRTUAL_FLAGS));
    for (const s of DATA_SEGS) {
      const sel = m.segs[s].selector;
      if (sel !== this.machineSel[s]) this.loadVcpuSeg(s, sel);
    }
    if (cs === L.SEL_TC_CS) {
      // Translated code: a callout names its guest instruction; anything else stopped at
      // an instruction boundary, which maps back exactly.
      this.calloutEip = eip;
      if (v !== L.VEC_CALLOUT) vc.eip = this.bt!.guestEip(eip);
    } else {
      vc.eip = eip;
      if (cs !== this.machineSel[SegReg.CS]) this.loadVcpuSeg(SegReg.CS, (cs & ~3) | cpl);
    }
    if (ss !== this.machineSel[SegReg.SS]) this.loadVcpuSeg(SegReg.SS, (ss & ~3) | cpl);
    vc.cpl = cpl;
  }

  private readonly scratch = new Descriptor();

  /** The guest loaded a selector the machine ran with: give the vCPU its real descriptor. */
  private loadVcpuSeg(s: number, sel: number): void {
    const vc = this.vcpu, seg = vc.segs[s];
    if ((sel & 0xfffc) === 0) { seg.loadNull(sel); return; }
    try {
      if (vc.readDescriptor(sel, this.scratch)) seg.loadDescriptor(sel, this.scratch);
      else seg.loadNull(sel);
    } catch (e) {
      if (e !== vc.fault) throw e;
      seg.loadNull(sel);
    }
  }

  /**
   * Run one guest instruction on the vCPU (or deliver the fault it raises to the guest).
   * `fresh`: the vCPU ran the instruction before this one, so its TLB is as good as after
   * it (the guest ran nothing on the machine since); otherwise it starts empty, as the
   * guest may have changed its page tables natively.
   */
  private emulateOne(fresh = false): void {
    const vc = this.vcpu;
    const before = vc.instructions;
    this.lastIns = null;
    this.clearWritten();
    if (!fresh) vc.flushTlb(true);
    vc.halted = false;
    vc.run(1);
    const n = vc.instructions - before;
    this.overhead -= n;
    // (Set by the vCPU's tracer during run(); the compiler cannot see that.)
    const ins = this.lastIns as Instr | null;
    if (ins !== null) {
      this.counters.inc(emulateCounter(ins));
      // An INVLPG m the vCPU retired (32-bit code; its registers are as the operand saw them).
      if (n === 1 && ins.handler === invlpgM && ins.hasMem) this.guestInvlpg(vc, ins);
    }
    if (vc.stopReason === StopReason.TripleFault) this.machine.cpu.stop(StopReason.TripleFault);
    // The vCPU's debug probe stopped it (a debugger's breakpoint, watchpoint or step): the
    // machine stops after this exit, with the guest's state in the vCPU.
    if (vc.stopReason === StopReason.Debug) this.machine.cpu.stop(StopReason.Debug);
  }

  /** After the vCPU ran: bring shadows in line with what the guest changed. */
  private afterGuestChange(force: boolean): void {
    const vc = this.vcpu, m = this.machine.cpu;
    const written = this.written;
    for (let k = 0; k < written.length; k += 3) {
      const page = written[k];
      const why = this.shadow.traced[page] ?? 0;
      // The translations a write touched go, each time (the bytes written matter there).
      if ((why & TRACE_CODE) !== 0) { this.bt?.codeWritten(page, written[k + 1], written[k + 2]); this.bt64?.codeWritten(page); }
      // A page written many times (a table written entry by entry) is looked at once.
      if (k > 0 && seenBefore(written, page, k)) continue;
      if ((why & TRACE_PT) !== 0) this.shadow.tableWritten(page);
      if ((why & TRACE_DESC) !== 0) this.desc.written();
    }
    this.clearWritten();
    // The guest flushed its TLB: the page tables let out of sync are brought in line and
    // traced again (docs/monitor.md, "Tables out of sync").
    if (vc.tlbFlushes !== this.seenFlushes) {
      this.seenFlushes = vc.tlbFlushes;
      this.shadow.syncOutOfSync();
    }
    const pagingKey = (vc.cr0 & CR0_PG) | (vc.cr4 & (CR4_PSE | CR4_PAE)) | (vc.nxe ? EFER_NXE : 0);
    // PAE: a CR3 load (even of the same value) reloads the PDPTE registers from memory.
    const pae = (pagingKey & (CR0_PG | CR4_PAE)) === (CR0_PG | CR4_PAE);
    if (force || vc.cr3 !== this.lastCr3 || pagingKey !== this.lastCr4 || (pae && !samePdptes(vc.pdpte, this.lastPdpte))) {
      this.lastCr3 = vc.cr3;
      this.lastCr4 = pagingKey;
      this.lastPdpte.set(vc.pdpte);
      this.counters.inc("shadow.cr3-switch");
      this.loadRoot();
      this.shadow.needFlush = false;
    }
    if (((vc.cr0 ^ this.lastPe) & (CR0_PG | CR0_PE)) !== 0) {
      // Translations are keyed by guest linear address: a paging switch invalidates them.
      this.lastPe = vc.cr0 & (CR0_PG | CR0_PE);
      this.bt?.flush();
      this.bt64?.flush();
    }
    if ((vc.cr0 & CR0_GUEST_BITS) !== this.lastCr0) {
      this.lastCr0 = vc.cr0 & CR0_GUEST_BITS;
      m.cr0 = (m.cr0 & ~CR0_GUEST_BITS) | this.lastCr0;
    }
    this.desc.sync(force);
    this.flushMachineTlb(-1);
  }

  /**
   * Point the machine at the shadow root for the guest's paging state, in the machine paging
   * mode that root is built for: 32-bit paging, or PAE paging (with EFER.NXE as the guest
   * has it, so shadow entries can carry XD). The order keeps every CR write valid: PAE is
   * turned on after CR3 names the PDPT (the CR4 write loads the PDPTEs from it), and off
   * before CR3 names a 32-bit directory.
   */
  private loadRoot(): void {
    const m = this.machine.cpu, vc = this.vcpu;
    if (this.world64 !== null) {
      // The long-mode world: a 4-level root (the machine stays in IA-32e mode).
      if (!vc.lma) throw new GuestUnsupported(`the guest left long mode ${guestWhereOf(vc)}; the long-mode monitor runs 64-bit guests in IA-32e mode only (--mode bare runs it)`);
      this.shadow.evicted = false;
      if (m.nxe !== vc.nxe) m.setEfer((m.efer & ~EFER_LMA) ^ EFER_NXE);
      m.setCr3(this.shadow.rootFor(vc));
      return;
    }
    if (vc.lma) {
      // A 32-bit guest turned long mode on: move to the long-mode world.
      this.toLongWorld();
      this.enterLongMachine();
      this.desc.sync(true);
      return;
    }
    this.shadow.evicted = false;
    if (m.nxe !== vc.nxe) m.setEfer(vc.nxe ? m.efer | EFER_NXE : m.efer & ~EFER_NXE);
    const root = this.shadow.rootFor(vc);
    if (this.shadow.shape.rootInRegisters) {
      m.setCr3(root);
      if ((m.cr4 & CR4_PAE) === 0) m.setCr4(m.cr4 | CR4_PAE);
    } else {
      if ((m.cr4 & CR4_PAE) !== 0) m.setCr4(m.cr4 & ~CR4_PAE);
      m.setCr3(root);
    }
  }

  private flushMachineTlb(lin: number): void {
    const m = this.machine.cpu;
    if (this.shadow.evicted) this.loadRoot();
    if (this.shadow.needFlush) {
      this.shadow.needFlush = false;
      m.flushTlb(true);
    } else if (lin >= 0) {
      m.invalidatePage(lin);
    }
  }

  /**
   * bt's port I/O helper (docs/bt.md, "Port I/O"): an IN or OUT of translated code, running
   * on the machine at CPL 1 as the guest instruction it is, done on the guest's device at
   * the guest's time without an exit. The monitor then does what it does after an emulated
   * instruction: devices up to the guest time after it, and an interrupt the guest can take
   * now is injected there, by an exit the deadline timer makes at the next boundary. Only
   * the ports inPlacePort names: a device that can end the run (ACPI, reset, debug exit)
   * or move memory (A20) is left to the callout, where the vCPU holds the guest's state.
   */
  private portIo(cpu: Cpu, ins: Instr): boolean {
    const p = ioPort(cpu, ins), s = ioSize(ins);
    if (!inPlacePort(p, s, ioIsOut(ins))) return false;
    ioTransfer(cpu, this.vcpu.io, ins, p, s);
    this.afterInPlace();
    return true;
  }

  /** The same for compiled code's form of bt's helper (TranslatorHost.portIoValue): the value an IN reads. */
  private portIoValue(port: number, size: number, out: boolean, value: number): number {
    const v = portAccess(this.vcpu.io, out, port, size, value);
    this.afterInPlace();
    return v;
  }

  /**
   * After a guest instruction the monitor carried out without an exit (the machine's cycle
   * count not yet past it; the overhead without it): what follows an emulated instruction.
   * The devices advance to the guest time after it and the deadline timer is armed for
   * their next event; an interrupt the guest can take now becomes that event, one cycle
   * on, so the machine exits at the next boundary and the monitor injects it there.
   */
  private afterInPlace(): void {
    const vc = this.vcpu;
    const after = this.machine.cpu.cycles - this.overhead + 1;
    const next = this.platform.advance(after * NS_PER_CYCLE);
    this.guestDeadline = next === Infinity ? 0 : Math.ceil(next / NS_PER_CYCLE);
    // So does a snapshot the instruction asked for (a --save-at serial string it completed).
    if ((vc.intrLine && (vc.flags & F.IF) !== 0) || this.captureWanted) this.guestDeadline = after;
    this.armTimer();
  }

  /**
   * Trap mode's quick #GP path (docs/monitor.md, "Modes"): a #GP from the guest kernel's
   * (ring 1) instruction is carried out here, on the machine's registers, without loading
   * the vCPU and without the rest of an exit, for
   * - IN or OUT on a port the monitor does in place (inPlacePort): what portIo does for
   *   bt's helper, the access at the guest's time, devices advanced past it, a deliverable
   *   interrupt made the next event (`trap.io-quick`);
   * - INVLPG m, as bt's helper does (docs/bt.md, "More helpers"): the page's shadow entry
   *   dropped (guestInvlpg; the vCPU's TLB is flushed before each instruction it emulates
   *   anyway), then what follows an emulated instruction (`trap.invlpg-quick`);
   * - PUSHF (32-bit) onto a stack page the machine may write now, CLI and STI: the guest's
   *   flags with its virtual ones (the vCPU's), the guest's virtual IF cleared, or set with
   *   its shadow (stiInPlace), as bt's helpers do (`trap.pushf-quick`, `trap.cli-quick`,
   *   `trap.sti-quick`). Linux's interrupt-state saves and restores (PUSHF, POP, CLI; STI)
   *   were 190 k of trap's 250 k ordinary #GP exits in its boot.
   * The trap is the same. Anything else (a debugger or the guest's TF, another code
   * segment, a snapshot due, another port, a stack write that would fault) takes the
   * ordinary exit. `frame`: the exception frame's address past the error code.
   */
  private quickGp(eip: number, efl: number, cs: number, frame: number): boolean {
    if (cs !== this.machineSel[SegReg.CS]) return false;
    const ins = this.quickInstr(eip, efl, QUICK_GP);
    if (ins === null) return false;
    const m = this.machine.cpu;
    // The instruction retires as a guest instruction (this entry stays overhead).
    this.overhead -= 1;
    // Bytes of the guest's instructions after this one that were carried out with it.
    let extra = 0;
    if (ins.handler === invlpgM) {
      if (!ins.hasMem) { this.overhead += 1; return false; }
      this.guestInvlpg(m, ins);
      this.afterInPlace();
      this.count(QuickCounter.InvlpgQuick);
    } else if (ins.handler === pushf && m.features.strict && (extra = this.irqSaveInPlace(m, ins, eip, efl, frame)) > 0) {
      this.count(QuickCounter.IrqSaveQuick);
    } else if ((ins.handler === pushf || ins.handler === cli || ins.handler === sti) && m.features.strict && this.trapSoon((eip + ins.len) | 0)) {
      // The ordinary exit runs the next trap's instruction too (emulateAhead): cheaper than
      // two quick exits (Linux's PUSHF, POP, CLI).
      this.overhead += 1;
      return false;
    } else if (ins.handler === pushf) {
      if (!this.pushfInPlace(m, ins, efl, frame)) { this.overhead += 1; return false; }
      this.afterInPlace();
      this.count(QuickCounter.PushfQuick);
    } else if (ins.handler === cli) {
      this.vcpu.flags &= ~F.IF;
      this.afterInPlace();
      this.count(QuickCounter.CliQuick);
    } else if (ins.handler === sti) {
      this.stiInPlace();
      this.count(QuickCounter.StiQuick);
    } else {
      if (!this.portIo(m, ins)) { this.overhead += 1; return false; }
      this.count(QuickCounter.IoQuick);
    }
    this.skipFaulting(eip, ins.len + extra);
    return true;
  }

  /**
   * Linux's interrupt-state save, `pushfd; pop r32; cli`, whose PUSHF (`ins`, at `eip`) just
   * trapped: all three carried out here, as three guest instructions, when the PUSHF's store
   * may be made in place (pushfInPlace) and no interrupt can come between them: none is
   * pending and no device's event falls before the CLI retires (at the boundaries after the
   * PUSHF and the POP the guest's IF is still set). The POP takes the dword back into its
   * register (the stack keeps it below ESP, as on bare), the CLI clears the virtual IF.
   * Returns the bytes of the POP and CLI, or 0 with nothing done (another path takes it).
   */
  private irqSaveInPlace(m: Cpu, ins: Instr, eip: number, efl: number, frame: number): number {
    const vc = this.vcpu;
    if (vc.intrLine || vc.nmiPending || !ins.opsize32) return 0;
    const popAt = (eip + ins.len) | 0;
    const pop = this.quickInstr(popAt, efl, QUICK_POP);
    if (pop === null || !pop.opsize32 || (pop.opcode & 7) === Reg.ESP) return 0;
    const cliIns = this.quickInstr((popAt + pop.len) | 0, efl, QUICK_CLI);
    if (cliIns === null) return 0;
    // The PUSHF retires at guest time T + 1 (its entry is counted: quickGp), the POP at T + 2.
    const T = m.cycles - this.overhead;
    if (this.guestDeadline !== 0 && this.guestDeadline <= T + 2) return 0;
    if (!this.pushfInPlace(m, ins, efl, frame)) return 0;
    const esp = m.readLin32((frame + 12) | 0, false);
    m.regs[pop.opcode & 7] = m.readLin32((vc.segs[SegReg.SS].base + esp) | 0, false);
    m.writeLin32((frame + 12) | 0, (esp + 4) | 0, false);
    vc.flags &= ~F.IF;
    this.overhead -= 2;
    this.afterInPlace();
    return pop.len + cliIns.len;
  }

  /**
   * The guest kernel's PUSHF (32-bit operand size), its #GP's `frame` on the monitor's
   * stack: the value the vCPU would push (the guest's flags, with the virtual ones it keeps)
   * stored where the guest's ESP points less 4, when nothing about the store can fault or
   * needs the monitor: the guest's SS is the one the monitor loaded for it, the store lies
   * inside that segment and below the monitor region, and the machine's TLB holds the page
   * as RAM already written and writable, with no decoded code (Cpu.fastWriteAddress), while
   * no shadow change waits for a flush. Otherwise false: the ordinary exit.
   */
  private pushfInPlace(m: Cpu, ins: Instr, efl: number, frame: number): boolean {
    if (!ins.opsize32 || this.shadow.needFlush) return false;
    const ss = this.vcpu.segs[SegReg.SS];
    if ((m.readLin32((frame + 16) | 0, false) & 0xffff) !== this.machineSel[SegReg.SS] || !ss.big) return false;
    const esp = m.readLin32((frame + 12) | 0, false);
    const off = (esp - 4) >>> 0;
    if (off < ss.writeLo || off + 3 > ss.writeHi || ss.base + off + 4 > L.REGION_BASE) return false;
    const lin = (ss.base + off) | 0;
    if (m.fastWriteAddress(lin, false) === -1) return false;
    m.writeLin32(lin, ((efl & ~L.VIRTUAL_FLAGS) | (this.vcpu.getEflags() & L.VIRTUAL_FLAGS)) & ~(F.VM | F.RF), false);
    m.writeLin32((frame + 12) | 0, off | 0, false);
    return true;
  }

  /**
   * The quick page-table store (trap and bt; docs/monitor.md, "Coherence"): a #PF from the
   * guest kernel's 32-bit MOV to memory (register or immediate) into a frame traced only
   * as a guest page table is carried out here. The shadow's walk for the fault already set
   * A and D as the processor's would; the monitor stores the value at that frame (CR2's
   * offset), brings the shadow in line as after any emulated write, and the guest goes on
   * after the MOV, with the devices and interrupts as after any exit. A frame also traced
   * as code or as a descriptor table, a store across a page, and anything else, take the
   * ordinary exit.
   */
  private quickTableStore(eip: number, efl: number, cs: number): boolean {
    const m = this.machine.cpu;
    if (this.shadow.miss !== Miss.TRACED) return false;
    const frame = this.shadow.missFrame, lin = m.cr2;
    if ((this.shadow.traced[frame >>> 12] ?? 0) !== TRACE_PT || (lin & 0xfff) > 0xffc) return false;
    const inCache = cs === L.SEL_TC_CS;
    if (!inCache && cs !== this.machineSel[SegReg.CS]) return false;
    const ins = this.quickInstr(inCache ? this.bt!.guestEip(eip) : eip, efl, QUICK_STORES);
    if (ins === null || !ins.opsize32 || !ins.hasMem || ins.lock) return false;
    // The MOV retires as a guest instruction (this entry stays overhead).
    this.overhead -= 1;
    this.clearWritten();
    this.guestMem.write32((frame + (lin & 0xfff)) >>> 0, ins.handler === movEvGv ? m.regs[ins.reg] : ins.imm);
    // The one frame written is a page table and nothing else: only the entries under the
    // store can differ from the shadow's snapshot of it.
    this.clearWritten();
    this.shadow.tableWritten(frame >>> 12, lin & 0xfff, 4);
    this.afterGuestChange(false);
    this.afterInPlace();
    this.count(QuickCounter.TableStoreQuick);
    // In the translation cache the MOV was copied as it is: the same length.
    this.skipFaulting(eip, ins.len);
    return true;
  }

  /**
   * The guest's INVLPG m (`ins`, whichever way it ran: `cpu` holds the guest's registers as
   * its operand saw them; the segment base is the guest's, the vCPU's) invalidated the TLB
   * entry of its linear address: the shadow entry goes, so the next access walks the guest's tables again and sets the A bit
   * (and D on a write) as the processor does after dropping a TLB entry. (The shadow keeps
   * an entry whose guest entry only lost its A bit, as a TLB keeps it: docs/monitor.md,
   * "Coherence".) The machine's TLB drops that page, or everything when other shadow
   * changes wait for a flush.
   */
  private guestInvlpg(cpu: Cpu, ins: Instr): void {
    const lin = this.shadowInvlpg(ins.seg, cpu.ea(ins));
    if (lin !== -1) this.machine.cpu.invalidatePage(lin);
  }

  /**
   * The shadow's part of the guest's INVLPG of offset `ea` in segment register `seg`: the
   * linear address whose entry the machine's TLB must drop too, or -1 (none, or a flush of
   * the whole TLB is due anyway). Also compiled code's "invlpg" form (TranslatorHost).
   */
  private shadowInvlpg(seg: number, ea: number): number {
    const lin = (this.vcpu.segs[seg].base + ea) | 0;
    const pending = this.shadow.needFlush;
    if (!this.shadow.invalidatePage(lin) || pending) return -1;
    this.shadow.needFlush = false;
    return lin;
  }

  /** Return to the guest past the instruction that faulted at `eip` (`len` bytes), popping its error code. */
  private skipFaulting(eip: number, len: number): void {
    const m = this.machine.cpu, sp = m.regs[Reg.ESP];
    m.writeLin32((sp + 4) | 0, (eip + len) | 0, false);
    m.regs[Reg.ESP] = (sp + 4) | 0;
    this.backToGuest();
  }

  /**
   * For a quick path: the guest kernel's instruction at guest EIP `geip` (32-bit code), if
   * its handler is one of `want` and nothing needs the ordinary exit (a debugger or the
   * guest's TF, which the vCPU must see; a snapshot due). Found as software can (trapSoon).
   */
  private quickInstr(geip: number, efl: number, want: ReadonlySet<Handler>): Instr | null {
    const vc = this.vcpu, ccs = vc.segs[SegReg.CS];
    if (vc.debug.armed || (efl & F.TF) !== 0 || !ccs.big || this.captureWanted) return null;
    const pa = peekPhysical(vc, (ccs.base + geip) | 0, this.peekTables ??= new ReadOnlyTables(this.guestMem), this.peekXlat);
    if (pa < 0 || pa >= this.guestMem.ramSize) return null;
    return this.quickInstrAt(pa, geip, want);
  }

  /**
   * The instruction (32-bit code) at guest-physical `pa` if its handler is one of `want`.
   * Decoded once per address and kept with its bytes, which are compared again at each use
   * (code may change under it); only those that end in the page are kept.
   */
  private quickInstrAt(pa: number, eip: number, want: ReadonlySet<Handler>): Instr | null {
    const g = this.guestMem;
    const have = this.quickCode.get(pa);
    if (have !== undefined) {
      let same = true;
      for (let k = 0; k < have.bytes.length && same; k++) same = g.read8(pa + k) === have.bytes[k];
      if (same) return want.has(have.ins.handler) ? have.ins : null;
    }
    const b = this.codeBytes;
    b.cpu = this.vcpu; b.pageBase = pa & ~0xfff; b.pageOff = pa & 0xfff; b.eip0 = eip;
    let ins: Instr;
    try {
      ins = decode(b, eip, true);
    } catch (e) {
      if (e !== PAGE_END) throw e;
      return null;
    }
    if ((pa & 0xfff) + ins.len <= 0x1000) {
      if (this.quickCode.size >= 4096) this.quickCode.clear();
      const bytes = new Uint8Array(ins.len);
      for (let k = 0; k < ins.len; k++) bytes[k] = g.read8(pa + k);
      this.quickCode.set(pa, { ins, bytes });
    }
    return want.has(ins.handler) ? ins : null;
  }

  /** The quick paths' decoded instructions, by guest-physical address, with their bytes. */
  private readonly quickCode = new Map<number, { ins: Instr; bytes: Uint8Array }>();

  /**
   * bt's STI helper: what the vCPU and the monitor do for an STI callout, without the exit.
   * The guest's IF goes on, with the one-instruction shadow when it was off; an interrupt
   * already pending is then taken by an exit after the next instruction (the deadline
   * timer), where the vCPU's shadow has ended, as on bare.
   */
  private stiInPlace(): void {
    const vc = this.vcpu;
    const T = this.machine.cpu.cycles - this.overhead;
    // As at an exit: a shadow from an STI before ends once the guest has run an instruction.
    if (T > this.resumedGuest) vc.inhibitIrq = false;
    if ((vc.flags & F.IF) === 0) vc.inhibitIrq = true;
    vc.flags |= F.IF;
    // As after an exit: the guest goes on at T + 1.
    this.resumedGuest = T + 1;
    if (vc.intrLine || this.captureWanted) {
      const at = vc.inhibitIrq && !this.captureWanted ? T + 2 : T + 1;
      if (this.guestDeadline === 0 || at < this.guestDeadline) this.guestDeadline = at;
      this.armTimer();
    }
  }

  /** Virtual devices up to guest time; inject an interrupt the guest can take now. */
  private devicesAndInterrupts(): void {
    const vc = this.vcpu;
    const next = this.platform.advance(vc.cycles * NS_PER_CYCLE);
    this.guestDeadline = next === Infinity ? 0 : Math.ceil(next / NS_PER_CYCLE);
    if (vc.intrLine) {
      if ((vc.flags & F.IF) !== 0 && !vc.inhibitIrq) {
        const before = vc.instructions;
        // Delivered through the guest's IDT with the checks the processor makes: a vector
        // the IDT cannot deliver ends in a double fault, or a shutdown, as on bare.
        vc.stopReason = StopReason.None;
        if (vc.checkInterrupts()) this.counters.inc("irq.injected");
        if ((vc.stopReason as StopReason) === StopReason.TripleFault) this.machine.cpu.stop(StopReason.TripleFault);
        this.overhead -= vc.instructions - before;
      } else if ((vc.flags & F.IF) !== 0) {
        // Interrupt shadow (STI, MOV SS): come back after one more guest instruction.
        const soon = vc.cycles + 1;
        if (this.guestDeadline === 0 || soon < this.guestDeadline) this.guestDeadline = soon;
      }
    }
  }

  /**
   * Leave the monitor: back to the guest, or idle/halt with the guest. `fromExit`: an exit
   * of the running machine (entry), where trap mode may emulate ahead; not the first entry
   * into the guest, which runs outside the machine's run loop.
   */
  private leave(fromExit = false): void {
    const m = this.machine.cpu, vc = this.vcpu;
    // Guest kernel code inside the monitor region cannot run on the machine (its segments
    // stop short of it): the vCPU interprets it, a bounded number of instructions per exit.
    // While a debugger or the guest's own DR7 has anything armed, the vCPU interprets
    // every guest instruction too: its debug unit checks them at guest addresses
    // (docs/gdb.md).
    let stepping = false;
    const dbg = vc.debug;
    if (vc.halted && dbg.stopRequested) {
      // A debugger's stop request while the guest idles: stop here, the vCPU is the guest.
      dbg.stopRequested = false;
      dbg.hit = { kind: "stop" };
      dbg.update();
      m.stop(StopReason.Debug);
    }
    if (dbg.armed || (this.bt === null && this.protect === "segments") || this.world64 !== null) {
      for (let k = 0; k < 256 && m.stopReason === StopReason.None && this.mustInterpret(); k++) {
        this.counters.inc(vc.debug.armed ? "emulate.debug" : "emulate.in-monitor-region");
        this.emulateOne();
        this.afterGuestChange(false);
        this.devicesAndInterrupts();
      }
      stepping = this.mustInterpret();
    }
    // Not on the standard CPU: its sensitive instructions do not trap (docs/monitor.md).
    if (fromExit && !stepping && this.bt === null && this.world64 === null && m.features.strict) this.emulateAhead();
    if (stepping) {
      // Come straight back (through the idle loop and the timer) to interpret more.
      this.idling = true;
      m.eip = this.idleAddress;
      m.flags |= F.IF;
      m.halted = true;
      this.inMonitor = false;
      this.machine.cpu.tscOffset = vc.tscOffset - this.overhead;
      this.armAt(m.cycles + 1);
      m.yieldSlice();
      return;
    }
    if (vc.halted) {
      if ((vc.flags & F.IF) === 0) {
        // HLT with interrupts off: nothing can wake the guest (E_HALT).
        m.flags &= ~F.IF;
        m.halted = true;
      } else {
        this.counters.inc("exit.idle");
        // The host's serial line waits for the guest to idle; it may have a byte due now.
        const line = this.platform.line;
        line.halted(this.guestNowNs());
        const t = line.nextEvent();
        if (t !== Infinity) {
          const c = Math.ceil(t / NS_PER_CYCLE);
          if (this.guestDeadline === 0 || c < this.guestDeadline) this.guestDeadline = c;
        }
        this.idling = true;
        this.haltedAt = vc.cycles;
        m.eip = this.idleAddress;
        m.flags |= F.IF;
        m.halted = true;
      }
    } else {
      this.resume();
    }
    this.inMonitor = false;
    this.resumedGuest = vc.cycles;
    this.machine.cpu.tscOffset = vc.tscOffset - this.overhead;
    this.armTimer();
  }

  /**
   * Trap mode on the strict CPU: while one of the guest's next few instructions (straight-line, up to
   * `LOOK_AHEAD`) is one the machine would trap on too (a sensitive or privileged
   * instruction: the translator's callout set, and IRET), run the guest on the vCPU now
   * instead of resuming it only to take the next trap a few instructions later: `pushfd`,
   * `pop`, then `cli`; `push`, `push`, then `iret`. Each is a guest instruction like any
   * other emulated one (guest time stays exact), with the devices and interrupts brought up
   * to date after it as after an exit. `emulate.ahead` counts them.
   */
  private emulateAhead(): void {
    const vc = this.vcpu, m = this.machine.cpu;
    for (let k = 0; k < EMULATE_AHEAD; k++) {
      if (this.capturedInExit || m.stopReason !== StopReason.None || vc.halted || !vc.protectedMode || vc.v86 || !this.trapSoon()) return;
      this.count(QuickCounter.EmulateAhead);
      this.emulateOne(true);
      this.afterGuestChange(false);
      this.devicesAndInterrupts();
    }
  }

  /**
   * Would the machine trap within the guest's next `LOOK_AHEAD` instructions? The monitor
   * looks as software can: it walks the guest's page tables without setting A or D
   * (`peekPhysical`) and decodes the bytes in guest memory. It follows straight-line code in
   * one page; what it cannot decode there counts as no. What it learns of each instruction
   * is kept by guest-physical address (`codeHints`): only a hint, as code may change under
   * it; the vCPU runs whatever is there.
   */
  private trapSoon(from = this.vcpu.eip): boolean {
    const vc = this.vcpu, cs = vc.segs[SegReg.CS];
    let eip = from;
    const pa = peekPhysical(vc, (cs.base + eip) | 0, this.peekTables ??= new ReadOnlyTables(this.guestMem), this.peekXlat);
    if (pa < 0 || pa >= this.guestMem.ramSize) return false;
    const page = pa & ~0xfff;
    let off = pa & 0xfff;
    for (let k = 0; k < LOOK_AHEAD; k++) {
      const h = this.codeHint(page, off, eip, cs.big);
      if (h < 0) return false;
      if ((h & HINT_PRONE) !== 0) return true;
      if ((h & HINT_STRAIGHT) === 0) return false;
      off += h & 0xff;
      eip += h & 0xff;
      if (off >= 4096) return false;
    }
    return false;
  }

  /** trapSoon's look at the guest's page tables (no A or D bit set), and its result. */
  private peekTables: ReadOnlyTables | null = null;
  private readonly peekXlat = new Translation();
  /** Guest-physical address (×2, + 1 for 32-bit code) → trapSoon's note of the instruction there (-1: none). */
  private readonly codeHints = new Map<number, number>();
  private readonly codeBytes = new PageBytes();

  private codeHint(page: number, off: number, eip: number, code32: boolean): number {
    const key = (page + off) * 2 + (code32 ? 1 : 0);
    let h = this.codeHints.get(key);
    if (h !== undefined) return h;
    const b = this.codeBytes;
    b.cpu = this.vcpu; b.pageBase = page; b.pageOff = off; b.eip0 = eip;
    try {
      const ins = decode(b, eip, code32);
      h = ins.len | (TRAP_PRONE.has(ins.handler) ? HINT_PRONE : 0) | (ins.def.straight ? HINT_STRAIGHT : 0);
    } catch (e) {
      if (e !== PAGE_END) throw e;
      h = -1;
    }
    if (this.codeHints.size >= 1 << 16) this.codeHints.clear();
    this.codeHints.set(key, h);
    return h;
  }

  /** Is the guest at CPL 0 running code the machine cannot reach (the monitor region)? */
  private mustInterpret(): boolean {
    const vc = this.vcpu;
    if (vc.halted) return false;
    if (vc.debug.armed) return true;
    if (this.world64 !== null) {
      // 64-bit guest kernel code runs translated; compatibility-mode kernel code (a loader's
      // few instructions before its far jump into 64-bit code), and code that cannot be
      // fetched yet, are interpreted; so is a non-canonical RIP (AMD's SYSRET leaves one for
      // the user-mode fetch to fault on): the vCPU takes that #GP.
      if (vc.eip < -0x8000_0000_0000 || vc.eip >= 0x8000_0000_0000) return true;
      if (vc.cpl === 3) return false;
      const cs = vc.segs[SegReg.CS];
      // mode64 is the processor's cached "CS is a 64-bit segment" (set at each fetch; a
      // loader or a snapshot may leave it stale): the translator decodes through it.
      vc.mode64 = cs.l && !cs.big;
      return !vc.mode64 || this.bt64!.enter(vc.eip) === null;
    }
    if (this.bt !== null || this.protect !== "segments" || vc.cpl !== 0) return false;
    const lin = (vc.segs[SegReg.CS].base + vc.eip) >>> 0;
    return lin + 16 > L.REGION_BASE;
  }

  /**
   * WRMSR IA32_TSC_DEADLINE for machine cycle `cycle` (0 disarms): the MSR counts in TSC
   * units, which the monitor offsets for the guest's RDTSC, so every change of the offset is
   * followed by arming again.
   */
  private armAt(cycle: number): void {
    this.armedCycle = cycle > 0 ? cycle : 0;
    const m = this.machine.cpu;
    this.apic.tscDeadlineMsr = cycle > 0 ? Math.max(1, cycle + m.tscOffset) : 0;
  }

  /** Program the deadline timer for the next virtual-device event, in machine cycles. */
  private armTimer(): void {
    // The APIC clears IA32_TSC_DEADLINE when the timer fires: then nothing is armed.
    const was = this.apic.tscDeadlineMsr === 0 ? 0 : this.armedCycle;
    const at = this.guestDeadline > 0 ? this.guestDeadline + this.overhead : 0;
    this.armAt(at);
    // The run loop sized its slice by the old deadline: end the slice only if the new one
    // is earlier (a later one is found when the slice ends at the old one).
    if (at !== 0 && (was === 0 || at < was)) this.machine.cpu.yieldSlice();
  }

  /** Load the guest's state into the machine and IRET to it. */
  private resume(): void {
    if (this.world64 !== null) { this.resume64(); return; }
    if (!this.vcpu.protectedMode || this.vcpu.v86) {
      const vc = this.vcpu;
      throw new GuestUnsupported(`the guest entered ${vc.v86 ? "virtual-8086" : "real"} mode at ` +
        `${hex(vc.segs[SegReg.CS].selector)}:${hex(vc.eip)}; --mode trap and bt run protected-mode guests only ` +
        "(hardware assist runs it: --mode svm --cpu barcelona and --mode vtx --cpu westmere in guest mode, --mode vtx on the first VT-x parts by interpreting it)");
    }
    const m = this.machine.cpu, vc = this.vcpu;
    m.regs.set(vc.regs);
    const cpl = vc.cpl;
    const stamp = this.desc.stamp;
    for (const s of DATA_SEGS) {
      const sel = this.desc.machineSelector(s, vc.segs[s], cpl);
      const ms = m.segs[s];
      // Loaded by the last resume, or natively by the guest since, from the same shadow
      // tables (no resync, no monitor entry rewritten: the same stamp): loading it again
      // would give the same register.
      if (vc.segs[s].valid && ms.valid && ms.selector === sel && this.segStamp[s] === stamp) continue;
      this.segStamp[s] = stamp;
      try {
        if (!vc.segs[s].valid) ms.loadNull(sel);
        else m.loadSegment(s, sel);
      } catch (e) {
        if (e !== m.fault) throw e;
        ms.loadNull(sel);
        this.counters.inc("desc.unloadable");
      }
    }
    let cs: number, eip = -2;
    if (cpl === 0 && this.bt !== null) {
      for (let k = 0; k < 8; k++) {
        eip = this.bt.enter(vc.eip, vc.segs[SegReg.CS]);
        if (eip !== -1) break;
        // The code cannot be fetched: the vCPU takes (and delivers) the fault.
        this.emulateOne();
        this.afterGuestChange(false);
        m.regs.set(vc.regs);
      }
      // A translation traces the frames its code came from: their shadow entries lost the
      // write right, and the machine's TLB may still hold it (a write just before, as
      // Linux's ftrace patches a function and then runs it).
      this.flushMachineTlb(-1);
    }
    if (eip >= 0) {
      cs = L.SEL_TC_CS;
    } else {
      cs = this.desc.machineSelector(SegReg.CS, vc.segs[SegReg.CS], cpl);
      eip = vc.eip;
    }
    const ss = this.desc.machineSelector(SegReg.SS, vc.segs[SegReg.SS], cpl);
    const efl = (vc.getEflags() & ~(L.VIRTUAL_FLAGS | F.RF)) | F.IF | F.FIXED_ONE;
    const frame = (L.REGION_BASE + L.STACK_TOP - 20) | 0;
    m.writeLin32(frame, eip, false);
    m.writeLin32(frame + 4, cs, false);
    m.writeLin32(frame + 8, efl, false);
    m.writeLin32(frame + 12, vc.regs[Reg.ESP], false);
    m.writeLin32(frame + 16, ss, false);
    m.regs[Reg.ESP] = frame;
    m.halted = false;
    this.iretToGuest(true);
  }

  /**
   * IRET from the monitor stack into the guest. `synced`: the machine's selectors were just
   * loaded from the vCPU, so note them; the next exit compares against them to see which
   * segment registers the guest loaded natively. The fast paths (a hidden page fault, a
   * translated RET) return without syncing and must not note anything: a selector the guest
   * loaded before such an exit (LES, then a hidden fault on the next instruction) would
   * otherwise never reach the vCPU.
   */
  private iretToGuest(synced: boolean): void {
    const m = this.machine.cpu;
    try {
      if (this.world64 !== null) iret64(m, 8);
      else iret(m, true);
    } catch (e) {
      if (e !== m.fault) throw e;
      throw new MonitorPanic(`the monitor could not return to the guest: #${m.fault.vector}(${hex(m.fault.errorCode)}) ` +
        `guest ${hex(this.vcpu.segs[SegReg.CS].selector)}:${hex(this.vcpu.eip)}`);
    }
    if (synced) for (let s = 0; s < 6; s++) this.machineSel[s] = m.segs[s].selector;
  }

  // ===================================================================================
  // Reporting
  // ===================================================================================

  /** Resource control: is the monitor intact, and did only native code run at CPL 0? */
  integrity(): { monitorIntact: boolean; guestRanAtCpl0: boolean; detail: string } {
    const bad = this.world64 !== null ? this.world64.tampered() : this.world.tampered();
    const badShadow = this.shadow.tampered();
    const ring0 = this.machine.cpu.ring0Foreign;
    const parts: string[] = [];
    if (bad.length) parts.push(`monitor memory changed at region offsets ${bad.slice(0, 4).map(hex).join(", ")}${bad.length > 4 ? ", …" : ""}`);
    if (badShadow) parts.push(`${badShadow} shadow page-table entries changed behind the monitor`);
    if (ring0) parts.push(`${ring0} guest instructions ran at machine CPL 0`);
    return { monitorIntact: bad.length === 0 && badShadow === 0, guestRanAtCpl0: ring0 > 0, detail: parts.join("; ") };
  }

  /** Where the guest is (its own CS:EIP). */
  guestWhere(): string { return guestWhereOf(this.vcpu); }

  /** The counters, with the machine-level totals. */
  stats(): Record<string, number> {
    const c = timeCounters(this.counters, this.guestCycles, this.guestInstructions, this.machine.cpu.cycles, this.overhead);
    c["shadow.pool-used"] = this.shadow.poolUsed;
    if (this.divergence) for (const [k, v] of Object.entries(this.divergence.counts())) c[`diverge.${k}`] = v;
    if (this.bt) Object.assign(c, this.bt.stats());
    if (this.bt64) Object.assign(c, this.bt64.stats());
    return c;
  }
}

// ---- What every monitor technique shares (the classic monitor here, svm/svm-monitor.ts) ----

/**
 * The guest's state as the bare PC would save it, from the vCPU inside an exit: devices
 * brought up to guest time first (as savePc does), guest instructions and halted cycles
 * apart, and the machine's XMM registers, which guest SSE code runs on (the x87 unit is
 * shared).
 */
export function guestStateOf(vc: Cpu, m: Cpu, guestMem: PhysicalMemory, platform: PcPlatform, guestCycles: number, guestIdle: number): GuestState {
  platform.advance(guestCycles * NS_PER_CYCLE);
  const cpu = saveCpu(vc);
  cpu.instructions = vc.cycles - guestIdle;
  cpu.idleCycles = guestIdle;
  cpu.xmm = Array.from(m.simd.xmm);
  cpu.mxcsr = m.simd.mxcsr;
  return {
    version: GUEST_STATE_VERSION, model: modelOf(vc.model), acpi: platform.pm !== null, cpu,
    memory: saveMemory(guestMem), platform: savePlatform(platform), apic: null,
  };
}

/**
 * Run the machine under a monitor: its own local APIC is the only timed device (the
 * deadline timer); new host input arms it for now, so the monitor comes back at once to
 * look at the guest's devices.
 */
export function runMonitored(machine: Machine, apic: LocalApic, opts: PcRunOptions, armAt: (cycle: number) => void): RunEnd {
  return clockedRun(machine.cpu, [apic], {
    deadline: opts.deadline,
    maxInstructions: opts.maxInstructions,
    realtime: opts.realtime,
    exitStatus: () => machine.exitStatus ?? 0,
    until: opts.until,
    poll: () => {
      if (opts.poll?.()) armAt(Math.max(1, machine.cpu.cycles));
      return false;
    },
  });
}

/** Where the guest is: its own CS:EIP, from the vCPU. */
export function guestWhereOf(vc: Cpu): string {
  return `at guest ${vc.segs[SegReg.CS].selector.toString(16).padStart(4, "0")}:${(vc.eip >>> 0).toString(16).padStart(8, "0")}`;
}

/** A monitor's counters with the time totals (`time.*`). */
export function timeCounters(counters: Counters, guestCycles: number, guestInstructions: number, machineCycles: number, overhead: number): Record<string, number> {
  const c = counters.snapshot();
  c["time.guest-cycles"] = guestCycles;
  c["time.guest-instructions"] = guestInstructions;
  c["time.machine-cycles"] = machineCycles;
  c["time.overhead-cycles"] = overhead;
  return c;
}

const TRAP_NAMES: Record<number, string> = {
  0: "trap.de", 3: "trap.bp", 4: "trap.of", 5: "trap.br", 6: "trap.ud", 7: "trap.nm", 10: "trap.ts",
  11: "trap.np", 12: "trap.ss", 13: "trap.gp", 14: "trap.pf-true-or-emulated", 16: "trap.mf", 17: "trap.ac", 19: "trap.xm",
};

function samePdptes(a: Int32Array, b: Int32Array): boolean {
  for (let k = 0; k < 8; k++) if (a[k] !== b[k]) return false;
  return true;
}

/**
 * An opcode-table row's name for the emulate.* counters: one counter per row, whatever the
 * operand size (the 32-bit name of a 16/32 pair; disasm.ts `mnemonicOf` names the one
 * instruction).
 */
function rowName(ins: Instr): string {
  const name = ins.def.mnemonic;
  const k = name.indexOf("/");
  return (k >= 0 ? name.slice(k + 1) : name).replace(/\s+/g, "-");
}

/** The emulate.* counter of an instruction's row, made once per row (a pure function of it). */
const emulateNames = new Map<Instr["def"], string>();
export function emulateCounter(ins: Instr): string {
  let n = emulateNames.get(ins.def);
  if (n === undefined) { n = `emulate.${rowName(ins)}`; emulateNames.set(ins.def, n); }
  return n;
}

export function hex(n: number): string {
  return "0x" + (n >>> 0).toString(16);
}

/** Whether frame `page` is in the monitor's `written` (frame, first, end triples) before entry `k`. */
function seenBefore(written: readonly number[], page: number, k: number): boolean {
  for (let j = 0; j < k; j += 3) if (written[j] === page) return true;
  return false;
}
