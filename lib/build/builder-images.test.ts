import { expect } from 'chai';
import { FakeEngine } from '../engine/fake-engine.js';
import { BuildError } from '../engine/engine.js';
import { CortexError, ExitCode } from '../errors.js';
import type { BuildEvent } from './environment.js';
import { buildBuilderImages } from './builder-images.js';

function environment(engine: FakeEngine, events: BuildEvent[] = []) {
  return {
    engine: async () => engine,
    now: () => new Date(),
    report: (e: BuildEvent) => events.push(e),
    signal: new AbortController().signal,
    toolVersion: '9.9.9',
    home: undefined,
    credentials: { configDir: '/nonexistent', helperEnv: {} },
  };
}

describe('the bundled builder images (cortex-s2i builders)', () => {
  it('builds each kind from builder-image/ on the first base the engine has, tagged in the repository', async () => {
    const engine = new FakeEngine(['cortex-s2i/python-base:bookworm']);
    const events: BuildEvent[] = [];
    const built = await buildBuilderImages(environment(engine, events), { base: undefined, repo: 'team' });
    expect(built.map((b) => b.tag)).to.deep.equal(['team/builder-train:9.9.9', 'team/builder-daemon:9.9.9']);
    for (const { tag, imageId } of built) {
      expect(engine.tags.get(tag)).to.equal(imageId);
      // The stage of its kind, on the base asked for.
      expect((await engine.inspectImage(tag))?.labels['io.cortex-s2i.builder']).to.equal(
        tag.includes('train') ? 'train' : 'daemon',
      );
    }
    const context = engine.contexts[0]!;
    expect([...context.keys()])
      .to.include('Dockerfile')
      .and.include('s2i/assemble');
    expect([...context.keys()].some((f) => f.startsWith('runtime/tests/'))).to.equal(false);
    expect(events.filter((e) => e.type === 'result')).to.have.length(2);
  });

  it('removes the step images of a build that fails, as every build does, and says the build failed', async () => {
    const engine = new FakeEngine(['python:3.11-slim']);
    engine.addImage('step:1', {}, 'sha256:step1');
    engine.addImage('step:2', {}, 'sha256:step2');
    engine.build = async () => {
      const err = new BuildError('The command returned a non-zero code: 1', ['pip: no network']);
      err.createdImages.push('sha256:step1', 'sha256:step2');
      throw err;
    };
    const err = await buildBuilderImages(environment(engine), { base: undefined, repo: 'team' }).catch((e) => e);
    expect(err).to.be.instanceOf(CortexError);
    expect((err as CortexError).exitCode).to.equal(ExitCode.buildFailed);
    expect(engine.images.has('sha256:step1')).to.equal(false);
    expect(engine.images.has('sha256:step2')).to.equal(false);
    expect(engine.tags.has('team/builder-train:9.9.9')).to.equal(false);
  });

  it('refuses a base the engine does not have, naming what it looked for', async () => {
    const err = await buildBuilderImages(environment(new FakeEngine()), { base: undefined, repo: 'team' }).catch(
      (e) => e,
    );
    expect((err as CortexError).exitCode).to.equal(ExitCode.badInput);
    expect((err as CortexError).message)
      .to.contain('python:3.11-slim')
      .and.contain('cortex-s2i/python-base:bookworm');
  });
});
