/* vmm86 demo guest: a small protected-mode kernel with two ring-3 processes.
 *
 * It builds its own GDT, TSS and IDT (Intel SDM Vol. 3A ch. 3, 6, 7), two-level paging
 * with 4 KiB pages and a page directory per process (SDM Vol. 3A §4.3), remaps the 8259A
 * pair to vectors 0x20-0x2F, runs the 8254 PIT channel 0 at 1000 Hz, and round-robins
 * two user processes on the timer and on yield(). Output goes to COM1 (16550, polled);
 * the machine is powered off through QEMU's isa-debug-exit device at port 0xF4.
 *
 * Everything printed is independent of when the timer fires, so two runs on any
 * correct machine give byte-identical serial output; interrupt counts are only
 * reported as "> 0".
 */
#include "demo.h"

#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define USER_CS   (0x18 | 3)
#define USER_DS   (0x20 | 3)
#define TSS_SEL   0x28

/* Written to port 0xF4: QEMU exits with status (value << 1) | 1. */
#define EXIT_PASS 0x10   /* status 33 */
#define EXIT_FAIL 0x11   /* status 35 */

#define PIT_HZ 1000

/* ---- port I/O, serial console ---------------------------------------------------- */

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
  outb(COM1 + 2, 0xC7);  /* FIFO on, cleared, 14-byte trigger */
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
  /* No isa-debug-exit device: stop here. */
  for (;;) __asm__ volatile("cli; hlt");
}

/* gcc may emit calls to these for structure copies even when freestanding. */
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

/* ---- GDT and TSS (SDM Vol. 3A §3.4.5, §7.2.1) --------------------------------------- */

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

static u32 gdt[6 * 2] __attribute__((aligned(8)));
static struct tss tss;

extern void load_gdt(struct table_ptr *p);
extern void load_idt(struct table_ptr *p);
extern void load_tr(u32 sel);
extern char kernel_stack_top[];

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
  tss.esp0 = (u32)kernel_stack_top;
  tss.iomap_base = sizeof(struct tss);    /* no I/O bitmap: ring 3 gets no ports */
  set_segment(5, (u32)&tss, sizeof(struct tss) - 1, 0x89, 0x0);  /* 32-bit TSS, available */
  static struct table_ptr p;
  p.limit = sizeof(gdt) - 1;
  p.base = (u32)gdt;
  load_gdt(&p);
  load_tr(TSS_SEL);
}

/* ---- IDT (SDM Vol. 3A §6.11) -------------------------------------------------------- */

static u32 idt[256 * 2] __attribute__((aligned(8)));

#define GATE_INT32 0x8E  /* P, DPL 0, 32-bit interrupt gate (clears IF) */
#define GATE_INT32_USER 0xEE  /* the same with DPL 3: reachable by INT n from ring 3 */

static void set_gate(int vec, void (*handler)(void), u8 type) {
  u32 off = (u32)handler;
  idt[vec * 2] = (off & 0xFFFF) | ((u32)KERNEL_CS << 16);
  idt[vec * 2 + 1] = (off & 0xFFFF0000) | ((u32)type << 8);
}

#define V(n) extern void vector##n(void);
V(0) V(1) V(2) V(3) V(4) V(5) V(6) V(7) V(8) V(9) V(10) V(11) V(12) V(13) V(14) V(15)
V(16) V(17) V(18) V(19) V(20) V(21) V(22) V(23) V(24) V(25) V(26) V(27) V(28) V(29) V(30)
V(31) V(32) V(33) V(34) V(35) V(36) V(37) V(38) V(39) V(40) V(41) V(42) V(43) V(44) V(45)
V(46) V(47) V(128)
#undef V

static void (*const vectors[48])(void) = {
  vector0, vector1, vector2, vector3, vector4, vector5, vector6, vector7,
  vector8, vector9, vector10, vector11, vector12, vector13, vector14, vector15,
  vector16, vector17, vector18, vector19, vector20, vector21, vector22, vector23,
  vector24, vector25, vector26, vector27, vector28, vector29, vector30, vector31,
  vector32, vector33, vector34, vector35, vector36, vector37, vector38, vector39,
  vector40, vector41, vector42, vector43, vector44, vector45, vector46, vector47,
};

static void idt_init(void) {
  for (int i = 0; i < 48; i++) set_gate(i, vectors[i], GATE_INT32);
  set_gate(0x80, vector128, GATE_INT32_USER);
  static struct table_ptr p;
  p.limit = sizeof(idt) - 1;
  p.base = (u32)idt;
  load_idt(&p);
}

/* ---- 8259A PIC pair and 8254 PIT ---------------------------------------------------- */

static void pic_init(void) {
  outb(0x20, 0x11); outb(0xA0, 0x11);  /* ICW1: edge, cascade, ICW4 follows */
  outb(0x21, 0x20); outb(0xA1, 0x28);  /* ICW2: vector bases */
  outb(0x21, 0x04); outb(0xA1, 0x02);  /* ICW3: slave on IRQ 2 */
  outb(0x21, 0x01); outb(0xA1, 0x01);  /* ICW4: 8086 mode */
  outb(0x21, 0xFE); outb(0xA1, 0xFF);  /* mask everything but IRQ 0 */
}

static void pit_init(void) {
  u32 divisor = 1193182 / PIT_HZ;
  outb(0x43, 0x34);                    /* channel 0, lo/hi byte, mode 2 (rate generator) */
  outb(0x40, (u8)divisor);
  outb(0x40, (u8)(divisor >> 8));
}

/* ---- paging (SDM Vol. 3A §4.3: 32-bit paging) ---------------------------------------- */

#define PTE_P  0x001
#define PTE_W  0x002
#define PTE_U  0x004
#define PAGE   4096

/* 31            12 11  9 8 7 6 5 4 3 2 1 0
 * +---------------+-----+-+-+-+-+-+-+-+-+-+
 * | frame address | avl |G|0|D|A|C|W|U|W|P|
 * +---------------+-----+-+-+-+-+-+-+-+-+-+ */
static u32 kernel_pt[1024] __attribute__((aligned(PAGE)));  /* 0-4 MiB, shared */
static u32 page_dir[2][1024] __attribute__((aligned(PAGE)));
static u32 user_pt[2][1024] __attribute__((aligned(PAGE)));  /* 4-8 MiB, per process */
static u8 info_frame[2][PAGE] __attribute__((aligned(PAGE)));
static u8 baton_frame[PAGE] __attribute__((aligned(PAGE)));
static u8 stack_frames[2][2 * PAGE] __attribute__((aligned(PAGE)));

extern char __utext_start[], __utext_end[], __kernel_end[];

static void paging_init(void) {
  /* Identity map 4 KiB .. 4 MiB; page 0 stays absent to catch null pointers. Only the
   * user code pages are user-accessible (read-only). */
  u32 ustart = (u32)__utext_start, uend = (u32)__utext_end;
  for (u32 i = 1; i < 1024; i++) {
    u32 addr = i * PAGE;
    if (addr >= ustart && addr < uend) kernel_pt[i] = addr | PTE_P | PTE_U;
    else kernel_pt[i] = addr | PTE_P | PTE_W;
  }
  for (int p = 0; p < 2; p++) {
    /* The directory entries allow everything; the table entries decide. */
    page_dir[p][0] = (u32)kernel_pt | PTE_P | PTE_W | PTE_U;
    page_dir[p][1] = (u32)user_pt[p] | PTE_P | PTE_W | PTE_U;
    user_pt[p][0] = (u32)info_frame[p] | PTE_P | PTE_U;
    user_pt[p][1] = (u32)baton_frame | PTE_P | PTE_W | PTE_U;
    user_pt[p][2] = (u32)stack_frames[p] | PTE_P | PTE_W | PTE_U;
    user_pt[p][3] = (u32)(stack_frames[p] + PAGE) | PTE_P | PTE_W | PTE_U;
  }
  __asm__ volatile("movl %0, %%cr3" : : "r"(page_dir[0]) : "memory");
  u32 cr0;
  __asm__ volatile("movl %%cr0, %0" : "=r"(cr0));
  cr0 |= 0x80000000u;  /* PG; WP stays clear, so the kernel may write read-only pages */
  __asm__ volatile("movl %0, %%cr0" : : "r"(cr0) : "memory");
}

/* ---- processes and traps ------------------------------------------------------------ */

/* What trap_common in boot.s leaves on the kernel stack, lowest address first. */
struct frame {
  u32 gs, fs, es, ds;
  u32 edi, esi, ebp, esp_at_pusha, ebx, edx, ecx, eax;
  u32 vector, err;
  u32 eip, cs, eflags, user_esp, user_ss;  /* the last two only from ring 3 */
};

enum state { RUNNABLE, EXITED, KILLED };

struct proc {
  u32 pid;
  enum state state;
  struct frame frame;     /* saved user registers while not running */
  u32 exit_code;
  u32 fault_vector, fault_err, fault_cr2;
  u32 writes, getpids, yields, preemptions;
};

static struct proc procs[2];
static int current;
static u32 ticks, switches;

extern void user_main(void);
extern void enter_frame(const struct frame *f) __attribute__((noreturn));
_Static_assert(sizeof(struct frame) == 76, "boot.s copies a 76-byte frame");

static void proc_init(int i) {
  struct proc *p = &procs[i];
  p->pid = (u32)i + 1;
  p->state = RUNNABLE;
  p->frame.gs = p->frame.fs = p->frame.es = p->frame.ds = USER_DS;
  p->frame.eip = (u32)user_main;
  p->frame.cs = USER_CS;
  p->frame.eflags = 0x202;  /* IF */
  p->frame.user_esp = USER_STACK_TOP;
  p->frame.user_ss = USER_DS;
  ((struct info_page *)info_frame[i])->pid = p->pid;
}

/* Saves the interrupted process into its slot and resumes the next runnable one
 * (round robin) by overwriting the frame the trap will return through. Returns
 * without switching when no other process can run. */
static void schedule(struct frame *f) {
  int next = current;
  for (int k = 1; k <= 2; k++) {
    int c = (current + k) % 2;
    if (procs[c].state == RUNNABLE) { next = c; break; }
  }
  if (procs[current].state == RUNNABLE && next == current) return;
  if (procs[next].state != RUNNABLE) return;  /* caller handles "nothing left" */
  if (next != current) {
    procs[current].frame = *f;
    *f = procs[next].frame;
    current = next;
    switches++;
    __asm__ volatile("movl %0, %%cr3" : : "r"(page_dir[next]) : "memory");
  }
}

static void summary_and_poweroff(void);

/* A user pointer is fine if the whole range lies in the process's stack pages or its
 * user code pages (string literals live there). */
static int user_range_ok(u32 buf, u32 len) {
  if (len > 256 || buf + len < buf) return 0;
  if (buf >= USER_STACK && buf + len <= USER_STACK_TOP) return 1;
  if (buf >= (u32)__utext_start && buf + len <= (u32)__utext_end) return 1;
  return 0;
}

static void syscall(struct frame *f) {
  struct proc *p = &procs[current];
  switch (f->eax) {
    case SYS_WRITE:
      p->writes++;
      if (!user_range_ok(f->ebx, f->ecx)) { f->eax = (u32)-1; return; }
      for (u32 i = 0; i < f->ecx; i++) putc(((const char *)f->ebx)[i]);
      f->eax = f->ecx;
      return;
    case SYS_GETPID:
      p->getpids++;
      f->eax = p->pid;
      return;
    case SYS_YIELD:
      p->yields++;
      f->eax = 0;
      schedule(f);
      return;
    case SYS_EXIT:
      p->state = EXITED;
      p->exit_code = f->ebx;
      procs[current].frame = *f;
      schedule(f);
      if (procs[current].state != RUNNABLE) summary_and_poweroff();
      return;
    default:
      f->eax = (u32)-1;
      return;
  }
}

static const char *const exception_names[20] = {
  "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO",
  "#TS", "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM",
};

static u32 read_cr2(void) {
  u32 v;
  __asm__ volatile("movl %%cr2, %0" : "=r"(v));
  return v;
}

static void describe(struct frame *f) {
  puts(f->vector < 20 ? exception_names[f->vector] : "vector");
  puts(" (vector ");
  putdec(f->vector);
  puts(") error code ");
  puthex(f->err);
  puts(" at eip ");
  puthex(f->eip);
  if (f->vector == 14) { puts(" cr2 "); puthex(read_cr2()); }
}

void trap(struct frame *f) {
  int from_user = (f->cs & 3) == 3;
  if (f->vector == 0x80) {
    syscall(f);
    return;
  }
  if (f->vector == 0x20) {  /* IRQ 0: the PIT */
    ticks++;
    outb(0x20, 0x20);        /* non-specific EOI */
    if (from_user) {
      struct proc *p = &procs[current];
      p->preemptions++;
      ((struct info_page *)info_frame[current])->preemptions = p->preemptions;
      schedule(f);
    }
    return;
  }
  if (f->vector >= 0x21 && f->vector < 0x30) {
    /* Masked lines only raise spurious IRQ 7 / 15; 15 needs an EOI to the master. */
    if (f->vector == 0x2F) outb(0x20, 0x20);
    return;
  }
  if (from_user) {
    struct proc *p = &procs[current];
    puts("[kernel] pid ");
    putdec(p->pid);
    puts(" killed: ");
    describe(f);
    puts("\n");
    p->state = KILLED;
    p->fault_vector = f->vector;
    p->fault_err = f->err;
    p->fault_cr2 = f->vector == 14 ? read_cr2() : 0;
    procs[current].frame = *f;
    schedule(f);
    if (procs[current].state != RUNNABLE) summary_and_poweroff();
    return;
  }
  puts("[kernel] FATAL: ");
  describe(f);
  puts(" in ring 0\n");
  poweroff(EXIT_FAIL);
}

/* ---- start and finish --------------------------------------------------------------- */

static int check(const char *what, int ok) {
  puts("  ");
  puts(what);
  puts(ok ? ": ok\n" : ": FAILED\n");
  return ok;
}

static void summary_and_poweroff(void) {
  const u32 expect_writes = 1 + NROUNDS + 1, expect_getpids = 1 + NROUNDS;
  struct proc *a = &procs[0], *b = &procs[1];
  puts("[kernel] both processes finished\n");
  for (int i = 0; i < 2; i++) {
    struct proc *p = &procs[i];
    puts("  pid ");
    putdec(p->pid);
    puts(": write ");
    putdec(p->writes);
    puts(", getpid ");
    putdec(p->getpids);
    puts(p->state == EXITED ? ", exited with " : ", killed by vector ");
    putdec(p->state == EXITED ? p->exit_code : p->fault_vector);
    puts("\n");
  }
  puts("  syscalls other than yield: ");
  putdec(a->writes + a->getpids + b->writes + b->getpids + (a->state == EXITED) + (b->state == EXITED));
  puts("\n");
  int ok = 1;
  ok &= check("timer ticks > 0", ticks > 0);
  ok &= check("both processes preempted by the timer", a->preemptions > 0 && b->preemptions > 0);
  ok &= check("context switches > 0", switches > 0);
  ok &= check("write/getpid counts", a->writes == expect_writes && b->writes == expect_writes &&
                                         a->getpids == expect_getpids && b->getpids == expect_getpids);
  ok &= check("pid 1 exit(0)", a->state == EXITED && a->exit_code == 0);
  ok &= check("pid 2 #PF error 7 at 0x00400000", b->state == KILLED && b->fault_vector == 14 &&
                                                   b->fault_err == 7 && b->fault_cr2 == USER_INFO);
  puts(ok ? "demo: PASS, powering off\n" : "demo: FAIL, powering off\n");
  poweroff(ok ? EXIT_PASS : EXIT_FAIL);
}

void kmain(u32 magic, u32 mbinfo) {
  (void)mbinfo;
  serial_init();
  puts("vmm86 demo guest\n");
  if (magic != 0x2BADB002u) {
    puts("not started by a Multiboot loader\n");
    poweroff(EXIT_FAIL);
  }
  gdt_init();
  puts("[kernel] GDT and TSS loaded\n");
  idt_init();
  puts("[kernel] IDT loaded: 32 exceptions, 16 IRQs, int 0x80 at DPL 3\n");
  paging_init();
  puts("[kernel] paging on: 4 KiB pages, a page directory per process\n");
  pic_init();
  pit_init();
  puts("[kernel] 8259A remapped to 0x20/0x28, PIT channel 0 at 1000 Hz\n");
  proc_init(0);
  proc_init(1);
  ((struct baton_page *)baton_frame)->turn = 1;
  puts("[kernel] starting pid 1 and pid 2 at ring 3\n");
  current = 0;
  enter_frame(&procs[0].frame);
}
