// The checks of a VM entry (Intel SDM vol. 3C §26.2 "Checks on VMX controls and host-state
// area", §26.3.1 "Checks on the guest state area"). Each check is one line with the
// section it comes from; the first that fails decides the outcome:
//   - controls (§26.2.1) and host state (§26.2.2–26.2.4): VMfailValid with error 7 or 8;
//   - guest state (§26.3.1): a VM-entry failure, exit reason 33 with bit 31, and the exit
//     qualification of §26.8 (0 in general, 2 for PDPTEs, 4 for the VMCS link pointer).

import type { Cpu } from "../cpu.js";
import { CR0_PE, CR0_PG, CR4_PAE, EFER_LMA, EFER_LME } from "../cpu.js";
import * as F from "../eflags.js";
import type { Vmx } from "./vmx.js";
import { Vmcs, IntrType, INTR_INFO_VALID, INTR_INFO_DELIVER_CODE, BLOCKING_BY_STI, BLOCKING_BY_MOV_SS, ActivityState } from "./vmcs-fields.js";
import * as C from "./vmcs-fields.js";
import { CR0_FIXED0, CR4_FIXED0 } from "./capabilities.js";

/** The exit qualification of a guest-state failure (SDM §26.8, table 27-? "Exit qualification for VM-entry failure"). */
export const enum EntryFailQual { Default = 0, PdpteLoad = 2, NmiInjection = 3, VmcsLinkPointer = 4 }

/** A setting `v` of controls that must have the bits of `must1` and only bits of `may1`. */
function allowed(v: number, must1: number, may1: number): boolean {
  return (v & must1) === must1 && (v & ~may1) === 0;
}

/** A 4-KiB-aligned physical address within MAXPHYADDR (a bitmap, EPTP or list address). */
function physOk(vmx: Vmx, cpu: Cpu, enc: Vmcs, align = 0xfff): boolean {
  const lo = vmx.get(enc), hi = vmx.getHi(enc);
  if ((lo & align) !== 0) return false;
  const bits = cpu.maxPhyAddr;
  return bits <= 32 ? hi === 0 && (bits === 32 || (lo >>> bits) === 0) : (hi >>> (bits - 32)) === 0;
}

/** §26.2.1: the VM-execution, VM-exit and VM-entry control fields. */
export function checkControls(vmx: Vmx): boolean {
  const caps = vmx.caps, cpu = vmx.cpu;
  const pin = vmx.get(Vmcs.PIN_BASED_VM_EXEC_CONTROL), proc = vmx.get(Vmcs.CPU_BASED_VM_EXEC_CONTROL);
  const exitC = vmx.get(Vmcs.VM_EXIT_CONTROLS), entryC = vmx.get(Vmcs.VM_ENTRY_CONTROLS);
  // §26.2.1.1: reserved bits as the capability MSRs say.
  if (!allowed(pin, caps.pin0(), caps.pin1)) return false;
  if (!allowed(proc, caps.proc0(), caps.proc1)) return false;
  const secondary = (proc & C.CPU_ACTIVATE_SECONDARY_CONTROLS) !== 0;
  const proc2 = secondary ? vmx.get(Vmcs.SECONDARY_VM_EXEC_CONTROL) : 0;
  if (secondary && !allowed(proc2, 0, caps.proc2)) return false;
  // §26.2.1.1: the CR3-target count is at most 4.
  if ((vmx.get(Vmcs.CR3_TARGET_COUNT) >>> 0) > caps.cr3TargetCount) return false;
  // §26.2.1.1: I/O bitmap and MSR bitmap addresses.
  if ((proc & C.CPU_USE_IO_BITMAPS) !== 0 && (!physOk(vmx, cpu, Vmcs.IO_BITMAP_A) || !physOk(vmx, cpu, Vmcs.IO_BITMAP_B))) return false;
  if ((proc & C.CPU_USE_MSR_BITMAPS) !== 0 && !physOk(vmx, cpu, Vmcs.MSR_BITMAP)) return false;
  // §26.2.1.1: NMI exiting 0 → virtual NMIs 0; virtual NMIs 0 → NMI-window exiting 0.
  if ((pin & C.PIN_NMI_EXITING) === 0 && (pin & C.PIN_VIRTUAL_NMIS) !== 0) return false;
  if ((pin & C.PIN_VIRTUAL_NMIS) === 0 && (proc & C.CPU_NMI_WINDOW_EXITING) !== 0) return false;
  // §26.2.1.1: EPT: memory type UC (0) or WB (6), walk length 4 (3 in bits 5:3), no A/D, reserved bits 0.
  if ((proc2 & C.SECONDARY_ENABLE_EPT) !== 0) {
    const eptp = vmx.get(Vmcs.EPT_POINTER);
    const type = eptp & 7;
    if (type !== 0 && type !== 6) return false;
    if (((eptp >>> 3) & 7) !== 3) return false;
    if ((eptp & 0x40) !== 0 && (caps.eptVpidCap()[0] & (1 << 21)) === 0) return false;
    if ((eptp & 0xf80) !== 0) return false;
    if (!physOk(vmx, cpu, Vmcs.EPT_POINTER, 0)) return false;
  }
  // §26.2.1.1: unrestricted guest needs EPT; VPID enabled needs a VPID other than 0.
  if ((proc2 & C.SECONDARY_UNRESTRICTED_GUEST) !== 0 && (proc2 & C.SECONDARY_ENABLE_EPT) === 0) return false;
  if ((proc2 & C.SECONDARY_ENABLE_VPID) !== 0 && (vmx.get(Vmcs.VIRTUAL_PROCESSOR_ID) & 0xffff) === 0) return false;
  // §26.2.1.2: VM-exit controls; saving the timer needs the timer; MSR lists 16-byte aligned.
  if (!allowed(exitC, caps.exit0(), caps.exit1)) return false;
  if ((pin & C.PIN_ACTIVATE_PREEMPTION_TIMER) === 0 && (exitC & C.EXIT_SAVE_PREEMPTION_TIMER) !== 0) return false;
  if (vmx.get(Vmcs.VM_EXIT_MSR_STORE_COUNT) !== 0 && !physOk(vmx, cpu, Vmcs.VM_EXIT_MSR_STORE_ADDR, 0xf)) return false;
  if (vmx.get(Vmcs.VM_EXIT_MSR_LOAD_COUNT) !== 0 && !physOk(vmx, cpu, Vmcs.VM_EXIT_MSR_LOAD_ADDR, 0xf)) return false;
  // §26.2.1.3: VM-entry controls and the event to inject.
  if (!allowed(entryC, caps.entry0(), caps.entry1)) return false;
  if (vmx.get(Vmcs.VM_ENTRY_MSR_LOAD_COUNT) !== 0 && !physOk(vmx, cpu, Vmcs.VM_ENTRY_MSR_LOAD_ADDR, 0xf)) return false;
  const info = vmx.get(Vmcs.VM_ENTRY_INTR_INFO_FIELD);
  if ((info & INTR_INFO_VALID) !== 0) {
    const vector = info & 0xff, type = (info >>> 8) & 7;
    if (type === 1 || type === IntrType.Other) return false;                       // reserved / MTF not supported
    if (type === IntrType.NMI && vector !== 2) return false;
    if (type === IntrType.HardwareException && vector > 31) return false;
    // Deliver-error-code: must be 1 exactly for hardware exceptions with an error code
    // when the guest will be in protected mode (unrestricted guest: CR0.PE decides).
    const pe = (vmx.get(Vmcs.GUEST_CR0) & CR0_PE) !== 0 || (proc2 & C.SECONDARY_UNRESTRICTED_GUEST) === 0;
    const needsCode = pe && type === IntrType.HardwareException && (vector === 8 || (vector >= 10 && vector <= 14) || vector === 17);
    if (((info & INTR_INFO_DELIVER_CODE) !== 0) !== needsCode) return false;
    if ((info & 0x7fff_f000) !== 0) return false;                                      // bits 30:12 reserved
    if (needsCode && (vmx.get(Vmcs.VM_ENTRY_EXCEPTION_ERROR_CODE) & 0xffff_8000) !== 0) return false;
    if (type === IntrType.SoftwareInterrupt || type === IntrType.PrivilegedSoftwareException || type === IntrType.SoftwareException) {
      const len = vmx.get(Vmcs.VM_ENTRY_INSTRUCTION_LEN);
      if (len < 1 || len > 15) return false;
    }
  }
  return true;
}

/** §26.2.2–26.2.4: the host-state area. */
export function checkHostState(vmx: Vmx, cpu: Cpu): boolean {
  const cr0 = vmx.get(Vmcs.HOST_CR0), cr4 = vmx.get(Vmcs.HOST_CR4);
  const exitC = vmx.get(Vmcs.VM_EXIT_CONTROLS), entryC = vmx.get(Vmcs.VM_ENTRY_CONTROLS);
  const host64 = (exitC & C.EXIT_HOST_ADDRESS_SPACE_SIZE) !== 0;
  // §26.2.2: CR0 and CR4 fixed bits; CR3 within MAXPHYADDR.
  if ((cr0 & CR0_FIXED0) !== CR0_FIXED0 || (cr4 & CR4_FIXED0) !== CR4_FIXED0 || (cr4 & ~vmx.caps.cr4Fixed1) !== 0) return false;
  if (!physOk(vmx, cpu, Vmcs.HOST_CR3, 0)) return false;
  // §26.2.3: selectors: RPL and TI 0; CS and TR not null; SS not null unless a 64-bit host.
  for (const enc of [Vmcs.HOST_ES_SELECTOR, Vmcs.HOST_CS_SELECTOR, Vmcs.HOST_SS_SELECTOR, Vmcs.HOST_DS_SELECTOR,
    Vmcs.HOST_FS_SELECTOR, Vmcs.HOST_GS_SELECTOR, Vmcs.HOST_TR_SELECTOR]) {
    if ((vmx.get(enc) & 7) !== 0) return false;
  }
  if ((vmx.get(Vmcs.HOST_CS_SELECTOR) & 0xffff) === 0 || (vmx.get(Vmcs.HOST_TR_SELECTOR) & 0xffff) === 0) return false;
  if (!host64 && (vmx.get(Vmcs.HOST_SS_SELECTOR) & 0xffff) === 0) return false;
  // §26.2.4: address-space size. Outside IA-32e mode the host and the guest are 32-bit;
  // inside it the host is 64-bit, with CR4.PAE and a canonical RIP.
  if (!cpu.lma) {
    if (host64 || (entryC & C.ENTRY_IA32E_MODE_GUEST) !== 0) return false;
  } else {
    if (!host64 || (cr4 & CR4_PAE) === 0) return false;
    for (const enc of [Vmcs.HOST_RIP, Vmcs.HOST_FS_BASE, Vmcs.HOST_GS_BASE, Vmcs.HOST_TR_BASE, Vmcs.HOST_GDTR_BASE,
      Vmcs.HOST_IDTR_BASE, Vmcs.HOST_IA32_SYSENTER_ESP, Vmcs.HOST_IA32_SYSENTER_EIP]) {
      if (!canonical(vmx.get(enc), vmx.getHi(enc))) return false;
    }
  }
  // §26.2.2: with "load IA32_EFER", reserved bits 0 and LMA = LME = host address-space size.
  if ((exitC & C.EXIT_LOAD_IA32_EFER) !== 0) {
    const e = vmx.get(Vmcs.HOST_IA32_EFER);
    if ((e & ~0xd01) !== 0 || vmx.getHi(Vmcs.HOST_IA32_EFER) !== 0) return false;
    if (((e & EFER_LMA) !== 0) !== host64 || ((e & EFER_LME) !== 0) !== host64) return false;
  }
  return true;
}

function canonical(lo: number, hi: number): boolean {
  return ((hi << 16) >> 16) === hi && ((hi >> 15) === 0 || (hi >> 15) === -1) && (lo === lo);
}

/**
 * §26.3.1: the guest-state area. Returns -1 when every check passes, else the exit
 * qualification of the failure.
 */
export function checkGuestState(vmx: Vmx, cpu: Cpu): number {
  const fail = EntryFailQual.Default;
  const proc = vmx.get(Vmcs.CPU_BASED_VM_EXEC_CONTROL);
  const proc2 = (proc & C.CPU_ACTIVATE_SECONDARY_CONTROLS) !== 0 ? vmx.get(Vmcs.SECONDARY_VM_EXEC_CONTROL) : 0;
  const unrestricted = (proc2 & C.SECONDARY_UNRESTRICTED_GUEST) !== 0;
  const entryC = vmx.get(Vmcs.VM_ENTRY_CONTROLS);
  const ia32e = (entryC & C.ENTRY_IA32E_MODE_GUEST) !== 0;
  const cr0 = vmx.get(Vmcs.GUEST_CR0), cr4 = vmx.get(Vmcs.GUEST_CR4);
  const rflags = vmx.get(Vmcs.GUEST_RFLAGS);
  // §26.3.1.1: CR0 fixed bits (PE and PG are free with unrestricted guest), PG needs PE.
  const fixed0 = unrestricted ? CR0_FIXED0 & ~(CR0_PE | CR0_PG) : CR0_FIXED0;
  if ((cr0 & fixed0) !== fixed0) return fail;
  if ((cr0 & CR0_PG) !== 0 && (cr0 & CR0_PE) === 0) return fail;
  if ((cr4 & CR4_FIXED0) !== CR4_FIXED0 || (cr4 & ~vmx.caps.cr4Fixed1) !== 0) return fail;
  // §26.3.1.1: IA-32e mode guest needs CR0.PG and CR4.PAE.
  if (ia32e && ((cr0 & CR0_PG) === 0 || (cr4 & CR4_PAE) === 0)) return fail;
  if (!physOk(vmx, cpu, Vmcs.GUEST_CR3, 0)) return fail;
  // §26.3.1.1: DR7 bits 63:32 are 0 with "load debug controls".
  if ((entryC & C.ENTRY_LOAD_DEBUG_CONTROLS) !== 0 && vmx.getHi(Vmcs.GUEST_DR7) !== 0) return fail;
  if ((entryC & C.ENTRY_LOAD_IA32_EFER) !== 0) {
    const e = vmx.get(Vmcs.GUEST_IA32_EFER);
    if ((e & ~0xd01) !== 0 || ((e & EFER_LMA) !== 0) !== ia32e) return fail;
    if ((cr0 & CR0_PG) !== 0 && ((e & EFER_LMA) !== 0) !== ((e & EFER_LME) !== 0)) return fail;
  }
  // §26.3.1.2: segment registers.
  const v86 = (rflags & F.VM) !== 0;
  const sel = (k: number) => vmx.get(Vmcs.GUEST_ES_SELECTOR + 2 * k) & 0xffff;
  const base = (k: number) => vmx.get(Vmcs.GUEST_ES_BASE + 2 * k) >>> 0;
  const baseHi = (k: number) => vmx.getHi(Vmcs.GUEST_ES_BASE + 2 * k);
  const limit = (k: number) => vmx.get(Vmcs.GUEST_ES_LIMIT + 2 * k) >>> 0;
  const ar = (k: number) => vmx.get(Vmcs.GUEST_ES_AR_BYTES + 2 * k);
  const usable = (k: number) => (ar(k) & (1 << 16)) === 0;
  const dpl = (k: number) => (ar(k) >>> 5) & 3;
  /** G and the limit agree: bits 11:0 all 1 if any of 31:20 is 1 needs G=1; any of 11:0 zero needs G=0. */
  const granOk = (k: number) => {
    const l = limit(k), g = (ar(k) & (1 << 15)) !== 0;
    if ((l & 0xfff) !== 0xfff && g) return false;
    if ((l & 0xfff0_0000) !== 0 && !g) return false;
    return true;
  };
  if ((sel(7) & 4) !== 0) return fail;                                 // TR: TI = 0
  if (usable(6) && (sel(6) & 4) !== 0) return fail;                    // LDTR: TI = 0
  if (v86) {
    // Virtual-8086: base = selector × 16, limit FFFFh, access rights F3h for the six.
    for (let k = 0; k < 6; k++) {
      if (base(k) !== sel(k) << 4 || baseHi(k) !== 0 || limit(k) !== 0xffff || ar(k) !== 0xf3) return fail;
    }
  } else {
    if (!unrestricted && (sel(2) & 3) !== (sel(1) & 3)) return fail;  // SS.RPL = CS.RPL
    const csType = ar(1) & 0xf;
    if (!(csType === 9 || csType === 11 || csType === 13 || csType === 15 || (unrestricted && csType === 3))) return fail;
    for (let k = 0; k < 6; k++) {
      if (k !== 1 && !usable(k)) continue;
      const a = ar(k);
      if ((a & 0x10) === 0 || (a & 0x80) === 0) return fail;          // S = 1, P = 1
      if ((a & 0xfffe_0f00) !== 0) return fail;                       // reserved bits 11:8, 31:17
      if (!granOk(k)) return fail;
      if (k !== 1 && k !== 2) {
        if ((a & 1) === 0) return fail;                               // accessed
        if ((a & 8) !== 0 && (a & 2) === 0) return fail;              // code segments readable
        if (!unrestricted && (a & 0xf) <= 11 && dpl(k) < (sel(k) & 3)) return fail;
      }
    }
    if (csType === 3 && dpl(1) !== 0) return fail;
    if ((csType === 9 || csType === 11) && dpl(1) !== dpl(2)) return fail;
    if ((csType === 13 || csType === 15) && dpl(1) > dpl(2)) return fail;
    if (ia32e && (ar(1) & (1 << 13)) !== 0 && (ar(1) & (1 << 14)) !== 0) return fail; // L and D both set
    if (usable(2)) {
      const t = ar(2) & 0xf;
      if (t !== 3 && t !== 7) return fail;
      if (!unrestricted && dpl(2) !== (sel(2) & 3)) return fail;
    }
    if ((cr0 & CR0_PE) === 0 && dpl(2) !== 0) return fail;
  }
  // TR: a busy TSS (type 3 only outside IA-32e mode, 11), S = 0, P = 1, usable.
  {
    const a = ar(7), t = a & 0xf;
    if (!(t === 11 || (!ia32e && t === 3)) || (a & 0x10) !== 0 || (a & 0x80) === 0 || !usable(7) || !granOk(7)) return fail;
  }
  if (usable(6)) {
    const a = ar(6);
    if ((a & 0xf) !== 2 || (a & 0x10) !== 0 || (a & 0x80) === 0 || !granOk(6)) return fail;
  }
  // §26.3.1.3: GDTR and IDTR limits are 16 bits.
  if ((vmx.get(Vmcs.GUEST_GDTR_LIMIT) & 0xffff_0000) !== 0 || (vmx.get(Vmcs.GUEST_IDTR_LIMIT) & 0xffff_0000) !== 0) return fail;
  // §26.3.1.4: RIP bits 63:32 zero outside 64-bit code; RFLAGS reserved bits; VM only in protected mode, not IA-32e.
  if (!(ia32e && (ar(1) & (1 << 13)) !== 0) && vmx.getHi(Vmcs.GUEST_RIP) !== 0) return fail;
  if ((rflags & 2) === 0 || (rflags & 0xffc0_8028) !== 0 || vmx.getHi(Vmcs.GUEST_RFLAGS) !== 0) return fail;
  if (v86 && (ia32e || (cr0 & CR0_PE) === 0)) return fail;
  const info = vmx.get(Vmcs.VM_ENTRY_INTR_INFO_FIELD);
  const injecting = (info & INTR_INFO_VALID) !== 0, injType = (info >>> 8) & 7;
  if (injecting && injType === IntrType.External && (rflags & F.IF) === 0) return fail;
  // §26.3.1.5: activity state (active or HLT here), HLT needs SS.DPL 0.
  const act = vmx.get(Vmcs.GUEST_ACTIVITY_STATE);
  if (act !== ActivityState.Active && act !== ActivityState.Hlt) return fail;
  if (act === ActivityState.Hlt && dpl(2) !== 0) return fail;
  // §26.3.1.5: interruptibility state.
  const intr = vmx.get(Vmcs.GUEST_INTERRUPTIBILITY_INFO);
  if ((intr & ~0xf) !== 0) return fail;
  if ((intr & (BLOCKING_BY_STI | BLOCKING_BY_MOV_SS)) === (BLOCKING_BY_STI | BLOCKING_BY_MOV_SS)) return fail;
  if ((rflags & F.IF) === 0 && (intr & BLOCKING_BY_STI) !== 0) return fail;
  if (injecting && injType === IntrType.External && (intr & (BLOCKING_BY_STI | BLOCKING_BY_MOV_SS)) !== 0) return fail;
  if (injecting && injType === IntrType.NMI && (intr & BLOCKING_BY_MOV_SS) !== 0) return fail;
  // §26.3.1.5: pending debug exceptions: reserved bits 3:0 (B0–B3 allowed), 11:4, 13, 15, 63:17.
  if ((vmx.get(Vmcs.GUEST_PENDING_DBG_EXCEPTIONS) & ~0x500f) !== 0 || vmx.getHi(Vmcs.GUEST_PENDING_DBG_EXCEPTIONS) !== 0) return fail;
  // §26.3.1.5: the VMCS link pointer is FFFFFFFF_FFFFFFFFh (no VMCS shadowing here).
  if (vmx.get(Vmcs.VMCS_LINK_POINTER) !== -1 || vmx.getHi(Vmcs.VMCS_LINK_POINTER) !== -1) return EntryFailQual.VmcsLinkPointer;
  // §26.3.1.6: PAE paging without EPT: the PDPTEs CR3 points to have no reserved bits set.
  if ((cr0 & CR0_PG) !== 0 && (cr4 & CR4_PAE) !== 0 && !ia32e && (proc2 & C.SECONDARY_ENABLE_EPT) === 0) {
    const b = (vmx.get(Vmcs.GUEST_CR3) & 0xffff_ffe0) >>> 0;
    for (let k = 0; k < 4; k++) {
      const lo = cpu.mem.read32(b + 8 * k), hi = cpu.mem.read32(b + 8 * k + 4);
      if ((lo & 1) !== 0 && ((lo & 0x1e6) !== 0 || (hi >>> Math.max(0, cpu.maxPhyAddr - 32)) !== 0)) return EntryFailQual.PdpteLoad;
    }
  }
  return -1;
}
