// The micro-benchmarks of guests/microbench and the machine configurations they are
// compared on. The operations follow Adams and Agesen, "A Comparison of Software and
// Hardware Techniques for x86 Virtualization" (ASPLOS 2006, §6.1), plus SYSENTER, a CR3
// switch and a forkwait-like loop (their §6.2 macro-benchmark, shrunk to one kernel).

import type { LabCpu, LabMode, LabProtect } from "../guest-runner.js";
import { HW_COLUMNS } from "../columns.js";
import { COLUMNS_64 } from "../columns64.js";

export interface Benchmark {
  /** The guest's name for it (bench=NAME on its command line, `MB NAME` in its output). */
  name: string;
  /** Iterations the guest runs when no iters= is given (kernel.c, table `benches`). */
  defaultIters: number;
  /** Where the operation runs in the guest: ring 3 (a user loop) or ring 0. */
  ring: 0 | 3;
  /** One operation, in a few words. */
  op: string;
}

export const BENCHMARKS: readonly Benchmark[] = [
  { name: "syscall", defaultIters: 20_000, ring: 3, op: "null system call: int 0x80 to a DPL-3 gate, iret back" },
  { name: "sysenter", defaultIters: 40_000, ring: 3, op: "null system call: SYSENTER, SYSEXIT back" },
  { name: "in", defaultIters: 100_000, ring: 0, op: "I/O port read: inb from port 0x61 (system control port B)" },
  { name: "cr3", defaultIters: 200_000, ring: 0, op: "address-space switch: mov to CR3, alternating two page directories" },
  { name: "callret", defaultIters: 200_000, ring: 0, op: "near call to a function that only returns" },
  { name: "pgfault", defaultIters: 20_000, ring: 3, op: "page fault on a never-mapped page; the guest's handler steps over the load" },
  { name: "divzero", defaultIters: 20_000, ring: 3, op: "divide by zero; the guest's #DE handler steps over the DIV" },
  { name: "ptemod", defaultIters: 100_000, ring: 0, op: "PTE write, INVLPG, one read through the new mapping" },
  { name: "forkwait", defaultIters: 2_000, ring: 0, op: "build an address space (16 pages), switch to it, ring-3 child touches every page and exits, switch back, tear down" },
];

export function benchmarkNamed(name: string): Benchmark | undefined {
  return BENCHMARKS.find((b) => b.name === name);
}

export interface MachineConfig {
  /** How the table names it: the `vmm86 run` flags that select it. */
  label: string;
  mode: LabMode;
  cpu: LabCpu;
  /** A hardware-assisted monitor's paging (columns.ts). */
  paging?: "nested" | "shadow";
  /** The classic monitor's --protect (columns64.ts). */
  protect?: LabProtect;
}

/** guests/microbench64: the same operations in 64-bit mode, SYSCALL/SYSRETQ beside INT/IRETQ (no SYSENTER, no forkwait). */
export const BENCHMARKS_64: readonly Benchmark[] = [
  { name: "syscall", defaultIters: 20_000, ring: 3, op: "null system call: SYSCALL, SYSRETQ back" },
  { name: "int80", defaultIters: 20_000, ring: 3, op: "null system call: int 0x80 to a DPL-3 gate, IRETQ back" },
  { name: "in", defaultIters: 100_000, ring: 0, op: "I/O port read: inb from port 0x61" },
  { name: "cr3", defaultIters: 200_000, ring: 0, op: "address-space switch: mov to CR3, alternating two PML4s" },
  { name: "callret", defaultIters: 200_000, ring: 0, op: "near call to a function that only returns" },
  { name: "pgfault", defaultIters: 20_000, ring: 3, op: "page fault on a never-mapped page; the handler steps over the load" },
  { name: "divzero", defaultIters: 20_000, ring: 3, op: "divide by zero; the #DE handler steps over the DIV" },
  { name: "ptemod", defaultIters: 100_000, ring: 0, op: "PTE write, INVLPG, one read through the new mapping" },
];

/** The 64-bit columns: bare nehalem, then every configuration of columns64.ts. */
export const CONFIGS_64: readonly MachineConfig[] = [
  { label: "bare", mode: "bare", cpu: "nehalem" },
  ...COLUMNS_64.map((c): MachineConfig => ({ label: c.label, mode: c.mode, cpu: c.cpu, paging: c.paging, protect: c.protect })),
];

/**
 * Bare is first: the others are reported as ratios to it. Then the classic monitors, then
 * one column per hardware-assisted monitor (columns.ts), so bt and svm+NPT sit side by
 * side as in Adams and Agesen's figures.
 */
export const CONFIGS: readonly MachineConfig[] = [
  { label: "bare", mode: "bare", cpu: "standard" },
  { label: "trap --cpu strict", mode: "trap", cpu: "strict" },
  { label: "bt", mode: "bt", cpu: "standard" },
  ...HW_COLUMNS.map((h): MachineConfig => ({ label: h.label, mode: h.mode, cpu: h.cpu, paging: h.paging })),
];

