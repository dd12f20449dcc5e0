import { expect } from 'chai';
import { appendFile, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FakeEngine } from '../../lib/engine/fake-engine.js';
import { EngineUnreachableError, type Engine } from '../../lib/engine/engine.js';
import { ExitCode } from '../../lib/errors.js';
import { packageVersion } from '../../lib/package-root.js';
import { bundledBuilderImage } from '../../lib/plan/builders.js';
import { removeTree, sampleProject, writeTree } from '../support/tree.js';
import { main } from '../../lib/cli/main.js';
import { printable } from '../../lib/text.js';

async function run(argv: string[], engine?: () => Engine, env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {
    env,
    output: { out: (l) => out.push(l), err: (l) => err.push(l) },
    ...(engine ? { engine } : {}),
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const noEngine = () => {
  throw new Error('the engine must not be used');
};

describe('cortex-s2i (main)', () => {
  let root: string;
  let model: string;
  let engine: FakeEngine;
  // main() is given its own environment (run's env): the builder repository is the default one there.
  const builder = bundledBuilderImage('daemon', packageVersion());
  beforeEach(async () => {
    root = await writeTree(sampleProject());
    model = path.join(root, 'shop/churn');
    engine = new FakeEngine();
    engine.addImage(builder, { 'io.cortex-s2i.builder': 'daemon' });
  });
  afterEach(() => removeTree(root));

  it('refuses an s2i builder that runs as root unless --allow-root says so', async () => {
    engine.addImage('someone/python-builder:1', { 'io.openshift.s2i.scripts-url': 'image:///usr/libexec/s2i' });
    const refused = await run(['build', model, 'someone/python-builder:1', 'churn-s2i', '--dry-run'], () => engine);
    expect(refused.code).to.equal(2);
    expect(refused.err).to.contain('someone/python-builder:1 runs as root').and.contain('--allow-root');
    const allowed = await run(
      ['build', model, 'someone/python-builder:1', 'churn-s2i', '--dry-run', '--allow-root'],
      () => engine,
    );
    expect(allowed.code, allowed.err).to.equal(0);
  });

  it('prints usage for --help and exits 0', async () => {
    const r = await run(['--help']);
    expect(r.code).to.equal(0);
    expect(r.out).to.contain('cortex-s2i build <source-dir> <builder> <image>');
  });

  it('dry-run prints the plan and the Dockerfile without touching the engine', async () => {
    const r = await run(['build', model, 'daemon', 'churn-predict', '--dry-run'], noEngine);
    expect(r.code).to.equal(0);
    expect(r.out)
      .to.contain('shared code    common/')
      .and.contain('POST /churn/predict -> shop.churn.predict:predict')
      .and.contain('FROM cortex-s2i/builder-daemon');
    expect(r.out).to.contain('API_TOKEN').and.not.contain('do-not-bake-me');
    expect(r.out).to.match(
      /ignored +churn\/debug\.log, churn\/notebooks\/ \(.*\.cortexignore\); \d+ by the built-in rules/,
    );
    expect(r.out)
      .to.contain('left out       upsell/ (other models)')
      .and.contain('left out       data/ (data)')
      .and.contain('models         models -> the mounted models');
    expect(r.out).to.match(
      /project root {3}.*shop \(ROUTES in churn\/\.s2i\/environment:2 imports shop\.churn\.predict/,
    );
  });

  it('builds and tags, sending only the files the plan lists', async () => {
    const r = await run(['build', model, 'predict', 'churn-predict'], () => engine);
    expect(r.code, r.err).to.equal(0);
    expect(engine.tags.has('churn-predict')).to.equal(true);
    const sent = [...engine.contexts[0]!.keys()];
    expect(sent)
      .to.include('src/opt/program/shop/churn/predict.py')
      .and.include('src/opt/program/shop/common/features.py')
      .and.include('deps/requirements.txt');
    expect(sent.filter((f) => /\.env|\.pyc|data\/|models\/|upsell|notebooks|\.log$/.test(f))).to.deep.equal([]);
    for (const content of engine.contexts[0]!.values()) expect(content.toString()).not.to.contain('do-not-bake-me');
    expect(r.out).to.match(/built churn-predict \(sha256:[0-9a-f]+\)/);
  });

  it('reuses the dependency step after a change to model code only', async () => {
    // An engine that needs every layer in an image archive: the rebuild is a build, not the source layer alone.
    const engine = new FakeEngine([], { needsEveryLayer: true });
    engine.addImage(builder, { 'io.cortex-s2i.builder': 'daemon' });
    expect((await run(['build', model, 'daemon', 'churn-predict'], () => engine)).out).to.contain(
      'dependencies: installed',
    );
    await appendFile(path.join(model, 'predict.py'), '# tuned\n');
    const second = await run(['build', model, 'daemon', 'churn-predict'], () => engine);
    expect(second.out).to.contain('dependencies: cached, skipped');
    await appendFile(path.join(model, 'requirements_predict.txt'), 'pandas\n');
    expect((await run(['build', model, 'daemon', 'churn-predict'], () => engine)).out).to.contain(
      'dependencies: installed',
    );
  });

  // The project's folder as HOME: the look above it stops there, and does not see other tests'
  // folders come and go beside it, which would rightly count as a change.
  const homed = (argv: string[], engine?: () => Engine) => run(argv, engine, { HOME: root });

  it('answers a rebuild with nothing changed from the build cache: the same image, nothing sent', async () => {
    const first = await homed(['build', model, 'daemon', 'churn-predict'], () => engine);
    expect(first.code, first.err).to.equal(0);
    const id = engine.tags.get('churn-predict');
    const again = await homed(['build', model, 'daemon', 'churn-predict', '--json'], () => engine);
    expect(again.code, again.err).to.equal(0);
    expect(engine.contexts).to.have.length(1);
    const report = JSON.parse(again.out) as { id: string; upToDate?: boolean; bytesSent: number; steps: unknown[] };
    expect(report).to.include({ id, upToDate: true, bytesSent: 0 });
    expect(report.steps).to.deep.equal([]);
    expect(again.err).to.contain('nothing changed since churn-predict was built');
    // The cache keeps out of git's way and out of the image.
    expect(await readFile(path.join(model, '.cortex-s2i-cache', '.gitignore'), 'utf8')).to.match(/^\*$/m);
    const dry = await homed(['build', model, 'daemon', 'churn-predict', '--dry-run'], noEngine);
    expect(dry.out).not.to.contain('.cortex-s2i-cache');
  });

  it('builds again when a file, an option, the image or the builder is not what the cache recorded', async () => {
    // Every rebuild is a build that sends a context (never the source layer alone): they are counted.
    const engine = new FakeEngine([], { needsEveryLayer: true });
    engine.addImage(builder, { 'io.cortex-s2i.builder': 'daemon' });
    const build = (...extra: string[]) => homed(['build', model, 'daemon', 'churn-predict', ...extra], () => engine);
    expect((await build()).code).to.equal(0);
    let sent = 1;
    const builds = async (why: string, ...extra: string[]) => {
      const r = await build(...extra);
      expect(r.code, r.err).to.equal(0);
      expect(engine.contexts, why).to.have.length(++sent);
      expect(r.out, why).to.match(/built churn-predict/);
      // ...and is up to date again right after.
      expect((await build(...extra)).out, why).to.contain('is up to date');
      expect(engine.contexts, why).to.have.length(sent);
    };
    // Shared code above the model, not only the model's own folder.
    await appendFile(path.join(root, 'shop/common/features.py'), '# tuned\n');
    await builds('shared code edited');
    await builds('an option changed', '-e', 'EXTRA=1');
    await writeFile(path.join(model, 'new_module.py'), 'X = 1\n');
    await builds('a file added');
    await engine.removeImage('churn-predict');
    await builds('the image removed');
    engine.addImage(builder, { 'io.cortex-s2i.builder': 'daemon' }, 'sha256:rebuilt');
    await builds('the builder rebuilt');
    const forced = await build('--no-cache');
    expect(forced.out).to.match(/built churn-predict/);
  });

  it('never writes its cache through a link, and builds as usual without one', async () => {
    const elsewhere = path.join(root, 'elsewhere');
    await mkdir(elsewhere);
    await symlink(elsewhere, path.join(model, '.cortex-s2i-cache'));
    expect((await homed(['build', model, 'daemon', 'churn-predict'], () => engine)).code).to.equal(0);
    expect((await homed(['build', model, 'daemon', 'churn-predict'], () => engine)).out).to.match(
      /built churn-predict/,
    );
    expect(await readdir(elsewhere)).to.deep.equal([]);
  });

  it('exits 2 naming the file and line of every config problem, and builds nothing', async () => {
    await writeTree({ 'shop/churn/.s2i/environment': 'ROUTES=churn/predict:os; import x:f\nTRAIN_MODULE\n' }, root);
    const r = await run(['build', model, 'daemon', 'churn-predict'], () => engine);
    expect(r.code).to.equal(ExitCode.badInput);
    expect(r.err).to.contain('.s2i/environment:1').and.contain('.s2i/environment:2').and.contain('hint:');
    expect(engine.contexts).to.have.length(0);
  });

  it('exits 2 with a hint when the builder image is not there', async () => {
    const r = await run(['build', model, 'train', 'churn-train'], () => engine);
    expect(r.code).to.equal(ExitCode.badInput);
    expect(r.err).to.contain('is not on the engine').and.contain('cortex-s2i builders');
  });

  it('exits 3 and tags nothing when the build fails', async () => {
    await writeTree({ 'shop/churn/.s2i/environment': 'ROUTES=churn/predict:predict:predict\nFAIL=1\n' }, root);
    const failing = new FakeEngine();
    failing.addImage(builder, {});
    failing.build = async () => {
      throw new (await import('../../lib/engine/engine.js')).BuildError(
        'ERROR: No matching distribution found for nope',
        ['Collecting nope'],
      );
    };
    const r = await run(['build', model, 'daemon', 'churn-predict'], () => failing);
    expect(r.code).to.equal(ExitCode.buildFailed);
    expect(r.err).to.contain('No matching distribution found for nope').and.contain('Collecting nope');
    expect(failing.tags.has('churn-predict')).to.equal(false);
  });

  it('exits 4 with a hint when no engine answers', async () => {
    // As the real adapter does: every call fails the same way when nothing answers.
    const down = new FakeEngine();
    const unreachable = async (): Promise<never> => {
      throw new EngineUnreachableError('unix:///nowhere.sock', new Error('ENOENT'));
    };
    down.inspectImage = unreachable;
    down.build = unreachable;
    const r = await run(['build', model, 'daemon', 'churn-predict'], () => down);
    expect(r.code).to.equal(ExitCode.engineUnreachable);
    expect(r.err).to.contain('no Docker engine answers at unix:///nowhere.sock').and.contain('DOCKER_HOST');
  });

  it('refuses a malformed SOURCE_DATE_EPOCH', async () => {
    const r = await run(['build', model, 'daemon', 'x', '--dry-run'], noEngine, { SOURCE_DATE_EPOCH: 'yesterday' });
    expect(r.code).to.equal(ExitCode.badInput);
  });

  it('refuses an out-of-range SOURCE_DATE_EPOCH as bad input, before anything is built', async () => {
    for (const value of ['99999999999999999', '8589934592']) {
      const r = await run(['build', model, 'daemon', 'img'], noEngine, { SOURCE_DATE_EPOCH: value });
      expect(r.code, r.err).to.equal(ExitCode.badInput);
      expect(r.err).to.contain(`SOURCE_DATE_EPOCH=${value} is out of range`);
      expect(r.err).not.to.contain('RangeError');
    }
  });

  it('refuses timeouts that are not a number of seconds', async () => {
    const r = await run(['build', model, 'daemon', 'img', '--dry-run'], noEngine, {
      CORTEX_S2I_BUILD_SILENCE_TIMEOUT: '10m',
    });
    expect(r.code).to.equal(ExitCode.badInput);
    expect(r.err).to.contain('CORTEX_S2I_BUILD_SILENCE_TIMEOUT="10m" is not a number of seconds');
  });

  it('refuses a DOCKER_HOST it cannot honour as bad input, naming it', async () => {
    const r = await run(['build', model, 'daemon', 'img'], undefined, { DOCKER_HOST: 'ssh://me@engine.example' });
    expect(r.code, r.err).to.equal(ExitCode.badInput);
    expect(r.err).to.contain('DOCKER_HOST=ssh://me@engine.example');
  });

  it('prints engine text without its control characters', () => {
    expect(printable('a\u001b[2Jb\u0007c\rd\u009be\tf')).to.equal('a\\x1b[2Jb\\x07c\\x0dd\\x9be\tf');
  });
});
