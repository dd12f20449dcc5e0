// What a build was made from, as the file system shows it: a digest of the tree the reading of a
// project looked at (names, kinds, sizes, modes, file times, where links point) and of the options
// that shape the image. Two builds with the same digest read the same tree, so a rebuild can tell
// that nothing changed without reading or parsing a source file, as make does with file times.
// Pure: the snapshot and the options come in, a string goes out.

import { createHash } from 'node:crypto';
import path from 'node:path';
import { compare, toPosix } from '../text.js';
import type { ProjectSnapshot } from './scan.js';

/**
 * The digest of `snap` and `options` (any JSON value). Everything in a walked folder counts, with
 * its size and time. In a folder only listed (the model's ancestors, a .s2i folder) a file counts
 * with its size and time when its text was read (`read`), and otherwise only by name and kind, and
 * only when the name could be a Python module (`pkg`, `mod.py`): that is all the search for the
 * project's root looks at there (layout.ts levelNeeded), and other names beside a project, such
 * as temporary folders coming and going, must not make it look changed.
 */
export function inputsDigest(snap: ProjectSnapshot, options: unknown, read: ReadonlySet<string>): string {
  const hash = createHash('sha256');
  hash.update(
    JSON.stringify({
      options,
      levels: snap.levels,
      realLevels: snap.realLevels,
      badNames: [...snap.badNames].sort(compare),
    }),
  );
  hash.update('\n');
  for (const dir of [...snap.listed].sort(compare)) hash.update(`listed ${dir}\n`);
  for (const dir of [...snap.walked].sort(compare)) hash.update(`walked ${dir}\n`);
  for (const [file, e] of [...snap.entries].sort((a, b) => compare(a[0], b[0]))) {
    const walked = snap.walked.has(path.dirname(file));
    if (!walked && !read.has(file) && !MODULE_NAME.test(path.basename(file))) continue;
    // A folder's own time and size change with what is in it (the build cache's folder too), which
    // its listing already says.
    const counts = e.kind !== 'dir' && (walked || read.has(file));
    const [size, time] = counts ? [String(e.size), String(e.mtimeMs)] : ['', ''];
    hash.update(
      `${file}\0${e.kind}\0${size}\0${e.executable ? 'x' : '-'}\0${time}\0${e.linkTarget ?? ''}\0${e.realTarget ?? ''}\0${e.targetKind ?? ''}\n`,
    );
  }
  return `sha256:${hash.digest('hex')}`;
}

/** A name Python could import: an identifier, as a package folder or a module file. */
const MODULE_NAME = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*(\.py)?$/u;

/** The files whose texts were read outside the walked folders: what `inputsDigest` needs as `read`. */
export function readBeyondWalked(snap: ProjectSnapshot): Set<string> {
  return new Set([...snap.texts.keys()].filter((file) => !snap.walked.has(path.dirname(file))));
}

/**
 * The folders walked beyond the model's own folder, as paths relative to it (`..`, `../common`):
 * walking them again, after the first look at the model, gives a snapshot of the same extent.
 */
export function walkedBeyondModel(snap: ProjectSnapshot): string[] {
  const walked = [...snap.walked].sort(compare);
  const tops = walked.filter((dir) => !walked.some((other) => other !== dir && isInside(dir, other)));
  return tops.filter((dir) => dir !== snap.modelDir).map((dir) => relative(snap.modelDir, dir));
}

/** `file` relative to the model's folder, with forward slashes, as the build cache keeps it. */
export function relative(modelDir: string, file: string): string {
  return toPosix(path.relative(modelDir, file));
}

function isInside(dir: string, parent: string): boolean {
  const rel = path.relative(parent, dir);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}
