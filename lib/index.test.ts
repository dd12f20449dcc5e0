import { expect } from 'chai';
import path from 'node:path';
import { FakeEngine } from './engine/fake-engine.js';
import { ExitCode } from './errors.js';
import { packageVersion } from './package-root.js';
import { bundledBuilderImage } from './plan/builders.js';
import { removeTree, sampleProject, writeTree } from '../test/support/tree.js';
import type * as Api from './index.js';

// By the package's name, as a user imports it: Node resolves a package's own name through its
// "exports" (a variable, so that the compiler does not need the declarations built first).
const PACKAGE = 'cortex-s2i';
const api = (await import(PACKAGE)) as typeof Api;

describe("the library API (import { build } from 'cortex-s2i')", () => {
  let root: string;
  let model: string;
  let engine: FakeEngine;
  let environment: NodeJS.ProcessEnv;
  const builder = bundledBuilderImage('daemon', packageVersion());

  beforeEach(async () => {
    root = await writeTree(sampleProject());
    model = path.join(root, 'shop/churn');
    engine = new FakeEngine();
    engine.addImage(builder, { 'io.cortex-s2i.builder': 'daemon' });
    environment = { DOCKER_CONFIG: path.join(root, 'none') };
  });
  afterEach(() => removeTree(root));

  async function rejection(options: Api.BuildOptions): Promise<Api.CortexError> {
    try {
      await api.build({ engine: () => engine, environment, ...options });
    } catch (err) {
      expect(err).to.be.instanceOf(api.CortexError);
      return err as Api.CortexError;
    }
    throw new Error('the build did not fail');
  }

  it('builds, resolving with the --json document, and prints nothing on stdout or stderr', async () => {
    const events: Api.BuildEvent[] = [];
    const writes: string[] = [];
    const [out, err] = [process.stdout.write, process.stderr.write];
    process.stdout.write = process.stderr.write = ((chunk: string) => (
      writes.push(String(chunk)),
      true
    )) as typeof process.stdout.write;
    let report: Api.BuildResult;
    try {
      report = await api.build({
        source: model,
        builder: 'daemon',
        image: 'churn-predict:1',
        env: { LOG_LEVEL: 'debug' },
        environment,
        engine: () => engine,
        onEvent: (e) => events.push(e),
      });
    } finally {
      process.stdout.write = out;
      process.stderr.write = err;
    }
    expect(writes).to.deep.equal([]);
    expect(report.image).to.equal('churn-predict:1');
    expect(report.id).to.equal(engine.tags.get('churn-predict:1'));
    expect(report.tags).to.deep.equal(['churn-predict:1']);
    expect(report.steps.filter((s) => s.dependencies)).to.have.length(1);
    expect(Object.keys(report)).to.include.members([
      'image',
      'id',
      'tags',
      'size',
      'bytesSent',
      'sourceBytes',
      'seconds',
      'cacheFrom',
      'steps',
      'warnings',
    ]);
    expect(events.some((e) => e.type === 'step')).to.equal(true);
    expect(
      events.some((e) => e.type === 'output' && e.stream === 'out' && /^built churn-predict:1 /.test(e.text)),
    ).to.equal(true);
    // -e reached the image: the Dockerfile sent carries it.
    expect(engine.contexts.at(-1)!.get('Dockerfile')!.toString()).to.contain('LOG_LEVEL');
  });

  it('plan() gives the Dockerfile and the plan without building anything', async () => {
    const planned = await api.plan({
      source: model,
      builder: 'daemon',
      image: 'churn-predict:1',
      environment,
      engine: () => engine,
    });
    expect(planned.image).to.equal('churn-predict:1');
    expect(planned.dockerfile).to.match(/^FROM /m);
    expect(planned.plan.join('\n')).to.contain('churn-predict:1');
    expect(engine.contexts).to.have.length(0);
  });

  it('refuses malformed options with status 2 before anything runs', async () => {
    const base = { source: model, builder: 'daemon', image: 'churn-predict:1' };
    for (const [options, message] of [
      [{ ...base, image: 'Churn' }, /not a valid image name/],
      [{ ...base, image: '' }, /image must be a non-empty string/],
      [{ ...base, source: 42 }, /source must be a non-empty string/],
      [{ ...base, tag: 'x' }, /unknown option "tag"/],
      [{ ...base, env: { 'NOT A KEY': '1' } }, /is not KEY=VALUE/],
      [{ ...base, env: { A: 1 } }, /env\.A must be a string/],
      [{ ...base, digestFile: 'd.txt' }, /--digest-file needs --push/],
      [{ ...base, noCache: 'yes' }, /noCache must be true or false/],
      [{ ...base, progress: 'tty' }, /progress must be "plain" or "quiet"/],
      [{ ...base, cacheFrom: 'img:1' }, /cacheFrom must be an array/],
      [{ ...base, environment: { SOURCE_DATE_EPOCH: 'yesterday' } }, /SOURCE_DATE_EPOCH/],
    ] as Array<[Api.BuildOptions, RegExp]>) {
      const err = await rejection(options);
      expect(err.exitCode, JSON.stringify(options)).to.equal(ExitCode.badInput);
      expect(err.message).to.match(message);
    }
    expect(engine.contexts).to.have.length(0);
  });

  it('rejects with the typed error and exit status of the CLI for the same failure', async () => {
    const missing = await rejection({ source: path.join(root, 'nope'), builder: 'daemon', image: 'x:1' });
    expect(missing.exitCode).to.equal(ExitCode.badInput);
    expect(missing.message).to.contain('does not exist');
    engine.removeImage(builder);
    const noBuilder = await rejection({ source: model, builder: 'daemon', image: 'x:1' });
    expect(noBuilder.message).to.contain('is not on the engine');
    const unreachable = await rejection({
      source: model,
      builder: 'daemon',
      image: 'x:1',
      engine: undefined,
      environment: { ...environment, DOCKER_HOST: 'tcp://127.0.0.1:1' },
    });
    expect(unreachable.exitCode).to.equal(ExitCode.engineUnreachable);
  });
});
