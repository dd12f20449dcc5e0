// The Cortex example project (fixtures/cortex_apis) end to end on the real engine: one image serving
// both APIs in their predictor styles, the iris model trained in that image with PyTorch from
// Debian, the answers in Cortex's shape, the monitoring metrics, schema-valid Kubernetes manifests,
// and a Swarm deployment that answers, rolls one API to a new image and is deleted.

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { parseAllDocuments } from 'yaml';
import { projectName } from '../../lib/deploy/common.js';
import type { Engine } from '../../lib/engine/engine.js';
import { packageFile } from '../../lib/package-root.js';
import { Cleanup, cli, PREFIX, realEngine, startContainer, waitForReady } from './support.js';

const run = promisify(execFile);
const docker = async (...args: string[]) => (await run('docker', args)).stdout.trim();
const FIXTURE = packageFile('fixtures', 'cortex_apis');
// Swarm's host-mode ports for the two APIs (N and N+1).
const PORT = Number(process.env.CORTEX_S2I_TEST_CORTEX_PORT || 5520);
const SETOSA = { sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 };
const VIRGINICA = { sepal_length: 6.7, sepal_width: 3.0, petal_length: 5.6, petal_width: 2.1 };
const HOUSE = { square_metres: 100, bedrooms: 3 };

async function post(port: number, route: string, body: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(`http://127.0.0.1:${port}/${route}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: r.status, json: await r.json() };
}

describe('a Cortex project with two APIs (fixtures/cortex_apis)', function () {
  this.timeout(25 * 60 * 1000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  let project: string;
  let models: string;
  const image = `${PREFIX}-cortex-apis:1`;

  before(async function () {
    engine = await realEngine(this);
    // Named with the test prefix: the Swarm stack it becomes is this run's own.
    project = path.join(await cleanup.tempDir('cortex'), `${PREFIX}-apis`);
    await cp(FIXTURE, project, { recursive: true });
    // Bytecode beside the code never reaches the image.
    await mkdir(path.join(project, 'iris', '__pycache__'));
    await writeFile(path.join(project, 'iris', '__pycache__', 'network.cpython-311.pyc'), 'stale');
    models = path.join(project, 'models');
    await mkdir(models);
    const started = Date.now();
    const built = await cli('build', project, 'daemon', cleanup.image(image), '-q');
    expect(built.code, built.err).to.equal(0);
    console.log(
      `      (built both APIs in ${((Date.now() - started) / 1000).toFixed(0)}s, PyTorch's install included when not cached)`,
    );
  });

  after(() => cleanup.run());

  async function inside(cmd: string[], user?: string): Promise<string> {
    const c = await startContainer(engine, {
      image,
      name: `${PREFIX}-cortex-${cmd[0]}`,
      cmd,
      ...(user ? { user } : {}),
      binds: [{ host: models, container: '/action/models' }],
    });
    const status = await engine.waitContainer(c.id);
    const logs = await engine.containerLogs(c.id);
    await engine.removeContainer(c.id);
    expect(status, logs.stderr).to.equal(0);
    return logs.stdout;
  }

  it('holds the predictors and the API list, and never cortex.yaml, .env, bytecode or the models', async () => {
    const files = (await inside(['find', '/opt/program', '-type', 'f'])).trim().split('\n').sort();
    const root = `/opt/program/${path.basename(project)}`;
    expect(files).to.include.members([
      '/opt/program/cortex-apis.json',
      `${root}/iris/predictor.py`,
      `${root}/housing/predictor.py`,
      `${root}/housing/lib/pricing.py`,
    ]);
    expect(files.filter((f) => /cortex\.yaml$|\/\.env$|\.pyc$|\/models\//.test(f))).to.deep.equal([]);
    const info = await engine.inspectImage(image);
    expect(info!.labels['io.cortex-s2i.apis']).to.equal('iris-classifier=/iris-classifier,house-price=/house-price');
  });

  it('trains the iris state dict with PyTorch from Debian, in the built image', async () => {
    // As root: the host's models folder is written by the container.
    const out = await inside(['python3', '-m', 'iris.train', '/action/models'], 'root');
    expect(out).to.match(/final loss 0\.\d+/);
    expect(await readdir(path.join(models, 'iris'))).to.deep.equal(['weights.pth']);
  });

  it('serves both APIs in Cortex shape, with .env at run time and the predictions in /metrics', async () => {
    const env = (await readFile(path.join(project, '.env'), 'utf8')).trim().split('\n');
    const c = await startContainer(engine, {
      image,
      name: `${PREFIX}-cortex-serve`,
      env,
      publish: [5000],
      binds: [{ host: models, container: '/action/models', readOnly: true }],
    });
    try {
      const port = c.ports[5000]!;
      await waitForReady(port, 120);
      expect(await post(port, 'iris-classifier', SETOSA)).to.deep.equal({ status: 200, json: 'setosa' });
      expect(await post(port, 'iris-classifier', VIRGINICA)).to.deep.equal({ status: 200, json: 'virginica' });
      expect(await post(port, 'iris-classifier', SETOSA)).to.deep.equal({ status: 200, json: 'setosa' });
      expect(await post(port, 'house-price', HOUSE)).to.deep.equal({
        status: 200,
        json: { price: 330000, currency: 'EUR' },
      });
      // A predictor that raises answers with the server's JSON error, not its message.
      const failed = await post(port, 'house-price', {});
      expect([failed.status, failed.json.error.status]).to.deep.equal([500, 500]);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).to.include('cortex_s2i_predictions_total{api="iris-classifier",class="setosa"} 2');
      expect(metrics).to.include('cortex_s2i_predictions_total{api="iris-classifier",class="virginica"} 1');
      expect(metrics).to.include('cortex_s2i_prediction_value_count{api="house-price"} 1');
      expect(metrics).to.include('cortex_s2i_prediction_value_sum{api="house-price"} 330000');
    } finally {
      await engine.removeContainer(c.id);
    }
  });

  it('renders Kubernetes manifests that the schemas accept, one Deployment per API', async () => {
    const out = await cleanup.tempDir('k8s');
    const r = await cli(
      'deploy',
      project,
      '--target',
      'kubernetes',
      '--out',
      out,
      '--image',
      `iris-classifier=${image}`,
      '--image',
      `house-price=${image}`,
    );
    expect(r.code, r.err).to.equal(0);
    const manifests = [];
    for (const file of (await readdir(out)).sort())
      manifests.push(...parseAllDocuments(await readFile(path.join(out, file), 'utf8')).map((d) => d.toJSON()));
    const models: Record<string, new (data: never) => { validate(): void }> = {
      Deployment,
      Service,
      HorizontalPodAutoscaler,
      Secret,
      ConfigMap,
      PersistentVolumeClaim,
    } as never;
    for (const m of manifests)
      expect(() => new models[m.kind]!(m as never).validate(), `${m.kind}/${m.metadata.name}`).to.not.throw();
    const deployments = manifests.filter((m) => m.kind === 'Deployment');
    expect(deployments.map((d) => d.metadata.name).sort()).to.deep.equal(['api-house-price', 'api-iris-classifier']);
    const env = deployments.find((d) => d.metadata.name === 'api-iris-classifier').spec.template.spec.containers[0].env;
    expect(env).to.deep.include({ name: 'CORTEX_S2I_API', value: 'iris-classifier' });
    // min 1, max 3 scales; house-price's min = max does not.
    expect(manifests.filter((m) => m.kind === 'HorizontalPodAutoscaler').map((m) => m.metadata.name)).to.deep.equal([
      'api-iris-classifier',
    ]);
  });

  describe('on Docker Swarm', () => {
    let initialisedSwarm = false;
    let stack: string;
    before(async () => {
      stack = projectName(path.basename(project));
      if ((await docker('info', '--format', '{{.Swarm.LocalNodeState}}')) === 'inactive') {
        await docker('swarm', 'init', '--advertise-addr', '127.0.0.1');
        initialisedSwarm = true;
      }
    });
    after(async () => {
      const left = await docker(
        'service',
        'ls',
        '--filter',
        `label=com.docker.stack.namespace=${stack}`,
        '--format',
        '{{.Name}}',
      ).catch(() => '');
      if (left) await docker('stack', 'rm', stack);
      if (initialisedSwarm) await docker('swarm', 'leave', '--force');
    });

    const deploy = (house: string) =>
      cli(
        'deploy',
        project,
        '--target',
        'swarm',
        '--host-ports',
        '--port',
        String(PORT),
        '--image',
        `iris-classifier=${image}`,
        '--image',
        `house-price=${house}`,
        '--timeout',
        '240',
      );

    it('deploys both APIs, rolls one to a new image, and deletes the stack', async () => {
      const first = await deploy(image);
      expect(first.code, first.err).to.equal(0);
      expect(first.out).to.include(
        `iris-classifier: ready, 1 replica; answers at http://127.0.0.1:${PORT}/iris-classifier`,
      );
      expect(first.out).to.include(
        `house-price: ready, 1 replica; answers at http://127.0.0.1:${PORT + 1}/house-price`,
      );
      expect(await post(PORT, 'iris-classifier', VIRGINICA)).to.deep.equal({ status: 200, json: 'virginica' });
      expect(await post(PORT + 1, 'house-price', HOUSE)).to.deep.equal({
        status: 200,
        json: { price: 330000, currency: 'EUR' },
      });
      // Each service serves its own API of the shared image.
      expect((await post(PORT, 'house-price', HOUSE)).status).to.equal(404);

      // A new config is a new image: only the source layer is rebuilt.
      const yaml = path.join(project, 'cortex.yaml');
      await writeFile(yaml, (await readFile(yaml, 'utf8')).replace('intercept: 50000', 'intercept: 0'));
      const second = cleanup.image(`${PREFIX}-cortex-apis:2`);
      const built = await cli('build', project, 'daemon', second, '--api', 'house-price', '-q');
      expect(built.code, built.err).to.equal(0);
      const rolled = await deploy(second);
      expect(rolled.code, rolled.err).to.equal(0);
      expect(await post(PORT + 1, 'house-price', HOUSE)).to.deep.equal({
        status: 200,
        json: { price: 280000, currency: 'EUR' },
      });
      expect(
        await docker(
          'service',
          'inspect',
          `${stack}_house-price`,
          '--format',
          '{{.Spec.TaskTemplate.ContainerSpec.Image}}',
        ),
      ).to.match(new RegExp(`^${second}`));

      const removed = await cli('deploy', project, '--target', 'swarm', '--delete');
      expect(removed.code, removed.err).to.equal(0);
      expect(
        await docker('service', 'ls', '--filter', `label=com.docker.stack.namespace=${stack}`, '--format', '{{.Name}}'),
      ).to.equal('');
      expect(await docker('ps', '-a', '-q', '--filter', `label=com.docker.stack.namespace=${stack}`)).to.equal('');
    });
  });
});
