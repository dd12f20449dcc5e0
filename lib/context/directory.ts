// Writes a build context into a folder instead of a tar: the same entries, modes and times, for
// tools that build from a folder (docker build, buildah bud) on machines cortex-s2i never talks to.

import { constants, createReadStream } from 'node:fs';
import { lstat, lutimes, mkdir, open, readdir, symlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import { compare } from '../text.js';
import { DEFAULT_MTIME, type ContextEntry } from './tar.js';

export interface WrittenContext {
  dir: string;
  files: number;
  links: number;
  /** Bytes of file content written. */
  bytes: number;
}

/** Why a folder cannot take a context: it is not an empty folder of its own, or a name escapes it. */
export class ContextDirectoryError extends Error {
  constructor(
    message: string,
    readonly reason: 'not-empty' | 'not-a-directory' | 'no-parent' | 'bad-name',
  ) {
    super(message);
    this.name = 'ContextDirectoryError';
  }
}

/**
 * Writes `entries` into `dir`, which must be missing (its parent must exist) or an empty folder.
 * Nothing is written outside `dir` and no link is ever followed: every file is created with
 * O_EXCL|O_NOFOLLOW and every folder with a plain mkdir, so a name that already exists (a link
 * written a moment before, say) fails the write instead of being written through.
 */
export async function writeContextDirectory(
  entries: ContextEntry[],
  dir: string,
  options: { mtime?: Date } = {},
): Promise<WrittenContext> {
  const mtime = options.mtime ?? DEFAULT_MTIME;
  const root = path.resolve(dir);
  const sorted = [...entries].sort((a, b) => compare(a.name, b.name));
  for (const e of sorted) checkName(e.name);
  await prepareRoot(root);

  const made = new Set<string>();
  const dirs: string[] = [];
  const ensureParents = async (name: string) => {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      if (made.has(rel)) continue;
      // Not recursive: each folder is made here, by us, so none of them can be a link.
      await mkdir(path.join(root, rel), { mode: 0o755 });
      made.add(rel);
      dirs.push(rel);
    }
  };

  const written: WrittenContext = { dir: root, files: 0, links: 0, bytes: 0 };
  for (const e of sorted) {
    await ensureParents(e.name);
    const target = path.join(root, e.name);
    if (e.linkTarget !== undefined) {
      // Links stay links, as in the tar: the engine copies them into the image as they are.
      await symlink(e.linkTarget, target);
      await lutimes(target, mtime, mtime);
      written.links++;
      continue;
    }
    const handle = await open(
      target,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      if (e.content !== undefined) {
        await handle.writeFile(e.content);
        written.bytes += e.content.length;
      } else {
        // Streamed chunk by chunk, as the tar does: a model's files are not held whole in memory.
        for await (const chunk of createReadStream(e.from!)) await handle.write(chunk as Buffer);
        const { size } = await handle.stat();
        // The plan measured every file; one that changed since would make a context unlike the plan.
        if (size !== e.size)
          throw new Error(
            `reading ${e.from}: it has ${size} bytes, not the ${e.size} planned (did it change while the context was written?)`,
          );
        written.bytes += size;
      }
      // The same two modes as the tar, set after creation so that the umask plays no part.
      await handle.chmod(e.executable ? 0o755 : 0o644);
      await handle.utimes(mtime, mtime);
    } finally {
      await handle.close();
    }
    written.files++;
  }
  // Deepest first: setting a folder's time before writing into it would be undone by the write.
  for (const rel of dirs.sort((a, b) => compare(b, a))) await utimes(path.join(root, rel), mtime, mtime);
  return written;
}

function checkName(name: string): void {
  const parts = name.split('/');
  if (name === '' || name.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new ContextDirectoryError(
      `${JSON.stringify(name)} is not a plain relative path inside the context`,
      'bad-name',
    );
  }
}

async function prepareRoot(root: string): Promise<void> {
  const info = await lstat(root).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (info === undefined) {
    // Only the folder itself is made: a missing parent is more likely a typo than a wish.
    await mkdir(root, { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') throw new ContextDirectoryError(`${path.dirname(root)} does not exist`, 'no-parent');
      throw err;
    });
    return;
  }
  // A link to a folder is refused too: what it points at is outside the folder named.
  if (!info.isDirectory()) throw new ContextDirectoryError(`${root} exists and is not a folder`, 'not-a-directory');
  const present = await readdir(root);
  if (present.length > 0)
    throw new ContextDirectoryError(
      `${root} is not empty (${present.length} entr${present.length === 1 ? 'y' : 'ies'})`,
      'not-empty',
    );
}
