// EFLAGS bit positions (Intel SDM vol. 1 §3.4.3, vol. 3 §2.3).
//
//  31      22 21 20  19  18 17 16 15 14 13-12 11 10 9  8  7  6  5 4  3 2  1 0
//  reserved  |ID|VIP|VIF|AC|VM|RF| 0|NT| IOPL|OF|DF|IF|TF|SF|ZF|0|AF|0|PF|1|CF

export const CF = 1 << 0;
export const PF = 1 << 2;
export const AF = 1 << 4;
export const ZF = 1 << 6;
export const SF = 1 << 7;
export const TF = 1 << 8;
export const IF = 1 << 9;
export const DF = 1 << 10;
export const OF = 1 << 11;
export const IOPL = 3 << 12;
export const IOPL_SHIFT = 12;
export const NT = 1 << 14;
export const RF = 1 << 16;
export const VM = 1 << 17;
export const AC = 1 << 18;
export const VIF = 1 << 19;
export const VIP = 1 << 20;
export const ID = 1 << 21;

/** The six arithmetic status flags. */
export const ARITH = CF | PF | AF | ZF | SF | OF;
/** Bit 1 always reads as 1. */
export const FIXED_ONE = 1 << 1;
/** Bits an i686 lets software change (everything defined; VIF/VIP only via VME/PVI paths). */
export const WRITABLE = ARITH | TF | IF | DF | IOPL | NT | RF | VM | AC | VIF | VIP | ID;
