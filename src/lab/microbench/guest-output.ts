// Reads what guests/microbench writes to COM1:
//
//   MB ready                                  set-up done (GDT, IDT, SYSENTER MSRs, paging)
//   MB <name> iters=<operations> cycles=<n>   one per benchmark run, RDTSC delta over all
//   MB-FAIL <text>                            a benchmark's check failed, or a fatal trap
//   MB end ok | MB end fail                   last line before the power-off
//
// Anything else (the banner) is ignored.

export interface BenchLine {
  name: string;
  iters: number;
  cycles: number;
}

export interface GuestReport {
  ready: boolean;
  results: BenchLine[];
  failures: string[];
  /** The final verdict line, or null if the guest never printed one. */
  end: "ok" | "fail" | null;
}

const RESULT = /^MB ([a-z0-9_]+) iters=(\d+) cycles=(\d+)$/;

export function parseGuestOutput(serial: string): GuestReport {
  const report: GuestReport = { ready: false, results: [], failures: [], end: null };
  for (const raw of serial.split("\n")) {
    const line = raw.replace(/\r$/, "");
    if (line === "MB ready") { report.ready = true; continue; }
    if (line === "MB end ok" || line === "MB end fail") { report.end = line === "MB end ok" ? "ok" : "fail"; continue; }
    if (line.startsWith("MB-FAIL ")) { report.failures.push(line.slice(8)); continue; }
    const m = RESULT.exec(line);
    if (m) report.results.push({ name: m[1], iters: Number(m[2]), cycles: Number(m[3]) });
  }
  return report;
}
