// The browser build's rule, checked by running the project's own lint configuration: a Node
// import or global in src/hw, src/vmm, src/boot, src/lab or src/web is an error; tests and
// the Node side (src/cli, src/guests) may use Node.

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ESLint } from "eslint";
import { REPO_ROOT } from "../support/paths.js";

const eslint = new ESLint({ cwd: REPO_ROOT });

async function errors(code: string, file: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: join(REPO_ROOT, file) });
  return r.messages.filter((m) => m.severity === 2).map((m) => m.ruleId ?? m.message);
}

const NODE_IMPORT = 'import { readFileSync } from "node:fs";\nexport const x = readFileSync;\n';

test("a node: import fails the lint in every browser-side folder", async () => {
  for (const dir of ["src/hw/cpu", "src/vmm/bt", "src/boot", "src/lab/redpill", "src/web"]) {
    assert.deepEqual(await errors(NODE_IMPORT, `${dir}/probe.ts`), ["no-restricted-imports"], dir);
  }
  assert.deepEqual(await errors('import { gunzipSync } from "zlib";\nexport const g = gunzipSync;\n', "src/boot/probe.ts"), ["no-restricted-imports"]);
  assert.deepEqual(await errors("export const b = Buffer.alloc(1);\n", "src/hw/probe.ts"), ["no-restricted-globals"]);
});

test("Node stays allowed where it belongs: the CLI, src/guests and tests", async () => {
  for (const file of ["src/cli/probe.ts", "src/guests/probe.ts", "src/hw/cpu/probe.test.ts", "test/web/probe.ts"]) {
    assert.deepEqual(await errors(NODE_IMPORT, file), [], file);
  }
});
