/* vmm86 escape guest: an adversarial kernel that tries every way it knows to write or
 * run the top 4 MiB of the linear address space, where a classic monitor lives.
 *
 * One attempt per run, chosen on the Multiboot command line ("attempt=<name>";
 * "attempt=list" prints the names, "attempt=all" runs every one in turn). Each attempt
 * prints one line on COM1:
 *
 *   ESC <name> <outcome> [detail]
 *
 * where the outcome is what this kernel could see: "wrote" (the write landed in the
 * guest page its own page tables name), "wrote-lost" (it completed but landed elsewhere),
 * "wrote-unbacked" (no memory answered: reads back all ones), "ran" (code in the region
 * ran; detail cs=), "delivered", "read-mine"/"read-other", "read-nothing" (every read
 * gave all ones), "io-kept"/"io-lost", "own-table", or "fault=N" (the attempt raised
 * exception N; detail err=, cr2=).
 *
 * The hv-* attempts aim at a hardware-assisted monitor instead (--mode svm: docs/svm.md):
 * its VMCB, nested page tables, I/O and MSR permission maps, host save area, host GDT,
 * IDT and code sit in machine-physical memory right above guest RAM. This kernel knows
 * that layout (an attacker who read the source) and maps those guest-physical frames.
 *
 * Every exception vector has a handler; a fault during an attempt is reported and the
 * kernel goes back to a clean state (its own GDT, IDT, TSS, page tables, segments) before
 * the next line. The kernel runs with IF = 0 and every 8259A line masked.
 *
 * SDM references: Vol. 3A ch. 3 (segments, expand-down), §4.3 (32-bit paging), ch. 5
 * (call gates, privilege checks), ch. 6 (IDT), ch. 7 (task switches); Vol. 2 SYSENTER.
 */
#include "escape.h"

/* ---- port I/O, serial console ---------------------------------------------------- */

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) {
  u8 v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

#define COM1 0x3F8
#define COM2 0x2F8
#define LSR_THRE 0x20

static void serial_init(void) {
  outb(COM1 + 1, 0x00);
  outb(COM1 + 3, 0x80);
  outb(COM1 + 0, 0x01);
  outb(COM1 + 1, 0x00);
  outb(COM1 + 3, 0x03);
  outb(COM1 + 2, 0xC7);
  outb(COM1 + 4, 0x03);
}

static void putc(char c) {
  while (!(inb(COM1 + 5) & LSR_THRE)) {
  }
  outb(COM1, (u8)c);
}

static void puts(const char *s) {
  while (*s) putc(*s++);
}

static void puthex(u32 v, int digits) {
  static const char hexd[] = "0123456789abcdef";
  puts("0x");
  for (int i = (digits - 1) * 4; i >= 0; i -= 4) putc(hexd[(v >> i) & 15]);
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

static int streq(const char *a, const char *b) {
  while (*a && *a == *b) { a++; b++; }
  return *a == *b;
}

/* ---- the outcome of the current attempt ----------------------------------------------- */

static char outcome[96];
static u32 outlen;

static void out_str(const char *s) {
  while (*s && outlen + 1 < sizeof(outcome)) outcome[outlen++] = *s++;
  outcome[outlen] = 0;
}

static void out_hex(u32 v, int digits) {
  static const char hexd[] = "0123456789abcdef";
  out_str("0x");
  for (int i = (digits - 1) * 4; i >= 0; i -= 4) {
    char c[2] = { hexd[(v >> i) & 15], 0 };
    out_str(c);
  }
}

static void out_dec(u32 v) {
  char tmp[11];
  int n = 0;
  do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  char r[11];
  int k = 0;
  while (n) r[k++] = tmp[--n];
  r[k] = 0;
  out_str(r);
}

static void out_reset(void) { outlen = 0; outcome[0] = 0; }

static int memcmp_bytes(const void *a, const void *b, u32 n) {
  const u8 *x = a, *y = b;
  while (n--) if (*x++ != *y++) return 0;
  return 1;
}

/* ---- descriptor tables (SDM Vol. 3A §3.4.5, §5.8.3, §6.11, §7.2) -------------------- */

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

struct jmpbuf { u32 ebx, esi, edi, ebp, esp, eip; };

extern int esc_setjmp(struct jmpbuf *jb);
extern void esc_longjmp(struct jmpbuf *jb, int value) __attribute__((noreturn));
extern char vector_table[];
extern char kernel_stack_top[];
extern u32 landing_ptr;
extern void user_call_gate(void);
extern void user_sysenter(void);

struct jmpbuf attempt_jb;
u32 landing_eax;

static u32 gdt[GDT_ENTRIES * 2] __attribute__((aligned(8)));
static u32 ldt[2 * 2] __attribute__((aligned(8)));
static u32 idt[256 * 2] __attribute__((aligned(8)));
static struct tss tss_main __attribute__((aligned(128)));
static struct tss tss2 __attribute__((aligned(128)));

static u8 trap_stack[8192] __attribute__((aligned(16)));
static u8 task_stack[4096] __attribute__((aligned(16)));
static u8 sysenter_stack[4096] __attribute__((aligned(16)));
static u8 user_stack[4096] __attribute__((aligned(16)));

/*  63      56 55 52 51   48 47      40 39      16 15       0
 * +----------+-----+-------+----------+----------+----------+
 * | base hi  |G D  |lim hi | access   | base lo  | limit lo |
 * +----------+-----+-------+----------+----------+----------+ */
static void set_desc(u32 *table, int i, u32 base, u32 limit, u8 access, u8 flags) {
  table[i * 2] = (limit & 0xFFFF) | (base << 16);
  table[i * 2 + 1] = ((base >> 16) & 0xFF) | ((u32)access << 8) | (limit & 0xF0000) |
                     ((u32)flags << 20) | (base & 0xFF000000);
}

/* A gate: call gate (type 0xC), task gate (0x5), interrupt gate (0xE). */
static void set_gate(u32 *table, int i, u16 sel, u32 offset, u8 access) {
  table[i * 2] = (offset & 0xFFFF) | ((u32)sel << 16);
  table[i * 2 + 1] = (offset & 0xFFFF0000) | ((u32)access << 8);
}

#define ACC_CODE0   0x9A  /* P, DPL 0, code, execute/read */
#define ACC_DATA0   0x92  /* P, DPL 0, data, read/write */
#define ACC_CODE3   0xFA
#define ACC_DATA3   0xF2
#define ACC_DATA_ED 0x96  /* P, DPL 0, data, expand-down, read/write */
#define ACC_TSS     0x89  /* P, DPL 0, 32-bit TSS, available */
#define ACC_LDT     0x82
#define ACC_CALL0   0x8C  /* P, DPL 0, 32-bit call gate */
#define ACC_CALL3   0xEC  /* P, DPL 3, 32-bit call gate */
#define ACC_TASKG   0x85  /* P, DPL 0, task gate */
#define ACC_INT0    0x8E  /* P, DPL 0, 32-bit interrupt gate */
#define ACC_INT3    0xEE
#define FL_4K32     0xC   /* G = 1, D/B = 1 */

static u32 page_dir[1024] __attribute__((aligned(4096)));  /* defined with the paging code */

static void gdt_build(void) {
  memset(gdt, 0, sizeof(gdt));
  set_desc(gdt, 1, 0, 0xFFFFF, ACC_CODE0, FL_4K32);
  set_desc(gdt, 2, 0, 0xFFFFF, ACC_DATA0, FL_4K32);
  set_desc(gdt, 3, 0, 0xFFFFF, ACC_CODE3, FL_4K32);
  set_desc(gdt, 4, 0, 0xFFFFF, ACC_DATA3, FL_4K32);
  memset(&tss_main, 0, sizeof(tss_main));
  tss_main.ss0 = KDATA;
  tss_main.esp0 = (u32)(trap_stack + sizeof(trap_stack));
  tss_main.cr3 = (u32)page_dir;  /* static field: a task switch back to this task loads it */
  tss_main.iomap_base = sizeof(struct tss);
  set_desc(gdt, TSS_MAIN >> 3, (u32)&tss_main, sizeof(struct tss) - 1, ACC_TSS, 0);
  /* 0x30 (scratch) stays empty until an attempt shapes it. */
  set_desc(gdt, SEL_CODE0 >> 3, 0, 0xFFFFF, ACC_CODE0, FL_4K32);
  memset(&tss2, 0, sizeof(tss2));
  set_desc(gdt, SEL_TSS2 >> 3, (u32)&tss2, sizeof(struct tss) - 1, ACC_TSS, 0);
  set_gate(gdt, SEL_TASKGATE >> 3, SEL_TSS2, 0, ACC_TASKG);
  set_gate(gdt, SEL_CALLGATE >> 3, KCODE, REGION + STUB_LRET, ACC_CALL0);
  set_desc(gdt, SEL_LDT >> 3, (u32)ldt, sizeof(ldt) - 1, ACC_LDT, 0);
  set_gate(gdt, SEL_UCALLGATE >> 3, SEL_CODE0, REGION + STUB_LRET, ACC_CALL3);
  memset(ldt, 0, sizeof(ldt));
}

static void idt_build(void) {
  for (int v = 0; v < 256; v++) set_gate(idt, v, KCODE, (u32)(vector_table + 16 * v), ACC_INT0);
  set_gate(idt, 0x80, KCODE, (u32)(vector_table + 16 * 0x80), ACC_INT3);
}

static void load_gdt_at(u32 base, u16 limit) {
  struct table_ptr p = { limit, base };
  __asm__ volatile(
      "lgdt %0\n\t"
      "ljmp $0x08, $1f\n"
      "1:\tmovw $0x10, %%ax\n\t"
      "movw %%ax, %%ds\n\t"
      "movw %%ax, %%es\n\t"
      "movw %%ax, %%ss\n\t"
      "xorw %%ax, %%ax\n\t"
      "movw %%ax, %%fs\n\t"
      "movw %%ax, %%gs\n\t"
      : : "m"(p) : "eax", "memory");
}

static void load_idt_at(u32 base, u16 limit) {
  struct table_ptr p = { limit, base };
  __asm__ volatile("lidt %0" : : "m"(p) : "memory");
}

static void sgdt_to(struct table_ptr *p) { __asm__ volatile("sgdt %0" : "=m"(*p)); }
static void sidt_to(struct table_ptr *p) { __asm__ volatile("sidt %0" : "=m"(*p)); }

static void load_es(u16 sel) { __asm__ volatile("movw %0, %%es" : : "r"(sel) : "memory"); }

static void lldt(u16 sel) { __asm__ volatile("lldt %0" : : "r"(sel) : "memory"); }

/* ---- paging (SDM Vol. 3A §4.3) ----------------------------------------------------- */

#define PTE_P  0x001
#define PTE_W  0x002
#define PTE_U  0x004
#define PTE_PS 0x080
#define PAGE   4096
#define ID_TABLES 32  /* identity map of up to 128 MiB */

static u32 id_pt[ID_TABLES][1024] __attribute__((aligned(PAGE)));
static u32 top_pt[1024] __attribute__((aligned(PAGE)));    /* PDE 1023: the region */
static u32 below_pt[1024] __attribute__((aligned(PAGE)));  /* PDE 1022: decoy D at its end */
static u32 win_pt[WINDOW_PAGES / 1024][1024] __attribute__((aligned(PAGE)));
static u32 decoy_a[1024] __attribute__((aligned(PAGE)));
static u32 decoy_b[1024] __attribute__((aligned(PAGE)));
static u32 decoy_c[1024] __attribute__((aligned(PAGE)));
static u32 decoy_d[1024] __attribute__((aligned(PAGE)));

static u32 ram_top;     /* first byte above guest RAM, from mem_upper */
static u32 id_tables;   /* page tables the identity map uses */

static void flush_tlb(void) {
  u32 cr3;
  __asm__ volatile("movl %%cr3, %0; movl %0, %%cr3" : "=r"(cr3) : : "memory");
}

/* Rebuilds every table in place: each entry is written once with its final value, so the
 * tables stay valid while paging is on and the code runs from them. */
static void paging_build(void) {
  for (u32 t = 0; t < id_tables; t++) {
    for (u32 i = 0; i < 1024; i++) {
      u32 addr = (t * 1024 + i) * PAGE;
      id_pt[t][i] = (addr < ram_top && addr != 0) ? (addr | PTE_P | PTE_W | PTE_U) : 0;  /* page 0 absent */
    }
  }
  for (u32 d = 0; d < 1024; d++) {
    u32 v = 0;
    if (d < id_tables) v = (u32)id_pt[d] | PTE_P | PTE_W | PTE_U;
    else if (d >= PDE_WINDOW && d < PDE_WINDOW + WINDOW_PAGES / 1024) v = (u32)win_pt[d - PDE_WINDOW] | PTE_P | PTE_W;
    else if (d == 1022) v = (u32)below_pt | PTE_P | PTE_W;
    else if (d == 1023) v = (u32)top_pt | PTE_P | PTE_W;
    page_dir[d] = v;
  }
  for (u32 i = 0; i < 1024; i++) top_pt[i] = (u32)decoy_c | PTE_P | PTE_W;
  top_pt[0] = (u32)decoy_a | PTE_P | PTE_W;
  top_pt[1023] = (u32)decoy_b | PTE_P | PTE_W;
  memset(below_pt, 0, sizeof(below_pt));
  below_pt[1023] = (u32)decoy_d | PTE_P | PTE_W;
  memset(win_pt, 0, sizeof(win_pt));
}

/* ---- the clean state every attempt starts from and returns to --------------------------- */

static const u8 stub_head[5] = { 0x31, 0xC0, 0x66, 0x8C, 0xC8 };  /* xor %eax,%eax; mov %cs,%ax */

static void put_stub(u32 off, const u8 *tail, u32 n) {
  u8 *p = (u8 *)decoy_a + off;
  memcpy(p, stub_head, sizeof(stub_head));
  memcpy(p + sizeof(stub_head), tail, n);
}

static void decoys_seed(void) {
  memset(decoy_a, 0, PAGE);
  memset(decoy_b, 0, PAGE);
  memset(decoy_c, 0, PAGE);
  memset(decoy_d, 0, PAGE);
  static const u8 ret[] = { 0xC3 }, lret[] = { 0xCB }, iret[] = { 0xCF };
  static const u8 ud[] = { 0x83, 0x04, 0x24, 0x02, 0xCF };
  /* jmp *%ss:landing_ptr: after SYSENTER from ring 3, DS is still the null selector the
   * return to ring 3 left there; SS is SYSENTER_CS + 8. */
  u8 land[7] = { 0x36, 0xFF, 0x25 };
  u32 lp = (u32)&landing_ptr;
  memcpy(land + 3, &lp, 4);
  put_stub(STUB_RET, ret, 1);
  put_stub(STUB_LRET, lret, 1);
  put_stub(STUB_IRET, iret, 1);
  put_stub(STUB_UD, ud, sizeof(ud));
  put_stub(STUB_LANDING, land, sizeof(land));
  decoy_a[PROBE / 4] = PROBE_VALUE;
}

static void world_reset(void) {
  /* Flags first: no NT, DF, TF or AC left over from an attempt; IF stays 0. */
  __asm__ volatile("pushl $2; popfl" : : : "memory", "cc");
  gdt_build();
  idt_build();
  load_gdt_at((u32)gdt, sizeof(gdt) - 1);
  load_idt_at((u32)idt, sizeof(idt) - 1);
  lldt(0);
  __asm__ volatile("ltr %0" : : "r"((u16)TSS_MAIN) : "memory");
  paging_build();
  __asm__ volatile("movl %0, %%cr3" : : "r"(page_dir) : "memory");
  decoys_seed();
}

/* ---- traps --------------------------------------------------------------------------- */

struct frame {
  u32 gs, fs, es, ds;
  u32 edi, esi, ebp, esp_at_pusha, ebx, edx, ecx, eax;
  u32 vector, err;
  u32 eip, cs, eflags, user_esp, user_ss;
};

static volatile u32 delivered_0x42;
static u32 fault_vector, fault_err, fault_cr2;
static u32 user_eax;
static int in_attempt;

#define JB_FAULT 2
#define JB_LANDING 3
#define JB_USER 4

/* Called by every interrupt stub. Returns (the stub IRETs) only for int $0x42, which the
 * lidt attempt delivers on purpose; everything else during an attempt goes back to its
 * esc_setjmp. */
void trap(struct frame *f) {
  if (f->vector == 0x42) { delivered_0x42++; return; }
  if (!in_attempt) {
    puts("escape: unexpected vector ");
    putdec(f->vector);
    puts(" outside an attempt\n");
    poweroff(EXIT_BAD);
  }
  if (f->vector == 0x80) {
    user_eax = f->eax;
    esc_longjmp(&attempt_jb, JB_USER);
  }
  fault_vector = f->vector;
  fault_err = f->err;
  if (f->vector == 14) __asm__ volatile("movl %%cr2, %0" : "=r"(fault_cr2));
  esc_longjmp(&attempt_jb, JB_FAULT);
}

/* Leave ring 0 for `entry` at ring 3 on the user stack; it comes back by int $0x80 (or
 * through the region and the landing pad). */
static void enter_ring3(void (*entry)(void)) {
  __asm__ volatile(
      "pushl %0\n\t"  /* SS */
      "pushl %1\n\t"  /* ESP */
      "pushl $2\n\t"  /* EFLAGS: IF = 0 */
      "pushl %2\n\t"  /* CS */
      "pushl %3\n\t"  /* EIP */
      "iret"
      : : "i"(UDATA), "r"((u32)(user_stack + sizeof(user_stack))), "i"(UCODE), "r"((u32)entry)
      : "memory");
}

/* ---- outcome helpers ---------------------------------------------------------------- */

static void ran(u32 eax) {
  out_str("ran cs=");
  out_hex(eax & 0xFFFF, 4);
}

/* The write aimed at the region: did it land where the guest's page tables say? */
static void wrote_if(int landed) { out_str(landed ? "wrote" : "wrote-lost"); }

static void read_as(u32 got, u32 want) {
  if (got == want) { out_str("read-mine"); return; }
  out_str("read-other value=");
  out_hex(got, 8);
}

/* A write through a PTE or PDE aimed outside guest RAM: what reads back? */
static void backed(u32 got, u32 wrote) {
  if (got == wrote) out_str("wrote-kept");
  else if (got == 0xFFFFFFFFu) out_str("wrote-unbacked");
  else { out_str("wrote-readback value="); out_hex(got, 8); }
}

static void wrmsr(u32 msr, u32 lo) { __asm__ volatile("wrmsr" : : "c"(msr), "a"(lo), "d"(0)); }

static void invlpg(u32 lin) { __asm__ volatile("invlpg (%0)" : : "r"(lin) : "memory"); }

/* ---- the attempts -------------------------------------------------------------------- */

/* Writes through each segment register and addressing form. */

static void a_write_ds(void) {
  __asm__ volatile("movl %0, 0xFFC00100" : : "a"(MARK) : "memory");
  wrote_if(decoy_a[0x100 / 4] == MARK);
}

static void a_write_es(void) {
  __asm__ volatile("movl %0, %%es:(%1)" : : "a"(MARK), "D"(REGION + 0x104) : "memory");
  wrote_if(decoy_a[0x104 / 4] == MARK);
}

static void a_write_fs(void) {
  __asm__ volatile("movw %1, %%fs; movl %0, %%fs:0xFFC00108" : : "a"(MARK), "r"((u16)KDATA) : "memory");
  wrote_if(decoy_a[0x108 / 4] == MARK);
}

static void a_write_gs(void) {
  __asm__ volatile("movw %1, %%gs; movl %0, %%gs:0xFFC0010C" : : "a"(MARK), "r"((u16)KDATA) : "memory");
  wrote_if(decoy_a[0x10C / 4] == MARK);
}

static void a_write_ss(void) {
  __asm__ volatile("movl %0, %%ss:0xFFC00110" : : "a"(MARK) : "memory");
  wrote_if(decoy_a[0x110 / 4] == MARK);
}

/* A code segment is never writable: #GP(0) before any address is formed (SDM Vol. 3A
 * §5.5 and MOV's protected-mode exceptions). */
static void a_write_cs(void) {
  __asm__ volatile("movl %0, %%cs:0xFFC00114" : : "a"(MARK) : "memory");
  wrote_if(decoy_a[0x114 / 4] == MARK);
}

static void a_write_sib(void) {
  __asm__ volatile("movl %0, 0x118(%1,%2,4)" : : "a"(MARK), "b"(0xFFB00000u), "c"(0x40000u) : "memory");
  wrote_if(decoy_a[0x118 / 4] == MARK);
}

/* Offset arithmetic wraps modulo 2^32: 0 - 16 is 0xFFFFFFF0. */
static void a_write_negdisp(void) {
  __asm__ volatile("movl %0, -16(%1)" : : "a"(MARK), "b"(0u) : "memory");
  wrote_if(decoy_b[0xFF0 / 4] == MARK);
}

static void a_write_last(void) {
  __asm__ volatile("movl %0, 0xFFFFFFFC" : : "a"(MARK) : "memory");
  wrote_if(decoy_b[0xFFC / 4] == MARK);
}

/* Two bytes below the region, two bytes in it. */
static void a_write_straddle(void) {
  __asm__ volatile("movl %0, 0xFFBFFFFE" : : "a"(MARK) : "memory");
  const u8 *d = (const u8 *)decoy_d, *a = (const u8 *)decoy_a;
  wrote_if(d[0xFFE] == (u8)MARK && d[0xFFF] == (u8)(MARK >> 8) &&
           a[0] == (u8)(MARK >> 16) && a[1] == (u8)(MARK >> 24));
}

static void a_push_region(void) {
  __asm__ volatile(
      "movl %%esp, %%edx\n\t"
      "movl $0xFFC00124, %%esp\n\t"
      "pushl %0\n\t"
      "movl %%edx, %%esp"
      : : "a"(MARK) : "edx", "memory");
  wrote_if(decoy_a[0x120 / 4] == MARK);
}

static void a_lock_rmw(void) {
  decoy_a[0x124 / 4] = MARK - 1;
  __asm__ volatile("lock addl $1, 0xFFC00124" : : : "memory", "cc");
  wrote_if(decoy_a[0x124 / 4] == MARK);
}

static void a_xchg_region(void) {
  u32 v = MARK;
  __asm__ volatile("xchgl %0, 0xFFC00128" : "+r"(v) : : "memory");
  wrote_if(decoy_a[0x128 / 4] == MARK && v == 0);
}

static void a_fpu_store(void) {
  static u32 src = MARK;
  __asm__ volatile("fninit; fildl %0; fistpl 0xFFC0012C" : : "m"(src) : "memory");
  wrote_if(decoy_a[0x12C / 4] == MARK);
}

/* SGDT writes six bytes (limit, base) wherever it is told. */
static void a_sgdt_region(void) {
  struct table_ptr own;
  sgdt_to(&own);
  __asm__ volatile("sgdt 0xFFC00130" : : : "memory");
  const u8 *a = (const u8 *)decoy_a + 0x130;
  wrote_if(memcmp_bytes(a, &own, 6));
}

/* String instructions across the boundary and over the whole region. */

static u32 src_buf[8];

static void a_rep_movs_across(void) {
  for (u32 i = 0; i < 8; i++) src_buf[i] = MARK + i;
  __asm__ volatile("cld; rep movsl" : : "S"(src_buf), "D"(0xFFBFFFF0u), "c"(8u) : "memory");
  int ok = 1;
  for (u32 i = 0; i < 4; i++) ok &= decoy_d[1020 + i] == MARK + i;
  for (u32 i = 0; i < 4; i++) ok &= decoy_a[i] == MARK + 4 + i;
  wrote_if(ok);
}

/* DF = 1: from 0xFFC0000C down to 0xFFBFFFF0. */
static void a_rep_stos_down(void) {
  __asm__ volatile("std; rep stosl; cld" : : "a"(MARK), "D"(0xFFC0000Cu), "c"(8u) : "memory");
  int ok = 1;
  for (u32 i = 0; i < 4; i++) ok &= decoy_a[i] == MARK && decoy_d[1020 + i] == MARK;
  wrote_if(ok);
}

/* Every dword of the 4 MiB region. */
static void a_rep_stos_region(void) {
  __asm__ volatile("cld; rep stosl" : : "a"(MARK), "D"(REGION), "c"(0x100000u) : "memory");
  int ok = 1;
  for (u32 i = 0; i < 1024; i++) ok &= decoy_a[i] == MARK && decoy_b[i] == MARK && decoy_c[i] == MARK;
  wrote_if(ok);
}

/* INS writes what a port gives into memory: the COM2 scratch register here. */
static void a_ins_region(void) {
  outb(COM2 + 7, 0x5A);
  __asm__ volatile("cld; rep insb" : : "d"((u16)(COM2 + 7)), "D"(REGION + 0x140), "c"(4u) : "memory");
  wrote_if(decoy_a[0x140 / 4] == 0x5A5A5A5Au);
}

/* Reads: what does the region show the guest? */

static void a_read_region(void) {
  u32 v;
  __asm__ volatile("movl 0xFFC00200, %0" : "=a"(v) : : "memory");
  read_as(v, PROBE_VALUE);
}

static void a_movs_from_region(void) {
  static u32 dst[2];
  __asm__ volatile("cld; rep movsl" : : "S"(REGION + PROBE), "D"(dst), "c"(1u) : "memory");
  read_as(dst[0], PROBE_VALUE);
}

static void a_outs_from_region(void) {
  outb(COM2 + 7, 0);
  __asm__ volatile("cld; rep outsb" : : "d"((u16)(COM2 + 7)), "S"(REGION + PROBE), "c"(1u) : "memory");
  read_as(inb(COM2 + 7), PROBE_VALUE & 0xFF);
}

/* Descriptors in the GDT and LDT whose reach covers the region. */

static void write_es_at(u32 offset) {
  __asm__ volatile("movl %0, %%es:(%1)" : : "a"(MARK), "D"(offset) : "memory");
}

/* Base 4 MiB, limit 4 GiB: offset 0xFF800150 is linear 0xFFC00150. */
static void a_gdt_flat_base(void) {
  set_desc(gdt, SEL_SCRATCH >> 3, 0x00400000, 0xFFFFF, ACC_DATA0, FL_4K32);
  load_es(SEL_SCRATCH);
  write_es_at(0xFF800150);
  wrote_if(decoy_a[0x150 / 4] == MARK);
}

/* A segment that lies wholly inside the region. */
static void a_gdt_base_in_region(void) {
  set_desc(gdt, SEL_SCRATCH >> 3, REGION, 0xFFF, ACC_DATA0, 0x4);
  load_es(SEL_SCRATCH);
  write_es_at(0x154);
  wrote_if(decoy_a[0x154 / 4] == MARK);
}

/* Expand-down, B = 1, limit 0 with G = 1: valid offsets 0x1000..0xFFFFFFFF (SDM Vol. 3A
 * §3.4.5.1, §5.3). */
static void a_gdt_expand_down(void) {
  set_desc(gdt, SEL_SCRATCH >> 3, 0, 0, ACC_DATA_ED, FL_4K32);
  load_es(SEL_SCRATCH);
  write_es_at(REGION + 0x158);
  wrote_if(decoy_a[0x158 / 4] == MARK);
}

/* Expand-down, B = 0, base 0xFFBF8000, limit 0x7FFF: valid offsets 0x8000..0xFFFF, which
 * is linear 0xFFC00000..0xFFC07FFF. */
static void a_gdt_expand_down_16(void) {
  set_desc(gdt, SEL_SCRATCH >> 3, 0xFFBF8000, 0x7FFF, ACC_DATA_ED, 0x0);
  load_es(SEL_SCRATCH);
  write_es_at(0x815C);
  wrote_if(decoy_a[0x15C / 4] == MARK);
}

static void a_ldt_flat(void) {
  set_desc(ldt, 0, 0, 0xFFFFF, ACC_DATA0, FL_4K32);
  lldt(SEL_LDT);
  load_es(LDT_SEL0);
  write_es_at(REGION + 0x160);
  wrote_if(decoy_a[0x160 / 4] == MARK);
}

/* The LDT itself lives in the region: the descriptor ES gets is read from there. */
static void a_ldt_in_region(void) {
  set_desc(decoy_a + TABLE_COPY / 4, 0, 0, 0xFFFFF, ACC_DATA0, FL_4K32);
  set_desc(gdt, SEL_LDT >> 3, REGION + TABLE_COPY, 7, ACC_LDT, 0);
  lldt(SEL_LDT);
  load_es(LDT_SEL0);
  write_es_at(REGION + 0x164);
  wrote_if(decoy_a[0x164 / 4] == MARK);
}

/* A GDT in the region. Only the copy has a usable 0x30 (base 4 MiB), so a write through
 * it shows that the descriptor came from the region. */
static void a_lgdt_region(void) {
  u32 *copy = decoy_a + TABLE_COPY / 4;
  memcpy(copy, gdt, sizeof(gdt));
  set_desc(copy, SEL_SCRATCH >> 3, 0x00400000, 0xFFFFF, ACC_DATA0, FL_4K32);
  load_gdt_at(REGION + TABLE_COPY, sizeof(gdt) - 1);
  load_es(SEL_SCRATCH);
  write_es_at(0xFF800168);
  wrote_if(decoy_a[0x168 / 4] == MARK);
}

/* Control transfers into the region. */

static void a_call_near_region(void) {
  u32 eax;
  __asm__ volatile("call *%1" : "=a"(eax) : "r"(REGION + STUB_RET) : "ecx", "edx", "memory", "cc");
  ran(eax);
}

static void a_call_far_region(void) {
  u32 eax;
  __asm__ volatile("lcall $0x08, $0xFFC00410" : "=a"(eax) : : "ecx", "edx", "memory", "cc");
  ran(eax);
}

static void a_jmp_far_region(void) {
  __asm__ volatile("ljmp $0x08, $0xFFC00440" : : : "memory");
  out_str("fell-through");
}

static void a_call_gate(void) {
  u32 eax;
  __asm__ volatile("lcall $0x50, $0" : "=a"(eax) : : "ecx", "edx", "memory", "cc");
  ran(eax);
}

/* From ring 3 through a DPL 3 call gate to a DPL 0 code segment whose code is in the
 * region: the stub sees CPL 0 (CS = 0x38); lret takes it back to ring 3. */
static void a_call_gate_user(void) {
  enter_ring3(user_call_gate);
  out_str("fell-through");
}

static void tss2_prepare(void) {
  u32 cr3;
  __asm__ volatile("movl %%cr3, %0" : "=r"(cr3));
  memset(&tss2, 0, sizeof(tss2));
  tss2.cr3 = cr3;
  tss2.eip = REGION + STUB_IRET;
  tss2.eflags = 0x2;
  tss2.esp = (u32)(task_stack + sizeof(task_stack));
  tss2.cs = KCODE;
  tss2.ss = tss2.ds = tss2.es = KDATA;
  tss2.eax = 0xDEAD;
  tss2.iomap_base = sizeof(struct tss);
}

/* A task whose EIP is in the region; its iret (NT = 1) returns to this task. The stub's
 * EAX is saved into the new task's TSS. */
static void a_task_switch(void) {
  tss2_prepare();
  __asm__ volatile("lcall $0x40, $0" : : : "memory", "cc");
  ran(tss2.eax);
}

static void a_task_gate(void) {
  tss2_prepare();
  __asm__ volatile("lcall $0x48, $0" : : : "memory", "cc");
  ran(tss2.eax);
}

static void a_idt_gate_region(void) {
  u32 eax;
  set_gate(idt, 0x41, KCODE, REGION + STUB_IRET, ACC_INT0);
  __asm__ volatile("int $0x41" : "=a"(eax) : : "memory", "cc");
  ran(eax);
}

/* #UD (vector 6) delivered into the region; the stub steps over the 2-byte ud2. */
static void a_idt_exception_region(void) {
  u32 eax;
  set_gate(idt, 6, KCODE, REGION + STUB_UD, ACC_INT0);
  __asm__ volatile("ud2" : "=a"(eax) : : "memory", "cc");
  ran(eax);
}

/* An IDT in the region. Only the copy has vector 0x42 present. */
static void a_lidt_region(void) {
  u32 *copy = decoy_a + TABLE_COPY / 4;
  memcpy(copy, idt, sizeof(idt));
  idt[0x42 * 2 + 1] &= ~0x8000u;
  delivered_0x42 = 0;
  load_idt_at(REGION + TABLE_COPY, sizeof(idt) - 1);
  __asm__ volatile("int $0x42" : : : "memory", "cc");
  load_idt_at((u32)idt, sizeof(idt) - 1);
  out_str(delivered_0x42 == 1 ? "delivered" : "not-delivered");
}

static void sysenter_msrs(void) {
  wrmsr(0x174, KCODE);                                            /* SYSENTER_CS */
  wrmsr(0x175, (u32)(sysenter_stack + sizeof(sysenter_stack)));   /* SYSENTER_ESP */
  wrmsr(0x176, REGION + STUB_LANDING);                            /* SYSENTER_EIP */
}

static void a_sysenter_kernel(void) {
  sysenter_msrs();
  __asm__ volatile("sysenter" : : : "memory");
  out_str("fell-through");
}

/* The way out a monitor must not miss: ring 3 executes SYSENTER directly. */
static void a_sysenter_user(void) {
  sysenter_msrs();
  enter_ring3(user_sysenter);
  out_str("fell-through");
}

/* Page-table entries aimed at frames that are not guest RAM. */

static void a_pte_above_ram(void) {
  win_pt[0][0] = ram_top | PTE_P | PTE_W;
  invlpg(WINDOW);
  volatile u32 *p = (volatile u32 *)WINDOW;
  *p = MARK;
  backed(*p, MARK);
}

/* 16 MiB of frames above RAM, one dword each. */
static void a_pte_above_ram_scan(void) {
  for (u32 i = 0; i < WINDOW_PAGES; i++) win_pt[i / 1024][i % 1024] = (ram_top + i * PAGE) | PTE_P | PTE_W;
  flush_tlb();
  u32 kept = 0, unbacked = 0;
  for (u32 i = 0; i < WINDOW_PAGES; i++) {
    volatile u32 *p = (volatile u32 *)(WINDOW + i * PAGE + 0x10);
    *p = MARK + i;
    u32 got = *p;
    if (got == MARK + i) kept++;
    else if (got == 0xFFFFFFFFu) unbacked++;
  }
  if (unbacked == WINDOW_PAGES) { out_str("wrote-unbacked"); return; }
  out_str(kept ? "wrote-kept" : "wrote-readback");
  out_str(" pages=");
  out_dec(kept);
}

/* The top 4 MiB of physical address space, where nothing is on this machine. */
static void a_pte_phys_top(void) {
  win_pt[0][0] = 0xFFC00000u | PTE_P | PTE_W;
  invlpg(WINDOW);
  volatile u32 *p = (volatile u32 *)WINDOW;
  *p = MARK;
  backed(*p, MARK);
}

/* A page table above RAM: the walk reads its PTE from there. With nothing answering, the
 * PTE reads as 0xFFFFFFFF (present, writable, user, frame 0xFFFFF000: no RAM either). */
static void a_pde_above_ram(void) {
  page_dir[PDE_FOREIGN] = ram_top | PTE_P | PTE_W;
  flush_tlb();
  volatile u32 *p = (volatile u32 *)(PDE_FOREIGN << 22);
  *p = MARK;
  backed(*p, MARK);
}

/* The page directory mapped as the region's page table: 0xFFFFF000 is the directory. */
static void a_pd_self_map(void) {
  page_dir[1023] = (u32)page_dir | PTE_P | PTE_W;
  flush_tlb();
  __asm__ volatile("movl %0, 0xFFFFFFC0" : : "a"(0x12345000u) : "memory");
  u32 seen = page_dir[0x3F0];
  page_dir[0x3F0] = 0;
  page_dir[1023] = (u32)top_pt | PTE_P | PTE_W;
  flush_tlb();
  wrote_if(seen == 0x12345000u);
}

/* A 4 MiB page (CR4.PSE) maps the region onto the guest's own first 4 MiB. */
static void a_pde_4m_region(void) {
  u32 cr4;
  __asm__ volatile("movl %%cr4, %0; orl $0x10, %0; movl %0, %%cr4" : "=r"(cr4) : : "memory");
  u32 a = (u32)decoy_a;
  page_dir[1023] = (a & 0xFFC00000u) | PTE_PS | PTE_P | PTE_W;
  flush_tlb();
  __asm__ volatile("movl %0, (%1)" : : "a"(MARK), "r"(REGION + (a & 0x3FFFFF) + 0x170) : "memory");
  wrote_if(decoy_a[0x170 / 4] == MARK);
}

static void io_kept(u8 got, u8 want) {
  if (got == want) { out_str("io-kept"); return; }
  out_str("io-lost value=");
  out_hex(got, 2);
}

/* ---- the hardware-assisted monitor's host area (--mode svm, docs/svm.md) --------------
 * Offsets from the first byte above guest RAM, as src/vmm/svm/svm-monitor.ts lays it out.
 * A guest-physical address there is not guest RAM: the nested tables map nothing, so a
 * read must see nothing of the monitor and a write must change nothing. */

#define HV_HOST_GDT  0x0000u  /* then the host IDT (0x1000) and native code (0x2000) */
#define HV_HSAVE     0x3000u
#define HV_VMCB      0x4000u
#define HV_IOPM      0x5000u  /* 3 pages */
#define HV_MSRPM     0x8000u  /* 2 pages */
#define HV_NPT       0xB000u  /* directory, then one table per 4 MiB of guest RAM */
#define HV_AREA      0x20000u /* 128 KiB: the whole area for guests up to 80 MiB */

/* Maps `pages` frames from ram_top + off at WINDOW and goes over every dword: writes
 * value ^ index (write) or only reads (!write), then reads back. The outcome counts what
 * came back: all ones everywhere is "wrote-unbacked" / "read-nothing". */
static void hv_sweep(u32 off, u32 pages, int write, u32 value) {
  for (u32 i = 0; i < pages; i++) win_pt[i / 1024][i % 1024] = (ram_top + off + i * PAGE) | PTE_P | PTE_W;
  flush_tlb();
  volatile u32 *p = (volatile u32 *)WINDOW;
  u32 n = pages * 1024, ones = 0, kept = 0, other = 0, first = 0;
  for (u32 k = 0; k < n; k++) {
    if (write) p[k] = value ^ k;
    u32 got = p[k];
    if (got == 0xFFFFFFFFu) ones++;
    else if (write && got == (value ^ k)) kept++;
    else if (other++ == 0) first = got;
  }
  if (ones == n) { out_str(write ? "wrote-unbacked" : "read-nothing"); return; }
  if (kept) { out_str("wrote-kept dwords="); out_dec(kept); return; }
  out_str(write ? "wrote-readback" : "read-other");
  out_str(" dwords=");
  out_dec(other);
  out_str(" value=");
  out_hex(first, 8);
}

/* Read the whole host area: does anything of the monitor show through? */
static void a_hv_read_area(void) { hv_sweep(0, HV_AREA / PAGE, 0, 0); }
/* "jmp $" (EB FE) over the host GDT, IDT and native entries. */
static void a_hv_host_code(void) { hv_sweep(HV_HOST_GDT, 3, 1, 0xFEEBFEEBu); }
/* Zeros over the host save area (the host's state VMRUN saved). */
static void a_hv_hsave(void) { hv_sweep(HV_HSAVE, 1, 1, 0); }
/* Zeros over the VMCB: no intercepts, no I/O or MSR map, nested paging off. */
static void a_hv_vmcb(void) { hv_sweep(HV_VMCB, 1, 1, 0); }
/* Zeros over the I/O permission map: every port passed through. */
static void a_hv_iopm(void) { hv_sweep(HV_IOPM, 3, 1, 0); }
/* Zeros over the MSR permission map: every MSR passed through. */
static void a_hv_msrpm(void) { hv_sweep(HV_MSRPM, 2, 1, 0); }
/* Every nested-table entry aimed at the VMCB's frame, present, writable, user. */
static void a_hv_npt(void) { hv_sweep(HV_NPT, 16, 1, (ram_top + HV_VMCB) | 0x67u); }

/* I/O to devices a monitor keeps for itself. */

/* The master 8259A's mask register (OCW1). */
static void a_io_pic_imr(void) {
  u8 old = inb(0x21);
  outb(0x21, 0xA5);
  u8 got = inb(0x21);
  outb(0x21, old);
  io_kept(got, 0xA5);
}

/* COM1 (the console) scratch register. */
static void a_io_com1_scratch(void) {
  outb(COM1 + 7, 0x5A);
  io_kept(inb(COM1 + 7), 0x5A);
}

/* Follow what SGDT/SIDT report: if the table is not the guest's own, it is someone
 * else's, and this writes into it. */
static void follow(u32 base, u32 own) {
  if (base == own) { out_str("own-table"); return; }
  __asm__ volatile("movl %0, (%1)" : : "a"(MARK), "r"(base) : "memory");
  out_str("wrote-foreign base=");
  out_hex(base, 8);
}

static void a_sgdt_follow(void) {
  struct table_ptr p;
  sgdt_to(&p);
  follow(p.base, (u32)gdt);
}

static void a_sidt_follow(void) {
  struct table_ptr p;
  sidt_to(&p);
  follow(p.base, (u32)idt);
}

struct attempt {
  const char *name;
  void (*fn)(void);
};

static const struct attempt attempts[] = {
  { "write-ds", a_write_ds },
  { "write-es", a_write_es },
  { "write-fs", a_write_fs },
  { "write-gs", a_write_gs },
  { "write-ss", a_write_ss },
  { "write-cs", a_write_cs },
  { "write-sib", a_write_sib },
  { "write-negdisp", a_write_negdisp },
  { "write-last", a_write_last },
  { "write-straddle", a_write_straddle },
  { "push-region", a_push_region },
  { "lock-rmw", a_lock_rmw },
  { "xchg-region", a_xchg_region },
  { "fpu-store", a_fpu_store },
  { "sgdt-region", a_sgdt_region },
  { "rep-movs-across", a_rep_movs_across },
  { "rep-stos-down", a_rep_stos_down },
  { "rep-stos-region", a_rep_stos_region },
  { "ins-region", a_ins_region },
  { "read-region", a_read_region },
  { "movs-from-region", a_movs_from_region },
  { "outs-from-region", a_outs_from_region },
  { "gdt-flat-base", a_gdt_flat_base },
  { "gdt-base-in-region", a_gdt_base_in_region },
  { "gdt-expand-down", a_gdt_expand_down },
  { "gdt-expand-down-16", a_gdt_expand_down_16 },
  { "ldt-flat", a_ldt_flat },
  { "ldt-in-region", a_ldt_in_region },
  { "lgdt-region", a_lgdt_region },
  { "call-near-region", a_call_near_region },
  { "call-far-region", a_call_far_region },
  { "jmp-far-region", a_jmp_far_region },
  { "call-gate", a_call_gate },
  { "call-gate-user", a_call_gate_user },
  { "task-switch", a_task_switch },
  { "task-gate", a_task_gate },
  { "idt-gate-region", a_idt_gate_region },
  { "idt-exception-region", a_idt_exception_region },
  { "lidt-region", a_lidt_region },
  { "sysenter-kernel", a_sysenter_kernel },
  { "sysenter-user", a_sysenter_user },
  { "pte-above-ram", a_pte_above_ram },
  { "pte-above-ram-scan", a_pte_above_ram_scan },
  { "pte-phys-top", a_pte_phys_top },
  { "pde-above-ram", a_pde_above_ram },
  { "pd-self-map", a_pd_self_map },
  { "pde-4m-region", a_pde_4m_region },
  { "hv-read-area", a_hv_read_area },
  { "hv-host-code", a_hv_host_code },
  { "hv-hsave", a_hv_hsave },
  { "hv-vmcb", a_hv_vmcb },
  { "hv-iopm", a_hv_iopm },
  { "hv-msrpm", a_hv_msrpm },
  { "hv-npt", a_hv_npt },
  { "io-pic-imr", a_io_pic_imr },
  { "io-com1-scratch", a_io_com1_scratch },
  { "sgdt-follow", a_sgdt_follow },
  { "sidt-follow", a_sidt_follow },
};
#define NATTEMPTS (sizeof(attempts) / sizeof(attempts[0]))

/* Runs one attempt from a clean state and prints its line. */
static void run_attempt(const struct attempt *a) {
  world_reset();
  out_reset();
  fault_vector = fault_err = fault_cr2 = 0;
  landing_eax = user_eax = 0xDEAD;
  in_attempt = 1;
  int r = esc_setjmp(&attempt_jb);
  if (r == 0) {
    a->fn();
  } else if (r == JB_LANDING) {
    out_reset();
    ran(landing_eax);
  } else if (r == JB_USER) {
    out_reset();
    ran(user_eax);
  } else {
    out_reset();
    out_str("fault=");
    out_dec(fault_vector);
    out_str(" err=");
    out_hex(fault_err, 4);
    if (fault_vector == 14) { out_str(" cr2="); out_hex(fault_cr2, 8); }
  }
  in_attempt = 0;
  world_reset();
  puts("ESC ");
  puts(a->name);
  puts(" ");
  puts(outcome);
  puts("\n");
}

/* The value of "attempt=" on the command line, copied (NUL-terminated) into buf. */
static int cmdline_attempt(const char *cmd, char *buf, u32 size) {
  for (const char *p = cmd; *p; p++) {
    if ((p == cmd || p[-1] == ' ') && p[0] == 'a' && p[1] == 't' && p[2] == 't' && p[3] == 'e' &&
        p[4] == 'm' && p[5] == 'p' && p[6] == 't' && p[7] == '=') {
      p += 8;
      u32 n = 0;
      while (*p && *p != ' ' && n + 1 < size) buf[n++] = *p++;
      buf[n] = 0;
      return 1;
    }
  }
  return 0;
}

struct multiboot_info {
  u32 flags, mem_lower, mem_upper, boot_device, cmdline;
};

void kmain(u32 magic, const struct multiboot_info *mbi) {
  serial_init();
  puts("vmm86 escape guest\n");
  if (magic != 0x2BADB002u) {
    puts("escape: not started by a Multiboot loader\n");
    poweroff(EXIT_BAD);
  }
  u32 mem_upper = (mbi->flags & 1) ? mbi->mem_upper : 0;
  ram_top = 0x100000u + mem_upper * 1024u;
  id_tables = (ram_top + (4u << 20) - 1) >> 22;
  if (id_tables > ID_TABLES) id_tables = ID_TABLES;
  char name[40] = "list";
  if (mbi->flags & 4) cmdline_attempt((const char *)mbi->cmdline, name, sizeof(name));
  puts("escape: guest RAM top ");
  puthex(ram_top, 8);
  puts(", attempt=");
  puts(name);
  puts("\n");
  /* Every 8259A line masked: nothing interrupts (IF stays 0 anyway). */
  outb(0x21, 0xFF);
  outb(0xA1, 0xFF);
  world_reset();
  __asm__ volatile("movl %%cr0, %%eax; orl $0x80000000, %%eax; movl %%eax, %%cr0" : : : "eax", "memory");

  if (streq(name, "list")) {
    for (u32 i = 0; i < NATTEMPTS; i++) { puts("ATTEMPT "); puts(attempts[i].name); puts("\n"); }
    puts("escape: done\n");
    poweroff(EXIT_DONE);
  }
  int found = 0;
  for (u32 i = 0; i < NATTEMPTS; i++) {
    if (streq(name, "all") || streq(name, attempts[i].name)) { run_attempt(&attempts[i]); found = 1; }
  }
  if (!found) {
    puts("ESC ");
    puts(name);
    puts(" unknown-attempt\n");
    poweroff(EXIT_BAD);
  }
  puts("escape: done\n");
  poweroff(EXIT_DONE);
}
