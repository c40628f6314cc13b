// The red-pill guest's probes (guests/redpill/redpill.c), in the order it runs them, and
// what kind of thing each reported value is. The kind decides whether a value that
// differs from the bare machine's gives the monitor away ("leaks") or is merely wrong
// ("misbehaves"); see classify.ts.
//
// Robin and Irvine ("Analysis of the Intel Pentium's ability to support a secure virtual
// machine monitor", USENIX Security 2000) list 18 sensitive unprivileged instructions;
// MOV to/from a segment register is one entry there and two probes here. CPUID, IRET
// and SYSENTER are added: a monitor must handle them too.

/**
 * - `address`: a linear address; one in the monitor region (0xFFC00000 and up) leaks it.
 * - `limit`: a segment or table limit the guest set; any other value leaks a shadow.
 * - `rights`: descriptor access rights (LAR); any other value is a descriptor the guest
 *   did not create.
 * - `selector`: a selector; RPL 1 or 2 (rings the guest never uses) or another index leaks.
 * - `flag`, `value`: anything else; a difference is a misbehaviour.
 */
export type ValueKind = "address" | "limit" | "rights" | "selector" | "flag" | "value";

export interface ProbeInfo {
  /** The name the guest prints after `RP`. */
  name: string;
  /** The instruction as the tables show it. */
  label: string;
  /** One of Robin and Irvine's 18 (MOV counted in both directions). */
  robinIrvine: boolean;
  /** The reported values, in the guest's order, with their kinds. */
  keys: Array<[string, ValueKind]>;
  /** What the probe does, for the docs and --help. */
  what: string;
}

/** The selectors LAR, LSL, VERR and VERW are asked about (redpill.h). */
const SELECTOR_KEYS = ["s08", "s10", "s1b", "s23", "s28", "s30", "s3b", "s07"] as const;
const perSelector = (kind: ValueKind): Array<[string, ValueKind]> => SELECTOR_KEYS.map((k) => [k, kind]);
const segRegs = (names: string[]): Array<[string, ValueKind]> => names.map((n) => [n, "selector"]);
const flagPairs: Array<[string, ValueKind]> = [["if_set", "flag"], ["iopl_set", "flag"], ["if_clear", "flag"], ["iopl_clear", "flag"]];

export const PROBES: readonly ProbeInfo[] = [
  { name: "sgdt", label: "SGDT", robinIrvine: true, keys: [["limit", "limit"], ["base", "address"]], what: "store GDTR: the limit and base the guest loaded" },
  { name: "sidt", label: "SIDT", robinIrvine: true, keys: [["limit", "limit"], ["base", "address"]], what: "store IDTR" },
  { name: "sldt", label: "SLDT", robinIrvine: true, keys: [["sel", "selector"]], what: "store LDTR's selector" },
  { name: "smsw", label: "SMSW", robinIrvine: true, keys: [["msw", "value"]], what: "store CR0[15:0]" },
  { name: "str", label: "STR", robinIrvine: true, keys: [["sel", "selector"]], what: "store TR's selector" },
  { name: "pushf", label: "PUSHF", robinIrvine: true, keys: [["if", "flag"], ["iopl", "flag"]], what: "EFLAGS.IF and IOPL as pushed" },
  { name: "popf", label: "POPF", robinIrvine: true, keys: flagPairs, what: "POPF IF=1/IOPL=3, then IF=0/IOPL=0; what stuck each time" },
  { name: "lar", label: "LAR", robinIrvine: true, keys: perSelector("rights"), what: "access rights of 8 selectors ('-': ZF=0)" },
  { name: "lsl", label: "LSL", robinIrvine: true, keys: perSelector("limit"), what: "limits of 8 selectors ('-': ZF=0)" },
  { name: "verr", label: "VERR", robinIrvine: true, keys: perSelector("flag"), what: "readable? (ZF) for 8 selectors" },
  { name: "verw", label: "VERW", robinIrvine: true, keys: perSelector("flag"), what: "writable? (ZF) for 8 selectors" },
  { name: "push_sreg", label: "PUSH Sreg", robinIrvine: true, keys: segRegs(["cs", "ss", "ds", "es", "fs", "gs"]), what: "the selectors PUSH CS/SS/DS/ES/FS/GS push" },
  { name: "pop_sreg", label: "POP Sreg", robinIrvine: true, keys: segRegs(["ss", "ds", "es", "fs", "gs"]), what: "POP SS/DS/ES/FS/GS of the level's own selectors, read back" },
  { name: "call_far", label: "CALL far", robinIrvine: true, keys: [["pushed_cs", "selector"]], what: "far call to the level's own code selector: the CS it pushes" },
  { name: "jmp_far", label: "JMP far", robinIrvine: true, keys: [["reached", "flag"]], what: "far jump to the level's own code selector" },
  { name: "ret_far", label: "RET far", robinIrvine: true, keys: [["reached", "flag"]], what: "far return to the level's own code selector" },
  { name: "int", label: "INT n", robinIrvine: true, keys: [["handled", "flag"], ["frame_cs", "selector"]], what: "INT 0x81 (DPL-3 gate): the CS in the handler's frame" },
  { name: "mov_from_sreg", label: "MOV r, Sreg", robinIrvine: true, keys: segRegs(["cs", "ss", "ds", "es", "fs", "gs"]), what: "read all six segment registers" },
  { name: "mov_to_sreg", label: "MOV Sreg, r", robinIrvine: true, keys: segRegs(["ss", "ds", "es", "fs", "gs"]), what: "load SS/DS/ES/FS/GS with the level's own selectors, read back" },
  { name: "iret", label: "IRET", robinIrvine: false, keys: flagPairs, what: "IRET to the same level with IF=1/IOPL=3, then IF=0/IOPL=0" },
  { name: "cpuid", label: "CPUID", robinIrvine: false, keys: [["max", "value"], ["vendor", "value"], ["sig", "value"], ["ecx", "value"], ["edx", "value"]], what: "leaf 0 and leaf 1" },
  { name: "sysenter", label: "SYSENTER", robinIrvine: false, keys: [["entered", "flag"], ["cs", "selector"], ["ss", "selector"], ["esp", "address"]], what: "what the SYSENTER entry point sees" },
];

export const CPLS = [0, 3] as const;
export type Cpl = (typeof CPLS)[number];

export function probeByName(name: string): ProbeInfo | undefined {
  return PROBES.find((p) => p.name === name);
}

/** The monitor's region at the top of every guest address space (docs/monitor.md). */
export const MONITOR_REGION_BASE = 0xffc0_0000;
