import { expect } from 'chai';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { removeTree, writeTree } from '../../test/support/tree.js';
import { CortexError } from '../errors.js';
import { batchFileName, globToRegExp, listFiles, readSplitFiles, writeSplit } from './split.js';
import type { Submission } from './submission.js';

const meta = { jobId: 'j1', startTime: '2026-01-01T00:00:00.000Z' };

function submission(input: Submission['input'], workers = 2): Submission {
  return { workers, config: { k: 'v' }, timeoutSeconds: undefined, maxReceiveCount: 3, input };
}

describe('writeSplit', () => {
  let root: string;
  beforeEach(async () => {
    root = await writeTree({
      'data/a.ndjson': '{"x": 1}\n{"x": 2}\n\n{"x": 3}\r\n',
      'data/b.ndjson': '{"x": 4}\n',
      'data/skip.ndjson': '{"x": 99}\n',
      'data/sub/c.ndjson': '{"x": 5}\n',
      'bad/bad.ndjson': '{"x": 1}\n{oops\n',
    });
  });
  afterEach(() => removeTree(root));

  async function batches(dir: string): Promise<string[]> {
    const names = (await readdir(dir)).filter((n) => n.startsWith('batch-')).sort();
    return Promise.all(names.map((n) => readFile(path.join(dir, n), 'utf8')));
  }

  it('cuts item_list into batch files of batch_size items, one JSON item per line, and writes job.json', async () => {
    const out = path.join(root, 'split');
    const summary = await writeSplit(
      submission({ kind: 'item_list', items: [{ a: 1 }, 2, 'three', [4], null], batchSize: 2 }),
      root,
      out,
      meta,
    );
    expect(summary).to.include({ totalBatchCount: 3, items: 5 });
    expect(await batches(out)).to.deep.equal(['{"a":1}\n2\n', '"three"\n[4]\n', 'null\n']);
    expect(JSON.parse(await readFile(path.join(out, 'job.json'), 'utf8'))).to.deep.equal({
      job_id: 'j1',
      config: { k: 'v' },
      workers: 2,
      total_batch_count: 3,
      start_time: meta.startTime,
      max_receive_count: 3,
    });
  });

  it('streams delimited_files in path order across files, skipping blank lines, honouring globs and excludes', async () => {
    const out = path.join(root, 'split');
    await writeSplit(
      submission({
        kind: 'delimited_files',
        paths: ['data/**/*.ndjson'],
        includes: [],
        excludes: ['skip.*'],
        batchSize: 2,
      }),
      root,
      out,
      meta,
    );
    expect(await batches(out)).to.deep.equal(['{"x": 1}\n{"x": 2}\n', '{"x": 3}\n{"x": 4}\n', '{"x": 5}\n']);
  });

  it('refuses a line that is not JSON, naming the file and line', async () => {
    const err = await writeSplit(
      submission({ kind: 'delimited_files', paths: ['bad'], includes: [], excludes: [], batchSize: 5 }),
      root,
      path.join(root, 'split'),
      meta,
    ).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(CortexError);
    expect((err as Error).message).to.contain(`${path.join(root, 'bad', 'bad.ndjson')}:2`);
  });

  it('lists file paths as items for file_path_lister, with includes', async () => {
    const out = path.join(root, 'split');
    await writeSplit(
      submission({ kind: 'file_path_lister', paths: ['data'], includes: ['**/sub/*'], excludes: [], batchSize: 10 }),
      root,
      out,
      meta,
    );
    expect(await batches(out)).to.deep.equal([`${JSON.stringify(path.join(root, 'data/sub/c.ndjson'))}\n`]);
  });

  it('refuses paths that match nothing', async () => {
    const err = await writeSplit(
      submission({ kind: 'delimited_files', paths: ['data/*.csv'], includes: [], excludes: [], batchSize: 1 }),
      root,
      path.join(root, 'split'),
      meta,
    ).catch((e: unknown) => e);
    expect((err as Error).message).to.contain('no file matches');
  });

  it('reads a split back for a ConfigMap only while it fits the limit', async () => {
    const out = path.join(root, 'split');
    await writeSplit(submission({ kind: 'item_list', items: [1, 2, 3], batchSize: 1 }), root, out, meta);
    const files = await readSplitFiles(out, 10_000);
    expect([...files!.keys()]).to.deep.equal([
      'batch-000000.ndjson',
      'batch-000001.ndjson',
      'batch-000002.ndjson',
      'job.json',
    ]);
    expect(await readSplitFiles(out, 10)).to.equal(undefined);
  });
});

describe('split helpers', () => {
  it('names batch files as the worker does', () => {
    expect(batchFileName(3)).to.equal('batch-000003.ndjson');
    expect(batchFileName(1234567)).to.equal('batch-1234567.ndjson');
  });

  it('matches globs: * within a folder, ** across, a bare name in any folder', () => {
    expect(globToRegExp('/d/*.json').test('/d/a.json')).to.equal(true);
    expect(globToRegExp('/d/*.json').test('/d/e/a.json')).to.equal(false);
    expect(globToRegExp('/d/**/*.json').test('/d/a.json')).to.equal(true);
    expect(globToRegExp('/d/**/*.json').test('/d/e/f/a.json')).to.equal(true);
    expect(globToRegExp('*.json').test('/x/y/a.json')).to.equal(true);
    expect(globToRegExp('a?.json').test('/x/ab.json')).to.equal(true);
    expect(globToRegExp('a.json').test('/x/abjson')).to.equal(false);
  });

  it('lists a file once even when two paths name it', async () => {
    const root = await writeTree({ 'a.ndjson': '1\n' });
    try {
      expect(await listFiles(['a.ndjson', '*.ndjson'], [], [], root)).to.deep.equal([path.join(root, 'a.ndjson')]);
    } finally {
      await removeTree(root);
    }
  });
});
