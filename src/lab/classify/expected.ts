// What the classification should find, written by hand from the seed (Hennessy & Patterson's
// summary of Robin and Irvine 2000, seeds/002_*) and the Intel SDM — never from the
// program's own output. The engine's result is compared with this.

import { classifyModel, type ClassifyOptions } from "./engine.js";

/** The seed's 18 instructions, in its order, named as this table's rows. */
export const SEED_ROWS: readonly { row: string; group: "reads privileged registers" | "protection checks" }[] = [
  { row: "SGDT", group: "reads privileged registers" },
  { row: "SLDT", group: "reads privileged registers" },
  { row: "SIDT", group: "reads privileged registers" },
  { row: "SMSW", group: "reads privileged registers" },
  { row: "PUSHF", group: "reads privileged registers" },
  { row: "POPF", group: "reads privileged registers" },
  { row: "LAR", group: "protection checks" },
  { row: "LSL", group: "protection checks" },
  { row: "VERR", group: "protection checks" },
  { row: "VERW", group: "protection checks" },
  { row: "POP Sreg", group: "protection checks" },
  { row: "PUSH Sreg", group: "protection checks" },
  { row: "CALL far", group: "protection checks" },
  { row: "RET far", group: "protection checks" },
  { row: "JMP far", group: "protection checks" },
  { row: "INT", group: "protection checks" },
  { row: "STR", group: "protection checks" },
  { row: "MOV Sreg", group: "protection checks" },
];

/** Rows the i686 model adds to the seed's list on the standard CPU, and why (SDM vol. 2 pages). */
export const ADDED_ON_STANDARD: readonly { row: string; why: string }[] = [
  {
    row: "IRET",
    why: "not a row of the seed's table, but it is RET far and POPF in one instruction: it returns to " +
      "another privilege level, and at CPL > 0 it keeps IF and IOPL without a fault (SDM \"IRET\")",
  },
  {
    row: "LSS",
    why: "loads SS with the checks of MOV SS and POP SS (RPL = DPL = CPL, SDM \"LDS/LES/LFS/LGS/LSS\"), " +
      "so a user SS selector loads at CPL 3 but faults at CPL 0; the seed's list names only MOV and POP",
  },
  {
    row: "SYSENTER",
    why: "enters CPL 0 at an address from MSRs without a fault, as INT n does through the IDT; it " +
      "appeared with the Pentium II, after the Pentium that Robin and Irvine examined (SDM \"SYSENTER\")",
  },
];

/** The five store instructions CR4.UMIP makes fault at CPL > 0 (SDM vol. 3 §2.5, "UMIP"). */
export const UMIP_STORES: readonly string[] = ["SGDT", "SIDT", "SLDT", "SMSW", "STR"];


/** The expected set of sensitive, unprivileged rows for a configuration. */
export function expectedRows(opts: ClassifyOptions): Set<string> {
  if (classifyModel(opts).features.strict) return new Set();
  const rows = new Set([...SEED_ROWS.map((r) => r.row), ...ADDED_ON_STANDARD.map((r) => r.row)]);
  if (opts.umip) for (const r of UMIP_STORES) rows.delete(r);
  return rows;
}

/** Why a row is (or is not) in the expected set for a configuration, for the output. */
export function explain(row: string, opts: ClassifyOptions, found: boolean): string {
  const seed = SEED_ROWS.some((r) => r.row === row);
  const added = ADDED_ON_STANDARD.find((r) => r.row === row);
  if (classifyModel(opts).features.strict) {
    if (!found) return "";
    return "not trapped by the strict CPU (unexpected)";
  }
  if (opts.umip && UMIP_STORES.includes(row)) return found ? "CR4.UMIP should make it fault at CPL > 0 (unexpected)" : "CR4.UMIP: faults at CPL > 0";
  if (added !== undefined) return `not in the seed: ${added.why}`;
  if (seed) return found ? "" : "in the seed but not found (unexpected)";
  return found ? "not in the seed, found by the experiment (unexpected)" : "";
}
