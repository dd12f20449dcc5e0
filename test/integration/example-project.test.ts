// The example project end to end on a real engine: six images built, three models trained,
// served and queried, and what the images must and must not contain.

import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { appendFile, chmod, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import type { Engine } from '../../lib/engine/engine.js';
import { Cleanup, cli, PREFIX, postJson, realEngine, startContainer, waitForHealth } from './support.js';

const MODELS = [
  { dir: 'logisticRegression', name: 'adult_income_lr' },
  { dir: 'randomForest', name: 'adult_income_rf' },
  { dir: 'xgBoost', name: 'adult_income_xgb' },
];
const SECRET = 'cortex-s2i-fixture-secret-do-not-bake';

describe('the example project on a real engine', function () {
  this.timeout(10 * 60 * 1000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  let project: string;
  let models: string;
  const buildLogs: string[] = [];
  const image = (dir: string, kind: string) => `${PREFIX}-${dir.toLowerCase()}-${kind}`;

  before(async function () {
    engine = await realEngine(this);
    project = await cleanup.exampleCopy();
    models = await cleanup.tempDir('models');
    // As a user's models/ folder is: the predict image runs unprivileged and only reads it.
    await chmod(models, 0o755);
  });
  after(() => cleanup.run());

  // One flat list in the order the work happens: mocha would run nested suites after these tests.
  for (const model of MODELS) {
    it(`${model.dir}: builds a train image and a predict image`, async () => {
      for (const kind of ['train', 'daemon']) {
        const r = await cli('build', path.join(project, model.dir), kind, cleanup.image(image(model.dir, kind)));
        buildLogs.push(r.out, r.err);
        expect(r.code, r.err).to.equal(0);
        expect(r.out).to.match(/built .* \(sha256:[0-9a-f]{64}\) in [\d.]+s/);
      }
    });

    it(`${model.dir}: trains, and the model file appears in the mounted models folder`, async () => {
      const c = await startContainer(engine, {
        image: image(model.dir, 'train'),
        name: `${PREFIX}-train-${model.name}`,
        env: ['TRAIN=1', `PAYLOAD={"$ref": "data/adult_income-prepped.csv", "model_name": "${model.name}"}`],
        binds: [
          { host: path.join(project, 'data'), container: '/model/data', readOnly: true },
          { host: models, container: '/model/models' },
        ],
      });
      const status = await engine.waitContainer(c.id);
      const logs = await engine.containerLogs(c.id);
      await engine.removeContainer(c.id);
      expect(status, logs.stderr).to.equal(0);
      const events = logs.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { event: string; result?: { accuracy: number } });
      expect(events.map((e) => e.event)).to.deep.equal(['started', 'finished']);
      expect(events[1]!.result!.accuracy).to.be.greaterThan(0.8);
      expect((await stat(path.join(models, `${model.name}.pkl`))).size).to.be.greaterThan(0);
    });

    it(`${model.dir}: serves the test instances, with .env values given at run time`, async () => {
      const dotenv = parseDotenv(await readFile(path.join(project, '.env')));
      const env = Object.entries({ ...dotenv, PREDICTION_LABELS: 'low,high' }).map(([k, v]) => `${k}=${v}`);
      const c = await startContainer(engine, {
        image: image(model.dir, 'daemon'),
        name: `${PREFIX}-predict-${model.name}`,
        env,
        binds: [{ host: models, container: '/action/models', readOnly: true }],
        publish: [5000],
      });
      try {
        const port = c.ports[5000]!;
        await waitForHealth(port);
        const body = await readFile(path.join(project, model.dir, 'test/test_instances.json'), 'utf8');
        const r = await postJson(port, `${model.name}/predict`, body);
        expect(r.status).to.equal(200);
        const payload = (r.json as { payload: { predictions: string[] } }).payload;
        const instances = (JSON.parse(body) as { payload: { instances: unknown[] } }).payload.instances;
        expect(payload.predictions).to.have.length(instances.length);
        expect(new Set(payload.predictions)).to.satisfy((s: Set<string>) =>
          [...s].every((p) => p === 'low' || p === 'high'),
        );
      } finally {
        await engine.removeContainer(c.id);
      }
    });
  }

  it('gives predict images the run script as CMD, the s2i labels, and only the planned files', async () => {
    const ref = image('logisticRegression', 'daemon');
    const info = (await engine.inspectImage(ref))!;
    expect(info.cmd).to.deep.equal(['/usr/libexec/s2i/run']);
    expect(info.labels).to.include.keys(
      'io.openshift.s2i.build.image',
      'io.openshift.s2i.build.source-location',
      'org.opencontainers.image.created',
    );
    expect(info.labels['io.openshift.s2i.build.image']).to.match(/\/builder-daemon:/);
    expect(info.labels['io.openshift.s2i.scripts-url']).to.equal('image:///usr/libexec/s2i');

    const c = await startContainer(engine, {
      image: ref,
      name: `${PREFIX}-find`,
      cmd: ['find', '/opt/program', '/tmp'],
    });
    await engine.waitContainer(c.id);
    const listing = (await engine.containerLogs(c.id)).stdout.trim().split('\n').sort();
    await engine.removeContainer(c.id);
    const root = '/opt/program/finance_income_prediction';
    expect(listing)
      .to.include(`${root}/logisticRegression/predict.py`)
      .and.include(`${root}/common_utils/preprocessing.py`);
    // models is the one link to the mounted models: nothing below it is in the image.
    const unwanted = listing.filter(
      (p) =>
        p !== `${root}/models` &&
        /\/(data|models|randomForest|xgBoost|all)(\/|$)|\.pyc$|\/\.[^/]+|cortex-s2i-deps/.test(p),
    );
    expect(unwanted).to.deep.equal([]);
    expect(listing).to.include(`${root}/models`);
  });

  it('never puts a .env value in an image, its history, its metadata or the build log', async () => {
    expect(buildLogs.join('\n')).not.to.contain(SECRET);
    for (const model of MODELS) {
      for (const kind of ['train', 'daemon']) {
        const ref = image(model.dir, kind);
        const info = (await engine.inspectImage(ref))!;
        expect(JSON.stringify([info.env, info.labels])).not.to.contain(SECRET);
        expect((await engine.imageHistory(ref)).map((h) => h.createdBy).join('\n')).not.to.contain(SECRET);
      }
    }
    const c = await startContainer(engine, {
      image: image('xgBoost', 'daemon'),
      name: `${PREFIX}-grep`,
      user: '0',
      cmd: ['sh', '-c', `grep -rl '${SECRET}' /opt /tmp /action /usr/libexec/s2i /etc; echo "grep exit $?"`],
    });
    await engine.waitContainer(c.id);
    const { stdout } = await engine.containerLogs(c.id);
    await engine.removeContainer(c.id);
    expect(stdout.trim()).to.equal('grep exit 1');
  });

  it('makes only the source layer when only predict.py changed', async () => {
    const model = path.join(project, 'logisticRegression');
    const ref = image('logisticRegression', 'daemon');
    const before = (await engine.inspectImage(ref))!;
    cleanup.image(before.id);
    // Unique per run: the engine's cache outlives the test, and an edit seen before would be cached.
    await appendFile(path.join(model, 'predict.py'), `\n# tuned ${randomUUID()}\n`);
    const r = await cli('build', model, 'daemon', ref);
    expect(r.code, r.err).to.equal(0);
    // Nothing before the source step changed: no step runs, the source layer goes on the same base.
    expect(r.out).to.match(
      /source {8}\d+ files onto sha256:[0-9a-f]{12}, as the last build's source step: nothing before it changed/,
    );
    expect(r.out).not.to.match(/step \d+\/\d+/);
    const after = (await engine.inspectImage(ref))!;
    // The dependency layers are shared; only the source layer is new.
    expect(after.layers.slice(0, -1)).to.deep.equal(before.layers.slice(0, -1));
    expect(after.layers.at(-1)).not.to.equal(before.layers.at(-1));
  });
});
