/* vmm86 demo guest: the ring-3 program both processes run.
 *
 * Linked into its own page-aligned section (.utext), which is the only part of the
 * kernel image mapped user-accessible. It must not use .data or .bss: everything it
 * owns lives on its private stack. Each round it computes a checksum, then spins until
 * the timer has preempted it at least once, then waits for the baton and prints one
 * line. Process 1 ends with exit(0); process 2 ends by writing to its read-only info
 * page, which the kernel must report as a user-mode page fault.
 */
#include "demo.h"

static inline int syscall2(u32 nr, u32 a, u32 b) {
  int r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b) : "memory");
  return r;
}

static u32 slen(const char *s) {
  u32 n = 0;
  while (s[n]) n++;
  return n;
}

static void puts_user(const char *s) { syscall2(SYS_WRITE, (u32)s, slen(s)); }

/* Appends text / hex / decimal to a line buffer; returns the new end. */
static char *put_s(char *p, const char *s) {
  while (*s) *p++ = *s++;
  return p;
}

static char *put_hex(char *p, u32 v) {
  static const char digits[] = "0123456789abcdef";
  *p++ = '0';
  *p++ = 'x';
  for (int i = 28; i >= 0; i -= 4) *p++ = digits[(v >> i) & 15];
  return p;
}

static char *put_dec(char *p, u32 v) {
  char tmp[10];
  int n = 0;
  do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n) *p++ = tmp[--n];
  return p;
}

/* A fixed amount of integer work (xorshift, multiply, divide) with a known result. */
static u32 work(u32 pid, u32 round) {
  u32 x = 0x9E3779B9u * (pid * 16 + round + 1);
  u32 sum = 0;
  for (u32 i = 0; i < 20000; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    sum += x / (i + 1) + x * 3;
  }
  return sum;
}

static void wait_turn(u32 pid) {
  struct baton_page *baton = (struct baton_page *)USER_BATON;
  while (baton->turn != pid) syscall2(SYS_YIELD, 0, 0);
}

static void pass_turn(u32 pid) {
  struct baton_page *baton = (struct baton_page *)USER_BATON;
  baton->turn = pid == 1 ? 2 : 1;
}

void user_main(void) {
  struct info_page *info = (struct info_page *)USER_INFO;
  u32 pid = (u32)syscall2(SYS_GETPID, 0, 0);
  char line[96];

  wait_turn(pid);
  char *p = put_s(line, "[pid ");
  p = put_dec(p, pid);
  p = put_s(p, "] hello from ring 3\n");
  syscall2(SYS_WRITE, (u32)line, (u32)(p - line));
  pass_turn(pid);

  for (u32 round = 1; round <= NROUNDS; round++) {
    u32 sum = work(pid, round);
    u32 seen = info->preemptions;
    while (info->preemptions == seen) {
      /* spin at ring 3 until the PIT takes the CPU away */
    }
    wait_turn(pid);
    p = put_s(line, "[pid ");
    p = put_dec(p, (u32)syscall2(SYS_GETPID, 0, 0));
    p = put_s(p, "] round ");
    p = put_dec(p, round);
    p = put_s(p, "/");
    p = put_dec(p, NROUNDS);
    p = put_s(p, ": checksum ");
    p = put_hex(p, sum);
    p = put_s(p, ", preempted\n");
    syscall2(SYS_WRITE, (u32)line, (u32)(p - line));
    pass_turn(pid);
  }

  wait_turn(pid);
  if (pid == 1) {
    puts_user("[pid 1] done, exit(0)\n");
    pass_turn(pid);
    syscall2(SYS_EXIT, 0, 0);
  } else {
    puts_user("[pid 2] done, writing to my read-only info page\n");
    pass_turn(pid);
    info->pid = 0xdead;        /* #PF, error code 7: present, write, user */
    syscall2(SYS_EXIT, 1, 0);  /* not reached */
  }
  for (;;) {
  }
}
