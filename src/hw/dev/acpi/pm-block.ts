// ACPI fixed-hardware power management registers (ACPI 1.0b §4.7.3, §4.7.3.3; the layout of
// the PIIX4 PM function): the PM1 event block (status, enable), the PM1 control block
// (SCI_EN, SLP_TYP, SLP_EN) and the PM timer, a free-running 24-bit counter at
// 3.579545 MHz derived from virtual time.
//
//   offset 0  PM1a_STS  (16)   bit 0 TMR_STS, bit 8 PWRBTN_STS, bit 15 WAK_STS (write 1 to clear)
//   offset 2  PM1a_EN   (16)
//   offset 4  PM1a_CNT  (16)   bit 0 SCI_EN, bits 12:10 SLP_TYP, bit 13 SLP_EN
//   offset 8  PM_TMR    (32)   bits 23:0 the count
//
// Writing SLP_EN with SLP_TYP = 5 (the value the DSDT's \_S5 package names) enters S5:
// soft off, which the machine turns into a power-off.

import type { PortDevice, Snapshot } from "../device.js";

export const PM_TIMER_HZ = 3_579_545;
export const SLP_TYP_S5 = 5;
const SLP_EN = 1 << 13;
const SCI_EN = 1;

export interface PmBlockState { sts: number; en: number; cnt: number }

export class PmBlock implements PortDevice, Snapshot<PmBlockState> {
  private sts = 0;
  private en = 0;
  /** SCI_EN reads as set: the platform is always in ACPI mode (FADT.SMI_CMD = 0). */
  private cnt = SCI_EN;

  constructor(private readonly onSoftOff: () => void) {}

  read(offset: number, now: number): number {
    const word = (v: number): number => (offset & 1 ? v >>> 8 : v) & 0xff;
    if (offset < 2) return word(this.sts);
    if (offset < 4) return word(this.en);
    if (offset < 6) return word(this.cnt);
    if (offset >= 8 && offset < 12) {
      const count = Math.floor((now * PM_TIMER_HZ) / 1e9) % 0x100_0000;
      return (count >>> ((offset - 8) * 8)) & 0xff;
    }
    return 0xff;
  }

  write(offset: number, value: number): void {
    value &= 0xff;
    const shift = (offset & 1) * 8;
    if (offset < 2) {
      this.sts &= ~(value << shift); // write 1 to clear
    } else if (offset < 4) {
      this.en = (this.en & ~(0xff << shift)) | (value << shift);
    } else if (offset < 6) {
      this.cnt = ((this.cnt & ~(0xff << shift)) | (value << shift) | SCI_EN) & ~SLP_EN;
      // SLP_EN lives in the high byte: acting on it when that byte is written covers both
      // 16-bit writes (low byte first) and byte writes.
      if (offset === 5 && (value << 8) & SLP_EN && ((this.cnt >>> 10) & 7) === SLP_TYP_S5) this.onSoftOff();
    }
  }

  save(): PmBlockState {
    return { sts: this.sts, en: this.en, cnt: this.cnt };
  }

  restore(s: PmBlockState): void {
    this.sts = s.sts;
    this.en = s.en;
    this.cnt = s.cnt;
  }
}
