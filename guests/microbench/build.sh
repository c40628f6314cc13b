#!/bin/sh
# Builds guests/microbench/microbench.elf with the machine's gcc (-m32), GNU as and ld.
# The .S files go through the C preprocessor (for microbench.h) and then GNU as.
# The image is committed: running the benchmarks needs no compiler.
set -eu
cd "$(dirname "$0")"
CFLAGS="-m32 -march=i686 -ffreestanding -fno-pic -fno-stack-protector -nostdlib -nostdinc -O2 \
  -fno-asynchronous-unwind-tables -fno-tree-loop-distribute-patterns -Wall -Wextra -Werror"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for s in boot kbench user; do
  gcc -m32 -nostdinc -c -o "$OUT/$s.o" "$s.S"
done
gcc $CFLAGS -c -o "$OUT/kernel.o" kernel.c
# The ring-3 code may only use its own pages.
if [ -n "$(nm -u "$OUT/user.o")" ] || size -A "$OUT/user.o" | grep -Eq '^\.(data|bss)[^ ]* +[1-9]'; then
  echo "user.S must not reference other symbols or own .data/.bss" >&2
  exit 1
fi
ld -m elf_i386 -T link.ld -z max-page-size=0x1000 --build-id=none -nostdlib \
  -o microbench.elf "$OUT/boot.o" "$OUT/kbench.o" "$OUT/kernel.o" "$OUT/user.o"
strip --strip-debug microbench.elf
echo "built $(pwd)/microbench.elf ($(wc -c < microbench.elf) bytes)"
