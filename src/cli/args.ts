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

/** Parse a number flag: decimal or 0x-hex, within [min, max]. */
export function numberFlag(p: Parsed, name: string, min: number, max: number): number | undefined {
  const v = p.flags.get(name);
  if (v === undefined) return undefined;
  if (v === true || !/^(0x[0-9a-f]+|[0-9]+(\.[0-9]+)?)$/i.test(v)) throw usageError(`--${name} wants a number, got '${String(v)}'`);
  const n = Number(v);
  if (!(n >= min && n <= max)) throw usageError(`--${name} must be between ${min} and ${max}`);
  return n;
}
