// The standard CPU's classification against tables written from the seed (Robin and Irvine's
// 18, seeds/002_*) and the Intel SDM vol. 2 instruction pages — never from this program's output.

import { test } from "node:test";
import assert from "node:assert/strict";
import { runClassify } from "./report.js";
import { formatJson, formatMarkdown, formatTable, CLASSIFY_EXIT } from "./format.js";

const report = runClassify({ cpu: "standard", umip: false });
const found = (r = report) => r.classification.rows.map((x) => x.row).sort();
const form = (label: string) => {
  const f = report.classification.forms.find((x) => x.label === label);
  assert.ok(f, `no form '${label}'`);
  return f;
};

/** The seed's table, row by row, plus the three additions docs/classify.md argues from the SDM. */
const SEED_18 = [
  "SGDT", "SLDT", "SIDT", "SMSW", "PUSHF", "POPF", "LAR", "LSL", "VERR", "VERW",
  "POP Sreg", "PUSH Sreg", "CALL far", "RET far", "JMP far", "INT", "STR", "MOV Sreg",
];
const ADDED = ["IRET", "LSS", "SYSENTER"];

test("standard CPU: the sensitive unprivileged set is the seed's 18 plus IRET, LSS, SYSENTER", () => {
  assert.equal(SEED_18.length, 18);
  assert.deepEqual(found(), [...SEED_18, ...ADDED].sort());
  assert.equal(report.match, true);
  assert.deepEqual(report.missing, []);
  assert.deepEqual(report.unexpected, []);
});

test("standard CPU: each store instruction is caught reading the register it stores", () => {
  const reads: [string, string][] = [
    ["0F 01 /0 (mem) sgdt Ms", "GDTR"], ["0F 01 /1 (mem) sidt Ms", "IDTR"], ["0F 00 /0 sldt Mw/Rv", "LDTR"],
    ["0F 00 /1 str Mw/Rv", "TR"], ["0F 01 /4 smsw Mw/Rv", "CR0"], ["9C pushf/pushfd", "IF"], ["9C pushf/pushfd", "IOPL"],
  ];
  for (const [label, reg] of reads) {
    const f = form(label);
    assert.equal(f.privileged, false, label);
    assert.ok(f.witnesses.some((w) => w.kind === reg && w.cpl === 3), `${label} reads ${reg} at CPL 3`);
  }
});

test("standard CPU: the selector and transfer instructions differ between CPL 0 and CPL 3", () => {
  for (const label of ["0F 02 lar Gv,Mw/Rv", "0F 03 lsl Gv,Mw/Rv", "0F 00 /4 verr Ew", "0F 00 /5 verw Ew", "0E push CS",
    "16 push SS", "8C /1 mov Mw/Rv,Sw", "17 pop SS", "EA jmp Ap", "9A call Ap", "CB retf", "CF iret/iretd", "9D popf/popfd"]) {
    assert.ok(form(label).witnesses.some((w) => w.kind === "CPL"), label);
  }
  // INT n and a far CALL through a DPL-3 call gate enter CPL 0 without an exception.
  assert.ok(form("CD int Ib").witnesses.some((w) => w.kind.startsWith("changes") && w.kind.includes("CPL") && w.cpl === 3));
  assert.ok(form("9A call Ap").witnesses.some((w) => w.kind.includes("CPL") && w.cpl === 3 && w.env === 0x53));
});

test("standard CPU: the SDM's CPL-0-only instructions come out privileged", () => {
  for (const label of ["F4 hlt", "FA cli", "FB sti", "0F 01 /2 (mem) lgdt Ms", "0F 01 /3 (mem) lidt Ms", "0F 00 /2 lldt Ew",
    "0F 00 /3 ltr Ew", "0F 01 /6 lmsw Ew", "0F 06 clts", "0F 01 /7 (mem) invlpg M", "0F 22 /3 mov Cd,Rd", "0F 20 /0 mov Rd,Cd",
    "0F 23 mov Dd,Rd", "0F 30 wrmsr", "0F 32 rdmsr", "0F 35 sysexit", "E4 in AL,Ib", "EE out DX,AL", "6C insb Yb,DX"]) {
    const f = form(label);
    assert.equal(f.privileged, true, label);
    assert.equal(f.runsAtCpl3, false, label);
  }
});

test("standard CPU: ordinary instructions are neither privileged nor sensitive", () => {
  for (const label of ["01 add Ev,Gv", "89 mov Ev,Gv", "0F A2 cpuid", "0F 31 rdtsc", "50 push Zv", "C3 ret", "E8 call Jz",
    "8E /3 mov Sw,Mw/Rv", "C5 (mem) lds Gv,Mp", "63 arpl Ew,Gw", "D9 E8 fld1", "9B wait"]) {
    const f = form(label);
    assert.equal(f.privileged, false, label);
    assert.equal(f.sensitive, false, `${label}: ${JSON.stringify(f.witnesses[0])}`);
  }
});

test("every opcode-table row is examined, quickly", () => {
  assert.ok(report.stats.forms > 600, `${report.stats.forms} forms`);
  assert.ok(report.stats.ms < 30_000, `${report.stats.ms} ms`);
});

test("formats: the table, Markdown and JSON say the same thing", () => {
  const table = formatTable(report);
  for (const r of [...SEED_18, ...ADDED]) assert.match(table, new RegExp(`^${r.replace(/ /g, " ")}( \\[\\d+\\])?\\s+(yes|-)\\s+yes\\s+yes\\s`, "m"), r);
  assert.match(table, /result: the found set equals the expected one \(exit 0\)/);

  const mdText = formatMarkdown(report);
  const lines = mdText.split("\n").filter((l) => l.startsWith("|"));
  assert.equal(lines.length, 2 + 21, "header, rule, one line per row");
  for (const l of lines) assert.equal(l.replace(/\\\|/g, "").split("|").length, 8, l);
  assert.match(lines[0], /^\| instruction \| seed \| expected \| found \|/);

  const doc = JSON.parse(formatJson(report)) as { match: boolean; exitCode: number; rows: { row: string; found: boolean }[]; forms: unknown[] };
  assert.equal(doc.match, true);
  assert.equal(doc.exitCode, CLASSIFY_EXIT.MATCH);
  assert.deepEqual(doc.rows.filter((r) => r.found).map((r) => r.row).sort(), [...SEED_18, ...ADDED].sort());
  assert.equal(doc.forms.length, report.stats.forms);
});
