// The VMX instructions' outcomes (SDM vol. 3C §30.2 "Conventions", §30.4 "VM instruction
// error numbers", and each instruction's page in chapter 31): #UD and #GP before anything,
// then VMsucceed (CF = ZF = 0), VMfailInvalid (CF = 1) or VMfailValid (ZF = 1, with the
// error number in the current VMCS).

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine } from "../../../../test/support/flat-machine.js";
import { loadAsm } from "../../../../test/protection/harness.js";
import { vmxReady, VMXON_REGION, VMCS_REGION } from "../../../../test/support/vmx-hypervisor.js";
import { Vector } from "../fault.js";
import { Vmcs, VmxError } from "./vmcs-fields.js";
import { VMCS_REVISION } from "./capabilities.js";

const CF = 1, ZF = 0x40;
const PTRS = 0x5000; // qword pointers: +0 VMXON region, +8 VMCS, +16 an unaligned address, +24 a second VMCS
const VMCS2 = 0x28000;
const ON = `vmxon qword ptr [${PTRS}]`, LOAD = `vmptrld qword ptr [${PTRS + 8}]`;

interface Outcome { vector: number; flags: number; error: number; fm: FlatMachine }

/** Run `code` on a VMX-ready flat machine; the last instruction's flags and the VM-instruction error come back. */
function run(code: string, opts: { cpu?: string; cpl?: 0 | 3; vmxe?: boolean; featureControl?: number } = {}): Outcome {
  const fm = new FlatMachine({ cpu: opts.cpu ?? "core-duo" });
  vmxReady(fm, opts);
  for (const r of [VMXON_REGION, VMCS_REGION, VMCS2]) fm.mem.write32(r, VMCS_REVISION);
  fm.mem.write32(PTRS, VMXON_REGION); fm.mem.write32(PTRS + 8, VMCS_REGION); fm.mem.write32(PTRS + 16, VMCS_REGION + 8);
  fm.mem.write32(PTRS + 24, VMCS2);
  if (opts.cpl === 3) fm.enterRing(3);
  loadAsm(fm, `${code}\n pushfd\n pop eax\n hlt`);
  const vector = fm.runToHalt(10_000);
  const v = fm.cpu.vmx;
  return { vector, flags: fm.cpu.regs[0] & (CF | ZF), error: v === null || v.current === -1 ? -1 : v.get(Vmcs.VM_INSTRUCTION_ERROR), fm };
}

test("VMXON: #UD without CR4.VMXE, #GP(0) at CPL 3 and with IA32_FEATURE_CONTROL unlocked or VMX disabled", () => {
  assert.equal(run(ON, { vmxe: false }).vector, Vector.UD);
  assert.equal(run(ON, { cpl: 3 }).vector, Vector.GP);
  assert.equal(run(ON, { featureControl: 4 }).vector, Vector.GP, "not locked");
  assert.equal(run(ON, { featureControl: 1 }).vector, Vector.GP, "VMX outside SMX not enabled");
  assert.equal(run(ON, { cpu: "pentium3", vmxe: false }).vector, Vector.UD, "no VMX on the model (CR4.VMXE cannot even be set)");
});

test("VMXON: VMfailInvalid for an unaligned region or a wrong revision; VMsucceed; again in root operation: VMfail(15)", () => {
  assert.deepEqual(pick(run(`vmxon qword ptr [${PTRS + 16}]`)), [-1, CF, -1]);
  const bad = run(`mov dword ptr [${VMXON_REGION}], 1\n ${ON}`);
  assert.deepEqual(pick(bad), [-1, CF, -1]);
  assert.equal(bad.fm.cpu.vmx!.on, false);
  const ok = run(ON);
  assert.deepEqual(pick(ok), [-1, 0, -1]);
  assert.equal(ok.fm.cpu.vmx!.on, true);
  assert.deepEqual(pick(run(`${ON}\n ${ON}`)), [-1, CF, -1], "no current VMCS: VMfailInvalid");
  assert.deepEqual(pick(run(`${ON}\n ${LOAD}\n ${ON}`)), [-1, ZF, VmxError.VMXON_IN_ROOT]);
});

test("outside VMX operation the other VMX instructions are #UD; VMCALL too", () => {
  for (const insn of ["vmxoff", LOAD, "vmlaunch", "vmcall", "vmread eax, ebx", `vmptrst qword ptr [${PTRS + 32}]`]) {
    assert.equal(run(insn).vector, Vector.UD, insn);
  }
  assert.equal(run(`${ON}\n vmxoff\n vmxoff`).vector, Vector.UD, "VMXOFF leaves VMX operation");
});

test("in VMX root operation at CPL 3: #GP(0)", () => {
  const fm = run(`${ON}`);
  assert.equal(fm.fm.cpu.vmx!.on, true);
  // Enter ring 3 after VMXON (the flat machine's ring-3 segments) and try VMPTRLD there.
  fm.fm.enterRing(3);
  loadAsm(fm.fm, LOAD);
  assert.equal(fm.fm.runToHalt(100), Vector.GP);
});

test("VMCLEAR and VMPTRLD: invalid address (2, 9), the VMXON pointer (3, 10), a wrong revision (11)", () => {
  assert.deepEqual(pick(run(`${ON}\n ${LOAD}\n vmclear qword ptr [${PTRS + 16}]`)), [-1, ZF, VmxError.VMCLEAR_INVALID_ADDRESS]);
  assert.deepEqual(pick(run(`${ON}\n ${LOAD}\n vmclear qword ptr [${PTRS}]`)), [-1, ZF, VmxError.VMCLEAR_VMXON_POINTER]);
  assert.deepEqual(pick(run(`${ON}\n ${LOAD}\n vmptrld qword ptr [${PTRS + 16}]`)), [-1, ZF, VmxError.VMPTRLD_INVALID_ADDRESS]);
  assert.deepEqual(pick(run(`${ON}\n ${LOAD}\n vmptrld qword ptr [${PTRS}]`)), [-1, ZF, VmxError.VMPTRLD_VMXON_POINTER]);
  assert.deepEqual(pick(run(`${ON}\n ${LOAD}\n mov dword ptr [${VMCS2}], 5\n vmptrld qword ptr [${PTRS + 24}]`)),
    [-1, ZF, VmxError.VMPTRLD_INCORRECT_REVISION]);
  // Without a current VMCS the same failures are VMfailInvalid.
  assert.deepEqual(pick(run(`${ON}\n vmclear qword ptr [${PTRS}]`)), [-1, CF, -1]);
});

test("VMPTRST stores the current-VMCS pointer, all ones when there is none; VMCLEAR of the current VMCS makes it invalid", () => {
  const none = run(`${ON}\n vmptrst qword ptr [0x6000]`);
  assert.equal(none.fm.mem.read32(0x6000), -1); assert.equal(none.fm.mem.read32(0x6004), -1);
  const cur = run(`${ON}\n ${LOAD}\n vmptrst qword ptr [0x6000]`);
  assert.equal(cur.fm.mem.read32(0x6000), VMCS_REGION); assert.equal(cur.fm.mem.read32(0x6004), 0);
  const cleared = run(`${ON}\n ${LOAD}\n vmclear qword ptr [${PTRS + 8}]\n vmptrst qword ptr [0x6000]`);
  assert.equal(cleared.fm.mem.read32(0x6000), -1);
});

test("VMREAD/VMWRITE: no current VMCS (VMfailInvalid), an unsupported component (12), a read-only one (13)", () => {
  assert.deepEqual(pick(run(`${ON}\n mov ebx, ${Vmcs.GUEST_CR0}\n vmread eax, ebx`)), [-1, CF, -1]);
  // EPT_POINTER does not exist on core-duo (no EPT); it does on nehalem.
  assert.deepEqual(pick(run(`${ON}\n ${LOAD}\n mov ebx, ${Vmcs.EPT_POINTER}\n vmread eax, ebx`)), [-1, ZF, VmxError.UNSUPPORTED_VMCS_COMPONENT]);
  assert.deepEqual(pick(run(`${ON}\n ${LOAD}\n mov ebx, ${Vmcs.EPT_POINTER}\n vmread eax, ebx`, { cpu: "nehalem" })), [-1, 0, 0]);
  // Bits 31:15 of an encoding are reserved; a high access (bit 0) names only 64-bit fields.
  assert.deepEqual(pick(run(`${ON}\n ${LOAD}\n mov ebx, 0x10000\n vmread eax, ebx`)), [-1, ZF, VmxError.UNSUPPORTED_VMCS_COMPONENT]);
  assert.deepEqual(pick(run(`${ON}\n ${LOAD}\n mov ebx, ${Vmcs.GUEST_CR0 + 1}\n vmread eax, ebx`)), [-1, ZF, VmxError.UNSUPPORTED_VMCS_COMPONENT]);
  assert.deepEqual(pick(run(`${ON}\n ${LOAD}\n mov ebx, ${Vmcs.VM_EXIT_REASON}\n vmwrite ebx, eax`)), [-1, ZF, VmxError.VMWRITE_READ_ONLY_COMPONENT]);
});

test("VMWRITE and VMREAD by width: a 16-bit field keeps 15:0, a 64-bit field has a high access", () => {
  const r = run(`${ON}\n ${LOAD}
    mov ebx, ${Vmcs.GUEST_CS_SELECTOR}\n mov eax, 0x12345678\n vmwrite ebx, eax\n vmread [0x6000], ebx
    mov ebx, ${Vmcs.TSC_OFFSET + 1}\n mov eax, 0xabcd\n vmwrite ebx, eax
    mov ebx, ${Vmcs.TSC_OFFSET}\n mov eax, 0x1111\n vmwrite ebx, eax
    mov ebx, ${Vmcs.TSC_OFFSET + 1}\n vmread [0x6004], ebx`);
  assert.equal(r.flags, 0);
  assert.equal(r.fm.mem.read32(0x6000), 0x5678);
  // A full-access VMWRITE outside 64-bit mode clears bits 63:32.
  assert.equal(r.fm.mem.read32(0x6004), 0);
});

test("VMLAUNCH/VMRESUME: no current VMCS (VMfailInvalid), VMRESUME of a clear VMCS (5), VMLAUNCH of a launched one (4); VMCALL in root (1)", () => {
  assert.deepEqual(pick(run(`${ON}\n vmlaunch`)), [-1, CF, -1]);
  assert.deepEqual(pick(run(`${ON}\n ${LOAD}\n vmresume`)), [-1, ZF, VmxError.VMRESUME_NONLAUNCHED_VMCS]);
  // The launch state is kept in the region (docs/vmx.md: offset 8 of the model's layout).
  assert.deepEqual(pick(run(`${ON}\n mov dword ptr [${VMCS_REGION + 8}], 1\n ${LOAD}\n vmlaunch`)), [-1, ZF, VmxError.VMLAUNCH_NONCLEAR_VMCS]);
  assert.deepEqual(pick(run(`${ON}\n ${LOAD}\n vmcall`)), [-1, ZF, VmxError.VMCALL_IN_ROOT]);
});

test("VMPTRLD of another VMCS writes the current one back to its region; VMPTRLD again reads it", () => {
  const r = run(`${ON}\n ${LOAD}
    mov ebx, ${Vmcs.GUEST_RIP}\n mov eax, 0x4321\n vmwrite ebx, eax
    vmptrld qword ptr [${PTRS + 24}]\n vmread [0x6000], ebx
    ${LOAD}\n vmread [0x6004], ebx`);
  assert.equal(r.fm.mem.read32(0x6000), 0, "the second VMCS has its own fields");
  assert.equal(r.fm.mem.read32(0x6004), 0x4321);
});

test("INVEPT and INVVPID: #UD without EPT/VPID, VMfail(28) for unsupported types and a VPID of 0", () => {
  const desc = 0x6000;
  assert.equal(run(`${ON}\n ${LOAD}\n mov eax, 1\n invept eax, [${desc}]`).vector, Vector.UD, "core-duo has no EPT");
  const neh = { cpu: "nehalem" };
  assert.deepEqual(pick(run(`${ON}\n ${LOAD}\n mov eax, 1\n invept eax, [${desc}]`, neh)), [-1, 0, 0]);
  assert.deepEqual(pick(run(`${ON}\n ${LOAD}\n mov eax, 3\n invept eax, [${desc}]`, neh)), [-1, ZF, VmxError.INVALID_OPERAND_INVEPT_INVVPID]);
  assert.deepEqual(pick(run(`${ON}\n ${LOAD}\n mov eax, 1\n invvpid eax, [${desc}]`, neh)), [-1, ZF, VmxError.INVALID_OPERAND_INVEPT_INVVPID], "VPID 0");
  assert.deepEqual(pick(run(`${ON}\n ${LOAD}\n mov word ptr [${desc}], 7\n mov eax, 1\n invvpid eax, [${desc}]`, neh)), [-1, 0, 0]);
  assert.deepEqual(pick(run(`${ON}\n ${LOAD}\n mov eax, 2\n invvpid eax, [${desc}]`, neh)), [-1, 0, 0], "all-context needs no VPID");
});

function pick(o: Outcome): [number, number, number] { return [o.vector, o.flags, o.error]; }
