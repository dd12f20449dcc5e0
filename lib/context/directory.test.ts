import { expect } from 'chai';
import { lstat, mkdir, readdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { removeTree, writeTree } from '../../test/support/tree.js';
import { ContextDirectoryError, writeContextDirectory } from './directory.js';
import { DEFAULT_MTIME, type ContextEntry } from './tar.js';

/** Every path below `root`, relative, with what it is. */
async function walk(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(path.join(root, rel))).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    const info = await lstat(path.join(root, p));
    out.push(
      `${p} ${info.isSymbolicLink() ? 'link' : info.isDirectory() ? 'dir' : 'file'} ${(info.mode & 0o777).toString(8)}`,
    );
    if (info.isDirectory()) out.push(...(await walk(root, p)));
  }
  return out;
}

describe('writeContextDirectory', () => {
  let src: string;
  let work: string;
  let entries: ContextEntry[];
  beforeEach(async () => {
    // Source modes that the context must not keep: group-writable, owner-only, odd.
    src = await writeTree({
      'predict.py': { content: 'print(1)\n', mode: 0o664 },
      'setup.sh': { content: '#!/bin/sh\n', mode: 0o700 },
      'w.txt': { content: 'w', mode: 0o606 },
    });
    work = await writeTree({});
    entries = [
      { name: 'Dockerfile', content: Buffer.from('FROM x\n'), size: 7, executable: false },
      { name: 'src/opt/program/m/predict.py', from: path.join(src, 'predict.py'), size: 9, executable: false },
      { name: 'deps/setup.sh', from: path.join(src, 'setup.sh'), size: 10, executable: true },
      { name: 'src/opt/program/m/w.txt', from: path.join(src, 'w.txt'), size: 1, executable: false },
      { name: 'src/opt/program/m/models', linkTarget: '/action/models', size: 0, executable: false },
      { name: 'src/opt/program/m/shared', linkTarget: '../../../../etc', size: 0, executable: false },
    ];
  });
  afterEach(async () => {
    await removeTree(src);
    await removeTree(work);
  });

  it('writes every entry with the tar modes (0644, 0755, folders 0755) and links as links', async () => {
    const dir = path.join(work, 'ctx');
    const written = await writeContextDirectory(entries, dir);
    expect(written).to.deep.include({ files: 4, links: 2, bytes: 7 + 9 + 10 + 1 });
    expect(await walk(dir)).to.deep.equal([
      'Dockerfile file 644',
      'deps dir 755',
      'deps/setup.sh file 755',
      'src dir 755',
      'src/opt dir 755',
      'src/opt/program dir 755',
      'src/opt/program/m dir 755',
      'src/opt/program/m/models link 777',
      'src/opt/program/m/predict.py file 644',
      'src/opt/program/m/shared link 777',
      'src/opt/program/m/w.txt file 644',
    ]);
    expect(await readFile(path.join(dir, 'Dockerfile'), 'utf8')).to.equal('FROM x\n');
    expect(await readFile(path.join(dir, 'deps/setup.sh'), 'utf8')).to.equal('#!/bin/sh\n');
    expect(await readlink(path.join(dir, 'src/opt/program/m/models'))).to.equal('/action/models');
    // Fixed times, as in the tar: the same plan gives the same folder.
    expect((await stat(path.join(dir, 'src/opt/program/m/predict.py'))).mtime.getTime()).to.equal(
      DEFAULT_MTIME.getTime(),
    );
    expect((await stat(path.join(dir, 'src/opt'))).mtime.getTime()).to.equal(DEFAULT_MTIME.getTime());
    expect((await lstat(path.join(dir, 'src/opt/program/m/models'))).mtime.getTime()).to.equal(DEFAULT_MTIME.getTime());
  });

  it('uses an empty folder that exists', async () => {
    const dir = path.join(work, 'empty');
    await mkdir(dir);
    await writeContextDirectory(entries, dir);
    expect(await readdir(dir)).to.have.members(['Dockerfile', 'deps', 'src']);
  });

  it('refuses a folder that is not empty, a file, a link to a folder and a missing parent, writing nothing', async () => {
    const full = path.join(work, 'full');
    await mkdir(full);
    await writeFile(path.join(full, 'keep.txt'), 'mine');
    const file = path.join(work, 'file');
    await writeFile(file, 'x');
    const empty = path.join(work, 'empty');
    await mkdir(empty);
    const link = path.join(work, 'link');
    await symlink(empty, link);
    for (const [dir, reason] of [
      [full, 'not-empty'],
      [file, 'not-a-directory'],
      [link, 'not-a-directory'],
      [path.join(work, 'no/such'), 'no-parent'],
    ] as const) {
      const err = await writeContextDirectory(entries, dir).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, dir).to.be.instanceOf(ContextDirectoryError);
      expect((err as ContextDirectoryError).reason).to.equal(reason);
    }
    expect(await readdir(full)).to.deep.equal(['keep.txt']);
    expect(await readdir(empty)).to.deep.equal([]);
    expect(await readFile(file, 'utf8')).to.equal('x');
  });

  it('refuses names that would land outside the folder, before writing anything', async () => {
    for (const name of ['../escape', 'src/../../escape', '/etc/passwd', 'a//b', './x', '']) {
      const dir = path.join(work, 'ctx');
      const err = await writeContextDirectory(
        [entries[0]!, { name, content: Buffer.from('x'), size: 1, executable: false }],
        dir,
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, name).to.be.instanceOf(ContextDirectoryError);
      expect((err as ContextDirectoryError).reason).to.equal('bad-name');
    }
    expect(await readdir(work)).to.deep.equal([]);
  });

  it('never writes through a link: a file named below a link it wrote fails', async () => {
    const outside = path.join(work, 'outside');
    await mkdir(outside);
    const dir = path.join(work, 'ctx');
    // The link sorts before the file that would be written through it.
    const err = await writeContextDirectory(
      [
        { name: 'a', linkTarget: outside, size: 0, executable: false },
        { name: 'a/evil.txt', content: Buffer.from('x'), size: 1, executable: false },
      ],
      dir,
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as NodeJS.ErrnoException).code).to.equal('EEXIST');
    expect(await readdir(outside)).to.deep.equal([]);
  });

  it('fails when a file changed size since it was planned', async () => {
    const err = await writeContextDirectory([{ ...entries[1]!, size: 99 }], path.join(work, 'ctx')).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as Error).message).to.match(/it has 9 bytes, not the 99 planned/);
  });
});
