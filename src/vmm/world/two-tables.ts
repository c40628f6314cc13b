// --protect two-tables (docs/long-mode-monitor.md; Xen/x86-64's design): guest kernel and
// guest user code both run at machine ring 3, the monitor alone at ring 0, and two shadow
// page-table sets keep them apart: the kernel set maps everything the guest maps (guest
// supervisor pages made U/S = 1, so the guest kernel reaches them at ring 3), the user set
// only the guest's user pages. Every transition between guest kernel and guest user passes
// through the monitor — SYSCALL (#UD: the machine's EFER.SCE is clear), INT n (#GP: the
// monitor's gates are DPL 0), exceptions and interrupts (the monitor's IDT), SYSRET and
// IRETQ (callouts in translated code) — and there the vCPU's CPL says which set the machine
// must run on. This is that decision, and the CR3 load it takes.

import type { Cpu } from "../../hw/cpu/cpu.js";
import type { Counters } from "../stats/counters.js";
import * as L from "../layout.js";

const PTE_P = 1, PTE_U = 4;

/** Which of the two sets a shadow entry is built for. */
export type View = "kernel" | "user";

/**
 * The low half of a shadow paging-structure entry (any level) in `view`, from the low half
 * the shadow would otherwise write for a guest entry `lo`: the kernel view makes a present
 * entry U/S = 1 (the guest kernel runs at ring 3 and must reach its supervisor pages); the
 * user view keeps only entries the guest marked U/S = 1, so a guest supervisor mapping is not
 * present there and guest user code touching it faults into the monitor (which delivers the
 * guest's own #PF). R/W, XD and the frame are the guest's in both.
 */
export function viewEntry(lo: number, view: View): number {
  if ((lo & PTE_P) === 0) return lo;
  if (view === "kernel") return lo | PTE_U;
  return (lo & PTE_U) !== 0 ? lo : 0;
}

/** The two shadow roots for one guest address space. */
export interface RootPair { kernel: number; user: number }

export class TwoTables {
  private onKernel: boolean | null = null;

  constructor(private readonly counters: Counters) {}

  /** Is the machine on the kernel set (the guest kernel is running)? */
  get kernelSet(): boolean { return this.onKernel === true; }

  /**
   * After the vCPU ran (an exit): load the set for the guest's CPL, counting the switch.
   * Guest rings 1 and 2 (unused by Linux) count as kernel, as the pager counts them.
   */
  select(m: Cpu, guestCpl: number, roots: RootPair | ((view: View) => number)): void {
    const kernel = guestCpl < 3;
    const view: View = kernel ? "kernel" : "user";
    const root = typeof roots === "function" ? roots(view) : roots[view];
    if (this.onKernel !== null && kernel !== this.onKernel) this.counters.inc(kernel ? "shadow.to-kernel-set" : "shadow.to-user-set");
    this.onKernel = kernel;
    if (m.cr3 !== root) m.setCr3(root);
  }

  /**
   * A callout INT is honoured only from translated code on the kernel set: guest user code
   * at the same ring could load the TC's selector, never run the TC (it is not mapped for
   * ring 3 in the user set).
   */
  calloutAllowed(machineCs: number): boolean {
    return this.onKernel === true && machineCs === (L.SEL64_TC_CS | 3);
  }
}
