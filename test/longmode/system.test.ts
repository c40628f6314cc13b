// Long mode's system instructions on the model: SYSCALL/SYSRET with each vendor's rules,
// RDTSCP, and AMD's EFER.LMSLE data limit checks (Intel SDM vol. 2 "SYSCALL", "SYSRET",
// "RDTSCP"; AMD APM vol. 2 §6.1.1 and §4.12.2; docs/long-mode.md).

import { test } from "node:test";
import assert from "node:assert/strict";
import { asm64 } from "../protection/harness.js";
import { CODE, GDT, FlatMachine } from "../support/flat-machine.js";
import { ENTER_LONG_MODE, RSP0, SEL64, longMachine, reg64, useLongTables } from "../support/long-machine.js";
import { segDescriptor } from "../support/flat-machine.js";
import { Vector } from "../../src/hw/cpu/fault.js";
import { SegReg } from "../../src/hw/cpu/segment.js";
import { LocalApic, ApicReg } from "../../src/hw/dev/apic/local-apic.js";

function run64(cpu: string, body: string, setup?: (f: FlatMachine) => void): { f: FlatMachine; vector: number } {
  const f = longMachine(cpu);
  useLongTables(f);
  setup?.(f);
  f.load(asm64(`${ENTER_LONG_MODE}\n.code64\nentry64:\n${body}\n`, CODE));
  return { f, vector: f.runToHalt(200_000) };
}

/** Kernel set-up: EFER.SCE, STAR (kernel 0x50, user base 0x60), LSTAR = `kentry`, FMASK = IF|TF. */
const SYSCALL_SETUP = `
  mov rsp, ${RSP0}
  mov ecx, 0xc0000080
  rdmsr
  or eax, 1
  wrmsr
  mov ecx, 0xc0000081
  xor eax, eax
  mov edx, 0x00600050
  wrmsr
  mov ecx, 0xc0000082
  lea rax, [rip + kentry]
  mov rdx, rax
  shr rdx, 32
  wrmsr
  mov ecx, 0xc0000084
  mov eax, 0x300
  xor edx, edx
  wrmsr
`;

test("SYSRETQ enters 64-bit ring 3 at RCX with RFLAGS from R11; SYSCALL comes back through LSTAR with RCX and R11", () => {
  const { f, vector } = run64("core2", `${SYSCALL_SETUP}
    lea rcx, [rip + user]
    mov r11, 0x0c2             # ZF SF, IF clear
    sysretq
  user:
    mov rbx, 0x1234
    syscall
  after:
    hlt
  kentry:
    lea r12, [rip + after]
    hlt
  `);
  assert.equal(vector, -1);
  assert.equal(f.cpu.cpl, 0);
  assert.equal(f.cpu.segs[SegReg.CS].selector, SEL64.CODE0);
  assert.equal(f.cpu.segs[SegReg.SS].selector, SEL64.DATA0);
  assert.equal(reg64(f, 1), reg64(f, 12)); // RCX = the instruction after SYSCALL
  assert.equal(Number(reg64(f, 11)) & 0xcff, 0x0c2); // R11 = user RFLAGS
  assert.equal(reg64(f, 3), 0x1234n);
});

test("SYSRET to a non-canonical RCX: #GP(0) in ring 0 on Intel; AMD loads it and faults in ring 3", () => {
  const body = `${SYSCALL_SETUP}
    mov rcx, 0x0000800000000000
    mov r11, 0x2
    sysretq
  kentry:
    hlt
  `;
  let r = run64("core2", body);
  assert.equal(r.vector, Vector.GP);
  const frameCs = (f: FlatMachine): number => f.mem.read32((f.cpu.regs[4] >>> 0) + 16) & 0xffff;
  assert.equal(frameCs(r.f), SEL64.CODE0);
  r = run64("zen3", body);
  assert.equal(r.vector, Vector.GP);
  assert.equal(frameCs(r.f), SEL64.CODE3);
});

test("SYSCALL needs EFER.SCE; Intel has no SYSCALL in compatibility mode, AMD goes through CSTAR", () => {
  let r = run64("core2", "syscall\n hlt");
  assert.equal(r.vector, Vector.UD);
  // Compatibility mode: far return to the 32-bit ring-0 code segment of the flat GDT (0x08).
  const compat = (cpu: string): { f: FlatMachine; vector: number } => run64(cpu, `${SYSCALL_SETUP}
    mov ecx, 0xc0000083
    lea rax, [rip + kentry]
    mov rdx, rax
    shr rdx, 32
    wrmsr
    push 0x08
    lea rax, [rip + compat32]
    push rax
    retfq
  kentry:
    mov r13, 77
    hlt
  .code32
  compat32:
    syscall
    hlt
  .code64
  `);
  r = compat("core2");
  assert.equal(r.vector, Vector.UD);
  r = compat("zen3");
  assert.equal(r.vector, -1);
  assert.equal(reg64(r.f, 13), 77n);
  assert.equal(r.f.cpu.mode64, true);
});

test("AMD's legacy-mode SYSCALL: EIP from STAR[31:0], CS from STAR[47:32]; Intel: #UD", () => {
  const legacy = (cpu: string): { f: FlatMachine; vector: number } => {
    const f = new FlatMachine({ cpu });
    f.load(asm64(`
      mov ecx, 0xc0000080
      rdmsr
      or eax, 1
      wrmsr
      mov ecx, 0xc0000081
      mov eax, offset target
      mov edx, 0x00000008
      wrmsr
      syscall
    back:
      hlt
    target:
      mov ebx, 99
      hlt
    `, CODE));
    return { f, vector: f.runToHalt() };
  };
  let r = legacy("athlon64-revc");
  assert.equal(r.vector, -1);
  assert.equal(r.f.cpu.regs[3], 99);
  assert.equal(r.f.cpu.segs[SegReg.CS].selector, 0x08);
  r = legacy("core2"); // EFER.SCE can be set (for 64-bit mode), but Intel's SYSCALL is #UD elsewhere
  assert.equal(r.vector, Vector.UD);
});

test("RDTSCP returns IA32_TSC_AUX in ECX where the part has it (zen3), #UD where not (core2)", () => {
  const body = `
    mov ecx, 0xc0000103
    mov eax, 0x5a
    xor edx, edx
    wrmsr
    rdtscp
    hlt
  `;
  let r = run64("zen3", body);
  assert.equal(r.vector, -1);
  assert.equal(r.f.cpu.regs[1], 0x5a);
  r = run64("core2", "rdtscp\n hlt");
  assert.equal(r.vector, Vector.UD);
});

/**
 * Ring 3 in 64-bit mode with DS = a user data segment whose limit is `limitPages` (G = 1):
 * `access` then UD2, so a run that gets through ends with #UD.
 */
function lmsleRun(cpu: string, lmsle: boolean, access: string, limitPages: number): { f: FlatMachine; vector: number } {
  return run64(cpu, `
    mov rsp, ${RSP0}
    ${lmsle ? "mov ecx, 0xc0000080\n rdmsr\n or eax, 0x2000\n wrmsr" : ""}
    push ${SEL64.DATA3}
    push ${RSP0 - 0x1000}
    push 0x2
    push ${SEL64.CODE3}
    lea rax, [rip + user]
    push rax
    iretq
  user:
    mov ax, 0x83
    mov ds, ax
    mov rbx, 0xffffffff80000000
    ${access}
    ud2                        # reached: #UD (HLT would be #GP at CPL 3)
  `, (f) => {
    const [lo, hi] = segDescriptor(0, limitPages, 0xf2);
    f.mem.write32(GDT + 0x80, lo); f.mem.write32(GDT + 0x84, hi);
    f.cpu.gdtrLimit = 0x87;
  });
}

test("EFER.LMSLE (athlon64-reve): ring-3 data accesses in the top 4 GB stop at DS's limit; GS, ring 0 and Intel are unchecked", () => {
  // DS limit 0x80000FFF: 0xFFFFFFFF_80000FF8 + 8 bytes is the last allowed quadword.
  const limit = 0x80000;
  let r = lmsleRun("athlon64-reve", true, "mov rax, [rbx + 0xff8]", limit);
  assert.equal(r.vector, Vector.UD);
  r = lmsleRun("athlon64-reve", true, "mov rax, [rbx + 0xff9]", limit);
  assert.equal(r.vector, Vector.GP);
  r = lmsleRun("athlon64-reve", true, "mov rax, [rbx + 0x1000]", limit);
  assert.equal(r.vector, Vector.GP);
  r = lmsleRun("athlon64-reve", true, "mov rax, gs:[rbx + 0x1000]", limit); // GS is never checked
  assert.equal(r.vector, Vector.UD);
  r = lmsleRun("athlon64-reve", false, "mov rax, [rbx + 0x1000]", limit);   // LMSLE clear
  assert.equal(r.vector, Vector.UD);
  r = lmsleRun("athlon64-reve", true, "mov rax, 0x10000\n mov rax, [rax]", limit); // below the top 4 GB
  assert.equal(r.vector, Vector.UD);
  r = lmsleRun("core2", false, "mov rax, [rbx + 0x1000]", limit);             // Intel: nothing to set
  assert.equal(r.vector, Vector.UD);
});

test("EFER.LMSLE: a stack access beyond SS's limit in the top 4 GB is #SS(0)", () => {
  const r = lmsleRun("athlon64-reve", true, "mov ax, 0x83\n mov ss, ax\n mov rsp, 0xffffffff80002000\n push rax", 0x80000);
  assert.equal(r.vector, Vector.SS);
});

test("LTR in IA-32e mode reads a 16-byte TSS descriptor: base 63:32 from its second half; the IST comes from there", () => {
  const HIGH_TSS = 0xffffffff80025000n; // the long machine's TSS through the kernel's high mapping
  const { f, vector } = run64("core2", `
    mov rsp, ${RSP0}
    mov ax, ${SEL64.TSS}
    ltr ax
    int3
  `, (g) => {
    // Rewrite the TSS descriptor: base 0xFFFFFFFF_80025000 (bits 31:0 in the first half, 63:32 in the second).
    const [lo, hi] = segDescriptor(0x80025000, 0x67, 0x89, 0);
    g.mem.write32(GDT + SEL64.TSS, lo); g.mem.write32(GDT + SEL64.TSS + 4, hi);
    g.mem.write32(GDT + SEL64.TSS + 8, 0xffffffff | 0); g.mem.write32(GDT + SEL64.TSS + 12, 0);
    g.mem.write8(0x24000 + 3 * 16 + 4, 1); // INT3's gate uses IST 1
    g.cpu.tr.base = 0; // only LTR can make delivery find the TSS
  });
  assert.equal(vector, Vector.BP);
  assert.equal(BigInt.asUintN(64, BigInt(f.cpu.tr.base)), HIGH_TSS);
  assert.equal((f.mem.read32(GDT + SEL64.TSS + 4) >>> 9) & 1, 1); // marked busy
  assert.equal(f.cpu.regs[4] >>> 0, 0x70000 - 5 * 8); // IST1 of that TSS
});

test("LTR in IA-32e mode: a 16-bit TSS type or a non-zero type in the upper half is #GP(selector)", () => {
  const r = run64("core2", `
    mov rsp, ${RSP0}
    mov ax, ${SEL64.TSS}
    ltr ax
    hlt
  `, (g) => { g.mem.write32(GDT + SEL64.TSS + 12, 0x0900); g.mem.write8(0x24000 + 13 * 16 + 4, 1); });
  assert.equal(r.vector, Vector.GP);
  assert.equal(r.f.mem.read32(0x70000 - 48), SEL64.TSS); // the error code names the selector
});

test("CR8 in 64-bit mode is the local APIC's TPR class: MOV CR8 writes TPR[7:4], reads them back; bits 63:4 reserved", () => {
  const apic = new LocalApic({ now: () => 0, tsc: () => 0, setIntr: () => {}, nmi: () => {}, moved: () => {} });
  const body = `
    mov rax, 5
    mov cr8, rax
    mov rbx, cr8
    hlt
  `;
  let r = run64("core2", body, (f) => { f.cpu.apic = apic; });
  assert.equal(r.vector, -1);
  assert.equal(apic.readReg(ApicReg.TPR), 0x50);
  assert.equal(reg64(r.f, 3), 5n);
  r = run64("core2", "mov rax, 0x15\n mov cr8, rax\n hlt", (f) => { f.cpu.apic = apic; });
  assert.equal(r.vector, Vector.GP);
  r = run64("core2", "mov rax, cr8\n hlt"); // no APIC on this bare CPU: CR8 does not exist
  assert.equal(r.vector, Vector.UD);
});

/** A 16-byte 64-bit call gate at GDT 0x88 (DPL 3) to `target` in the 64-bit ring-0 code segment. */
function callGate(f: FlatMachine, target: number, upperType = 0): void {
  f.mem.write32(GDT + 0x88, (SEL64.CODE0 << 16) | (target & 0xffff));
  f.mem.write32(GDT + 0x8c, (target & 0xffff0000) | 0xec00); // P, DPL 3, type 0Ch
  f.mem.write32(GDT + 0x90, 0);
  f.mem.write32(GDT + 0x94, upperType << 8);
  f.cpu.gdtrLimit = 0x97;
}

/**
 * A long machine running `body` (64-bit code whose last instruction is the gate's target HLT,
 * at label `kernel`), with the call gate at GDT 0x88 pointing at that HLT.
 */
function gateRun(body: string, upperType = 0): { f: FlatMachine } {
  const code = asm64(`${ENTER_LONG_MODE}\n.code64\nentry64:\n${body}\n`, CODE);
  const kernelAt = CODE + code.length - 1;
  const f = longMachine("core2");
  useLongTables(f);
  callGate(f, kernelAt, upperType);
  f.load(code);
  return { f };
}

test("a far CALL through a 64-bit call gate from ring 3: RSP0 from the TSS, null SS, then SS, RSP, CS, RIP in 8-byte slots", () => {
  const body = `
    mov rsp, ${RSP0}
    push ${SEL64.DATA3}
    push ${RSP0 - 0x1000}
    push 0x2
    push ${SEL64.CODE3}
    lea rax, [rip + user]
    push rax
    iretq
  user:
    rex64 call fword ptr [rip + farptr]
  back:
    ud2
  farptr: .quad 0
    .word 0x8b
  .balign 16
  kernel:
    hlt
  `;
  const { f } = gateRun(body);
  assert.equal(f.runToHalt(200_000), -1);
  assert.equal(f.cpu.cpl, 0);
  assert.equal(f.cpu.segs[SegReg.CS].selector, SEL64.CODE0);
  assert.equal(f.cpu.segs[SegReg.SS].selector, 0);
  const sp = f.cpu.regs[4] >>> 0;
  assert.equal(sp, RSP0 - 32);
  const q = (k: number): number => f.mem.read32(sp + 8 * k);
  assert.equal(q(1), SEL64.CODE3, "the caller's CS");
  assert.equal(q(2), RSP0 - 0x1000, "the caller's RSP");
  assert.equal(q(3), SEL64.DATA3, "the caller's SS");
  // A type in the gate's upper half is #GP(gate selector).
  const { f: g } = gateRun(body, 0xc);
  g.mem.write8(0x24000 + 13 * 16 + 4, 1); // #GP on IST 1
  assert.equal(g.runToHalt(200_000), Vector.GP);
  assert.equal(g.mem.read32(0x70000 - 48), 0x88);
});

test("a far CALL through a call gate from compatibility mode reads the 16-byte gate and enters 64-bit code, pushing CS and RIP in 8-byte slots", () => {
  const body = `
    mov rsp, ${RSP0}
    jmp fword ptr [rip + tocompat]
  tocompat: .long compat
    .word 0x08
  .code32
  compat:
    lcall 0x88, 0
    ud2
  .code64
  .balign 16
  kernel:
    hlt
  `;
  const { f } = gateRun(body);
  assert.equal(f.runToHalt(200_000), -1);
  assert.equal(f.cpu.mode64, true, "the gate's target is 64-bit code");
  assert.equal(f.cpu.segs[SegReg.CS].selector, SEL64.CODE0);
  const sp = f.cpu.regs[4] >>> 0;
  assert.equal(sp, RSP0 - 16, "two 8-byte slots");
  assert.equal(f.mem.read32(sp + 8), 0x08, "the caller's CS (compatibility-mode code)");
  assert.equal(f.mem.read32(sp + 12), 0);
  assert.equal(f.mem.read8(f.mem.read32(sp)), 0x0f, "the return RIP points at the UD2 after the call");
});
