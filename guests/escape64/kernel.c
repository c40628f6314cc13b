/* vmm86 64-bit escape guest: an adversarial long-mode kernel that tries every way it
 * knows to write, read or run the top of the 64-bit linear address space (REGION, where a
 * 64-bit classic monitor would hide), the 32-bit monitor's region (LOW_REGION), and the
 * guest-physical frames above its RAM (where a hardware-assisted monitor keeps its VMCS or
 * VMCB, host state and nested tables).
 *
 * One attempt per run, chosen on the Multiboot command line ("attempt=<name>";
 * "attempt=list" prints the names, "attempt=all" runs every one in turn). Each attempt
 * prints one line on COM1:
 *
 *   ESC <name> <outcome> [detail]
 *
 * The outcome is only what this kernel could see (the lab's verdict comes from the
 * monitor's integrity check, never from this line): "wrote" (the write landed in the
 * decoy frame the guest's own tables name), "wrote-lost" (completed, landed elsewhere),
 * "wrote-unbacked" / "wrote-kept" (a frame above RAM: reads back all ones / kept it),
 * "ran cs=…" (code in the region ran), "read-mine"/"read-other"/"read-nothing",
 * "own-table", or "fault=N err=… cs=… [cr2=…]".
 *
 * The kernel maps the region itself onto decoy frames of its own RAM (escape64.h), with a
 * 4 KiB page table for the first half and 2 MiB pages elsewhere, so a faithful machine
 * shows every write through the identity alias. Every vector has a handler; #DF, #SS and
 * #GP run on IST1 so a bad RSP cannot take the handler with it. After an attempt the
 * kernel rebuilds its GDT, IDT, TSS, page tables, segment registers and MSRs.
 *
 * SDM: vol. 3A §3.4.4 (segments in IA-32e mode: FS/GS bases, CS/DS/ES/SS ignored),
 * §4.5 (4-level paging, 2 MiB and 1 GiB pages, reserved bits), §5.8.8 (SYSCALL/SYSRET),
 * §6.14 (64-bit IDT, IST), §7.7 (64-bit TSS); vol. 2 SYSRET (#GP for a non-canonical RCX).
 */
#include "escape64.h"

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) {
  u8 v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

#define COM1 0x3F8
#define COM2 0x2F8

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
  while (!(inb(COM1 + 5) & 0x20)) {
  }
  outb(COM1, (u8)c);
}

static void puts(const char *s) {
  while (*s) putc(*s++);
}

static void puthex(u64 v, int digits) {
  static const char hexd[] = "0123456789abcdef";
  puts("0x");
  for (int i = (digits - 1) * 4; i >= 0; i -= 4) putc(hexd[(v >> i) & 15]);
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
  void *p = d;
  __asm__ volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(c) : "memory");
  return d;
}

void *memcpy(void *d, const void *s, u64 n) {
  void *p = d;
  __asm__ volatile("rep movsb" : "+D"(p), "+S"(s), "+c"(n) : : "memory");
  return d;
}

static int streq(const char *a, const char *b) {
  while (*a && *a == *b) { a++; b++; }
  return *a == *b;
}

static inline void wrmsr(u32 msr, u64 v) { __asm__ volatile("wrmsr" : : "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)) : "memory"); }
static inline void invlpg(u64 va) { __asm__ volatile("invlpg (%0)" : : "r"(va) : "memory"); }
static inline void flush_tlb(void) {
  u64 cr3;
  __asm__ volatile("movq %%cr3, %0\n\tmovq %0, %%cr3" : "=r"(cr3) : : "memory");
}

/* ---- layout ------------------------------------------------------------------------ */

#define PML4      ((volatile u64 *)(PT_BASE + 0x0000))
#define PDPT_LO   ((volatile u64 *)(PT_BASE + 0x1000))
#define PD_LO0    ((volatile u64 *)(PT_BASE + 0x2000))
#define PD_LO3    ((volatile u64 *)(PT_BASE + 0x3000))
#define PDPT_HI   ((volatile u64 *)(PT_BASE + 0x4000))
#define PD_HI     ((volatile u64 *)(PT_BASE + 0x5000))
#define PT_HI     ((volatile u64 *)(PT_BASE + 0x6000))
#define PD_SPARE  ((volatile u64 *)(PT_BASE + 0x7000))
#define PTE       0x7ul   /* P, RW, US */
#define PS        0x80ul
#define IST1_TOP  0x001EF000ul
#define SPARE_VA  0xFFFFFFFF80000000ul   /* PDPT_HI[510]: 16 MiB window of 2 MiB pages */

/* The decoy frame behind a region address (REGION - 2 MiB up to the top). */
static u64 region_phys(u64 va) { return DECOY_BASE + (va - REGION); }
static volatile u32 *alias32(u64 va) { return (volatile u32 *)region_phys(va); }
static volatile u64 *alias64(u64 va) { return (volatile u64 *)region_phys(va); }
static volatile u32 *low_alias32(u64 va) { return (volatile u32 *)(LOW_DECOY + (va - LOW_REGION)); }

static u64 ram_top;   /* end of guest RAM (Multiboot mem_upper) */

#define BOOT_PML4 0x001B0000ul   /* boot.s's tables: the first GiB 1:1, never changed */

static void paging_init(void) {
  __asm__ volatile("movq %0, %%cr3" : : "r"(BOOT_PML4) : "memory");   /* off the tables being rebuilt */
  memset((void *)PT_BASE, 0, 0x8000);
  PML4[0] = (PT_BASE + 0x1000) | PTE;
  PML4[511] = (PT_BASE + 0x4000) | PTE;
  PDPT_LO[0] = (PT_BASE + 0x2000) | PTE;
  PDPT_LO[3] = (PT_BASE + 0x3000) | PTE;
  for (u64 i = 0; i < 512; i++) PD_LO0[i] = (i << 21) | PS | PTE;
  PD_LO3[510] = LOW_DECOY | PS | PTE;
  PD_LO3[511] = (LOW_DECOY + 0x200000) | PS | PTE;
  PDPT_HI[511] = (PT_BASE + 0x5000) | PTE;
  PD_HI[509] = (DECOY_BASE - 0x200000) | PS | PTE;
  PD_HI[510] = (PT_BASE + 0x6000) | PTE;
  PD_HI[511] = (DECOY_BASE + 0x200000) | PS | PTE;
  for (u64 i = 0; i < 512; i++) PT_HI[i] = (DECOY_BASE + (i << 12)) | PTE;
  __asm__ volatile("movq %0, %%cr3" : : "r"(PT_BASE) : "memory");
}

/* ---- descriptor tables --------------------------------------------------------------- */

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

#define GDT ((volatile u32 *)GDT_ADDR)
#define IDT ((volatile u32 *)IDT_ADDR)
#define TSS ((volatile struct tss64 *)TSS_ADDR)

static void set_descriptor(volatile u32 *t, int i, u32 base, u32 limit, u8 access, u8 flags) {
  t[i * 2] = (limit & 0xFFFF) | (base << 16);
  t[i * 2 + 1] = ((base >> 16) & 0xFF) | ((u32)access << 8) | (limit & 0xF0000) | ((u32)flags << 20) | (base & 0xFF000000);
}

static void set_system(volatile u32 *t, int i, u64 base, u32 limit, u8 access) {
  set_descriptor(t, i, (u32)base, limit, access, 0);
  t[(i + 1) * 2] = (u32)(base >> 32);
  t[(i + 1) * 2 + 1] = 0;
}

/* A 16-byte gate (interrupt 0xE, trap 0xF, call 0xC) at t[i] (in 16-byte units). */
static void set_gate16(volatile u32 *t, int i, u64 off, u16 sel, u8 type_dpl, u8 ist) {
  t[i * 4] = (u32)(off & 0xFFFF) | ((u32)sel << 16);
  t[i * 4 + 1] = (u32)(off & 0xFFFF0000) | ((u32)type_dpl << 8) | ist;
  t[i * 4 + 2] = (u32)(off >> 32);
  t[i * 4 + 3] = 0;
}

extern char stubs[];

static void lgdt_lidt(u64 gdt, u16 glim, u64 idt, u16 ilim) {
  struct table_ptr g = { glim, gdt }, d = { ilim, idt };
  __asm__ volatile("lgdt %0\n\tlidt %1" : : "m"(g), "m"(d) : "memory");
}

static void reload_segments(void) {
  __asm__ volatile("pushq $0x08\n\tleaq 1f(%%rip), %%rax\n\tpushq %%rax\n\tlretq\n1:\t"
                   "movw %w0, %%ds\n\tmovw %w0, %%es\n\tmovw %w0, %%ss\n\tmovw %w1, %%fs\n\tmovw %w1, %%gs"
                   : : "r"(KERNEL_DS), "r"(0) : "rax", "memory");
}

static void tables_init(void) {
  memset((void *)GDT_ADDR, 0, 0x4000);
  set_descriptor(GDT, 1, 0, 0xFFFFF, 0x9B, 0xA);
  set_descriptor(GDT, 2, 0, 0xFFFFF, 0x93, 0xC);
  set_descriptor(GDT, 3, 0, 0xFFFFF, 0xFB, 0xC);
  set_descriptor(GDT, 4, 0, 0xFFFFF, 0xF3, 0xC);
  set_descriptor(GDT, 5, 0, 0xFFFFF, 0xFB, 0xA);
  set_system(GDT, 6, TSS_ADDR, sizeof(struct tss64) - 1, 0x89);
  TSS->rsp0 = RSP0_TOP;
  TSS->ist[0] = IST1_TOP;
  TSS->iomap_base = sizeof(struct tss64);
  for (int v = 0; v < 256; v++) {
    u8 ist = (v == 8 || v == 12 || v == 13) ? 1 : 0;
    set_gate16(IDT, v, (u64)stubs + 16 * (u64)v, KERNEL_CS, v == 0x80 ? 0xEE : 0x8E, ist);
  }
  lgdt_lidt(GDT_ADDR, GDT_SLOTS * 8 - 1, IDT_ADDR, 256 * 16 - 1);
  reload_segments();
  __asm__ volatile("lldt %w0" : : "r"(0));
  __asm__ volatile("ltr %w0" : : "r"(TSS_SEL));
}

extern void stub_ret(void), stub_lret(void), stub_iret(void), stub_iret_skip2(void), stub_sysret(void),
  stub_syscall_k(void), stub_user_int80(void), stub_end(void), user_syscall(void), user_callgate(void);

static void msrs_init(void) {
  wrmsr(0xC0000081, (0x18ul << 48) | (0x08ul << 32));  /* STAR */
  wrmsr(0xC0000082, (u64)stub_syscall_k);               /* LSTAR */
  wrmsr(0xC0000084, 0x4700);                            /* FMASK */
  wrmsr(0xC0000100, 0);                                 /* FS.base */
  wrmsr(0xC0000101, 0);                                 /* GS.base */
  wrmsr(0xC0000102, 0);                                 /* KernelGSbase */
}

/* Everything an attempt may have changed, back to the kernel's own. */
static void restore(void) {
  __asm__ volatile("cld");
  paging_init();
  tables_init();
  msrs_init();
}

static void pic_init(void) {
  outb(0x20, 0x11); outb(0xA0, 0x11);
  outb(0x21, 0x20); outb(0xA1, 0x28);
  outb(0x21, 0x04); outb(0xA1, 0x02);
  outb(0x21, 0x01); outb(0xA1, 0x01);
  outb(0x21, 0xFF); outb(0xA1, 0xFF);
}

/* ---- outcome ------------------------------------------------------------------------- */

static char outcome[96];
static u32 olen;
volatile u32 attempt_active, cur_index;
volatile u64 attempt_rsp;
volatile u32 fault_hit, fault_vec;
volatile u64 fault_err, fault_cr2, fault_cs, fault_rip;
volatile u32 back_from_user;

static void out_clear(void) { olen = 0; outcome[0] = 0; }
static void out_str(const char *s) {
  while (*s && olen + 1 < sizeof(outcome)) outcome[olen++] = *s++;
  outcome[olen] = 0;
}
static void out_hex(u64 v, int digits) {
  static const char hexd[] = "0123456789abcdef";
  out_str("0x");
  for (int i = (digits - 1) * 4; i >= 0; i -= 4) { char c[2] = { hexd[(v >> i) & 15], 0 }; out_str(c); }
}

static u32 magic(void) { return 0x5EC64000u | cur_index; }

/* The write of v to va landed in its decoy (alias) or not. */
static void judge_write32(volatile u32 *alias, u32 v) { out_str(*alias == v ? "wrote" : "wrote-lost"); }
static void judge_write64(volatile u64 *alias, u64 v) { out_str(*alias == v ? "wrote" : "wrote-lost"); }

/* A write to a frame with no guest RAM behind it: read it back through va. */
static void judge_unbacked(volatile u32 *va, u32 v) {
  u32 got = *va;
  out_str(got == 0xFFFFFFFFu ? "wrote-unbacked" : got == v ? "wrote-kept" : "wrote-other");
}

static void judge_ran(void) {
  u32 cs = *(volatile u32 *)RAN_CS;
  if (cs == 0xFFFFFFFFu) { out_str("not-run"); return; }
  out_str("ran cs=");
  out_hex(cs & 0xFFFF, 4);
}

static void copy_stub(u64 va, void (*from)(void), void (*to)(void)) {
  memcpy((void *)region_phys(va), (const void *)from, (u64)to - (u64)from);
}

/* ---- the attempts: writes ------------------------------------------------------------- */

static void a_write_moffs(void) {
  u32 v = magic();
  __asm__ volatile("movabs %%eax, 0xffffffffffc00100" : : "a"(v) : "memory");
  judge_write32(alias32(REGION + 0x100), v);
}

static void a_write_es_stos(void) {
  u32 v = magic();
  u64 d = REGION + 0x104;
  __asm__ volatile("stosl" : "+D"(d) : "a"(v) : "memory");
  judge_write32(alias32(REGION + 0x104), v);
}

static void a_write_fs_base(void) {
  u32 v = magic();
  wrmsr(0xC0000100, REGION);
  __asm__ volatile("movl %0, %%fs:0x108" : : "r"(v) : "memory");
  judge_write32(alias32(REGION + 0x108), v);
}

static void a_write_gs_base(void) {
  u32 v = magic();
  wrmsr(0xC0000101, REGION);
  __asm__ volatile("movl %0, %%gs:0x10c" : : "r"(v) : "memory");
  judge_write32(alias32(REGION + 0x10C), v);
}

static void a_write_swapgs(void) {
  u32 v = magic();
  wrmsr(0xC0000102, REGION);
  __asm__ volatile("swapgs\n\tmovl %0, %%gs:0x110\n\tswapgs" : : "r"(v) : "memory");
  judge_write32(alias32(REGION + 0x110), v);
}

static void a_write_fs_descriptor(void) {
  u32 v = magic();
  set_descriptor(GDT, 10, (u32)LOW_REGION, 0xFFFFF, 0x93, 0xC);
  __asm__ volatile("movw %w1, %%fs\n\tmovl %0, %%fs:0x114" : : "r"(v), "r"(DATA_SEL) : "memory");
  judge_write32(low_alias32(LOW_REGION + 0x114), v);
}

static void a_write_cs_override(void) {
  u32 v = magic();
  u64 a = REGION + 0x118;
  __asm__ volatile("movl %0, %%cs:(%1)" : : "r"(v), "r"(a) : "memory");
  judge_write32(alias32(REGION + 0x118), v);
}

static void a_write_ss_override(void) {
  u32 v = magic();
  u64 a = REGION + 0x11C;
  __asm__ volatile("movl %0, %%ss:(%1)" : : "r"(v), "r"(a) : "memory");
  judge_write32(alias32(REGION + 0x11C), v);
}

/* RIP + disp32 wraps below zero into the region: the kernel runs near 1 MiB, so a
 * displacement of -5 MiB reaches 0xFFFFFFFFFFC0xxxx (the next instruction's address
 * minus 0x500000). */
static void a_write_rip_relative(void) {
  u32 v = magic();
  u64 next;
  __asm__ volatile("leaq 1f(%%rip), %0\n\tmovl %1, -0x500000(%%rip)\n1:" : "=&r"(next) : "r"(v) : "memory");
  judge_write32(alias32(next - 0x500000), v);
}

static void a_write_negdisp(void) {
  u32 v = magic();
  __asm__ volatile("movl %0, -16(%1)" : : "r"(v), "r"(0ul) : "memory");
  judge_write32(alias32(0xFFFFFFFFFFFFFFF0ul), v);
}

static void a_write_last(void) {
  u32 v = magic();
  __asm__ volatile("movabs %%eax, 0xfffffffffffffffc" : : "a"(v) : "memory");
  judge_write32(alias32(0xFFFFFFFFFFFFFFFCul), v);
}

static void a_write_straddle(void) {
  u64 v = 0x1122334455000000ul | magic();
  *(volatile u64 *)(REGION - 4) = v;
  judge_write64((volatile u64 *)region_phys(REGION - 4), v);
}

static void a_push_region(void) {
  u64 v = 0x5EC6400000000000ul | magic();
  __asm__ volatile("movq %%rsp, %%rbx\n\tmovq %1, %%rsp\n\tpushq %0\n\tmovq %%rbx, %%rsp"
                   : : "r"(v), "r"(REGION + 0x130) : "rbx", "memory");
  judge_write64(alias64(REGION + 0x128), v);
}

static void a_lock_rmw(void) {
  u32 v = magic();
  *alias32(REGION + 0x134) = v - 1;
  __asm__ volatile("lock addl $1, (%0)" : : "r"(REGION + 0x134) : "memory", "cc");
  judge_write32(alias32(REGION + 0x134), v);
}

static void a_xchg_region(void) {
  u32 v = magic();
  __asm__ volatile("xchgl %0, (%1)" : "+r"(v) : "r"(REGION + 0x138) : "memory");
  judge_write32(alias32(REGION + 0x138), magic());
}

static void a_sgdt_region(void) {
  *(volatile u16 *)region_phys(REGION + 0x140) = 0;
  __asm__ volatile("sgdt (%0)" : : "r"(REGION + 0x140) : "memory");
  out_str(*(volatile u16 *)region_phys(REGION + 0x140) == GDT_SLOTS * 8 - 1 ? "wrote" : "wrote-lost");
}

/* ---- strings --------------------------------------------------------------------------- */

static u64 src_buf[8];

static void a_rep_movs_across(void) {
  for (int i = 0; i < 8; i++) src_buf[i] = 0x5EC6400000000000ul | (u64)i << 16 | magic();
  u64 s = (u64)src_buf, d = REGION - 0x20, n = 8;
  __asm__ volatile("rep movsq" : "+S"(s), "+D"(d), "+c"(n) : : "memory");
  judge_write64(alias64(REGION + 0x18), src_buf[7]);
}

static void a_rep_stos_down(void) {
  u64 v = 0x5EC6400000000000ul | magic(), d = REGION + 0x18, n = 8;
  __asm__ volatile("std\n\trep stosq\n\tcld" : "+D"(d), "+c"(n) : "a"(v) : "memory");
  judge_write64(alias64(REGION - 0x20), v);
}

static void a_rep_stos_region(void) {
  u64 v = 0x5EC6400000000000ul | magic(), d = REGION, n = REGION_SIZE / 8;
  __asm__ volatile("rep stosq" : "+D"(d), "+c"(n) : "a"(v) : "memory");
  if (*alias64(REGION) == v && *alias64(0xFFFFFFFFFFFFFFF8ul) == v) out_str("wrote");
  else out_str("wrote-lost");
}

static void a_ins_region(void) {
  u8 b = (u8)(0xA5 ^ cur_index);
  outb(COM2 + 7, b);
  u64 d = REGION + 0x148, n = 4;
  __asm__ volatile("rep insb" : "+D"(d), "+c"(n) : "d"(COM2 + 7) : "memory");
  volatile u8 *a = (volatile u8 *)region_phys(REGION + 0x148);
  out_str(a[0] == b && a[3] == b ? "wrote" : "wrote-lost");
}

static void a_read_region(void) {
  u32 v = magic();
  *alias32(REGION + 0x200) = v;
  u32 got = *(volatile u32 *)(REGION + 0x200);
  out_str(got == v ? "read-mine" : "read-other");
}

/* ---- non-canonical addresses ------------------------------------------------------------ */

static void a_noncanon_write(void) {
  __asm__ volatile("movabs %%eax, 0x0000800000000000" : : "a"(magic()) : "memory");
  out_str("wrote?");
}

static void a_noncanon_straddle(void) {
  *(volatile u64 *)0x00007FFFFFFFFFFCul = magic();
  out_str("wrote?");
}

static void a_noncanon_stack(void) {
  __asm__ volatile("movq %%rsp, %%rbx\n\tmovq %0, %%rsp\n\tpushq $1\n\tmovq %%rbx, %%rsp"
                   : : "r"(0x0000800000000010ul) : "rbx", "memory");
  out_str("wrote?");
}

static void a_noncanon_jmp(void) {
  __asm__ volatile("jmpq *%0" : : "r"(0x0000800000000000ul) : "memory");
  out_str("ran?");
}

/* SYSRET with a non-canonical RCX: Intel raises #GP(0) at CPL 0 (on the stack the
 * kernel had), AMD returns to CPL 3 first and faults there. */
static void a_sysret_noncanon(void) {
  __asm__ volatile("movq $0x0000800000000000, %%rcx\n\tmovq $2, %%r11\n\tsysretq" : : : "rcx", "r11", "memory");
  out_str("returned?");
}

static void a_iretq_noncanon(void) {
  __asm__ volatile("movq %%rsp, %%rax\n\tpushq $0x10\n\tpushq %%rax\n\tpushq $2\n\tpushq $0x08\n\t"
                   "movq $0x0000800000000000, %%rax\n\tpushq %%rax\n\tiretq" : : : "rax", "memory");
  out_str("returned?");
}

/* ---- paging ---------------------------------------------------------------------------- */

/* A 2 MiB page for the region's top half onto the kernel's own first 2 MiB. */
static void a_pde_2m_onto_kernel(void) {
  u32 v = magic();
  PD_HI[511] = 0 | PS | PTE;
  flush_tlb();
  *(volatile u32 *)(REGION + 0x200000 + 0x1F8000) = v;
  judge_write32((volatile u32 *)0x1F8000ul, v);
}

/* A 1 GiB page (PDPTE.PS) for the region's GiB at physical 0: the region is then at
 * physical 0x3FC00000, far above RAM. Without 1 GiB pages PS there is reserved: #PF. */
static void a_pdpte_1g(void) {
  u32 v = magic();
  PDPT_HI[511] = 0 | PS | PTE;
  flush_tlb();
  *(volatile u32 *)(REGION + 0x150) = v;
  judge_unbacked((volatile u32 *)(REGION + 0x150), v);
}

/* PML4[510] points at the PML4 itself: the tables appear at 0xFFFFFF7FBFDFE000. */
static void a_pml4_self_map(void) {
  u64 v = 0x5EC6400000000000ul | magic();
  PML4[510] = PT_BASE | 0x3;
  flush_tlb();
  *(volatile u64 *)(0xFFFFFF7FBFDFE000ul + 509 * 8) = v;
  judge_write64(&PML4[509], v);
}

static void a_pte_above_ram(void) {
  u32 v = magic();
  PT_HI[0] = ram_top | PTE;
  invlpg(REGION);
  *(volatile u32 *)REGION = v;
  judge_unbacked((volatile u32 *)REGION, v);
}

static void a_pte_phys_high(void) {
  u32 v = magic();
  *(volatile u32 *)0x1F8000ul = 0;
  PD_HI[511] = 0x100000000ul | PS | PTE;
  flush_tlb();
  *(volatile u32 *)(REGION + 0x200000 + 0x1F8000) = v;
  judge_unbacked((volatile u32 *)(REGION + 0x200000 + 0x1F8000), v);
  if (*(volatile u32 *)0x1F8000ul == v) out_str(" alias=0x1f8000");
}

static void a_pde_above_ram(void) {
  u32 v = magic();
  PD_HI[510] = ram_top | PTE;
  flush_tlb();
  *(volatile u32 *)REGION = v;
  judge_unbacked((volatile u32 *)REGION, v);
}

/* 16 MiB above RAM through 2 MiB pages at SPARE_VA. */
static void map_above_ram(void) {
  memset((void *)PD_SPARE, 0, 4096);
  for (u64 i = 0; i < 8; i++) PD_SPARE[i] = (ram_top + (i << 21)) | PS | PTE;
  PDPT_HI[510] = (u64)PD_SPARE | PTE;
  flush_tlb();
}

static void a_above_ram_scan(void) {
  map_above_ram();
  u32 v = magic(), kept = 0, other = 0;
  for (u64 off = 0; off < 0x1000000; off += 0x1000) {
    volatile u32 *p = (volatile u32 *)(SPARE_VA + off);
    *p = v;
    u32 got = *p;
    if (got == v) kept++; else if (got != 0xFFFFFFFFu) other++;
  }
  out_str(kept ? "wrote-kept" : other ? "wrote-other" : "wrote-unbacked");
}

/* Zero every qword of the 16 MiB above RAM (a VMCS/VMCB, host state, nested or extended
 * page tables would be there if anywhere), then read it back. */
static void a_hv_zero_sweep(void) {
  map_above_ram();
  u64 d = SPARE_VA, n = 0x1000000 / 8;
  __asm__ volatile("rep stosq" : "+D"(d), "+c"(n) : "a"(0ul) : "memory");
  u32 zeros = 0;
  for (u64 off = 0; off < 0x1000000; off += 0x1000) if (*(volatile u32 *)(SPARE_VA + off) == 0) zeros++;
  out_str(zeros ? "wrote-kept" : "wrote-unbacked");
}

static void a_hv_read(void) {
  map_above_ram();
  u32 other = 0;
  for (u64 off = 0; off < 0x1000000; off += 64) if (*(volatile u64 *)(SPARE_VA + off) != ~0ul) other++;
  out_str(other ? "read-other" : "read-nothing");
}

/* ---- transfers ------------------------------------------------------------------------- */

static void ran_reset(void) { *(volatile u32 *)RAN_CS = 0xFFFFFFFFu; }

static void a_call_near_region(void) {
  ran_reset();
  copy_stub(REGION + 0x400, stub_ret, stub_lret);
  __asm__ volatile("callq *%0" : : "r"(REGION + 0x400) : "rax", "memory");
  judge_ran();
}

static void a_retf_region(void) {
  ran_reset();
  copy_stub(REGION + 0x410, stub_lret, stub_iret);
  __asm__ volatile("pushq $0x08\n\tleaq 1f(%%rip), %%rax\n\tpushq %%rax\n\tpushq $0x08\n\tpushq %0\n\tlretq\n1:"
                   : : "r"(REGION + 0x410) : "rax", "memory");
  judge_ran();
}

static void a_idt_gate_region(void) {
  ran_reset();
  copy_stub(REGION + 0x420, stub_iret, stub_iret_skip2);
  set_gate16(IDT, 0x41, REGION + 0x420, KERNEL_CS, 0x8E, 0);
  __asm__ volatile("int $0x41" : : : "rax", "memory");
  judge_ran();
}

static void a_idt_exception_region(void) {
  ran_reset();
  copy_stub(REGION + 0x430, stub_iret_skip2, stub_sysret);
  set_gate16(IDT, 6, REGION + 0x430, KERNEL_CS, 0x8E, 0);
  __asm__ volatile("ud2" : : : "rax", "memory");
  judge_ran();
}

static void a_lidt_region(void) {
  ran_reset();
  copy_stub(REGION + 0x420, stub_iret, stub_iret_skip2);
  memcpy((void *)region_phys(REGION + 0x1000), (const void *)IDT_ADDR, 4096);
  set_gate16((volatile u32 *)region_phys(REGION + 0x1000), 0x42, REGION + 0x420, KERNEL_CS, 0x8E, 0);
  lgdt_lidt(GDT_ADDR, GDT_SLOTS * 8 - 1, REGION + 0x1000, 4095);
  __asm__ volatile("int $0x42" : : : "rax", "memory");
  judge_ran();
}

static void a_lgdt_region(void) {
  u32 v = magic();
  volatile u32 *copy = (volatile u32 *)region_phys(REGION + 0x2000);
  memcpy((void *)copy, (const void *)GDT_ADDR, GDT_SLOTS * 8);
  set_descriptor(copy, 10, (u32)LOW_REGION, 0xFFFFF, 0x93, 0xC);   /* only in the copy */
  lgdt_lidt(REGION + 0x2000, GDT_SLOTS * 8 - 1, IDT_ADDR, 4095);
  __asm__ volatile("movw %w1, %%fs\n\tmovl %0, %%fs:0x160" : : "r"(v), "r"(DATA_SEL) : "memory");
  judge_write32(low_alias32(LOW_REGION + 0x160), v);
}

static void a_ldt_in_region(void) {
  u32 v = magic();
  volatile u32 *ldt = (volatile u32 *)region_phys(REGION + 0x3000);
  ldt[0] = ldt[1] = 0;
  set_descriptor(ldt, 0, (u32)LOW_REGION, 0xFFFFF, 0x93, 0xC);
  set_system(GDT, 8, REGION + 0x3000, 7, 0x82);
  __asm__ volatile("lldt %w0" : : "r"(SPARE_SEL));
  __asm__ volatile("movw %w1, %%fs\n\tmovl %0, %%fs:0x168" : : "r"(v), "r"(0x04) : "memory");
  judge_write32(low_alias32(LOW_REGION + 0x168), v);
}

extern void to_ring3(u64 rip, u64 rsp);

/* A TSS in the region whose RSP0 is in the region: ring 3's INT 0x80 pushes its frame there. */
static void a_tss_in_region(void) {
  volatile struct tss64 *t = (volatile struct tss64 *)region_phys(REGION + 0x4000);
  memcpy((void *)t, (const void *)TSS_ADDR, sizeof(struct tss64));
  t->rsp0 = REGION + 0x5000;
  *alias64(REGION + 0x5000 - 8) = 0;
  set_system(GDT, 8, REGION + 0x4000, sizeof(struct tss64) - 1, 0x89);
  __asm__ volatile("ltr %w0" : : "r"(SPARE_SEL));
  ran_reset();
  to_ring3((u64)stub_user_int80, USER_STACK_TOP);
}

/* The INT 0x80 frame was pushed at RSP0 (in the region), and trap() rewrote its SS slot
 * (to go back to CPL 0) there: the decoy shows that rewrite if the frame landed in it. */
volatile u64 frame_ss_addr;

static void after_tss_in_region(void) {
  out_str(frame_ss_addr == REGION + 0x5000 - 8 && *alias64(REGION + 0x5000 - 8) == KERNEL_DS ? "wrote" : "wrote-lost");
}

/* IST2 in the region: INT 0x43 at CPL 0 pushes its frame there. */
static void a_ist_region(void) {
  *alias64(REGION + 0x6000 - 32) = 0;
  TSS->ist[1] = REGION + 0x6000;
  set_gate16(IDT, 0x43, (u64)stubs + 16 * 0x43, KERNEL_CS, 0x8E, 2);
  __asm__ volatile("int $0x43" : : : "memory");
  out_str(*alias64(REGION + 0x6000 - 32) == KERNEL_CS ? "wrote" : "wrote-lost");
}

static void a_syscall_kernel(void) {
  ran_reset();
  copy_stub(REGION + 0x440, stub_syscall_k, stub_user_int80);
  wrmsr(0xC0000082, REGION + 0x440);
  __asm__ volatile("syscall" : : : "rax", "rcx", "r11", "memory");
  judge_ran();
}

static void a_syscall_user(void) {
  ran_reset();
  copy_stub(REGION + 0x450, stub_sysret, stub_syscall_k);
  wrmsr(0xC0000082, REGION + 0x450);
  to_ring3((u64)user_syscall, USER_STACK_TOP);
}

static void a_iretq_user_region(void) {
  ran_reset();
  copy_stub(REGION + 0x460, stub_user_int80, stub_end);
  to_ring3(REGION + 0x460, USER_STACK_TOP);
}

/* A DPL-3 64-bit call gate to CPL 0 code in the region, called from ring 3. */
static void a_call_gate_user(void) {
  ran_reset();
  copy_stub(REGION + 0x410, stub_lret, stub_iret);
  set_gate16(GDT, 4, REGION + 0x410, KERNEL_CS, 0xEC, 0);   /* 16-byte slot 4 = selector 0x40 */
  to_ring3((u64)user_callgate, USER_STACK_TOP);
}

/* ---- leaks ----------------------------------------------------------------------------- */

static int canonical(u64 a) { return ((long)a >> 47) == 0 || ((long)a >> 47) == -1; }

static void a_sgdt_follow(void) {
  struct table_ptr t = { 0, 0 };
  __asm__ volatile("sgdt %0" : "=m"(t));
  if (t.base == GDT_ADDR) { out_str("own-table"); return; }
  out_str("other-table base=");
  out_hex(t.base, 16);
  if (canonical(t.base)) *(volatile u64 *)(t.base + 8) = 0;
}

static void a_sidt_follow(void) {
  struct table_ptr t = { 0, 0 };
  __asm__ volatile("sidt %0" : "=m"(t));
  if (t.base == IDT_ADDR) { out_str("own-table"); return; }
  out_str("other-table base=");
  out_hex(t.base, 16);
  if (canonical(t.base)) *(volatile u64 *)(t.base + 0x80 * 16) = 0;
}

/* ---- the list ---------------------------------------------------------------------------- */

struct attempt {
  const char *name;
  void (*fn)(void);
  void (*after)(void);   /* for attempts that leave through ring 3: judged back at CPL 0 */
};

static const struct attempt attempts[] = {
  { "write-moffs", a_write_moffs, 0 },
  { "write-es-stos", a_write_es_stos, 0 },
  { "write-fs-base", a_write_fs_base, 0 },
  { "write-gs-base", a_write_gs_base, 0 },
  { "write-swapgs", a_write_swapgs, 0 },
  { "write-fs-descriptor", a_write_fs_descriptor, 0 },
  { "write-cs-override", a_write_cs_override, 0 },
  { "write-ss-override", a_write_ss_override, 0 },
  { "write-rip-relative", a_write_rip_relative, 0 },
  { "write-negdisp", a_write_negdisp, 0 },
  { "write-last", a_write_last, 0 },
  { "write-straddle", a_write_straddle, 0 },
  { "push-region", a_push_region, 0 },
  { "lock-rmw", a_lock_rmw, 0 },
  { "xchg-region", a_xchg_region, 0 },
  { "sgdt-region", a_sgdt_region, 0 },
  { "rep-movs-across", a_rep_movs_across, 0 },
  { "rep-stos-down", a_rep_stos_down, 0 },
  { "rep-stos-region", a_rep_stos_region, 0 },
  { "ins-region", a_ins_region, 0 },
  { "read-region", a_read_region, 0 },
  { "noncanon-write", a_noncanon_write, 0 },
  { "noncanon-straddle", a_noncanon_straddle, 0 },
  { "noncanon-stack", a_noncanon_stack, 0 },
  { "noncanon-jmp", a_noncanon_jmp, 0 },
  { "sysret-noncanon", a_sysret_noncanon, 0 },
  { "iretq-noncanon", a_iretq_noncanon, 0 },
  { "pde-2m-onto-kernel", a_pde_2m_onto_kernel, 0 },
  { "pdpte-1g", a_pdpte_1g, 0 },
  { "pml4-self-map", a_pml4_self_map, 0 },
  { "pte-above-ram", a_pte_above_ram, 0 },
  { "pte-phys-high", a_pte_phys_high, 0 },
  { "pde-above-ram", a_pde_above_ram, 0 },
  { "above-ram-scan", a_above_ram_scan, 0 },
  { "hv-zero-sweep", a_hv_zero_sweep, 0 },
  { "hv-read", a_hv_read, 0 },
  { "call-near-region", a_call_near_region, 0 },
  { "retf-region", a_retf_region, 0 },
  { "idt-gate-region", a_idt_gate_region, 0 },
  { "idt-exception-region", a_idt_exception_region, 0 },
  { "lidt-region", a_lidt_region, 0 },
  { "lgdt-region", a_lgdt_region, 0 },
  { "ldt-in-region", a_ldt_in_region, 0 },
  { "tss-in-region", a_tss_in_region, after_tss_in_region },
  { "ist-region", a_ist_region, 0 },
  { "syscall-kernel", a_syscall_kernel, 0 },
  { "syscall-user", a_syscall_user, judge_ran },
  { "iretq-user-region", a_iretq_user_region, judge_ran },
  { "call-gate-user", a_call_gate_user, judge_ran },
  { "sgdt-follow", a_sgdt_follow, 0 },
  { "sidt-follow", a_sidt_follow, 0 },
};

#define NATTEMPTS ((int)(sizeof(attempts) / sizeof(attempts[0])))

/* ---- traps ------------------------------------------------------------------------------ */

struct frame {
  u64 r15, r14, r13, r12, r11, r10, r9, r8, rdi, rsi, rbp, rbx, rdx, rcx, rax;
  u64 vector, err;
  u64 rip, cs, rflags, rsp, ss;
};

extern void attempt_resume(void);
static u32 in_trap;

static void abort_run(const char *why, struct frame *f) {
  puts("escape64: ABORT ");
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
  poweroff(0x11);
}

/* Back to attempt_resume at CPL 0 on the kernel stack run_attempt saved. */
static void resume_kernel(struct frame *f) {
  attempt_active = 0;
  f->rip = (u64)attempt_resume;
  f->cs = KERNEL_CS;
  f->ss = KERNEL_DS;
  f->rsp = attempt_rsp;
  f->rflags = 0x2;
}

void trap(struct frame *f) {
  if (in_trap) {
    if (in_trap > 1) poweroff(0x11);
    in_trap = 2;
    abort_run("fault in the trap handler", f);
  }
  in_trap = 1;
  if (f->vector == 0x43) {
    /* ist-region's interrupt: nothing to do */
  } else if (f->vector >= 0x20 && f->vector < 0x30) {
    if (f->vector == 0x2F) outb(0x20, 0x20);
  } else if (f->vector == 0x80 && attempt_active) {
    back_from_user = 1;
    frame_ss_addr = (u64)&f->ss;
    resume_kernel(f);
  } else if (attempt_active) {
    fault_hit = 1;
    fault_vec = (u32)f->vector;
    fault_err = f->err;
    fault_cs = f->cs;
    fault_rip = f->rip;
    __asm__ volatile("movq %%cr2, %0" : "=r"(fault_cr2));
    resume_kernel(f);
  } else {
    abort_run("unexpected exception", f);
  }
  in_trap = 0;
}

/* ---- main ---------------------------------------------------------------------------------- */

extern void run_attempt(void (*fn)(void));

static void run_one(int i) {
  cur_index = (u32)i;
  out_clear();
  fault_hit = 0;
  back_from_user = 0;
  restore();
  run_attempt(attempts[i].fn);
  restore();
  if (fault_hit) {
    out_clear();
    out_str("fault=");
    char d[4] = { 0, 0, 0, 0 };
    if (fault_vec >= 10) { d[0] = (char)('0' + fault_vec / 10); d[1] = (char)('0' + fault_vec % 10); }
    else d[0] = (char)('0' + fault_vec);
    out_str(d);
    out_str(" err=");
    out_hex(fault_err & 0xFFFF, 4);
    out_str(" cs=");
    out_hex(fault_cs & 0xFFFF, 4);
    if (fault_vec == 14) { out_str(" cr2="); out_hex(fault_cr2, 16); }
  } else if (attempts[i].after) {
    attempts[i].after();
  }
  puts("ESC ");
  puts(attempts[i].name);
  putc(' ');
  puts(outcome);
  putc('\n');
}

struct mbi {
  u32 flags, mem_lower, mem_upper, boot_device, cmdline;
};

static void cmdline_attempt(const char *cmd, char *buf, u32 size) {
  for (const char *p = cmd; *p; p++) {
    const char *k = "attempt=";
    const char *q = p;
    while (*k && *q == *k) { q++; k++; }
    if (*k) continue;
    u32 n = 0;
    while (*q && *q != ' ' && n + 1 < size) buf[n++] = *q++;
    buf[n] = 0;
    return;
  }
}

void kmain(u32 mbi_addr) {
  const struct mbi *mbi = (const struct mbi *)(u64)mbi_addr;
  serial_init();
  pic_init();
  ram_top = ((u64)mbi->mem_upper + 1024) * 1024;
  ram_top &= ~0x1FFFFFul;   /* 2 MiB pages map from here */
  char name[40] = "all";
  if (mbi->flags & 4) cmdline_attempt((const char *)(u64)mbi->cmdline, name, sizeof(name));
  puts("vmm86 escape64 guest\n");
  puts("escape64: guest RAM top ");
  puthex(ram_top, 8);
  puts(", attempt=");
  puts(name);
  puts("\n");
  restore();
  if (streq(name, "list")) {
    for (int i = 0; i < NATTEMPTS; i++) { puts("ATTEMPT "); puts(attempts[i].name); putc('\n'); }
  } else if (streq(name, "all")) {
    for (int i = 0; i < NATTEMPTS; i++) run_one(i);
  } else {
    int found = 0;
    for (int i = 0; i < NATTEMPTS; i++) if (streq(name, attempts[i].name)) { run_one(i); found = 1; }
    if (!found) { puts("ESC "); puts(name); puts(" unknown-attempt\n"); poweroff(0x11); }
  }
  puts("escape64: done\n");
  poweroff(0x10);
}
