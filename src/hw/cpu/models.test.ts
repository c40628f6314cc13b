// CPU models: the --cpu syntax, and what a model changes in the CPU — the CR4 bits MOV CR4
// accepts (SDM vol. 3 §2.5: setting a reserved bit is #GP(0)), the MSRs RDMSR/WRMSR know
// (SDM vol. 2 "RDMSR": an unimplemented MSR is #GP(0)), and the hint NOPs every model runs.

import { test } from "node:test";
import assert from "node:assert/strict";
import { CPU_MODELS, CpuSpecError, DEFAULT_MODEL, FEATURE_NAMES, featureList, parseCpuSpec } from "./models.js";
import { FlatMachine } from "../../../test/support/flat-machine.js";
import { Reg, CR4_OSFXSR, CR4_OSXMMEXCPT, CR4_UMIP, CR4_PAE, CR4_PSE, CR4_VMXE } from "./cpu.js";
import { Vector } from "./fault.js";
import { CR4_PGE } from "../mmu/paging.js";

test("parseCpuSpec: models, +/- features, QEMU's bare FEATURE, the short forms", () => {
  assert.equal(parseCpuSpec("core2").name, "core2");
  assert.equal(parseCpuSpec("core2"), parseCpuSpec("core2"), "an unmodified model is the table's object");
  const m = parseCpuSpec("pentium3,-sse,+nx,strict");
  assert.equal(m.name, "pentium3");
  assert.equal(m.features.sse, false);
  assert.equal(m.features.nx, true);
  assert.equal(m.features.strict, true);
  assert.equal(m.features.mmx, true, "untouched features stay");
  assert.equal(parseCpuSpec("pentium3").features.sse, true, "the table is not modified");
  assert.equal(parseCpuSpec("standard"), DEFAULT_MODEL);
  assert.equal(DEFAULT_MODEL.name, "pentium2");
  const strict = parseCpuSpec("strict");
  assert.equal(strict.name, "pentium2");
  assert.deepEqual(featureList(strict.features), [...featureList(DEFAULT_MODEL.features), "strict"]);
  assert.equal(parseCpuSpec("strict,-umip").features.umip, false);
  assert.equal(parseCpuSpec("pentium2,+strict,-strict").features.strict, false, "the last change wins");
});

test("parseCpuSpec: an unknown model or feature names the valid ones", () => {
  assert.throws(() => parseCpuSpec("pentium4"), (e: Error) => e instanceof CpuSpecError &&
    /unknown CPU model 'pentium4'/.test(e.message) && CPU_MODELS.every((m) => e.message.includes(m.name)) && /standard, strict/.test(e.message));
  assert.throws(() => parseCpuSpec("core2,+avx"), (e: Error) => e instanceof CpuSpecError &&
    /unknown CPU feature '\+avx'/.test(e.message) && FEATURE_NAMES.every((n) => e.message.includes(n)));
  assert.throws(() => parseCpuSpec(""), CpuSpecError);
  assert.throws(() => parseCpuSpec("core2,"), CpuSpecError);
  assert.throws(() => parseCpuSpec("Core2"), CpuSpecError, "names are case-sensitive, as in QEMU");
});

test("the table: unique names, one default, long mode where the story needs it", () => {
  assert.equal(new Set(CPU_MODELS.map((m) => m.name)).size, CPU_MODELS.length);
  const lm = CPU_MODELS.filter((m) => m.features.lm).map((m) => m.name);
  assert.deepEqual(lm, ["athlon64-revc", "athlon64-reve", "athlon64-revf", "barcelona", "core2", "nehalem", "westmere", "zen3"]);
  // VT-x by generation (docs/vmx.md): core-duo and core2 VMX only, nehalem + EPT and VPID, westmere + unrestricted guest.
  const vmx = (n: string) => { const f = CPU_MODELS.find((m) => m.name === n)!.features; return [f.vmx, f.ept, f.vpid, f.unrestrictedGuest]; };
  assert.deepEqual(vmx("core-duo"), [true, false, false, false]);
  assert.deepEqual(vmx("nehalem"), [true, true, true, false]);
  assert.deepEqual(vmx("westmere"), [true, true, true, true]);
  assert.deepEqual(vmx("core2"), [true, false, false, false]);
  assert.deepEqual(CPU_MODELS.filter((m) => m.features.vmx).map((m) => m.name), ["core-duo", "core2", "nehalem", "westmere"]);
  assert.deepEqual(CPU_MODELS.filter((m) => m.features.lmsle).map((m) => m.name), ["athlon64-reve", "athlon64-revf", "barcelona"]);
  // AMD-V came with revision F, nested paging with family 10h (APM vol. 2 §15.25).
  assert.deepEqual(CPU_MODELS.filter((m) => m.features.svm).map((m) => m.name), ["athlon64-revf", "barcelona"]);
  assert.deepEqual(CPU_MODELS.filter((m) => m.features.npt).map((m) => m.name), ["barcelona"]);
  assert.deepEqual(CPU_MODELS.filter((m) => m.features.noLmsle).map((m) => m.name), ["zen3"]);
  for (const m of CPU_MODELS) {
    assert.equal(m.features.strict, false, `${m.name}: strict is not a real part's`);
    if (m.features.lm) assert.ok(m.features.nx && m.features.sse2 && m.features.syscall, `${m.name}: AMD64 implies NX, SSE2, SYSCALL`);
    if (m.brand !== "") assert.ok(m.brand.length <= 47 && m.cpuid.maxExtended >= 0x8000_0004, `${m.name}: brand fits`);
  }
});

/** MOV CR4, EAX at CPL 0 with EAX = `v`: the vector it raised, or -1. */
function movCr4(cpu: string, v: number): number {
  const fm = new FlatMachine({ cpu });
  fm.load([0x0f, 0x22, 0xe0, 0xf4]); // mov cr4, eax; hlt
  fm.cpu.regs[Reg.EAX] = v;
  return fm.runToHalt();
}

test("MOV CR4: each model accepts only the bits it has", () => {
  const p6 = CR4_PSE | CR4_PAE | CR4_PGE;
  for (const m of CPU_MODELS) assert.equal(movCr4(m.name, p6), -1, `${m.name}: PSE PAE PGE`);
  // pentium2 keeps what it always accepted, UMIP included; no OSFXSR without FXSR.
  assert.equal(movCr4("pentium2", CR4_UMIP), -1);
  assert.equal(movCr4("pentium2", CR4_OSFXSR), Vector.GP);
  assert.equal(movCr4("pentium2", CR4_OSXMMEXCPT), Vector.GP);
  assert.equal(movCr4("pentium3", CR4_OSFXSR | CR4_OSXMMEXCPT), -1);
  assert.equal(movCr4("pentium3,-sse", CR4_OSXMMEXCPT), Vector.GP);
  assert.equal(movCr4("pentium3,-sse", CR4_OSFXSR), -1);
  // UMIP: only on the parts that had it (and on pentium2, as before models).
  assert.equal(movCr4("core2", CR4_UMIP), Vector.GP);
  assert.equal(movCr4("zen3", CR4_UMIP), -1);
  assert.equal(movCr4("core2,+umip", CR4_UMIP), -1);
  assert.equal(movCr4("pentium2,-umip", CR4_UMIP), Vector.GP);
  // VMXE (bit 13) only with the vmx feature.
  for (const m of CPU_MODELS) assert.equal(movCr4(m.name, CR4_VMXE), m.features.vmx ? -1 : Vector.GP, `${m.name}: VMXE`);
  assert.equal(movCr4("core-duo,+vmx", CR4_VMXE), -1);
});

/** RDMSR (or WRMSR) of `msr` at CPL 0: the vector it raised, or -1. */
function msr(cpu: string, n: number, write: boolean): number {
  const fm = new FlatMachine({ cpu });
  fm.load([0x0f, write ? 0x30 : 0x32, 0xf4]);
  fm.cpu.regs[Reg.ECX] = n;
  return fm.runToHalt();
}

test("RDMSR/WRMSR: IA32_PLATFORM_ID on Intel only; the common MSRs everywhere; unknown ones #GP", () => {
  for (const m of CPU_MODELS) {
    const intel = m.vendor === "intel";
    assert.equal(msr(m.name, 0x17, false), intel ? -1 : Vector.GP, `${m.name} RDMSR 17h`);
    assert.equal(msr(m.name, 0x17, true), intel ? -1 : Vector.GP, `${m.name} WRMSR 17h`);
    for (const n of [0x10, 0x2a, 0x8b, 0x174, 0x175, 0x176]) assert.equal(msr(m.name, n, false), -1, `${m.name} RDMSR ${n.toString(16)}h`);
    assert.equal(msr(m.name, 0x1234, false), Vector.GP);
  }
});

test("hint NOPs 0F 19–0F 1E run on every model: ENDBR32, ENDBR64, memory forms touch nothing", () => {
  const code = [
    0xf3, 0x0f, 0x1e, 0xfb,             // endbr32
    0xf3, 0x0f, 0x1e, 0xfa,             // endbr64 (a NOP in 32-bit code too)
    0x0f, 0x19, 0x05, 0x00, 0x00, 0xf0, 0xff, // nop [0xfff00000]: never accessed
    0x0f, 0x1a, 0xc0, 0x0f, 0x1b, 0x00, 0x0f, 0x1c, 0x40, 0x10, 0x0f, 0x1d, 0xc9,
    0x66, 0x0f, 0x1e, 0x84, 0x24, 0x78, 0x56, 0x34, 0x12, // 16-bit operand, SIB + disp32
    0xb8, 0x2a, 0x00, 0x00, 0x00,       // mov eax, 42
    0xf4,
  ];
  for (const m of CPU_MODELS) {
    const fm = new FlatMachine({ cpu: m.name });
    fm.load(code);
    fm.cpu.regs[Reg.EAX] = 0; fm.cpu.regs[Reg.ECX] = 0x1234;
    assert.equal(fm.runToHalt(), -1, `${m.name}: no exception`);
    assert.equal(fm.cpu.regs[Reg.EAX], 42, `${m.name}: ran to the end`);
    assert.equal(fm.cpu.regs[Reg.ECX], 0x1234, "registers untouched");
    assert.equal(fm.cpu.instructions, 10);
  }
});

test("IA32_FEATURE_CONTROL (3Ah): only with vmx; reserved bits and writes after the lock are #GP(0)", () => {
  assert.equal(msr("core-duo,-vmx", 0x3a, false), Vector.GP);
  assert.equal(msr("core-duo", 0x3a, false), -1);
  const run = (eax: number, second: number): number => {
    const fm = new FlatMachine({ cpu: "core-duo,+vmx" });
    // wrmsr; mov eax, second; wrmsr; rdmsr; hlt
    fm.load([0x0f, 0x30, 0xb8, second & 0xff, 0, 0, 0, 0x0f, 0x30, 0x0f, 0x32, 0xf4]);
    fm.cpu.regs[Reg.ECX] = 0x3a;
    fm.cpu.regs[Reg.EAX] = eax;
    fm.cpu.regs[Reg.EDX] = 0;
    const v = fm.runToHalt();
    return v === -1 ? fm.cpu.regs[Reg.EAX] : -100 - v;
  };
  assert.equal(run(0x4, 0x5), 0x5);                 // unlocked: rewritable, reads back
  assert.equal(run(0x5, 0x4), -100 - Vector.GP);    // locked: the second write faults
  assert.equal(run(0x8, 0x0), -100 - Vector.GP);    // bit 3 reserved here
});
