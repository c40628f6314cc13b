// `vmm86 fetch linux|linux-pae|linux64`: downloads and caches a Linux guest (src/guests/fetch-linux.ts)
// and prints what it did. Progress goes to stderr; the last line on stdout names the
// cached files, so scripts can use them.

import { ExitCode, UserError, usageError } from "./errors.js";
import {
  FetchError, LINUX_GUESTS, cachedLinux, damagedLinux, defaultCacheDir, fetchLinux,
} from "../guests/fetch-linux.js";

export const FETCH_HELP = `Usage:
  vmm86 fetch linux|linux-pae|linux64 [--cache DIR] [--check]

  linux       Debian's current linux-image-686 and busybox-static, i386
  linux-pae   Debian's current linux-image-686-pae (PAE paging) and busybox-static, i386
  linux64     Debian's current linux-image-amd64 and busybox-static, amd64 (x86-64), with
              the kernel package's kvm, kvm_amd and kvm_intel modules and /bin/kvm-probe
              (docs/kvm-in-guest.md)

Fetches the packages with apt-get download (private package lists for that architecture,
the machine's sources), extracts the kernel and builds an initramfs (busybox, /init
starting a shell on ttyS0). Each guest has its own cache, so both can be fetched. Nothing
is downloaded when the cache is up to date.

  --cache DIR   cache directory (default: $VMM86_CACHE/<guest>, else
                ~/.cache/vmm86/<guest>: linux, linux-pae or linux64)
  --check       only report what is cached; never use the network (exit 7 if nothing)
`;

/** Runs `vmm86 fetch …` (argv without "fetch"); returns the exit status. Throws
 * UserError (E_USAGE, E_FETCH, E_FETCH_TOOLS) for failures the user can act on. */
export async function fetchCommand(argv: string[]): Promise<number> {
  let target: string | undefined;
  let cacheDir: string | undefined;
  let check = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--help" || a === "-h") {
      process.stdout.write(FETCH_HELP);
      return ExitCode.OK;
    } else if (a === "--cache") {
      cacheDir = argv[++i];
      if (cacheDir === undefined) throw usageError("--cache needs a directory");
    } else if (a.startsWith("--cache=")) {
      cacheDir = a.slice("--cache=".length);
    } else if (a === "--check") {
      check = true;
    } else if (a.startsWith("-")) {
      throw usageError(`unknown option for fetch: ${a}`);
    } else if (target === undefined) {
      target = a;
    } else {
      throw usageError(`unexpected argument: ${a}`);
    }
  }
  const names = LINUX_GUESTS.map((g) => g.name);
  const guest = LINUX_GUESTS.find((g) => g.name === target);
  if (guest === undefined) {
    throw usageError(target === undefined ? "fetch needs a target: `vmm86 fetch linux`, `vmm86 fetch linux-pae` or `vmm86 fetch linux64`" : `unknown fetch target '${target}' (known: ${names.join(", ")})`);
  }

  const dir = cacheDir ?? defaultCacheDir(guest);
  const what = `${guest.name === "linux" ? "Linux" : guest.name === "linux-pae" ? "PAE Linux" : "64-bit Linux"} guest`;
  if (check) {
    const cached = cachedLinux(dir, guest);
    if (!cached) throw new UserError("E_FETCH", ExitCode.FETCH, `no ${what} (${guest.arch}) cached in ${dir}; run \`vmm86 fetch ${guest.name}\``);
    const damage = damagedLinux(dir, guest);
    if (damage !== null) throw new UserError("E_FETCH", ExitCode.FETCH, `the ${what} cached in ${dir} is damaged: ${damage}; run \`vmm86 fetch ${guest.name}\` to repair it`);
    process.stdout.write(`${guest.name} ${cached.release}: ${cached.bzImage} ${cached.initramfs}\n`);
    return ExitCode.OK;
  }
  try {
    const image = await fetchLinux({ guest, cacheDir: dir, log: (line) => process.stderr.write(`fetch: ${line}\n`) });
    process.stdout.write(`${guest.name} ${image.release}: ${image.bzImage} ${image.initramfs}\n`);
    return ExitCode.OK;
  } catch (e) {
    if (e instanceof FetchError) throw new UserError(e.code, ExitCode.FETCH, e.message);
    throw e;
  }
}
