// A small, strict command-line parser: known flags only, values checked, clear errors.

import { usageError } from "./errors.js";

export interface FlagSpec {
  /** Takes a value (`--flag V` or `--flag=V`). */
  value: boolean;
  /** Other spellings (e.g. QEMU's single-dash forms). */
  aliases?: string[];
}

export interface Parsed {
  flags: Map<string, string | true>;
  positional: string[];
}

export function parseArgs(argv: string[], specs: Record<string, FlagSpec>): Parsed {
  const byName = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) {
    byName.set("--" + name, name);
    for (const a of spec.aliases ?? []) byName.set(a, name);
  }
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (let k = 0; k < argv.length; k++) {
    const arg = argv[k];
    if (!arg.startsWith("-") || arg === "-") { positional.push(arg); continue; }
    const eq = arg.indexOf("=");
    const key = eq > 0 ? arg.slice(0, eq) : arg;
    const name = byName.get(key);
    if (name === undefined) throw usageError(`unknown option ${key}`);
    const spec = specs[name];
    if (spec.value) {
      let v: string | undefined;
      if (eq > 0) v = arg.slice(eq + 1);
      else v = argv[++k];
      if (v === undefined) throw usageError(`option ${key} needs a value`);
      flags.set(name, v);
    } else {
      if (eq > 0) throw usageError(`option ${key} takes no value`);
      flags.set(name, true);
    }
  }
  return { flags, positional };
}

/** How a flag is spelled to the user: `-m`, `--timeout`. */
export function flagName(name: string): string {
  return name.length === 1 ? "-" + name : "--" + name;
}

/** Parse a number flag: decimal or 0x-hex, within [min, max]. */
export function numberFlag(p: Parsed, name: string, min: number, max: number): number | undefined {
  const v = p.flags.get(name);
  if (v === undefined) return undefined;
  if (v === true || !/^(0x[0-9a-f]+|[0-9]+(\.[0-9]+)?)$/i.test(v)) throw usageError(`${flagName(name)} wants a number, got '${String(v)}'`);
  const n = Number(v);
  if (!(n >= min && n <= max)) throw usageError(`${flagName(name)} must be between ${min} and ${max}`);
  return n;
}

/**
 * A memory size in whole MiB, QEMU's way: `128` and `128M` are MiB, `1G` is GiB (also
 * `128MiB`, `1GiB`; lower case accepted). Fractions are refused, whatever the unit.
 */
export function mibFlag(p: Parsed, name: string, min: number, max: number): number | undefined {
  const v = p.flags.get(name);
  if (v === undefined) return undefined;
  const m = v === true ? null : /^([0-9]+)\s*(m|mib|g|gib)?$/i.exec(v);
  if (m === null) throw usageError(`${flagName(name)} wants a whole number of MiB, or a size like 128M or 1G, got '${String(v)}'`);
  const n = Number(m[1]) * (m[2] !== undefined && m[2][0].toLowerCase() === "g" ? 1024 : 1);
  if (!(n >= min && n <= max)) throw usageError(`${flagName(name)} must be between ${min} MiB and ${max} MiB (got ${n} MiB)`);
  return n;
}
