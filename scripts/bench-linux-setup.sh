#!/usr/bin/env bash
# Installs what `npm run bench:linux` compares vmm86 with, if it is missing:
#   qemu-system-x86  QEMU (qemu-system-i386, TCG)
#   seabios          the BIOS v86 boots (/usr/share/seabios/bios.bin, vgabios-stdvga.bin)
# v86 itself is a devDependency (node_modules/v86). Uses Debian's apt-get as configured on
# the machine; needs root or sudo. A failure here is only a warning: the bench then reports
# the missing emulator in its row and still measures the others.
set -uo pipefail
installed() { [ "$(dpkg-query -W -f '${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
need=()
installed qemu-system-x86 || need+=(qemu-system-x86)
installed seabios || need+=(seabios)
[ ${#need[@]} -eq 0 ] && exit 0
echo "bench-linux-setup: installing ${need[*]} with apt-get" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq >/dev/null 2>&1 || true
if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
  echo "bench-linux-setup: warning: could not install ${need[*]}; the bench will skip what is missing" >&2
fi
exit 0
