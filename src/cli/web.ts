// `vmm86 web [--port P] [--out DIR] [--build-only]`: the lab in a browser (docs/web.md).
// Bundles src/web with esbuild into a static directory (page, worker, styles and the
// committed guest images) and serves it on loopback. `npm run build:web` writes the same
// bundle without serving it, for any web server.

import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join, normalize, extname } from "node:path";
import { createRequire } from "node:module";
import { ExitCode, UserError, usageError } from "./errors.js";
import { numberFlag, parseArgs, type FlagSpec } from "./args.js";
import { writeAll } from "./output.js";
import { REPO_ROOT, guestImagePath } from "../guests/images.js";
import { cachedLinux, LINUX_GUESTS } from "../guests/fetch-linux.js";

export const WEB_FLAGS: Record<string, FlagSpec> = {
  port: { value: true },
  out: { value: true },
  "build-only": { value: false },
  help: { value: false, aliases: ["-h"] },
};

export const WEB_HELP = `vmm86 web — the lab in a browser

Usage:
  vmm86 web [--port P] [--out DIR]   build the page and serve it on http://127.0.0.1:P/
  vmm86 web --build-only [--out DIR] build it only (npm run build:web)

The page runs the machine in a Web Worker: the guest's serial console, pickers for guest,
mode, CPU model and protection, start, pause, reset and snapshot, live charts of the
monitor's counters per virtual millisecond and of guest MIPS, and the lab's tables
(redpill, escape, microbench, classify). The bundle (default dist/web) is static: any web
server can serve it.

Options:
  --port P       TCP port on 127.0.0.1 (default 8086; 0 picks a free one)
  --out DIR      where the bundle goes (default dist/web)
  --build-only   write the bundle and exit
  -h, --help     this text
`;

export const DEFAULT_WEB_DIR = join(REPO_ROOT, "dist", "web");
const GUEST_NAMES = ["demo", "echo", "redpill", "escape", "microbench"] as const;

/** Write the static bundle to `out` with esbuild; returns the files written. */
export async function buildWeb(out: string): Promise<string[]> {
  let esbuild: typeof import("esbuild");
  try {
    esbuild = await import("esbuild");
  } catch {
    throw new UserError("E_NO_BUNDLER", ExitCode.USAGE, "vmm86 web needs esbuild (a devDependency): run `npm install` in the checkout");
  }
  const src = join(REPO_ROOT, "src", "web");
  mkdirSync(join(out, "guests"), { recursive: true });
  await esbuild.build({
    entryPoints: { page: join(src, "page.ts"), worker: join(src, "worker.ts") },
    outdir: out,
    bundle: true,
    format: "iife",
    platform: "browser",
    target: "es2022",
    minify: true,
    sourcemap: true,
    logLevel: "error",
  });
  const require = createRequire(import.meta.url);
  const files = ["page.js", "worker.js"];
  const copy = (from: string, name: string): void => { copyFileSync(from, join(out, name)); files.push(name); };
  copy(join(src, "index.html"), "index.html");
  copy(join(src, "page.css"), "page.css");
  copy(require.resolve("@xterm/xterm/css/xterm.css"), "xterm.css");
  copy(join(require.resolve("uplot"), "..", "uPlot.min.css"), "uPlot.min.css");
  for (const g of GUEST_NAMES) copy(guestImagePath(g), join("guests", `${g}.elf`));
  return files;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
  ".map": "application/json", ".elf": "application/octet-stream", ".png": "image/png",
};

/**
 * The Linux guests `vmm86 fetch` cached (linux/index.json) and their files
 * (linux/NAME/bzImage, linux/NAME/initramfs): the page offers them as guests.
 */
function linuxFile(pathname: string): { body: Buffer; type: string } | null {
  if (pathname === "/linux/index.json") {
    const list = LINUX_GUESTS.flatMap((g) => {
      const c = cachedLinux(undefined, g);
      return c === null ? [] : [{ name: g.name, release: c.release, cmdline: c.cmdline }];
    });
    return { body: Buffer.from(JSON.stringify(list)), type: "application/json" };
  }
  const m = /^\/linux\/([a-z0-9-]+)\/(bzImage|initramfs)$/.exec(pathname);
  const g = m !== null ? LINUX_GUESTS.find((x) => x.name === m[1]) : undefined;
  const c = g !== undefined ? cachedLinux(undefined, g) : null;
  if (m === null || c === null) return null;
  return { body: readFileSync(m[2] === "bzImage" ? c.bzImage : c.initramfs), type: "application/octet-stream" };
}

/** Serve `dir` on 127.0.0.1:`port`, with the fetched Linux guests; resolves once listening. */
export function serveWeb(dir: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname.startsWith("/linux/")) {
      const f = req.method === "GET" ? linuxFile(url.pathname) : null;
      if (f === null) { res.writeHead(404, { "content-type": "text/plain" }).end("not found\n"); return; }
      res.writeHead(200, { "content-type": f.type, "content-length": f.body.length }).end(f.body);
      return;
    }
    const rel = normalize(decodeURIComponent(url.pathname)).replace(/^(\.\.[/\\])+/, "");
    let path = join(dir, rel);
    if (!path.startsWith(dir)) { res.writeHead(403).end(); return; }
    if (existsSync(path) && statSync(path).isDirectory()) path = join(path, "index.html");
    if (req.method !== "GET" && req.method !== "HEAD") { res.writeHead(405).end(); return; }
    if (!existsSync(path)) { res.writeHead(404, { "content-type": "text/plain" }).end("not found\n"); return; }
    const body = readFileSync(path);
    res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream", "cache-control": "no-cache", "content-length": body.length });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

export async function webCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, WEB_FLAGS);
  if (p.flags.has("help")) { writeAll(1, WEB_HELP); return ExitCode.OK; }
  if (p.positional.length > 0) throw usageError(`web takes no arguments (got '${p.positional[0]}')`);
  const port = numberFlag(p, "port", 0, 65535) ?? 8086;
  if (!Number.isInteger(port)) throw usageError("--port wants a whole number");
  const outFlag = p.flags.get("out");
  const out = typeof outFlag === "string" ? outFlag : DEFAULT_WEB_DIR;
  const files = await buildWeb(out);
  if (p.flags.has("build-only")) {
    writeAll(1, `vmm86: wrote the web bundle to ${out} (${files.length} files)\n`);
    return ExitCode.OK;
  }
  let server: Server;
  try { server = await serveWeb(out, port); } catch (e) {
    throw new UserError("E_WEB_PORT", ExitCode.USAGE, `cannot listen on 127.0.0.1:${port}: ${(e as NodeJS.ErrnoException).code ?? "error"} (try --port 0)`);
  }
  const addr = server.address();
  const actual = typeof addr === "object" && addr !== null ? addr.port : port;
  writeAll(1, `vmm86: serving the lab on http://127.0.0.1:${actual}/ (Ctrl-C ends)\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => { server.close(); resolve(); };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  return ExitCode.OK;
}
