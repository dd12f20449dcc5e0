import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { removeTree, sampleProject, writeTree } from '../../test/support/tree.js';
import { main } from '../cli/main.js';
import { readRevision } from './git.js';

/** A repository whose configuration tries to run a program that leaves a marker file. */
async function hostileRepository(): Promise<{ root: string; project: string; marker: string; commit: string }> {
  const root = await writeTree({ ...sampleProject(), 'hook.sh': { content: '#!/bin/sh\ntouch "$(dirname "$0")/ran-$$"\necho "$0 $*" >> "$(dirname "$0")/marker"\n', mode: 0o755 } });
  const project = path.join(root, 'shop');
  const marker = path.join(root, 'marker');
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=Ada', '-c', 'user.email=ada@example.com', '-C', project, ...args], { env: { PATH: process.env.PATH, HOME: root, GIT_CONFIG_NOSYSTEM: '1' } }).toString().trim();
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('commit', '-qm', 'first');
  // A signed commit: showing its signature would call gpg.program.
  const tree = git('rev-parse', 'HEAD^{tree}');
  const parent = git('rev-parse', 'HEAD');
  const body = [
    `tree ${tree}`,
    `parent ${parent}`,
    'author Ada <ada@example.com> 1700000000 +0000',
    'committer Ada <ada@example.com> 1700000000 +0000',
    'gpgsig -----BEGIN PGP SIGNATURE-----',
    ' ',
    ' iQEzBAABCAAdFiEEfakefakefakefakefakefakefakefakefakeFAmVo',
    ' -----END PGP SIGNATURE-----',
    '',
    'Signed release',
    '',
  ].join('\n');
  const commit = execFileSync('git', ['-C', project, 'hash-object', '-t', 'commit', '-w', '--stdin'], { input: body }).toString().trim();
  git('update-ref', 'refs/heads/main', commit);
  const hook = path.join(root, 'hook.sh');
  for (const [key, value] of [
    ['log.showSignature', 'true'],
    ['gpg.program', hook],
    ['gpg.ssh.program', hook],
    ['core.fsmonitor', hook],
    ['core.pager', hook],
    ['diff.external', hook],
  ]) git('config', key, value!);
  return { root, project, marker, commit };
}

describe('reading the git revision', () => {
  let repo: Awaited<ReturnType<typeof hostileRepository>>;
  before(async () => {
    repo = await hostileRepository();
    // The repository does run the program for a plain git log: the test would catch a reader that obeys it.
    execFileSync('git', ['-C', repo.project, 'log', '-1'], { env: { PATH: process.env.PATH, HOME: repo.root, GIT_CONFIG_NOSYSTEM: '1' } });
    expect(existsSync(repo.marker), 'git log obeys the hostile configuration').to.equal(true);
    await removeTree(repo.marker);
  });
  after(() => removeTree(repo.root));
  afterEach(() => expect(existsSync(repo.marker), 'a program from .git/config ran').to.equal(false));

  it('never runs a program named by the repository configuration, and still reads the commit', async () => {
    const revision = await readRevision(path.join(repo.project, 'churn'));
    expect(revision).to.deep.include({ commit: repo.commit, ref: 'main', author: 'Ada <ada@example.com>', message: 'Signed release' });
  });

  it('--dry-run shows the commit labels without running one either', async () => {
    const out: string[] = [];
    const code = await main(['build', path.join(repo.project, 'churn'), 'daemon', 'churn-predict', '--dry-run'], {
      env: {},
      output: { out: (l) => out.push(l), err: (l) => out.push(l) },
      engine: () => {
        throw new Error('no engine');
      },
    });
    expect(code, out.join('\n')).to.equal(0);
    expect(out.join('\n')).to.contain(repo.commit);
  });
});
