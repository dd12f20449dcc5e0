import { expect } from 'chai';
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
    expect(r.value.ignored.filter((i) => i.path.startsWith('churn/')).map((i) => [i.path, i.by.endsWith('.cortexignore') ? '.cortexignore' : i.by])).to.deep.equal([
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
      expect(r.ok && [r.value.standalone, r.value.model.path, r.value.sharedFolders.length]).to.deep.equal([true, '', 0]);
    } finally {
      await removeTree(lone);
    }
  });

  it('reports every problem of every config file at once', async () => {
    await writeTree({
      'shop/churn/.s2i/environment': 'ROUTES=bad\nnonsense\n',
      'shop/churn/requirements_predict.txt': '-r base.txt\n',
      'shop/.env': 'not an assignment\n',
    }, root);
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
