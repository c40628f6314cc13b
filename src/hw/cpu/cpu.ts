// The processor: an i686 (P6-class) integer core with x87, in real, protected and
// virtual-8086 mode (Intel SDM vol. 1 chapter 3, vol. 3 chapters 2–7 and 20).
//
// This file holds the architectural state and the paths every instruction shares: the
// instruction loop, fetch through the decoded-instruction cache, segmented and paged memory
// access, the stack, lazy flags and exception delivery. Instruction semantics live in
// `exec/`, protected-mode control transfers in `transfer.ts`, interrupt delivery in
// `interrupt.ts`, task switching in `task.ts`.

import { TLB_DIRTY, TLB_GLOBAL, TLB_NOEXEC, TLB_RAM, TLB_SUP_W, TLB_USER, TLB_USER_W, TLB_VALID } from "./tlb-bits.js";
import { CpuFault, StopReason, Vector, VMEXIT, type FaultRecord } from "./fault.js";
import * as F from "./eflags.js";
import { Descriptor, SegmentCache, SegReg } from "./segment.js";
import { newInstr, type Instr, type Handler } from "./instr.js";
import { CodePage } from "./code-page.js";
import { decode, decode64 } from "./decoder.js";
import { deliverInterrupt, DeliveryScratch, IntKind } from "./interrupt.js";
import { CONDITION, LAZY_FLAG } from "./flag-semantics.js";
import { NATIVE_RING0, NATIVE_RING1, NATIVE_RING1_BYTES, type CpuSlot, type NativeEntry, type PhysicalMemory } from "../mem/physical-memory.js";
import type { IoBus } from "../io/io-bus.js";
import { Translation, walk, CR4_PGE } from "../mmu/paging.js";
import { Fpu } from "../fpu/fpu.js";
import type { FpuHost, FpuInstr } from "../fpu/fpu-host.js";
import { DEFAULT_MODEL, type CpuFeatures, type CpuModel } from "./models.js";
import { CpuidTable } from "./cpuid.js";
import { LongModeMemory } from "./long-memory.js";
import { ea64 } from "./exec64/operands.js";
import { lmsleCheck } from "./lmsle.js";
import { SimdState } from "../sse/simd-state.js";
import { SimdFloat } from "../sse/simd-float.js";
import { DebugUnit, DR6_BS, DR7_GD, type ProbeHit } from "./debug.js";
import { BlockCompiler, Check, type CompiledBlock, type JitOptions } from "./jit/block-compiler.js";
import type { GuestMode } from "./guest-mode.js";
import { Svm } from "./svm/svm.js";
import type { NestedPaging } from "./svm/nested-paging.js";
import { Vmx, intrType } from "./vmx/vmx.js";
import { DOUBLE_FIELD } from "../double-field.js";

export const enum Reg { EAX = 0, ECX = 1, EDX = 2, EBX = 3, ESP = 4, EBP = 5, ESI = 6, EDI = 7 }

// The control-register and EFER bit names live in control-regs.ts, which the instruction
// handlers import without importing this module (no cpu.ts ↔ exec/ import cycle at run time).
export * from "./control-regs.js";
import {
  CR0_PE, CR0_ET, CR0_CD, CR0_NW, CR0_PG, CR0_WP, CR0_AM,
  CR4_VME, CR4_PVI, CR4_TSD, CR4_DE, CR4_PSE, CR4_PAE, CR4_MCE, CR4_PCE, CR4_UMIP, CR4_VMXE, CR4_OSFXSR, CR4_OSXMMEXCPT,
  EFER_LME, EFER_LMA, EFER_NXE, EFER_LMSLE,
} from "./control-regs.js";

/** Lazy-flag operations: which computation produced lRes from lDst and lSrc. */
export const enum LazyOp { ADD = 0, ADC = 1, SUB = 2, SBB = 3, LOGIC = 4, INC = 5, DEC = 6, NEG = 7, SHL = 8, SHR = 9, SAR = 10, IMUL = 11 }

/**
 * A source of maskable hardware interrupts (the PIC). The controller also drives the INTR
 * pin, `Cpu.intrLine`, whenever its output changes; the CPU samples the pin between
 * instructions and runs the INTA cycle (`acknowledge`) only when it is high.
 */
export interface InterruptSource {
  /** True if INTR is asserted. */
  hasInterrupt(): boolean;
  /** The INTA cycle: returns the vector and updates the controller. */
  acknowledge(): number;
}

/** The CPU's view of its local APIC (src/hw/dev/apic): the MSRs that reach it. */
export interface CpuApic {
  /** IA32_APIC_BASE (1Bh). */
  baseMsr: number;
  setBaseMsr(v: number): void;
  /** IA32_TSC_DEADLINE (6E0h). */
  tscDeadlineMsr: number;
  /** The task-priority register, which CR8 mirrors in 64-bit mode (bits 7:4). */
  taskPriority: number;
}

/** The two `--cpu` short forms of before there were models: `pentium2` and `pentium2,+strict`. */
export type CpuVariant = "standard" | "strict";

export interface CpuOptions {
  /**
   * The processor this CPU is (models.ts), with its features adjusted (`parseCpuSpec`);
   * default `pentium2`. `features.strict`: every sensitive instruction faults with #GP at
   * CPL > 0 (DESIGN.md §2).
   */
  model?: CpuModel;
  /** Use this x87 unit instead of a new one (a monitor's emulator shares the machine's). */
  fpu?: Fpu;
  /**
   * Use these XMM registers and MXCSR instead of new ones: a monitor's emulator shares the
   * machine's, on which guest code runs, so an SSE or FXSAVE instruction it emulates sees
   * the guest's values.
   */
  simd?: SimdState;
  /** Compile hot code into blocks (docs/jit.md); default true. `--jit off` turns it off. */
  jit?: boolean | JitOptions;
}


const SIZE_MASK = [0, 0xff, 0xffff, 0, 0xffff_ffff];
/** The longest instruction, in bytes (SDM vol. 2 §2.3.11). */
const MAX_INSTR_LEN = 15;
/** Slots of the page-crossing instruction cache (a power of two). */
const CROSSING_SLOTS = 64;

/** An instruction decoded across a page boundary: where, from which two frames, and its bytes. */
class CrossingInstr {
  ins: Instr | null = null;
  /** A double from the start (double-field.ts): a 64-bit kernel's addresses. */
  lin = DOUBLE_FIELD;
  phys1 = -1;
  phys2 = -1;
  readonly bytes = new Uint8Array(MAX_INSTR_LEN);
}

/** The host stores an Int32Array little-endian, as x86 memory is: aligned dwords of RAM can use one. */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Int32Array([1]).buffer)[0] === 1;
const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let p = 1;
  for (let b = i; b; b >>= 1) p ^= b & 1;
  PARITY[i] = p ? F.PF : 0;
}

/** An array of `n` copies of `v` with fast (packed) elements. */
function packedArray<T>(n: number, v: T): T[] {
  const a: T[] = [];
  for (let k = 0; k < n; k++) a.push(v);
  return a;
}

/** Why a processor shut down (SDM vol. 3 "Interrupt 8": a fault while delivering #DF). */
export interface ShutdownCause {
  /** The exceptions in the order they were raised: the first one, #DF, the last. */
  faults: FaultRecord[];
  /** Where: the instruction (or interrupted instruction) the first exception came from. */
  cs: number;
  eip: number;
  /** That instruction, if it can still be fetched. */
  instr: Instr | null;
}

/**
 * The handler of the synthetic instruction for native code at `phys`. The entry is looked up
 * at each call: a monitor may register another at the same address (the classic monitor's
 * long-mode world replaces its 32-bit one). Made here, not in nativeInstr: a closure there
 * would make V8 allocate its context on every fetch of native code.
 */
function nativeHandler(mem: PhysicalMemory, phys: number, entry: NativeEntry): Handler {
  return (cpu) => (mem.nativeAt(phys) ?? entry)(cpu);
}

/** The synthetic instruction that runs native code at `phys`, standing for `len` bytes. */
function nativeInstrOf(phys: number, len: number, handler: Handler): Instr {
  const ins = newInstr();
  ins.len = len;
  ins.code32 = true;
  ins.native = true;
  ins.phys = phys;
  ins.handler = handler;
  return ins;
}

/**
 * Writes beside a page's code, and writes into it, after which the page is dropped whole.
 * (Writes into it were 256 until the seventeenth session: a binary translator's cache pages,
 * patched at every chain and stub, reached that, and the 82 k instructions dropped with them
 * on bt's Linux boot, garbage soon after they were decoded, kept V8 from pretenuring the
 * cache's Instrs: docs/jit.md. The bare boot makes 18 k more such writes before its pages
 * go.)
 */
const KEPT_WRITES = 4096;
const PARTIAL_DROPS = 4096;

export class Cpu {
  readonly mem: PhysicalMemory;
  readonly io: IoBus;
  /** The model this CPU is, and its features (read these, never the model's name). */
  readonly model: CpuModel;
  readonly features: CpuFeatures;
  /** CPUID's answers for this model (cpuid.ts). */
  readonly cpuidTable: CpuidTable;
  /** features.strict, cached for the sensitive-instruction checks. */
  private readonly strict: boolean;
  /** The CR4 bits MOV to CR4 may set on this model; any other bit is #GP(0). */
  readonly cr4Allowed: number;
  readonly fpu: Fpu;
  /** XMM0–XMM15 and MXCSR (src/hw/sse), and the SSE floating-point unit working on them. */
  readonly simd: SimdState;
  readonly simdFloat = new SimdFloat();
  /** The one fault object this CPU throws (see fault.ts). */
  readonly fault = new CpuFault();
  /**
   * A fault an instruction's privilege check raised before the instruction changed anything,
   * recorded in `fault` without a throw (signalGp): the handler returned at once, and the
   * run loop that called it delivers the fault exactly as a thrown one (docs/jit.md, "Faults
   * without a throw").
   */
  faultSignalled = false;

  // ---- General registers, EIP, flags (docs/long-mode.md: 64-bit values as two halves) ----
  /** Low halves of RAX…R15: EAX…EDI at 0–7 as always, R8D…R15D at 8–15. */
  readonly regs: Int32Array;
  /** High halves of RAX…R15. Only 64-bit mode reads or writes them. */
  readonly regsHi: Int32Array;
  /** EIP; in 64-bit mode the whole RIP as a canonical signed number. */
  eip = DOUBLE_FIELD;
  /** EIP of the instruction being executed (faults restart here). */
  instrEip = DOUBLE_FIELD;
  /** EFLAGS except the lazily computed arithmetic flags named in lazyMask. */
  flags = F.FIXED_ONE;
  lazyMask = 0;
  lOp = 0; lDst = 0; lSrc = 0; lRes = 0; lSize = 4; lCin = 0;

  // ---- Segments and system registers ----
  readonly segs: SegmentCache[] = [0, 1, 2, 3, 4, 5].map(() => new SegmentCache());
  readonly ldtr = new SegmentCache();
  readonly tr = new SegmentCache();
  // Doubles from the start (double-field.ts); reset() stores their values.
  gdtrBase = DOUBLE_FIELD; gdtrLimit = DOUBLE_FIELD;
  idtrBase = DOUBLE_FIELD; idtrLimit = DOUBLE_FIELD;
  cpl = 0;
  cr0 = CR0_ET; cr2 = DOUBLE_FIELD; cr3 = DOUBLE_FIELD; cr4 = 0;
  readonly dr = new Int32Array(8);
  /** The debug registers decoded, and the host's debug probe (debug.ts). */
  readonly debug = new DebugUnit();
  /** PAE PDPTE registers, loaded on CR3 writes in PAE mode. */
  readonly pdpte = new Int32Array(8);
  // MSRs (SDM vol. 4): time-stamp counter base and SYSENTER.
  sysenterCs = 0; sysenterEsp = DOUBLE_FIELD; sysenterEip = DOUBLE_FIELD;
  tscOffset = DOUBLE_FIELD;
  /** IA32_EFER (C000_0080h) and its bits the walk and the loop read often, cached. */
  efer = 0;
  /** EFER.LMA: IA-32e mode (4-level paging; 64-bit or compatibility mode by CS.L). */
  lma = false;
  /** EFER.NXE. */
  nxe = false;
  /** EFER.LMSLE (AMD, lmsle.ts): 64-bit data accesses at CPL > 0 are limit-checked. */
  lmsleOn = false;
  /** CR3 bits 63:32 (IA-32e mode). */
  cr3Hi = 0;
  /** IA32_KERNEL_GS_BASE, the base SWAPGS exchanges with GS's (a canonical number). */
  kernelGsBase = DOUBLE_FIELD;
  /** IA32_TSC_AUX (C000_0103h), what RDTSCP returns in ECX. */
  tscAux = 0;
  /** MAXPHYADDR and 1 GiB pages, from the model (the walk's PagingMode). */
  readonly maxPhyAddr: number;
  readonly page1gb: boolean;
  /** The instruction executing runs in 64-bit mode (LMA and CS.L), set when it is fetched. */
  mode64 = false;
  /** Where helpers that return a 64-bit value leave its high half (the low half is returned). */
  hi = 0;
  /** The linear address a 64-bit read-modify-write read from (exec64/operands.ts). */
  rmwLin = DOUBLE_FIELD;
  /** Model-specific registers without side effects, stored as [lo, hi]. */
  readonly plainMsrs = new Map<number, [number, number]>();

  // ---- VMX (src/hw/cpu/vmx, docs/vmx.md) ----
  /** VMX operation, on models with the vmx feature (null otherwise). */
  readonly vmx: Vmx | null;
  /** VMX non-root operation: the instructions and events that may exit ask this. */
  nonRoot = false;
  /** Non-root operation with interrupt-/NMI-window exiting or the preemption timer: the run loop polls. */
  vmxPoll = false;
  /**
   * The EFLAGS bits of which one must be set for a pending INTR to end a slice: IF, or also
   * the always-one bit 1 in non-root operation with external-interrupt exiting (IF does not
   * block interrupts then, SDM vol. 3C §25.2). Read only when INTR is raised.
   */
  irqEnableMask = F.IF;
  /** VM exits taken (statistics). */
  vmExits = 0;
  /** yieldSlice() calls, so a polling run knows a slice end was asked for. */
  private yields = 0;

  // ---- Execution state ----
  /** Instructions retired since reset (a double from the start, double-field.ts: runs pass 2^31). */
  instructions = DOUBLE_FIELD;
  /** Cycles spent halted (the machine skips them when a halt waits for a timer). */
  idleCycles = DOUBLE_FIELD;
  halted = false;
  /** Interrupts are inhibited for one instruction (after STI, MOV SS, POP SS). */
  inhibitIrq = false;
  stopReason: StopReason = StopReason.None;
  /** The instruction count at which the current run() ends (compiled blocks and the WebAssembly tier's run loop read it too). */
  sliceEnd = DOUBLE_FIELD;
  /** The block compiler (docs/jit.md), null with `--jit off`. */
  readonly jit: BlockCompiler | null;
  /**
   * Bumped whenever an instruction fetch might no longer return what it returned before:
   * decoded code dropped (a code write), a TLB flush or INVLPG, a translation replaced by
   * another frame, a change of EFER.LMA. A compiled block stops when it changes (so a fetch
   * decides what runs next, as in the interpreter), and a block's chain links
   * (CompiledBlock.next0/next1) hold only while it is unchanged.
   */
  codeEpoch = 0;
  /** The instruction count a running compiled block started at (-1: none), for its statistics. */
  private blockStart = DOUBLE_FIELD;
  intr: InterruptSource | null = null;
  /** The local APIC, on models that have one and machines that wire it (pc.ts). */
  apic: CpuApic | null = null;
  /**
   * The INTR pin, driven by the interrupt controller (the platform keeps it equal to
   * intr.hasInterrupt()), so the instruction loop tests a field instead of asking the PIC.
   */
  intrLine = false;
  nmiPending = false;
  /** A20 gate: when false, physical address bit 20 is forced to zero. */
  a20 = true;
  /**
   * Resource control for a monitor (like a performance counter filtered to CPL 0 outside
   * guest mode): when set, every instruction begun at CPL 0 that is not native monitor code
   * nor a guest's under hardware assist is counted.
   */
  watchRing0 = false;
  ring0Foreign = 0;
  /**
   * Guest mode under hardware assist (guest-mode.ts): the SVM guest or VMX non-root
   * operation the processor is in, or null. Sensitive instructions, exceptions and
   * interrupts ask it whether they exit to the host.
   */
  guest: GuestMode | null = null;
  /**
   * A virtual interrupt is pending for the guest (SVM's V_IRQ): the INTR line stays raised
   * while it is, so the instruction loop looks for it between instructions.
   */
  virq = false;
  /** AMD's global interrupt flag (APM vol. 2 §15.17): clear, no interrupt or NMI is taken. */
  gif = true;
  /** Added to the TSC while a guest runs (the VMCB's or VMCS's TSC offset). */
  guestTscOffset = DOUBLE_FIELD;
  /** Nested paging for the guest running now (svm/nested-paging.ts), or null. */
  nested: NestedPaging | null = null;
  /** SVM (svm/svm.ts), on models with the svm feature. */
  readonly svm: Svm | null;
  /** Optional per-instruction trace sink (--trace). */
  tracer: ((cpu: Cpu, i: Instr) => void) | null = null;
  /** Set when the processor shut down (triple fault): what led there. */
  shutdown: ShutdownCause | null = null;
  /** FERR# output (x87 error with CR0.NE=0): the platform routes it to IRQ 13. */
  ferr: (() => void) | null = null;
  /** Reused x87 instruction context and the FPU's view of this CPU. */
  readonly fpuInstr: FpuInstr = {
    opcode: 0, modrm: 0, seg: 0, offset: DOUBLE_FIELD, operandSize32: false, protectedMode: false, cs: 0, eip: DOUBLE_FIELD, operandSelector: 0,
  };
  readonly fpuHost: FpuHost = {
    read8: (s, o) => this.read8(s, o),
    read16: (s, o) => this.read16(s, o),
    read32: (s, o) => this.read32(s, o) >>> 0,
    write8: (s, o, v) => this.write8(s, o, v),
    write16: (s, o, v) => this.write16(s, o, v),
    write32: (s, o, v) => this.write32(s, o, v),
    checkWrite: (s, o, n) => this.checkWrite(s, o, n),
    getEflags: () => this.getEflags(),
    setComparisonFlags: (zf, pf, cf) => {
      this.setFlagsMasked((zf ? F.ZF : 0) | (pf ? F.PF : 0) | (cf ? F.CF : 0), F.ARITH);
    },
    setAX: (v) => this.set16(Reg.EAX, v),
  };

  // ---- Memory management ----
  readonly tlb: Int32Array;
  /** This CPU's area in the memory's WebAssembly memory (regs, regsHi and tlb live there), or null. */
  readonly slot: CpuSlot | null;
  /**
   * RAM as aligned dwords (little-endian hosts; null otherwise): the TLB fast paths below read
   * and write an aligned dword with one access instead of four bytes.
   */
  /** RAM as dwords (little-endian hosts, aligned RAM): the aligned fast paths here, and tier 2 (jit/lower.ts). */
  readonly ram32: Int32Array | null;
  private readonly tlbPages = new Int32Array(1 << 20);
  private tlbCount = 0;
  private readonly xlat = new Translation();
  /** Linear memory while EFER.LMA = 1 (long-memory.ts). */
  readonly long: LongModeMemory;
  /** The code page last fetched from: linear page * 2 + user, its physical page and cache. */
  private fetchKey = -1;
  private fetchPhysPage = -1;
  private fetchPage: CodePage | undefined = undefined;
  /** The same for 64-bit mode, keyed by the 36-bit linear page (NaN: none). */
  private longFetchKey = NaN;
  private longFetchPhysPage = -1;
  private longFetchPage: CodePage | undefined = undefined;
  /**
   * Decoded instructions by physical page (in two levels: 1024 directories of 1024 pages,
   * each made when a page in it first holds code), then offset. One flat array of 2^20 pages
   * had to be filled whole for every CPU made: 8 MB written, most of a short run's time.
   */
  // Built by push: `new Array(n)` would give V8 slow dictionary elements.
  private readonly icacheDir: ((CodePage | undefined)[] | undefined)[] = packedArray<(CodePage | undefined)[] | undefined>(1 << 10, undefined);
  /** The pages icache holds (with repeats after invalidations): what flushCodeCache visits. */
  private icachePages: number[] = [];
  /**
   * Emptied CodePages of invalidated pages, for reuse (invalidateCodePage: the kernel writes
   * to pages it runs code from, thousands of invalidations per boot).
   */
  private readonly codePageFree: CodePage[] = [];
  private readonly scratchDesc = new Descriptor();
  /** Scratch descriptors and frame for interrupt delivery and far transfers (interrupt.ts). */
  readonly delivery = new DeliveryScratch();
  private readonly nativeCache = new Map<number, Instr>();
  /** Instructions decoded across a page boundary, by linear address (crossingInstr). */
  private readonly crossing: CrossingInstr[] = Array.from({ length: CROSSING_SLOTS }, () => new CrossingInstr());
  private nativeLastPhys = -1;
  private nativeLast: Instr | null = null;
  /** Whether linear addresses go through the TLB: CR0.PG, or EPT in VMX non-root operation. */
  paging = false;
  /** VMX non-root operation with EPT: guest-physical addresses are translated (vmx/ept.ts). */
  eptOn = false;

  constructor(mem: PhysicalMemory, io: IoBus, opts: CpuOptions = {}) {
    this.mem = mem;
    // Only a CPU that compiles blocks needs its state where WebAssembly can reach it.
    this.slot = opts.jit === false ? null : mem.claimCpuSlot();
    this.regs = this.slot?.regs ?? new Int32Array(16);
    this.regsHi = this.slot?.regsHi ?? new Int32Array(16);
    this.tlb = this.slot?.tlb ?? new Int32Array(1 << 20);
    this.ram32 = HOST_LITTLE_ENDIAN && (mem.ram.byteOffset & 3) === 0
      ? new Int32Array(mem.ram.buffer, mem.ram.byteOffset, mem.ram.byteLength >>> 2) : null;
    this.io = io;
    this.model = opts.model ?? DEFAULT_MODEL;
    this.features = this.model.features;
    this.cpuidTable = new CpuidTable(this.model);
    this.strict = this.features.strict;
    // Every model is a P6 or later: VME PVI TSD DE PSE PAE MCE PGE PCE (SDM vol. 3 §2.5).
    this.cr4Allowed = CR4_VME | CR4_PVI | CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | CR4_PGE | CR4_PCE |
      (this.features.umip ? CR4_UMIP : 0) | (this.features.fxsr ? CR4_OSFXSR : 0) | (this.features.sse ? CR4_OSXMMEXCPT : 0) |
      (this.features.vmx ? CR4_VMXE : 0);
    this.fpu = opts.fpu ?? new Fpu();
    this.simd = opts.simd ?? new SimdState();
    this.maxPhyAddr = this.cpuidTable.physicalAddressBits();
    this.page1gb = this.features.page1gb;
    this.long = new LongModeMemory(this);
    this.jit = opts.jit === false ? null : new BlockCompiler(this, opts.jit === true ? {} : opts.jit, this.slot);
    this.svm = this.features.svm ? new Svm(this) : null;
    this.vmx = this.features.vmx ? new Vmx(this, this.cr4Allowed) : null;
    mem.addCodeListener((page, off, len) => this.codeWritten(page, off, len));
    mem.addWatchListener((frame) => this.unmapRamFrame(frame));
    // The first values of the fields declared as doubles that reset() does not store (double-field.ts).
    this.instructions = 0; this.idleCycles = 0; this.sliceEnd = 0; this.blockStart = -1; this.instrEip = 0; this.rmwLin = 0;
    this.reset();
  }

  /** Power-on / RESET state (SDM vol. 3 §9.1.1, table 9-1). */
  reset(): void {
    this.regs.fill(0);
    this.regsHi.fill(0);
    this.simd.reset();
    this.efer = 0; this.lma = false; this.nxe = false; this.lmsleOn = false; this.tscAux = 0; this.cr3Hi = 0; this.mode64 = false; this.kernelGsBase = 0;
    this.regs[Reg.EDX] = this.model.signature; // the processor signature, as CPUID.1:EAX (SDM vol. 3 §9.1.4)
    this.eip = 0xfff0;
    this.flags = F.FIXED_ONE;
    this.lazyMask = 0;
    for (const s of this.segs) {
      s.selector = 0; s.base = 0; s.limit = 0xffff; s.access = 0x93; s.big = false; s.gran = false; s.valid = true; s.refresh();
    }
    const cs = this.segs[SegReg.CS];
    cs.selector = 0xf000; cs.base = 0xffff_0000; cs.access = 0x9b; cs.refresh();
    this.ldtr.selector = 0; this.ldtr.base = 0; this.ldtr.limit = 0xffff; this.ldtr.access = 0x82;
    this.tr.selector = 0; this.tr.base = 0; this.tr.limit = 0xffff; this.tr.access = 0x8b;
    this.gdtrBase = 0; this.gdtrLimit = 0xffff; this.idtrBase = 0; this.idtrLimit = 0xffff;
    this.cpl = 0;
    this.cr0 = CR0_ET | CR0_CD | CR0_NW; this.cr2 = 0; this.cr3 = 0; this.cr4 = 0;
    this.dr.fill(0); this.dr[6] = 0xffff0ff0 | 0; this.dr[7] = 0x400;
    this.debug.guestChanged(this.dr);
    this.sysenterCs = 0; this.sysenterEsp = 0; this.sysenterEip = 0;
    this.tscOffset = -this.cycles; // RESET clears the TSC
    this.plainMsrs.clear();
    this.halted = false;
    this.inhibitIrq = false;
    this.stopReason = StopReason.None;
    this.nmiPending = false;
    this.paging = false;
    this.fpu.reset();
    this.guest = null;
    this.nested = null;
    this.gif = true;
    this.guestTscOffset = 0;
    this.svm?.reset();
    this.flushTlb(true);
    this.flushCodeCache();
  }

  // =====================================================================================
  // Modes
  // =====================================================================================

  get protectedMode(): boolean { return (this.cr0 & CR0_PE) !== 0; }
  get v86(): boolean { return (this.flags & F.VM) !== 0; }
  get iopl(): number { return (this.flags >>> 12) & 3; }

  // =====================================================================================
  // Flags
  // =====================================================================================

  /** EFLAGS with lazy flags materialized. */
  getEflags(): number {
    if (this.lazyMask !== 0) this.materialize();
    return this.flags;
  }

  /** Replace EFLAGS wholesale (no privilege filtering: callers apply POPF/IRET rules). */
  setEflags(v: number): void {
    const oldVm = this.flags & F.VM;
    this.flags = (v & F.WRITABLE) | F.FIXED_ONE;
    this.lazyMask = 0;
    if ((this.flags & F.VM) !== oldVm) this.updateCpl();
  }

  /** Compute any lazy arithmetic flags into `flags`. */
  materializeFlags(): void {
    if (this.lazyMask !== 0) this.materialize();
  }

  /** Replace only the flags in `mask`. */
  setFlagsMasked(v: number, mask: number): void {
    this.setEflags((this.getEflags() & ~mask) | (v & mask));
  }

  private materialize(): void {
    const m = this.lazyMask;
    const op = this.lOp, d = this.lDst, src = this.lSrc, r = this.lRes, cin = this.lCin, size = this.lSize;
    let f = this.flags & ~m;
    if (m & F.CF) f |= LAZY_FLAG.CF(op, d, src, r, cin, size) !== 0 ? F.CF : 0;
    if (m & F.PF) f |= LAZY_FLAG.PF(op, d, src, r, cin, size) !== 0 ? F.PF : 0;
    if (m & F.AF) f |= LAZY_FLAG.AF(op, d, src, r, cin, size) !== 0 ? F.AF : 0;
    if (m & F.ZF) f |= LAZY_FLAG.ZF(op, d, src, r, cin, size) !== 0 ? F.ZF : 0;
    if (m & F.SF) f |= LAZY_FLAG.SF(op, d, src, r, cin, size) !== 0 ? F.SF : 0;
    if (m & F.OF) f |= LAZY_FLAG.OF(op, d, src, r, cin, size) !== 0 ? F.OF : 0;
    this.flags = f;
    this.lazyMask = 0;
  }

  /** CF of the lazy record (flag-semantics.ts), as F.CF or 0. */
  private lazyCF(): number {
    return LAZY_FLAG.CF(this.lOp, this.lDst, this.lSrc, this.lRes, this.lCin, this.lSize) !== 0 ? F.CF : 0;
  }

  /** Record an arithmetic result for lazy flags. `size` is 1, 2 or 4 bytes. */
  setLazy(op: LazyOp, dst: number, src: number, res: number, size: number): void {
    if (op === LazyOp.INC || op === LazyOp.DEC) {
      // CF is preserved: fix it in `flags` before the lazy state is replaced.
      if (this.lazyMask & F.CF) this.flags = (this.flags & ~F.CF) | this.lazyCF();
      this.lazyMask = F.ARITH & ~F.CF;
    } else {
      this.lazyMask = F.ARITH;
    }
    // Kept as int32: every reader masks or uses bitwise operators (ToInt32), so only the low
    // 32 bits matter, and int32 values stay small integers to V8 (no boxed number per store).
    this.lOp = op; this.lDst = dst | 0; this.lSrc = src | 0; this.lRes = res | 0; this.lSize = size;
  }

  // Each flag: from the lazy record if it is there (flag-semantics.ts), else from `flags`.
  getCF(): boolean { return (this.lazyMask & F.CF) ? this.lazyCF() !== 0 : (this.flags & F.CF) !== 0; }
  getZF(): boolean {
    return (this.lazyMask & F.ZF) ? LAZY_FLAG.ZF(this.lOp, this.lDst, this.lSrc, this.lRes, this.lCin, this.lSize) !== 0 : (this.flags & F.ZF) !== 0;
  }
  getSF(): boolean {
    return (this.lazyMask & F.SF) ? LAZY_FLAG.SF(this.lOp, this.lDst, this.lSrc, this.lRes, this.lCin, this.lSize) !== 0 : (this.flags & F.SF) !== 0;
  }
  getOF(): boolean {
    return (this.lazyMask & F.OF) ? LAZY_FLAG.OF(this.lOp, this.lDst, this.lSrc, this.lRes, this.lCin, this.lSize) !== 0 : (this.flags & F.OF) !== 0;
  }
  getPF(): boolean {
    return (this.lazyMask & F.PF) ? LAZY_FLAG.PF(this.lOp, this.lDst, this.lSrc, this.lRes, this.lCin, this.lSize) !== 0 : (this.flags & F.PF) !== 0;
  }
  getAF(): boolean {
    return (this.lazyMask & F.AF) ? LAZY_FLAG.AF(this.lOp, this.lDst, this.lSrc, this.lRes, this.lCin, this.lSize) !== 0 : (this.flags & F.AF) !== 0;
  }

  /** Set or clear one flag bit (materializing lazy flags first if it is an arithmetic one). */
  setFlag(bit: number, on: boolean): void {
    if (this.lazyMask & bit) this.materialize();
    if (on) this.flags |= bit; else this.flags &= ~bit;
  }

  /** Set all six arithmetic flags eagerly from a result (shifts, multiplies, BCD). */
  setArith(cf: boolean, of: boolean, af: boolean, res: number, size: number): void {
    let f = (this.flags & ~F.ARITH) | PARITY[res & 0xff];
    if (cf) f |= F.CF;
    if (of) f |= F.OF;
    if (af) f |= F.AF;
    if ((res & SIZE_MASK[size]) === 0) f |= F.ZF;
    if ((res >>> (size * 8 - 1)) & 1) f |= F.SF;
    this.flags = f;
    this.lazyMask = 0;
  }

  /** setArith for a 64-bit result (lo, hi): ZF from both halves, SF from bit 63, PF from bits 7:0. */
  setArith64(cf: boolean, of: boolean, af: boolean, lo: number, hi: number): void {
    let f = (this.flags & ~F.ARITH) | PARITY[lo & 0xff];
    if (cf) f |= F.CF;
    if (of) f |= F.OF;
    if (af) f |= F.AF;
    if ((lo | hi) === 0) f |= F.ZF;
    if (hi < 0) f |= F.SF;
    this.flags = f;
    this.lazyMask = 0;
  }

  /** Evaluate condition code `cc` (0–15, the low nibble of Jcc/SETcc/CMOVcc). */
  condition(cc: number): boolean {
    return CONDITION(this, cc);
  }

  // =====================================================================================
  // Registers
  // =====================================================================================

  get8(r: number): number { return r < 4 ? this.regs[r] & 0xff : (this.regs[r - 4] >> 8) & 0xff; }
  set8(r: number, v: number): void {
    if (r < 4) this.regs[r] = (this.regs[r] & ~0xff) | (v & 0xff);
    else this.regs[r - 4] = (this.regs[r - 4] & ~0xff00) | ((v & 0xff) << 8);
  }
  get16(r: number): number { return this.regs[r] & 0xffff; }
  set16(r: number, v: number): void { this.regs[r] = (this.regs[r] & ~0xffff) | (v & 0xffff); }

  // =====================================================================================
  // Faults
  // =====================================================================================

  // V8 tiers a function up (to compiled code, and into its callers inline) only when it
  // returns or loops: one that always throws stays in the interpreter, and unwinding
  // through interpreter frames costs several times more than the throw itself (measured:
  // about 0.4 µs a throw, half of it in these frames; the monitor's trap exits are one
  // throw each). So each helper below sets the fault inside a loop of one iteration.

  /** Throw fault `vector` with an error code. */
  raise(vector: number, errorCode = 0): never {
    for (let k = 0; k < 1; k++) this.fault.set(vector, errorCode, true);
    throw this.fault;
  }
  /** Throw a fault that pushes no error code (#UD, #DE, #NM, #MF …). */
  raiseNoCode(vector: number): never {
    for (let k = 0; k < 1; k++) this.fault.set(vector, 0, false);
    throw this.fault;
  }
  /** SGDT, SIDT, SLDT, SMSW, STR: #GP(0) at CPL > 0 with CR4.UMIP (or on the strict CPU). */
  umipCheck(): void {
    if (this.cpl > 0 && ((this.cr4 & CR4_UMIP) !== 0 || this.strict)) this.gp(0);
  }

  /**
   * #GP(0) from the privilege check at the start of an instruction (IN, OUT, CLI, STI,
   * PUSHF, POPF, IRET, INVLPG; and the strict CPU's sensitive instructions), signalled
   * rather than thrown: a throw costs V8 about a microsecond, which a monitor that takes
   * these as its exits pays on every one. The caller must be the instruction's handler,
   * called by a run loop, and must return at once without changing state.
   */
  signalGp(): void {
    this.fault.set(Vector.GP, 0, true);
    this.faultSignalled = true;
  }

  /**
   * End the executing instruction after an exit to the host (guest-mode.ts, VMX) loaded the
   * host's state, signalled as signalGp is (IN and OUT, the hardware-assist monitors' most
   * common exits); throwExit is the same from anywhere deeper.
   */
  signalExit(): void {
    this.fault.set(VMEXIT, 0, false);
    this.faultSignalled = true;
  }

  /**
   * The `strict` feature (DESIGN.md §2): a sensitive but unprivileged instruction (Robin &
   * Irvine's list) raises #GP(0) when executed at CPL > 0, signalled (signalGp); true if so,
   * and its handler returns at once.
   */
  strictRefuses(): boolean {
    if (this.strict && this.cpl > 0) { this.signalGp(); return true; }
    return false;
  }

  gp(errorCode = 0): never {
    for (let k = 0; k < 1; k++) this.fault.set(Vector.GP, errorCode, true);
    throw this.fault;
  }
  ud(): never {
    for (let k = 0; k < 1; k++) this.fault.set(Vector.UD, 0, false);
    throw this.fault;
  }

  /** The fault raised by a segment limit/rights violation through segment register `seg`. */
  segFault(seg: number): never {
    for (let k = 0; k < 1; k++) this.fault.set(seg === SegReg.SS ? Vector.SS : Vector.GP, 0, true);
    throw this.fault;
  }

  // =====================================================================================
  // Linear memory (paging)
  // =====================================================================================

  /** Map a linear address for reading; returns the physical address. */
  translateRead(lin: number, user: boolean, size = 1): number {
    if (this.lma) return this.long.translate(lin, false, user, false);
    if (!this.paging && this.nested === null) {
      if (this.debug.watching && this.debug.watchedPage(lin >>> 12)) this.debug.access(lin, size, false);
      return this.a20 ? lin >>> 0 : (lin & ~0x10_0000) >>> 0;
    }
    const e = this.tlb[lin >>> 12];
    if ((e & TLB_VALID) !== 0 && (!user || (e & TLB_USER) !== 0)) return ((e & ~0xfff) | (lin & 0xfff)) >>> 0;
    return this.tlbMiss(lin, false, user, size);
  }

  /** Map a linear address for writing; returns the physical address. */
  translateWrite(lin: number, user: boolean, size = 1): number {
    if (this.lma) return this.long.translate(lin, true, user, false);
    if (!this.paging && this.nested === null) {
      if (this.debug.watching && this.debug.watchedPage(lin >>> 12)) this.debug.access(lin, size, true);
      return this.a20 ? lin >>> 0 : (lin & ~0x10_0000) >>> 0;
    }
    const e = this.tlb[lin >>> 12];
    const need = TLB_VALID | TLB_DIRTY | (user ? TLB_USER_W : TLB_SUP_W);
    if ((e & need) === need) return ((e & ~0xfff) | (lin & 0xfff)) >>> 0;
    return this.tlbMiss(lin, true, user, size);
  }

  private tlbMiss(lin: number, write: boolean, user: boolean, size = 1): number {
    const t = this.xlat;
    const nested = this.nested;
    let frame: number, eptWrite = true;
    if (this.eptOn) {
      // Guest paging (if CR0.PG) through EPT, then the guest-physical frame through EPT.
      frame = this.vmx!.eptTranslateLinear(lin, write, user, t);
      eptWrite = this.vmx!.eptWritable;
    } else {
      if (!this.paging) {
        // Only under SVM nested paging: the guest's linear address is its physical address.
        t.frame = (lin & ~0xfff) >>> 0; t.user = true; t.writable = true; t.dirty = true; t.global = false; t.noExec = false;
      } else if (!walk(nested ?? this.mem, this, lin, write, user, t)) {
        this.fault.cr2 = lin >>> 0;
        this.raise(Vector.PF, t.errorCode);
      }
      if (nested !== null) {
        // The guest-physical frame through the host's tables; the TLB keeps the combined
        // rights, and a write re-walks until both levels have their dirty bits set.
        t.frame = nested.translate(t.frame, write, false);
        if (!nested.lastWritable) t.writable = false;
        t.dirty = write;
      }
      frame = t.frame;
    }
    const page = lin >>> 12;
    if (this.debug.watching && this.debug.watchedPage(page)) {
      // A watched page is never cached: every access to it comes here and is checked.
      this.debug.access(lin, size, write);
      return (t.frame | (lin & 0xfff)) >>> 0;
    }
    const old = this.tlb[page];
    if (old === 0) {
      // INVLPG leaves the page in tlbPages, so the list can fill up with repeats; then drop
      // everything and start again (a TLB may drop any translation at any time: SDM vol. 3 §4.10).
      if (this.tlbCount === this.tlbPages.length) this.dropTlb(true);
      this.tlbPages[this.tlbCount++] = page;
    }
    const wp = (this.cr0 & CR0_WP) !== 0;
    let e = (frame & ~0xfff) | TLB_VALID;
    if (t.user) e |= TLB_USER;
    if (t.user && t.writable && eptWrite) e |= TLB_USER_W;
    if ((t.writable || !wp) && eptWrite) e |= TLB_SUP_W;
    if (t.dirty) e |= TLB_DIRTY;
    if (t.global && (this.cr4 & CR4_PGE) !== 0) e |= TLB_GLOBAL;
    if (this.mem.isRam(frame) && !this.mem.isWatched(frame)) e |= TLB_RAM;
    if (t.noExec) e |= TLB_NOEXEC;
    // A translation replaced by another frame or other fetch rights (the guest changed a PTE
    // without INVLPG, then a write walked it again): the next fetch translates again, a
    // running block stops after this instruction, chain links may lead elsewhere now.
    if (old !== 0 && ((old ^ e) & (~0xfff | TLB_USER | TLB_NOEXEC)) !== 0) { this.fetchKey = -1; this.codeEpoch++; }
    this.tlb[page] = e;
    return (frame | (lin & 0xfff)) >>> 0;
  }

  /**
   * The flushes of the TLB the architecture makes (a CR3 load, a paging-mode change, …;
   * not the drop it makes of itself when full): a monitor whose shadow entries stand for
   * TLB entries brings them in line when its vCPU's count moves (docs/monitor.md, "Tables
   * out of sync").
   */
  tlbFlushes = 0;

  /** Flush the TLB: everything, or all but global pages (SDM vol. 3 §4.10.4). */
  flushTlb(includingGlobal: boolean): void {
    this.tlbFlushes++;
    this.dropTlb(includingGlobal);
  }

  /** Drop the TLB's translations: everything, or all but global pages. */
  private dropTlb(includingGlobal: boolean): void {
    this.fetchKey = -1;
    this.codeEpoch++;
    this.longFetchKey = NaN;
    this.long.flush(includingGlobal);
    let keep = 0;
    for (let i = 0; i < this.tlbCount; i++) {
      const p = this.tlbPages[i];
      if (!includingGlobal && (this.tlb[p] & TLB_GLOBAL) !== 0) this.tlbPages[keep++] = p;
      else this.tlb[p] = 0;
    }
    this.tlbCount = keep;
  }

  /**
   * Physical page `frame` just became watched (PhysicalMemory.watch): translations to it
   * filled before lose TLB_RAM, so the write fast paths stop writing it directly and every
   * write reaches PhysicalMemory, which reports it. The translations themselves stay (this
   * is bookkeeping of the model, not a guest-visible flush). The long-mode TLB keeps the
   * same right, cleared the same way.
   */
  private unmapRamFrame(frame: number): void {
    this.long.unmapRamFrame(frame);
    const tlb = this.tlb, pages = this.tlbPages;
    for (let i = 0; i < this.tlbCount; i++) {
      const p = pages[i], e = tlb[p];
      if ((e & TLB_RAM) !== 0 && (e >>> 12) === frame) tlb[p] = e & ~TLB_RAM;
    }
  }

  /**
   * A translation was dropped (INVLPG, here or in a WebAssembly block): what the fetch
   * cached through one (its page, the code epoch that blocks and links depend on) goes too.
   */
  translationDropped(): void {
    this.fetchKey = -1;
    this.codeEpoch++;
    this.longFetchKey = NaN;
  }

  /** INVLPG: drop one page's translation, global or not. */
  invalidatePage(lin: number): void {
    this.translationDropped();
    if (this.lma) { this.long.invalidate(lin); return; }
    this.tlb[lin >>> 12] = 0;
  }

  /** Whether the current access is a user-mode one (CPL 3). */
  get user(): boolean { return this.cpl === 3; }

  // In IA-32e mode the TLB above stays empty: every access goes to long-memory.ts, which has
  // fast paths of its own.
  readLin8(lin: number, user: boolean): number {
    if (this.lma) return this.long.read8(lin, user);
    if (this.paging) {
      const e = this.tlb[lin >>> 12];
      if ((e & (TLB_VALID | TLB_RAM | (user ? TLB_USER : 0))) === (TLB_VALID | TLB_RAM | (user ? TLB_USER : 0))) {
        return this.mem.ram[(e & ~0xfff) | (lin & 0xfff)];
      }
    }
    return this.mem.read8(this.translateRead(lin, user));
  }
  readLin16(lin: number, user: boolean): number {
    if ((lin & 0xfff) === 0xfff) return this.readLin8(lin, user) | (this.readLin8(lin + 1, user) << 8);
    if (this.paging) {
      const e = this.tlb[lin >>> 12];
      if ((e & (TLB_VALID | TLB_RAM | (user ? TLB_USER : 0))) === (TLB_VALID | TLB_RAM | (user ? TLB_USER : 0))) {
        const p = (e & ~0xfff) | (lin & 0xfff);
        const r = this.mem.ram;
        return r[p] | (r[p + 1] << 8);
      }
    }
    return this.mem.read16(this.translateRead(lin, user, 2));
  }
  readLin32(lin: number, user: boolean): number {
    if (this.lma) return this.long.read32(lin, user);
    if (this.paging) {
      // Fast path: a TLB hit on a RAM frame, not crossing the page.
      const e = this.tlb[lin >>> 12];
      if ((e & (TLB_VALID | TLB_RAM | (user ? TLB_USER : 0))) === (TLB_VALID | TLB_RAM | (user ? TLB_USER : 0)) && (lin & 0xfff) <= 0xffc) {
        const p = (e & ~0xfff) | (lin & 0xfff);
        if ((p & 3) === 0 && this.ram32 !== null) return this.ram32[p >>> 2];
        const r = this.mem.ram;
        return r[p] | (r[p + 1] << 8) | (r[p + 2] << 16) | (r[p + 3] << 24);
      }
    }
    if ((lin & 0xfff) > 0xffc) {
      const p1 = this.translateRead(lin, user), p2 = this.translateRead((lin | 0xfff) + 1, user);
      let v = 0;
      for (let k = 0; k < 4; k++) {
        const a = lin + k;
        v |= this.mem.read8(((a & 0xfff) < (lin & 0xfff) ? p2 - ((lin | 0xfff) + 1 - lin) + k : p1 + k) >>> 0) << (k * 8);
      }
      return v;
    }
    return this.mem.read32(this.translateRead(lin, user, 4));
  }
  /**
   * The read fast path: the RAM address of `lin` when paging is on and the TLB holds its page
   * on a RAM frame readable at this privilege, or paging is off and the page is plain RAM
   * (`directAddress`); otherwise -1. The caller keeps the access inside the page.
   */
  fastReadAddress(lin: number, user: boolean): number {
    if (!this.paging) return this.directAddress(lin, false);
    const need = TLB_VALID | TLB_RAM | (user ? TLB_USER : 0);
    const e = this.tlb[lin >>> 12];
    return (e & need) === need ? (e & ~0xfff) | (lin & 0xfff) : -1;
  }
  /**
   * The write fast path: the RAM address of `lin` when paging is on and the TLB holds its page
   * on a RAM frame writable at this privilege, already dirty, holding no decoded code (a code
   * write goes through PhysicalMemory, which invalidates the page's decoded instructions), or
   * paging is off and the page is plain RAM holding no code (`directAddress`); otherwise -1.
   * The caller keeps the access inside the page.
   */
  fastWriteAddress(lin: number, user: boolean): number {
    if (!this.paging) return this.directAddress(lin, true);
    const need = TLB_VALID | TLB_RAM | TLB_DIRTY | (user ? TLB_USER_W : TLB_SUP_W);
    const e = this.tlb[lin >>> 12];
    return (e & need) === need && this.mem.codePages[e >>> 12] === 0 ? (e & ~0xfff) | (lin & 0xfff) : -1;
  }
  /**
   * Paging off: linear is physical (A20 applied), and the fast paths may touch RAM directly
   * where PhysicalMemory would do nothing more than load or store: a page of RAM (below its
   * size, not a ROM, device or hole), no data breakpoint on it (DR0–DR3), no second level of
   * translation (a hardware-assisted guest's nested paging), and for a write no decoded code
   * and no watch on it. Otherwise -1.
   */
  private directAddress(lin: number, write: boolean): number {
    if (this.nested !== null) return -1;
    const addr = (this.a20 ? lin : lin & ~0x10_0000) >>> 0, page = addr >>> 12, mem = this.mem;
    if (addr >= mem.ramSize || mem.notRam[page] !== 0) return -1;
    if (this.debug.watching && this.debug.watchedPage(lin >>> 12)) return -1;
    if (write && (mem.codePages[page] !== 0 || mem.isWatched(addr))) return -1;
    return addr;
  }
  writeLin8(lin: number, v: number, user: boolean): void {
    if (this.lma) { this.long.write8(lin, v, user); return; }
    const p = this.fastWriteAddress(lin, user);
    if (p !== -1) { this.mem.ram[p] = v; return; }
    this.mem.write8(this.translateWrite(lin, user), v);
  }
  writeLin16(lin: number, v: number, user: boolean): void {
    if ((lin & 0xfff) !== 0xfff) {
      const p = this.fastWriteAddress(lin, user);
      if (p !== -1) {
        const r = this.mem.ram;
        r[p] = v; r[p + 1] = v >>> 8;
        return;
      }
    }
    if ((lin & 0xfff) === 0xfff) {
      const p1 = this.translateWrite(lin, user), p2 = this.translateWrite(lin + 1, user);
      this.mem.write8(p1, v); this.mem.write8(p2, v >>> 8);
      return;
    }
    this.mem.write16(this.translateWrite(lin, user, 2), v);
  }
  writeLin32(lin: number, v: number, user: boolean): void {
    if (this.lma) { this.long.write32(lin, v, user); return; }
    if ((lin & 0xfff) <= 0xffc) {
      const p = this.fastWriteAddress(lin, user);
      if (p !== -1) {
        if ((p & 3) === 0 && this.ram32 !== null) { this.ram32[p >>> 2] = v; return; }
        const r = this.mem.ram;
        r[p] = v; r[p + 1] = v >>> 8; r[p + 2] = v >>> 16; r[p + 3] = v >>> 24;
        return;
      }
    }
    if ((lin & 0xfff) > 0xffc) {
      // Translate both pages before writing anything, so a fault on the second leaves memory unchanged.
      this.translateWrite(lin, user); this.translateWrite((lin | 0xfff) + 1, user);
      for (let k = 0; k < 4; k++) this.writeLin8(lin + k, v >>> (k * 8), user);
      return;
    }
    this.mem.write32(this.translateWrite(lin, user, 4), v);
  }

  // Implicit supervisor accesses (descriptor tables, TSS, IDT): SDM vol. 3 §4.6.
  readSys8(lin: number): number { return this.readLin8(lin, false); }
  readSys16(lin: number): number { return this.readLin16(lin, false); }
  readSys32(lin: number): number { return this.readLin32(lin, false); }
  writeSys8(lin: number, v: number): void { this.writeLin8(lin, v, false); }
  writeSys16(lin: number, v: number): void { this.writeLin16(lin, v, false); }
  writeSys32(lin: number, v: number): void { this.writeLin32(lin, v, false); }

  // =====================================================================================
  // Segmented memory
  // =====================================================================================

  /** Linear address of seg:off for a read of `size` bytes, after limit and rights checks. */
  readAddr(seg: number, off: number, size: number): number {
    if (this.lma) return this.longAddr(seg, off, size, false);
    const s = this.segs[seg];
    off >>>= 0;
    if (off < s.readLo || off + size - 1 > s.readHi) this.segFault(seg);
    return (s.base + off) | 0;
  }
  writeAddr(seg: number, off: number, size: number): number {
    if (this.lma) return this.longAddr(seg, off, size, true);
    const s = this.segs[seg];
    off >>>= 0;
    if (off < s.writeLo || off + size - 1 > s.writeHi) this.segFault(seg);
    return (s.base + off) | 0;
  }

  /**
   * readAddr/writeAddr in IA-32e mode. In 64-bit mode the offset is already the canonical
   * linear address (ea64 and the 64-bit handlers add the FS/GS base and check it); in
   * compatibility mode segmentation works as in protected mode and the 32-bit linear
   * address is zero-extended.
   */
  private longAddr(seg: number, off: number, size: number, write: boolean): number {
    if (this.mode64) {
      if (this.lmsleOn && this.cpl > 0) lmsleCheck(this, seg, off, size);
      return off;
    }
    const s = this.segs[seg];
    off >>>= 0;
    if (write ? off < s.writeLo || off + size - 1 > s.writeHi : off < s.readLo || off + size - 1 > s.readHi) this.segFault(seg);
    return (s.base + off) >>> 0;
  }

  read8(seg: number, off: number): number { return this.readLin8(this.readAddr(seg, off, 1), this.cpl === 3); }
  read16(seg: number, off: number): number {
    const lin = this.readAddr(seg, off, 2);
    if ((lin & 1) !== 0 && this.alignmentChecked()) this.alignmentFault(lin, 2, false);
    return this.readLin16(lin, this.cpl === 3);
  }
  read32(seg: number, off: number): number {
    const lin = this.readAddr(seg, off, 4);
    if ((lin & 3) !== 0 && this.alignmentChecked()) this.alignmentFault(lin, 4, false);
    return this.readLin32(lin, this.cpl === 3);
  }
  write8(seg: number, off: number, v: number): void { this.writeLin8(this.writeAddr(seg, off, 1), v, this.cpl === 3); }
  write16(seg: number, off: number, v: number): void {
    const lin = this.writeAddr(seg, off, 2);
    if ((lin & 1) !== 0 && this.alignmentChecked()) this.alignmentFault(lin, 2, true);
    this.writeLin16(lin, v, this.cpl === 3);
  }
  write32(seg: number, off: number, v: number): void {
    const lin = this.writeAddr(seg, off, 4);
    if ((lin & 3) !== 0 && this.alignmentChecked()) this.alignmentFault(lin, 4, true);
    this.writeLin32(lin, v, this.cpl === 3);
  }

  /** Alignment checking is on: CR0.AM, EFLAGS.AC and CPL 3 (SDM vol. 3 §6.15, "#AC"). */
  alignmentChecked(): boolean {
    return (this.cr0 & CR0_AM) !== 0 && (this.flags & F.AC) !== 0 && this.cpl === 3;
  }

  /** A misaligned access with checking on: #PF has priority (SDM table 6-2), then #AC(0). */
  checkAlignment(lin: number, size: number, write: boolean): never { return this.alignmentFault(lin, size, write); }
  private alignmentFault(lin: number, size: number, write: boolean): never {
    for (const a of [lin, lin + size - 1]) {
      if (write) this.translateWrite(a, true); else this.translateRead(a, true);
    }
    return this.raise(Vector.AC, 0);
  }

  /**
   * Check that seg:off..off+size-1 can be written (limit, rights, and paging), raising the
   * fault a write would. Read-modify-write instructions call this before reading.
   */
  checkWrite(seg: number, off: number, size: number): void {
    const lin = this.writeAddr(seg, off, size);
    const user = this.cpl === 3;
    this.translateWrite(lin, user);
    if (((lin & 0xfff) + size - 1) > 0xfff) this.translateWrite(lin - (lin & 0xfff) + 0x1000, user);
  }

  /** Effective address of the instruction's memory operand (SDM vol. 2 §2.1.5). */
  ea(i: Instr): number {
    const a = this.eaOff(i);
    return i.adsize32 && !i.code64 ? a >>> 0 : a;
  }

  /**
   * ea() as the segmented access paths take it: with 32-bit addressing a signed int32, the
   * same offset modulo 2^32 (readAddr and writeAddr take `>>> 0`), which V8 keeps a small
   * integer where a kernel address above 2^31 would be a boxed number on every call.
   */
  private eaOff(i: Instr): number {
    if (i.code64) return ea64(this, i);
    let a = i.disp;
    if (i.eaBase >= 0) a += this.regs[i.eaBase];
    if (i.eaIndex >= 0) a += this.regs[i.eaIndex] << i.eaScale;
    return i.adsize32 ? a | 0 : a & 0xffff;
  }

  // ModR/M r/m operand access.
  readE8(i: Instr): number { return i.hasMem ? this.read8(i.seg, this.eaOff(i)) : this.get8(i.rm); }
  readE16(i: Instr): number { return i.hasMem ? this.read16(i.seg, this.eaOff(i)) : this.regs[i.rm] & 0xffff; }
  readE32(i: Instr): number { return i.hasMem ? this.read32(i.seg, this.eaOff(i)) : this.regs[i.rm]; }
  writeE8(i: Instr, v: number): void { if (i.hasMem) this.write8(i.seg, this.eaOff(i), v); else this.set8(i.rm, v); }
  writeE16(i: Instr, v: number): void { if (i.hasMem) this.write16(i.seg, this.eaOff(i), v); else this.set16(i.rm, v); }
  writeE32(i: Instr, v: number): void { if (i.hasMem) this.write32(i.seg, this.eaOff(i), v); else this.regs[i.rm] = v; }
  /** Read for read-modify-write: checks writability first so the fault is a write fault. */
  readRmw8(i: Instr): number {
    if (!i.hasMem) return this.get8(i.rm);
    const a = this.eaOff(i);
    this.checkWrite(i.seg, a, 1);
    return this.read8(i.seg, a);
  }
  readRmw16(i: Instr): number {
    if (!i.hasMem) return this.regs[i.rm] & 0xffff;
    const a = this.eaOff(i);
    this.checkWrite(i.seg, a, 2);
    return this.read16(i.seg, a);
  }
  readRmw32(i: Instr): number {
    if (!i.hasMem) return this.regs[i.rm];
    const a = this.eaOff(i);
    this.checkWrite(i.seg, a, 4);
    return this.read32(i.seg, a);
  }

  // =====================================================================================
  // Stack (SDM vol. 1 §6.2): SS.B selects ESP or SP
  // =====================================================================================

  get stackPointer(): number { return this.segs[SegReg.SS].big ? this.regs[Reg.ESP] >>> 0 : this.regs[Reg.ESP] & 0xffff; }
  setStackPointer(v: number): void {
    if (this.segs[SegReg.SS].big) this.regs[Reg.ESP] = v;
    else this.set16(Reg.ESP, v);
  }
  /** Offset `delta` bytes from the current stack pointer, wrapped to the stack's width. */
  stackOffset(delta: number): number {
    return this.segs[SegReg.SS].big ? (this.regs[Reg.ESP] + delta) >>> 0 : (this.regs[Reg.ESP] + delta) & 0xffff;
  }

  push16(v: number): void {
    const sp = this.stackOffset(-2);
    this.write16(SegReg.SS, sp, v);
    this.setStackPointer(sp);
  }
  push32(v: number): void {
    const sp = this.stackOffset(-4);
    this.write32(SegReg.SS, sp, v);
    this.setStackPointer(sp);
  }
  push(v: number, size32: boolean): void { if (size32) this.push32(v); else this.push16(v); }
  pop16(): number {
    const v = this.read16(SegReg.SS, this.stackPointer);
    this.setStackPointer(this.stackOffset(2));
    return v;
  }
  pop32(): number {
    const v = this.read32(SegReg.SS, this.stackPointer);
    this.setStackPointer(this.stackOffset(4));
    return v;
  }
  pop(size32: boolean): number { return size32 ? this.pop32() : this.pop16(); }

  // =====================================================================================
  // Descriptor tables and segment loads (SDM vol. 3 §3.4, §5.5–5.10)
  // =====================================================================================

  /**
   * Read the descriptor for `selector` from the GDT or LDT into `d`.
   * Returns false if the selector is outside the table's limit (caller picks the fault).
   */
  readDescriptor(selector: number, d: Descriptor): boolean {
    const index = selector & 0xfff8;
    let base: number, limit: number;
    if (selector & 4) {
      if (!this.ldtr.valid || (this.ldtr.selector & 0xfffc) === 0) return false;
      base = this.ldtr.base; limit = this.ldtr.limit;
    } else {
      base = this.gdtrBase; limit = this.gdtrLimit;
    }
    if (index + 7 > limit) return false;
    d.lo = this.readSys32(base + index);
    d.hi = this.readSys32(base + index + 4);
    return true;
  }

  /** Linear address of a descriptor (for setting the accessed/busy bits). */
  descriptorAddress(selector: number): number {
    const a = (selector & 4 ? this.ldtr.base : this.gdtrBase) + (selector & 0xfff8);
    return this.lma ? a : a | 0; // IA-32e mode: a 64-bit table base, kept whole
  }

  /** Set the accessed bit of a code/data descriptor, as the processor does on a load. */
  setAccessed(selector: number, d: Descriptor): void {
    if ((d.hi & 0x100) === 0) {
      d.hi |= 0x100;
      this.writeSys8(this.descriptorAddress(selector) + 5, (d.hi >>> 8) & 0xff);
    }
  }

  /** Fetch a descriptor or raise #GP(selector) if it lies outside its table. */
  fetchDescriptor(selector: number, d: Descriptor, vector: number = Vector.GP): void {
    if (!this.readDescriptor(selector, d)) this.raise(vector, selector & 0xfffc);
  }

  /**
   * Load a data or stack segment register (MOV, POP, LDS/LES/LFS/LGS/LSS), with the checks
   * of SDM vol. 2 "MOV—Move" / "POP" in protected mode.
   */
  loadSegment(seg: number, selector: number): void {
    selector &= 0xffff;
    const s = this.segs[seg];
    if (!this.protectedMode) { s.loadReal(selector); return; }
    if (this.v86) { s.loadV86(selector); return; }
    const d = this.scratchDesc;
    if (seg === SegReg.SS) {
      // 64-bit mode allows a null SS below ring 3 (with RPL = CPL): SDM vol. 2 "MOV", "POP".
      if ((selector & 0xfffc) === 0 && this.mode64 && this.cpl < 3 && (selector & 3) === this.cpl) { s.loadNull(selector); return; }
      if ((selector & 0xfffc) === 0) this.gp(0);
      this.fetchDescriptor(selector, d);
      if ((selector & 3) !== this.cpl || !d.isData || (d.type & 2) === 0 || d.dpl !== this.cpl) this.gp(selector & 0xfffc);
      if (!d.present) this.raise(Vector.SS, selector & 0xfffc);
      this.setAccessed(selector, d);
      s.loadDescriptor(selector, d);
      return;
    }
    if ((selector & 0xfffc) === 0) { s.loadNull(selector); return; }
    this.fetchDescriptor(selector, d);
    if (!d.s || (d.isCode && (d.type & 2) === 0)) this.gp(selector & 0xfffc);
    const conformingCode = d.isCode && (d.type & 4) !== 0;
    if (!conformingCode && ((selector & 3) > d.dpl || this.cpl > d.dpl)) this.gp(selector & 0xfffc);
    if (!d.present) this.raise(Vector.NP, selector & 0xfffc);
    this.setAccessed(selector, d);
    s.loadDescriptor(selector, d);
  }

  /** Recompute CPL after a mode change (real mode: 0, V86: 3, protected: CS.RPL as loaded). */
  updateCpl(): void {
    if (!this.protectedMode) this.cpl = 0;
    else if (this.v86) this.cpl = 3;
    else this.cpl = this.segs[SegReg.CS].selector & 3;
  }

  /** Load CS in real or V86 mode. */
  loadCsReal(selector: number): void {
    const cs = this.segs[SegReg.CS];
    if (this.v86) cs.loadV86(selector);
    else cs.loadReal(selector);
  }

  /**
   * Load CS from a code descriptor already validated by the caller, setting CPL.
   * Called by far transfers after their privilege checks.
   */
  loadCsDescriptor(selector: number, d: Descriptor, cpl: number): void {
    this.setAccessed(selector, d);
    this.segs[SegReg.CS].loadDescriptor((selector & 0xfffc) | cpl, d);
    this.cpl = cpl;
  }

  // =====================================================================================
  // Control registers
  // =====================================================================================

  setCr0(v: number): void {
    v |= CR0_ET;
    const old = this.cr0;
    if ((v & CR0_PG) !== 0 && (v & CR0_PE) === 0) this.gp(0);
    // Long mode is activated and deactivated by CR0.PG with EFER.LME (SDM vol. 3 §9.8.5):
    // activation needs CR4.PAE; paging cannot be turned off in 64-bit mode.
    const pgOn = (v & CR0_PG) !== 0 && (old & CR0_PG) === 0, pgOff = (v & CR0_PG) === 0 && (old & CR0_PG) !== 0;
    if (pgOn && (this.efer & EFER_LME) !== 0) {
      if ((this.cr4 & CR4_PAE) === 0) this.gp(0);
      this.setLma(true);
    } else if (pgOff && this.lma) {
      if (this.mode64) this.gp(0);
      this.setLma(false);
    }
    this.cr0 = v;
    this.paging = (v & CR0_PG) !== 0 || this.eptOn;
    if (((old ^ v) & (CR0_PG | CR0_WP | CR0_PE)) !== 0) {
      if ((v & CR0_PG) !== 0 && (old & CR0_PG) === 0 && (this.cr4 & CR4_PAE) !== 0 && !this.lma) this.loadPdptes();
      this.flushTlb(true);
    }
    if (((old ^ v) & CR0_PE) !== 0) this.updateCpl();
  }

  setCr3(v: number): void {
    this.cr3 = v;
    if ((this.cr0 & CR0_PG) !== 0 && (this.cr4 & CR4_PAE) !== 0 && !this.lma) this.loadPdptes();
    this.flushTlb(false);
  }

  setCr4(v: number): void {
    if ((v & ~this.cr4Allowed) !== 0) this.gp(0);
    if (this.lma && (v & CR4_PAE) === 0) this.gp(0); // PAE cannot be cleared in IA-32e mode
    const old = this.cr4;
    this.cr4 = v;
    if (((old ^ v) & (CR4_PSE | CR4_PAE | CR4_PGE)) !== 0) {
      if ((this.cr0 & CR0_PG) !== 0 && (v & CR4_PAE) !== 0 && !this.lma) this.loadPdptes();
      this.flushTlb(true);
    }
  }

  /**
   * WRMSR to EFER, after the reserved-bit check: LME cannot change while paging is on
   * (SDM vol. 3 §9.8.5); LMA is read-only (writes of it are ignored, AMD APM §3.1.7).
   */
  setEfer(v: number): void {
    if (((v ^ this.efer) & EFER_LME) !== 0 && (this.cr0 & CR0_PG) !== 0) this.gp(0);
    this.efer = (v & ~EFER_LMA) | (this.efer & EFER_LMA);
    this.lmsleOn = (v & EFER_LMSLE) !== 0;
    const nxe = (v & EFER_NXE) !== 0;
    if (nxe !== this.nxe) { this.nxe = nxe; this.flushTlb(true); }
  }

  /**
   * Load CR0, CR3, CR4 and EFER together, without the checks of MOV CR and WRMSR: a world
   * switch (VMRUN, #VMEXIT, VM entry and exit) whose state its own checks have validated.
   */
  loadSystemState(cr0: number, cr3: number, cr3Hi: number, cr4: number, efer: number): void {
    const lma = (efer & EFER_LMA) !== 0;
    this.cr0 = cr0 | CR0_ET;
    this.paging = (cr0 & CR0_PG) !== 0;
    this.cr3 = cr3 | 0;
    this.cr3Hi = cr3Hi | 0;
    this.cr4 = cr4 | 0;
    this.efer = efer | 0;
    this.nxe = (efer & EFER_NXE) !== 0;
    this.lmsleOn = (efer & EFER_LMSLE) !== 0;
    if (lma !== this.lma) this.setLma(lma);
    if (this.paging && (cr4 & CR4_PAE) !== 0 && !lma) this.loadPdptes();
    this.flushTlb(true);
  }

  /** STAR[63:48]: the SYSRET selector base. */
  msrStarHigh(): number {
    const v = this.plainMsrs.get(0xc000_0081);
    return v === undefined ? 0 : v[1] >>> 16;
  }

  private setLma(on: boolean): void {
    this.lma = on;
    this.efer = on ? this.efer | EFER_LMA : this.efer & ~EFER_LMA;
    this.mode64 = false;
    this.fetchKey = -1;
    this.codeEpoch++;
    this.longFetchKey = NaN;
    // Decoded instructions remember their mode, but the legacy fetch path only checks CS.D:
    // drop everything decoded in the mode being left.
    this.flushCodeCache();
  }

  /** PAE: load the four PDPTEs (SDM vol. 3 §4.4.1); reserved bits set raise #GP(0). */
  private loadPdptes(): void {
    const base = (this.cr3 & 0xffff_ffe0) >>> 0;
    // A guest's CR3 is guest-physical under EPT (SDM vol. 3C §28.2.1) and nested paging.
    const m = this.eptOn ? this.vmx!.guestTables : this.nested ?? this.mem;
    for (let k = 0; k < 4; k++) {
      const lo = m.read32(base + k * 8), hi = m.read32(base + k * 8 + 4);
      if ((lo & 1) !== 0 && ((lo & 0x1e6) !== 0 || (hi & 0xffff_fff0) !== 0)) this.gp(0);
      this.pdpte[k * 2] = lo;
      this.pdpte[k * 2 + 1] = hi;
    }
  }

  // =====================================================================================
  // Decoded-instruction cache
  // =====================================================================================

  /** The decoded instructions of physical `page`, if it holds any. */
  private icachePage(page: number): CodePage | undefined {
    const dir = this.icacheDir[page >>> 10];
    return dir === undefined ? undefined : dir[page & 0x3ff];
  }

  /**
   * A write of `len` bytes at offset `off` of physical page `page`, which holds decoded code
   * (docs/jit.md, "Code writes"). Returns whether this CPU still holds code from the page
   * (then writes to it keep being reported).
   *
   * - A write beside the code (a translator appending to its cache, data sharing a page
   *   with code) changes nothing decoded.
   * - A write to code drops the instructions and blocks it touches, and the chain links
   *   (codeEpoch), but not the rest of the page: patching one jump in a page of translated
   *   code does not make the CPU decode the page again.
   * - A page written often is dropped whole, so that a page turned to data (freed init
   *   code, say) stops costing a look at every write.
   */
  private codeWritten(page: number, off: number, len: number): boolean {
    const info = this.icachePage(page);
    if (info === undefined) return false;
    const cover = info.cover, end = Math.min(off + len, 4096);
    let hit = false;
    for (let o = off; o < end; o++) if (cover[o] !== 0) { hit = true; break; }
    if (!hit) {
      if (++info.kept < KEPT_WRITES) return true;
    } else if (++info.partial < PARTIAL_DROPS) {
      for (let o = Math.max(0, off - 14); o < end; o++) {
        const ins = info.at(o);
        if (ins !== undefined && o + ins.len > off) info.drop(o);
      }
      this.jit?.rangeWritten(page, off, end);
      this.codeEpoch++;
      return true;
    }
    this.invalidateCodePage(page);
    return false;
  }

  /** Note `len` bytes at physical `phys` as code the cache holds (a compiled block's bytes). */
  markCode(phys: number, len: number): void {
    const info = this.icachePage(phys >>> 12);
    if (info !== undefined) info.cover.fill(1, phys & 0xfff, Math.min((phys & 0xfff) + len, 4096));
  }

  private invalidateCodePage(page: number): void {
    const info = this.icachePage(page);
    if (info === undefined) return;
    this.icacheDir[page >>> 10]![page & 0x3ff] = undefined;
    // Keep a few emptied for the next pages decoded.
    if (this.codePageFree.length < 64) { info.reset(); this.codePageFree.push(info); }
    this.codeEpoch++;
    this.jit?.pageInvalidated(page);
    if (this.fetchPhysPage === page) this.fetchPage = undefined;
    if (this.longFetchPhysPage === page) this.longFetchPage = undefined;
  }

  flushCodeCache(): void {
    const pages = this.icachePages;
    this.icachePages = [];
    for (const p of pages) this.invalidateCodePage(p);
  }

  /** Fetch one code byte at CS:off (limit-checked, paged). Used by the decoder. */
  fetchCodeByte(off: number): number {
    if (this.lma) return this.mem.read8(this.long.translate(this.codeLinear(off), false, this.cpl === 3, true));
    const cs = this.segs[SegReg.CS];
    off = cs.big ? off >>> 0 : off & 0xffff;
    if (off > cs.limit) this.gp(0);
    const lin = (cs.base + off) | 0;
    // An instruction fetch is not a data access for the debug registers (size 0).
    const v = this.debug.watching ? this.mem.read8(this.translateRead(lin, this.cpl === 3, 0)) : this.readLin8(lin, this.cpl === 3);
    if (this.nxe && (this.tlb[lin >>> 12] & TLB_NOEXEC) !== 0) this.noExecFault(lin);
    return v;
  }

  /** The linear address of code offset `off` in IA-32e mode (#GP(0) outside CS or non-canonical). */
  private codeLinear(off: number): number {
    if (this.mode64) return this.canonical(off, SegReg.CS);
    const cs = this.segs[SegReg.CS];
    off = cs.big ? off >>> 0 : off & 0xffff;
    if (off > cs.limit) this.gp(0);
    return (cs.base + off) >>> 0;
  }

  /**
   * `v` if it is a canonical address (bits 63:47 all equal, as a number in [-2^47, 2^47));
   * otherwise #SS(0) for a stack reference, #GP(0) for any other (SDM vol. 3 §3.3.7.1).
   */
  canonical(v: number, seg: number): number {
    if (v < -0x8000_0000_0000 || v >= 0x8000_0000_0000) this.segFault(seg);
    return v;
  }

  /** #PF for an instruction fetch from an execute-disable page (PAE paging): P and I/D set. */
  private noExecFault(lin: number): never {
    this.fault.cr2 = lin >>> 0;
    return this.raise(Vector.PF, 0x11 | (this.cpl === 3 ? 4 : 0));
  }

  /** Instruction fetch in IA-32e mode: the decoded-instruction cache keyed by the full page. */
  private fetchInstrLong(): Instr {
    const cs = this.segs[SegReg.CS];
    const m64 = this.lma && cs.l && !cs.big;
    this.mode64 = m64;
    const eip = this.eip;
    const user = this.cpl === 3;
    // The code page last fetched from, by linear page and privilege: no translation while
    // it stays valid (reset by every TLB flush, INVLPG and code-page invalidation).
    if (m64) {
      const key = Math.floor(eip / 4096) * 2 + (user ? 1 : 0);
      if (key === this.longFetchKey && this.longFetchPage !== undefined) {
        const ins = this.longFetchPage.at(eip & 0xfff);
        if (ins !== undefined && ins.code64) return ins;
      }
    }
    const lin = this.codeLinear(eip);
    const phys = this.long.translate(lin, false, user, true);
    const page = phys >>> 12;
    if ((this.mem.nativePages[page] & NATIVE_RING0) !== 0 && this.cpl === 0) {
      // Native monitor code, in IA-32e mode too (a hypervisor's host in long mode: vtx, svm).
      const native = this.nativeInstr(phys);
      if (native !== null) { this.longFetchKey = NaN; return native; }
    }
    const cached = this.icachePage(page);
    if (m64) {
      this.longFetchKey = Math.floor(lin / 4096) * 2 + (user ? 1 : 0);
      this.longFetchPage = cached;
      this.longFetchPhysPage = page;
    } else {
      this.longFetchKey = NaN;
    }
    if (cached !== undefined) {
      const ins = cached.at(phys & 0xfff);
      if (ins !== undefined && ins.code64 === m64 && ins.code32 === cs.big && (m64 || eip + ins.len - 1 <= cs.limit)) return ins;
    }
    const again = this.crossingInstr(lin, phys, m64);
    if (again !== null) return again;
    const ins = m64 ? decode64(this, eip) : decode(this, eip, cs.big);
    const held = this.cacheInstr(ins, lin, phys);
    if (held !== undefined && m64 && this.longFetchPhysPage === page) this.longFetchPage = held;
    else this.rememberCrossing(ins, lin, phys, m64);
    return ins;
  }

  /**
   * Keep a freshly decoded instruction in the decoded-instruction cache if it lies wholly
   * inside one page of RAM or ROM. Returns the page's CodePage when the instruction was cached.
   */
  private cacheInstr(ins: Instr, lin: number, phys: number): CodePage | undefined {
    ins.phys = phys;
    const page = phys >>> 12;
    if ((lin & 0xfff) + ins.len > 0x1000 || (this.mem.nativePages[page] & NATIVE_RING0) !== 0 || !this.mem.isCacheable(phys)) return undefined;
    let info = this.icachePage(page);
    if (info === undefined) {
      info = this.codePageFree.pop() ?? new CodePage();
      const dir = this.icacheDir[page >>> 10] ??= packedArray<CodePage | undefined>(1 << 10, undefined);
      dir[page & 0x3ff] = info;
      this.icachePages.push(page);
      this.mem.codePages[page] = 1;
    }
    info.put(phys & 0xfff, ins);
    info.cover.fill(1, phys & 0xfff, (phys & 0xfff) + ins.len);
    ins.cached = true;
    return info;
  }

  /** The decoded instruction the cache holds at `phys`, if any (the block compiler shares it). */
  cachedInstr(phys: number): Instr | undefined {
    return this.icachePage(phys >>> 12)?.at(phys & 0xfff);
  }

  private fetchInstr(): Instr {
    const cs = this.segs[SegReg.CS];
    const eip = this.eip;
    const lin = (cs.base + eip) | 0;
    // The page instructions last came from: skip the translation while it stays valid.
    const key = ((lin >>> 12) * 2) + (this.cpl === 3 ? 1 : 0);
    if (key === this.fetchKey && this.fetchPage !== undefined) {
      const ins = this.fetchPage.at(lin & 0xfff);
      if (ins !== undefined && ins.code32 === cs.big && !ins.code64 && eip + ins.len - 1 <= cs.limit) return ins;
    }
    if (this.lma) return this.fetchInstrLong();
    const phys = this.translateRead(lin, this.cpl === 3, 0);
    if (this.nxe && (this.tlb[lin >>> 12] & TLB_NOEXEC) !== 0) this.noExecFault(lin);
    const page = phys >>> 12;
    const nativeBits = this.mem.nativePages[page];
    if ((nativeBits & NATIVE_RING0) !== 0 && this.cpl === 0) {
      const native = this.nativeInstr(phys);
      // The page of the code it interrupted stays the fetch fast path's: a monitor's native
      // code that returns to it (an IRET after an exit) finds it there without a translation.
      // (What can change that page's translation or code clears it: a TLB flush, INVLPG, a
      // code write.)
      if (native !== null) return native;
    }
    const cached = this.icachePage(page);
    this.fetchKey = key;
    this.fetchPage = cached;
    this.fetchPhysPage = page;
    if (cached !== undefined) {
      const ins = cached.at(phys & 0xfff);
      if (ins !== undefined && ins.code32 === cs.big && !ins.code64 && eip + ins.len - 1 <= cs.limit) return ins;
    }
    if ((nativeBits & NATIVE_RING1) !== 0 && this.cpl === 1) {
      const ins = this.ring1Native(lin, phys);
      if (ins !== undefined) {
        if (this.fetchPhysPage === page) this.fetchPage = this.icachePage(page);
        return ins;
      }
    }
    if (eip > cs.limit) this.gp(0);
    const again = this.crossingInstr(lin, phys, false);
    if (again !== null) return again;
    const ins = decode(this, eip, cs.big);
    const held = this.cacheInstr(ins, lin, phys);
    if (held !== undefined && this.fetchPhysPage === page) this.fetchPage = held;
    else this.rememberCrossing(ins, lin, phys, false);
    return ins;
  }

  /**
   * An instruction that crosses into the next page, decoded before at this linear address,
   * if it would decode the same now: the same frame for its first page, the same CS.D and
   * 64-bit mode, inside the CS limit, the second page still translating to the same RAM
   * frame, and the same bytes on both. The decoded-instruction cache keeps only instructions inside one page;
   * without this a hot instruction across a page boundary was decoded at every execution
   * (626 k times in the Linux boot). Otherwise null, and the caller decodes.
   *
   * The second page is fetched as decode fetches it (`fetchCodeByte` on its first byte: the
   * CS limit, the translation and its accessed bit, the NX check, and any fault they raise)
   * only once the first page's bytes are known to be the same, which is when decode would
   * reach it too.
   */
  private crossingInstr(lin: number, phys: number, m64: boolean): Instr | null {
    if ((lin & 0xfff) <= 0x1000 - MAX_INSTR_LEN) return null;
    const e = this.crossing[Cpu.crossingSlot(lin)];
    const ins = e.ins;
    if (ins === null || e.lin !== lin || e.phys1 !== phys || this.debug.watching) return null;
    const cs = this.segs[SegReg.CS];
    if (ins.code64 !== m64 || ins.code32 !== cs.big || (!m64 && this.eip + ins.len - 1 > cs.limit)) return null;
    const first = 0x1000 - (lin & 0xfff), bytes = e.bytes, mem = this.mem;
    for (let k = 0; k < first; k++) if (mem.read8(phys + k) !== bytes[k]) return null;
    this.fetchCodeByte(this.eip + first);
    const phys2 = this.codePhys(lin, first);
    if (phys2 !== e.phys2) return null;
    for (let k = first; k < ins.len; k++) if (mem.read8(phys2 + k - first) !== bytes[k]) return null;
    return ins;
  }

  /**
   * Keep `ins`, just decoded at `lin`, for crossingInstr if it crosses into the next page:
   * RAM only (no device sees the second look), and not 16-bit code, whose IP wraps at
   * 64 KiB where the next page need not follow.
   */
  private rememberCrossing(ins: Instr, lin: number, phys: number, m64: boolean): void {
    if ((lin & 0xfff) + ins.len <= 0x1000 || !(m64 || this.segs[SegReg.CS].big)) return;
    const first = 0x1000 - (lin & 0xfff);
    const phys2 = this.codePhys(lin, first);
    if (!this.mem.isRam(phys) || !this.mem.isRam(phys2)) return;
    const e = this.crossing[Cpu.crossingSlot(lin)];
    e.ins = ins; e.lin = lin; e.phys1 = phys; e.phys2 = phys2;
    for (let k = 0; k < ins.len; k++) e.bytes[k] = this.mem.read8(k < first ? phys + k : phys2 + k - first);
  }

  /** The crossing cache's slot for a linear address (its low 32 bits; 64-bit addresses are numbers). */
  private static crossingSlot(lin: number): number {
    const k = lin | 0;
    return (k ^ (k >>> 12)) & (CROSSING_SLOTS - 1);
  }

  /**
   * The frame of code at linear `lin + first`, the first byte on the page after `lin`'s,
   * already fetched (a TLB hit): as the fetch of each mode forms the address (32 bits
   * wrapping, outside and in compatibility mode; 64 bits in 64-bit mode).
   */
  private codePhys(lin: number, first: number): number {
    if (!this.lma) return this.translateRead((lin + first) | 0, this.cpl === 3, 0);
    return this.long.translate(this.mode64 ? lin + first : (lin + first) >>> 0, false, this.cpl === 3, true);
  }

  /**
   * The instruction a fetch at CPL 1 makes of a translator's helper registered at `phys`
   * (linear `lin`), if there is one: cached like decoded code (the fetch's fast path finds
   * it next time; unregistering it drops it as a code write would). The block compiler
   * ends a block with it.
   */
  ring1Native(lin: number, phys: number): Instr | undefined {
    const have = this.cachedInstr(phys);
    if (have !== undefined && have.native) return have;
    const entry = this.mem.nativeRing1At(phys);
    if (entry === undefined) return undefined;
    const ins = nativeInstrOf(phys, NATIVE_RING1_BYTES, entry as Handler);
    ins.nativeForm = this.mem.nativeFormAt(phys) ?? null;
    this.cacheInstr(ins, lin, phys);
    return ins;
  }

  /** The synthetic instruction that runs native monitor code registered at `phys`. */
  private nativeInstr(phys: number): Instr | null {
    // The last one first: a monitor's exits mostly enter through one native entry, and the
    // Map would box `phys` (a double here) on every look-up.
    if (phys === this.nativeLastPhys) return this.nativeLast;
    let ins = this.nativeCache.get(phys);
    if (ins === undefined) {
      const entry = this.mem.nativeAt(phys);
      if (entry === undefined) return null;
      ins = nativeInstrOf(phys, 1, nativeHandler(this.mem, phys, entry));
      this.nativeCache.set(phys, ins);
    }
    this.nativeLastPhys = phys;
    this.nativeLast = ins;
    return ins;
  }

  // =====================================================================================
  // The instruction loop
  // =====================================================================================

  /**
   * Run up to `budget` instructions. Returns why it stopped: budget used up, halted waiting
   * for an interrupt, or a machine event (triple fault, halt with IF=0, power-off).
   */
  run(budget: number): StopReason {
    this.stopReason = StopReason.None;
    this.sliceEnd = this.instructions + budget;
    // Modules compiled on another thread since the last slice (JitOptions.compiler).
    const wasm = this.jit?.wasm;
    if (wasm !== undefined && wasm !== null && wasm.compiling) wasm.install();
    while (this.instructions < this.sliceEnd) {
      if (this.stopReason !== StopReason.None) return this.stopReason;
      // A host single-step takes no interrupt (as gdb expects of QEMU's stub: the step
      // lands on the next instruction of the code being debugged), unless halted.
      if ((this.nmiPending || (this.intrLine && this.intr !== null)) && !(this.debug.armed && this.debug.step && !this.halted)) {
        if (this.checkInterrupts()) continue;
      }
      let end = -1, yields = 0;
      if (this.vmxPoll) {
        if (this.vmx!.poll()) continue;
        end = this.sliceEnd; yields = this.yields;
        this.sliceEnd = Math.min(end, this.vmx!.pollEnd());
      }
      if (this.halted) {
        if (end >= 0) this.sliceEnd = end;
        if (!(this.flags & this.irqEnableMask) && !this.nmiPending && !this.vmxPoll) return (this.stopReason = StopReason.HaltForever);
        return StopReason.Halted;
      }
      let faulted = false;
      try {
        if (this.debug.armed) this.runDebug();
        else this.runSlice();
        faulted = this.faultSignalled;
      } catch (e) {
        if (e !== this.fault) throw e;
        faulted = true;
      }
      if (faulted) {
        this.faultSignalled = false;
        if (this.blockStart >= 0) {
          this.jit!.stats.instructions += this.instructions - this.blockStart;
          this.blockStart = -1;
        }
        this.handleFault();
        // A host single-step of a faulting instruction ends at its handler's first one.
        if (this.debug.step) { this.debug.step = false; this.probeStop({ kind: "step" }); }
      }
      // A polling slice ends early; the run goes on to the caller's end unless something yielded.
      if (end >= 0 && this.yields === yields) this.sliceEnd = end;
    }
    return this.stopReason !== StopReason.None ? this.stopReason : StopReason.Budget;
  }

  /** Execute instructions until `end`, an interrupt check is due, or a stop. */
  private runSlice(): void {
    const jit = this.jit;
    // The block that ran last, if nothing has run since: the next block fetched is linked to it.
    let prev: CompiledBlock | null = null;
    while (this.instructions < this.sliceEnd) {
      const tf = (this.flags & F.TF) !== 0;
      this.instrEip = this.eip;
      const ins = this.fetchInstr();
      if (jit !== null && !tf && this.tracer === null) {
        let blk = ins.block;
        // Where the block is entered: k0 > 0 runs the tail of the block holding `ins`.
        let k0 = 0;
        if (blk === null) {
          // Resumed mid-block (not jumped to from a block: after a slice's end, an IRET, an
          // exit): the rest of the block that holds it runs at tier 1 and the chain
          // goes on from its end. Counted as hits, such resumptions made a block at nearly
          // every instruction of a hot loop or a long unrolled function (Linux's
          // chacha_permute, blake2s_compress_generic), each run a few times at tier 1, and the
          // code after each one a parallel chain of blocks, shifted, never hot.
          const own: CompiledBlock | null = prev === null ? ins.owner : null;
          if (own !== null && jit.holds(own) && own.instrs[ins.ownerIndex] === ins) {
            blk = own;
            k0 = ins.ownerIndex;
            jit.stats.resumed++;
          } else {
            // Only instructions the decoded-instruction cache holds start blocks (the block
            // lives on the cached Instr and goes when its page is invalidated).
            if (++ins.hits === jit.hot && ins.cached) {
              ins.block = jit.compile(ins, this.eip);
              if (ins.block !== null) continue; // fetched again (from the cache) and run
            }
          }
        } else if (blk.generation !== jit.generation) {
          ins.block = null;
          ins.hits = 0;
          blk = null;
        }
        const skip = k0 === 0 ? 0 : blk!.start(k0);
        if (blk !== null && !this.inhibitIrq && !(this.watchRing0 && this.cpl === 0 && this.guest === null && !this.nonRoot) &&
          (ins.code64 || this.eip + (blk.bytes - skip) - 1 <= this.segs[SegReg.CS].limit)) {
          // The block does the interpreter's work and checks between its instructions. Not
          // entered in an interrupt shadow (after STI, MOV SS, POP SS): an interrupt held off
          // by it must be taken right after this instruction, which a quiet first
          // instruction would not look for.
          if (prev !== null) this.linkBlock(prev, blk);
          // blockStart: where the run of blocks began (a fault in one counts them in run()).
          const before = this.instructions;
          this.blockStart = before;
          let leave = false;
          for (;;) {
            // A tail, or a slice that ends inside the block (only its first: a chained one
            // fits), runs at tier 1, the latter to the slice's end. (One by one through the
            // interpreter, each counted a hit and in time started a block of its own: a
            // straight run of code near many slice ends became a block at every instruction.)
            if (k0 !== 0 || this.instructions + blk.count > this.sliceEnd) {
              this.runBlock(blk, k0, this.eip - skip, Math.min(blk.count, k0 + this.sliceEnd - this.instructions));
              k0 = 0;
            } else if (blk.wasm >= 0) blk = jit.wasm!.run(this, blk);
            else if (blk.fn !== null) blk.fn(this);
            else {
              if (++blk.runs === jit.wasmAt || blk.runs === jit.generateAt || blk.runs === jit.wasmFlushAt) jit.generate(blk);
              this.runBlock(blk, 0, this.eip);
            }
            if (this.faultSignalled) return; // run() counts the blocks (blockStart) and delivers it
            if (this.stopReason !== StopReason.None || this.halted) { leave = true; break; }
            if (this.intrLine || this.nmiPending) {
              if (!this.inhibitIrq && (this.nmiPending || (this.flags & this.irqEnableMask) !== 0 || this.guest !== null)) { leave = true; break; }
            }
            // Chaining: the block entered after this one last time, if its link still holds
            // and it may be entered now (the same conditions as above), runs without a fetch.
            const next = this.chainedBlock(blk, jit.generation);
            if (next === null) break;
            jit.stats.chained++;
            this.instrEip = this.eip;
            blk = next;
          }
          this.blockStart = -1;
          jit.stats.instructions += this.instructions - before;
          if (leave) return;
          // After an IRET, where the interrupted code resumes is no jump target to link to.
          prev = blk.resumes ? null : blk;
          continue;
        }
      }
      prev = null;
      if (this.tracer !== null) this.tracer(this, ins);
      const nextEip = this.eip + ins.len;
      this.eip = ins.code32 ? nextEip >>> 0 : ins.code64 ? nextEip : nextEip & 0xffff;
      this.inhibitIrq = false;
      if (this.cpl === 0 && this.watchRing0 && !ins.native && this.guest === null && !this.nonRoot) this.ring0Foreign++;
      ins.handler(this, ins);
      if (this.faultSignalled) return;
      this.instructions++;
      if (tf) { this.singleStepTrap(); return; }
      if (this.stopReason !== StopReason.None || this.halted) return;
      if (this.intrLine || this.nmiPending) {
        if (!this.inhibitIrq && (this.nmiPending || (this.flags & this.irqEnableMask) !== 0 || this.guest !== null)) return;
      }
    }
  }

  /**
   * runSlice with the debug checks, one instruction at a time and never in a compiled
   * block: taken only while cpu.debug is armed (a guest breakpoint enabled in DR7, or the
   * host probe set). SDM vol. 3 §18.3.1: instruction breakpoints are faults, taken before
   * the instruction unless EFLAGS.RF is set; data breakpoints are traps, taken after it
   * (with BS too if TF was set); RF is cleared when an instruction completes. The host's
   * breakpoints stop before the instruction, its watchpoints and steps after it.
   */
  private runDebug(): void {
    const d = this.debug;
    while (this.instructions < this.sliceEnd && d.armed) {
      const tf = (this.flags & F.TF) !== 0;
      this.instrEip = this.eip;
      const lin = this.lma && this.mode64 ? this.eip : (this.segs[SegReg.CS].base + this.eip) >>> 0;
      if (d.stopRequested) { d.stopRequested = false; return this.probeStop({ kind: "stop" }); }
      if (d.hostBreaks.size !== 0 && d.hostBreaks.has(lin) && d.skipLin !== lin) return this.probeStop({ kind: "break", lin });
      d.skipLin = -1;
      if ((this.flags & F.RF) === 0) {
        const b = d.guestExecAt(lin);
        if (b !== 0) { this.dr[6] |= b; this.raiseNoCode(Vector.DB); }
      }
      const ins = this.fetchInstr();
      if (this.tracer !== null) this.tracer(this, ins);
      const nextEip = this.eip + ins.len;
      this.eip = ins.code32 ? nextEip >>> 0 : ins.code64 ? nextEip : nextEip & 0xffff;
      this.inhibitIrq = false;
      this.flags &= ~F.RF; // an IRET or a task switch may set it again
      if (this.cpl === 0 && this.watchRing0 && !ins.native && this.guest === null && !this.nonRoot) this.ring0Foreign++;
      d.guestHits = 0;
      d.hostHit = null;
      ins.handler(this, ins);
      if (this.faultSignalled) return;
      this.instructions++;
      if (d.guestHits !== 0 || tf) {
        this.dr[6] |= d.guestHits | (tf ? DR6_BS : 0);
        d.guestHits = 0;
        this.raiseTrapNow(Vector.DB);
        if (d.hostHit === null && !d.step) return;
      }
      if (d.hostHit !== null) {
        const w = d.hostHit;
        d.hostHit = null;
        d.step = false;
        return this.probeStop({ kind: "watch", lin: d.hostHitLin, watch: w });
      }
      if (d.step) { d.step = false; return this.probeStop({ kind: "step" }); }
      if (this.stopReason !== StopReason.None || this.halted) return;
      if (this.intrLine || this.nmiPending) {
        if (!this.inhibitIrq && (this.nmiPending || (this.flags & F.IF) !== 0)) return;
      }
    }
  }

  /** The host probe stops the processor at this instruction boundary. */
  private probeStop(hit: ProbeHit): void {
    this.debug.hit = hit;
    this.debug.update();
    this.stopReason = StopReason.Debug;
  }

  /** MOV to DR0–DR3 or DR7 (or a restore): decode, and leave the fast loop if now armed. */
  debugRegistersChanged(): void {
    this.debug.guestChanged(this.dr);
    this.debugProbeChanged();
  }

  /** The host probe or the guest's breakpoints changed: watched pages leave the TLB. */
  debugProbeChanged(): void {
    this.debug.update();
    this.flushTlb(true);
    this.yieldSlice();
  }

  /** Link `blk` as the successor of `prev` at the current EIP (see chainedBlock). */
  private linkBlock(prev: CompiledBlock, blk: CompiledBlock): void {
    const eip = this.eip, base = this.segs[SegReg.CS].base, cpl = this.cpl, epoch = this.codeEpoch;
    // Slot 0 unless it holds another successor that is still valid (then slot 1).
    if (prev.next0 === null || prev.next0Epoch !== epoch || (prev.next0Eip === eip && prev.next0Base === base && prev.next0Cpl === cpl)) {
      prev.next0 = blk; prev.next0Eip = eip; prev.next0Base = base; prev.next0Cpl = cpl; prev.next0Epoch = epoch;
    } else {
      prev.next1 = blk; prev.next1Eip = eip; prev.next1Base = base; prev.next1Cpl = cpl; prev.next1Epoch = epoch;
    }
  }

  /**
   * The block linked after `blk` at the current EIP, if the link still leads where a fetch
   * would (no TLB flush, replaced translation or dropped code since: `codeEpoch`; the same CS
   * base and CPL, CS.D and 64-bit mode as the block was decoded with, the cache generation)
   * and the run loop may enter it now: no TF, no tracer, room in the slice, no interrupt
   * shadow, not counting foreign ring-0 instructions, inside the CS limit. Otherwise null,
   * and the run loop fetches.
   */
  private chainedBlock(blk: CompiledBlock, generation: number): CompiledBlock | null {
    const eip = this.eip, epoch = this.codeEpoch;
    const cs = this.segs[SegReg.CS];
    let n: CompiledBlock | null;
    if (blk.next0Eip === eip && blk.next0Epoch === epoch && blk.next0Base === cs.base && blk.next0Cpl === this.cpl) n = blk.next0;
    else if (blk.next1Eip === eip && blk.next1Epoch === epoch && blk.next1Base === cs.base && blk.next1Cpl === this.cpl) n = blk.next1;
    else return null;
    if (n === null || n.generation !== generation || n.code32 !== cs.big || n.code64 !== (this.lma && cs.l)) return null;
    if ((this.flags & F.TF) !== 0 || this.tracer !== null || this.inhibitIrq) return null;
    if (this.instructions + n.count > this.sliceEnd || (!n.code64 && eip + n.bytes - 1 > cs.limit)) return null;
    if (this.watchRing0 && this.cpl === 0 && this.guest === null && !this.nonRoot) return null;
    return n;
  }

  /**
   * Tier 1 of the block compiler: run a block's instructions from the k0-th (the block
   * entered at EIP e0) without fetching them, with the interpreter's bookkeeping and its
   * checks between instructions (docs/jit.md). The WebAssembly tier leaves the rest of a
   * block here from the instruction it cannot run.
   */
  runBlock(blk: CompiledBlock, k0: number, e0: number, n = blk.instrs.length): void {
    const instrs = blk.instrs;
    const epoch = this.codeEpoch;
    // An instruction's EIP is e0 plus its offset from the block's start (its Instr's pageEnd
    // less pageStart), computed where it is stored: a kernel's EIP above 2^31 is not a small
    // integer, and carried from one instruction to the next (a loop variable V8 kept tagged)
    // it was a new heap number at every instruction (about 150 MB of the 1.3 GB allocated in
    // Linux's boot under bt; its scavenges 116 → 105).
    const p0 = blk.pageStart;
    for (let k = k0; k < n; k++) {
      const ins = instrs[k];
      const c = ins.check;
      const end = ins.pageEnd - p0;
      this.instrEip = e0 + (end - ins.len);
      const next = e0 + end;
      this.eip = next;
      this.inhibitIrq = false;
      ins.handler(this, ins);
      if (this.faultSignalled) return;
      this.instructions++;
      if (c !== Check.NONE) {
        if (this.eip !== next) {
          if (k0 === 0 && k < blk.count - 1) { blk.leftEarly++; if (k > blk.leftAt) blk.leftAt = k; }
          return;
        }
        if (this.codeEpoch !== epoch || this.stopReason !== StopReason.None || this.instructions >= this.sliceEnd) return;
        if ((this.intrLine || this.nmiPending) && !this.inhibitIrq && (this.nmiPending || (this.flags & this.irqEnableMask) !== 0 || this.guest !== null)) return;
      }
    }
  }

  /** Deliver a pending NMI or INTR if allowed. Returns true if one was delivered. */
  checkInterrupts(): boolean {
    if (this.inhibitIrq || !this.gif) return false;
    try {
      // Under hardware assist a physical interrupt may belong to the host: it exits, and
      // stays pending until the host takes it.
      if (this.guest !== null && (this.nmiPending || this.virq || (this.intr !== null && this.intr.hasInterrupt())) && this.guest.interrupt(this.nmiPending)) return true;
      if (this.nmiPending) {
        this.nmiPending = false;
        this.halted = false;
        this.deliver(Vector.NMI, IntKind.External, 0, false);
        return true;
      }
      if (this.nonRoot && this.intr !== null && this.intr.hasInterrupt() && this.vmx!.externalInterrupt()) return true;
      if ((this.flags & F.IF) !== 0 && this.intr !== null && this.intr.hasInterrupt()) {
        const vector = this.intr.acknowledge();
        this.halted = false;
        this.instrEip = this.eip;
        this.deliver(vector, IntKind.External, 0, false);
        return true;
      }
    } catch (e) {
      if (e !== this.fault) throw e;
      this.handleFault();
      return true;
    }
    return false;
  }

  private singleStepTrap(): void {
    this.dr[6] |= DR6_BS;
    this.raiseTrapNow(Vector.DB);
  }

  /** Deliver a trap-class exception after the current instruction (EIP already advanced). */
  raiseTrapNow(vector: number): void {
    this.instrEip = this.eip;
    try {
      if (this.guest !== null && this.guest.exception(vector, 0, false, 0)) return;
      this.deliver(vector, IntKind.Exception, 0, false);
    } catch (e) {
      if (e !== this.fault) throw e;
      this.handleFault();
    }
  }

  /** A fault was thrown by the current instruction: restart it through the exception. */
  private handleFault(): void {
    const f = this.fault;
    // An exit to the host from inside an instruction: the host's state is loaded already.
    if (f.vector === VMEXIT) return;
    let vector = f.vector, code = f.errorCode, hasCode = f.hasErrorCode;
    // The exceptions of a double-fault chain, kept for a shutdown report (no allocation for
    // the common single fault).
    let chain: FaultRecord[] | null = null;
    this.eip = this.instrEip;
    let cr2 = f.cr2;
    for (;;) {
      try {
        // Under hardware assist the host may intercept the exception (then CR2 is not written).
        if (this.guest !== null && this.guest.exception(vector, code, hasCode, cr2)) return;
        if (vector === Vector.PF && !this.nonRoot) this.cr2 = cr2;
        this.deliver(vector, IntKind.Exception, code, hasCode);
        return;
      } catch (e) {
        if (e !== this.fault) throw e;
        if (f.vector === VMEXIT) return;
        const second = f.vector;
        if (second === Vector.PF) { cr2 = f.cr2; if (!this.nonRoot) this.cr2 = cr2; }
        chain ??= [{ vector, errorCode: code, hasErrorCode: hasCode }];
        chain.push({ vector: second, errorCode: f.errorCode, hasErrorCode: f.hasErrorCode });
        // SDM vol. 3 table 6-5: a fault while delivering #DF shuts the processor down.
        if (vector === Vector.DF) {
          if (this.nonRoot) { this.vmx!.tripleFault(); return; }
          if (this.guest !== null && this.guest.shutdown()) return;
          this.recordShutdown(chain);
          this.stopReason = StopReason.TripleFault;
          return;
        }
        const contributory = (v: number) => v === 0 || (v >= 10 && v <= 13);
        if ((contributory(vector) && contributory(second)) || (vector === Vector.PF && (second === Vector.PF || contributory(second)))) {
          vector = Vector.DF; code = 0; hasCode = true;
          chain.push({ vector, errorCode: 0, hasErrorCode: true });
        } else {
          vector = second; code = f.errorCode; hasCode = f.hasErrorCode;
        }
      }
    }
  }

  /** Note why the processor shuts down: the chain of exceptions and the instruction. */
  private recordShutdown(faults: FaultRecord[]): void {
    let instr: Instr | null = null;
    const eip = this.eip;
    try { instr = this.fetchInstr(); } catch (e) { if (e !== this.fault) throw e; }
    this.eip = eip;
    this.shutdown = { faults, cs: this.segs[SegReg.CS].selector, eip: this.instrEip >>> 0, instr };
  }

  /** Deliver interrupt or exception `vector` through the IVT/IDT (see interrupt.ts). */
  deliver(vector: number, kind: IntKind, errorCode: number, hasErrorCode: boolean): void {
    // #DB clears DR7.GD so the handler can use the debug registers (SDM vol. 3 §18.2.4).
    if (vector === Vector.DB && kind === IntKind.Exception) this.dr[7] &= ~DR7_GD;
    if (this.nonRoot) { this.deliverNonRoot(vector, kind, errorCode, hasErrorCode); return; }
    const svm = this.svm;
    if (svm !== null && svm.inGuest) {
      // An exit during delivery reports the event in EXITINTINFO (APM vol. 2 §15.7.2).
      const type = kind === IntKind.External ? (vector === Vector.NMI ? 2 : 0) : kind === IntKind.Software ? 4 : 3;
      svm.delivering = (vector | (type << 8) | (hasErrorCode ? 1 << 11 : 0) | (1 << 31)) >>> 0;
      svm.deliveringCode = errorCode;
      deliverInterrupt(this, vector, kind, errorCode, hasErrorCode);
      svm.delivering = 0;
      return;
    }
    deliverInterrupt(this, vector, kind, errorCode, hasErrorCode);
  }

  /** In VMX non-root operation: the exception bitmap and NMI exiting first (SDM vol. 3C §25.2). */
  private deliverNonRoot(vector: number, kind: IntKind, errorCode: number, hasErrorCode: boolean): void {
    const type = intrType(vector, kind);
    if (this.vmx!.interceptEvent(vector, kind, errorCode, hasErrorCode, type)) return;
    if (vector === Vector.PF && kind === IntKind.Exception) this.cr2 = this.fault.cr2;
    this.deliverVectored(vector, kind, errorCode, hasErrorCode, vector | (type << 8) | (hasErrorCode ? 0x800 : 0) | 0x8000_0000);
  }

  /**
   * Deliver an event in non-root operation, remembering it as IDT-vectoring information
   * (SDM vol. 3C §27.2.4) for an exit its delivery causes. Injected events come here directly.
   */
  deliverVectored(vector: number, kind: IntKind, errorCode: number, hasErrorCode: boolean, info: number): void {
    const v = this.vmx!;
    v.vectoring = info; v.vectoringCode = hasErrorCode ? errorCode : 0;
    deliverInterrupt(this, vector, kind, errorCode, hasErrorCode);
    v.vectoring = 0;
  }

  /** End the executing instruction after a VM exit loaded the host's state (caught by the loop). */
  throwVmExit(): never {
    return this.throwExit();
  }

  /** A fault raised while VM entry delivered an injected event: deliver it, or exit, as the loop would. */
  faultAfterEntry(): void { this.handleFault(); }

  /** A VMX abort (SDM vol. 3C §27.7): the processor shuts down. */
  vmxAbort(): void {
    this.shutdown = { faults: [], cs: this.segs[SegReg.CS].selector, eip: this.eip >>> 0, instr: null };
    this.stopReason = StopReason.TripleFault;
  }

  /** VM entry and exit replaced CR0/CR3/CR4/EFER and the segments: drop what was derived from them. */
  modeChanged(): void {
    // Decoded instructions stay: they are keyed by physical address and CS.D, and a change
    // of EFER.LMA (the one that changes decoding otherwise) drops them in setLma, as VMRUN's does.
    this.flushTlb(true);
    this.fetchKey = -1;
    this.longFetchKey = NaN;
    this.codeEpoch++;
  }

  /** Load the PDPTEs after VM entry or exit put PAE paging in place (SDM vol. 3C §26.3.2.4, §27.5.4). */
  reloadPdptes(): void { this.loadPdptes(); }

  /** EFER.LMA as VM entry and exit set it (no CR0.PG transition). */
  /**
   * EFER.LMA as VM entry and exit load it. Decoded instructions stay (unlike setLma): the
   * legacy fetch path never returns one decoded as 64-bit code, and a host and guest that
   * differ in LMA do not run each other's code.
   */
  setLmaRaw(on: boolean): void {
    this.lma = on;
    this.efer = on ? this.efer | EFER_LMA : this.efer & ~EFER_LMA;
    this.mode64 = false;
    this.fetchKey = -1;
    this.codeEpoch++;
    this.longFetchKey = NaN;
  }

  /**
   * Deliver an event a hypervisor injects on entry (SVM's EVENTINJ, VMX's VM-entry
   * interruption information) as if it had just happened, with the fault path's handling
   * of an exception during its delivery.
   */
  injectEvent(vector: number, kind: IntKind, errorCode: number, hasErrorCode: boolean): void {
    this.instrEip = this.eip;
    try {
      this.deliver(vector, kind, errorCode, hasErrorCode);
    } catch (e) {
      if (e !== this.fault) throw e;
      this.handleFault();
    }
  }

  /** Abandon the current instruction after an exit to the host (guest-mode.ts). */
  throwExit(): never {
    throw this.fault.set(VMEXIT, 0, false);
  }

  /**
   * End the current run() after the instruction now executing: a device was programmed and
   * the run loop must recompute when its next event is due.
   */
  yieldSlice(): void {
    this.yields++;
    if (this.sliceEnd > this.instructions + 1) this.sliceEnd = this.instructions + 1;
  }

  /** Stop the run loop with a machine event (power-off, triple fault …). */
  stop(reason: StopReason): void {
    this.stopReason = reason;
  }

  /** Virtual time in cycles: one per retired instruction plus halted cycles (DESIGN.md §4). */
  get cycles(): number { return this.instructions + this.idleCycles; }

  /** Time-stamp counter: the cycle count, offset by WRMSR to IA32_TIME_STAMP_COUNTER. */
  readTsc(): number { return this.cycles + this.tscOffset + this.guestTscOffset; }
}
