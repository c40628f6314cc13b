// `vmm86 run --gdb [HOST:]PORT [--wait-gdb]`: the GDB remote stub (src/debug/gdb-stub.ts) on
// a TCP socket, and its hold on the run loop (docs/gdb.md). The run loop is synchronous and
// runs in slices; while gdb is attached it asks here before each slice whether the guest may
// run, and waits (in Node's event loop, so socket data and Ctrl-C arrive) while gdb holds it.

import { createServer, type Server, type Socket } from "node:net";
import { ExitCode, UserError, usageError } from "./errors.js";
import { GdbStub, type GdbTarget } from "../debug/gdb-stub.js";
import { writeAll } from "./output.js";
import type { Cpu } from "../hw/cpu/cpu.js";
import type { Monitor } from "../vmm/monitor.js";

/** What a monitor offers a debugger (the classic monitor, and the hardware-assisted ones). */
export type DebuggedMonitor = Pick<Monitor, "requestDebugStop" | "debugProbeChanged" | "debugMemoryWritten">;

/** Where to listen: `PORT` (loopback) or `HOST:PORT`. */
export function gdbAddress(spec: string): { host: string; port: number } {
  const m = /^(?:(.*):)?([0-9]+)$/.exec(spec);
  const port = m !== null ? Number(m[2]) : NaN;
  if (m === null || !(port >= 0 && port <= 65535)) throw usageError(`--gdb takes [HOST:]PORT (got '${spec}')`);
  return { host: m[1] === undefined || m[1] === "" ? "127.0.0.1" : m[1], port };
}

/** The machine as the session drives it: the processor gdb sees, and the host's commands. */
export interface GdbMachine {
  /** The processor with the guest's state at a stop: the bare CPU, or the monitor's vCPU. */
  cpu: Cpu;
  /** The monitor, under --mode trap, bt, vtx and svm. */
  monitor: DebuggedMonitor | null;
  /** `monitor CMD`: the host's commands (stats, mode, shadow); null: unknown. */
  command(cmd: string): string | null;
}

type State = "detached" | "stopping" | "stopped" | "running";

export class GdbSession {
  private state: State = "detached";
  private socket: Socket | null = null;
  private stub: GdbStub | null = null;
  /** Bytes from gdb held until the guest has stopped (attaching to a monitored guest). */
  private pending = "";
  private wake: (() => void) | null = null;
  /** gdb sent `k`: the run ends. */
  killed = false;

  private constructor(private readonly server: Server, private readonly machine: GdbMachine) {
    server.on("connection", (s) => this.connect(s));
  }

  /** Listen on `spec`; a port that cannot be had is E_GDB_PORT. */
  static async open(spec: string, machine: GdbMachine): Promise<GdbSession> {
    const { host, port } = gdbAddress(spec);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", (e: NodeJS.ErrnoException) => {
        const why = e.code === "EADDRINUSE" ? "is in use" : e.code === "EACCES" ? "is not allowed" : `cannot be used (${e.code ?? e.message})`;
        reject(new UserError("E_GDB_PORT", ExitCode.GDB, `--gdb: port ${port} on ${host} ${why}; choose another with --gdb [HOST:]PORT`));
      });
      server.listen(port, host, () => resolve());
    });
    return new GdbSession(server, machine);
  }

  /** The guest may not run now: gdb holds it, or a --wait-gdb session has no gdb yet. */
  get holding(): boolean { return this.state === "stopped"; }

  /** --wait-gdb: wait until gdb attaches (the guest has not run yet), or `cancel()` (a signal). */
  async waitForClient(cancel: () => boolean): Promise<void> {
    writeAll(2, `vmm86: waiting for gdb on port ${(this.server.address() as { port: number }).port} (target remote :PORT)\n`);
    while (this.state === "detached" && !cancel()) await this.change();
  }

  /** While holding: wait for gdb to let the guest go (or to leave), or `cancel()` (a signal). */
  async waitRunnable(cancel: () => boolean): Promise<void> {
    while (this.state === "stopped" && !this.killed && !cancel()) await this.change();
  }

  /** Until something happens on the socket, or 100 ms (to look at signals). */
  private change(): Promise<void> {
    return new Promise<void>((r) => {
      const t = setTimeout(() => { this.wake = null; r(); }, 100);
      this.wake = () => { clearTimeout(t); r(); };
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** The run loop saw a debug stop (RunEnd "debug"). */
  debugStop(): void {
    if (this.state === "stopping") {
      this.state = "stopped";
      this.machine.cpu.debug.hit = null;
      const p = this.pending;
      this.pending = "";
      if (p !== "") this.stub?.receive(p);
    } else if (this.state === "running") {
      this.state = "stopped";
      this.stub?.stopped();
    }
  }

  /** The guest ended: gdb hears its exit status. */
  exited(status: number): void {
    if (this.stub !== null && this.socket !== null) this.stub.exited(status);
    this.state = "detached";
  }

  close(): void {
    this.socket?.end();
    this.socket?.destroy();
    this.server.close();
  }

  private connect(s: Socket): void {
    if (this.socket !== null) { s.end(); s.destroy(); return; } // one gdb at a time
    this.socket = s;
    s.setNoDelay(true);
    s.setEncoding("latin1");
    const target = this.target();
    this.stub = new GdbStub(target, (bytes) => { if (!s.destroyed) s.write(bytes, "latin1"); });
    // Attaching stops the guest: at once on the bare machine (the loop is between
    // instructions), at the next exit under a monitor (the vCPU must hold the guest's state).
    if (this.machine.monitor !== null) {
      this.state = "stopping";
      this.machine.monitor.requestDebugStop();
    } else {
      this.state = "stopped";
    }
    s.on("data", (d: string) => {
      if (this.state === "stopping") this.pending += d;
      else this.stub?.receive(d);
      this.notify();
    });
    s.on("error", () => {});
    s.on("close", () => this.disconnected());
    this.notify();
  }

  private disconnected(): void {
    const was = this.state;
    this.socket = null;
    this.stub = null;
    this.pending = "";
    if (was !== "detached" && !this.killed) writeAll(2, "vmm86: gdb disconnected; the guest runs on without it\n");
    this.clearProbe();
    this.state = "detached";
    this.notify();
  }

  private clearProbe(): void {
    const d = this.machine.cpu.debug;
    d.hostBreaks.clear();
    d.hostWatches = [];
    d.step = false;
    d.stopRequested = false;
    this.probeChanged();
  }

  private probeChanged(): void {
    if (this.machine.monitor !== null) this.machine.monitor.debugProbeChanged();
    else this.machine.cpu.debugProbeChanged();
  }

  private target(): GdbTarget {
    const m = this.machine;
    return {
      cpu: m.cpu,
      resume: () => { this.state = "running"; this.notify(); },
      interrupt: () => {
        if (this.state !== "running") return;
        if (m.monitor !== null) { m.monitor.requestDebugStop(); return; }
        // Between slices the bare CPU is at an instruction boundary: stop here.
        this.state = "stopped";
        m.cpu.debug.hit = { kind: "stop" };
        this.stub?.stopped();
      },
      probeChanged: () => this.probeChanged(),
      memoryWritten: () => m.monitor?.debugMemoryWritten(),
      detach: () => {
        this.clearProbe();
        this.state = "detached";
        const s = this.socket;
        this.socket = null;
        this.stub = null;
        s?.end();
        this.notify();
      },
      kill: () => {
        this.killed = true;
        this.clearProbe();
        this.state = "detached";
        this.notify();
      },
      command: (cmd) => m.command(cmd),
    };
  }
}
