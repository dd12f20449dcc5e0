// Resolves a dotted Python module name to a file among those planned for the image, searching the
// PYTHONPATH folders in order the way Python's import system would.

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
