// CodePage (code-page.ts): the decoded-instruction cache's page, an index into a list.

import { test } from "node:test";
import assert from "node:assert/strict";
import { CodePage } from "./code-page.js";
import { newInstr, type Instr } from "./instr.js";

function instr(len: number): Instr {
  const i = newInstr();
  i.len = len;
  return i;
}

test("a CodePage holds instructions by offset; one dropped or replaced is gone", () => {
  const p = new CodePage();
  const a = instr(2), b = instr(3), c = instr(1);
  p.put(0, a);
  p.put(2, b);
  assert.equal(p.at(0), a);
  assert.equal(p.at(2), b);
  assert.equal(p.at(1), undefined);
  p.drop(0);
  assert.equal(p.at(0), undefined);
  p.put(2, c);
  assert.equal(p.at(2), c);
  assert.equal(p.at(4095), undefined);
});

test("an offset decoded again and again keeps the list bounded: compaction keeps what the index names", () => {
  // (A guest that runs the same bytes as 16- and 32-bit code in turn decodes them anew each
  // time: the list grows by one per decode until it is compacted.)
  const p = new CodePage();
  const kept = instr(1);
  p.put(100, kept);
  let last = kept;
  for (let n = 0; n < 200_000; n++) { last = instr(2); p.put(7, last); }
  assert.ok(p.list.length <= 0xffff, `list length ${p.list.length}`);
  assert.equal(p.at(100), kept);
  assert.equal(p.at(7), last);
});

test("reset empties a page for reuse", () => {
  const p = new CodePage();
  p.put(5, instr(1));
  p.cover[5] = 1; p.kept = 3; p.partial = 2;
  p.reset();
  assert.equal(p.at(5), undefined);
  assert.equal(p.list.length, 0);
  assert.equal(p.cover[5], 0);
  assert.equal(p.kept + p.partial, 0);
});
