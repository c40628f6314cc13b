// AMD's long-mode segment limit enable (EFER.LMSLE, bit 13; AMD APM vol. 2 §4.12.2 "Data
// Limit Checks in 64-bit Mode"), on the parts that had it (`features.lmsle`: K8 revision D/E
// to Zen 2; docs/long-mode.md). With it set, data accesses in 64-bit mode at CPL > 0 through
// DS, ES, FS or SS are checked against the segment's 32-bit limit, which marks the highest
// address software may reach in the top 4 GB of the linear address space: above
// 0xFFFF_FFFF_0000_0000 + limit the access faults, #SS(0) through SS and #GP(0) otherwise.
// GS and code fetches are never checked, nor is anything at CPL 0, nor addresses below the
// top 4 GB. This is the hardware a VMware-style monitor hid behind at the top of the address
// space. The APM leaves null and expand-down segments undefined; the model does not check
// through a null selector and treats expand-down segments like the others.

import type { Cpu } from "./cpu.js";
import { SegReg } from "./segment.js";

const TOP_4G = -0x1_0000_0000;

/** Fault if the `size`-byte data access at canonical `lin` through `seg` passes the limit. */
export function lmsleCheck(cpu: Cpu, seg: number, lin: number, size: number): void {
  if (seg === SegReg.GS || seg === SegReg.CS || lin < TOP_4G || lin >= 0) return;
  const s = cpu.segs[seg];
  if (!s.valid) return;
  const off = lin - TOP_4G; // the address's place in the top 4 GB
  if (off + size - 1 > s.limit) cpu.segFault(seg);
}
