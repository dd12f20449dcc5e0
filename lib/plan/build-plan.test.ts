import { expect } from 'chai';
import path from 'node:path';
import { readProject, type ProjectSource } from '../config/project.js';
import { removeTree, sampleProject, writeTree, type Tree } from '../../test/support/tree.js';
import { MODELS_LINK, type PlanRequest as BuildRequest } from './plan.js';
import { planRoutes as planBuild } from './serving/routes.js';
import type { Builder } from './builders.js';

const daemon: Builder = { style: 'bundled', image: 'cortex-s2i/builder-daemon:1', kind: 'daemon' };
const train: Builder = { style: 'bundled', image: 'cortex-s2i/builder-train:1', kind: 'train' };

describe('planBuild', () => {
  const roots: string[] = [];
  after(async () => Promise.all(roots.map(removeTree)));

  async function project(overrides: Tree = {}, model = 'shop/churn'): Promise<ProjectSource> {
    const root = await writeTree(sampleProject(overrides));
    roots.push(root);
    const r = await readProject(path.join(root, model));
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    return r.value;
  }
  function request(p: ProjectSource, builder: Builder, extra: Partial<BuildRequest> = {}): BuildRequest {
    return {
      project: p,
      image: 'churn-predict',
      builder,
      extraEnv: [],
      revision: undefined,
      created: '2024-01-01T00:00:00.000Z',
      toolVersion: '1.2.3',
      ...extra,
    };
  }

  it('lays the model and shared code out under the program folder so module names import as written', async () => {
    const r = planBuild(request(await project(), daemon));
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const plan = r.value;
    expect(plan.source.map((f) => f.name)).to.deep.equal([
      'src/opt/program/shop/churn/predict.py',
      'src/opt/program/shop/churn/requirements_predict.txt',
      'src/opt/program/shop/churn/requirements_train.txt',
      'src/opt/program/shop/churn/setup.sh',
      'src/opt/program/shop/churn/train.py',
      'src/opt/program/shop/common/__init__.py',
      'src/opt/program/shop/common/features.py',
    ]);
    expect(plan.pythonPath).to.deep.equal(['/opt/program/shop/churn', '/opt/program/shop', '/opt/program']);
    expect(plan.sharedFolders).to.deep.equal(['common']);
    expect(plan.skippedFolders).to.deep.equal(['docs']);
    expect(plan.leftOut.map((l) => l.path)).to.deep.equal(['data', 'models', 'upsell']);
    expect(plan.links).to.deep.equal([{ name: 'src/opt/program/shop/models', target: MODELS_LINK }]);
  });

  it('chooses the dependency files by builder kind and names them for the dependency layer', async () => {
    const p = await project();
    const forDaemon = planBuild(request(p, daemon));
    const forTrain = planBuild(request(p, train));
    if (!forDaemon.ok || !forTrain.ok) throw new Error('unexpected');
    expect(path.basename(forDaemon.value.dependencies.requirements!.from)).to.equal('requirements_predict.txt');
    expect(path.basename(forTrain.value.dependencies.requirements!.from)).to.equal('requirements_train.txt');
    expect(forTrain.value.dependencies.requirements!.name).to.equal('deps/requirements.txt');
    expect(forTrain.value.dependencies.setupScript).to.include({ name: 'deps/setup.sh', executable: true });
  });

  it('bakes .s2i/environment and -e into the environment, and never a .env value', async () => {
    const r = planBuild(request(await project(), daemon, { extraEnv: [{ key: 'LOG_LEVEL', value: 'debug' }] }));
    if (!r.ok) throw new Error('unexpected');
    const env = Object.fromEntries(r.value.env.map((e) => [e.key, e.value]));
    expect(env).to.include({
      LOG_LEVEL: 'debug',
      TRAIN_MODULE: 'train',
      PYTHONPATH: '/opt/program/shop/churn:/opt/program/shop:/opt/program',
    });
    expect(JSON.stringify(r.value)).not.to.contain('do-not-bake-me');
    expect(r.value.runtimeVariables?.keys).to.deep.equal(['API_TOKEN']);
  });

  it('refuses a module that resolves to no file, naming the file, line and places looked in', async () => {
    const p = await project({
      'shop/churn/.s2i/environment':
        'ROUTES=churn/predict:shop.churn.predictor:predict\nTRAIN_MODULE=train\nTRAIN_FUNCTION=train\n',
    });
    const r = planBuild(request(p, daemon));
    expect(r.ok).to.equal(false);
    if (r.ok) return;
    expect(r.errors).to.have.length(1);
    expect(r.errors[0]).to.include({ line: 1 });
    expect(r.errors[0]!.file).to.match(/shop\/churn\/\.s2i\/environment$/);
    expect(r.errors[0]!.message)
      .to.contain('module shop.churn.predictor does not resolve')
      .and.contain('shop/churn/predictor.py');
  });

  it('does not resolve modules from files the ignore rules leave out', async () => {
    const p = await project({
      'shop/churn/.s2i/environment': 'ROUTES=x:notebooks.helper:f\n',
      'shop/churn/notebooks/helper.py': '',
    });
    expect(planBuild(request(p, daemon)).ok).to.equal(false);
  });

  it('needs ROUTES for the daemon builder and the train entry point for the train builder', async () => {
    const p = await project({ 'shop/churn/.s2i/environment': 'LOG_LEVEL=info\n' });
    const d = planBuild(request(p, daemon));
    const t = planBuild(request(p, train));
    expect(!d.ok && d.errors[0]!.message).to.contain('ROUTES is not set');
    expect(!t.ok && t.errors[0]!.message).to.contain('TRAIN_MODULE and TRAIN_FUNCTION are not set');
  });

  it('carries the s2i and OCI labels, with commit labels when the source is in git', async () => {
    const r = planBuild(
      request(await project(), daemon, { revision: { commit: 'abc123', ref: 'main', message: 'tune' } }),
    );
    if (!r.ok) throw new Error('unexpected');
    const labels = Object.fromEntries(r.value.labels);
    expect(labels).to.include({
      'io.openshift.s2i.build.image': 'cortex-s2i/builder-daemon:1',
      'io.openshift.s2i.build.commit.id': 'abc123',
      'io.openshift.s2i.build.commit.ref': 'main',
      'org.opencontainers.image.created': '2024-01-01T00:00:00.000Z',
      'org.opencontainers.image.revision': 'abc123',
      'io.cortex-s2i.routes': 'churn/predict',
    });
    expect(labels['io.openshift.s2i.build.source-location']).to.match(/\/shop$/);
  });

  it('sends an s2i builder the model folder alone, as s2i would', async () => {
    const s2i: Builder = {
      style: 's2i',
      image: 'centos/python-38',
      scriptsDir: '/usr/libexec/s2i',
      destination: '/tmp',
      user: '1001',
    };
    const r = planBuild(request(await project(), s2i));
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(r.value.source.map((f) => f.name))
      .to.include('src/predict.py')
      .and.not.include('src/common/features.py');
    expect(r.value.dependencies.requirements).to.equal(undefined);
  });
  it('suggests the module that exists for a TRAIN_MODULE that does not resolve, and only warns about it in a predict image', async () => {
    const p = await project({
      'shop/churn/.s2i/environment':
        'ROUTES=churn/predict:shop.churn.predict:predict\nTRAIN_MODULE=shop.trian\nTRAIN_FUNCTION=train\n',
    });
    const forTrain = planBuild(request(p, train));
    expect(forTrain.ok).to.equal(false);
    if (!forTrain.ok)
      expect(forTrain.errors[0]!.message).to.contain('module shop.trian does not resolve').and.contain('did you mean');
    const forDaemon = planBuild(request(p, daemon));
    if (!forDaemon.ok) throw new Error(JSON.stringify(forDaemon.errors));
    expect(forDaemon.value.warnings.map((w) => w.message).join('\n')).to.contain(
      'TRAIN_MODULE: module shop.trian does not resolve',
    );
  });

  it('suggests the shortest name of the module a mistyped package path meant', async () => {
    const p = await project({
      'shop/churn/.s2i/environment':
        'ROUTES=churn/predict:shop.churn.predict:predict\nTRAIN_MODULE=shops.churn.train\nTRAIN_FUNCTION=train\n',
    });
    const r = planBuild(request(p, train));
    expect(r.ok).to.equal(false);
    if (!r.ok) expect(r.errors[0]!.message).to.contain('did you mean churn.train?');
  });
});
