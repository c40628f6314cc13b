#!/bin/sh
# Builds guests/redpill64/redpill64.elf with the machine's gcc, GNU as and ld: 64-bit
# code linked at 1 MiB, then wrapped as an ELF32 (objcopy) so a Multiboot v1 loader takes
# it; its 32-bit entry switches to long mode itself. The image is committed.
set -eu
cd "$(dirname "$0")"
CFLAGS="-m64 -mno-red-zone -mgeneral-regs-only -mcmodel=small -ffreestanding -fno-pic -fno-pie \
  -fno-stack-protector -nostdlib -nostdinc -O2 -fno-asynchronous-unwind-tables \
  -fno-tree-loop-distribute-patterns -Wall -Wextra -Werror"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
as --64 -o "$OUT/boot.o" boot.s
gcc $CFLAGS -c -o "$OUT/redpill64.o" redpill64.c
ld -m elf_x86_64 -T link.ld -z max-page-size=0x1000 --build-id=none --no-warn-rwx-segments -nostdlib \
  -o "$OUT/redpill64.elf64" "$OUT/boot.o" "$OUT/redpill64.o"
objcopy -O elf32-i386 --strip-debug "$OUT/redpill64.elf64" redpill64.elf
echo "built $(pwd)/redpill64.elf ($(wc -c < redpill64.elf) bytes)"
