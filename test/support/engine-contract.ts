// One contract for every Engine: the fake one in the unit tests and the real one in the
// integration tests must both pass it, so the fake cannot drift from what an engine does. It
// holds each member of the interface to what the code above it relies on.

import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { historySteps, imageArchive, newLayer, stepsToCount } from '../../lib/build/image-archive.js';
import { packContext } from '../../lib/context/tar.js';
import { BuildError, EngineError, RegistryError, type Engine, type HistoryItem } from '../../lib/engine/engine.js';

function context(dockerfile: string, files: Record<string, string> = {}) {
  return packContext([
    { name: 'Dockerfile', content: Buffer.from(dockerfile), size: Buffer.byteLength(dockerfile), executable: false },
    ...Object.entries(files).map(([name, text]) => ({
      name,
      content: Buffer.from(text),
      size: Buffer.byteLength(text),
      executable: false,
    })),
  ]).stream;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

async function buildError(p: Promise<unknown>): Promise<BuildError> {
  const err = await rejection(p);
  if (err instanceof BuildError) return err;
  throw err;
}

/** A layer's tar holding one file, as an image archive carries it. */
async function layerWith(name: string, text: string): Promise<Buffer> {
  const packed = packContext([{ name, content: Buffer.from(text), size: Buffer.byteLength(text), executable: false }]);
  const chunks: Buffer[] = [];
  for await (const chunk of packed.stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export interface ContractOptions {
  /** An image the engine has, with a shell (`sh -c`): the base of builds and of containers. */
  base: string;
  /** Names every image and container the suite makes; all are removed afterwards. */
  prefix: string;
  /** A registry (`host:port`) the engine can push to and pull from without credentials. */
  registry: string;
}

export function engineContract(makeEngine: () => Engine, { base, prefix, registry }: ContractOptions): void {
  let engine: Engine;
  // Tags and image ids: a rebuild with other content leaves an untagged image behind.
  const images: string[] = [];
  const containers: string[] = [];
  const nonce = randomUUID();
  before(() => {
    engine = makeEngine();
  });
  after(async () => {
    for (const c of containers) await engine.removeContainer(c);
    for (const i of images.reverse()) await engine.removeImage(i).catch(() => undefined);
  });

  /** Which steps of a history (newest first, as the engine gives it) made layers, as source-layer.ts asks. */
  async function stepsOf(history: HistoryItem[], layers: number) {
    const oldestFirst = [...history].reverse();
    const counted = await Promise.all(
      stepsToCount(oldestFirst).map(async (s) => [s, (await engine.imageConfig(s))?.layers.length] as const),
    );
    const layersOf = new Map(counted.filter((c): c is readonly [string, number] => c[1] !== undefined));
    return historySteps(oldestFirst, layers, layersOf);
  }

  /** Builds a small image on the base, unique to this run (a real engine's cache outlives the test). */
  async function built(text = 'a'): Promise<string> {
    const dockerfile = `FROM ${base}\nCOPY a.txt /a.txt\nRUN exit 0\nLABEL "io.cortex-s2i.test"="${nonce}"\n`;
    const { imageId } = await engine.build({ context: context(dockerfile, { 'a.txt': `${text} ${nonce}` }) });
    images.push(imageId);
    return imageId;
  }

  describe('images', () => {
    it('says an image it does not have is undefined, not an error', async () => {
      expect(await engine.inspectImage(`${prefix}-missing:none`)).to.equal(undefined);
      expect(await engine.imageConfig(`${prefix}-missing:none`)).to.equal(undefined);
    });

    it('builds, tags only when asked, and reports cached steps on a rebuild', async () => {
      const dockerfile = `FROM ${base}\nCOPY a.txt /a.txt\nRUN exit 0\nLABEL "io.cortex-s2i.test"="${nonce}"\n`;
      const first = await engine.build({ context: context(dockerfile, { 'a.txt': `a ${nonce}` }) });
      const tag = `${prefix}-contract:1`;
      images.push(tag, first.imageId);
      expect(await engine.inspectImage(tag)).to.equal(undefined);
      await engine.tagImage(first.imageId, tag);
      const info = await engine.inspectImage(tag);
      expect(info?.id).to.equal(first.imageId);
      expect(info?.tags).to.include(tag);
      expect(info?.labels['io.cortex-s2i.test']).to.equal(nonce);

      const steps: number[] = [];
      const cached: number[] = [];
      const second = await engine.build({
        context: context(dockerfile, { 'a.txt': `a ${nonce}` }),
        onEvent: (e) => (e.type === 'cached' ? cached.push(e.step) : e.type === 'step' && steps.push(e.step)),
      });
      expect(second.imageId).to.equal(first.imageId);
      expect(steps).to.deep.equal([1, 2, 3, 4]);
      expect(cached).to.deep.equal([2, 3, 4]);

      const changed: number[] = [];
      const third = await engine.build({
        context: context(dockerfile, { 'a.txt': `b ${nonce}` }),
        onEvent: (e) => e.type === 'cached' && changed.push(e.step),
      });
      images.push(third.imageId);
      expect(changed).to.deep.equal([]);
      expect(third.imageId).not.to.equal(first.imageId);
    });

    it('builds every step afresh with noCache: nothing from the cache, a new image', async () => {
      const id = await built('fresh');
      const cached: number[] = [];
      const dockerfile = `FROM ${base}\nCOPY a.txt /a.txt\nRUN exit 0\nLABEL "io.cortex-s2i.test"="${nonce}"\n`;
      const again = await engine.build({
        context: context(dockerfile, { 'a.txt': `fresh ${nonce}` }),
        noCache: true,
        onEvent: (e) => e.type === 'cached' && cached.push(e.step),
      });
      images.push(again.imageId);
      expect(cached).to.deep.equal([]);
      expect(again.imageId).not.to.equal(id);
    });

    it("rejects a failing step with the engine's message", async () => {
      const err = await buildError(engine.build({ context: context(`FROM ${base}\nRUN exit 3\n`) }));
      expect(err.message).to.contain('returned a non-zero code: 3');
    });

    it('rejects a base image it does not have', async () => {
      await buildError(engine.build({ context: context(`FROM ${prefix}-no-such-base:1\n`) }));
    });

    it('refuses to tag an image that does not exist, with status 404', async () => {
      const err = await rejection(engine.tagImage('sha256:' + '0'.repeat(64), `${prefix}-contract:none`));
      expect(err).to.be.instanceOf(EngineError);
      expect((err as EngineError).statusCode).to.equal(404);
    });

    it('removes an image by id with every tag naming it, and one already gone without complaint', async () => {
      const id = await built('removed');
      const tag = `${prefix}-contract:removed`;
      await engine.tagImage(id, tag);
      await engine.removeImage(id);
      expect(await engine.inspectImage(tag)).to.equal(undefined);
      expect(await engine.inspectImage(id)).to.equal(undefined);
      await engine.removeImage(`${prefix}-missing:none`);
    });

    it("gives an image's configuration and layers: its base's, then its own", async () => {
      const id = await built('config');
      const [image, from] = await Promise.all([engine.imageConfig(id), engine.imageConfig(base)]);
      expect(image?.id).to.equal(id);
      expect((image?.config.Labels as Record<string, string>)['io.cortex-s2i.test']).to.equal(nonce);
      expect(image?.layers.slice(0, from!.layers.length)).to.deep.equal(from!.layers);
      expect(image!.layers.length).to.be.greaterThan(from!.layers.length);
      // The image of the step before, when the engine keeps it: a prefix of the layers.
      if (image!.parent !== '') {
        const parent = await engine.imageConfig(image!.parent);
        expect(image!.layers.slice(0, parent!.layers.length)).to.deep.equal(parent!.layers);
      }
    });

    it('gives the history newest first, which tells exactly which steps made the layers', async () => {
      const id = await built('history');
      const [image, history] = await Promise.all([engine.imageConfig(id), engine.imageHistory(id)]);
      expect(history[0]!.id).to.equal(id);
      expect(history[0]!.createdBy).to.contain('LABEL');
      expect(history.some((h) => h.createdBy.includes('COPY') && h.size > 0)).to.equal(true);
      // What a rebuild of the source layer alone relies on (source-layer.ts): counted as it counts.
      const steps = await stepsOf(history, image!.layers.length);
      expect(steps, 'the history says for certain which steps made layers').not.to.equal(undefined);
      expect(steps!.filter((s) => !s.emptyLayer)).to.have.length(image!.layers.length);
      const missing = await rejection(engine.imageHistory(`${prefix}-missing:none`));
      expect(missing).to.be.instanceOf(EngineError);
      expect((missing as EngineError).statusCode).to.equal(404);
    });

    it('loads an archive of one new layer on an image it has, as the id its config digests to', async () => {
      const id = await built('load');
      const [image, history] = await Promise.all([engine.imageConfig(id), engine.imageHistory(id)]);
      const layer = newLayer(await layerWith('b.txt', `b ${nonce}`));
      const { archive, imageId } = await imageArchive({
        base: image!,
        baseHistory: (await stepsOf(history, image!.layers.length))!,
        layer,
        created: '2024-01-02T03:04:05.000Z',
        labels: [['io.cortex-s2i.loaded', nonce]],
        layerStep: 'COPY b.txt / # the contract',
        labelStep: `LABEL "io.cortex-s2i.loaded"="${nonce}"`,
      });
      const loaded = await engine.loadImage(archive);
      images.push(loaded);
      expect(loaded).to.equal(imageId);
      const config = await engine.imageConfig(loaded);
      expect(config?.layers).to.deep.equal([...image!.layers, layer.diffId]);
      expect(config?.config.Labels).to.include({ 'io.cortex-s2i.loaded': nonce, 'io.cortex-s2i.test': nonce });
      expect((await engine.imageHistory(loaded))[0]!.createdBy).to.equal(`LABEL "io.cortex-s2i.loaded"="${nonce}"`);
    });

    it('refuses what is not an image archive with an EngineError', async () => {
      expect(await rejection(engine.loadImage(Buffer.from('not an archive')))).to.be.instanceOf(EngineError);
    });
  });

  describe('containers', () => {
    const name = (what: string) => `${prefix}-contract-${what}-${nonce.slice(0, 8)}`;

    it('runs a command with its environment to its exit status, with its output and its state', async () => {
      const c = await engine.runContainer({
        image: base,
        name: name('run'),
        env: ['GREETING=hello'],
        cmd: ['sh', '-c', 'echo $GREETING; echo trouble >&2; exit 3'],
      });
      containers.push(c.id);
      expect(await engine.waitContainer(c.id)).to.equal(3);
      expect(await engine.containerLogs(c.id)).to.deep.equal({ stdout: 'hello\n', stderr: 'trouble\n' });
      expect(await engine.inspectContainer(c.id)).to.deep.equal({ running: false, exitCode: 3, oomKilled: false });
      await engine.removeContainer(c.id);
      expect(await engine.inspectContainer(c.id)).to.equal(undefined);
      await engine.removeContainer(c.id);
    });

    it('refuses an image it does not have with 404, and a name in use with 409', async () => {
      const missing = await rejection(engine.runContainer({ image: `${prefix}-missing:none`, name: name('none') }));
      expect((missing as EngineError).statusCode).to.equal(404);
      const c = await engine.runContainer({ image: base, name: name('twice'), cmd: ['sh', '-c', 'exit 0'] });
      containers.push(c.id);
      const again = await rejection(
        engine.runContainer({ image: base, name: name('twice'), cmd: ['sh', '-c', 'exit 0'] }),
      );
      expect(again).to.be.instanceOf(EngineError);
      expect((again as EngineError).statusCode).to.equal(409);
    });
  });

  describe('registries', () => {
    it('pushes a tagged image, giving its digest, and pulls it back as the same image', async () => {
      // A small image of its own (FROM scratch): pushing the base's layers would take long.
      const dockerfile = `FROM scratch\nCOPY a.txt /a.txt\nLABEL "io.cortex-s2i.test"="${nonce}"\n`;
      const { imageId } = await engine.build({ context: context(dockerfile, { 'a.txt': nonce }) });
      const ref = `${registry}/${prefix}-contract:${nonce.slice(0, 8)}`;
      images.push(ref, imageId);
      await engine.tagImage(imageId, ref);
      const pushed = await engine.pushImage(ref);
      expect(pushed.digest).to.match(/^sha256:[0-9a-f]{64}$/);
      await engine.removeImage(ref);
      expect(await engine.inspectImage(ref)).to.equal(undefined);
      await engine.pullImage(ref);
      expect((await engine.inspectImage(ref))?.id).to.equal(imageId);
    });

    it('refuses to pull what the registry does not have with a RegistryError', async () => {
      const err = await rejection(engine.pullImage(`${registry}/${prefix}-contract:never-pushed-${nonce.slice(0, 8)}`));
      expect(err).to.be.instanceOf(RegistryError);
    });
  });
}
