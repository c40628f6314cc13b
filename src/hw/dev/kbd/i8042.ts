// Intel 8042 keyboard controller as on the IBM PC/AT, with an MF2 keyboard attached and no
// mouse (IBM PC/AT Technical Reference, "Keyboard Controller"; IBM PS/2 Hardware Interface
// Technical Reference for the auxiliary-port commands). Ports: offset 0 = 0x60 (data),
// offset 4 = 0x64 (status on read, command on write).
//
//   status  bit 0 OBF  1 IBF (always 0: commands complete at once)  2 SYS  3 A2 (last write
//           was a command)  4 INH (1 = keyboard not inhibited)  5 AUXB  6 timeout  7 parity
//   command byte  bit 0 IRQ 1 enable  1 IRQ 12 enable  2 SYS  4 keyboard disable
//                 5 aux disable  6 XLATE (scan code set 2 → 1)
//   output port   bit 0 system reset (active low)  bit 1 A20 gate  bit 4 OBF (IRQ 1)  bit 5 IRQ 12
//
// Everything answers at once (real controllers take microseconds; Linux's i8042 driver polls
// for OBF and does not care). Bytes queue in the controller; one sits in the output buffer at
// a time and a new byte there is a new rising edge on IRQ 1 (or IRQ 12 for aux data).
// The output port starts 0xCF: A20 enabled and reset inactive, as a machine without a BIOS
// wants. Writes to the aux device (0xD4) get 0xFE with the timeout bit: no mouse.

import type { IrqLine, PortDevice, Snapshot } from "../device.js";

export const STATUS_OBF = 0x01, STATUS_SYS = 0x04, STATUS_A2 = 0x08, STATUS_INH = 0x10;
export const STATUS_AUXB = 0x20, STATUS_TIMEOUT = 0x40;
export const CMD_IRQ1 = 0x01, CMD_IRQ12 = 0x02, CMD_SYS = 0x04, CMD_KBD_DISABLE = 0x10;
export const CMD_AUX_DISABLE = 0x20, CMD_XLATE = 0x40;

export interface I8042Events {
  /** IRQ 1 (keyboard data in the output buffer). */
  irq1: IrqLine;
  /** IRQ 12 (aux data); optional. */
  irq12?: IrqLine;
  /** Output port bit 1 changed. */
  onA20?: (enabled: boolean) => void;
  /** Output port bit 0 pulsed or written low: reset the processor. */
  onReset?: () => void;
}

/** A byte waiting for the output buffer: 0 controller, 1 keyboard, 2 aux (| 4: timeout). */
interface OutByte { v: number; src: number }

export interface I8042State {
  ram: number[]; outPort: number; status: number; pendingCmd: number; out: OutByte[];
  ob: OutByte | null; kbdPending: number; kbdEnabled: boolean; lastKbd: number;
  irq1: boolean; irq12: boolean;
}

export class I8042 implements PortDevice, Snapshot<I8042State> {
  /** Controller RAM; byte 0 is the command byte. */
  private ram = new Array<number>(32).fill(0);
  private outPort = 0xcf;
  private status = STATUS_INH;
  /** A controller command waiting for its data byte on port 0x60, or -1. */
  private pendingCmd = -1;
  /** Bytes waiting for the output buffer. */
  private out: OutByte[] = [];
  /** The output buffer. */
  private ob: OutByte | null = null;
  /** Keyboard command waiting for its parameter (0xED, 0xF3, 0xF0), or -1. */
  private kbdPending = -1;
  /** Keyboard scanning enabled (0xF4/0xF5). */
  private kbdEnabled = true;
  private lastKbd = 0;
  private irq1Level = false;
  private irq12Level = false;

  constructor(private readonly events: I8042Events) {
    this.ram[0] = CMD_IRQ1 | CMD_SYS | CMD_XLATE; // 0x45, as a BIOS leaves it
    this.status |= STATUS_SYS;
  }

  /** The A20 gate as driven by the output port. */
  get a20(): boolean {
    return (this.outPort & 2) !== 0;
  }

  get commandByte(): number {
    return this.ram[0];
  }

  /** Scan codes from the host keyboard (already in the set the guest expects). */
  keyboardInput(bytes: ArrayLike<number>): void {
    if (!this.kbdEnabled) return;
    for (let i = 0; i < bytes.length; i++) this.out.push({ v: bytes[i] & 0xff, src: 1 });
    this.refill();
    this.updateIrq();
  }

  read(offset: number, _now = 0): number {
    if (offset & 4) return this.statusByte();
    const b = this.ob;
    this.ob = null;
    this.updateIrq(); // the next byte is a new edge
    this.refill();
    this.updateIrq();
    return b ? b.v : 0;
  }

  private statusByte(): number {
    let s = this.status & ~(STATUS_OBF | STATUS_AUXB | STATUS_TIMEOUT);
    if (this.ob) {
      s |= STATUS_OBF;
      if (this.ob.src & 2) s |= STATUS_AUXB;
      if (this.ob.src & 4) s |= STATUS_TIMEOUT;
    }
    return s;
  }

  write(offset: number, value: number, _now = 0): void {
    value &= 0xff;
    if (offset & 4) {
      this.status |= STATUS_A2;
      this.command(value);
    } else {
      this.status &= ~STATUS_A2;
      const cmd = this.pendingCmd;
      this.pendingCmd = -1;
      if (cmd < 0) this.keyboardCommand(value);
      else this.commandData(cmd, value);
    }
    this.refill();
    this.updateIrq();
  }

  private reply(v: number, src = 0): void {
    this.out.push({ v, src });
  }

  private command(c: number): void {
    if (c >= 0x20 && c <= 0x3f) { this.reply(this.ram[c & 0x1f]); return; }
    if (c >= 0x60 && c <= 0x7f) { this.pendingCmd = c; return; }
    if (c >= 0xf0) {
      // Pulse output port bits 3–0 low for those mask bits that are 0; bit 0 is the reset.
      if (!(c & 1)) this.events.onReset?.();
      return;
    }
    switch (c) {
      case 0xa7: this.ram[0] |= CMD_AUX_DISABLE; break;
      case 0xa8: this.ram[0] &= ~CMD_AUX_DISABLE; break;
      case 0xa9: this.reply(0x00); break; // aux interface test: OK
      case 0xaa: // self test
        this.status |= STATUS_SYS;
        this.reply(0x55);
        break;
      case 0xab: this.reply(0x00); break; // keyboard interface test: OK
      case 0xad: this.ram[0] |= CMD_KBD_DISABLE; break;
      case 0xae: this.ram[0] &= ~CMD_KBD_DISABLE; break;
      case 0xc0: this.reply(0x80); break; // input port: keyboard not inhibited
      case 0xd0: this.reply(this.outPortValue()); break;
      case 0xd1: case 0xd2: case 0xd3: case 0xd4: this.pendingCmd = c; break;
      case 0xdd: this.setOutPort(this.outPort & ~2); break; // A20 off (HP Vectra extension)
      case 0xdf: this.setOutPort(this.outPort | 2); break;  // A20 on
      case 0xe0: this.reply(0x00); break; // test inputs
      default: break;
    }
  }

  private commandData(cmd: number, v: number): void {
    if (cmd >= 0x60 && cmd <= 0x7f) {
      this.ram[cmd & 0x1f] = v;
      if (cmd === 0x60) this.status = (this.status & ~STATUS_SYS) | (v & CMD_SYS);
      return;
    }
    switch (cmd) {
      case 0xd1: this.setOutPort(v); break;
      case 0xd2: this.out.push({ v, src: 1 }); break;
      case 0xd3: this.out.push({ v, src: 2 }); break;
      case 0xd4: this.out.push({ v: 0xfe, src: 2 | 4 }); break; // no aux device
    }
  }

  private outPortValue(): number {
    let v = this.outPort & ~0x30;
    if (this.ob?.src === 1) v |= 0x10;
    if (this.ob && this.ob.src & 2) v |= 0x20;
    return v;
  }

  private setOutPort(v: number): void {
    const old = this.outPort;
    this.outPort = v;
    if ((old ^ v) & 2) this.events.onA20?.(this.a20);
    if (!(v & 1)) this.events.onReset?.();
  }

  /** A byte sent to the keyboard (MF2 keyboard command set). */
  private keyboardCommand(v: number): void {
    const kb = (b: number): void => { this.out.push({ v: b, src: 1 }); this.lastKbd = b; };
    if (this.kbdPending >= 0) {
      const c = this.kbdPending;
      this.kbdPending = -1;
      kb(0xfa);
      if (c === 0xf0 && v === 0) kb(this.xlate ? 0x41 : 0x02); // current scan code set (2)
      return;
    }
    switch (v) {
      case 0xed: case 0xf3: case 0xf0: this.kbdPending = v; kb(0xfa); break;
      case 0xee: kb(0xee); break; // echo
      case 0xf2: kb(0xfa); kb(0xab); kb(this.xlate ? 0x41 : 0x83); break; // identify: MF2
      case 0xf4: this.kbdEnabled = true; kb(0xfa); break;
      case 0xf5: this.kbdEnabled = false; kb(0xfa); break;
      case 0xf6: this.kbdEnabled = true; kb(0xfa); break;
      case 0xfe: this.out.push({ v: this.lastKbd, src: 1 }); break; // resend
      case 0xff: this.kbdEnabled = true; kb(0xfa); kb(0xaa); break; // reset, BAT passed
      default:
        if (v >= 0xf7 && v <= 0xfd) kb(0xfa);
        else kb(0xfe);
    }
  }

  private get xlate(): boolean {
    return (this.ram[0] & CMD_XLATE) !== 0;
  }

  /** Move the next deliverable byte into the empty output buffer. */
  private refill(): void {
    if (this.ob) return;
    const i = this.out.findIndex((b) =>
      b.src === 0 || (b.src === 1 && !(this.ram[0] & CMD_KBD_DISABLE)) || (b.src & 2 && !(this.ram[0] & CMD_AUX_DISABLE)));
    if (i >= 0) this.ob = this.out.splice(i, 1)[0];
  }

  private updateIrq(): void {
    const kbd = this.ob !== null && !(this.ob.src & 2);
    const l1 = kbd && (this.ram[0] & CMD_IRQ1) !== 0;
    const l12 = this.ob !== null && (this.ob.src & 2) !== 0 && (this.ram[0] & CMD_IRQ12) !== 0;
    if (l1 !== this.irq1Level) { this.irq1Level = l1; this.events.irq1(l1); }
    if (l12 !== this.irq12Level) { this.irq12Level = l12; this.events.irq12?.(l12); }
  }

  save(): I8042State {
    return {
      ram: [...this.ram], outPort: this.outPort, status: this.status, pendingCmd: this.pendingCmd,
      out: this.out.map((b) => ({ ...b })), ob: this.ob ? { ...this.ob } : null, kbdPending: this.kbdPending,
      kbdEnabled: this.kbdEnabled, lastKbd: this.lastKbd, irq1: this.irq1Level, irq12: this.irq12Level,
    };
  }

  restore(s: I8042State): void {
    this.ram = [...s.ram]; this.outPort = s.outPort; this.status = s.status; this.pendingCmd = s.pendingCmd;
    this.out = s.out.map((b) => ({ ...b })); this.ob = s.ob ? { ...s.ob } : null; this.kbdPending = s.kbdPending;
    this.kbdEnabled = s.kbdEnabled; this.lastKbd = s.lastKbd; this.irq1Level = s.irq1; this.irq12Level = s.irq12;
  }
}
