// VMX from the SDM (vol. 3C): a hypervisor written in assembly (test/support/vmx-hypervisor.ts)
// runs guests on the flat machine and checks the exits it gets: the unconditional ones
// (§25.1.2), the ones controls choose (§25.1.3, §25.2), with their exit qualifications
// (§27.2.1, tables 27-3 and 27-5) and instruction lengths.

import { test } from "node:test";
import assert from "node:assert/strict";
import { runHypervisor, IO_A, IO_B, MSR_BITMAP, GUEST } from "../../../../test/support/vmx-hypervisor.js";
import { Vmcs, ExitReason } from "./vmcs-fields.js";
import { asm } from "../../../../test/protection/harness.js";

const PROC0 = 0x0401_e172;

test("a guest's CPUID, OUT, IN and HLT exit to the hypervisor with the SDM's reasons and qualifications", () => {
  const guest = "mov eax, 0\n cpuid\n mov dx, 0x80\n out dx, al\n in al, 0x71\n hlt";
  const r = runHypervisor("core-duo", guest, new Map([
    [Vmcs.CPU_BASED_VM_EXEC_CONTROL, PROC0 | (1 << 7) | (1 << 24)], // HLT exiting, unconditional I/O exiting
  ]));
  assert.equal(r.eax, 0x600d, `the hypervisor ended normally (VM-instruction error ${r.failError})`);
  const cpuidAt = GUEST + 5, outAt = cpuidAt + 2 + 4, inAt = outAt + 1, hltAt = inAt + 2;
  assert.deepEqual(r.exits.map((e) => [e.reason, e.qual, e.rip, e.len]), [
    [ExitReason.CPUID, 0, cpuidAt, 2],
    // Table 27-5: size - 1 in bits 2:0, IN in bit 3, immediate in bit 6, port in 31:16.
    [ExitReason.IO_INSTRUCTION, 0x0080_0000, outAt, 1],
    [ExitReason.IO_INSTRUCTION, 0x0071_0048, inAt, 2],
    [ExitReason.HLT, 0, hltAt, 1],
  ]);
  assert.equal(r.fm.cpu.nonRoot, false, "the host runs in root operation after the exit");
  assert.equal(r.fm.cpu.vmExits, 4);
});

test("without HLT exiting the guest halts in non-root operation; I/O bitmaps choose which ports exit", () => {
  const guest = "mov dx, 0x3f8\n in al, dx\n mov dx, 0x8009\n out dx, ax\n mov dx, 0x7fff\n out dx, ax\n cpuid";
  const r = runHypervisor("core-duo", guest, new Map([
    [Vmcs.CPU_BASED_VM_EXEC_CONTROL, PROC0 | (1 << 25)], // use I/O bitmaps
    [Vmcs.IO_BITMAP_A, IO_A], [Vmcs.IO_BITMAP_B, IO_B],
  ]), (fm) => {
    fm.mem.write8(IO_B + (0x0009 >> 3), 1 << 1);   // port 8009h exits
    fm.mem.write8(IO_B, 0x01);                      // port 8000h: the second byte of OUT 7FFFh, AX
  });
  // IN from 3F8h: no bit, no exit. OUT 8009h: exits (word, DX). OUT 7FFFh with a word touches 8000h: exits.
  assert.deepEqual(r.exits.map((e) => [e.reason, e.qual]), [
    [ExitReason.IO_INSTRUCTION, 0x8009_0001],
    [ExitReason.IO_INSTRUCTION, 0x7fff_0001],
    [ExitReason.CPUID, 0],
  ]);
});

test("MSR bitmaps: RDMSR and WRMSR exit by the bitmap's bit, and always outside its two ranges", () => {
  const guest = [
    "mov ecx, 0x174\n rdmsr",         // SYSENTER_CS: read bit clear → no exit
    "mov ecx, 0x175\n wrmsr",         // write bit set → exit 32
    "mov ecx, 0xc0000080\n rdmsr",    // EFER is in the high range; bit set → exit 31 (core-duo has no EFER: the exit comes first)
    "mov ecx, 0x40000000\n rdmsr",    // outside both ranges → exit 31
    "cpuid",
  ].join("\n ");
  const r = runHypervisor("core-duo", guest, new Map([
    [Vmcs.CPU_BASED_VM_EXEC_CONTROL, PROC0 | (1 << 28)],
    [Vmcs.MSR_BITMAP, MSR_BITMAP],
  ]), (fm) => {
    fm.mem.write8(MSR_BITMAP + 2048 + (0x175 >> 3), 1 << (0x175 & 7));
    fm.mem.write8(MSR_BITMAP + 1024 + (0x80 >> 3), 1 << (0x80 & 7));
  });
  assert.deepEqual(r.exits.map((e) => e.reason), [ExitReason.MSR_WRITE, ExitReason.MSR_READ, ExitReason.MSR_READ, ExitReason.CPUID]);
});

test("RDTSC exiting, RDPMC exiting, INVLPG exiting (qualification: the linear address), MOV DR exiting", () => {
  const guest = "rdtsc\n xor ecx, ecx\n rdpmc\n invlpg [0x12345]\n mov eax, dr7\n mov dr0, ebx\n cpuid";
  const r = runHypervisor("core-duo", guest, new Map([
    [Vmcs.CPU_BASED_VM_EXEC_CONTROL, PROC0 | (1 << 12) | (1 << 11) | (1 << 9) | (1 << 23)],
  ]));
  assert.deepEqual(r.exits.map((e) => [e.reason, e.qual]), [
    [ExitReason.RDTSC, 0], [ExitReason.RDPMC, 0], [ExitReason.INVLPG, 0x12345],
    // Table 27-4: DR number 2:0, direction 4 (1 = MOV from DR), GPR 11:8.
    [ExitReason.DR_ACCESS, 7 | (1 << 4) | (0 << 8)], [ExitReason.DR_ACCESS, 0 | (3 << 8)],
    [ExitReason.CPUID, 0],
  ]);
});

test("TSC offsetting: RDTSC in the guest reads the TSC plus TSC_OFFSET", () => {
  const guest = "rdtsc\n mov [0x5000], eax\n mov [0x5004], edx\n cpuid";
  const r = runHypervisor("core-duo", guest, new Map([
    [Vmcs.CPU_BASED_VM_EXEC_CONTROL, PROC0 | (1 << 3)],
    [Vmcs.TSC_OFFSET, 0], [Vmcs.TSC_OFFSET + 1, 0x100],
  ]));
  assert.equal(r.exits[0].reason, ExitReason.CPUID);
  assert.equal(r.fm.mem.read32(0x5004), 0x100, "bits 63:32 come from the offset");
  assert.ok(r.fm.mem.read32(0x5000) > 0);
});

test("CR0 guest/host mask and read shadow: reads see the shadow, a write that changes an owned bit exits (table 27-3)", () => {
  const guest = [
    "mov eax, cr0\n mov [0x5000], eax",     // the shadow's TS (bit 3) shows, the real TS does not
    "smsw [0x5004]",
    "mov ebx, cr0\n or ebx, 8\n mov cr0, ebx",   // TS = 1 as in the shadow: no exit
    "mov ecx, cr0\n and ecx, ~0x20\n mov cr0, ecx", // NE owned and shadow has it set: clearing it exits
    "clts",                                 // TS owned and set in the shadow: exits
    "cpuid",
  ].join("\n ");
  const r = runHypervisor("core-duo", guest, (fm, f) => {
    f.set(Vmcs.CR0_GUEST_HOST_MASK, 0x28);  // TS, NE host-owned
    f.set(Vmcs.CR0_READ_SHADOW, 0x28);
  });
  assert.equal(r.fm.mem.read32(0x5000) & 8, 8, "MOV from CR0 reads TS from the shadow");
  assert.equal(r.fm.mem.read16(0x5004) & 8, 8, "SMSW too");
  assert.deepEqual(r.exits.map((e) => [e.reason, e.qual]), [
    [ExitReason.CR_ACCESS, 0 | (0 << 4) | (1 << 8)],   // MOV to CR0 from ECX
    [ExitReason.CR_ACCESS, 0 | (2 << 4)],              // CLTS
    [ExitReason.CPUID, 0],
  ]);
});

test("CR3-load exiting spares the CR3-target values; CR3-store exiting", () => {
  // The hypervisor does not emulate what exits: the stored CR3 goes nowhere, the loads use constants.
  const guest = "mov ebx, cr3\n mov eax, 0x20000\n mov cr3, eax\n mov ecx, 0x40000\n mov cr3, ecx\n cpuid";
  const r = runHypervisor("core-duo", guest, (fm, f) => {
    f.set(Vmcs.CPU_BASED_VM_EXEC_CONTROL, PROC0 | (1 << 15) | (1 << 16));
    f.set(Vmcs.CR3_TARGET_COUNT, 1);
    f.set(Vmcs.CR3_TARGET_VALUE0, fm.cpu.cr3);
  });
  assert.deepEqual(r.exits.map((e) => [e.reason, e.qual]), [
    [ExitReason.CR_ACCESS, 3 | (1 << 4) | (3 << 8)],   // MOV EBX, CR3
    // MOV CR3, EAX with the target value: no exit
    [ExitReason.CR_ACCESS, 3 | (0 << 4) | (1 << 8)],   // MOV CR3, ECX
    [ExitReason.CPUID, 0],
  ]);
});

test("the exception bitmap: #UD exits with its interruption information; #PF by error-code mask and match", () => {
  const ud = runHypervisor("core-duo", "ud2", new Map([[Vmcs.EXCEPTION_BITMAP, 1 << 6]]));
  assert.equal(ud.exits[0].reason, ExitReason.EXCEPTION_NMI);
  assert.equal(ud.exits[0].intrInfo, 0x8000_0306, "valid, hardware exception, vector 6");
  assert.equal(ud.exits[0].rip, GUEST, "a fault saves the faulting instruction's RIP");
  // A not-present write: error code 2. Bit 14 set and (PFEC & 2) == 2 exits; with match 0 it does not.
  const guest = "mov dword ptr [0x800000], 1";
  const unmap = (fm: Parameters<Parameters<typeof runHypervisor>[3] & object>[0]) => fm.mem.write32(0x20000 + 4 * 2, 0);
  const pf = runHypervisor("core-duo", guest, new Map([[Vmcs.EXCEPTION_BITMAP, 1 << 14],
    [Vmcs.PAGE_FAULT_ERROR_CODE_MASK, 2], [Vmcs.PAGE_FAULT_ERROR_CODE_MATCH, 2]]), unmap);
  assert.equal(pf.exits[0].reason, ExitReason.EXCEPTION_NMI);
  assert.equal(pf.exits[0].intrInfo, 0x8000_0b0e, "valid, error code delivered, hardware exception, vector 14");
  assert.equal(pf.exits[0].qual, 0x800000, "the qualification is the faulting linear address");
  assert.equal(pf.fm.cpu.cr2, 0, "CR2 is not loaded by a #PF that exits");
  const noExit = runHypervisor("core-duo", guest, new Map([[Vmcs.EXCEPTION_BITMAP, 1 << 14],
    [Vmcs.PAGE_FAULT_ERROR_CODE_MASK, 2], [Vmcs.PAGE_FAULT_ERROR_CODE_MATCH, 0]]), unmap);
  // Delivered through the guest's IDT instead: its stub for vector 14 halts (no HLT exiting).
  assert.equal(noExit.exits.length, 0);
  assert.equal(noExit.fm.cpu.nonRoot, true, "still in the guest, halted in its #PF stub");
  assert.equal(noExit.fm.cpu.cr2, 0x800000);
});

test("VMCALL exits unconditionally; so do VMX instructions in the guest and INVD", () => {
  const r = runHypervisor("core-duo", "vmcall\n invd\n cpuid\n vmxoff", new Map());
  assert.deepEqual(r.exits.map((e) => [e.reason, e.len]), [
    [ExitReason.VMCALL, 3], [ExitReason.INVD, 2], [ExitReason.CPUID, 2], [ExitReason.VMXOFF, 3],
  ]);
});

test("event injection: an injected #GP is delivered through the guest's IDT with its error code", () => {
  // The guest's IDT stub for vector 13 halts: with HLT exiting the exit shows where it went.
  const r = runHypervisor("core-duo", "nop", new Map([
    [Vmcs.CPU_BASED_VM_EXEC_CONTROL, PROC0 | (1 << 7)],
    [Vmcs.VM_ENTRY_INTR_INFO_FIELD, 0x8000_0b0d], [Vmcs.VM_ENTRY_EXCEPTION_ERROR_CODE, 0x1234],
  ]));
  assert.equal(r.exits[0].reason, ExitReason.HLT);
  assert.equal(r.exits[0].rip, 0x4000 + 13 * 16, "the #GP stub");
  assert.equal(r.fm.mem.read32(0x38000 - 4 * 4), 0x1234, "the error code was pushed on the guest's stack");
});

test("interrupt-window exiting: the exit comes once IF = 1 and no STI shadow blocks", () => {
  const r = runHypervisor("core-duo", "cli\n nop\n sti\n nop\n nop\n hlt", new Map([
    [Vmcs.CPU_BASED_VM_EXEC_CONTROL, PROC0 | (1 << 2) | (1 << 7)],
  ]));
  assert.equal(r.exits[0].reason, ExitReason.INTERRUPT_WINDOW);
  assert.equal(r.exits[0].rip, GUEST + 4, "after STI and the instruction its shadow covers");
});

test("the VMX-preemption timer (nehalem) counts down in the guest and exits at zero", () => {
  const r = runHypervisor("nehalem", "1:\n jmp 1b", (fm, f) => {
    f.set(Vmcs.PIN_BASED_VM_EXEC_CONTROL, 0x16 | (1 << 6));
    f.set(Vmcs.VM_EXIT_CONTROLS, 0x0003_6dff | (1 << 22));
    f.set(Vmcs.VMX_PREEMPTION_TIMER_VALUE, 10);
  });
  assert.equal(r.exits[0].reason, ExitReason.PREEMPTION_TIMER);
  // Rate 5: 10 × 32 cycles of guest time.
  assert.equal(r.fm.cpu.vmx!.get(Vmcs.VMX_PREEMPTION_TIMER_VALUE), 0, "saved as 0");
});

test("external-interrupt exiting with acknowledge on exit: the vector is in the exit's interruption information", () => {
  const r = runHypervisor("core-duo", "cli\n 1:\n jmp 1b", (fm, f) => {
    f.set(Vmcs.PIN_BASED_VM_EXEC_CONTROL, 0x16 | 1);
    f.set(Vmcs.VM_EXIT_CONTROLS, 0x0003_6dff | (1 << 15));
    void fm;
  }, (fm) => {
    // An interrupt source that always has vector 0x42 pending.
    fm.cpu.intr = { hasInterrupt: () => true, acknowledge: () => 0x42 };
    fm.cpu.intrLine = true;
  });
  assert.equal(r.exits[0].reason, ExitReason.EXTERNAL_INTERRUPT, "IF = 0 does not block it");
  assert.equal(r.exits[0].intrInfo, 0x8000_0042, "valid, external interrupt, vector 42h");
});

test("the instructions decode from the opcode table", () => {
  const bytes = asm("vmxon qword ptr [0x1000]\n vmclear qword ptr [0x1000]\n vmptrld qword ptr [0x1000]\n vmptrst qword ptr [0x1000]\n vmread eax, ebx\n vmwrite ebx, eax\n vmcall\n vmlaunch\n vmresume\n vmxoff");
  assert.deepEqual([...bytes.slice(0, 4)], [0xf3, 0x0f, 0xc7, 0x35]);
});

test("IDT-vectoring information: an exception while delivering INT 30h exits with the INT recorded (§27.2.4)", () => {
  const r = runHypervisor("core-duo", "int 0x30", new Map([[Vmcs.EXCEPTION_BITMAP, 1 << 11]]), (fm) => {
    fm.mem.write8(0x2000 + 0x30 * 8 + 5, fm.mem.read8(0x2000 + 0x30 * 8 + 5) & 0x7f); // gate 30h not present
  });
  assert.equal(r.exits[0].reason, ExitReason.EXCEPTION_NMI);
  assert.equal(r.exits[0].intrInfo, 0x8000_0b0b, "#NP with an error code");
  const vmx = r.fm.cpu.vmx!;
  assert.equal(vmx.get(Vmcs.VM_EXIT_INTR_ERROR_CODE), 0x30 * 8 + 2, "the IDT bit and the gate's index");
  assert.equal(vmx.get(Vmcs.IDT_VECTORING_INFO_FIELD) >>> 0, 0x8000_0430, "valid, software interrupt, vector 30h");
  // The next exit reports no vectoring.
  const plain = runHypervisor("core-duo", "cpuid", new Map());
  assert.equal(plain.fm.cpu.vmx!.get(Vmcs.IDT_VECTORING_INFO_FIELD), 0);
});

test("NMI exiting, and NMI-window exiting once virtual-NMI blocking ends (nehalem)", () => {
  // The guest raises the NMI itself: OUT to port 0xE0 (a test device) makes it pending.
  const r = runHypervisor("nehalem", "out 0xe0, al\n nop\n hlt", (fm, f) => {
    f.set(Vmcs.PIN_BASED_VM_EXEC_CONTROL, 0x16 | (1 << 3));
    fm.m.io.register(0xe0, 1, { read8: () => 0xff, write8: () => { fm.cpu.nmiPending = true; } });
  });
  // The NMI is pending after OUT: the next instruction boundary exits, saving the next RIP.
  assert.equal(r.exits[0].reason, ExitReason.EXCEPTION_NMI);
  assert.equal(r.exits[0].intrInfo, 0x8000_0202, "valid, NMI, vector 2");
  assert.equal(r.exits[0].rip, GUEST + 2);
  const w = runHypervisor("nehalem", "nop\n hlt", (fm, f) => {
    f.set(Vmcs.PIN_BASED_VM_EXEC_CONTROL, 0x16 | (1 << 3) | (1 << 5));
    f.set(Vmcs.CPU_BASED_VM_EXEC_CONTROL, 0x0400_6172 | (1 << 22));
    void fm;
  });
  assert.equal(w.exits[0].reason, ExitReason.NMI_WINDOW);
  assert.equal(w.exits[0].rip, GUEST);
});

test("a VM exit saves SS's DPL as the CPL, also for an unusable SS whose cache kept another DPL (SDM §24.4.1)", () => {
  // A 64-bit interrupt from ring 3 leaves SS null and unusable; what its descriptor cache
  // kept of the old DPL must not reach the VMCS, or the next entry would run ring 0 code at CPL 3.
  const r = runHypervisor("core-duo", "hlt", new Map([[Vmcs.CPU_BASED_VM_EXEC_CONTROL, PROC0 | (1 << 7)]]));
  assert.equal(r.eax, 0x600d, `the hypervisor ended normally (VM-instruction error ${r.failError})`);
  const cpu = r.fm.cpu, vmx = cpu.vmx!;
  const ss = cpu.segs[2];
  ss.access = 0xf3; ss.valid = false; ss.refresh();
  cpu.cpl = 0;
  vmx.exit(ExitReason.HLT, 0, cpu.eip);
  const ar = vmx.get(Vmcs.GUEST_SS_AR_BYTES);
  assert.equal((ar >>> 5) & 3, 0, "SS.DPL = CPL 0");
  assert.equal((ar >>> 16) & 1, 1, "still unusable");
});
