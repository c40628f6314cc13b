// Entering a kernel the way a boot loader leaves the machine: 32-bit flat protected mode,
// paging off, interrupts off (Linux boot protocol "32-bit boot protocol"; multiboot v1 §3.2
// "Machine state"), or 64-bit mode on the loader's identity page tables (Linux "64-bit boot
// protocol"). The loaders in src/boot describe the registers; this applies them.

import { CR0_PE, CR0_PG, CR4_PAE, EFER_LME, Reg } from "../cpu/cpu.js";
import { BootError } from "../../boot/errors.js";
import { Descriptor, SegReg } from "../cpu/segment.js";
import type { EntryState, GuestMemoryWriter } from "../../boot/index.js";
import type { Cpu } from "../cpu/cpu.js";
import type { PhysicalMemory } from "../mem/physical-memory.js";

/** A processor and the memory it boots from (a Machine, or a monitor's vCPU and guest memory). */
export interface BootTarget {
  cpu: Cpu;
  mem: PhysicalMemory;
}

/** Where the boot GDT lives: conventional memory the kernels replace early. */
export const BOOT_GDT = 0x800;
/** __BOOT_CS and __BOOT_DS of the Linux boot protocol (also fine for multiboot). */
export const BOOT_CS = 0x10, BOOT_DS = 0x18;

/** A writer over the machine's RAM for the loaders. */
export function ramWriter(m: BootTarget): GuestMemoryWriter {
  return {
    ramBytes: m.mem.ramSize,
    write: (addr, bytes) => m.mem.load(addr, bytes),
  };
}

export function applyEntryState(m: BootTarget, e: EntryState): void {
  const cpu = m.cpu;
  const mem = m.mem;
  const long = e.mode === "long64";
  if (long && !cpu.features.lm) {
    throw new BootError("E_NO_LONG_MODE", `the kernel is entered in 64-bit mode, and the CPU model ${cpu.model.name} has no long mode (lm)`);
  }
  // null, null, flat code (0x10), flat data (0x18): base 0, limit 4 GiB, G=1, D=1; for
  // 64-bit entry the code segment has L=1, D=0 (a 64-bit code segment, __BOOT_CS). The
  // accessed bits are set, as Linux's own boot GDT has them and as loading the selectors
  // would leave them (a descriptor cache with A = 0 is not a state VM entry accepts).
  const gdt = [0, 0, 0, 0, 0x0000ffff, long ? 0x00af9b00 : 0x00cf9b00, 0x0000ffff, 0x00cf9300];
  gdt.forEach((v, k) => mem.write32(BOOT_GDT + k * 4, v));
  cpu.gdtrBase = BOOT_GDT;
  cpu.gdtrLimit = gdt.length * 4 - 1;
  cpu.idtrBase = 0;
  cpu.idtrLimit = 0;
  cpu.setCr0(cpu.cr0 | CR0_PE);
  if (long) {
    // The architectural order (SDM vol. 3 §9.8.5): PAE, CR3, EFER.LME, then CR0.PG sets LMA.
    cpu.setCr4(cpu.cr4 | CR4_PAE);
    cpu.setCr3((e.cr3 ?? 0) >>> 0);
    cpu.setEfer(cpu.efer | EFER_LME);
    cpu.setCr0(cpu.cr0 | CR0_PG);
  }
  const d = new Descriptor();
  cpu.readDescriptor(BOOT_CS, d);
  cpu.segs[SegReg.CS].loadDescriptor(BOOT_CS, d);
  cpu.readDescriptor(BOOT_DS, d);
  for (const s of [SegReg.DS, SegReg.ES, SegReg.SS, SegReg.FS, SegReg.GS]) cpu.segs[s].loadDescriptor(BOOT_DS, d);
  cpu.updateCpl();
  cpu.setEflags(0x2);
  const names = { eax: Reg.EAX, ecx: Reg.ECX, edx: Reg.EDX, ebx: Reg.EBX, esp: Reg.ESP, ebp: Reg.EBP, esi: Reg.ESI, edi: Reg.EDI } as const;
  cpu.regs.fill(0);
  cpu.regsHi.fill(0);
  for (const [name, value] of Object.entries(e.regs)) {
    if (value !== undefined) cpu.regs[names[name as keyof typeof names]] = value;
  }
  cpu.eip = e.eip >>> 0;
}
