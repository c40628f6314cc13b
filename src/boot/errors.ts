// Errors a user can meet when handing the loaders a kernel, initrd or module (STYLE.md §12):
// one class, a stable code to match on, and a message that says what is wrong and what to do.

/** Stable error codes of the boot loaders and the XZ decoder. */
export type BootErrorCode =
  // Linux bzImage
  | "E_IMAGE_TRUNCATED"      // the file ends before a structure it declares
  | "E_IMAGE_MAGIC"          // no "HdrS" setup header / boot flag: not a Linux x86 kernel
  | "E_IMAGE_VERSION"        // boot protocol older than the loader needs
  | "E_IMAGE_NO_PAYLOAD"     // a Linux header without a compressed kernel (memtest86+)
  | "E_IMAGE_NO_32BIT_ENTRY" // code32_start 0: only its own real-mode setup can start it (iPXE)
  | "E_IMAGE_NO_64BIT_ENTRY" // the 64-bit protocol on an image without XLF_KERNEL_64 (not x86-64)
  | "E_NO_LONG_MODE"         // a 64-bit entry state on a CPU model without long mode (lm)
  | "E_IMAGE_NOT_BZIMAGE"    // a zImage (loaded low), which this loader does not support
  | "E_PAYLOAD_FORMAT"       // the compressed payload is in a format the loader cannot unpack
  | "E_CMDLINE_TOO_LONG"     // command line longer than the kernel's cmdline_size
  | "E_NO_ROOM"              // RAM too small for kernel + initrd + boot structures, or they overlap
  // ELF (unpacked vmlinux, multiboot kernels)
  | "E_ELF"                  // not a usable little-endian i386 (or, for linux64, x86-64) ELF executable
  | "E_SEGMENT_OUTSIDE_RAM"  // a segment would be loaded outside guest RAM
  // Multiboot
  | "E_MB_NO_HEADER"         // no multiboot header in the first 8192 bytes
  | "E_MB_CHECKSUM"          // header found but magic + flags + checksum != 0
  | "E_MB_FLAGS"             // header requires a feature this loader does not provide
  | "E_MB_AOUT"              // a.out-kludge address fields are inconsistent
  // XZ container and LZMA2 data
  | "E_XZ_FORMAT"            // not an .xz stream, or a header/footer/index field is invalid
  | "E_XZ_UNSUPPORTED"       // valid .xz, but a filter or check this decoder lacks
  | "E_XZ_DATA"              // corrupt LZMA2/LZMA data
  | "E_XZ_CHECK"             // the block check (CRC32/CRC64/SHA-256) or a header CRC does not match
  | "E_XZ_TRUNCATED";        // input ended inside the stream

/** A loader or decoder error with a stable `code`. */
export class BootError extends Error {
  override readonly name = "BootError";
  constructor(readonly code: BootErrorCode, message: string) {
    super(`${code}: ${message}`);
  }
}

/** Hex formatting for messages. */
export function hex(n: number): string {
  return "0x" + n.toString(16);
}
