#!/bin/sh
# Builds guests/microbench64/microbench64.elf with the machine's gcc, GNU as and ld: 64-bit
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
gcc $CFLAGS -c -o "$OUT/kernel.o" kernel.c
ld -m elf_x86_64 -T link.ld -z max-page-size=0x1000 --build-id=none --no-warn-rwx-segments -nostdlib \
  -o "$OUT/microbench64.elf64" "$OUT/boot.o" "$OUT/kernel.o"
objcopy -O elf32-i386 --strip-debug "$OUT/microbench64.elf64" microbench64.elf
echo "built $(pwd)/microbench64.elf ($(wc -c < microbench64.elf) bytes)"
