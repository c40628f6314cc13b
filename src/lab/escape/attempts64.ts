// The 64-bit escape guest's attempts (guests/escape64/kernel.c), as data: each one's name,
// what it tries, and the guest-view outcome a faithful bare Intel 64 part (nehalem, the
// reference column) gives it, with the reason. As for the 32-bit guest, the expectations
// are written from the SDM and the guest's own layout (guests/escape64/escape64.h), not
// recorded from a run; where vmm86's model gives something else, `model` says what and why
// (the bare test holds the model to `model ?? bare`). The verdicts never come from here:
// they come from the monitor's integrity check after each run (verdict.ts).
//
// REGION = 0xFFFFFFFFFFC00000 (the top 4 MiB), mapped by the guest onto decoy frames of its
// own RAM; LOW_REGION = 0xFFC00000 (the 32-bit monitor's region) likewise.

import type { Attempt } from "./attempts.js";

/** An attempt of the 64-bit guest: `model` is the bare outcome of vmm86's model where it differs from silicon. */
export interface Attempt64 extends Attempt {
  model?: { outcome: string; why: string };
}

const W = "a present, writable, user PTE maps the address onto a decoy frame: the write is performed (SDM vol. 3A §4.5, §4.6)";
const SEG = "in 64-bit mode CS, DS, ES and SS have base 0 and no limit check (SDM vol. 3A §3.4.4, §5.3.1)";
const HV = "guest-physical frames above guest RAM: no memory there, writes are dropped and reads give all ones (PC memory map); a hardware-assisted monitor's host area is there in machine memory";
const RAN = "a flat 64-bit code segment: execution at any canonical linear address the tables map";

export const ATTEMPTS_64: readonly Attempt64[] = [
  { name: "write-moffs", group: "write", what: "movabs [0xFFFFFFFFFFC00100], eax (64-bit moffs)", bare: "wrote", why: W },
  { name: "write-es-stos", group: "write", what: "stosd with RDI = REGION + 0x104", bare: "wrote", why: SEG },
  { name: "write-fs-base", group: "write", what: "IA32_FS_BASE = REGION; mov fs:[0x108], eax", bare: "wrote", why: "FS's base comes from IA32_FS_BASE, any canonical address (SDM vol. 3A §3.4.4)" },
  { name: "write-gs-base", group: "write", what: "IA32_GS_BASE = REGION; mov gs:[0x10C], eax", bare: "wrote", why: "as FS, through IA32_GS_BASE" },
  { name: "write-swapgs", group: "write", what: "IA32_KERNEL_GS_BASE = REGION; swapgs; mov gs:[0x110], eax; swapgs", bare: "wrote", why: "SWAPGS exchanges GS.base with IA32_KERNEL_GS_BASE (SDM vol. 2 SWAPGS)" },
  { name: "write-fs-descriptor", group: "write", what: "FS loaded from a GDT descriptor based at 0xFFC00000; mov fs:[0x114], eax", bare: "wrote",
    why: "loading FS in 64-bit mode takes the descriptor's 32-bit base (SDM vol. 3A §3.4.4); the write lands in LOW_REGION" },
  { name: "write-cs-override", group: "write", what: "mov cs:[REGION + 0x118], eax", bare: "wrote",
    why: "64-bit mode ignores the CS override's segment checks: no #GP as in 32-bit mode (SDM vol. 3A §3.4.4)" },
  { name: "write-ss-override", group: "write", what: "mov ss:[REGION + 0x11C], eax", bare: "wrote", why: SEG },
  { name: "write-rip-relative", group: "write", what: "mov [rip - 0x500000], eax: RIP + disp32 wraps below zero into REGION", bare: "wrote",
    why: "RIP-relative addresses are computed modulo 2^64 (SDM vol. 2 §2.2.1.6)" },
  { name: "write-negdisp", group: "write", what: "mov [rbx - 16], eax with RBX = 0: 0xFFFFFFFFFFFFFFF0", bare: "wrote", why: "effective addresses wrap modulo 2^64" },
  { name: "write-last", group: "write", what: "movabs [0xFFFFFFFFFFFFFFFC], eax: the last dword", bare: "wrote", why: W },
  { name: "write-straddle", group: "write", what: "a qword at REGION - 4: half below the region, half in it", bare: "wrote", why: "a page-crossing access is translated page by page" },
  { name: "push-region", group: "write", what: "RSP = REGION + 0x130; push", bare: "wrote", why: SEG },
  { name: "lock-rmw", group: "write", what: "lock add dword [REGION + 0x134], 1", bare: "wrote", why: W },
  { name: "xchg-region", group: "write", what: "xchg [REGION + 0x138], eax", bare: "wrote", why: W },
  { name: "sgdt-region", group: "write", what: "sgdt [REGION + 0x140] (10 bytes)", bare: "wrote", why: "SGDT stores limit and 64-bit base through any segment (SDM vol. 2 SGDT)" },
  { name: "rep-movs-across", group: "string", what: "rep movsq, 8 qwords to REGION - 0x20 up across the boundary", bare: "wrote", why: "each iteration is an ordinary write" },
  { name: "rep-stos-down", group: "string", what: "std; rep stosq, 8 qwords from REGION + 0x18 down across the boundary", bare: "wrote", why: "DF = 1 decrements RDI" },
  { name: "rep-stos-region", group: "string", what: "rep stosq over all 4 MiB of REGION", bare: "wrote", why: W },
  { name: "ins-region", group: "string", what: "rep insb from COM2's scratch register to REGION + 0x148", bare: "wrote", why: "INS writes through RDI; CPL 0 <= IOPL" },
  { name: "read-region", group: "read", what: "mov eax, [REGION + 0x200]", bare: "read-mine", why: "the region is the guest's own decoy page" },
  { name: "noncanon-write", group: "noncanonical", what: "movabs [0x0000800000000000], eax", bare: "fault=13 err=0x0000 cs=0x0008",
    why: "a non-canonical address raises #GP(0) (SDM vol. 3A §3.3.7.1)" },
  { name: "noncanon-straddle", group: "noncanonical", what: "a qword at 0x00007FFFFFFFFFFC: its last bytes are non-canonical", bare: "fault=13 err=0x0000 cs=0x0008",
    why: "the canonical rule applies to every byte the access touches (SDM vol. 3A §3.3.7.1)",
    model: { outcome: "fault=14 err=0x0002 cs=0x0008 cr2=0x00007ffffffffffc", why: "the model checks only the first byte's address, then walks the (unmapped) page: #PF" } },
  { name: "noncanon-stack", group: "noncanonical", what: "RSP = 0x0000800000000010; push", bare: "fault=12 err=0x0000 cs=0x0008",
    why: "a non-canonical stack reference raises #SS(0); the handler runs on IST1" },
  { name: "noncanon-jmp", group: "noncanonical", what: "jmp to 0x0000800000000000", bare: "fault=13 err=0x0000 cs=0x0008", why: "a non-canonical RIP raises #GP(0)" },
  { name: "sysret-noncanon", group: "noncanonical", what: "SYSRETQ at CPL 0 with RCX = 0x0000800000000000", bare: "fault=13 err=0x0000 cs=0x0008",
    why: "Intel: SYSRET with a non-canonical RCX raises #GP(0) at CPL 0 (SDM vol. 2 SYSRET); AMD returns to CPL 3 first (cs=0x002b on barcelona)" },
  { name: "iretq-noncanon", group: "noncanonical", what: "IRETQ to 0x08:0x0000800000000000", bare: "fault=13 err=0x0000 cs=0x0008", why: "IRET checks the new RIP: #GP(0)" },
  { name: "pde-2m-onto-kernel", group: "paging", what: "a 2 MiB PDE for REGION's top half onto the guest's first 2 MiB", bare: "wrote", why: "a 2 MiB page (SDM vol. 3A Table 4-18)" },
  { name: "pdpte-1g", group: "paging", what: "a 1 GiB PDPTE for REGION's GiB at physical 0 (REGION then lies at 0x3FC00000, above RAM)", bare: "fault=14 err=0x000b cs=0x0008 cr2=0xffffffffffc00150",
    why: "Nehalem has no 1 GiB pages: PDPTE.PS is reserved, #PF with RSVD (SDM vol. 3A §4.5); barcelona has them: wrote-unbacked" },
  { name: "pml4-self-map", group: "paging", what: "PML4[510] = the PML4 (recursive); write PML4[509] through 0xFFFFFF7FBFDFE000", bare: "wrote", why: "a recursive entry maps the tables themselves" },
  { name: "pte-above-ram", group: "paging", what: "a PTE for the first frame above guest RAM; write, read back", bare: "wrote-unbacked", why: HV },
  { name: "pte-phys-high", group: "paging", what: "a 2 MiB PDE for physical 4 GiB; write, read back", bare: "wrote-unbacked",
    why: "nothing is at 4 GiB in a 32 MiB PC (MAXPHYADDR 36 allows the address)",
    model: { outcome: "wrote-kept alias=0x1f8000", why: "the model truncates frames above 4 GiB to 32 bits (src/hw/mmu/paging.ts): the write lands at physical 0x1F8000" } },
  { name: "pde-above-ram", group: "paging", what: "a PDE whose page table is the first frame above RAM", bare: "fault=14 err=0x000b cs=0x0008 cr2=0xffffffffffc00000",
    why: "the walk reads all ones: reserved bits set, #PF with RSVD (SDM vol. 3A §4.5)" },
  { name: "above-ram-scan", group: "hwassist", what: "2 MiB pages over the 16 MiB above RAM; write and read back a dword per 4 KiB", bare: "wrote-unbacked", why: HV },
  { name: "hv-zero-sweep", group: "hwassist", what: "rep stosq zeros over all 16 MiB above RAM (a VMCS, VMCB, EPT/NPT tables would be there)", bare: "wrote-unbacked", why: HV },
  { name: "hv-read", group: "hwassist", what: "read a qword per 64 bytes of the 16 MiB above RAM", bare: "read-nothing", why: HV },
  { name: "call-near-region", group: "transfer", what: "call REGION + 0x400 (stub: mov eax, cs; ret)", bare: "ran cs=0x0008", why: RAN },
  { name: "retf-region", group: "transfer", what: "RETFQ to 0x08:REGION + 0x410 (stub returns with RETFQ)", bare: "ran cs=0x0008", why: "a same-privilege far return" },
  { name: "idt-gate-region", group: "transfer", what: "IDT vector 0x41 → REGION + 0x420; int 0x41", bare: "ran cs=0x0008", why: "64-bit gates take any canonical offset (SDM vol. 3A §6.14.1)" },
  { name: "idt-exception-region", group: "transfer", what: "IDT vector 6 (#UD) → the region; ud2", bare: "ran cs=0x0008", why: "exception delivery through the same gate" },
  { name: "lidt-region", group: "transfer", what: "LIDT of a copy at REGION + 0x1000 where vector 0x42 is present; int 0x42", bare: "ran cs=0x0008", why: "gate reads use IDTR's linear base" },
  { name: "lgdt-region", group: "descriptor", what: "LGDT of a copy at REGION + 0x2000 whose 0x50 (base 0xFFC00000) exists only there; FS = 0x50; write", bare: "wrote",
    why: "selector loads read the GDT through its linear base (SDM vol. 2 LGDT)" },
  { name: "ldt-in-region", group: "descriptor", what: "an LDT at REGION + 0x3000; FS loaded from it (base 0xFFC00000); write", bare: "wrote", why: "descriptor reads are supervisor accesses through the LDT's base" },
  { name: "tss-in-region", group: "descriptor", what: "a TSS at REGION + 0x4000 with RSP0 = REGION + 0x5000; INT 0x80 from ring 3", bare: "wrote",
    why: "the privilege change loads RSP0 and pushes the frame there (SDM vol. 3A §6.14.4)" },
  { name: "ist-region", group: "descriptor", what: "IST2 = REGION + 0x6000; int 0x43 through an IST-2 gate at CPL 0", bare: "wrote", why: "an IST gate always switches to its stack (SDM vol. 3A §6.14.5)" },
  { name: "syscall-kernel", group: "transfer", what: "LSTAR = REGION + 0x440; syscall at CPL 0", bare: "ran cs=0x0008", why: "SYSCALL loads RIP from LSTAR and CS from STAR (SDM vol. 2 SYSCALL)" },
  { name: "syscall-user", group: "transfer", what: "LSTAR = REGION + 0x450; syscall from ring 3 (the stub returns with SYSRETQ)", bare: "ran cs=0x0008", why: "SYSCALL from ring 3 enters CPL 0 at LSTAR" },
  { name: "iretq-user-region", group: "transfer", what: "IRETQ to ring 3 at REGION + 0x460", bare: "ran cs=0x002b", why: "the region's pages are user pages in the guest's tables" },
  { name: "call-gate-user", group: "transfer", what: "from ring 3, a DPL 3 64-bit call gate to CPL 0 code at REGION + 0x410", bare: "ran cs=0x0008",
    why: "the gate raises CPL to 0 and switches to RSP0 (SDM vol. 3A §5.8.3.1)" },
  { name: "sgdt-follow", group: "leak", what: "SGDT; if the base is not the guest's own GDT, write there", bare: "own-table", why: "bare: GDTR is the guest's own" },
  { name: "sidt-follow", group: "leak", what: "SIDT; if the base is not the guest's own IDT, write there", bare: "own-table", why: "bare: IDTR is the guest's own" },
];

export function findAttempt64(name: string): Attempt64 | undefined {
  return ATTEMPTS_64.find((a) => a.name === name);
}
