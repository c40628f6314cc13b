// Test support: a small hypervisor written in assembly that runs on the flat machine
// (test/support/flat-machine.ts) in VMX root operation. The test writes the VMCS fields it
// wants into a table; the hypervisor does VMXON, VMCLEAR, VMPTRLD, one VMWRITE per table
// row, VMLAUNCH, and on every exit logs (exit reason, qualification, guest RIP,
// interruption information, instruction length). Exits for instructions resume the guest
// after the instruction; any other exit, HLT, and a failed VMLAUNCH/VMRESUME end the run.
//
// Memory (besides the flat machine's 0x1000–0x9000 and the code at 0x10000):
//   0x20000 page directory (4-MiB pages, identity)   0x21000 VMXON region   0x22000 VMCS
//   0x23000 I/O bitmap A   0x24000 I/O bitmap B   0x25000 MSR bitmap
//   0x26000 exit log: count at +0, entries of 5 dwords from +16; after a VMfail: EFLAGS at
//           +4 and VM_INSTRUCTION_ERROR at +8
//   0x27000 the table of (field, value) pairs, ended by field FFFFFFFFh
//   0x30000 guest code   0x38000 guest stack top

import { FlatMachine, SEL, GDT, IDT, TSS } from "./flat-machine.js";
import { asm } from "../protection/harness.js";
import { CR0_NE, CR0_PG, CR4_PSE, CR4_VMXE } from "../../src/hw/cpu/cpu.js";
import { Vmcs } from "../../src/hw/cpu/vmx/vmcs-fields.js";

export const PD = 0x20000, VMXON_REGION = 0x21000, VMCS_REGION = 0x22000, IO_A = 0x23000, IO_B = 0x24000,
  MSR_BITMAP = 0x25000, LOG = 0x26000, TABLE = 0x27000, GUEST = 0x30000, GUEST_STACK = 0x38000;

/** Put the flat machine in the state VMXON needs (CR0.PG and NE, CR4.VMXE, IA32_FEATURE_CONTROL locked). */
export function vmxReady(fm: FlatMachine, opts: { featureControl?: number; vmxe?: boolean } = {}): void {
  const cpu = fm.cpu;
  for (let k = 0; k < 1024; k++) fm.mem.write32(PD + 4 * k, ((k << 22) | 0x87) >>> 0); // P RW U PS
  cpu.setCr4(cpu.cr4 | CR4_PSE | (opts.vmxe === false ? 0 : CR4_VMXE));
  cpu.setCr3(PD);
  cpu.setCr0(cpu.cr0 | CR0_PG | CR0_NE);
  cpu.plainMsrs.set(0x3a, [opts.featureControl ?? 5, 0]);
}

/** The (field, value) rows of a VMCS that enters a flat 32-bit guest at GUEST and exits to the host. */
export function baseVmcs(fm: FlatMachine): Map<number, number> {
  const cpu = fm.cpu;
  const f = new Map<number, number>();
  const caps = cpu.vmx!.caps;
  f.set(Vmcs.PIN_BASED_VM_EXEC_CONTROL, 0x16);
  f.set(Vmcs.CPU_BASED_VM_EXEC_CONTROL, caps.trueControls ? 0x0400_6172 : 0x0401_e172);
  f.set(Vmcs.VM_EXIT_CONTROLS, 0x0003_6dff);
  f.set(Vmcs.VM_ENTRY_CONTROLS, 0x0000_11ff);
  // Host state: this machine's own.
  f.set(Vmcs.HOST_CR0, cpu.cr0); f.set(Vmcs.HOST_CR3, cpu.cr3); f.set(Vmcs.HOST_CR4, cpu.cr4);
  f.set(Vmcs.HOST_CS_SELECTOR, SEL.CODE0);
  for (const e of [Vmcs.HOST_SS_SELECTOR, Vmcs.HOST_DS_SELECTOR, Vmcs.HOST_ES_SELECTOR, Vmcs.HOST_FS_SELECTOR, Vmcs.HOST_GS_SELECTOR]) f.set(e, SEL.DATA0);
  f.set(Vmcs.HOST_TR_SELECTOR, SEL.TSS); f.set(Vmcs.HOST_TR_BASE, TSS);
  f.set(Vmcs.HOST_GDTR_BASE, GDT); f.set(Vmcs.HOST_IDTR_BASE, IDT);
  // Guest state: flat ring 0, the same tables, paging as the host.
  f.set(Vmcs.GUEST_CR0, cpu.cr0); f.set(Vmcs.GUEST_CR3, cpu.cr3); f.set(Vmcs.GUEST_CR4, cpu.cr4);
  f.set(Vmcs.GUEST_DR7, 0x400);
  for (let k = 0; k < 6; k++) {
    const code = k === 1;
    f.set(Vmcs.GUEST_ES_SELECTOR + 2 * k, code ? SEL.CODE0 : SEL.DATA0);
    f.set(Vmcs.GUEST_ES_BASE + 2 * k, 0);
    f.set(Vmcs.GUEST_ES_LIMIT + 2 * k, 0xffff_ffff);
    f.set(Vmcs.GUEST_ES_AR_BYTES + 2 * k, code ? 0xc09b : 0xc093);
  }
  f.set(Vmcs.GUEST_LDTR_AR_BYTES, 0x10000);
  f.set(Vmcs.GUEST_TR_SELECTOR, SEL.TSS); f.set(Vmcs.GUEST_TR_BASE, TSS); f.set(Vmcs.GUEST_TR_LIMIT, 0x67);
  f.set(Vmcs.GUEST_TR_AR_BYTES, 0x8b);
  f.set(Vmcs.GUEST_GDTR_BASE, GDT); f.set(Vmcs.GUEST_GDTR_LIMIT, cpu.gdtrLimit);
  f.set(Vmcs.GUEST_IDTR_BASE, IDT); f.set(Vmcs.GUEST_IDTR_LIMIT, cpu.idtrLimit);
  f.set(Vmcs.GUEST_RSP, GUEST_STACK); f.set(Vmcs.GUEST_RIP, GUEST); f.set(Vmcs.GUEST_RFLAGS, 2);
  f.set(Vmcs.VMCS_LINK_POINTER, 0xffff_ffff); f.set(Vmcs.VMCS_LINK_POINTER + 1, 0xffff_ffff);
  return f;
}

/** Exit reasons the hypervisor resumes the guest after (the guest RIP moves past the instruction). */
const RESUME = [10, 13, 14, 15, 16, 18, 28, 29, 30, 31, 32, 51, 54];

/** The hypervisor (GNU as, Intel syntax), at 0x10000. */
export const HYPERVISOR = `
  mov ecx, 0x480
  rdmsr
  mov [${VMXON_REGION}], eax
  mov [${VMCS_REGION}], eax
  vmxon qword ptr [vmxon_ptr]
  jbe fail
  vmclear qword ptr [vmcs_ptr]
  jbe fail
  vmptrld qword ptr [vmcs_ptr]
  jbe fail
  mov esi, ${TABLE}
1:
  mov eax, [esi]
  cmp eax, -1
  je 2f
  mov ebx, [esi + 4]
  vmwrite eax, ebx
  jbe fail
  add esi, 8
  jmp 1b
2:
  mov eax, ${Vmcs.HOST_RSP}
  vmwrite eax, esp
  mov eax, ${Vmcs.HOST_RIP}
  mov ebx, offset exit_handler
  vmwrite eax, ebx
  vmlaunch
  jmp fail
exit_handler:
  mov edi, [${LOG}]
  cmp edi, 32
  jae done
  imul edi, edi, 20
  add edi, ${LOG + 16}
  mov eax, ${Vmcs.VM_EXIT_REASON}
  vmread [edi], eax
  mov eax, ${Vmcs.EXIT_QUALIFICATION}
  vmread [edi + 4], eax
  mov eax, ${Vmcs.GUEST_RIP}
  vmread [edi + 8], eax
  mov eax, ${Vmcs.VM_EXIT_INTR_INFO}
  vmread [edi + 12], eax
  mov eax, ${Vmcs.VM_EXIT_INSTRUCTION_LEN}
  vmread [edi + 16], eax
  inc dword ptr [${LOG}]
  mov ebx, [edi]
  ${RESUME.map((r) => `cmp ebx, ${r}\n  je resume`).join("\n  ")}
  jmp done
resume:
  mov eax, ${Vmcs.GUEST_RIP}
  vmread ebx, eax
  add ebx, [edi + 16]
  vmwrite eax, ebx
  vmresume
  jmp fail
done:
  mov eax, 0x600d
  hlt
fail:
  pushfd
  pop dword ptr [${LOG + 4}]
  mov eax, ${Vmcs.VM_INSTRUCTION_ERROR}
  vmread [${LOG + 8}], eax
  mov eax, 0xbad
  hlt
.balign 8
vmxon_ptr: .long ${VMXON_REGION}, 0
vmcs_ptr: .long ${VMCS_REGION}, 0
`;

export interface ExitRecord { reason: number; qual: number; rip: number; intrInfo: number; len: number }

export interface HypervisorRun {
  fm: FlatMachine;
  exits: ExitRecord[];
  /** 0x600d after the log ended normally, 0xbad after a VMfail. */
  eax: number;
  /** After a VMfail: the flags VMLAUNCH/VMRESUME/VMWRITE left, and the VM-instruction error. */
  failFlags: number;
  failError: number;
}

/**
 * Run the hypervisor on `cpu` with the base VMCS changed by `fields` and `guest` as the
 * guest's code (GNU as, Intel syntax; it runs at GUEST).
 */
export function runHypervisor(cpu: string, guest: string, fields: Map<number, number> | ((fm: FlatMachine, f: Map<number, number>) => void),
  setup?: (fm: FlatMachine) => void, budget = 200_000): HypervisorRun {
  const fm = new FlatMachine({ cpu });
  vmxReady(fm);
  const f = baseVmcs(fm);
  if (typeof fields === "function") fields(fm, f);
  else for (const [k, v] of fields) f.set(k, v);
  let p = TABLE;
  for (const [k, v] of f) { fm.mem.write32(p, k); fm.mem.write32(p + 4, v >>> 0); p += 8; }
  fm.mem.write32(p, -1);
  fm.mem.load(GUEST, asm(guest, GUEST));
  setup?.(fm);
  fm.load(asm(HYPERVISOR));
  fm.runToHalt(budget);
  const n = fm.mem.read32(LOG);
  const exits: ExitRecord[] = [];
  for (let k = 0; k < n && k < 32; k++) {
    const e = LOG + 16 + 20 * k;
    exits.push({ reason: fm.mem.read32(e) >>> 0, qual: fm.mem.read32(e + 4) >>> 0, rip: fm.mem.read32(e + 8) >>> 0,
      intrInfo: fm.mem.read32(e + 12) >>> 0, len: fm.mem.read32(e + 16) });
  }
  return { fm, exits, eax: fm.cpu.regs[0] >>> 0, failFlags: fm.mem.read32(LOG + 4), failError: fm.mem.read32(LOG + 8) };
}
