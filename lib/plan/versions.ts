// Just enough of PEP 440 to tell whether two requirement specifiers can both hold: release
// numbers with pre-, post- and dev-release suffixes, and the comparison operators pip accepts.

export interface Version {
  release: number[];
  /** Orders suffixes: dev < a < b < rc < final < post. */
  phase: number;
  serial: number;
}

const PHASES: Record<string, number> = { dev: 0, a: 1, alpha: 1, b: 2, beta: 2, rc: 3, c: 3, '': 4, post: 5 };

export function parseVersion(text: string): Version | undefined {
  const m = /^v?(\d+(?:\.\d+)*)(?:[-_.]?(dev|a|alpha|b|beta|rc|c|post)[-_.]?(\d*))?$/i.exec(text.trim());
  if (!m) return undefined;
  return {
    release: m[1]!.split('.').map(Number),
    phase: PHASES[(m[2] ?? '').toLowerCase()]!,
    serial: Number(m[3] || 0),
  };
}

export function compareVersions(a: Version, b: Version): number {
  const n = Math.max(a.release.length, b.release.length);
  for (let i = 0; i < n; i++) {
    const d = (a.release[i] ?? 0) - (b.release[i] ?? 0);
    if (d !== 0) return d;
  }
  return a.phase - b.phase || a.serial - b.serial;
}

interface Bound {
  version: Version;
  inclusive: boolean;
}

/** The set of versions a specifier allows: an interval, exact pins and exclusions. */
interface Allowed {
  lower?: Bound;
  upper?: Bound;
  pins: Version[];
  excluded: Version[];
}

const CLAUSE = /^\s*(===|==|!=|~=|>=|<=|>|<)\s*([A-Za-z0-9.*+!_-]+)\s*$/;

/** Parses `>=1.0,<2` into what it allows; undefined when some clause is beyond this model. */
export function parseSpecifier(spec: string): Allowed | undefined {
  const allowed: Allowed = { pins: [], excluded: [] };
  for (const clause of spec.split(',').filter((c) => c.trim() !== '')) {
    const m = CLAUSE.exec(clause);
    if (!m) return undefined;
    const [, op, raw] = m as unknown as [string, string, string];
    if (raw.endsWith('.*') && (op === '==' || op === '!=')) {
      // ==1.2.* is the interval [1.2, 1.3).
      const prefix = parseVersion(raw.slice(0, -2));
      if (!prefix) return undefined;
      if (op === '!=') continue; // an excluded series never makes a pair unsatisfiable on its own
      tighten(allowed, { version: prefix, inclusive: true }, { version: bump(prefix.release), inclusive: false });
      continue;
    }
    const v = parseVersion(raw);
    if (!v) return undefined;
    switch (op) {
      case '==':
      case '===':
        allowed.pins.push(v);
        break;
      case '!=':
        allowed.excluded.push(v);
        break;
      case '>=':
        tighten(allowed, { version: v, inclusive: true }, undefined);
        break;
      case '>':
        tighten(allowed, { version: v, inclusive: false }, undefined);
        break;
      case '<=':
        tighten(allowed, undefined, { version: v, inclusive: true });
        break;
      case '<':
        tighten(allowed, undefined, { version: v, inclusive: false });
        break;
      case '~=':
        // ~=1.4.2 means >=1.4.2, ==1.4.*
        tighten(allowed, { version: v, inclusive: true }, { version: bump(v.release.slice(0, -1)), inclusive: false });
        break;
    }
  }
  return allowed;
}

function bump(release: number[]): Version {
  const r = [...release];
  r[r.length - 1] = (r[r.length - 1] ?? 0) + 1;
  return { release: r, phase: PHASES.dev!, serial: 0 };
}

function tighten(a: Allowed, lower: Bound | undefined, upper: Bound | undefined): void {
  if (
    lower &&
    (!a.lower ||
      compareVersions(lower.version, a.lower.version) > 0 ||
      (compareVersions(lower.version, a.lower.version) === 0 && !lower.inclusive))
  )
    a.lower = lower;
  if (
    upper &&
    (!a.upper ||
      compareVersions(upper.version, a.upper.version) < 0 ||
      (compareVersions(upper.version, a.upper.version) === 0 && !upper.inclusive))
  )
    a.upper = upper;
}

function allows(a: Allowed, v: Version): boolean {
  if (a.lower) {
    const c = compareVersions(v, a.lower.version);
    if (c < 0 || (c === 0 && !a.lower.inclusive)) return false;
  }
  if (a.upper) {
    const c = compareVersions(v, a.upper.version);
    if (c > 0 || (c === 0 && !a.upper.inclusive)) return false;
  }
  if (a.excluded.some((e) => compareVersions(e, v) === 0)) return false;
  return a.pins.every((p) => compareVersions(p, v) === 0);
}

/** Whether some version satisfies both specifiers. */
export function compatible(a: string, b: string): boolean {
  const x = parseSpecifier(a);
  const y = parseSpecifier(b);
  if (!x || !y) return a.replace(/\s/g, '') === b.replace(/\s/g, '');
  const both: Allowed = { pins: [...x.pins, ...y.pins], excluded: [...x.excluded, ...y.excluded] };
  tighten(both, x.lower, x.upper);
  tighten(both, y.lower, y.upper);
  if (both.pins.length) return both.pins.every((p) => allows(both, p));
  if (!both.lower || !both.upper) return true;
  const c = compareVersions(both.lower.version, both.upper.version);
  if (c < 0) return true;
  return c === 0 && both.lower.inclusive && both.upper.inclusive && allows(both, both.lower.version);
}
