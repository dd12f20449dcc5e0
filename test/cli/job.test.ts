import { expect } from 'chai';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { removeTree, writeTree } from '../support/tree.js';
import { ExitCode } from '../../lib/errors.js';
import { main } from '../../lib/cli/main.js';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { env: {}, output: { out: (l) => out.push(l), err: (l) => err.push(l) } });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('cortex-s2i job render and job status (no engine)', () => {
  let root: string;
  beforeEach(async () => {
    root = await writeTree({
      'job.json': JSON.stringify({
        workers: 2,
        timeout: 60,
        delimited_files: { paths: ['data.ndjson'], batch_size: 2 },
      }),
      'data.ndjson': '{"x": 1}\n{"x": 2}\n{"x": 3}\n',
      'bad.json': '{"workers": 0}',
    });
  });
  afterEach(() => removeTree(root));

  it('writes the split and a Kubernetes List with the split in a ConfigMap, and prints how to run it', async () => {
    const out = path.join(root, 'k8s');
    const r = await run('job', 'render', 'scorer:1', path.join(root, 'job.json'), '--out', out, '--id', 'render-1');
    expect(r.code, r.err).to.equal(ExitCode.ok);
    expect((await readdir(path.join(out, 'split'))).sort()).to.deep.equal([
      'batch-000000.ndjson',
      'batch-000001.ndjson',
      'job.json',
    ]);
    const list = JSON.parse(await readFile(path.join(out, 'kubernetes.json'), 'utf8'));
    expect(list.items.map((m: { kind: string }) => m.kind)).to.deep.equal(['ConfigMap', 'Job', 'Job']);
    expect(list.items[0].data['batch-000001.ndjson']).to.equal('{"x": 3}\n');
    expect(r.out)
      .to.contain('2 batches (3 items) for 2 workers')
      .and.contain('kubectl patch job cortex-s2i-render-1-complete');
  });

  it('refuses an invalid job file with every problem, before writing anything', async () => {
    const r = await run('job', 'render', 'scorer', path.join(root, 'bad.json'), '--out', path.join(root, 'k8s'));
    expect(r.code).to.equal(ExitCode.badInput);
    expect(r.err).to.contain('workers must be').and.contain('needs one of item_list');
    expect(await readdir(root)).not.to.include('k8s');
  });

  it('says when there is no such job', async () => {
    const r = await run('job', 'status', 'no-such-job-here');
    expect(r.code).to.equal(ExitCode.badInput);
    expect(r.err).to.contain('no job no-such-job-here here');
  });
});
