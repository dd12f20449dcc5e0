// One contract for every Engine: the fake one in the unit tests and the real one in the
// integration tests must both pass it, so the fake cannot drift from what an engine does.

import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { packContext } from '../../lib/context/tar.js';
import { BuildError, EngineError, type Engine } from '../../lib/engine/engine.js';

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

async function buildError(p: Promise<unknown>): Promise<BuildError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof BuildError) return err;
    throw err;
  }
  throw new Error('expected a BuildError');
}

/** `base` must exist on the engine; `prefix` names what the suite tags, removed afterwards. */
export function engineContract(makeEngine: () => Engine, base: string, prefix: string): void {
  let engine: Engine;
  // Tags and image ids: a rebuild with other content leaves an untagged image behind.
  const tags: string[] = [];
  before(() => {
    engine = makeEngine();
  });
  after(async () => {
    for (const t of tags) await engine.removeImage(t);
  });

  it('answers a ping', async () => {
    expect((await engine.ping()).apiVersion).to.match(/^\d+\.\d+$/);
  });

  it('says an image it does not have is undefined, not an error', async () => {
    expect(await engine.inspectImage(`${prefix}-missing:none`)).to.equal(undefined);
  });

  it('builds, tags only when asked, and reports cached steps on a rebuild', async () => {
    // Unique per run: a real engine's cache outlives the test.
    const nonce = randomUUID();
    const dockerfile = `FROM ${base}\nCOPY a.txt /a.txt\nRUN exit 0\nLABEL "io.cortex-s2i.test"="${nonce}"\n`;
    const first = await engine.build({ context: context(dockerfile, { 'a.txt': `a ${nonce}` }) });
    const tag = `${prefix}-contract:1`;
    tags.push(tag);
    expect(await engine.inspectImage(tag)).to.equal(undefined);
    await engine.tagImage(first.imageId, tag);
    const info = await engine.inspectImage(tag);
    expect(info?.id).to.equal(first.imageId);
    expect(info?.labels['io.cortex-s2i.test']).to.have.length(36);

    const cached: number[] = [];
    const second = await engine.build({
      context: context(dockerfile, { 'a.txt': `a ${nonce}` }),
      onEvent: (e) => e.type === 'cached' && cached.push(e.step),
    });
    expect(second.imageId).to.equal(first.imageId);
    expect(cached).to.deep.equal([2, 3, 4]);

    const changed: number[] = [];
    tags.push(first.imageId);
    const third = await engine.build({
      context: context(dockerfile, { 'a.txt': `b ${nonce}` }),
      onEvent: (e) => e.type === 'cached' && changed.push(e.step),
    });
    expect(changed).to.deep.equal([]);
    tags.push(third.imageId);
  });

  it("rejects a failing step with the engine's message", async () => {
    const err = await buildError(engine.build({ context: context(`FROM ${base}\nRUN exit 3\n`) }));
    expect(err.message).to.contain('returned a non-zero code: 3');
  });

  it('rejects a base image it does not have', async () => {
    await buildError(engine.build({ context: context(`FROM ${prefix}-no-such-base:1\n`) }));
  });

  it('refuses to tag an image that does not exist, with status 404', async () => {
    try {
      await engine.tagImage('sha256:' + '0'.repeat(64), `${prefix}-contract:none`);
      expect.fail('tagging should fail');
    } catch (err) {
      expect(err).to.be.instanceOf(EngineError);
      expect((err as EngineError).statusCode).to.equal(404);
    }
  });

  it('removes an image that is already gone without complaint', async () => {
    await engine.removeImage(`${prefix}-missing:none`);
  });
}
