// Resource control for the SVM monitor (`--mode svm`): after a run, is the monitor's own
// memory exactly what the monitor wrote, and did any code run at host CPL 0 outside guest
// mode that is not the monitor's? A failure is E_MONITOR_BREACH (src/cli/run.ts), as for
// the classic monitor's checksum of its region (src/vmm/monitor.ts).
//
// The host area sits in machine-physical memory just above the guest's RAM, where the
// nested page tables map nothing: the guest cannot name it. This check is what shows that
// held. It compares every byte the monitor owns and does not change while the guest runs,
// snapshotted once the monitor has built it:
//
//   host GDT, host IDT        the tables the host runs on (an IDT gate aimed at guest
//                             memory would run guest bytes at host CPL 0)
//   native entries            the host's code (VMRUN, the exit handler, the idle loop)
//   VMCB control area         the intercepts, the IOPM/MSRPM and nested-table bases, the
//                             ASID and NP_ENABLE — all but the fields written on every
//                             VMRUN or #VMEXIT (APM vol. 2 appendix B, table B-1): the TSC
//                             offset, V_INTR, the interrupt shadow, EXITCODE, EXITINFO1/2,
//                             EXITINTINFO, EVENTINJ, NRIP and the VMCB-clean/fetched-bytes
//                             fields at 0xC0–0xFF
//   I/O and MSR permission maps (APM vol. 2 §15.10, §15.11)
//   nested page tables        the directory and every table (APM vol. 2 §15.25)
//
// Not compared: the VMCB's state-save area (the guest's registers: the guest's own) and the
// host save area (VM_HSAVE_PA: the processor stores the host's state there on every VMRUN).
//
// "Outside guest mode" is the machine's own count (Cpu.ring0Foreign, with watchRing0):
// instructions retired at CPL 0 with no guest running that are not native monitor code.

import type { PhysicalMemory } from "../../hw/mem/physical-memory.js";
import { Vmcb } from "../../hw/cpu/svm/vmcb.js";

/** The SVM monitor's host area: offsets from its base (the first byte above guest RAM). */
export interface SvmHostLayout {
  /** Machine-physical address of the host area. */
  base: number;
  gdt: number;
  idt: number;
  native: number;
  vmcb: number;
  iopm: number;
  msrpm: number;
  npt: number;
  nptBytes: number;
  /** Shadow paging rewrites the CR read intercepts as the guest's CR0/CR4 differ from the shadow's. */
  crInterceptsChange?: boolean;
  /** The long-mode host area (its IDT, page tables and 4-level nested tables), when the model has long mode; N_CR3 switches to it. */
  long?: { at: number; bytes: number; nestedRootSwitches?: boolean };
}

/** A range of machine-physical memory the monitor owns, with holes it changes while running. */
export interface GuardedRange {
  name: string;
  at: number;
  bytes: number;
  /** [offset, bytes] within the range that are not compared. */
  skip?: readonly (readonly [number, number])[];
}

/** VMCB control-area fields written on every VMRUN or #VMEXIT: [offset, bytes]. */
const VMCB_PER_RUN: readonly (readonly [number, number])[] = [
  [Vmcb.TSC_OFFSET, 8],
  [Vmcb.VINTR, 8],
  [Vmcb.INTERRUPT_SHADOW, 8],
  [Vmcb.EXITCODE, Vmcb.NP_ENABLE - Vmcb.EXITCODE],  // EXITCODE, EXITINFO1, EXITINFO2, EXITINTINFO
  [Vmcb.EVENTINJ, 8],
  [Vmcb.NRIP, 8],
  [0x0c0, 8], [0x0d0, 0x30],                          // VMCB clean bits, guest instruction bytes
];

/** The ranges the SVM monitor's integrity check compares (see the file header). */
export function svmGuardedRanges(l: SvmHostLayout): GuardedRange[] {
  return [
    { name: "host GDT", at: l.base + l.gdt, bytes: 0x1000 },
    { name: "host IDT", at: l.base + l.idt, bytes: 0x1000 },
    { name: "host code (native entries)", at: l.base + l.native, bytes: 0x1000 },
    { name: "VMCB control area", at: l.base + l.vmcb, bytes: 0x400,
      skip: [...VMCB_PER_RUN, ...(l.crInterceptsChange === true ? [[Vmcb.INTERCEPT_CR, 4] as const] : []), ...(l.long?.nestedRootSwitches === true ? [[Vmcb.N_CR3, 8] as const] : [])] },
    { name: "I/O permission map", at: l.base + l.iopm, bytes: 0x3000 },
    { name: "MSR permission map", at: l.base + l.msrpm, bytes: 0x2000 },
    { name: "nested page tables", at: l.base + l.npt, bytes: l.nptBytes },
    ...(l.long !== undefined ? [{ name: "long-mode host area (IDT, page tables, 4-level nested tables)", at: l.base + l.long.at, bytes: l.long.bytes }] : []),
  ];
}

export interface IntegrityVerdict {
  monitorIntact: boolean;
  guestRanAtCpl0: boolean;
  /** What failed, for E_MONITOR_BREACH; "" when nothing did. */
  detail: string;
}

/** The monitor's memory as it wrote it, kept to compare with after a run. */
export class HostAreaGuard {
  private readonly copies: Uint8Array[];

  /** Snapshot `ranges` of `mem` now: call once the monitor has built its host area. */
  constructor(private readonly mem: PhysicalMemory, readonly ranges: readonly GuardedRange[]) {
    this.copies = ranges.map((r) => this.read(r));
  }

  private read(r: GuardedRange): Uint8Array {
    const out = new Uint8Array(r.bytes);
    for (let k = 0; k < r.bytes; k++) out[k] = this.mem.read8(r.at + k);
    for (const [off, n] of r.skip ?? []) out.fill(0, off, off + n);
    return out;
  }

  /** The first changed address of each range that changed, by range name. */
  changed(): { name: string; at: number; bytes: number }[] {
    const out: { name: string; at: number; bytes: number }[] = [];
    this.ranges.forEach((r, i) => {
      const now = this.read(r), was = this.copies[i];
      let first = -1, count = 0;
      for (let k = 0; k < r.bytes; k++) if (now[k] !== was[k]) { if (first < 0) first = k; count++; }
      if (first >= 0) out.push({ name: r.name, at: r.at + first, bytes: count });
    });
    return out;
  }

  /** The verdict after a run; `ring0Foreign` is the machine's count of foreign CPL-0 instructions. */
  check(ring0Foreign: number): IntegrityVerdict {
    const bad = this.changed();
    const parts: string[] = [];
    if (bad.length > 0) {
      parts.push("monitor memory changed: " + bad.map((b) => `${b.name} (${b.bytes} byte${b.bytes === 1 ? "" : "s"}, first at 0x${b.at.toString(16)})`).join(", "));
    }
    if (ring0Foreign > 0) parts.push(`${ring0Foreign} instructions ran at machine CPL 0 outside guest mode`);
    return { monitorIntact: bad.length === 0, guestRanAtCpl0: ring0Foreign > 0, detail: parts.join("; ") };
  }
}
