#!/usr/bin/env bash
# Installs the host tools the test suites need, if they are missing:
#   nasm      assembles test386 (from ../shared/conformance/test386/src) with its debug port on 0xE9
#   as, ld    (binutils) assemble and link the native i386 programs of the difftest and FPU tests
#   cpio      the initramfs test checks vmm86's newc writer against the system's reader
#   script    (util-linux) runs `vmm86 run linux` on a pseudo-terminal in the interactive test
#   chromium  Debian's browser, driven headless by playwright-core in the web page's test
#   gdb       Debian's gdb, driven in batch mode against `vmm86 run demo --gdb` (test/gdb)
# Uses Debian's apt-get as configured on the machine; needs root (as on CI) or sudo.
set -euo pipefail
need=()
command -v nasm >/dev/null 2>&1 || need+=(nasm)
command -v as >/dev/null 2>&1 || need+=(binutils)
command -v ld >/dev/null 2>&1 || need+=(binutils)
command -v cpio >/dev/null 2>&1 || need+=(cpio)
command -v script >/dev/null 2>&1 || need+=(util-linux)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v gdb >/dev/null 2>&1 || need+=(gdb)
[ ${#need[@]} -eq 0 ] && exit 0
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
echo "setup-tools: installing ${need[*]} with apt-get" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq >/dev/null 2>&1 || true
if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null; then
  echo "setup-tools: E_SETUP: could not install ${need[*]} (apt-get failed); install them and rerun" >&2
  exit 1
fi
