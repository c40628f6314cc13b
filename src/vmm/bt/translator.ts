// Placeholder replaced below.
import type { World } from "../world/world.js";
import type { Cpu } from "../../hw/cpu/cpu.js";
import type { ShadowMmu } from "../shadow/shadow-mmu.js";
import type { Counters } from "../stats/counters.js";
import type { SegmentCache } from "../../hw/cpu/segment.js";

export type CalloutAction = "emulate" | "continue";

export class Translator {
  constructor(readonly world: World, readonly vcpu: Cpu, readonly shadow: ShadowMmu, readonly counters: Counters) {}
  enter(_guestEip: number, _cs: SegmentCache): number { throw new Error("bt not built yet"); }
  guestEip(_tc: number): number { throw new Error("bt not built yet"); }
  calloutAction(_tc: number): CalloutAction { return "emulate"; }
  codeWritten(_page: number): void {}
  stats(): Record<string, number> { return {}; }
}
