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

function main(): number {
  const args = parse(process.argv.slice(2));
  const mode = args.get("mode") ?? "32";
  if (mode !== "32" && mode !== "64") throw new Error(`difftest: --mode is 32 or 64, not ${mode}`);
  if (mode === "64") return main64(args);
  const count = Number(args.get("count") ?? 10000);
  const seed = args.has("seed") ? Number(args.get("seed")) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
  const batch = Number(args.get("batch") ?? 2000);
  const groups = (args.get("groups")?.split(",").filter((g) => g) ?? [...GROUPS]) as Group[];
  for (const g of groups) if (!(GROUPS as readonly string[]).includes(g)) throw new Error(`difftest: unknown group ${g} (groups: ${GROUPS.join(",")})`);
  const only = args.has("case") ? Number(args.get("case")) : -1;
  const allFailures = args.has("all-failures");
  const quiet = args.has("quiet");

  console.log(`difftest: seed ${seed}, ${only >= 0 ? `case ${only}` : `${count} cases`}, groups ${groups.join(",")}`);
  const indices = only >= 0 ? [only] : Array.from({ length: count }, (_, k) => k);
  if (!nativeAvailable()) {
    console.log("difftest: this host cannot assemble or run i386 code natively; every case is skipped");
    console.log(`0 passed, 0 failed, ${indices.length} skipped`);
    return 0;
  }
  const engine = new Engine();
  const per = new Map<string, { pass: number; fail: number; skip: number }>();
  let passed = 0, failed = 0, skipped = 0, explained = 0;
  const t0 = Date.now();
  for (let start = 0; start < indices.length; start += batch) {
    const cases = indices.slice(start, start + batch).map((i) => generate(seed, i, groups));
    for (const res of engine.runCases(cases)) {
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
  if (failed) console.log(`reproduce: npm run difftest -- --seed ${seed} --count ${count}${args.has("groups") ? " --groups " + groups.join(",") : ""}`);
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
  return failed ? 1 : 0;
}

/** --mode 64: the same report for the 64-bit difftest. */
function main64(args: Map<string, string>): number {
  const count = Number(args.get("count") ?? 10000);
  const seed = args.has("seed") ? Number(args.get("seed")) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
  const batch = Number(args.get("batch") ?? 2000);
  const groups = (args.get("groups")?.split(",").filter((g) => g) ?? [...GROUPS64]) as Group64[];
  for (const g of groups) if (!(GROUPS64 as readonly string[]).includes(g)) throw new Error(`difftest: unknown 64-bit group ${g} (groups: ${GROUPS64.join(",")})`);
  const only = args.has("case") ? Number(args.get("case")) : -1;
  console.log(`difftest --mode 64: seed ${seed}, ${only >= 0 ? `case ${only}` : `${count} cases`}, groups ${groups.join(",")}`);
  const indices = only >= 0 ? [only] : Array.from({ length: count }, (_, k) => k);
  if (!native64Available()) {
    console.log("difftest: this host cannot assemble or run x86-64 code natively; every case is skipped");
    console.log(`0 passed, 0 failed, ${indices.length} skipped`);
    return 0;
  }
  const engine = new Engine64();
  const per = new Map<string, { pass: number; fail: number }>();
  let passed = 0, failed = 0, explained = 0;
  const t0 = Date.now();
  for (let start = 0; start < indices.length; start += batch) {
    for (const res of engine.run(indices.slice(start, start + batch).map((i) => generate64(seed, i, groups)))) {
      const s = per.get(res.c.group) ?? { pass: 0, fail: 0 };
      per.set(res.c.group, s);
      if (res.status === "pass") { passed++; s.pass++; continue; }
      failed++; s.fail++;
      if (explained === 0 || args.has("all-failures") || only >= 0) {
        explained++;
        console.log("\nFAIL " + engine.explain(res.c));
        console.log("  whole case: " + res.diffs.join("; "));
      }
    }
    if (!args.has("quiet") && indices.length > batch) {
      const done = Math.min(start + batch, indices.length);
      console.log(`  ${done}/${indices.length} (${((Date.now() - t0) / 1000).toFixed(1)} s): ${passed} passed, ${failed} failed`);
    }
  }
  console.log("\nper group:");
  for (const g of [...per.keys()].sort()) {
    const s = per.get(g)!;
    console.log(`  ${g.padEnd(8)} ${String(s.pass).padStart(8)} passed ${String(s.fail).padStart(7)} failed`);
  }
  if (failed) console.log(`reproduce: npm run difftest -- --mode 64 --seed ${seed} --count ${count}${args.has("groups") ? " --groups " + groups.join(",") : ""}`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

process.exitCode = main();
