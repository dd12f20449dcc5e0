// `cortex-s2i deploy --target swarm` on the real engine: deploy an API with host-mode ports, query it
// on 127.0.0.1, roll it to a new image and see the new version answer, then delete the stack and
// leave the swarm as it was found.

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { cp, readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { projectName } from '../../lib/deploy/common.js';
import type { Engine } from '../../lib/engine/engine.js';
import { Cleanup, cli, PREFIX, realEngine, VERSIONED_API } from './support.js';

const run = promisify(execFile);
const docker = async (...args: string[]) => (await run('docker', args)).stdout.trim();
// The ports this suite may publish on: host mode binds them on 127.0.0.1's node directly, which is
// what answers on a kernel without IPVS (the ingress mesh and service VIPs do not).
const PORT = Number(process.env.CORTEX_S2I_TEST_SWARM_PORT || 5500);

async function answer(): Promise<{ status: number; json: any }> {
  const r = await fetch(`http://127.0.0.1:${PORT}/version`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: '{}',
    signal: AbortSignal.timeout(10_000),
  });
  return { status: r.status, json: await r.json() };
}

describe('deploying a Cortex project on Docker Swarm', function () {
  this.timeout(10 * 60 * 1000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  let initialisedSwarm = false;
  let project: string;
  let stack: string;
  const images = [`${PREFIX}-versioned-api:1`, `${PREFIX}-versioned-api:2`];

  before(async function () {
    engine = await realEngine(this);
    // A project folder named with the test prefix, so the stack it becomes is this run's own.
    project = path.join(await cleanup.tempDir('swarm'), `${PREFIX}-api`);
    await cp(VERSIONED_API, project, { recursive: true });
    stack = projectName(path.basename(project));
    for (const [i, image] of images.entries()) {
      const built = await cli(
        'build',
        path.join(project, 'version'),
        'daemon',
        cleanup.image(image),
        '-e',
        `VERSION=${i + 1}`,
        '-q',
      );
      expect(built.code, built.err).to.equal(0);
    }
    if ((await docker('info', '--format', '{{.Swarm.LocalNodeState}}')) === 'inactive') {
      await docker('swarm', 'init', '--advertise-addr', '127.0.0.1');
      initialisedSwarm = true;
    }
  });

  after(async () => {
    try {
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
    } finally {
      await cleanup.run();
    }
  });

  const deploy = (image: string) =>
    cli(
      'deploy',
      project,
      '--target',
      'swarm',
      '--host-ports',
      '--port',
      String(PORT),
      '--image',
      `version=${image}`,
      '--timeout',
      '180',
    );

  it('deploys, answers on 127.0.0.1, rolls to a new image and deletes only its stack', async () => {
    const first = await deploy(images[0]!);
    expect(first.code, first.err).to.equal(0);
    expect(first.out).to.include(`version: ready, 1 replica; answers at http://127.0.0.1:${PORT}/version`);
    // .env reached the service at run time, and its value was never printed.
    expect(first.out + first.err).to.not.include('hello from .env');
    expect(await answer()).to.deep.equal({
      status: 200,
      json: { payload: { version: '1', greeting: 'hello from .env' } },
    });
    const service = `${stack}_version`;
    expect(
      await docker(
        'service',
        'inspect',
        service,
        '--format',
        '{{.Spec.Mode.Replicated.Replicas}} {{(index .Endpoint.Ports 0).PublishMode}}',
      ),
    ).to.equal('1 host');

    const second = await deploy(images[1]!);
    expect(second.code, second.err).to.equal(0);
    expect((await answer()).json.payload.version).to.equal('2');
    expect(
      await docker('service', 'inspect', service, '--format', '{{.Spec.TaskTemplate.ContainerSpec.Image}}'),
    ).to.match(new RegExp(`^${images[1]!}`));

    const removed = await cli('deploy', project, '--target', 'swarm', '--delete');
    expect(removed.code, removed.err).to.equal(0);
    expect(removed.out).to.include(`removed stack ${stack}: ${service}`);
    expect(
      await docker('service', 'ls', '--filter', `label=com.docker.stack.namespace=${stack}`, '--format', '{{.Name}}'),
    ).to.equal('');
    // Every container of the stack is gone, stopped ones too: the images can be removed at once.
    expect(await docker('ps', '-a', '-q', '--filter', `label=com.docker.stack.namespace=${stack}`)).to.equal('');
    const gone = await answer().then(
      () => 'answered',
      () => 'refused',
    );
    expect(gone).to.equal('refused');
    // The fixture's files are as they were: deploying writes nothing into the project.
    expect(await readFile(path.join(project, 'cortex.yaml'), 'utf8')).to.equal(
      await readFile(path.join(VERSIONED_API, 'cortex.yaml'), 'utf8'),
    );
  });

  it('--delete of a stack that is not deployed removes nothing and says so', async () => {
    const r = await cli('deploy', project, '--target', 'swarm', '--delete');
    expect([r.code, r.out]).to.deep.equal([0, `no stack ${stack} is deployed; nothing to remove`]);
  });
});
