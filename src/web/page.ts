// The lab in a browser (docs/web.md): the guest's serial console in a terminal widget,
// pickers and run controls, live charts of the monitor's counters and of guest MIPS, and
// the lab's tables. The machine runs in a Web Worker (worker.ts); this file is only the UI.

import { Terminal } from "@xterm/xterm";
import uPlot from "uplot";
import { COUNTER_GROUPS, type FromWorker, type LabName, type LinuxIndexEntry, type StartRequest, type ToWorker } from "./protocol.js";
import type { Sample } from "./session.js";
import { CPU_MODELS } from "../hw/cpu/models.js";
import { PROTECTIONS } from "../vmm/protection.js";
import type { LabMode } from "../lab/guest-runner.js";
import { markdownToHtml } from "./markdown.js";

/** Guests the page offers: the committed images, served beside the page. */
const GUESTS: { name: string; label: string; cmdline: string }[] = [
  { name: "demo", label: "demo (two ring-3 processes, PIT preemption)", cmdline: "demo" },
  { name: "echo", label: "echo (types back what you type)", cmdline: "echo" },
  { name: "redpill", label: "redpill guest", cmdline: "lab" },
  { name: "escape", label: "escape guest (every attempt)", cmdline: "escape" },
  { name: "microbench", label: "microbench guest", cmdline: "lab" },
];
/** The guest choice that boots a kernel and initrd the user picks from disk. */
const UPLOAD = "upload";
/** The command line for an uploaded kernel (as `vmm86 fetch linux` guests use). */
const UPLOAD_CMDLINE = "console=ttyS0 cryptomgr.notests";
const LABS: LabName[] = ["redpill", "escape", "microbench", "classify"];
/** Points kept in a chart. */
const WINDOW = 300;

/** What the page learned, for people and for the browser test (window.vmm86). */
interface PageState {
  serial: number[];
  samples: Sample[];
  state: string;
  detail: string;
  /** The last guest that ended: guest instructions and host ms running (its MIPS). */
  run: { instructions: number; hostMs: number } | null;
  labs: Partial<Record<LabName, { markdown: string; json: string; hostMs: number }>>;
  snapshots: string[];
  errors: string[];
}

function el<K extends keyof HTMLElementTagNameMap>(id: string): HTMLElementTagNameMap[K] {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`page: no #${id}`);
  return e as HTMLElementTagNameMap[K];
}

function option(sel: HTMLSelectElement, value: string, label = value): void {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = label;
  sel.append(o);
}

class Page {
  readonly st: PageState = { serial: [], samples: [], state: "stopped", detail: "", run: null, labs: {}, snapshots: [], errors: [] };
  private worker: Worker;
  private readonly term: Terminal;
  private readonly counterChart: uPlot;
  private readonly speedChart: uPlot;
  private counterData: number[][] = [[], ...COUNTER_GROUPS.map(() => [])];
  private speedData: number[][] = [[], [], []];
  private readonly images = new Map<string, Promise<Uint8Array>>();
  private paused = false;
  private readonly guest = el<"select">("guest");
  private readonly mode = el<"select">("mode");
  private readonly cpu = el<"select">("cpu");
  private readonly protect = el<"select">("protect");
  private readonly paging = el<"select">("paging");

  constructor() {
    for (const g of GUESTS) option(this.guest, g.name, g.label);
    option(this.guest, UPLOAD, "Linux: a bzImage and initrd from this computer…");
    this.guest.onchange = () => { el("upload").hidden = this.guest.value !== UPLOAD; };
    el<"input">("upload-cmdline").value = UPLOAD_CMDLINE;
    void this.addFetchedLinux();
    for (const m of ["bt", "trap", "bare", "vtx", "svm"]) option(this.mode, m);
    for (const c of ["standard", "strict", ...CPU_MODELS.map((m) => m.name).filter((n) => n !== "pentium2")]) option(this.cpu, c);
    for (const p of PROTECTIONS) option(this.protect, p);
    for (const p of ["nested", "shadow"]) option(this.paging, p);
    // vtx and svm need a part with VMX or SVM: picking one of them moves the CPU to the
    // first such part (as the CLI's error would suggest), and the pickers show what applies.
    this.mode.onchange = () => { this.fitCpuToMode(); this.showPickers(); };
    const q = new URLSearchParams(location.search);
    for (const [k, sel] of [["guest", this.guest], ["mode", this.mode], ["cpu", this.cpu], ["protect", this.protect], ["paging", this.paging]] as const) {
      const v = q.get(k);
      if (v !== null) sel.value = v;
    }
    if (q.get("cpu") === null) this.fitCpuToMode();
    this.showPickers();

    this.term = new Terminal({ convertEol: true, fontSize: fontFor(el("terminal").clientWidth), rows: 24, cols: 80, scrollback: 5000, theme: { background: "#101418" } });
    this.term.open(el("terminal"));
    // 80 columns across the console's width: a smaller font on a phone, a larger one on a projector.
    new ResizeObserver(() => {
      const size = fontFor(el("terminal").clientWidth);
      if (this.term.options.fontSize !== size) this.term.options.fontSize = size;
    }).observe(el("terminal"));
    this.term.onData((d) => this.post({ type: "input", bytes: new TextEncoder().encode(d) }));

    const width = (): number => Math.max(260, el("charts").clientWidth - 8);
    this.counterChart = new uPlot({
      title: "monitor events per virtual ms (log scale)", width: width(), height: 200,
      scales: { x: { time: false }, y: { distr: 3 } },
      axes: [{ label: "virtual ms" }, { size: 70 }],
      series: [{ label: "virtual ms" }, ...COUNTER_GROUPS.map((g, k) => ({ label: g, stroke: COLORS[k % COLORS.length], width: 1.5 }))],
    }, this.counterData as uPlot.AlignedData, el("counter-chart"));
    this.speedChart = new uPlot({
      title: "guest MIPS and monitor time per guest time", width: width(), height: 200,
      scales: { x: { time: false }, ratio: { auto: true } },
      axes: [{ label: "virtual ms" }, { label: "MIPS" }, { scale: "ratio", side: 1, label: "monitor/guest", grid: { show: false } }],
      series: [{ label: "virtual ms" }, { label: "MIPS", stroke: "#2a7ae2", width: 2 }, { label: "monitor/guest", stroke: "#d9534f", width: 1.5, scale: "ratio" }],
    }, this.speedData as uPlot.AlignedData, el("speed-chart"));
    new ResizeObserver(() => {
      this.counterChart.setSize({ width: width(), height: 200 });
      this.speedChart.setSize({ width: width(), height: 200 });
    }).observe(el("charts"));

    this.worker = this.newWorker();
    el<"button">("start").onclick = () => void this.start();
    el<"button">("pause").onclick = () => this.togglePause();
    el<"button">("reset").onclick = () => void this.start();
    el<"button">("snapshot").onclick = () => { this.post({ type: "snapshot" }); this.term.focus(); };
    for (const lab of LABS) {
      const b = document.createElement("button");
      b.textContent = `run ${lab}`;
      b.id = `lab-${lab}`;
      b.onclick = () => void this.runLab(lab);
      el("lab-buttons").append(b);
    }
    (window as unknown as { vmm86: unknown }).vmm86 = { state: this.st, start: () => this.start(), runLab: (l: LabName) => this.runLab(l) };
    if (q.get("autostart") === "1") void this.start();
  }

  private newWorker(): Worker {
    const w = new Worker("worker.js");
    w.onmessage = (e: MessageEvent<FromWorker>) => this.receive(e.data);
    w.onerror = (e) => this.error(`worker: ${e.message}`);
    return w;
  }

  /** Under vtx or svm, a CPU without VMX or SVM becomes the first model that has it (nested paging when asked). */
  private fitCpuToMode(): void {
    const need = this.mode.value === "vtx" ? "vmx" : this.mode.value === "svm" ? "svm" : null;
    if (need === null) return;
    const current = CPU_MODELS.find((m) => m.name === this.cpu.value);
    if (current !== undefined && current.features[need]) return;
    const nested = (m: (typeof CPU_MODELS)[number]): boolean => (need === "vmx" ? m.features.ept : m.features.npt);
    const pick = CPU_MODELS.find((m) => m.features[need] && nested(m)) ?? CPU_MODELS.find((m) => m.features[need]);
    if (pick !== undefined) this.cpu.value = pick.name;
  }

  /** Protection applies to trap and bt, paging to vtx and svm. */
  private showPickers(): void {
    const assisted = this.mode.value === "vtx" || this.mode.value === "svm";
    this.protect.parentElement!.hidden = assisted || this.mode.value === "bare";
    this.paging.parentElement!.hidden = !assisted;
  }

  private post(m: ToWorker, transfer: Transferable[] = []): void {
    this.worker.postMessage(m, transfer);
  }

  private image(name: string): Promise<Uint8Array> {
    let p = this.images.get(name);
    if (p === undefined) {
      p = fetch(`guests/${name}.elf`).then(async (r) => {
        if (!r.ok) throw new Error(`guests/${name}.elf: HTTP ${r.status}`);
        return new Uint8Array(await r.arrayBuffer());
      });
      this.images.set(name, p);
    }
    return p;
  }

  /** The Linux guests `vmm86 fetch` cached, when `vmm86 web` serves them (a static bundle has none). */
  private async addFetchedLinux(): Promise<void> {
    try {
      const r = await fetch("linux/index.json");
      if (!r.ok) return;
      for (const g of (await r.json()) as LinuxIndexEntry[]) {
        this.linux.set(g.name, g);
        option(this.guest, `linux:${g.name}`, `${g.name} (Debian ${g.release}, fetched)`);
      }
      const want = new URLSearchParams(location.search).get("guest");
      if (want !== null && this.linux.has(want.replace(/^linux:/, ""))) this.guest.value = `linux:${want.replace(/^linux:/, "")}`;
    } catch { /* no Linux offered */ }
  }

  private readonly linux = new Map<string, LinuxIndexEntry>();

  /** The kernel, initrd and command line of the Linux guest picked, fetched or uploaded. */
  private async linuxFiles(): Promise<{ image: Uint8Array; initrd: Uint8Array; cmdline: string; name: string }> {
    if (this.guest.value === UPLOAD) {
      const file = async (id: string): Promise<Uint8Array> => {
        const f = el<"input">(id).files?.[0];
        if (f === undefined) throw new Error(`pick a file for the ${id === "upload-kernel" ? "kernel (bzImage)" : "initrd"}`);
        return new Uint8Array(await f.arrayBuffer());
      };
      return { image: await file("upload-kernel"), initrd: await file("upload-initrd"), cmdline: el<"input">("upload-cmdline").value, name: "uploaded Linux" };
    }
    const g = this.linux.get(this.guest.value.slice("linux:".length))!;
    const get = async (f: string): Promise<Uint8Array> => {
      const r = await fetch(`linux/${g.name}/${f}`);
      if (!r.ok) throw new Error(`linux/${g.name}/${f}: HTTP ${r.status}`);
      return new Uint8Array(await r.arrayBuffer());
    };
    return { image: await get("bzImage"), initrd: await get("initramfs"), cmdline: g.cmdline, name: g.name };
  }

  async start(): Promise<void> {
    try { await this.startGuest(); } catch (e) { this.error(e instanceof Error ? e.message : String(e)); }
  }

  private async startGuest(): Promise<void> {
    const isLinux = this.guest.value === UPLOAD || this.guest.value.startsWith("linux:");
    const g = GUESTS.find((x) => x.name === this.guest.value) ?? GUESTS[0];
    const linux = isLinux ? await this.linuxFiles() : null;
    const image = linux !== null ? linux.image : (await this.image(g.name)).slice();
    // A fresh worker: a lab run or a long step cannot hold up the new guest.
    this.worker.terminate();
    this.worker = this.newWorker();
    this.term.reset();
    this.st.serial.length = 0;
    this.st.samples.length = 0;
    this.st.run = null;
    this.st.state = "starting";
    this.counterData = [[], ...COUNTER_GROUPS.map(() => [])];
    this.speedData = [[], [], []];
    this.paused = false;
    el<"button">("pause").textContent = "pause";
    const req: StartRequest = {
      type: "start", guest: linux?.name ?? g.name, kind: linux !== null ? "linux" : "multiboot", image, initrd: linux?.initrd,
      mode: this.mode.value as LabMode, cpu: this.cpu.value,
      protect: this.protect.value as StartRequest["protect"], paging: this.paging.value as StartRequest["paging"], ramMiB: 128, cmdline: linux?.cmdline ?? g.cmdline,
    };
    this.post(req, linux !== null ? [image.buffer, linux.initrd.buffer] : [image.buffer]);
    this.term.focus();
  }

  private togglePause(): void {
    this.paused = !this.paused;
    this.post({ type: this.paused ? "pause" : "resume" });
    el<"button">("pause").textContent = this.paused ? "resume" : "pause";
    this.term.focus();
  }

  private async runLab(lab: LabName): Promise<void> {
    const guestOf: Record<LabName, string | null> = { redpill: "redpill", escape: "escape", microbench: "microbench", classify: null };
    const g = guestOf[lab];
    const image = g === null ? null : (await this.image(g)).slice();
    el("lab-status").textContent = `running ${lab}…`;
    delete this.st.labs[lab];
    // The lab runs in a worker of its own, so a guest can keep running beside it.
    const w = new Worker("worker.js");
    w.onmessage = (e: MessageEvent<FromWorker>) => {
      const m = e.data;
      if (m.type === "lab") {
        this.st.labs[lab] = { markdown: m.markdown, json: m.json, hostMs: m.hostMs };
        el("lab-status").textContent = `${lab}: ${(m.hostMs / 1000).toFixed(1)} s in the browser`;
        const out = el("lab-output");
        out.innerHTML = markdownToHtml(m.markdown);
        out.dataset.lab = lab;
        w.terminate();
      } else if (m.type === "error") { this.error(`${lab}: ${m.message}`); w.terminate(); }
    };
    w.postMessage({ type: "lab", lab, image, cpu: this.cpu.value } satisfies ToWorker, image !== null ? [image.buffer] : []);
  }

  private receive(m: FromWorker): void {
    switch (m.type) {
      case "serial":
        for (const b of m.bytes) this.st.serial.push(b);
        this.term.write(m.bytes);
        break;
      case "sample": this.addSample(m.sample); break;
      case "state":
        this.st.state = m.state;
        this.st.detail = m.detail;
        if (m.run !== undefined) this.st.run = m.run;
        el("status").textContent = `${m.state}${m.detail ? `: ${m.detail}` : ""}`;
        break;
      case "snapshot":
        this.st.snapshots.push(m.detail);
        el("status").textContent = m.detail;
        break;
      case "lab": break;
      case "error": this.error(m.message); break;
    }
  }

  private addSample(s: Sample): void {
    this.st.samples.push(s);
    const push = (data: number[][], values: number[]): void => {
      data[0].push(s.virtualMs);
      values.forEach((v, k) => data[k + 1].push(v));
      if (data[0].length > WINDOW) for (const a of data) a.shift();
    };
    // A log scale has no 0: a group with no events in the interval is a gap.
    push(this.counterData, COUNTER_GROUPS.map((g) => s.perVirtualMs[g] || (null as unknown as number)));
    // MIPS over less than 5 ms of host time (the last bit of a run) says little.
    if (s.hostMs >= 5) push(this.speedData, [s.mips, s.monitorRatio]);
    this.counterChart.setData(this.counterData as uPlot.AlignedData);
    this.speedChart.setData(this.speedData as uPlot.AlignedData);
    if (s.hostMs >= 5) el("mips").textContent = `${s.mips.toFixed(1)} MIPS`;
  }

  private error(message: string): void {
    this.st.errors.push(message);
    el("status").textContent = `error: ${message}`;
  }
}

/** The font size that fits 80 columns of a monospace font (about 0.6 em wide) in `width` px. */
function fontFor(width: number): number {
  return Math.max(8, Math.min(18, Math.floor((width - 12) / 80 / 0.61)));
}

const COLORS = ["#d9534f", "#f0ad4e", "#5cb85c", "#2a7ae2", "#9b59b6", "#16a085", "#e67e22", "#7f8c8d"];

new Page();
