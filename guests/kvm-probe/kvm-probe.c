/*
 * kvm-probe: a KVM user — the smallest one — for a Linux guest of vmm86 (docs/kvm-in-guest.md).
 *
 * It opens /dev/kvm, creates a VM with one page of guest memory holding a few real-mode
 * instructions, creates a vCPU, runs it with KVM_RUN until it halts, and prints every exit.
 * The guest code (at guest-physical 0x1000, CS:IP = 0000:1000):
 *
 *     1000  b0 4b        mov al, 'K'
 *     1002  e6 10        out 0x10, al        ; KVM_EXIT_IO, out, port 0x10, 'K'
 *     1004  fe c0        inc al
 *     1006  a2 00 05     mov [0x500], al     ; an ordinary write into guest memory
 *     1009  e6 10        out 0x10, al        ; KVM_EXIT_IO, out, port 0x10, 'L'
 *     100b  f4           hlt                 ; KVM_EXIT_HLT, RIP 100c
 *
 * The last line is "kvm-probe: PASS" if the exits, the final RIP and RAX, and the byte the
 * guest wrote are all as expected, else "kvm-probe: FAIL <why>"; the exit status says the same.
 *
 * The interface is the KVM API (Documentation/virt/kvm/api.rst in the kernel: 4.1
 * KVM_GET_API_VERSION, 4.2 KVM_CREATE_VM, 4.7 KVM_CREATE_VCPU, 4.35 KVM_SET_USER_MEMORY_REGION,
 * 4.48 KVM_SET_TSS_ADDR, 4.11/4.12 KVM_GET/SET_REGS, 4.13/4.14 KVM_GET/SET_SREGS, 4.10 KVM_RUN, 5 the kvm_run
 * structure), with the structures and ioctl numbers of <linux/kvm.h>. No C library: the
 * program makes its system calls itself (x86-64 `syscall`, or i386 `int 0x80`), so the one
 * static binary has no dependencies in the busybox initramfs. Build: build.sh.
 */
#include <linux/kvm.h>

typedef unsigned long ulong;

#if defined(__x86_64__)
enum { SYS_write = 1, SYS_open = 2, SYS_close = 3, SYS_mmap = 9, SYS_ioctl = 16, SYS_exit = 60 };
static long sys6(long n, long a, long b, long c, long d, long e, long f) {
  register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
  return ret;
}
#define MMAP_OFFSET(off) (off)
#elif defined(__i386__)
enum { SYS_exit = 1, SYS_write = 4, SYS_open = 5, SYS_close = 6, SYS_ioctl = 54, SYS_mmap = 192 /* mmap2: offset in pages */ };
static long sys6(long n, long a, long b, long c, long d, long e, long f) {
  long ret;
  /* ebp carries the sixth argument; it is the frame pointer, so save it around the call. */
  __asm__ volatile("push %%ebp\n\tmov %7, %%ebp\n\tint $0x80\n\tpop %%ebp"
                   : "=a"(ret) : "a"(n), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e), "m"(f) : "memory");
  return ret;
}
#define MMAP_OFFSET(off) ((off) >> 12)
#else
#error "kvm-probe is for x86 (i386 or x86-64)"
#endif

#define O_RDWR 2
#define PROT_READ 1
#define PROT_WRITE 2
#define MAP_SHARED 1
#define MAP_PRIVATE 2
#define MAP_ANONYMOUS 0x20


/* A line being built: text and numbers appended, then printed with its newline. */
static char line[160];
static ulong used;
static void put(const char *s) { while (*s && used < sizeof line - 2) line[used++] = *s++; }
static void hex(unsigned long long v) {
  char b[19]; int n = 0;
  do { b[n++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
  put("0x");
  while (n) { char c[2] = { b[--n], 0 }; put(c); }
}
static void dec(long v) {
  char b[21]; int n = 0;
  if (v < 0) { put("-"); v = -v; }
  do { b[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n) { char c[2] = { b[--n], 0 }; put(c); }
}
static void begin(void) { used = 0; put("kvm-probe: "); }
static void end(void) { line[used++] = '\n'; sys6(SYS_write, 1, (long)line, (long)used, 0, 0, 0); }

static __attribute__((noreturn)) void finish(int ok, const char *why, long err) {
  begin();
  if (ok) put("PASS");
  else { put("FAIL "); put(why); if (err) { put(" (errno "); dec(-err); put(")"); } }
  end();
  sys6(SYS_exit, ok ? 0 : 1, 0, 0, 0, 0, 0);
  for (;;) {}
}

static long ioctl3(long fd, ulong req, long arg) { return sys6(SYS_ioctl, fd, (long)req, arg, 0, 0, 0); }

static const unsigned char code[] = {
  0xb0, 'K',          /* mov al, 'K'   */
  0xe6, 0x10,         /* out 0x10, al  */
  0xfe, 0xc0,         /* inc al        */
  0xa2, 0x00, 0x05,   /* mov [0x500], al */
  0xe6, 0x10,         /* out 0x10, al  */
  0xf4,               /* hlt           */
};
#define CODE_GPA 0x1000
#define MEM_SIZE 0x2000

static struct kvm_sregs sregs;
static struct kvm_regs regs;

void _start_c(void) {
  long kvm = sys6(SYS_open, (long)"/dev/kvm", O_RDWR, 0, 0, 0, 0);
  if (kvm < 0) finish(0, "open /dev/kvm", kvm);
  long api = ioctl3(kvm, KVM_GET_API_VERSION, 0);
  begin(); put("KVM_GET_API_VERSION "); dec(api); end();
  if (api != KVM_API_VERSION) finish(0, "unexpected API version", 0);

  long r, vm = ioctl3(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) finish(0, "KVM_CREATE_VM", vm);
  begin(); put("KVM_CREATE_VM fd "); dec(vm); end();

  /* KVM_SET_TSS_ADDR (api.rst 4.48): "required on Intel-based hosts": without unrestricted
   * guest, VMX runs real mode as virtual-8086 mode and KVM needs three pages of guest-physical
   * space for that TSS. The address is the one QEMU uses; on AMD the call does nothing. */
  r = ioctl3(vm, KVM_SET_TSS_ADDR, 0xfffbd000);
  if (r < 0) finish(0, "KVM_SET_TSS_ADDR", r);

  /* Guest memory: two anonymous pages at guest-physical 0, the code in the second. */
  long mem = sys6(SYS_mmap, 0, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem < 0 && mem > -4096) finish(0, "mmap guest memory", mem);
  unsigned char *m = (unsigned char *)mem;
  for (ulong k = 0; k < sizeof code; k++) m[CODE_GPA + k] = code[k];
  struct kvm_userspace_memory_region region = {
    .slot = 0, .flags = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE, .userspace_addr = (ulong)mem,
  };
  r = ioctl3(vm, KVM_SET_USER_MEMORY_REGION, (long)&region);
  if (r < 0) finish(0, "KVM_SET_USER_MEMORY_REGION", r);

  long vcpu = ioctl3(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) finish(0, "KVM_CREATE_VCPU", vcpu);
  long size = ioctl3(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (size < (long)sizeof(struct kvm_run)) finish(0, "KVM_GET_VCPU_MMAP_SIZE", size < 0 ? size : 0);
  long runp = sys6(SYS_mmap, 0, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, MMAP_OFFSET(0));
  if (runp < 0 && runp > -4096) finish(0, "mmap kvm_run", runp);
  struct kvm_run *run = (struct kvm_run *)runp;
  begin(); put("KVM_CREATE_VCPU fd "); dec(vcpu); put(", kvm_run "); dec(size); put(" bytes"); end();

  /* Real mode at 0000:1000 (the vCPU resets to F000:FFF0; CS base and selector both change). */
  r = ioctl3(vcpu, KVM_GET_SREGS, (long)&sregs);
  if (r < 0) finish(0, "KVM_GET_SREGS", r);
  sregs.cs.base = 0; sregs.cs.selector = 0;
  r = ioctl3(vcpu, KVM_SET_SREGS, (long)&sregs);
  if (r < 0) finish(0, "KVM_SET_SREGS", r);
  for (ulong k = 0; k < sizeof regs; k++) ((char *)&regs)[k] = 0;
  regs.rip = CODE_GPA; regs.rflags = 2;
  r = ioctl3(vcpu, KVM_SET_REGS, (long)&regs);
  if (r < 0) finish(0, "KVM_SET_REGS", r);

  /* Run to HLT, printing each exit; expect OUT 'K', OUT 'L', HLT. */
  static const char expect[] = "KL";
  int outs = 0;
  for (int n = 1; n <= 16; n++) {
    r = ioctl3(vcpu, KVM_RUN, 0);
    if (r < 0) finish(0, "KVM_RUN", r);
    begin(); put("exit "); dec(n); put(": ");
    switch (run->exit_reason) {
    case KVM_EXIT_IO: {
      unsigned char *data = (unsigned char *)run + run->io.data_offset;
      put("KVM_EXIT_IO "); put(run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in");
      put(" port "); hex(run->io.port); put(" size "); dec(run->io.size); put(" data "); hex(data[0]);
      if (data[0] >= 0x20 && data[0] < 0x7f) { char c[4] = { '\'', (char)data[0], '\'', 0 }; put(" "); put(c); }
      end();
      if (run->io.direction != KVM_EXIT_IO_OUT || run->io.port != 0x10 || run->io.size != 1 || outs >= 2 || data[0] != expect[outs])
        finish(0, "unexpected I/O exit", 0);
      outs++;
      break;
    }
    case KVM_EXIT_HLT:
      put("KVM_EXIT_HLT"); end();
      r = ioctl3(vcpu, KVM_GET_REGS, (long)&regs);
      if (r < 0) finish(0, "KVM_GET_REGS", r);
      begin(); put("guest rip "); hex(regs.rip); put(" rax "); hex(regs.rax); put(", byte at 0x500 "); hex(m[0x500]); end();
      if (outs != 2) finish(0, "HLT before both OUTs", 0);
      if (regs.rip != CODE_GPA + sizeof code) finish(0, "guest RIP is not after the HLT", 0);
      if ((regs.rax & 0xff) != 'L' || m[0x500] != 'L') finish(0, "guest AL or memory wrong", 0);
      finish(1, "", 0);
    case KVM_EXIT_FAIL_ENTRY:
      put("KVM_EXIT_FAIL_ENTRY hardware_entry_failure_reason "); hex(run->fail_entry.hardware_entry_failure_reason); end();
      finish(0, "VM entry failed", 0);
    case KVM_EXIT_INTERNAL_ERROR:
      put("KVM_EXIT_INTERNAL_ERROR suberror "); dec(run->internal.suberror);
      for (unsigned k = 0; k < run->internal.ndata && k < 4; k++) { put(" "); hex(run->internal.data[k]); }
      end();
      finish(0, "KVM internal error", 0);
    case KVM_EXIT_SHUTDOWN:
      put("KVM_EXIT_SHUTDOWN"); end();
      finish(0, "guest shut down (triple fault)", 0);
    default:
      put("exit_reason "); dec(run->exit_reason); end();
      finish(0, "unexpected exit", 0);
    }
  }
  finish(0, "no HLT after 16 exits", 0);
}

/* The entry point: align the stack (the ABI's 16 bytes at a call) and call _start_c. */
#if defined(__x86_64__)
__asm__(".globl _start\n_start:\n\txor %ebp, %ebp\n\tand $-16, %rsp\n\tcall _start_c\n\thlt\n");
#else
__asm__(".globl _start\n_start:\n\txor %ebp, %ebp\n\tand $-16, %esp\n\tcall _start_c\n\thlt\n");
#endif
