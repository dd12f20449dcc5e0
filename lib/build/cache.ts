// The build cache in a model's folder, .cortex-s2i-cache/ (ignored by git through its own
// .gitignore, never scanned, never sent), as pytest and mypy keep theirs: for each image built
// from the folder, the inputs it was built from (lib/config/inputs.ts) and the identity of the
// request, so that a rebuild with nothing changed answers without building (ways/up-to-date.ts);
// and what each Python file imports, by its content, so that a rebuild parses only the files that
// changed. A cache that cannot be read is empty, and one that cannot be written is skipped: it
// never fails a build.

import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inputsDigest, readBeyondWalked, relative, walkedBeyondModel } from '../config/inputs.js';
import { findImports, type PythonImport } from '../config/python-imports.js';
import { BUILD_CACHE_DIR, type ProjectSnapshot } from '../config/scan.js';
import { writeContained } from '../safe-write.js';
import type { ImageRequest } from './request.js';

const STATE_FILE = 'state.json';
const FORMAT = 1;
/** A bigger file is not ours, or not worth reading: the cache starts empty. */
const MAX_STATE_BYTES = 16 * 1024 * 1024;
/** Images remembered per folder: the ones built most recently. */
const MAX_IMAGES = 16;
const GITIGNORE = '# The build cache of cortex-s2i: safe to delete, never committed.\n*\n';

/** An image as it was built: its id, its builder's id, and the inputs it was built from. */
export interface BuildRecord {
  inputs: string;
  /** Folders walked beyond the model's, relative to it (inputs.ts walkedBeyondModel). */
  walked: string[];
  /** Files read outside the walked folders, relative to the model's (inputs.ts readBeyondWalked). */
  read: string[];
  id: string;
  builder: string;
  /** When it was built (ms since 1970): the oldest records go first. */
  at: number;
  /** The image its source step went on, for a rebuild of the source alone (ways/source-layer.ts). */
  base?: SourceBase;
}

/** The image a source step went on, and what made it (ways/source-layer.ts sourceBaseKey). */
export interface SourceBase {
  key: string;
  id: string;
  /** For each step of its history, oldest first: whether it made no layer. */
  emptyLayers: boolean[];
  /** The digest of the source layer's tar as ways/source-layer.ts packs it, for the image recorded. */
  layer: string;
}

interface State {
  images: Record<string, BuildRecord>;
  imports: Record<string, PythonImport[]>;
}

export class BuildCache {
  private readonly used = new Map<string, PythonImport[]>();

  private constructor(
    private readonly modelDir: string,
    private readonly state: State,
  ) {}

  /** The cache of the folder `modelDir`; empty when it has none or it cannot be read. */
  static async open(modelDir: string): Promise<BuildCache> {
    return new BuildCache(
      modelDir,
      (await readState(modelDir)) ?? {
        images: Object.create(null) as State['images'],
        imports: Object.create(null) as State['imports'],
      },
    );
  }

  /** What the cache knows of the image `ref` built from this folder. */
  record(ref: string): BuildRecord | undefined {
    return Object.hasOwn(this.state.images, ref) ? this.state.images[ref] : undefined;
  }

  /** findImports, answered from the cache for a text parsed before. */
  readonly findImports = (source: string): PythonImport[] => {
    const key = createHash('sha1').update(source).digest('hex');
    let found = this.used.get(key) ?? (Object.hasOwn(this.state.imports, key) ? this.state.imports[key] : undefined);
    found ??= findImports(source);
    this.used.set(key, found);
    return found;
  };

  /**
   * Writes the cache: the record of the image `ref`, and the imports of the files this build
   * read, which are the ones the next build is likely to read again. Never throws.
   */
  async save(ref: string, record: BuildRecord): Promise<void> {
    const images: State['images'] = Object.assign(Object.create(null) as State['images'], this.state.images, {
      [ref]: record,
    });
    const kept = Object.entries(images)
      .sort((a, b) => b[1].at - a[1].at)
      .slice(0, MAX_IMAGES);
    const state = { format: FORMAT, images: Object.fromEntries(kept), imports: Object.fromEntries(this.used) };
    try {
      await writeContained(this.modelDir, `${BUILD_CACHE_DIR}/.gitignore`, GITIGNORE, false, { sync: false });
      await writeContained(this.modelDir, `${BUILD_CACHE_DIR}/${STATE_FILE}`, JSON.stringify(state), false, {
        sync: false,
      });
    } catch {
      // A read-only checkout, a link where the cache would be: the next build simply builds.
    }
  }
}

async function readState(modelDir: string): Promise<State | undefined> {
  const dir = path.join(modelDir, BUILD_CACHE_DIR);
  try {
    // Only a real folder and a regular file in it: a link could point anywhere.
    if (!(await lstat(dir)).isDirectory()) return undefined;
    const fh = await open(path.join(dir, STATE_FILE), constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const st = await fh.stat();
      if (!st.isFile() || st.size > MAX_STATE_BYTES) return undefined;
      return checkState(JSON.parse(await fh.readFile('utf8')));
    } finally {
      await fh.close();
    }
  } catch {
    return undefined;
  }
}

/** The state in `raw` when every part of it has its shape; a file from elsewhere is not trusted. */
function checkState(raw: unknown): State | undefined {
  if (!isObject(raw) || raw.format !== FORMAT || !isObject(raw.images) || !isObject(raw.imports)) return undefined;
  // Without a prototype: a key such as __proto__ in the file stays a key.
  const images: Record<string, BuildRecord> = Object.create(null) as Record<string, BuildRecord>;
  for (const [ref, r] of Object.entries(raw.images)) {
    if (
      !isObject(r) ||
      typeof r.inputs !== 'string' ||
      typeof r.id !== 'string' ||
      typeof r.builder !== 'string' ||
      typeof r.at !== 'number'
    )
      continue;
    if (!isStrings(r.walked) || !isStrings(r.read)) continue;
    const b = r.base;
    const base =
      isObject(b) &&
      typeof b.key === 'string' &&
      typeof b.id === 'string' &&
      typeof b.layer === 'string' &&
      Array.isArray(b.emptyLayers) &&
      b.emptyLayers.every((e) => typeof e === 'boolean')
        ? { key: b.key, id: b.id, emptyLayers: b.emptyLayers as boolean[], layer: b.layer }
        : undefined;
    images[ref] = {
      inputs: r.inputs,
      walked: r.walked,
      read: r.read,
      id: r.id,
      builder: r.builder,
      at: r.at,
      ...(base ? { base } : {}),
    };
  }
  const imports: Record<string, PythonImport[]> = Object.create(null) as Record<string, PythonImport[]>;
  for (const [key, list] of Object.entries(raw.imports)) {
    if (Array.isArray(list) && list.every(isImport)) imports[key] = list;
  }
  return { images, imports };
}

function isImport(i: unknown): i is PythonImport {
  return (
    isObject(i) &&
    typeof i.module === 'string' &&
    typeof i.level === 'number' &&
    isStrings(i.names) &&
    typeof i.line === 'number' &&
    typeof i.optional === 'boolean'
  );
}

function isStrings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Everything besides the tree that decides the image: the request's image part, all of it
 * (request.ts: a field added there is part of the identity without another word), the tool (its
 * version, and its own files' time, so that a changed cortex-s2i never trusts what an older one
 * built), and the commit the labels name (config/git.ts revisionStamp).
 */
export async function buildIdentity(image: ImageRequest, toolVersion: string, revision: string): Promise<string> {
  const toolTime = await stat(fileURLToPath(import.meta.url)).then(
    (s) => s.mtimeMs,
    () => 0,
  );
  return canonicalJson({ image, tool: [toolVersion, toolTime], revision });
}

/** JSON with every object's keys sorted: the same request gives the same text, whoever wrote it. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    isObject(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/** Whether `full`, the tree as the record's build walked it, digests to what the record says. */
export function sameInputs(record: BuildRecord, full: ProjectSnapshot, identity: string): boolean {
  const read = new Set(record.read.map((rel) => path.resolve(full.modelDir, rel)));
  return inputsDigest(full, identity, read) === record.inputs;
}

/**
 * What the image `imageId` was made from, to record: the snapshot the build read its project from
 * (digested as sameInputs will digest the tree next time), its builder, and the image its source
 * step went on (ways/source-layer.ts).
 */
export function recordOf(
  snapshot: ProjectSnapshot,
  identity: string,
  made: { imageId: string; builderId: string; at: number; base?: SourceBase | undefined },
): BuildRecord {
  const read = readBeyondWalked(snapshot);
  return {
    inputs: inputsDigest(snapshot, identity, read),
    walked: walkedBeyondModel(snapshot),
    read: [...read].map((file) => relative(snapshot.modelDir, file)),
    id: made.imageId,
    builder: made.builderId,
    at: made.at,
    ...(made.base ? { base: made.base } : {}),
  };
}
