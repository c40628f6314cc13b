// The bits of a TLB entry of the 32-bit TLB (cpu.ts `tlb`): the low 12 bits of each entry;
// the high 20 are the frame. Shared by the CPU's access paths and the block compiler's
// inline fast paths (jit/lower.ts).

export const TLB_VALID = 1, TLB_USER = 2, TLB_USER_W = 4, TLB_SUP_W = 8, TLB_DIRTY = 16, TLB_GLOBAL = 32;
/** The frame is ordinary RAM: accesses may index `mem.ram` directly. */
export const TLB_RAM = 64;
/** Execute-disable (PAE paging with EFER.NXE): instruction fetches fault. */
export const TLB_NOEXEC = 128;
