import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { packageFile } from '../package-root.js';
import { followBuild, LINE_CAP } from './build-stream.js';
import { BuildError, type BuildEvent } from './engine.js';

function recorded(name: string): Readable {
  return Readable.from([readFileSync(packageFile('lib', 'engine', 'recorded', name))]);
}

async function failure(p: Promise<unknown>): Promise<BuildError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof BuildError) return err;
    throw err;
  }
  throw new Error('expected the build to fail');
}

describe('followBuild (recorded engine output)', () => {
  it('resolves with the image id the engine reports, and reports steps', async () => {
    const events: BuildEvent[] = [];
    const { imageId } = await followBuild(recorded('build-ok.jsonl'), (e) => events.push(e));
    expect(imageId).to.match(/^sha256:[0-9a-f]{64}$/);
    expect(events.filter((e) => e.type === 'step').map((e) => e.type === 'step' && e.instruction)).to.deep.equal([
      'FROM cortex-s2i/python-base:bookworm',
      'RUN echo hello',
      'COPY a.txt /a.txt',
      'CMD ["true"]',
    ]);
  });

  it('reports which steps the engine took from its cache', async () => {
    const cached: number[] = [];
    await followBuild(recorded('build-cached.jsonl'), (e) => e.type === 'cached' && cached.push(e.step));
    expect(cached).to.deep.equal([2, 3, 4]);
  });

  it('rejects on an error line inside the 200 stream, keeping the last log lines', async () => {
    const err = await failure(followBuild(recorded('build-fail.jsonl')));
    expect(err.message).to.contain('returned a non-zero code: 3');
    expect(err.lastLines).to.include('about to fail');
  });

  it('rejects when the base image cannot be had', async () => {
    const err = await failure(followBuild(recorded('build-nobase.jsonl')));
    expect(err.message).to.contain('no such host');
  });

  it('never treats the end of the stream as success without an image id', async () => {
    const err = await failure(followBuild(Readable.from(['{"stream":"Step 1/1 : FROM x"}\n{"stream":"\\n"}\n'])));
    expect(err.message).to.contain('without reporting an image');
  });

  it('names the images a failed build committed, but not its base or its cached steps', async () => {
    const lines = [
      { stream: 'Step 1/4 : FROM builder' },
      { stream: ' ---> 1111111111aa\n' },
      { stream: 'Step 2/4 : COPY deps/ /tmp/deps/' },
      { stream: ' ---> Using cache\n' },
      { stream: ' ---> 2222222222bb\n' },
      { stream: 'Step 3/4 : ENV A=1' },
      { stream: ' ---> Running in 9999999999ff\n' },
      { stream: 'Removing intermediate container 9999999999ff\n' },
      { stream: ' ---> 3333333333cc\n' },
      { stream: 'Step 4/4 : RUN exit 1' },
      { stream: ' ---> Running in 8888888888ee\n' },
      { errorDetail: { message: 'returned a non-zero code: 1' }, error: 'returned a non-zero code: 1' },
    ];
    const err = await failure(followBuild(Readable.from(lines.map((l) => `${JSON.stringify(l)}\n`))));
    expect(err.createdImages).to.deep.equal(['3333333333cc']);
  });

  it('handles JSON lines split across chunks', async () => {
    const text = readFileSync(packageFile('lib', 'engine', 'recorded', 'build-ok.jsonl'), 'utf8');
    const chunks = text.match(/[\s\S]{1,7}/g)!;
    const { imageId } = await followBuild(Readable.from(chunks));
    expect(imageId).to.match(/^sha256:/);
  });

  it('follows a 50 MiB log line without a newline in linear time, keeping a capped line', async () => {
    // One engine message holding the whole line, arriving in 64 KiB chunks: rescanning what is
    // pending for a newline on every chunk took 18 s and 840 MB.
    const line = `${JSON.stringify({ stream: 'x'.repeat(50 * 1024 * 1024) })}\n`;
    const chunks: string[] = [];
    for (let i = 0; i < line.length; i += 64 * 1024) chunks.push(line.slice(i, i + 64 * 1024));
    const ending = [
      '{"stream":"Step 1/1 : FROM x\\n"}\n',
      `${JSON.stringify({ aux: { ID: `sha256:${'c'.repeat(64)}` } })}\n`,
    ];
    const logged: string[] = [];
    const started = Date.now();
    await followBuild(Readable.from([...chunks, ...ending]), (e) => e.type === 'log' && logged.push(e.text));
    expect(Date.now() - started).to.be.below(5000);
    expect(logged[0]!.length).to.be.below(LINE_CAP + 100);
    expect(logged[0]).to.match(/… \(\d+ more characters\)$/);
  });

  it('keeps only capped lines as evidence of a failed build', async () => {
    const lines = [{ stream: `${'y'.repeat(1024 * 1024)}\n` }, { error: 'failed', errorDetail: { message: 'failed' } }];
    const err = await failure(followBuild(Readable.from(lines.map((l) => `${JSON.stringify(l)}\n`))));
    expect(err.lastLines[0]!.length).to.be.below(LINE_CAP + 100);
  });

  it('calls a line that is not JSON a malformed answer, not a failed step', async () => {
    const err = await failure(followBuild(Readable.from(['<html>\n'])));
    expect(err.malformed).to.equal(true);
  });
});
