// The block compiler's differential fuzzer (docs/jit.md): a random program runs from the same
// state on CPUs with the compiler off, at tier 1 only, and with every block generated at once
// (tier 2), in slices of random length; after every slice all state must be equal: general
// registers, EIP, EFLAGS, CPL, CR2, the instruction count, halted, and the memory the program
// can touch (data, stack, code, and the page tables, which carry the A and D bits).
//
// The programs are made to stress what a block compiler can get wrong: they loop (so blocks
// get hot and are entered again), they start close to a page end (code crossing pages), they
// rewrite their own immediates (self-modifying code, in the block that is running too), and
// they fault mid-block (a load from a page that is not present, DIV by zero, a random pointer).

import { FlatMachine } from "../support/flat-machine.js";
import { CR0_PG } from "../../src/hw/cpu/cpu.js";
import type { JitOptions } from "../../src/hw/cpu/jit/block-compiler.js";
import { Rng } from "../fuzz/rng.js";
import { CONFIGS, lockstep } from "./lockstep.js";

const PD = 0x100000, PT = 0x101000;
/** Data page (mapped) and the page after it (not present: #PF). */
const DATA = 0x200000, HOLE = 0x201000;
/** Code: two pages; programs start near the end of the first. */
const CODE = 0x210000;
const COUNTER = DATA + 0xff0;
const LOOPS = 6;

/** The registers a program may change (EBX = DATA, EBP = program base, ESP = the stack). */
const FREE = [0, 1, 2, 6, 7];

/** A program, and whether it runs with paging off (a quarter do: the compiler's direct RAM path). */
export interface Program { start: number; bytes: number[]; pagingOff: boolean; }

/** A random program (deterministic in the seed). */
export function program(seed: number): Program {
  const rng = new Rng(seed);
  const r = (): number => FREE[rng.int(FREE.length)];
  // Byte registers the program may write: AL CL DL AH CH DH (not BL, BH: EBX is the data pointer).
  const r8 = (): number => [0, 1, 2, 4, 5, 6][rng.int(6)];
  const b: number[] = [];
  const imms: number[] = []; // offsets of MOV r32, imm32 immediates (SMC targets)
  const smc: number[] = [];  // offsets of the disp32 of SMC stores, filled in at the end
  const u32 = (v: number): void => { b.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff); };
  const modrm = (mod: number, reg: number, rm: number): number => (mod << 6) | (reg << 3) | rm;
  const count = 20 + rng.int(40);
  const smcOn = rng.int(3) === 0; // a third of the programs rewrite their own code
  for (let k = 0; k < count; k++) {
    const kind = rng.int(44);
    switch (kind) {
      case 0: case 1: b.push(0xb8 + r()); imms.push(b.length); u32(rng.next()); break; // mov r, imm32
      case 2: case 3: b.push([0x01, 0x09, 0x11, 0x19, 0x21, 0x29, 0x31, 0x39][rng.int(8)], modrm(3, r(), r())); break;
      case 4: b.push(0x8b, modrm(1, r(), 3), rng.int(0x40) * 4); break; // mov r, [ebx+d8]
      case 5: b.push(0x89, modrm(1, r(), 3), rng.int(0x40) * 4); break; // mov [ebx+d8], r
      case 6: b.push([0x01, 0x03, 0x29, 0x2b, 0x31][rng.int(5)], modrm(1, r(), 3), rng.int(0xfc)); break; // RMW, unaligned too
      case 7: b.push((rng.int(2) ? 0x40 : 0x48) + r()); break; // inc/dec
      case 8: { const x = r(); b.push(0x50 + r(), 0x58 + x); break; } // push r; pop r
      case 9: b.push(0x8d, modrm(1, r(), 4), (rng.int(4) << 6) | (r() << 3) | r(), rng.int(256)); break; // lea
      case 10: b.push(0xc1, modrm(3, [4, 5, 7, 0, 1][rng.int(5)], r()), rng.int(40)); break; // shifts/rotates
      // imul r, r; mul r or mul dword [ebx+d8], then SETcc (the flags it leaves); cdq.
      case 11: [() => b.push(0x0f, 0xaf, modrm(3, r(), r())), () => b.push(0xf7, modrm(3, 4, r()), 0x0f, 0x90 + rng.int(16), modrm(3, 0, r8())),
        () => b.push(0xf7, modrm(1, 4, 3), rng.int(0xfd), 0x0f, 0x90 + rng.int(16), modrm(3, 0, r8())), () => b.push(0x99)][rng.int(4)](); break;
      case 12: if (rng.int(12) === 0) b.push(0xf7, modrm(3, 6, 1)); break; // div ecx (#DE sometimes)
      // cmp; jcc over a mov, or (rarely) over a UD2 that ends the block (#UD when the jump is not taken).
      case 13: if (rng.int(8) === 0) b.push(0x39, modrm(3, r(), r()), 0x70 + rng.int(16), 2, 0x0f, 0x0b);
        else b.push(0x39, modrm(3, r(), r()), 0x70 + rng.int(16), 2, 0x89, modrm(3, r(), r()));
        break;
      case 14: if (rng.int(12) === 0) b.push(0x8b, 0x06); break; // mov eax, [esi]: a random pointer
      case 15: if (rng.int(12) === 0) { b.push(0x8b, modrm(2, r(), 3)); u32(HOLE - DATA + rng.int(0x100)); } break; // #PF mid-block
      case 16: if (!smcOn) break;
        if (rng.int(2)) { b.push(0xc7, modrm(2, 0, 5)); smc.push(b.length); u32(0); u32(rng.next()); break; } // mov dword [ebp+d32], imm32
        // inc dword [ebp+d32] into a MOV's immediate: a new value each iteration, so stale code shows.
        b.push(0xb8 + r()); imms.push(b.length); u32(rng.next());
        b.push(0xff, modrm(2, 0, 5)); smc.push(b.length); u32(0); break;
      case 17: b.push(0x0f, 0xb6 + rng.int(2) * 8, modrm(1, r(), 3), rng.int(0x100)); break; // movzx/movsx r, byte [ebx+d8]
      case 18: b.push(0x0f, 0x90 + rng.int(16), modrm(3, 0, r() & 3)); break; // setcc
      case 19: b.push(0x0f, 0x40 + rng.int(16), modrm(3, r(), r())); break; // cmovcc
      case 20: if (rng.int(2)) { b.push(0xbf, ...le(DATA + 0x800 + rng.int(0x200)), 0xb9, ...le(rng.int(24)), 0xfc, 0xf3, rng.int(2) ? 0xaa : 0xab); break; } // rep stos
        // rep movs, the destination near the source: before it, after it (overlapping: element
        // by element repeats what it has just written), or apart; now and then past the page.
        { const from = DATA + 0x800 + rng.int(0x200), to = from + [-8, -3, -1, 1, 2, 4, 7, 0x100][rng.int(8)];
          b.push(0xbe, ...le(from), 0xbf, ...le(rng.int(16) === 0 ? DATA + 0xff0 : to), 0xb9, ...le(rng.int(24)), 0xfc, 0xf3, rng.int(2) ? 0xa4 : 0xa5); }
        break;
      // The forms tier 2 lowers (jit/lower.ts) that the cases above leave out: byte registers
      // and memory, group 1 immediates, TEST, the AL/eAX immediate forms, INC/DEC of memory
      // (unaligned too), PUSH imm.
      case 22: { const op = [0x00, 0x08, 0x10, 0x18, 0x20, 0x28, 0x30, 0x38, 0x02, 0x2a][rng.int(10)];
        if (rng.int(2)) b.push(op, modrm(1, r8(), 3), rng.int(0x100)); else b.push(op, modrm(3, r8(), r8())); break; }
      case 23: { const k8 = rng.int(8);
        if (rng.int(2)) b.push(0x83, modrm(1, k8, 3), rng.int(0xfd), rng.int(256));
        else if (rng.int(2)) { b.push(0x81, modrm(3, k8, r())); u32(rng.next()); }
        else b.push(0x80, modrm(1, k8, 3), rng.int(0x100), rng.int(256)); break; }
      case 24: if (rng.int(2)) b.push(0x85, modrm(3, r(), r())); else if (rng.int(2)) { b.push(0xa9); u32(rng.next()); }
        else b.push(0xf6, modrm(1, 0, 3), rng.int(0x100), rng.int(256)); break;
      case 25: [() => b.push(0x88, modrm(1, rng.int(8), 3), rng.int(0x100)), () => b.push(0x8a, modrm(1, r8(), 3), rng.int(0x100)),
        () => b.push(0xc6, modrm(1, 0, 3), rng.int(0x100), rng.int(256)), () => b.push(0xb0 + r8(), rng.int(256))][rng.int(4)](); break;
      case 26: if (rng.int(2)) b.push(rng.int(2) ? 0xff : 0xfe, modrm(1, rng.int(2), 3), rng.int(0xfd));
        else if (rng.int(2)) b.push(0x6a, rng.int(256), 0x58 + r()); else { b.push(0x68); u32(rng.next()); b.push(0x58 + r()); } break;
      case 27: if (rng.int(2)) { b.push(0x05 + 8 * rng.int(8)); u32(rng.next()); } else b.push(0x04 + 8 * rng.int(8), rng.int(256)); break;
      // Shifts of memory (C0/C1 imm, D0/D1 by 1, D2/D3 by CL), SETcc and CMOVcc of memory, MOVSX of a word.
      case 28: [() => b.push(0xc1 - rng.int(2), modrm(1, rng.int(8), 3), rng.int(0xfd), rng.int(40)),
        () => b.push(0xd1 - rng.int(2), modrm(1, rng.int(8), 3), rng.int(0xfd)), () => b.push(0xd3 - rng.int(2), modrm(1, rng.int(8), 3), rng.int(0xfd)),
        () => b.push(0x0f, 0x90 + rng.int(16), modrm(1, 0, 3), rng.int(0x100)), () => b.push(0x0f, 0x40 + rng.int(16), modrm(1, r(), 3), rng.int(0xfd)),
        () => b.push(0x0f, 0xbf, modrm(1, r(), 3), rng.int(0xfe)), () => b.push(0xd3, modrm(3, rng.int(8), r()))][rng.int(7)](); break;
      // call L; jmp M; L: add r, r or adc r, r (flags across blocks); ret or ret 0; M: (CALL, RET, JMP end blocks).
      // The CALL relative, or through a register or a dword in memory (L = EBP, the program's
      // base, + its offset); or a JMP through a register over a MOV.
      case 21: { const body = [rng.int(2) ? 0x01 : 0x11, modrm(3, r(), r()), ...(rng.int(2) ? [0xc3] : [0xc2, 0, 0])];
        const x = r(), at = b.length, slot = rng.int(0x40) * 4;
        switch (rng.int(4)) {
          case 0: b.push(0xe8, 2, 0, 0, 0, 0xeb, body.length, ...body); break;
          case 1: b.push(0x8d, modrm(2, x, 5)); u32(at + 10); b.push(0xff, modrm(3, 2, x), 0xeb, body.length, ...body); break; // lea x, [ebp+L]; call x
          case 2: b.push(0x8d, modrm(2, x, 5)); u32(at + 14); b.push(0x89, modrm(1, x, 3), slot, 0xff, modrm(1, 2, 3), slot, 0xeb, body.length, ...body); break; // ...; call [ebx+d8]
          default: b.push(0x8d, modrm(2, x, 5)); u32(at + 13); b.push(0xff, modrm(3, 4, x), 0xb8 + r()); u32(rng.next()); break; // lea x, [ebp+M]; jmp x; (mov r, imm32) M:
        }
        break; }
      // NOT/NEG of a register or memory; IMUL r, [ebx+d8]; 16-bit MOV/ALU/INC/shifts/rotates of registers and memory (66h).
      case 29: [() => b.push(0xf7, modrm(3, 2 + rng.int(2), r())), () => b.push(0xf7, modrm(1, 2 + rng.int(2), 3), rng.int(0xfd)),
        () => b.push(0x0f, 0xaf, modrm(1, r(), 3), rng.int(0xfd))][rng.int(3)](); break;
      case 30: [() => b.push(0x66, 0x89, modrm(1, r(), 3), rng.int(0xfe)), () => b.push(0x66, 0x8b, modrm(1, r(), 3), rng.int(0xfe)),
        () => b.push(0x66, [0x01, 0x11, 0x29, 0x31, 0x39][rng.int(5)], modrm(3, r(), r())), () => b.push(0x66, 0x83, modrm(1, rng.int(8), 3), rng.int(0xfe), rng.int(256)),
        () => b.push(0x66, 0x40 + r()), () => b.push(0x66, 0xb8 + r(), rng.int(256), rng.int(256)),
        () => { const x = r(); b.push(0x66, 0xb8 + x, rng.int(256), 0x80 | rng.int(128), 0x66, 0xc1, modrm(3, [0, 1, 4, 5, 7][rng.int(5)], x), rng.int(40)); }, () => b.push(0x66, 0xd3, modrm(1, [4, 5, 7][rng.int(3)], 3), rng.int(0xfe))][rng.int(8)](); break;
      // One string step (LODS STOS MOVS SCAS, byte, word or dword) from ESI/EDI inside the data page, with DF set sometimes.
      case 31: { const std = rng.int(3) === 0;
        b.push(0xbe, ...le(DATA + 0x100 + rng.int(0xd00)), 0xbf, ...le(DATA + 0x100 + rng.int(0xd00)));
        if (std) b.push(0xfd);
        const op = [0xac, 0xad, 0xaa, 0xab, 0xa4, 0xa5, 0xae, 0xaf][rng.int(8)];
        if ((op & 1) === 1 && rng.int(2) === 0) b.push(0x66);
        b.push(op);
        if (std) b.push(0xfc);
        break; }
      // BSWAP; MOV with a moffs (A0–A3); PUSH dword [ebx+d8], POP; PUSH EBP, MOV EBP, ESP, (PUSH r,) LEAVE; RDTSC (the instruction count);
      // (ECX 0–2,) CMP, then LOOPNE/LOOPE/LOOP/JECXZ over a MOV.
      case 32: [() => b.push(0x0f, 0xc8 + r()), () => b.push(0xa0 + rng.int(4), ...le(DATA + rng.int(0x3c0) * 4 + rng.int(2) * rng.int(4))),
        () => b.push(0xff, modrm(1, 6, 3), rng.int(0xfd), 0x58 + r()), () => b.push(0x55, 0x89, 0xe5, ...(rng.int(2) ? [0x50 + r()] : []), 0xc9),
        () => b.push(0x0f, 0x31),
        () => b.push(...(rng.int(2) ? [0xb9, ...le(rng.int(3))] : []), 0x39, modrm(3, r(), r()), 0xe0 + rng.int(4), 2, 0x89, modrm(3, r(), r()))][rng.int(6)](); break;
      // IMUL r, r/m, imm8/imm32; CMPXCHG and XADD (dword, byte; register, memory); SHL/SHR/SAR by CL (0 and past the size too); ROL/ROR of byte registers.
      case 33: [() => b.push(0x6b, modrm(1, r(), 3), rng.int(0xfd), rng.int(256)), () => { b.push(0x69, modrm(3, r(), r())); u32(rng.next()); },
        () => (rng.int(2) ? b.push(0x0f, 0xb1, modrm(1, r(), 3), rng.int(0xfd)) : b.push(0x0f, 0xb0, modrm(1, r8(), 3), rng.int(0x100))),
        () => b.push(0x0f, 0xb1, modrm(3, r(), r())), () => b.push(0x0f, 0xb0, modrm(3, r8(), r8())),
        () => (rng.int(2) ? b.push(0x0f, 0xc1, modrm(1, r(), 3), rng.int(0xfd)) : b.push(0x0f, 0xc0, modrm(1, r8(), 3), rng.int(0x100))),
        () => b.push(0x0f, 0xc1, modrm(3, r(), r())), () => b.push(0x0f, 0xc0, modrm(3, r8(), r8())),
        () => b.push(0xb1, [0, 1, 7, 8, 9, 16, 17, 31, 32, 33][rng.int(10)], 0xd3 - rng.int(2), modrm(3, [4, 5, 7][rng.int(3)], rng.int(2) ? 0 : 2)),
        () => b.push(0xc0, modrm(3, rng.int(2), r8()), rng.int(40)), () => b.push(0xd1, modrm(3, rng.int(2), r()))][rng.int(11)](); break;
      // Flags across blocks: ROL/ROR, INC or ADD, JMP to the next instruction, then ADC/SBB, Jcc over a MOV, SETcc or CMOVcc reads them.
      case 34: { [() => b.push(0xc1, modrm(3, rng.int(2), r()), rng.int(40)), () => b.push(0x40 + r()), () => b.push(0x01, modrm(3, r(), r()))][rng.int(3)]();
        b.push(0xeb, 0);
        [() => b.push(0x11 + 8 * rng.int(2), modrm(3, r(), r())), () => b.push(0x70 + rng.int(16), 2, 0x89, modrm(3, r(), r())),
          () => b.push(0x0f, 0x90 + rng.int(16), modrm(3, 0, r() & 3)), () => b.push(0x0f, 0x40 + rng.int(16), modrm(3, r(), r()))][rng.int(4)]();
        break; }
      // A loop inside the page (a region: docs/jit.md, "Regions"): its count in memory, a JMP
      // splitting the body into two blocks, ADC/SBB reading CF across them, perhaps a store
      // into the loop's own code (its region must go).
      case 35: {
        b.push(0xc7, modrm(2, 0, 3)); u32(0xfe0); u32(1 + rng.int(6));   // mov dword [ebx+0xfe0], n
        const top = b.length;
        b.push(0x01 + 8 * rng.int(2) * 5, modrm(3, r(), r()));           // add/sub r, r
        if (smcOn && rng.int(2)) { b.push(0xff, modrm(2, 0, 5)); smc.push(b.length); u32(0); } // inc dword [ebp+d32]: a MOV's immediate, maybe the one below
        b.push(0xeb, 0);                                                  // jmp to the next instruction
        b.push(0xb8 + r()); imms.push(b.length); u32(rng.next());         // mov r, imm32
        b.push(0x11 + 8 * rng.int(2), modrm(3, r(), r()));               // adc/sbb r, r
        b.push(0xff, modrm(2, 1, 3)); u32(0xfe0);                        // dec dword [ebx+0xfe0]
        b.push(0x75, (top - (b.length + 2)) & 0xff);                      // jnz top
        break;
      }
      // A dword load or store across the end of the data page into the one not present: #PF
      // (compiled code may take a misaligned access inside a page, never one across pages).
      case 36: if (rng.int(6) === 0) { b.push(rng.int(2) ? 0x8b : 0x89, modrm(2, r(), 3)); u32(0xffd + rng.int(3)); } break;
      // The TLB emptied (INVLPG of the data page, or a CR3 reload): compiled code's next
      // access misses, and leaves to tier 1, which walks and sets the A and D bits.
      case 37: if (rng.int(2)) b.push(0x0f, 0x01, modrm(0, 7, 3));
        else { const x = r(); b.push(0x0f, 0x20, modrm(3, 3, x), 0x0f, 0x22, modrm(3, 3, x)); }
        break;
      // CMPXCHG8B [ebx+d8] (aligned or not), EDX:EAX loaded from it half the time (equal: ECX:EBX
      // stored), then SETcc or ADC reading the flags it leaves (ZF only; the rest as before).
      case 38: { const d = rng.int(2) ? 8 * rng.int(30) : rng.int(0xf0);
        if (rng.int(2)) b.push(0x8b, modrm(1, 0, 3), d, 0x8b, modrm(1, 2, 3), d + 4);
        b.push(0x0f, 0xc7, modrm(1, 1, 3), d);
        if (rng.int(2)) b.push(0x0f, 0x90 + rng.int(16), modrm(3, 0, r8())); else b.push(0x11, modrm(3, r(), r()));
        break; }
      // BT, BTS, BTR, BTC of a register or [ebx+d8]: by an immediate, or by a register holding a
      // small offset (negative too: through memory it moves the dword), then ADC or SETcc
      // reading CF (the rest as before).
      case 39: { const op = rng.int(4), x = r(), m = rng.int(2) === 0;
        const rm = m ? [modrm(1, 0, 3), 0x40 + rng.int(0x80)] : [modrm(3, 0, r())];
        if (rng.int(2)) { b.push(0xb8 + x); u32(rng.int(320) - 64); b.push(0x0f, 0xa3 + 8 * op, rm[0] | (x << 3), ...rm.slice(1)); }
        else b.push(0x0f, 0xba, rm[0] | ((4 + op) << 3), ...rm.slice(1), rng.int(256));
        if (rng.int(2)) b.push(0x11, modrm(3, r(), r())); else b.push(0x0f, 0x90 + rng.int(16), modrm(3, 0, r8()));
        break; }
      // XCHG (register and [ebx+d8]; dword, word, byte; eAX with a register); LOCK ADD, XADD,
      // INC, CMPXCHG of [ebx+d8]; STI, NOP (its shadow: no block starts there), CLI, then PUSHFD and POP (the IF it cleared);
      // PUSH r, then POP r/m32 (8F) to [ebx+d8] or a register.
      case 40: [() => b.push(0x87, modrm(3, r(), r())), () => b.push(0x87, modrm(1, r(), 3), rng.int(0xfd)),
        () => b.push(0x66, 0x87, modrm(1, r(), 3), rng.int(0xfe)), () => (rng.int(2) ? b.push(0x86, modrm(3, r8(), r8())) : b.push(0x86, modrm(1, r8(), 3), rng.int(0x100))),
        () => b.push(0x90 + [1, 2, 6, 7][rng.int(4)]), () => b.push(0x66, 0x90 + [1, 2, 6, 7][rng.int(4)]),
        () => b.push(0xf0, 0x01, modrm(1, r(), 3), rng.int(0xfd)), () => b.push(0xf0, 0x0f, 0xc1, modrm(1, r(), 3), rng.int(0xfd)),
        () => b.push(0xf0, 0xff, modrm(1, 0, 3), rng.int(0xfd)), () => b.push(0xf0, 0x0f, 0xb1, modrm(1, r(), 3), rng.int(0xfd)),
        () => b.push(0xfb, 0x90, 0xfa, 0x9c, 0x58 + r()),
        () => b.push(0x50 + r(), 0x8f, modrm(1, 0, 3), rng.int(0xfd)), () => b.push(0x50 + r(), 0x8f, modrm(3, 0, r()))][rng.int(13)](); break;
      // SHLD/SHRD by an immediate (0 and past 31 too) or CL, of a register or [ebx+d8], then
      // SETcc or ADC (the flags they leave); DIV of ECX, ESI, EDI or [ebx+d8] after EDX is
      // cleared (a #DE only for a divisor of 0), or now and then not (a quotient past 32 bits:
      // #DE, most of the time; a #DE ends the program, so rarely).
      case 41: { const op = 0xa4 + 8 * rng.int(2) + rng.int(2), m = rng.int(2) === 0;
        if (rng.int(3) === 0) {
          if (rng.int(6) !== 0) b.push(0x31, modrm(3, 2, 2));
          // (The data page is mostly zeroes: a dword stored there first is the divisor.)
          if (m) { const d = rng.int(0xfd); b.push(0xc7, modrm(1, 0, 3), d, ...le(1 + rng.int(0x7fffffff)), 0xf7, modrm(1, 6, 3), d); }
          else b.push(0xf7, modrm(3, 6, [1, 6, 7][rng.int(3)]));
          break;
        }
        b.push(0x0f, op, ...(m ? [modrm(1, r(), 3), rng.int(0xfd)] : [modrm(3, r(), r())]), ...((op & 1) === 0 ? [rng.int(40)] : []));
        if (rng.int(2)) b.push(0x11, modrm(3, r(), r())); else b.push(0x0f, 0x90 + rng.int(16), modrm(3, 0, r8()));
        break; }
      // REPE/REPNE CMPSB/CMPSD or SCASB/SCASD over the data page (mostly zeroes, so long equal
      // runs), ECX 0 to 40, or -1 with AL clear (strlen), some runs reaching the next page
      // (the hole: a #PF), then SETcc or ADC (the flags they leave).
      case 42: {
        const op = [0xa6, 0xa7, 0xae, 0xaf][rng.int(4)];
        const at = (): number => DATA + (rng.int(4) === 0 ? 0xfc0 + rng.int(0x40) : rng.int(0x1000));
        b.push(0xbe, ...le(at()), 0xbf, ...le(at()), 0xfc);
        if ((op & 0xfe) === 0xae && rng.int(3) === 0) b.push(0xb9, ...le(-1), 0xb8, ...le(0), 0xf2, op);
        else b.push(0xb9, ...le(rng.int(41)), rng.int(2) ? 0xf3 : 0xf2, op);
        if (rng.int(2)) b.push(0x11, modrm(3, r(), r())); else b.push(0x0f, 0x90 + rng.int(16), modrm(3, 0, r8()));
        break; }
      default: b.push(0x9c, rng.int(2) ? 0x9d : 0x58 + r()); break; // pushfd; popfd or pop r
    }
  }
  // The loop: dec dword [COUNTER]; jnz start (rel32); then hlt.
  b.push(0xff, 0x0d); u32(COUNTER);
  b.push(0x0f, 0x85); const rel = b.length; u32(0);
  b.push(0xf4);
  const start = CODE + 0x1000 - (8 + rng.int(Math.min(b.length, 200)));
  const relv = -(rel + 4);
  b[rel] = relv & 0xff; b[rel + 1] = (relv >>> 8) & 0xff; b[rel + 2] = (relv >>> 16) & 0xff; b[rel + 3] = (relv >>> 24) & 0xff;
  // Each SMC store rewrites some MOV's immediate (earlier or later in the program).
  for (const at of smc) {
    const target = imms.length > 0 ? imms[rng.int(imms.length)] : at; // none: it rewrites itself
    b[at] = target & 0xff; b[at + 1] = (target >>> 8) & 0xff; b[at + 2] = 0; b[at + 3] = 0;
  }
  return { start, bytes: b, pagingOff: seed % 4 === 3 };
}

function le(v: number): number[] { return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff]; }

export function machine(p: Program, jit: boolean | JitOptions): FlatMachine {
  const f = new FlatMachine({ cpl: 0, ramBytes: 4 << 20, cpu: "pentium2", jit });
  const mem = f.m.mem;
  // Identity-map the first 4 MiB with 4 KiB pages, except the hole.
  mem.write32(PD, PT | 3);
  for (let k = 0; k < 1024; k++) if (k * 0x1000 !== HOLE) mem.write32(PT + k * 4, (k << 12) | 3);
  mem.load(p.start, Uint8Array.from(p.bytes));
  mem.write32(COUNTER, LOOPS);
  const cpu = f.cpu;
  cpu.setCr3(PD);
  if (!p.pagingOff) cpu.setCr0(cpu.cr0 | CR0_PG);
  for (const r of FREE) cpu.regs[r] = 0x1000 * (r + 1) + 0x204000 * (r & 1);
  cpu.regs[3] = DATA;
  cpu.regs[5] = p.start;
  cpu.eip = p.start;
  return f;
}

/** Everything compared after a slice, as one string (the first difference is easy to read). */
function state(f: FlatMachine, withMemory: boolean): string {
  const c = f.cpu;
  const parts = [
    `eip=${(c.eip >>> 0).toString(16)} fl=${(c.getEflags() >>> 0).toString(16)} cpl=${c.cpl} cr2=${(c.cr2 >>> 0).toString(16)}`,
    `n=${c.instructions} halted=${c.halted} regs=${Array.from(c.regs.subarray(0, 8), (v) => (v >>> 0).toString(16)).join(",")}`,
  ];
  if (withMemory) {
    let h = 0;
    for (const [base, len] of [[DATA, 0x1000], [CODE, 0x2000], [0x7000, 0x1000], [PT + 0x200 * 4, 0x40 * 4]]) {
      for (let a = base; a < base + len; a += 4) h = (Math.imul(h, 31) + f.m.mem.read32(a)) | 0;
    }
    parts.push(`mem=${(h >>> 0).toString(16)}`);
  }
  return parts.join(" ");
}

export interface DiffResult { seed: number; slices: number; instructions: number; compiled: number; generated: number; mismatch?: string; }

/** Run program `seed` under each JIT setting in lockstep; the first difference, if any. */
export function jitDiff(seed: number, maxInstructions = 6000): DiffResult {
  const p = program(seed);
  const ms = CONFIGS.map((c) => machine(p, c));
  const { slices, mismatch } = lockstep(ms, seed, maxInstructions, state);
  if (mismatch !== undefined) return { seed, slices, instructions: ms[0].cpu.instructions, compiled: 0, generated: 0, mismatch };
  const st = ms[2].cpu.jit!.stats;
  return { seed, slices, instructions: ms[0].cpu.instructions, compiled: st.compiled, generated: st.generated };
}
