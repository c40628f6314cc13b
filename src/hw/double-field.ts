// The first value of a number field that will hold more than a small integer.
//
// V8 gives an object's field the representation of the first value stored into it: a small
// integer (31 or 32 bits, signed), a double, or a reference. A field that starts as a small
// integer and later receives an unsigned dword at or above 2^31 (a kernel's EIP, CR2 or GDT
// base, a segment limit of 4 GiB less one), a 64-bit address or an instruction count past
// 2^31 is widened to a double in place: the object gets a new map, the old one is
// deprecated, and every optimised function that checked it is thrown away and must warm up
// again. A Cpu is read by almost every function of the model, so each such field the guest
// widened cost the whole model its optimised code (the Linux boot widened seven of them in
// its first few million instructions: eip, instrEip, the GDTR's and IDTR's bases and
// limits, CR2; under a monitor, more; `node --trace-generalization` lists them). A field that starts with -0 is a
// double from its first store and never changes representation. -0 equals 0 in every
// arithmetic, bitwise and comparison operation; where an initial value may be looked at
// before anything else is stored (`Object.is`, a test's strictEqual), the constructor or
// reset stores the real one.
export const DOUBLE_FIELD = -0;
