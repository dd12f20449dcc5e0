// Reads a model and the project around it: scans the tree (scan.ts), lets the pure resolver
// (layout.ts) decide the layout, and scans more whenever the resolver asks for it.

import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { compare, toPosix } from '../text.js';
import type { IgnoreRules } from './ignore-rules.js';
import {
  ENVIRONMENT_FILE,
  resolveProject,
  type ProjectSource,
  type ResolveOptions,
  type SourceFile,
} from './layout.js';
import { failed, ok, type Result } from './result.js';
import { extendScan, scanModel, type ProjectSnapshot } from './scan.js';

export * from './layout.js';

export class SourceDirectoryError extends Error {}

export interface ReadOptions extends ResolveOptions {
  /** The user's home folder, which the search for a project root never reaches. */
  home?: string;
  /** The first look at the model (scanModel), when the caller has taken it already. */
  snapshot?: ProjectSnapshot;
  /** Told the snapshot the layout was decided from: what a build's inputs are (inputs.ts). */
  onSnapshot?: (snapshot: ProjectSnapshot) => void;
}

/**
 * Reads the model in `sourceDir`. Its project root is `projectDir` when given, else the highest
 * ancestor that the model's code and entry points import from (the model folder when none).
 */
export async function readProject(
  sourceDir: string,
  projectDir?: string,
  options: ReadOptions = {},
): Promise<Result<ProjectSource>> {
  const modelDir = path.resolve(sourceDir);
  if (
    !(await stat(modelDir).then(
      (s) => s.isDirectory(),
      () => false,
    ))
  )
    throw new SourceDirectoryError(modelDir);
  let snapshot =
    options.snapshot ?? (await scanModel(modelDir, options.home === undefined ? {} : { home: options.home }));
  const resolveOptions: ResolveOptions = {
    ...(projectDir === undefined ? {} : { projectDir: path.resolve(projectDir) }),
    ...(options.extraEnv ? { extraEnv: options.extraEnv } : {}),
    ...(options.environmentText !== undefined ? { environmentText: options.environmentText } : {}),
    ...(options.pythonPaths ? { pythonPaths: options.pythonPaths } : {}),
    ...(options.findImports ? { findImports: options.findImports } : {}),
  };
  // Each round reads what the resolver asked for; it asks only for what it has not seen, and the
  // tree is finite, so the rounds end.
  for (;;) {
    const resolved = resolveProject(snapshot, resolveOptions);
    if (resolved.ok === 'more') {
      snapshot = await extendScan(snapshot, resolved);
      continue;
    }
    options.onSnapshot?.(snapshot);
    return resolved.ok ? ok(resolved.value) : failed(resolved.errors);
  }
}

/** The model folders directly in a folder, sorted; `except` names folders to pass over. */
export async function listModels(root: string, except: string[] = []): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true });
  const models: string[] = [];
  for (const e of entries) {
    if (
      e.isDirectory() &&
      !e.name.startsWith('.') &&
      !except.includes(e.name) &&
      (await stat(path.join(root, e.name, ENVIRONMENT_FILE)).then(
        () => true,
        () => false,
      ))
    ) {
      models.push(e.name);
    }
  }
  return models.sort(compare);
}

/** Every non-ignored regular file under `dir` (relative to root), sorted: the builder images' own files. */
export async function listFiles(root: string, dir: string, ignore: IgnoreRules): Promise<SourceFile[]> {
  const entries = (await readdir(path.join(root, dir), { withFileTypes: true })).sort((a, b) =>
    compare(a.name, b.name),
  );
  const parts = await Promise.all(
    entries.map(async (entry): Promise<SourceFile[]> => {
      const rel = dir === '' ? entry.name : `${dir}/${entry.name}`;
      if (ignore.ignores(rel, entry.isDirectory())) return [];
      if (entry.isDirectory()) return listFiles(root, rel, ignore);
      if (!entry.isFile()) return [];
      const abs = path.join(root, rel);
      const st = await stat(abs);
      return [{ path: toPosix(rel), abs, size: st.size, executable: (st.mode & 0o111) !== 0, mtimeMs: st.mtimeMs }];
    }),
  );
  return parts.flat();
}
