#!/bin/sh
# Builds guests/kvm-probe/kvm-probe-x86_64 and kvm-probe-i386: static, no C library, with the
# machine's gcc and the kernel's UAPI headers (<linux/kvm.h>, Debian's linux-libc-dev).
# The binaries are committed, so fetching a guest needs no compiler.
set -eu
cd "$(dirname "$0")"
CFLAGS="-static -nostdlib -ffreestanding -fno-pic -no-pie -fno-stack-protector -Os -fno-asynchronous-unwind-tables \
  -fno-tree-loop-distribute-patterns -Wall -Wextra -Werror -Wl,--build-id=none -Wl,-z,noexecstack"
gcc -m64 $CFLAGS -o kvm-probe-x86_64 kvm-probe.c
# The x86 UAPI headers are the same for both: i386 uses the multiarch copy of x86_64.
gcc -m32 -march=i686 $CFLAGS -I/usr/include/x86_64-linux-gnu -o kvm-probe-i386 kvm-probe.c
strip kvm-probe-x86_64 kvm-probe-i386
echo "built $(pwd)/kvm-probe-x86_64 ($(wc -c < kvm-probe-x86_64) bytes), kvm-probe-i386 ($(wc -c < kvm-probe-i386) bytes)"
