// How the classic monitor can guard its region from the guest (`--protect`; docs/monitor.md,
// docs/long-mode-monitor.md): the CLI, the lab and the browser page offer the same list.
//
//   segments     segment limits stop the guest short of the region (32-bit guests; 64-bit
//                guests only on models with EFER.LMSLE)
//   two-tables   guest kernel and user both at ring 3, two shadow page-table sets (64-bit
//                guests, any model with long mode)
//   paging-only  page permissions alone: escapable, for the escape suite

export const PROTECTIONS = ["segments", "two-tables", "paging-only"] as const;
export type Protection = (typeof PROTECTIONS)[number];
