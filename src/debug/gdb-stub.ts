// A GDB remote serial protocol stub (GDB manual, appendix E "GDB Remote Serial Protocol"),
// free of any transport: bytes come in through receive() as a latin-1 string, replies go out
// through the `send` callback. The CLI puts it on a TCP socket (src/cli/gdb-server.ts); a
// browser could put it on a WebSocket.
//
// It shows the guest's view only, through one processor: the bare machine's CPU, or under a
// monitor the vCPU, which holds the guest's exact state whenever the guest is stopped
// (docs/gdb.md). Breakpoints and watchpoints are the processor's host probe (hw/cpu/debug.ts):
// nothing is written into guest memory and the guest's DR0–DR7 are untouched.
//
// The subset: ? g G p P m M c s vCont? Z0–Z4 z0–z4 D k qSupported qXfer:features:read
// qAttached qC qfThreadInfo qsThreadInfo qRcmd QStartNoAckMode, and 0x03 (interrupt).

import type { Cpu } from "../hw/cpu/cpu.js";
import { SegReg } from "../hw/cpu/segment.js";
import { peekLinear } from "./peek.js";
import type { WatchKind } from "../hw/cpu/debug.js";
import { I386_XML, X86_64_XML } from "./target-xml.js";

/** What the stub needs from whoever runs the machine. */
export interface GdbTarget {
  /** The processor holding the guest's state while it is stopped. */
  readonly cpu: Cpu;
  /** Run the guest until the probe stops it (the host calls stopped()) or it ends (exited()). */
  resume(): void;
  /** Stop the guest as soon as possible (then stopped()). */
  interrupt(): void;
  /** The probe changed (breakpoints, watchpoints, a step): the machine must look at it. */
  probeChanged(): void;
  /** Guest memory was written by the debugger (shadows and translations must follow). */
  memoryWritten(): void;
  /** gdb detached: the guest runs on without it. */
  detach(): void;
  /** gdb killed the guest: end the run. */
  kill(): void;
  /** `monitor CMD` commands of the host (stats, mode, shadow …); null: unknown command. */
  command(cmd: string): string | null;
}

/** The monitor commands the stub itself knows, for `monitor help`. */
const HELP = "phys on|off   memory accesses use guest-physical (on) or linear (off) addresses\n";

export class GdbStub {
  private buf = "";
  private noAck = false;
  private running = false;
  private phys = false;

  constructor(private readonly target: GdbTarget, private readonly send: (bytes: string) => void) {}

  get cpu(): Cpu { return this.target.cpu; }
  /** Is the guest running (gdb waits for a stop reply)? */
  get isRunning(): boolean { return this.running; }

  /** Bytes from gdb. */
  receive(data: string): void {
    this.buf += data;
    for (;;) {
      if (this.buf.length === 0) return;
      const c = this.buf[0];
      if (c === "\x03") {
        this.buf = this.buf.slice(1);
        if (this.running) this.target.interrupt();
        continue;
      }
      if (c !== "$") { this.buf = this.buf.slice(1); continue; } // '+', '-', noise
      const hash = this.buf.indexOf("#");
      if (hash < 0 || this.buf.length < hash + 3) return;
      const body = this.buf.slice(1, hash);
      const sum = parseInt(this.buf.slice(hash + 1, hash + 3), 16);
      this.buf = this.buf.slice(hash + 3);
      if (!this.noAck) {
        if (checksum(body) !== sum) { this.send("-"); continue; }
        this.send("+");
      }
      this.packet(unescape(body));
    }
  }

  /** The guest stopped for the probe (or at the start): tell gdb why. */
  stopped(): void {
    this.running = false;
    const hit = this.cpu.debug.hit;
    this.cpu.debug.hit = null;
    let r = "T05";
    if (hit === null || hit.kind === "stop") r = "T02";
    else if (hit.kind === "break") r += "swbreak:;";
    else if (hit.kind === "watch") {
      const k = hit.watch.kind === "write" ? "watch" : hit.watch.kind === "read" ? "rwatch" : "awatch";
      r += `${k}:${hex(hit.lin >>> 0)};`;
    }
    this.reply(r + "thread:1;");
  }

  /** The guest ended (power-off, …) with `status`. */
  exited(status: number): void {
    this.running = false;
    this.reply("W" + byteHex(status & 0xff));
  }

  private reply(body: string): void {
    this.send(`$${body}#${byteHex(checksum(body))}`);
  }

  private packet(p: string): void {
    const cmd = p[0];
    switch (cmd) {
      case "?": this.reply("T05thread:1;"); return;
      case "g": this.reply(this.readRegisters()); return;
      case "G": this.writeRegisters(p.slice(1)); this.reply("OK"); return;
      case "p": {
        const n = parseInt(p.slice(1), 16);
        const v = this.registerHex(n);
        this.reply(v ?? "E01");
        return;
      }
      case "P": {
        const [n, v] = p.slice(1).split("=");
        this.reply(this.writeRegister(parseInt(n, 16), v) ? "OK" : "E01");
        return;
      }
      case "m": {
        const [a, l] = p.slice(1).split(",");
        this.reply(this.readMemory(parseInt(a, 16), parseInt(l, 16)));
        return;
      }
      case "M": {
        const [al, data] = p.slice(1).split(":");
        const [a, l] = al.split(",");
        this.reply(this.writeMemory(parseInt(a, 16), parseInt(l, 16), data) ? "OK" : "E14");
        return;
      }
      case "c": this.resume(false); return;
      case "s": this.resume(true); return;
      case "Z": case "z": this.reply(this.breakpoint(cmd === "Z", p.slice(1))); return;
      case "H": case "T": this.reply("OK"); return;
      case "D": this.reply("OK"); this.clearProbe(); this.target.detach(); return;
      case "k": this.clearProbe(); this.target.kill(); return;
      case "v":
        if (p === "vCont?") { this.reply("vCont;c;s"); return; }
        if (p.startsWith("vCont;")) { this.resume(p[6] === "s"); return; }
        if (p === "vMustReplyEmpty") { this.reply(""); return; }
        this.reply("");
        return;
      case "q": this.query(p); return;
      case "Q":
        if (p === "QStartNoAckMode") { this.reply("OK"); this.noAck = true; return; }
        this.reply("");
        return;
      default: this.reply("");
    }
  }

  private query(p: string): void {
    if (p.startsWith("qSupported")) {
      this.reply("PacketSize=4000;qXfer:features:read+;QStartNoAckMode+;swbreak+;hwbreak+;vContSupported+");
    } else if (p.startsWith("qXfer:features:read:target.xml:")) {
      const [off, len] = p.slice("qXfer:features:read:target.xml:".length).split(",").map((x) => parseInt(x, 16));
      const xml = this.long() ? X86_64_XML : I386_XML;
      const part = xml.slice(off, off + len);
      this.reply((off + len >= xml.length ? "l" : "m") + escape(part));
    } else if (p.startsWith("qXfer:")) {
      this.reply("E00");
    } else if (p === "qAttached") {
      this.reply("1");
    } else if (p === "qC") {
      this.reply("QC1");
    } else if (p === "qfThreadInfo") {
      this.reply("m1");
    } else if (p === "qsThreadInfo") {
      this.reply("l");
    } else if (p.startsWith("qRcmd,")) {
      const cmd = fromHex(p.slice(6)).trim();
      const out = this.monitor(cmd);
      if (out === null) { this.reply("E01"); return; }
      if (out.length > 0) this.reply("O" + toHex(out));
      this.reply("OK");
    } else {
      this.reply("");
    }
  }

  /** `monitor CMD`. */
  private monitor(cmd: string): string | null {
    if (cmd === "phys on" || cmd === "phys off") {
      this.phys = cmd === "phys on";
      return `memory addresses are ${this.phys ? "guest-physical" : "linear (through the guest's page tables)"}\n`;
    }
    if (cmd === "phys") return `phys ${this.phys ? "on" : "off"}\n`;
    const r = this.target.command(cmd);
    if (cmd === "help") return HELP + (r ?? "");
    return r;
  }

  private resume(step: boolean): void {
    const d = this.cpu.debug;
    d.step = step;
    // Resuming from a breakpoint runs its instruction: pass it once.
    d.skipLin = this.pcLinear();
    this.target.probeChanged();
    this.running = true;
    this.target.resume();
  }

  private clearProbe(): void {
    const d = this.cpu.debug;
    d.hostBreaks.clear();
    d.hostWatches = [];
    d.step = false;
    this.target.probeChanged();
  }

  private breakpoint(insert: boolean, args: string): string {
    const [type, a, k] = args.split(",");
    const addr = parseInt(a, 16) >>> 0;
    const len = parseInt(k, 16);
    const d = this.cpu.debug;
    if (type === "0" || type === "1") {
      if (insert) d.hostBreaks.add(addr); else d.hostBreaks.delete(addr);
    } else if (type === "2" || type === "3" || type === "4") {
      const kind: WatchKind = type === "2" ? "write" : type === "3" ? "read" : "access";
      d.hostWatches = d.hostWatches.filter((w) => !(w.lin === addr && w.len === len && w.kind === kind));
      if (insert) d.hostWatches.push({ lin: addr, len, kind });
    } else {
      return "";
    }
    this.target.probeChanged();
    return "OK";
  }

  // ---- Registers (the order of target-xml.ts) ----

  private long(): boolean { return this.cpu.lma; }

  private pcLinear(): number {
    const c = this.cpu;
    return c.lma && c.mode64 ? c.eip : (c.segs[SegReg.CS].base + c.eip) >>> 0;
  }

  /** gdb's register n as target-order hex, or null if there is no such register. */
  private registerHex(n: number): string | null {
    const c = this.cpu;
    if (this.long()) {
      if (n < 16) { const r = AMD64_GPR[n]; return le32(c.regs[r]) + le32(c.regsHi[r]); }
      if (n === 16) return le32(c.eip) + le32(Math.floor(c.eip / 0x1_0000_0000));
      n -= 17;
    } else {
      if (n < 8) return le32(c.regs[n]);
      if (n === 8) return le32(c.eip);
      n -= 9;
    }
    if (n === 0) return le32(c.getEflags());
    if (n <= 6) return le32(c.segs[SEG_ORDER[n - 1]].selector);
    n -= 7;
    if (n >= 16) return null;
    // The x87 unit (SDM vol. 1 §8.1): st(i) is physical register (TOP + i) mod 8, as
    // 64-bit significand then sign and biased exponent, little-endian.
    const f = c.fpu.save();
    if (n < 8) {
      const [sign, exp, hi, lo] = f.regs[(f.top + n) & 7];
      return le32(lo) + le32(hi) + byteHex(exp) + byteHex(((exp >>> 8) & 0x7f) | (sign !== 0 ? 0x80 : 0));
    }
    const control = [f.cw, c.fpu.statusWord(), c.fpu.tagWord(), f.fcs, f.fip, f.fds, f.fdp, f.fop];
    return le32(control[n - 8]);
  }

  private readRegisters(): string {
    let s = "";
    for (let n = 0; ; n++) {
      const v = this.registerHex(n);
      if (v === null) return s;
      s += v;
    }
  }

  private writeRegisters(hexs: string): void {
    let pos = 0;
    for (let n = 0; pos < hexs.length; n++) {
      const cur = this.registerHex(n);
      if (cur === null) return;
      const part = hexs.slice(pos, pos + cur.length);
      pos += cur.length;
      if (part !== cur) this.writeRegister(n, part);
    }
  }

  /** Write gdb's register n: the general registers, EIP and EFLAGS (not segments or x87). */
  private writeRegister(n: number, v: string): boolean {
    const c = this.cpu;
    const lo = readLe32(v, 0);
    if (this.long()) {
      if (n < 16) { c.regs[AMD64_GPR[n]] = lo; c.regsHi[AMD64_GPR[n]] = readLe32(v, 8); return true; }
      if (n === 16) { c.eip = (lo >>> 0) + readLe32(v, 8) * 0x1_0000_0000; return true; }
      n -= 17;
    } else {
      if (n < 8) { c.regs[n] = lo; return true; }
      if (n === 8) { c.eip = lo >>> 0; return true; }
      n -= 9;
    }
    if (n === 0) { c.setEflags(lo); return true; }
    return false;
  }

  // ---- Memory: linear through the guest's page tables, or guest-physical (`monitor phys on`) ----

  /** The guest-physical address of `addr`, or -1 where nothing is mapped. */
  private physical(addr: number): number {
    if (this.phys) return addr >>> 0;
    return peekLinear(this.cpu, addr)?.pa ?? -1;
  }

  private readMemory(addr: number, len: number): string {
    let s = "";
    const mem = this.cpu.mem;
    for (let k = 0; k < len; k++) {
      const pa = this.physical(addr + k);
      if (pa < 0 || pa >= mem.ramSize) return k === 0 ? "E14" : s;
      s += byteHex(mem.read8(pa));
    }
    return s;
  }

  private writeMemory(addr: number, len: number, data: string): boolean {
    const mem = this.cpu.mem;
    for (let k = 0; k < len; k++) {
      const pa = this.physical(addr + k);
      if (pa < 0 || pa >= mem.ramSize) return false;
      mem.write8(pa, parseInt(data.slice(k * 2, k * 2 + 2), 16));
    }
    // Decoded instructions of the written pages are stale.
    this.cpu.flushTlb(true);
    this.target.memoryWritten();
    return true;
  }
}

/** gdb's amd64 order (rax rbx rcx rdx rsi rdi rbp rsp r8–r15) as the CPU's register numbers. */
const AMD64_GPR = [0, 3, 1, 2, 6, 7, 5, 4, 8, 9, 10, 11, 12, 13, 14, 15];
/** cs ss ds es fs gs. */
const SEG_ORDER = [SegReg.CS, SegReg.SS, SegReg.DS, SegReg.ES, SegReg.FS, SegReg.GS];

function checksum(s: string): number {
  let c = 0;
  for (let k = 0; k < s.length; k++) c = (c + s.charCodeAt(k)) & 0xff;
  return c;
}

function byteHex(b: number): string { return (b & 0xff).toString(16).padStart(2, "0"); }
function hex(v: number): string { return v.toString(16); }
function le32(v: number): string {
  return byteHex(v) + byteHex(v >>> 8) + byteHex(v >>> 16) + byteHex(v >>> 24);
}
function readLe32(v: string, at: number): number {
  let r = 0;
  for (let k = 0; k < 4; k++) r |= (parseInt(v.slice(at + k * 2, at + k * 2 + 2), 16) || 0) << (k * 8);
  return r;
}
function toHex(s: string): string {
  let r = "";
  for (let k = 0; k < s.length; k++) r += byteHex(s.charCodeAt(k));
  return r;
}
function fromHex(h: string): string {
  let r = "";
  for (let k = 0; k + 1 < h.length; k += 2) r += String.fromCharCode(parseInt(h.slice(k, k + 2), 16));
  return r;
}

/** The binary escapes of the protocol: '}' then the byte XOR 0x20. */
function unescape(s: string): string {
  if (!s.includes("}")) return s;
  let r = "";
  for (let k = 0; k < s.length; k++) r += s[k] === "}" ? String.fromCharCode(s.charCodeAt(++k) ^ 0x20) : s[k];
  return r;
}
function escape(s: string): string {
  return s.replace(/[#$}*]/g, (c) => "}" + String.fromCharCode(c.charCodeAt(0) ^ 0x20));
}
