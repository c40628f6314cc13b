// Runs the red-pill guest under every mode and CPU variant and builds the report: for each
// probe and guest privilege level, what the reference (bare, standard CPU) saw and how
// every other configuration compares. Modes this build cannot run yet stay in the report
// as unavailable columns, so the table fills in as the monitor lands.
//
// A hardware-assisted monitor's guest sees another CPU model (columns.ts: the machine's
// model without the virtualization extension, nested paging and the local APIC), so its
// column is compared with a bare column on that CPU, not with bare/standard: CPUID alone
// would tell them apart otherwise, and that is the model, not the monitor.

import { HW_COLUMNS } from "../columns.js";
import { COLUMNS_64, type Refusal, type RefusalProbe } from "../columns64.js";
import { availableModes, runLabGuest, type LabCpu, type LabMode, type LabProtect, type LabRunOptions, type LabRunResult } from "../guest-runner.js";
import { CPLS, PROBES, type Cpl, type ProbeInfo } from "./probes.js";
import { PROBES_64 } from "./probes64.js";
import { observationKey, parseRedpill, type GuestLog, type Observation } from "./parse.js";
import { classify, type Classification } from "./classify.js";

export const REDPILL_MODES: readonly LabMode[] = ["bare", "trap", "bt"];
export const REDPILL_CPUS: readonly LabCpu[] = ["standard", "strict"];

/** The first configuration compared with itself: what every other column defaults to. */
export const REDPILL_REFERENCE = "bare/standard";

/** A column of the report: a configuration and the one it is compared with. */
export interface RedpillColumn {
  mode: LabMode;
  cpu: LabCpu;
  paging?: "nested" | "shadow";
  protect?: LabProtect;
  name: string;
  /** The column it is compared with (its own name: a reference column). */
  compare: string;
}

/** The 64-bit guest's reference: the first bare column of COLUMNS_64. */
export const REDPILL64_REFERENCE = `bare/${COLUMNS_64[0].bareLabel}`;

/**
 * The 64-bit columns (columns64.ts): for each configuration its fair bare machine (a
 * reference column, once) and the configuration compared with it.
 */
export function redpillColumns64(cols = COLUMNS_64): RedpillColumn[] {
  const out: RedpillColumn[] = [];
  for (const c of cols) {
    const bare = `bare/${c.bareLabel}`;
    if (!out.some((x) => x.name === bare)) out.push({ mode: "bare", cpu: c.bareCpu, name: bare, compare: bare });
    out.push({ mode: c.mode, cpu: c.cpu, paging: c.paging, protect: c.protect, name: `${c.label}/${c.bareLabel}`, compare: bare });
  }
  return out;
}

/**
 * Every mode × CPU variant of the classic monitors, then for each hardware-assisted column
 * its fair bare machine (a reference column) and the monitor itself compared with it.
 */
export function redpillColumns(modes: readonly LabMode[] = REDPILL_MODES, cpus: readonly LabCpu[] = REDPILL_CPUS, hw = HW_COLUMNS): RedpillColumn[] {
  const out: RedpillColumn[] = [];
  for (const mode of modes) for (const cpu of cpus) out.push({ mode, cpu, name: `${mode}/${cpu}`, compare: REDPILL_REFERENCE });
  for (const h of hw) {
    const bare = `bare/${h.bareLabel}`;
    if (!out.some((c) => c.name === bare)) out.push({ mode: "bare", cpu: h.bareCpu, name: bare, compare: bare });
    out.push({ mode: h.mode, cpu: h.cpu, paging: h.paging, name: `${h.label}/${h.bareLabel}`, compare: bare });
  }
  if (out.some((c) => c.name === REDPILL_REFERENCE)) out.find((c) => c.name === REDPILL_REFERENCE)!.compare = REDPILL_REFERENCE;
  return out;
}

export interface ConfigRun {
  mode: LabMode;
  cpu: LabCpu;
  /** `mode/cpu`, the column name. */
  name: string;
  /** The configuration it is compared with (default bare/standard; its own name for a reference column). */
  compare?: string;
  available: boolean;
  /** The run failed (the monitor refused the guest or stopped): the message, in place of `run`. */
  error?: string;
  /** The CLI refused the configuration when really tried (columns64.ts): its code, status, message; `run` is null. */
  refused?: Refusal;
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
  /** The configuration is a reference column: the result is its own observation, compared with nothing. */
  reference?: boolean;
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
  /** 32 or 64: which guest (guests/redpill or guests/redpill64). */
  bits: 32 | 64;
  configs: ConfigRun[];
  rows: Row[];
}

/** The name of the configuration `c` is compared with. */
export function comparedWith(c: ConfigRun, reference = REDPILL_REFERENCE): string {
  return c.compare ?? reference;
}

/** True for the reference columns (bare/standard, and the bare machines of hardware-assisted columns). */
export function isReferenceColumn(report: RedpillReport, name: string): boolean {
  const c = report.configs.find((x) => x.name === name);
  return name === report.reference || (c !== undefined && comparedWith(c, report.reference) === name);
}

/**
 * Builds the report from runs already made: each configuration is compared with the one
 * it names (bare/standard unless it says otherwise); `reference` in a row is bare/standard's.
 */
export function buildReport(configs: ConfigRun[], bits: 32 | 64 = 32): RedpillReport {
  const reference = bits === 64 ? REDPILL64_REFERENCE : REDPILL_REFERENCE;
  const comparedWith = (c: ConfigRun) => c.compare ?? reference;
  const logOf = (name: string) => configs.find((c) => c.name === name && c.run !== null)?.run?.log;
  const refLog = logOf(reference);
  const rows: Row[] = [];
  for (const probe of bits === 64 ? PROBES_64 : PROBES) {
    for (const cpl of CPLS) {
      const key = observationKey(probe.name, cpl);
      const ref = refLog?.observations.get(key);
      const cells: Cell[] = configs.map((c) => {
        const own = comparedWith(c) === c.name || c.name === reference;
        if (c.run === null) return { config: c.name, ...(own ? { reference: true } : {}), result: null };
        const observed = c.run.log.observations.get(key);
        const against = own ? observed : logOf(comparedWith(c))?.observations.get(key);
        return { config: c.name, ...(own ? { reference: true } : {}), result: { ...classify(probe, cpl, against, observed), observed: observed ?? null } };
      });
      rows.push({ probe, cpl, reference: ref ?? null, cells });
    }
  }
  return { reference, bits, configs, rows };
}

export interface RedpillOptions {
  /** The columns (default redpillColumns(modes, cpus)). */
  columns?: readonly RedpillColumn[];
  modes?: readonly LabMode[];
  cpus?: readonly LabCpu[];
  /** Instruction budget per run (the guest needs about 150 000). */
  maxInstructions?: number;
  /** For tests: run the guest some other way. */
  runner?: (image: Uint8Array, opts: LabRunOptions) => LabRunResult;
  /** For tests: which modes count as available. */
  available?: readonly LabMode[];
  /** 64: the 64-bit guest's probes and reference (default 32). */
  bits?: 32 | 64;
  /** Asks the CLI whether it runs a monitored column (columns64.ts); a refusal replaces the run. */
  refusal?: RefusalProbe;
}

export function runRedpill(image: Uint8Array, opts: RedpillOptions = {}): RedpillReport {
  const available = opts.available ?? availableModes();
  const runner = opts.runner ?? runLabGuest;
  const configs: ConfigRun[] = [];
  const bits = opts.bits ?? 32;
  for (const col of opts.columns ?? (bits === 64 ? redpillColumns64() : redpillColumns(opts.modes, opts.cpus))) {
    const { mode, cpu, name, compare } = col;
    if (!available.includes(mode)) { configs.push({ mode, cpu, name, compare, available: false, run: null }); continue; }
    const refused = mode === "bare" ? null : opts.refusal?.(col) ?? null;
    if (refused !== null) { configs.push({ mode, cpu, name, compare, available: true, refused, run: null }); continue; }
    let r: LabRunResult;
    try {
      r = runner(image, { mode, cpu, paging: col.paging, protect: col.protect, maxInstructions: opts.maxInstructions ?? 20_000_000 });
    } catch (e) {
      configs.push({ mode, cpu, name, compare, available: true, error: e instanceof Error ? e.message : String(e), run: null });
      continue;
    }
    configs.push({
      mode, cpu, name, compare, available: true,
      run: { end: r.end, instructions: r.instructions, hostMs: r.hostMs, integrity: r.integrity, log: parseRedpill(r.serial) },
    });
  }
  return buildReport(configs, bits);
}
