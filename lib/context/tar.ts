// Streams a build context as a tar, deterministically: sorted entries, fixed time, ownership and
// modes, so that the same files always give the same bytes and the engine the same layer digests.
// File contents are streamed from disk one after another, never held whole in memory.

import { open } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { pack as tarPack, type Header } from 'tar-stream';
import { compare } from '../text.js';

export interface ContextEntry {
  /** Posix path inside the context. */
  name: string;
  size: number;
  executable: boolean;
  /** Exactly one of: a file to stream, content generated in memory (a Dockerfile), or a link's target. */
  from?: string;
  content?: Buffer;
  linkTarget?: string;
}

export interface PackedContext {
  stream: Readable;
  /** Bytes of tar written so far; final once the stream has ended. */
  bytes(): number;
  /** True once the whole archive, end marker included, has been read from the stream. */
  ended(): boolean;
  /** Why the stream failed, if it did: a file that could not be read, or changed while read. */
  failure(): Error | undefined;
}

/**
 * 1980-01-01T00:00:00Z: the start of the ZIP epoch, which wheels and many reproducible-build tools
 * use as the default; a constant unless SOURCE_DATE_EPOCH (read by the CLI) says otherwise.
 */
export const DEFAULT_MTIME = new Date('1980-01-01T00:00:00Z');

export interface PackOptions {
  mtime?: Date;
  /**
   * gzip the tar (the engine unpacks it): source text shrinks to a fraction for a remote engine,
   * but binary files compress slowly, so it is the caller's choice, as with docker build --compress.
   */
  compress?: boolean;
}

export function packContext(entries: ContextEntry[], options: PackOptions = {}): PackedContext {
  const mtime = options.mtime ?? DEFAULT_MTIME;
  const sorted = [...entries].sort((a, b) => compare(a.name, b.name));
  const dirs = new Set<string>();
  for (const e of sorted) {
    const parts = e.name.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  // Folders get entries of their own: otherwise the engine creates them with the time it unpacks
  // the context, and that time would end up in the layer.
  const all: Array<{ name: string; dir: boolean; entry?: ContextEntry }> = [
    ...[...dirs].map((name) => ({ name, dir: true })),
    ...sorted.map((entry) => ({ name: entry.name, dir: false, entry })),
  ].sort((a, b) => compare(a.name, b.name));

  const tar = tarPack();
  let written = 0;
  let ended = false;
  let failure: Error | undefined;
  const counted = new PassThrough();
  counted.on('data', (chunk: Buffer) => {
    written += chunk.length;
  });
  counted.on('end', () => {
    ended = true;
  });
  let current: string | undefined;
  const fail = (err: unknown) => {
    if (!failure) {
      const message = err instanceof Error ? err.message : String(err);
      failure = new Error(
        current ? `reading ${current}: ${message} (did it change while the context was sent?)` : message,
        { cause: err },
      );
    }
    counted.destroy(failure);
  };
  // The pack stream fails on its own when an entry is cut short; pipe() does not pass that on.
  tar.on('error', fail);
  if (options.compress) {
    // Level 1: nearly all of gzip's gain on source text, at several times the speed of the default.
    const gzip = createGzip({ level: 1 });
    gzip.on('error', fail);
    tar.pipe(gzip).pipe(counted);
  } else {
    tar.pipe(counted);
  }

  const common = { mtime, uid: 0, gid: 0, uname: 'root', gname: 'root', linkname: '', devmajor: 0, devminor: 0 };
  (async () => {
    for (const item of all) {
      if (item.dir) {
        await addEntry(tar, { ...common, name: `${item.name}/`, type: 'directory', mode: 0o755, size: 0 });
        continue;
      }
      const e = item.entry!;
      // Modes are normalised to two: nothing in a context needs more, and umask or checkout
      // differences between machines must not change a layer.
      const header: Header = {
        ...common,
        name: e.name,
        type: 'file',
        size: e.size,
        mode: e.executable ? 0o755 : 0o644,
      };
      if (e.linkTarget !== undefined)
        await addEntry(tar, { ...common, name: e.name, type: 'symlink', linkname: e.linkTarget, mode: 0o777, size: 0 });
      else if (e.content !== undefined) await addEntry(tar, { ...header, size: e.content.length }, e.content);
      else {
        current = e.from!;
        await addFile(tar, header, current);
        current = undefined;
      }
    }
    tar.finalize();
  })().catch(fail);

  return { stream: counted, bytes: () => written, ended: () => ended && !failure, failure: () => failure };
}

function addEntry(tar: ReturnType<typeof tarPack>, header: Header, content?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error | null) => (err ? reject(err) : resolve());
    if (content) tar.entry(header, content, done);
    else tar.entry(header, done);
  });
}

/**
 * Streams exactly `header.size` bytes of `file`, the size the plan saw. A file that changed since
 * (another size, or a new modification time by the end of the read) fails the entry: its bytes in
 * the archive would not be the file the plan described, and bytes beyond the header's size would
 * corrupt every entry after it.
 */
async function addFile(tar: ReturnType<typeof tarPack>, header: Header, file: string): Promise<void> {
  const size = header.size ?? 0;
  const handle = await open(file, 'r');
  try {
    const before = await handle.stat();
    if (before.size !== size) throw new Error(`its size changed from ${size} to ${before.size} bytes`);
    let read = 0;
    await new Promise<void>((resolve, reject) => {
      const sink = tar.entry(header, (err) => (err ? reject(err) : resolve()));
      sink.on('error', reject);
      if (size === 0) {
        sink.end(Buffer.alloc(0));
        return;
      }
      const source = handle.createReadStream({ start: 0, end: size - 1, autoClose: false });
      source.on('data', (chunk) => {
        read += chunk.length;
      });
      source.on('error', (err) => {
        sink.destroy(err);
        reject(err);
      });
      source.pipe(sink);
    });
    const after = await handle.stat();
    if (read !== size || after.size !== size)
      throw new Error(`its size changed from ${size} to ${after.size} bytes while it was read`);
    if (after.mtimeMs !== before.mtimeMs) throw new Error('its content changed while it was read');
  } finally {
    await handle.close();
  }
}
