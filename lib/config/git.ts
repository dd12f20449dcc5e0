// Reads the git revision of a source folder, for the image's commit labels. No git, no labels.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { SourceRevision } from '../plan/build-plan.js';

const run = promisify(execFile);

export async function readRevision(dir: string): Promise<SourceRevision | undefined> {
  const git = async (...args: string[]) => (await run('git', ['-C', dir, ...args], { timeout: 10_000 })).stdout.trim();
  try {
    const [commit, author, date, message] = (await git('log', '-1', '--format=%H%n%an <%ae>%n%cI%n%s')).split('\n');
    if (!commit) return undefined;
    const ref = await git('rev-parse', '--abbrev-ref', 'HEAD').catch(() => '');
    const remote = await git('config', '--get', 'remote.origin.url').catch(() => '');
    return {
      commit,
      ...(ref && ref !== 'HEAD' ? { ref } : {}),
      ...(author ? { author } : {}),
      ...(date ? { date } : {}),
      ...(message ? { message } : {}),
      // A remote URL may carry credentials (https://user:token@host/...): keep them out of labels.
      ...(remote && !/\/\/[^/]*@/.test(remote) ? { remote } : {}),
    };
  } catch {
    return undefined;
  }
}
