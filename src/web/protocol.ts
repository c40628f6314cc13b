// The messages between the page and the worker that runs the machine (docs/web.md).

import type { Sample } from "./session.js";
import type { LabMode } from "../lab/guest-runner.js";
import type { Protection } from "../vmm/protection.js";

/** The monitor's counter groups the chart shows, in its legend's order. */
export const COUNTER_GROUPS = ["trap", "exit", "emulate", "pf", "shadow", "irq", "bt", "desc"] as const;

/** What `vmm86 web` serves at linux/index.json: the fetched Linux guests. */
export interface LinuxIndexEntry {
  name: string;
  release: string;
  cmdline: string;
}

export type LabName = "redpill" | "escape" | "microbench" | "classify";

/**
 * A guest to boot: a multiboot image (the demo, the echo guest, the lab guests), or a Linux
 * kernel (`image`, a bzImage) with its initrd.
 */
export interface StartRequest {
  type: "start";
  guest: string;
  kind: "multiboot" | "linux";
  image: Uint8Array;
  initrd?: Uint8Array;
  mode: LabMode;
  cpu: string;
  protect: Protection;
  /** Under vtx and svm: EPT/NPT ("nested") or shadow page tables, as `vmm86 run --paging`. */
  paging: "nested" | "shadow";
  /** Guest RAM in MiB and the multiboot command line (as `vmm86 run` passes them). */
  ramMiB: number;
  cmdline: string;
}

export type ToWorker =
  | StartRequest
  | { type: "pause" }
  | { type: "resume" }
  | { type: "stop" }
  | { type: "snapshot" }
  | { type: "input"; bytes: Uint8Array }
  | { type: "lab"; lab: LabName; image: Uint8Array | null; cpu: string };

export type FromWorker =
  | { type: "serial"; bytes: Uint8Array }
  | { type: "sample"; sample: Sample }
  /** `run`: when the guest ended, its guest instructions and the host ms it ran (MIPS). */
  | { type: "state"; state: "running" | "paused" | "idle" | "ended" | "stopped"; detail: string; run?: { instructions: number; hostMs: number } }
  | { type: "snapshot"; detail: string }
  | { type: "lab"; lab: LabName; markdown: string; json: string; hostMs: number }
  | { type: "error"; message: string };
