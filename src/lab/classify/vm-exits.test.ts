// The opcode table's VM-exit facts (OpDef.vmx, OpDef.svm) as `vmm86 classify --vmx --svm`
// shows them: Intel SDM vol. 3C §26.1 and AMD APM vol. 2 §15.9-15.13.

import { test } from "node:test";
import assert from "node:assert/strict";
import { exitFacts, exitingRows, runClassify } from "./report.js";
import { formatMarkdown, formatTable } from "./format.js";

test("VMX: unconditional, under a named control, or never (SDM 3C §26.1.2, §26.1.3)", () => {
  assert.equal(exitFacts("CPUID", "vmx"), "always");
  assert.equal(exitFacts("INVD", "vmx"), "always");
  assert.equal(exitFacts("HLT", "vmx"), "HLT exiting");
  assert.equal(exitFacts("INVLPG", "vmx"), "INVLPG exiting");
  assert.match(exitFacts("IN", "vmx"), /use I\/O bitmaps/);
  assert.match(exitFacts("MOV CRn", "vmx"), /to CR3: CR3-load exiting/);
  assert.match(exitFacts("MOV CRn", "vmx"), /from CR3: CR3-store exiting/);
  assert.match(exitFacts("MOV CRn", "vmx"), /from CR0, from CR2, to CR2, from CR4: never/);
  for (const r of ["SGDT", "SIDT", "SLDT", "STR", "LGDT", "LIDT", "LLDT", "LTR"]) assert.equal(exitFacts(r, "vmx"), "descriptor-table exiting", r);
  // Popek and Goldberg's troublemakers that VT-x lets run: no exit, no control.
  for (const r of ["PUSHF", "POPF", "SMSW", "LAR", "LSL", "VERR", "VERW", "PUSH Sreg", "POP Sreg", "MOV Sreg", "RET far", "LSS", "SYSENTER"]) {
    assert.equal(exitFacts(r, "vmx"), "never", r);
  }
  assert.match(exitFacts("INT", "vmx"), /int Ib: never/);
});

test("SVM: the VMCB intercept that catches each (APM vol. 2 §15)", () => {
  assert.equal(exitFacts("PUSHF", "svm"), "PUSHF intercept");
  assert.equal(exitFacts("POPF", "svm"), "POPF intercept");
  assert.equal(exitFacts("IRET", "svm"), "IRET intercept");
  assert.equal(exitFacts("SMSW", "svm"), "CR0 read intercept");
  assert.equal(exitFacts("SGDT", "svm"), "GDTR read intercept");
  assert.equal(exitFacts("CPUID", "svm"), "CPUID intercept");
  assert.match(exitFacts("VMRUN", "svm"), /^always/);
  assert.match(exitFacts("INT", "svm"), /int Ib: INTn intercept/);
  for (const r of ["LAR", "LSL", "VERR", "VERW", "MOV Sreg", "RET far", "SYSENTER"]) assert.equal(exitFacts(r, "svm"), "never", r);
});

test("every row with an exit fact is listed once; the formats show the columns and the other rows", () => {
  const rows = exitingRows();
  assert.equal(new Set(rows).size, rows.length);
  for (const r of ["CPUID", "HLT", "MOV CRn", "RDMSR", "VMRUN", "VMCALL"]) assert.ok(rows.includes(r), r);
  const report = runClassify({ cpu: "standard", umip: false });
  const t = formatTable(report, { vmx: true, svm: true });
  assert.match(t, /under VMX \(SDM 3C §26\.1\)\s+under SVM \(APM 2 §15\)/);
  assert.match(t, /^POPF .*never\s+POPF intercept$/m);
  assert.match(t, /^HLT\s+HLT exiting\s+HLT intercept$/m);
  assert.doesNotMatch(formatTable(report), /under VMX/);
  const md = formatMarkdown(report, { vmx: true });
  assert.match(md, /^\| CPUID \| always \|$/m);
});
