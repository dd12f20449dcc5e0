// Reads the git revision of a source folder, for the image's commit labels. No git, no labels.
// The repository is untrusted input: its configuration must never make git run a program.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export interface SourceRevision {
  commit: string;
  ref?: string;
  author?: string;
  date?: string;
  message?: string;
  remote?: string;
}

const run = promisify(execFile);

/**
 * Settings that make git run a program, each switched off on the command line, where it wins over
 * every configuration file. Reading a revision needs none of them: signatures are not checked,
 * nothing is diffed, paged, fetched or hooked, and the index is not read.
 */
const NEUTRAL_CONFIG = [
  'log.showSignature=false',
  'gpg.program=false',
  'gpg.openpgp.program=false',
  'gpg.ssh.program=false',
  'gpg.x509.program=false',
  'gpg.ssh.defaultKeyCommand=false',
  'core.fsmonitor=false',
  'core.hooksPath=/dev/null',
  'core.pager=cat',
  'core.sshCommand=false',
  'core.gitProxy=false',
  'core.askPass=false',
  'core.editor=false',
  'core.untrackedCache=false',
  'diff.external=',
  'credential.helper=',
  'protocol.allow=never',
  'log.showRoot=false',
  'log.mailmap=false',
];

/**
 * The environment git runs in: no GIT_* variable of the caller (GIT_EXTERNAL_DIFF, GIT_PAGER,
 * GIT_CONFIG_PARAMETERS...), no system or global configuration, no prompts.
 */
function gitEnvironment(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: '/nonexistent',
    LC_ALL: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_OPTIONAL_LOCKS: '0',
    GIT_NO_REPLACE_OBJECTS: '1',
  };
}

export async function readRevision(dir: string): Promise<SourceRevision | undefined> {
  const overrides = NEUTRAL_CONFIG.flatMap((c) => ['-c', c]);
  const env = gitEnvironment();
  const git = async (...args: string[]) => (await run('git', ['--no-pager', ...overrides, '-C', dir, ...args], { timeout: 10_000, env })).stdout.trim();
  try {
    // Three independent questions, asked at once.
    const [log, ref, remote] = await Promise.all([
      git('log', '-1', '--no-show-signature', '--no-mailmap', '--format=%H%n%an <%ae>%n%cI%n%s'),
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
