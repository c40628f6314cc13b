// Difftest: run cases on the host CPU. One small static i386 Linux program (the runner,
// assembled once per source hash with `as --32` / `ld -m elf_i386` and cached in the temp
// directory) reads a batch of case records on stdin, and for each: copies the code to
// CODE_VA and the data image to its VA, loads the eight registers (POPAD) and EFLAGS (POPFD),
// jumps to the code, and on return through [RET_SLOT] stores registers, EFLAGS and the data
// image into an output record. Faults arrive as signals (SIGILL/TRAP/BUS/FPE/SEGV) on an
// alternate stack; the handler records trapno, EIP and registers from the signal context and
// carries on with the next case. The output goes back on stdout. See layout.ts for records.

import { spawnSync, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CODE_MAX, CODE_VA, DATA_IN, DATA_SIZE, DATA_VA, IN_REC, LOW_VA, OUT_REC, RET_SLOT } from "./layout.js";

const SIGNALS = [4, 5, 7, 8, 11]; // SIGILL SIGTRAP SIGBUS SIGFPE SIGSEGV
const SA_FLAGS = 0x4 | 0x0800_0000 | 0x4000_0000; // SA_SIGINFO | SA_ONSTACK | SA_NODEFER

const RUNNER_S = `
.set CODE_VA, ${CODE_VA}
.set DATA_VA, ${DATA_VA}
.set LOW_VA, ${LOW_VA}
.set RET_SLOT, ${RET_SLOT}
.set IN_REC, ${IN_REC}
.set OUT_REC, ${OUT_REC}
.globl _start
.text
# mmap2(ebx=addr, ecx=len, edx=prot, esi=flags, edi=-1, ebp=0)
.macro MMAP addr, len, prot, flags
  mov $192, %eax
  mov $\\addr, %ebx
  mov $\\len, %ecx
  mov $\\prot, %edx
  mov $\\flags, %esi
  mov $-1, %edi
  xor %ebp, %ebp
  int $0x80
.endm
_start:
  MMAP CODE_VA, 0x1000, 7, 0x32
  cmp $CODE_VA, %eax
  jne fail
  MMAP DATA_VA, 0x10000, 3, 0x32
  cmp $DATA_VA, %eax
  jne fail
  MMAP LOW_VA, 0x2000, 3, 0x32
  cmp $LOW_VA, %eax
  jne 1f
  movl $1, low_ok
1:
  MMAP 0, 0x4000000, 3, 0x22
  cmp $-4096, %eax
  jae fail
  mov %eax, inbuf
  mov %eax, %esi
2:
  mov $3, %eax
  xor %ebx, %ebx
  mov %esi, %ecx
  mov $0x100000, %edx
  int $0x80
  test %eax, %eax
  jz 3f
  js fail
  add %eax, %esi
  jmp 2b
3:
  mov inbuf, %eax
  mov 4(%eax), %ecx
  mov %ecx, ncases
  imul $OUT_REC, %ecx
  add $8, %ecx
  mov %ecx, outlen
  mov $192, %eax
  xor %ebx, %ebx
  mov $3, %edx
  mov $0x22, %esi
  mov $-1, %edi
  xor %ebp, %ebp
  int $0x80
  cmp $-4096, %eax
  jae fail
  mov %eax, outbuf
  movl $0x554f5444, (%eax)
  mov low_ok, %ecx
  mov %ecx, 4(%eax)
  movl $case_end, RET_SLOT
  mov $186, %eax
  mov $altstack_t, %ebx
  xor %ecx, %ecx
  int $0x80
${SIGNALS.map((s) => `  mov $174, %eax\n  mov $${s}, %ebx\n  mov $sigact, %ecx\n  xor %edx, %edx\n  mov $8, %esi\n  int $0x80\n  test %eax, %eax\n  jnz fail`).join("\n")}
  mov inbuf, %eax
  add $8, %eax
  mov %eax, currec
  mov outbuf, %eax
  add $8, %eax
  mov %eax, curout
  movl $0, idx
case_loop:
  mov idx, %eax
  cmp ncases, %eax
  jae done
  cld
  mov currec, %esi
  add $64, %esi
  mov $CODE_VA, %edi
  mov $${CODE_MAX / 4}, %ecx
  rep movsl
  mov currec, %ebx
  mov (%ebx), %edi
  lea ${DATA_IN}(%ebx), %esi
  mov $${DATA_SIZE / 4}, %ecx
  rep movsl
  mov curout, %eax
  add $44, %eax
  mov %eax, outflagsend
  mov %esp, saved_esp
  mov currec, %esp
  add $8, %esp
  popal
  popfl
  mov (%esp), %esp
  jmp CODE_VA
case_end:
  mov %esp, tmp_esp
  mov outflagsend, %esp
  pushfl
  pushal
  mov curout, %ebx
  mov tmp_esp, %eax
  mov %eax, 44(%ebx)
  movl $0, (%ebx)
  movl $0, 4(%ebx)
finish:
  mov saved_esp, %esp
  pushl $0x202
  popfl
  fninit
  mov curout, %ebx
  mov currec, %esi
  mov (%esi), %esi
  lea 64(%ebx), %edi
  mov $${DATA_SIZE / 4}, %ecx
  rep movsl
  addl $IN_REC, currec
  addl $OUT_REC, curout
  incl idx
  jmp case_loop
handler:
  cld
  mov 12(%esp), %esi
  add $20, %esi
  mov curout, %ebx
  mov 48(%esi), %eax
  or $0x100, %eax
  mov 4(%esp), %ecx
  shl $16, %ecx
  or %ecx, %eax
  mov %eax, (%ebx)
  mov 56(%esi), %eax
  mov %eax, 4(%ebx)
  mov 64(%esi), %eax
  mov %eax, 40(%ebx)
  mov 28(%esi), %eax
  mov %eax, 44(%ebx)
  add $16, %esi
  lea 8(%ebx), %edi
  mov $8, %ecx
  rep movsl
  jmp finish
done:
  mov outbuf, %esi
  mov outlen, %edi
4:
  test %edi, %edi
  jz 5f
  mov $4, %eax
  mov $1, %ebx
  mov %esi, %ecx
  mov %edi, %edx
  int $0x80
  test %eax, %eax
  jle fail
  add %eax, %esi
  sub %eax, %edi
  jmp 4b
5:
  mov $1, %eax
  xor %ebx, %ebx
  int $0x80
fail:
  mov $1, %eax
  mov $99, %ebx
  int $0x80
.data
.align 4
sigact: .long handler, ${SA_FLAGS}, 0, 0, 0
altstack_t: .long altstack, 0, 65536
low_ok: .long 0
.bss
.align 16
inbuf: .skip 4
outbuf: .skip 4
outlen: .skip 4
ncases: .skip 4
idx: .skip 4
currec: .skip 4
curout: .skip 4
outflagsend: .skip 4
saved_esp: .skip 4
tmp_esp: .skip 4
altstack: .skip 65536
`;

let runnerPath: string | null | undefined;

/** Build (or find the cached) runner; null if as/ld are missing or fail. */
function buildRunner(): string | null {
  if (runnerPath !== undefined) return runnerPath;
  const hash = createHash("sha256").update(RUNNER_S).digest("hex").slice(0, 16);
  const dir = join(tmpdir(), "vmm86-difftest");
  const exe = join(dir, "runner-" + hash);
  try {
    if (!existsSync(exe)) {
      mkdirSync(dir, { recursive: true });
      const tmp = join(dir, `build-${process.pid}-${hash}`);
      writeFileSync(tmp + ".s", RUNNER_S);
      execFileSync("as", ["--32", "-o", tmp + ".o", tmp + ".s"], { stdio: "pipe" });
      execFileSync("ld", ["-m", "elf_i386", "-static", "-o", tmp, tmp + ".o"], { stdio: "pipe" });
      renameSync(tmp, exe);
    }
    runnerPath = exe;
  } catch {
    runnerPath = null;
  }
  return runnerPath;
}

/** One case as the runner sees it. */
export interface NativeInput {
  dataVa: number;
  /** EAX..EDI in model order. */
  regs: ArrayLike<number>;
  eflags: number;
  /** Code bytes including the native epilogue (see encodeEpilogue). */
  code: Uint8Array;
  data: Uint8Array;
}

export interface NativeOutput {
  /** -1 when the code ran to its end, else the exception vector (trapno). */
  vector: number;
  /** EIP at a fault (undefined when the case ran to the end). */
  eip: number;
  regs: Int32Array;
  eflags: number;
  data: Uint8Array;
}

export interface NativeBatch {
  /** Whether the low (16-bit addressable) data page could be mapped. */
  lowOk: boolean;
  outputs: NativeOutput[];
}

/** The bytes that end a case natively: jmp dword [RET_SLOT]. */
export function nativeEpilogue(): number[] {
  return [0xff, 0x25, RET_SLOT & 0xff, (RET_SLOT >>> 8) & 0xff, (RET_SLOT >>> 16) & 0xff, RET_SLOT >>> 24];
}

/** Run a batch natively; throws if the runner cannot run. */
export function runNative(cases: NativeInput[]): NativeBatch {
  const exe = buildRunner();
  if (exe === null) throw new Error("difftest: cannot build the i386 runner (as --32 / ld -m elf_i386)");
  const input = Buffer.alloc(8 + cases.length * IN_REC);
  input.writeUInt32LE(0x4e495444, 0);
  input.writeUInt32LE(cases.length, 4);
  cases.forEach((c, k) => {
    const o = 8 + k * IN_REC;
    input.writeUInt32LE(c.dataVa >>> 0, o);
    input.writeUInt32LE(c.code.length, o + 4);
    const order = [7, 6, 5, 4, 3, 2, 1, 0];
    order.forEach((r, j) => input.writeUInt32LE(c.regs[r] >>> 0, o + 8 + 4 * j));
    input.writeUInt32LE(c.eflags >>> 0, o + 40);
    input.writeUInt32LE(c.regs[4] >>> 0, o + 44);
    if (c.code.length > CODE_MAX) throw new Error("difftest: case code too long");
    input.set(c.code, o + 64);
    input.set(c.data.subarray(0, DATA_SIZE), o + DATA_IN);
  });
  const r = spawnSync(exe, [], { input, maxBuffer: 256 << 20, timeout: 60_000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`difftest: native runner exited with ${r.status ?? r.signal}`);
  const out = r.stdout;
  if (out.length !== 8 + cases.length * OUT_REC || out.readUInt32LE(0) !== 0x554f5444) {
    throw new Error("difftest: short or malformed native output");
  }
  const outputs: NativeOutput[] = [];
  for (let k = 0; k < cases.length; k++) {
    const o = 8 + k * OUT_REC;
    const status = out.readUInt32LE(o);
    const regs = new Int32Array(8);
    const order = [7, 6, 5, 4, 3, 2, 1, 0];
    order.forEach((reg, j) => (regs[reg] = out.readInt32LE(o + 8 + 4 * j)));
    regs[4] = out.readInt32LE(o + 44);
    outputs.push({
      vector: status === 0 ? -1 : status & 0xff,
      eip: out.readUInt32LE(o + 4),
      regs,
      eflags: out.readUInt32LE(o + 40),
      data: new Uint8Array(out.subarray(o + 64, o + 64 + DATA_SIZE)),
    });
  }
  return { lowOk: out.readUInt32LE(4) === 1, outputs };
}

let available: boolean | undefined;

/** True when i386 code can be assembled and run here (checked once, with a tiny batch). */
export function nativeAvailable(): boolean {
  if (available !== undefined) return available;
  try {
    const code = new Uint8Array([0x40, ...nativeEpilogue()]); // inc eax
    const b = runNative([{ dataVa: DATA_VA, regs: [41, 0, 0, 0, DATA_VA + 0x100, 0, 0, 0], eflags: 0x202, code, data: new Uint8Array(DATA_SIZE) }]);
    available = b.outputs[0].vector === -1 && b.outputs[0].regs[0] === 42;
  } catch {
    available = false;
  }
  return available;
}
