// The hardware-assisted monitors the lab compares with bare, trap and bt: one line per
// column. `vmm86 redpill`, `escape` and `microbench` each add every column listed here
// (redpill also adds the column's fair bare machine), so a new monitor or paging scheme
// — VT-x with shadow paging or EPT, SVM with shadow paging — is one line below plus its
// constructor in guest-runner.ts (MONITORS).

import type { LabCpu, LabMode } from "./guest-runner.js";

export interface HwColumn {
  /** The column heading: the technique and how guest page tables are handled. */
  label: string;
  mode: LabMode;
  /** The machine's `--cpu`: a model with the extension the monitor needs. */
  cpu: LabCpu;
  /** nested: the hardware walks the guest's tables through the monitor's (NPT/EPT); shadow: the monitor keeps shadow tables. */
  paging: "nested" | "shadow";
  /**
   * The bare machine that is the fair comparison: the CPU the guest sees under this
   * monitor (the model without what the monitor keeps to itself or does not virtualize:
   * the virtualization extension, nested paging, the local APIC).
   */
  bareCpu: LabCpu;
  /** A short name for bareCpu in headings. */
  bareLabel: string;
}

export const HW_COLUMNS: readonly HwColumn[] = [
  // The order of the history: first-generation VT-x (2006, shadow paging), VT-x with EPT
  // (2008), first-generation AMD-V (2006, shadow paging), AMD-V with nested paging (2007).
  { label: "vtx-shadow", mode: "vtx", cpu: "core-duo", paging: "shadow", bareCpu: "core-duo,-apic,-vmx", bareLabel: "core-duo" },
  { label: "vtx+EPT", mode: "vtx", cpu: "nehalem", paging: "nested", bareCpu: "nehalem,-apic,-vmx,-ept,-vpid,-vmxPreemptionTimer", bareLabel: "nehalem" },
  { label: "svm-shadow", mode: "svm", cpu: "athlon64-revf", paging: "shadow", bareCpu: "athlon64-revf,-apic,-svm", bareLabel: "athlon64-revf" },
  { label: "svm+NPT", mode: "svm", cpu: "barcelona", paging: "nested", bareCpu: "barcelona,-apic,-svm,-npt", bareLabel: "barcelona" },
];
