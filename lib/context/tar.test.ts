import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { utimes } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import path from 'node:path';
import { extract } from 'tar-stream';
import { removeTree, writeTree } from '../../test/support/tree.js';
import { packContext, DEFAULT_MTIME, type ContextEntry } from './tar.js';

async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function list(
  tar: Buffer,
): Promise<Array<{ name: string; mode: number; mtime: number; uid: number; type: string; body: string }>> {
  const out: Array<{ name: string; mode: number; mtime: number; uid: number; type: string; body: string }> = [];
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      collect(stream).then((body) => {
        out.push({
          name: h.name,
          mode: h.mode ?? 0,
          mtime: h.mtime?.getTime() ?? 0,
          uid: h.uid ?? -1,
          type: h.type ?? '',
          body: body.toString(),
        });
        next();
      }, reject);
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(tar);
  await done;
  return out;
}

describe('packContext', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await writeTree({ 'b.py': 'print(1)\n', 'a/z.py': 'z', 'run.sh': { content: '#!/bin/sh\n', mode: 0o775 } });
  });
  afterEach(() => removeTree(dir));

  const entries = (d: string): ContextEntry[] => [
    { name: 'src/b.py', from: path.join(d, 'b.py'), size: 9, executable: false },
    { name: 'Dockerfile', content: Buffer.from('FROM x\n'), size: 7, executable: false },
    { name: 'src/a/z.py', from: path.join(d, 'a/z.py'), size: 1, executable: false },
    { name: 'deps/setup.sh', from: path.join(d, 'run.sh'), size: 10, executable: true },
  ];

  it('writes sorted entries, with folders, fixed time, root ownership and normalised modes', async () => {
    const packed = packContext(entries(dir));
    const tar = await collect(packed.stream);
    const items = await list(tar);
    expect(items.map((i) => i.name)).to.deep.equal([
      'Dockerfile',
      'deps/',
      'deps/setup.sh',
      'src/',
      'src/a/',
      'src/a/z.py',
      'src/b.py',
    ]);
    expect(items.map((i) => i.mode.toString(8))).to.deep.equal(['644', '755', '755', '755', '755', '644', '644']);
    expect(new Set(items.map((i) => i.mtime))).to.deep.equal(new Set([DEFAULT_MTIME.getTime()]));
    expect(new Set(items.map((i) => i.uid))).to.deep.equal(new Set([0]));
    expect(items.find((i) => i.name === 'src/b.py')!.body).to.equal('print(1)\n');
    expect(packed.bytes()).to.equal(tar.length);
  });

  it("gives the same bytes whatever the files' times on disk", async () => {
    const first = createHash('sha256')
      .update(await collect(packContext(entries(dir)).stream))
      .digest('hex');
    await utimes(path.join(dir, 'b.py'), new Date('2001-01-01'), new Date('2001-01-01'));
    const second = createHash('sha256')
      .update(await collect(packContext(entries(dir)).stream))
      .digest('hex');
    expect(second).to.equal(first);
  });

  it('uses the time it is given (SOURCE_DATE_EPOCH)', async () => {
    const when = new Date(1_700_000_000_000);
    const items = await list(await collect(packContext(entries(dir), { mtime: when }).stream));
    expect(items[0]!.mtime).to.equal(when.getTime());
  });

  it('gzips the tar when asked, deterministically', async () => {
    const plain = await collect(packContext(entries(dir)).stream);
    const packed = packContext(entries(dir), { compress: true });
    const zipped = await collect(packed.stream);
    expect(gunzipSync(zipped).equals(plain)).to.equal(true);
    expect(packed.bytes()).to.equal(zipped.length).and.to.be.lessThan(plain.length);
    expect(await collect(packContext(entries(dir), { compress: true }).stream)).to.deep.equal(zipped);
  });

  it('fails the stream, and says which file, when a file changed after it was listed', async () => {
    const packed = packContext([{ name: 'b.py', from: path.join(dir, 'b.py'), size: 3, executable: false }]);
    let error: Error | undefined;
    try {
      await collect(packed.stream);
    } catch (err) {
      error = err as Error;
    }
    expect(error?.message).to.contain('b.py');
    expect(packed.failure()?.message).to.contain('b.py');
  });

  it('sends no byte of a file that grew since it was listed, and never counts the archive as ended', async () => {
    // b.py holds 'print(1)\n' (9 bytes) but was listed at 3: what a file that grows between the
    // listing and the send looks like. Its bytes past the header's size would spill into the
    // archive, where an engine reads them as the next header or as its end.
    const packed = packContext([
      { name: 'a.txt', content: Buffer.from('first'), size: 5, executable: false },
      { name: 'b.py', from: path.join(dir, 'b.py'), size: 3, executable: false },
      { name: 'c.txt', content: Buffer.from('after'), size: 5, executable: false },
    ]);
    const sent: Buffer[] = [];
    await new Promise<void>((resolve) => {
      packed.stream.on('data', (c: Buffer) => sent.push(c));
      packed.stream.on('error', () => resolve());
      packed.stream.on('end', () => resolve());
    });
    expect(Buffer.concat(sent).toString('latin1')).not.to.contain('pri');
    expect(packed.failure()?.message).to.match(/b\.py: its size changed from 3 to 9 bytes/);
    expect(packed.ended()).to.equal(false);
  });

  it('counts the archive as ended only once all of it was read', async () => {
    const packed = packContext(entries(dir));
    expect(packed.ended()).to.equal(false);
    await collect(packed.stream);
    expect(packed.ended()).to.equal(true);
    expect(packed.failure()).to.equal(undefined);
  });
});
