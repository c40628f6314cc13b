// Difftest command line: npm run difftest -- [--mode 32|64] [--count N] [--seed S]
//   [--groups a,b] [--case I] [--batch B] [--all-failures] [--quiet]
// --mode 64 runs the 64-bit difftest (test/difftest64) with its own groups.
// Runs N random cases (or just case I of seed S) natively and in the model, prints the seed,
// progress, the first failing case explained instruction by instruction, per-group counts,
// and ends with "N passed, N failed[, N skipped]". Exit status 1 on any failure.

import { Engine, generate } from "./engine.js";
import { GROUPS, type Group } from "./generator.js";
import { nativeAvailable } from "./native.js";
import { Engine64 } from "../difftest64/engine64.js";
import { GROUPS64, generate64, type Group64 } from "../difftest64/generator64.js";
import { native64Available } from "../difftest64/native64.js";

function parse(argv: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k];
    if (!a.startsWith("--")) throw new Error(`difftest: unexpected argument ${a}`);
    const eq = a.indexOf("=");
    if (eq > 0) m.set(a.slice(2, eq), a.slice(eq + 1));
    else if (k + 1 < argv.length && !argv[k + 1].startsWith("--")) m.set(a.slice(2), argv[++k]);
    else m.set(a.slice(2), "");
  }
  return m;
}

/** One difftest (32- or 64-bit) as the command line drives it. */
interface Suite<C extends { group: string; index: number }> {
  title: string;
  /** What --mode to repeat in the reproduce line ("" for the default). */
  modeFlag: string;
  groups: readonly string[];
  /** What to say when the host cannot run the native side. */
  unavailable: string;
  available(): boolean;
  generate(seed: number, index: number, groups: string[]): C;
  /** A runner made once the host is known to work. */
  engine(): { run(cases: C[]): { c: C; status: "pass" | "fail" | "skip"; diffs: string[] }[]; explain(c: C): string };
}

const SUITE32: Suite<ReturnType<typeof generate>> = {
  title: "difftest", modeFlag: "", groups: GROUPS,
  unavailable: "this host cannot assemble or run i386 code natively",
  available: nativeAvailable,
  generate: (seed, index, groups) => generate(seed, index, groups as Group[]),
  engine: () => { const e = new Engine(); return { run: (cases) => e.runCases(cases), explain: (c) => e.explain(c) }; },
};

const SUITE64: Suite<ReturnType<typeof generate64>> = {
  title: "difftest --mode 64", modeFlag: " --mode 64", groups: GROUPS64,
  unavailable: "this host cannot assemble or run x86-64 code natively",
  available: native64Available,
  generate: (seed, index, groups) => generate64(seed, index, groups as Group64[]),
  engine: () => { const e = new Engine64(); return { run: (cases) => e.run(cases), explain: (c) => e.explain(c) }; },
};

function runSuite<C extends { group: string; index: number }>(suite: Suite<C>, args: Map<string, string>): number {
  const count = Number(args.get("count") ?? 10000);
  const seed = args.has("seed") ? Number(args.get("seed")) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
  const batch = Number(args.get("batch") ?? 2000);
  const groups = args.get("groups")?.split(",").filter((g) => g) ?? [...suite.groups];
  for (const g of groups) if (!suite.groups.includes(g)) throw new Error(`difftest: unknown group ${g} (groups: ${suite.groups.join(",")})`);
  const only = args.has("case") ? Number(args.get("case")) : -1;
  const allFailures = args.has("all-failures");
  const quiet = args.has("quiet");

  console.log(`${suite.title}: seed ${seed}, ${only >= 0 ? `case ${only}` : `${count} cases`}, groups ${groups.join(",")}`);
  const indices = only >= 0 ? [only] : Array.from({ length: count }, (_, k) => k);
  if (!suite.available()) {
    console.log(`difftest: ${suite.unavailable}; every case is skipped`);
    console.log(`0 passed, 0 failed, ${indices.length} skipped`);
    return 0;
  }
  const engine = suite.engine();
  const per = new Map<string, { pass: number; fail: number; skip: number }>();
  let passed = 0, failed = 0, skipped = 0, explained = 0;
  const t0 = Date.now();
  for (let start = 0; start < indices.length; start += batch) {
    const cases = indices.slice(start, start + batch).map((i) => suite.generate(seed, i, groups));
    for (const res of engine.run(cases)) {
      const s = per.get(res.c.group) ?? { pass: 0, fail: 0, skip: 0 };
      per.set(res.c.group, s);
      if (res.status === "pass") { passed++; s.pass++; continue; }
      if (res.status === "skip") { skipped++; s.skip++; continue; }
      failed++; s.fail++;
      if (explained === 0 || allFailures || only >= 0) {
        explained++;
        console.log("\nFAIL " + engine.explain(res.c));
        console.log("  whole case: " + res.diffs.join("; "));
      }
    }
    if (!quiet && indices.length > batch) {
      const done = Math.min(start + batch, indices.length);
      console.log(`  ${done}/${indices.length} (${((Date.now() - t0) / 1000).toFixed(1)} s): ${passed} passed, ${failed} failed`);
    }
  }
  console.log("\nper group:");
  for (const g of [...per.keys()].sort()) {
    const s = per.get(g)!;
    console.log(`  ${g.padEnd(8)} ${String(s.pass).padStart(8)} passed ${String(s.fail).padStart(7)} failed${s.skip ? ` ${s.skip} skipped` : ""}`);
  }
  if (failed) console.log(`reproduce: npm run difftest --${suite.modeFlag} --seed ${seed} --count ${count}${args.has("groups") ? " --groups " + groups.join(",") : ""}`);
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
  return failed ? 1 : 0;
}

function main(): number {
  const args = parse(process.argv.slice(2));
  const mode = args.get("mode") ?? "32";
  if (mode !== "32" && mode !== "64") throw new Error(`difftest: --mode is 32 or 64, not ${mode}`);
  return mode === "64" ? runSuite(SUITE64, args) : runSuite(SUITE32, args);
}

process.exitCode = main();
