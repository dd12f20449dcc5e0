// The benchmark's results: one row per question of the issue, each our median against a baseline
// measured in the same run, printed as a table and written as JSON and Markdown.

export type Unit = 's' | 'bytes' | 'count';

export interface Measured {
  /** What was measured, in a few words. */
  what: string;
  unit: Unit;
  samples: number[];
  median: number;
}

export interface Target {
  /**
   * ratio-max: ours/baseline must be at most `value`; speedup-min: baseline/ours at least `value`;
   * abs-max: ours itself at most `value`; diff-max: |ours - baseline| at most `value`.
   */
  kind: 'ratio-max' | 'speedup-min' | 'abs-max' | 'diff-max';
  value: number;
}

export interface Row {
  id: string;
  title: string;
  ours: Measured;
  baseline: Measured | undefined;
  target: Target | undefined;
  /** The figure the target is checked against: a ratio, a speed-up, a value, or a difference. */
  figure: number;
  met: boolean | undefined;
  note?: string;
  extra?: Record<string, unknown>;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function measured(what: string, unit: Unit, samples: number[]): Measured {
  return { what, unit, samples, median: median(samples) };
}

export function row(
  id: string,
  title: string,
  ours: Measured,
  baseline: Measured | undefined,
  target: Target | undefined,
  more: { note?: string; extra?: Record<string, unknown> } = {},
): Row {
  const figure = figureOf(ours, baseline, target);
  const met =
    target === undefined ? undefined : target.kind === 'speedup-min' ? figure >= target.value : figure <= target.value;
  return { id, title, ours, baseline, target, figure, met, ...more };
}

function figureOf(ours: Measured, baseline: Measured | undefined, target: Target | undefined): number {
  const kind = target?.kind ?? (baseline ? 'ratio-max' : 'abs-max');
  if (kind === 'abs-max') return ours.median;
  if (!baseline) throw new Error(`a ${kind} target needs a baseline`);
  if (kind === 'speedup-min') return baseline.median / ours.median;
  if (kind === 'diff-max') return Math.abs(ours.median - baseline.median);
  return ours.median / baseline.median;
}

export function formatValue(value: number, unit: Unit): string {
  if (unit === 's') return value < 10 ? `${value.toFixed(2)} s` : `${value.toFixed(1)} s`;
  if (unit === 'count') return String(value);
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} MB`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} kB`;
  return `${value} B`;
}

function formatFigure(r: Row): string {
  const kind = r.target?.kind ?? (r.baseline ? 'ratio-max' : 'abs-max');
  if (kind === 'abs-max') return '';
  if (kind === 'speedup-min') return `${r.figure.toFixed(1)}× faster`;
  if (kind === 'diff-max') return `${formatValue(r.figure, r.ours.unit)} apart`;
  return `${r.figure.toFixed(2)}×`;
}

function formatTarget(r: Row): string {
  const t = r.target;
  if (!t) return '';
  switch (t.kind) {
    case 'ratio-max':
      return `≤ ${t.value}×`;
    case 'speedup-min':
      return `≥ ${t.value}× faster`;
    case 'abs-max':
      return `≤ ${formatValue(t.value, r.ours.unit)}`;
    case 'diff-max':
      return `within ${formatValue(t.value, r.ours.unit)}`;
  }
}

function cells(r: Row): string[] {
  return [
    `(${r.id}) ${r.title}`,
    formatValue(r.ours.median, r.ours.unit),
    r.baseline ? `${formatValue(r.baseline.median, r.baseline.unit)} ${r.baseline.what}` : '',
    formatFigure(r),
    formatTarget(r),
    r.met === undefined ? '' : r.met ? 'met' : 'MISSED',
  ];
}

const HEADINGS = ['row', 'cortex-s2i (median)', 'baseline (median)', 'ratio', 'target', 'result'];

export function textTable(rows: Row[]): string {
  const table = [HEADINGS, ...rows.map(cells)];
  const widths = HEADINGS.map((_, c) => Math.max(...table.map((r) => [...r[c]!].length)));
  const line = (r: string[]) =>
    r
      .map((cell, c) => cell + ' '.repeat(widths[c]! - [...cell].length))
      .join('  ')
      .trimEnd();
  return [line(table[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...table.slice(1).map(line)].join('\n');
}

export function markdownTable(rows: Row[]): string {
  const line = (r: string[]) => `| ${r.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(HEADINGS), line(HEADINGS.map(() => '---')), ...rows.map(cells).map(line)].join('\n');
}
