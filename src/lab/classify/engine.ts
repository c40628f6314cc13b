// The classification experiment: for every opcode-table form, decide by running it whether
// it is privileged and whether it is sensitive, in Popek and Goldberg's sense ("Formal
// requirements for virtualizable third generation architectures", CACM 1974), mapped onto
// the i686 as described in docs/classify.md.
//
//   privileged   it runs (without an exception) at CPL 0 for some operands, and raises an
//                exception at CPL 3 for every operand environment tried.
//   sensitive    some execution that raises no exception
//                  - changes privileged state (control-sensitive), or
//                  - gives a different visible result when only one privileged component
//                    differs, neither run raising an exception (behaviour-sensitive), or
//                  - completes at CPL 3 with a result other than at CPL 0, where the CPL-0
//                    run either completes differently or raises an exception the CPL-3 run
//                    did not (mode-sensitive: the deprivileged guest kernel would see it).
//   reported     sensitive and not privileged — the instructions that break the theorem's
//                condition "sensitive ⊆ privileged".

import { allForms, type Form } from "./forms.js";
import {
  COMPONENTS, ENVIRONMENTS, Lab, baseState, type Environment, type Outcome,
} from "./world.js";
import { parseCpuSpec, withFeatures, type CpuModel } from "../../hw/cpu/models.js";

export interface ClassifyOptions {
  /** A `--cpu` value: a model with +/- features, or the short forms `standard` and `strict`. */
  cpu: string;
  /** Run with CR4.UMIP set (the model gains the umip feature if it lacks it). */
  umip: boolean;
}

/** The processor a configuration runs on. */
export function classifyModel(opts: ClassifyOptions): CpuModel {
  const model = parseCpuSpec(opts.cpu);
  return opts.umip && !model.features.umip ? withFeatures(model, { umip: true }) : model;
}

/** Why a form is sensitive: one piece of evidence, with the operand environment that showed it. */
export interface Witness {
  /** "CPL", a component name (GDTR …), or "changes <state>". */
  kind: string;
  /** The CPL of the run(s) that showed it. */
  cpl: 0 | 3;
  /** Operand environment value (the selector or number the operands held). */
  env: number;
  encoding: string;
  detail: string;
}

export interface FormResult {
  label: string;
  row: string;
  /** Ran without an exception at CPL 0 / CPL 3 in at least one environment. */
  runsAtCpl0: boolean;
  runsAtCpl3: boolean;
  privileged: boolean;
  /** In some operand setting it is sensitive and completes at CPL 3 (Popek and Goldberg's condition fails). */
  escapes: boolean;
  sensitive: boolean;
  witnesses: Witness[];
}

export interface RowResult {
  row: string;
  /** Forms of this row that are sensitive and not privileged. */
  forms: string[];
  /** Privileged state the evidence involves, e.g. ["CPL", "IF", "changes CPL"]. */
  reasons: string[];
}

export interface Classification {
  options: ClassifyOptions;
  forms: FormResult[];
  /** The sensitive, unprivileged rows, sorted by name. */
  rows: RowResult[];
  runs: number;
  ms: number;
}

/** Keep at most this many witnesses per kind and CPL (the first found): enough to explain. */
const WITNESSES_PER_KIND = 1;

function describeEnv(e: Environment): string {
  return `0x${e.value.toString(16)}`;
}

function classifyForm(lab: Lab, form: Form, opts: ClassifyOptions): FormResult {
  const witnesses: Witness[] = [];
  const seen = new Map<string, number>();
  const add = (w: Witness): void => {
    const key = `${w.kind}@${w.cpl}`;
    const n = seen.get(key) ?? 0;
    if (n < WITNESSES_PER_KIND) witnesses.push(w);
    seen.set(key, n + 1);
  };
  let runsAtCpl0 = false, runsAtCpl3 = false;
  // Popek and Goldberg's condition is per state: the form is a problem only if, in some
  // operand setting, it is sensitive and still completes at CPL 3 (INTO with OF clear is a
  // no-op everywhere; with OF set it is sensitive and must trap).
  let escapes = false;
  const b0 = baseState(0, opts.umip), b3 = baseState(3, opts.umip);
  for (const enc of form.encodings) {
    for (const env of ENVIRONMENTS) {
      const code = enc.bytes(env.value);
      const base: Record<0 | 3, Outcome> = { 0: lab.run(b0, env, code), 3: lab.run(b3, env, code) };
      const before = witnesses.length + [...seen.values()].reduce((a, b) => a + b, 0);
      const ctx = { env: env.value, encoding: enc.kind };
      for (const cpl of [0, 3] as const) {
        const r = base[cpl];
        if (r.fault !== null) continue;
        if (cpl === 0) runsAtCpl0 = true; else runsAtCpl3 = true;
        if (r.privChanges.length > 0) {
          const names = r.privChanges.map((c) => c.split("=")[0]);
          add({ kind: `changes ${names.join(", ")}`, cpl, ...ctx, detail: r.privChanges.join(" ") });
        }
        for (const c of COMPONENTS) {
          if (seen.has(`${c.name}@${cpl}`)) continue; // one witness per component and CPL is enough
          const v = lab.run(c.vary(cpl === 0 ? b0 : b3), env, code);
          if (v.fault !== null) continue;
          if (v.visible !== r.visible || v.privChanges.join() !== r.privChanges.join()) {
            add({ kind: c.name, cpl, ...ctx, detail: `${c.what}: the visible result differs` });
          }
        }
      }
      const r3 = base[3], r0 = base[0];
      if (r3.fault === null && (r0.visible !== r3.visible || r0.privChanges.join() !== r3.privChanges.join())) {
        const detail = r0.fault !== null
          ? `raises #${r0.fault.vector}(${r0.fault.errorCode}) at CPL 0 but completes at CPL 3`
          : "completes at CPL 0 and at CPL 3 with different results";
        add({ kind: "CPL", cpl: 3, ...ctx, detail });
      }
      const after = witnesses.length + [...seen.values()].reduce((a, b) => a + b, 0);
      if (after > before && r3.fault === null) escapes = true;
    }
  }
  const problem = lab.checkAndRestore();
  if (problem !== null) throw new Error(`classify: ${form.label}: ${problem}`);
  const privileged = runsAtCpl0 && !runsAtCpl3;
  return { label: form.label, row: form.row, runsAtCpl0, runsAtCpl3, privileged, sensitive: witnesses.length > 0, escapes, witnesses };
}

/** Run the whole experiment for one configuration. */
export function classify(opts: ClassifyOptions): Classification {
  const t0 = performance.now();
  const lab = new Lab(classifyModel(opts));
  const forms = allForms().map((f) => classifyForm(lab, f, opts));
  const byRow = new Map<string, RowResult>();
  for (const f of forms) {
    if (!f.sensitive || f.privileged || !f.escapes) continue;
    let r = byRow.get(f.row);
    if (r === undefined) { r = { row: f.row, forms: [], reasons: [] }; byRow.set(f.row, r); }
    r.forms.push(f.label);
    for (const w of f.witnesses) if (!r.reasons.includes(w.kind)) r.reasons.push(w.kind);
  }
  const rows = [...byRow.values()].sort((a, b) => a.row.localeCompare(b.row));
  return { options: opts, forms, rows, runs: lab.runs, ms: performance.now() - t0 };
}

export { describeEnv };
