// Reads the git revision of a source folder, for the image's commit labels. No git, no labels.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { SourceRevision } from '../plan/build-plan.js';

const run = promisify(execFile);

export async function readRevision(dir: string): Promise<SourceRevision | undefined> {
  const git = async (...args: string[]) => (await run('git', ['-C', dir, ...args], { timeout: 10_000 })).stdout.trim();
  try {
    // Three independent questions, asked at once.
    const [log, ref, remote] = await Promise.all([
      git('log', '-1', '--format=%H%n%an <%ae>%n%cI%n%s'),
      git('rev-parse', '--abbrev-ref', 'HEAD').catch(() => ''),
      git('config', '--get', 'remote.origin.url').catch(() => ''),
    ]);
    const [commit, author, date, message] = log.split('\n');
    if (!commit) return undefined;
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
