// The lab in a real browser (issue 14, docs/web.md): Debian's chromium, headless, driven by
// playwright-core against `vmm86 web`. It boots the demo under bt and reads the terminal,
// checks the charts got samples, types into the echo guest, runs redpill and compares the
// page's table with `vmm86 redpill --format json`, compares the page's serial bytes and
// guest MIPS with the CLI's, checks the page on a phone-sized screen, and saves screenshots
// (test-artifacts/web.png, web-phone.png; VMM86_WEB_SCREENSHOT=PATH also writes the big one
// there: that is how docs/img/web.png is made).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { REPO_ROOT } from "../support/paths.js";
import { PROTECTIONS } from "../../src/vmm/protection.js";

const BIN = join(REPO_ROOT, "bin", "vmm86.js");
const CHROMIUM = process.env.VMM86_CHROMIUM ?? "/usr/bin/chromium";
const ARTIFACTS = join(REPO_ROOT, "test-artifacts");
/** Paired runs of the demo (CLI, then page) for the MIPS comparison: the median ratio counts. */
const MIPS_RUNS = 3;

interface PageState {
  serial: number[];
  samples: { mips: number; perVirtualMs: Record<string, number> }[];
  state: string;
  detail: string;
  run: { instructions: number; hostMs: number } | null;
  labs: Record<string, { markdown: string; json: string } | undefined>;
  errors: string[];
}

let server: ChildProcess;
let url: string;
let bundleDir: string;
let browser: Browser;
let page: Page;

before(async () => {
  // A missing browser is a failure, not a skip: scripts/setup-tools.sh installs it.
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/setup-tools.sh (it installs Debian's chromium)`);
  bundleDir = mkdtempSync(join(tmpdir(), "vmm86-web-"));
  server = spawn(process.execPath, [BIN, "web", "--port", "0", "--out", bundleDir], { stdio: ["ignore", "pipe", "inherit"] });
  url = await new Promise<string>((resolve, reject) => {
    let out = "";
    server.stdout!.on("data", (d) => {
      out += String(d);
      const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(out);
      if (m) resolve(m[0]);
    });
    server.once("exit", (code) => reject(new Error(`vmm86 web exited with ${code}: ${out}`)));
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1280, height: 960 } });
  page.on("pageerror", (e) => { throw e; });
});

after(async () => {
  await browser?.close();
  server?.kill();
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
});

const state = (): Promise<PageState> => page.evaluate(() => (window as unknown as { vmm86: { state: PageState } }).vmm86.state);
const terminalText = (): Promise<string> => page.locator(".xterm-rows").innerText();

/**
 * The terminal shows `re`: xterm draws what it is given on a later animation frame, so the
 * guest's bytes can be in the page's state before the rows show them. Waits up to 10 s, then
 * asserts on what the rows show.
 */
async function terminalShows(re: RegExp): Promise<void> {
  await page.waitForFunction((src) => new RegExp(src).test((document.querySelector(".xterm-rows") as HTMLElement | null)?.innerText ?? ""),
    re.source, { timeout: 10_000 }).catch(() => undefined); // the assertion says what the rows show
  assert.match(await terminalText(), re);
}

/** Pick a guest and mode in the page's pickers, press start, wait until it ends or `until` holds. */
async function boot(guest: string, mode: string): Promise<void> {
  await page.selectOption("#guest", guest);
  await page.selectOption("#mode", mode);
  await page.selectOption("#cpu", "standard");
  await page.click("#start");
  await page.waitForFunction(() => (window as unknown as { vmm86: { state: PageState } }).vmm86.state.state !== "starting");
}

async function waitEnded(): Promise<PageState> {
  await page.waitForFunction(() => ["ended", "stopped"].includes((window as unknown as { vmm86: { state: PageState } }).vmm86.state.state), null, { timeout: 60_000 });
  const s = await state();
  assert.deepEqual(s.errors, []);
  return s;
}

function cli(args: string[]): { stdout: Buffer; status: number | null } {
  const r = spawnSync(process.execPath, [BIN, ...args], { maxBuffer: 1 << 26 });
  return { stdout: r.stdout, status: r.status };
}

test("the echo guest: keys typed into the terminal come back", async () => {
  await page.goto(url);
  await boot("echo", "bt");
  await page.waitForFunction(() => document.querySelector(".xterm-rows")?.textContent?.includes("echo>"), null, { timeout: 30_000 });
  await page.locator("#terminal").click();
  await page.keyboard.type("hello vmm86");
  await page.keyboard.press("Enter");
  // The guest's bytes: the echo, then the fresh prompt Enter asks for.
  await page.waitForFunction(() => /echo> hello vmm86\r\necho> $/.test(String.fromCharCode(...(window as unknown as { vmm86: { state: PageState } }).vmm86.state.serial)), null, { timeout: 30_000 });
  await terminalShows(/echo> hello vmm86/);
  // Snapshot: the guest goes on from its saved state in a restored machine, and still echoes.
  await page.click("#snapshot");
  await page.waitForFunction(() => (window as unknown as { vmm86: { state: { snapshots: string[] } } }).vmm86.state.snapshots.length > 0, null, { timeout: 30_000 });
  await page.keyboard.type("again");
  await page.waitForFunction(() => /echo> again$/.test(String.fromCharCode(...(window as unknown as { vmm86: { state: PageState } }).vmm86.state.serial)), null, { timeout: 30_000 });
  // The page learns it is paused when the worker answers, so wait for that answer.
  await page.click("#pause");
  await page.waitForFunction(() => (window as unknown as { vmm86: { state: PageState } }).vmm86.state.state === "paused", null, { timeout: 10_000 });
  const paused = await state();
  await page.waitForTimeout(300);
  assert.equal((await state()).state, "paused");
  assert.equal((await state()).serial.length, paused.serial.length, "a paused guest prints nothing");
});

test("the demo under bare and bt: the terminal shows it, and the page's serial bytes equal the CLI's", async () => {
  const golden = readFileSync(join(REPO_ROOT, "guests", "demo", "expected-serial.txt"));
  for (const mode of ["bare", "bt"]) {
    await boot("demo", mode);
    const s = await waitEnded();
    assert.match(s.detail, /powered off with status 33/);
    if (mode === "bt") {
      // The monitor's protections, as `vmm86 run --protect` takes them.
      const offered = await page.$$eval("#protect option", (os) => os.map((o) => (o as HTMLOptionElement).value));
      assert.deepEqual(offered, [...PROTECTIONS], "the page's protect picker offers what --protect takes");
    }
    const fromCli = cli(["run", "demo", "--mode", mode]);
    assert.equal(fromCli.status, 33);
    assert.ok(Buffer.from(s.serial).equals(fromCli.stdout), `${mode}: the page's serial bytes differ from vmm86 run demo --mode ${mode}`);
    assert.ok(fromCli.stdout.equals(golden));
    await terminalShows(/demo: PASS, powering off/);
  }
});

test("the demo under vtx and svm from the pickers: the CPU follows the mode, and the serial bytes equal the CLI's", async () => {
  // vtx: the page moves the CPU from "standard" to the first part with VMX and EPT.
  // svm: athlon64-revf has SVM without nested paging, so the page's paging picker says shadow.
  for (const [mode, cpu, paging] of [["vtx", "nehalem", "nested"], ["svm", "athlon64-revf", "shadow"]] as const) {
    await page.selectOption("#guest", "demo");
    await page.selectOption("#cpu", "standard");
    await page.selectOption("#mode", mode);
    if (mode === "vtx") assert.equal(await page.inputValue("#cpu"), cpu, "picking vtx did not move the CPU to a part with VMX and EPT");
    else await page.selectOption("#cpu", cpu);
    await page.selectOption("#paging", paging);
    assert.equal(await page.isVisible("#protect"), false, `--protect means nothing under ${mode}; the page should not offer it`);
    await page.click("#start");
    const s = await waitEnded();
    assert.match(s.detail, /powered off with status 33/);
    const fromCli = cli(["run", "demo", "--mode", mode, "--cpu", cpu, "--paging", paging]);
    assert.equal(fromCli.status, 33);
    assert.ok(Buffer.from(s.serial).equals(fromCli.stdout), `${mode}: the page's serial bytes differ from vmm86 run demo --mode ${mode} --cpu ${cpu} --paging ${paging}`);
  }
});

test("the charts got counter samples and MIPS; the page and the CLI run the same guest instructions, and the page's MIPS against the CLI's is reported", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vmm86-mips-"));
  try {
    // The machine is shared and loaded, so runs are paired (CLI, then page, close in time)
    // and the median of the pairs' ratios is reported.
    const ratios: number[] = [];
    const pairs: string[] = [];
    for (let k = 0; k < MIPS_RUNS; k++) {
      const json = join(dir, `stats-${k}.json`);
      assert.equal(cli(["run", "demo", "--mode", "bt", "--stats-json", json]).status, 33);
      const doc = JSON.parse(readFileSync(json, "utf8")) as { guestInstructions: number; hostSeconds: number };
      const cliMips = doc.guestInstructions / doc.hostSeconds / 1e6;
      await boot("demo", "bt");
      const s = await waitEnded();
      assert.ok(s.run !== null);
      assert.equal(s.run.instructions, doc.guestInstructions, "the same guest instructions in the page and the CLI");
      const pageMips = s.run.instructions / s.run.hostMs / 1e3;
      ratios.push(pageMips / cliMips);
      pairs.push(`${pageMips.toFixed(2)}/${cliMips.toFixed(2)}`);
      if (k === MIPS_RUNS - 1) {
        assert.ok(s.samples.length >= 3, `only ${s.samples.length} samples`);
        assert.ok(s.samples.some((x) => x.mips > 0), "no MIPS sample above 0");
        assert.ok(s.samples.some((x) => (x.perVirtualMs.trap ?? 0) + (x.perVirtualMs.bt ?? 0) > 0), "no monitor counters in the samples");
      }
    }
    const ratio = ratios.sort((a, b) => a - b)[MIPS_RUNS >> 1];
    process.stderr.write(`web: demo --mode bt guest MIPS page/CLI per pair ${pairs.join(" ")}; median ratio ${ratio.toFixed(2)}\n`);
    // Reported, not asserted: a speed target does not belong in a timed unit test (the ratio of
    // two engines' speeds on a 3.2 M-instruction run moved from above 1 to 0.71-0.85 as the
    // CLI's V8 stopped throwing away its optimised code: docs/web.md, "Speed: page against CLI").
    // What is asserted is that both ran the same guest, and that the page measured MIPS.
    assert.ok(ratio > 0 && Number.isFinite(ratio), `no page/CLI MIPS ratio (pairs page/CLI: ${pairs.join(" ")})`);
    // uPlot drew both charts with data.
    assert.equal(await page.locator(".uplot canvas").count(), 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("redpill from the page: its table says what `vmm86 redpill --format json` says, leaking cells coloured", async () => {
  await page.click("#lab-redpill");
  await page.waitForSelector("#lab-output[data-lab=redpill] table", { timeout: 120_000 });
  const table = await page.evaluate(() => {
    const t = document.querySelector("#lab-output table")!;
    return {
      head: [...t.querySelectorAll("thead th")].map((th) => th.textContent ?? ""),
      rows: [...t.querySelectorAll("tbody tr")].map((tr) => [...tr.querySelectorAll("td")].map((td) => ({ text: td.textContent ?? "", cls: td.className }))),
    };
  });
  const fromCli = cli(["redpill", "--format", "json"]);
  assert.equal(fromCli.status, 0);
  type Json = {
    configs: { name: string }[];
    rows: { cpl: number; reference: { fault: unknown } | null; results: Record<string, { verdict: string } | null> }[];
  };
  const doc = JSON.parse(fromCli.stdout.toString("utf8")) as Json;
  assert.deepEqual(table.head, ["instruction", "CPL", ...doc.configs.map((c) => c.name)]);
  assert.ok(table.rows.length >= doc.rows.length);
  let leaks = 0;
  doc.rows.forEach((row, k) => {
    const cells = table.rows[k];
    assert.equal(cells[1].text, String(row.cpl));
    doc.configs.forEach((c, j) => {
      const cell = cells[2 + j];
      const r = row.results[c.name];
      const want = r === null ? "n/a" : r.verdict === "reference" ? (row.reference?.fault == null ? "ok" : cell.text) : r.verdict;
      assert.equal(cell.text.split(" ")[0], want.split(" ")[0], `row ${k} ${c.name}: page '${cell.text}', CLI '${want}'`);
      if (r?.verdict === "leaks") { leaks++; assert.equal(cell.cls, "leaks"); }
    });
  });
  assert.ok(leaks > 0, "trap/standard leaks: the table must show it");
  // The page's JSON is the CLI's, up to host timings.
  const pageJson = JSON.parse((await state()).labs.redpill!.json) as Json;
  const strip = (d: Json): unknown => JSON.parse(JSON.stringify(d, (k, v) => (k === "hostMs" ? 0 : v)));
  assert.deepEqual(strip(pageJson), strip(doc));
});

test("screenshots, and the page fits a phone-sized screen", async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const big = join(ARTIFACTS, "web.png");
  await page.setViewportSize({ width: 1280, height: 1280 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: big });
  await page.screenshot({ path: join(ARTIFACTS, "web-full.png"), fullPage: true });
  if (process.env.VMM86_WEB_SCREENSHOT) copyFileSync(big, process.env.VMM86_WEB_SCREENSHOT);
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(200);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow} px wider than a phone's screen`);
  await page.screenshot({ path: join(ARTIFACTS, "web-phone.png"), fullPage: true });
  assert.ok(readFileSync(big).length > 10_000);
});
