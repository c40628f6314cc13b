// Reads the red-pill guest's serial output: one `RP <probe> cpl=<0|3> ...` line per probe
// and privilege level, framed by `RP-BEGIN` and `RP-END` (or `RP-ABORT` when a fault hit
// the guest outside any probe). Anything else on the line before `RP` (a firmware banner)
// and every other line is ignored.

import type { Cpl } from "./probes.js";

export interface Fault {
  vector: number;
  errorCode: number;
}

/** What one probe reported at one privilege level: its values, or the exception it raised. */
export interface Observation {
  probe: string;
  cpl: Cpl;
  fault: Fault | null;
  /** Key → value as printed ("0x00180000", "1", "-" for absent, "GenuineIntel"). */
  values: Record<string, string>;
}

export interface GuestLog {
  /** `${probe}/${cpl}` → observation. */
  observations: Map<string, Observation>;
  begun: boolean;
  /** The guest printed RP-END: every probe finished. */
  ended: boolean;
  /** The RP-ABORT line, if the guest gave up. */
  abort: string | null;
  /** Lines that started with `RP ` but could not be read. */
  malformed: string[];
}

export function observationKey(probe: string, cpl: Cpl): string {
  return `${probe}/${cpl}`;
}

const LINE = /RP(-BEGIN|-END|-ABORT)?(?: (.*))?$/;

export function parseRedpill(serial: string): GuestLog {
  const log: GuestLog = { observations: new Map(), begun: false, ended: false, abort: null, malformed: [] };
  for (const raw of serial.split("\n")) {
    const line = raw.replace(/\r$/, "");
    const at = line.search(/RP(-BEGIN|-END|-ABORT| )/);
    if (at < 0) continue;
    const m = LINE.exec(line.slice(at));
    if (!m) continue;
    const [, tag, rest = ""] = m;
    if (tag === "-BEGIN") { log.begun = true; continue; }
    if (tag === "-END") { log.ended = true; continue; }
    if (tag === "-ABORT") { log.abort = rest; continue; }
    const obs = parseProbeLine(rest);
    if (obs === null) log.malformed.push(line);
    else log.observations.set(observationKey(obs.probe, obs.cpl), obs);
  }
  return log;
}

function parseProbeLine(rest: string): Observation | null {
  const [probe, ...fields] = rest.trim().split(/\s+/);
  if (!probe) return null;
  const values: Record<string, string> = {};
  for (const f of fields) {
    const eq = f.indexOf("=");
    if (eq <= 0) return null;
    values[f.slice(0, eq)] = f.slice(eq + 1);
  }
  const cpl = values.cpl;
  if (cpl !== "0" && cpl !== "3") return null;
  delete values.cpl;
  let fault: Fault | null = null;
  if (values.fault !== undefined) {
    const vector = Number(values.fault);
    const errorCode = Number(values.err ?? "0");
    if (!Number.isInteger(vector) || !Number.isInteger(errorCode)) return null;
    fault = { vector, errorCode };
    delete values.fault;
    delete values.err;
  }
  return { probe, cpl: cpl === "0" ? 0 : 3, fault, values };
}
