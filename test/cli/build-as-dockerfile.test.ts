import { expect } from 'chai';
import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { FakeEngine } from '../../lib/engine/fake-engine.js';
import type { Engine } from '../../lib/engine/engine.js';
import { packageVersion } from '../../lib/package-root.js';
import { bundledBuilderImage } from '../../lib/plan/builders.js';
import { removeTree, sampleProject, writeTree } from '../support/tree.js';
import { main } from '../../lib/cli/main.js';

async function run(argv: string[], engine: () => Engine) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { env: {}, output: { out: (l) => out.push(l), err: (l) => err.push(l) }, engine });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Every file below `root` (links excluded), relative, with its content. */
async function files(root: string, rel = ''): Promise<Map<string, Buffer>> {
  const found = new Map<string, Buffer>();
  for (const name of await readdir(path.join(root, rel))) {
    const p = rel ? `${rel}/${name}` : name;
    const info = await lstat(path.join(root, p));
    if (info.isDirectory()) for (const [k, v] of await files(root, p)) found.set(k, v);
    else if (info.isFile()) found.set(p, await readFile(path.join(root, p)));
  }
  return found;
}

describe('build --as-dockerfile', () => {
  let root: string;
  let out: string;
  beforeEach(async () => {
    root = await writeTree(sampleProject());
    out = await writeTree({});
  });
  afterEach(async () => {
    await removeTree(root);
    await removeTree(out);
  });

  it('writes, without an engine, exactly the context a build sends, and prints how to build it', async () => {
    const model = path.join(root, 'shop/churn');
    const dir = path.join(out, 'ctx');
    const r = await run(['build', model, 'daemon', 'churn-predict', '--as-dockerfile', dir], () => {
      throw new Error('the engine must not be used');
    });
    expect(r.code, r.err).to.equal(0);
    expect(r.out)
      .to.contain(`docker build -t churn-predict ${dir}`)
      .and.contain(`buildah bud --storage-driver vfs -t churn-predict ${dir}`);
    expect(r.out).to.contain('  src/opt/program/shop/churn/predict.py');

    const engine = new FakeEngine();
    engine.addImage(bundledBuilderImage('daemon', packageVersion()), { 'io.cortex-s2i.builder': 'daemon' });
    const built = await run(['build', model, 'daemon', 'churn-predict'], () => engine);
    expect(built.code, built.err).to.equal(0);
    expect(await files(dir)).to.deep.equal(engine.contexts[0]);
  });

  it('refuses a folder that is not empty with exit status 2 and a hint, and changes nothing in it', async () => {
    const dir = await writeTree({ 'mine.txt': 'keep' }, path.join(out));
    const r = await run(
      ['build', path.join(root, 'shop/churn'), 'daemon', 'churn-predict', '--as-dockerfile', dir],
      () => {
        throw new Error('the engine must not be used');
      },
    );
    expect(r.code).to.equal(2);
    expect(r.err).to.contain('is not empty').and.contain('hint:');
    expect(await readdir(dir)).to.deep.equal(['mine.txt']);
  });

  it('does not go with --dry-run', async () => {
    const r = await run(
      [
        'build',
        path.join(root, 'shop/churn'),
        'daemon',
        'churn-predict',
        '--dry-run',
        '--as-dockerfile',
        path.join(out, 'x'),
      ],
      () => {
        throw new Error('the engine must not be used');
      },
    );
    expect(r.code).to.equal(2);
    expect(await readdir(out)).to.deep.equal([]);
  });
});
