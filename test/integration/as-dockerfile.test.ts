// --as-dockerfile on a real engine and on buildah: the folder it writes, built by `docker build`
// and by `buildah bud` (vfs storage, chroot isolation, as Tekton and OpenShift run it), gives two
// images that answer alike, run as the same user, hold the same files and stop cleanly. The buildah
// build is docs/ci.md's GitLab job, run for real: it pushes by digest to the local registry, and
// the engine pulls that digest.

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { chmod, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseDotenv } from 'dotenv';
import { parse as parseYaml } from 'yaml';
import type { Engine } from '../../lib/engine/engine.js';
import { packageFile, packageVersion } from '../../lib/package-root.js';
import { bundledBuilderImage } from '../../lib/plan/builders.js';
import { Cleanup, cli, cliWith, PREFIX, predictThenStop, realEngine, runInImage, startContainer } from './support.js';

const run = promisify(execFile);
const MODEL = { dir: 'logisticRegression', name: 'adult_income_lr' };
// The registry without auth that 'make registry' starts.
const REGISTRY = '127.0.0.1:5301';

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
  const buildah = (...args: string[]) =>
    run(
      'buildah',
      ['--root', buildahStorage[0]!, '--runroot', buildahStorage[1]!, '--storage-driver', 'vfs', ...args],
      { maxBuffer: 64 * 1024 * 1024 },
    );

  before(async function () {
    engine = await realEngine(this);
    const down = await fetch(`http://${REGISTRY}/v2/`).then(
      (r) => (r.ok ? undefined : `the registry at ${REGISTRY} answers ${r.status}`),
      () => `no registry answers at ${REGISTRY}`,
    );
    const reason = (await hasBuildah()) ? down : 'buildah is not installed';
    if (reason) {
      if (process.env.CI === 'true')
        throw new Error(`${reason}; 'make test' installs buildah and starts the registries`);
      console.warn(`\n*** --as-dockerfile SUITE SKIPPED: ${reason}. Run 'make buildah registry' (or 'make test').\n`);
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
    const r = await cliWith(
      { ...process.env, DOCKER_HOST: 'tcp://127.0.0.1:9' },
      'build',
      path.join(project, MODEL.dir),
      'daemon',
      dockerImage,
      '--as-dockerfile',
      context,
    );
    expect(r.code, r.err).to.equal(0);
    expect(r.out)
      .to.contain(`docker build -t ${dockerImage} ${context}`)
      .and.contain(`buildah bud --storage-driver vfs -t ${dockerImage} ${context}`);
    expect(r.out).to.match(/wrote .*ctx: \d+ files \(.*\) and 1 link/);
    const dockerfile = await readFile(path.join(context, 'Dockerfile'), 'utf8');
    // Nothing that only BuildKit reads: a syntax line, RUN --mount, COPY --chmod/--link, heredocs.
    expect(dockerfile).not.to.match(/^# *syntax=|--mount|--chmod|--link|<</m);
    // Every COPY source is inside the folder.
    for (const m of dockerfile.matchAll(/^COPY (\S+) /gm))
      expect((await stat(path.join(context, m[1]!))).isDirectory(), m[1]).to.equal(true);
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

  it("builds with buildah as docs/ci.md's GitLab job does, pushed by digest, and the engine pulls that digest", async () => {
    // The job's own script lines, on the example's model instead of churn, with the cortex-s2i of
    // this checkout; its serving lines (podman, curl) are left out: the image is served below.
    const doc = await readFile(packageFile('docs', 'ci.md'), 'utf8');
    const gitlab = parseYaml([...doc.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)][1]![1]!) as Record<
      string,
      { script: string[]; variables: Record<string, string> }
    >;
    const job = Object.values(gitlab)[0]!;
    const lines = job.script
      .filter((l) => !/^(podman|curl|for )/.test(l))
      .map((l) => l.replace(/^npx cortex-s2i /, 'node "$CORTEX_S2I_BIN" ').replace(/\bchurn\b/g, MODEL.dir));
    expect(lines.some((l) => l.startsWith('buildah bud'))).to.equal(true);
    expect(lines.some((l) => l.startsWith('buildah push') && l.includes('--digestfile'))).to.equal(true);
    // The local registry over plain HTTP, as a runner's registries.conf would allow it.
    const conf = path.join(buildahStorage[1]!, 'registries.conf');
    await writeFile(conf, `[[registry]]\nlocation = "${REGISTRY}"\ninsecure = true\n`);
    const builder = bundledBuilderImage('daemon', packageVersion(), process.env.CORTEX_S2I_BUILDER_REPO || undefined);
    const repository = `${REGISTRY}/${buildahImage}`;
    const script = [
      'set -eu',
      // buildah on storage of its own: nothing of anyone else's is touched.
      'buildah() { command buildah --root "$BUILDAH_ROOT" --runroot "$BUILDAH_RUNROOT" "$@"; }',
      // A runner pulls the builder from the pipeline's registry; here it comes from the engine.
      `buildah pull --quiet --storage-driver vfs "docker-daemon:${builder}" >/dev/null`,
      ...lines,
    ].join('\n');
    const variables = Object.fromEntries(
      Object.entries(job.variables).filter(([k]) => k !== 'CORTEX_S2I_BUILDER_REPO' && k !== 'IMAGE'),
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...variables,
      IMAGE: repository,
      CI_COMMIT_SHA: '0123456789abcdef',
      CI: 'true',
      BUILDAH_ROOT: buildahStorage[0]!,
      BUILDAH_RUNROOT: buildahStorage[1]!,
      CONTAINERS_REGISTRIES_CONF: conf,
      CORTEX_S2I_BIN: packageFile('bin', 'cortex-s2i.js'),
    };
    const output = await run('sh', ['-c', script], { cwd: project, env, maxBuffer: 64 * 1024 * 1024 }).catch(
      (err: { stdout: string; stderr: string }) => {
        throw new Error(`the job failed:\n${err.stdout.slice(-3000)}\n${err.stderr.slice(-3000)}`);
      },
    );
    // The CLI's part printed plain lines: CI is set.
    expect(output.stdout)
      .to.match(/^wrote \S*\/ctx: \d+ files/m)
      // eslint-disable-next-line no-control-regex
      .and.not.match(/[\u0000-\u0009\u000b-\u001f]/);
    const digest = (await readFile(path.join(project, 'digest.txt'), 'utf8')).trim();
    expect(digest).to.match(/^sha256:[0-9a-f]{64}$/);
    expect((await readFile(path.join(project, 'build.env'), 'utf8')).trim()).to.equal(
      `IMAGE_REF=${repository}@${digest}`,
    );
    // What a later job does with IMAGE_REF: the engine pulls exactly what was pushed.
    cleanup.image(`${repository}@${digest}`);
    cleanup.image(buildahImage);
    await run('docker', ['pull', '--quiet', `${repository}@${digest}`]);
    await run('docker', ['tag', `${repository}@${digest}`, buildahImage]);
    expect(await engine.inspectImage(buildahImage)).not.to.equal(undefined);
  });

  /** What an image shows: its answers, its user, its files, and how it stops. */
  async function observe(
    image: string,
  ): Promise<{ predictions: unknown; uid: string; listing: string[]; stopStatus: number; stopSeconds: number }> {
    const inside = (cmd: string[]) => runInImage(engine, image, cmd);
    const uid = (await inside(['id', '-u'])).trim();
    // Type, mode, owner and link target of everything under /opt/program.
    const listing = (await inside(['find', '/opt/program', '-printf', '%p %y %m %U %l\\n'])).trim().split('\n').sort();

    const dotenv = parseDotenv(await readFile(path.join(project, '.env')));
    const env = Object.entries({ ...dotenv, PREDICTION_LABELS: 'low,high' }).map(([k, v]) => `${k}=${v}`);
    const body = await readFile(path.join(project, MODEL.dir, 'test/test_instances.json'), 'utf8');
    const r = await predictThenStop(engine, {
      image,
      name: `${PREFIX}-asdf-serve`,
      env,
      models,
      route: `${MODEL.name}/predict`,
      body,
    });
    return {
      predictions: (r.json as { payload: { predictions: unknown } }).payload.predictions,
      uid,
      listing,
      stopStatus: r.stopStatus,
      stopSeconds: r.stopSeconds,
    };
  }

  it('gives two images with the same answers, user and files, each stopping cleanly on SIGTERM', async () => {
    const fromDocker = await observe(dockerImage);
    const fromBuildah = await observe(buildahImage);
    const instances = (
      JSON.parse(await readFile(path.join(project, MODEL.dir, 'test/test_instances.json'), 'utf8')) as {
        payload: { instances: unknown[] };
      }
    ).payload.instances;

    expect(fromDocker.predictions).to.be.an('array').with.length(instances.length);
    expect((fromDocker.predictions as string[]).every((p) => p === 'low' || p === 'high')).to.equal(true);
    expect(fromBuildah.predictions).to.deep.equal(fromDocker.predictions);
    expect([fromDocker.uid, fromBuildah.uid]).to.deep.equal(['1001', '1001']);
    expect(fromDocker.listing).to.include(`/opt/program/finance_income_prediction/${MODEL.dir}/predict.py f 644 0 `);
    expect(fromDocker.listing).to.include(
      '/opt/program/finance_income_prediction/models l 777 0 /opt/cortex-s2i/models',
    );
    expect(fromBuildah.listing).to.deep.equal(fromDocker.listing);
    for (const [name, seen] of [
      ['docker build', fromDocker],
      ['buildah', fromBuildah],
    ] as const) {
      expect(seen.stopStatus, `${name}: exit status after docker stop`).to.equal(0);
      expect(seen.stopSeconds, `${name}: seconds to stop`).to.be.below(10);
    }
  });
});
