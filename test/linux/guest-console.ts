// Drives a guest's serial console from a test, like `expect`: run the machine until the
// output contains a string, then type a line. Input is injected only at slice boundaries of
// the machine's own run loop, so a session is deterministic in virtual time.

import { cachedUnpacker } from "../../src/cli/unpack-cache.js";
import { readFileSync } from "node:fs";
import { Pc } from "../../src/hw/pc/pc.js";
import { applyEntryState, ramWriter } from "../../src/hw/pc/boot-entry.js";
import { loadLinux, loadLinux64, pcE820Map } from "../../src/boot/index.js";
import { Monitor } from "../../src/vmm/monitor.js";
import { parseCpuSpec } from "../../src/hw/cpu/models.js";
import { restorePc, savePc, type GuestState } from "../../src/hw/pc/pc-state.js";

/** A console saved mid-session: the guest's state, what it had printed, and when it last did. */
export interface SavedConsole {
  state: GuestState;
  output: string;
  lastOutputNs: number;
}

export interface LinuxBoot {
  bzImage: string;
  initramfs: string;
  cmdline: string;
  direct: boolean;
  ramBytes?: number;
  /** Run under the monitor (default: the bare machine). */
  mode?: "bare" | "trap" | "bt";
  /** A `--cpu` value (default `standard`). */
  cpu?: string;
  /** An x86-64 kernel, loaded with the 64-bit boot protocol (`direct`: the unpacked kernel's startup_64). */
  amd64?: boolean;
  /** Continue this saved console (GuestConsole.save) instead of booting (docs/snapshot.md). */
  from?: SavedConsole;
}

export class GuestConsole {
  readonly pc: Pc | Monitor;
  /** Everything the guest wrote to COM1. */
  output = "";
  /** Guest time (ns) of the last byte the guest wrote: typing is scheduled relative to it. */
  private lastOutputNs = 0;
  private awaiting: string | null = null;
  private found = false;
  ended: string | null = null;

  constructor(boot: LinuxBoot) {
    const ram = boot.ramBytes ?? 128 << 20;
    const opts = {
      ramBytes: ram, acpi: true, model: parseCpuSpec(boot.cpu ?? "standard"),
      serialOut: (b: number) => {
        this.output += String.fromCharCode(b);
        this.lastOutputNs = this.guestNs();
        // Stop the run right after the awaited text, at the same guest instruction in
        // every mode, so what is typed next is scheduled from there.
        if (this.awaiting !== null && this.output.endsWith(this.awaiting)) { this.found = true; this.pc.cpu.yieldSlice(); }
      },
    };
    const mode = boot.mode ?? "bare";
    const mon = mode === "bare" ? null : new Monitor({ ...opts, mode });
    this.pc = mon ?? new Pc(opts);
    if (boot.from !== undefined) {
      this.output = boot.from.output;
      this.lastOutputNs = boot.from.lastOutputNs;
      const state = structuredClone(boot.from.state);
      if (mon !== null) mon.restoreFrom(state);
      else restorePc(this.pc as Pc, state);
      return;
    }
    const target = this.pc.bootTarget;
    const common = { initrd: readFileSync(boot.initramfs), cmdline: boot.cmdline, e820: pcE820Map(ram), unpack: cachedUnpacker() };
    const entry = boot.amd64
      ? loadLinux64(ramWriter(target), readFileSync(boot.bzImage), { ...common, entry: boot.direct ? "direct" : "bzimage64" })
      : loadLinux(ramWriter(target), readFileSync(boot.bzImage), { ...common, direct: boot.direct });
    applyEntryState(target, entry);
    mon?.start();
  }

  /**
   * Run until the output after position `from` contains `text`; returns the index just past
   * it. Fails if the guest stops, or after `maxInstructions` more instructions.
   */
  expect(text: string, from: number, maxInstructions = 4e9): number {
    const limit = this.pc.cpu.instructions + maxInstructions;
    for (;;) {
      const k = this.output.indexOf(text, from);
      if (k >= 0) return k + text.length;
      if (this.ended !== null) throw new Error(`guest ended (${this.ended}) before printing '${text}'`);
      if (this.pc.cpu.instructions >= limit) throw new Error(`no '${text}' within ${maxInstructions} instructions`);
      this.awaiting = text;
      this.found = false;
      const end = this.pc.run({
        deadline: Date.now() + 600_000,
        maxInstructions: Math.min(limit, this.pc.cpu.instructions + 2_000_000),
        until: () => this.found,
      });
      this.awaiting = null;
      if (end.kind === "idle") {
        throw new Error(`guest idle, waiting for input, before printing '${text}'`);
      } else if (end.kind !== "timeout") {
        this.ended = end.kind === "poweroff" ? `powered off, status ${end.status}` : end.kind;
      }
    }
  }

  /**
   * Type `line` and a newline, 1 ms of guest time after the guest's last output: the input
   * arrives at the same guest instruction in every mode (the logs can be compared).
   */
  type(line: string): void {
    const bytes = Uint8Array.from([...(line + "\n")].map((ch) => ch.charCodeAt(0)));
    const platform = this.pc instanceof Monitor ? this.pc.platform : this.pc.platform;
    platform.input.schedule(bytes, this.lastOutputNs + 1_000_000);
  }

  /**
   * A shell command: type `cmd` once the shell printed `prompt` (ending at `from`), wait for its
   * echo and the next prompt. Returns what the command printed and where that prompt ends.
   */
  command(cmd: string, from: number, prompt: string, maxInstructions = 2e8): { out: string; at: number } {
    this.type(cmd);
    const start = this.expect(cmd + "\r\n", from, 2e8);
    const at = this.expect(prompt, start, maxInstructions);
    return { out: this.output.slice(start, at - prompt.length), at };
  }

  /** The session so far, to be continued by a console built with `from` (any mode). */
  save(): SavedConsole {
    const pc = this.pc;
    let state: GuestState;
    if (pc instanceof Monitor) {
      pc.requestCapture();
      while (pc.captured === null) {
        const end = pc.run({ deadline: Date.now() + 60_000, until: () => pc.captured !== null });
        if (end.kind !== "timeout") throw new Error(`guest ended (${end.kind}) before its state was captured`);
      }
      state = pc.captured;
    } else {
      state = savePc(pc);
    }
    return { state, output: this.output, lastOutputNs: this.lastOutputNs };
  }

  private guestNs(): number {
    return this.pc instanceof Monitor ? this.pc.guestCycles * 10 : this.pc.cpu.cycles * 10;
  }

  /** Run until the guest stops (power-off, halt, triple fault); returns how. */
  runToEnd(maxInstructions = 1e9): string {
    if (this.ended === null) {
      try { this.expect("\u0000never\u0000", this.output.length, maxInstructions); } catch { /* ended or limit */ }
    }
    return this.ended ?? "still running";
  }
}
