// The 64-bit red-pill guest's probes (guests/redpill64/redpill64.c), in the order it runs
// them. The same instructions as the 32-bit guest where 64-bit mode still has them; PUSH
// and POP of CS, SS, DS and ES are gone (PUSH CS is kept as a probe: it must raise #UD),
// SYSCALL/SYSRET replaces SYSENTER, and SWAPGS is added. Kinds as in probes.ts.

import type { ProbeInfo, ValueKind } from "./probes.js";

/** The selectors LAR, LSL, VERR and VERW are asked about (redpill64.h). */
const SELECTOR_KEYS_64 = ["s08", "s10", "s1b", "s23", "s2b", "s30", "s40", "s53", "s07"] as const;
const perSelector = (kind: ValueKind): Array<[string, ValueKind]> => SELECTOR_KEYS_64.map((k) => [k, kind]);
const segRegs = (names: string[]): Array<[string, ValueKind]> => names.map((n) => [n, "selector"]);
const flagPairs: Array<[string, ValueKind]> = [["if_set", "flag"], ["iopl_set", "flag"], ["if_clear", "flag"], ["iopl_clear", "flag"]];

export const PROBES_64: readonly ProbeInfo[] = [
  { name: "sgdt", label: "SGDT", robinIrvine: true, keys: [["limit", "limit"], ["base", "address"]], what: "store GDTR: the limit and 64-bit base the guest loaded" },
  { name: "sidt", label: "SIDT", robinIrvine: true, keys: [["limit", "limit"], ["base", "address"]], what: "store IDTR" },
  { name: "sldt", label: "SLDT", robinIrvine: true, keys: [["sel", "selector"]], what: "store LDTR's selector" },
  { name: "smsw", label: "SMSW", robinIrvine: true, keys: [["msw", "value"]], what: "store CR0 (low word compared)" },
  { name: "str", label: "STR", robinIrvine: true, keys: [["sel", "selector"]], what: "store TR's selector" },
  { name: "pushf", label: "PUSHFQ", robinIrvine: true, keys: [["if", "flag"], ["iopl", "flag"]], what: "RFLAGS.IF and IOPL as pushed" },
  { name: "popf", label: "POPFQ", robinIrvine: true, keys: flagPairs, what: "POPFQ IF=1/IOPL=3, then IF=0/IOPL=0; what stuck each time" },
  { name: "lar", label: "LAR", robinIrvine: true, keys: perSelector("rights"), what: "access rights of 9 selectors ('-': ZF=0)" },
  { name: "lsl", label: "LSL", robinIrvine: true, keys: perSelector("limit"), what: "limits of 9 selectors ('-': ZF=0)" },
  { name: "verr", label: "VERR", robinIrvine: true, keys: perSelector("flag"), what: "readable? (ZF) for 9 selectors" },
  { name: "verw", label: "VERW", robinIrvine: true, keys: perSelector("flag"), what: "writable? (ZF) for 9 selectors" },
  { name: "push_sreg", label: "PUSH FS/GS", robinIrvine: true, keys: segRegs(["fs", "gs"]), what: "the selectors PUSH FS/GS push" },
  { name: "pop_sreg", label: "POP FS/GS", robinIrvine: true, keys: segRegs(["fs", "gs"]), what: "POP FS/GS of the level's own selectors, read back" },
  { name: "push_cs", label: "PUSH CS", robinIrvine: true, keys: [["pushed", "flag"]], what: "invalid in 64-bit mode: #UD expected" },
  { name: "call_far", label: "CALL far", robinIrvine: true, keys: [["pushed_cs", "selector"]], what: "far call (m16:32) to the level's own code selector: the CS it pushes" },
  { name: "jmp_far", label: "JMP far", robinIrvine: true, keys: [["reached", "flag"]], what: "far jump (m16:32) to the level's own code selector" },
  { name: "ret_far", label: "RET far", robinIrvine: true, keys: [["reached", "flag"]], what: "64-bit far return to the level's own code selector" },
  { name: "int", label: "INT n", robinIrvine: true, keys: [["handled", "flag"], ["frame_cs", "selector"], ["frame_ss", "selector"]], what: "INT 0x81 (DPL-3 gate): CS and SS in the handler's frame" },
  { name: "mov_from_sreg", label: "MOV r, Sreg", robinIrvine: true, keys: segRegs(["cs", "ss", "ds", "es", "fs", "gs"]), what: "read all six segment registers" },
  { name: "mov_to_sreg", label: "MOV Sreg, r", robinIrvine: true, keys: segRegs(["ss", "ds", "es", "fs", "gs"]), what: "load SS/DS/ES/FS/GS with the level's own selectors, read back" },
  { name: "iret", label: "IRETQ", robinIrvine: false, keys: flagPairs, what: "IRETQ to the same level with IF=1/IOPL=3, then IF=0/IOPL=0" },
  { name: "cpuid", label: "CPUID", robinIrvine: false, keys: [["max", "value"], ["vendor", "value"], ["sig", "value"], ["ecx", "value"], ["edx", "value"], ["ext_edx", "value"]], what: "leaves 0, 1 and 0x80000001" },
  { name: "syscall", label: "SYSCALL", robinIrvine: false,
    keys: [["entered", "flag"], ["cs", "selector"], ["ss", "selector"], ["if", "flag"], ["r11_if", "flag"], ["ret_cs", "selector"], ["ret_ss", "selector"]],
    what: "SYSCALL; the entry's CS, SS, IF and R11.IF; SYSRETQ (from ring 3) and the CS, SS it restored" },
  { name: "swapgs", label: "SWAPGS", robinIrvine: false, keys: [["gs", "selector"]], what: "SWAPGS twice (privileged: #GP at CPL 3)" },
];
