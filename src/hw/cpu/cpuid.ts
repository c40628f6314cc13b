// CPUID as one table per model (Intel SDM vol. 2 "CPUID"; AMD APM vol. 3 appendix E,
// "Obtaining Processor Information Via the CPUID Instruction"). The table is built once,
// at CPU construction, from the model's identity (models.ts), its copied leaves and its
// features; the instruction only looks it up, without allocating.

import { NOT_YET_MODELLED, type CpuModel, type CpuidRegs, type FeatureName } from "./models.js";

/**
 * CPUID.1:EDX of every model: FPU PSE TSC MSR PAE CX8 SEP PGE CMOV, the i686 base vmm86
 * has always had (bits 0, 3, 4, 5, 6, 8, 11, 13, 15).
 */
export const BASE_EDX =
  (1 << 0) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 8) | (1 << 11) | (1 << 13) | (1 << 15);

/** Where each feature shows in CPUID: [leaf, register index (0 EAX … 3 EDX), bit]. */
const FEATURE_BITS: readonly [FeatureName, number, number, number][] = [
  ["apic", 1, 3, 9], ["pat", 1, 3, 16], ["mmx", 1, 3, 23], ["fxsr", 1, 3, 24], ["sse", 1, 3, 25], ["sse2", 1, 3, 26],
  ["sse3", 1, 2, 0], ["vmx", 1, 2, 5], ["ssse3", 1, 2, 9], ["cx16", 1, 2, 13], ["popcnt", 1, 2, 23], ["tscDeadline", 1, 2, 24],
  ["umip", 7, 2, 2],
  ["lahfLm", 0x8000_0001, 2, 0], ["svm", 0x8000_0001, 2, 2],
  ["syscall", 0x8000_0001, 3, 11], ["nx", 0x8000_0001, 3, 20], ["page1gb", 0x8000_0001, 3, 26],
  ["rdtscp", 0x8000_0001, 3, 27], ["lm", 0x8000_0001, 3, 29],
  ["noLmsle", 0x8000_0008, 1, 20],
  ["npt", 0x8000_000a, 3, 0],
];

/**
 * CPUID.1:EDX bits AMD repeats in 8000_0001h:EDX (APM vol. 3 E.4.2): FPU VME DE PSE TSC MSR
 * PAE MCE CX8 APIC, MTRR PGE MCA CMOV PAT PSE36, MMX FXSR. Intel leaves them reserved.
 */
const AMD_EDX_COPY = 0x0183_f3ff;

/** The ASIDs an SVM part offers (CPUID 8000_000Ah:EBX): 64 on family 0Fh revision F and family 10h (BKDGs). */
const SVM_ASIDS = 64;

/** Leaves whose answer depends on ECX (subleaves past the last one read as zero). */
const INDEXED = new Set([4, 7, 0xb, 0xd, 0xf, 0x10, 0x8000_001d, 0x8000_0020]);

/**
 * CPUID.80000001h:EDX.SYSCALL: Intel parts set it only while IA-32e mode is active (EFER.LMA;
 * SYSCALL is #UD outside it on Intel, SDM vol. 2 "SYSCALL"); QEMU's TCG does the same.
 */
const SYSCALL_BIT = 1 << 11;

function vendorRegs(vendor: CpuModel["vendor"]): [number, number, number] {
  // EBX, EDX, ECX spell the vendor in that order.
  return vendor === "intel"
    ? [0x756e_6547, 0x4965_6e69, 0x6c65_746e]  // "Genu" "ineI" "ntel"
    : [0x6874_7541, 0x6974_6e65, 0x444d_4163]; // "Auth" "enti" "cAMD"
}

/** The brand string as 12 little-endian dwords, zero-filled (8000_0002h–8000_0004h). */
function brandRegs(brand: string): number[] {
  const out = new Array<number>(12).fill(0);
  for (let k = 0; k < brand.length && k < 47; k++) out[k >> 2] |= (brand.charCodeAt(k) & 0xff) << ((k & 3) * 8);
  return out;
}

/** A model's CPUID answers, ready for lookup. */
export class CpuidTable {
  readonly vendor: CpuModel["vendor"];
  readonly maxBasic: number;
  readonly maxExtended: number;
  /** Leaves by number; a leaf indexed by ECX has one entry per subleaf. */
  private readonly leaves = new Map<number, Int32Array[]>();
  private readonly zero = new Int32Array(4);
  /** Scratch output for the CPUID instruction (one per CPU: nothing is shared between machines). */
  readonly out = new Int32Array(4);

  constructor(model: CpuModel) {
    const d = model.cpuid, fe = model.features;
    this.vendor = model.vendor;
    this.maxBasic = d.maxBasic;
    this.maxExtended = d.maxExtended;
    for (const [leaf, v] of d.leaves) {
      const subs = (Array.isArray(v[0]) ? v : [v]) as readonly CpuidRegs[];
      this.leaves.set(leaf, subs.map((r) => Int32Array.from(r)));
    }
    const [vb, vd, vc] = vendorRegs(model.vendor);
    this.set(0, [d.maxBasic, vb, vc, vd]);
    this.set(1, [model.signature, d.leaf1Ebx, 0, BASE_EDX]);
    if (d.maxBasic >= 7) this.set(7, [0, 0, 0, 0]);
    if (d.maxExtended >= 0x8000_0000 && !this.leaves.has(0x8000_0000)) {
      // AMD repeats the vendor string here; Intel leaves EBX–EDX reserved (zero).
      this.set(0x8000_0000, model.vendor === "amd" ? [d.maxExtended, vb, vc, vd] : [d.maxExtended, 0, 0, 0]);
    }
    if (d.maxExtended >= 0x8000_0001) {
      this.set(0x8000_0001, model.vendor === "amd" ? [model.signature, d.ext1Ebx ?? 0, 0, BASE_EDX & AMD_EDX_COPY] : [0, 0, 0, 0]);
    }
    if (d.maxExtended >= 0x8000_0004 && model.brand !== "") {
      const b = brandRegs(model.brand);
      for (let k = 0; k < 3; k++) this.set(0x8000_0002 + k, b.slice(k * 4, k * 4 + 4));
    }
    if (d.maxExtended >= 0x8000_0008 && !this.leaves.has(0x8000_0008)) this.set(0x8000_0008, [0, 0, 0, 0]);
    // SVM's leaf (APM vol. 3 E.4.9): revision 1, the number of ASIDs; EDX's feature bits
    // (nested paging …) come from FEATURE_BITS.
    if (fe.svm && d.maxExtended >= 0x8000_000a) this.set(0x8000_000a, [1, SVM_ASIDS, 0, 0]);
    for (const [name, leaf, reg, bit] of FEATURE_BITS) {
      const r = this.leaves.get(leaf)?.[0];
      if (r === undefined || !fe[name] || NOT_YET_MODELLED.has(name)) continue;
      r[reg] |= 1 << bit;
      // AMD repeats the leaf 1 EDX bits it defines in 8000_0001h:EDX.
      if (leaf === 1 && reg === 3 && model.vendor === "amd" && ((AMD_EDX_COPY >>> bit) & 1) !== 0) {
        const e = this.leaves.get(0x8000_0001)?.[0];
        if (e !== undefined) e[3] |= 1 << bit;
      }
    }
  }

  private set(leaf: number, regs: readonly number[]): void {
    this.leaves.set(leaf, [Int32Array.from(regs)]);
  }

  /**
   * The answer to CPUID with EAX = `leaf`, ECX = `subleaf`. Out of range, Intel returns the
   * highest basic leaf's data (SDM vol. 2 CPUID: "If a value entered for CPUID.EAX is higher
   * than the maximum input value for basic or extended function … the data for the highest
   * basic information leaf is returned"); AMD returns zeros (APM vol. 3 CPUID: undefined
   * function numbers return 0). A leaf in range that the model does not describe reads as
   * zero, as do subleaves past the last one. `lma` is EFER.LMA (IA-32e mode active).
   */
  lookup(leaf: number, subleaf: number, lma: boolean, out: Int32Array): void {
    leaf >>>= 0;
    const inRange = leaf <= this.maxBasic || (this.maxExtended !== 0 && leaf >= 0x8000_0000 && leaf <= this.maxExtended);
    let subs = this.leaves.get(leaf);
    if (!inRange && this.vendor === "intel") {
      leaf = this.maxBasic;
      subs = this.leaves.get(leaf);
    }
    let r: Int32Array = this.zero;
    if (subs !== undefined) r = !INDEXED.has(leaf) ? subs[0] : (subs[subleaf >>> 0] ?? this.zero);
    out[0] = r[0]; out[1] = r[1]; out[2] = r[2]; out[3] = r[3];
    if (leaf === 0x8000_0001 && this.vendor === "intel" && !lma) out[3] &= ~SYSCALL_BIT;
  }

  /**
   * MAXPHYADDR: CPUID 8000_0008h:EAX[7:0] where the part has the leaf, else 36 with PAE
   * (SDM vol. 3 §4.1.4; every model has PAE).
   */
  physicalAddressBits(): number {
    const l = this.maxExtended >= 0x8000_0008 ? this.leaves.get(0x8000_0008) : undefined;
    return l !== undefined && (l[0][0] & 0xff) !== 0 ? l[0][0] & 0xff : 36;
  }
}

