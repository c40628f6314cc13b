// The CLI's ModuleCompiler (src/hw/cpu/jit/module-compiler.ts): a worker thread compiles the
// WebAssembly tier's modules while the guest runs on this one (docs/jit.md, "Compiling on
// another thread"). The run loop never waits for it: `take` looks at the port without
// blocking (receiveMessageOnPort), so the event loop need not turn during a run.

import { setFlagsFromString } from "node:v8";
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import type { ModuleCompiler } from "../hw/cpu/jit/module-compiler.js";

// The worker's whole program: compile what comes and send the module back (a module crosses
// threads without being compiled again: V8 shares its code); and touch guest RAM's pages, a
// chunk at a time so that a compile waits at most for one chunk. Adding 0 atomically writes
// each page without changing a byte the guest may be writing at the same time.
const WORKER = `
const { workerData: { port, sent } } = require("node:worker_threads");
// A lower priority than the guest's thread (nice 10, this thread only: Linux's
// /proc/thread-self names it): woken by a module to compile, the worker would otherwise often
// take the guest's core from it for the compile (a postMessage then took 0.2-0.3 ms of the
// guest's thread on the Linux boot, 0.06-0.1 ms with this). Elsewhere it stays as it is.
try { require("node:os").setPriority(Number(require("node:fs").readlinkSync("/proc/thread-self").split("/").pop()), 10); } catch {}
const PAGE = 1024, CHUNK = 256 * PAGE;
const rams = [];
function touch() {
  const r = rams[0];
  const end = Math.min(r.words.length, r.at + CHUNK);
  for (let i = r.at; i < end; i += PAGE) Atomics.add(r.words, i, 0);
  r.at = end;
  if (end === r.words.length) rams.shift();
  if (rams.length > 0) setImmediate(touch);
}
port.on("message", ({ ticket, bytes, ram, ramBytes }) => {
  if (ram !== undefined) {
    rams.push({ words: new Int32Array(ram, 0, ramBytes >>> 2), at: 0 });
    if (rams.length === 1) setImmediate(touch);
    return;
  }
  let module = null, error = null;
  try { module = new WebAssembly.Module(bytes); } catch (e) { error = String(e); }
  port.postMessage({ ticket, module, error });
  Atomics.add(sent, 0, 1);
});
`;

class WorkerCompiler implements ModuleCompiler {
  private nextTicket = 0;
  private readonly done = new Map<number, WebAssembly.Module | Error>();
  /** Replies taken from the port so far (to compare with `sent`). */
  private received = 0;
  constructor(
    private readonly worker: Worker,
    private readonly port: MessagePort,
    /**
     * Replies the worker has posted, counted after each: looking at the port costs about
     * 10 µs (50 ms of the Linux boot's slices), an atomic load of this nothing.
     */
    private readonly sent: Int32Array,
  ) {}

  compile(bytes: Uint8Array<ArrayBuffer>): number {
    const ticket = this.nextTicket++;
    this.port.postMessage({ ticket, bytes }, [bytes.buffer]);
    return ticket;
  }

  take(ticket: number): WebAssembly.Module | Error | undefined {
    if (Atomics.load(this.sent, 0) !== this.received) {
      for (let m = receiveMessageOnPort(this.port); m !== undefined; m = receiveMessageOnPort(this.port)) {
        const r = m.message as { ticket: number; module: WebAssembly.Module | null; error: string | null };
        this.done.set(r.ticket, r.module ?? new Error(`compiling a WebAssembly module on the worker: ${r.error}`));
        this.received++;
      }
    }
    const got = this.done.get(ticket);
    if (got !== undefined) this.done.delete(ticket);
    return got;
  }

  prefault(memory: WebAssembly.Memory, bytes: number): void {
    if (typeof SharedArrayBuffer === "function" && memory.buffer instanceof SharedArrayBuffer) this.port.postMessage({ ram: memory.buffer, ramBytes: bytes });
  }

  close(): void {
    this.port.close();
    void this.worker.terminate();
  }
}

/**
 * A compiler on a new worker thread, or null where the host cannot start one (the tier then
 * compiles on this thread, as it does without a compiler). The worker does not keep the
 * process alive.
 */
export function workerCompiler(): (ModuleCompiler & { close(): void }) | null {
  // V8 compiles a module's functions when each is first called, on the calling thread,
  // unless told to compile them with the module: then the worker does that too (about
  // 30 µs a block function, measured on the Linux boot's modules).
  setFlagsFromString("--no-wasm-lazy-compilation");
  try {
    const { port1, port2 } = new MessageChannel();
    const sent = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(WORKER, { eval: true, workerData: { port: port2, sent }, transferList: [port2] });
    worker.unref();
    port1.unref();
    return new WorkerCompiler(worker, port1, sent);
  } catch {
    return null;
  }
}
