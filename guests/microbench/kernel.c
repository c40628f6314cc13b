/* vmm86 micro-benchmark guest: the operations Adams and Agesen timed to compare a
 * software and a hardware VMM ("A Comparison of Software and Hardware Techniques for
 * x86 Virtualization", ASPLOS 2006, §6.1), as one small protected-mode kernel.
 *
 * It builds a GDT with a TSS, an IDT (exceptions as DPL-0 interrupt gates, int 0x80 as
 * a DPL-3 gate), the SYSENTER MSRs, and 32-bit paging with 4 KiB pages (Intel SDM
 * Vol. 3A ch. 3-7, §4.3). Then it runs the benchmarks the Multiboot command line asks
 * for (bench=NAME[,NAME...] | all | none; iters=N overrides the iteration counts),
 * each timed with RDTSC around its loop, and prints one line per benchmark on COM1:
 *
 *   MB <name> iters=<operations> cycles=<RDTSC delta over all of them>
 *
 * The lines end with "MB end ok" (or MB-FAIL lines and "MB end fail") and the machine
 * powers off through isa-debug-exit. Every benchmark checks that its operations really
 * happened (handler counts, values read back). Interrupts stay disabled throughout:
 * no timer, so nothing but the benchmark runs while it is timed.
 */
#include "microbench.h"

/* ---- port I/O, serial console (16550 at 0x3F8, polled) ---------------------------- */

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) {
  u8 v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

#define COM1 0x3F8
#define LSR_THRE 0x20

static void serial_init(void) {
  outb(COM1 + 1, 0x00);  /* IER: no interrupts */
  outb(COM1 + 3, 0x80);  /* LCR: DLAB */
  outb(COM1 + 0, 0x01);  /* divisor 1: 115200 baud */
  outb(COM1 + 1, 0x00);
  outb(COM1 + 3, 0x03);  /* 8N1 */
  outb(COM1 + 2, 0xC7);  /* FIFO on, cleared */
  outb(COM1 + 4, 0x03);  /* DTR, RTS */
}

static void putc(char c) {
  while (!(inb(COM1 + 5) & LSR_THRE)) {
  }
  outb(COM1, (u8)c);
}

static void puts(const char *s) {
  while (*s) putc(*s++);
}

static void puthex(u32 v) {
  static const char digits[] = "0123456789abcdef";
  puts("0x");
  for (int i = 28; i >= 0; i -= 4) putc(digits[(v >> i) & 15]);
}

static void putdec(u32 v) {
  char tmp[10];
  int n = 0;
  do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n) putc(tmp[--n]);
}

static void poweroff(u8 code) {
  outb(0xF4, code);
  for (;;) __asm__ volatile("cli; hlt");
}

void *memcpy(void *d, const void *s, u32 n) {
  u8 *dp = d;
  const u8 *sp = s;
  while (n--) *dp++ = *sp++;
  return d;
}

void *memset(void *d, int c, u32 n) {
  u8 *dp = d;
  while (n--) *dp++ = (u8)c;
  return d;
}

static inline u32 rdtsc32(void) {
  u32 lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
  (void)hi;
  return lo;  /* every benchmark takes far fewer than 2^32 cycles */
}

static inline void write_cr3(u32 v) { __asm__ volatile("movl %0, %%cr3" : : "r"(v) : "memory"); }
static inline u32 read_cr3(void) {
  u32 v;
  __asm__ volatile("movl %%cr3, %0" : "=r"(v));
  return v;
}
static inline u32 read_cr2(void) {
  u32 v;
  __asm__ volatile("movl %%cr2, %0" : "=r"(v));
  return v;
}
static inline void invlpg(u32 va) { __asm__ volatile("invlpg (%0)" : : "r"(va) : "memory"); }
static inline void wrmsr(u32 msr, u32 lo) { __asm__ volatile("wrmsr" : : "c"(msr), "a"(lo), "d"(0)); }

/* ---- GDT, TSS, IDT (SDM Vol. 3A §3.4.5, §7.2.1, §6.11) ------------------------------ */

struct tss {
  u32 link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags;
  u32 eax, ecx, edx, ebx, esp, ebp, esi, edi;
  u32 es, cs, ss, ds, fs, gs, ldt;
  u16 trap, iomap_base;
} __attribute__((packed));

struct table_ptr {
  u16 limit;
  u32 base;
} __attribute__((packed));

extern void load_gdt(struct table_ptr *p);
extern void load_idt(struct table_ptr *p);
extern void load_tr(u32 sel);

/* SYSENTER/SYSEXIT need kernel code, kernel data, user code, user data at CS, CS+8,
 * CS+16 and CS+24: the layout below. */
static u32 gdt[6 * 2] __attribute__((aligned(8)));
static struct tss tss;

/*  63      56 55 52 51   48 47      40 39      16 15       0
 * +----------+-----+-------+----------+----------+----------+
 * | base hi  |G D  |lim hi | access   | base lo  | limit lo |
 * +----------+-----+-------+----------+----------+----------+ */
static void set_segment(int i, u32 base, u32 limit, u8 access, u8 flags) {
  gdt[i * 2] = (limit & 0xFFFF) | (base << 16);
  gdt[i * 2 + 1] = ((base >> 16) & 0xFF) | ((u32)access << 8) | (limit & 0xF0000) |
                   ((u32)flags << 20) | (base & 0xFF000000);
}

static void gdt_init(void) {
  set_segment(0, 0, 0, 0, 0);
  set_segment(1, 0, 0xFFFFF, 0x9A, 0xC);  /* kernel code: P, DPL 0, execute/read */
  set_segment(2, 0, 0xFFFFF, 0x92, 0xC);  /* kernel data: P, DPL 0, read/write */
  set_segment(3, 0, 0xFFFFF, 0xFA, 0xC);  /* user code:   P, DPL 3, execute/read */
  set_segment(4, 0, 0xFFFFF, 0xF2, 0xC);  /* user data:   P, DPL 3, read/write */
  tss.ss0 = KERNEL_DS;
  tss.esp0 = (u32)trap_stack_top;
  tss.iomap_base = sizeof(struct tss);    /* no I/O bitmap */
  set_segment(5, (u32)&tss, sizeof(struct tss) - 1, 0x89, 0x0);
  static struct table_ptr p;
  p.limit = sizeof(gdt) - 1;
  p.base = (u32)gdt;
  load_gdt(&p);
  load_tr(TSS_SEL);
}

static u32 idt[256 * 2] __attribute__((aligned(8)));

#define GATE_INT32 0x8E       /* P, DPL 0, 32-bit interrupt gate */
#define GATE_INT32_USER 0xEE  /* the same at DPL 3: INT n from ring 3 may use it */

static void set_gate(int vec, void (*handler)(void), u8 type) {
  u32 off = (u32)handler;
  idt[vec * 2] = (off & 0xFFFF) | ((u32)KERNEL_CS << 16);
  idt[vec * 2 + 1] = (off & 0xFFFF0000) | ((u32)type << 8);
}

#define V(n) extern void vector##n(void);
V(0) V(1) V(2) V(3) V(4) V(5) V(6) V(7) V(8) V(9) V(10) V(11) V(12) V(13) V(14) V(15)
V(16) V(17) V(18) V(19) V(20) V(21) V(22) V(23) V(24) V(25) V(26) V(27) V(28) V(29) V(30)
V(31) V(128)
#undef V

static void (*const vectors[32])(void) = {
  vector0, vector1, vector2, vector3, vector4, vector5, vector6, vector7,
  vector8, vector9, vector10, vector11, vector12, vector13, vector14, vector15,
  vector16, vector17, vector18, vector19, vector20, vector21, vector22, vector23,
  vector24, vector25, vector26, vector27, vector28, vector29, vector30, vector31,
};

static void idt_init(void) {
  for (int i = 0; i < 32; i++) set_gate(i, vectors[i], GATE_INT32);
  set_gate(0x80, vector128, GATE_INT32_USER);
  static struct table_ptr p;
  p.limit = sizeof(idt) - 1;
  p.base = (u32)idt;
  load_idt(&p);
}

/* SDM Vol. 3B §5.8.7: IA32_SYSENTER_CS, _ESP, _EIP. */
static void sysenter_init(void) {
  wrmsr(0x174, KERNEL_CS);
  wrmsr(0x175, (u32)trap_stack_top);
  wrmsr(0x176, (u32)sysenter_entry);
}

/* ---- paging (SDM Vol. 3A §4.3) ------------------------------------------------------ */

#define PTE_P  0x001
#define PTE_W  0x002
#define PTE_U  0x004
#define PAGE   4096

/* 31            12 11  9 8 7 6 5 4 3 2 1 0
 * +---------------+-----+-+-+-+-+-+-+-+-+-+
 * | frame address | avl |G|0|D|A|C|W|U|W|P|
 * +---------------+-----+-+-+-+-+-+-+-+-+-+ */
static u32 kernel_pt[1024] __attribute__((aligned(PAGE)));  /* 0-4 MiB, in every space */
static u32 main_pd[1024] __attribute__((aligned(PAGE)));
static u32 alt_pd[1024] __attribute__((aligned(PAGE)));     /* a copy, for the CR3 loop */
static u32 user_pt[1024] __attribute__((aligned(PAGE)));    /* 4-8 MiB of main_pd/alt_pd */
static u8 user_stack[2][PAGE] __attribute__((aligned(PAGE)));
static u8 ptemod_frame[2][PAGE] __attribute__((aligned(PAGE)));

/* forkwait: address spaces are built in NSLOTS rotating slots, as an allocator that
 * reuses recently freed frames would. */
#define NSLOTS 4
struct slot {
  u32 pd[1024];
  u32 pt[1024];
  u8 frames[FORK_PAGES][PAGE];
};
static struct slot slots[NSLOTS] __attribute__((aligned(PAGE)));

extern char __utext_start[], __utext_end[];

static void paging_init(void) {
  u32 ustart = (u32)__utext_start, uend = (u32)__utext_end;
  for (u32 i = 1; i < 1024; i++) {  /* page 0 stays absent */
    u32 addr = i * PAGE;
    kernel_pt[i] = addr >= ustart && addr < uend ? addr | PTE_P | PTE_U : addr | PTE_P | PTE_W;
  }
  user_pt[0] = (u32)user_stack[0] | PTE_P | PTE_W | PTE_U;
  user_pt[1] = (u32)user_stack[1] | PTE_P | PTE_W | PTE_U;
  user_pt[(PGFAULT_VA >> 12) & 1023] = 0;
  user_pt[(PTEMOD_VA >> 12) & 1023] = (u32)ptemod_frame[0] | PTE_P | PTE_W;
  *(u32 *)ptemod_frame[0] = 1;
  *(u32 *)ptemod_frame[1] = 0x10000;
  main_pd[0] = alt_pd[0] = (u32)kernel_pt | PTE_P | PTE_W | PTE_U;
  main_pd[1] = alt_pd[1] = (u32)user_pt | PTE_P | PTE_W | PTE_U;
  write_cr3((u32)main_pd);
  u32 cr0;
  __asm__ volatile("movl %%cr0, %0" : "=r"(cr0));
  cr0 |= 0x80000000u;  /* PG */
  __asm__ volatile("movl %0, %%cr0" : : "r"(cr0) : "memory");
}

/* ---- traps and system calls --------------------------------------------------------- */

/* What trap_common in boot.S leaves on the trap stack, lowest address first. */
struct frame {
  u32 gs, fs, es, ds;
  u32 edi, esi, ebp, esp_at_pusha, ebx, edx, ecx, eax;
  u32 vector, err;
  u32 eip, cs, eflags, user_esp, user_ss;  /* the last two only from ring 3 */
};

static u32 null_int80, null_sysenter, pgfaults, divzeros, bad_syscalls;

static u32 syscall(u32 nr, u32 arg) {
  if (nr == SYS_NULL) return 0;
  if (nr == SYS_EXIT) leave_user(arg);
  bad_syscalls++;
  return (u32)-1;
}

/* Called by sysenter_entry. */
u32 sysenter_call(u32 nr, u32 arg) {
  null_sysenter++;
  return syscall(nr, arg);
}

static const char *const exception_names[20] = {
  "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO",
  "#TS", "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM",
};

void trap(struct frame *f) {
  int from_user = (f->cs & 3) == 3;
  if (f->vector == 0x80) {
    null_int80++;
    f->eax = syscall(f->eax, f->ebx);
    return;
  }
  /* The page-fault benchmark: a user read (error code 4: not present, read, user) of
   * the never-mapped page. Step over the 2-byte load. */
  if (f->vector == 14 && from_user && f->err == 4 && read_cr2() == PGFAULT_VA) {
    pgfaults++;
    f->eip += 2;
    return;
  }
  /* The divide benchmark: step over the 2-byte DIV. */
  if (f->vector == 0 && from_user) {
    divzeros++;
    f->eip += 2;
    return;
  }
  puts("MB-FAIL fatal: ");
  puts(f->vector < 20 ? exception_names[f->vector] : "vector");
  puts(" (vector ");
  putdec(f->vector);
  puts(") error code ");
  puthex(f->err);
  puts(" at ");
  puthex(f->cs);
  puts(":");
  puthex(f->eip);
  if (f->vector == 14) { puts(" cr2 "); puthex(read_cr2()); }
  puts("\nMB end fail\n");
  poweroff(EXIT_FAIL);
}

/* ---- the benchmarks ------------------------------------------------------------------ */

/* Runs ring-3 code at eip with n as its stack argument; returns what it passed to
 * SYS_EXIT. The kernel writes the argument through its own identity map of the frame. */
static u32 run_user(void (*eip)(void), u32 n) {
  *(u32 *)(user_stack[1] + PAGE - 4) = n;
  return enter_user((u32)eip, USER_STACK_TOP - 8);
}

/* Each returns 0 if its operations verifiably happened, else a reason; *cycles gets the
 * RDTSC delta around the loop alone. */
typedef const char *bench_fn(u32 n, u32 *cycles);

static const char *b_syscall(u32 n, u32 *cycles) {
  u32 before = null_int80;
  u32 t0 = rdtsc32();
  u32 r = run_user(u_syscall, n);
  *cycles = rdtsc32() - t0;
  /* n null calls and the exit call */
  return r == 0 && null_int80 - before == n + 1 && bad_syscalls == 0 ? 0 : "int 0x80 count";
}

static const char *b_sysenter(u32 n, u32 *cycles) {
  u32 before = null_sysenter;
  u32 t0 = rdtsc32();
  u32 r = run_user(u_sysenter, n);
  *cycles = rdtsc32() - t0;
  return r == 0 && null_sysenter - before == n && bad_syscalls == 0 ? 0 : "sysenter count";
}

static const char *b_in(u32 n, u32 *cycles) {
  u32 t0 = rdtsc32();
  k_in(n);
  *cycles = rdtsc32() - t0;
  return 0;
}

static const char *b_cr3(u32 n, u32 *cycles) {
  if (n & 1) return "iters must be even (CR3 loads come in pairs)";
  u32 t0 = rdtsc32();
  k_cr3(n / 2, (u32)main_pd, (u32)alt_pd);
  *cycles = rdtsc32() - t0;
  return read_cr3() == (u32)main_pd ? 0 : "CR3 not back at main_pd";
}

static const char *b_callret(u32 n, u32 *cycles) {
  u32 t0 = rdtsc32();
  k_callret(n);
  *cycles = rdtsc32() - t0;
  return 0;
}

static const char *b_pgfault(u32 n, u32 *cycles) {
  u32 before = pgfaults;
  u32 t0 = rdtsc32();
  u32 r = run_user(u_pgfault, n);
  *cycles = rdtsc32() - t0;
  return r == 0 && pgfaults - before == n ? 0 : "#PF count";
}

static const char *b_divzero(u32 n, u32 *cycles) {
  u32 before = divzeros;
  u32 t0 = rdtsc32();
  u32 r = run_user(u_divzero, n);
  *cycles = rdtsc32() - t0;
  return r == 0 && divzeros - before == n ? 0 : "#DE count";
}

static const char *b_ptemod(u32 n, u32 *cycles) {
  volatile u32 *pte = &user_pt[(PTEMOD_VA >> 12) & 1023];
  u32 a = (u32)ptemod_frame[0] | PTE_P | PTE_W, b = (u32)ptemod_frame[1] | PTE_P | PTE_W;
  u32 t0 = rdtsc32();
  u32 sum = k_ptemod(n, pte, PTEMOD_VA, a, b);
  *cycles = rdtsc32() - t0;
  *pte = a;
  invlpg(PTEMOD_VA);
  return sum == (n + 1) / 2 + (n / 2) * 0x10000u ? 0 : "values read through the PTE";
}

/* One fork-and-wait: build an address space (directory, one page table, FORK_PAGES
 * fresh pages), switch to it, let its ring-3 child touch every page and exit, switch
 * back, tear it down. */
static void forkwait_once(u32 i) {
  struct slot *s = &slots[i % NSLOTS];
  s->pd[0] = (u32)kernel_pt | PTE_P | PTE_W | PTE_U;
  s->pd[1] = (u32)s->pt | PTE_P | PTE_W | PTE_U;
  for (u32 p = 0; p < FORK_PAGES; p++) {
    *(volatile u32 *)s->frames[p] = 0;
    s->pt[p] = (u32)s->frames[p] | PTE_P | PTE_W | PTE_U;
  }
  write_cr3((u32)s->pd);
  enter_user((u32)u_child, FORK_BASE + FORK_PAGES * PAGE);
  write_cr3((u32)main_pd);
  for (u32 p = 0; p < FORK_PAGES; p++) s->pt[p] = 0;
  s->pd[0] = 0;
  s->pd[1] = 0;
}

static const char *b_forkwait(u32 n, u32 *cycles) {
  u32 t0 = rdtsc32();
  for (u32 i = 0; i < n; i++) forkwait_once(i);
  *cycles = rdtsc32() - t0;
  for (u32 k = 0; k < NSLOTS && k < n; k++)
    for (u32 p = 0; p < FORK_PAGES; p++)
      if (*(volatile u32 *)slots[k].frames[p] != FORK_PAGES - p) return "child's page contents";
  return 0;
}

struct bench {
  const char *name;
  u32 iters;  /* operations; each costs roughly 2-250 instructions on bare hardware */
  bench_fn *run;
};

static const struct bench benches[] = {
  { "syscall",  20000,  b_syscall },
  { "sysenter", 40000,  b_sysenter },
  { "in",       100000, b_in },
  { "cr3",      200000, b_cr3 },
  { "callret",  200000, b_callret },
  { "pgfault",  20000,  b_pgfault },
  { "divzero",  20000,  b_divzero },
  { "ptemod",   100000, b_ptemod },
  { "forkwait", 2000,   b_forkwait },
};
#define NBENCH (sizeof(benches) / sizeof(benches[0]))

/* ---- command line --------------------------------------------------------------------- */

static char cmdline[256];
static const char *sel = "all";   /* bench= value */
static u32 sel_len = 3;
static u32 iters_override;        /* iters= value, 0 if absent */

static int streq_n(const char *a, u32 alen, const char *b) {
  u32 i = 0;
  for (; i < alen; i++) if (b[i] != a[i]) return 0;
  return b[i] == 0;
}

static int starts(const char *s, const char *prefix) {
  while (*prefix) if (*s++ != *prefix++) return 0;
  return 1;
}

/* Copies the Multiboot command line (information structure flags bit 2, field at +16)
 * and picks out bench= and iters=. Returns 0 if it makes sense. */
static int parse_cmdline(u32 mbinfo) {
  const u32 *mbi = (const u32 *)mbinfo;
  if (mbi[0] & 4) {
    const char *src = (const char *)mbi[4];
    u32 i = 0;
    for (; src[i] && i < sizeof(cmdline) - 1; i++) cmdline[i] = src[i];
    cmdline[i] = 0;
  }
  for (char *p = cmdline; *p;) {
    while (*p == ' ') p++;
    char *w = p;
    while (*p && *p != ' ') p++;
    if (starts(w, "bench=")) {
      sel = w + 6;
      sel_len = (u32)(p - sel);
    } else if (starts(w, "iters=")) {
      u32 v = 0;
      for (const char *d = w + 6; d < p; d++) {
        if (*d < '0' || *d > '9') return 0;
        v = v * 10 + (u32)(*d - '0');
      }
      if (v == 0) return 0;
      iters_override = v;
    }
  }
  /* every name in the list must be a benchmark, all or none */
  for (const char *n = sel; n < sel + sel_len;) {
    const char *e = n;
    while (e < sel + sel_len && *e != ',') e++;
    int known = streq_n(n, (u32)(e - n), "all") || streq_n(n, (u32)(e - n), "none");
    for (u32 b = 0; b < NBENCH; b++) known |= streq_n(n, (u32)(e - n), benches[b].name);
    if (!known) return 0;
    n = e + 1;
  }
  return 1;
}

static int selected(const char *name) {
  for (const char *n = sel; n < sel + sel_len;) {
    const char *e = n;
    while (e < sel + sel_len && *e != ',') e++;
    if (streq_n(n, (u32)(e - n), "all") || streq_n(n, (u32)(e - n), name)) return 1;
    n = e + 1;
  }
  return 0;
}

/* ---- main ------------------------------------------------------------------------------ */

void kmain(u32 magic, u32 mbinfo) {
  serial_init();
  puts("vmm86 microbench guest\n");
  if (magic != 0x2BADB002u) {
    puts("MB-FAIL not started by a Multiboot loader\nMB end fail\n");
    poweroff(EXIT_FAIL);
  }
  if (!parse_cmdline(mbinfo)) {
    puts("MB-FAIL command line '");
    puts(cmdline);
    puts("': want bench=all|none|NAME[,NAME...] and optionally iters=N\nMB end fail\n");
    poweroff(EXIT_FAIL);
  }
  gdt_init();
  idt_init();
  sysenter_init();
  paging_init();
  puts("MB ready\n");
  int ok = 1;
  for (u32 b = 0; b < NBENCH; b++) {
    const struct bench *x = &benches[b];
    if (!selected(x->name)) continue;
    u32 n = iters_override ? iters_override : x->iters;
    u32 cycles = 0;
    const char *why = x->run(n, &cycles);
    if (why) {
      puts("MB-FAIL ");
      puts(x->name);
      puts(": ");
      puts(why);
      puts("\n");
      ok = 0;
      continue;
    }
    puts("MB ");
    puts(x->name);
    puts(" iters=");
    putdec(n);
    puts(" cycles=");
    putdec(cycles);
    puts("\n");
  }
  puts(ok ? "MB end ok\n" : "MB end fail\n");
  poweroff(ok ? EXIT_PASS : EXIT_FAIL);
}
