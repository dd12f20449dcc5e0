import { expect } from 'chai';
import { appendFile, mkdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { removeTree, writeTree } from '../../test/support/tree.js';
import { inputsDigest, readBeyondWalked, walkedBeyondModel } from './inputs.js';
import { readProject } from './project.js';
import { extendScan, scanModel, type ProjectSnapshot } from './scan.js';

describe('inputsDigest', () => {
  let top: string;
  let root: string;
  let model: string;
  beforeEach(async () => {
    // A folder above the project (outer/), as a home folder or /tmp is: names come and go there.
    top = await writeTree({
      'outer/notes.txt': 'a\n',
      'outer/work/pkg/model/.s2i/environment': 'ROUTES=m/predict:pkg.model.predict:predict\n',
      'outer/work/pkg/model/predict.py': 'from pkg.common import f\n\ndef predict(p):\n    return f(p)\n',
      'outer/work/pkg/common/__init__.py': 'def f(p):\n    return p\n',
      'outer/work/pkg/__init__.py': '',
      'outer/work/pkg/data/big.csv': 'x\n',
    });
    root = path.join(top, 'outer', 'work');
    model = path.join(root, 'pkg', 'model');
  });
  afterEach(() => removeTree(top));

  /** The digest a build records, and the one a rebuild computes from its record, the way lib/build/cache.ts does. */
  async function digests(options: unknown = {}): Promise<{ built: string; again: () => Promise<string> }> {
    let snap: ProjectSnapshot | undefined;
    const read = await readProject(model, undefined, { home: top, onSnapshot: (s) => (snap = s) });
    expect(read.ok).to.equal(true);
    const readFiles = readBeyondWalked(snap!);
    const walked = walkedBeyondModel(snap!);
    return {
      built: inputsDigest(snap!, options, readFiles),
      again: async () =>
        inputsDigest(
          await extendScan(await scanModel(model, { home: top }), {
            walk: walked.map((w) => path.resolve(model, w)),
            read: [],
          }),
          options,
          readFiles,
        ),
    };
  }

  it('is the same for a rebuild of the same tree, without reading a file', async () => {
    const { built, again } = await digests();
    expect(await again()).to.equal(built);
  });

  it('changes with an edit anywhere in the project, a new file, an option', async () => {
    const { built, again } = await digests();
    await appendFile(path.join(root, 'pkg', 'common', '__init__.py'), '# more\n');
    expect(await again(), 'shared code edited').not.to.equal(built);
    const second = await digests();
    await writeFile(path.join(model, 'helpers.py'), 'X = 1\n');
    expect(await second.again(), 'a file added').not.to.equal(second.built);
    const third = await digests();
    const file = path.join(model, 'predict.py');
    await utimes(file, new Date('2001-01-01'), new Date('2001-01-01'));
    expect(await third.again(), 'a file time').not.to.equal(third.built);
    expect((await digests({ env: ['A=1'] })).built).not.to.equal((await digests({ env: [] })).built);
  });

  it('does not change with what is never read: data/, other names above the project, its own cache', async () => {
    const { built, again } = await digests();
    await appendFile(path.join(root, 'pkg', 'data', 'big.csv'), 'y\n');
    await appendFile(path.join(top, 'outer', 'notes.txt'), 'b\n');
    await mkdir(path.join(top, 'outer', 'tmp-x1'));
    await mkdir(path.join(model, '.cortex-s2i-cache'));
    expect(await again()).to.equal(built);
  });

  it('changes when a name above the project could be a module the code imports', async () => {
    const { built, again } = await digests();
    // The search for the root could end elsewhere now.
    await mkdir(path.join(top, 'outer', 'pkg'));
    expect(await again()).not.to.equal(built);
  });
});
