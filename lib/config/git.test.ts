import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, chmod, readdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { removeTree, sampleProject, writeTree } from '../../test/support/tree.js';
import { plan } from '../index.js';
import { blobId, readRevision, revisionStamp } from './git.js';

/** The org.opencontainers.image.created label of a dry run of `modelDir`. */
async function createdLabel(modelDir: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const { dockerfile } = await dryRun(modelDir, env);
  const created = /"org\.opencontainers\.image\.created"="([^"]+)"/.exec(dockerfile);
  expect(created, dockerfile).to.not.equal(null);
  return created![1]!;
}

/** A dry run of `modelDir`'s daemon image, as `build --dry-run` does it: no engine. */
function dryRun(modelDir: string, environment: NodeJS.ProcessEnv = {}) {
  return plan({
    source: modelDir,
    builder: 'daemon',
    image: 'churn-predict',
    environment,
    engine: () => {
      throw new Error('no engine');
    },
  });
}

async function touchAll(dir: string, when: Date): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name === '.git') continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await touchAll(p, when);
    await utimes(p, when, when);
  }
}

/** A repository whose configuration tries to run a program that leaves a marker file. */
async function hostileRepository(): Promise<{ root: string; project: string; marker: string; commit: string }> {
  const root = await writeTree({
    ...sampleProject(),
    'hook.sh': {
      content: '#!/bin/sh\ntouch "$(dirname "$0")/ran-$$"\necho "$0 $*" >> "$(dirname "$0")/marker"\n',
      mode: 0o755,
    },
  });
  const project = path.join(root, 'shop');
  const marker = path.join(root, 'marker');
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=Ada', '-c', 'user.email=ada@example.com', '-C', project, ...args], {
      env: { PATH: process.env.PATH, HOME: root, GIT_CONFIG_NOSYSTEM: '1' },
    })
      .toString()
      .trim();
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
  const commit = execFileSync('git', ['-C', project, 'hash-object', '-t', 'commit', '-w', '--stdin'], { input: body })
    .toString()
    .trim();
  git('update-ref', 'refs/heads/main', commit);
  const hook = path.join(root, 'hook.sh');
  for (const [key, value] of [
    ['log.showSignature', 'true'],
    ['gpg.program', hook],
    ['gpg.ssh.program', hook],
    ['core.fsmonitor', hook],
    ['core.pager', hook],
    ['diff.external', hook],
    // A clean filter runs on every file git compares with the index (git status, git diff).
    ['filter.evil.clean', hook],
    ['filter.evil.smudge', hook],
  ])
    git('config', key, value!);
  await writeFile(path.join(project, '.gitattributes'), '* filter=evil\n');
  return { root, project, marker, commit };
}

describe('reading the git revision', () => {
  let repo: Awaited<ReturnType<typeof hostileRepository>>;
  before(async () => {
    repo = await hostileRepository();
    // The repository does run the program for a plain git log: the test would catch a reader that obeys it.
    execFileSync('git', ['-C', repo.project, 'log', '-1'], {
      env: { PATH: process.env.PATH, HOME: repo.root, GIT_CONFIG_NOSYSTEM: '1' },
    });
    expect(existsSync(repo.marker), 'git log obeys the hostile configuration').to.equal(true);
    await removeTree(repo.marker);
  });
  after(() => removeTree(repo.root));
  afterEach(() => expect(existsSync(repo.marker), 'a program from .git/config ran').to.equal(false));

  it('never runs a program named by the repository configuration, and still reads the commit', async () => {
    const revision = await readRevision(path.join(repo.project, 'churn'));
    expect(revision).to.deep.include({
      commit: repo.commit,
      ref: 'main',
      author: 'Ada <ada@example.com>',
      message: 'Signed release',
    });
  });

  it('--dry-run shows the commit labels without running one either', async () => {
    const { dockerfile, plan: lines } = await dryRun(path.join(repo.project, 'churn'));
    expect(dockerfile).to.contain(repo.commit);
    expect(lines.join('\n')).to.contain('plan for churn-predict');
  });

  it('dates the image by the commit, checking the files against it without running a filter', async () => {
    // The filter does run where git compares files with the index: the test would catch a check that does.
    spawnSync('git', ['-C', repo.project, 'diff', '--quiet'], {
      env: { PATH: process.env.PATH, HOME: repo.root, GIT_CONFIG_NOSYSTEM: '1' },
      stdio: 'ignore',
    });
    expect(existsSync(repo.marker), 'git diff obeys the hostile filter').to.equal(true);
    await removeTree(repo.marker);
    await touchAll(repo.project, new Date('2001-02-03T04:05:06Z'));
    expect(await createdLabel(path.join(repo.project, 'churn'))).to.equal('2023-11-14T22:13:20.000Z');
  });
});

describe("an image's creation time in a git checkout", () => {
  const COMMITTED = '2020-09-13T12:26:40.000Z';
  const FILE_TIME = new Date('2001-02-03T04:05:06Z');
  const EDITED = new Date('2011-02-03T04:05:06Z');
  let root: string;
  let shop: string;
  let churn: string;

  beforeEach(async () => {
    root = await writeTree(sampleProject());
    shop = path.join(root, 'shop');
    churn = path.join(shop, 'churn');
    const env = {
      PATH: process.env.PATH,
      HOME: root,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_COMMITTER_DATE: '1600000000 +0000',
      GIT_AUTHOR_DATE: '1500000000 +0000',
    };
    const git = (...args: string[]) =>
      execFileSync('git', ['-c', 'user.name=Ada', '-c', 'user.email=ada@example.com', '-C', shop, ...args], { env });
    git('init', '-q', '-b', 'main');
    git('add', '.');
    git('commit', '-qm', 'first');
    // File times older than the commit, as a fresh clone's are not: only the source decides.
    await touchAll(shop, FILE_TIME);
  });
  afterEach(() => removeTree(root));

  /** Changes a file's content and dates the change, so that the newest file time is known. */
  async function edit(rel: string, text: string): Promise<void> {
    await appendFile(path.join(shop, rel), text);
    await utimes(path.join(shop, rel), EDITED, EDITED);
  }

  it("is the commit's time (committer, not author) when the files sent are the commit's", async () => {
    expect(await createdLabel(churn)).to.equal(COMMITTED);
  });

  it("stays the commit's time when only files that are not sent change: data, ignored, other models", async () => {
    await edit('data/sales.csv', '3,4\n');
    await edit('churn/debug.log', 'more\n');
    await edit('upsell/predict.py', '# edited\n');
    await writeTree({ 'shop/churn/notebooks/new.ipynb': '{}' }, root);
    expect(await createdLabel(churn)).to.equal(COMMITTED);
  });

  it('is the newest file time when a file sent differs from the commit', async () => {
    await edit('churn/predict.py', '# edited\n');
    expect(await createdLabel(churn)).to.equal(EDITED.toISOString());
  });

  it('is the newest file time when shared code differs from the commit', async () => {
    await edit('common/features.py', '# edited\n');
    expect(await createdLabel(churn)).to.equal(EDITED.toISOString());
  });

  it('is the newest file time when a file sent is not in the commit', async () => {
    await writeTree({ 'shop/churn/helpers.py': 'X = 1\n' }, root);
    await utimes(path.join(churn, 'helpers.py'), EDITED, EDITED);
    expect(await createdLabel(churn)).to.equal(EDITED.toISOString());
  });

  it('is the newest file time when a file sent became executable', async () => {
    await chmod(path.join(churn, 'predict.py'), 0o755);
    await utimes(path.join(churn, 'predict.py'), EDITED, EDITED);
    expect(await createdLabel(churn)).to.equal(EDITED.toISOString());
  });

  it('is the newest file time when .s2i/environment, whose values the image carries, differs', async () => {
    await edit('churn/.s2i/environment', '\nEXTRA=1\n');
    // The environment file is not sent, so its own time is not the newest file's.
    expect(await createdLabel(churn)).to.equal(FILE_TIME.toISOString());
  });

  it('is SOURCE_DATE_EPOCH when set, clean checkout or not', async () => {
    expect(await createdLabel(churn, { SOURCE_DATE_EPOCH: '1700000000' })).to.equal('2023-11-14T22:13:20.000Z');
  });

  it('names blobs as git does', () => {
    expect(blobId('hello\n')).to.equal(
      execFileSync('git', ['hash-object', '--stdin'], { input: 'hello\n' }).toString().trim(),
    );
    expect(blobId('')).to.equal('e69de29bb2d1d6434b8b29ae775ad8c2e48c5391');
  });
});

describe('the revision stamp a rebuild compares instead of running git', () => {
  let root: string;
  let project: string;
  const git = (dir: string, ...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=Ada', '-c', 'user.email=ada@example.com', '-C', dir, ...args], {
      env: { PATH: process.env.PATH, HOME: root, GIT_CONFIG_NOSYSTEM: '1' },
    })
      .toString()
      .trim();
  beforeEach(async () => {
    root = await writeTree(sampleProject());
    project = path.join(root, 'shop');
    git(project, 'init', '-q', '-b', 'main');
    git(project, 'add', '.');
    git(project, 'commit', '-qm', 'first');
  });
  afterEach(() => removeTree(root));

  it('changes with a commit, a branch, an amended message and a new remote; not with an edit of a file', async () => {
    const model = path.join(project, 'churn');
    const stamps = [await revisionStamp(model)];
    const again = async (why: string, change: () => unknown, changes = true) => {
      await change();
      const stamp = await revisionStamp(model);
      if (changes) expect(stamps, why).not.to.include(stamp);
      else expect(stamp, why).to.equal(stamps.at(-1));
      stamps.push(stamp);
    };
    await again('an edit, not committed', () => appendFile(path.join(model, 'predict.py'), '# more\n'), false);
    await again('a commit', () => git(project, 'commit', '-qam', 'second'));
    await again('a message amended', () => git(project, 'commit', '-q', '--amend', '-m', 'second, said better'));
    await again('another branch', () => git(project, 'checkout', '-q', '-b', 'other'));
    await again('a remote', () => git(project, 'remote', 'add', 'origin', 'https://example.com/shop.git'));
    await again('refs packed', () => git(project, 'pack-refs', '--all'));
    await again('a commit onto packed refs', () => git(project, 'commit', '-q', '--allow-empty', '-m', 'third'));
  });

  it('follows a worktree to its own HEAD, and is "none" outside a repository', async () => {
    const worktree = path.join(root, 'wt');
    git(project, 'worktree', 'add', '-q', '-b', 'feature', worktree);
    const before = await revisionStamp(worktree);
    expect(before).to.contain('feature');
    git(worktree, 'commit', '-q', '--allow-empty', '-m', 'in the worktree');
    expect(await revisionStamp(worktree)).not.to.equal(before);
    const outside = await writeTree({ 'a.txt': 'x' });
    try {
      // A temporary folder can sit inside a repository on a developer's machine; only say none when it is not.
      if (spawnSync('git', ['-C', outside, 'rev-parse'], { env: { PATH: process.env.PATH } }).status !== 0)
        expect(await revisionStamp(outside)).to.equal('none');
    } finally {
      await removeTree(outside);
    }
  });
});
