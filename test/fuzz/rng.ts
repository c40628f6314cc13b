// A small seeded generator (xorshift32) for the fuzzers: the same seed, the same case.

export class Rng {
  private s: number;
  constructor(seed: number) { this.s = (seed >>> 0) || 0x9e3779b9; }
  next(): number {
    let x = this.s;
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    this.s = x;
    return x;
  }
  /** An integer in [0, n). */
  int(n: number): number { return this.next() % n; }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]; }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let k = 0; k < n; k++) b[k] = this.next() & 0xff;
    return b;
  }
}
