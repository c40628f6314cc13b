#!/bin/sh
# Builds guests/demo/demo.elf with the machine's gcc, GNU as and ld.
# The image is committed, so running the demo needs no compiler.
set -eu
cd "$(dirname "$0")"
CFLAGS="-m32 -march=i686 -ffreestanding -fno-pic -fno-stack-protector -nostdlib -nostdinc -O2 \
  -fno-asynchronous-unwind-tables -fno-tree-loop-distribute-patterns -Wall -Wextra -Werror"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
as --32 -o "$OUT/boot.o" boot.s
gcc $CFLAGS -c -o "$OUT/kernel.o" kernel.c
gcc $CFLAGS -c -o "$OUT/user.o" user.c
# The user program may only use its own code and stack.
if [ -n "$(nm -u "$OUT/user.o")" ] || size -A "$OUT/user.o" | grep -Eq '^\.(data|bss)[^ ]* +[1-9]'; then
  echo "user.c must not reference other symbols or own .data/.bss" >&2
  nm -u "$OUT/user.o" >&2
  exit 1
fi
ld -m elf_i386 -T link.ld -z max-page-size=0x1000 --build-id=none -nostdlib \
  -o demo.elf "$OUT/boot.o" "$OUT/kernel.o" "$OUT/user.o"
strip --strip-debug demo.elf
echo "built $(pwd)/demo.elf ($(wc -c < demo.elf) bytes)"
