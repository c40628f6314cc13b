// gdb's `monitor CMD` for vmm86 (docs/gdb.md): the counters --stats prints, the mode, and
// under a monitor the guest's mapping of an address and the machine's (the shadow page
// tables' under trap and bt; the guest-physical address's under vtx and svm).

import type { Pc } from "../hw/pc/pc.js";
import type { Monitor } from "../vmm/monitor.js";
import type { AssistedMonitor } from "../vmm/assist/assisted-monitor.js";
import { formatCounters } from "../vmm/stats/counters.js";
import type { Translation } from "../hw/mmu/paging.js";
import { peekLinear } from "../debug/peek.js";
import { SegReg } from "../hw/cpu/segment.js";

export const GDB_HELP =
  "stats         the vmm86 counters (what --stats prints)\n" +
  "mode          the run's mode and CPU, and the guest's processor mode\n" +
  "shadow ADDR   trap/bt: the guest's mapping of linear ADDR and the shadow page tables' one;\n" +
  "              vtx/svm: the guest's mapping and where its guest-physical address is in the machine\n";

/** The host's `monitor` commands for this run. */
export function gdbCommands(pc: Pc | Monitor | AssistedMonitor, mon: Monitor | AssistedMonitor | null, mode: string, cpuSpec: string): (cmd: string) => string | null {
  const assisted = mode === "vtx" || mode === "svm";
  return (cmd) => {
    const [verb, arg] = cmd.split(/\s+/);
    switch (verb) {
      case "help": return GDB_HELP;
      case "stats": {
        const guest = mon !== null ? mon.vcpu : pc.cpu;
        let s = `guest ${mon !== null ? mon.guestInstructions : guest.instructions} instructions, ${mon !== null ? mon.guestCycles : guest.cycles} cycles\n`;
        if (mon !== null) s += `machine ${mon.cpu.instructions} instructions\nmonitor counters\n` + formatCounters(mon.stats());
        const j = pc.cpu.jit?.stats;
        s += j !== undefined ? `jit: ${j.compiled} blocks compiled, ${j.instructions} instructions in blocks\n` : "jit off\n";
        return s;
      }
      case "mode": {
        const c = mon !== null ? mon.vcpu : pc.cpu;
        const pm = c.lma ? (c.mode64 ? "64-bit mode" : "compatibility mode") : c.v86 ? "virtual-8086 mode" : c.protectedMode ? "protected mode" : "real mode";
        const paging = !c.paging ? "paging off" : c.lma ? "4-level paging" : (c.cr4 & 0x20) !== 0 ? "PAE paging" : "32-bit paging";
        const how = mon === null ? "" : assisted ? ` (guest in ${mode === "vtx" ? "VMX non-root operation" : "SVM guest mode"})` : ` (guest kernel at machine ring 1${mode === "bt" ? ", translated" : ""})`;
        return `mode ${mode}${how}, cpu ${cpuSpec}\n` +
          `guest: ${pm}, CPL ${c.cpl}, ${paging}, CS:EIP ${hex4(c.segs[SegReg.CS].selector)}:${hex8(c.eip)}\n`;
      }
      case "shadow": {
        if (mon === null) return "shadow: no shadow page tables in --mode bare (the guest's own tables are the machine's)\n";
        const lin = arg === undefined ? NaN : Number(arg.startsWith("0x") ? arg : "0x" + arg);
        if (!Number.isFinite(lin)) return "shadow: give a linear address (monitor shadow 0xc0100000)\n";
        const g = peekLinear(mon.vcpu, lin >>> 0);
        if (assisted) {
          // The guest-physical address is a machine-physical one: the monitor keeps guest RAM
          // at the machine's first bytes (EPT, nested or shadow tables all map it so).
          return `linear ${hex8(lin)}\n` +
            `  guest page tables:  ${g === null ? "not mapped" : `guest-physical ${hex8(g.pa)} ${rights(g.t)}`}\n` +
            `  machine:            ${g === null ? "-" : `machine-physical ${hex8(g.pa)} (guest RAM is the machine's first ${mon.vcpu.mem.ramSize >>> 20} MiB)`}\n`;
        }
        const s = peekLinear(mon.cpu, lin >>> 0);
        return `linear ${hex8(lin)}\n` +
          `  guest page tables:  ${g === null ? "not mapped" : `guest-physical ${hex8(g.pa)} ${rights(g.t)}`}\n` +
          `  shadow page tables: ${s === null ? "not filled (a hidden fault fills it on first use)" : `machine-physical ${hex8(s.pa)} ${rights(s.t)}`}\n`;
      }
      default: return null;
    }
  };
}

function rights(t: Translation): string {
  return `(${t.writable ? "writable" : "read-only"}, ${t.user ? "user" : "supervisor"}${t.noExec ? ", no-execute" : ""})`;
}
function hex8(v: number): string { return "0x" + (v >>> 0).toString(16).padStart(8, "0"); }
function hex4(v: number): string { return v.toString(16).padStart(4, "0"); }
