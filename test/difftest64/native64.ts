// The 64-bit difftest's host side: one small static x86-64 Linux program (assembled once per
// source hash with `as --64` / `ld -m elf_x86_64`, cached in the temp directory) reads a batch
// of case records on stdin; for each it copies the code to CODE_VA and the data image to
// DATA_VA, loads RFLAGS and the sixteen registers, jumps to the code, and on return through
// [RET_SLOT] stores the registers, RFLAGS and the data image. A fault arrives as a signal on an
// alternate stack; the handler records the signal number and goes on with the next case.
//
// Input record (IN_REC bytes): RAX…R15 and RFLAGS as 17 quadwords, padding to 256, the code
// (CODE_MAX bytes), the data image (DATA_SIZE). Output record (OUT_REC): 16 registers and
// RFLAGS, the signal number (0 if none) at 136, padding to 256, the data image.

import { spawnSync, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const DATA_VA = 0x30_0000, CODE_VA = 0x31_0000, RET_SLOT = DATA_VA + 0x8000;
export const CODE_MAX = 1024, DATA_SIZE = 4096;
export const IN_REC = 256 + CODE_MAX + DATA_SIZE, OUT_REC = 256 + DATA_SIZE;

const SIGNALS = [4, 5, 7, 8, 11]; // SIGILL SIGTRAP SIGBUS SIGFPE SIGSEGV
// SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTORER: x86-64 Linux refuses to deliver a signal
// without a restorer (it sends SIGSEGV instead). The handler never returns, so any address will do.
const SA_FLAGS = 0x4 | 0x0800_0000 | 0x4000_0000 | 0x0400_0000;
const REGS = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];

const RUNNER_S = `
.globl _start
.text
.macro MMAP addr, len, prot, flags
  mov $9, %eax
  mov $\\addr, %rdi
  mov $\\len, %rsi
  mov $\\prot, %rdx
  mov $\\flags, %r10
  mov $-1, %r8
  xor %r9, %r9
  syscall
.endm
_start:
  MMAP ${CODE_VA}, 0x1000, 7, 0x32
  cmp $${CODE_VA}, %rax
  jne fail
  MMAP ${DATA_VA}, 0x10000, 3, 0x32
  cmp $${DATA_VA}, %rax
  jne fail
  MMAP 0, 0x10000000, 3, 0x22
  cmp $-4096, %rax
  jae fail
  mov %rax, inbuf(%rip)
  mov %rax, %r12
1:
  xor %eax, %eax
  xor %edi, %edi
  mov %r12, %rsi
  mov $0x100000, %edx
  syscall
  test %rax, %rax
  jz 2f
  js fail
  add %rax, %r12
  jmp 1b
2:
  mov inbuf(%rip), %rax
  mov 4(%rax), %ecx
  mov %rcx, ncases(%rip)
  imul $${OUT_REC}, %rcx
  add $8, %rcx
  mov %rcx, outlen(%rip)
  mov $9, %eax
  xor %edi, %edi
  mov %rcx, %rsi
  mov $3, %edx
  mov $0x22, %r10
  mov $-1, %r8
  xor %r9, %r9
  syscall
  cmp $-4096, %rax
  jae fail
  mov %rax, outbuf(%rip)
  movl $0x554f5444, (%rax)
  lea case_end(%rip), %rax
  mov %rax, ${RET_SLOT}
  mov $131, %eax
  lea altstack_t(%rip), %rdi
  xor %esi, %esi
  syscall
${SIGNALS.map((s) => `  mov $13, %eax\n  mov $${s}, %edi\n  lea sigact(%rip), %rsi\n  xor %edx, %edx\n  mov $8, %r10\n  syscall\n  test %rax, %rax\n  jnz fail`).join("\n")}
  mov inbuf(%rip), %rax
  add $8, %rax
  mov %rax, currec(%rip)
  mov outbuf(%rip), %rax
  add $8, %rax
  mov %rax, curout(%rip)
  movq $0, idx(%rip)
case_loop:
  mov idx(%rip), %rax
  cmp ncases(%rip), %rax
  jae done
  cld
  mov currec(%rip), %rsi
  add $256, %rsi
  mov $${CODE_VA}, %rdi
  mov $${CODE_MAX / 8}, %ecx
  rep movsq
  mov $${DATA_VA}, %rdi
  mov $${DATA_SIZE / 8}, %ecx
  rep movsq
  mov curout(%rip), %rax
  movq $0, 136(%rax)
  mov %rsp, saved_rsp(%rip)
  mov currec(%rip), %rsp
  add $128, %rsp
  popfq
  mov currec(%rip), %r15
${REGS.map((r, k) => (r === "r15" || r === "rsp" ? "" : `  mov ${k * 8}(%r15), %${r}`)).filter((l) => l).join("\n")}
  mov 32(%r15), %rsp
  mov 120(%r15), %r15
  jmp *code_va(%rip)
case_end:
  mov %rsp, tmp_rsp(%rip)
  mov %r15, tmp_r15(%rip)
  mov curout(%rip), %rsp
  lea 136(%rsp), %rsp
  pushfq
  mov curout(%rip), %r15
${REGS.map((r, k) => (r === "r15" || r === "rsp" ? "" : `  mov %${r}, ${k * 8}(%r15)`)).filter((l) => l).join("\n")}
  mov tmp_rsp(%rip), %rax
  mov %rax, 32(%r15)
  mov tmp_r15(%rip), %rax
  mov %rax, 120(%r15)
finish:
  mov saved_rsp(%rip), %rsp
  cld
  mov curout(%rip), %rdi
  add $256, %rdi
  mov $${DATA_VA}, %rsi
  mov $${DATA_SIZE / 8}, %ecx
  rep movsq
  addq $${IN_REC}, currec(%rip)
  addq $${OUT_REC}, curout(%rip)
  incq idx(%rip)
  jmp case_loop
handler:
  mov curout(%rip), %rbx
  mov %rdi, 136(%rbx)
  jmp finish
done:
  mov outbuf(%rip), %rsi
  mov outlen(%rip), %r12
3:
  test %r12, %r12
  jz 4f
  mov $1, %eax
  mov $1, %edi
  mov %r12, %rdx
  syscall
  test %rax, %rax
  jle fail
  add %rax, %rsi
  sub %rax, %r12
  jmp 3b
4:
  mov $60, %eax
  xor %edi, %edi
  syscall
fail:
  mov $60, %eax
  mov $99, %edi
  syscall
.data
.align 8
code_va: .quad ${CODE_VA}
sigact: .quad handler, ${SA_FLAGS}, handler, 0
altstack_t: .quad altstack, 0, 65536
inbuf: .quad 0
outbuf: .quad 0
outlen: .quad 0
ncases: .quad 0
currec: .quad 0
curout: .quad 0
idx: .quad 0
saved_rsp: .quad 0
tmp_rsp: .quad 0
tmp_r15: .quad 0
.bss
.align 16
altstack: .skip 65536
`;

let runnerPath: string | null | undefined;

function buildRunner(): string | null {
  if (runnerPath !== undefined) return runnerPath;
  const hash = createHash("sha1").update(RUNNER_S).digest("hex").slice(0, 16);
  const dir = join(tmpdir(), "vmm86-difftest64");
  const exe = join(dir, `runner-${hash}`);
  try {
    if (!existsSync(exe)) {
      mkdirSync(dir, { recursive: true });
      const tmp = join(dir, `build-${process.pid}`);
      writeFileSync(`${tmp}.s`, RUNNER_S);
      execFileSync("as", ["--64", "-o", `${tmp}.o`, `${tmp}.s`]);
      execFileSync("ld", ["-m", "elf_x86_64", "-static", "-o", `${tmp}.exe`, `${tmp}.o`]);
      renameSync(`${tmp}.exe`, exe);
    }
    runnerPath = exe;
  } catch {
    runnerPath = null;
  }
  return runnerPath;
}

/** One case's machine state: 16 registers and RFLAGS as BigInts, the code, the data image. */
export interface State64 {
  regs: bigint[];
  rflags: bigint;
  data: Uint8Array;
}
export interface Case64Input extends State64 { code: Uint8Array; }
export interface Case64Output extends State64 { signal: number; }

/** Run a batch natively; null when this host cannot build or run the runner. */
export function runNative64(cases: Case64Input[]): Case64Output[] | null {
  const exe = buildRunner();
  if (exe === null) return null;
  const input = Buffer.alloc(8 + cases.length * IN_REC);
  input.writeUInt32LE(0x4e495444, 0);
  input.writeUInt32LE(cases.length, 4);
  cases.forEach((c, k) => {
    const o = 8 + k * IN_REC;
    c.regs.forEach((v, r) => input.writeBigUInt64LE(v, o + r * 8));
    input.writeBigUInt64LE(c.rflags, o + 128);
    input.set(c.code, o + 256);
    input.set(c.data, o + 256 + CODE_MAX);
  });
  const r = spawnSync(exe, [], { input, maxBuffer: 256 << 20, timeout: 60_000 });
  if (r.status !== 0 || r.stdout.length !== 8 + cases.length * OUT_REC) return null;
  const out = r.stdout;
  return cases.map((_, k) => {
    const o = 8 + k * OUT_REC;
    return {
      regs: Array.from({ length: 16 }, (_, j) => out.readBigUInt64LE(o + j * 8)),
      rflags: out.readBigUInt64LE(o + 128),
      signal: Number(out.readBigUInt64LE(o + 136)),
      data: new Uint8Array(out.subarray(o + 256, o + 256 + DATA_SIZE)),
    };
  });
}

export function native64Available(): boolean {
  return buildRunner() !== null;
}
