// Writes generated files without clobbering hand-written ones: a file is written where it is
// missing or where the generator's header says the generator wrote it; anything else is kept and
// named. A folder the generator owns loses the generated files it no longer needs.

import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { GeneratedFile } from '../render/all-files.js';
import { readExisting, removeContained, writeContained } from '../safe-write.js';

// Files a generator may have written into its folder before, and may not write this time.
const OPTIONAL_GENERATED = ['setup.sh'];

/** The header every generated file carries in its first lines ("Written by" in older versions). */
const HEADER = /(Generated|Written) by `cortex-s2i (all|init)`/;

export function isGenerated(content: string): boolean {
  return HEADER.test(content.split('\n', 4).join('\n'));
}

/** --force may replace a hand-written Makefile or a generated folder's .s2i/environment, nothing else. */
function forceable(f: GeneratedFile): boolean {
  return f.role === 'generated' && (path.posix.basename(f.path) === 'Makefile' || f.path.endsWith('.s2i/environment'));
}

export interface WriteReport {
  lines: string[];
  /** The files left as they were because someone else wrote them. */
  kept: string[];
}

export async function writeGenerated(
  root: string,
  files: GeneratedFile[],
  opts: { force?: boolean; ownedDir?: string } = {},
): Promise<WriteReport> {
  const lines: string[] = [];
  const kept: string[] = [];
  // The model's own files where a skeleton would go: never replaced, named once.
  const ownCode: string[] = [];
  await mkdir(root, { recursive: true });
  for (const f of files) {
    const before = await readExisting(root, f.path);
    if (before.kind === 'link' && f.role === 'skeleton') {
      ownCode.push(f.path);
      continue;
    }
    if (before.kind === 'file') {
      const text = before.content.toString('utf8');
      if (text === f.content) {
        lines.push(`unchanged ${f.path}`);
        continue;
      }
      if (f.role === 'skeleton') {
        ownCode.push(f.path);
        continue;
      }
      if (!isGenerated(text)) {
        if (!(opts.force && forceable(f))) {
          kept.push(f.path);
          lines.push(
            `kept ${f.path}: written by hand (no cortex-s2i header)${forceable(f) ? '; --force replaces it' : ''}`,
          );
          continue;
        }
        await writeContained(root, f.path, f.content, f.executable);
        lines.push(`replaced ${f.path} (--force; it was written by hand)`);
        continue;
      }
    }
    await writeContained(root, f.path, f.content, f.executable);
    lines.push(`${before.kind === 'missing' ? 'wrote' : 'updated'} ${f.path}`);
  }
  if (ownCode.length)
    lines.push(`kept ${ownCode.join(', ')} (the model's own; a skeleton is written only where a file is missing)`);
  if (opts.ownedDir) {
    for (const name of OPTIONAL_GENERATED) {
      const rel = `${opts.ownedDir}/${name}`;
      if (files.some((f) => f.path === rel)) continue;
      const existing = await readExisting(root, rel);
      // Only a file this generator wrote: its header says so.
      if (existing.kind === 'file' && isGenerated(existing.content.toString('utf8'))) {
        await removeContained(root, rel);
        lines.push(`removed ${rel} (no model has a setup.sh any more)`);
      }
    }
  }
  return { lines, kept };
}
