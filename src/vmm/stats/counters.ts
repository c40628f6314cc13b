// The monitor's counters: every trap, callout, hidden fault, shadow sync, page-table write,
// translation, invalidation and emulated instruction, by reason (DESIGN.md §3 "Counters").
// Names are dotted: the first part is the group ("trap", "emulate", "pf", "shadow", "irq",
// "bt", "desc"), the rest the reason.

/** One counter's value, held in the map by reference: an increment is one look-up. */
export class Cell {
  n = 0;
}

export class Counters {
  private readonly map = new Map<string, Cell>();
  /** Counts kept elsewhere (in memory compiled code writes), added to their cells when read. */
  private readonly sources = new Map<string, () => number>();

  inc(name: string, by = 1): void {
    this.cell(name).n += by;
  }

  /** Add what `read` returns to counter `name` whenever it is read (a count compiled code keeps). */
  source(name: string, read: () => number): void {
    this.cell(name);
    this.sources.set(name, read);
  }

  private value(name: string, c: Cell): number {
    const read = this.sources.get(name);
    return read === undefined ? c.n : c.n + read();
  }

  /** The counter `name` itself, for a path that counts millions of times (`cell.n++`). */
  cell(name: string): Cell {
    let c = this.map.get(name);
    if (c === undefined) { c = new Cell(); this.map.set(name, c); }
    return c;
  }

  get(name: string): number {
    const c = this.map.get(name);
    return c === undefined ? 0 : this.value(name, c);
  }

  /** All counters, sorted by name. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of [...this.map.keys()].sort()) out[k] = this.value(k, this.map.get(k)!);
    return out;
  }

  /** Group totals: the sum of the counters under each first name part. */
  groups(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, c] of this.map) {
      const g = k.split(".")[0];
      out[g] = (out[g] ?? 0) + this.value(k, c);
    }
    return out;
  }
}

/** A terminal table of counters, grouped, largest first within a group. */
export function formatCounters(c: Record<string, number>): string {
  const byGroup = new Map<string, [string, number][]>();
  for (const [k, v] of Object.entries(c)) {
    const g = k.split(".")[0];
    if (!byGroup.has(g)) byGroup.set(g, []);
    byGroup.get(g)!.push([k, v]);
  }
  const width = Math.max(10, ...Object.keys(c).map((k) => k.length));
  const lines: string[] = [];
  for (const g of [...byGroup.keys()].sort()) {
    const rows = byGroup.get(g)!.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    for (const [k, v] of rows) lines.push(`  ${k.padEnd(width)}  ${String(v).padStart(12)}`);
  }
  return lines.join("\n") + "\n";
}
