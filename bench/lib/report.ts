// Result types shared by the scenarios, the per-tool error boundary, number formatting and the
// plain-text tables printed to stdout (the JSON report is the same objects serialized).

import type { Measure } from './exec.ts';
import { sanitize } from './fsutil.ts';

/** A timed step: a StepMeasure, or a median-of-n measurement (minS, maxS). */
export type StepFigures = Measure & {
  cmdS?: number;
  syncS?: number;
  minS?: number;
  maxS?: number;
  repsS?: number[];
  commands?: unknown;
};

export interface ToolResult {
  tool: string;
  ok: boolean;
  /** "failed: <reason>" when the tool could not finish the scenario (figures so far are kept). */
  error?: string;
  steps: Record<string, StepFigures>;
  storage: Record<string, number>;
  extra: Record<string, unknown>;
}

export interface Ratio {
  label: string;
  /** Greater than 1 means shoal is better (faster, smaller); null when a side is missing. */
  value: number | null;
  detail: string;
}

export interface Table {
  title: string;
  headers: string[];
  rows: string[][];
}

export interface ScenarioResult {
  name: string;
  description: string;
  params: Record<string, unknown>;
  durationS: number;
  /** Cores other processes on the machine kept busy on average while it ran (null if unknown). */
  othersCpuCores?: number | null;
  tools: Record<string, ToolResult>;
  ratios: Ratio[];
  tables: Table[];
  notes: string[];
}

export type Log = (msg: string) => void;

/** Runs one tool's part of a scenario; an error is recorded on the result, never thrown. */
export async function attempt(
  tool: string,
  log: Log,
  fn: (r: ToolResult) => Promise<void>,
): Promise<ToolResult> {
  const r: ToolResult = { tool, ok: false, steps: {}, storage: {}, extra: {} };
  log(`${tool}: start`);
  try {
    await fn(r);
    r.ok = true;
    log(`${tool}: done`);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    r.error = `failed: ${sanitize(msg).split('\n')[0]}`;
    log(`${tool}: ${r.error}`);
  }
  return r;
}

export const MiB = 1 << 20;
export const GiB = 1 << 30;

export function fmtS(s: number | null | undefined): string {
  if (s === null || s === undefined) return '-';
  if (s < 0.1) return `${(s * 1000).toFixed(1)} ms`;
  return s < 10 ? `${s.toFixed(2)} s` : `${s.toFixed(1)} s`;
}

export function fmtBytes(b: number | null | undefined, sign = false): string {
  if (b === null || b === undefined) return '-';
  const p = sign && b >= 0 ? '+' : '';
  const abs = Math.abs(b);
  if (abs >= 10 * GiB) return `${p}${(b / GiB).toFixed(1)} GiB`;
  if (abs >= MiB) return `${p}${(b / MiB).toFixed(abs >= 100 * MiB ? 0 : 1)} MiB`;
  if (abs >= 1024) return `${p}${(b / 1024).toFixed(1)} KiB`;
  return `${p}${b} B`;
}

export function fmtRate(bytes: number, s: number | null | undefined): string {
  if (s === null || s === undefined || s <= 0) return '-';
  return `${(bytes / MiB / s).toFixed(0)} MiB/s`;
}

export function fmtRss(kib: number | null | undefined): string {
  if (kib === null || kib === undefined) return '-';
  return `${(kib / 1024).toFixed(0)} MiB`;
}

export function fmtRatio(r: number | null): string {
  if (r === null || !Number.isFinite(r)) return 'n/a';
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}x`;
}

/** Shoal's speed relative to another time: other / shoal (more than 1 means shoal is faster). */
export function speedRatio(
  shoalS: number | null | undefined,
  otherS: number | null | undefined,
): number | null {
  if (shoalS === null || shoalS === undefined || otherS === null || otherS === undefined || shoalS <= 0)
    return null;
  return otherS / shoalS;
}

/** The tool with the smallest value among the ones that have it. */
export function best(
  tools: ToolResult[],
  pick: (t: ToolResult) => number | null | undefined,
): { tool: string; value: number } | null {
  let out: { tool: string; value: number } | null = null;
  for (const t of tools) {
    const v = pick(t);
    if (v === null || v === undefined || !Number.isFinite(v)) continue;
    if (out === null || v < out.value) out = { tool: t.tool, value: v };
  }
  return out;
}

export function renderTable(t: Table): string {
  const widths = t.headers.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [t.title, line(t.headers), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of t.rows) out.push(line(r));
  return out.join('\n');
}

export function renderScenario(s: ScenarioResult): string {
  const parts = [`== ${s.name}: ${s.description} (${fmtS(s.durationS)})`];
  for (const t of s.tables) parts.push('', renderTable(t));
  const failures = Object.values(s.tools).filter((t) => t.error);
  if (failures.length > 0) {
    parts.push('');
    for (const f of failures) parts.push(`  ${f.tool}: ${f.error}`);
  }
  if (s.ratios.length > 0) {
    parts.push('', 'ratios (>1 = shoal better):');
    const w = Math.max(...s.ratios.map((r) => r.label.length));
    for (const r of s.ratios)
      parts.push(`  ${r.label.padEnd(w)}  ${fmtRatio(r.value).padStart(7)}  ${r.detail}`);
  }
  for (const n of s.notes) parts.push(`  note: ${n}`);
  return parts.join('\n');
}

export interface Context {
  /** Scratch directory of this scenario, removed when it ends (unless --keep). */
  scratch: string;
  env: NodeJS.ProcessEnv;
  /** Multiplies data sizes and file counts (1 = the sizes in the scenario names). */
  scale: number;
  /** Repetitions for median-of-N measurements of quick commands (status). */
  runs: number;
  /** Repetitions of each tool's whole sequence in the heavy scenarios, interleaved across tools. */
  reps: number;
  /** Tools to run, null for all. */
  tools: Set<string> | null;
  log: Log;
}

export interface Scenario {
  name: string;
  aliases?: string[];
  description: string;
  /** Runs on one machine (network scenarios come later and are not in the default set). */
  local: boolean;
  /** Heavy (several GiB, minutes): run only when named, or with `all`. */
  optIn?: boolean;
  run(ctx: Context): Promise<Omit<ScenarioResult, 'name' | 'description' | 'durationS'>>;
}

export function wants(ctx: Context, tool: string): boolean {
  return ctx.tools === null || ctx.tools.has(tool);
}

export function peakRss(r: ToolResult): number | null {
  const v = Object.values(r.steps)
    .map((s) => s.peakRssKiB)
    .filter((x): x is number => x !== null && x !== undefined);
  return v.length > 0 ? Math.max(...v) : null;
}

/**
 * The tools of repetition `rep` (from 1), in turn: each repetition starts one place further along
 * the list, so that over as many repetitions as there are tools each tool runs once in every
 * position. A tool inherits the state the ones before it leave (memory they freed, which this VM
 * hands back to its host; the disk's discard of their files): measured on clone-1g, shoal's
 * transfer took 3.88 s run alone and 5.80 s run after net-raw and rsync every time.
 */
export function inTurn<T>(list: readonly T[], rep: number): T[] {
  const k = list.length === 0 ? 0 : (rep - 1) % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

/**
 * Folds repetitions of one tool's run into one result: each step is the repetition with the
 * median wall time (all times kept in repsS, with minS and maxS); storage and extra come from the
 * first complete repetition; the first error is kept.
 */
export function mergeReps(reps: ToolResult[]): ToolResult {
  if (reps.length === 1) return reps[0]!;
  const first = reps.find((r) => r.ok) ?? reps[0]!;
  const out: ToolResult = {
    tool: first.tool,
    ok: reps.every((r) => r.ok),
    steps: {},
    storage: first.storage,
    extra: first.extra,
  };
  const error = reps.find((r) => r.error)?.error;
  if (error) out.error = error;
  const keys = new Set(reps.flatMap((r) => Object.keys(r.steps)));
  for (const k of keys) {
    const runs = reps.map((r) => r.steps[k]).filter((s): s is StepFigures => s !== undefined);
    const sorted = [...runs].sort((a, b) => a.wallS - b.wallS);
    const times = runs.map((s) => s.wallS);
    out.steps[k] = {
      ...sorted[Math.floor((sorted.length - 1) / 2)]!,
      minS: Math.min(...times),
      maxS: Math.max(...times),
      repsS: times,
    };
  }
  return out;
}
