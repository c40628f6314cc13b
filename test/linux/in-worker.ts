// Runs a session module in a worker thread (the Linux tests boot two guests at once, one
// per core): the module reads its input from workerData and posts one message, its result.

import { Worker } from "node:worker_threads";

/** Start `module` (a file path) with `workerData`; resolves with the first message it posts. */
export function inWorker<T>(module: string, workerData: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const w = new Worker(module, { workerData });
    w.once("message", (r: T) => resolve(r));
    w.once("error", reject);
    w.once("exit", (code) => { if (code !== 0) reject(new Error(`session worker exited with ${code}`)); });
  });
}
