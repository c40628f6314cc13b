// The guest ports bt's I/O helper accesses in place, without an exit (docs/bt.md, "Port
// I/O"): the PC platform's devices whose accesses only read or change device state and the
// interrupt lines (src/hw/pc/pc.ts). Left to the callout, where the vCPU holds the guest's
// whole state, are the ports that can end the run or change how memory is addressed: ACPI
// PM1 (S5), port 0x92 (A20, reset), the i8042's command and data writes (A20 through its
// output port, reset), the debug exit port; and any port no device answers.

const IN = 1, OUT = 2;

/** Per port: IN and/or OUT may be done in place. */
const PORTS = new Uint8Array(0x1_0000);
const allow = (first: number, last: number, how: number): void => { PORTS.fill(how, first, last + 1); };
allow(0x20, 0x21, IN | OUT);     // master 8259A
allow(0xa0, 0xa1, IN | OUT);     // slave 8259A
allow(0x40, 0x43, IN | OUT);     // 8254 PIT
allow(0x61, 0x61, IN | OUT);     // port B: PIT gate 2, speaker
allow(0x80, 0x80, IN | OUT);     // POST / I/O delay
allow(0x70, 0x71, IN | OUT);     // MC146818 RTC and CMOS
allow(0x3f8, 0x3ff, IN | OUT);   // COM1
allow(0x2f8, 0x2ff, IN | OUT);   // COM2
allow(0x60, 0x60, IN);           // i8042 data (a read: the output buffer)
allow(0x64, 0x64, IN);           // i8042 status

/** Whether an access of `size` bytes at `port` (an OUT when `out`) may be done in place. */
export function inPlacePort(port: number, size: number, out: boolean): boolean {
  const how = out ? OUT : IN;
  return (PORTS[port] & how) !== 0 && (PORTS[(port + size - 1) & 0xffff] & how) !== 0;
}
