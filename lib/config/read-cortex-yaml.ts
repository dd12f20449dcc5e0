// Reads a Cortex project from disk: the list of its files and its cortex.yaml, handed to the pure
// parser in cortex-yaml.ts.

import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { invalidProject } from '../errors.js';
import type { CortexApi } from './cortex-yaml.js';
import { CORTEX_YAML } from './source-tree.js';

/** The project's files as slash-separated relative paths; dot files and folders are left out, as Cortex did. */
export async function listProjectFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(rel: string): Promise<void> {
    for (const entry of await readdir(path.join(root, rel), { withFileTypes: true })) {
      if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
      const child = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) await walk(child);
      else out.push(child);
    }
  }
  await walk('');
  return out.sort();
}

/** The project's APIs, or a CortexError listing every problem of its cortex.yaml. */
export async function readCortexYaml(root: string): Promise<CortexApi[] | undefined> {
  const file = path.join(root, CORTEX_YAML);
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (text === undefined) return undefined;
  // The parser (and the yaml library) load only for projects that have a cortex.yaml: every other
  // build asks this first, and should not pay for them.
  const { parseCortexYaml } = await import('./cortex-yaml.js');
  const result = parseCortexYaml(text, file, await listProjectFiles(root));
  if (!result.ok) throw invalidProject(result.errors);
  return result.value;
}
