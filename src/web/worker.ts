// The Web Worker that runs the machine, so the page stays responsive (docs/web.md). It
// drives a Session in steps of STEP_MS of host time and yields to its event loop between
// them through a MessageChannel (setTimeout would add its 4 ms clamp to every step), so
// keys, pause and stop arrive between steps. Lab runs (redpill, escape, microbench,
// classify) are synchronous and run here too.

import { Session, type SessionEvent } from "./session.js";
import type { FromWorker, LabName, StartRequest, ToWorker } from "./protocol.js";
import type { GuestState } from "../hw/pc/pc-state.js";
import { ramWriter } from "../hw/pc/boot-entry.js";
import { loadLinux, loadLinux64, x86_64Kernel } from "../boot/index.js";
import type { GuestLoader } from "../lab/guest-runner.js";
import { REGION_SIZE } from "../vmm/layout.js";
import { runRedpill } from "../lab/redpill/report.js";
import * as redpillFormat from "../lab/redpill/format.js";
import { runEscapeSuite } from "../lab/escape/suite.js";
import { formatReport as escapeReport } from "../lab/escape/format.js";
import { measureMicrobench } from "../lab/microbench/measure.js";
import * as microbenchFormat from "../lab/microbench/format.js";
import { runClassify } from "../lab/classify/report.js";
import * as classifyFormat from "../lab/classify/format.js";

/** Host time per step: short enough for input latency, long enough to cost nothing. */
const STEP_MS = 16;
/**
 * Host time between counter samples sent to the page (and one at the end of a run). 50 ms:
 * the demo's whole run under bt now takes about a quarter of a second in the page, which at
 * 100 ms drew a chart of two points.
 */
const SAMPLE_MS = 50;
/**
 * The first steps of a run are each sampled, whatever SAMPLE_MS says: a short run (the demo
 * under bt takes about a quarter of a second, less on a faster host) still draws a chart of
 * several points rather than two.
 */
const EVERY_STEP_SAMPLES = 8;

interface Scope {
  postMessage(m: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
}

/** One worker's state: the running session and how it is scheduled. */
class WorkerHost {
  private session: Session | null = null;
  private request: StartRequest | null = null;
  private paused = false;
  private scheduled = false;
  private lastSample = 0;
  private stepsThisRun = 0;
  private snapshotWanted = false;
  private readonly tick = new MessageChannel();

  constructor(private readonly scope: Scope) {
    this.tick.port1.onmessage = () => { this.scheduled = false; this.step(); };
    scope.onmessage = (e) => this.receive(e.data);
  }

  private send(m: FromWorker): void {
    if (m.type === "serial") this.scope.postMessage(m, [m.bytes.buffer as ArrayBuffer]);
    else this.scope.postMessage(m);
  }

  private receive(m: ToWorker): void {
    try {
      switch (m.type) {
        case "start": this.start(m); break;
        case "pause": this.paused = true; this.send({ type: "state", state: "paused", detail: "" }); break;
        case "resume": this.paused = false; this.schedule(); break;
        case "stop": this.session = null; this.send({ type: "state", state: "stopped", detail: "" }); break;
        case "input": this.session?.type(m.bytes); this.schedule(); break;
        case "snapshot": this.snapshotWanted = true; this.schedule(); break;
        case "lab": this.lab(m.lab, m.image, m.cpu); break;
      }
    } catch (e) {
      this.send({ type: "error", message: e instanceof Error ? e.message : String(e) });
    }
  }

  private start(req: StartRequest, restore?: GuestState): void {
    this.request = req;
    this.session = new Session(req.kind === "linux" ? linuxLoader(req) : req.image, {
      mode: req.mode, cpu: req.cpu, protect: req.protect, paging: req.mode === "vtx" || req.mode === "svm" ? req.paging : undefined, ramBytes: req.ramMiB << 20, cmdline: req.cmdline,
      maxInstructions: Number.MAX_SAFE_INTEGER, restore,
    }, (ev) => this.forward(ev));
    this.paused = false;
    this.lastSample = performance.now();
    this.stepsThisRun = 0;
    this.send({ type: "state", state: "running", detail: `${req.guest} --mode ${req.mode} --cpu ${req.cpu}` });
    this.schedule();
  }

  private forward(ev: SessionEvent): void {
    if (ev.type === "end") this.send({ type: "state", state: "ended", detail: ev.summary, run: { instructions: ev.instructions, hostMs: ev.hostMs } });
    else this.send(ev);
  }

  private schedule(): void {
    if (this.scheduled || this.paused || this.session === null || this.session.ended !== null) return;
    this.scheduled = true;
    this.tick.port2.postMessage(0);
  }

  private step(): void {
    const s = this.session;
    if (s === null || this.paused || s.ended !== null) return;
    let r;
    try { r = s.runFor(STEP_MS); } catch (e) {
      this.session = null;
      this.send({ type: "error", message: e instanceof Error ? e.message : String(e) });
      return;
    }
    if (this.snapshotWanted) this.trySnapshot(s);
    const now = performance.now();
    this.stepsThisRun++;
    if (now - this.lastSample >= SAMPLE_MS || this.stepsThisRun <= EVERY_STEP_SAMPLES || r !== null) {
      s.sample();
      this.lastSample = now;
    }
    if (r === null) this.schedule();
    else if (r.kind === "idle") this.send({ type: "state", state: "idle", detail: "waiting for input" });
  }

  /** Take the snapshot asked for, and go on from it in a fresh machine (as `run --restore`). */
  private trySnapshot(s: Session): void {
    const state = s.snapshot();
    if (state === null || this.request === null) return;
    this.snapshotWanted = false;
    const at = s.guestInstructions;
    this.start(this.request, state);
    this.send({ type: "snapshot", detail: `snapshot at ${at} guest instructions; the run continues from it in a restored machine` });
  }

  private lab(lab: LabName, image: Uint8Array | null, cpu: string): void {
    const t0 = performance.now();
    let markdown: string, json: string;
    const need = (): Uint8Array => { if (image === null) throw new Error(`${lab} needs its guest image`); return image; };
    switch (lab) {
      case "redpill": {
        const r = runRedpill(need());
        markdown = redpillFormat.formatMarkdown(r); json = redpillFormat.formatJson(r); break;
      }
      case "escape": {
        const r = runEscapeSuite(need());
        markdown = escapeReport(r, "markdown"); json = escapeReport(r, "json"); break;
      }
      case "microbench": {
        const r = measureMicrobench(need(), { repeat: 1 });
        markdown = microbenchFormat.formatMarkdown(r); json = microbenchFormat.formatJson(r); break;
      }
      case "classify": {
        const r = runClassify({ cpu, umip: false });
        markdown = classifyFormat.formatMarkdown(r); json = classifyFormat.formatJson(r); break;
      }
    }
    this.send({ type: "lab", lab, markdown, json, hostMs: performance.now() - t0 });
  }
}

/**
 * A Linux kernel entered directly, as `vmm86 run --kernel` does: the loader unpacks the
 * payload (an x86-64 kernel in 64-bit mode). Under the monitor the command line asks Linux
 * to keep its fixmap below the monitor region (reservetop=, as `vmm86 run linux` does).
 */
function linuxLoader(req: StartRequest): GuestLoader {
  let cmdline = req.cmdline;
  if (req.mode !== "bare" && !/\breservetop=/.test(cmdline)) cmdline += ` reservetop=0x${REGION_SIZE.toString(16)}`;
  return (t, e820) => x86_64Kernel(req.image) !== null
    ? loadLinux64(ramWriter(t), req.image, { initrd: req.initrd, cmdline, e820, entry: "direct" })
    : loadLinux(ramWriter(t), req.image, { initrd: req.initrd, cmdline, e820, direct: true });
}

new WorkerHost(self as unknown as Scope);
