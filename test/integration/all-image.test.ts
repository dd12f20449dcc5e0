// The Makefile workflow and the all image on a real engine: one model driven by its Makefile, the
// whole project by all/Makefile, and the all container answering each route exactly as that
// model's own container does.

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Engine } from '../../lib/engine/engine.js';
import { packageFile } from '../../lib/package-root.js';
import { Cleanup, cli, PREFIX, postJson, realEngine, startContainer, waitForHealth } from './support.js';

const run = promisify(execFile);
const MODELS = [
  { dir: 'logisticRegression', route: 'adult_income_lr/predict', container: 'adult-income-lr' },
  { dir: 'randomForest', route: 'adult_income_rf/predict', container: 'adult-income-rf' },
  { dir: 'xgBoost', route: 'adult_income_xgb/predict', container: 'adult-income-xgb' },
];
const ALL_CONTAINER = `${PREFIX}-finance-income-prediction-all`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

describe('the Makefile workflow and the all image', function () {
  this.timeout(15 * 60 * 1000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  let project: string;
  let port: number;

  const make = async (dir: string, ...targets: string[]) => {
    const args = [
      '-C',
      dir,
      ...targets,
      `CORTEX_S2I=${process.execPath} ${packageFile('bin', 'cortex-s2i.js')}`,
      `CONTAINER_PREFIX=${PREFIX}-`,
      `PORT=${port}`,
    ];
    try {
      // Variables a CI system may set for its own purposes: they must not rename or move anything.
      const env = { ...process.env, CONTAINER_NAME: 'set-by-the-ci-system', PORT: '1', MODEL_NAME: 'other' };
      return (await run('make', args, { maxBuffer: 64 * 1024 * 1024, env })).stdout;
    } catch (err) {
      const e = err as { stdout: string; stderr: string };
      throw new Error(`make ${targets.join(' ')} failed:\n${e.stdout.slice(-3000)}\n${e.stderr.slice(-3000)}`);
    }
  };

  before(async function () {
    engine = await realEngine(this);
    project = await cleanup.exampleCopy();
    port = await freePort();
    for (const m of MODELS) cleanup.image(`${PREFIX}-${m.container}-train`);
    cleanup.image(`${PREFIX}-${MODELS[0]!.container}-predict`);
    cleanup.image(ALL_CONTAINER);
  });
  after(async () => {
    await make(path.join(project, 'all'), 'stop').catch(() => undefined);
    await make(path.join(project, MODELS[0]!.dir), 'stop').catch(() => undefined);
    await cleanup.run();
  });

  it('runs a model through make build-train train build-predict predict test-endpoint stop', async () => {
    const dir = path.join(project, MODELS[0]!.dir);
    const out = await make(dir, 'build-train', 'train', 'build-predict', 'predict', 'test-endpoint', 'stop');
    // make train-all builds this train image again under the same tag: remove this one too.
    cleanup.image((await engine.inspectImage(`${PREFIX}-${MODELS[0]!.container}-train`))!.id);
    expect((await stat(path.join(project, 'models/adult_income_lr.pkl'))).size).to.be.greaterThan(0);
    const answer = JSON.parse(
      out
        .split('\n')
        .filter((l) => l.startsWith('{"payload"'))
        .at(-1)!,
    ) as { payload: { predictions: string[] } };
    expect(answer.payload.predictions).to.have.length.greaterThan(0);
    // make stop removed the predict container.
    const left = await run('docker', ['ps', '-aq', '--filter', `name=^/${PREFIX}-${MODELS[0]!.container}$`]);
    expect(left.stdout.trim()).to.equal('');
  });

  it('runs the project through make train-all build-all predict-all test-all', async () => {
    // A model whose Makefile is the user's own is trained all the same, directly.
    await writeFile(path.join(project, 'xgBoost/Makefile'), 'notes:\n\t@echo my own Makefile\n');
    const out = await make(path.join(project, 'all'), 'train-all', 'build-all', 'predict-all', 'test-all');
    expect(await engine.inspectImage(ALL_CONTAINER), 'the all image keeps its own name').not.to.equal(undefined);
    for (const m of MODELS) {
      expect(await engine.inspectImage(`${PREFIX}-${m.container}-train`)).not.to.equal(undefined);
      expect(out).to.contain(`POST /${m.route} with ${m.dir}/test/test_instances.json`);
      expect((await stat(path.join(project, `models/${m.route.split('/')[0]}.pkl`))).size).to.be.greaterThan(0);
    }
  });

  it("answers every route in the all container exactly as the model's own container does", async () => {
    for (const m of MODELS) {
      const body = await readFile(path.join(project, m.dir, 'test/test_instances.json'), 'utf8');
      const fromAll = await postJson(port, m.route, body);
      const image = cleanup.image(`${PREFIX}-compare-${m.container}`);
      const built = await cli('build', path.join(project, m.dir), 'daemon', image, '--quiet');
      expect(built.code, built.err).to.equal(0);
      const own = await startContainer(engine, {
        image,
        name: image,
        binds: [{ host: path.join(project, 'models'), container: '/action/models', readOnly: true }],
        publish: [5000],
      });
      try {
        await waitForHealth(own.ports[5000]!);
        const fromOwn = await postJson(own.ports[5000]!, m.route, body);
        expect(fromAll.status).to.equal(200);
        expect(fromAll.json, m.route).to.deep.equal(fromOwn.json);
      } finally {
        await engine.removeContainer(own.id);
      }
    }
  });
});
