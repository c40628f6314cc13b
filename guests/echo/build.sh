#!/bin/sh
# Builds guests/echo/echo.elf with GNU as and ld. The image is committed, so running the
# guest needs no assembler.
set -eu
cd "$(dirname "$0")"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
as --32 -o "$OUT/echo.o" echo.s
ld -m elf_i386 -Ttext=0x100000 -z max-page-size=0x1000 --build-id=none -nostdlib -e _start -o echo.elf "$OUT/echo.o"
strip --strip-debug echo.elf
echo "built $(pwd)/echo.elf ($(wc -c < echo.elf) bytes)"
