#!/bin/sh
# Builds guests/redpill/redpill.elf with the machine's gcc, GNU as and ld.
# The image is committed, so running `vmm86 redpill` needs no compiler.
set -eu
cd "$(dirname "$0")"
CFLAGS="-m32 -march=i686 -ffreestanding -fno-pic -fno-stack-protector -nostdlib -nostdinc -O2 \
  -fno-asynchronous-unwind-tables -fno-tree-loop-distribute-patterns -Wall -Wextra -Werror"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
as --32 -o "$OUT/boot.o" boot.s
gcc $CFLAGS -c -o "$OUT/redpill.o" redpill.c
ld -m elf_i386 -T link.ld -z max-page-size=0x1000 --build-id=none --no-warn-rwx-segments -nostdlib \
  -o redpill.elf "$OUT/boot.o" "$OUT/redpill.o"
strip --strip-debug redpill.elf
echo "built $(pwd)/redpill.elf ($(wc -c < redpill.elf) bytes)"
