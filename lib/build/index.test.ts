import { expect } from 'chai';
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { removeTree, sampleProject, writeTree } from '../../test/support/tree.js';
import { FakeEngine } from '../engine/fake-engine.js';
import { bundledBuilderImage } from '../plan/builders.js';
import { build, type BuildEvent, type BuildRequest, type ImageRequest } from './index.js';

const VERSION = '1.0.0-test';

describe('build(request, env): the pipeline', () => {
  let root: string;
  let engine: FakeEngine;
  let events: BuildEvent[];

  beforeEach(async () => {
    root = await writeTree(sampleProject());
    engine = new FakeEngine();
    engine.addImage(bundledBuilderImage('daemon', VERSION, 'test'), { 'io.cortex-s2i.builder': 'daemon' });
    events = [];
  });
  afterEach(() => removeTree(root));

  function request(image: Partial<ImageRequest> = {}, make: Partial<BuildRequest['make']> = {}): BuildRequest {
    return {
      image: {
        source: path.join(root, 'shop/churn'),
        builder: 'daemon',
        builderRepo: 'test',
        name: 'churn-predict:1',
        env: [],
        project: undefined,
        api: undefined,
        allowRoot: false,
        sourceDateEpoch: undefined,
        ...image,
      },
      make: {
        dryRun: false,
        asDockerfile: undefined,
        noCache: false,
        compress: false,
        cacheFrom: [],
        push: false,
        digestFile: undefined,
        ...make,
      },
    };
  }

  const run = (req: BuildRequest) =>
    build(req, {
      engine: async () => engine,
      now: () => new Date(),
      report: (e) => events.push(e),
      signal: new AbortController().signal,
      toolVersion: VERSION,
      // The project's folder as HOME: the look above it stops there, and does not see other
      // tests' folders come and go beside it, which would rightly count as a change.
      home: root,
      credentials: { configDir: path.join(root, 'no-docker-config'), helperEnv: {} },
    });

  /** The way that answered the build: 'up to date' is the build cache's answer. */
  const way = async (req: BuildRequest) => {
    const outcome = await run(req);
    return outcome.kind === 'image' ? outcome.way : outcome.kind;
  };
  const how = async (req: BuildRequest) => {
    const outcome = await run(req);
    return outcome.kind === 'image' ? outcome.how : outcome.kind;
  };

  it('tells builds apart by every field of the image request, one added included, with no other edit', async () => {
    expect(await way(request())).to.equal('engine build');
    expect(await way(request())).to.equal('up to date');
    // A field ImageRequest does not have yet, as the next option that shapes an image would be:
    // the build cache's identity is the whole request, so the cache does not answer for it. (The
    // planner ignores the field, so the source layer then finds the image as it would make it.)
    const withGpu = { ...request(), image: { ...request().image, gpu: 'nvidia-a100' } as ImageRequest };
    expect(await way(withGpu)).not.to.equal('up to date');
    expect(await way(withGpu)).to.equal('up to date');
    const otherGpu = { ...request(), image: { ...request().image, gpu: 'nvidia-h100' } as ImageRequest };
    expect(await way(otherGpu)).not.to.equal('up to date');
    expect(await way(otherGpu)).to.equal('up to date');
  });

  it('takes the request as the same whatever order its fields were written in', async () => {
    const req = request({ env: [{ key: 'A', value: '1' }] });
    expect(await way(req)).to.equal('engine build');
    const reordered = {
      make: req.make,
      image: Object.fromEntries(Object.entries(req.image).reverse()) as unknown as ImageRequest,
    };
    expect(await way(reordered)).to.equal('up to date');
  });

  it('builds again for a change of any field of the image request it has today', async () => {
    const changes: Array<Partial<ImageRequest>> = [
      { env: [{ key: 'A', value: '1' }] },
      { allowRoot: true },
      { sourceDateEpoch: 86400 },
      { project: path.join(root, 'shop') },
    ];
    expect(await way(request())).to.equal('engine build');
    for (const change of changes) {
      expect(await way(request(change)), JSON.stringify(change)).not.to.equal('up to date');
      expect(await way(request(change)), JSON.stringify(change)).to.equal('up to date');
    }
  });

  it('never answers from the cache with --no-cache, and a dry run asks no engine', async () => {
    expect(await how(request())).to.equal('built');
    expect(await way(request({}, { noCache: true }))).to.equal('engine build');
    const dry = await build(request({}, { dryRun: true }), {
      engine: async () => {
        throw new Error('a dry run with a bundled builder needs no engine');
      },
      now: () => new Date(),
      report: (e) => events.push(e),
      signal: new AbortController().signal,
      toolVersion: VERSION,
      home: root,
      credentials: { configDir: root, helperEnv: {} },
    });
    expect(dry.kind).to.equal('dry-run');
    expect(dry.kind === 'dry-run' && dry.dockerfile).to.match(/^FROM test\/builder-daemon:1\.0\.0-test$/m);
  });

  it('reports the plan, the steps with their durations, and one result line', async () => {
    await run(request());
    const types = new Set(events.map((e) => e.type));
    expect([...types]).to.include.members(['line', 'step', 'finished', 'result']);
    expect(events.filter((e) => e.type === 'result')).to.have.length(1);
    const plan = events.find((e) => e.type === 'line');
    expect(plan).to.deep.equal({ type: 'line', text: 'plan for churn-predict:1' });
    const deps = events.filter((e) => e.type === 'finished' && e.step.dependencies);
    expect(deps).to.have.length(1);
  });
});

describe('the ways of making an image, as the build picks them', () => {
  let root: string;
  beforeEach(async () => {
    root = await writeTree(sampleProject());
  });
  afterEach(() => removeTree(root));

  /** Builds, edits, builds again: which way made the image each time, and how. */
  async function twice(engine: FakeEngine, edit: () => Promise<void>) {
    engine.addImage(bundledBuilderImage('daemon', VERSION, 'test'), { 'io.cortex-s2i.builder': 'daemon' });
    const env = {
      engine: async () => engine,
      now: () => new Date(),
      report: () => {},
      signal: new AbortController().signal,
      toolVersion: VERSION,
      home: root,
      credentials: { configDir: path.join(root, 'none'), helperEnv: {} },
    };
    const req: BuildRequest = {
      image: {
        source: path.join(root, 'shop/churn'),
        builder: 'daemon',
        builderRepo: 'test',
        name: 'churn-predict:1',
        env: [],
        project: undefined,
        api: undefined,
        allowRoot: false,
        sourceDateEpoch: undefined,
      },
      make: {
        dryRun: false,
        asDockerfile: undefined,
        noCache: false,
        compress: false,
        cacheFrom: [],
        push: false,
        digestFile: undefined,
      },
    };
    const first = await build(req, env);
    await edit();
    const second = await build(req, env);
    return [first, second].map((o) => (o.kind === 'image' ? `${o.way}: ${o.how}` : o.kind));
  }

  for (const [what, needsEveryLayer, expected] of [
    ['an engine that loads an archive of one layer makes the source layer alone', false, 'source layer: source layer'],
    ['an engine that needs every layer in an archive builds again', true, 'engine build: built'],
  ] as const) {
    it(`after an edit of model code only, ${what}`, async () => {
      const engine = new FakeEngine([], { needsEveryLayer });
      const ways = await twice(engine, () => appendFile(path.join(root, 'shop/churn/predict.py'), '# tuned\n'));
      expect(ways).to.deep.equal(['engine build: built', expected]);
    });
  }

  it('after an edit of the requirements, builds: the source layer alone would miss them', async () => {
    const ways = await twice(new FakeEngine(), () =>
      appendFile(path.join(root, 'shop/churn/requirements_predict.txt'), 'pandas\n'),
    );
    expect(ways).to.deep.equal(['engine build: built', 'engine build: built']);
  });
});
