// CPU models under the monitor: the machine is the chosen model, the guest's virtual CPU the
// same model without `strict` (strict only decides what faults into the monitor), and two
// machines of different models live side by side in one process.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Monitor } from "../../src/vmm/monitor.js";
import { Pc } from "../../src/hw/pc/pc.js";
import { parseCpuSpec } from "../../src/hw/cpu/models.js";

const RAM = 8 << 20;

test("the monitor's machine has the model with strict, its vCPU the same model without", () => {
  for (const mode of ["trap", "bt"] as const) {
    const mon = new Monitor({ ramBytes: RAM, acpi: false, mode, model: parseCpuSpec("core2,+strict,-sse3") });
    assert.equal(mon.machine.cpu.model.name, "core2");
    assert.equal(mon.machine.cpu.features.strict, true);
    assert.equal(mon.vcpu.model.name, "core2");
    assert.equal(mon.vcpu.features.strict, false);
    assert.equal(mon.vcpu.features.sse3, false, "other feature changes reach the guest");
    assert.equal(mon.divergence, null, "no divergence log on a strict machine");
  }
  const std = new Monitor({ ramBytes: RAM, acpi: false, mode: "trap" });
  assert.equal(std.vcpu.model.name, "pentium2", "the default guest CPU is a standard pentium2");
  assert.equal(std.vcpu.features.strict, false);
  assert.notEqual(std.divergence, null);
});

test("two machines of different models in one process answer CPUID each for itself", () => {
  const a = new Pc({ ramBytes: RAM, model: parseCpuSpec("athlon64-revc") });
  const b = new Pc({ ramBytes: RAM, model: parseCpuSpec("core2") });
  const out = new Int32Array(4);
  a.cpu.cpuidTable.lookup(0, 0, false, out);
  assert.equal(out[1] >>> 0, 0x68747541, "Auth");
  b.cpu.cpuidTable.lookup(0, 0, false, out);
  assert.equal(out[1] >>> 0, 0x756e6547, "Genu");
  assert.equal(a.cpu.regs[2], 0x0f48, "EDX after RESET");
  assert.equal(b.cpu.regs[2], 0x06f6);
});
