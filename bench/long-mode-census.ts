// What the long-mode monitor's translator would meet in Debian's amd64 kernel
// (docs/long-mode-monitor.md, "What Linux costs each choice"): Debian amd64 booted on the
// bare machine (interpreter, no JIT) to its shell, `uname -m`, power-off; every guest
// instruction at CPL 0 is classified the way translator64.ts treats it, and transitions
// between guest kernel and user mode are counted (each is a set switch under two-tables).
//
//   npm run build && node dist/bench/long-mode-census.js [--cpu athlon64-reve] [--max N]
//
// --max N stops after N guest instructions (the table then covers that much of the boot).
//
// Needs `vmm86 fetch linux64`. Prints a table; host time is not measured.

import { readFileSync } from "node:fs";
import { Pc } from "../src/hw/pc/pc.js";
import { applyEntryState, ramWriter } from "../src/hw/pc/boot-entry.js";
import { loadLinux64, pcE820Map } from "../src/boot/index.js";
import { parseCpuSpec } from "../src/hw/cpu/models.js";
import { SegReg } from "../src/hw/cpu/segment.js";
import { NS_PER_CYCLE } from "../src/hw/dev/device.js";
import { cachedLinux, LINUX_AMD64, READY_MARKER } from "../src/guests/fetch-linux.js";
import { treatment64, type Treatment } from "../src/vmm/bt/translator64.js";

const cpuArg = process.argv.indexOf("--cpu");
const cpu = cpuArg > 0 ? process.argv[cpuArg + 1] : "athlon64-reve";
const maxArg = process.argv.indexOf("--max");
const maxInstructions = maxArg > 0 ? Number(process.argv[maxArg + 1]) : Infinity;
const img = cachedLinux(undefined, LINUX_AMD64);
if (img === null) { process.stderr.write("run `vmm86 fetch linux64` first\n"); process.exit(2); }
const ram = 128 << 20;
let out = "";
const pc = new Pc({ ramBytes: ram, acpi: true, model: parseCpuSpec(cpu), jit: false, serialOut: (b) => { out += String.fromCharCode(b); } });
const entry = loadLinux64(ramWriter(pc.bootTarget), readFileSync(img.bzImage), {
  initrd: readFileSync(img.initramfs), cmdline: img.cmdline, e820: pcE820Map(ram), entry: "direct",
});
applyEntryState(pc.bootTarget, entry);

const kinds = new Map<Treatment | "gs", number>();
let kernel = 0, user = 0, toKernel = 0, toUser = 0, lastCpl = 0;
const c = pc.cpu;
c.tracer = (_cpu, ins) => {
  const cpl = c.cpl;
  if (cpl !== lastCpl) { if (cpl === 0) toKernel++; else toUser++; lastCpl = cpl; }
  if (cpl !== 0) { user++; return; }
  kernel++;
  if (!ins.code64) return;
  const t = treatment64(ins, false);
  kinds.set(t, (kinds.get(t) ?? 0) + 1);
  if (ins.segOverride === SegReg.GS && t !== "callout" && t !== "callout-end") kinds.set("gs", (kinds.get("gs") ?? 0) + 1);
};

let typed = false, typedAt = -1;
let stopped = "";
for (let slice = 0; slice < 100_000; slice++) {
  if (c.instructions >= maxInstructions) { stopped = ` (stopped after ${c.instructions.toLocaleString("en")} instructions)`; break; }
  const end = pc.run({ deadline: Date.now() + 60_000, maxInstructions: Math.min(maxInstructions, c.instructions + 5_000_000) });
  if (slice % 20 === 0) process.stderr.write(`${c.instructions} instructions\n`);
  // Type once the shell's prompt follows the ready line (kernel messages may come after it).
  if (!typed && out.includes(READY_MARKER) && out.indexOf(" # ", out.indexOf(READY_MARKER)) >= 0) {
    typed = true;
    typedAt = slice;
    pc.platform.input.schedule(Uint8Array.from([..."uname -m\npoweroff -f\n"].map((ch) => ch.charCodeAt(0))), c.cycles * NS_PER_CYCLE + 1_000_000);
  }
  // Waiting at the prompt with no timer armed ("idle") before the input is typed: go on.
  if (end.kind !== "timeout" && !(end.kind === "idle" && typed && slice === typedAt)) break;
}
process.stderr.write(`serial output, last 300 bytes:\n${out.slice(-300)}\n`);
const k = (t: Treatment | "gs"): number => kinds.get(t) ?? 0;
const row = (what: string, n: number): string => `| ${what} | ${n.toLocaleString("en")} |\n`;
process.stdout.write(`Debian amd64 (${img.release}) on ${cpu}, bare, to the shell, uname -m, poweroff${stopped}; ` +
  `${out.includes("x86_64") ? "uname printed x86_64" : "uname did not print"}\n\n`);
process.stdout.write("| guest instructions | count |\n|---|---|\n" +
  row("at CPL 0 (translated under bt)", kernel) + row("at CPL 3 (run directly)", user) +
  row("CPL 0, copied unchanged", k("copy")) + row("CPL 0, RIP-relative (re-pointed)", k("rip-relative")) +
  row("CPL 0, CALL rel32 (PUSH imm32)", k("call")) + row("CPL 0, JMP/Jcc rel", k("jmp") + k("jcc")) +
  row("CPL 0, callouts that go on", k("callout")) + row("CPL 0, callouts that end a trace", k("callout-end")) +
  row("CPL 0, GS memory operands (extra callouts under --protect segments)", k("gs")) +
  row("user → kernel transitions (set switches under two-tables)", toKernel) + row("kernel → user transitions", toUser));
