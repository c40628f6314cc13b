// The lab's refusal probe (src/lab/columns64.ts): runs `vmm86 run --kernel IMAGE` with a
// column's flags in a child process, exactly as a user would, and reads the CLI's own
// error line (`vmm86: E_CODE: message`) and exit status. Only the codes that mean "this
// build will not run that" are refusals (REFUSAL_CODES); however else the run ends (the
// guest powers off, triple-faults, breaches, the time limit) the CLI ran it.

import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { columnFlags, type Refusal, type RefusalProbe } from "../lab/columns64.js";

/**
 * Bad flags or values, a monitor declining the guest's mode, and a protection the CPU model
 * cannot make sound (bt's --protect segments on a 64-bit guest without EFER.LMSLE).
 */
export const REFUSAL_CODES: readonly string[] = ["E_USAGE", "E_MONITOR_UNSUPPORTED", "E_PROTECT_UNSOUND"];

const BIN = fileURLToPath(new URL("../../../bin/vmm86.js", import.meta.url));

/** A RefusalProbe for `image` (a path) with the multiboot command line `append`. */
export function cliRefusalProbe(image: string, append?: string, timeoutSeconds = 30): RefusalProbe {
  const memo = new Map<string, Refusal | null>();
  return (col) => {
    const argv = ["run", "--kernel", image, ...columnFlags(col), "--timeout", String(timeoutSeconds), ...(append !== undefined ? ["--append", append] : [])];
    const key = argv.join(" ");
    if (memo.has(key)) return memo.get(key)!;
    const r = spawnSync(process.execPath, [BIN, ...argv], { encoding: "latin1", maxBuffer: 16 << 20 });
    const m = /^vmm86: (E_[A-Z0-9_]+): (.*)$/m.exec(r.stderr ?? "");
    const refusal = m !== null && REFUSAL_CODES.includes(m[1]) ? { code: m[1], exitCode: r.status ?? -1, message: m[2] } : null;
    memo.set(key, refusal);
    return refusal;
  };
}
