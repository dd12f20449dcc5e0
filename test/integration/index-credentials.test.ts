// Package-index credentials in a requirements file on a real engine: the image builds, and no
// layer, history entry or label of it holds the token.

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import type { Engine } from '../../lib/engine/engine.js';
import { writeTree } from '../support/tree.js';
import { Cleanup, cli, PREFIX, realEngine } from './support.js';

const run = promisify(execFile);
const TOKEN = 's3cr3t-token';

/** Every file under dir, each gzip member unpacked, searched for needle as bytes. */
async function filesHolding(dir: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        let buf = await readFile(p);
        if (buf[0] === 0x1f && buf[1] === 0x8b) buf = gunzipSync(buf);
        if (buf.includes(needle)) found.push(path.relative(dir, p));
      }
    }
  };
  await walk(dir);
  return found;
}

describe('package-index credentials', function () {
  this.timeout(10 * 60 * 1000);
  let engine: Engine;
  const cleanup = new Cleanup(() => engine);
  before(async function () {
    engine = await realEngine(this);
  });
  after(() => cleanup.run());

  it('never reach a layer, the history or a label of the image', async () => {
    const dir = await cleanup.tempDir('index');
    await writeTree(
      {
        'shop/data/.keep': '',
        'shop/scorer/.s2i/environment': 'ROUTES=scorer/predict:predict:predict\n',
        'shop/scorer/predict.py': 'import numpy\n\ndef predict(msg):\n    return float(numpy.sum(msg["x"]))\n',
        // The index is unreachable: pip must find numpy already in the base and never ask it.
        'shop/scorer/requirements_predict.txt': `--extra-index-url https://user:${TOKEN}@127.0.0.1:9/simple\nnumpy\n`,
      },
      dir,
    );
    const image = cleanup.image(`${PREFIX}-index-credentials`);
    const planned = await cli('build', path.join(dir, 'shop/scorer'), 'daemon', image, '--dry-run');
    expect(planned.code, planned.err).to.equal(0);
    expect(planned.out).to.contain('https://user:***@127.0.0.1:9/simple').and.not.contain(TOKEN);
    const built = await cli('build', path.join(dir, 'shop/scorer'), 'daemon', image, '--quiet');
    expect(built.code, built.err).to.equal(0);
    expect(built.out + built.err).not.to.contain(TOKEN);

    const saved = path.join(dir, 'saved');
    await run('mkdir', ['-p', saved]);
    await run('sh', ['-c', `docker save "$1" | tar -x -C "$2"`, 'save', image, saved], { maxBuffer: 16 * 1024 * 1024 });
    // Unpack every layer too, so that a file's content is searched whatever the layer's format.
    const layers = (
      await run('sh', ['-c', `cd "$1" && find . -type f \\( -name '*.tar' -o -path './blobs/*' \\)`, 'find', saved])
    ).stdout
      .trim()
      .split('\n')
      .filter(Boolean);
    expect(layers.length).to.be.greaterThan(0);
    let unpacked = 0;
    for (const [i, layer] of layers.entries()) {
      const into = path.join(dir, 'layers', String(i));
      await run('mkdir', ['-p', into]);
      const ok = await run('tar', ['-x', '-f', path.join(saved, layer), '-C', into]).then(
        () => true,
        () => false,
      );
      if (ok) unpacked++;
    }
    expect(unpacked, 'no layer could be unpacked').to.be.greaterThan(0);
    // The requirements file is in the image, without the token: the search can find files.
    const reqs = (
      await run('sh', ['-c', `find "$1" -name requirements_predict.txt`, 'find', path.join(dir, 'layers')])
    ).stdout
      .trim()
      .split('\n')
      .filter(Boolean);
    expect(reqs, 'the source layer holds the requirements file').to.have.length.greaterThan(0);
    for (const r of reqs) expect((await stat(r)).size).to.be.greaterThan(0);

    expect(await filesHolding(saved, TOKEN), 'files of docker save holding the token').to.deep.equal([]);
    expect(await filesHolding(path.join(dir, 'layers'), TOKEN), 'files in layers holding the token').to.deep.equal([]);
    const history = (await run('docker', ['history', '--no-trunc', image])).stdout;
    const inspect = (await run('docker', ['image', 'inspect', image])).stdout;
    expect(history).not.to.contain(TOKEN);
    expect(inspect).not.to.contain(TOKEN);
  });
});
