// The train image's runner on a real engine: version ids and the metadata file, publishing that
// leaves the previous binaries byte-identical after a raise, a docker stop or a full disk, and
// bad input answered with one clear line.

import { expect } from 'chai';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ContainerSpec, Engine } from '../../lib/engine/engine.js';
import { Cleanup, cli, PREFIX, realEngine, ROUTE_STYLES, startContainer } from './support.js';
import { stopContainer } from '../support/docker.js';

const IMAGE = `${PREFIX}-route-styles-train`;
const METADATA = 'route_styles.styles.trainer.train.train.json';
const PREVIOUS = '41\n';

interface Run {
  status: number;
  events: Array<Record<string, unknown>>;
  stdout: string;
  stderr: string;
}

describe('the train runner on a real engine', function () {
  this.timeout(5 * 60 * 1000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  let serial = 0;

  before(async function () {
    engine = await realEngine(this);
    const built = await cli('build', path.join(ROUTE_STYLES, 'styles'), 'train', cleanup.image(IMAGE));
    expect(built.code, built.err).to.equal(0);
  });
  after(() => cleanup.run());

  /** A models folder holding a previously published binary, and an empty folder for the stage. */
  async function folders(): Promise<{ models: string; stage: string }> {
    const models = await cleanup.tempDir('models');
    await writeFile(path.join(models, 'offset.txt'), PREVIOUS);
    return { models, stage: await cleanup.tempDir('stage') };
  }

  function spec(
    env: string[],
    models: string,
    stage: string,
    extra: Partial<ContainerSpec> = {},
  ): Omit<ContainerSpec, 'labels'> {
    return {
      image: IMAGE,
      name: `${PREFIX}-train-runner-${process.pid}-${++serial}`,
      // The stage lives in TMPDIR: on a host folder here, so that the test can see it is gone.
      env: ['TRAIN=1', 'TMPDIR=/stage', ...env],
      binds: [
        { host: path.join(ROUTE_STYLES, 'data'), container: '/model/data', readOnly: true },
        { host: models, container: '/model/models' },
        { host: stage, container: '/stage' },
      ],
      ...extra,
    };
  }

  async function finish(id: string): Promise<Run> {
    const status = await engine.waitContainer(id);
    const { stdout, stderr } = await engine.containerLogs(id);
    await engine.removeContainer(id);
    const events = stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    return { status, events, stdout, stderr };
  }

  async function train(env: string[], models: string, stage: string): Promise<Run> {
    return finish((await startContainer(engine, spec(env, models, stage))).id);
  }

  async function expectUntouched(models: string, stage: string): Promise<void> {
    expect(await readdir(models)).to.deep.equal(['offset.txt']);
    expect(await readFile(path.join(models, 'offset.txt'), 'utf8')).to.equal(PREVIOUS);
    expect(await readdir(stage), 'staging directory left behind').to.deep.equal([]);
  }

  it('publishes the binaries and a metadata file, all carrying the run’s version id', async () => {
    const { models, stage } = await folders();
    const run = await train(['PAYLOAD={"$ref": "data/numbers.csv", "offset": 10}'], models, stage);
    expect(run.status, run.stderr).to.equal(0);
    expect(run.events.map((e) => e.event)).to.deep.equal(['started', 'finished']);
    const version = run.events[0]!.version as string;
    expect(version).to.match(/^\d{8}T\d{6}Z-[0-9a-f]{6}$/);
    expect(run.events[1]!.version).to.equal(version);
    expect(run.events[1]!.published).to.deep.equal(['offset.txt', METADATA]);

    expect(await readFile(path.join(models, 'offset.txt'), 'utf8')).to.equal('16\n');
    const metadata = JSON.parse(await readFile(path.join(models, METADATA), 'utf8')) as Record<string, unknown>;
    expect(metadata).to.deep.include({
      version,
      train_module: 'route_styles.styles.trainer',
      train_function: 'train',
      files: ['offset.txt'],
      result: { offset: 16 },
    });
    expect(metadata.started).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(metadata.duration_seconds).to.be.a('number');
    expect(await readdir(stage)).to.deep.equal([]);

    const again = await train(['PAYLOAD={"offset": 1}'], models, stage);
    expect(again.status, again.stderr).to.equal(0);
    expect(again.events[0]!.version).not.to.equal(version);
  });

  it('leaves the previous binaries byte-identical and no stage when the train function raises', async () => {
    const { models, stage } = await folders();
    const run = await train(['TRAIN_FUNCTION=train_then_fail', 'PAYLOAD={"offset": 3}'], models, stage);
    expect(run.status).to.equal(1);
    expect(run.events.at(-1)).to.include({ event: 'failed', error: 'RuntimeError: training diverged' });
    expect(run.stderr.trim().split('\n').at(-1)).to.equal('cortex-s2i train: error: RuntimeError: training diverged');
    await expectUntouched(models, stage);
  });

  it('on docker stop during training, exits 143 and leaves the previous binaries and no stage', async () => {
    const { models, stage } = await folders();
    const c = await startContainer(
      engine,
      spec(['TRAIN_FUNCTION=train_slowly', 'PAYLOAD={"offset": 3}'], models, stage),
    );
    const until = Date.now() + 60_000;
    while (!(await engine.containerLogs(c.id)).stderr.includes('training slowly')) {
      if (Date.now() > until) throw new Error('the train function never started');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await stopContainer(c.id, 10);
    const run = await finish(c.id);
    expect(run.status).to.equal(143);
    expect(run.events.at(-1)).to.include({ event: 'failed', error: 'interrupted by SIGTERM', exit_code: 143 });
    await expectUntouched(models, stage);
  });

  it('leaves the previous binaries byte-identical and no temporary files when the disk fills while publishing', async () => {
    // One container, a 1 MiB models filesystem: a first run publishes, a second writes 4 MiB.
    const script = [
      'run=/usr/libexec/s2i/run',
      'list() ( cd /model/models && ls -A | sort && sha256sum $(ls -A | sort) )',
      'PAYLOAD=\'{"offset": 5}\' $run >/dev/null || { echo "first run failed: $?"; exit 90; }',
      'echo "== before"; list',
      'PAYLOAD=\'{"offset": 6, "megabytes": 4}\' TRAIN_FUNCTION=train_too_big $run >/tmp/events; echo "== exit $?"',
      'echo "== events"; cat /tmp/events; rm /tmp/events',
      'echo "== after"; list',
      'echo "== stage"; ls -A /tmp',
    ].join('\n');
    const c = await startContainer(engine, {
      image: IMAGE,
      name: `${PREFIX}-train-runner-full-${process.pid}`,
      env: ['TRAIN=1'],
      cmd: ['sh', '-c', script],
      tmpfs: { '/model/models': 'size=1m', '/tmp': 'size=64m' },
    });
    const run = await finish(c.id);
    expect(run.status, run.stdout + run.stderr).to.equal(0);
    const section = (name: string) => run.stdout.split(`== ${name}\n`)[1]!.split('\n== ')[0]!.trim();
    expect(section('before')).to.contain('offset.txt').and.contain(METADATA);
    expect(section('after')).to.equal(section('before'));
    expect(section('stage')).to.equal('');
    expect(run.stdout).to.contain('== exit 1');
    const failed = run.events.find((e) => e.event === 'failed')!;
    expect(failed.error).to.match(
      /^publishing models to \/model\/models: OSError: \[Errno 28\] No space left on device/,
    );
  });

  it('refuses bad input with one clear line and exit status 2', async () => {
    const cases: Array<[string[], string, boolean]> = [
      [['PAYLOAD={not json'], 'PAYLOAD is not valid JSON', true],
      [['PAYLOAD={"$ref": "data/missing.csv"}'], 'PAYLOAD "$ref" data/missing.csv does not exist in /model', true],
      [['PAYLOAD={"$ref": "data/numbers.csv"}'], 'mount the data folder: -v "$PWD/data:/model/data"', false],
      [
        ['TRAIN_FUNCTION=no_such_function'],
        "TRAIN_MODULE route_styles.styles.trainer (/opt/program/route_styles/styles/trainer.py) has no function 'no_such_function'",
        true,
      ],
    ];
    for (const [env, message, withData] of cases) {
      const { models, stage } = await folders();
      const s = spec(env, models, stage);
      if (!withData) s.binds = s.binds!.filter((b) => b.container !== '/model/data');
      const run = await finish((await startContainer(engine, s)).id);
      expect(run.status, message).to.equal(2);
      const last = run.stderr.trim().split('\n').at(-1)!;
      expect(last.startsWith('cortex-s2i train: error: '), last).to.equal(true);
      expect(last).to.contain(message);
      expect(run.events.at(-1)).to.include({ event: 'failed', exit_code: 2 });
      await expectUntouched(models, stage);
    }
  });
});
