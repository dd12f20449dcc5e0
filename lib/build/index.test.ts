import { expect } from 'chai';
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

  const how = async (req: BuildRequest) => {
    const outcome = await run(req);
    return outcome.kind === 'image' ? outcome.how : outcome.kind;
  };

  it('tells builds apart by every field of the image request, one added included, with no other edit', async () => {
    expect(await how(request())).to.equal('built');
    expect(await how(request())).to.equal('up to date');
    // A field ImageRequest does not have yet, as the next option that shapes an image would be:
    // the build cache's identity is the whole request, so the cache says this is another image.
    const withGpu = { ...request(), image: { ...request().image, gpu: 'nvidia-a100' } as ImageRequest };
    expect(await how(withGpu)).to.equal('built');
    expect(await how(withGpu)).to.equal('up to date');
    const otherGpu = { ...request(), image: { ...request().image, gpu: 'nvidia-h100' } as ImageRequest };
    expect(await how(otherGpu)).to.equal('built');
    expect(engine.contexts).to.have.length(3);
  });

  it('takes the request as the same whatever order its fields were written in', async () => {
    const req = request({ env: [{ key: 'A', value: '1' }] });
    expect(await how(req)).to.equal('built');
    const reordered = {
      make: req.make,
      image: Object.fromEntries(Object.entries(req.image).reverse()) as unknown as ImageRequest,
    };
    expect(await how(reordered)).to.equal('up to date');
  });

  it('builds again for a change of any field of the image request it has today', async () => {
    const changes: Array<Partial<ImageRequest>> = [
      { env: [{ key: 'A', value: '1' }] },
      { allowRoot: true },
      { sourceDateEpoch: 86400 },
      { project: path.join(root, 'shop') },
    ];
    expect(await how(request())).to.equal('built');
    for (const change of changes) {
      expect(await how(request(change)), JSON.stringify(change)).to.equal('built');
      expect(await how(request(change)), JSON.stringify(change)).to.equal('up to date');
    }
  });

  it('never answers from the cache with --no-cache, and a dry run asks no engine', async () => {
    expect(await how(request())).to.equal('built');
    expect(await how(request({}, { noCache: true }))).to.equal('built');
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
