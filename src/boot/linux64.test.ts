// The 64-bit Linux boot protocol loader (linux64.ts) on a synthetic x86-64 bzImage built here
// (a setup header with XLF_KERNEL_64, a stub protected-mode kernel and a small ELF64 vmlinux
// compressed with the host's xz or gzip): the identity page tables walked entry by entry, the
// boot_params fields at boot.rst's offsets, the load address (pref_address, kernel_alignment),
// the 64-bit entry state, and the images it refuses. The Debian amd64 kernel itself is checked
// in test/linux/linux64.test.ts.

import { test } from "node:test";
import assert from "node:assert/strict";
import { BootError } from "./errors.js";
import { ENTRY64_OFFSET, PAGE_TABLES, identityPageTables, loadLinux64, loadLinux64WithPlacement } from "./linux64.js";
import { CAN_USE_HEAP, LOADED_HIGH } from "./linux.js";
import { pcE820Map } from "./memory.js";
import { haveTool, makeElf, makeElf64, prng, TestRam, compressKernel } from "../../test/support/boot-testing.js";

const skip = haveTool("xz") ? false : "the xz tool is not installed";
const RAM = 48 << 20;
const PREF = 0x1000000, ALIGN = 0x200000, INIT_SIZE = 0x600000;
const KERNEL_VIRT = 0xffff_ffff_8000_0000n;
const TEXT = prng(6000, 7), DATA = prng(3000, 8);
const CMDLINE = "console=ttyS0 earlyprintk=ttyS0";

/** An x86-64 vmlinux as Linux links it: virtual 0xFFFFFFFF81000000…, physical from PREF,
 * e_entry physical (phys_startup_64) unless `entry` says otherwise. */
function vmlinux64(entry: bigint = BigInt(PREF)): Uint8Array {
  return makeElf64(entry, [
    { paddr: PREF, vaddr: KERNEL_VIRT + BigInt(PREF), data: TEXT },
    { paddr: PREF + 0x2000, vaddr: KERNEL_VIRT + BigInt(PREF + 0x2000), data: DATA, memsz: 0x5000 },
  ]);
}

const compress = compressKernel;

interface ImageOpts { xloadflags?: number; pref?: number; relocatable?: boolean; payload?: Uint8Array }

/** An x86-64 bzImage: 4 setup sectors (+ boot sector), then a protected-mode part whose byte at
 * +0x200 marks the 64-bit entry, then the payload. */
function bzImage64(o: ImageOpts = {}): Uint8Array {
  const payload = o.payload ?? compress("xz", vmlinux64());
  const pmOffset = 5 * 512, payloadOffset = 0x400;
  const pm = new Uint8Array(payloadOffset + payload.length);
  pm.set([0xfc, 0xfa, 0xf4]);               // startup_32: cld; cli; hlt
  pm.set([0x48, 0x31, 0xc0, 0xf4], ENTRY64_OFFSET); // startup_64: xor rax, rax; hlt
  pm.set(payload, payloadOffset);
  const img = new Uint8Array(pmOffset + pm.length);
  const v = new DataView(img.buffer);
  img[0x1f1] = 4;
  v.setUint32(0x1f4, Math.ceil(pm.length / 16), true);
  v.setUint16(0x1fe, 0xaa55, true);
  img[0x200] = 0xeb;
  img[0x201] = 0x6a;
  v.setUint32(0x202, 0x53726448, true);
  v.setUint16(0x206, 0x020f, true);
  img[0x211] = LOADED_HIGH;
  v.setUint32(0x214, 0x100000, true);
  v.setUint32(0x22c, 0x7fffffff, true);
  v.setUint32(0x230, ALIGN, true);
  img[0x234] = o.relocatable === false ? 0 : 1;
  img[0x235] = 21;
  v.setUint16(0x236, o.xloadflags ?? 0x7f, true);
  v.setUint32(0x238, 0x7ff, true);
  v.setUint32(0x248, payloadOffset, true);
  v.setUint32(0x24c, payload.length, true);
  v.setUint32(0x258, o.pref ?? PREF, true);
  v.setUint32(0x260, INIT_SIZE, true);
  img.set(pm, pmOffset);
  return img;
}

function expectCode(fn: () => unknown, code: string, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof BootError && e.code === code && (!re || re.test(e.message)),
    `expected ${code}${re ? " " + re : ""}`);
}

/**
 * A 4-level walk (SDM vol. 3 §4.5) of the tables in `ram` from `cr3`: the physical address
 * `lin` maps to and the leaf's flags, or null if a level is not present.
 */
function walk(ram: TestRam, cr3: number, lin: number): { phys: number; flags: number; size: number } | null {
  const idx = (shift: number): number => Math.floor(lin / 2 ** shift) % 512;
  const addr = (e: number): number => e - (e % 0x1000) - Math.floor(e / 2 ** 52) * 2 ** 52;
  let table = cr3;
  for (const [shift, leafOk] of [[39, false], [30, true], [21, true], [12, true]] as [number, boolean][]) {
    const e = ram.u64(table + idx(shift) * 8);
    if ((e & 1) === 0) return null;
    if (shift === 12 || (leafOk && (e & 0x80) !== 0)) {
      const size = 2 ** shift;
      const base = addr(e) - (addr(e) % size);
      return { phys: base + (lin % size), flags: e % 0x1000, size };
    }
    table = addr(e);
  }
  return null;
}

test("identityPageTables: PML4 → PDPT → 4 PDs of 2 MiB pages map 0–4 GiB 1:1, present and writable", () => {
  const ram = new TestRam(1 << 20);
  const { bytes, mapped } = identityPageTables(PAGE_TABLES, 128 << 20);
  assert.equal(mapped, 4 * 2 ** 30);
  assert.equal(bytes.length, 6 * 4096); // PML4, PDPT, 4 PDs
  ram.write(PAGE_TABLES, bytes);
  // Every 2 MiB page of the first 4 GiB, by walking the tables as the MMU does.
  for (let lin = 0; lin < 2 ** 32; lin += 0x20_0000) {
    const w = walk(ram, PAGE_TABLES, lin + 0x1234);
    assert.ok(w !== null, `0x${lin.toString(16)} is not mapped`);
    assert.equal(w.phys, lin + 0x1234);
    assert.equal(w.size, 0x20_0000);
    assert.equal(w.flags & 0x83, 0x83, "P, R/W, PS");
    assert.equal(w.flags & 0x04, 0, "supervisor only");
  }
  // Nothing above 4 GiB, nothing in the other PML4 slots (no high kernel mapping: the kernel
  // builds its own).
  assert.equal(walk(ram, PAGE_TABLES, 2 ** 32), null);
  for (let k = 1; k < 512; k++) assert.equal(ram.u64(PAGE_TABLES + k * 8), 0);
  // More RAM than 4 GiB: the map grows to cover it, 1 GiB per page directory.
  const big = identityPageTables(PAGE_TABLES, 6 * 2 ** 30 + 1);
  assert.equal(big.mapped, 7 * 2 ** 30);
  assert.equal(big.bytes.length, 9 * 4096);
});

test("64-bit protocol (bzimage64): kernel at pref_address, entry at +0x200 in long mode with RSI = boot_params", { skip }, () => {
  const img = bzImage64();
  const ram = new TestRam(RAM);
  const initrd = prng(200_000, 9);
  const e820 = pcE820Map(RAM);
  const { entry, placement } = loadLinux64WithPlacement(ram, img, { cmdline: CMDLINE, e820, initrd, entry: "bzimage64" });
  const bp = 0x10000;
  assert.deepEqual(entry, { eip: PREF + 0x200, regs: { esi: bp, ebp: 0, edi: 0, ebx: 0 }, mode: "long64", cr3: PAGE_TABLES });
  assert.deepEqual(placement.kernel, { start: PREF, end: PREF + INIT_SIZE });
  assert.deepEqual(placement.pageTables, { pml4: PAGE_TABLES, end: PAGE_TABLES + 6 * 4096 });
  assert.equal(placement.identityMapped, 2 ** 32);
  // The protected-mode part is at the load address, its 64-bit entry 0x200 in.
  assert.deepEqual([...ram.bytes.subarray(PREF, PREF + 3)], [0xfc, 0xfa, 0xf4]);
  assert.deepEqual([...ram.bytes.subarray(PREF + 0x200, PREF + 0x204)], [0x48, 0x31, 0xc0, 0xf4]);
  // The entry point, boot_params, the command line, the kernel and the initrd are mapped 1:1.
  for (const a of [entry.eip, bp, 0x20000, PREF + INIT_SIZE - 1, placement.initrd!.start, RAM - 1]) {
    assert.equal(walk(ram, PAGE_TABLES, a)?.phys, a);
  }
  // boot_params: the header copied (xloadflags too), loader fields, E820, initrd, cmdline.
  assert.equal(ram.u32(bp + 0x202), 0x53726448);
  assert.equal(ram.u16(bp + 0x236), 0x7f);                  // xloadflags
  assert.equal(ram.u32(bp + 0x258), PREF);                  // pref_address
  assert.equal(ram.u32(bp + 0x230), ALIGN);                 // kernel_alignment
  assert.equal(ram.u8(bp + 0x1ef), 0);                      // sentinel
  assert.equal(ram.u8(bp + 0x210), 0xff);                   // type_of_loader
  assert.equal(ram.u8(bp + 0x211), LOADED_HIGH | CAN_USE_HEAP);
  assert.equal(ram.u32(bp + 0x228), 0x20000);               // cmd_line_ptr
  assert.equal(ram.u32(bp + 0xc8), 0);                      // ext_cmd_line_ptr
  assert.equal(ram.cstr(0x20000), CMDLINE);
  const rd = ram.u32(bp + 0x218);
  assert.equal(rd, placement.initrd!.start);
  assert.equal(ram.u32(bp + 0x21c), initrd.length);
  assert.equal(ram.u32(bp + 0xc0), 0);                      // ext_ramdisk_image
  assert.equal(rd % 4096, 0);
  assert.ok(rd >= PREF + INIT_SIZE && rd + initrd.length <= RAM);
  assert.equal(Buffer.compare(Buffer.from(ram.bytes.subarray(rd, rd + initrd.length)), Buffer.from(initrd)), 0);
  assert.equal(ram.u8(bp + 0x1e8), e820.length);
  e820.forEach((e, i) => {
    const o = bp + 0x2d0 + i * 20;
    assert.deepEqual([ram.u64(o), ram.u64(o + 8), ram.u32(o + 16)], [e.base, e.length, e.type]);
  });
});

test("64-bit protocol: a relocatable kernel's pref_address is rounded up to kernel_alignment", { skip }, () => {
  const ram = new TestRam(RAM);
  const e = loadLinux64(ram, bzImage64({ pref: 0x1100000 }), { cmdline: "", e820: pcE820Map(RAM), entry: "bzimage64" });
  assert.equal(e.eip, 0x1200000 + 0x200);
  assert.deepEqual([...ram.bytes.subarray(0x1200200, 0x1200204)], [0x48, 0x31, 0xc0, 0xf4]);
  // Not relocatable: exactly at pref_address.
  const ram2 = new TestRam(RAM);
  const e2 = loadLinux64(ram2, bzImage64({ pref: 0x1100000, relocatable: false }), { cmdline: "", e820: pcE820Map(RAM), entry: "bzimage64" });
  assert.equal(e2.eip, 0x1100000 + 0x200);
});

for (const kind of ["xz", "gzip"] as const) {
  test(`direct 64-bit entry (${kind}): the ELF64 vmlinux at p_paddr, bss zeroed, RIP = phys_startup_64`, { skip }, () => {
    const img = bzImage64({ payload: compress(kind, vmlinux64()) });
    const ram = new TestRam(RAM);
    ram.bytes.fill(0xcc, PREF + 0x2000, PREF + 0x7000);
    const { entry, placement } = loadLinux64WithPlacement(ram, img, { cmdline: CMDLINE, e820: pcE820Map(RAM), entry: "direct" });
    assert.deepEqual(entry, { eip: PREF, regs: { esi: 0x10000, ebp: 0, edi: 0, ebx: 0 }, mode: "long64", cr3: PAGE_TABLES });
    assert.equal(Buffer.compare(Buffer.from(ram.bytes.subarray(PREF, PREF + TEXT.length)), Buffer.from(TEXT)), 0);
    assert.equal(Buffer.compare(Buffer.from(ram.bytes.subarray(PREF + 0x2000, PREF + 0x2000 + DATA.length)), Buffer.from(DATA)), 0);
    assert.ok(ram.bytes.subarray(PREF + 0x2000 + DATA.length, PREF + 0x7000).every((b) => b === 0));
    assert.deepEqual(placement.kernel, { start: PREF, end: PREF + INIT_SIZE });
    assert.equal(walk(ram, PAGE_TABLES, PREF)?.phys, PREF);
    assert.equal(ram.cstr(ram.u32(0x10000 + 0x228)), CMDLINE);
  });
}

test("direct 64-bit entry: a virtual e_entry is translated through its segment", { skip }, () => {
  const img = bzImage64({ payload: compress("xz", vmlinux64(KERNEL_VIRT + BigInt(PREF + 0x10))) });
  const e = loadLinux64(new TestRam(RAM), img, { cmdline: "", e820: pcE820Map(RAM), entry: "direct" });
  assert.equal(e.eip, PREF + 0x10);
});

test("the 64-bit loader refuses 32-bit images and bad payloads with stable codes", { skip }, () => {
  const ram = new TestRam(RAM);
  const opts = { cmdline: "", e820: pcE820Map(RAM) };
  for (const entry of ["direct", "bzimage64"] as const) {
    expectCode(() => loadLinux64(ram, bzImage64({ xloadflags: 0 }), { ...opts, entry }), "E_IMAGE_NO_64BIT_ENTRY", /XLF_KERNEL_64/);
  }
  const elf32 = compress("xz", makeElf(PREF, [{ paddr: PREF, data: TEXT }]));
  expectCode(() => loadLinux64(ram, bzImage64({ payload: elf32 }), { ...opts, entry: "direct" }), "E_ELF", /32-bit ELF/);
  const i386 = compress("xz", makeElf64(BigInt(PREF), [{ paddr: PREF, vaddr: BigInt(PREF), data: TEXT }], { machine: 3 }));
  expectCode(() => loadLinux64(ram, bzImage64({ payload: i386 }), { ...opts, entry: "direct" }), "E_ELF", /EM_X86_64/);
  const low = compress("xz", makeElf64(0x100000n, [{ paddr: 0x100000, vaddr: 0x100000n, data: TEXT }]));
  expectCode(() => loadLinux64(ram, bzImage64({ payload: low }), { ...opts, entry: "direct" }), "E_ELF", /LOAD_PHYSICAL_ADDR/);
  const nowhere = compress("xz", vmlinux64(0x5000n));
  expectCode(() => loadLinux64(ram, bzImage64({ payload: nowhere }), { ...opts, entry: "direct" }), "E_ELF", /e_entry .* no loadable segment/);
  const small = new TestRam(20 << 20);
  expectCode(() => loadLinux64(small, bzImage64(), { cmdline: "", e820: pcE820Map(20 << 20), entry: "bzimage64" }), "E_NO_ROOM", /at least/);
  expectCode(() => loadLinux64(ram, bzImage64(), { ...opts, cmdline: "x".repeat(0x800), entry: "direct" }), "E_CMDLINE_TOO_LONG");
});
