// Boot loaders: the Linux x86 boot protocol (bzImage, or the unpacked kernel entered
// directly; the 32-bit protocol, and the 64-bit one for x86-64 kernels) and multiboot v1.
// Each returns an EntryState that the machine applies; none depends on the CPU class
// (DESIGN.md §1).

export { BootError, type BootErrorCode } from "./errors.js";
export { E820, pcE820Map, type E820Entry, type EntryState, type GuestMemoryWriter } from "./memory.js";
export {
  loadLinux, loadLinuxWithPlacement, parseSetupHeader, unpackPayload, payloadFormat,
  type LinuxOptions, type LinuxPlacement, type SetupHeader, type PayloadFormat,
} from "./linux.js";
export {
  loadLinux64, loadLinux64WithPlacement, identityPageTables, XLF_KERNEL_64, ENTRY64_OFFSET, PAGE_TABLES,
  type Linux64Options, type Linux64Placement,
} from "./linux64.js";
export {
  loadMultiboot, loadMultibootWithPlacement, findMultibootHeader,
  type MultibootOptions, type MultibootModule, type MultibootPlacement,
} from "./multiboot.js";
export { xzDecompress, xzDecode, type XzOptions, type XzResult } from "./xz/xz.js";
export { x86_64Kernel } from "./kernel-arch.js";
