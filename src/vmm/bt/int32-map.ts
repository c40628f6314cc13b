// A hash map from int32 keys to non-zero int32 values in two typed arrays: open addressing
// with linear probing, deletion by shifting the following entries back (no tombstones),
// doubled at half full. The translator's entry points (a quarter of a million on a Linux
// boot) were a Map: looking one up cost a cache miss or more per probe of its chains, and
// each doubling of its table was a large allocation for the garbage collector to copy.

export class Int32Map {
  private keys: Int32Array;
  /** 0 marks an empty slot: no value is 0. */
  private vals: Int32Array;
  private shift: number;
  private mask: number;
  size = 0;

  constructor(bits = 12) {
    this.keys = new Int32Array(1 << bits);
    this.vals = new Int32Array(1 << bits);
    this.shift = 32 - bits;
    this.mask = (1 << bits) - 1;
  }

  private slot(k: number): number { return Math.imul(k, 0x9e3779b1 | 0) >>> this.shift; }

  /** The value under `k` (int32 bits), 0 for none. */
  get(k: number): number {
    const keys = this.keys, vals = this.vals, mask = this.mask;
    for (let i = this.slot(k); ; i = (i + 1) & mask) {
      const v = vals[i];
      if (v === 0) return 0;
      if (keys[i] === k) return v;
    }
  }

  has(k: number): boolean { return this.get(k) !== 0; }

  /** Sets `k` to `v` (not 0). */
  set(k: number, v: number): void {
    if (v === 0) throw new RangeError("Int32Map: 0 is not a value");
    const keys = this.keys, vals = this.vals, mask = this.mask;
    for (let i = this.slot(k); ; i = (i + 1) & mask) {
      if (vals[i] === 0) {
        keys[i] = k; vals[i] = v;
        if (++this.size * 2 > mask + 1) this.grow();
        return;
      }
      if (keys[i] === k) { vals[i] = v; return; }
    }
  }

  delete(k: number): void {
    const keys = this.keys, vals = this.vals, mask = this.mask;
    let i = this.slot(k);
    for (; ; i = (i + 1) & mask) {
      if (vals[i] === 0) return;
      if (keys[i] === k) break;
    }
    // Shift back each later entry of the run that may not stay behind the hole (its home
    // slot is not cyclically in (hole, j]).
    let hole = i;
    for (let j = (i + 1) & mask; vals[j] !== 0; j = (j + 1) & mask) {
      const home = this.slot(keys[j]);
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        keys[hole] = keys[j]; vals[hole] = vals[j];
        hole = j;
      }
    }
    vals[hole] = 0;
    this.size--;
  }

  clear(): void { this.vals.fill(0); this.size = 0; }

  private grow(): void {
    const keys = this.keys, vals = this.vals;
    const bits = 33 - this.shift;
    this.keys = new Int32Array(1 << bits);
    this.vals = new Int32Array(1 << bits);
    this.shift = 32 - bits;
    this.mask = (1 << bits) - 1;
    this.size = 0;
    for (let i = 0; i < vals.length; i++) if (vals[i] !== 0) this.set(keys[i], vals[i]);
  }
}
