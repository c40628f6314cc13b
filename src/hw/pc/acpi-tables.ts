// The ACPI 1.0 tables of the PC, in a 64 KiB ROM at 0xF0000 where an OS looks for the RSDP
// (ACPI 1.0b §5.2.2: a 16-byte-aligned "RSD PTR " in 0xE0000–0xFFFFF). They describe just
// what the platform has: no PCI, the PM1 event/control blocks and PM timer of pm-block.ts,
// SCI on IRQ 9, a DSDT whose only object is \_S5 so the OS can power the machine off
// (SLP_TYP 5), and on models with a local APIC a MADT (ACPI 1.0b §5.2.8: "APIC") naming it,
// the I/O APIC, and the interrupt source overrides a PC has (IRQ 0 on GSI 2; the SCI level-
// triggered). FADT.SMI_CMD = 0: the platform is always in ACPI mode.
//
//   0xF0000 RSDP (20)   0xF0020 RSDT (40, or 44 with the MADT)   0xF0060 FADT (116)
//   0xF0100 FACS (64)   0xF0140 DSDT (50)   0xF0200 MADT (74)

export const ACPI_ROM_BASE = 0xf0000;
export const ACPI_ROM_SIZE = 0x10000;
export const SCI_IRQ = 9;

const RSDP = 0x00, RSDT = 0x20, FADT = 0x60, FACS = 0x100, DSDT = 0x140, MADT = 0x200;
/** Where the MADT says the APICs are. */
export const MADT_LOCAL_APIC = 0xfee0_0000, MADT_IO_APIC = 0xfec0_0000, MADT_IO_APIC_ID = 1;

/** AML for `Name (_S5_, Package (4) { 5, 5, 0, 0 })` (ACPI 1.0b §16: NameOp, PackageOp). */
const S5_AML = [0x08, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00];

class Writer {
  readonly bytes = new Uint8Array(ACPI_ROM_SIZE);
  u8(at: number, v: number): void { this.bytes[at] = v & 0xff; }
  u16(at: number, v: number): void { this.u8(at, v); this.u8(at + 1, v >>> 8); }
  u32(at: number, v: number): void { this.u16(at, v); this.u16(at + 2, v >>> 16); }
  text(at: number, s: string): void { for (let k = 0; k < s.length; k++) this.u8(at + k, s.charCodeAt(k)); }
  /** Set the byte at `sumAt` so that bytes [at, at + len) add up to 0 mod 256. */
  checksum(at: number, len: number, sumAt: number): void {
    let sum = 0;
    for (let k = 0; k < len; k++) sum += this.bytes[at + k];
    this.u8(sumAt, -sum);
  }
  /** The 36-byte system description table header (§5.2.5). */
  header(at: number, sig: string, length: number, revision: number): void {
    this.text(at, sig);
    this.u32(at + 4, length);
    this.u8(at + 8, revision);
    this.text(at + 10, "VMM86 ");
    this.text(at + 16, "VMM86PC ");
    this.u32(at + 24, 1);
    this.text(at + 28, "VMMT");
    this.u32(at + 32, 1);
  }
}

/**
 * The ROM image holding the tables; `pmBase` is the I/O port of the PM1 event block, `apic`
 * adds the MADT (the machine has a local APIC and an I/O APIC).
 */
export function buildAcpiRom(pmBase: number, apic = false): Uint8Array {
  const w = new Writer();
  const base = ACPI_ROM_BASE;
  // RSDP (§5.2.4.3), revision 0.
  w.text(RSDP, "RSD PTR ");
  w.text(RSDP + 9, "VMM86 ");
  w.u8(RSDP + 15, 0);
  w.u32(RSDP + 16, base + RSDT);
  w.checksum(RSDP, 20, RSDP + 8);
  // RSDT (§5.2.6): the FADT, and the MADT where there are APICs.
  const rsdtLen = apic ? 44 : 40;
  w.header(RSDT, "RSDT", rsdtLen, 1);
  w.u32(RSDT + 36, base + FADT);
  if (apic) w.u32(RSDT + 40, base + MADT);
  w.checksum(RSDT, rsdtLen, RSDT + 9);
  if (apic) {
    // MADT: local APIC address, PCAT_COMPAT (8259s present), then the structures.
    const len = 44 + 8 + 12 + 10 + 10;
    w.header(MADT, "APIC", len, 1);
    w.u32(MADT + 36, MADT_LOCAL_APIC);
    w.u32(MADT + 40, 1);
    let at = MADT + 44;
    // Processor local APIC: ACPI processor 0, APIC ID 0, enabled.
    w.u8(at, 0); w.u8(at + 1, 8); w.u8(at + 2, 0); w.u8(at + 3, 0); w.u32(at + 4, 1); at += 8;
    // I/O APIC: ID 1 at 0xFEC00000, GSIs from 0.
    w.u8(at, 1); w.u8(at + 1, 12); w.u8(at + 2, MADT_IO_APIC_ID); w.u8(at + 3, 0); w.u32(at + 4, MADT_IO_APIC); w.u32(at + 8, 0); at += 12;
    // Interrupt source overrides: ISA IRQ 0 → GSI 2 (conforming); IRQ 9 (SCI) → GSI 9,
    // active high, level-triggered (flags: polarity 01, trigger 11).
    w.u8(at, 2); w.u8(at + 1, 10); w.u8(at + 2, 0); w.u8(at + 3, 0); w.u32(at + 4, 2); w.u16(at + 8, 0); at += 10;
    w.u8(at, 2); w.u8(at + 1, 10); w.u8(at + 2, 0); w.u8(at + 3, SCI_IRQ); w.u32(at + 4, SCI_IRQ); w.u16(at + 8, 0x000d);
    w.checksum(MADT, len, MADT + 9);
  }
  // FADT (§5.2.8), revision 1, 116 bytes.
  w.header(FADT, "FACP", 116, 1);
  w.u32(FADT + 36, base + FACS);
  w.u32(FADT + 40, base + DSDT);
  w.u16(FADT + 46, SCI_IRQ);
  w.u32(FADT + 48, 0); // SMI_CMD: none, always in ACPI mode
  w.u32(FADT + 56, pmBase); // PM1a_EVT_BLK
  w.u32(FADT + 64, pmBase + 4); // PM1a_CNT_BLK
  w.u32(FADT + 76, pmBase + 8); // PM_TMR_BLK
  w.u8(FADT + 88, 4); // PM1_EVT_LEN
  w.u8(FADT + 89, 2); // PM1_CNT_LEN
  w.u8(FADT + 91, 4); // PM_TMR_LEN
  w.u16(FADT + 96, 101); // P_LVL2_LAT > 100: no C2
  w.u16(FADT + 98, 1001); // P_LVL3_LAT > 1000: no C3
  // Flags: WBINVD, PROC_C1 (HLT), PWR_BUTTON and SLP_BUTTON absent as fixed features.
  w.u32(FADT + 112, (1 << 0) | (1 << 2) | (1 << 4) | (1 << 5));
  w.checksum(FADT, 116, FADT + 9);
  // FACS (§5.2.9): no checksum; the OS writes the waking vector and global lock (ignored).
  w.text(FACS, "FACS");
  w.u32(FACS + 4, 64);
  // DSDT (§5.2.10.1) with \_S5.
  w.header(DSDT, "DSDT", 36 + S5_AML.length, 1);
  w.bytes.set(S5_AML, DSDT + 36);
  w.checksum(DSDT, 36 + S5_AML.length, DSDT + 9);
  return w.bytes;
}
