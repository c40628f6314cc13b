// The boundary between the CPU core and the x87 FPU (Intel SDM vol. 1, chapter 8).
//
// The CPU decodes an escape opcode (D8–DF), checks CR0.EM/TS (#NM) and any pending
// unmasked x87 exception for waiting instructions, computes the memory operand's effective
// address, and then hands the instruction to the FPU with this context. The FPU reaches
// memory only through the host, whose accessors apply segmentation and paging and may
// throw the CPU's fault object (so a store that faults must not have changed FPU state
// beyond what real hardware changes).

/** Everything the FPU needs to know about the instruction being executed. */
export interface FpuInstr {
  /** The escape byte, 0xD8–0xDF. */
  opcode: number;
  /** The ModR/M byte. mod = 3 means a register form; otherwise `seg`/`offset` name memory. */
  modrm: number;
  /** Segment register index of the memory operand (0=ES,1=CS,2=SS,3=DS,4=FS,5=GS). */
  seg: number;
  /**
   * Effective address (offset within `seg`) of the memory operand; in 64-bit mode the canonical
   * linear address (a signed number for the upper half), as the CPU's accessors take it there.
   */
  offset: number;
  /** 32-bit operand size (FSTENV/FSAVE layouts, FILD/FIST word vs dword is by opcode). */
  operandSize32: boolean;
  /** Protected mode (CR0.PE=1 and not V86): selects the protected-mode FSTENV/FSAVE layout. */
  protectedMode: boolean;
  /** CS selector and EIP of this instruction (recorded as FCS:FIP). */
  cs: number;
  eip: number;
  /** Selector of the operand's segment (recorded as FDS with FDP=offset). */
  operandSelector: number;
}

/** What the FPU may ask of the CPU. Memory accessors throw the CPU's fault on #GP/#SS/#PF. */
export interface FpuHost {
  read8(seg: number, offset: number): number;
  read16(seg: number, offset: number): number;
  /** Returns an unsigned 32-bit value. */
  read32(seg: number, offset: number): number;
  write8(seg: number, offset: number, value: number): void;
  write16(seg: number, offset: number, value: number): void;
  write32(seg: number, offset: number, value: number): void;
  /**
   * Check that `length` bytes at seg:offset are writable (segment limit, rights, paging),
   * throwing the fault a write would raise. Lets multi-part stores fault before changing memory.
   */
  checkWrite(seg: number, offset: number, length: number): void;
  /** Current EFLAGS (for FCMOVcc). */
  getEflags(): number;
  /** FCOMI/FUCOMI family: set ZF, PF, CF and clear OF, SF, AF. */
  setComparisonFlags(zf: boolean, pf: boolean, cf: boolean): void;
  /** FNSTSW AX. */
  setAX(value: number): void;
}
