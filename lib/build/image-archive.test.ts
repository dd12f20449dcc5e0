import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import type { HistoryItem, ImageConfig } from '../engine/engine.js';
import { historySteps, imageArchive, newLayer, stepsToCount, type LayeredImage } from './image-archive.js';

const step = (createdBy: string, size: number, id?: string): HistoryItem => ({
  id,
  created: 1_600_000_000,
  createdBy,
  comment: '',
  size,
});

async function files(archive: Buffer): Promise<Map<string, Buffer>> {
  const found = new Map<string, Buffer>();
  const x = extract();
  x.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => chunks.push(c as Buffer));
    stream.on('end', () => {
      if (header.type === 'file') found.set(header.name, Buffer.concat(chunks));
      next();
    });
  });
  await new Promise<void>((resolve, reject) => {
    x.on('finish', () => resolve());
    x.on('error', reject);
    Readable.from([archive]).pipe(x);
  });
  return found;
}

const base: ImageConfig = {
  id: 'sha256:base',
  architecture: 'amd64',
  os: 'linux',
  variant: undefined,
  config: { Env: ['A=1'], Cmd: ['/run'], User: '1001', Labels: { kept: 'yes', replaced: 'old' } },
  layers: ['sha256:aaa', 'sha256:bbb'],
  parent: '',
};

function image(overrides: Partial<LayeredImage> = {}): LayeredImage {
  return {
    base,
    baseHistory: [
      { created: 1_600_000_000, createdBy: 'ADD rootfs', comment: '', emptyLayer: false },
      { created: 1_600_000_001, createdBy: 'ENV A=1', comment: 'buildkit.dockerfile.v0', emptyLayer: true },
      { created: 1_600_000_002, createdBy: 'RUN make', comment: '', emptyLayer: false },
    ],
    layer: newLayer(Buffer.from('a layer tar')),
    created: '2022-03-04T05:06:07.000Z',
    labels: [
      ['replaced', 'new'],
      ['added', '1'],
    ],
    layerStep: 'COPY src/ /',
    labelStep: 'LABEL "replaced"="new" "added"="1"',
    ...overrides,
  };
}

describe('historySteps', () => {
  it('gives steps with bytes a layer and configuration-only steps none', () => {
    const history = [
      step('ADD file:x in /', 10),
      step('/bin/sh -c #(nop)  ENV A=1', 0),
      step('/bin/sh -c #(nop)  CMD ["sh"]', 0),
      step('RUN make', 5),
    ];
    expect(historySteps(history, 2, new Map())!.map((s) => s.emptyLayer)).to.deep.equal([false, true, true, false]);
  });

  it('tells an empty RUN from a layer of empty files by the layer counts of local step images', () => {
    // Both RUNs show 0 bytes; only the second changed a folder's owner, which is a layer.
    const history = [
      step('ADD x', 10, 'sha256:1'),
      step('/bin/sh -c true', 0, 'sha256:2'),
      step('/bin/sh -c chown 1001 /app', 0, 'sha256:3'),
    ];
    expect(stepsToCount(history)).to.have.members(['sha256:1', 'sha256:2', 'sha256:3']);
    const counts = new Map([
      ['sha256:1', 1],
      ['sha256:2', 1],
      ['sha256:3', 2],
    ]);
    expect(historySteps(history, 2, counts)!.map((s) => s.emptyLayer)).to.deep.equal([false, true, false]);
  });

  it('settles unknown steps only when the layer count leaves one answer', () => {
    const history = [step('ADD x', 10), step('/bin/sh -c true', 0), step('/bin/sh -c other', 0)];
    expect(historySteps(history, 1, new Map())!.map((s) => s.emptyLayer)).to.deep.equal([false, true, true]);
    expect(historySteps(history, 3, new Map())!.map((s) => s.emptyLayer)).to.deep.equal([false, false, false]);
    // One of the two made a layer, but which one the engine's answers cannot say.
    expect(historySteps(history, 2, new Map())).to.equal(undefined);
    // More layers with bytes than the image has: not this image's history.
    expect(historySteps([step('ADD x', 10), step('RUN y', 3)], 1, new Map())).to.equal(undefined);
  });
});

describe('imageArchive', () => {
  it('holds the new layer alone, and a config whose digest is the image id', async () => {
    const { archive, imageId } = await imageArchive(image());
    const inside = await files(archive);
    const layerHex = image().layer.diffId.slice('sha256:'.length);
    expect([...inside.keys()].sort()).to.deep.equal(
      [`${imageId.slice('sha256:'.length)}.json`, `${layerHex}/layer.tar`, 'manifest.json'].sort(),
    );
    const configFile = inside.get(`${imageId.slice('sha256:'.length)}.json`)!;
    expect(`sha256:${createHash('sha256').update(configFile).digest('hex')}`).to.equal(imageId);
    const manifest = JSON.parse(inside.get('manifest.json')!.toString()) as Array<{
      Config: string;
      Layers: string[];
      RepoTags: unknown;
    }>;
    // The base's layers are named but not carried: the engine has them.
    expect(manifest[0]!.Layers).to.deep.equal(['aaa/layer.tar', 'bbb/layer.tar', `${layerHex}/layer.tar`]);
    expect(manifest[0]!.RepoTags).to.equal(null);
    expect(inside.get(`${layerHex}/layer.tar`)!.toString()).to.equal('a layer tar');
  });

  it("keeps the base's configuration, sets the labels over its own, and records both steps", async () => {
    const { archive, imageId } = await imageArchive(image());
    const config = JSON.parse((await files(archive)).get(`${imageId.slice(7)}.json`)!.toString()) as {
      config: Record<string, unknown>;
      created: string;
      history: Array<{ created_by: string; empty_layer?: boolean; comment?: string }>;
      rootfs: { diff_ids: string[] };
    };
    expect(config.config).to.deep.include({ Env: ['A=1'], Cmd: ['/run'], User: '1001' });
    expect(config.config.Labels).to.deep.equal({ kept: 'yes', replaced: 'new', added: '1' });
    expect(config.created).to.equal('2022-03-04T05:06:07.000Z');
    expect(config.rootfs.diff_ids).to.deep.equal(['sha256:aaa', 'sha256:bbb', image().layer.diffId]);
    expect(config.history.map((h) => [h.created_by, h.empty_layer ?? false])).to.deep.equal([
      ['ADD rootfs', false],
      ['ENV A=1', true],
      ['RUN make', false],
      ['COPY src/ /', false],
      ['LABEL "replaced"="new" "added"="1"', true],
    ]);
    expect(config.history[1]!.comment).to.equal('buildkit.dockerfile.v0');
  });

  it('gives the same inputs the same image id, and another source another', async () => {
    expect((await imageArchive(image())).imageId).to.equal((await imageArchive(image())).imageId);
    expect((await imageArchive(image({ layer: newLayer(Buffer.from('edited')) }))).imageId).not.to.equal(
      (await imageArchive(image())).imageId,
    );
  });
});
