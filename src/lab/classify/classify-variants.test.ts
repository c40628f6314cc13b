// The strict CPU and CR4.UMIP against their expectations: strict must leave nothing sensitive
// and unprivileged (DESIGN.md §2); UMIP removes exactly SGDT, SIDT, SLDT, SMSW and STR (SDM
// vol. 3 §2.5).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { runClassify } from "./report.js";
import { CLASSIFY_EXIT } from "./format.js";

const rowsOf = (r: ReturnType<typeof runClassify>) => r.classification.rows.map((x) => x.row).sort();
const SEED_18 = [
  "SGDT", "SLDT", "SIDT", "SMSW", "PUSHF", "POPF", "LAR", "LSL", "VERR", "VERW",
  "POP Sreg", "PUSH Sreg", "CALL far", "RET far", "JMP far", "INT", "STR", "MOV Sreg",
];

const strict = runClassify({ cpu: "strict", umip: false });

test("strict CPU: every form of the seed's instructions (INT n included) and IRET traps at CPL 3", () => {
  const leftover = strict.classification.forms.filter((f) => f.sensitive && !f.privileged).map((f) => f.label);
  for (const l of leftover) {
    assert.ok(["CC int3", "CE into", "0F B2 (mem) lss Gv,Mp", "0F 34 sysenter"].includes(l), `strict leaves ${l}`);
  }
  for (const label of ["CD int Ib", "9C pushf/pushfd", "CF iret/iretd", "0F 01 /0 (mem) sgdt Ms", "8E /2 mov Sw,Mw/Rv"]) {
    const f = strict.classification.forms.find((x) => x.label === label)!;
    assert.equal(f.runsAtCpl3, false, label);
  }
});

test("strict CPU: the sensitive unprivileged set is empty", () => {
  assert.deepEqual(rowsOf(strict), []);
  assert.equal(strict.match, true);
});

test("CR4.UMIP: the five store instructions leave the set, nothing else changes", () => {
  const umip = runClassify({ cpu: "standard", umip: true });
  const gone = ["SGDT", "SIDT", "SLDT", "SMSW", "STR"];
  assert.deepEqual(rowsOf(umip), [...SEED_18.filter((r) => !gone.includes(r)), "IRET", "LSS", "SYSENTER"].sort());
  assert.equal(umip.match, true);
  for (const label of ["0F 01 /0 (mem) sgdt Ms", "0F 01 /1 (mem) sidt Ms", "0F 00 /0 sldt Mw/Rv", "0F 00 /1 str Mw/Rv", "0F 01 /4 smsw Mw/Rv"]) {
    const f = umip.classification.forms.find((x) => x.label === label)!;
    assert.equal(f.privileged, true, `${label} is privileged under UMIP`);
  }
});

test("vmm86 classify: usage errors exit 2; a mismatch exits with its own status", () => {
  const cli = fileURLToPath(new URL("../../cli/classify.js", import.meta.url));
  const run = (args: string[]) => spawnSync(process.execPath, ["--input-type=module", "-e",
    `import { classifyCommand } from ${JSON.stringify(cli)};
     try { process.exitCode = await classifyCommand(${JSON.stringify(args)}); }
     catch (e) { process.stderr.write(String(e.message)); process.exitCode = e.exitCode ?? 70; }`], { encoding: "utf8" });
  assert.equal(run(["--cpu", "bogus"]).status, 2);
  assert.equal(run(["--format", "xml"]).status, 2);
  const help = run(["--help"]);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--cpu standard\|strict/);
  const r = run(["--cpu", "strict", "--format", "json"]);
  const doc = JSON.parse(r.stdout) as { match: boolean; exitCode: number };
  assert.equal(r.status, doc.exitCode);
  assert.equal(doc.exitCode, doc.match ? CLASSIFY_EXIT.MATCH : CLASSIFY_EXIT.MISMATCH);
});
