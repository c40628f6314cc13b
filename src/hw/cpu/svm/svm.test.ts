// SVM in the processor, checked against the AMD APM vol. 2 chapter 15 with a small
// hypervisor: host code in protected mode enables EFER.SVME, names a host save area, and
// runs a guest with VMRUN; the test (the hypervisor's exit handler) reads each #VMEXIT's
// code and information from the VMCB, moves the guest on, and runs it again.

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine, CODE, IDT, GDT, SEL, STUBS } from "../../../../test/support/flat-machine.js";
import { asm } from "../../../../test/protection/harness.js";
import { Vmcb, SvmExit, IoInfo } from "./vmcb.js";
import { SegReg } from "../segment.js";
import { Reg } from "../cpu.js";
import { EFER_SVME } from "./svm.js";

const HSAVE = 0x30000, VMCB = 0x31000, IOPM = 0x32000, MSRPM = 0x35000, GUEST = 0x20000, GUEST_STACK = 0x28000;

const VMRUN = ".byte 0x0f, 0x01, 0xd8";
/** The host: enable SVM, set VM_HSAVE_PA, then VMRUN / HLT forever (the test handles each exit at the HLT). */
const HOST = `
  mov ecx, 0xc0000080
  rdmsr
  or eax, 0x1000
  wrmsr
  mov ecx, 0xc0010117
  mov eax, ${HSAVE}
  xor edx, edx
  wrmsr
run:
  mov eax, ${VMCB}
  ${VMRUN}
  hlt
  jmp run
`;
const RUN_AT = CODE + asm(HOST.slice(0, HOST.indexOf("run:")) + "\nrun:").length;

interface Setup { misc1?: number; misc2?: number; exceptions?: number; asid?: number; cpu?: string }

class Hypervisor {
  readonly fm: FlatMachine;
  constructor(guest: string, s: Setup = {}) {
    this.fm = new FlatMachine({ cpu: s.cpu ?? "athlon64-revf" });
    this.fm.load(asm(HOST, CODE), CODE);
    this.fm.load(asm(guest, GUEST), GUEST);
    this.fm.cpu.eip = CODE;
    const w32 = (o: number, v: number) => this.fm.mem.write32(VMCB + o, v);
    w32(Vmcb.INTERCEPT_MISC1, s.misc1 ?? 0);
    w32(Vmcb.INTERCEPT_MISC2, (s.misc2 ?? 0) | 1); // VMRUN must be intercepted
    w32(Vmcb.INTERCEPT_EXCEPTIONS, s.exceptions ?? 0);
    w32(Vmcb.IOPM_BASE_PA, IOPM);
    w32(Vmcb.MSRPM_BASE_PA, MSRPM);
    w32(Vmcb.GUEST_ASID, s.asid ?? 1);
    const seg = (at: number, sel: number, attrib: number) => {
      this.fm.mem.write16(VMCB + at, sel); this.fm.mem.write16(VMCB + at + 2, attrib);
      w32(at + 4, 0xffff_ffff); w32(at + 8, 0); w32(at + 12, 0);
    };
    seg(Vmcb.CS, SEL.CODE0, 0xc9b);
    for (const at of [Vmcb.SS, Vmcb.DS, Vmcb.ES]) seg(at, SEL.DATA0, 0xc93);
    w32(Vmcb.GDTR + 4, 10 * 8 - 1); w32(Vmcb.GDTR + 8, GDT);
    w32(Vmcb.IDTR + 4, 256 * 8 - 1); w32(Vmcb.IDTR + 8, IDT);
    w32(Vmcb.CR0, 0x11); w32(Vmcb.EFER, EFER_SVME);
    w32(Vmcb.RFLAGS, 2); w32(Vmcb.RIP, GUEST); w32(Vmcb.RSP, GUEST_STACK);
  }
  r32(o: number): number { return this.fm.mem.read32(VMCB + o) >>> 0; }
  w32(o: number, v: number): void { this.fm.mem.write32(VMCB + o, v); }
  /** Run until the host halts after VMRUN; returns the exit code (-1 for INVALID). */
  run(): number {
    const cpu = this.fm.cpu;
    this.fm.runToHalt(10_000);
    assert.equal(cpu.eip, RUN_AT + 5 /* mov eax */ + 3 /* vmrun */ + 1 /* hlt */, "the host runs again after VMRUN");
    cpu.eip = RUN_AT;
    return this.r32(Vmcb.EXITCODE) | 0;
  }
  /** Resume the guest at its next instruction (EXITINFO2 for IOIO, else RIP + len). */
  skip(len: number): void { this.w32(Vmcb.RIP, this.r32(Vmcb.RIP) + len); }
}

test("an intercepted CPUID, OUT, RDMSR and HLT exit with the APM's codes, rIP and EXITINFO", () => {
  const hv = new Hypervisor(`
    xor eax, eax
    cpuid
    mov al, 0x55
    out 0x80, al
    out 0x81, al
    mov ecx, 0x10
    rdmsr
    hlt
  `, { misc1: (1 << 18) | (1 << 24) | (1 << 27) | (1 << 28) });
  hv.fm.mem.write8(IOPM + (0x80 >> 3), 1 << (0x80 & 7));
  hv.fm.mem.write8(MSRPM + ((0x10 * 2) >> 3), 1 << ((0x10 * 2) & 7)); // read of MSR 10h
  assert.equal(hv.run(), SvmExit.CPUID);
  assert.equal(hv.r32(Vmcb.RIP), GUEST + 2, "rIP at the CPUID");
  hv.skip(2);
  assert.equal(hv.run(), SvmExit.IOIO);
  assert.equal(hv.r32(Vmcb.EXITINFO1), ((0x80 << 16) | IoInfo.SZ8 | IoInfo.A32) >>> 0);
  assert.equal(hv.r32(Vmcb.EXITINFO2), GUEST + 8, "EXITINFO2: the next instruction's rIP");
  assert.equal(hv.r32(Vmcb.RAX) & 0xff, 0x55);
  hv.w32(Vmcb.RIP, hv.r32(Vmcb.EXITINFO2));
  // OUT 81h is not in the map: it runs in the guest.
  assert.equal(hv.run(), SvmExit.MSR);
  assert.equal(hv.r32(Vmcb.EXITINFO1), 0, "RDMSR");
  assert.equal(hv.r32(Vmcb.RIP), GUEST + 15);
  hv.skip(2);
  assert.equal(hv.run(), SvmExit.HLT);
  assert.equal(hv.r32(Vmcb.RIP), GUEST + 17);
  const cpu = hv.fm.cpu;
  // Back in the host: CPL 0, the host's CS and stack, RAX as VMRUN left it, GIF clear.
  assert.equal(cpu.cpl, 0);
  assert.equal(cpu.segs[SegReg.CS].selector, SEL.CODE0);
  assert.equal(cpu.regs[Reg.EAX] >>> 0, VMCB);
  assert.equal(cpu.gif, false);
  assert.equal(cpu.guest, null);
  assert.deepEqual([...cpu.svm!.exits.entries()], [[SvmExit.CPUID, 1], [SvmExit.IOIO, 1], [SvmExit.MSR, 1], [SvmExit.HLT, 1]]);
});

test("intercepted exceptions: #UD with rIP at the instruction, #GP with its error code in EXITINFO1", () => {
  const hv = new Hypervisor(`
    ud2
    mov ax, 0x1234
    mov ds, ax
    hlt
  `, { exceptions: (1 << 6) | (1 << 13), misc1: 1 << 24 });
  assert.equal(hv.run(), SvmExit.EXCP0 + 6);
  assert.equal(hv.r32(Vmcb.RIP), GUEST);
  hv.skip(2);
  assert.equal(hv.run(), SvmExit.EXCP0 + 13);
  assert.equal(hv.r32(Vmcb.EXITINFO1), 0x1234, "#GP(selector): index 246h, TI set");
  assert.equal(hv.r32(Vmcb.RIP), GUEST + 6, "rIP at the faulting MOV DS");
});

test("not intercepted, a guest's exception goes through the guest's IDT", () => {
  const hv = new Hypervisor("ud2", { misc1: 1 << 24 });
  assert.equal(hv.run(), SvmExit.HLT);
  assert.equal(hv.r32(Vmcb.RIP), STUBS + 6 * 16, "the guest's #UD stub halted");
});

test("VMRUN's consistency checks: ASID 0 and a clear VMRUN intercept give #VMEXIT(INVALID) and the guest never runs", () => {
  const hv = new Hypervisor("hlt", { asid: 0, misc1: 1 << 24 });
  assert.equal(hv.run(), SvmExit.INVALID);
  assert.equal(hv.fm.cpu.gif, false);
  const hv2 = new Hypervisor("hlt", { misc1: 1 << 24 });
  hv2.w32(Vmcb.INTERCEPT_MISC2, 0);
  assert.equal(hv2.run(), SvmExit.INVALID);
  const hv3 = new Hypervisor("hlt", { misc1: 1 << 24 });
  hv3.w32(Vmcb.CR0, 0x2000_0011); // NW without CD
  assert.equal(hv3.run(), SvmExit.INVALID);
});

test("an injected external interrupt is delivered through the guest's IDT before its first instruction", () => {
  const hv = new Hypervisor("nop\n hlt", { misc1: 1 << 24 });
  hv.w32(Vmcb.EVENTINJ, (0x30 | (1 << 31)) >>> 0);
  assert.equal(hv.run(), SvmExit.HLT);
  assert.equal(hv.r32(Vmcb.RIP), STUBS + 0x30 * 16, "the guest halted in its vector-30h stub");
  assert.equal(hv.r32(Vmcb.EVENTINJ) >>> 31, 0, "EVENTINJ.V is cleared once the event is taken");
});

test("a physical interrupt exits with INTR and stays pending for the host", () => {
  const hv = new Hypervisor("sti\n 1: jmp 1b", { misc1: 1 | (1 << 24) });
  let acks = 0;
  const cpu = hv.fm.cpu;
  cpu.intr = { hasInterrupt: () => true, acknowledge: () => { acks++; return 0x40; } };
  cpu.intrLine = true;
  assert.equal(hv.run(), SvmExit.INTR);
  assert.equal(acks, 0, "not acknowledged by the exit");
});

test("SVM instructions: #UD without EFER.SVME, #GP(0) at CPL 3, #UD on a part without SVM", () => {
  const noSvme = new FlatMachine({ cpu: "athlon64-revf" });
  noSvme.load(asm(`mov eax, ${VMCB}\n ${VMRUN}`, CODE), CODE);
  assert.equal(noSvme.runToHalt(), 6);
  const noSvm = new FlatMachine({ cpu: "athlon64-reve" });
  noSvm.load(asm(".byte 0x0f, 0x01, 0xdc", CODE), CODE); // STGI
  assert.equal(noSvm.runToHalt(), 6);
  const user = new FlatMachine({ cpu: "athlon64-revf", cpl: 3 });
  user.cpu.efer |= EFER_SVME;
  user.load(asm(".byte 0x0f, 0x01, 0xdd", CODE), CODE); // CLGI
  assert.equal(user.runToHalt(), 13);
});

test("the guest's TSC is offset by the VMCB's TSC_OFFSET", () => {
  const hv = new Hypervisor("rdtsc\n hlt", { misc1: 1 << 24 });
  hv.w32(Vmcb.TSC_OFFSET, 1_000_000);
  assert.equal(hv.run(), SvmExit.HLT);
  const guestTsc = hv.r32(Vmcb.RAX);
  const hostTsc = hv.fm.cpu.readTsc();
  assert.ok(guestTsc > 1_000_000 && guestTsc < 1_000_000 + hostTsc, `guest TSC ${guestTsc}, host ${hostTsc}`);
});

test("VMSAVE and VMLOAD move FS, GS, TR, LDTR and the SYSCALL/SYSENTER MSRs", () => {
  const fm = new FlatMachine({ cpu: "athlon64-revf" });
  fm.cpu.efer |= EFER_SVME;
  fm.cpu.sysenterEip = 0x1234_5678;
  fm.load(asm(`mov eax, ${VMCB}\n .byte 0x0f, 0x01, 0xdb\n mov dword ptr [${VMCB + Vmcb.SYSENTER_EIP}], 0x42\n .byte 0x0f, 0x01, 0xda\n hlt`, CODE), CODE);
  assert.equal(fm.runToHalt(), -1);
  assert.equal(fm.mem.read16(VMCB + Vmcb.FS), SEL.DATA0);
  assert.equal(fm.mem.read16(VMCB + Vmcb.TR), SEL.TSS);
  assert.equal(fm.cpu.sysenterEip, 0x42, "VMLOAD loaded what was written after VMSAVE");
});

test("CPUID reports SVM on athlon64-revf and nested paging on barcelona only", () => {
  const out = new Int32Array(4);
  for (const [model, np] of [["athlon64-revf", 0], ["barcelona", 1]] as const) {
    const fm = new FlatMachine({ cpu: model });
    fm.cpu.cpuidTable.lookup(0x8000_0001, 0, false, out);
    assert.equal((out[2] >>> 2) & 1, 1, `${model}: SVM`);
    fm.cpu.cpuidTable.lookup(0x8000_000a, 0, false, out);
    assert.deepEqual([out[0], out[1], out[3] & 1], [1, 64, np], model);
  }
});

// ---- Nested paging (APM vol. 2 §15.25), on barcelona ----

const NPT_PD = 0x40000, NPT_PT = 0x41000;

/** Host tables (legacy format: the host runs without PAE) mapping guest-physical 0–4 MiB 1:1, user and writable. */
function nestedIdentity(hv: Hypervisor): void {
  const m = hv.fm.mem;
  m.write32(NPT_PD, NPT_PT | 7);
  for (let p = 0; p < 1024; p++) m.write32(NPT_PT + p * 4, (p << 12) | 7);
  hv.w32(Vmcb.NP_ENABLE, 1);
  hv.w32(Vmcb.N_CR3, NPT_PD);
}
const npte = (gpa: number) => NPT_PT + (gpa >>> 12) * 4;

test("nested paging: guest-physical pages move, and a missing or read-only host page is #VMEXIT(NPF) with its GPA", () => {
  const hv = new Hypervisor(`
    mov eax, [0x60000]
    mov [0x60000], eax
    hlt
  `, { cpu: "barcelona", misc1: 1 << 24 });
  nestedIdentity(hv);
  const m = hv.fm.mem;
  // The guest's code page lives at host 0x50000; guest-physical 0x60000 is not mapped.
  for (let k = 0; k < 64; k++) m.write8(0x50000 + k, m.read8(GUEST + k));
  m.write32(GUEST, 0xdeadbeef); // what the guest would run without the nested mapping
  m.write32(npte(GUEST), 0x50000 | 7);
  m.write32(npte(0x60000), 0);
  assert.equal(hv.run(), SvmExit.NPF);
  assert.equal(hv.r32(Vmcb.RIP), GUEST, "rIP at the load");
  assert.equal(hv.r32(Vmcb.EXITINFO2), 0x60000);
  assert.deepEqual([hv.r32(Vmcb.EXITINFO1), hv.r32(Vmcb.EXITINFO1 + 4)], [4, 1], "not present, read, user; bit 32: the final address");
  // Map it read-only at host 0x70000.
  m.write32(0x70000, 0x1234_5678);
  m.write32(npte(0x60000), 0x70000 | 5);
  assert.equal(hv.run(), SvmExit.NPF);
  assert.equal(hv.r32(Vmcb.RAX), 0x1234_5678, "the load read host 0x70000");
  assert.deepEqual([hv.r32(Vmcb.EXITINFO1), hv.r32(Vmcb.EXITINFO1 + 4)], [7, 1], "present, write, user");
  m.write32(npte(0x60000), 0x70000 | 7);
  assert.equal(hv.run(), SvmExit.HLT);
  assert.ok(hv.fm.cpu.svm!.exits.get(SvmExit.NPF) === 2);
  assert.equal(hv.fm.cpu.nested, null, "nested paging ends with the guest");
});

test("nested paging: a fault on the guest's own page tables sets EXITINFO1 bit 33", () => {
  const hv = new Hypervisor("hlt", { cpu: "barcelona", misc1: 1 << 24 });
  nestedIdentity(hv);
  // The guest pages with its page directory at guest-physical 0x80000, which the host does not map.
  hv.w32(Vmcb.CR0, 0x8000_0011);
  hv.w32(Vmcb.CR3, 0x80000);
  hv.fm.mem.write32(npte(0x80000), 0);
  assert.equal(hv.run(), SvmExit.NPF);
  assert.equal(hv.r32(Vmcb.EXITINFO2), 0x80000, "the PDE's guest-physical address");
  assert.deepEqual([hv.r32(Vmcb.EXITINFO1), hv.r32(Vmcb.EXITINFO1 + 4)], [4, 2]);
});

test("without NPT (athlon64-revf) NP_ENABLE is ignored: guest-physical is host-physical", () => {
  const hv = new Hypervisor("mov eax, [0x60000]\n hlt", { misc1: 1 << 24 });
  nestedIdentity(hv);
  hv.fm.mem.write32(npte(0x60000), 0);
  hv.fm.mem.write32(0x60000, 77);
  assert.equal(hv.run(), SvmExit.HLT);
  assert.equal(hv.r32(Vmcb.RAX), 77);
});

test("V_IRQ: a virtual interrupt waits for the guest's IF and its interrupt shadow, then exits with VINTR or goes through the guest's IDT", () => {
  const guest = "cli\n nop\n sti\n nop\n nop\n hlt";
  for (const intercept of [true, false]) {
    const hv = new Hypervisor(guest, { misc1: (intercept ? 1 << 4 : 0) | (1 << 24) });
    hv.fm.cpu.intr = { hasInterrupt: () => false, acknowledge: () => 0 };
    hv.w32(Vmcb.VINTR, (1 << 8) | (1 << 24)); // V_IRQ, V_INTR_MASKING
    hv.fm.mem.write8(VMCB + Vmcb.VINTR_VECTOR, 0x31);
    if (intercept) {
      assert.equal(hv.run(), SvmExit.VINTR);
      // CLI, NOP, STI, then one more instruction in STI's shadow: the exit is before the second NOP.
      assert.equal(hv.r32(Vmcb.RIP), GUEST + 4);
      assert.equal((hv.r32(Vmcb.VINTR) >>> 8) & 1, 1, "V_IRQ still pending");
    } else {
      assert.equal(hv.run(), SvmExit.HLT);
      assert.equal(hv.r32(Vmcb.RIP), STUBS + 0x31 * 16, "taken through the guest's vector-31h gate");
      assert.equal((hv.r32(Vmcb.VINTR) >>> 8) & 1, 0, "V_IRQ consumed");
    }
    assert.equal(hv.fm.cpu.virq, false);
  }
});

test("an intercepted task switch exits before any of its checks: EXITINFO1 the TSS selector, EXITINFO2 bit 38 for a far JMP", () => {
  // A far JMP to the (available) TSS at selector 28h: without the intercept it would switch
  // tasks and load CR3 from the TSS, which a hypervisor shadowing the guest's page tables
  // must see first.
  const hv = new Hypervisor(`
    jmp 0x28:0
  `, { misc1: (1 << 29) | (1 << 24) });
  assert.equal(hv.run(), SvmExit.TASK_SWITCH);
  assert.equal(hv.r32(Vmcb.EXITINFO1), SEL.TSS);
  assert.equal(hv.r32(Vmcb.EXITINFO2), 0);
  assert.equal(hv.r32(Vmcb.EXITINFO2 + 4), 1 << (38 - 32), "caused by a far JMP");
  assert.equal(hv.r32(Vmcb.RIP), GUEST, "rIP at the JMP");
});

// ---- What Linux's kvm_amd needs of the host (docs/kvm-in-guest.md) ----

test("IA32_PAT: reset value 0007040600070406h, writes kept, a reserved memory type is #GP(0); CPUID.1:EDX.PAT on the SVM parts", () => {
  const hv = new Hypervisor("hlt", { cpu: "barcelona", misc1: 1 << 24 });
  const cpu = hv.fm.cpu;
  const out = new Int32Array(4);
  cpu.cpuidTable.lookup(1, 0, false, out);
  assert.equal((out[3] >>> 16) & 1, 1, "leaf 1 EDX bit 16");
  cpu.cpuidTable.lookup(0x8000_0001, 0, false, out);
  assert.equal((out[3] >>> 16) & 1, 1, "AMD repeats it in 8000_0001h EDX");
  // KVM's check (arch/x86/kvm/x86.c, kvm_arch_init): RDMSR of PAT must work and PA0 be WB (6).
  const fm = new FlatMachine({ cpu: "barcelona" });
  fm.load(asm(`
    mov ecx, 0x277
    rdmsr
    mov esi, eax
    mov edi, edx
    mov eax, 0x00070106
    mov edx, 0x00070406
    wrmsr
    rdmsr
    mov ebx, eax
    mov eax, 0x00020406
    wrmsr
    hlt
  `, CODE), CODE);
  fm.cpu.eip = CODE;
  fm.runToHalt(1000);
  assert.deepEqual([fm.cpu.regs[Reg.ESI] >>> 0, fm.cpu.regs[Reg.EDI] >>> 0], [0x0007_0406, 0x0007_0406], "reset value");
  assert.equal(fm.cpu.regs[Reg.EBX] >>> 0, 0x0007_0106, "PA1 = WC kept");
  assert.equal(fm.cpu.fault.vector, 13, "PA2 = 2 (reserved) is #GP");
});

test("nested paging: the guest's PAT is G_PAT; the host's comes back at #VMEXIT (APM §15.25.8)", () => {
  const hv = new Hypervisor(`
    mov ecx, 0x277
    rdmsr
    mov ebx, eax
    mov eax, 0x00000006
    xor edx, edx
    wrmsr
    mov eax, ebx
    hlt
  `, { cpu: "barcelona", misc1: 1 << 24 });
  nestedIdentity(hv);
  hv.w32(Vmcb.G_PAT, 0x0106_0406); hv.w32(Vmcb.G_PAT + 4, 0x0007_0406);
  assert.equal(hv.run(), SvmExit.HLT);
  assert.equal(hv.r32(Vmcb.RAX), 0x0106_0406, "RDMSR in the guest read G_PAT");
  assert.deepEqual([hv.r32(Vmcb.G_PAT), hv.r32(Vmcb.G_PAT + 4)], [6, 0], "the guest's WRMSR went to G_PAT");
  assert.deepEqual(hv.fm.cpu.plainMsrs.get(0x277) ?? [0x0007_0406, 0x0007_0406], [0x0007_0406, 0x0007_0406], "the host's PAT is untouched");
});

test("#VMEXIT saves RAX and RSP exactly, all 64 bits (a value above 2^53 loses no low bits)", () => {
  const hv = new Hypervisor("hlt", { misc1: 1 << 24 });
  hv.w32(Vmcb.RAX, 0xcccc_cccc | 0); hv.w32(Vmcb.RAX + 4, 0xcccc_cccc | 0);
  hv.w32(Vmcb.RSP, GUEST_STACK); hv.w32(Vmcb.RSP + 4, 0xffff_ffff | 0);
  assert.equal(hv.run(), SvmExit.HLT);
  assert.deepEqual([hv.r32(Vmcb.RAX), hv.r32(Vmcb.RAX + 4)], [0xcccc_cccc, 0xcccc_cccc]);
  assert.deepEqual([hv.r32(Vmcb.RSP), hv.r32(Vmcb.RSP + 4)], [GUEST_STACK, 0xffff_ffff]);
});
