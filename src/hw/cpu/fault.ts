// Exceptions and faults (Intel SDM vol. 3, chapter 6, "Interrupt and Exception Handling").
//
// A fault is a value: vector, error code and (for #PF) the faulting linear address.
// Helpers deep in an instruction throw the CPU's one preallocated CpuFault object; the
// instruction loop catches it at the instruction boundary and delivers it. No `new Error`
// on any path a guest can drive.

import { DOUBLE_FIELD } from "../double-field.js";

/** Exception vectors, named as in SDM vol. 3 table 6-1. */
export const enum Vector {
  DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7,
  DF = 8, CSO = 9, TS = 10, NP = 11, SS = 12, GP = 13, PF = 14,
  MF = 16, AC = 17, MC = 18, XM = 19,
}

/**
 * Not an exception: the value the fault object carries when an intercept under hardware
 * assist abandons an instruction (guest-mode.ts). The instruction loop delivers nothing; the
 * host's state is already loaded.
 */
export const VMEXIT = 0x100;

/** The SDM's mnemonics of the exception vectors (table 6-1). */
export const VECTOR_NAMES: Record<number, string> = {
  0: "#DE", 1: "#DB", 2: "NMI", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD", 7: "#NM", 8: "#DF", 9: "CSO", 10: "#TS",
  11: "#NP", 12: "#SS", 13: "#GP", 14: "#PF", 16: "#MF", 17: "#AC", 18: "#MC", 19: "#XM",
};

/** One exception of a chain, as raised: its vector and error code. */
export interface FaultRecord {
  vector: number;
  errorCode: number;
  hasErrorCode: boolean;
}

/** `#GP(0x0)`, `#UD`: an exception as the SDM writes it. */
export function faultText(f: FaultRecord): string {
  const name = VECTOR_NAMES[f.vector] ?? `vector ${f.vector}`;
  return f.hasErrorCode ? `${name}(0x${(f.errorCode >>> 0).toString(16)})` : name;
}

/** Which vectors push an error code (SDM vol. 3 table 6-1, "Error Code" column). */
export function vectorHasErrorCode(v: number): boolean {
  return v === 8 || (v >= 10 && v <= 14) || v === 17;
}

/** The one exception object a CPU throws. Reused: read its fields before the next fault. */
export class CpuFault {
  vector = 0;
  errorCode = 0;
  hasErrorCode = false;
  /**
   * Set for #PF: the linear address that faulted (loaded into CR2 on delivery). A double from
   * the start (double-field.ts): a kernel's addresses are above 2^31.
   */
  cr2 = DOUBLE_FIELD;
  constructor() { this.cr2 = 0; }

  set(vector: number, errorCode: number, hasErrorCode: boolean): this {
    this.vector = vector;
    this.errorCode = errorCode & 0xffff_ffff;
    this.hasErrorCode = hasErrorCode;
    return this;
  }
}

/** A machine-level event that ends or pauses execution (not a guest-visible exception). */
export const enum StopReason {
  None = 0,
  /** HLT executed with IF=0 and nothing can wake the CPU. */
  HaltForever = 1,
  /** A fault while delivering a double fault: the processor enters shutdown. */
  TripleFault = 2,
  /** A device asked the machine to stop (power-off, isa-debug-exit). */
  PowerOff = 3,
  /** The run's instruction or time budget was used up. */
  Budget = 4,
  /** HLT with IF=1: waiting for an interrupt. */
  Halted = 5,
  /** The host's debug probe stopped the processor at an instruction boundary (cpu.debug.hit). */
  Debug = 6,
}
