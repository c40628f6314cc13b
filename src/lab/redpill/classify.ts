// Compares what a probe saw under one configuration with what it saw on the reference
// (the bare machine, standard CPU) and names the difference:
//
//   same        the same values, or the same exception
//   faults      an exception where the reference had none
//   leaks       different values, and one of them gives the monitor away: an address in
//               the monitor region, a selector with RPL 1 or 2 or an index the guest did not
//               load, a limit the guest did not set, access rights of a descriptor the
//               guest did not create
//   misbehaves  different otherwise (POPF that does not change IF, a different exception,
//               no exception where the reference had one, another CPUID)
//   missing     no line: the guest stopped before this probe

import { MONITOR_REGION_BASE, type Cpl, type ProbeInfo, type ValueKind } from "./probes.js";
import type { Observation } from "./parse.js";

export type Verdict = "same" | "faults" | "leaks" | "misbehaves" | "missing";

export interface Difference {
  key: string;
  kind: ValueKind | "fault";
  expected: string;
  got: string;
  /** Why this difference reveals the monitor (null if it does not). */
  leak: string | null;
}

export interface Classification {
  verdict: Verdict;
  differences: Difference[];
}

import { VECTOR_NAMES } from "../../hw/cpu/fault.js";
export { VECTOR_NAMES };

export function describeFault(o: Observation): string {
  if (o.fault === null) return "no fault";
  const name = VECTOR_NAMES[o.fault.vector] ?? `vector ${o.fault.vector}`;
  return `${name}(${o.fault.errorCode === 0 ? "0" : "0x" + o.fault.errorCode.toString(16)})`;
}

function parseNumber(s: string): number | null {
  if (/^0x[0-9a-f]+$/i.test(s)) return Number.parseInt(s.slice(2), 16);
  if (/^[0-9]+$/.test(s)) return Number(s);
  return null;
}

/** Why `got` (differing from `expected`) reveals a monitor, or null. */
export function leakReason(kind: ValueKind, expected: string, got: string, guestCpl: Cpl): string | null {
  const g = parseNumber(got);
  switch (kind) {
    case "address":
      return g !== null && g >= MONITOR_REGION_BASE ? `0x${g.toString(16)} lies in the monitor region` : null;
    case "limit":
      return "not the limit the guest set";
    case "rights":
      return "not a descriptor the guest created";
    case "selector": {
      if (g === null) return null;
      const rpl = g & 3;
      if (rpl === 1 || rpl === 2) return `RPL ${rpl} where the guest runs at CPL ${guestCpl}`;
      const e = parseNumber(expected);
      if (e !== null && (e & ~3) !== (g & ~3)) return "a selector the guest did not load";
      return null;
    }
    default:
      return null;
  }
}

/**
 * Classifies `observed` against `reference` for one probe at one guest privilege level.
 * Either may be undefined when the guest stopped early.
 */
export function classify(probe: ProbeInfo, cpl: Cpl, reference: Observation | undefined, observed: Observation | undefined): Classification {
  if (reference === undefined || observed === undefined) return { verdict: "missing", differences: [] };
  const rf = reference.fault, of = observed.fault;
  if (rf !== null || of !== null) {
    if (rf !== null && of !== null && rf.vector === of.vector && rf.errorCode === of.errorCode) return { verdict: "same", differences: [] };
    const diff: Difference = { key: "fault", kind: "fault", expected: describeFault(reference), got: describeFault(observed), leak: null };
    return { verdict: rf === null ? "faults" : "misbehaves", differences: [diff] };
  }
  const kinds = new Map(probe.keys);
  const keys = [...new Set([...probe.keys.map(([k]) => k), ...Object.keys(reference.values), ...Object.keys(observed.values)])];
  const differences: Difference[] = [];
  for (const key of keys) {
    const expected = reference.values[key] ?? "(none)";
    const got = observed.values[key] ?? "(none)";
    if (expected === got) continue;
    const kind = kinds.get(key) ?? "value";
    differences.push({ key, kind, expected, got, leak: leakReason(kind, expected, got, cpl) });
  }
  if (differences.length === 0) return { verdict: "same", differences };
  return { verdict: differences.some((d) => d.leak !== null) ? "leaks" : "misbehaves", differences };
}
