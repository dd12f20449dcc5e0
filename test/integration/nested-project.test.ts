// A project in the shape real ones have (fixtures/nested_repo: a package holding use cases that
// hold model folders, code importing the enclosing package by name, binaries in the package's own
// models/ folder, data/ and models/ at several levels, a hand-written all/Makefile), copied
// outside this repository and built, trained and served with no flags.

import { expect } from 'chai';
import { chmod, cp, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Engine } from '../../lib/engine/engine.js';
import { packageFile } from '../../lib/package-root.js';
import { Cleanup, cli, PREFIX, postJson, realEngine, startContainer, waitForHealth } from './support.js';
import { containersLabelled } from '../support/docker.js';

const MODELS = [
  { dir: 'randomForest', name: 'insurance_amount', route: 'insurance/amount' },
  { dir: 'linear', name: 'insurance_linear', route: 'insurance/linear' },
];

describe('a nested project on a real engine, with no flags', function () {
  this.timeout(10 * 60 * 1000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  let repo: string;
  let models: string;
  let useCase: string;
  const image = (dir: string, kind: string) => `${PREFIX}-nested-${dir.toLowerCase()}-${kind}`;

  before(async function () {
    engine = await realEngine(this);
    repo = path.join(await cleanup.tempDir('nested'), 'nested_repo');
    await cp(packageFile('fixtures', 'nested_repo'), repo, { recursive: true });
    useCase = path.join(repo, 'scoring', 'insurance');
    models = await cleanup.tempDir('nested-models');
    // As a user's models/ folder is: the predict image runs unprivileged and only reads it.
    await chmod(models, 0o755);
  });
  after(() => cleanup.run());

  for (const model of MODELS) {
    it(`${model.dir}: builds, trains into the package's models/ folder, and serves from it`, async () => {
      for (const kind of ['train', 'daemon']) {
        const r = await cli('build', path.join(useCase, model.dir), kind, cleanup.image(image(model.dir, kind)));
        expect(r.code, r.out + r.err).to.equal(0);
        expect(r.out).to.contain(
          `project root   ${path.join(repo, 'scoring')} (ROUTES in insurance/${model.dir}/.s2i/environment`,
        );
      }
      const train = await startContainer(engine, {
        image: image(model.dir, 'train'),
        name: `${PREFIX}-nested-train-${model.dir.toLowerCase()}`,
        env: ['TRAIN=1', `PAYLOAD={"$ref": "data/claims.csv", "model_name": "${model.name}"}`],
        binds: [
          { host: path.join(repo, 'scoring', 'data'), container: '/model/data', readOnly: true },
          { host: models, container: '/model/models' },
        ],
      });
      const status = await engine.waitContainer(train.id);
      const logs = await engine.containerLogs(train.id);
      await engine.removeContainer(train.id);
      expect(status, logs.stderr + logs.stdout).to.equal(0);
      // Written by scoring.utils.encode_decode to <package>/models/, which is the mounted folder.
      expect(JSON.parse(await readFile(path.join(models, `${model.name}.json`), 'utf8'))).to.be.an('object');

      const served = await startContainer(engine, {
        image: image(model.dir, 'daemon'),
        name: `${PREFIX}-nested-predict-${model.dir.toLowerCase()}`,
        binds: [{ host: models, container: '/action/models', readOnly: true }],
        publish: [5000],
      });
      try {
        await waitForHealth(served.ports[5000]!);
        const body = await readFile(path.join(useCase, model.dir, 'test', 'test_instances.json'), 'utf8');
        const r = await postJson(served.ports[5000]!, model.route, body);
        expect(r.status, JSON.stringify(r.json)).to.equal(200);
        expect((r.json as { payload: number[] }).payload)
          .to.be.an('array')
          .with.length((JSON.parse(body) as { instances: unknown[] }).instances.length);
      } finally {
        await engine.removeContainer(served.id);
      }
    });
  }

  it('puts nothing from the never-list into the image: other use cases and models, data/, models/, .env, dot files', async () => {
    const c = await startContainer(engine, {
      image: image('randomForest', 'daemon'),
      name: `${PREFIX}-nested-find`,
      cmd: ['find', '/opt/program'],
    });
    await engine.waitContainer(c.id);
    const { stdout } = await engine.containerLogs(c.id);
    await engine.removeContainer(c.id);
    expect(stdout.trim().split('\n').sort()).to.deep.equal(
      [
        '/opt/program',
        '/opt/program/scoring',
        '/opt/program/scoring/__init__.py',
        '/opt/program/scoring/insurance',
        '/opt/program/scoring/insurance/common_utils',
        '/opt/program/scoring/insurance/common_utils/__init__.py',
        '/opt/program/scoring/insurance/common_utils/features.py',
        '/opt/program/scoring/insurance/models',
        '/opt/program/scoring/insurance/randomForest',
        '/opt/program/scoring/insurance/randomForest/predict.py',
        '/opt/program/scoring/insurance/randomForest/requirements.txt',
        '/opt/program/scoring/insurance/randomForest/test',
        '/opt/program/scoring/insurance/randomForest/test/test_instances.json',
        '/opt/program/scoring/insurance/randomForest/train.py',
        '/opt/program/scoring/models',
        '/opt/program/scoring/utils',
        '/opt/program/scoring/utils/__init__.py',
        '/opt/program/scoring/utils/encode_decode.py',
      ].sort(),
    );
  });

  it("writes the use case's all/ without touching its hand-written Makefile, and the all image answers every route", async () => {
    const before = await readFile(path.join(useCase, 'all', 'Makefile'));
    const all = await cli('all', useCase);
    expect(all.code, all.err).to.equal(0);
    expect(await readFile(path.join(useCase, 'all', 'Makefile'))).to.deep.equal(before);
    const built = await cli('build', path.join(useCase, 'all'), 'daemon', cleanup.image(image('all', 'daemon')));
    expect(built.code, built.out + built.err).to.equal(0);
    const c = await startContainer(engine, {
      image: image('all', 'daemon'),
      name: `${PREFIX}-nested-all`,
      binds: [{ host: models, container: '/action/models', readOnly: true }],
      publish: [5000],
    });
    try {
      await waitForHealth(c.ports[5000]!);
      for (const model of MODELS) {
        const body = await readFile(path.join(useCase, model.dir, 'test', 'test_instances.json'), 'utf8');
        const r = await postJson(c.ports[5000]!, model.route, body);
        expect(r.status, JSON.stringify(r.json)).to.equal(200);
      }
    } finally {
      await engine.removeContainer(c.id);
    }
  });

  it('refuses a missing project module on a dry run with exit 2 and file:line', async () => {
    const file = path.join(useCase, 'linear', 'predict.py');
    const original = await readFile(file, 'utf8');
    await writeFile(file, `from scoring.utils.encode_decoder import init_model\n${original}`);
    try {
      const r = await cli('build', path.join(useCase, 'linear'), 'daemon', 'never-built', '--dry-run');
      expect(r.code).to.equal(2);
      expect(r.err).to.contain(`${file}:1: imports scoring.utils.encode_decoder, which is not in the image`);
    } finally {
      await writeFile(file, original);
    }
  });

  it('fails the build before tagging when a third-party import is misspelled, naming file, line and name', async () => {
    const file = path.join(useCase, 'linear', 'predict.py');
    const original = await readFile(file, 'utf8');
    await writeFile(file, `import numpyy\n${original}`);
    const ref = cleanup.image(image('linear', 'misspelled'));
    try {
      const r = await cli('build', path.join(useCase, 'linear'), 'daemon', ref);
      expect(r.code).to.equal(3);
      expect(r.err)
        .to.contain(`${file}:1: imports numpyy, which is not installed in the image`)
        .and.contain('requirements.txt');
      expect(await engine.inspectImage(ref)).to.equal(undefined);
      expect(await containersLabelled(`${'io.cortex-s2i.test'}=${PREFIX}`)).to.deep.equal([]);
    } finally {
      await writeFile(file, original);
    }
  });

  it('leaves the hand-written files and the project byte-identical apart from the generated all/ and the build caches', async () => {
    const caches: string[] = [];
    const listing = async (dir: string): Promise<string[]> =>
      (await readdir(dir, { recursive: true }))
        .filter((p) => !p.startsWith(path.join('scoring', 'insurance', 'all')))
        .filter((p) => !p.split(path.sep).includes('.cortex-s2i-cache') || (dir === repo && caches.push(p) < 0))
        .sort();
    expect(await listing(repo)).to.deep.equal(await listing(packageFile('fixtures', 'nested_repo')));
    // Each build cache is a folder of its own that git ignores, in a model folder that was built.
    expect(caches.filter((p) => p.endsWith(`${path.sep}.gitignore`))).not.to.deep.equal([]);
    for (const p of caches.filter((c) => c.endsWith(`${path.sep}.gitignore`)))
      expect(await readFile(path.join(repo, p), 'utf8')).to.match(/^\*$/m);
  });
});
