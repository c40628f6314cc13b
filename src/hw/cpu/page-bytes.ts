// The code bytes of one physical page, for decoding ahead of execution: the block compiler
// reads a block's instructions through it, and the trap-and-emulate monitor looks a few
// instructions ahead of the guest (vmm/monitor.ts `trapSoon`). Nothing guest-visible
// happens: no translation, no A bit, no fault.

import type { Cpu } from "./cpu.js";
import type { ByteSource, DecodeFaults } from "./decoder.js";
import { DOUBLE_FIELD } from "../double-field.js";

/** What PageBytes throws (as this value) at the page's end or at an instruction it cannot decode. */
export const PAGE_END: unknown = { pageEnd: true };

export class PageBytes implements ByteSource, DecodeFaults {
  cpu!: Cpu;
  /** Physical address of the page, and the EIP whose byte is at `pageOff`. */
  pageBase = 0;
  /** A double from the start (double-field.ts): a kernel's EIPs are above 2^31. */
  eip0 = DOUBLE_FIELD;
  pageOff = 0;

  fetchCodeByte(offset: number): number {
    const o = this.pageOff + (offset - this.eip0);
    if (o >= 4096) throw PAGE_END;
    return this.cpu.mem.read8(this.pageBase + o);
  }
  gp(): never { throw PAGE_END; }
  ud(): never { throw PAGE_END; }
}
