// The vmm86 command line: `vmm86 run …`, `vmm86 --help`.

import { ExitCode, UserError, usageError } from "./errors.js";
import { runCommand } from "./run.js";
import { fetchCommand } from "./fetch.js";
import { classifyCommand } from "./classify.js";
import { redpillCommand } from "./redpill.js";
import { microbenchCommand } from "./microbench.js";
import { escapeCommand } from "./escape.js";
import { historyCommand } from "./history.js";
import { cpusCommand } from "./cpus.js";
import { webCommand } from "./web.js";

export const HELP = `vmm86 — an x86 virtual machine monitor in TypeScript

Usage:
  vmm86 run GUEST [options]   boot a guest; its first serial port is this terminal
  vmm86 run --restore FILE [options]
                              continue a guest saved with --save-at (any --mode)
  vmm86 run --replay LOG [options]
                              run again a session recorded with --record LOG
  vmm86 fetch linux           download Debian's i386 kernel and busybox, build an initramfs
  vmm86 fetch linux-pae       the same with Debian's 686-pae kernel (PAE paging), i386
  vmm86 fetch linux64         the same for amd64 (x86-64), in a cache of its own
  vmm86 redpill [--format table|markdown|json] [--bits 32|64]
                              run the red-pill guest under every mode (svm too) and CPU
                              variant: per sensitive instruction and guest CPL, same as
                              bare, leaks the monitor, misbehaves, or faults
  vmm86 escape [--format table|markdown|json] [--attempt NAMES] [--list] [--bits 32|64]
                              run the adversarial escape guest under bt, trap --cpu strict,
                              svm and bt --protect paging-only: every attempt must be
                              contained, and the weakened configuration must show an escape
  vmm86 microbench [--format table|markdown|json] [--bench LIST] [--repeat N] [--bits 32|64]
                              Adams & Agesen's micro-benchmarks on bare, trap --cpu strict,
                              bt and svm+NPT: guest cycles, host ns and exits per operation,
                              ratio to bare, the monitor counters behind each
  vmm86 history [--quick] [--cpu MODELS] [--format table|markdown|json]
                              per CPU model and 32/64-bit guest: which techniques keep the
                              monitor safe (escape suite, 0 escapes) and at what cost
  vmm86 classify [--cpu MODEL[,+F][,-F]] [--umip] [--vmx] [--svm] [--format …]
                              run every opcode-table form at CPL 0 and 3 and list the
                              sensitive but unprivileged ones (Popek and Goldberg);
                              --vmx/--svm: which exit under VT-x/AMD-V, and under what
  vmm86 web [--port P]        serve the lab in a browser on 127.0.0.1 (docs/web.md): the
                              guest's console, live counter charts, the lab's tables
  vmm86 cpus                  list the CPU models --cpu accepts: vendor, signature, features,
                              the real processor each copies
  vmm86 --help                this text

Guests (one of):
  demo                  the embedded demo kernel (guests/demo): two ring-3 processes,
                        system calls, PIT preemption; powers off through port 0xF4
  linux                 Debian's linux-image-686 with a busybox shell (vmm86 fetch linux)
  linux-pae             Debian's linux-image-686-pae (PAE paging, 3-level page tables)
                        with the same shell (vmm86 fetch linux-pae)
  linux64               Debian's linux-image-amd64 with an amd64 busybox shell (vmm86 fetch
                        linux64), entered in 64-bit mode on --cpu athlon64-revc by default
                        (core2, athlon64-reve and zen3 run it too; --mode bare only)
  --kernel FILE         a Linux bzImage, or a multiboot (v1) ELF kernel (also -kernel)
    --initrd FILE       initrd for Linux, or a module for multiboot (also -initrd)
    --append STRING     kernel command line (also -append)
  --bios ROM            a 64 or 128 KiB ROM image, mapped at the top of the first MiB
                        and aliased below 4 GiB; starts at F000:FFF0

Options for run:
  --entry direct|bzimage|bzimage64  Linux only: enter the unpacked kernel directly
                        (default; the loader decompresses the XZ payload; an x86-64 kernel
                        is entered in 64-bit mode) or run the bzImage's own decompressor
                        (about 2.3 G more guest instructions) from its 32-bit entry
                        (bzimage) or, x86-64 kernels only, its 64-bit entry (bzimage64)
  --mode bare|trap|bt|vtx|svm  execution mode: bare (the guest owns the machine;
                        default), trap (guest kernel deprivileged to ring 1,
                        trap-and-emulate, shadow page tables), bt (guest kernel code
                        binary-translated), vtx (hardware assist: the guest runs in VMX
                        non-root operation; --cpu core-duo, core2, nehalem or westmere) or svm
                        (the guest runs in AMD-V guest mode; --cpu athlon64-revf or
                        barcelona)
  --paging shadow|nested  vtx/svm: the monitor's shadow page tables (what the first
                        VT-x and AMD-V parts needed) or the hardware's second level (EPT,
                        nested paging); default: nested where the model has it
  --protect segments|two-tables|paging-only  trap/bt: how the monitor region is guarded:
                        segment truncation (default; a 64-bit guest needs EFER.LMSLE,
                        --cpu athlon64-reve), two shadow page-table sets with guest kernel
                        and user at ring 3 (64-bit guests, any model), or page permissions
                        alone (escapable; for the escape suite). docs/long-mode-monitor.md
  --unsafe-protect      bt: run --protect segments with a 64-bit guest on a model without
                        EFER.LMSLE (E_PROTECT_UNSOUND otherwise): unprotected, for escapes
  --shadow-sync unsync|traced  trap/bt: how the shadow page tables follow the guest's:
                        a page table written is let out of sync until the guest's next
                        TLB flush, as KVM does (default; shadow.unsync, shadow.resync), or
                        every write to a shadowed table faults and is emulated (traced,
                        shadow.pt-write). docs/monitor.md "Tables out of sync"
  --no-reservetop       trap/bt, linux: do not add reservetop= to the command line
  --cpu MODEL[,+FEATURE][,-FEATURE]  the processor (vmm86 cpus; default pentium2,
                        athlon64-revc for linux64),
                        with features added or removed, QEMU's way: --cpu core2,
                        --cpu pentium3,-sse. The strict feature makes every sensitive
                        instruction fault with #GP at CPL > 0: --cpu strict is short for
                        pentium2,+strict, --cpu standard for pentium2
  -m SIZE               guest RAM in MiB (default 128), or with a unit: 512M, 1G
  --clock virtual|realtime  virtual time (default; deterministic) or paced to wall time
  --jit on|js|off       compile hot guest code: blocks, then WebAssembly for the
                        hottest (default on); js without the WebAssembly tier; off
                        runs every instruction through the interpreter
  --jit-thread on|off   compile WebAssembly on a worker thread while the guest runs
                        (default on); off compiles it at once on the guest's thread,
                        so --stats' counts of what ran where repeat exactly
  --post-port PORT      report each new value written to PORT as 'post: 0xNN' on stderr
  --debugcon [PORT:]FILE  bytes written to port 0xE9 (or PORT: 0x402 for SeaBIOS) go to
                        FILE ('stdout' for the terminal)
  --timeout S           stop after S seconds of host time (default 600; none with --gdb)
  --max-instructions N  stop after N guest instructions
  --trace               print every executed instruction with registers on stderr
  --stats               print instructions, MIPS, virtual time, (trap/bt) every monitor
                        counter and the guest state's SHA-256 at exit; --stats=json FILE
                        writes them as JSON
  --save-at EVENT FILE  write a snapshot of the guest to FILE when EVENT happens, then end
                        the run (exit 0): EVENT is an instruction count (the one
                        --max-instructions counts), serial:STRING, the first time STRING
                        appears on the serial console, or key: Ctrl-A s on a terminal
                        (docs/snapshot.md)
  --restore FILE        continue the guest saved in FILE instead of booting one, in any
                        --mode (the snapshot gives the guest, its RAM and, unless --cpu
                        names the same processor, its CPU)
  --record LOG          log every input from outside the guest (serial bytes typed or
                        piped, their end, Ctrl-A x, a signal or --timeout ending the run)
                        with the guest instruction it took effect at, the start state's
                        hash and the final state hash (docs/replay.md)
  --replay LOG          run the recorded guest again with the logged input at the logged
                        guest times (stdin is not read); the same output and final state
                        hash, else E_REPLAY_DIVERGED. Takes the host-only options (--stats,
                        --timeout, --clock, --jit, --jit-thread, --trace, --debugcon,
                        --post-port) and --restore FILE for a snapshot that moved
  --gdb [HOST:]PORT     serve the GDB remote protocol on PORT (loopback unless HOST is
                        given): the guest's registers, memory, breakpoints, watchpoints,
                        steps, in every --mode; gdb -ex 'target remote :PORT' (docs/gdb.md)
  --wait-gdb            with --gdb: hold the guest before its first instruction until gdb
                        attaches

Exit status (each ending also prints one line on stderr saying what happened):
  0  the guest powered off or reset the machine
  N  the guest wrote V to isa-debug-exit (port 0xF4): N = (V << 1) | 1
  2  E_USAGE        bad command line
  3  E_HALT         the guest halted with interrupts disabled (nothing can wake it)
  4  E_TIMEOUT      --timeout or --max-instructions reached
  5  E_TRIPLE_FAULT the guest triple-faulted (processor shutdown)
  6  E_IMAGE        an image is missing or malformed (E_NOT_FETCHED: run vmm86 fetch linux,
                    linux-pae or linux64; E_NO_LONG_MODE: a 64-bit kernel on a --cpu model without
                    long mode, the message names one that has it)
  7  E_FETCH        vmm86 fetch could not reach or use Debian's archive
  8  E_IDLE         the guest waits for input (HLT, no timer armed) and stdin has ended
  9  E_MONITOR_BREACH  trap/bt/svm: resource control failed (the monitor's memory changed,
                    or a guest instruction ran at machine CPL 0 outside guest mode)
 10–12 escape: an attempt was not contained (10), no escape under paging-only (11),
                    a needed mode is missing (12)
 13  classify: the found set differs from the expected one
 14  E_MONITOR_UNSUPPORTED  trap/bt: the guest entered real or virtual-8086 mode, left
                    long mode, or runs in long mode under trap (use --mode bare or bt)
 15  E_SNAPSHOT_*   --restore: the file is missing or unreadable (_READ), not a snapshot
                    (_FOREIGN), of another format version (_VERSION), cut short
                    (_TRUNCATED), damaged (_CORRUPT) or for another machine
                    (_INCOMPATIBLE); --save-at: FILE cannot be written (_WRITE) or the
                    run ended before EVENT (_NOT_TAKEN)
 16  E_REPLAY_*     --replay: the log is missing (_READ), not a log (_FOREIGN), of another
                    format or vmm86 version (_VERSION), cut short (_TRUNCATED), damaged
                    (_CORRUPT), for another guest or start state (_MISMATCH), or the
                    replay did not end as the recording did (_DIVERGED); --record: LOG
                    cannot be written (_WRITE)
 17  E_GDB_PORT     --gdb: the port is in use or not allowed
 70  E_INTERNAL     a bug in vmm86
 129, 130, 143  E_SIGNAL  stopped by SIGHUP, SIGINT or SIGTERM (output and stats written first)
 (--stats=json FILE that cannot be written: E_STATS_FILE, exit 2, before the guest runs)

Examples:
  npx vmm86 run demo --stats
  npx vmm86 run demo --mode bt --stats
  npx vmm86 run demo --mode vtx --cpu nehalem --stats
  npx vmm86 run demo --mode trap --cpu strict --stats=json stats.json
  npx vmm86 fetch linux && printf 'uname -r\\npoweroff -f\\n' | npx vmm86 run linux
  npx vmm86 run --bios ../shared/conformance/test386/test386.bin --post-port 0x190 --debugcon stdout
  npx vmm86 run linux --save-at 'serial:/root # ' shell.snap </dev/null
  printf 'uname -r\\npoweroff -f\\n' | npx vmm86 run --restore shell.snap --mode bt
  npx vmm86 run linux --record session.log        # type commands, then poweroff -f or Ctrl-A x
  npx vmm86 run --replay session.log --stats      # the same session again, to the same state hash
`;

export async function main(argv: string[]): Promise<number> {
  try {
    if (argv.length === 0) {
      process.stderr.write(HELP);
      process.stderr.write("vmm86: E_USAGE: no command given (see above)\n");
      return ExitCode.USAGE;
    }
    if (argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
      process.stdout.write(HELP);
      return ExitCode.OK;
    }
    const [command, ...rest] = argv;
    switch (command) {
      case "run": return await runCommand(rest, HELP);
      case "fetch": return await fetchCommand(rest);
      case "classify": return await classifyCommand(rest);
      case "redpill": return await redpillCommand(rest);
      case "microbench": return await microbenchCommand(rest);
      case "escape": return await escapeCommand(rest);
      case "history": return await historyCommand(rest);
      case "cpus": return await cpusCommand(rest);
      case "web": return await webCommand(rest);
      default: throw usageError(`unknown command '${command}'`);
    }
  } catch (e) {
    if (e instanceof UserError) {
      process.stderr.write(`vmm86: ${e.code}: ${e.message}\n`);
      return e.exitCode;
    }
    const msg = e instanceof Error ? e.stack ?? e.message : String(e);
    process.stderr.write(`vmm86: E_INTERNAL: unexpected error (a bug in vmm86): ${msg}\n`);
    return ExitCode.INTERNAL;
  }
}
