import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { removeTree, sampleProject, writeTree } from '../../test/support/tree.js';
import { readProject } from './project.js';

describe('readProject', () => {
  let root: string;
  beforeEach(async () => {
    root = await writeTree(sampleProject());
  });
  afterEach(() => removeTree(root));

  it('finds the project around a model and its shared code', async () => {
    const r = await readProject(path.join(root, 'shop/churn'));
    expect(r.ok).to.equal(true);
    if (!r.ok) return;
    const p = r.value;
    expect(p.root).to.equal(path.join(root, 'shop'));
    expect(p.standalone).to.equal(false);
    expect(p.model).to.include({ path: 'churn', name: 'churn' });
    expect(p.modelPaths).to.deep.equal(['churn', 'upsell']);
    expect(p.sharedFolders.map((f) => f.name)).to.deep.equal(['common']);
    expect(p.leftOut).to.deep.include({ path: 'docs', why: 'no Python code' });
    expect(p.dotenv?.keys).to.deep.equal(['API_TOKEN']);
    expect(Object.keys(p.requirements).sort()).to.deep.equal(['requirements_predict.txt', 'requirements_train.txt']);
    expect(p.setupScript?.executable).to.equal(true);
  });

  it('lists only non-ignored model files, sorted', async () => {
    const r = await readProject(path.join(root, 'shop/churn'));
    if (!r.ok) throw new Error('unexpected');
    expect(r.value.modelFiles.map((f) => f.path)).to.deep.equal([
      'churn/predict.py',
      'churn/requirements_predict.txt',
      'churn/requirements_train.txt',
      'churn/setup.sh',
      'churn/train.py',
    ]);
    expect(
      r.value.ignored
        .filter((i) => i.path.startsWith('churn/'))
        .map((i) => [i.path, i.by.endsWith('.cortexignore') ? '.cortexignore' : i.by]),
    ).to.deep.equal([
      ['churn/.s2i', 'built-in rules'],
      ['churn/__pycache__', 'built-in rules'],
      ['churn/debug.log', '.cortexignore'],
      ['churn/notebooks', '.cortexignore'],
    ]);
  });

  it('treats a lone model directory as its own project', async () => {
    const lone = await writeTree({ 'solo/.s2i/environment': 'ROUTES=s:predict:p\n', 'solo/predict.py': '' });
    try {
      const r = await readProject(path.join(lone, 'solo'));
      expect(r.ok && [r.value.standalone, r.value.model.path, r.value.sharedFolders.length]).to.deep.equal([
        true,
        '',
        0,
      ]);
    } finally {
      await removeTree(lone);
    }
  });

  it('reports every problem of every config file at once', async () => {
    await writeTree(
      {
        'shop/churn/.s2i/environment': 'ROUTES=bad\nnonsense\n',
        'shop/churn/requirements_predict.txt': '-r base.txt\n',
        'shop/.env': 'not an assignment\n',
      },
      root,
    );
    const r = await readProject(path.join(root, 'shop/churn'));
    expect(r.ok).to.equal(false);
    if (r.ok) return;
    expect(r.errors.map((e) => `${path.relative(root, e.file)}:${e.line}`)).to.deep.equal([
      'shop/.env:1',
      'shop/churn/.s2i/environment:1',
      'shop/churn/.s2i/environment:2',
      'shop/churn/requirements_predict.txt:1',
    ]);
  });

  it('says so when the folder is not a model directory', async () => {
    const r = await readProject(path.join(root, 'shop/common'));
    expect(r.ok).to.equal(false);
    if (!r.ok) expect(r.errors[0]!.message).to.contain('has no .s2i/environment');
  });
});

describe('readProject on a hostile tree', () => {
  let root: string;
  beforeEach(async () => {
    root = await writeTree({ ...sampleProject(), 'outside/key.pem': 'PRIVATE KEY' });
  });
  afterEach(() => removeTree(root));

  it('refuses links that leave the project or reach what is never sent, naming link and target', async () => {
    await symlink('../.env', path.join(root, 'shop/churn/settings.txt'));
    await symlink(path.join(root, 'outside/key.pem'), path.join(root, 'shop/churn/key.pem'));
    await symlink('missing.py', path.join(root, 'shop/churn/dangling.py'));
    await symlink('loop', path.join(root, 'shop/churn/loop'));
    await symlink(path.join(root, 'outside'), path.join(root, 'shop/common/linked'));
    const r = await readProject(path.join(root, 'shop/churn'));
    expect(r.ok).to.equal(false);
    if (r.ok) return;
    const messages = r.errors.map((e) => e.message).join('\n');
    expect(messages).to.contain('churn/settings.txt -> ../.env ends at .env, which is not sent');
    expect(messages).to.contain('churn/key.pem -> ').and.contain('leaves the project');
    expect(messages).to.contain('churn/dangling.py -> missing.py points at nothing');
    expect(messages).to.contain('churn/loop -> loop points at nothing');
    expect(messages).to.contain('common/linked -> ').and.contain('leaves the project');
  });

  it('keeps a link to a file that is sent as a link, and skips special files and undecodable names with a warning', async () => {
    await symlink('../common/features.py', path.join(root, 'shop/churn/features.py'));
    execFileSync('mkfifo', [path.join(root, 'shop/churn/pipe')]);
    await writeFile(Buffer.from(`${path.join(root, 'shop/churn')}/bad-\xff.txt`, 'latin1'), 'x');
    const r = await readProject(path.join(root, 'shop/churn'));
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.value.links).to.deep.equal([{ path: 'churn/features.py', target: '../common/features.py' }]);
    expect(r.value.warnings.map((w) => w.message))
      .to.include('skipped: not a regular file, folder or link (a socket, pipe or device)')
      .and.include('skipped: the name is not valid UTF-8');
  });
});
