// The PC's state as plain data (issue 12, docs/snapshot.md): the guest-visible machine that
// a snapshot holds, the same whether it was taken on the bare PC or under a monitor, so a
// snapshot continues under any mode.
//
//   GuestState
//     model      the processor the guest sees (name and features)
//     cpu        architectural registers and execution state (cpu-state.ts)
//     memory     guest-physical RAM and ROMs (memory-state.ts)
//     platform   every ISA device, the A20 gate, the host serial line's guest-side timing
//     apic       the local APIC and the I/O APIC, on models that have them
//
// Virtual time is the CPU's retired instructions plus its halted cycles (DESIGN.md §4); the
// devices' timers are kept as absolute virtual times, so they line up again by themselves.

import { restoreCpu, saveCpu, type CpuState } from "../cpu/cpu-state.js";
import type { CpuFeatures, CpuModel } from "../cpu/models.js";
import { checkMemory, restoreMemory, saveMemory, type MemoryState } from "../mem/memory-state.js";
import type { DualPicState } from "../dev/pic/dual-pic.js";
import type { I8254State } from "../dev/pit/i8254.js";
import type { Uart16550State } from "../dev/uart/uart16550.js";
import type { Mc146818State } from "../dev/rtc/mc146818.js";
import type { I8042State } from "../dev/kbd/i8042.js";
import type { VgaTextState } from "../dev/vga/vga-text.js";
import type { Port61State } from "../dev/system/port61.js";
import type { Port80State } from "../dev/system/port80.js";
import type { Port92State } from "../dev/system/port92.js";
import type { PmBlockState } from "../dev/acpi/pm-block.js";
import type { LocalApicState } from "../dev/apic/local-apic.js";
import type { IoApicState } from "../dev/apic/io-apic.js";
import type { PacedInputState } from "./paced-input.js";
import type { Pc, PcPlatform } from "./pc.js";
import { nowNs } from "./clocked-run.js";

/** Bump when GuestState changes shape: older snapshots are then refused, not misread. */
export const GUEST_STATE_VERSION = 1;

export interface PlatformState {
  pic: DualPicState;
  pit: I8254State;
  com1: Uart16550State;
  com2: Uart16550State;
  rtc: Mc146818State;
  kbd: I8042State;
  vga: VgaTextState;
  port61: Port61State;
  port80: Port80State;
  port92: Port92State;
  pm: PmBlockState | null;
  a20: number;
  /** Scripted test input not yet delivered (scheduled-input.ts). */
  input: { at: number; bytes: number[] }[];
  /** The host serial line's guest-side timing (paced-input.ts). */
  line: PacedInputState;
  resetRequested: boolean;
}

export interface GuestState {
  version: number;
  model: { name: string; features: CpuFeatures };
  /** The platform has ACPI tables and the PM1 block (every guest but a --bios ROM). */
  acpi: boolean;
  cpu: CpuState;
  memory: MemoryState;
  platform: PlatformState;
  apic: { local: LocalApicState; io: IoApicState } | null;
}

export function savePlatform(p: PcPlatform): PlatformState {
  return {
    pic: p.pic.save(), pit: p.pit.save(), com1: p.com1.save(), com2: p.com2.save(), rtc: p.rtc.save(), kbd: p.kbd.save(),
    vga: p.vga.save(), port61: p.port61.save(), port80: p.port80.save(), port92: p.port92.save(),
    pm: p.pm?.save() ?? null, a20: p.a20.save(), input: p.input.save(), line: p.line.save(), resetRequested: p.resetRequested,
  };
}

/** Put device state back (the caller has checked that `s.pm` matches the platform's ACPI). */
export function restorePlatform(p: PcPlatform, s: PlatformState): void {
  p.pic.restore(s.pic); p.pit.restore(s.pit); p.com1.restore(s.com1); p.com2.restore(s.com2); p.rtc.restore(s.rtc);
  p.kbd.restore(s.kbd); p.vga.restore(s.vga); p.port61.restore(s.port61); p.port80.restore(s.port80);
  p.port92.restore(s.port92);
  if (s.pm !== null) p.pm?.restore(s.pm);
  p.a20.restore(s.a20); p.input.restore(s.input); p.line.restore(s.line);
  p.resetRequested = s.resetRequested;
}

/** The guest-visible model of `m`: its name and features. */
export function modelOf(m: CpuModel): GuestState["model"] {
  return { name: m.name, features: { ...m.features } };
}

/** Why a machine with this model, RAM and platform cannot take `s` (null: it can). */
export function incompatibility(s: GuestState, model: CpuModel, ramBytes: number, acpi: boolean, apic: boolean): string | null {
  if (s.model.name !== model.name) return `the snapshot's processor is ${s.model.name}, this machine's is ${model.name}`;
  const a = s.model.features as unknown as Record<string, boolean>, b = model.features as unknown as Record<string, boolean>;
  const diff = Object.keys({ ...a, ...b }).filter((k) => a[k] !== b[k]);
  if (diff.length) return `the snapshot's processor differs in features ${diff.join(", ")}`;
  if (s.acpi !== acpi) return s.acpi ? "the snapshot has ACPI tables and this machine does not" : "this machine has ACPI tables and the snapshot does not";
  if ((s.apic !== null) !== apic) return s.apic !== null ? "the snapshot has local and I/O APICs, which this machine does not model" : "this machine has APICs and the snapshot does not";
  return checkMemory(s.memory, ramBytes);
}

/**
 * The bare PC's whole state, between two instructions. The devices are first brought up to
 * the present (as the run loop does before every slice, so the guest cannot tell), which
 * makes the state canonical: the same guest point saves the same state under every mode.
 */
export function savePc(pc: Pc): GuestState {
  pc.platform.advance(nowNs(pc.cpu));
  return {
    version: GUEST_STATE_VERSION,
    model: modelOf(pc.cpu.model),
    acpi: pc.platform.pm !== null,
    cpu: saveCpu(pc.cpu),
    memory: saveMemory(pc.mem),
    platform: savePlatform(pc.platform),
    apic: pc.apic !== null && pc.ioApic !== null ? { local: pc.apic.save(), io: pc.ioApic.save() } : null,
  };
}

/**
 * Load `s` into a freshly built PC of the same model, RAM and platform (incompatibility()
 * returned null). Caches start empty.
 */
export function restorePc(pc: Pc, s: GuestState): void {
  restoreMemory(pc.mem, s.memory);
  restorePlatform(pc.platform, s.platform);
  if (s.apic !== null && pc.apic !== null && pc.ioApic !== null) {
    pc.apic.restore(s.apic.local);
    pc.ioApic.restore(s.apic.io);
    pc.relocateApic();
  }
  restoreCpu(pc.cpu, s.cpu);
}
