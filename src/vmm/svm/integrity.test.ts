// The SVM monitor's integrity check (integrity.ts): a fresh monitor is intact; a byte
// changed in any guarded range is a breach naming the range; the fields the processor and
// the monitor write on every VMRUN/#VMEXIT are not; foreign CPL-0 instructions are.

import { test } from "node:test";
import assert from "node:assert/strict";
import { SvmMonitor, SVM_HOST } from "./svm-monitor.js";
import { HOST_IDT, NATIVE as NATIVE_OFF } from "../assist/assisted-monitor.js";
import { parseCpuSpec } from "../../hw/cpu/models.js";
import { Vmcb } from "../../hw/cpu/svm/vmcb.js";
import { svmGuardedRanges } from "./integrity.js";

const RAM = 8 << 20;
const fresh = (): SvmMonitor => new SvmMonitor({ ramBytes: RAM, acpi: true, model: parseCpuSpec("barcelona") });
// The monitor's host area, just above guest RAM (svm-monitor.ts's header).
const VMCB = RAM + SVM_HOST.vmcb, IOPM = RAM + SVM_HOST.iopm, MSRPM = RAM + SVM_HOST.msrpm, NPT = RAM + SVM_HOST.npt, IDT = RAM + HOST_IDT, NATIVE = RAM + NATIVE_OFF;

test("a monitor as built is intact", () => {
  const v = fresh().integrity();
  assert.deepEqual(v, { monitorIntact: true, guestRanAtCpl0: false, detail: "" });
});

test("a changed byte in each guarded structure is a breach that names it", () => {
  const cases: [string, number][] = [
    ["VMCB control area", VMCB + Vmcb.INTERCEPT_MISC1],
    ["VMCB control area", VMCB + Vmcb.N_CR3],
    ["VMCB control area", VMCB + Vmcb.IOPM_BASE_PA + 1],
    ["I/O permission map", IOPM + 0x7],
    ["MSR permission map", MSRPM + 0x1ff0],
    ["nested page tables", NPT + 0x1000 + 4 * 0x10],
    ["host IDT", IDT + 8 * 0xf0],
    ["host code (native entries)", NATIVE + 0x801],
  ];
  for (const [name, at] of cases) {
    const mon = fresh();
    mon.machine.mem.write8(at, mon.machine.mem.read8(at) ^ 0x01);
    const v = mon.integrity();
    assert.equal(v.monitorIntact, false, name);
    assert.match(v.detail, new RegExp(`${name.replace(/[()]/g, "\\$&")} \\(1 byte, first at 0x${at.toString(16)}\\)`));
  }
});

test("fields written on every VMRUN/#VMEXIT and the guest's state-save area are not compared", () => {
  const mon = fresh();
  for (const off of [Vmcb.TSC_OFFSET, Vmcb.VINTR, Vmcb.EXITCODE, Vmcb.EXITINFO2 + 4, Vmcb.EXITINTINFO, Vmcb.EVENTINJ, Vmcb.RIP, Vmcb.CR3]) {
    mon.machine.mem.write32(VMCB + off, 0x1234_5678);
  }
  assert.equal(mon.integrity().monitorIntact, true);
});

test("instructions at machine CPL 0 outside guest mode are reported", () => {
  const mon = fresh();
  mon.machine.cpu.ring0Foreign = 3;
  const v = mon.integrity();
  assert.equal(v.guestRanAtCpl0, true);
  assert.match(v.detail, /3 instructions ran at machine CPL 0 outside guest mode/);
});

test("the guarded ranges cover the host area's structures and not the host save area", () => {
  const names = svmGuardedRanges({ base: 0, gdt: 0, idt: 0x1000, native: 0x2000, vmcb: 0x4000, iopm: 0x5000, msrpm: 0x8000, npt: 0xb000, nptBytes: 0x3000 })
    .map((r) => [r.name, r.at, r.bytes]);
  assert.deepEqual(names, [
    ["host GDT", 0, 0x1000], ["host IDT", 0x1000, 0x1000], ["host code (native entries)", 0x2000, 0x1000],
    ["VMCB control area", 0x4000, 0x400], ["I/O permission map", 0x5000, 0x3000], ["MSR permission map", 0x8000, 0x2000],
    ["nested page tables", 0xb000, 0x3000],
  ]);
});
