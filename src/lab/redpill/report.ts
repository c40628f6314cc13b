// Runs the red-pill guest under every mode and CPU variant and builds the report: for each
// probe and guest privilege level, what the reference (bare, standard CPU) saw and how
// every other configuration compares. Modes this build cannot run yet stay in the report
// as unavailable columns, so the table fills in as the monitor lands.

import { availableModes, runLabGuest, type LabCpu, type LabMode, type LabRunOptions, type LabRunResult } from "../guest-runner.js";
import { CPLS, PROBES, type Cpl, type ProbeInfo } from "./probes.js";
import { observationKey, parseRedpill, type GuestLog, type Observation } from "./parse.js";
import { classify, type Classification } from "./classify.js";

export const REDPILL_MODES: readonly LabMode[] = ["bare", "trap", "bt"];
export const REDPILL_CPUS: readonly LabCpu[] = ["standard", "strict"];

export interface ConfigRun {
  mode: LabMode;
  cpu: LabCpu;
  /** `mode/cpu`, the column name. */
  name: string;
  available: boolean;
  /** Only for available configurations. */
  run: {
    end: LabRunResult["end"];
    instructions: number;
    hostMs: number;
    integrity: LabRunResult["integrity"];
    log: GuestLog;
  } | null;
}

export interface Cell {
  config: string;
  /** null where the configuration is not available. */
  result: (Classification & { observed: Observation | null }) | null;
}

export interface Row {
  probe: ProbeInfo;
  cpl: Cpl;
  reference: Observation | null;
  cells: Cell[];
}

export interface RedpillReport {
  reference: string;
  configs: ConfigRun[];
  rows: Row[];
}

/** Builds the report from runs already made; the first available configuration named `bare/standard` is the reference. */
export function buildReport(configs: ConfigRun[]): RedpillReport {
  const ref = configs.find((c) => c.name === "bare/standard" && c.run !== null);
  const refLog = ref?.run?.log;
  const rows: Row[] = [];
  for (const probe of PROBES) {
    for (const cpl of CPLS) {
      const key = observationKey(probe.name, cpl);
      const reference = refLog?.observations.get(key);
      const cells: Cell[] = configs.map((c) => {
        if (c.run === null) return { config: c.name, result: null };
        const observed = c.run.log.observations.get(key);
        return { config: c.name, result: { ...classify(probe, cpl, reference, observed), observed: observed ?? null } };
      });
      rows.push({ probe, cpl, reference: reference ?? null, cells });
    }
  }
  return { reference: "bare/standard", configs, rows };
}

export interface RedpillOptions {
  modes?: readonly LabMode[];
  cpus?: readonly LabCpu[];
  /** Instruction budget per run (the guest needs about 150 000). */
  maxInstructions?: number;
  /** For tests: run the guest some other way. */
  runner?: (image: Uint8Array, opts: LabRunOptions) => LabRunResult;
  /** For tests: which modes count as available. */
  available?: readonly LabMode[];
}

export function runRedpill(image: Uint8Array, opts: RedpillOptions = {}): RedpillReport {
  const available = opts.available ?? availableModes();
  const runner = opts.runner ?? runLabGuest;
  const configs: ConfigRun[] = [];
  for (const mode of opts.modes ?? REDPILL_MODES) {
    for (const cpu of opts.cpus ?? REDPILL_CPUS) {
      const name = `${mode}/${cpu}`;
      if (!available.includes(mode)) { configs.push({ mode, cpu, name, available: false, run: null }); continue; }
      const r = runner(image, { mode, cpu, maxInstructions: opts.maxInstructions ?? 20_000_000 });
      configs.push({
        mode, cpu, name, available: true,
        run: { end: r.end, instructions: r.instructions, hostMs: r.hostMs, integrity: r.integrity, log: parseRedpill(r.serial) },
      });
    }
  }
  return buildReport(configs);
}
