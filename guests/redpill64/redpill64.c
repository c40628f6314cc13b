/* vmm86 64-bit red-pill guest: Robin and Irvine's sensitive unprivileged instructions as
 * they stand in 64-bit mode (several are gone: PUSH/POP of CS, SS, DS and ES raise #UD),
 * plus CPUID, IRETQ and SYSCALL/SYSRET, at CPL 0 and at CPL 3, and prints what each one
 * showed. The 32-bit guest (guests/redpill) is the model; this one runs in IA-32e mode.
 *
 * The kernel builds its own GDT, LDT, IDT and TSS at fixed addresses (redpill64.h), so
 * every value a probe reads back is one the guest put there itself. The first GiB is
 * identity-mapped with user-accessible 2 MiB pages, so ring 3 runs the same probe code.
 *
 * Output on COM1, one line per probe and privilege level:
 *
 *   RP <name> cpl=<0|3> <key>=<value> ...        the probe ran; what it observed
 *   RP <name> cpl=<0|3> fault=<vector> err=0xNNNN the probe raised an exception
 *
 * then `RP-END probes=<n> faults=<n> spurious=<n>` and power-off through port 0xF4.
 */

#include "redpill64.h"

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;

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

static void puthex(u64 v, int digits) {
  static const char hex[] = "0123456789abcdef";
  puts("0x");
  for (int i = (digits - 1) * 4; i >= 0; i -= 4) putc(hex[(v >> i) & 15]);
}

static void putdec(u64 v) {
  char tmp[20];
  int n = 0;
  do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n) putc(tmp[--n]);
}

static void poweroff(u8 code) {
  outb(0xF4, code);
  for (;;) __asm__ volatile("cli; hlt");
}

void *memset(void *d, int c, u64 n) {
  u8 *dp = d;
  while (n--) *dp++ = (u8)c;
  return d;
}

/* ---- descriptor tables (SDM vol. 3A §3.4.5, §7.2.3, §6.14.1) ------------------------ */

struct table_ptr {
  u16 limit;
  u64 base;
} __attribute__((packed));

struct tss64 {
  u32 reserved0;
  u64 rsp0, rsp1, rsp2;
  u64 reserved1;
  u64 ist[7];
  u64 reserved2;
  u16 reserved3, iomap_base;
} __attribute__((packed));

extern void load_tables(struct table_ptr *gdtr, struct table_ptr *idtr);

/* A code or data descriptor (flags: G, D/B, L, AVL). Every access byte has the accessed
 * bit set, so using a segment never changes what LAR reports. */
static void set_descriptor(u32 *table, int i, u32 base, u32 limit, u8 access, u8 flags) {
  table[i * 2] = (limit & 0xFFFF) | (base << 16);
  table[i * 2 + 1] = ((base >> 16) & 0xFF) | ((u32)access << 8) | (limit & 0xF0000) |
                     ((u32)flags << 20) | (base & 0xFF000000);
}

/* A 16-byte system descriptor (LDT, TSS) in IA-32e mode: base bits 63:32 in the upper
 * half (SDM vol. 3A §7.2.3). */
static void set_system(u32 *table, int i, u64 base, u32 limit, u8 access) {
  set_descriptor(table, i, (u32)base, limit, access, 0);
  table[(i + 1) * 2] = (u32)(base >> 32);
  table[(i + 1) * 2 + 1] = 0;
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

#define GATE_INT64      0x8E  /* P, DPL 0, 64-bit interrupt gate */
#define GATE_INT64_USER 0xEE  /* the same, DPL 3 */

static void set_gate(u32 *idt, int vec, void (*handler)(void), u8 type) {
  u64 off = (u64)handler;
  idt[vec * 4] = (u32)(off & 0xFFFF) | ((u32)KERNEL_CS << 16);
  idt[vec * 4 + 1] = (u32)(off & 0xFFFF0000) | ((u32)type << 8);
  idt[vec * 4 + 2] = (u32)(off >> 32);
  idt[vec * 4 + 3] = 0;
}

static void tables_init(void) {
  u32 *gdt = (u32 *)GDT_ADDR, *idt = (u32 *)IDT_ADDR, *ldt = (u32 *)LDT_ADDR;
  struct tss64 *tss = (struct tss64 *)TSS_ADDR;
  memset(gdt, 0, 4096);
  memset(idt, 0, 4096);
  memset(ldt, 0, 4096);
  memset(tss, 0, 4096);
  set_descriptor(gdt, 1, 0, 0xFFFFF, 0x9B, 0xA);            /* kernel code, L=1 */
  set_descriptor(gdt, 2, 0, 0xFFFFF, 0x93, 0xC);            /* kernel data */
  set_descriptor(gdt, 3, 0, 0xFFFFF, 0xFB, 0xC);            /* user code, 32-bit */
  set_descriptor(gdt, 4, 0, 0xFFFFF, 0xF3, 0xC);            /* user data */
  set_descriptor(gdt, 5, 0, 0xFFFFF, 0xFB, 0xA);            /* user code, L=1 */
  set_system(gdt, 6, TSS_ADDR, sizeof(struct tss64) - 1, 0x89);  /* 64-bit TSS */
  set_system(gdt, 8, LDT_ADDR, 8 - 1, 0x82);                /* LDT */
  set_descriptor(gdt, 10, 0, PROBE_LIMIT, 0xF3, 0x4);       /* probe data, byte limit */
  set_descriptor(ldt, 0, LDT_DATA_BASE, 0xFFF, 0xF3, 0x4);  /* LDT data */
  tss->rsp0 = TRAP_STACK_TOP;
  tss->iomap_base = sizeof(struct tss64);                   /* no I/O bitmap */
  for (int i = 0; i < 48; i++) set_gate(idt, i, vectors[i], GATE_INT64);
  set_gate(idt, INT_PROBE_VECTOR, vector129, GATE_INT64_USER);
  static struct table_ptr gdtr, idtr;
  gdtr.limit = GDT_ENTRIES * 8 - 1;
  gdtr.base = GDT_ADDR;
  idtr.limit = 256 * 16 - 1;
  idtr.base = IDT_ADDR;
  load_tables(&gdtr, &idtr);
  __asm__ volatile("lldt %w0" : : "r"(LDT_SEL));
  __asm__ volatile("ltr %w0" : : "r"(TSS_SEL));
}

/* FS holds the probe segment and GS the LDT segment, both DPL 3, so they survive the
 * IRETQ to ring 3 (their bases come from the descriptors). */
static void kernel_segments(void) {
  __asm__ volatile("movw %w0, %%ds\n\tmovw %w0, %%es\n\tmovw %w0, %%ss\n\t"
                   "movw %w1, %%fs\n\tmovw %w2, %%gs"
                   : : "r"(KERNEL_DS), "r"(PROBE_SEL), "r"(LDT_DATA) : "memory");
}

/* ---- CR0, MSRs, the 8259A pair --------------------------------------------------------- */

static void cr0_init(void) {
  u64 cr0;
  __asm__ volatile("movq %%cr0, %0" : "=r"(cr0));
  cr0 = (cr0 & ~0xFFFFul) | 0x0011u;  /* PE, ET; MP, EM, TS, NE clear: SMSW reads 0x0011 */
  __asm__ volatile("movq %0, %%cr0" : : "r"(cr0) : "memory");
}

static void wrmsr(u32 msr, u64 v) {
  __asm__ volatile("wrmsr" : : "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)));
}

extern void syscall_entry(void);

static void syscall_init(void) {
  /* EFER.SCE is set by boot.s. */
  wrmsr(0xC0000081, ((u64)STAR_SYSRET_BASE << 48) | ((u64)STAR_SYSCALL_CS << 32));  /* STAR */
  wrmsr(0xC0000082, (u64)syscall_entry);  /* LSTAR */
  wrmsr(0xC0000084, 0x4700);              /* FMASK: IF, TF, DF, NT */
}

static void pic_init(void) {
  outb(0x20, 0x11); outb(0xA0, 0x11);
  outb(0x21, 0x20); outb(0xA1, 0x28);
  outb(0x21, 0x04); outb(0xA1, 0x02);
  outb(0x21, 0x01); outb(0xA1, 0x01);
  outb(0x21, 0xFF); outb(0xA1, 0xFF);
}

/* ---- observations -------------------------------------------------------------------- */

#define MAX_VALUES 10

struct obs {
  u32 faulted, vector, err;
  u32 absent;
  u64 v[MAX_VALUES];
};

enum fmt { H16, H32, H64, DEC, VENDOR };

struct probe {
  const char *name;
  void (*fn)(struct obs *o);
  int nkeys;
  const char *keys[MAX_VALUES];
  enum fmt fmt[MAX_VALUES];
};

volatile u32 cur_cpl;
volatile u32 cur_probe;
volatile u32 probe_active;
volatile u64 probe_rsp, kernel_saved_rsp;
static struct obs results[2][32];

static u32 code_sel(void) { return cur_cpl ? USER_CS : KERNEL_CS; }
static u32 data_sel(void) { return cur_cpl ? USER_DS : KERNEL_DS; }

#define NSELS 9
static const u32 probed_sels[NSELS] = { KERNEL_CS, KERNEL_DS, USER_CS32, USER_DS, USER_CS, TSS_SEL, LDT_SEL, PROBE_SEL, LDT_DATA };
#define SEL_KEYS { "s08", "s10", "s1b", "s23", "s2b", "s30", "s40", "s53", "s07" }

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
  u64 v = ~0ul;
  __asm__ volatile("sldt %0" : "=r"(v));
  o->v[0] = v & 0xFFFF;
}

/* SMSW r64 stores CR0 bits 63:0 on Intel (bits 63:16 undefined), CR0[15:0] zero-extended
 * elsewhere; only the low word is compared. */
static void p_smsw(struct obs *o) {
  u64 v = ~0ul;
  __asm__ volatile("smsw %0" : "=r"(v));
  o->v[0] = v & 0xFFFF;
}

static void p_str(struct obs *o) {
  u64 v = ~0ul;
  __asm__ volatile("str %0" : "=r"(v));
  o->v[0] = v & 0xFFFF;
}

#define EFL_IF   0x0200u
#define EFL_IOPL 0x3000u

static void p_pushf(struct obs *o) {
  u64 f;
  __asm__ volatile("pushfq\n\tpopq %0" : "=r"(f));
  o->v[0] = (f & EFL_IF) ? 1 : 0;
  o->v[1] = (f & EFL_IOPL) >> 12;
}

static u64 popf_then_read(u64 v) {
  u64 f;
  __asm__ volatile("pushq %1\n\tpopfq\n\tpushfq\n\tpopq %0" : "=r"(f) : "r"(v) : "cc", "memory");
  return f;
}

static void p_popf(struct obs *o) {
  u64 set = popf_then_read(0x0002 | EFL_IF | EFL_IOPL);
  u64 clear = popf_then_read(0x0002);
  o->v[0] = (set & EFL_IF) ? 1 : 0;
  o->v[1] = (set & EFL_IOPL) >> 12;
  o->v[2] = (clear & EFL_IF) ? 1 : 0;
  o->v[3] = (clear & EFL_IOPL) >> 12;
}

static void p_lar(struct obs *o) {
  for (int k = 0; k < NSELS; k++) {
    u64 v = 0;
    u8 zf;
    __asm__ volatile("lar %w2, %0\n\tsetz %1" : "+r"(v), "=q"(zf) : "r"(probed_sels[k]) : "cc");
    if (zf) o->v[k] = v; else o->absent |= 1u << k;
  }
}

static void p_lsl(struct obs *o) {
  for (int k = 0; k < NSELS; k++) {
    u64 v = 0;
    u8 zf;
    __asm__ volatile("lsl %w2, %0\n\tsetz %1" : "+r"(v), "=q"(zf) : "r"(probed_sels[k]) : "cc");
    if (zf) o->v[k] = v; else o->absent |= 1u << k;
  }
}

static void p_verr(struct obs *o) {
  for (int k = 0; k < NSELS; k++) {
    u8 zf;
    __asm__ volatile("verr %w1\n\tsetz %0" : "=q"(zf) : "r"(probed_sels[k]) : "cc");
    o->v[k] = zf;
  }
}

static void p_verw(struct obs *o) {
  for (int k = 0; k < NSELS; k++) {
    u8 zf;
    __asm__ volatile("verw %w1\n\tsetz %0" : "=q"(zf) : "r"(probed_sels[k]) : "cc");
    o->v[k] = zf;
  }
}

#define READ_SREG(reg) ({ u64 v_; __asm__ volatile("movq %%" reg ", %0" : "=r"(v_)); v_ & 0xFFFF; })

static void p_mov_from_sreg(struct obs *o) {
  o->v[0] = READ_SREG("cs");
  o->v[1] = READ_SREG("ss");
  o->v[2] = READ_SREG("ds");
  o->v[3] = READ_SREG("es");
  o->v[4] = READ_SREG("fs");
  o->v[5] = READ_SREG("gs");
}

static void p_mov_to_sreg(struct obs *o) {
  u64 ss = data_sel(), ds = data_sel(), fs = PROBE_SEL, gs = LDT_DATA;
  __asm__ volatile("movw %w0, %%ss\n\tmovw %w1, %%ds\n\tmovw %w1, %%es\n\t"
                   "movw %w2, %%fs\n\tmovw %w3, %%gs"
                   : : "r"(ss), "r"(ds), "r"(fs), "r"(gs) : "memory");
  o->v[0] = READ_SREG("ss");
  o->v[1] = READ_SREG("ds");
  o->v[2] = READ_SREG("es");
  o->v[3] = READ_SREG("fs");
  o->v[4] = READ_SREG("gs");
}

/* PUSH FS and PUSH GS are the only segment pushes left in 64-bit mode. */
static void p_push_sreg(struct obs *o) {
  u64 f, g;
  __asm__ volatile("pushq %%fs\n\tpopq %0\n\tpushq %%gs\n\tpopq %1" : "=r"(f), "=r"(g) : : "memory");
  o->v[0] = f & 0xFFFF;
  o->v[1] = g & 0xFFFF;
}

static void p_pop_sreg(struct obs *o) {
  u64 fs = PROBE_SEL, gs = LDT_DATA;
  __asm__ volatile("pushq %0\n\tpopq %%fs\n\tpushq %1\n\tpopq %%gs" : : "r"(fs), "r"(gs) : "memory");
  o->v[0] = READ_SREG("fs");
  o->v[1] = READ_SREG("gs");
}

/* PUSH CS (0x0E) is invalid in 64-bit mode: #UD (SDM vol. 2 "PUSH"). */
static void p_push_cs(struct obs *o) {
  __asm__ volatile(".byte 0x0e\n\tpopq %%rax" : : : "rax", "memory");
  o->v[0] = 1;
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
  far_ptr.offset = (u32)(u64)far_target;
  far_ptr.selector = (u16)code_sel();
  __asm__ volatile("lcall *%0" : : "m"(far_ptr) : "rax", "memory", "cc");
  o->v[0] = far_pushed_cs & 0xFFFF;
}

static void p_jmp_far(struct obs *o) {
  u64 reached = 0;
  __asm__ volatile("leaq 1f(%%rip), %%rax\n\tmovl %%eax, (%1)\n\tmovw %w2, 4(%1)\n\tljmp *(%1)\n\t"
                   "movq $0, %0\n\tjmp 2f\n"
                   "1:\tmovq $1, %0\n2:"
                   : "+r"(reached) : "r"(&far_ptr), "r"(code_sel()) : "rax", "memory");
  o->v[0] = reached;
}

static void p_ret_far(struct obs *o) {
  u64 reached = 0;
  __asm__ volatile("pushq %q1\n\tleaq 1f(%%rip), %%rax\n\tpushq %%rax\n\tlretq\n\t"
                   "movq $0, %0\n\tjmp 2f\n"
                   "1:\tmovq $1, %0\n2:"
                   : "+r"(reached) : "r"((u64)code_sel()) : "rax", "memory");
  o->v[0] = reached;
}

volatile u32 int_hit, int_frame_cs, int_frame_ss;

static void p_int(struct obs *o) {
  int_hit = 0;
  int_frame_cs = 0xFFFFFFFF;
  int_frame_ss = 0xFFFFFFFF;
  __asm__ volatile("int $0x81" : : : "memory");
  o->v[0] = int_hit;
  o->v[1] = int_frame_cs & 0xFFFF;
  o->v[2] = int_frame_ss & 0xFFFF;
}

/* IRETQ to the same privilege level with the given RFLAGS (64-bit mode pops SS:RSP even
 * then), then read RFLAGS back. */
static u64 iret_then_read(u64 flags, u64 cs, u64 ss) {
  u64 f;
  __asm__ volatile("movq %%rsp, %%rax\n\tpushq %3\n\tpushq %%rax\n\tpushq %1\n\tpushq %2\n\t"
                   "leaq 1f(%%rip), %%rax\n\tpushq %%rax\n\tiretq\n1:\tpushfq\n\tpopq %0"
                   : "=r"(f) : "r"(flags), "r"(cs), "r"(ss) : "rax", "cc", "memory");
  return f;
}

static void p_iret(struct obs *o) {
  u64 set = iret_then_read(0x0002 | EFL_IF | EFL_IOPL, code_sel(), data_sel());
  u64 clear = iret_then_read(0x0002, code_sel(), data_sel());
  o->v[0] = (set & EFL_IF) ? 1 : 0;
  o->v[1] = (set & EFL_IOPL) >> 12;
  o->v[2] = (clear & EFL_IF) ? 1 : 0;
  o->v[3] = (clear & EFL_IOPL) >> 12;
}

static void p_cpuid(struct obs *o) {
  u32 a, b, c, d;
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
  o->v[0] = a;
  o->v[1] = b;
  o->v[2] = d;
  o->v[3] = c;
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
  o->v[4] = a;
  o->v[5] = c;
  o->v[6] = d;
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000001u), "c"(0));
  o->v[7] = d;
}

volatile u32 syscall_hit, syscall_from_user, syscall_seen_cs, syscall_seen_ss, syscall_seen_flags;
volatile u64 syscall_seen_r11;

static void p_syscall(struct obs *o) {
  syscall_hit = 0;
  syscall_seen_cs = syscall_seen_ss = syscall_seen_flags = 0xFFFFFFFF;
  syscall_from_user = cur_cpl == 3;
  __asm__ volatile("syscall" : : : "rax", "rcx", "r11", "memory", "cc");
  o->v[0] = syscall_hit;
  o->v[1] = syscall_seen_cs & 0xFFFF;
  o->v[2] = syscall_seen_ss & 0xFFFF;
  o->v[3] = (syscall_seen_flags & EFL_IF) ? 1 : 0;
  o->v[4] = (syscall_seen_r11 & EFL_IF) ? 1 : 0;
  o->v[5] = READ_SREG("cs");
  o->v[6] = READ_SREG("ss");
}

/* SWAPGS is privileged (#GP(0) at CPL 3); at CPL 0 swap twice and see GS's selector kept. */
static void p_swapgs(struct obs *o) {
  __asm__ volatile("swapgs\n\tswapgs" : : : "memory");
  o->v[0] = READ_SREG("gs");
}

static const struct probe probes[] = {
  { "sgdt", p_sgdt, 2, { "limit", "base" }, { H16, H64 } },
  { "sidt", p_sidt, 2, { "limit", "base" }, { H16, H64 } },
  { "sldt", p_sldt, 1, { "sel" }, { H16 } },
  { "smsw", p_smsw, 1, { "msw" }, { H16 } },
  { "str", p_str, 1, { "sel" }, { H16 } },
  { "pushf", p_pushf, 2, { "if", "iopl" }, { DEC, DEC } },
  { "popf", p_popf, 4, { "if_set", "iopl_set", "if_clear", "iopl_clear" }, { DEC, DEC, DEC, DEC } },
  { "lar", p_lar, NSELS, SEL_KEYS, { H32, H32, H32, H32, H32, H32, H32, H32, H32 } },
  { "lsl", p_lsl, NSELS, SEL_KEYS, { H32, H32, H32, H32, H32, H32, H32, H32, H32 } },
  { "verr", p_verr, NSELS, SEL_KEYS, { DEC, DEC, DEC, DEC, DEC, DEC, DEC, DEC, DEC } },
  { "verw", p_verw, NSELS, SEL_KEYS, { DEC, DEC, DEC, DEC, DEC, DEC, DEC, DEC, DEC } },
  { "push_sreg", p_push_sreg, 2, { "fs", "gs" }, { H16, H16 } },
  { "pop_sreg", p_pop_sreg, 2, { "fs", "gs" }, { H16, H16 } },
  { "push_cs", p_push_cs, 1, { "pushed" }, { DEC } },
  { "call_far", p_call_far, 1, { "pushed_cs" }, { H16 } },
  { "jmp_far", p_jmp_far, 1, { "reached" }, { DEC } },
  { "ret_far", p_ret_far, 1, { "reached" }, { DEC } },
  { "int", p_int, 3, { "handled", "frame_cs", "frame_ss" }, { DEC, H16, H16 } },
  { "mov_from_sreg", p_mov_from_sreg, 6, { "cs", "ss", "ds", "es", "fs", "gs" }, { H16, H16, H16, H16, H16, H16 } },
  { "mov_to_sreg", p_mov_to_sreg, 5, { "ss", "ds", "es", "fs", "gs" }, { H16, H16, H16, H16, H16 } },
  { "iret", p_iret, 4, { "if_set", "iopl_set", "if_clear", "iopl_clear" }, { DEC, DEC, DEC, DEC } },
  { "cpuid", p_cpuid, 6, { "max", "vendor", "sig", "ecx", "edx", "ext_edx" }, { H32, VENDOR, H32, H32, H32, H32 } },
  { "syscall", p_syscall, 7, { "entered", "cs", "ss", "if", "r11_if", "ret_cs", "ret_ss" }, { DEC, H16, H16, DEC, DEC, H16, H16 } },
  { "swapgs", p_swapgs, 1, { "gs" }, { H16 } },
};

#define NPROBES ((int)(sizeof(probes) / sizeof(probes[0])))
_Static_assert(NPROBES <= 32, "results[] holds 32 probes per level");

void probe_dispatch(u64 index) {
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
    else if (p->fmt[k] == H64) puthex(o->v[slot], 16);
    else putdec(o->v[slot]);
    slot++;
  }
  puts("\n");
}

/* ---- traps --------------------------------------------------------------------------- */

/* What trap_common in boot.s leaves on the stack, lowest address first. */
struct frame {
  u64 gs, fs, es, ds;
  u64 r15, r14, r13, r12, r11, r10, r9, r8, rdi, rsi, rbp, rbx, rdx, rcx, rax;
  u64 vector, err;
  u64 rip, cs, rflags, rsp, ss;
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
  puts(" rip=");
  puthex(f->rip, 16);
  puts(" cs=");
  puthex(f->cs & 0xFFFF, 4);
  puts("\n");
  poweroff(EXIT_FAIL);
}

void trap(struct frame *f) {
  int from_user = (f->cs & 3) == 3;
  if (in_trap) {
    if (in_trap > 1) poweroff(EXIT_FAIL);
    in_trap = 2;
    abort_run("fault in the trap handler", f);
  }
  in_trap = 1;
  if (f->vector == INT_PROBE_VECTOR) {
    int_hit = 1;
    int_frame_cs = (u32)f->cs;
    int_frame_ss = (u32)f->ss;
  } else if (f->vector >= 0x20 && f->vector < 0x30) {
    spurious++;
    if (f->vector == 0x2F) outb(0x20, 0x20);
  } else if (f->vector == 6 && from_user && f->rip == (u64)r3_yield) {
    print_result(3, cur_probe);
    f->rip += 2;
  } else if (f->vector == 6 && from_user && f->rip == (u64)r3_done) {
    f->rip = (u64)ring3_exit;
    f->cs = KERNEL_CS;
    f->ss = KERNEL_DS;
    f->rsp = TRAP_STACK_TOP - 4096;  /* ring3_exit loads its own RSP */
    f->rflags = 0x0002;
    f->ds = f->es = KERNEL_DS;
  } else if (probe_active) {
    struct obs *o = &results[cur_cpl == 3][cur_probe];
    o->faulted = 1;
    o->vector = (u32)f->vector;
    o->err = (u32)f->err;
    probe_active = 0;
    f->rip = (u64)probe_resume;
    f->rsp = probe_rsp;
    f->fs = PROBE_SEL;
    f->gs = LDT_DATA;
    if (cur_cpl == 3) {
      f->cs = USER_CS;
      f->ss = USER_DS;
      f->rflags = 0x0202;
      f->ds = f->es = USER_DS;
    } else {
      f->cs = KERNEL_CS;
      f->ss = KERNEL_DS;
      f->rflags = 0x0002;
      f->ds = f->es = KERNEL_DS;
    }
  } else {
    abort_run("unexpected exception", f);
  }
  in_trap = 0;
}

/* ---- the two passes ---------------------------------------------------------------------- */

extern void run_probe(u64 index);

void ring3_main(void) {
  for (int i = 0; i < NPROBES; i++) {
    cur_probe = (u32)i;
    run_probe((u64)i);
    r3_yield();
  }
  r3_done();
}

static void reset_level(void) {
  __asm__ volatile("pushq $0x0002\n\tpopfq" : : : "cc");
  kernel_segments();
}

void kmain(u32 mbi) {
  (void)mbi;
  serial_init();
  puts("RP-BEGIN vmm86 redpill64 guest 1\n");
  tables_init();
  kernel_segments();
  cr0_init();
  syscall_init();
  pic_init();
  cur_cpl = 0;
  for (int i = 0; i < NPROBES; i++) {
    cur_probe = (u32)i;
    reset_level();
    run_probe((u64)i);
    reset_level();
    print_result(0, (u32)i);
  }
  cur_cpl = 3;
  reset_level();
  enter_ring3();
  reset_level();
  puts("RP-END probes=");
  putdec((u64)NPROBES * 2);
  puts(" faults=");
  putdec(total_faults);
  puts(" spurious=");
  putdec(spurious);
  puts("\n");
  poweroff(EXIT_PASS);
}
