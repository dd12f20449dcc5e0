// The way that makes no image but what builds one elsewhere (`--as-dockerfile <dir>`): the plan's
// context written into a folder, the Dockerfile and every file it copies, for BuildKit or buildah
// on a machine cortex-s2i never talks to.

import { ContextDirectoryError, writeContextDirectory } from '../../context/directory.js';
import { contextDirectoryFailed, contextDirectoryRefused, formatProblem } from '../../errors.js';
import { compare } from '../../text.js';
import { contextEntries } from '../context.js';
import type { Planned, Way } from './way.js';

export const dockerfileFolder: Way<Planned, string> = {
  name: 'Dockerfile folder',

  async can(build) {
    return build.request.make.asDockerfile;
  },

  async make(build, dir) {
    const { plan } = build;
    const entries = contextEntries(plan, build.dockerfile.text);
    const written = await writeContextDirectory(entries, dir, { mtime: build.mtime }).catch((err: unknown) => {
      if (err instanceof ContextDirectoryError) throw contextDirectoryRefused(dir, err.message);
      throw contextDirectoryFailed(dir, err instanceof Error ? err : new Error(String(err)));
    });
    return {
      kind: 'dockerfile-folder',
      given: dir,
      image: plan.image,
      written,
      entries: entries
        .map((e) => ({ name: e.name, ...(e.linkTarget !== undefined ? { linkTarget: e.linkTarget } : {}) }))
        .sort((a, b) => compare(a.name, b.name)),
      warnings: plan.warnings.map(formatProblem),
    };
  },
};
