// CPU models: real processors from the history of x86 virtualization, each with the
// features it really had. A feature decides what CPUID reports, which instructions decode,
// which EFER/CR4 bits can be set and which MSRs exist. The CPU consults `cpu.features`
// (a plain object of booleans, resolved once at construction) and never a model's name.
//
// `--cpu MODEL[,+FEATURE][,-FEATURE]` (QEMU's convention) resolves to a CpuModel with its
// features adjusted: `parseCpuSpec`.
//
// What a model reports is the real part's identity (vendor, signature, brand string, cache
// and TLB descriptors, address sizes) and, of its feature flags, the ones this machine
// implements. Flags the part had that vmm86 does not model (MTRR, MCA, PSE-36, CLFLUSH,
// HTT, MONITOR, 3DNow! …) stay clear (PAT, as its MSR, is on the VMX and SVM models: `pat`), so an OS never relies on something missing.
// Every CPUID value below that is copied from a part says where it comes from.

/** Every feature a model may have. Names follow CPUID's feature flags where one exists. */
export interface CpuFeatures {
  /** MMX (CPUID.1:EDX bit 23). Every model also has the base set vmm86 always had,
   *  CPUID.1:EDX FPU PSE TSC MSR PAE CX8 SEP PGE CMOV, which is not a feature. */
  mmx: boolean;
  /** FXSAVE/FXRSTOR, CR4.OSFXSR (CPUID.1:EDX bit 24). */
  fxsr: boolean;
  /** SSE (CPUID.1:EDX bit 25), CR4.OSXMMEXCPT. */
  sse: boolean;
  /** SSE2 (CPUID.1:EDX bit 26). */
  sse2: boolean;
  /** SSE3 (CPUID.1:ECX bit 0). */
  sse3: boolean;
  /** SSSE3 (CPUID.1:ECX bit 9). */
  ssse3: boolean;
  /** The local APIC (CPUID.1:EDX bit 9, IA32_APIC_BASE). */
  apic: boolean;
  /** The APIC timer's TSC-deadline mode (CPUID.1:ECX bit 24, IA32_TSC_DEADLINE). */
  tscDeadline: boolean;
  /** Execute-disable: EFER.NXE, the XD/NX page bit (CPUID.80000001h:EDX bit 20). */
  nx: boolean;
  /** Long mode (CPUID.80000001h:EDX bit 29): EFER.LME/LMA, 64-bit and compatibility mode. */
  lm: boolean;
  /** EFER.LMSLE, long-mode segment limit enable (AMD APM vol. 2 §4.12.2). */
  lmsle: boolean;
  /** CPUID Fn8000_0008 EBX bit 20: setting EFER.LMSLE raises #GP (Zen 3 on). */
  noLmsle: boolean;
  /** SYSCALL/SYSRET outside 64-bit mode (AMD: legacy and compatibility mode). */
  syscallLegacy: boolean;
  /** SYSCALL/SYSRET in 64-bit mode (CPUID.80000001h:EDX bit 11 on Intel 64 and AMD64). */
  syscall: boolean;
  /** 1 GiB pages (CPUID.80000001h:EDX bit 26). */
  page1gb: boolean;
  /** CMPXCHG16B (CPUID.1:ECX bit 13). */
  cx16: boolean;
  /** POPCNT (CPUID.1:ECX bit 23). */
  popcnt: boolean;
  /** RDTSCP and IA32_TSC_AUX (CPUID.80000001h:EDX bit 27). */
  rdtscp: boolean;
  /** LAHF/SAHF in 64-bit mode (CPUID.80000001h:ECX bit 0). */
  lahfLm: boolean;
  /**
   * AMD's PREFETCH/PREFETCHW (0F 0D) in 64-bit mode: every AMD64 part has them (APM vol. 3,
   * "PREFETCHlevel"; Linux infers them from LM on AMD). Not a CPUID bit here: 3DNowPrefetch
   * (80000001h:ECX bit 8) came later than the K8s this copies.
   */
  prefetchw: boolean;
  /** CR4.UMIP can be set: SGDT SIDT SLDT SMSW STR fault at CPL > 0 (CPUID.7.0:ECX bit 2). */
  umip: boolean;
  /** VMX (CPUID.1:ECX bit 5): CR4.VMXE, IA32_FEATURE_CONTROL, the VMX instructions and capability MSRs (docs/vmx.md). */
  vmx: boolean;
  /** Extended page tables (IA32_VMX_PROCBASED_CTLS2 allowed-1 bit 1, INVEPT); needs vmx. */
  ept: boolean;
  /** Virtual-processor identifiers (IA32_VMX_PROCBASED_CTLS2 allowed-1 bit 5, INVVPID); needs vmx. */
  vpid: boolean;
  /** Unrestricted guest (IA32_VMX_PROCBASED_CTLS2 allowed-1 bit 7); needs ept. */
  unrestrictedGuest: boolean;
  /** The VMX-preemption timer (IA32_VMX_PINBASED_CTLS allowed-1 bit 6), virtual NMIs and NMI-window exiting; needs vmx. */
  vmxPreemptionTimer: boolean;
  /**
   * AMD's Secure Virtual Machine (CPUID 8000_0001h:ECX bit 2): EFER.SVME, VMRUN, VMLOAD,
   * VMSAVE, STGI, CLGI, INVLPGA, VMMCALL, VM_CR and VM_HSAVE_PA (APM vol. 2 chapter 15).
   */
  svm: boolean;
  /** SVM nested paging (CPUID 8000_000Ah:EDX bit 0, APM vol. 2 §15.25); needs svm. */
  npt: boolean;
  /**
   * The page attribute table (CPUID.1:EDX bit 16): IA32_PAT (277h), and the PAT bit of a page
   * table entry selecting its entry. Memory types change nothing in this machine (it has no
   * caches), so what is modelled is the MSR: its reset value and its #GP on a reserved type.
   * On the parts a hypervisor runs on (KVM refuses to load on a host without it).
   */
  pat: boolean;
  /**
   * IA32_DEBUGCTL (1D9h; AMD's DebugCtl, APM vol. 2 §13.1.1.6): every P6 and K7 part and later
   * has it, not a CPUID bit. Only its value is modelled: it reads 0 after RESET, and setting
   * LBR (bit 0) or BTF (bit 1) is #GP(0), since the machine records no branches and steps by
   * instruction only. On the parts a hypervisor runs on (KVM reads it around every VMRUN/
   * VM entry).
   */
  debugctl: boolean;
  /** Not a real part: every sensitive instruction faults with #GP at CPL > 0 (DESIGN.md §2). */
  strict: boolean;
}

export type FeatureName = keyof CpuFeatures;

/**
 * Features models have that the machine does not implement yet: CPUID reports them clear,
 * so an OS never relies on instructions or devices that are not there (Linux on `pentium3`
 * ran FXSAVE and died on #UD while SSE was missing); `vmm86 cpus` marks them. Empty since
 * SSSE3 landed; the mechanism stays for the next feature a model gains before the machine.
 */
export const NOT_YET_MODELLED: ReadonlySet<FeatureName> = new Set<FeatureName>([]);

export type Vendor = "intel" | "amd";

/** Four CPUID output registers: EAX, EBX, ECX, EDX. */
export type CpuidRegs = readonly [number, number, number, number];

/**
 * The CPUID data of a part that does not follow from its features: ranges, the leaf 1 EBX
 * fields, and leaves copied byte for byte (cache and TLB descriptors, address sizes).
 * `cpuid.ts` builds the whole table from this, the vendor, the brand and the features.
 */
export interface CpuidData {
  /** Highest basic leaf (CPUID.0:EAX). */
  maxBasic: number;
  /** Highest extended leaf (CPUID.80000000h:EAX), 0 if the part has no extended range. */
  maxExtended: number;
  /**
   * CPUID.1:EBX of the part with the APIC ID and the logical-processor count cleared (this
   * machine has one CPU, APIC ID 0, and no HTT): brand index [7:0], CLFLUSH line size in
   * quadwords [15:8].
   */
  leaf1Ebx: number;
  /** CPUID.80000001h:EBX (AMD: brand ID / package type). */
  ext1Ebx?: number;
  /** Leaves copied from the part, by leaf, or by leaf and subleaf for leaves indexed by ECX. */
  leaves: ReadonlyMap<number, CpuidRegs | readonly CpuidRegs[]>;
}

export interface CpuModel {
  /** The `--cpu` name. */
  name: string;
  vendor: Vendor;
  /** The real part it copies, for `vmm86 cpus` and the README. */
  stands_for: string;
  /** CPUID.1:EAX (and EDX after RESET): stepping, model, family with the extended fields. */
  signature: number;
  /** The brand string (CPUID 8000_0002h–8000_0004h), empty for parts without one. */
  brand: string;
  cpuid: CpuidData;
  features: CpuFeatures;
  /**
   * MXCSR_MASK, the MXCSR bits the part lets software set (SDM vol. 1 §11.6.6, saved by
   * FXSAVE at byte 28). Absent: FFFFh (DAZ supported, as from the Pentium 4 on).
   */
  mxcsrMask?: number;
}

const NONE: CpuFeatures = {
  mmx: false, fxsr: false, sse: false, sse2: false, sse3: false, ssse3: false, apic: false,
  tscDeadline: false, nx: false, lm: false, lmsle: false, noLmsle: false, syscallLegacy: false,
  syscall: false, page1gb: false, cx16: false, popcnt: false, rdtscp: false, lahfLm: false, prefetchw: false,
  umip: false, vmx: false, ept: false, vpid: false, unrestrictedGuest: false, vmxPreemptionTimer: false,
  svm: false, npt: false, pat: false, debugctl: false, strict: false,
};

/** Feature names in declaration order (for listings and error messages). */
export const FEATURE_NAMES: readonly FeatureName[] = Object.keys(NONE) as FeatureName[];

function f(on: Partial<CpuFeatures>): CpuFeatures {
  return Object.freeze({ ...NONE, ...on });
}

function leaves(entries: [number, CpuidRegs | CpuidRegs[]][]): ReadonlyMap<number, CpuidRegs | readonly CpuidRegs[]> {
  return new Map(entries);
}

const P3 = { mmx: true, fxsr: true, sse: true, apic: true };
const K8 = { ...P3, sse2: true, nx: true, lm: true, syscall: true, syscallLegacy: true, prefetchw: true };

// Leaf 2 descriptors of the P6 parts with a 512 KiB L2 (Intel AP-485, "Intel Processor
// Identification and the CPUID Instruction", table of descriptor bytes): 01 ITLB 4K, 02 ITLB
// 4M, 03 DTLB 4K, 04 DTLB 4M, 08 L1I 16K, 0C L1D 16K, 43 L2 512K 4-way 32-byte lines.
const P6_LEAF2: CpuidRegs = [0x0302_0101, 0, 0, 0x0c04_0843];

// K8 L1 caches and TLBs (Fn8000_0005): 64 KiB 2-way L1I and L1D, 64-byte lines; the same on
// revisions C and E (AMD BKDG for family 0Fh, pub. 26094, §CPUID Fn8000_0005).
const K8_L1: CpuidRegs = [0xff08_ff08, 0xff20_ff20, 0x4002_0140, 0x4002_0140];

// Leaf 4 subleaves 0 and 1 of Yonah and Conroe (the same in both dumps below): L1D and L1I,
// 32 KiB 8-way, 64-byte lines, 64 sets, shared by one thread, two cores per package.
const CORE_L1_LEAF4: CpuidRegs[] = [
  [0x0400_0121, 0x01c0_003f, 0x0000_003f, 1],
  [0x0400_0122, 0x01c0_003f, 0x0000_003f, 1],
];

// Leaf 4 subleaves 0–2 of Nehalem and Westmere: L1D 32 KiB 8-way, L1I 32 KiB 4-way, L2 256 KiB
// 8-way, 64-byte lines; 2 threads per core share them.
const NEHALEM_L12_LEAF4: CpuidRegs[] = [
  [0x1c00_4121, 0x01c0_003f, 0x0000_003f, 0],
  [0x1c00_4122, 0x00c0_003f, 0x0000_007f, 0],
  [0x1c00_4143, 0x01c0_003f, 0x0000_01ff, 0],
];

/** The models, in history's order. The first is the default for 32-bit guests. */
export const CPU_MODELS: readonly CpuModel[] = [
  {
    // Signature 0633h is a Pentium II Klamath (family 6, model 3, stepping 3), but the
    // feature set is vmm86's own i686 of before there were models, kept exactly so that no
    // log changes: no MMX, no APIC, CPUID.1:EDX = FPU PSE TSC MSR PAE CX8 SEP PGE CMOV, the
    // highest basic leaf 1 (the real part had leaf 2), and CR4.UMIP settable (an anachronism
    // the lab's `classify --umip` has always used; CPUID does not advertise it).
    name: "pentium2", vendor: "intel",
    stands_for: "vmm86's i686: Pentium II Klamath signature (06_03h, stepping 3), no MMX, no APIC",
    signature: 0x0633, brand: "",
    cpuid: {
      maxBasic: 1, maxExtended: 0x8000_0000, leaf1Ebx: 0,
      // Today's answer for every extended leaf: 8000_0000h in EAX, nothing else.
      leaves: leaves([[0x8000_0000, [0x8000_0000, 0, 0, 0]]]),
    },
    features: f({ umip: true }),
  },
  {
    // Pentium III Katmai, stepping C0 (06_07h, stepping 3; Intel Pentium III specification
    // update, table "Pentium III processor identification"). Processor serial number off, as
    // BIOSes shipped it, so the highest basic leaf is 2. No brand string, no extended leaves:
    // 8000_0000h is out of range and returns leaf 2 (SDM vol. 2 CPUID).
    name: "pentium3", vendor: "intel",
    stands_for: "Pentium III Katmai (1999, 06_07h stepping 3): + MMX, SSE, FXSAVE, local APIC",
    signature: 0x0673, brand: "",
    cpuid: { maxBasic: 2, maxExtended: 0, leaf1Ebx: 0, leaves: leaves([[2, P6_LEAF2]]) },
    features: f(P3),
    mxcsrMask: 0xffbf, // no DAZ on Katmai (SDM vol. 1 §11.6.3)
  },
  {
    // Core Duo T2600 (Yonah C0, 06_0Eh stepping 8, 2 MiB L2). Leaves 0–4 and the extended
    // leaves are the part's, from the VirtualBox CPU database's dump of a T2600
    // (src/VBox/VMM/VMMR3/cpus/Intel_Core_Duo_T2600_2_16GHz.h, VBoxCpuReport 2017).
    name: "core-duo", vendor: "intel",
    stands_for: "Core Duo T2600 (Yonah C0, 2006, 06_0Eh stepping 8): 32-bit only, SSE3, NX, local APIC",
    signature: 0x06e8, brand: "Genuine Intel(R) CPU           T2600  @ 2.16GHz",
    cpuid: {
      maxBasic: 0xa, maxExtended: 0x8000_0008, leaf1Ebx: 0x0800,
      leaves: leaves([
        [2, [0x02b3_b001, 0x0000_00f0, 0, 0x2c04_307d]],
        [4, [
          ...CORE_L1_LEAF4,
          [0x0400_4143, 0x01c0_003f, 0x0000_0fff, 1], // L2 2 MiB 8-way, shared by 2 cores
        ]],
        [0x8000_0006, [0, 0, 0x0800_6040, 0]],
        [0x8000_0008, [0x0000_2020, 0, 0, 0]],          // 32-bit physical and linear addresses
      ]),
    },
    // Yonah was Intel's first part with VT-x: VMX without EPT, VPID, unrestricted guest or
    // the preemption timer (docs/vmx.md lists what its capability MSRs report).
    features: f({ ...P3, sse2: true, sse3: true, nx: true, vmx: true, pat: true, debugctl: true }),
  },
  {
    // Athlon 64 3200+ ClawHammer, revision C0 (0F_04h stepping 8, 1 MiB L2): no LMSLE, no
    // LAHF/SAHF in 64-bit mode, no CMPXCHG16B. Values from the VirtualBox CPU database's dump
    // (src/VBox/VMM/VMMR3/cpus/AMD_Athlon_64_3200.h, VBoxCpuReport 2013), which also shows
    // the part's joke at the out-of-range leaf 8FFF_FFFFh.
    name: "athlon64-revc", vendor: "amd",
    stands_for: "Athlon 64 3200+ (ClawHammer, revision C0, 0F_04h stepping 8): AMD64 without EFER.LMSLE",
    signature: 0x0f48, brand: "AMD Athlon(tm) 64 Processor 3200+",
    cpuid: {
      maxBasic: 1, maxExtended: 0x8000_0018, leaf1Ebx: 0x0800, ext1Ebx: 0x0000_010a,
      leaves: leaves([
        [0x8000_0005, K8_L1],
        [0x8000_0006, [0, 0x4200_4200, 0x0400_8140, 0]], // L2 1 MiB 16-way
        [0x8000_0008, [0x0000_3028, 0, 0, 0]],           // 40-bit physical, 48-bit linear
        [0x8fff_ffff, [0x5327_5449, 0x4d41_4820, 0x2052_454d, 0x454d_4954]], // "IT'S HAMMER TIME"
      ]),
    },
    features: f(K8),
  },
  {
    // Athlon 64 3500+ Venice, revision E3 (signature 0002_0FF0h, DH-E3 in AMD's Revision
    // Guide for AMD Athlon 64 and Opteron Processors, pub. 25759). Revision D added LAHF/SAHF
    // in 64-bit mode (erratum 110 in pub. 25759; Linux's init_amd_k8 clears the flag below
    // model 14h) and the limited long-mode segmentation (EFER.LMSLE) VMware's binary
    // translator relied on (VMware KB 1003945); revision E added SSE3, revision F CMPXCHG16B
    // (Xen's per-revision K8 CPUID masks, asm/amd.h). No dump of this part was at hand: the
    // cache leaves follow the BKDG for a 512 KiB 16-way L2 and the same L1 as revision C.
    name: "athlon64-reve", vendor: "amd",
    stands_for: "Athlon 64 3500+ (Venice, revision E3, 0F_2Fh stepping 0): AMD64 with EFER.LMSLE, SSE3",
    signature: 0x0002_0ff0, brand: "AMD Athlon(tm) 64 Processor 3500+",
    cpuid: {
      maxBasic: 1, maxExtended: 0x8000_0018, leaf1Ebx: 0x0800,
      leaves: leaves([
        [0x8000_0005, K8_L1],
        [0x8000_0006, [0, 0x4200_4200, 0x0200_8140, 0]], // L2 512 KiB 16-way
        [0x8000_0008, [0x0000_3028, 0, 0, 0]],
      ]),
    },
    features: f({ ...K8, lmsle: true, sse3: true, lahfLm: true }),
  },
  {
    // Athlon 64 X2 4200+ Windsor, revision F2 (0F_4Bh stepping 2, 2 × 512 KiB L2; AMD's
    // Revision Guide for AMD NPT Family 0Fh Processors, pub. 33610). Revision F brought
    // AMD-V, "Pacifica" (SVM revision 1, 64 ASIDs, no nested paging: BKDG for family 0Fh
    // revision F and G, pub. 32559), and CMPXCHG16B; LMSLE and LAHF/SAHF as revision E.
    name: "athlon64-revf", vendor: "amd",
    stands_for: "Athlon 64 X2 4200+ (Windsor, revision F2, 2006, 0F_4Bh stepping 2): AMD-V (SVM) without nested paging",
    signature: 0x0004_0fb2, brand: "AMD Athlon(tm) 64 X2 Dual Core Processor 4200+",
    cpuid: {
      maxBasic: 1, maxExtended: 0x8000_0018, leaf1Ebx: 0x0800,
      leaves: leaves([
        [0x8000_0005, K8_L1],
        [0x8000_0006, [0, 0x4200_4200, 0x0200_8140, 0]], // L2 512 KiB 16-way per core
        [0x8000_0008, [0x0000_3028, 0, 0, 0]],
      ]),
    },
    features: f({ ...K8, lmsle: true, sse3: true, lahfLm: true, cx16: true, svm: true, pat: true, debugctl: true }),
  },
  {
    // Opteron 2350 Barcelona, revision B3 (family 10h model 02h stepping 3; AMD's Revision
    // Guide for Family 10h Processors, pub. 41322). The first part with nested paging (SVM
    // revision 1 with NP: BKDG for family 10h, pub. 31116, CPUID Fn8000_000A), and with
    // POPCNT, RDTSCP and 1 GiB pages; LMSLE is still there (it went with Zen 3). Cache
    // leaves as the BKDG gives them for a 512 KiB 16-way L2 per core; the 2 MiB shared L3
    // (Fn8000_0006 EDX) is left out.
    name: "barcelona", vendor: "amd",
    stands_for: "Opteron 2350 (Barcelona B3, 2007, family 10h model 02h): AMD-V with nested paging",
    signature: 0x0010_0f23, brand: "Quad-Core AMD Opteron(tm) Processor 2350",
    cpuid: {
      maxBasic: 5, maxExtended: 0x8000_001a, leaf1Ebx: 0x0800,
      leaves: leaves([
        [0x8000_0005, [0xff30_ff10, 0xff30_ff20, 0x4002_0140, 0x4002_0140]],
        [0x8000_0006, [0x2000_6000, 0x2020_4000, 0x0200_8140, 0]],
        [0x8000_0008, [0x0000_3030, 0, 0, 0]],          // 48-bit physical and linear
      ]),
    },
    features: f({ ...K8, lmsle: true, sse3: true, lahfLm: true, cx16: true, popcnt: true, rdtscp: true, page1gb: true, svm: true, npt: true, pat: true, debugctl: true }),
  },
  {
    // Core 2 Extreme X6800 (Conroe B2, 06_0Fh stepping 6, 4 MiB L2), the same die and
    // stepping as the Core 2 Duo E6600. Values from the VirtualBox CPU database's dump
    // (src/VBox/VMM/VMMR3/cpus/Intel_Core2_X6800_2_93GHz.h, VBoxCpuReport 2017). Intel 64
    // never had a segment limit in 64-bit mode.
    name: "core2", vendor: "intel",
    stands_for: "Core 2 Extreme X6800 (Conroe B2, 2006, 06_0Fh stepping 6): Intel 64, never a segment limit in 64-bit mode; VT-x without EPT",
    signature: 0x06f6, brand: "Intel(R) Core(TM)2 CPU         X6800  @ 2.93GHz",
    cpuid: {
      maxBasic: 0xa, maxExtended: 0x8000_0008, leaf1Ebx: 0x0800,
      leaves: leaves([
        [2, [0x05b0_b101, 0x0056_57f0, 0, 0x2cb4_3049]],
        [4, [
          ...CORE_L1_LEAF4,
          [0x0400_4143, 0x03c0_003f, 0x0000_0fff, 1], // L2 4 MiB 16-way, shared by 2 cores
        ]],
        [0x8000_0006, [0, 0, 0x1000_8040, 0]],
        [0x8000_0008, [0x0000_3024, 0, 0, 0]],          // 36-bit physical, 48-bit linear
      ]),
    },
    // Conroe had VT-x like Yonah (VMX without EPT, VPID or unrestricted guest), now with
    // IA-32e-mode guests: the Intel part that ran 64-bit guests only under hardware assist.
    features: f({ ...P3, sse2: true, sse3: true, ssse3: true, nx: true, lm: true, syscall: true, cx16: true, lahfLm: true, vmx: true, pat: true, debugctl: true }),
  },
  {
    // Core i7-920 (Bloomfield D0, 06_1Ah stepping 5, 8 MiB L3): Nehalem, the first Intel part
    // with EPT and VPID (and the VMX-preemption timer). Leaf 2 says "see leaf 4" (FFh) beside
    // its TLB descriptors; leaf 4 and the extended leaves follow Intel's documentation of the
    // part (SDM vol. 2 CPUID tables; Intel 64 and IA-32 optimization manual §2.2), not checked
    // against a dump of this exact part. SSE4.1/4.2 are not modelled and stay clear.
    name: "nehalem", vendor: "intel",
    stands_for: "Core i7-920 (Bloomfield D0, 2008, 06_1Ah stepping 5): Intel 64, VMX with EPT, VPID, preemption timer",
    signature: 0x0001_06a5, brand: "Intel(R) Core(TM) i7 CPU         920  @ 2.67GHz",
    cpuid: {
      maxBasic: 0xb, maxExtended: 0x8000_0008, leaf1Ebx: 0x0800,
      leaves: leaves([
        [2, [0x5503_5a01, 0x00f0_b2e4, 0, 0x09ca_212c]],
        [4, [
          ...NEHALEM_L12_LEAF4,
          [0x1c03_c163, 0x03c0_003f, 0x0000_1fff, 2], // L3 8 MiB 16-way, inclusive
        ]],
        [0x8000_0006, [0, 0, 0x0100_6040, 0]],
        [0x8000_0008, [0x0000_3024, 0, 0, 0]],          // 36-bit physical, 48-bit linear
      ]),
    },
    features: f({ ...P3, sse2: true, sse3: true, ssse3: true, nx: true, lm: true, syscall: true, cx16: true, lahfLm: true,
      popcnt: true, rdtscp: true, vmx: true, ept: true, vpid: true, vmxPreemptionTimer: true, pat: true, debugctl: true }),
  },
  {
    // Xeon X5650 (Westmere-EP B1, 06_2Ch stepping 2, 12 MiB L3): Westmere added unrestricted
    // guest (real mode and unpaged protected mode in VMX non-root operation). Cache leaves as
    // for Nehalem with a 12 MiB 16-way L3; not checked against a dump. AES-NI and PCLMULQDQ
    // are not modelled and stay clear.
    name: "westmere", vendor: "intel",
    stands_for: "Xeon X5650 (Westmere-EP B1, 2010, 06_2Ch stepping 2): + unrestricted guest",
    signature: 0x0002_06c2, brand: "Intel(R) Xeon(R) CPU           X5650  @ 2.67GHz",
    cpuid: {
      maxBasic: 0xb, maxExtended: 0x8000_0008, leaf1Ebx: 0x0800,
      leaves: leaves([
        [2, [0x5503_5a01, 0x00f0_b2ff, 0, 0x00ca_0000]],
        [4, [
          ...NEHALEM_L12_LEAF4,
          [0x3c07_c163, 0x03c0_003f, 0x0000_2fff, 6], // L3 12 MiB 16-way, inclusive, complex indexing
        ]],
        [0x8000_0006, [0, 0, 0x0100_6040, 0]],
        [0x8000_0008, [0x0000_3028, 0, 0, 0]],          // 40-bit physical, 48-bit linear
      ]),
    },
    features: f({ ...P3, sse2: true, sse3: true, ssse3: true, nx: true, lm: true, syscall: true, cx16: true, lahfLm: true,
      popcnt: true, rdtscp: true, vmx: true, ept: true, vpid: true, vmxPreemptionTimer: true, unrestrictedGuest: true, pat: true, debugctl: true }),
  },
  {
    // Ryzen 5 5600X (Vermeer B0, family 19h model 21h stepping 0). LMSLE is gone: Fn8000_0008
    // EBX bit 20 (EferLmsleUnsupported) is set and WRMSR of EFER.LMSLE raises #GP (AMD APM
    // vol. 2 §4.12.2). No TSC-deadline mode (AMD never had it). Cache leaves as AMD's PPR for
    // family 19h model 21h (pub. 56214) defines them for a 6-core part: L1 32 KiB 8-way each,
    // L2 512 KiB 8-way, L3 32 MiB (associativity code 9: "see Fn8000_001D"). The highest
    // extended leaf and the L2 TLB fields are not checked against a dump of this exact part.
    name: "zen3", vendor: "amd",
    stands_for: "Ryzen 5 5600X (Vermeer B0, 2020, family 19h model 21h): LMSLE gone (CPUID Fn8000_0008 EBX[20])",
    signature: 0x00a2_0f10, brand: "AMD Ryzen 5 5600X 6-Core Processor",
    cpuid: {
      maxBasic: 0x10, maxExtended: 0x8000_0020, leaf1Ebx: 0x0800, ext1Ebx: 0x2000_0000,
      leaves: leaves([
        [0x8000_0005, [0xff40_ff40, 0xff40_ff40, 0x2008_0140, 0x2008_0140]],
        [0x8000_0006, [0x4800_2200, 0x6800_4200, 0x0200_6140, 0x0100_9140]],
        [0x8000_0008, [0x0000_3030, 0, 0, 0]],          // 48-bit physical and linear
      ]),
    },
    features: f({ ...K8, sse3: true, ssse3: true, noLmsle: true, page1gb: true, cx16: true, popcnt: true, rdtscp: true, lahfLm: true, umip: true }),
  },
];

export const DEFAULT_MODEL: CpuModel = CPU_MODELS[0];

export function findModel(name: string): CpuModel | undefined {
  return CPU_MODELS.find((m) => m.name === name);
}

/** The same model with some features switched on or off. */
export function withFeatures(model: CpuModel, changes: Partial<CpuFeatures>): CpuModel {
  return Object.freeze({ ...model, features: Object.freeze({ ...model.features, ...changes }) });
}

/** The features a model has, by name, in declaration order. */
export function featureList(features: CpuFeatures): FeatureName[] {
  return FEATURE_NAMES.filter((n) => features[n]);
}

/** A `--cpu` value that names no model or feature. The message lists the valid names. */
export class CpuSpecError extends Error {}

/**
 * Resolve `MODEL[,+FEATURE][,-FEATURE]…` (QEMU's `-cpu` convention; `FEATURE` alone means
 * `+FEATURE`). The short forms of before there were models: `standard` is `pentium2`,
 * `strict` is `pentium2,+strict`.
 */
export function parseCpuSpec(spec: string): CpuModel {
  const [head, ...mods] = spec.split(",");
  let model: CpuModel | undefined;
  if (head === "standard") model = DEFAULT_MODEL;
  else if (head === "strict") model = withFeatures(DEFAULT_MODEL, { strict: true });
  else model = findModel(head);
  if (model === undefined) {
    throw new CpuSpecError(`unknown CPU model '${head}' (models: ${CPU_MODELS.map((m) => m.name).join(", ")}; short forms: standard, strict)`);
  }
  const changes: Partial<CpuFeatures> = {};
  for (const m of mods) {
    const on = !m.startsWith("-");
    const name = m.startsWith("+") || m.startsWith("-") ? m.slice(1) : m;
    if (!(FEATURE_NAMES as readonly string[]).includes(name)) {
      throw new CpuSpecError(`unknown CPU feature '${m}' (features: ${FEATURE_NAMES.join(", ")})`);
    }
    changes[name as FeatureName] = on;
  }
  return mods.length === 0 ? model : withFeatures(model, changes);
}
