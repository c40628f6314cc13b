// CPUID per model, pinned to the real parts. Sources:
//   core2          Core 2 Extreme X6800 (06_0Fh s6), VirtualBox CPU database dump
//                  src/VBox/VMM/VMMR3/cpus/Intel_Core2_X6800_2_93GHz.h (VBoxCpuReport, 2017)
//   core-duo       Core Duo T2600 (06_0Eh s8), same database, Intel_Core_Duo_T2600_2_16GHz.h
//   athlon64-revc  Athlon 64 3200+ (0F_04h s8), same database, AMD_Athlon_64_3200.h (2013)
//   pentium2       vmm86's own i686 before there were models (the values exec/system.ts
//                  returned), which must not change
//   pentium3       Intel AP-485 (leaf 2 descriptor bytes of a 512 KiB-L2 P6)
// Feature flags are the part's flags that vmm86 implements: they must be a subset of the
// dump's, and the ones the model's features name must be set.

import { test } from "node:test";
import assert from "node:assert/strict";
import { CpuidTable } from "./cpuid.js";
import { findModel, parseCpuSpec, type CpuModel } from "./models.js";
import { FlatMachine } from "../../../test/support/flat-machine.js";
import { Reg } from "./cpu.js";

function model(name: string): CpuModel {
  const m = findModel(name);
  assert.ok(m, name);
  return m;
}

function q(m: CpuModel | CpuidTable, leaf: number, sub = 0, lma = false): number[] {
  const t = m instanceof CpuidTable ? m : new CpuidTable(m);
  const out = new Int32Array(4);
  t.lookup(leaf, sub, lma, out);
  return [...out].map((x) => x >>> 0);
}

const GENUINE_INTEL = [0x756e6547, 0x6c65746e, 0x49656e69]; // EBX ECX EDX
const AUTHENTIC_AMD = [0x68747541, 0x444d4163, 0x69746e65];

/** Every bit of `ours` is also set in the part's `dump` value. */
function subset(ours: number, dump: number, what: string): void {
  assert.equal((ours & ~dump) >>> 0, 0, `${what}: 0x${(ours >>> 0).toString(16)} has bits the part lacks (0x${(dump >>> 0).toString(16)})`);
}

test("pentium2: exactly the CPUID vmm86 always returned", () => {
  const m = model("pentium2");
  assert.deepEqual(q(m, 0), [1, ...GENUINE_INTEL]);
  assert.deepEqual(q(m, 1), [0x0633, 0, 0, 0x0000a979]); // FPU PSE TSC MSR PAE CX8 SEP PGE CMOV
  assert.deepEqual(q(m, 2), q(m, 1), "above the highest leaf: leaf 1's data");
  assert.deepEqual(q(m, 0x4000_0000), q(m, 1));
  assert.deepEqual(q(m, 0x8000_0000), [0x8000_0000, 0, 0, 0]);
  assert.deepEqual(q(m, 1, 7), q(m, 1), "ECX does not matter for leaf 1");
});

test("core2: identity, leaf 2 and 4 descriptors, extended leaves as the X6800 reports them", () => {
  const m = model("core2");
  assert.deepEqual(q(m, 0), [0xa, ...GENUINE_INTEL]);
  const [eax, ebx, ecx, edx] = q(m, 1);
  assert.equal(eax, 0x06f6);
  assert.equal(ebx, 0x0000_0800, "brand index 0, CLFLUSH 8 quadwords, APIC ID 0, no HTT count");
  subset(ecx, 0x0000_e3bd, "leaf 1 ECX");
  subset(edx, 0xbfeb_fbff, "leaf 1 EDX");
  assert.equal(ecx, (1 << 13) | (1 << 9) | (1 << 5) | 1, "CMPXCHG16B, SSSE3, VMX, SSE3");
  assert.equal(edx, 0x0000_a979 | (1 << 9) | (1 << 16) | (0xf << 23), "the base bits, the APIC, PAT, MMX FXSR SSE SSE2");
  assert.deepEqual(q(m, 2), [0x05b0_b101, 0x0056_57f0, 0, 0x2cb4_3049]);
  assert.deepEqual(q(m, 4, 0), [0x0400_0121, 0x01c0_003f, 0x0000_003f, 1]);
  assert.deepEqual(q(m, 4, 1), [0x0400_0122, 0x01c0_003f, 0x0000_003f, 1]);
  assert.deepEqual(q(m, 4, 2), [0x0400_4143, 0x03c0_003f, 0x0000_0fff, 1]);
  assert.deepEqual(q(m, 4, 3), [0, 0, 0, 0], "cache type 0: no more caches");
  assert.deepEqual(q(m, 0x8000_0000), [0x8000_0008, 0, 0, 0]);
  assert.deepEqual(q(m, 0x8000_0001, 0, true), [0, 0, 1, 0x2010_0800], "LAHF-LM; LM NX SYSCALL with EFER.LMA = 1 (the dump ran under a 64-bit OS)");
  assert.deepEqual(q(m, 0x8000_0001, 0, false), [0, 0, 1, 0x2010_0000], "Intel reports SYSCALL only in IA-32e mode");
  assert.deepEqual([2, 3, 4].map((k) => q(m, 0x8000_0000 + k)), [
    [0x65746e49, 0x2952286c, 0x726f4320, 0x4d542865],
    [0x43203229, 0x20205550, 0x20202020, 0x58202020],
    [0x30303836, 0x20402020, 0x33392e32, 0x007a4847],
  ]);
  assert.deepEqual(q(m, 0x8000_0006), [0, 0, 0x1000_8040, 0]);
  assert.deepEqual(q(m, 0x8000_0008), [0x0000_3024, 0, 0, 0]);
  // Intel: beyond either range, the highest basic leaf's data (leaf 0Ah).
  assert.deepEqual(q(m, 0x8000_0009), q(m, 0xa));
  assert.deepEqual(q(m, 0x4000_0000), q(m, 0xa));
});

test("core-duo: the T2600's descriptors, NX without long mode, 32-bit addresses", () => {
  const m = model("core-duo");
  assert.deepEqual(q(m, 0), [0xa, ...GENUINE_INTEL]);
  const [eax, , ecx, edx] = q(m, 1);
  assert.equal(eax, 0x06e8);
  subset(ecx, 0x0000_c1a9, "leaf 1 ECX");
  subset(edx, 0xbfe9_fbff, "leaf 1 EDX");
  assert.deepEqual(q(m, 2), [0x02b3_b001, 0x0000_00f0, 0, 0x2c04_307d]);
  assert.deepEqual(q(m, 4, 2), [0x0400_4143, 0x01c0_003f, 0x0000_0fff, 1]);
  assert.deepEqual(q(m, 0x8000_0001, 0, true), [0, 0, 0, 0x0010_0000]);
  assert.deepEqual([2, 3, 4].map((k) => q(m, 0x8000_0000 + k)), [
    [0x756e6547, 0x20656e69, 0x65746e49, 0x2952286c],
    [0x55504320, 0x20202020, 0x20202020, 0x54202020],
    [0x30303632, 0x20402020, 0x36312e32, 0x007a4847],
  ]);
  assert.deepEqual(q(m, 0x8000_0006), [0, 0, 0x0800_6040, 0]);
  assert.deepEqual(q(m, 0x8000_0008), [0x0000_2020, 0, 0, 0]);
  // The T2600 has VMX (leaf 1 ECX bit 5 in the dump); the bit follows the vmx feature.
  assert.equal((q(parseCpuSpec("core-duo,+vmx"), 1)[2] >>> 5) & 1, 1);
  subset(q(parseCpuSpec("core-duo,+vmx"), 1)[2], 0x0000_c1a9, "leaf 1 ECX with vmx");
  assert.equal((q(parseCpuSpec("core-duo,-vmx"), 1)[2] >>> 5) & 1, 0);
});

test("pentium3: leaf 2 is the highest; extended leaves are out of range", () => {
  const m = model("pentium3");
  assert.deepEqual(q(m, 0), [2, ...GENUINE_INTEL]);
  assert.deepEqual(q(m, 2), [0x0302_0101, 0, 0, 0x0c04_0843]);
  assert.deepEqual(q(m, 0x8000_0000), q(m, 2), "no extended range on a P6: leaf 2's data");
  assert.equal(q(m, 1)[3], 0x0000_a979 | (1 << 9) | (0x7 << 23), "the base bits, the APIC, MMX FXSR SSE");
});

test("athlon64-revc: the 3200+'s leaves, AMD's copies of the EDX bits, zeros out of range", () => {
  const m = model("athlon64-revc");
  assert.deepEqual(q(m, 0), [1, ...AUTHENTIC_AMD]);
  const [eax, ebx, ecx, edx] = q(m, 1);
  assert.deepEqual([eax, ebx, ecx], [0x0f48, 0x0000_0800, 0]);
  subset(edx, 0x078b_fbff, "leaf 1 EDX");
  assert.deepEqual(q(m, 0x8000_0000), [0x8000_0018, ...AUTHENTIC_AMD]);
  const e = q(m, 0x8000_0001);
  assert.deepEqual(e.slice(0, 3), [0x0f48, 0x0000_010a, 0], "no LAHF/SAHF in 64-bit mode before revision D");
  subset(e[3], 0xe1d3_fbff, "8000_0001h EDX");
  for (const bit of [11, 20, 29]) assert.ok(e[3] & (1 << bit), `SYSCALL/NX/LM bit ${bit}`);
  for (const bit of [0, 3, 4, 8, 9]) assert.ok(e[3] & (1 << bit), `AMD copy of leaf 1 EDX bit ${bit}`);
  for (const bit of [23, 24]) assert.ok(e[3] & (1 << bit), `AMD copy of MMX/FXSR (bit ${bit})`);
  assert.equal(q(parseCpuSpec("athlon64-revc,-apic"), 0x8000_0001)[3] & (1 << 9), 0, "AMD's copy follows the feature");
  assert.equal(e[3] & (1 << 11), q(m, 0x8000_0001, 0, true)[3] & (1 << 11), "AMD reports SYSCALL in every mode");
  assert.deepEqual([2, 3, 4].map((k) => q(m, 0x8000_0000 + k)), [
    [0x20444d41, 0x6c687441, 0x74286e6f, 0x3620296d],
    [0x72502034, 0x7365636f, 0x20726f73, 0x30303233],
    [0x0000002b, 0, 0, 0],
  ]);
  assert.deepEqual(q(m, 0x8000_0005), [0xff08_ff08, 0xff20_ff20, 0x4002_0140, 0x4002_0140]);
  assert.deepEqual(q(m, 0x8000_0006), [0, 0x4200_4200, 0x0400_8140, 0]);
  assert.deepEqual(q(m, 0x8000_0008), [0x0000_3028, 0, 0, 0]);
  assert.deepEqual(q(m, 0x8fff_ffff), [0x5327_5449, 0x4d41_4820, 0x2052_454d, 0x454d_4954]);
  // AMD: an undefined function returns zeros.
  assert.deepEqual(q(m, 2), [0, 0, 0, 0]);
  assert.deepEqual(q(m, 0x8000_0019), [0, 0, 0, 0]);
  assert.deepEqual(q(m, 0x4000_0000), [0, 0, 0, 0]);
});

test("athlon64-reve and zen3: LAHF-LM from revision D; Fn8000_0008 EBX[20] only on zen3", () => {
  assert.equal(q(model("athlon64-reve"), 0x8000_0001)[2] & 1, 1);
  assert.equal(q(model("athlon64-reve"), 1)[2] & 1, 1, "SSE3 from revision E");
  assert.equal(q(model("athlon64-revc"), 1)[2] & 1, 0, "no SSE3 on revision C");
  assert.equal(q(model("athlon64-reve"), 0x8000_0008)[1], 0);
  const z = model("zen3");
  assert.equal(q(z, 0x8000_0008)[1], 1 << 20, "EferLmsleUnsupported");
  assert.equal(q(z, 7, 0)[2] & (1 << 2), 1 << 2, "UMIP");
  assert.deepEqual(q(z, 7, 1), [0, 0, 0, 0], "leaf 7 has one subleaf");
  const e = q(z, 0x8000_0001)[3];
  for (const bit of [26, 27]) assert.ok(e & (1 << bit), `1 GiB pages, RDTSCP bit ${bit}`);
});

test("+FEATURE and -FEATURE change the bits", () => {
  assert.equal(q(parseCpuSpec("pentium2,+sse"), 1)[3] & (1 << 25), 1 << 25, "+sse on a pentium2");
  assert.equal(q(parseCpuSpec("pentium3,-sse"), 1)[3] & (1 << 25), 0);
  assert.equal(q(parseCpuSpec("core2,-ssse3"), 1)[2] & (1 << 9), 0);
  assert.equal(q(parseCpuSpec("core-duo,+ssse3"), 1)[2] & (1 << 9), 1 << 9);
  assert.equal(q(parseCpuSpec("core-duo,-nx"), 0x8000_0001)[3] & (1 << 20), 0);
  assert.equal(q(parseCpuSpec("zen3,-rdtscp"), 0x8000_0001)[3] & (1 << 27), 0);
  assert.equal(q(parseCpuSpec("core2,-lm"), 0x8000_0001, 0, true)[3] & (1 << 29), 0);
  assert.equal(q(parseCpuSpec("zen3,-noLmsle"), 0x8000_0008)[1], 0);
  assert.equal(q(parseCpuSpec("pentium2,+strict"), 1)[3], 0x0000_a979, "strict is not a CPUID bit");
});

test("the CPUID instruction answers from the model; RESET leaves the signature in EDX", () => {
  for (const name of ["pentium2", "core2", "athlon64-revc"]) {
    const fm = new FlatMachine({ cpu: name });
    fm.cpu.reset();
    assert.equal(fm.cpu.regs[Reg.EDX], model(name).signature, `${name} EDX after RESET`);
  }
  const fm = new FlatMachine({ cpu: "athlon64-revc" });
  fm.load([0x0f, 0xa2, 0xf4]); // cpuid; hlt
  fm.cpu.regs[Reg.EAX] = 0x8000_0002;
  assert.equal(fm.runToHalt(), -1);
  assert.deepEqual([Reg.EAX, Reg.EBX, Reg.ECX, Reg.EDX].map((r) => fm.cpu.regs[r] >>> 0), [0x20444d41, 0x6c687441, 0x74286e6f, 0x3620296d]);
});
