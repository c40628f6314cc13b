/* vmm86 64-bit micro-benchmark guest: Adams and Agesen's operations (ASPLOS 2006, §6.1)
 * in IA-32e mode, with SYSCALL/SYSRETQ as the 64-bit null system call beside INT/IRETQ,
 * each timed with RDTSC around its loop (boot.s). Output on COM1, as guests/microbench:
 *
 *   MB ready
 *   MB <name> iters=<operations> cycles=<RDTSC delta over all of them>
 *   MB end ok
 *
 * then power-off through port 0xF4 (0x10). Command line: bench=all|none|NAME[,NAME...],
 * iters=N. The handlers the loops exercise are minimal assembly (boot.s); the checks are
 * the loops' own results (ptemod's sum) and that every loop came back.
 */

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;

#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define TSS_SEL   0x30
#define GDT_ADDR  0x1C0000ul
#define IDT_ADDR  0x1C1000ul
#define TSS_ADDR  0x1C2000ul
#define USER_STACK_TOP 0x1D0000ul
#define RSP0_TOP  0x1E0000ul
#define PT_BASE   0x200000ul   /* PML4 A, PML4 B, PDPT, PD (1 GiB 1:1), PD2, PT (ptemod) */
#define PTEMOD_VA 0x40000000ul
#define FRAME_A   0x300000ul
#define FRAME_B   0x301000ul

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) {
  u8 v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

static void putc(char c) {
  while (!(inb(0x3F8 + 5) & 0x20)) {
  }
  outb(0x3F8, (u8)c);
}

static void puts(const char *s) {
  while (*s) putc(*s++);
}

static void putdec(u64 v) {
  char tmp[20];
  int n = 0;
  do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n) putc(tmp[--n]);
}

void *memset(void *d, int c, u64 n) {
  void *p = d;
  __asm__ volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(c) : "memory");
  return d;
}

static inline void wrmsr(u32 msr, u64 v) { __asm__ volatile("wrmsr" : : "c"(msr), "a"((u32)v), "d"((u32)(v >> 32))); }
static inline u64 rdtsc(void) {
  u32 lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
  return ((u64)hi << 32) | lo;
}

/* ---- tables ------------------------------------------------------------------------- */

static void set_descriptor(volatile u32 *t, int i, u32 base, u32 limit, u8 access, u8 flags) {
  t[i * 2] = (limit & 0xFFFF) | (base << 16);
  t[i * 2 + 1] = ((base >> 16) & 0xFF) | ((u32)access << 8) | (limit & 0xF0000) | ((u32)flags << 20) | (base & 0xFF000000);
}

static void set_gate(int vec, void (*h)(void), u8 type_dpl) {
  volatile u32 *idt = (volatile u32 *)IDT_ADDR;
  u64 off = (u64)h;
  idt[vec * 4] = (u32)(off & 0xFFFF) | ((u32)KERNEL_CS << 16);
  idt[vec * 4 + 1] = (u32)(off & 0xFFFF0000) | ((u32)type_dpl << 8);
  idt[vec * 4 + 2] = (u32)(off >> 32);
  idt[vec * 4 + 3] = 0;
}

struct table_ptr {
  u16 limit;
  u64 base;
} __attribute__((packed));

extern void h_null_iret(void), h_step2(void), h_step2_err(void), h_user_exit(void), h_fatal(void), syscall_entry(void);
extern void enter_user(void (*fn)(void), u64 n, u64 rsp);
extern void u_syscall(void), u_int80(void), u_pgfault(void), u_divzero(void);
extern void k_in(u64 n);
extern void k_cr3(u64 pairs, u64 a, u64 b);
extern void k_callret(u64 n);
extern u32 k_ptemod(u64 n, volatile u64 *pte, u64 va, u64 a, u64 b);

static void setup(void) {
  volatile u32 *gdt = (volatile u32 *)GDT_ADDR;
  memset((void *)GDT_ADDR, 0, 0x3000);
  set_descriptor(gdt, 1, 0, 0xFFFFF, 0x9B, 0xA);
  set_descriptor(gdt, 2, 0, 0xFFFFF, 0x93, 0xC);
  set_descriptor(gdt, 3, 0, 0xFFFFF, 0xFB, 0xC);
  set_descriptor(gdt, 4, 0, 0xFFFFF, 0xF3, 0xC);
  set_descriptor(gdt, 5, 0, 0xFFFFF, 0xFB, 0xA);
  set_descriptor(gdt, 6, (u32)TSS_ADDR, 0x67, 0x89, 0);
  *(volatile u64 *)(TSS_ADDR + 4) = RSP0_TOP;          /* RSP0 */
  *(volatile u16 *)(TSS_ADDR + 0x66) = 0x68;           /* no I/O bitmap */
  for (int v = 0; v < 256; v++) set_gate(v, h_fatal, 0x8E);
  set_gate(0, h_step2, 0x8E);
  set_gate(14, h_step2_err, 0x8E);
  set_gate(0x80, h_null_iret, 0xEE);
  set_gate(0x81, h_user_exit, 0xEE);
  struct table_ptr g = { 11 * 8 - 1, GDT_ADDR }, d = { 4095, IDT_ADDR };
  __asm__ volatile("lgdt %0\n\tlidt %1\n\tpushq $0x08\n\tleaq 1f(%%rip), %%rax\n\tpushq %%rax\n\tlretq\n1:\t"
                   "movw %w2, %%ds\n\tmovw %w2, %%es\n\tmovw %w2, %%ss\n\tltr %w3"
                   : : "m"(g), "m"(d), "r"(KERNEL_DS), "r"(TSS_SEL) : "rax", "memory");
  wrmsr(0xC0000081, (0x18ul << 48) | (0x08ul << 32));
  wrmsr(0xC0000082, (u64)syscall_entry);
  wrmsr(0xC0000084, 0x4700);
  /* Paging: two PML4s (A, B) sharing one PDPT: 1 GiB 1:1 in 2 MiB pages, and a 4 KiB
   * table at 1 GiB for ptemod. 2 GiB (PGFAULT_VA) is never mapped. */
  volatile u64 *pml4a = (volatile u64 *)PT_BASE, *pml4b = (volatile u64 *)(PT_BASE + 0x1000);
  volatile u64 *pdpt = (volatile u64 *)(PT_BASE + 0x2000), *pd = (volatile u64 *)(PT_BASE + 0x3000);
  volatile u64 *pd2 = (volatile u64 *)(PT_BASE + 0x4000), *pt = (volatile u64 *)(PT_BASE + 0x5000);
  memset((void *)PT_BASE, 0, 0x6000);
  pml4a[0] = pml4b[0] = (u64)pdpt | 7;
  pdpt[0] = (u64)pd | 7;
  pdpt[1] = (u64)pd2 | 7;
  for (u64 i = 0; i < 512; i++) pd[i] = (i << 21) | 0x87;
  pd2[0] = (u64)pt | 7;
  pt[0] = FRAME_A | 3;
  *(volatile u32 *)FRAME_A = 1;
  *(volatile u32 *)FRAME_B = 2;
  __asm__ volatile("movq %0, %%cr3" : : "r"(PT_BASE) : "memory");
  /* 8259A: every line masked. */
  outb(0x20, 0x11); outb(0xA0, 0x11); outb(0x21, 0x20); outb(0xA1, 0x28);
  outb(0x21, 0x04); outb(0xA1, 0x02); outb(0x21, 0x01); outb(0xA1, 0x01);
  outb(0x21, 0xFF); outb(0xA1, 0xFF);
  /* COM1 */
  outb(0x3F8 + 1, 0); outb(0x3F8 + 3, 0x80); outb(0x3F8, 1); outb(0x3F8 + 1, 0); outb(0x3F8 + 3, 3);
  outb(0x3F8 + 2, 0xC7); outb(0x3F8 + 4, 3);
}

/* ---- benchmarks ---------------------------------------------------------------------- */

static const char *b_user(void (*fn)(void), u64 n, u64 *cycles) {
  u64 t0 = rdtsc();
  enter_user(fn, n, USER_STACK_TOP);
  *cycles = rdtsc() - t0;
  return 0;
}
static const char *b_syscall(u64 n, u64 *c) { return b_user(u_syscall, n, c); }
static const char *b_int80(u64 n, u64 *c) { return b_user(u_int80, n, c); }
static const char *b_pgfault(u64 n, u64 *c) { return b_user(u_pgfault, n, c); }
static const char *b_divzero(u64 n, u64 *c) { return b_user(u_divzero, n, c); }
static const char *b_in(u64 n, u64 *c) {
  u64 t0 = rdtsc();
  k_in(n);
  *c = rdtsc() - t0;
  return 0;
}
static const char *b_cr3(u64 n, u64 *c) {
  u64 t0 = rdtsc();
  k_cr3(n / 2 ? n / 2 : 1, PT_BASE, PT_BASE + 0x1000);
  *c = rdtsc() - t0;
  return 0;
}
static const char *b_callret(u64 n, u64 *c) {
  u64 t0 = rdtsc();
  k_callret(n);
  *c = rdtsc() - t0;
  return 0;
}
static const char *b_ptemod(u64 n, u64 *c) {
  volatile u64 *pte = (volatile u64 *)(PT_BASE + 0x5000);
  u64 t0 = rdtsc();
  u32 sum = k_ptemod(n, pte, PTEMOD_VA, FRAME_B | 3, FRAME_A | 3);
  *c = rdtsc() - t0;
  /* The loop stores B, A, B, ...: reads 2, 1, 2, ... */
  u64 want = (n / 2) * 3 + (n & 1) * 2;
  return sum == (u32)want ? 0 : "ptemod: a read did not see the new mapping";
}

volatile u64 kernel_saved_rsp;   /* enter_user's stack, for INT 0x81 */

struct bench {
  const char *name;
  u64 iters;
  const char *(*run)(u64 n, u64 *cycles);
};

static const struct bench benches[] = {
  { "syscall", 20000, b_syscall },
  { "int80", 20000, b_int80 },
  { "in", 100000, b_in },
  { "cr3", 200000, b_cr3 },
  { "callret", 200000, b_callret },
  { "pgfault", 20000, b_pgfault },
  { "divzero", 20000, b_divzero },
  { "ptemod", 100000, b_ptemod },
};
#define NBENCH ((int)(sizeof(benches) / sizeof(benches[0])))

static int word_is(const char *w, u32 len, const char *name) {
  u32 i = 0;
  while (i < len && name[i] && w[i] == name[i]) i++;
  return i == len && name[i] == 0;
}

/* bench=<list> selects; returns 1 if bench `name` is selected by `sel` (all, none, a,b,c). */
static int selected(const char *sel, u32 len, const char *name) {
  if (word_is(sel, len, "all")) return 1;
  u32 i = 0;
  while (i < len) {
    u32 j = i;
    while (j < len && sel[j] != ',') j++;
    if (word_is(sel + i, j - i, name)) return 1;
    i = j + 1;
  }
  return 0;
}

struct mbi {
  u32 flags, mem_lower, mem_upper, boot_device, cmdline;
};

void kmain(u32 mbi_addr) {
  setup();
  const struct mbi *mbi = (const struct mbi *)(u64)mbi_addr;
  const char *cmd = (mbi->flags & 4) ? (const char *)(u64)mbi->cmdline : "";
  const char *sel = "all";
  u32 sel_len = 3;
  u64 iters = 0;
  for (const char *p = cmd; *p;) {
    while (*p == ' ') p++;
    const char *w = p;
    while (*p && *p != ' ') p++;
    u32 len = (u32)(p - w);
    if (len > 6 && word_is(w, 6, "bench=")) { sel = w + 6; sel_len = len - 6; }
    if (len > 6 && word_is(w, 6, "iters=")) { iters = 0; for (u32 k = 6; k < len; k++) iters = iters * 10 + (u64)(w[k] - '0'); }
  }
  puts("vmm86 microbench64 guest\nMB ready\n");
  int ok = 1;
  for (int b = 0; b < NBENCH; b++) {
    if (!selected(sel, sel_len, benches[b].name)) continue;
    u64 n = iters ? iters : benches[b].iters, cycles = 0;
    const char *fail = benches[b].run(n, &cycles);
    if (fail) { puts("MB-FAIL "); puts(fail); puts("\n"); ok = 0; continue; }
    puts("MB ");
    puts(benches[b].name);
    puts(" iters=");
    putdec(n);
    puts(" cycles=");
    putdec(cycles);
    puts("\n");
  }
  puts(ok ? "MB end ok\n" : "MB end fail\n");
  outb(0xF4, ok ? 0x10 : 0x11);
  for (;;) __asm__ volatile("cli; hlt");
}
