// Writes files inside a project folder without ever following a link: each folder on the way is
// checked, and the file is written to a fresh temporary file beside it, then renamed over it.

import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, readlink, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { unsafeWrite } from './errors.js';

export type Existing =
  { kind: 'missing' } | { kind: 'file'; content: Buffer; mode: number } | { kind: 'link'; target: string };

/** Checks a relative path: no absolute paths, no '..', no empty parts. */
function parts(rel: string): string[] {
  const segments = rel.split('/');
  if (path.isAbsolute(rel) || segments.some((s) => s === '' || s === '.' || s === '..'))
    throw new Error(`not a plain relative path: ${rel}`);
  return segments;
}

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  return lstat(p).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
}

async function refuseLink(p: string, shown: string, rel: string): Promise<never> {
  const target = await readlink(p).catch(() => '?');
  throw unsafeWrite(rel, `${shown} is a symbolic link (to ${target})`);
}

/**
 * The folders from root down to rel's parent, each checked to be a real folder, never a link.
 * With create, missing ones are made (one at a time, so that none is made through a link).
 * Returns undefined when a folder is missing and create is false.
 */
async function checkFolders(root: string, rel: string, create: boolean): Promise<string | undefined> {
  let dir = root;
  const segments = parts(rel).slice(0, -1);
  let shown = '';
  for (const segment of segments) {
    dir = path.join(dir, segment);
    shown = shown ? `${shown}/${segment}` : segment;
    const st = await lstatOrUndefined(dir);
    if (st === undefined) {
      if (!create) return undefined;
      // mkdir without recursive fails on anything already there, a dangling link included.
      await mkdir(dir, { mode: 0o755 });
    } else if (st.isSymbolicLink()) {
      await refuseLink(dir, shown, rel);
    } else if (!st.isDirectory()) {
      throw unsafeWrite(rel, `${shown} is not a folder`);
    }
  }
  return dir;
}

/**
 * What is at root/rel now, read without following a link. A link is reported, not read; a linked
 * folder on the way or a special file is refused.
 */
export async function readExisting(root: string, rel: string): Promise<Existing> {
  const dir = await checkFolders(root, rel, false);
  if (dir === undefined) return { kind: 'missing' };
  const target = path.join(dir, path.basename(rel));
  const st = await lstatOrUndefined(target);
  if (st === undefined) return { kind: 'missing' };
  if (st.isSymbolicLink()) return { kind: 'link', target: await readlink(target) };
  if (!st.isFile()) throw unsafeWrite(rel, 'it is not a regular file');
  const fh = await open(target, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return { kind: 'file', content: await fh.readFile(), mode: st.mode & 0o7777 };
  } finally {
    await fh.close();
  }
}

/**
 * Writes content to root/rel atomically: a temporary file created exclusively (O_CREAT|O_EXCL,
 * never through a link) in the same folder, written and synced, then renamed over the target, so
 * a reader sees the old file or the new one and a link at the target is replaced, not followed.
 * An existing file keeps its mode; a new one gets 0644 (0755 when executable). Without `sync`, the
 * file is not flushed to disk first: for a cache, which a crash may lose.
 */
export async function writeContained(
  root: string,
  rel: string,
  content: string,
  executable: boolean,
  { sync = true } = {},
): Promise<void> {
  const before = await readExisting(root, rel);
  if (before.kind === 'link') throw unsafeWrite(rel, `${rel} is a symbolic link (to ${before.target})`);
  const dir = (await checkFolders(root, rel, true))!;
  const target = path.join(dir, path.basename(rel));
  let mode = before.kind === 'file' ? before.mode : executable ? 0o755 : 0o644;
  // A script that must run gains execute bits only where it already has read bits.
  if (executable) mode |= (mode & 0o444) >> 2;
  const tmp = path.join(dir, `.${path.basename(rel)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    try {
      await fh.writeFile(content);
      // Set after creation: the umask must not change the mode a file had.
      await fh.chmod(mode);
      if (sync) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, target);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  if (!sync) return;
  const d = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY).catch(() => undefined);
  if (d)
    await d
      .sync()
      .catch(() => undefined)
      .finally(() => d.close());
}

/** Removes root/rel when it is a regular file reached through real folders only. */
export async function removeContained(root: string, rel: string): Promise<void> {
  const before = await readExisting(root, rel);
  if (before.kind === 'file') await unlink(path.join(root, rel));
}
