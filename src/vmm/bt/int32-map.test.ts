import { test } from "node:test";
import assert from "node:assert/strict";
import { Int32Map } from "./int32-map.js";

test("Int32Map agrees with a Map over random sets, deletes and growth", () => {
  // Few distinct keys in a small table: long probe runs that wrap, so deletion's back-shift
  // is exercised across the end of the arrays; then many keys, so the table doubles.
  let seed = 12345;
  const rnd = (): number => { seed = (Math.imul(seed, 1103515245) + 12345) | 0; return seed >>> 8; };
  for (const [keys, ops] of [[40, 20000], [5000, 60000]] as const) {
    const m = new Int32Map(4), ref = new Map<number, number>();
    for (let n = 0; n < ops; n++) {
      const k = (Math.imul(rnd() % keys, 0x10001) ^ 0xc0000000) | 0;
      const op = rnd() % 3;
      if (op === 0) { m.delete(k); ref.delete(k); } else { const v = (rnd() | 1) | 0; m.set(k, v); ref.set(k, v); }
      if (n % 97 === 0) for (const [rk, rv] of ref) assert.equal(m.get(rk), rv);
      assert.equal(m.size, ref.size);
      assert.equal(m.get(k), ref.get(k) ?? 0);
    }
    for (const [rk, rv] of ref) assert.equal(m.get(rk), rv);
    m.clear();
    assert.equal(m.size, 0);
    for (const k of ref.keys()) assert.equal(m.get(k), 0);
  }
});

test("Int32Map refuses 0 as a value (it marks an empty slot)", () => {
  assert.throws(() => new Int32Map().set(1, 0), RangeError);
});
