// Reads the git revision of a source folder, for the image's commit labels. No git, no labels.
// The repository is untrusted input: its configuration must never make git run a program.

import { createHash } from 'node:crypto';
import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';

export interface SourceRevision {
  commit: string;
  ref?: string;
  author?: string;
  date?: string;
  /** The commit time, in whole seconds since 1970: what `git log -1 --format=%ct` prints. */
  time?: number;
  message?: string;
  remote?: string;
}

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

/** Runs git in `dir` with the program-running settings neutralised; resolves to its stdout. */
async function safeGit(dir: string, args: string[], maxBuffer?: number): Promise<string> {
  const overrides = NEUTRAL_CONFIG.flatMap((c) => ['-c', c]);
  const options = { timeout: 10_000, env: gitEnvironment(), ...(maxBuffer ? { maxBuffer } : {}) };
  // Loaded here: a rebuild found up to date starts no process, and need not load the module.
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const run = promisify(execFile);
  return (await run('git', ['--no-pager', ...overrides, '-C', dir, ...args], options)).stdout;
}

export async function readRevision(dir: string): Promise<SourceRevision | undefined> {
  const git = async (...args: string[]) => (await safeGit(dir, args)).trim();
  try {
    // Two independent questions, asked at once (each git process costs a start): the commit, with
    // the branch HEAD points at among its decorations (%D: "HEAD -> main, origin/main"), and the remote.
    const [log, remote] = await Promise.all([
      git('log', '-1', '--no-show-signature', '--no-mailmap', '--format=%H%n%an <%ae>%n%cI%n%ct%n%D%n%s'),
      git('config', '--get', 'remote.origin.url').catch(() => ''),
    ]);
    const [commit, author, date, time, decorations, message] = log.split('\n');
    if (!commit) return undefined;
    const ref = /^HEAD -> ([^,]+)/.exec(decorations ?? '')?.[1];
    return {
      commit,
      ...(ref ? { ref } : {}),
      ...(author ? { author } : {}),
      ...(date ? { date } : {}),
      ...(time && /^\d+$/.test(time) ? { time: Number(time) } : {}),
      ...(message ? { message } : {}),
      // A remote URL may carry credentials (https://user:token@host/...): keep them out of labels.
      ...(remote && !/\/\/[^/]*@/.test(remote) ? { remote } : {}),
    };
  } catch {
    return undefined;
  }
}

/** A file of a commit as git keeps it. */
export interface CommittedFile {
  /** The object id of its content (a symbolic link's content is its target). */
  blob: string;
  executable: boolean;
  link: boolean;
}

/**
 * Every file of `commit` in the repository `dir` is in, by absolute path (as `dir` spells it);
 * undefined when `dir` is not in a checkout. The whole repository, so that it can be asked before
 * the project's root is known. `ls-tree` reads only objects: no index, no attributes, no filters,
 * so nothing in the repository's configuration runs.
 */
export async function readCommittedFiles(dir: string, commit: string): Promise<Map<string, CommittedFile> | undefined> {
  if (commit !== 'HEAD' && !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(commit)) return undefined;
  // Paths come relative to `dir` ('../x' above it), NUL-separated, never quoted; ':/' is the top.
  const listing = await safeGit(dir, ['ls-tree', '-r', '-z', commit, '--', ':/'], 256 * 1024 * 1024).catch(
    () => undefined,
  );
  if (listing === undefined) return undefined;
  const files = new Map<string, CommittedFile>();
  for (const entry of listing.split('\0')) {
    const m = /^(\d{6}) blob ([0-9a-f]+)\t(.+)$/s.exec(entry);
    if (!m) continue;
    files.set(path.resolve(dir, m[3]!), { blob: m[2]!, executable: m[1] === '100755', link: m[1] === '120000' });
  }
  return files;
}

/** git's object id of a blob: the hash of a header and the content, in the repository's hash (SHA-1 or SHA-256). */
export function blobId(content: Buffer | string, algorithm: 'sha1' | 'sha256' = 'sha1'): string {
  const bytes = typeof content === 'string' ? Buffer.from(content) : content;
  return createHash(algorithm).update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

/**
 * Whether every file and link sent is in `committed` with the same content and executable bit:
 * the source is exactly what the commit holds, so the commit's time can stand for it. Contents
 * are hashed here, not by git, whose attributes could run a clean filter.
 */
export async function unchangedSince(
  committed: ReadonlyMap<string, CommittedFile>,
  /** Without `executable`, only the content counts (a file the build reads but does not send). */
  files: ReadonlyArray<{ abs: string; executable?: boolean }>,
  links: ReadonlyArray<{ abs: string; target: string }>,
): Promise<boolean> {
  for (const l of links) {
    const c = committed.get(l.abs);
    if (!c?.link || c.blob !== blobId(l.target, algorithmOf(c.blob))) return false;
  }
  // Names and modes first: a new or renamed file answers without reading anything.
  for (const f of files) {
    const c = committed.get(f.abs);
    if (!c || c.link || (f.executable !== undefined && c.executable !== f.executable)) return false;
  }
  // A few files at a time: enough to keep the disk busy, few enough to stay under open-file limits.
  for (let i = 0; i < files.length; i += 32) {
    const same = await Promise.all(
      files.slice(i, i + 32).map(async (f) => {
        const c = committed.get(f.abs)!;
        return blobId(await readFile(f.abs), algorithmOf(c.blob)) === c.blob;
      }),
    );
    if (same.includes(false)) return false;
  }
  return true;
}

function algorithmOf(blob: string): 'sha1' | 'sha256' {
  return blob.length === 64 ? 'sha256' : 'sha1';
}

/**
 * What readRevision would answer, as the files of the repository show it without running git:
 * where HEAD points (its text), and the size, time and inode of the branch file it names, of
 * packed-refs and of config (the remote). A commit, a checkout or a new remote changes one of them;
 * the commit's author, date and message come with its id. A rebuild found up to date (its build
 * cache) compares this instead of starting git. 'none' outside a repository.
 */
export async function revisionStamp(dir: string): Promise<string> {
  let top = path.resolve(dir);
  let dotGit: string | undefined;
  for (;;) {
    const candidate = path.join(top, '.git');
    if (
      await lstat(candidate).then(
        () => true,
        () => false,
      )
    ) {
      dotGit = candidate;
      break;
    }
    const parent = path.dirname(top);
    if (parent === top) return 'none';
    top = parent;
  }
  const small = async (file: string) => {
    const text = await readFile(file, 'utf8').catch(() => '');
    return text.length > 4096 ? '' : text.trim();
  };
  const stamp = async (file: string) =>
    lstat(file).then(
      (s) => `${s.size}:${s.mtimeMs}:${s.ino}`,
      () => '-',
    );
  // A worktree or a submodule has a .git file naming its git folder, whose commondir holds the refs.
  let gitDir = dotGit;
  const found = await lstat(dotGit);
  if (found.isFile()) {
    const named = /^gitdir: (.+)$/m.exec(await small(dotGit))?.[1];
    if (!named) return `unreadable ${dotGit}`;
    gitDir = path.resolve(top, named);
  }
  const common = await small(path.join(gitDir, 'commondir'));
  const commonDir = common ? path.resolve(gitDir, common) : gitDir;
  const head = await small(path.join(gitDir, 'HEAD'));
  const ref = /^ref: (refs\/[^\0]+)$/.exec(head)?.[1];
  const refParts = ref && !ref.split('/').includes('..') ? [path.join(gitDir, ref), path.join(commonDir, ref)] : [];
  const files = [...refParts, path.join(commonDir, 'packed-refs'), path.join(commonDir, 'config')];
  // git refuses a repository someone else owns (safe.directory): the owner counts too.
  return JSON.stringify({
    dotGit,
    owner: found.uid,
    gitDir,
    head,
    files: await Promise.all(files.map(async (f) => [f, await stamp(f)])),
  });
}
