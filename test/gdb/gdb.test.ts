// Real gdb (Debian's, installed by scripts/setup-tools.sh) against `vmm86 run demo --gdb`, in
// batch mode, under every mode: it breaks at a function, reads registers and a variable,
// single-steps, sets a watchpoint that fires and continues to the end. The guest's view must
// be the same in each: under bt the guest's EIP (never a translation-cache address), under
// trap the guest's CS RPL (0, not the machine's 1), under vtx (EPT) and svm (shadow paging)
// the guest's state from the VMCS or VMCB, not the host's. Also gdb disconnecting mid-session and a
// port in use (docs/gdb.md).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer, connect } from "node:net";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const BIN = join(ROOT, "bin", "vmm86.js");
const ELF = join(ROOT, "guests", "demo", "demo.elf");

interface Run { child: ChildProcess; port: Promise<number>; done: Promise<{ code: number | null; stdout: string; stderr: string }> }

/** Start `vmm86 run demo --gdb 0 --wait-gdb …`; the port comes from its waiting line. */
function startVmm(extra: string[]): Run {
  const child = spawn(process.execPath, [BIN, "run", "demo", "--gdb", "0", "--wait-gdb", "--timeout", "120", ...extra], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "", stderr = "";
  let gotPort: (p: number) => void = () => {};
  const port = new Promise<number>((r) => { gotPort = r; });
  child.stdout!.on("data", (d: Buffer) => { stdout += d.toString("latin1"); });
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString("latin1");
    const m = /waiting for gdb on port (\d+)/.exec(stderr);
    if (m !== null) gotPort(Number(m[1]));
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
  return { child, port, done };
}

function gdbBatch(port: number, commands: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), "vmm86-gdb-"));
  const file = join(dir, "cmds.gdb");
  writeFileSync(file, ["set pagination off", "set confirm off", `file ${ELF}`, `target remote 127.0.0.1:${port}`, ...commands].join("\n") + "\n");
  const r = spawnSync("gdb", ["-nx", "-batch", "-x", file], { encoding: "utf8", timeout: 120_000 });
  assert.equal(r.error, undefined, `gdb could not run: ${String(r.error)}`);
  return r.stdout + r.stderr;
}

const SESSION = [
  "info registers eip",
  "break schedule",
  "continue",
  "info registers eip cs ss",
  "print (unsigned)ticks",
  "print/x $esp",
  "stepi",
  "info registers eip",
  "watch *(unsigned*)&switches",
  "continue",
  "print (unsigned)switches",
  "delete",
  "monitor mode",
  "continue",
];

for (const mode of [["--mode", "bare"], ["--mode", "bt"], ["--mode", "trap", "--cpu", "strict"],
  ["--mode", "vtx", "--cpu", "nehalem"], ["--mode", "svm", "--cpu", "athlon64-revf"]]) {
  test(`gdb drives the demo under ${mode.slice(1).join(" ")}`, { timeout: 240_000 }, async () => {
    const run = startVmm(mode);
    const out = gdbBatch(await run.port, SESSION);
    const res = await run.done;
    // Stopped before the first instruction, at the multiboot entry.
    assert.match(out, /eip\s+0x10000c\s+0x10000c <_start>/, out);
    // The breakpoint fires at the guest's address of schedule (under bt: not a TC address).
    assert.match(out, /Breakpoint 1, 0x001002f0 in schedule \(\)/, out);
    assert.match(out, /eip\s+0x1002f0\s+0x1002f0 <schedule>/, out);
    // The guest's own selectors: kernel CS 0x08 and SS 0x10 with RPL 0 (never the ring-1 ones).
    assert.match(out, /cs\s+0x8\s+8/, out);
    assert.match(out, /ss\s+0x10\s+16/, out);
    // The first schedule() comes from the first timer tick.
    assert.match(out, /\$1 = 1\n/, out);
    // The guest's kernel stack (kernel_stack .. kernel_stack_top).
    const esp = Number(/\$2 = (0x[0-9a-f]+)/.exec(out)?.[1]);
    assert.ok(esp > 0x104000 && esp <= 0x108000, `esp ${esp.toString(16)}`);
    // One instruction on: schedule's second byte (push ebp is one byte).
    assert.match(out, /eip\s+0x1002f1\s+0x1002f1 <schedule\+1>/, out);
    // The watchpoint fires on the write of switches, in schedule.
    assert.match(out, /Hardware watchpoint 2: \*\(unsigned\*\)&switches\n\nOld value = 0\nNew value = 1\n0x[0-9a-f]+ in schedule \(\)/, out);
    assert.match(out, new RegExp(`mode ${mode[1]}`), out);
    // To the end: the guest's exit status reaches gdb, and the run is the usual PASS.
    assert.match(out, /exited with code 041/, out);
    assert.equal(res.code, 33, res.stderr);
    assert.match(res.stdout, /demo: PASS, powering off/);
  });
}

test("Ctrl-C stops the guest; gdb disconnecting mid-session: a message, and the guest runs to its end", { timeout: 120_000 }, async () => {
  const run = startVmm(["--mode", "bt"]);
  const port = await run.port;
  const sock = connect(port, "127.0.0.1");
  let got = "";
  sock.setEncoding("latin1");
  sock.on("data", (d: string) => { got += d; });
  const packet = (body: string): string => {
    let sum = 0;
    for (const c of body) sum = (sum + c.charCodeAt(0)) & 0xff;
    return `$${body}#${sum.toString(16).padStart(2, "0")}`;
  };
  await new Promise<void>((r) => sock.on("connect", () => r()));
  const waitFor = async (re: RegExp): Promise<void> => {
    for (let k = 0; k < 600 && !re.test(got); k++) await new Promise((r) => setTimeout(r, 50));
    assert.match(got, re);
  };
  // Run, and interrupt with Ctrl-C (0x03): a stop with SIGINT. The interrupt goes in the same
  // write as the continue: the demo under bt runs to its end in about a quarter of a second, so
  // a Ctrl-C sent after a wait of the host's choosing may find the guest already powered off.
  sock.write(packet("c") + "\x03");
  await waitFor(/\$T02/);
  // A breakpoint at schedule, continue, and go away once it is hit.
  sock.write(packet("Z0,1002f0,1") + packet("c"));
  await waitFor(/\$T05swbreak/);
  got = "";
  sock.write(packet("g"));
  await waitFor(/\$[0-9a-f]{352}#/);
  assert.equal(got.slice(got.indexOf("$") + 1 + 64, got.indexOf("$") + 1 + 72), "f0021000", "EIP is schedule's guest address");
  sock.destroy();
  const res = await run.done;
  assert.match(res.stderr, /gdb disconnected; the guest runs on without it/);
  assert.equal(res.code, 33, res.stderr);
  assert.match(res.stdout, /demo: PASS, powering off/);
});

test("--gdb on a port in use: E_GDB_PORT, exit 17, no stack trace", { timeout: 60_000 }, async () => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  try {
    const r = spawnSync(process.execPath, [BIN, "run", "demo", "--gdb", String(port)], { encoding: "utf8", timeout: 60_000 });
    assert.equal(r.status, 17, r.stderr);
    assert.match(r.stderr, new RegExp(`vmm86: E_GDB_PORT: --gdb: port ${port} on 127.0.0.1 is in use`));
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  } finally {
    server.close();
  }
});
