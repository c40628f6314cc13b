// Long mode on the model: entering it the architectural way, 64-bit instructions with their
// results computed independently (BigInt, here only), canonical-address faults, 64-bit
// interrupt delivery with the IST, and the per-model EFER bits. Expected behaviour from the
// Intel SDM vol. 3 §9.8.5 (initializing IA-32e mode), §3.3.7.1 (canonical addressing),
// §6.14 (64-bit interrupt delivery), vol. 1 §3.4.1.1 (32-bit writes zero-extend), and the
// AMD APM vol. 2 §3.1.7 (EFER).

import { test } from "node:test";
import assert from "node:assert/strict";
import { asm64 } from "../protection/harness.js";
import { CODE, STUBS, FlatMachine } from "../support/flat-machine.js";
import { ENTER_LONG_MODE, IST1, RSP0, IDT64, longMachine, mem64, reg64, useLongTables } from "../support/long-machine.js";
import { EFER_LMA } from "../../src/hw/cpu/cpu.js";
import { Vector } from "../../src/hw/cpu/fault.js";

const M64 = (1n << 64n) - 1n;
const u64 = (v: bigint): bigint => v & M64;

/** Enter long mode, run `body` (64-bit code ending in HLT); returns the halting stub's vector or -1. */
function run64(body: string, opts: { cpu?: string; setup?: (f: FlatMachine) => void } = {}): { f: FlatMachine; vector: number } {
  const f = longMachine(opts.cpu ?? "core2");
  useLongTables(f);
  opts.setup?.(f);
  f.load(asm64(`${ENTER_LONG_MODE}\n.code64\nentry64:\n${body}\n`, CODE));
  return { f, vector: f.runToHalt(200_000) };
}

test("long mode: CR0.PG with EFER.LME activates IA-32e mode; the far jump enters 64-bit mode", () => {
  const { f, vector } = run64("mov rax, 0x123456789abcdef0\n hlt");
  assert.equal(vector, -1);
  assert.equal(f.cpu.lma, true);
  assert.equal(f.cpu.efer & EFER_LMA, EFER_LMA);
  assert.equal(f.cpu.mode64, true);
  assert.equal(reg64(f, 0), 0x123456789abcdef0n);
});

test("64-bit integer instructions: carries across halves, 128-bit MUL and DIV, shifts, RIP-relative data", () => {
  const { f, vector } = run64(`
    mov rax, 0xffffffff00000001
    mov rbx, 0x00000001ffffffff
    add rax, rbx            # 0x0000000100000000, CF=1
    setc r8b
    mov rcx, 0x123456789abcdef1
    mov rdx, 0
    mov rsi, rcx
    mov rax, 0xfedcba9876543210
    mul rsi                 # rdx:rax = 0xfedcba9876543210 * 0x123456789abcdef1
    mov r9, rax
    mov r10, rdx
    div rsi                 # back to the original rax, remainder 0
    mov r11, rax
    mov r12, 0x8000000000000001
    sar r12, 4
    mov r13, 0x8000000000000001
    rol r13, 1
    mov r14, [rip + data]
    lea r15, [rip + data]
    hlt
  data:
    .quad 0x0102030405060708
  `);
  assert.equal(vector, -1);
  assert.equal(reg64(f, 0), 0xfedcba9876543210n);
  const prod = 0xfedcba9876543210n * 0x123456789abcdef1n;
  assert.equal(reg64(f, 9), u64(prod));
  assert.equal(reg64(f, 10), prod >> 64n);
  assert.equal(reg64(f, 11), 0xfedcba9876543210n);
  assert.equal(f.cpu.regs[8] & 0xff, 1);
  assert.equal(reg64(f, 12), 0xf800000000000000n);
  assert.equal(reg64(f, 13), 3n);
  assert.equal(reg64(f, 14), 0x0102030405060708n);
  assert.equal(Number(reg64(f, 15)) > CODE, true);
});

test("64-bit mode: 32-bit writes zero-extend, 8- and 16-bit writes keep the rest; REX selects SPL…DIL", () => {
  const { f, vector } = run64(`
    mov rax, -1
    mov eax, 5              # RAX = 5
    mov rbx, -1
    mov bx, 7               # keeps bits 63:16
    mov rcx, -1
    xor ecx, ecx            # RCX = 0
    mov rdx, -1
    cmp edx, edx
    cmovne edx, eax         # condition false: still zero-extends
    mov rsi, 0x1122334455667788
    mov sil, 0xaa           # REX: SIL, not DH
    mov r8, -1
    movsxd r8, dword ptr [rip + neg]
    mov r9, 0x8000000000000000
    bsr r10, r9
    hlt
  neg: .long -2
  `);
  assert.equal(vector, -1);
  assert.equal(reg64(f, 0), 5n);
  assert.equal(reg64(f, 3), 0xffffffffffff0007n);
  assert.equal(reg64(f, 1), 0n);
  assert.equal(reg64(f, 2), 0xffffffffn);
  assert.equal(reg64(f, 6), 0x11223344556677aan);
  assert.equal(reg64(f, 8), u64(-2n));
  assert.equal(reg64(f, 10), 63n);
});

test("64-bit mode: PUSH/POP, CALL/RET and REP MOVSQ move 8 bytes a slot", () => {
  const { f, vector } = run64(`
    mov rsp, ${RSP0}
    mov rax, 0x1111222233334444
    push rax
    push 0x-10
    pop rbx                 # -16 sign-extended
    pop rcx
    call fn
    lea rsi, [rip + src]
    lea rdi, [rip + dst]
    mov rcx, 2
    rep movsq
    mov r9, [rip + dst + 8]
    hlt
  fn:
    mov r8, rsp
    ret
  src: .quad 1, 0x0a0b0c0d0e0f1011
  dst: .quad 0, 0
  `.replace("0x-10", "-16"));
  assert.equal(vector, -1);
  assert.equal(reg64(f, 3), u64(-16n));
  assert.equal(reg64(f, 1), 0n);
  assert.equal(reg64(f, 8), BigInt(RSP0 - 8));
  assert.equal(reg64(f, 9), 0x0a0b0c0d0e0f1011n);
  assert.equal(reg64(f, 4), BigInt(RSP0));
});

test("the kernel's high mapping: code and data through 0xFFFFFFFF80000000 (canonical, negative)", () => {
  const { f, vector } = run64(`
    mov rax, offset data
    mov rcx, 0xffffffff80000000
    add rax, rcx
    mov rbx, [rax]
    lea rdx, [rip + high]
    add rdx, rcx
    jmp rdx                 # continue at the same code through the high mapping
  high:
    lea rsi, [rip]          # RIP is now 0xFFFFFFFF8001xxxx
    hlt
  data: .quad 0x5566778899aabbcc
  `);
  assert.equal(vector, -1);
  assert.equal(reg64(f, 3), 0x5566778899aabbccn);
  assert.equal(reg64(f, 6) >> 32n, 0xffffffffn);
});

test("non-canonical addresses: #GP(0) for data, #SS(0) through RSP; the 64-bit frame holds RIP, CS, RFLAGS, RSP, SS", () => {
  let r = run64(`
    mov rsp, ${RSP0}
    mov rax, 0x0000800000000000
    mov rbx, [rax]
    hlt
  `);
  assert.equal(r.vector, Vector.GP);
  const sp = r.f.cpu.regs[4] >>> 0;
  assert.equal(sp, RSP0 - 6 * 8); // aligned to 16, then six 8-byte slots: error code, RIP, CS, RFLAGS, RSP, SS
  assert.equal(mem64(r.f, sp), 0n);                     // error code
  assert.equal(Number(mem64(r.f, sp + 16)), 0x50);      // CS
  assert.equal(mem64(r.f, sp + 32), BigInt(RSP0));      // RSP
  // A non-canonical RSP: #SS(0). Its delivery needs a good stack, so the gate uses IST 1
  // (as Linux's does); without one the processor shuts down (#SS, #DF on the same stack).
  const bad = `
    mov rsp, 0x0000800000000010
    push rax
    hlt
  `;
  r = run64(bad, { setup: (g) => { g.mem.write8(IDT64 + Vector.SS * 16 + 4, 1); } });
  assert.equal(r.vector, Vector.SS);
  assert.equal(mem64(r.f, IST1 - 16), 0x800000000010n); // the RSP pushed
  r = run64(bad);
  assert.notEqual(r.f.cpu.shutdown, null);
});

test("#PF on a high address puts the whole address in CR2; NX pages fault on fetch with I/D", () => {
  let r = run64(`
    mov rsp, ${RSP0}
    mov rax, 0xffff900000001234
    mov rbx, [rax]
    hlt
  `);
  assert.equal(r.vector, Vector.PF);
  assert.equal(r.f.cpu.cr2, -0x7000_0000_0000 + 0x1234);
  // NX: map 2 MiB page 1 (0x200000) execute-disable, turn on EFER.NXE and jump there.
  r = run64(`
    mov rsp, ${RSP0}
    mov ecx, 0xc0000080
    rdmsr
    or eax, 0x800
    wrmsr
    mov rax, 0x200000
    jmp rax
  `, { setup: (f) => { f.mem.write32(0x22000 + 8 + 4, 0x8000_0000 | 0); f.mem.write8(0x200000, 0xf4); } });
  assert.equal(r.vector, Vector.PF);
  const sp = r.f.cpu.regs[4] >>> 0;
  assert.equal(Number(mem64(r.f, sp)), 0x10 | 0x1); // I/D and P (a supervisor fetch)
});

test("a gate with IST 1 switches to the IST stack even without a privilege change", () => {
  const { f, vector } = run64(`
    mov rsp, ${RSP0}
    int3
  `, { setup: (g) => { g.mem.write8(IDT64 + 3 * 16 + 4, 1); } });
  assert.equal(vector, Vector.BP);
  assert.equal(f.cpu.regs[4] >>> 0, IST1 - 5 * 8);
  assert.equal(mem64(f, IST1 - 16), BigInt(RSP0)); // the old RSP
});

test("IRETQ returns to the interrupted code; INT3 pushes the next RIP", () => {
  const { f, vector } = run64(`
    mov rsp, ${RSP0}
    lea rax, [rip + handler]
    mov rdi, ${IDT64 + 3 * 16}
    mov [rdi], ax
    shr rax, 16
    mov [rdi + 6], ax
    int3
    mov r12, 42
    hlt
  handler:
    mov r11, [rsp]          # the RIP pushed: the instruction after INT3
    iretq
  `);
  assert.equal(vector, -1);
  assert.equal(reg64(f, 12), 42n);
  assert.equal(Number(reg64(f, 11)) > CODE, true);
  assert.equal(f.cpu.regs[4] >>> 0, RSP0);
});

test("SWAPGS exchanges GS.base with IA32_KERNEL_GS_BASE; FS.base from WRMSR addresses fs:[0]", () => {
  const { f, vector } = run64(`
    mov ecx, 0xc0000102
    mov eax, 0x40000
    xor edx, edx
    wrmsr                   # KERNEL_GS_BASE = 0x40000
    mov ecx, 0xc0000100
    mov eax, 0x41000
    wrmsr                   # FS_BASE = 0x41000
    mov qword ptr [0x40008], 77
    mov qword ptr [0x41000], 88
    swapgs
    mov rax, gs:[8]
    mov rbx, fs:[0]
    hlt
  `);
  assert.equal(vector, -1);
  assert.equal(reg64(f, 0), 77n);
  assert.equal(reg64(f, 3), 88n);
});

test("entering long mode: CR0.PG with LME but without CR4.PAE is #GP(0), and LME cannot change under paging", () => {
  const f = longMachine("core2");
  f.load(asm64(`
    mov ecx, 0xc0000080
    rdmsr
    or eax, 0x100
    wrmsr
    mov eax, ${0x20000}
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    hlt
  `, CODE));
  assert.equal(f.runToHalt(), Vector.GP);
  assert.equal(f.cpu.lma, false);
});

test("EFER per model: no EFER without long mode or NX; LMSLE only on athlon64-reve; zen3 refuses it", () => {
  const wr = (cpu: string, eax: number): number => {
    const f = new FlatMachine({ cpu });
    f.load(asm64(`mov ecx, 0xc0000080\n mov eax, ${eax}\n xor edx, edx\n wrmsr\n hlt`, CODE));
    return f.runToHalt();
  };
  assert.equal(wr("pentium2", 0x100), Vector.GP);
  assert.equal(wr("core-duo", 0x800), -1);   // NX without long mode
  assert.equal(wr("core-duo", 0x100), Vector.GP);
  assert.equal(wr("core2", 0x100), -1);
  assert.equal(wr("athlon64-reve", 0x2000), -1);
  assert.equal(wr("athlon64-revc", 0x2000), Vector.GP);
  assert.equal(wr("zen3", 0x2000), Vector.GP);
  assert.equal(wr("core2", 0x2000), Vector.GP);
});

test("instructions invalid in 64-bit mode raise #UD (PUSH ES, AAA, PUSHA, INTO)", () => {
  for (const bytes of ["0x06", "0x37", "0x60", "0xce"]) {
    const { vector } = run64(`mov rsp, ${RSP0}\n .byte ${bytes}\n hlt`);
    assert.equal(vector, Vector.UD, bytes);
  }
  assert.equal(STUBS > 0, true);
});

test("PAE paging with EFER.NXE on core-duo (32-bit, NX): fetching from an XD page is #PF with I/D; data reads work", () => {
  const f = new FlatMachine({ cpu: "core-duo", ramBytes: 8 << 20 });
  // PDPT at 0x30000 (4 entries), PD at 0x31000: 2 MiB pages, the second one (0x200000) XD.
  f.mem.write32(0x30000, 0x31001);
  for (let k = 0; k < 8; k++) { f.mem.write32(0x31000 + k * 8, (k << 21) | 0x87); f.mem.write32(0x31000 + k * 8 + 4, k === 1 ? 0x8000_0000 | 0 : 0); }
  f.mem.write8(0x200000, 0xf4);
  f.load(asm64(`
    mov ecx, 0xc0000080
    rdmsr
    or eax, 0x800
    wrmsr
    mov eax, cr4
    or eax, 0x20
    mov cr4, eax
    mov eax, 0x30000
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    mov ebx, [0x200000]       # a data read from the XD page is fine
    mov eax, 0x200000
    jmp eax
  `, CODE));
  assert.equal(f.runToHalt(), Vector.PF);
  assert.equal(f.cpu.cr2, 0x200000);
  assert.equal(f.cpu.regs[3] & 0xff, 0xf4);
  assert.equal(f.mem.read32(0x8000 - 16) & 0x1f, 0x11, "error code: P | I/D");
});

test("x87 in 64-bit mode: memory operands through RIP-relative and REX-based addresses", () => {
  const { f, vector } = run64(`
    fninit
    fld qword ptr [rip + a]
    lea r9, [rip + b]
    fadd qword ptr [r9]
    fstp qword ptr [rip + c]
    fnstsw ax
    mov rbx, [rip + c]
    hlt
  a: .double 1.5
  b: .double 2.25
  c: .quad 0
  `);
  assert.equal(vector, -1);
  const out = new DataView(new ArrayBuffer(8));
  out.setFloat64(0, 3.75, true);
  assert.equal(reg64(f, 3), out.getBigUint64(0, true));
});

test("XLAT and LFS in 64-bit mode: RBX + AL; a m16:64 far pointer with REX.W", () => {
  const { f, vector } = run64(`
    lea rbx, [rip + table]
    mov eax, 0x1102
    xlatb                     # AL = table[2]
    lea rsi, [rip + farptr]
    .byte 0x48, 0x0f, 0xb4, 0x16 # lfs rdx, [rsi] (REX.W: m16:64, as Intel 64 defines it)
    mov cx, fs
    hlt
  table: .byte 10, 20, 30, 40
  farptr: .quad 0x1122334455667788
    .word 0x58
  `);
  assert.equal(vector, -1);
  assert.equal(f.cpu.regs[0] & 0xffff, 0x111e);
  assert.equal(reg64(f, 2), 0x1122334455667788n);
  assert.equal(f.cpu.regs[1] & 0xffff, 0x58);
});

test("x87 and SSE memory operands in the upper half: the 64-bit linear address reaches memory whole", () => {
  // 0xFFFFFFFF80000000 maps physical 0 (the kernel's mapping of itself). Debian's amd64 kernel
  // runs FILD on such an address on AMD parts (the FXSAVE-leak workaround): the x87 cut the
  // address to 32 bits and faulted.
  const { f, vector } = run64(`
    mov rax, cr4
    or rax, 0x600           # OSFXSR, OSXMMEXCPT
    mov cr4, rax
    mov rbx, 0xffffffff80080000
    fninit
    fild dword ptr [rbx]
    fistp qword ptr [rbx + 8]
    movdqu xmm9, [rbx + 0x10]
    movups [rbx + 0x20], xmm9
    fxsave [rbx + 0x100]
    hlt
  `, { cpu: "athlon64-revc", setup: (g) => {
    g.mem.write32(0x80000, -123456 >>> 0);
    for (let k = 0; k < 4; k++) g.mem.write32(0x80010 + 4 * k, 0x11111111 * (k + 1));
  } });
  assert.equal(vector, -1);
  assert.equal(mem64(f, 0x80008), BigInt.asUintN(64, -123456n));
  for (let k = 0; k < 4; k++) assert.equal(f.mem.read32(0x80020 + 4 * k) >>> 0, 0x11111111 * (k + 1));
  assert.equal(f.mem.read32(0x80100 + 24) >>> 0, 0x1f80, "FXSAVE: MXCSR");
  assert.equal(f.mem.read32(0x80100 + 160 + 16 * 9) >>> 0, 0x11111111, "FXSAVE in 64-bit mode: XMM9");
});

test("POPCNT (F3 0F B8, zen3): 16/32/64-bit counts, ZF only when the source is 0, #UD on a model without it", () => {
  const body = `
    mov rax, 0xf0f0f0f0f0f0f0f1
    popcnt rbx, rax
    popcnt ecx, eax
    mov dx, 0x8001
    popcnt si, dx
    pushfq
    pop r8
    xor eax, eax
    stc
    popcnt rdi, rax
    pushfq
    pop r9
    hlt`;
  const { f, vector } = run64(body, { cpu: "zen3" });
  assert.equal(vector, -1);
  assert.equal(reg64(f, 3), 33n);
  assert.equal(reg64(f, 1), 17n);
  assert.equal(reg64(f, 6) & 0xffffn, 2n);
  assert.equal(reg64(f, 8) & 0x8d5n, 0n, "a non-zero source: all six flags clear");
  assert.equal(reg64(f, 7), 0n);
  assert.equal(reg64(f, 9) & 0x8d5n, 0x40n, "a zero source: ZF alone (CF cleared)");
  assert.equal(run64(body, { cpu: "core2" }).vector, Vector.UD);
});
