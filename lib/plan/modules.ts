// Resolves a dotted Python module name to a file among those planned for the image, searching the
// PYTHONPATH folders in order the way Python's import system would; and for one that does not
// resolve, the module of the image it most likely meant.

export type Resolution = { ok: true; file: string } | { ok: false; tried: string[] };

/**
 * `roots` are folders relative to the program folder ('' is the folder itself); `files` are the
 * image's files relative to the program folder.
 */
export function resolveModule(module: string, roots: string[], files: ReadonlySet<string>): Resolution {
  const rel = module.split('.').join('/');
  const tried: string[] = [];
  for (const root of roots) {
    const base = root === '' ? rel : `${root}/${rel}`;
    for (const candidate of [`${base}.py`, `${base}/__init__.py`]) {
      if (files.has(candidate)) return { ok: true, file: candidate };
      tried.push(candidate);
    }
  }
  return { ok: false, tried: tried.filter((t) => t.endsWith('.py') && !t.endsWith('__init__.py')) };
}

/** The module of the image whose last names match `module`'s best: `did you mean ...?`. */
export function suggestModule(module: string, roots: string[], files: ReadonlySet<string>): string | undefined {
  const wanted = module.split('.');
  let best: { name: string; score: number } | undefined;
  for (const file of files) {
    if (!file.endsWith('.py')) continue;
    for (const root of roots) {
      const prefix = root === '' ? '' : `${root}/`;
      if (!file.startsWith(prefix)) continue;
      const parts = file.slice(prefix.length, -3).split('/');
      if (parts.at(-1) === '__init__') parts.pop();
      if (!parts.length || parts.some((p) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(p))) continue;
      let score = 0;
      while (
        score < Math.min(parts.length, wanted.length) &&
        parts[parts.length - 1 - score] === wanted[wanted.length - 1 - score]
      )
        score++;
      // A typo in the module's own name (trian for train) still points at it.
      if (score === 0 && closeEnough(parts.at(-1)!, wanted.at(-1)!)) score = 0.5;
      if (
        score > 0 &&
        (!best || score > best.score || (score === best.score && parts.join('.').length < best.name.length))
      )
        best = { name: parts.join('.'), score };
    }
  }
  return best?.name;
}

/** Within two single-letter edits (insertions, deletions, substitutions or swaps of neighbours). */
function closeEnough(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 2) return false;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]! <= 2;
}
