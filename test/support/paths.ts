// Where the project and the shared conformance material are, seen from compiled tests
// (dist/test/support/paths.js → the repository root is three levels up).

import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/** `../shared` beside the checkout (DESIGN.md, conformance suites). */
export const SHARED = join(REPO_ROOT, "..", "shared");
export const TEST386_DIR = join(SHARED, "conformance", "test386");
