# vmm86 micro-benchmark guest: the ring-0 benchmark loops, in assembly so that the
# instructions per operation are exactly what is written here (the tests count them).
#include "microbench.h"

        .text

# void k_in(u32 n): n reads of port 0x61 (system control port B). 3 instructions/op.
        .globl k_in
k_in:
        movl 4(%esp), %ecx
1:      inb $0x61, %al
        decl %ecx
        jnz 1b
        ret

# void k_cr3(u32 pairs, u32 pd_a, u32 pd_b): 2 * pairs CR3 loads, alternating between
# two page directories that map the same things. 2 instructions/op.
        .globl k_cr3
k_cr3:
        movl 4(%esp), %ecx
        movl 8(%esp), %eax
        movl 12(%esp), %edx
1:      movl %edx, %cr3
        movl %eax, %cr3
        decl %ecx
        jnz 1b
        ret

# void k_callret(u32 n): n near calls to a function that only returns. 4 instructions/op.
        .globl k_callret
k_callret:
        movl 4(%esp), %ecx
1:      call 2f
        decl %ecx
        jnz 1b
        ret
2:      ret

# u32 k_ptemod(u32 n, u32 *pte, u32 va, u32 pte_a, u32 pte_b): n times: store the other
# value into the PTE, INVLPG the page, read a word through the new mapping (so the
# change must take effect). Returns the sum of the words read. 6 instructions/op.
        .globl k_ptemod
k_ptemod:
        pushl %ebx
        pushl %esi
        pushl %edi
        movl 16(%esp), %ecx
        movl 20(%esp), %ebx
        movl 24(%esp), %edx
        movl 28(%esp), %esi
        movl 32(%esp), %edi
        xorl %eax, %eax
1:      movl %esi, (%ebx)
        invlpg (%edx)
        addl (%edx), %eax
        xchgl %esi, %edi
        decl %ecx
        jnz 1b
        popl %edi
        popl %esi
        popl %ebx
        ret

        .section .note.GNU-stack, "", @progbits
