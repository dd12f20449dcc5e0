// Reads the part of the file system around a model into a plain snapshot: names, kinds, sizes,
// modes, where links point, and the texts of config files and Python sources. It decides nothing:
// lib/config/layout.ts chooses the project's root and what goes into an image from the snapshot,
// and asks for more of the tree when it needs it.

// Synchronous calls, on purpose: a scan makes one call per file and folder (10,000 in a large
// project), and each promise-based call costs a thread-pool round trip, a promise and garbage,
// several times the call itself on a warm disk cache. Nothing else waits on the event loop here.
import { lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';

export type EntryKind = 'file' | 'dir' | 'link' | 'special';

export interface ScannedEntry {
  kind: EntryKind;
  size: number;
  executable: boolean;
  mtimeMs: number;
  /** A link's target as written. */
  linkTarget?: string;
  /** Where a link ends once every link on the way is resolved; undefined when it ends nowhere (dangling, a loop). */
  realTarget?: string;
  /** What a link ends at. */
  targetKind?: 'file' | 'dir' | 'other';
}

export interface ProjectSnapshot {
  /** Absolute path of the model folder. */
  modelDir: string;
  /** The model folder and its ancestors, lowest first, as far as the scan looks. */
  levels: string[];
  /** The real path of each level (links on the way resolved), to tell where links end. */
  realLevels: string[];
  /** Every path looked at (absolute) and what it is. */
  entries: ReadonlyMap<string, ScannedEntry>;
  /** Folders whose children are in `entries`. */
  listed: ReadonlySet<string>;
  /** Folders walked to the bottom (every folder below is listed, but for those the walk passes over). */
  walked: ReadonlySet<string>;
  /** Texts of the files read, by absolute path. */
  texts: ReadonlyMap<string, string>;
  /** Paths whose names are not UTF-8, shown with the undecodable bytes escaped. */
  badNames: string[];
}

/** Folder names a walk never enters: their content is never sent, only their presence matters. */
export const NOT_WALKED = new Set(['data', 'models', '__pycache__', 'node_modules']);

/**
 * The build cache cortex-s2i keeps in a model's folder (lib/build/cache.ts). The scan passes
 * over it as if it were not there: it is never sent, and writing it must not look like an edit.
 */
export const BUILD_CACHE_DIR = '.cortex-s2i-cache';

/** How far above the model the scan looks for the packages its code imports. */
export const MAX_LEVELS_UP = 8;

export interface ScanOptions {
  /** The user's home folder: never itself a project root, so the scan stops below it. */
  home?: string;
}

/** The first look: the model folder (walked), its ancestors (listed) and the files named in `read`. */
export async function scanModel(modelDir: string, options: ScanOptions = {}): Promise<ProjectSnapshot> {
  const levels: string[] = [modelDir];
  for (let dir = modelDir; levels.length <= MAX_LEVELS_UP;) {
    const parent = path.dirname(dir);
    if (parent === dir || parent === options.home || parent === path.parse(parent).root) break;
    levels.push(parent);
    dir = parent;
    // A repository's top is as high as a project goes: imports never reach above it.
    if (await exists(path.join(parent, '.git'))) break;
  }
  const snapshot: MutableSnapshot = {
    modelDir,
    levels,
    realLevels: levels.map((l) => attempt(() => realpathSync(l)) ?? l),
    entries: new Map(),
    listed: new Set(),
    walked: new Set(),
    texts: new Map(),
    badNames: [],
  };
  await Promise.all(levels.slice(1).map((level) => list(snapshot, level)));
  await walk(snapshot, modelDir);
  return snapshot;
}

/** A snapshot with more of the tree: `walk` folders walked to the bottom, `read` files' texts. */
export async function extendScan(
  previous: ProjectSnapshot,
  more: { walk: string[]; read: string[] },
): Promise<ProjectSnapshot> {
  const snapshot: MutableSnapshot = {
    ...previous,
    entries: new Map(previous.entries),
    listed: new Set(previous.listed),
    walked: new Set(previous.walked),
    texts: new Map(previous.texts),
    badNames: [...previous.badNames],
  };
  await Promise.all(more.walk.map((dir) => walk(snapshot, dir)));
  await Promise.all(
    more.read.map(async (file) => {
      const text = attempt(() => readFileSync(file, 'utf8'));
      if (text !== undefined) snapshot.texts.set(file, text);
    }),
  );
  return snapshot;
}

interface MutableSnapshot extends ProjectSnapshot {
  entries: Map<string, ScannedEntry>;
  listed: Set<string>;
  walked: Set<string>;
  texts: Map<string, string>;
  badNames: string[];
}

async function walk(snapshot: MutableSnapshot, dir: string): Promise<void> {
  if (snapshot.walked.has(dir)) return;
  snapshot.walked.add(dir);
  const children = await list(snapshot, dir);
  // Sub-folders are walked as their own tasks; the calls in them are synchronous (see the imports).
  await Promise.all(
    children.map(async (child) => {
      const entry = snapshot.entries.get(child)!;
      const name = path.basename(child);
      if (entry.kind === 'dir' && !name.startsWith('.') && !NOT_WALKED.has(name)) await walk(snapshot, child);
      else if (entry.kind === 'dir' && name === '.s2i') await list(snapshot, child);
    }),
  );
}

async function list(snapshot: MutableSnapshot, dir: string): Promise<string[]> {
  if (snapshot.listed.has(dir)) {
    return [...snapshot.entries.keys()].filter((p) => path.dirname(p) === dir);
  }
  snapshot.listed.add(dir);
  const raw = attempt(() => readdirSync(dir, { encoding: 'buffer' })) ?? [];
  const children: string[] = [];
  await Promise.all(
    raw.map(async (bytes) => {
      const name = bytes.toString('utf8');
      if (name === BUILD_CACHE_DIR) return;
      // A name that does not survive decoding cannot be named in a tar header or a message as is.
      if (!Buffer.from(name, 'utf8').equals(bytes)) {
        snapshot.badNames.push(path.join(dir, escapeBytes(bytes)));
        return;
      }
      const child = path.join(dir, name);
      const entry = await describe(child);
      if (!entry) return;
      snapshot.entries.set(child, entry);
      children.push(child);
    }),
  );
  return children.sort();
}

async function describe(file: string): Promise<ScannedEntry | undefined> {
  const st: Stats | undefined = attempt(() => lstatSync(file));
  if (!st) return undefined;
  const base = { size: st.size, executable: (st.mode & 0o111) !== 0, mtimeMs: st.mtimeMs };
  if (st.isFile()) return { kind: 'file', ...base };
  if (st.isDirectory()) return { kind: 'dir', ...base };
  if (!st.isSymbolicLink()) return { kind: 'special', ...base };
  const linkTarget = readlinkSync(file);
  const realTarget = attempt(() => realpathSync(file));
  const target = realTarget ? attempt(() => statSync(realTarget)) : undefined;
  return {
    kind: 'link',
    ...base,
    linkTarget,
    ...(realTarget && target
      ? { realTarget, targetKind: target.isFile() ? 'file' : target.isDirectory() ? 'dir' : 'other' }
      : {}),
  } as ScannedEntry;
}

function escapeBytes(bytes: Buffer): string {
  let out = '';
  for (const b of bytes)
    out += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return out;
}

async function exists(p: string): Promise<boolean> {
  return attempt(() => lstatSync(p)) !== undefined;
}

/** What `call` returns, or undefined when it throws (a file gone, unreadable, not there). */
function attempt<T>(call: () => T): T | undefined {
  try {
    return call();
  } catch {
    return undefined;
  }
}
