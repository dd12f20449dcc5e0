// --as-dockerfile on a real engine and on buildah: the folder it writes, built by `docker build`
// and by `buildah bud` (vfs storage, chroot isolation, as Tekton and OpenShift run it), gives two
// images that answer alike, run as the same user, hold the same files and stop cleanly.

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { chmod, readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseDotenv } from 'dotenv';
import type { Engine } from '../../lib/engine/engine.js';
import { packageVersion } from '../../lib/package-root.js';
import { bundledBuilderImage } from '../../lib/plan/builders.js';
import { Cleanup, cli, cliWith, PREFIX, predictThenStop, realEngine, runInImage, startContainer } from './support.js';

const run = promisify(execFile);
const MODEL = { dir: 'logisticRegression', name: 'adult_income_lr' };

async function hasBuildah(): Promise<boolean> {
  return run('buildah', ['--version']).then(
    () => true,
    () => false,
  );
}

describe('--as-dockerfile, built by docker build and by buildah', function () {
  this.timeout(12 * 60 * 1000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  let project: string;
  let models: string;
  let context: string;
  let buildahStorage: string[] = [];
  const dockerImage = `${PREFIX}-asdf-docker`;
  const buildahImage = `${PREFIX}-asdf-buildah`;
  /** buildah on storage of its own, in temporary folders: nothing of anyone else's is touched. */
  const buildah = (...args: string[]) => run('buildah', ['--root', buildahStorage[0]!, '--runroot', buildahStorage[1]!, '--storage-driver', 'vfs', ...args], { maxBuffer: 64 * 1024 * 1024 });

  before(async function () {
    engine = await realEngine(this);
    if (!(await hasBuildah())) {
      if (process.env.CI === 'true') throw new Error("buildah is not installed; 'make test' installs it (scripts/buildah.sh)");
      console.warn("\n*** --as-dockerfile SUITE SKIPPED: buildah is not installed. Run 'make buildah' (or 'make test').\n");
      this.skip();
    }
    project = await cleanup.exampleCopy();
    models = await cleanup.tempDir('models');
    await chmod(models, 0o755);
    context = path.join(await cleanup.tempDir('context'), 'ctx');
    buildahStorage = [await cleanup.tempDir('buildah-root'), await cleanup.tempDir('buildah-runroot')];
  });
  after(async () => {
    if (buildahStorage.length) {
      // Its own storage only: the images it built and pulled, then the folders (Cleanup removes them).
      await buildah('rm', '--all').catch(() => undefined);
      await buildah('rmi', '--all', '--force').catch(() => undefined);
    }
    await cleanup.run();
  });

  it('writes the context without an engine, and prints how to build it', async () => {
    // An address where nothing answers: writing the context must not need one.
    const r = await cliWith({ ...process.env, DOCKER_HOST: 'tcp://127.0.0.1:9' }, 'build', path.join(project, MODEL.dir), 'daemon', dockerImage, '--as-dockerfile', context);
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.contain(`docker build -t ${dockerImage} ${context}`).and.contain(`buildah bud --storage-driver vfs -t ${dockerImage} ${context}`);
    expect(r.out).to.match(/wrote .*ctx: \d+ files \(.*\) and 1 link/);
    const dockerfile = await readFile(path.join(context, 'Dockerfile'), 'utf8');
    // Nothing that only BuildKit reads: a syntax line, RUN --mount, COPY --chmod/--link, heredocs.
    expect(dockerfile).not.to.match(/^# *syntax=|--mount|--chmod|--link|<</m);
    // Every COPY source is inside the folder.
    for (const m of dockerfile.matchAll(/^COPY (\S+) /gm)) expect((await stat(path.join(context, m[1]!))).isDirectory(), m[1]).to.equal(true);
    expect((await stat(path.join(context, 'deps/requirements.txt'))).mode & 0o777).to.equal(0o644);
    expect(await readdir(context)).to.have.members(['Dockerfile', 'deps', 'src']);

    const again = await cli('build', path.join(project, MODEL.dir), 'daemon', dockerImage, '--as-dockerfile', context);
    expect(again.code).to.equal(2);
    expect(again.err).to.contain('is not empty').and.contain('hint:');
  });

  it('trains the model with the train image the CLI builds', async () => {
    const trainImage = cleanup.image(`${PREFIX}-asdf-train`);
    const b = await cli('build', path.join(project, MODEL.dir), 'train', trainImage);
    expect(b.code, b.err).to.equal(0);
    const c = await startContainer(engine, {
      image: trainImage,
      name: `${PREFIX}-asdf-train`,
      env: ['TRAIN=1', `PAYLOAD={"$ref": "data/adult_income-prepped.csv", "model_name": "${MODEL.name}"}`],
      binds: [
        { host: path.join(project, 'data'), container: '/model/data', readOnly: true },
        { host: models, container: '/model/models' },
      ],
    });
    const status = await engine.waitContainer(c.id);
    const logs = await engine.containerLogs(c.id);
    await engine.removeContainer(c.id);
    expect(status, logs.stderr).to.equal(0);
    expect((await stat(path.join(models, `${MODEL.name}.pkl`))).size).to.be.greaterThan(0);
  });

  it('builds with docker build', async () => {
    cleanup.image(dockerImage);
    await run('docker', ['build', '-q', '-t', dockerImage, context], { maxBuffer: 64 * 1024 * 1024 });
    expect(await engine.inspectImage(dockerImage)).not.to.equal(undefined);
  });

  it('builds with buildah bud (vfs, chroot isolation) and hands the image to the engine', async () => {
    const builder = bundledBuilderImage('daemon', packageVersion(), process.env.CORTEX_S2I_BUILDER_REPO || undefined);
    // As a registry would in CI: the builder image comes to buildah's storage from the engine.
    await buildah('pull', '--quiet', `docker-daemon:${builder}`);
    await buildah('bud', '--isolation', 'chroot', '--pull-never', '--quiet', '-t', `localhost/${buildahImage}`, context);
    cleanup.image(buildahImage);
    await buildah('push', '--quiet', `localhost/${buildahImage}`, `docker-daemon:${buildahImage}:latest`);
    expect(await engine.inspectImage(buildahImage)).not.to.equal(undefined);
  });

  /** What an image shows: its answers, its user, its files, and how it stops. */
  async function observe(image: string): Promise<{ predictions: unknown; uid: string; listing: string[]; stopStatus: number; stopSeconds: number }> {
    const inside = (cmd: string[]) => runInImage(engine, image, cmd);
    const uid = (await inside(['id', '-u'])).trim();
    // Type, mode, owner and link target of everything under /opt/program.
    const listing = (await inside(['find', '/opt/program', '-printf', '%p %y %m %U %l\\n'])).trim().split('\n').sort();

    const dotenv = parseDotenv(await readFile(path.join(project, '.env')));
    const env = Object.entries({ ...dotenv, PREDICTION_LABELS: 'low,high' }).map(([k, v]) => `${k}=${v}`);
    const body = await readFile(path.join(project, MODEL.dir, 'test/test_instances.json'), 'utf8');
    const r = await predictThenStop(engine, { image, name: `${PREFIX}-asdf-serve`, env, models, route: `${MODEL.name}/predict`, body });
    return { predictions: (r.json as { payload: { predictions: unknown } }).payload.predictions, uid, listing, stopStatus: r.stopStatus, stopSeconds: r.stopSeconds };
  }

  it('gives two images with the same answers, user and files, each stopping cleanly on SIGTERM', async () => {
    const fromDocker = await observe(dockerImage);
    const fromBuildah = await observe(buildahImage);
    const instances = (JSON.parse(await readFile(path.join(project, MODEL.dir, 'test/test_instances.json'), 'utf8')) as { payload: { instances: unknown[] } }).payload.instances;

    expect(fromDocker.predictions).to.be.an('array').with.length(instances.length);
    expect((fromDocker.predictions as string[]).every((p) => p === 'low' || p === 'high')).to.equal(true);
    expect(fromBuildah.predictions).to.deep.equal(fromDocker.predictions);
    expect([fromDocker.uid, fromBuildah.uid]).to.deep.equal(['1001', '1001']);
    expect(fromDocker.listing).to.include(`/opt/program/finance_income_prediction/${MODEL.dir}/predict.py f 644 0 `);
    expect(fromDocker.listing).to.include('/opt/program/finance_income_prediction/models l 777 0 /opt/cortex-s2i/models');
    expect(fromBuildah.listing).to.deep.equal(fromDocker.listing);
    for (const [name, seen] of [['docker build', fromDocker], ['buildah', fromBuildah]] as const) {
      expect(seen.stopStatus, `${name}: exit status after docker stop`).to.equal(0);
      expect(seen.stopSeconds, `${name}: seconds to stop`).to.be.below(10);
    }
  });
});
