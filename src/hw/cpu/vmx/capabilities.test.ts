// The VMX capability MSRs of each model (SDM vol. 3C appendix A), read with RDMSR: they say
// exactly what the model's VMX offers, and a model without a feature has no MSR for it.

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine } from "../../../../test/support/flat-machine.js";
import { loadAsm } from "../../../../test/protection/harness.js";
import { Vector } from "../fault.js";

/** RDMSR `n` on `cpu`: [lo, hi], or the vector it raised. */
function rdmsr(cpu: string, n: number): [number, number] | number {
  const fm = new FlatMachine({ cpu });
  loadAsm(fm, `mov ecx, ${n}\n rdmsr\n hlt`);
  const v = fm.runToHalt(100);
  return v >= 0 ? v : [fm.cpu.regs[0] >>> 0, fm.cpu.regs[2] >>> 0];
}
const hi = (cpu: string, n: number) => (rdmsr(cpu, n) as [number, number])[1];

test("IA32_VMX_BASIC: revision, 4-KiB regions, write-back; 32-bit addresses on core-duo; TRUE controls and INS/OUTS information on nehalem", () => {
  const cd = rdmsr("core-duo", 0x480) as [number, number], ne = rdmsr("nehalem", 0x480) as [number, number];
  assert.equal(cd[0], ne[0]);
  assert.equal(cd[1] & 0x1fff, 0x1000);
  assert.equal((cd[1] >>> 16) & 1, 1, "bit 48: addresses limited to 32 bits");
  assert.equal((cd[1] >>> 18) & 0xf, 6, "bits 53:50: write-back");
  assert.equal((cd[1] >>> 23) & 1, 0, "no TRUE controls");
  assert.equal((ne[1] >>> 16) & 1, 0);
  assert.equal((ne[1] >>> 22) & 3, 3, "bits 54, 55");
});

test("the controls: secondary controls, EPT, VPID, unrestricted guest and the preemption timer by model", () => {
  assert.equal(hi("core-duo", 0x482) >>> 31, 0, "core-duo: no secondary controls");
  assert.equal(rdmsr("core-duo", 0x48b), Vector.GP, "core-duo: no IA32_VMX_PROCBASED_CTLS2");
  assert.equal(rdmsr("core-duo", 0x48c), Vector.GP, "core-duo: no IA32_VMX_EPT_VPID_CAP");
  assert.equal(rdmsr("core-duo", 0x48e), Vector.GP, "core-duo: no TRUE MSRs");
  assert.equal((hi("core-duo", 0x481) >>> 6) & 1, 0, "core-duo: no preemption timer");
  assert.equal(hi("nehalem", 0x482) >>> 31, 1);
  assert.equal(hi("nehalem", 0x48b) & 0xa2, 0x22, "nehalem: EPT and VPID, no unrestricted guest");
  assert.equal(hi("westmere", 0x48b) & 0xa2, 0xa2, "westmere: + unrestricted guest");
  assert.equal((hi("nehalem", 0x481) >>> 6) & 1, 1);
  assert.equal((hi("nehalem", 0x483) >>> 9) & 1, 1, "host address-space size on a 64-bit part");
  assert.equal((hi("core-duo", 0x483) >>> 9) & 1, 0);
  const ept = rdmsr("nehalem", 0x48c) as [number, number];
  assert.equal(ept[0] & ((1 << 6) | (1 << 14) | (1 << 20) | (1 << 21)), (1 << 6) | (1 << 14) | (1 << 20), "4 levels, WB, INVEPT; no A/D flags");
  assert.equal(ept[1] & 1, 1, "INVVPID");
  assert.deepEqual(rdmsr("nehalem", 0x48e), [0x0400_6172, hi("nehalem", 0x482)], "TRUE_PROCBASED: CR3 exiting may be 0");
});

test("CR0/CR4 FIXED MSRs, MISC, VMCS_ENUM; no VMX MSRs without vmx", () => {
  assert.deepEqual(rdmsr("core-duo", 0x486), [0x8000_0021, 0]);
  assert.deepEqual(rdmsr("core-duo", 0x488), [0x2000, 0]);
  assert.equal(((rdmsr("core-duo", 0x489) as number[])[0] >>> 13) & 1, 1, "VMXE may be 1");
  const misc = rdmsr("nehalem", 0x485) as [number, number];
  assert.equal(misc[0] & 0x1f, 5, "timer rate");
  assert.equal((misc[0] >>> 6) & 1, 1, "HLT activity state");
  assert.equal((misc[0] >>> 16) & 0x1ff, 4, "CR3-target values");
  // The highest index of bits 9:1 among the model's fields: GUEST_SYSENTER_CS (482Ah) on
  // core-duo, VMX_PREEMPTION_TIMER_VALUE (482Eh) where the timer exists.
  assert.equal(((rdmsr("core-duo", 0x48a) as number[])[0] >>> 1) & 0x1ff, 0x15);
  assert.equal(((rdmsr("nehalem", 0x48a) as number[])[0] >>> 1) & 0x1ff, 0x17);
  for (const n of [0x480, 0x481, 0x486]) assert.equal(rdmsr("pentium3", n), Vector.GP);
  assert.equal(rdmsr("core-duo,-vmx", 0x480), Vector.GP);
});

test("the primary controls Linux's kvm_intel requires (KVM_REQUIRED_VMX_CPU_BASED_VM_EXEC_CONTROL) are allowed: MWAIT/MONITOR exiting everywhere, CR8-load/store exiting with Intel 64", () => {
  // HLT, INVLPG, MWAIT, RDPMC, CR3 load/store, MOV DR, unconditional I/O, MONITOR exiting, TSC
  // offsetting, interrupt-window exiting; CR8 load/store (bits 19, 20) on 64-bit hosts.
  const required = (1 << 2) | (1 << 3) | (1 << 7) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 15) | (1 << 16) |
    (1 << 23) | (1 << 24) | (1 << 29);
  const cr8 = (1 << 19) | (1 << 20);
  for (const model of ["core-duo", "nehalem", "westmere"]) {
    assert.equal(hi(model, 0x482) & required, required, `${model}: IA32_VMX_PROCBASED_CTLS allowed-1`);
    assert.equal(hi(model, 0x482) & cr8, model === "core-duo" ? 0 : cr8, `${model}: CR8 exiting only with long mode`);
  }
});

test("IA32_DEBUGCTL (1D9h), which KVM reads around each VM entry: 0 on the hypervisor parts, #GP on pentium2; setting LBR or BTF is #GP", () => {
  for (const model of ["core-duo", "nehalem", "westmere", "athlon64-revf", "barcelona"]) assert.deepEqual(rdmsr(model, 0x1d9), [0, 0], model);
  assert.equal(rdmsr("pentium2", 0x1d9), Vector.GP);
  const fm = new FlatMachine({ cpu: "nehalem" });
  loadAsm(fm, "mov ecx, 0x1d9\n xor eax, eax\n xor edx, edx\n wrmsr\n mov eax, 1\n wrmsr\n hlt");
  assert.equal(fm.runToHalt(100), Vector.GP, "WRMSR of LBR");
});
