// Compiling the WebAssembly tier's modules away from the thread that runs the guest
// (docs/jit.md, "Compiling on another thread").
//
// The tier (wasm-block.ts) makes a module of a batch of hot blocks. Without a compiler it
// builds it with `new WebAssembly.Module` at once, on the run loop's thread: about 0.7 ms a
// module on the Linux boot, and the first call of each function compiles it there too. A
// host with threads (the CLI: a worker) passes one of these in JitOptions.compiler; the tier
// then hands it the bytes and goes on running the batch's blocks at tier 1, and installs the
// module when `take` has it (Cpu.run looks before each slice). What the guest sees does not
// depend on when that is: a block runs the same at either tier (the JIT fuzzer compares
// them), only the counters of what ran where do.

/** A compiler of WebAssembly modules that never blocks its caller. */
export interface ModuleCompiler {
  /** Begin compiling `bytes` (the compiler may take their buffer); a ticket for `take`. */
  compile(bytes: Uint8Array<ArrayBuffer>): number;
  /**
   * The module `ticket` became, the error its compile raised, or undefined while it is not
   * ready. Never waits.
   */
  take(ticket: number): WebAssembly.Module | Error | undefined;
  /**
   * Optional: touch each page of the first `bytes` of `memory` (guest RAM; the machine makes
   * it shared when this is given) from the other thread, without changing a byte, so that
   * the guest's first touch of a page finds it mapped. Where the host's page faults are
   * dear (about 11 µs each on the 2-core VMs vmm86 is measured on) the Linux boot takes
   * 32 k of them on guest RAM (docs/jit.md, "Compiling on another thread").
   */
  prefault?(memory: WebAssembly.Memory, bytes: number): void;
}
