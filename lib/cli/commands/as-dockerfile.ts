// `cortex-s2i build ... --as-dockerfile <dir>`: writes the plan's context into a folder and says
// how to build it where there is no engine for cortex-s2i to talk to (buildah in CI, say).

import { ContextDirectoryError, writeContextDirectory } from '../../context/directory.js';
import { contextEntries } from '../../engine/execute-plan.js';
import { contextDirectoryFailed, contextDirectoryRefused } from '../../errors.js';
import type { BuildPlan } from '../../plan/build-plan.js';
import { formatBytes } from '../../plan/describe.js';
import { compare } from '../../text.js';
import type { Output } from '../context.js';

export async function writeAsDockerfile(
  dir: string,
  plan: BuildPlan,
  dockerfile: string,
  mtime: Date,
  output: Output,
): Promise<void> {
  const entries = contextEntries(plan, dockerfile);
  const written = await writeContextDirectory(entries, dir, { mtime }).catch((err: unknown) => {
    if (err instanceof ContextDirectoryError) throw contextDirectoryRefused(dir, err.message);
    throw contextDirectoryFailed(dir, err instanceof Error ? err : new Error(String(err)));
  });
  output.out(
    `wrote ${written.dir}: ${written.files} files (${formatBytes(written.bytes)})${written.links ? ` and ${written.links} link${written.links === 1 ? '' : 's'}` : ''}`,
  );
  for (const e of [...entries].sort((a, b) => compare(a.name, b.name))) {
    output.out(`  ${e.name}${e.linkTarget !== undefined ? ` -> ${e.linkTarget}` : ''}`);
  }
  output.out('build it with either of:');
  output.out(`  docker build -t ${shellWord(plan.image)} ${shellWord(dir)}`);
  output.out(`  buildah bud --storage-driver vfs -t ${shellWord(plan.image)} ${shellWord(dir)}`);
}

/** A word a POSIX shell reads back as it is: quoted only when it needs to be. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9@%+=:,./_-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
