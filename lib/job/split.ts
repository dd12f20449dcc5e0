// Writes a job's input as its split: a folder of batch files and job.json, the one format that
// the batch worker in the image reads (builder-image/runtime/cortex_s2i_runtime/batch_worker.py documents
// it), on a bind mount locally and from a ConfigMap or a volume on Kubernetes. Input files are
// streamed line by line: memory holds one batch, never a whole file.

import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, stat, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { CortexError, ExitCode } from '../errors.js';
import type { JobInput, Submission } from './submission.js';

export const JOB_FILE = 'job.json';

/** The split's file name of batch `n`; batch_worker.batch_file_name says the same. */
export function batchFileName(n: number): string {
  return `batch-${batchId(n)}.ndjson`;
}

/** The batch id given to predict(): the batch's number, zero-padded to six digits. */
export function batchId(n: number): string {
  return String(n).padStart(6, '0');
}

/** job.json of a split: what every worker reads to build Cortex's job_spec. */
export interface SplitJob {
  job_id: string;
  config: Record<string, unknown>;
  workers: number;
  total_batch_count: number;
  start_time: string;
  max_receive_count: number;
}

export interface SplitSummary {
  totalBatchCount: number;
  items: number;
  /** Bytes of batch files written. */
  bytes: number;
}

/**
 * Writes the split of `submission` into `dir` (created). Relative input paths are taken from
 * `baseDir` (the folder of job.json). Rejects with a CortexError naming the file and line of an
 * input line that is not JSON.
 */
export async function writeSplit(
  submission: Submission,
  baseDir: string,
  dir: string,
  meta: { jobId: string; startTime: string },
): Promise<SplitSummary> {
  await mkdir(dir, { recursive: true });
  const writer = new BatchWriter(dir, submission.input.batchSize);
  for await (const line of itemLines(submission.input, baseDir)) await writer.add(line);
  await writer.flush();
  const job: SplitJob = {
    job_id: meta.jobId,
    config: submission.config,
    workers: submission.workers,
    total_batch_count: writer.batches,
    start_time: meta.startTime,
    max_receive_count: submission.maxReceiveCount,
  };
  await writeFile(path.join(dir, JOB_FILE), `${JSON.stringify(job, null, 2)}\n`);
  return { totalBatchCount: writer.batches, items: writer.items, bytes: writer.bytes };
}

class BatchWriter {
  private lines: string[] = [];
  batches = 0;
  items = 0;
  bytes = 0;

  constructor(
    private readonly dir: string,
    private readonly batchSize: number,
  ) {}

  async add(line: string): Promise<void> {
    this.lines.push(line);
    this.items++;
    if (this.lines.length >= this.batchSize) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.lines.length === 0) return;
    const text = `${this.lines.join('\n')}\n`;
    this.lines = [];
    await writeFile(path.join(this.dir, batchFileName(this.batches++)), text);
    this.bytes += Buffer.byteLength(text);
  }
}

/** Every item of the input as one line of JSON, in order. */
async function* itemLines(input: JobInput, baseDir: string): AsyncGenerator<string> {
  if (input.kind === 'item_list') {
    for (const item of input.items) yield JSON.stringify(item);
    return;
  }
  const files = await listFiles(input.paths, input.includes, input.excludes, baseDir);
  if (files.length === 0) {
    throw new CortexError(`${input.kind}: no file matches ${input.paths.join(', ')}`, {
      exitCode: ExitCode.badInput,
      hint: 'check the paths (relative ones start at the folder of job.json) and includes/excludes',
    });
  }
  if (input.kind === 'file_path_lister') {
    for (const f of files) yield JSON.stringify(f);
    return;
  }
  for (const file of files) yield* ndjsonLines(file);
}

/**
 * The non-blank lines of an NDJSON file, each checked to be JSON. The file is pulled a chunk at a
 * time only as lines are consumed (async iteration of a stream waits for its reader, unlike
 * readline's line events), so memory holds a chunk and a batch, whatever the file's size.
 */
async function* ndjsonLines(file: string): AsyncGenerator<string> {
  let n = 0;
  let tail: Buffer = Buffer.alloc(0);
  const check = (raw: string): string | undefined => {
    n++;
    const line = raw.trim();
    if (line === '') return undefined;
    try {
      JSON.parse(line);
    } catch (err) {
      throw new CortexError(`${file}:${n}: not a JSON value: ${(err as Error).message}`, {
        exitCode: ExitCode.badInput,
        hint: 'delimited_files reads newline-delimited JSON: one JSON value per line',
      });
    }
    return line;
  };
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    // Splitting bytes at \n is safe in UTF-8: no multi-byte character contains the byte 0x0A.
    const data = tail.length ? Buffer.concat([tail, chunk]) : chunk;
    let start = 0;
    for (let nl = data.indexOf(10, start); nl !== -1; nl = data.indexOf(10, start)) {
      const line = check(data.toString('utf8', start, nl));
      start = nl + 1;
      if (line !== undefined) yield line;
    }
    tail = Buffer.from(data.subarray(start));
  }
  if (tail.length) {
    const line = check(tail.toString('utf8'));
    if (line !== undefined) yield line;
  }
}

/**
 * The files named by `paths` (files, folders walked recursively, or glob patterns), then kept when
 * they match an include (if any) and no exclude; sorted, absolute, each listed once.
 */
export async function listFiles(
  paths: string[],
  includes: string[],
  excludes: string[],
  baseDir: string,
): Promise<string[]> {
  const found = new Set<string>();
  for (const p of paths) {
    const full = path.resolve(baseDir, p);
    if (!hasGlob(full)) {
      const s = await stat(full).catch(() => undefined);
      if (!s)
        throw new CortexError(`${p} does not exist`, {
          exitCode: ExitCode.badInput,
          hint: 'relative paths start at the folder of job.json',
        });
      if (s.isDirectory()) for (const f of await walk(full)) found.add(f);
      else found.add(full);
      continue;
    }
    const segments = full.split(path.sep);
    const firstGlob = segments.findIndex(hasGlob);
    const root = segments.slice(0, firstGlob).join(path.sep) || path.sep;
    const pattern = globToRegExp(full);
    for (const f of await walk(root)) if (pattern.test(f)) found.add(f);
  }
  const inc = includes.map(globToRegExp);
  const exc = excludes.map(globToRegExp);
  return [...found]
    .filter((f) => (inc.length === 0 || inc.some((r) => r.test(f))) && !exc.some((r) => r.test(f)))
    .sort();
}

async function walk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(full)));
    else if (e.isFile()) out.push(full);
  }
  return out;
}

function hasGlob(s: string): boolean {
  return /[*?]/.test(s);
}

/**
 * A glob as a regular expression over whole paths: `*` and `?` stay within a folder, `**` crosses
 * folders, and a pattern without a folder separator matches the file's name in any folder (as
 * Cortex's includes did on object keys, e.g. `*.json`).
 */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      i++;
      if (glob[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[\\^$.+()|{}[\]]/g, '\\$&');
  }
  return new RegExp(glob.includes('/') ? `^${re}$` : `(?:^|/)${re}$`);
}

/** The split's files, for a ConfigMap: name to content, job.json first. */
export async function readSplitFiles(dir: string, limitBytes: number): Promise<Map<string, string> | undefined> {
  const names = (await readdir(dir)).filter((n) => n === JOB_FILE || /^batch-\d+\.ndjson$/.test(n)).sort();
  const files = new Map<string, string>();
  let total = 0;
  for (const name of names) {
    let handle: FileHandle | undefined;
    try {
      handle = await open(path.join(dir, name));
      const s = await handle.stat();
      total += s.size;
      if (total > limitBytes) return undefined;
      files.set(name, await handle.readFile('utf8'));
    } finally {
      await handle?.close();
    }
  }
  return files;
}
