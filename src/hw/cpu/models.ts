// CPU models: real processors from the history of x86 virtualization, each with the
// features it really had. A feature decides what CPUID reports, which instructions decode,
// which EFER/CR4 bits can be set and which MSRs exist. The CPU consults `cpu.features`
// (a plain object of booleans, resolved once at construction) and never a model's name.
//
// `--cpu MODEL[,+FEATURE][,-FEATURE]` (QEMU's convention) resolves to a CpuModel with its
// features adjusted: `parseCpuSpec`.

/** Every feature a model may have. Names follow CPUID's feature flags where one exists. */
export interface CpuFeatures {
  /** Base i686 set, CPUID.1:EDX: FPU VME DE PSE TSC MSR PAE MCE CX8 SEP PGE CMOV. */
  mmx: boolean;
  /** FXSAVE/FXRSTOR, CR4.OSFXSR. */
  fxsr: boolean;
  sse: boolean;
  sse2: boolean;
  sse3: boolean;
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
  /** CR4.UMIP: SGDT SIDT SLDT SMSW STR fault at CPL > 0. */
  umip: boolean;
  /** Not a real part: every sensitive instruction faults with #GP at CPL > 0 (DESIGN.md §2). */
  strict: boolean;
}

export type FeatureName = keyof CpuFeatures;

export type Vendor = "intel" | "amd";

export interface CpuModel {
  /** The `--cpu` name. */
  name: string;
  vendor: Vendor;
  /** The real part it copies, for `vmm86 cpus` and the README. */
  stands_for: string;
  /** CPUID.1:EAX: stepping, model, family (with the extended fields). */
  signature: number;
  /** The brand string (CPUID 8000_0002h–8000_0004h), empty for parts without one. */
  brand: string;
  features: CpuFeatures;
}

const NONE: CpuFeatures = {
  mmx: false, fxsr: false, sse: false, sse2: false, sse3: false, ssse3: false, apic: false,
  tscDeadline: false, nx: false, lm: false, lmsle: false, noLmsle: false, syscallLegacy: false,
  syscall: false, page1gb: false, cx16: false, popcnt: false, rdtscp: false, lahfLm: false,
  umip: false, strict: false,
};

function f(on: Partial<CpuFeatures>): CpuFeatures {
  return { ...NONE, ...on };
}

const P3 = { mmx: true, fxsr: true, sse: true, apic: true };
const K8 = { ...P3, sse2: true, nx: true, lm: true, syscall: true, syscallLegacy: true };

/** The models, in history's order. The first is the default for 32-bit guests. */
export const CPU_MODELS: readonly CpuModel[] = [
  {
    name: "pentium2", vendor: "intel", stands_for: "the i686 vmm86 has always modelled (family 6, model 3: Pentium II Klamath), no APIC",
    signature: 0x0633, brand: "", features: f({}),
  },
  {
    name: "pentium3", vendor: "intel", stands_for: "Pentium III (Katmai, family 6 model 7): + SSE, FXSAVE, local APIC",
    signature: 0x0673, brand: "", features: f(P3),
  },
  {
    name: "core-duo", vendor: "intel", stands_for: "Core Duo T2400 (Yonah, 2006, family 6 model 14): 32-bit only, SSE3, NX, local APIC",
    signature: 0x06e8, brand: "Genuine Intel(R) CPU           T2400  @ 1.83GHz",
    features: f({ ...P3, sse2: true, sse3: true, nx: true }),
  },
  {
    name: "athlon64-revc", vendor: "amd", stands_for: "Athlon 64 3200+ (ClawHammer, revision C0, family 0Fh): AMD64 without EFER.LMSLE",
    signature: 0x0f48, brand: "AMD Athlon(tm) 64 Processor 3200+", features: f(K8),
  },
  {
    name: "athlon64-reve", vendor: "amd", stands_for: "Athlon 64 3500+ (Venice, revision E3, family 0Fh): AMD64 with EFER.LMSLE, SSE3",
    signature: 0x20ff2, brand: "AMD Athlon(tm) 64 Processor 3500+", features: f({ ...K8, lmsle: true, sse3: true, lahfLm: false }),
  },
  {
    name: "core2", vendor: "intel", stands_for: "Core 2 Duo E6600 (Merom/Conroe, family 6 model 15): Intel 64, never a segment limit in 64-bit mode",
    signature: 0x06f6, brand: "Intel(R) Core(TM)2 CPU          6600  @ 2.40GHz",
    features: f({ ...P3, sse2: true, sse3: true, ssse3: true, nx: true, lm: true, syscall: true, cx16: true, lahfLm: true }),
  },
  {
    name: "zen3", vendor: "amd", stands_for: "Ryzen 5 5600X (Vermeer, family 19h): LMSLE gone (CPUID Fn8000_0008 EBX[20])",
    signature: 0xa20f10, brand: "AMD Ryzen 5 5600X 6-Core Processor",
    features: f({ ...K8, sse3: true, ssse3: true, noLmsle: true, page1gb: true, cx16: true, popcnt: true, rdtscp: true, lahfLm: true, tscDeadline: false, umip: true }),
  },
];

export function findModel(name: string): CpuModel | undefined {
  return CPU_MODELS.find((m) => m.name === name);
}
