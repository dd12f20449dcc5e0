// The train image's guarantees on a real engine (all-or-nothing publishing, no links to host paths,
// a models mount required, writes through the models link staged, import failures explained) and
// the one-shot command line of both images: --train and --inquire.

import { expect } from 'chai';
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ContainerSpec, Engine } from '../../lib/engine/engine.js';
import { Cleanup, cli, jsonLines, PREFIX, realEngine, ROUTE_STYLES, startContainer } from './support.js';

const TRAIN_IMAGE = `${PREFIX}-train-cli-train`;
const PREDICT_IMAGE = `${PREFIX}-train-cli-predict`;
const METADATA = 'route_styles.styles.trainer.train.train.json';
const TRAINER = '/opt/program/route_styles/styles/trainer.py';
const VERSION = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;

interface Run {
  status: number;
  events: Array<Record<string, unknown>>;
  stdout: string;
  stderr: string;
}

/** Every entry under dir: its type and bytes, or its link text, to compare before and after. */
async function tree(dir: string, prefix = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) {
    const full = path.join(dir, name);
    const info = await lstat(full);
    const key = prefix + name;
    if (info.isSymbolicLink()) out[key] = `link ${await readlink(full)}`;
    else if (info.isDirectory()) Object.assign(out, { [key]: 'folder' }, await tree(full, `${key}/`));
    else out[key] = `file ${(await readFile(full)).toString('base64')} ${info.mtimeMs}`;
  }
  return out;
}

describe('the train image and the one-shot command line on a real engine', function () {
  this.timeout(5 * 60 * 1000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  let serial = 0;

  before(async function () {
    engine = await realEngine(this);
    const train = await cli('build', path.join(ROUTE_STYLES, 'styles'), 'train', cleanup.image(TRAIN_IMAGE));
    expect(train.code, train.err).to.equal(0);
    const predict = await cli('build', path.join(ROUTE_STYLES, 'styles'), 'daemon', cleanup.image(PREDICT_IMAGE));
    expect(predict.code, predict.err).to.equal(0);
  });
  after(() => cleanup.run());

  async function run(spec: Omit<ContainerSpec, 'labels' | 'name'>): Promise<Run> {
    const c = await startContainer(engine, { ...spec, name: `${PREFIX}-train-cli-${process.pid}-${++serial}` });
    const status = await engine.waitContainer(c.id);
    const { stdout, stderr } = await engine.containerLogs(c.id);
    await engine.removeContainer(c.id);
    const events = stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    return { status, events, stdout, stderr };
  }

  /** A train run with the fixture's data and `models` mounted as docs/images.md says. */
  function train(models: string, env: string[], cmd?: string[]): Promise<Run> {
    return run({
      image: TRAIN_IMAGE,
      env,
      ...(cmd ? { cmd } : {}),
      binds: [
        { host: path.join(ROUTE_STYLES, 'data'), container: '/model/data', readOnly: true },
        { host: models, container: '/model/models' },
      ],
    });
  }

  /** A models folder holding a published binary, a folder and a file. */
  async function models(): Promise<string> {
    const dir = await cleanup.tempDir('models');
    await writeFile(path.join(dir, 'offset.txt'), '41\n');
    await mkdir(path.join(dir, 'folder'));
    await writeFile(path.join(dir, 'folder', 'inside.bin'), 'inside\n');
    await writeFile(path.join(dir, 'file'), 'a file\n');
    return dir;
  }

  const lastLine = (text: string) => text.trim().split('\n').at(-1)!;

  describe('train publishing', () => {
    for (const [retyped, published, staged] of [
      ['folder', 'a folder', 'a file'],
      ['file', 'a file', 'a folder'],
    ] as const) {
      it(`publishes nothing when a staged ${staged.slice(2)} replaces the published ${published.slice(2)}, after offset.txt was written`, async () => {
        const dir = await models();
        const before = await tree(dir);
        const r = await train(dir, [
          'TRAIN=1',
          'TRAIN_FUNCTION=train_retyping',
          `PAYLOAD={"offset": 5, "path": "${retyped}"}`,
        ]);
        expect(r.status, r.stderr).to.equal(1);
        const message = `publishing models to /model/models: /model/models/${retyped} is ${published} in /model/models, but ${staged} in the run's models`;
        expect(lastLine(r.stderr))
          .to.contain(`cortex-s2i train: error: ${message}`)
          .and.contain('nothing was published');
        expect(r.events.map((e) => e.event)).to.deep.equal(['started', 'failed']);
        expect(await tree(dir)).to.deep.equal(before);
      });
    }

    it('refuses to publish a link to a host path, naming the link and its target, and publishes nothing', async () => {
      for (const target of ['/etc/shadow', '../data/numbers.csv']) {
        const dir = await models();
        const before = await tree(dir);
        const r = await train(dir, [
          'TRAIN=1',
          'TRAIN_FUNCTION=train_link_out',
          `PAYLOAD={"offset": 5, "target": "${target}"}`,
        ]);
        expect(r.status, r.stderr).to.equal(1);
        expect(lastLine(r.stderr)).to.contain(`models/evil is a link to ${target}, outside the models folder`);
        expect(await tree(dir)).to.deep.equal(before);
      }
    });

    it('publishes a link that stays inside the models folder as a relative link', async () => {
      const dir = await models();
      const r = await train(dir, [
        'TRAIN=1',
        'TRAIN_FUNCTION=train_link_out',
        'PAYLOAD={"offset": 5, "target": "/opt/cortex-s2i/models/offset.txt"}',
      ]);
      expect(r.status, r.stderr).to.equal(0);
      expect(await readlink(path.join(dir, 'evil'))).to.equal('offset.txt');
      expect(await readFile(path.join(dir, 'evil'), 'utf8')).to.equal('5\n');
    });

    it('fails before training, exit 2 and one line, when /model/models is not mounted', async () => {
      const r = await run({ image: TRAIN_IMAGE, env: ['TRAIN=1', 'PAYLOAD={"offset": 5}'] });
      expect(r.status).to.equal(2);
      expect(r.stderr.trim()).to.equal(
        'cortex-s2i train: error: /model/models is not a mounted folder, so the models this run publishes would be lost with the container: mount one with -v "$PWD/models:/model/models"',
      );
      expect(r.events.map((e) => e.event)).to.deep.equal(['failed']);
    });

    it('stages what the train function writes through the models link: published on success, discarded on failure', async () => {
      const dir = await models();
      const before = await tree(dir);
      const failed = await train(dir, [
        'TRAIN=1',
        'TRAIN_FUNCTION=train_through_link',
        'PAYLOAD={"offset": 7, "fail": true}',
      ]);
      expect(failed.status, failed.stderr).to.equal(1);
      expect(lastLine(failed.stderr)).to.equal(
        'cortex-s2i train: error: RuntimeError: failed after writing through the link',
      );
      expect(await tree(dir)).to.deep.equal(before);

      const ok = await train(dir, ['TRAIN=1', 'TRAIN_FUNCTION=train_through_link', 'PAYLOAD={"offset": 7}']);
      expect(ok.status, ok.stderr).to.equal(0);
      expect(ok.events.at(-1)!.published).to.deep.equal([
        'offset.txt',
        'x.bin',
        'route_styles.styles.trainer.train_through_link.train.json',
      ]);
      expect(await readFile(path.join(dir, 'x.bin'), 'utf8')).to.equal('through the link 7\n');
    });

    it('points the models link back at /model/models after a run, and lets a non-root user repoint it', async () => {
      const script = [
        'TRAIN_FUNCTION=train_through_link /usr/libexec/s2i/run --train \'{"offset": 2}\' >/dev/null; echo "exit $?"',
        'readlink /opt/cortex-s2i/models',
        'cat /model/models/x.bin',
      ].join('\n');
      const r = await run({
        image: TRAIN_IMAGE,
        user: '1001:0',
        cmd: ['sh', '-c', script],
        tmpfs: { '/model/models': 'size=1m,mode=1777' },
      });
      expect(r.stdout.trim().split('\n'), r.stderr).to.deep.equal(['exit 0', '/model/models', 'through the link 2']);
    });

    it('names the module, the cause and the line when TRAIN_MODULE fails to import', async () => {
      const dir = await models();
      const r = await train(dir, ['TRAIN=1', 'ROUTE_STYLES_IMPORT_MISSING=xgboost_not_in_this_image']);
      expect(r.status).to.equal(2);
      expect(lastLine(r.stderr)).to.match(
        new RegExp(
          `^cortex-s2i train: error: cannot import TRAIN_MODULE route_styles\\.styles\\.trainer: ModuleNotFoundError: No module named 'xgboost_not_in_this_image' \\(at ${TRAINER}:\\d+\\)$`,
        ),
      );
      expect(r.events.at(-1)).to.include({ event: 'failed', exit_code: 2 });
    });
  });

  describe('--train', () => {
    it('is the same run as TRAIN=1 PAYLOAD=…: same events, a version id, the same models', async () => {
      const payload = '{"$ref": "data/numbers.csv", "offset": 10}';
      const viaEnv = await models();
      const viaCli = await models();
      const env = await train(viaEnv, ['TRAIN=1', `PAYLOAD=${payload}`]);
      const oneShot = await train(viaCli, [], ['--train', payload]);
      for (const r of [env, oneShot]) {
        expect(r.status, r.stderr).to.equal(0);
        expect(new Set(r.events.map((e) => e.version)).size).to.equal(1);
        expect(r.events[0]!.version).to.match(VERSION);
      }
      const shape = (r: Run) => r.events.map((e) => [e.event, Object.keys(e).sort(), e.result, e.published]);
      expect(shape(oneShot)).to.deep.equal(shape(env));
      expect(oneShot.events.at(-1)!.result).to.deep.equal({ offset: 16 });
      expect(await readFile(path.join(viaCli, 'offset.txt'), 'utf8')).to.equal('16\n');
      const metadata = JSON.parse(await readFile(path.join(viaCli, METADATA), 'utf8')) as Record<string, unknown>;
      expect(metadata.version).to.equal(oneShot.events[0]!.version);
    });

    it('exits as TRAIN=1 does on bad input and on a failing train function', async () => {
      const bad = await train(await models(), [], ['--train', '{not json']);
      expect(bad.status).to.equal(2);
      expect(lastLine(bad.stderr)).to.contain('cortex-s2i train: error: PAYLOAD is not valid JSON');
      const failing = await train(await models(), ['TRAIN_FUNCTION=train_then_fail'], ['--train', '{"offset": 1}']);
      expect(failing.status).to.equal(1);
      expect(failing.events.at(-1)).to.include({
        event: 'failed',
        error: 'RuntimeError: training diverged',
        exit_code: 1,
      });
    });
  });

  describe('--inquire', () => {
    function inquire(cmd: string[], env: string[] = []): Promise<Run> {
      return run({
        image: PREDICT_IMAGE,
        env,
        cmd,
        binds: [{ host: path.join(ROUTE_STYLES, 'models'), container: '/action/models', readOnly: true }],
      });
    }

    it('calls the chosen route once and prints {"payload": …} alone on stdout, logs with a version id on stderr', async () => {
      const r = await inquire(['--inquire', '{"numbers": [1, 2, 3]}', '--route', 'function/predict']);
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout).to.equal('{"payload":{"style":"function","sum":6}}\n');
      const log = jsonLines(r.stderr);
      expect(log.map((l) => l.event)).to.deep.equal(['inquiry_started', 'inquiry_finished']);
      expect(new Set(log.map((l) => l.version)).size).to.equal(1);
      expect(log[0]!.version).to.match(VERSION);
      expect(log[0]).to.include({ route: 'function/predict', module: 'route_styles.styles.plain' });
    });

    it('runs a Cortex module route’s init against the mounted models, and reads the inquiry from stdin', async () => {
      const r = await run({
        image: PREDICT_IMAGE,
        cmd: ['sh', '-c', `printf '{"x": [1, 2]}' | /usr/libexec/s2i/entrypoint --inquire - --route module/predict`],
        binds: [{ host: path.join(ROUTE_STYLES, 'models'), container: '/action/models', readOnly: true }],
      });
      expect(r.status, r.stderr).to.equal(0);
      expect(JSON.parse(r.stdout)).to.deep.equal({
        payload: { style: 'module', values: [101, 102], route: 'module/predict' },
      });
    });

    it('names the routes when there are several and none is chosen: exit 2, the error as JSON on stdout', async () => {
      const r = await inquire(['--inquire', '{"numbers": [1]}']);
      expect(r.status).to.equal(2);
      const error = (JSON.parse(r.stdout) as { error: Record<string, unknown> }).error;
      expect(error).to.include({
        exit_code: 2,
        message: 'ROUTES has 3 routes (function/predict, class/predict, module/predict): choose one with --route',
      });
      expect(error.version).to.match(VERSION);
      expect(jsonLines(r.stderr).at(-1)).to.include({ event: 'inquiry_failed', version: error.version });
    });

    it('exits 1 with the error as JSON when the function raises, and 2 on JSON it cannot read', async () => {
      const raised = await inquire(['--inquire', '{"fail": "on purpose"}', '--route', 'function/predict']);
      expect(raised.status).to.equal(1);
      expect(JSON.parse(raised.stdout).error).to.include({
        exit_code: 1,
        message: "route 'function/predict' raised ValueError: asked to fail: on purpose",
      });
      expect(jsonLines(raised.stderr).at(-1)!.traceback).to.contain('Traceback');

      const bad = await inquire(['--inquire', '{nope', '--route', 'function/predict']);
      expect(bad.status).to.equal(2);
      expect(JSON.parse(bad.stdout).error.message).to.match(/^the inquiry is not valid JSON/);
    });

    it('prints the image’s usage, with its routes, on --help', async () => {
      const help = await inquire(['--help']);
      expect(help.status).to.equal(0);
      expect(help.stdout).to.contain('--inquire').and.contain('function/predict');
    });
  });
});
