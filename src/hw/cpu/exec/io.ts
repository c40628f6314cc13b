// Port I/O: IN, OUT and the protection they go through (Intel SDM vol. 1 §19.5,
// "I/O Privilege Level", §19.5.2 "I/O Permission Bit Map").

import { Reg, type Cpu } from "../cpu.js";
import { Rep, type Instr } from "../instr.js";
import type { IoBus } from "../../io/io-bus.js";

/** Port I/O needs no bitmap: real mode, or CPL <= IOPL outside virtual-8086 mode. */
export function ioPrivileged(cpu: Cpu): boolean {
  return !cpu.protectedMode || (!cpu.v86 && cpu.cpl <= cpu.iopl);
}

/**
 * In protected mode with CPL > IOPL, and always in virtual-8086 mode, every port the access
 * touches must have a clear bit in the TSS I/O permission bitmap; false when one does not
 * (the instruction's #GP(0)). A fault reading the TSS is raised from here.
 */
export function ioPermitted(cpu: Cpu, port: number, size: number): boolean {
  if (ioPrivileged(cpu)) return true;
  const tr = cpu.tr;
  // Only a 32-bit TSS has a bitmap (types 9/11); its offset is at byte 0x66.
  if ((tr.access & 0x0f) !== 0x09 && (tr.access & 0x0f) !== 0x0b) return false;
  if (tr.limit < 0x67) return false;
  const mapBase = cpu.readSys16(tr.base + 0x66);
  const byte = mapBase + (port >>> 3);
  if (byte + 1 > tr.limit) return false;
  const bits = cpu.readSys16(tr.base + byte);
  const mask = ((1 << size) - 1) << (port & 7);
  return (bits & mask) === 0;
}

/**
 * After the permission: a hypervisor's intercept (AMD-V), or in VMX non-root operation the
 * I/O exits (SDM vol. 3C §25.1.3). True when the access exited to the host.
 */
function ioExits(cpu: Cpu, i: Instr, port: number, size: number, isIn: boolean, string: boolean): boolean {
  if (cpu.guest !== null && cpu.guest.io(port, size, isIn, i)) return true;
  return cpu.nonRoot && cpu.vmx!.io(port, size, isIn, string, string && i.rep !== Rep.None, !string && (i.opcode & 0x08) === 0, i);
}

/** The checks of INS and OUTS before any port is touched: the permission, then the exits. */
export function checkIoAccess(cpu: Cpu, i: Instr, port: number, size: number, isIn: boolean, string: boolean): void {
  if (!ioPermitted(cpu, port, size)) cpu.gp(0);
  if (ioExits(cpu, i, port, size, isIn, string)) cpu.throwExit();
}

/** The port of an IN or OUT: E4–E7 take an immediate port; EC–EF use DX. */
export function ioPort(cpu: Cpu, i: Instr): number {
  return (i.opcode & 0x08) !== 0 ? cpu.regs[Reg.EDX] & 0xffff : i.imm & 0xff;
}
/** The bytes an IN or OUT moves. */
export function ioSize(i: Instr): number { return (i.opcode & 1) === 0 ? 1 : i.opsize32 ? 4 : 2; }
/** Whether an IN or OUT (by its opcode) is an OUT. */
export function ioIsOut(i: Instr): boolean { return (i.opcode & 0x02) !== 0; }

/**
 * The data an IN reads from port `p` of `io` into the CPU's AL, AX or EAX; an OUT's write of
 * them. (`io` is the CPU's bus, but for a monitor's helper doing a guest's access.)
 */
export function ioTransfer(cpu: Cpu, io: IoBus, i: Instr, p: number, s: number): void {
  if (ioIsOut(i)) {
    portAccess(io, true, p, s, cpu.regs[Reg.EAX]);
    return;
  }
  const v = portAccess(io, false, p, s, 0);
  if (s === 1) cpu.set8(Reg.EAX, v);
  else if (s === 2) cpu.set16(Reg.EAX, v);
  else {
    cpu.regs[Reg.EAX] = v;
    if (cpu.mode64) cpu.regsHi[Reg.EAX] = 0;
  }
}

/**
 * The bus cycle of an IN or OUT of `s` bytes at port `p`: an OUT writes `value` (and returns
 * 0), an IN returns what it reads (as an unsigned number, or a dword's int32 bits as `in32`
 * gives them). The interpreter's IN and OUT and the WebAssembly tier's (wasm-block.ts, which
 * holds EAX in a local) both come here.
 */
export function portAccess(io: IoBus, out: boolean, p: number, s: number, value: number): number {
  if (out) {
    if (s === 1) io.out8(p, value);
    else if (s === 2) io.out16(p, value);
    else io.out32(p, value);
    return 0;
  }
  return s === 1 ? io.in8(p) : s === 2 ? io.in16(p) : io.in32(p);
}

export function in_(cpu: Cpu, i: Instr): void {
  const p = ioPort(cpu, i), s = ioSize(i);
  // The #GP and the exit are signalled, not thrown: the monitors' most common exits (cpu.ts signalGp).
  if (!ioPermitted(cpu, p, s)) return cpu.signalGp();
  if (ioExits(cpu, i, p, s, true, false)) return cpu.signalExit();
  ioTransfer(cpu, cpu.io, i, p, s);
}

export function out(cpu: Cpu, i: Instr): void {
  const p = ioPort(cpu, i), s = ioSize(i);
  if (!ioPermitted(cpu, p, s)) return cpu.signalGp();
  if (ioExits(cpu, i, p, s, false, false)) return cpu.signalExit();
  ioTransfer(cpu, cpu.io, i, p, s);
}
