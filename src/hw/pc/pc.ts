// The PC: CPU, memory and the ISA platform of an AT-class machine, wired by I/O port and IRQ.
//
//   port        device                         IRQ
//   0x20–0x21   8259A master  } DualPic         —   (INTR → CPU)
//   0xA0–0xA1   8259A slave   }                 2   (cascade)
//   0x40–0x43   8254 PIT                        0
//   0x61        system control port B (PIT ch. 2 gate/OUT, speaker)
//   0x70–0x71   MC146818 RTC/CMOS               8
//   0x60, 0x64  i8042 keyboard controller       1
//   0x80        POST diagnostic port
//   0x92        system control port A (fast A20, reset)
//   0x3F8–0x3FF 16550A COM1                     4
//   0x2F8–0x2FF 16550A COM2                     3
//   0xE9, 0xF4  debugcon, isa-debug-exit (QEMU semantics)
//   0xB000–0xB00B ACPI PM1 event/control blocks and PM timer (with acpi: tables at 0xF0000)
//
// Memory: RAM below 640 KiB, the VGA/ROM hole 0xA0000–0xFFFFF, RAM from 1 MiB (machine.ts).

import { Machine } from "../machine.js";
import type { JitOptions } from "../cpu/jit/block-compiler.js";
import type { CpuModel } from "../cpu/models.js";
import type { IoBus } from "../io/io-bus.js";
import type { MmioRegion, PhysicalMemory } from "../mem/physical-memory.js";
import { LocalApic, APIC_BASE_DEFAULT } from "../dev/apic/local-apic.js";
import { IoApic, IOAPIC_BASE_DEFAULT } from "../dev/apic/io-apic.js";
import type { InterruptSource } from "../cpu/cpu.js";
import type { PortDevice, TimedDevice } from "../dev/device.js";
import { DualPic } from "../dev/pic/dual-pic.js";
import { I8254 } from "../dev/pit/i8254.js";
import { Uart16550 } from "../dev/uart/uart16550.js";
import { Port61 } from "../dev/system/port61.js";
import { Port80 } from "../dev/system/port80.js";
import { Port92 } from "../dev/system/port92.js";
import { A20Gate, A20_KBC, A20_PORT92 } from "../dev/system/a20-gate.js";
import { Mc146818 } from "../dev/rtc/mc146818.js";
import { I8042 } from "../dev/kbd/i8042.js";
import { VgaText } from "../dev/vga/vga-text.js";
import { PmBlock } from "../dev/acpi/pm-block.js";
import { ACPI_ROM_BASE, buildAcpiRom } from "./acpi-tables.js";
import { attachDebugPorts } from "./debug-ports.js";
import { clockedRun, nowNs, type RunEnd } from "./clocked-run.js";
import { ScheduledInput } from "./scheduled-input.js";
import { PacedInput } from "./paced-input.js";
import type { BootTarget } from "./boot-entry.js";

export interface PcOptions {
  ramBytes: number;
  /** The processor (default pentium2): see models.ts, parseCpuSpec. */
  model?: CpuModel;
  /** Compile hot guest code into blocks (docs/jit.md; default true). */
  jit?: boolean | JitOptions;
  /** Bytes the guest writes to COM1 (the console). */
  serialOut?: (byte: number) => void;
  /** Bytes written to the debugcon port 0xE9. */
  debugcon?: (byte: number) => void;
  /** Values written to the POST port 0x80. */
  post?: (value: number) => void;
  /**
   * Put ACPI tables in the BIOS area (0xF0000) so an OS can power the machine off. Off when
   * a ROM image is to be mapped there instead.
   */
  acpi?: boolean;
  /**
   * The platform has a local APIC and an I/O APIC (the bare PC on a model with an APIC): the
   * ACPI tables then include a MADT. The classic monitor's guest platform has 8259s only.
   */
  apics?: boolean;
}

/** I/O base of the ACPI PM1 event block (control at +4, timer at +8), as on a PIIX4. */
export const PM_BASE = 0xb000;

export interface PcRunOptions {
  deadline: number;
  maxInstructions?: number;
  realtime?: boolean;
  /**
   * Called between slices, to hand host input to the platform (`platform.line`); returns
   * true if it did, so the devices are looked at again at once.
   */
  poll?: () => boolean;
  /** End the run at the first slice boundary where this is true (see ClockedRunOptions). */
  until?: () => boolean;
}

/** What the platform needs from the processor side it is wired to. */
export interface PlatformHost {
  io: IoBus;
  mem: PhysicalMemory;
  /** Current virtual time in ns. */
  now(): number;
  /** The interrupt controller's INTR output. */
  setIntr(level: boolean): void;
  /** The A20 gate changed. */
  setA20(on: boolean): void;
  /** A device ends the run (ACPI S5, isa-debug-exit): exit status. */
  powerOff(status: number): void;
  /** A device register was written: its next event may have moved. */
  deviceWritten?(): void;
}

/**
 * The ISA platform of the PC: every device of the table above, wired to a processor side.
 * The bare PC wires it to the machine's CPU; the monitor owns one per guest as the guest's
 * virtual devices (DESIGN.md §3, "Interrupts and devices").
 */
export class PcPlatform {
  readonly pic = new DualPic();
  readonly pit: I8254;
  readonly com1: Uart16550;
  readonly com2: Uart16550;
  readonly a20: A20Gate;
  readonly rtc: Mc146818;
  readonly kbd: I8042;
  readonly vga = new VgaText();
  readonly port61: Port61;
  readonly port80: Port80;
  readonly port92: Port92;
  /** The ACPI PM1 block, when the platform has ACPI. */
  readonly pm: PmBlock | null = null;
  readonly timed: TimedDevice[];
  /** Scripted input for COM1 at chosen virtual times (tests; see scheduled-input.ts). */
  readonly input: ScheduledInput;
  /** The host's end of COM1's line: piped or typed bytes, paced (see paced-input.ts). */
  readonly line: PacedInput;
  /** Set when the guest asked for a reset (port 0x92, i8042 0xFE): the run ends. */
  resetRequested = false;

  constructor(private readonly host: PlatformHost, opts: PcOptions) {
    this.pic.onIntr = (level) => host.setIntr(level);
    const io = host.io;
    const now = (): number => host.now();
    const mapPorts = (io: IoBus, base: number, count: number, dev: PortDevice, now: () => number): void =>
      mapDevicePorts(io, base, count, dev, now, host.deviceWritten);

    this.pit = new I8254(this.pic.line(0));
    this.com1 = new Uart16550(this.pic.line(4), (b) => opts.serialOut?.(b));
    this.com2 = new Uart16550(this.pic.line(3), () => {});
    // A20 is the OR of port 0x92 bit 1 and the i8042 output port; firmware left it enabled
    // through the i8042 (a loader enters the kernel with A20 on).
    this.a20 = new A20Gate((on) => host.setA20(on), A20_KBC);

    mapPorts(io, 0x20, 2, this.pic.master, now);
    mapPorts(io, 0xa0, 2, this.pic.slave, now);
    mapPorts(io, 0x40, 4, this.pit, now);
    mapPorts(io, 0x61, 1, (this.port61 = new Port61(this.pit)), now);
    // Port 0x80 moves no device's next event: a write to it does not end the slice (Linux's
    // I/O delay writes it after every inb_p/outb_p; 141 k slices of its boot ended there).
    mapDevicePorts(io, 0x80, 1, (this.port80 = new Port80(opts.post)), now);
    this.port92 = new Port92({ onA20: (on) => this.a20.set(A20_PORT92, on), onReset: () => this.requestReset() });
    mapPorts(io, 0x92, 1, this.port92, now);
    this.rtc = new Mc146818(this.pic.line(8), { ramBytes: opts.ramBytes });
    mapPorts(io, 0x70, 2, this.rtc, now);
    this.kbd = new I8042({
      irq1: this.pic.line(1),
      irq12: this.pic.line(12),
      onA20: (on) => this.a20.set(A20_KBC, on),
      onReset: () => this.requestReset(),
    });
    // The i8042 answers at 0x60 (offset 0) and 0x64 (offset 4); 0x61 between them is port B.
    mapPorts(io, 0x60, 1, this.kbd, now);
    mapPorts(io, 0x64, 1, { read: (_o, t) => this.kbd.read(4, t), write: (_o, v, t) => this.kbd.write(4, v, t) }, now);
    host.mem.addMmio({ base: 0xb8000, size: 0x8000, device: this.vga });
    mapPorts(io, 0x3c0, 0x20, this.vga, now);
    if (opts.acpi) {
      host.mem.addRom(ACPI_ROM_BASE, buildAcpiRom(PM_BASE, opts.apics === true));
      this.pm = new PmBlock(() => host.powerOff(0));
      mapPorts(io, PM_BASE, 12, this.pm, now);
    }
    mapPorts(io, 0x3f8, 8, this.com1, now);
    mapPorts(io, 0x2f8, 8, this.com2, now);
    attachDebugPorts(io, { debugconByte: opts.debugcon, exit: (s) => host.powerOff(s) }, null);
    this.input = new ScheduledInput(this.com1);
    this.line = new PacedInput(this.com1);
    this.timed = [this.pit, this.rtc, this.com1, this.com2, this.input, this.line];
  }

  /** A guest-requested reset ends the run: there is no BIOS to reboot into. */
  requestReset(): void {
    this.resetRequested = true;
    this.host.powerOff(0);
  }

  /** The guest's current time (ns). */
  now(): number {
    return this.host.now();
  }

  /** Bring every timed device up to `now` (ns); returns the earliest next event (ns). */
  advance(now: number): number {
    let next = Infinity;
    for (const d of this.timed) {
      d.advance(now);
      const t = d.nextEvent(now);
      if (t < next) next = t;
    }
    return next;
  }
}

/** The bare PC: the machine's CPU owns the platform directly (`--mode bare`). */
export class Pc {
  readonly machine: Machine;
  readonly platform: PcPlatform;

  constructor(opts: PcOptions) {
    const m = (this.machine = new Machine({ ramBytes: opts.ramBytes, model: opts.model, jit: opts.jit }));
    const cpu = m.cpu;
    this.platform = new PcPlatform({
      io: m.io,
      mem: m.mem,
      now: () => nowNs(cpu),
      setIntr: (level) => { cpu.intrLine = this.apic !== null && this.apic.active ? this.apic.hasInterrupt() : level; },
      setA20: (on) => { cpu.a20 = on; cpu.flushTlb(true); },
      powerOff: (status) => m.powerOff(status),
      deviceWritten: () => cpu.yieldSlice(),
    }, { ...opts, apics: cpu.features.apic });
    cpu.intr = this.platform.pic;
    if (cpu.features.apic) this.apic = this.attachLocalApic();
  }

  /** The local APIC, on models that have one (src/hw/dev/apic, docs/apic.md). */
  readonly apic: LocalApic | null = null;

  /**
   * Wire a local APIC: MMIO at its base, IA32_APIC_BASE and IA32_TSC_DEADLINE, its timer among
   * the timed devices, and the CPU's INTR from the APIC once software enables it (LINT0 in
   * ExtINT mode then carries the 8259s); from the 8259s directly before that (PIC mode).
   */
  private attachLocalApic(): LocalApic {
    const cpu = this.machine.cpu, pic = this.platform.pic;
    const region: MmioRegion = { base: APIC_BASE_DEFAULT, size: 0x1000, device: null as unknown as MmioRegion["device"] };
    const apic: LocalApic = new LocalApic({
      now: () => nowNs(cpu),
      tsc: () => cpu.readTsc(),
      setIntr: (level) => { cpu.intrLine = apic.active ? level : pic.hasInterrupt(); },
      nmi: () => { cpu.nmiPending = true; },
      moved: (base) => { region.base = base; },
    });
    region.device = {
      read8: (off) => apic.read8(off),
      read32: (off) => apic.read32(off),
      write8: (off, v) => { apic.write8(off, v); cpu.yieldSlice(); },
      write32: (off, v) => { apic.write32(off, v); cpu.yieldSlice(); },
    };
    this.machine.mem.addMmio(region);
    this.apicRegion = region;
    apic.extint = pic;
    const source: InterruptSource = {
      hasInterrupt: () => (apic.active ? apic.hasInterrupt() : pic.hasInterrupt()),
      acknowledge: () => (apic.active ? apic.acknowledge() : pic.acknowledge()),
    };
    cpu.intr = source;
    cpu.apic = apic;
    this.platform.timed.push(apic);
    // The I/O APIC on the same ISA lines: IRQ 0 on input 2, the others on their own number,
    // as the MADT says (acpi-tables.ts).
    const io = (this.ioApic = new IoApic({ acceptInterrupt: (v, level) => apic.acceptInterrupt(v, level), nmi: () => { cpu.nmiPending = true; } }));
    this.machine.mem.addMmio({
      base: IOAPIC_BASE_DEFAULT, size: 0x20,
      device: {
        read8: (off) => io.read8(off), read32: (off) => io.read32(off),
        write8: (off, v) => { io.write8(off, v); cpu.yieldSlice(); },
        write32: (off, v) => { io.write32(off, v); cpu.yieldSlice(); },
      },
    });
    pic.onIrq = (n, level) => io.setIrq(n === 0 ? 2 : n, level);
    apic.onLevelEoi = (v) => io.eoi(v);
    return apic;
  }

  /** The I/O APIC, with the local APIC. */
  ioApic: IoApic | null = null;
  private apicRegion: MmioRegion | null = null;

  /** The local APIC's registers answer at its IA32_APIC_BASE again (after a restore). */
  relocateApic(): void {
    if (this.apic !== null && this.apicRegion !== null) this.apicRegion.base = this.apic.base;
  }

  get cpu() { return this.machine.cpu; }
  /** Where a loader puts the guest: the machine's CPU and memory. */
  get bootTarget(): BootTarget { return this.machine; }
  get mem() { return this.machine.mem; }
  get pic() { return this.platform.pic; }
  get pit() { return this.platform.pit; }
  get com1() { return this.platform.com1; }
  get com2() { return this.platform.com2; }
  get rtc() { return this.platform.rtc; }
  get kbd() { return this.platform.kbd; }
  get vga() { return this.platform.vga; }
  get a20() { return this.platform.a20; }
  get resetRequested(): boolean { return this.platform.resetRequested; }

  run(opts: PcRunOptions): RunEnd {
    return clockedRun(this.cpu, this.platform.timed, {
      deadline: opts.deadline,
      maxInstructions: opts.maxInstructions,
      realtime: opts.realtime,
      exitStatus: () => this.machine.exitStatus ?? 0,
      until: opts.until,
      poll: opts.poll,
      onHalt: () => this.platform.line.halted(nowNs(this.cpu)),
    });
  }
}

/**
 * Register a device on ports [base, base + count), passing offsets and the current time;
 * `written` is told after every register write.
 */
export function mapDevicePorts(io: IoBus, base: number, count: number, dev: PortDevice, now: () => number, written?: () => void): void {
  io.register(base, count, {
    read8: (port) => dev.read(port - base, now()),
    write8: (port, value) => { dev.write(port - base, value, now()); written?.(); },
  });
}
