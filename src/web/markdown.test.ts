import { test } from "node:test";
import assert from "node:assert/strict";
import { cellClass, markdownToHtml } from "./markdown.js";

test("a markdown report becomes a table with coloured verdict cells", () => {
  const md = "**title (* = added)**\n\n| instruction | CPL | trap/standard | bt |\n|---|---|:---:|:---:|\n| SGDT | 0 | leaks | same |\n|  | 3 | faults #GP | a \\| b |\n\n- bare: ok\n- bt: ok\n";
  const html = markdownToHtml(md);
  assert.match(html, /<strong>title \(\* = added\)<\/strong>/);
  assert.match(html, /<th>instruction<\/th><th>CPL<\/th><th>trap\/standard<\/th><th>bt<\/th>/);
  assert.match(html, /<td class="leaks">leaks<\/td><td class="ok">same<\/td>/);
  assert.match(html, /<td class="faults">faults #GP<\/td><td>a \| b<\/td>/);
  assert.match(html, /<ul><li>bare: ok<\/li><li>bt: ok<\/li><\/ul>/);
  assert.equal((html.match(/<tr>/g) ?? []).length, 3);
});

test("cell classes: escapes, leaks, misbehaviour, faults, contained", () => {
  assert.equal(cellClass("ESCAPED"), "escaped");
  assert.equal(cellClass("leaks"), "leaks");
  assert.equal(cellClass("misbehaves"), "misbehaves");
  assert.equal(cellClass("faults #GP"), "faults");
  assert.equal(cellClass("contained"), "ok");
  assert.equal(cellClass("<b>"), "");
  assert.doesNotMatch(markdownToHtml("<script>"), /<script>/);
});
