// #AC (SDM vol. 3 §6.15 "Interrupt 17—Alignment Check Exception"): raised for a misaligned
// data access at CPL 3 when CR0.AM and EFLAGS.AC are both set; error code 0; a fault (the
// saved EIP is the faulting instruction). Not raised at CPL 0, nor without AM or AC.

import { test } from "node:test";
import assert from "node:assert/strict";
import { FlatMachine } from "../../../test/support/flat-machine.js";
import { CR0_AM } from "./cpu.js";

// pushfd; or dword [esp],0x40000 (AC); popfd; mov eax,[0x20001]; int3
const CODE = [0x9c, 0x81, 0x0c, 0x24, 0, 0, 4, 0, 0x9d, 0xa1, 0x01, 0x00, 0x02, 0x00, 0xcc];
const MOV_EIP = 0x10000 + 9;

function run(cpl: 0 | 3, am: boolean): { vector: number; frame: number[] } {
  const f = new FlatMachine({ cpl });
  if (am) f.cpu.setCr0(f.cpu.cr0 | CR0_AM);
  f.load(CODE);
  const vector = f.runToHalt();
  const esp = f.cpu.regs[4] >>> 0;
  const frame = [0, 1, 2].map((k) => f.mem.read32(esp + k * 4) >>> 0);
  return { vector, frame };
}

test("#AC(0) for a misaligned dword read at CPL 3 with CR0.AM and EFLAGS.AC", () => {
  const r = run(3, true);
  assert.equal(r.vector, 17);
  assert.equal(r.frame[0], 0, "error code 0");
  assert.equal(r.frame[1], MOV_EIP, "fault: saved EIP is the MOV");
});

test("no #AC without CR0.AM, or at CPL 0", () => {
  // At CPL 3 the INT3 at the end meets a DPL-0 gate: #GP(3*8+2) shows the MOV completed.
  const user = run(3, false);
  assert.equal(user.vector, 13);
  assert.equal(user.frame[0], 3 * 8 + 2);
  assert.equal(run(0, true).vector, 3, "reaches int3");
});
