import { expect } from 'chai';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { removeTree, writeTree } from '../../test/support/tree.js';
import { BuildCache, type BuildRecord } from './cache.js';

const record: BuildRecord = {
  inputs: 'sha256:1',
  walked: ['..'],
  read: ['.s2i/environment'],
  id: 'sha256:2',
  builder: 'sha256:3',
  at: 1,
};

describe('BuildCache', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await writeTree({ 'predict.py': 'import numpy\n' });
  });
  afterEach(() => removeTree(dir));

  it('keeps records and imports across builds, in a folder git ignores', async () => {
    const first = await BuildCache.open(dir);
    expect(first.record('x:1')).to.equal(undefined);
    expect(first.findImports('import numpy\n').map((i) => i.module)).to.deep.equal(['numpy']);
    await first.save('x:1', record);
    const second = await BuildCache.open(dir);
    expect(second.record('x:1')).to.deep.equal(record);
    expect(await readFile(path.join(dir, '.cortex-s2i-cache', '.gitignore'), 'utf8')).to.match(/^\*$/m);
  });

  it('answers imports of a text seen before from the cache, not by parsing it again', async () => {
    const cache = await BuildCache.open(dir);
    cache.findImports('import numpy\n');
    await cache.save('x:1', record);
    const state = JSON.parse(await readFile(path.join(dir, '.cortex-s2i-cache', 'state.json'), 'utf8')) as {
      imports: Record<string, unknown[]>;
    };
    // Stand a different answer in for the parsed one: the cache's answer is the one returned.
    const key = Object.keys(state.imports)[0]!;
    state.imports[key] = [{ module: 'from_the_cache', level: 0, names: [], line: 1, optional: false }];
    await writeFile(path.join(dir, '.cortex-s2i-cache', 'state.json'), JSON.stringify(state));
    expect((await BuildCache.open(dir)).findImports('import numpy\n').map((i) => i.module)).to.deep.equal([
      'from_the_cache',
    ]);
  });

  it('starts empty from a cache that is not its own: malformed, wrongly shaped, a link, too big', async () => {
    const cacheDir = path.join(dir, '.cortex-s2i-cache');
    await mkdir(cacheDir);
    const states = [
      'not json',
      JSON.stringify({ format: 1, images: { 'x:1': { ...record, walked: 'nope' } }, imports: {} }),
      JSON.stringify({ format: 1, images: {}, imports: { k: [{ module: 1 }] } }),
      JSON.stringify({ format: 99, images: { 'x:1': record }, imports: {} }),
    ];
    for (const state of states) {
      await writeFile(path.join(cacheDir, 'state.json'), state);
      expect((await BuildCache.open(dir)).record('x:1'), state).to.equal(undefined);
    }
    // A key that names Object's prototype stays a key.
    await writeFile(
      path.join(cacheDir, 'state.json'),
      `{"format":1,"images":{"__proto__":${JSON.stringify(record)}},"imports":{}}`,
    );
    const proto = await BuildCache.open(dir);
    expect(proto.record('__proto__')).to.deep.equal(record);
    expect(proto.record('toString')).to.equal(undefined);
    await removeTree(cacheDir);
    const elsewhere = await writeTree({
      'state.json': JSON.stringify({ format: 1, images: { 'x:1': record }, imports: {} }),
    });
    try {
      await symlink(elsewhere, cacheDir);
      expect((await BuildCache.open(dir)).record('x:1')).to.equal(undefined);
      // Nor is anything written through the link.
      await (await BuildCache.open(dir)).save('y:1', record);
      expect(JSON.parse(await readFile(path.join(elsewhere, 'state.json'), 'utf8'))).not.to.have.nested.property(
        'images.y:1',
      );
    } finally {
      await removeTree(elsewhere);
    }
  });

  it("keeps a record's source base only when every part of it has its shape", async () => {
    const base = { key: 'sha256:k', id: 'sha256:b', emptyLayers: [false, true], layer: 'sha256:l' };
    const cache = await BuildCache.open(dir);
    await cache.save('x:1', { ...record, base });
    expect((await BuildCache.open(dir)).record('x:1')).to.deep.equal({ ...record, base });
    const cacheDir = path.join(dir, '.cortex-s2i-cache');
    for (const bad of [{ ...base, emptyLayers: [1] }, { ...base, id: 7 }, { ...base, layer: undefined }, 'sha256:b']) {
      await writeFile(
        path.join(cacheDir, 'state.json'),
        JSON.stringify({ format: 1, images: { 'x:1': { ...record, base: bad } }, imports: {} }),
      );
      // The record stays (it still answers "up to date"); the base it named is dropped.
      expect((await BuildCache.open(dir)).record('x:1'), JSON.stringify(bad)).to.deep.equal(record);
    }
  });
});
