// The escape guest's attempts (guests/escape/kernel.c), as data: each one's name, what it
// tries, and the guest-view outcome a faithful bare machine gives it, with the reason.
//
// The expected outcomes are written by hand from the Intel SDM (Vol. 3A ch. 3-7, Vol. 2
// instruction pages) and the PC's memory map (unassigned physical addresses read as all
// ones), not recorded from a run: the bare test holds the machine model to them.
//
// Outcome words, as the guest prints them (`ESC <name> <outcome> [detail]`):
//   wrote           the write completed and landed in the guest frame its page tables name
//   wrote-lost      the write completed but that frame does not show it (it went elsewhere)
//   wrote-unbacked  the write went to a frame with no memory: it reads back as all ones
//   wrote-kept      ... but something above guest RAM kept it
//   ran             code in the region ran (detail: the CS it saw)
//   delivered       an interrupt was delivered through an IDT in the region
//   read-mine / read-other   a read of the region saw the guest's own page / something else
//   read-nothing    every read gave all ones (no memory answered)
//   io-kept / io-lost        a device register read back what was written / something else
//   own-table       SGDT/SIDT showed the guest's own table: nothing to follow
//   fault=N         the attempt raised exception N (detail: err=, cr2=)

export type AttemptGroup = "write" | "string" | "read" | "descriptor" | "transfer" | "paging" | "hwassist" | "io" | "leak" | "noncanonical";

export interface Attempt {
  name: string;
  group: AttemptGroup;
  /** What the guest does, in a line. */
  what: string;
  /** The guest-view outcome on a bare machine (outcome word plus detail where it matters). */
  bare: string;
  /** Why the SDM or the PC predicts that. */
  why: string;
}

const W = "a flat DPL 0 data segment and a present writable PTE: the write is performed (SDM Vol. 3A §5.5, §4.6)";

const HV = "guest-physical frames above guest RAM: no memory there, writes are dropped and reads give all ones (PC memory map)";

export const ATTEMPTS: readonly Attempt[] = [
  { name: "write-ds", group: "write", what: "mov [0xFFC00100], eax through DS (moffs form)", bare: "wrote", why: W },
  { name: "write-es", group: "write", what: "mov es:[edi], eax with EDI = 0xFFC00104", bare: "wrote", why: W },
  { name: "write-fs", group: "write", what: "FS = flat data, mov fs:[0xFFC00108], eax", bare: "wrote", why: W },
  { name: "write-gs", group: "write", what: "GS = flat data, mov gs:[0xFFC0010C], eax", bare: "wrote", why: W },
  { name: "write-ss", group: "write", what: "mov ss:[0xFFC00110], eax", bare: "wrote", why: W },
  { name: "write-cs", group: "write", what: "mov cs:[0xFFC00114], eax (a write through a code segment)", bare: "fault=13 err=0x0000",
    why: "code segments are never writable: MOV raises #GP(0) (SDM Vol. 2 MOV, Vol. 3A §5.5)" },
  { name: "write-sib", group: "write", what: "mov [ebx+ecx*4+0x118], eax summing to 0xFFC00118", bare: "wrote", why: W },
  { name: "write-negdisp", group: "write", what: "mov [ebx-16], eax with EBX = 0: the offset wraps to 0xFFFFFFF0", bare: "wrote",
    why: "effective addresses are computed modulo 2^32 (SDM Vol. 1 §3.7.5); the flat segment covers it" },
  { name: "write-last", group: "write", what: "mov [0xFFFFFFFC], eax: the last dword of the address space", bare: "wrote", why: W },
  { name: "write-straddle", group: "write", what: "a dword at 0xFFBFFFFE: two bytes below the region, two in it", bare: "wrote",
    why: "a page-crossing access is translated page by page (SDM Vol. 3A §4.10.2.4 footnote)" },
  { name: "push-region", group: "write", what: "ESP = 0xFFC00124; push eax", bare: "wrote", why: "a flat stack segment: the push writes 0xFFC00120" },
  { name: "lock-rmw", group: "write", what: "lock add dword [0xFFC00124], 1", bare: "wrote", why: W },
  { name: "xchg-region", group: "write", what: "xchg [0xFFC00128], eax (implicitly locked)", bare: "wrote", why: W },
  { name: "fpu-store", group: "write", what: "fild; fistp dword [0xFFC0012C]", bare: "wrote", why: "x87 stores use the same segment and page checks" },
  { name: "sgdt-region", group: "write", what: "sgdt [0xFFC00130]: a descriptor-table store into the region", bare: "wrote",
    why: "SGDT stores 6 bytes through DS at any CPL (SDM Vol. 2 SGDT)" },
  { name: "rep-movs-across", group: "string", what: "rep movsd, 8 dwords from 0xFFBFFFF0 up across the boundary", bare: "wrote",
    why: "each iteration is an ordinary write through ES (SDM Vol. 2 MOVS)" },
  { name: "rep-stos-down", group: "string", what: "std; rep stosd, 8 dwords from 0xFFC0000C down across the boundary", bare: "wrote",
    why: "DF = 1 decrements EDI; each store is an ordinary write" },
  { name: "rep-stos-region", group: "string", what: "rep stosd over all 4 MiB of the region", bare: "wrote", why: W },
  { name: "ins-region", group: "string", what: "rep insb from the COM2 scratch register to 0xFFC00140", bare: "wrote",
    why: "INS writes through ES:EDI; CPL 0 <= IOPL so the port is allowed (SDM Vol. 1 §19.5)" },
  { name: "read-region", group: "read", what: "mov eax, [0xFFC00200]", bare: "read-mine", why: "the region is the guest's own page" },
  { name: "movs-from-region", group: "read", what: "rep movsd from 0xFFC00200 to guest memory", bare: "read-mine", why: "the region is the guest's own page" },
  { name: "outs-from-region", group: "read", what: "rep outsb from 0xFFC00200 to the COM2 scratch register", bare: "read-mine",
    why: "OUTS reads through DS:ESI; the scratch register keeps the byte (16550 SCR)" },
  { name: "gdt-flat-base", group: "descriptor", what: "GDT data segment base 4 MiB, limit 4 GiB; offset 0xFF800150", bare: "wrote",
    why: "linear = base + offset = 0xFFC00150, within the limit (SDM Vol. 3A §3.4)" },
  { name: "gdt-base-in-region", group: "descriptor", what: "GDT data segment based at 0xFFC00000, limit 4 KiB", bare: "wrote",
    why: "any base is legal; offset 0x154 is within the limit" },
  { name: "gdt-expand-down", group: "descriptor", what: "expand-down data segment, B = 1, G = 1, limit 0: offsets 0x1000..0xFFFFFFFF", bare: "wrote",
    why: "expand-down valid offsets are (limit, 0xFFFFFFFF] with B = 1 (SDM Vol. 3A §5.3)" },
  { name: "gdt-expand-down-16", group: "descriptor", what: "expand-down, B = 0, base 0xFFBF8000, limit 0x7FFF: offset 0x815C", bare: "wrote",
    why: "with B = 0 the upper bound is 0xFFFF (SDM Vol. 3A §5.3); linear 0xFFC0015C" },
  { name: "ldt-flat", group: "descriptor", what: "LDT with a flat 4 GiB data segment; ES = LDT selector", bare: "wrote", why: W },
  { name: "ldt-in-region", group: "descriptor", what: "an LDT whose table lives at 0xFFC00800; ES loaded from it", bare: "wrote",
    why: "descriptor reads are supervisor accesses through the linear base (SDM Vol. 3A §3.5.1)" },
  { name: "lgdt-region", group: "descriptor", what: "LGDT of a copy at 0xFFC00800 whose selector 0x30 only exists there", bare: "wrote",
    why: "LGDT takes any linear base; selector loads read the copy (SDM Vol. 2 LGDT)" },
  { name: "call-near-region", group: "transfer", what: "call 0xFFC00400 (stub: mov ax, cs; ret)", bare: "ran cs=0x0008",
    why: "a flat code segment: execution at any linear address" },
  { name: "call-far-region", group: "transfer", what: "call far 0x08:0xFFC00410 (stub ends in retf)", bare: "ran cs=0x0008", why: "same privilege far call (SDM Vol. 3A §5.8.1)" },
  { name: "jmp-far-region", group: "transfer", what: "jmp far 0x08:0xFFC00440 (stub jumps back to the kernel)", bare: "ran cs=0x0008", why: "same privilege far jump" },
  { name: "call-gate", group: "transfer", what: "call far through a DPL 0 call gate to 0x08:0xFFC00410", bare: "ran cs=0x0008",
    why: "a call gate to a same-privilege code segment (SDM Vol. 3A §5.8.4)" },
  { name: "call-gate-user", group: "transfer", what: "from ring 3, a DPL 3 call gate to a DPL 0 code segment at 0xFFC00410", bare: "ran cs=0x0038",
    why: "the gate raises CPL to the target's DPL 0 and switches to TSS.SS0:ESP0 (SDM Vol. 3A §5.8.5)" },
  { name: "task-switch", group: "transfer", what: "call far to a TSS whose EIP is 0xFFC00420 (stub irets back, NT = 1)", bare: "ran cs=0x0008",
    why: "a task switch loads the new task's EIP; IRET with NT returns by the back link (SDM Vol. 3A ch. 7)" },
  { name: "task-gate", group: "transfer", what: "call far through a task gate to the same TSS", bare: "ran cs=0x0008", why: "a task gate names a TSS (SDM Vol. 3A §7.2.5)" },
  { name: "idt-gate-region", group: "transfer", what: "IDT vector 0x41 points at 0xFFC00420; int 0x41", bare: "ran cs=0x0008", why: "interrupt gates may point anywhere (SDM Vol. 3A §6.11)" },
  { name: "idt-exception-region", group: "transfer", what: "IDT vector 6 (#UD) points into the region; ud2", bare: "ran cs=0x0008", why: "exception delivery through the same gate" },
  { name: "lidt-region", group: "transfer", what: "LIDT of a copy at 0xFFC00800 where only vector 0x42 is present; int 0x42", bare: "delivered",
    why: "gate reads use IDTR's linear base (SDM Vol. 3A §6.10)" },
  { name: "sysenter-kernel", group: "transfer", what: "SYSENTER MSRs aimed at 0xFFC00440; sysenter at ring 0", bare: "ran cs=0x0008",
    why: "SYSENTER loads CS = SYSENTER_CS and EIP = SYSENTER_EIP with CPL 0 (SDM Vol. 2 SYSENTER)" },
  { name: "sysenter-user", group: "transfer", what: "the same MSRs; sysenter from ring 3", bare: "ran cs=0x0008", why: "SYSENTER from ring 3 enters ring 0 at SYSENTER_EIP" },
  { name: "pte-above-ram", group: "paging", what: "a PTE for the first frame above guest RAM (mem_upper); write, read back", bare: "wrote-unbacked",
    why: "no memory there: writes are dropped, reads give all ones (PC memory map)" },
  { name: "pte-above-ram-scan", group: "paging", what: "PTEs for the 4096 frames (16 MiB) above guest RAM; a dword each", bare: "wrote-unbacked", why: "as pte-above-ram, for each frame" },
  { name: "pte-phys-top", group: "paging", what: "a PTE for physical 0xFFC00000", bare: "wrote-unbacked", why: "nothing is mapped at the top of physical memory without a BIOS ROM" },
  { name: "pde-above-ram", group: "paging", what: "a PDE whose page table is the first frame above RAM", bare: "wrote-unbacked",
    why: "the walk reads PTE 0xFFFFFFFF (present, writable, user, frame 0xFFFFF000); that frame is unbacked too (32-bit paging has no reserved PTE bits, SDM Vol. 3A §4.3)" },
  { name: "pd-self-map", group: "paging", what: "the page directory as the region's page table; write its entry 0x3F0 through 0xFFFFFFC0", bare: "wrote",
    why: "a recursive mapping: 0xFFFFF000 is the directory itself" },
  { name: "pde-4m-region", group: "paging", what: "CR4.PSE and a 4 MiB PDE mapping the region onto the guest's first 4 MiB", bare: "wrote",
    why: "a 4 MiB page (SDM Vol. 3A §4.3, Table 4-4)" },
  // The hardware-assisted monitor's structures (--mode svm): its host area is machine memory
  // right above guest RAM (docs/svm.md), which the nested tables do not map. The guest maps
  // those guest-physical frames with its own PTEs and goes over every dword.
  { name: "hv-read-area", group: "hwassist", what: "read every dword of the 128 KiB above guest RAM (where svm keeps its host area)", bare: "read-nothing", why: HV },
  { name: "hv-host-code", group: "hwassist", what: "write jmp $ over the 3 pages at RAM top + 0 (svm's host GDT, IDT, native code)", bare: "wrote-unbacked", why: HV },
  { name: "hv-hsave", group: "hwassist", what: "zero the page at RAM top + 0x3000 (svm's host save area)", bare: "wrote-unbacked", why: HV },
  { name: "hv-vmcb", group: "hwassist", what: "zero the page at RAM top + 0x4000 (svm's VMCB: intercepts, map bases, NP_ENABLE)", bare: "wrote-unbacked", why: HV },
  { name: "hv-iopm", group: "hwassist", what: "zero the 3 pages at RAM top + 0x5000 (svm's I/O permission map)", bare: "wrote-unbacked", why: HV },
  { name: "hv-msrpm", group: "hwassist", what: "zero the 2 pages at RAM top + 0x8000 (svm's MSR permission map)", bare: "wrote-unbacked", why: HV },
  { name: "hv-npt", group: "hwassist", what: "aim every entry of the 16 pages at RAM top + 0xB000 (svm's nested tables) at the VMCB", bare: "wrote-unbacked", why: HV },
  { name: "io-pic-imr", group: "io", what: "write the master 8259A mask register (port 0x21), read it back", bare: "io-kept", why: "OCW1 reads back (8259A datasheet)" },
  { name: "io-com1-scratch", group: "io", what: "write the console UART's scratch register (0x3FF), read it back", bare: "io-kept", why: "16550 SCR keeps a byte" },
  { name: "sgdt-follow", group: "leak", what: "SGDT; if the base is not the guest's own GDT, write there", bare: "own-table", why: "bare: GDTR is the guest's own" },
  { name: "sidt-follow", group: "leak", what: "SIDT; if the base is not the guest's own IDT, write there", bare: "own-table", why: "bare: IDTR is the guest's own" },
];

export function findAttempt(name: string): Attempt | undefined {
  return ATTEMPTS.find((a) => a.name === name);
}

/** One `ESC <name> <outcome> [detail]` line from the guest. */
export interface GuestLine {
  name: string;
  outcome: string;
  /** The rest of the line (err=, cr2=, cs= …), "" if none. */
  detail: string;
}

/** Every ESC line in a serial log, in order. Other lines are ignored. */
export function parseEscLines(serial: string): GuestLine[] {
  const out: GuestLine[] = [];
  for (const raw of serial.split("\n")) {
    const line = raw.replace(/\r$/, "");
    if (!line.startsWith("ESC ")) continue;
    const [, name = "", outcome = "", ...rest] = line.split(" ");
    out.push({ name, outcome, detail: rest.join(" ") });
  }
  return out;
}

/** The ATTEMPT lines of an `attempt=list` run. */
export function parseListLines(serial: string): string[] {
  return serial.split("\n").filter((l) => l.startsWith("ATTEMPT ")).map((l) => l.slice(8).trim());
}

/** "outcome detail" as one string, the form ATTEMPTS[].bare uses. */
export function guestView(line: GuestLine): string {
  return line.detail ? `${line.outcome} ${line.detail}` : line.outcome;
}
