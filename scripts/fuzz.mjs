#!/usr/bin/env node
// npm run fuzz [-- MINUTES]: the fuzzers of test/fuzz with random seeds, round robin, for
// MINUTES (default 30) of host time. Prints each finding with the seed that reproduces it,
// and the number of cases run per fuzzer. Exit 1 if anything was found.
import { fuzzArgv } from "../dist/test/fuzz/cli-argv.js";
import { fuzzLoaders } from "../dist/test/fuzz/loaders.js";
import { fuzzStreams } from "../dist/test/fuzz/instruction-stream.js";

const minutes = Number(process.argv[2] ?? process.env.FUZZ_MINUTES ?? 30);
const end = Date.now() + minutes * 60_000;
const kinds = [
  { name: "cli-argv", run: fuzzArgv, batch: 5 },
  { name: "loaders", run: fuzzLoaders, batch: 50 },
  { name: "instruction-stream", run: fuzzStreams, batch: 3 },
];
const counts = Object.fromEntries(kinds.map((k) => [k.name, { cases: 0, findings: 0 }]));
let k = 0;
while (Date.now() < end) {
  const kind = kinds[k++ % kinds.length];
  const seed = (Math.random() * 2 ** 32) >>> 0;
  const found = kind.run(seed, kind.batch);
  counts[kind.name].cases += kind.batch;
  counts[kind.name].findings += found.length;
  for (const f of found) console.log(`${kind.name}: finding at seed ${f.seed}: ${JSON.stringify(f)}`);
}
for (const [name, c] of Object.entries(counts)) console.log(`${name}: ${c.cases} cases, ${c.findings} findings`);
process.exit(Object.values(counts).some((c) => c.findings > 0) ? 1 : 0);
