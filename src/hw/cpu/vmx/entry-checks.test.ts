// Every VM-entry check implemented in entry-checks.ts, one row each, from the SDM (vol. 3C
// §26.2 and §26.3): the test hypervisor (test/support/vmx-hypervisor.ts) launches a guest
// from a VMCS that passes every check, changed in one place. Controls fail with
// VMfailValid(7), host state with VMfailValid(8); guest state is a VM-entry failure with exit
// reason 33 | 8000_0000h (qualification 0, or 4 for the VMCS link pointer); the MSR-load
// list's failure is exit reason 34 | 8000_0000h with the entry's number.

import { test } from "node:test";
import assert from "node:assert/strict";
import { runHypervisor } from "../../../../test/support/vmx-hypervisor.js";
import { Vmcs, VmxError, ExitReason } from "./vmcs-fields.js";

type Expect = { error: VmxError } | { exit: number; qual?: number };
const BAD_CONTROL: Expect = { error: VmxError.ENTRY_INVALID_CONTROL_FIELD };
const BAD_HOST: Expect = { error: VmxError.ENTRY_INVALID_HOST_STATE };
const BAD_GUEST: Expect = { exit: (ExitReason.INVALID_GUEST_STATE | 0x8000_0000) >>> 0, qual: 0 };
const PROC0 = 0x0401_e172, TRUE_PROC0 = 0x0400_6172;

/** [section and what, CPU model, the fields to change] */
const ROWS: [string, string, [number, number][], Expect][] = [
  // §26.2.1.1 VM-execution controls
  ["26.2.1.1 pin-based default-1 bits clear", "core-duo", [[Vmcs.PIN_BASED_VM_EXEC_CONTROL, 0]], BAD_CONTROL],
  ["26.2.1.1 primary controls: secondary controls on core-duo", "core-duo", [[Vmcs.CPU_BASED_VM_EXEC_CONTROL, (PROC0 | (1 << 31)) | 0]], BAD_CONTROL],
  ["26.2.1.1 primary controls: CR3-load exiting clear without TRUE controls", "core-duo", [[Vmcs.CPU_BASED_VM_EXEC_CONTROL, TRUE_PROC0]], BAD_CONTROL],
  ["26.2.1.1 secondary controls: unrestricted guest on nehalem", "nehalem",
    [[Vmcs.CPU_BASED_VM_EXEC_CONTROL, (TRUE_PROC0 | (1 << 31)) | 0], [Vmcs.SECONDARY_VM_EXEC_CONTROL, 1 << 7]], BAD_CONTROL],
  ["26.2.1.1 CR3-target count above 4", "core-duo", [[Vmcs.CR3_TARGET_COUNT, 5]], BAD_CONTROL],
  ["26.2.1.1 I/O bitmap A not 4-KiB aligned", "core-duo", [[Vmcs.CPU_BASED_VM_EXEC_CONTROL, PROC0 | (1 << 25)], [Vmcs.IO_BITMAP_A, 0x23010]], BAD_CONTROL],
  ["26.2.1.1 MSR bitmap beyond 32 bits of physical address", "core-duo", [[Vmcs.CPU_BASED_VM_EXEC_CONTROL, PROC0 | (1 << 28)], [Vmcs.MSR_BITMAP + 1, 1]], BAD_CONTROL],
  ["26.2.1.1 virtual NMIs without NMI exiting", "nehalem", [[Vmcs.PIN_BASED_VM_EXEC_CONTROL, 0x16 | (1 << 5)]], BAD_CONTROL],
  ["26.2.1.1 NMI-window exiting without virtual NMIs", "nehalem", [[Vmcs.CPU_BASED_VM_EXEC_CONTROL, TRUE_PROC0 | (1 << 22)]], BAD_CONTROL],
  ["26.2.1.1 EPTP memory type 1", "nehalem", [[Vmcs.CPU_BASED_VM_EXEC_CONTROL, (TRUE_PROC0 | (1 << 31)) | 0],
    [Vmcs.SECONDARY_VM_EXEC_CONTROL, 1 << 1], [Vmcs.EPT_POINTER, 0x40000 | (3 << 3) | 1]], BAD_CONTROL],
  ["26.2.1.1 EPTP walk length 3", "nehalem", [[Vmcs.CPU_BASED_VM_EXEC_CONTROL, (TRUE_PROC0 | (1 << 31)) | 0],
    [Vmcs.SECONDARY_VM_EXEC_CONTROL, 1 << 1], [Vmcs.EPT_POINTER, 0x40000 | (2 << 3) | 6]], BAD_CONTROL],
  ["26.2.1.1 EPTP with A/D flags where EPT_VPID_CAP[21] is 0", "nehalem", [[Vmcs.CPU_BASED_VM_EXEC_CONTROL, (TRUE_PROC0 | (1 << 31)) | 0],
    [Vmcs.SECONDARY_VM_EXEC_CONTROL, 1 << 1], [Vmcs.EPT_POINTER, 0x40000 | 0x40 | (3 << 3) | 6]], BAD_CONTROL],
  ["26.2.1.1 unrestricted guest without EPT", "westmere", [[Vmcs.CPU_BASED_VM_EXEC_CONTROL, (TRUE_PROC0 | (1 << 31)) | 0],
    [Vmcs.SECONDARY_VM_EXEC_CONTROL, 1 << 7]], BAD_CONTROL],
  ["26.2.1.1 enable VPID with VPID 0", "nehalem", [[Vmcs.CPU_BASED_VM_EXEC_CONTROL, (TRUE_PROC0 | (1 << 31)) | 0],
    [Vmcs.SECONDARY_VM_EXEC_CONTROL, 1 << 5]], BAD_CONTROL],
  // §26.2.1.2 VM-exit controls
  ["26.2.1.2 exit controls default-1 bits clear", "core-duo", [[Vmcs.VM_EXIT_CONTROLS, 0]], BAD_CONTROL],
  ["26.2.1.2 save preemption timer without the timer", "nehalem", [[Vmcs.VM_EXIT_CONTROLS, 0x36dff | (1 << 22)]], BAD_CONTROL],
  ["26.2.1.2 MSR-store address not 16-byte aligned", "core-duo", [[Vmcs.VM_EXIT_MSR_STORE_COUNT, 1], [Vmcs.VM_EXIT_MSR_STORE_ADDR, 0x6008]], BAD_CONTROL],
  // §26.2.1.3 VM-entry controls and event injection
  ["26.2.1.3 IA-32e mode guest on a 32-bit part", "core-duo", [[Vmcs.VM_ENTRY_CONTROLS, 0x11ff | (1 << 9)]], BAD_CONTROL],
  ["26.2.1.3 MSR-load address not 16-byte aligned", "core-duo", [[Vmcs.VM_ENTRY_MSR_LOAD_COUNT, 1], [Vmcs.VM_ENTRY_MSR_LOAD_ADDR, 0x6004]], BAD_CONTROL],
  ["26.2.1.3 injection: interruption type 1 is reserved", "core-duo", [[Vmcs.VM_ENTRY_INTR_INFO_FIELD, (0x8000_0100 | 0x20) | 0]], BAD_CONTROL],
  ["26.2.1.3 injection: an NMI with vector 3", "core-duo", [[Vmcs.VM_ENTRY_INTR_INFO_FIELD, (0x8000_0203) | 0]], BAD_CONTROL],
  ["26.2.1.3 injection: a hardware exception with vector 32", "core-duo", [[Vmcs.VM_ENTRY_INTR_INFO_FIELD, (0x8000_0320) | 0]], BAD_CONTROL],
  ["26.2.1.3 injection: #UD with an error code", "core-duo", [[Vmcs.VM_ENTRY_INTR_INFO_FIELD, (0x8000_0b06) | 0]], BAD_CONTROL],
  ["26.2.1.3 injection: #GP without its error code", "core-duo", [[Vmcs.VM_ENTRY_INTR_INFO_FIELD, (0x8000_030d) | 0]], BAD_CONTROL],
  ["26.2.1.3 injection: reserved bits 30:12", "core-duo", [[Vmcs.VM_ENTRY_INTR_INFO_FIELD, (0x8000_1020) | 0]], BAD_CONTROL],
  ["26.2.1.3 injection: error code bits 31:15", "core-duo", [[Vmcs.VM_ENTRY_INTR_INFO_FIELD, (0x8000_0b0d) | 0], [Vmcs.VM_ENTRY_EXCEPTION_ERROR_CODE, 0x8000]], BAD_CONTROL],
  ["26.2.1.3 injection: a software interrupt with length 0", "core-duo", [[Vmcs.VM_ENTRY_INTR_INFO_FIELD, (0x8000_0480) | 0]], BAD_CONTROL],
  // §26.2.2–26.2.4 host state
  ["26.2.2 host CR0 without PG", "core-duo", [[Vmcs.HOST_CR0, 0x21]], BAD_HOST],
  ["26.2.2 host CR4 without VMXE", "core-duo", [[Vmcs.HOST_CR4, 0x10]], BAD_HOST],
  ["26.2.2 host CR4 with a bit CR4_FIXED1 lacks (OSXSAVE)", "core-duo", [[Vmcs.HOST_CR4, 0x2010 | (1 << 18)]], BAD_HOST],
  ["26.2.3 host DS selector with RPL 3", "core-duo", [[Vmcs.HOST_DS_SELECTOR, 0x13]], BAD_HOST],
  ["26.2.3 host CS selector null", "core-duo", [[Vmcs.HOST_CS_SELECTOR, 0]], BAD_HOST],
  ["26.2.3 host TR selector null", "core-duo", [[Vmcs.HOST_TR_SELECTOR, 0]], BAD_HOST],
  ["26.2.3 host SS null with a 32-bit host", "core-duo", [[Vmcs.HOST_SS_SELECTOR, 0]], BAD_HOST],
  ["26.2.4 host address-space size outside IA-32e mode", "nehalem", [[Vmcs.VM_EXIT_CONTROLS, 0x36dff | (1 << 9)]], BAD_HOST],
  ["26.2.2 host EFER reserved bits with load IA32_EFER", "nehalem", [[Vmcs.VM_EXIT_CONTROLS, 0x36dff | (1 << 21)], [Vmcs.HOST_IA32_EFER, 2]], BAD_HOST],
  // §26.3.1.1 control registers
  ["26.3.1.1 guest CR0 without NE", "core-duo", [[Vmcs.GUEST_CR0, (0x8000_0011) | 0]], BAD_GUEST],
  ["26.3.1.1 guest CR0 without PE (no unrestricted guest)", "core-duo", [[Vmcs.GUEST_CR0, 0x30]], BAD_GUEST],
  ["26.3.1.1 guest CR4 without VMXE", "core-duo", [[Vmcs.GUEST_CR4, 0x10]], BAD_GUEST],
  // §26.3.1.2 segment registers
  ["26.3.1.2 TR TI = 1", "core-duo", [[Vmcs.GUEST_TR_SELECTOR, 0x2c]], BAD_GUEST],
  ["26.3.1.2 LDTR usable with TI = 1", "core-duo", [[Vmcs.GUEST_LDTR_SELECTOR, 0x4], [Vmcs.GUEST_LDTR_AR_BYTES, 0x82]], BAD_GUEST],
  ["26.3.1.2 SS.RPL ≠ CS.RPL", "core-duo", [[Vmcs.GUEST_SS_SELECTOR, 0x13]], BAD_GUEST],
  ["26.3.1.2 CS a data segment", "core-duo", [[Vmcs.GUEST_CS_AR_BYTES, 0xc093]], BAD_GUEST],
  ["26.3.1.2 CS not present", "core-duo", [[Vmcs.GUEST_CS_AR_BYTES, 0xc01b]], BAD_GUEST],
  ["26.3.1.2 DS not accessed", "core-duo", [[Vmcs.GUEST_DS_AR_BYTES, 0xc092]], BAD_GUEST],
  ["26.3.1.2 ES an execute-only code segment", "core-duo", [[Vmcs.GUEST_ES_AR_BYTES, 0xc099]], BAD_GUEST],
  ["26.3.1.2 DS reserved access-rights bits 11:8", "core-duo", [[Vmcs.GUEST_DS_AR_BYTES, 0xc193]], BAD_GUEST],
  ["26.3.1.2 DS limit 4 GiB with G = 0", "core-duo", [[Vmcs.GUEST_DS_AR_BYTES, 0x4093]], BAD_GUEST],
  ["26.3.1.2 DS DPL < RPL", "core-duo", [[Vmcs.GUEST_DS_SELECTOR, 0x13]], BAD_GUEST],
  ["26.3.1.2 nonconforming CS.DPL ≠ SS.DPL", "core-duo", [[Vmcs.GUEST_CS_AR_BYTES, 0xc0fb], [Vmcs.GUEST_CS_SELECTOR, 0x08]], BAD_GUEST],
  ["26.3.1.2 SS an execute/read code segment", "core-duo", [[Vmcs.GUEST_SS_AR_BYTES, 0xc09b]], BAD_GUEST],
  ["26.3.1.2 TR an available TSS (type 9)", "core-duo", [[Vmcs.GUEST_TR_AR_BYTES, 0x89]], BAD_GUEST],
  ["26.3.1.2 TR unusable", "core-duo", [[Vmcs.GUEST_TR_AR_BYTES, 0x1008b]], BAD_GUEST],
  ["26.3.1.2 LDTR usable with type 3", "core-duo", [[Vmcs.GUEST_LDTR_AR_BYTES, 0x83]], BAD_GUEST],
  ["26.3.1.2 virtual-8086 mode with flat segments", "core-duo", [[Vmcs.GUEST_RFLAGS, 0x20002]], BAD_GUEST],
  // §26.3.1.3 descriptor-table registers
  ["26.3.1.3 GDTR limit above FFFFh", "core-duo", [[Vmcs.GUEST_GDTR_LIMIT, 0x10000]], BAD_GUEST],
  // §26.3.1.4 RIP and RFLAGS
  ["26.3.1.4 RFLAGS bit 1 clear", "core-duo", [[Vmcs.GUEST_RFLAGS, 0]], BAD_GUEST],
  ["26.3.1.4 RFLAGS reserved bit 15", "core-duo", [[Vmcs.GUEST_RFLAGS, 0x8002]], BAD_GUEST],
  ["26.3.1.4 injecting an external interrupt with IF = 0", "core-duo", [[Vmcs.VM_ENTRY_INTR_INFO_FIELD, (0x8000_0020) | 0]], BAD_GUEST],
  // §26.3.1.5 non-register state
  ["26.3.1.5 activity state shutdown (not in IA32_VMX_MISC)", "core-duo", [[Vmcs.GUEST_ACTIVITY_STATE, 2]], BAD_GUEST],
  ["26.3.1.5 interruptibility: blocking by STI and by MOV SS", "core-duo", [[Vmcs.GUEST_RFLAGS, 0x202], [Vmcs.GUEST_INTERRUPTIBILITY_INFO, 3]], BAD_GUEST],
  ["26.3.1.5 interruptibility: blocking by STI with IF = 0", "core-duo", [[Vmcs.GUEST_INTERRUPTIBILITY_INFO, 1]], BAD_GUEST],
  ["26.3.1.5 interruptibility: reserved bits", "core-duo", [[Vmcs.GUEST_INTERRUPTIBILITY_INFO, 0x20]], BAD_GUEST],
  ["26.3.1.5 pending debug exceptions: reserved bit 4", "core-duo", [[Vmcs.GUEST_PENDING_DBG_EXCEPTIONS, 0x10]], BAD_GUEST],
  ["26.3.1.5 VMCS link pointer not all ones", "core-duo", [[Vmcs.VMCS_LINK_POINTER, 0]], { exit: (ExitReason.INVALID_GUEST_STATE | 0x8000_0000) >>> 0, qual: 4 }],
  // §26.4 MSR loading
  ["26.4 the VM-entry MSR-load list names a missing MSR", "core-duo",
    [[Vmcs.VM_ENTRY_MSR_LOAD_COUNT, 2], [Vmcs.VM_ENTRY_MSR_LOAD_ADDR, 0x6000]], { exit: (ExitReason.MSR_LOAD_FAIL | 0x8000_0000) >>> 0, qual: 2 }],
];

for (const [what, cpu, changes, expect] of ROWS) {
  test(`VM entry: ${what}`, () => {
    const r = runHypervisor(cpu, "cpuid\n hlt", (fm, f) => {
      for (const [k, v] of changes) f.set(k, v);
      // The MSR-load list: SYSENTER_CS (fine), then MSR 4000_0000h (missing).
      fm.mem.write32(0x6000, 0x174); fm.mem.write32(0x6008, 0x10);
      fm.mem.write32(0x6010, 0x4000_0000);
    });
    if ("error" in expect) {
      assert.equal(r.eax, 0xbad, "VMLAUNCH fell through with VMfail");
      assert.equal(r.failFlags & 0x41, 0x40, "VMfailValid: ZF = 1, CF = 0");
      assert.equal(r.failError, expect.error);
      assert.equal(r.exits.length, 0);
    } else {
      assert.equal(r.exits.length, 1, "the failed entry is logged like an exit");
      assert.equal(r.exits[0].reason, expect.exit);
      assert.equal(r.exits[0].qual, expect.qual ?? 0);
      assert.equal(r.fm.cpu.nonRoot, false);
    }
  });
}

test("VM entry: the base VMCS enters on every VMX model, and the MSR-load list loads what it names", () => {
  for (const cpu of ["core-duo", "nehalem", "westmere"]) {
    const r = runHypervisor(cpu, "cpuid\n hlt", (fm, f) => {
      f.set(Vmcs.VM_ENTRY_MSR_LOAD_COUNT, 1); f.set(Vmcs.VM_ENTRY_MSR_LOAD_ADDR, 0x6000);
      fm.mem.write32(0x6000, 0x175); fm.mem.write32(0x6008, 0xabc0);
    });
    assert.deepEqual(r.exits.map((e) => e.reason), [ExitReason.CPUID], cpu);
    assert.equal(r.fm.cpu.vmx!.get(Vmcs.GUEST_SYSENTER_ESP), 0xabc0, `${cpu}: the guest's SYSENTER_ESP came from the list`);
  }
});
