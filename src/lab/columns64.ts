// The monitor configurations the 64-bit lab (redpill64, escape64, microbench64, `vmm86
// history`) runs its guests under: one line per column. A configuration that does not
// exist yet is still a line: the lab really tries it through `vmm86 run` (src/cli/
// lab-try.ts) and shows it as refused with the CLI's own error code (E_USAGE for a flag
// value this build does not know, E_MONITOR_UNSUPPORTED for a monitor that declines a
// 64-bit guest), so the table fills in as the monitors learn long mode.

import type { LabCpu, LabMode, LabProtect } from "./guest-runner.js";

export interface Column64 {
  /** The column heading: the technique and how guest page tables are handled. */
  label: string;
  mode: LabMode;
  /** The machine's `--cpu`: a model with long mode (and the extension the monitor needs). */
  cpu: LabCpu;
  /** `--paging` of a hardware-assisted monitor. */
  paging?: "nested" | "shadow";
  /** `--protect` of the classic monitor. */
  protect?: LabProtect;
  /** The bare machine that is the fair comparison: the CPU the guest sees under this monitor. */
  bareCpu: LabCpu;
  /** A short name for bareCpu in headings. */
  bareLabel: string;
}

const NEHALEM_GUEST = "nehalem,-apic,-vmx,-ept,-vpid,-vmxPreemptionTimer";

const CORE2_GUEST = "core2,-apic";

export const COLUMNS_64: readonly Column64[] = [
  // The classic monitor (binary translation, the guest kernel deprivileged) on 64-bit parts
  // without a virtualization extension in use, with each way of guarding its region
  // (docs/long-mode-monitor.md): segment limits where EFER.LMSLE brings them back (AMD
  // revision E), forced without it (revision C, --unsafe-protect: the hole VMware would not
  // ship), refused where Intel never had them (core2), the Xen-style two tables, and page
  // permissions alone.
  { label: "bt/segments", mode: "bt", cpu: "athlon64-reve", protect: "segments", bareCpu: "athlon64-reve,-apic", bareLabel: "athlon64-reve" },
  { label: "bt/segments-unsafe", mode: "bt", cpu: "athlon64-revc", protect: "segments-unsafe", bareCpu: "athlon64-revc,-apic", bareLabel: "athlon64-revc" },
  { label: "bt/segments-core2", mode: "bt", cpu: "core2", protect: "segments", bareCpu: CORE2_GUEST, bareLabel: "core2" },
  { label: "bt/two-tables", mode: "bt", cpu: "core2", protect: "two-tables", bareCpu: CORE2_GUEST, bareLabel: "core2" },
  { label: "bt/paging-only", mode: "bt", cpu: "core2", protect: "paging-only", bareCpu: CORE2_GUEST, bareLabel: "core2" },
  // Hardware assist: shadow page tables (4-level), then nested paging.
  { label: "vtx-shadow", mode: "vtx", cpu: "nehalem", paging: "shadow", bareCpu: NEHALEM_GUEST, bareLabel: "nehalem" },
  { label: "vtx+EPT", mode: "vtx", cpu: "nehalem", paging: "nested", bareCpu: NEHALEM_GUEST, bareLabel: "nehalem" },
  { label: "svm-shadow", mode: "svm", cpu: "athlon64-revf", paging: "shadow", bareCpu: "athlon64-revf,-apic,-svm", bareLabel: "athlon64-revf" },
  { label: "svm+NPT", mode: "svm", cpu: "barcelona", paging: "nested", bareCpu: "barcelona,-apic,-svm,-npt", bareLabel: "barcelona" },
];

/** Why the CLI would not run a configuration: its error code, exit status and message. */
export interface Refusal {
  code: string;
  exitCode: number;
  message: string;
}

/** Asks the CLI whether it runs `col` with a guest (really trying it): null if it does. */
export type RefusalProbe = (col: { mode: LabMode; cpu: LabCpu; paging?: "nested" | "shadow"; protect?: LabProtect }) => Refusal | null;

/** The `vmm86 run` flags that select a column's configuration. */
export function columnFlags(col: { mode: LabMode; cpu: LabCpu; paging?: "nested" | "shadow"; protect?: LabProtect }): string[] {
  return ["--mode", col.mode, "--cpu", col.cpu,
    ...(col.paging !== undefined ? ["--paging", col.paging] : []),
    ...(col.protect === "segments-unsafe" ? ["--protect", "segments", "--unsafe-protect"] : col.protect !== undefined ? ["--protect", col.protect] : [])];
}
