// Builds a project snapshot in memory from an inline tree, as scan.ts would read it from disk:
// the layout resolver and the planner are tested without touching the file system.

import path from 'node:path';
import type { ProjectSnapshot, ScannedEntry } from '../../lib/config/scan.js';
import { NOT_WALKED } from '../../lib/config/scan.js';
import { resolveProject, type ProjectSource, type ResolveOptions } from '../../lib/config/layout.js';
import type { Result } from '../../lib/config/result.js';

/** A file's text, an executable file, or a link (its target as written). */
export type MemoryTree = Record<
  string,
  string | { content: string; mode: number } | { link: string } | { special: true }
>;

const ROOT = '/mem';

/** The snapshot of `tree` (paths relative to /mem) around the model folder `model`, everything read. */
export function snapshotOf(tree: MemoryTree, model: string): ProjectSnapshot {
  const entries = new Map<string, ScannedEntry>();
  const texts = new Map<string, string>();
  const dirs = new Set<string>([ROOT]);
  for (const [rel, value] of Object.entries(tree)) {
    const abs = path.posix.join(ROOT, rel);
    for (let d = path.posix.dirname(abs); d !== '/' && !dirs.has(d); d = path.posix.dirname(d)) dirs.add(d);
    if (typeof value === 'string' || 'content' in value) {
      const content = typeof value === 'string' ? value : value.content;
      const executable = typeof value !== 'string' && (value.mode & 0o111) !== 0;
      entries.set(abs, { kind: 'file', size: Buffer.byteLength(content), executable, mtimeMs: 1_700_000_000_000 });
      texts.set(abs, content);
    } else if ('special' in value) {
      entries.set(abs, { kind: 'special', size: 0, executable: false, mtimeMs: 0 });
    }
  }
  for (const d of dirs) if (d !== ROOT) entries.set(d, { kind: 'dir', size: 0, executable: true, mtimeMs: 0 });
  for (const [rel, value] of Object.entries(tree)) {
    if (typeof value !== 'object' || !('link' in value)) continue;
    const abs = path.posix.join(ROOT, rel);
    let real: string | undefined = path.posix.resolve(path.posix.dirname(abs), value.link);
    for (let hops = 0; real && entries.get(real)?.kind === 'link' && hops < 10; hops++)
      real = entries.get(real)!.realTarget;
    const target = real ? entries.get(real) : undefined;
    entries.set(abs, {
      kind: 'link',
      size: 0,
      executable: false,
      mtimeMs: 0,
      linkTarget: value.link,
      ...(target && real
        ? { realTarget: real, targetKind: target.kind === 'file' ? 'file' : target.kind === 'dir' ? 'dir' : 'other' }
        : {}),
    } as ScannedEntry);
  }
  const modelDir = path.posix.join(ROOT, model);
  const levels: string[] = [];
  for (let d = modelDir; d !== '/'; d = path.posix.dirname(d)) levels.push(d);
  const walked = new Set(
    [...dirs].filter(
      (d) =>
        !path.posix
          .relative(ROOT, d)
          .split('/')
          .some((p) => p.startsWith('.') || NOT_WALKED.has(p)),
    ),
  );
  return { modelDir, levels, realLevels: levels, entries, listed: dirs, walked, texts, badNames: [] };
}

export function resolveInMemory(tree: MemoryTree, model: string, options: ResolveOptions = {}): Result<ProjectSource> {
  const r = resolveProject(
    snapshotOf(tree, model),
    options.projectDir ? { ...options, projectDir: path.posix.join(ROOT, options.projectDir) } : options,
  );
  if (r.ok === 'more') throw new Error(`the in-memory snapshot lacks ${JSON.stringify(r)}`);
  return r;
}

export const MEMORY_ROOT = ROOT;
