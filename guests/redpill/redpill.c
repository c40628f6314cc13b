/* vmm86 red-pill guest: runs Robin and Irvine's sensitive unprivileged instructions
 * (USENIX Security 2000; Hennessy & Patterson fig. 5.27), plus CPUID, IRET and
 * SYSENTER, at CPL 0 and at CPL 3, and prints what each one showed.
 *
 * The kernel builds its own GDT, LDT, IDT and TSS at fixed addresses (redpill.h), so every
 * value a probe reads back is one the guest put there itself and the right answer follows
 * from the SDM (vol. 2, each instruction's page; vol. 3A ch. 3, 5, 6, 7). Paging stays off
 * and all segments are flat, so ring 3 can run the same probe code and write its results.
 *
 * Output, on COM1 (16550, polled), one line per probe and privilege level:
 *
 *   RP <name> cpl=<0|3> <key>=<value> ...        the probe ran; what it observed
 *   RP <name> cpl=<0|3> fault=<vector> err=0xNNNN the probe raised an exception
 *
 * then `RP-END probes=<n> faults=<n>` and power-off through isa-debug-exit (port 0xF4).
 * A fault outside a probe prints `RP-ABORT ...` and powers off with the failure value.
 */
#include "redpill.h"

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;

/* Written to port 0xF4: QEMU exits with status (value << 1) | 1. */
#define EXIT_PASS 0x10
#define EXIT_FAIL 0x11

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

static void puthex(u32 v, int digits) {
  static const char hex[] = "0123456789abcdef";
  puts("0x");
  for (int i = (digits - 1) * 4; i >= 0; i -= 4) putc(hex[(v >> i) & 15]);
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

void *memset(void *d, int c, u32 n) {
  u8 *dp = d;
  while (n--) *dp++ = (u8)c;
  return d;
}

/* ---- descriptor tables (SDM vol. 3A §3.4.5, §3.5.1, §6.11, §7.2) -------------------- */

struct table_ptr {
  u16 limit;
  u32 base;
} __attribute__((packed));

struct tss {
  u32 link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags;
  u32 eax, ecx, edx, ebx, esp, ebp, esi, edi;
  u32 es, cs, ss, ds, fs, gs, ldt;
  u16 trap, iomap_base;
} __attribute__((packed));

extern void load_tables(struct table_ptr *gdtr, struct table_ptr *idtr);

/*  63      56 55 52 51   48 47      40 39      16 15       0
 * +----------+-----+-------+----------+----------+----------+
 * | base hi  |G D  |lim hi | access   | base lo  | limit lo |
 * +----------+-----+-------+----------+----------+----------+
 * Every access byte has the accessed bit already set, so loading a segment never
 * changes a descriptor and LAR reads the same before and after. */
static void set_descriptor(u32 *table, int i, u32 base, u32 limit, u8 access, u8 flags) {
  table[i * 2] = (limit & 0xFFFF) | (base << 16);
  table[i * 2 + 1] = ((base >> 16) & 0xFF) | ((u32)access << 8) | (limit & 0xF0000) |
                     ((u32)flags << 20) | (base & 0xFF000000);
}

#define V(n) extern void vector##n(void);
V(0) V(1) V(2) V(3) V(4) V(5) V(6) V(7) V(8) V(9) V(10) V(11) V(12) V(13) V(14) V(15)
V(16) V(17) V(18) V(19) V(20) V(21) V(22) V(23) V(24) V(25) V(26) V(27) V(28) V(29) V(30)
V(31) V(32) V(33) V(34) V(35) V(36) V(37) V(38) V(39) V(40) V(41) V(42) V(43) V(44) V(45)
V(46) V(47) V(129)
#undef V

static void (*const vectors[48])(void) = {
  vector0, vector1, vector2, vector3, vector4, vector5, vector6, vector7,
  vector8, vector9, vector10, vector11, vector12, vector13, vector14, vector15,
  vector16, vector17, vector18, vector19, vector20, vector21, vector22, vector23,
  vector24, vector25, vector26, vector27, vector28, vector29, vector30, vector31,
  vector32, vector33, vector34, vector35, vector36, vector37, vector38, vector39,
  vector40, vector41, vector42, vector43, vector44, vector45, vector46, vector47,
};

#define GATE_INT32      0x8E  /* P, DPL 0, 32-bit interrupt gate */
#define GATE_INT32_USER 0xEE  /* the same, DPL 3: INT n may use it from ring 3 */

static void set_gate(u32 *idt, int vec, void (*handler)(void), u8 type) {
  u32 off = (u32)handler;
  idt[vec * 2] = (off & 0xFFFF) | ((u32)KERNEL_CS << 16);
  idt[vec * 2 + 1] = (off & 0xFFFF0000) | ((u32)type << 8);
}

static void tables_init(void) {
  u32 *gdt = (u32 *)GDT_ADDR, *idt = (u32 *)IDT_ADDR, *ldt = (u32 *)LDT_ADDR;
  struct tss *tss = (struct tss *)TSS_ADDR;
  memset(gdt, 0, 4096);
  memset(idt, 0, 4096);
  memset(ldt, 0, 4096);
  memset(tss, 0, 4096);
  set_descriptor(gdt, 1, 0, 0xFFFFF, 0x9B, 0xC);            /* kernel code */
  set_descriptor(gdt, 2, 0, 0xFFFFF, 0x93, 0xC);            /* kernel data */
  set_descriptor(gdt, 3, 0, 0xFFFFF, 0xFB, 0xC);            /* user code */
  set_descriptor(gdt, 4, 0, 0xFFFFF, 0xF3, 0xC);            /* user data */
  set_descriptor(gdt, 5, TSS_ADDR, sizeof(struct tss) - 1, 0x89, 0x0);  /* 32-bit TSS */
  set_descriptor(gdt, 6, LDT_ADDR, 2 * 8 - 1, 0x82, 0x0);   /* LDT */
  set_descriptor(gdt, 7, 0, PROBE_LIMIT, 0xF3, 0x4);        /* probe data, byte limit */
  set_descriptor(ldt, 0, LDT_DATA_BASE, 0xFFF, 0xF3, 0x4);  /* LDT data */
  tss->ss0 = KERNEL_DS;
  tss->esp0 = TRAP_STACK_TOP;
  tss->iomap_base = sizeof(struct tss);                     /* no I/O bitmap */
  for (int i = 0; i < 48; i++) set_gate(idt, i, vectors[i], GATE_INT32);
  set_gate(idt, INT_PROBE_VECTOR, vector129, GATE_INT32_USER);
  static struct table_ptr gdtr, idtr;
  gdtr.limit = GDT_ENTRIES * 8 - 1;
  gdtr.base = GDT_ADDR;
  idtr.limit = 256 * 8 - 1;
  idtr.base = IDT_ADDR;
  load_tables(&gdtr, &idtr);
  __asm__ volatile("lldt %w0" : : "r"(LDT_SEL));
  __asm__ volatile("ltr %w0" : : "r"(TSS_SEL));
}

/* The segment registers both passes start from (besides CS and SS): FS holds the probe
 * segment and GS the LDT segment, both DPL 3, so they survive the IRET to ring 3. */
static void kernel_segments(void) {
  __asm__ volatile("movw %w0, %%ds\n\tmovw %w0, %%es\n\tmovw %w0, %%ss\n\t"
                   "movw %w1, %%fs\n\tmovw %w2, %%gs"
                   : : "r"(KERNEL_DS), "r"(PROBE_SEL), "r"(LDT_DATA) : "memory");
}

/* ---- CR0, MSRs, the 8259A pair --------------------------------------------------------- */

static void cr0_init(void) {
  u32 cr0;
  __asm__ volatile("movl %%cr0, %0" : "=r"(cr0));
  cr0 = (cr0 & 0xFFFF0000u) | 0x0011u;  /* PE, ET; MP, EM, TS, NE clear: SMSW reads 0x0011 */
  __asm__ volatile("movl %0, %%cr0" : : "r"(cr0) : "memory");
}

static void wrmsr(u32 msr, u32 lo) { __asm__ volatile("wrmsr" : : "c"(msr), "a"(lo), "d"(0)); }

extern void sysenter_entry(void);

static void sysenter_init(void) {
  wrmsr(0x174, KERNEL_CS);              /* IA32_SYSENTER_CS */
  wrmsr(0x175, SYSENTER_STACK_TOP);     /* IA32_SYSENTER_ESP */
  wrmsr(0x176, (u32)sysenter_entry);    /* IA32_SYSENTER_EIP */
}

static void pic_init(void) {
  outb(0x20, 0x11); outb(0xA0, 0x11);  /* ICW1 */
  outb(0x21, 0x20); outb(0xA1, 0x28);  /* ICW2: vectors 0x20 and 0x28 */
  outb(0x21, 0x04); outb(0xA1, 0x02);  /* ICW3 */
  outb(0x21, 0x01); outb(0xA1, 0x01);  /* ICW4 */
  outb(0x21, 0xFF); outb(0xA1, 0xFF);  /* every line masked: probes may set IF */
}

/* ---- observations -------------------------------------------------------------------- */

#define MAX_VALUES 8

/* What one probe saw at one privilege level. */
struct obs {
  u32 faulted, vector, err;
  u32 absent;            /* bit k: value k is absent (LAR/LSL cleared ZF) */
  u32 v[MAX_VALUES];
};

/* How a value prints: 16- or 32-bit hex, a decimal number, or 12 characters packed in
 * three values (the CPUID vendor string). */
enum fmt { H16, H32, DEC, VENDOR };

struct probe {
  const char *name;
  void (*fn)(struct obs *o);
  int nkeys;
  const char *keys[MAX_VALUES];
  enum fmt fmt[MAX_VALUES];
};

/* The privilege level the probes are running at (0 or 3): picks the selectors they use. */
volatile u32 cur_cpl;
volatile u32 cur_probe;
volatile u32 probe_active, probe_esp, kernel_saved_esp;
static struct obs results[2][32];

static u32 code_sel(void) { return cur_cpl ? USER_CS : KERNEL_CS; }
static u32 data_sel(void) { return cur_cpl ? USER_DS : KERNEL_DS; }

/* The selectors LAR, LSL, VERR and VERW are asked about, in this order. */
static const u32 probed_sels[8] = { KERNEL_CS, KERNEL_DS, USER_CS, USER_DS, TSS_SEL, LDT_SEL, PROBE_SEL, LDT_DATA };
#define SEL_KEYS { "s08", "s10", "s1b", "s23", "s28", "s30", "s3b", "s07" }

/* ---- the probes ---------------------------------------------------------------------- */

static void p_sgdt(struct obs *o) {
  struct table_ptr t = { 0, 0 };
  __asm__ volatile("sgdt %0" : "=m"(t) : : "memory");
  o->v[0] = t.limit;
  o->v[1] = t.base;
}

static void p_sidt(struct obs *o) {
  struct table_ptr t = { 0, 0 };
  __asm__ volatile("sidt %0" : "=m"(t) : : "memory");
  o->v[0] = t.limit;
  o->v[1] = t.base;
}

static void p_sldt(struct obs *o) {
  u32 v = 0xFFFFFFFF;
  __asm__ volatile("sldt %0" : "=r"(v));
  o->v[0] = v & 0xFFFF;
}

static void p_smsw(struct obs *o) {
  u32 v = 0xFFFFFFFF;
  __asm__ volatile("smsw %0" : "=r"(v));
  o->v[0] = v & 0xFFFF;
}

static void p_str(struct obs *o) {
  u32 v = 0xFFFFFFFF;
  __asm__ volatile("str %0" : "=r"(v));
  o->v[0] = v & 0xFFFF;
}

#define EFL_IF   0x0200u
#define EFL_IOPL 0x3000u

static void p_pushf(struct obs *o) {
  u32 f;
  __asm__ volatile("pushfl\n\tpopl %0" : "=r"(f));
  o->v[0] = (f & EFL_IF) ? 1 : 0;
  o->v[1] = (f & EFL_IOPL) >> 12;
}

/* POPF a value, then read EFLAGS back with PUSHF. */
static u32 popf_then_read(u32 v) {
  u32 f;
  __asm__ volatile("pushl %1\n\tpopfl\n\tpushfl\n\tpopl %0" : "=r"(f) : "r"(v) : "cc", "memory");
  return f;
}

static void p_popf(struct obs *o) {
  u32 set = popf_then_read(0x0002 | EFL_IF | EFL_IOPL);  /* try IF=1, IOPL=3 */
  u32 clear = popf_then_read(0x0002);                     /* then IF=0, IOPL=0 */
  o->v[0] = (set & EFL_IF) ? 1 : 0;
  o->v[1] = (set & EFL_IOPL) >> 12;
  o->v[2] = (clear & EFL_IF) ? 1 : 0;
  o->v[3] = (clear & EFL_IOPL) >> 12;
}

static void p_lar(struct obs *o) {
  for (int k = 0; k < 8; k++) {
    u32 v = 0;
    u8 zf;
    __asm__ volatile("lar %w2, %0\n\tsetz %1" : "+r"(v), "=q"(zf) : "r"(probed_sels[k]) : "cc");
    if (zf) o->v[k] = v; else o->absent |= 1u << k;
  }
}

static void p_lsl(struct obs *o) {
  for (int k = 0; k < 8; k++) {
    u32 v = 0;
    u8 zf;
    __asm__ volatile("lsl %w2, %0\n\tsetz %1" : "+r"(v), "=q"(zf) : "r"(probed_sels[k]) : "cc");
    if (zf) o->v[k] = v; else o->absent |= 1u << k;
  }
}

static void p_verr(struct obs *o) {
  for (int k = 0; k < 8; k++) {
    u8 zf;
    __asm__ volatile("verr %w1\n\tsetz %0" : "=q"(zf) : "r"(probed_sels[k]) : "cc");
    o->v[k] = zf;
  }
}

static void p_verw(struct obs *o) {
  for (int k = 0; k < 8; k++) {
    u8 zf;
    __asm__ volatile("verw %w1\n\tsetz %0" : "=q"(zf) : "r"(probed_sels[k]) : "cc");
    o->v[k] = zf;
  }
}

#define READ_SREG(reg) ({ u32 v_; __asm__ volatile("movl %%" reg ", %0" : "=r"(v_)); v_ & 0xFFFF; })

static void p_mov_from_sreg(struct obs *o) {
  o->v[0] = READ_SREG("cs");
  o->v[1] = READ_SREG("ss");
  o->v[2] = READ_SREG("ds");
  o->v[3] = READ_SREG("es");
  o->v[4] = READ_SREG("fs");
  o->v[5] = READ_SREG("gs");
}

/* MOV Sreg loads the values the pass already uses (so nothing else changes), then reads
 * them back. */
static void p_mov_to_sreg(struct obs *o) {
  u32 ss = data_sel(), ds = data_sel(), fs = PROBE_SEL, gs = LDT_DATA;
  __asm__ volatile("movw %w0, %%ss\n\tmovw %w1, %%ds\n\tmovw %w1, %%es\n\t"
                   "movw %w2, %%fs\n\tmovw %w3, %%gs"
                   : : "r"(ss), "r"(ds), "r"(fs), "r"(gs) : "memory");
  o->v[0] = READ_SREG("ss");
  o->v[1] = READ_SREG("ds");
  o->v[2] = READ_SREG("es");
  o->v[3] = READ_SREG("fs");
  o->v[4] = READ_SREG("gs");
}

#define PUSH_SREG(reg) ({ u32 v_; __asm__ volatile("pushl %%" reg "\n\tpopl %0" : "=r"(v_) : : "memory"); v_ & 0xFFFF; })

static void p_push_sreg(struct obs *o) {
  o->v[0] = PUSH_SREG("cs");
  o->v[1] = PUSH_SREG("ss");
  o->v[2] = PUSH_SREG("ds");
  o->v[3] = PUSH_SREG("es");
  o->v[4] = PUSH_SREG("fs");
  o->v[5] = PUSH_SREG("gs");
}

static void p_pop_sreg(struct obs *o) {
  u32 ss = data_sel(), ds = data_sel(), fs = PROBE_SEL, gs = LDT_DATA;
  __asm__ volatile("pushl %0\n\tpopl %%ss\n\tpushl %1\n\tpopl %%ds\n\tpushl %1\n\tpopl %%es\n\t"
                   "pushl %2\n\tpopl %%fs\n\tpushl %3\n\tpopl %%gs"
                   : : "r"(ss), "r"(ds), "r"(fs), "r"(gs) : "memory");
  o->v[0] = READ_SREG("ss");
  o->v[1] = READ_SREG("ds");
  o->v[2] = READ_SREG("es");
  o->v[3] = READ_SREG("fs");
  o->v[4] = READ_SREG("gs");
}

struct far_ptr {
  u32 offset;
  u16 selector;
} __attribute__((packed));

static struct far_ptr far_ptr;
extern void far_target(void);
volatile u32 far_pushed_cs;

static void p_call_far(struct obs *o) {
  far_pushed_cs = 0xFFFFFFFF;
  far_ptr.offset = (u32)far_target;
  far_ptr.selector = (u16)code_sel();
  __asm__ volatile("lcall *%0" : : "m"(far_ptr) : "eax", "memory", "cc");
  o->v[0] = far_pushed_cs & 0xFFFF;
}

static void p_jmp_far(struct obs *o) {
  u32 reached = 0;
  __asm__ volatile("movl $1f, (%1)\n\tmovw %w2, 4(%1)\n\tljmp *(%1)\n\t"
                   "movl $0, %0\n\tjmp 2f\n"
                   "1:\tmovl $1, %0\n2:"
                   : "+r"(reached) : "r"(&far_ptr), "r"(code_sel()) : "memory");
  o->v[0] = reached;
}

static void p_ret_far(struct obs *o) {
  u32 reached = 0;
  __asm__ volatile("pushl %1\n\tpushl $1f\n\tlret\n\t"
                   "movl $0, %0\n\tjmp 2f\n"
                   "1:\tmovl $1, %0\n2:"
                   : "+r"(reached) : "r"(code_sel()) : "memory");
  o->v[0] = reached;
}

volatile u32 int_hit, int_frame_cs;

static void p_int(struct obs *o) {
  int_hit = 0;
  int_frame_cs = 0xFFFFFFFF;
  __asm__ volatile("int $0x81" : : : "memory");
  o->v[0] = int_hit;
  o->v[1] = int_frame_cs & 0xFFFF;
}

/* IRET to the same privilege level with the given EFLAGS, then read EFLAGS back. */
static u32 iret_then_read(u32 flags, u32 cs) {
  u32 f;
  __asm__ volatile("pushl %1\n\tpushl %2\n\tpushl $1f\n\tiretl\n1:\tpushfl\n\tpopl %0"
                   : "=r"(f) : "r"(flags), "r"(cs) : "cc", "memory");
  return f;
}

static void p_iret(struct obs *o) {
  u32 set = iret_then_read(0x0002 | EFL_IF | EFL_IOPL, code_sel());
  u32 clear = iret_then_read(0x0002, code_sel());
  o->v[0] = (set & EFL_IF) ? 1 : 0;
  o->v[1] = (set & EFL_IOPL) >> 12;
  o->v[2] = (clear & EFL_IF) ? 1 : 0;
  o->v[3] = (clear & EFL_IOPL) >> 12;
}

static void p_cpuid(struct obs *o) {
  u32 a, b, c, d;
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
  o->v[0] = a;
  o->v[1] = b;  /* the vendor string is EBX, EDX, ECX */
  o->v[2] = d;
  o->v[3] = c;
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
  o->v[4] = a;
  o->v[5] = c;
  o->v[6] = d;
}

volatile u32 sysenter_hit, sysenter_from_user, sysenter_ret_esp, sysenter_ret_eip;
volatile u32 sysenter_seen_cs, sysenter_seen_ss, sysenter_seen_esp;

static void p_sysenter(struct obs *o) {
  sysenter_hit = 0;
  sysenter_from_user = cur_cpl == 3;
  __asm__ volatile("pushl %%ebp\n\t"
                   "movl %%esp, sysenter_ret_esp\n\t"
                   "movl $1f, sysenter_ret_eip\n\t"
                   "sysenter\n"
                   "1:\tpopl %%ebp"
                   : : : "eax", "ecx", "edx", "memory", "cc");
  o->v[0] = sysenter_hit;
  o->v[1] = sysenter_seen_cs & 0xFFFF;
  o->v[2] = sysenter_seen_ss & 0xFFFF;
  o->v[3] = sysenter_seen_esp;
}

/* Robin and Irvine's list first (MOV split into its two directions), then the three
 * extra instructions. The names are what the host's parser expects. */
static const struct probe probes[] = {
  { "sgdt", p_sgdt, 2, { "limit", "base" }, { H16, H32 } },
  { "sidt", p_sidt, 2, { "limit", "base" }, { H16, H32 } },
  { "sldt", p_sldt, 1, { "sel" }, { H16 } },
  { "smsw", p_smsw, 1, { "msw" }, { H16 } },
  { "str", p_str, 1, { "sel" }, { H16 } },
  { "pushf", p_pushf, 2, { "if", "iopl" }, { DEC, DEC } },
  { "popf", p_popf, 4, { "if_set", "iopl_set", "if_clear", "iopl_clear" }, { DEC, DEC, DEC, DEC } },
  { "lar", p_lar, 8, SEL_KEYS, { H32, H32, H32, H32, H32, H32, H32, H32 } },
  { "lsl", p_lsl, 8, SEL_KEYS, { H32, H32, H32, H32, H32, H32, H32, H32 } },
  { "verr", p_verr, 8, SEL_KEYS, { DEC, DEC, DEC, DEC, DEC, DEC, DEC, DEC } },
  { "verw", p_verw, 8, SEL_KEYS, { DEC, DEC, DEC, DEC, DEC, DEC, DEC, DEC } },
  { "push_sreg", p_push_sreg, 6, { "cs", "ss", "ds", "es", "fs", "gs" }, { H16, H16, H16, H16, H16, H16 } },
  { "pop_sreg", p_pop_sreg, 5, { "ss", "ds", "es", "fs", "gs" }, { H16, H16, H16, H16, H16 } },
  { "call_far", p_call_far, 1, { "pushed_cs" }, { H16 } },
  { "jmp_far", p_jmp_far, 1, { "reached" }, { DEC } },
  { "ret_far", p_ret_far, 1, { "reached" }, { DEC } },
  { "int", p_int, 2, { "handled", "frame_cs" }, { DEC, H16 } },
  { "mov_from_sreg", p_mov_from_sreg, 6, { "cs", "ss", "ds", "es", "fs", "gs" }, { H16, H16, H16, H16, H16, H16 } },
  { "mov_to_sreg", p_mov_to_sreg, 5, { "ss", "ds", "es", "fs", "gs" }, { H16, H16, H16, H16, H16 } },
  { "iret", p_iret, 4, { "if_set", "iopl_set", "if_clear", "iopl_clear" }, { DEC, DEC, DEC, DEC } },
  { "cpuid", p_cpuid, 5, { "max", "vendor", "sig", "ecx", "edx" }, { H32, VENDOR, H32, H32, H32 } },
  { "sysenter", p_sysenter, 4, { "entered", "cs", "ss", "esp" }, { DEC, H16, H16, H32 } },
};
#define NPROBES ((int)(sizeof(probes) / sizeof(probes[0])))
_Static_assert(NPROBES <= 32, "results[] holds 32 probes per level");

/* Called by run_probe (boot.s) at the current privilege level. */
void probe_dispatch(u32 index) {
  struct obs *o = &results[cur_cpl == 3][index];
  probes[index].fn(o);
}

static u32 total_faults;

static void print_result(u32 cpl, u32 index) {
  const struct probe *p = &probes[index];
  const struct obs *o = &results[cpl == 3][index];
  puts("RP ");
  puts(p->name);
  puts(cpl == 3 ? " cpl=3" : " cpl=0");
  if (o->faulted) {
    total_faults++;
    puts(" fault=");
    putdec(o->vector);
    puts(" err=");
    puthex(o->err & 0xFFFF, 4);
    puts("\n");
    return;
  }
  for (int k = 0, slot = 0; k < p->nkeys; k++) {
    putc(' ');
    puts(p->keys[k]);
    putc('=');
    if (p->fmt[k] == VENDOR) {
      for (int r = 0; r < 3; r++)
        for (int b = 0; b < 4; b++) {
          char ch = (char)((o->v[slot + r] >> (8 * b)) & 0xFF);
          putc(ch > ' ' && ch < 127 ? ch : '?');
        }
      slot += 3;
      continue;
    }
    if (o->absent & (1u << slot)) puts("-");
    else if (p->fmt[k] == H16) puthex(o->v[slot], 4);
    else if (p->fmt[k] == H32) puthex(o->v[slot], 8);
    else putdec(o->v[slot]);
    slot++;
  }
  puts("\n");
}

/* ---- traps --------------------------------------------------------------------------- */

/* What trap_common in boot.s leaves on the stack, lowest address first. */
struct frame {
  u32 gs, fs, es, ds;
  u32 edi, esi, ebp, esp_at_pusha, ebx, edx, ecx, eax;
  u32 vector, err;
  u32 eip, cs, eflags, user_esp, user_ss;  /* the last two only from ring 3 */
};

extern void r3_yield(void), r3_done(void), ring3_exit(void), probe_resume(void), enter_ring3(void);
static u32 in_trap, spurious;

static void abort_run(const char *why, struct frame *f) {
  puts("RP-ABORT ");
  puts(why);
  puts(" vector=");
  putdec(f->vector);
  puts(" err=");
  puthex(f->err, 8);
  puts(" eip=");
  puthex(f->eip, 8);
  puts(" cs=");
  puthex(f->cs & 0xFFFF, 4);
  puts("\n");
  poweroff(EXIT_FAIL);
}

void trap(struct frame *f) {
  int from_user = (f->cs & 3) == 3;
  if (in_trap) {
    if (in_trap > 1) poweroff(EXIT_FAIL);  /* even reporting faults: stop at once */
    in_trap = 2;
    abort_run("fault in the trap handler", f);
  }
  in_trap = 1;
  if (f->vector == INT_PROBE_VECTOR) {
    int_hit = 1;
    int_frame_cs = f->cs;
  } else if (f->vector >= 0x20 && f->vector < 0x30) {
    /* Every line is masked; only spurious IRQ 7 / 15 can arrive. */
    spurious++;
    if (f->vector == 0x2F) outb(0x20, 0x20);
  } else if (f->vector == 6 && from_user && f->eip == (u32)r3_yield) {
    print_result(3, cur_probe);
    f->eip += 2;                      /* past the UD2 */
  } else if (f->vector == 6 && from_user && f->eip == (u32)r3_done) {
    /* Back to enter_ring3's caller: an IRET to CPL 0 pops only EIP, CS, EFLAGS. */
    f->eip = (u32)ring3_exit;
    f->cs = KERNEL_CS;
    f->eflags = 0x0002;
    f->ds = f->es = KERNEL_DS;
  } else if (probe_active) {
    struct obs *o = &results[cur_cpl == 3][cur_probe];
    o->faulted = 1;
    o->vector = f->vector;
    o->err = f->err;
    probe_active = 0;
    /* Resume at probe_resume, at the level the probe ran at, with that level's
     * registers; probe_resume reloads ESP itself. */
    f->eip = (u32)probe_resume;
    f->fs = PROBE_SEL;
    f->gs = LDT_DATA;
    if (cur_cpl == 3) {
      f->cs = USER_CS;
      f->eflags = 0x0202;
      f->ds = f->es = USER_DS;
      f->user_ss = USER_DS;
      f->user_esp = probe_esp;
    } else {
      f->cs = KERNEL_CS;
      f->eflags = 0x0002;
      f->ds = f->es = KERNEL_DS;
    }
  } else {
    abort_run("unexpected exception", f);
  }
  in_trap = 0;
}

/* ---- the two passes ---------------------------------------------------------------------- */

extern void run_probe(u32 index);

/* Ring 3: run every probe, handing each result to the kernel (UD2 at r3_yield). It uses
 * no segment register and no privileged or sensitive instruction of its own. */
void ring3_main(void) {
  for (int i = 0; i < NPROBES; i++) {
    cur_probe = (u32)i;
    run_probe((u32)i);
    r3_yield();
  }
  r3_done();
}

void kmain(u32 magic, u32 mbinfo) {
  (void)mbinfo;
  serial_init();
  puts("RP-BEGIN vmm86 redpill guest 1\n");
  if (magic != 0x2BADB002u) {
    puts("RP-ABORT not started by a Multiboot loader\n");
    poweroff(EXIT_FAIL);
  }
  tables_init();
  kernel_segments();
  cr0_init();
  sysenter_init();
  pic_init();
  memset(results, 0, sizeof(results));

  /* CPL 0: IF=0 and IOPL 0 before every probe. */
  cur_cpl = 0;
  for (int i = 0; i < NPROBES; i++) {
    cur_probe = (u32)i;
    __asm__ volatile("pushl $2\n\tpopfl" : : : "cc");
    run_probe((u32)i);
    kernel_segments();
    __asm__ volatile("pushl $2\n\tpopfl" : : : "cc");
    print_result(0, (u32)i);
  }

  /* CPL 3: IF=1 and IOPL 0, set by the IRET in enter_ring3. */
  cur_cpl = 3;
  enter_ring3();
  kernel_segments();
  cur_cpl = 0;

  puts("RP-END probes=");
  putdec((u32)(2 * NPROBES));
  puts(" faults=");
  putdec(total_faults);
  puts(" spurious=");
  putdec(spurious);
  puts("\n");
  poweroff(EXIT_PASS);
}
