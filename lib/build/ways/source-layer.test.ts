import { expect } from 'chai';
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { EngineError, type Engine, type HistoryItem, type ImageConfig } from '../../engine/engine.js';
import { testPlan } from '../../../test/support/plan.js';
import { renderDockerfile } from '../../render/dockerfile.js';
import type { BuildRecord, SourceBase } from '../cache.js';
import { lookAtBase, rebuildSource, sourceBaseKey } from './source-layer.js';

const plan = testPlan({
  image: 'm:1',
  links: [{ name: 'src/opt/program/p/m/models', target: '/opt/cortex-s2i/models' }],
  dependencies: {
    setupScript: undefined,
    requirements: {
      name: 'deps/requirements.txt',
      from: '/nowhere',
      size: 6,
      executable: false,
      content: Buffer.from('numpy\n'),
    },
  },
  source: [
    {
      name: 'src/opt/program/p/m/predict.py',
      from: '/nowhere',
      size: 4,
      executable: false,
      content: Buffer.from('x=1\n'),
    },
  ],
  sourceBytes: 4,
  env: [{ key: 'ROUTES', value: 'r', from: 'x' }],
  labels: [
    ['org.opencontainers.image.created', '2022-03-04T05:06:07.000Z'],
    ['io.cortex-s2i.routes', 'r'],
  ],
});
const dockerfile = renderDockerfile(plan, '1.0.0');

const runtime = { Env: ['ROUTES=r'], Cmd: ['/usr/libexec/s2i/run'], User: '1001' };
const base: ImageConfig = {
  id: 'sha256:base',
  architecture: 'amd64',
  os: 'linux',
  variant: undefined,
  config: { ...runtime, Labels: { builder: 'yes' } },
  layers: ['sha256:l1'],
  parent: '',
};
const named: ImageConfig = {
  ...base,
  id: 'sha256:named',
  layers: ['sha256:l1', 'sha256:src'],
  config: {
    ...runtime,
    Labels: {
      builder: 'yes',
      'org.opencontainers.image.created': '2022-03-04T05:06:07.000Z',
      'io.cortex-s2i.routes': 'r',
    },
  },
};
const history: HistoryItem[] = [{ id: 'sha256:base', created: 1, createdBy: 'ADD rootfs', comment: '', size: 10 }];
const record: BuildRecord = { inputs: 'i', walked: [], read: [], id: named.id, builder: 'sha256:builder', at: 1 };
const recorded: SourceBase = { key: 'k', id: base.id, emptyLayers: [false], layer: 'sha256:an-older-source' };

/** An engine that has `images`, and loads archives unless `refuse` says otherwise. */
function engine(images: ImageConfig[], refuse?: Error) {
  const loaded: Buffer[] = [];
  const tags = new Map<string, string>();
  const e = {
    loaded,
    tags,
    imageConfig: async (ref: string) => images.find((i) => i.id === ref || (ref === plan.image && i === images[0])),
    imageHistory: async () => history,
    loadImage: async (archive: Buffer) => {
      if (refuse) throw refuse;
      loaded.push(archive);
      return 'sha256:loaded';
    },
    tagImage: async (id: string, ref: string) => void tags.set(ref, id),
    inspectImage: async () => undefined,
    removeImage: async () => {},
  };
  return e as typeof e & Engine;
}

async function manifestOf(archive: Buffer): Promise<{ Layers: string[] }> {
  let manifest = '';
  const x = extract();
  x.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => chunks.push(c as Buffer));
    stream.on('end', () => {
      if (header.name === 'manifest.json') manifest = Buffer.concat(chunks).toString();
      next();
    });
  });
  await new Promise<void>((resolve, reject) => {
    x.on('finish', () => resolve());
    x.on('error', reject);
    Readable.from([archive]).pipe(x);
  });
  return (JSON.parse(manifest) as Array<{ Layers: string[] }>)[0]!;
}

const rebuild = async (e: Engine, base: SourceBase = recorded) =>
  rebuildSource(e, plan, dockerfile, record, base, await lookAtBase(e, plan.image, base), {
    mtime: new Date(0),
    compress: false,
  });

describe('rebuildSource', () => {
  it('loads the base with one new layer and tags it', async () => {
    const e = engine([named, base]);
    const r = await rebuild(e);
    expect(r).to.include({ imageId: 'sha256:loaded', unchanged: false, base: base.id });
    expect(e.tags.get(plan.image)).to.equal('sha256:loaded');
    const layers = (await manifestOf(e.loaded[0]!)).Layers;
    expect(layers.slice(0, -1)).to.deep.equal(['l1/layer.tar']);
    expect(`sha256:${layers.at(-1)!.split('/')[0]}`).to.equal(r!.recorded.layer);
    expect(r!.bytesSent).to.equal(e.loaded[0]!.length);
  });

  it('answers "unchanged" without loading when the source layer and labels are the image\'s own', async () => {
    const first = await rebuild(engine([named, base]));
    const e = engine([named, base]);
    const again = await rebuild(e, first!.recorded);
    expect(again).to.include({ imageId: named.id, unchanged: true, bytesSent: 0 });
    expect(e.loaded).to.deep.equal([]);
    // Another label value (a newer source time): a new image.
    const newer = await rebuild(
      engine([{ ...named, config: { ...named.config, Labels: { builder: 'yes' } } }, base]),
      first!.recorded,
    );
    expect(newer).to.include({ imageId: 'sha256:loaded', unchanged: false });
  });

  it('leaves the build to the caller when the engine refuses such an archive, tagging nothing', async () => {
    const e = engine([named, base], new EngineError('layer does not exist', 500));
    expect(await rebuild(e)).to.equal(undefined);
    expect(e.tags.size).to.equal(0);
  });

  it('leaves the build to the caller when the image under the name is not the one recorded on that base', async () => {
    const another = { ...named, id: 'sha256:another' };
    const twoLayersUp = { ...named, layers: ['sha256:l1', 'sha256:x', 'sha256:src'] };
    const otherRuntime = { ...named, config: { ...named.config, Cmd: ['sh'] } };
    for (const image of [another, twoLayersUp, otherRuntime]) {
      const e = engine([image, base]);
      expect(await rebuild(e), image.id).to.equal(undefined);
      expect(e.loaded).to.deep.equal([]);
    }
    // A history that does not fit the base's layers.
    const e = engine([named, base]);
    expect(await rebuild(e, { ...recorded, emptyLayers: [true] })).to.equal(undefined);
  });
});

describe('sourceBaseKey', () => {
  it('changes with the builder, the dependency files and the lines before the source step, not with the source', () => {
    const key = sourceBaseKey(dockerfile, plan, 'sha256:builder');
    expect(key).to.match(/^sha256:[0-9a-f]{64}$/);
    expect(sourceBaseKey(dockerfile, { ...plan, source: [] }, 'sha256:builder')).to.equal(key);
    expect(sourceBaseKey(dockerfile, plan, 'sha256:rebuilt')).not.to.equal(key);
    const requirements = { ...plan.dependencies.requirements!, content: Buffer.from('numpy==2\n') };
    expect(
      sourceBaseKey(dockerfile, { ...plan, dependencies: { ...plan.dependencies, requirements } }, 'sha256:builder'),
    ).not.to.equal(key);
    const other = renderDockerfile({ ...plan, env: [{ key: 'ROUTES', value: 'other', from: 'x' }] }, '1.0.0');
    expect(sourceBaseKey(other, plan, 'sha256:builder')).not.to.equal(key);
    // Index credentials are never digested into the cache.
    expect(
      sourceBaseKey(dockerfile, { ...plan, dependencies: { ...plan.dependencies, indexStage: [] } }, 'sha256:builder'),
    ).to.equal(undefined);
  });
});
