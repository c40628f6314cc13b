// Where the project's committed guest images live in a checkout, and reading them: the
// Node side of the lab (the CLI, the tests, `vmm86 web`). The lab itself (src/lab) takes
// image bytes, so it runs in a browser too.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The repository root (this file runs as dist/src/guests/images.js). */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** guests/NAME/NAME.elf in the checkout. */
export function guestImagePath(name: "demo" | "echo" | "redpill" | "escape" | "microbench" | "redpill64" | "escape64" | "microbench64"): string {
  return fileURLToPath(new URL(`../../../guests/${name}/${name}.elf`, import.meta.url));
}

export const DEMO_IMAGE = guestImagePath("demo");
export const REDPILL_IMAGE = guestImagePath("redpill");
export const ESCAPE_IMAGE = guestImagePath("escape");
export const MICROBENCH_IMAGE = guestImagePath("microbench");
export const REDPILL64_IMAGE = guestImagePath("redpill64");
export const ESCAPE64_IMAGE = guestImagePath("escape64");
export const MICROBENCH64_IMAGE = guestImagePath("microbench64");

export function loadRedpillImage(path = REDPILL_IMAGE): Uint8Array {
  return readFileSync(path);
}

export function loadEscapeImage(path = ESCAPE_IMAGE): Uint8Array {
  return readFileSync(path);
}
